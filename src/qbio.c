/* qbio — a BIO over two plain byte queues. See include/qbio.h. */
#include "qbio.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The first buffer of a burst: room for a handshake flight. */
#define QBIO_MIN_BYTES 4096
/* A drained queue that grew past its first buffer, up to this size, keeps
 * it: it is carrying a transfer, and freeing and reallocating per read
 * cost +40 % CPU per byte when the allocator handed the pages back each
 * time. First buffers (handshakes, small messages) and bigger bursts (a
 * pump read event brings up to 132 KiB) are given back, so an idle
 * connection usually holds none; main() keeps glibc from returning those
 * to the kernel at once (256 KiB measured no better). */
#define QBIO_KEEP_BYTES (128 * 1024)

typedef struct {
    char *data;
    size_t start, len, cap; /* queued bytes: data[start .. start+len) */
    bool keep;              /* qbio_set_keep(): a drained buffer stays */
} queue;

typedef struct {
    queue in, out;          /* the peer's ciphertext; the SSL's records */
    bool eof;               /* no more input will come */
} duplex;

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static void drained(queue *q)
{
    q->start = 0;
    if ((q->keep || q->cap > QBIO_MIN_BYTES) && q->cap <= QBIO_KEEP_BYTES)
        return;
    free(q->data);
    q->data = NULL;
    q->cap = 0;
}

/* Room for n more bytes after the queued ones: where they go, or NULL
 * (memory). */
static char *room_for(queue *q, size_t n)
{
    if (q->start + q->len + n > q->cap) {
        if (q->len + n <= q->cap) {
            memmove(q->data, q->data + q->start, q->len);
        } else {
            size_t cap = q->cap ? q->cap : QBIO_MIN_BYTES;
            while (cap < q->len + n)
                cap *= 2;
            char *grown = malloc(cap);
            if (!grown)
                return NULL;
            if (q->len)
                memcpy(grown, q->data + q->start, q->len);
            free(q->data);
            q->data = grown;
            q->cap = cap;
        }
        q->start = 0;
    }
    return q->data + q->start + q->len;
}

static duplex *get(BIO *b)
{
    return BIO_get_data(b);
}

static int q_write(BIO *b, const char *in, size_t n, size_t *written)
{
    queue *q = &get(b)->out;
    BIO_clear_retry_flags(b);
    char *tail = room_for(q, n);
    if (!tail)
        return 0;
    memcpy(tail, in, n);
    q->len += n;
    *written = n;
    return 1;
}

/* Drop the first n bytes of q (all of them if n is larger). */
static void consume(queue *q, size_t n)
{
    if (n >= q->len) {
        q->len = 0;
        drained(q);
        return;
    }
    q->start += n;
    q->len -= n;
}

static int q_read(BIO *b, char *out, size_t n, size_t *got)
{
    duplex *d = get(b);
    queue *q = &d->in;
    BIO_clear_retry_flags(b);
    *got = 0;
    if (q->len == 0) {
        if (d->eof)
            return 0;
        BIO_set_retry_read(b);
        return 0;
    }
    size_t take = n < q->len ? n : q->len;
    memcpy(out, q->data + q->start, take);
    consume(q, take);
    *got = take;
    return 1;
}

static long q_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    duplex *d = get(b);
    switch (cmd) {
    case BIO_CTRL_PENDING:
        return d->in.len > LONG_MAX ? LONG_MAX : (long)d->in.len;
    case BIO_CTRL_EOF:
        return d->in.len == 0 && d->eof;
    case BIO_CTRL_RESET:
        consume(&d->in, d->in.len);
        consume(&d->out, d->out.len);
        return 1;
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_WPENDING:
    default:
        return 0;
    }
}

static int q_create(BIO *b)
{
    duplex *d = calloc(1, sizeof *d);
    if (!d)
        return 0;
    BIO_set_data(b, d);
    BIO_set_init(b, 1);
    return 1;
}

static int q_destroy(BIO *b)
{
    duplex *d = get(b);
    if (d) {
        free(d->in.data);
        free(d->out.data);
        free(d);
    }
    BIO_set_data(b, NULL);
    return 1;
}

static void make_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 "tlspeek byte queue");
    if (m && BIO_meth_set_write_ex(m, q_write) && BIO_meth_set_read_ex(m, q_read) &&
        BIO_meth_set_ctrl(m, q_ctrl) && BIO_meth_set_create(m, q_create) &&
        BIO_meth_set_destroy(m, q_destroy)) {
        method = m;
        return;
    }
    BIO_meth_free(m);
}

BIO *qbio_new(void)
{
    pthread_once(&method_once, make_method);
    return method ? BIO_new(method) : NULL;
}

int qbio_feed(BIO *b, const void *data, size_t n)
{
    char *tail = room_for(&get(b)->in, n);
    if (!tail)
        return -1;
    memcpy(tail, data, n);
    get(b)->in.len += n;
    return 0;
}

void *qbio_reserve(BIO *b, size_t n)
{
    return room_for(&get(b)->in, n);
}

void qbio_commit(BIO *b, size_t n)
{
    get(b)->in.len += n;
}

size_t qbio_pending(BIO *b)
{
    return get(b)->in.len;
}

void qbio_set_eof(BIO *b)
{
    get(b)->eof = true;
}

size_t qbio_peek(BIO *b, const void **data)
{
    queue *q = &get(b)->out;
    *data = q->len ? q->data + q->start : NULL;
    return q->len;
}

void qbio_consume(BIO *b, size_t n)
{
    consume(&get(b)->out, n);
}

static void set_keep(queue *q, bool keep)
{
    q->keep = keep;
    if (!keep && q->len == 0 && q->cap > 0) {
        free(q->data);
        q->data = NULL;
        q->cap = 0;
    }
}

void qbio_set_keep(BIO *b, bool keep)
{
    set_keep(&get(b)->in, keep);
    set_keep(&get(b)->out, keep);
}

size_t qbio_capacity(BIO *b)
{
    return get(b)->in.cap + get(b)->out.cap;
}
