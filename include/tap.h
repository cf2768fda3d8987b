/* tap — the passive exchange tap of one connection, behind one interface
 * whatever the protocol: HTTP/1 (http_flow) or HTTP/2 (h2_flow, chosen by
 * ALPN). The connection shows a tap every plaintext byte that crosses, in
 * order, each way; the tap never changes, holds back or consumes them.
 * When it cannot follow the bytes it stops itself and says why, and the
 * relay goes on untouched.
 *
 * A tap reports each exchange (one HTTP/1 request/response pair, or one
 * HTTP/2 stream) three times at most, in this order:
 *   TAP_REQUEST   its request head is complete (in flight, no response);
 *   TAP_RESPONSE  its final response head is complete;
 *   TAP_DONE      it completed, or failed (ex->error says why).
 * TAP_DONE always comes, exactly once per exchange that began, even when
 * the tap stops itself or is aborted: outputs that opened files for an
 * exchange can rely on it to close them.
 *
 * Pure: libc (+ http_msg for HTTP/1, nghttp2's HPACK for HTTP/2), no
 * logging, no I/O (it reads the clock for the timestamps). */
#ifndef TLSPEEK_TAP_H
#define TLSPEEK_TAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "http_head.h"

typedef enum {
    TAP_REQUEST,  /* request head complete */
    TAP_RESPONSE, /* final response head complete */
    TAP_DONE      /* complete or failed: the last event of the exchange */
} tap_phase;

/* Which side ended an HTTP/2 stream early (RST_STREAM), if one did. */
typedef enum { TAP_BY_NONE, TAP_BY_CLIENT, TAP_BY_SERVER } tap_side;

typedef struct {
    unsigned long long id;         /* from the caller's counter, unique per process */
    uint32_t stream_id;            /* HTTP/2 stream id; 0 for HTTP/1 */
    int http_major, http_minor;    /* 1.1, 1.0 or 2.0 */
    const http_head *request;      /* never NULL. For HTTP/2 the pseudo-headers
                                      are folded in: method, target = :path,
                                      and authority below; they are not in
                                      request->headers */
    const char *authority;         /* HTTP/2 :authority, or NULL */
    const char *scheme;            /* HTTP/2 :scheme, or NULL */
    const char *protocol;          /* HTTP/2 :protocol of an extended CONNECT
                                      (RFC 8441: "websocket"), or NULL; not
                                      in request->headers either */
    const http_head *response;     /* the final response head, or NULL */
    const http_head *request_trailers;  /* trailer fields, or NULL */
    const http_head *response_trailers;
    struct timeval start;          /* request head began */
    struct timeval request_end;    /* request complete (zero if it never was) */
    struct timeval response_start; /* response head began (zero if none) */
    struct timeval end;            /* completed or failed (TAP_DONE only) */
    unsigned long long request_bytes;  /* body payload so far: chunk framing
                                          and HTTP/2 padding removed */
    unsigned long long response_bytes;
    bool upgraded;                 /* 101: the stream is no longer HTTP */
    size_t upgrade_tail;           /* TAP_DONE of an upgrade: how many bytes at
                                      the end of the piece being fed follow
                                      the 101 (the new protocol's first) */
    const char *error;             /* TAP_DONE: NULL when complete, else why not */
    tap_side reset_by;             /* HTTP/2: who sent RST_STREAM */
} tap_exchange;

typedef struct {
    /* An exchange advanced; pointers are valid during the call only. */
    void (*on_event)(void *arg, tap_phase phase, const tap_exchange *ex);
    /* Body payload of exchange id, in order; may be NULL. */
    void (*on_body)(void *arg, unsigned long long id, bool request,
                    const char *data, size_t len);
} tap_callbacks;

/* Operations of one tap implementation. */
typedef struct tap_ops {
    /* Bytes the client / the server sent, in order; len 0 = that side ended. */
    void (*client_data)(void *impl, const char *data, size_t len);
    void (*server_data)(void *impl, const char *data, size_t len);
    /* The connection is ending: every exchange still open gets TAP_DONE
     * with error = reason, and the tap stops. */
    void (*abort)(void *impl, const char *reason);
    /* Has the tap stopped? *reason (static) says why. */
    bool (*stopped)(const void *impl, const char **reason);
    /* Frees without reporting (after abort, or when nothing is open). */
    void (*free)(void *impl);
} tap_ops;

typedef struct {
    const tap_ops *ops;
    void *impl;
} tap;

/* Which header fields the heads a tap reports must carry: what its
 * outputs read; neither tap copies others (a field not kept costs no
 * copy). Framing, limits and stop reasons are the same whichever. */
typedef enum {
    TAP_FIELDS_ALL,          /* every field (--flows, --har, the web UI) */
    TAP_FIELDS_CONTENT_TYPE, /* a response's Content-Type (the console line) */
    TAP_FIELDS_NONE          /* none: no output reads records */
} tap_fields;

/* Limits shared by every tap implementation, and what it must keep. */
typedef struct {
    size_t max_head_bytes;      /* one header block (HTTP/1 head, HTTP/2 header list) */
    size_t max_open_exchanges;  /* pipelined requests / concurrent streams tracked */
    tap_fields fields;          /* TAP_FIELDS_ALL when left 0 */
} tap_limits;

#endif
