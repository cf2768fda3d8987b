/* Shared by the http_msg and http_flow fuzz targets: drive a parser over
 * a piece of input, checking what the interface promises, and read every
 * part of each head through its accessors. */
#ifndef TLSPEEK_FUZZ_HTTP_WALK_H
#define TLSPEEK_FUZZ_HTTP_WALK_H

#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "http_msg.h"

/* Read every byte of s (so ASan sees a bad string) and return its length. */
static inline size_t fuzz_strlen(const char *s)
{
    FUZZ_ASSERT(s != NULL);
    size_t n = strlen(s);
    volatile unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (unsigned char)s[i];
    (void)sum;
    return n;
}

static inline bool fuzz_str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Every accessor of a complete head. */
static inline void fuzz_walk_head(const http_head *h, http_msg_kind kind,
                                  size_t max_head);

/* A copy made with http_head_dup() is equal to the original, field by
 * field, and owns its strings. */
static inline void fuzz_check_dup(const http_head *h, http_msg_kind kind,
                                  size_t max_head)
{
    http_head *d = http_head_dup(h);
    FUZZ_ASSERT(d != NULL);
    FUZZ_ASSERT(strcmp(d->method, h->method) == 0);
    FUZZ_ASSERT(fuzz_str_eq(d->target, h->target));
    FUZZ_ASSERT(fuzz_str_eq(d->reason, h->reason));
    FUZZ_ASSERT(d->target != h->target || !d->target);
    FUZZ_ASSERT(d->status == h->status && d->n_headers == h->n_headers);
    FUZZ_ASSERT(d->version_major == h->version_major &&
                d->version_minor == h->version_minor);
    FUZZ_ASSERT(d->keep_alive == h->keep_alive && d->upgrade == h->upgrade &&
                d->chunked == h->chunked);
    FUZZ_ASSERT(d->content_length == h->content_length &&
                d->head_bytes == h->head_bytes);
    for (size_t i = 0; i < h->n_headers; i++) {
        FUZZ_ASSERT(fuzz_str_eq(d->headers[i].name, h->headers[i].name));
        FUZZ_ASSERT(fuzz_str_eq(d->headers[i].value, h->headers[i].value));
        FUZZ_ASSERT(d->headers[i].name != h->headers[i].name);
    }
    fuzz_walk_head(d, kind, max_head);
    http_head_free(d);
}

static inline void fuzz_walk_head(const http_head *h, http_msg_kind kind,
                                  size_t max_head)
{
    FUZZ_ASSERT(h != NULL);
    FUZZ_ASSERT(h->n_headers <= HTTP_HEAD_MAX_HEADERS);
    FUZZ_ASSERT(h->head_bytes > 0 && h->head_bytes <= max_head);
    FUZZ_ASSERT(h->content_length >= -1);
    FUZZ_ASSERT(memchr(h->method, '\0', sizeof h->method) != NULL);
    if (kind == HTTP_MSG_REQUEST) {
        FUZZ_ASSERT(fuzz_strlen(h->method) > 0);
        fuzz_strlen(h->target);
        FUZZ_ASSERT(h->reason == NULL);
        FUZZ_ASSERT(h->status == 0);
    } else {
        fuzz_strlen(h->reason);
        FUZZ_ASSERT(h->target == NULL);
        FUZZ_ASSERT(h->status >= 0 && h->status <= 999);
    }
    FUZZ_ASSERT(h->version_major >= 0 && h->version_minor >= 0);
    for (size_t i = 0; i < h->n_headers; i++) {
        const http_header *f = &h->headers[i];
        fuzz_strlen(f->name);
        size_t vlen = fuzz_strlen(f->value);
        /* values are trimmed */
        if (vlen > 0) {
            FUZZ_ASSERT(f->value[0] != ' ' && f->value[0] != '\t');
            FUZZ_ASSERT(f->value[vlen - 1] != ' ' && f->value[vlen - 1] != '\t');
        }
        /* the first field of a name is found by its name, in any case */
        const char *v = http_head_get(h, f->name);
        FUZZ_ASSERT(v != NULL);
        (void)http_head_has_token(h, f->name, f->value);
        (void)http_head_has_token(h, f->name, "");
    }
    static const char *const names[] = { "Host", "content-length", "CONNECTION",
                                         "Transfer-Encoding", "Upgrade", "" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = http_head_get(h, names[i]);
        if (v)
            fuzz_strlen(v);
        (void)http_head_has_token(h, names[i], "close");
        (void)http_head_has_token(h, names[i], "chunked");
    }
}

/* What a feed loop saw. */
typedef struct {
    size_t heads, bodies, ends;
    unsigned long long body_bytes;
    bool failed;     /* ERROR or TOO_LARGE: the parser is done */
    bool in_message; /* a message has started and not ended */
} fuzz_feed_state;

/* Feed data[0..len) until all of it is used or the parser fails; len 0
 * is the end of the stream. on_event, if not NULL, runs after each event
 * (a response parser's owner calls http_msg_expect_no_body() there). */
static inline void fuzz_feed(http_msg_parser *p, http_msg_kind kind,
                             size_t max_head, const char *data, size_t len,
                             fuzz_feed_state *st,
                             void (*on_event)(http_msg_parser *, http_msg_event, void *),
                             void *arg)
{
    bool eof = len == 0;
    unsigned idle = 0; /* events in a row that used no byte */
    for (;;) {
        size_t used = 99999, body_len = 99999;
        const char *body = (const char *)&used;
        http_msg_event ev = http_msg_feed(p, data, len, &used, &body, &body_len);
        FUZZ_ASSERT(used <= len);
        if (ev == HTTP_MSG_BODY) {
            FUZZ_ASSERT(body_len > 0);
            FUZZ_ASSERT(body >= data && body_len <= len &&
                        (size_t)(body - data) <= len - body_len);
            /* the payload lies within what this call consumed */
            FUZZ_ASSERT((size_t)(body - data) + body_len <= used + 1);
            volatile unsigned sum = 0;
            for (size_t i = 0; i < body_len; i++)
                sum += (unsigned char)body[i];
            (void)sum;
            st->bodies++;
            st->body_bytes += body_len;
        } else {
            FUZZ_ASSERT(body == NULL && body_len == 0);
        }
        switch (ev) {
        case HTTP_MSG_NEED_MORE:
            FUZZ_ASSERT(used == len);
            FUZZ_ASSERT(http_msg_error(p) == NULL);
            break;
        case HTTP_MSG_HEAD:
            st->heads++;
            st->in_message = true;
            fuzz_walk_head(http_msg_head(p), kind, max_head);
            fuzz_check_dup(http_msg_head(p), kind, max_head);
            break;
        case HTTP_MSG_BODY:
            break;
        case HTTP_MSG_END:
            st->ends++;
            st->in_message = false;
            break;
        case HTTP_MSG_TOO_LARGE:
        case HTTP_MSG_ERROR:
            FUZZ_ASSERT(fuzz_strlen(http_msg_error(p)) > 0);
            st->failed = true;
            break;
        default:
            FUZZ_ASSERT(!"unknown event");
        }
        if (on_event)
            on_event(p, ev, arg);
        if (ev == HTTP_MSG_NEED_MORE || st->failed)
            return;
        /* a head stays readable until the next message starts */
        if (http_msg_head(p))
            fuzz_walk_head(http_msg_head(p), kind, max_head);
        data += used;
        len -= used;
        if (eof) {
            /* after the end of stream at most one END is owed */
            FUZZ_ASSERT(ev == HTTP_MSG_END);
            FUZZ_ASSERT(++idle < 2);
            continue;
        }
        idle = used == 0 ? idle + 1 : 0;
        FUZZ_ASSERT(idle < 8); /* no progress: the caller would spin */
        if (len == 0)
            return;
    }
}

#endif
