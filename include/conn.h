/* conn — one client connection to the proxy, from accept to close: the
 * request head, CONNECT tunnels (intercepted or relayed raw), plain HTTP
 * forwarding, and the proxy's own pages. The connection struct is
 * private; this is the whole interface. */
#ifndef TLSPEEK_CONN_H
#define TLSPEEK_CONN_H

#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "access.h"
#include "authority.h"
#include "connect_to.h"
#include "flowout.h"
#include "autopass.h"
#include "parent.h"

typedef struct ca ca;                 /* ca.h: for the proxy's own pages */
typedef struct intercept intercept;   /* intercept.h: TLS contexts, leaves */

typedef struct conn conn;

/* What every connection needs from its worker and from the process:
 * filled in once by the proxy, one per worker thread; read-only to
 * connections except the live list and the shared counters. */
typedef struct {
    struct event_base *base;  /* the worker's own loop and resolver */
    struct evdns_base *dns;
    int worker_id;            /* 1..N, for the debug log */
    const intercept *tls;     /* contexts, leaf key and leaf cache (shared) */
    const ca *ca;             /* the CA, for the proxy's own pages */
    const connect_to_rule *connect_to; /* --connect-to rules */
    size_t n_connect_to;
    bool insecure;            /* upstream certificates are not verified */
    const parent_proxy *parent; /* --upstream-proxy, or NULL */
    const regex_t *ignore_hosts; /* CONNECT hosts relayed untouched, or NULL */
    autopass *autopass;       /* --auto-passthrough's hosts (shared), or NULL */
    int passthrough_ttl;      /* seconds an autopass entry lasts */
    const access_cidr *allow; /* --allow-remote: remote ranges served */
    size_t n_allow;
    const char *proxy_auth;   /* expected Proxy-Authorization, or NULL */
    authority listen;         /* where the proxy listens (real port) */
    int head_timeout;         /* seconds, for each */
    int dns_timeout;
    int connect_timeout;
    int handshake_timeout;
    int idle_timeout;
    size_t max_head_bytes;
    unsigned long max_conns;  /* over all workers */
    bool warned_max_conns;    /* the limit warning is logged once per episode */
    char self_address[AUTHORITY_HOST_MAX + 10]; /* the bound "host:port" */

    flowout *out;             /* where completed exchanges go (shared) */
    atomic_ullong *next_exchange_id; /* shared by every worker */
    atomic_ullong *next_conn_id;     /* likewise, for connection ids */
    atomic_ullong *all_live;  /* open connections of every worker */

    conn *live;               /* this worker's open connections, for shutdown */
} conn_env;

/* Take over an accepted client socket: admission, then the request head.
 * On allocation failure the socket is closed and a warning logged. */
void conn_accept(conn_env *env, evutil_socket_t fd, const struct sockaddr *sa,
                 int socklen);

/* Close every live connection at once (shutdown): no flushing. */
void conn_close_all(conn_env *env);

#endif
