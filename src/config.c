/* config — the command line into an immutable settings struct. */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca.h"
#include "config_value.h"
#include "version.h"

static const char usage_text[] =
    "usage: tlspeek [-l HOST:PORT] [--ca-dir DIR] [--ca-key-type TYPE]\n"
    "               [--leaf-key-type TYPE] [--no-intermediate]\n"
    "               [--dns ADDR[:PORT]]... [--upstream-ca FILE]\n"
    "               [--connect-to HOST:PORT:HOST2:PORT2]...\n"
    "               [--proxy-auth USER:PASS] [--allow-remote CIDR[,CIDR...]]\n"
    "               [--max-head-bytes N] [--head-timeout S] [--dns-timeout S]\n"
    "               [--connect-timeout S] [--handshake-timeout S] [--idle-timeout S]\n"
    "               [--max-conns N] [--workers N] [--keylog FILE] [--ignore-hosts REGEX]\n"
    "               [--flows FILE|-] [--har FILE] [--bodies DIR] [--body-limit BYTES]\n"
    "               [--upstream-proxy URL | --upstream-proxy-from-env]\n"
    "               [--upstream-proxy-except REGEX]\n"
    "               [--client-cert [HOST_REGEX=]FILE]...\n"
    "               [--ui [ADDR:]PORT [--ui-token TOKEN] [--ui-keep N]\n"
    "                [--ui-body-memory BYTES]]\n"
    "               [--auto-passthrough [--passthrough-ttl S]]\n"
    "               [--no-http2] [-k|--insecure] [-q] [--help] [--version]\n";

/* What --help prints after the usage, in two pieces. */
static const char help_text[] =
    "\n"
    "A man-in-the-middle HTTPS proxy: point a browser or curl --proxy at it and\n"
    "see every HTTP exchange made over TLS in clear text.\n"
    "\n"
    "  -l, --listen HOST:PORT  where to listen (default " CONFIG_DEFAULT_LISTEN ";\n"
    "                          IPv6 as [::1]:8080; port 0 picks a free one)\n"
    "      --ca-dir DIR        where the CA lives (default $XDG_CONFIG_HOME/tlspeek,\n"
    "                          else ~/.config/tlspeek); created on first use\n"
    "      --ca-key-type TYPE  key of a CA created now: " CA_KEY_TYPE_NAMES "\n"
    "      --leaf-key-type TYPE  key of the certificates shown to clients: auto\n"
    "                          (default: EC P-256 for clients that take it,\n"
    "                          RSA 2048 for the others), " CA_KEY_TYPE_NAMES "\n"
    "      --no-intermediate   sign leaves with an RSA CA itself, not with an EC\n"
    "                          intermediate made in memory under it at start-up\n"
    "      --dns ADDR[:PORT]   name server to use instead of /etc/resolv.conf\n"
    "                          (repeatable)\n"
    "      --upstream-ca FILE  extra PEM trust anchors for upstream servers\n"
    "      --connect-to HOST:PORT:HOST2:PORT2\n"
    "                          connect to HOST2:PORT2 when a client asks for\n"
    "                          HOST:PORT; certificate, SNI and Host stay HOST\n"
    "                          (curl's syntax; empty fields: any/same; repeatable)\n"
    "  -k, --insecure          do not verify upstream certificates\n"
    "      --client-cert [HOST_REGEX=]FILE  PEM certificate, key (mode 600) and\n"
    "                          chain offered to servers that ask for one; with\n"
    "                          HOST_REGEX only to matching hosts (repeatable,\n"
    "                          first match wins; a plain FILE is the fallback)\n"
    "      --no-http2          offer and select http/1.1 only (ALPN); by default\n"
    "                          each leg gets what the other negotiated\n"
    "      --upstream-proxy URL  connect to every server through this parent:\n"
    "                          http://[USER:PASS@]HOST:PORT (CONNECT) or\n"
    "                          socks5://[USER:PASS@]HOST:PORT (names resolved\n"
    "                          by the parent)\n"
    "      --upstream-proxy-from-env  the parent from HTTPS_PROXY, https_proxy,\n"
    "                          ALL_PROXY or all_proxy (read only with this)\n"
    "      --upstream-proxy-except REGEX  hosts that match are connected to\n"
    "                          directly (POSIX extended, case-insensitive)\n"
    "      --flows FILE        one JSON object per exchange per line ('-': stdout)\n"
    "      --har FILE          a HAR 1.2 document of every exchange, kept current\n"
    "      --bodies DIR        save request and response bodies as files\n"
    "      --body-limit BYTES  most bytes saved per body (1048576; at most\n"
    "                          " CONFIG_MAX_BODY_LIMIT_TEXT ", 1 TiB)\n"
    "      --keylog FILE       append TLS secrets of both legs (NSS key log\n"
    "                          format, for Wireshark); default $SSLKEYLOGFILE\n"
    ;

/* The rest of the help: C11 promises string literals of 4095 bytes. */
static const char help_text_more[] =
    "      --ignore-hosts REGEX  tunnels to matching hosts are relayed\n"
    "                          untouched (POSIX extended, case-insensitive)\n"
    "      --auto-passthrough  when a client rejects the minted certificate for\n"
    "                          a host:port, relay its next tunnels there untouched\n"
    "      --passthrough-ttl S  for this long (600)\n"
    "      --proxy-auth USER:PASS  require Basic proxy authentication\n"
    "      --allow-remote CIDR[,CIDR...]  serve clients from these ranges too\n"
    "                          (loopback is always served)\n"
    "      --max-head-bytes N  largest request head to the proxy (65536)\n"
    "      --head-timeout S    time to send a whole request head (30)\n"
    "      --dns-timeout S     time for a name lookup (5)\n"
    "      --connect-timeout S time to connect to a server (10)\n"
    "      --handshake-timeout S  time for each TLS handshake (10)\n"
    "      --idle-timeout S    close a tunnel with no bytes either way (300)\n"
    "      --max-conns N       most client connections at once (10000)\n"
    "      --workers N         event-loop threads, each with its own listener\n"
    "                          on the same port (default: one per CPU)\n"
    "      --ui [ADDR:]PORT    the live web UI (ADDR default 127.0.0.1)\n"
    "      --ui-token TOKEN    its access token (default: random)\n"
    "      --ui-keep N         flows it keeps (10000)\n"
    "      --ui-body-memory B  memory for their bodies (268435456)\n"
    "  -q, --quiet             no per-connection console lines\n"
    "      --help              this text\n"
    "      --version           print the version\n"
    "\n"
    "The CA itself: tlspeek ca --help (path, show, export, install, uninstall,\n"
    "regenerate).\n";

enum {
    OPT_CA_KEY_TYPE = 255,
    OPT_CA_DIR = 256, OPT_DNS, OPT_UPSTREAM_CA, OPT_CONNECT_TO, OPT_HELP,
    OPT_VERSION, OPT_PROXY_AUTH, OPT_ALLOW_REMOTE, OPT_MAX_HEAD_BYTES,
    OPT_HEAD_TIMEOUT, OPT_DNS_TIMEOUT, OPT_CONNECT_TIMEOUT,
    OPT_HANDSHAKE_TIMEOUT, OPT_IDLE_TIMEOUT, OPT_MAX_CONNS, OPT_KEYLOG,
    OPT_IGNORE_HOSTS, OPT_FLOWS, OPT_HAR, OPT_BODIES, OPT_BODY_LIMIT,
    OPT_WORKERS, OPT_UPSTREAM_PROXY, OPT_UPSTREAM_PROXY_FROM_ENV,
    OPT_UPSTREAM_PROXY_EXCEPT, OPT_CLIENT_CERT, OPT_LEAF_KEY_TYPE, OPT_NO_HTTP2,
    OPT_UI, OPT_UI_TOKEN, OPT_UI_KEEP, OPT_UI_BODY_MEMORY,
    OPT_AUTO_PASSTHROUGH, OPT_PASSTHROUGH_TTL, OPT_NO_INTERMEDIATE,
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, 'l'},
    {"ca-dir", required_argument, NULL, OPT_CA_DIR},
    {"ca-key-type", required_argument, NULL, OPT_CA_KEY_TYPE},
    {"leaf-key-type", required_argument, NULL, OPT_LEAF_KEY_TYPE},
    {"no-intermediate", no_argument, NULL, OPT_NO_INTERMEDIATE},
    {"dns", required_argument, NULL, OPT_DNS},
    {"upstream-ca", required_argument, NULL, OPT_UPSTREAM_CA},
    {"connect-to", required_argument, NULL, OPT_CONNECT_TO},
    {"insecure", no_argument, NULL, 'k'},
    {"quiet", no_argument, NULL, 'q'},
    {"no-http2", no_argument, NULL, OPT_NO_HTTP2},
    {"proxy-auth", required_argument, NULL, OPT_PROXY_AUTH},
    {"allow-remote", required_argument, NULL, OPT_ALLOW_REMOTE},
    {"max-head-bytes", required_argument, NULL, OPT_MAX_HEAD_BYTES},
    {"head-timeout", required_argument, NULL, OPT_HEAD_TIMEOUT},
    {"dns-timeout", required_argument, NULL, OPT_DNS_TIMEOUT},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"keylog", required_argument, NULL, OPT_KEYLOG},
    {"ignore-hosts", required_argument, NULL, OPT_IGNORE_HOSTS},
    {"flows", required_argument, NULL, OPT_FLOWS},
    {"har", required_argument, NULL, OPT_HAR},
    {"bodies", required_argument, NULL, OPT_BODIES},
    {"body-limit", required_argument, NULL, OPT_BODY_LIMIT},
    {"upstream-proxy", required_argument, NULL, OPT_UPSTREAM_PROXY},
    {"upstream-proxy-from-env", no_argument, NULL, OPT_UPSTREAM_PROXY_FROM_ENV},
    {"upstream-proxy-except", required_argument, NULL, OPT_UPSTREAM_PROXY_EXCEPT},
    {"client-cert", required_argument, NULL, OPT_CLIENT_CERT},
    {"ui", required_argument, NULL, OPT_UI},
    {"ui-token", required_argument, NULL, OPT_UI_TOKEN},
    {"ui-keep", required_argument, NULL, OPT_UI_KEEP},
    {"auto-passthrough", no_argument, NULL, OPT_AUTO_PASSTHROUGH},
    {"passthrough-ttl", required_argument, NULL, OPT_PASSTHROUGH_TTL},
    {"ui-body-memory", required_argument, NULL, OPT_UI_BODY_MEMORY},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

char *config_default_ca_dir(void)
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
    out->keylog = getenv("SSLKEYLOGFILE"); /* what browsers honour too */
    const char *debug = getenv("TLSPEEK_DEBUG");
    out->debug = debug && debug[0] == '1';
    if (out->keylog && !*out->keylog)
        out->keylog = NULL;
    out->body_limit = 1024 * 1024;
    out->head_timeout = 30;
    out->dns_timeout = 5;
    out->max_conns = 10000;
    out->connect_timeout = 10;
    out->handshake_timeout = 10;
    out->idle_timeout = 300;
    out->passthrough_ttl = 600;
    out->max_head_bytes = 65536;
    out->ui_keep = CONFIG_DEFAULT_UI_KEEP;
    out->ui_body_memory = CONFIG_DEFAULT_UI_BODY_MEMORY;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    out->workers = cpus < 1 ? 1 : cpus > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (int)cpus;
    const char *listen_text = CONFIG_DEFAULT_LISTEN;
    const char *ca_dir = NULL;
    const char *proxy_url = NULL;
    bool proxy_from_env = false;

    optind = 1;
    opterr = 0; /* we print our own one-line reason */
    int opt;
    while ((opt = getopt_long(argc, argv, "+:l:kq", long_options, NULL)) != -1) {
        switch (opt) {
        case 'l': listen_text = optarg; break;
        case OPT_CA_DIR: ca_dir = optarg; break;
        case OPT_CA_KEY_TYPE:
            if (ca_key_type_parse(optarg, &out->ca_key_type) != 0)
                return usage_error(err_stream, "--ca-key-type takes " CA_KEY_TYPE_NAMES,
                                   optarg);
            break;
        case OPT_LEAF_KEY_TYPE:
            out->has_leaf_key_type = strcmp(optarg, "auto") != 0;
            if (out->has_leaf_key_type &&
                ca_key_type_parse(optarg, &out->leaf_key_type) != 0)
                return usage_error(err_stream,
                                   "--leaf-key-type takes auto, " CA_KEY_TYPE_NAMES,
                                   optarg);
            break;
        case OPT_NO_INTERMEDIATE: out->no_intermediate = true; break;
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
        case OPT_NO_HTTP2: out->no_http2 = true; break;
        case OPT_KEYLOG: out->keylog = optarg; break;
        case OPT_FLOWS: out->flows = optarg; break;
        case OPT_HAR: out->har = optarg; break;
        case OPT_BODIES: out->bodies = optarg; break;
        case OPT_BODY_LIMIT: {
            long v = config_value_number(optarg, 0, CONFIG_MAX_BODY_LIMIT);
            if (v < 0)
                return usage_error(err_stream, "--body-limit takes a number of bytes "
                                   "from 0 to " CONFIG_MAX_BODY_LIMIT_TEXT, optarg);
            out->body_limit = (unsigned long long)v;
            break;
        }
        case OPT_IGNORE_HOSTS: {
            if (out->has_ignore_hosts)
                return usage_error(err_stream, "--ignore-hosts given twice; use "
                                   "one pattern with |", NULL);
            char why[160];
            if (config_value_host_pattern(&out->ignore_hosts, optarg, why,
                                          sizeof why) != 0)
                return usage_error(err_stream, why, optarg);
            out->has_ignore_hosts = true;
            break;
        }
        case OPT_CLIENT_CERT:
            if (config_value_client_cert(out, optarg, err_stream) != 0)
                return CONFIG_EXIT_USAGE;
            break;
        case OPT_AUTO_PASSTHROUGH: out->auto_passthrough = true; break;
        case OPT_UPSTREAM_PROXY: proxy_url = optarg; break;
        case OPT_UPSTREAM_PROXY_FROM_ENV: proxy_from_env = true; break;
        case OPT_UPSTREAM_PROXY_EXCEPT: {
            if (out->has_upstream_proxy_except)
                return usage_error(err_stream, "--upstream-proxy-except given twice; "
                                   "use one pattern with |", NULL);
            char why[160];
            if (config_value_host_pattern(&out->upstream_proxy_except, optarg, why,
                                     sizeof why) != 0)
                return usage_error(err_stream, why, optarg);
            out->has_upstream_proxy_except = true;
            break;
        }
        case OPT_PROXY_AUTH:
            if (!strchr(optarg, ':'))
                return usage_error(err_stream, "--proxy-auth needs USER:PASS", NULL);
            out->proxy_auth = optarg;
            break;
        case OPT_ALLOW_REMOTE: {
            const char *why = NULL;
            if (config_value_allow_list(optarg, out, &why) != 0)
                return usage_error(err_stream, why, optarg);
            break;
        }
        case OPT_WORKERS: {
            long v = config_value_number(optarg, 1, CONFIG_MAX_WORKERS);
            if (v < 0)
                return usage_error(err_stream, "--workers takes a number from 1 to "
                                   CONFIG_MAX_WORKERS_TEXT, optarg);
            out->workers = (int)v;
            break;
        }
        case OPT_UI: {
            const char *why = "bad --ui address";
            if (config_value_ui_address(optarg, &out->ui_listen, &why) != 0)
                return usage_error(err_stream, why, optarg);
            out->ui = true;
            break;
        }
        case OPT_UI_TOKEN:
            if (!config_value_ui_token_ok(optarg))
                return usage_error(err_stream, "--ui-token takes 8 to 128 letters, "
                                   "digits or - _ . ~", NULL);
            out->ui_token = optarg;
            break;
        case OPT_UI_KEEP: {
            long v = config_value_number(optarg, 1, 10000000);
            if (v < 0)
                return usage_error(err_stream, "--ui-keep takes a number from 1 to "
                                   "10000000", optarg);
            out->ui_keep = (size_t)v;
            break;
        }
        case OPT_UI_BODY_MEMORY: {
            long v = config_value_number(optarg, 0, 1L << 40);
            if (v < 0)
                return usage_error(err_stream, "not a valid number", optarg);
            out->ui_body_memory = (size_t)v;
            break;
        }
        case OPT_MAX_HEAD_BYTES:
        case OPT_HEAD_TIMEOUT:
        case OPT_DNS_TIMEOUT:
        case OPT_CONNECT_TIMEOUT:
        case OPT_HANDSHAKE_TIMEOUT:
        case OPT_PASSTHROUGH_TTL:
        case OPT_IDLE_TIMEOUT:
        case OPT_MAX_CONNS: {
            /* Heads under 1 KiB could not hold a CONNECT line with headers. */
            long v = opt == OPT_MAX_HEAD_BYTES
                         ? config_value_number(optarg, 1024, 16L << 20)
                     : opt == OPT_MAX_CONNS ? config_value_number(optarg, 1, 10000000)
                                            : config_value_number(optarg, 1, 86400);
            if (v < 0)
                return usage_error(err_stream, "not a valid number", optarg);
            if (opt == OPT_MAX_HEAD_BYTES) out->max_head_bytes = (size_t)v;
            else if (opt == OPT_MAX_CONNS) out->max_conns = (unsigned long)v;
            else if (opt == OPT_HEAD_TIMEOUT) out->head_timeout = (int)v;
            else if (opt == OPT_DNS_TIMEOUT) out->dns_timeout = (int)v;
            else if (opt == OPT_CONNECT_TIMEOUT) out->connect_timeout = (int)v;
            else if (opt == OPT_HANDSHAKE_TIMEOUT) out->handshake_timeout = (int)v;
            else if (opt == OPT_PASSTHROUGH_TTL) out->passthrough_ttl = (int)v;
            else out->idle_timeout = (int)v;
            break;
        }
        case OPT_HELP:
            fputs(usage_text, out_stream);
            fputs(help_text, out_stream);
            fputs(help_text_more, out_stream);
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
    out->upstream_proxy_from_env = proxy_from_env;
    if (config_value_upstream_proxy(out, proxy_url, proxy_from_env, err_stream) != 0)
        return usage_error(err_stream, NULL, NULL);

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
    /* An open proxy on a network is an open relay into it: beyond loopback,
     * someone must have said who may use it. */
    if (!access_host_is_loopback(out->listen.host) && !out->proxy_auth &&
        out->n_allow == 0) {
        char where[AUTHORITY_HOST_MAX + 10];
        authority_format(&out->listen, where, sizeof where);
        fprintf(err_stream,
                "tlspeek: listening on %s would let anyone who can reach it use "
                "the proxy; add --proxy-auth USER:PASS or --allow-remote "
                "CIDR[,CIDR...]\n", where);
        return CONFIG_EXIT_USAGE;
    }
    out->ca_dir = ca_dir ? strdup(ca_dir) : config_default_ca_dir();
    if (!out->ca_dir)
        return usage_error(err_stream, "no --ca-dir given and neither "
                           "XDG_CONFIG_HOME nor HOME is set", NULL);
    return CONFIG_RUN;
}

void config_free(config *c)
{
    if (c->has_ignore_hosts)
        regfree(&c->ignore_hosts);
    c->has_ignore_hosts = false;
    if (c->has_upstream_proxy_except)
        regfree(&c->upstream_proxy_except);
    c->has_upstream_proxy_except = false;
    clientcert_rules_clear(&c->client_certs);
    /* The parent's password lives no longer than the settings. */
    explicit_bzero(&c->upstream_proxy, sizeof c->upstream_proxy);
    free(c->ca_dir);
    c->ca_dir = NULL;
}
