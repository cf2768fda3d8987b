/* http_flow — a read-only tap on both plaintext directions of one
 * connection: a request parser on the client's bytes, a response parser
 * on the server's, responses paired with requests in order (pipelining,
 * HEAD, 1xx). It reports each completed exchange. It never changes or
 * holds back the bytes: when it cannot understand them it stops and
 * says why, and the relay goes on.
 *
 * Pure: libc + http_msg, no logging, no I/O. */
#ifndef TLSPEEK_HTTP_FLOW_H
#define TLSPEEK_HTTP_FLOW_H

#include <stdbool.h>
#include <stddef.h>

/* Requests awaiting their response; more than this stops inspection. */
#define HTTP_FLOW_MAX_PENDING 64

typedef struct {
    const char *method;       /* "GET" */
    const char *target;       /* request-target as sent: "/path?q" */
    const char *host;         /* Host header, or NULL */
    int status;               /* final status, e.g. 200 */
    const char *content_type; /* response Content-Type, or NULL */
    unsigned long long request_bytes;  /* body payload sizes */
    unsigned long long response_bytes;
    bool upgraded;            /* 101: the stream is no longer HTTP */
} http_exchange;

typedef void (*http_flow_cb)(void *arg, const http_exchange *ex);

typedef struct http_flow http_flow;

/* A tap; cb runs for each completed exchange (strings valid during the
 * call). NULL on allocation failure. */
http_flow *http_flow_new(size_t max_head_bytes, http_flow_cb cb, void *arg);
void http_flow_free(http_flow *f);

/* Bytes the client sent / the server sent, in order. len 0 = that side
 * ended (a response delimited by close completes then). */
void http_flow_client_data(http_flow *f, const char *data, size_t len);
void http_flow_server_data(http_flow *f, const char *data, size_t len);

/* Has inspection stopped? Then *reason (static) says why, e.g. "server
 * bytes are not HTTP: invalid status line" or "upgraded to websocket". */
bool http_flow_stopped(const http_flow *f, const char **reason);

#endif
