/* config — the command line, turned into an immutable settings struct,
 * with the environment variables that are settings ($SSLKEYLOGFILE,
 * $TLSPEEK_DEBUG, $XDG_CONFIG_HOME and $HOME for the CA directory, and
 * $https_proxy and the like with --upstream-proxy-from-env).
 * Elsewhere the environment is read only where a convention says so:
 * $SSL_CERT_FILE/$SSL_CERT_DIR in tlsctx (as openssl and curl do),
 * $NO_COLOR in flowout, and $PATH/$HOME in trust_store, which runs
 * certutil and finds the user's browser profiles. */
#ifndef TLSPEEK_CONFIG_H
#define TLSPEEK_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>

#include "access.h"
#include "authority.h"
#include "ca.h"
#include "clientcert.h"
#include "connect_to.h"
#include "proxyurl.h"

#define CONFIG_MAX_DNS 8
#define CONFIG_MAX_CONNECT_TO 64
#define CONFIG_MAX_ALLOW 32
#define CONFIG_MAX_WORKERS 256
#define CONFIG_MAX_WORKERS_TEXT "256"
#define CONFIG_DEFAULT_LISTEN "127.0.0.1:8080"
#define CONFIG_DEFAULT_PORT 8080
/* --body-limit's largest value: 1 TiB. */
#define CONFIG_MAX_BODY_LIMIT 1099511627776L
#define CONFIG_MAX_BODY_LIMIT_TEXT "1099511627776"

typedef struct {
    authority listen;           /* -l/--listen */
    char *ca_dir;               /* --ca-dir, or the XDG default; owned */
    ca_key_type ca_key_type;    /* --ca-key-type, for a CA created now */
    ca_key_type leaf_key_type;  /* --leaf-key-type, when has_leaf_key_type */
    bool has_leaf_key_type;     /* else auto: each client gets EC P-256
                                   when it takes it, else RSA 2048 */
    bool no_intermediate;       /* --no-intermediate: the CA signs leaves */
    const char *dns[CONFIG_MAX_DNS]; /* --dns, borrowed from argv */
    int n_dns;
    const char *upstream_ca;    /* --upstream-ca, borrowed from argv */
    connect_to_rule connect_to[CONFIG_MAX_CONNECT_TO]; /* --connect-to */
    int n_connect_to;
    bool insecure;              /* -k/--insecure */
    bool no_http2;              /* --no-http2: ALPN http/1.1 only */
    const char *keylog;         /* --keylog, else $SSLKEYLOGFILE, or NULL */
    regex_t ignore_hosts;       /* --ignore-hosts, when has_ignore_hosts */
    bool has_ignore_hosts;
    const char *flows;          /* --flows FILE or "-" */
    const char *har;            /* --har FILE */
    const char *bodies;         /* --bodies DIR */
    unsigned long long body_limit; /* --body-limit BYTES */
    bool quiet;                 /* -q */
    bool debug;                 /* $TLSPEEK_DEBUG=1: debug lines too */
    const char *proxy_auth;     /* --proxy-auth USER:PASS, borrowed */
    access_cidr allow[CONFIG_MAX_ALLOW]; /* --allow-remote ranges */
    int n_allow;
    /* Limits; timeouts in seconds. */
    int head_timeout;
    int dns_timeout;
    int connect_timeout;
    int handshake_timeout;
    int idle_timeout;
    size_t max_head_bytes;
    unsigned long max_conns;
    int workers;                /* --workers, default: online CPUs */
    /* --upstream-proxy URL, or with --upstream-proxy-from-env the first
     * of HTTPS_PROXY, https_proxy, ALL_PROXY, all_proxy that is set */
    bool has_upstream_proxy;
    bool upstream_proxy_from_env; /* --upstream-proxy-from-env was given */
    proxyurl upstream_proxy;
    const char *upstream_proxy_source; /* the option or variable it came from */
    regex_t upstream_proxy_except; /* --upstream-proxy-except, when has_... */
    bool has_upstream_proxy_except;
    clientcert_rules client_certs; /* --client-cert, loaded and checked */
    /* The web UI (--ui): off unless ui is set. Port 0: the kernel picks. */
    bool ui;
    authority ui_listen;        /* --ui [ADDR:]PORT, ADDR default 127.0.0.1 */
    const char *ui_token;       /* --ui-token, borrowed; NULL: random */
    size_t ui_keep;             /* --ui-keep N flows kept in memory */
    bool auto_passthrough;      /* --auto-passthrough */
    int passthrough_ttl;        /* --passthrough-ttl SECONDS */
    size_t ui_body_memory;      /* --ui-body-memory BYTES for their bodies */
} config;

#define CONFIG_DEFAULT_UI_KEEP 10000
#define CONFIG_DEFAULT_UI_BODY_MEMORY (256UL * 1024 * 1024)

typedef enum {
    CONFIG_RUN,        /* start the proxy */
    CONFIG_EXIT_OK,    /* --help or --version was printed: exit 0 */
    CONFIG_EXIT_USAGE  /* bad option: usage was printed to err, exit 2 */
} config_result;

/* Parse argv into *out (zeroed first). Help and version go to out_stream,
 * errors and usage to err_stream. Whatever the result, the caller frees
 * with config_free(). */
config_result config_parse(int argc, char **argv, config *out,
                           FILE *out_stream, FILE *err_stream);
void config_free(config *c);

/* $XDG_CONFIG_HOME/tlspeek when that is absolute, else ~/.config/tlspeek;
 * NULL when neither is set. Caller frees. */
char *config_default_ca_dir(void);

#endif
