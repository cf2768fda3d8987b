/* conn_priv — the connection struct shared by conn.c (lifecycle, relay),
 * conn_front.c (request heads, CONNECT), conn_tls.c (interception) and
 * conn_forward.c (plain HTTP forwarding). Private to those files: one
 * connection object, split by concern to keep each file readable. */
#ifndef TLSPEEK_CONN_PRIV_H
#define TLSPEEK_CONN_PRIV_H

#include <stdbool.h>
#include <sys/time.h>

#include "conn.h"
#include "http_flow.h"
#include "http_msg.h"
#include "pump.h"
#include "upstream.h"
#include "wsframes.h"

/* While the other side's unsent output is above this, a side is not read:
 * a fast upstream cannot fill memory behind a slow client. */
#define CONN_HIGH_WATERMARK (256 * 1024)
/* After a close is decided, output gets this long to be sent. */
#define CONN_DRAIN_SECONDS 5
/* Longest reason or URL kept for a console line or an answer. */
#define CONN_TEXT_MAX 512
/* Pumps retired mid-callback wait here until the loop comes back. */
#define CONN_MAX_RETIRED 4

typedef enum {
    CONN_READ_HEAD,        /* reading a request head from the client */
    CONN_CONNECTING,       /* connecting upstream for CONNECT or a forward */
    CONN_TUNNEL_PEEK,      /* 200 sent; waiting for the tunnel's first byte */
    CONN_RAW,              /* relaying opaque bytes both ways */
    CONN_CLIENT_HELLO,     /* client hello paused; upstream TLS under way */
    CONN_CLIENT_HANDSHAKE, /* leaf chosen; finishing the client handshake */
    CONN_TLS_RELAY,        /* intercepted: relaying decrypted bytes */
    CONN_TLS_REFUSE,       /* upstream failed: answer the first request */
    CONN_FORWARD,          /* plain HTTP request and response in flight */
    CONN_CLOSING           /* flushing, then freed */
} conn_state;

struct conn {
    conn_env *env;
    conn *prev, *next;       /* env->live */
    conn_state state;
    char client_name[INET6_ADDRSTRLEN + 8]; /* "127.0.0.1:53122" */
    struct timeval started;
    struct timeval last_activity;

    pump *client;
    pump *upstream;
    pump *retired[CONN_MAX_RETIRED];
    int n_retired;
    upstream_req *connecting;
    http_msg_parser *requests;  /* client -> proxy/upstream request stream */
    http_msg_parser *responses; /* upstream -> client, plain forwarding */

    authority target;           /* CONNECT target or forward origin */
    char target_name[AUTHORITY_HOST_MAX + 10]; /* formatted target */
    char upstream_peer[INET6_ADDRSTRLEN + 8];  /* address connected to */
    bool upstream_ended;        /* the upstream side reported on_end */
    /* Client bytes counted before the tunnel began (the CONNECT head and
     * our 200), left out of the tunnel's totals. */
    unsigned long long tunnel_base_in, tunnel_base_out;
    bool client_ended;

    /* Interception */
    /* Texts most connections never need, or need only at the end, are
     * allocated when set: tens of thousands of connections are held. */
    char *sni;                  /* from the client hello; NULL if none */
    bool hello_seen;            /* the hello callback ran once */
    X509 *leaf;                 /* chosen for the client handshake */
    bool leaf_from_cache;
    http_flow *flow;            /* read-only tap on the decrypted bytes */
    const char *flow_scheme;    /* "https" in tunnels, "http" forwarded */
    bool websocket_open;        /* after a 101: frames are counted */
    wsframes ws_up, ws_down;    /* client->server, server->client */
    int refuse_status;          /* 502/504 for CONN_TLS_REFUSE */
    char *refuse_reason;

    /* Forwarding */
    char method[24];            /* of the request in flight */
    bool request_done;          /* its body has been sent upstream */
    bool client_keep_alive;
    bool websocket;
    char *url;                  /* for the console line */
    struct evbuffer *pending_head; /* forward head waiting for connect */

    struct event *timer;        /* the current state's deadline */
    struct event *reap_ev;      /* deferred frees */
    const char *close_reason;   /* why, for the final console line */
    char *close_reason_buf;
};

/* conn.c */
/* Replace *field with a copy of text cut to CONN_TEXT_MAX - 1 bytes
 * (NULL, with the old text freed, when memory is short). */
void conn_set_text(char **field, const char *text);
/* "512 B", "1.2 kB", "10.0 MB": sizes for console lines. */
void conn_format_bytes(unsigned long long n, char *buf, size_t size);
void conn_set_state(conn *c, conn_state state);
void conn_close(conn *c, const char *reason);
/* Answer the client with status and reason, then close. */
void conn_fail(conn *c, int status, const char *reason);
void conn_arm_timer(conn *c, int seconds);
void conn_touch(conn *c);
void conn_retire_upstream(conn *c);
void conn_process_client_input(conn *c);
/* Feed parser from buf without copying; stop at the first event.
 * *consumed says how many bytes of buf the parser used (not drained). */
http_msg_event conn_feed(http_msg_parser *parser, struct evbuffer *buf,
                         size_t *consumed);
/* After HTTP_MSG_HEAD, http_msg has not consumed the head's final LF
 * (the first byte of buf): consume it, so that buf starts at the body or
 * the tunnel. True when that ends the message (no body). */
bool conn_finish_head(http_msg_parser *parser, struct evbuffer *buf);
/* Connect to c->target; connect_done continues by state. */
void conn_connect_upstream(conn *c);
void conn_tunnel_first_bytes(conn *c);
void conn_start_raw(conn *c);
/* A CONNECT tunnel that is not TLS: say so and relay it raw. */
void conn_start_raw_tunnel(conn *c);
/* Relay plain bytes from one pump to the other, with backpressure. */
void conn_relay(conn *c, pump *from, struct evbuffer *data);
void conn_side_ended(conn *c, pump *p, bool error, const char *reason);
extern const pump_callbacks conn_upstream_callbacks;

/* conn_front.c */
/* Turn away a new client the proxy must not serve, with the reason. */
void conn_admit(conn *c, const struct sockaddr *sa);
/* Answer a request for the proxy's own page at path; keep the client
 * connection when the request allows it. */
void conn_answer_self(conn *c, const http_head *head, const char *path);

/* conn_tls.c */
void conn_tls_start(conn *c);
void conn_tls_upstream_ready(conn *c);
void conn_tls_upstream_failed(conn *c, const char *reason);
void conn_tls_client_handshake_done(conn *c);
void conn_tls_refuse_input(conn *c, struct evbuffer *plain);
void conn_tls_timeout(conn *c);
void conn_tls_client_paused(conn *c);

/* conn_tap.c: the read-only exchange tap and the records it makes */
/* Start tapping this connection's plaintext; scheme is "https" or "http". */
void conn_tap_start(conn *c, const char *scheme);
/* Show the tap bytes (not consumed) going from -> the other side. */
void conn_tap(conn *c, pump *from, struct evbuffer *data);
void conn_tap_bytes(conn *c, bool from_client, const char *data, size_t len);
void conn_tap_end(conn *c, pump *from);
/* The connection ends: exchanges still open are reported with reason. */
void conn_tap_abort(conn *c, const char *reason);

/* conn_forward.c */
void conn_forward_start(conn *c, const http_head *head, bool complete);
void conn_forward_connected(conn *c);
void conn_forward_client_input(conn *c);
void conn_forward_upstream_input(conn *c, struct evbuffer *data);
void conn_forward_upstream_ended(conn *c, bool error, const char *reason);

#endif
