/* sockout — what one side writes to its socket: straight to the kernel
 * when nothing is waiting, queued with a write event armed only while
 * something is.
 *
 * It replaces a bufferevent under the pump, which reads its socket itself
 * (see pump.c): a socket bufferevent costs some 900 bytes per side (its own
 * read and write events, an input and an output evbuffer, rate-limit and
 * lock state), a held tunnel has two sides, and most sides never queue a
 * byte. The queue and its event are allocated on first use and kept. */
#ifndef TLSPEEK_SOCKOUT_H
#define TLSPEEK_SOCKOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/buffer.h>
#include <event2/event.h>

typedef struct {
    evutil_socket_t fd;
    struct event_base *base;
    struct evbuffer *queue;    /* NULL until a write had to wait */
    struct event *ev;          /* write readiness, pending while queued */
    size_t low;                /* on_written when the queue falls to this */
    size_t max_write;          /* bytes per write from the queue */
    bool reset_seen;           /* a write was told ECONNRESET (the kernel
                                  says so once; later writes say EPIPE) */
    void (*on_written)(void *arg);     /* a queued write left <= low */
    void (*on_error)(void *arg, int err); /* a queued write failed (errno;
                                             0: the socket took nothing) */
    void *arg;
} sockout;

/* Send n bytes: what the socket takes now goes at once, the rest is
 * queued. A failure other than "would block" leaves the bytes queued, and
 * the write event reports it through on_error. 0, or -1 out of memory. */
int sockout_send(sockout *o, const void *data, size_t n);

/* The same for a whole evbuffer, which is drained (one writev first). */
int sockout_send_buffer(sockout *o, struct evbuffer *buf);

/* Bytes queued and not yet written. */
size_t sockout_pending(const sockout *o);

/* Free the queue and the event (not the socket). */
void sockout_free(sockout *o);

#endif
