/* http_flow — a read-only tap on both plaintext directions of one
 * connection: a request parser on the client's bytes, a response parser
 * on the server's, responses paired with requests in order (pipelining,
 * HEAD, 1xx, 204/304, responses ending at close, upgrades). It reports
 * each exchange when it completes or fails, and body payload as it
 * passes. It never changes or holds back the bytes: when it cannot
 * understand them it stops and says why, and the relay goes on.
 *
 * Pure: libc + http_msg, no logging, no I/O (it reads the clock for the
 * exchange timestamps). */
#ifndef TLSPEEK_HTTP_FLOW_H
#define TLSPEEK_HTTP_FLOW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

#include "http_msg.h"

/* Requests awaiting their response; more than this stops inspection. */
#define HTTP_FLOW_MAX_PENDING 64

typedef struct {
    unsigned long long id;         /* from the caller's counter */
    const http_head *request;      /* never NULL */
    const http_head *response;     /* the final response head, or NULL */
    struct timeval start;          /* request head began */
    struct timeval request_end;    /* request complete (zero if it never was) */
    struct timeval response_start; /* response head began (zero if none) */
    struct timeval end;            /* completed or failed */
    unsigned long long request_bytes;  /* body payloads, framing removed */
    unsigned long long response_bytes;
    bool upgraded;                 /* 101: the stream is no longer HTTP */
    const char *error;             /* NULL when complete, else why not */
} http_exchange;

typedef struct {
    /* An exchange completed or failed; pointers valid during the call. */
    void (*on_exchange)(void *arg, const http_exchange *ex);
    /* Body payload of exchange id, in order; may be NULL. */
    void (*on_body)(void *arg, unsigned long long id, bool request,
                    const char *data, size_t len);
} http_flow_callbacks;

typedef struct http_flow http_flow;

/* A tap. Exchange ids are taken from *next_id (atomically incremented),
 * which the caller shares between taps, on every worker thread, so ids are
 * unique in the process. cbs must outlive the tap. NULL on allocation
 * failure. */
http_flow *http_flow_new(size_t max_head_bytes, atomic_ullong *next_id,
                         const http_flow_callbacks *cbs, void *arg);
/* Frees without reporting; call http_flow_abort() first to report. */
void http_flow_free(http_flow *f);

/* Bytes the client sent / the server sent, in order. len 0 = that side
 * ended (a response delimited by close completes then). */
void http_flow_client_data(http_flow *f, const char *data, size_t len);
void http_flow_server_data(http_flow *f, const char *data, size_t len);

/* The connection is ending: report every exchange still waiting, with
 * error = reason, and stop. */
void http_flow_abort(http_flow *f, const char *reason);

/* Has inspection stopped? Then *reason (static) says why, e.g. "server
 * bytes are not HTTP" or "upgraded to websocket". */
bool http_flow_stopped(const http_flow *f, const char **reason);

#endif
