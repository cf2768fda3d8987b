/* conn_priv — what the connection's files share. conn.c is the core
 * (lifecycle, timers, the relay, the one close path); each phase of a
 * connection lives in its own file and reaches the rest only through the
 * core's functions below:
 *
 *   conn_head.c     accept and admission, request heads, auth, routing
 *   conn_connect.c  connecting upstream, then a continuation
 *   conn_tunnel.c   CONNECT -> 200 -> first byte -> raw relay or TLS
 *   conn_tls.c      interception: paused hello, upstream TLS, leaf, relay
 *   conn_forward.c  plain http:// forwarding, one exchange at a time
 *   conn_self.c     the proxy's own pages
 *   conn_tap.c      the read-only exchange tap and the records it makes
 *
 * The core calls a phase only through its conn_phase table. Each phase
 * keeps its state in its own sub-struct of struct conn, touched only by
 * its file (the core frees what they hold when the connection goes).
 * What several phases share (the request parser, the target, the SNI)
 * is the core's. Private to these files. */
#ifndef TLSPEEK_CONN_PRIV_H
#define TLSPEEK_CONN_PRIV_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/time.h>

#include "conn.h"
#include "http_msg.h"
#include "intercept.h"
#include "pump.h"
#include "tap.h"
#include "upstream.h"
#include "wsframes.h"

/* While the other side's unsent output is above this, a side is not read:
 * a fast upstream cannot fill memory behind a slow client. */
#define CONN_HIGH_WATERMARK (256 * 1024)
/* After a close is decided, output gets this long to be sent. */
#define CONN_DRAIN_SECONDS 5
/* Longest reason kept for a console line or an answer. */
#define CONN_TEXT_MAX 512
/* Pumps retired mid-callback wait here until the loop comes back. */
#define CONN_MAX_RETIRED 4

/* A phase's operations. The core calls the one for the event; NULL means
 * the default said beside it. */
typedef struct conn_phase {
    const char *name; /* for the debug log */
    /* Bytes arrived; the phase drains what it consumes and may leave the
     * rest. NULL: stop reading that side, keep the bytes for later. */
    void (*client_data)(conn *c, struct evbuffer *in);
    void (*upstream_data)(conn *c, struct evbuffer *in);
    /* A side ended (error false: cleanly). NULL: close, naming the side. */
    void (*client_end)(conn *c, bool error, const char *reason);
    void (*upstream_end)(conn *c, bool error, const char *reason);
    /* p's unsent output fell to the low watermark. NULL: nothing. */
    void (*drained)(conn *c, pump *p);
    /* The phase's deadline (conn_arm_timer) passed. NULL: close when idle
     * for --idle-timeout, else wait the rest of it. */
    void (*timeout)(conn *c);
    /* TLS handshake events of either side; NULL: ignored. */
    void (*client_handshake)(conn *c);
    void (*upstream_handshake)(conn *c);
    void (*client_paused)(conn *c);
} conn_phase;

/* conn_head.c */
typedef struct {
    bool head_started;        /* the --head-timeout runs (bytes of a head
                                 arrived, or the connection is new) */
    bool reading;             /* in the loop over pipelined heads */
} conn_head_state;

/* conn_connect.c */
typedef void (*conn_connected_fn)(conn *c);
typedef struct {
    upstream_req *req;        /* in flight, or NULL */
    conn_connected_fn then;   /* the continuation once connected */
    const char *method;       /* for the failure line: "CONNECT", "GET" */
} conn_connect_state;

/* conn_tls.c */
typedef struct {
    bool leaf_from_cache;
    int refuse_status;        /* 502/504 while refusing */
    char *refuse_reason;
    flow_tls *client_leg, *upstream_leg; /* from intercept_describe */
    bool upstream_ended_early; /* during the client's handshake: */
    bool early_end_error;      /* its on_end, replayed once relaying */
    char *early_end_reason;
    struct event *key_ev;     /* wakes a handshake waiting for its leaf key
                                 (intercept_wait_leaf_key), made then */
    struct timeval key_wait_started;
} conn_tls_state;

/* conn_forward.c */
typedef struct {
    http_msg_parser *responses; /* upstream -> client */
    char method[24];          /* of the request in flight */
    bool request_done;        /* its body has been sent upstream */
    bool client_keep_alive;
    bool websocket;           /* the request asks for an upgrade */
    bool answered;            /* the response came before the request's end */
    struct evbuffer *pending_head; /* the head waiting for the connect */
} conn_forward_state;

/* conn_tap.c */
typedef struct {
    tap tap;                  /* ops NULL: not tapping */
    const char *scheme;       /* "https" in tunnels, "http" forwarded */
    bool websocket_open;      /* after a 101: frames are counted */
    wsframes ws_up, ws_down;  /* client->server, server->client */
    size_t ws_tail;           /* frame bytes in the piece that held the 101 */
    unsigned awaiting;        /* exchanges with a request and no response head */
    int proxy_status;         /* the proxy answers the oldest of them itself */
    struct conn_tap_upgrade *upgrade; /* the 101 exchange, reported at close
                                         with its message counts */
} conn_tap_state;

struct conn {
    conn_env *env;
    conn *prev, *next;        /* env->live */
    const conn_phase *phase;
    bool closing;             /* conn_close ran: nothing moves it back */
    unsigned long long id;    /* from env->next_conn_id */
    char client_name[INET6_ADDRSTRLEN + 8]; /* "127.0.0.1:53122" */
    struct timeval started;
    struct timeval last_activity;

    pump *client;
    pump *upstream;
    pump *retired[CONN_MAX_RETIRED];
    int n_retired;
    bool client_ended, upstream_ended; /* the side reported its end */
    const char *first_end;    /* "client closed" or "server closed": who
                                 ended first, for the close reason */
    /* The client's request stream: heads (conn_head.c) and bodies
     * (conn_forward.c); NULL inside tunnels. */
    http_msg_parser *requests;

    authority target;         /* CONNECT target or forward origin */
    /* formatted target (conn_name_target), "" until named; at its exact
     * size, not inline: most names are short, and a held tunnel keeps it */
    char *target_name;
    char upstream_peer[INET6_ADDRSTRLEN + 8];  /* address connected to */
    char *sni;                /* the client's SNI (tunnels), or NULL */
    /* Client bytes counted before the tunnel began (the CONNECT head and
     * our 200), left out of the tunnel's totals. */
    unsigned long long tunnel_base_in, tunnel_base_out;
    bool report_tunnel;       /* a final "closed <target>" line is due */
    char *passthrough_reason; /* a tunnel relayed untouched: why; else NULL */

    conn_head_state head;
    conn_connect_state connect;
    conn_tls_state tls;
    conn_forward_state fwd;
    conn_tap_state tap;

    struct event *timer;      /* the current phase's deadline */
    struct event *reap_ev;    /* deferred frees */
    const char *close_reason; /* why, for the final console line */
    char *close_reason_buf;
};

/* ---- conn.c: the core ---- */

/* A new connection on an accepted socket, in no phase yet, with the
 * --head-timeout armed; NULL on failure (the socket closed, logged). */
conn *conn_new(conn_env *env, evutil_socket_t fd, const struct sockaddr *sa);
/* Enter phase (logged at debug level). Refused once the connection is
 * closing: returns false, and the caller must stop. */
bool conn_set_phase(conn *c, const conn_phase *phase);
/* Replace *field with a copy of text cut to CONN_TEXT_MAX - 1 bytes
 * (NULL, with the old text freed, when memory is short). */
void conn_set_text(char **field, const char *text);
/* c->target_name := c->target as "host:port". Returns 0, or -1 (the old
 * name kept) when memory is short. */
int conn_name_target(conn *c);
/* Close: report open exchanges with reason, flush what is queued, free
 * when flushed (or after CONN_DRAIN_SECONDS). Idempotent. */
void conn_close(conn *c, const char *reason);
/* Answer the client with status and reason, then close. Every answer the
 * proxy gives goes through here and is recorded (conn_tap_answer): its
 * record is its console line, so callers log nothing of their own. */
void conn_fail(conn *c, int status, const char *reason);
void conn_arm_timer(conn *c, int seconds);
void conn_touch(conn *c);
/* Drop the upstream side (keep-alive to another origin, a failed TLS
 * upstream). Returns -1 when the connection had to close instead
 * (too many retired at once): the caller must stop. */
int conn_retire_upstream(conn *c);
/* Take over a connected upstream socket as c->upstream. 0, or -1 after
 * closing the connection. */
int conn_attach_upstream(conn *c, struct bufferevent *bev, const char *peer);
/* The relay (raw tunnels, intercepted tunnels after the handshake,
 * websockets): bytes each way with watermark backpressure and the tap,
 * half-close, and close when both sides have ended. */
extern const conn_phase conn_relay_phase;
void conn_relay_data(conn *c, pump *from, struct evbuffer *data);
void conn_relay_side_ended(conn *c, bool client_side, bool error, const char *reason);
void conn_relay_drained(conn *c, pump *p);
/* The relay's operations, for a phase that relays with a twist. */
void conn_relay_client_data(conn *c, struct evbuffer *in);
void conn_relay_upstream_data(conn *c, struct evbuffer *in);
void conn_relay_client_end(conn *c, bool error, const char *reason);
/* Enter relay (or a phase with the relay's behaviour) and move what
 * either side already sent. */
void conn_start_relay(conn *c, const conn_phase *phase);
/* Feed parser from buf without copying; stop at the first event.
 * *consumed says how many bytes of buf the parser used (not drained). */
http_msg_event conn_feed(http_msg_parser *parser, struct evbuffer *buf,
                         size_t *consumed);
/* After HTTP_MSG_HEAD, http_msg has not consumed the head's final LF
 * (the first byte of buf): consume it, so that buf starts at the body or
 * the tunnel. True when that ends the message (no body). */
bool conn_finish_head(http_msg_parser *parser, struct evbuffer *buf);
/* Send the client a whole evbuffer (emptied). */
void conn_send_client(conn *c, struct evbuffer *out);

/* ---- phase entry points (the hand-offs between phases) ---- */
/* conn_head.c: read the next request head on a kept-alive connection. */
void conn_head_next(conn *c);
/* conn_connect.c: connect to c->target (after --connect-to), then
 * continue with then(c); failures answer 502/504/508 and close. */
void conn_connect(conn *c, const char *method, conn_connected_fn then);
/* conn_tunnel.c: a CONNECT head. */
void conn_tunnel_start(conn *c, const http_head *head);
/* conn_tls.c: intercept the tunnel (its first bytes are a TLS record). */
void conn_tls_start(conn *c);
/* conn_forward.c: an absolute-form request head for origin, path its
 * origin-form target (inside head); complete = no body. */
void conn_forward_start(conn *c, const http_head *head, const authority *origin,
                        const char *path, bool complete);
/* conn_self.c: a request for the proxy's own page at path. */
void conn_self_answer(conn *c, const http_head *head, const char *path);

/* ---- conn_tap.c: the read-only exchange tap and its records ---- */
/* Start tapping this connection's plaintext with the tap ALPN calls for
 * (alpn NULL or "http/1.1": HTTP/1); scheme is "https" or "http". */
void conn_tap_start(conn *c, const char *scheme, const char *alpn);
/* Show the tap bytes (not consumed) going from one side to the other. */
void conn_tap_buffer(conn *c, bool from_client, struct evbuffer *data);
void conn_tap_bytes(conn *c, bool from_client, const char *data, size_t len);
/* That side ended cleanly. */
void conn_tap_end(conn *c, bool from_client);
/* A new upstream connection replaces the previous one: what the tap
 * knew of the old one's response stream is over. */
void conn_tap_new_upstream(conn *c);
/* The connection ends: exchanges still open are reported with reason,
 * and a websocket's exchange with its message counts. */
void conn_tap_abort(conn *c, const char *reason);
/* A tunnel relayed untouched ends: one record for it, "passthrough" with
 * c->passthrough_reason, its bytes each way. */
void conn_tap_passthrough(conn *c);
/* Is an exchange waiting for its response head? */
bool conn_tap_awaiting_response(const conn *c);
/* The proxy answers the client's request itself with status (conn_fail,
 * the one caller, sends it next): one record, marked answered by the
 * proxy, with reason as its error — the tap's exchange waiting for a
 * response when there is one, else the request head just read (or the
 * tunnel's CONNECT), else a record saying no request head was parsed. */
void conn_tap_answer(conn *c, int status, const char *reason);

#endif
