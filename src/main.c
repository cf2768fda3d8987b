/* tlspeek — an intercepting HTTPS proxy for debugging: see README.md. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacli.h"
#include "config.h"
#include "log.h"
#include "proxy.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ca") == 0)
        return cacli_main(argc - 1, argv + 1);
    config cfg;
    switch (config_parse(argc, argv, &cfg, stdout, stderr)) {
    case CONFIG_EXIT_OK:
        config_free(&cfg);
        return 0;
    case CONFIG_EXIT_USAGE:
        config_free(&cfg);
        return 2;
    case CONFIG_RUN:
        break;
    }
    const char *debug = getenv("TLSPEEK_DEBUG");
    log_configure(cfg.quiet, debug && debug[0] == '1');
    /* A peer closing mid-write must fail that write, not kill the proxy. */
    signal(SIGPIPE, SIG_IGN);

    proxy *p = proxy_new(&cfg);
    if (!p) {
        config_free(&cfg);
        return 1;
    }
    int rc = proxy_run(p);
    proxy_free(p);
    config_free(&cfg);
    return rc == 0 ? 0 : 1;
}
