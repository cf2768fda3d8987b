/* h2_streams — the streams an HTTP/2 tap (h2_flow) follows on one
 * connection: the open ones kept by id, so that any of a hundred is found
 * in a few steps (DATA, HEADERS and ends name their stream), and finished
 * ones kept for the next, with their heads' memory: a busy connection
 * opens streams as others finish, and then allocates nothing per request.
 * The spares are given back when asked (h2_flow asks when no stream is
 * open, so that an idle connection holds none).
 *
 * Pure: libc only. */
#ifndef TLSPEEK_H2_STREAMS_H
#define TLSPEEK_H2_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "http_head.h"

/* Finished streams kept for reuse, at most. */
#define H2_STREAMS_SPARE 16

/* One stream followed from its first header block until it closes. */
typedef struct h2_stream {
    uint32_t id;
    unsigned long long xid;        /* exchange id */
    http_head request;             /* strings in its block */
    uint32_t authority, scheme, protocol; /* offset + 1 of each in request's block;
                                             0: none */
    http_head final;               /* the final response head, once it came */
    http_head *response;           /* &final, or NULL before it */
    http_head *request_trailers, *response_trailers;
    struct timeval start, request_end, response_start;
    unsigned long long request_bytes, response_bytes;
    bool client_ended, server_ended;
    struct h2_stream *next_spare;
} h2_stream;

/* Zeroed is empty. */
typedef struct {
    h2_stream **open;              /* by increasing id */
    size_t n_open, capacity;
    h2_stream *last_found;         /* DATA comes in runs on one stream */
    h2_stream *spare;              /* H2_STREAMS_SPARE at most */
    size_t n_spare;
} h2_streams;

/* The open stream id, or NULL. */
h2_stream *h2_streams_find(h2_streams *t, uint32_t id);

/* A stream to fill, not open yet: a spare (zeroed but for its heads,
 * empty with their memory kept) or a new one. NULL when memory is short. */
h2_stream *h2_streams_take(h2_streams *t);

/* s (from h2_streams_take, its id set and not open) is open. 0, or -1
 * when memory is short (then s is given back as by h2_streams_close). */
int h2_streams_open(h2_streams *t, h2_stream *s);

/* The open stream s is finished: it becomes a spare or is freed. */
void h2_streams_close(h2_streams *t, h2_stream *s);

/* Free the spares. */
void h2_streams_release(h2_streams *t);

/* Free every stream, open or spare, and zero t. */
void h2_streams_clear(h2_streams *t);

#endif
