/* cacli — `tlspeek ca SUBCOMMAND`: the command line for the CA's
 * lifecycle (path, show, export, install, uninstall, regenerate).
 *
 * Separate from the proxy's own option parser because it is a different
 * program in all but name: it runs once and exits, prints results on
 * stdout, and never starts an event loop. */
#ifndef TLSPEEK_CACLI_H
#define TLSPEEK_CACLI_H

/* argv[0] is "ca". Returns the process exit code: 0 done, 1 failed (one
 * plain-words line on stderr said why), 2 bad usage (usage on stderr). */
int cacli_main(int argc, char **argv);

#endif
