/* config — the command line into an immutable settings struct. */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

static const char usage_text[] =
    "usage: tlspeek [-l HOST:PORT] [--ca-dir DIR] [--dns ADDR[:PORT]]...\n"
    "               [--upstream-ca FILE] [--connect-to HOST:PORT:HOST2:PORT2]...\n"
    "               [-k|--insecure] [-q] [--help] [--version]\n";

static const char help_text[] =
    "\n"
    "A man-in-the-middle HTTPS proxy: point a browser or curl --proxy at it and\n"
    "see every HTTP exchange made over TLS in clear text.\n"
    "\n"
    "  -l, --listen HOST:PORT  where to listen (default " CONFIG_DEFAULT_LISTEN ";\n"
    "                          IPv6 as [::1]:8080; port 0 picks a free one)\n"
    "      --ca-dir DIR        where the CA lives (default $XDG_CONFIG_HOME/tlspeek,\n"
    "                          else ~/.config/tlspeek); created on first use\n"
    "      --dns ADDR[:PORT]   name server to use instead of /etc/resolv.conf\n"
    "                          (repeatable)\n"
    "      --upstream-ca FILE  extra PEM trust anchors for upstream servers\n"
    "      --connect-to HOST:PORT:HOST2:PORT2\n"
    "                          connect to HOST2:PORT2 when a client asks for\n"
    "                          HOST:PORT; certificate, SNI and Host stay HOST\n"
    "                          (curl's syntax; empty fields: any/same; repeatable)\n"
    "  -k, --insecure          do not verify upstream certificates\n"
    "  -q, --quiet             no per-connection console lines\n"
    "      --help              this text\n"
    "      --version           print the version\n";

enum { OPT_CA_DIR = 256, OPT_DNS, OPT_UPSTREAM_CA, OPT_CONNECT_TO, OPT_HELP,
       OPT_VERSION };

static const struct option long_options[] = {
    {"listen", required_argument, NULL, 'l'},
    {"ca-dir", required_argument, NULL, OPT_CA_DIR},
    {"dns", required_argument, NULL, OPT_DNS},
    {"upstream-ca", required_argument, NULL, OPT_UPSTREAM_CA},
    {"connect-to", required_argument, NULL, OPT_CONNECT_TO},
    {"insecure", no_argument, NULL, 'k'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static char *default_ca_dir(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    const char *base = NULL;
    const char *suffix = NULL;
    if (xdg && xdg[0] == '/') {
        base = xdg;
        suffix = "/tlspeek";
    } else if (home && home[0]) {
        base = home;
        suffix = "/.config/tlspeek";
    } else {
        return NULL;
    }
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *dir = malloc(n);
    if (dir)
        snprintf(dir, n, "%s%s", base, suffix);
    return dir;
}

static config_result usage_error(FILE *err, const char *what, const char *arg)
{
    if (what)
        fprintf(err, "tlspeek: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    fputs(usage_text, err);
    fputs("Try 'tlspeek --help' for more.\n", err);
    return CONFIG_EXIT_USAGE;
}

config_result config_parse(int argc, char **argv, config *out,
                           FILE *out_stream, FILE *err_stream)
{
    memset(out, 0, sizeof *out);
    out->head_timeout = 30;
    out->connect_timeout = 10;
    out->handshake_timeout = 10;
    out->idle_timeout = 300;
    out->max_head_bytes = 65536;
    const char *listen_text = CONFIG_DEFAULT_LISTEN;
    const char *ca_dir = NULL;

    optind = 1;
    opterr = 0; /* we print our own one-line reason */
    int opt;
    while ((opt = getopt_long(argc, argv, ":l:kq", long_options, NULL)) != -1) {
        switch (opt) {
        case 'l': listen_text = optarg; break;
        case OPT_CA_DIR: ca_dir = optarg; break;
        case OPT_DNS:
            if (out->n_dns == CONFIG_MAX_DNS)
                return usage_error(err_stream, "too many --dns servers", NULL);
            out->dns[out->n_dns++] = optarg;
            break;
        case OPT_UPSTREAM_CA: out->upstream_ca = optarg; break;
        case OPT_CONNECT_TO: {
            const char *why = NULL;
            if (out->n_connect_to == CONFIG_MAX_CONNECT_TO)
                return usage_error(err_stream, "too many --connect-to rules", NULL);
            if (connect_to_parse(optarg, &out->connect_to[out->n_connect_to],
                                 &why) != 0)
                return usage_error(err_stream, why, optarg);
            out->n_connect_to++;
            break;
        }
        case 'k': out->insecure = true; break;
        case 'q': out->quiet = true; break;
        case OPT_HELP:
            fputs(usage_text, out_stream);
            fputs(help_text, out_stream);
            return CONFIG_EXIT_OK;
        case OPT_VERSION:
            fprintf(out_stream, "tlspeek %s\n", TLSPEEK_VERSION);
            return CONFIG_EXIT_OK;
        case ':':
            return usage_error(err_stream, "option needs a value", argv[optind - 1]);
        default:
            return usage_error(err_stream, "unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(err_stream, "unexpected argument", argv[optind]);

    const char *reason = NULL;
    if (authority_parse(listen_text, strlen(listen_text), CONFIG_DEFAULT_PORT,
                        &out->listen, &reason) != 0) {
        /* Port 0 is legal for listening (the kernel picks one) but not for
         * a host:port on the wire, so accept an explicit ":0" here. */
        size_t n = strlen(listen_text);
        if (n > 2 && strcmp(listen_text + n - 2, ":0") == 0 &&
            authority_parse(listen_text, n - 2, 1, &out->listen, &reason) == 0) {
            out->listen.port = 0;
        } else {
            return usage_error(err_stream, reason ? reason : "bad listen address",
                               listen_text);
        }
    }
    out->ca_dir = ca_dir ? strdup(ca_dir) : default_ca_dir();
    if (!out->ca_dir)
        return usage_error(err_stream, "no --ca-dir given and neither "
                           "XDG_CONFIG_HOME nor HOME is set", NULL);
    return CONFIG_RUN;
}

void config_free(config *c)
{
    free(c->ca_dir);
    c->ca_dir = NULL;
}
