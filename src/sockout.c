/* sockout — a side's socket output. See include/sockout.h. */
#include "sockout.h"

#include <errno.h>
#include <sys/socket.h>

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    sockout *o = arg;
    (void)fd;
    (void)what;
    int n = evbuffer_write_atmost(o->queue, o->fd, (ev_ssize_t)o->max_write);
    if (n <= 0) {
        int err = n < 0 ? EVUTIL_SOCKET_ERROR() : 0;
        if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
            return;
        if (err == ECONNRESET)
            o->reset_seen = true;
        event_del(o->ev);
        o->on_error(o->arg, err);
        return;
    }
    if (evbuffer_get_length(o->queue) == 0)
        event_del(o->ev);
    if (evbuffer_get_length(o->queue) <= o->low)
        o->on_written(o->arg);
}

/* The queue, made on first use, with its event armed. NULL: memory. */
static struct evbuffer *queue(sockout *o)
{
    if (!o->queue) {
        o->queue = evbuffer_new();
        if (!o->queue)
            return NULL;
    }
    if (!o->ev) {
        o->ev = event_new(o->base, o->fd, EV_WRITE | EV_PERSIST, on_writable, o);
        if (!o->ev)
            return NULL;
    }
    if (!event_pending(o->ev, EV_WRITE, NULL) && event_add(o->ev, NULL) != 0)
        return NULL;
    return o->queue;
}

int sockout_send(sockout *o, const void *data, size_t n)
{
    size_t done = 0;
    if (sockout_pending(o) == 0) {
        ssize_t w = send(o->fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == ECONNRESET)
            o->reset_seen = true;
        done = w > 0 ? (size_t)w : 0;
    }
    if (done == n)
        return 0;
    struct evbuffer *q = queue(o);
    return q && evbuffer_add(q, (const char *)data + done, n - done) == 0 ? 0 : -1;
}

int sockout_send_buffer(sockout *o, struct evbuffer *buf)
{
    if (sockout_pending(o) == 0 && evbuffer_write(buf, o->fd) < 0 && errno == ECONNRESET)
        o->reset_seen = true;
    if (evbuffer_get_length(buf) == 0)
        return 0;
    struct evbuffer *q = queue(o);
    return q && evbuffer_add_buffer(q, buf) == 0 ? 0 : -1;
}

size_t sockout_pending(const sockout *o)
{
    return o->queue ? evbuffer_get_length(o->queue) : 0;
}

void sockout_free(sockout *o)
{
    if (o->ev)
        event_free(o->ev);
    if (o->queue)
        evbuffer_free(o->queue);
    o->ev = NULL;
    o->queue = NULL;
}
