/* h2_flow — HTTP/2 streams paired into exchanges on a read-only tap.
 * See include/h2_flow.h. */
#include "h2_flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2_msg.h"
#include "h2_streams.h"
#include "http_head_build.h"

/* RFC 9113 6.5.2: a field counts its name, its value and 32 bytes. */
#define FIELD_OVERHEAD 32
#define H2_NO_ERROR 0

/* What the header block a direction is reading will become. */
typedef enum {
    BLOCK_IGNORE,   /* a stream not followed: decoded, for HPACK, then dropped */
    BLOCK_REQUEST,  /* a client's new stream */
    BLOCK_PUSH,     /* a PUSH_PROMISE: the request of a pushed stream */
    BLOCK_RESPONSE, /* a response head, informational or final */
    BLOCK_TRAILERS  /* trailer fields, either way */
} block_kind;

typedef struct h2_flow h2_flow;

/* One direction: its reader and the header block it is in. */
typedef struct {
    h2_flow *flow;
    bool from_client;
    h2_msg *reader;
    block_kind kind;
    uint32_t stream_id;            /* the block's stream (the promised one for push) */
    bool in_block;                 /* between on_block_begin and on_block_end */
    http_head head;                /* fields so far, pseudo-headers folded in, strings
                                      in its block (made by the first one) */
    uint32_t authority, scheme, protocol; /* offset + 1 in head's block; 0: none */
    int64_t content_length;        /* the first content-length field's, or -1 */
    size_t n_fields;               /* fields (kept or not), for HTTP_HEAD_MAX_HEADERS */
    size_t list_size;
    struct timeval began;
} side;

struct h2_flow {
    side sides[2];                 /* client, server */
    tap_limits limits;
    atomic_ullong *next_id;
    const tap_callbacks *cbs;
    void *arg;
    h2_streams streams;
    uint32_t last_client_stream;   /* highest stream id the client opened */
    const char *goaway_by;         /* "client"/"server" after a GOAWAY, else NULL */
    uint32_t goaway_code;
    bool stopped;
    const char *stop_reason;
    char error[128];               /* the formatted error being reported */
};

static struct timeval now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv;
}

static const char *side_name(bool client)
{
    return client ? "client" : "server";
}

/* "CANCEL", or the code in hex when it has no name. */
static const char *code_text(uint32_t code, char *buf, size_t size)
{
    const char *name = h2_msg_error_name(code);
    if (name)
        return name;
    snprintf(buf, size, "error 0x%x", (unsigned)code);
    return buf;
}

/* A string of h's block by its offset + 1, or NULL for 0. */
static const char *block_string(const http_head *h, uint32_t at)
{
    return at ? h->block + at - 1 : NULL;
}

/* No stream is open: give back what was kept for the next ones (the
 * spares, and each side's head unless it is building one). */
static void release_spares(h2_flow *f)
{
    h2_streams_release(&f->streams);
    for (int i = 0; i < 2; i++)
        if (!f->sides[i].in_block)
            http_head_clear(&f->sides[i].head);
}

static void report(h2_flow *f, tap_phase phase, const h2_stream *s, const char *error,
                   tap_side reset_by)
{
    tap_exchange ex = {
        .id = s->xid,
        .stream_id = s->id,
        .http_major = 2,
        .http_minor = 0,
        .request = &s->request,
        .authority = block_string(&s->request, s->authority),
        .scheme = block_string(&s->request, s->scheme),
        .protocol = block_string(&s->request, s->protocol),
        .response = s->response,
        .request_trailers = s->request_trailers,
        .response_trailers = s->response_trailers,
        .start = s->start,
        .request_end = s->request_end,
        .response_start = s->response_start,
        .end = phase == TAP_DONE ? now() : (struct timeval){0, 0},
        .request_bytes = s->request_bytes,
        .response_bytes = s->response_bytes,
        .error = error,
        .reset_by = reset_by,
    };
    f->cbs->on_event(f->arg, phase, &ex);
}

/* Report the stream's end and forget it. */
static void finish(h2_flow *f, h2_stream *s, const char *error, tap_side reset_by)
{
    report(f, TAP_DONE, s, error, reset_by);
    h2_streams_close(&f->streams, s);
    if (f->streams.n_open == 0)
        release_spares(f);
}

/* Stop following the connection: every open stream ends with reason. */
static int stop(h2_flow *f, const char *reason)
{
    if (!f->stopped) {
        f->stopped = true;
        f->stop_reason = reason;
    }
    while (f->streams.n_open > 0)
        finish(f, f->streams.open[f->streams.n_open - 1], reason, TAP_BY_NONE);
    return -1;
}

/* Ready for the next block: the head emptied, its memory kept. */
static void clear_block(side *d)
{
    http_head_reset(&d->head);
    d->authority = d->scheme = d->protocol = 0;
    d->content_length = -1;
    d->n_fields = 0;
    d->list_size = 0;
    d->kind = BLOCK_IGNORE;
}

static int on_block_begin(void *arg, uint32_t id, uint32_t promised, bool end_stream)
{
    side *d = arg;
    h2_flow *f = d->flow;
    clear_block(d);
    d->in_block = true;
    d->began = now();
    d->stream_id = id;
    h2_stream *s = h2_streams_find(&f->streams, id);
    if (d->from_client) {
        /* Clients open odd streams, in increasing order; a block on an
         * open one of theirs is its trailers. */
        if (s && (id & 1))
            d->kind = BLOCK_TRAILERS;
        else if (!s && !promised && (id & 1) && id > f->last_client_stream)
            d->kind = BLOCK_REQUEST;
    } else if (promised) {
        /* Servers push on even streams, reserved by a promise on an open one. */
        if (s && !(promised & 1) && !h2_streams_find(&f->streams, promised)) {
            d->kind = BLOCK_PUSH;
            d->stream_id = promised;
        }
    } else if (s) {
        d->kind = s->response ? BLOCK_TRAILERS : BLOCK_RESPONSE;
        if (!s->response_start.tv_sec)
            s->response_start = d->began;
    }
    return 0;
}

/* *at = the offset + 1 of a copy of [p, p + n) in h's block (a repeated
 * pseudo-header's last copy wins). 0, or -1 when memory is short. */
static int set_text(http_head *h, uint32_t *at, const char *p, size_t n)
{
    char *s = NULL;
    if (http_head_put(h, &s, p, n) != 0)
        return -1;
    *at = (uint32_t)(s - h->block) + 1;
    return 0;
}

/* Content-Length's value as a number: digits only (whitespace around
 * them allowed), else -1. */
static int64_t parse_length(const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0)
        return -1;
    int64_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9' || len > (INT64_MAX - (v[i] - '0')) / 10)
            return -1;
        len = len * 10 + (v[i] - '0');
    }
    return len;
}

/* Does the head being built keep this field? What the outputs read, no
 * more (tap.h): every field, a response's Content-Type, or none. */
static bool keeps(const side *d, const char *name, size_t nlen)
{
    switch (d->flow->limits.fields) {
    case TAP_FIELDS_ALL:
        return true;
    case TAP_FIELDS_CONTENT_TYPE:
        return d->kind == BLOCK_RESPONSE && http_head_name_eq(name, nlen, "content-type", 12);
    default:
        return false;
    }
}

/* A field of the block: counted, noted when it is the Content-Length,
 * kept in the head (its block) when the outputs read it. 0, or -1 past
 * HTTP_HEAD_MAX_HEADERS fields or when memory is short. */
static int add_field(side *d, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (++d->n_fields > HTTP_HEAD_MAX_HEADERS)
        return -1;
    if (d->content_length == -1 && http_head_name_eq(name, nlen, "content-length", 14))
        d->content_length = parse_length(value, vlen);
    if (!keeps(d, name, nlen))
        return 0;
    http_head *h = &d->head;
    if (!h->block && http_head_reserve(h, nlen + vlen + 2) != 0)
        return -1;
    return http_head_add(h, name, nlen, value, vlen);
}

/* A pseudo-header field: folded into the head (:protocol of an extended
 * CONNECT beside it), or kept as a field when it has no place (one of a
 * later RFC, or in the wrong block). */
static int pseudo_header(side *d, const char *name, size_t nlen, const char *value,
                         size_t vlen)
{
    http_head *h = &d->head;
    bool request = d->kind == BLOCK_REQUEST || d->kind == BLOCK_PUSH;
#define IS(lit) (nlen == sizeof lit - 1 && memcmp(name, lit, nlen) == 0)
    if (request && IS(":method")) {
        if (vlen >= sizeof h->method)
            return stop(d->flow, "an HTTP/2 request method too long to follow");
        memcpy(h->method, value, vlen);
        h->method[vlen] = '\0';
        return 0;
    }
    if (request && IS(":path")) {
        h->target = NULL;
        return http_head_put(h, &h->target, value, vlen);
    }
    if (request && IS(":authority"))
        return set_text(h, &d->authority, value, vlen);
    if (request && IS(":scheme"))
        return set_text(h, &d->scheme, value, vlen);
    if (request && IS(":protocol"))
        return set_text(h, &d->protocol, value, vlen);
    if (!request && IS(":status")) {
        int status = 0;
        for (size_t i = 0; vlen == 3 && i < vlen; i++)
            status = value[i] >= '0' && value[i] <= '9' ? status * 10 + value[i] - '0' : -1;
        h->status = status >= 100 ? status : 0; /* 0: not a status */
        return 0;
    }
#undef IS
    return add_field(d, name, nlen, value, vlen);
}

static int on_header(void *arg, const char *name, size_t nlen, const char *value,
                     size_t vlen)
{
    side *d = arg;
    h2_flow *f = d->flow;
    if (d->kind == BLOCK_IGNORE)
        return 0;
    d->list_size += nlen + vlen + FIELD_OVERHEAD;
    if (d->list_size > f->limits.max_head_bytes)
        return stop(f, "an HTTP/2 header list over the size limit");
    int rc = nlen > 0 && name[0] == ':' ? pseudo_header(d, name, nlen, value, vlen)
                                        : add_field(d, name, nlen, value, vlen);
    if (rc != 0 && !f->stopped)
        return stop(f, "an HTTP/2 header list with too many fields");
    return rc;
}

/* The head complete so far, moved to the heap. */
static http_head *take_head(side *d)
{
    http_head *h = malloc(sizeof *h);
    if (h) {
        *h = d->head;
        memset(&d->head, 0, sizeof d->head);
    }
    return h;
}

/* Swap the head a side built with an empty one of the same memory. */
static void swap_head(http_head *built, http_head *into)
{
    http_head empty = *into;
    *into = *built;
    *built = empty;
}

/* A new stream from a request head (a client's, or a push promise's). */
static int open_stream(h2_flow *f, side *d, bool pushed)
{
    if (f->streams.n_open >= f->limits.max_open_exchanges)
        return stop(f, "more concurrent HTTP/2 streams than the tap follows");
    h2_stream *s = h2_streams_take(&f->streams);
    if (!s)
        return stop(f, "out of memory");
    s->id = d->stream_id;
    swap_head(&d->head, &s->request);
    s->request.version_major = 2;
    s->request.content_length = d->content_length;
    s->request.upgrade = strcmp(s->request.method, "CONNECT") == 0;
    s->request.head_bytes = d->list_size;
    s->authority = d->authority;
    s->scheme = d->scheme;
    s->protocol = d->protocol;
    s->xid = atomic_fetch_add(f->next_id, 1);
    s->start = d->began;
    if (pushed) {
        s->client_ended = true; /* a promised request has no body */
        s->request_end = d->began;
    } else {
        f->last_client_stream = s->id;
    }
    if (h2_streams_open(&f->streams, s) != 0)
        return stop(f, "out of memory");
    report(f, TAP_REQUEST, s, NULL, TAP_BY_NONE);
    return 0;
}

static int on_block_end(void *arg)
{
    side *d = arg;
    h2_flow *f = d->flow;
    h2_stream *s = h2_streams_find(&f->streams, d->stream_id);
    int rc = 0;
    d->in_block = false;
    switch (d->kind) {
    case BLOCK_IGNORE:
        break;
    case BLOCK_REQUEST:
    case BLOCK_PUSH:
        rc = open_stream(f, d, d->kind == BLOCK_PUSH);
        break;
    case BLOCK_RESPONSE:
        if (!s || (d->head.status >= 100 && d->head.status < 200))
            break; /* informational: the final head follows */
        swap_head(&d->head, &s->final);
        s->response = &s->final;
        s->final.version_major = 2;
        s->final.content_length = d->content_length;
        s->final.head_bytes = d->list_size;
        report(f, TAP_RESPONSE, s, NULL, TAP_BY_NONE);
        break;
    case BLOCK_TRAILERS: {
        if (!s)
            break;
        http_head **to = d->from_client ? &s->request_trailers : &s->response_trailers;
        http_head_free(*to);
        if (!(*to = take_head(d)))
            return stop(f, "out of memory");
        break;
    }
    }
    clear_block(d);
    return rc;
}

static int on_data(void *arg, uint32_t id, const char *data, size_t len)
{
    side *d = arg;
    h2_flow *f = d->flow;
    h2_stream *s = h2_streams_find(&f->streams, id);
    if (!s)
        return 0;
    if (d->from_client)
        s->request_bytes += len;
    else
        s->response_bytes += len;
    if (f->cbs->on_body)
        f->cbs->on_body(f->arg, s->xid, d->from_client, data, len);
    return 0;
}

static int on_end_stream(void *arg, uint32_t id)
{
    side *d = arg;
    h2_flow *f = d->flow;
    h2_stream *s = h2_streams_find(&f->streams, id);
    if (!s)
        return 0;
    if (d->from_client) {
        s->client_ended = true;
        s->request_end = now();
    } else {
        s->server_ended = true;
    }
    if (s->client_ended && s->server_ended)
        finish(f, s, NULL, TAP_BY_NONE);
    return 0;
}

static int on_rst_stream(void *arg, uint32_t id, uint32_t code)
{
    side *d = arg;
    h2_flow *f = d->flow;
    h2_stream *s = h2_streams_find(&f->streams, id);
    if (!s)
        return 0;
    /* A server that has answered in full may cut the rest of the request
     * short with NO_ERROR (RFC 9113 8.1): the exchange is complete. */
    if (!d->from_client && code == H2_NO_ERROR && s->server_ended) {
        finish(f, s, NULL, TAP_BY_NONE);
        return 0;
    }
    char buf[32];
    snprintf(f->error, sizeof f->error, "stream reset by the %s: %s",
             side_name(d->from_client), code_text(code, buf, sizeof buf));
    finish(f, s, f->error, d->from_client ? TAP_BY_CLIENT : TAP_BY_SERVER);
    return 0;
}

static int on_goaway(void *arg, uint32_t last, uint32_t code)
{
    side *d = arg;
    h2_flow *f = d->flow;
    f->goaway_by = side_name(d->from_client);
    f->goaway_code = code;
    /* Streams the other side opened past last were never processed: a
     * server's GOAWAY names client streams (odd), a client's pushed ones. */
    uint32_t parity = d->from_client ? 0 : 1;
    char buf[32];
    snprintf(f->error, sizeof f->error, "not processed: GOAWAY from the %s (%s)",
             f->goaway_by, code_text(code, buf, sizeof buf));
    for (size_t i = f->streams.n_open; i-- > 0;) {
        h2_stream *s = f->streams.open[i];
        if ((s->id & 1) == parity && s->id > last)
            finish(f, s, f->error, TAP_BY_NONE);
    }
    return 0;
}

static int on_settings(void *arg, uint32_t table_size)
{
    side *d = arg;
    h2_flow *f = d->flow;
    h2_msg *other = f->sides[d->from_client ? 1 : 0].reader;
    if (h2_msg_peer_settings(other, table_size) != 0)
        return stop(f, h2_msg_error(other));
    return 0;
}

static const h2_msg_callbacks reader_callbacks = {
    on_block_begin, on_header, on_block_end, on_data,
    on_end_stream,  on_rst_stream, on_goaway, on_settings,
};

/* That side's end of the connection: streams still waiting on it fail. */
static void side_ended(h2_flow *f, bool client)
{
    const char *error = client ? "truncated: the client closed the connection"
                               : "truncated: the server closed the connection";
    if (f->goaway_by) {
        char buf[32];
        snprintf(f->error, sizeof f->error,
                 "the %s closed the connection after a GOAWAY from the %s (%s)",
                 side_name(client), f->goaway_by, code_text(f->goaway_code, buf, sizeof buf));
        error = f->error;
    }
    for (size_t i = f->streams.n_open; i-- > 0;) {
        h2_stream *s = f->streams.open[i];
        if (client ? !s->client_ended : !s->server_ended)
            finish(f, s, error, TAP_BY_NONE);
    }
}

static void feed(h2_flow *f, bool client, const char *data, size_t len)
{
    if (f->stopped)
        return;
    if (len == 0) {
        side_ended(f, client);
        return;
    }
    h2_msg *reader = f->sides[client ? 0 : 1].reader;
    if (h2_msg_feed(reader, data, len) != 0 && !f->stopped)
        stop(f, h2_msg_error(reader));
}

static void client_data(void *impl, const char *data, size_t len)
{
    feed(impl, true, data, len);
}

static void server_data(void *impl, const char *data, size_t len)
{
    feed(impl, false, data, len);
}

static void tap_abort(void *impl, const char *reason)
{
    stop(impl, reason);
}

static bool tap_stopped(const void *impl, const char **reason)
{
    const h2_flow *f = impl;
    if (reason)
        *reason = f->stop_reason;
    return f->stopped;
}

static void tap_free(void *impl)
{
    h2_flow *f = impl;
    if (!f)
        return;
    h2_streams_clear(&f->streams);
    for (int i = 0; i < 2; i++) {
        f->sides[i].in_block = false;
        http_head_clear(&f->sides[i].head);
    }
    for (int i = 0; i < 2; i++)
        h2_msg_free(f->sides[i].reader);
    free(f);
}

static const tap_ops h2_ops = {
    client_data, server_data, tap_abort, tap_stopped, tap_free,
};

tap h2_flow_tap_new(const tap_limits *limits, atomic_ullong *next_id,
                    const tap_callbacks *cbs, void *arg)
{
    tap t = {&h2_ops, NULL};
    h2_flow *f = calloc(1, sizeof *f);
    if (!f)
        return t;
    f->limits = *limits;
    f->next_id = next_id;
    f->cbs = cbs;
    f->arg = arg;
    for (int i = 0; i < 2; i++) {
        side *d = &f->sides[i];
        d->flow = f;
        d->from_client = i == 0;
        d->content_length = -1;
        d->reader = h2_msg_new(d->from_client, &reader_callbacks, d);
        if (!d->reader) {
            tap_free(f);
            return t;
        }
    }
    t.impl = f;
    return t;
}
