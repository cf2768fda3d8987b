/* busy — is one side of a connection busy? See include/busy.h. */
#include "busy.h"

#include <stdlib.h>

struct busy_timer {
    struct event *ev;
    busy *owner;
    bool moved; /* a message passed this period */
    void (*on_idle)(void *arg);
    void *arg;
};

static const struct timeval period = {BUSY_PERIOD_MS / 1000, BUSY_PERIOD_MS % 1000 * 1000};

static void check(evutil_socket_t fd, short what, void *arg)
{
    busy_timer *t = arg;
    (void)fd;
    (void)what;
    if (t->moved) {
        t->moved = false;
        event_add(t->ev, &period);
        return;
    }
    void (*on_idle)(void *) = t->on_idle;
    void *cb_arg = t->arg;
    busy_reset(t->owner); /* frees t and its fired, non-persistent event */
    on_idle(cb_arg);
}

bool busy_note(busy *b, struct event_base *base, busy_dir dir, void (*on_idle)(void *arg),
               void *arg)
{
    if (b->timer) {
        b->timer->moved = true;
        return false;
    }
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    uint32_t now = (uint32_t)((uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000);
    now += now == 0; /* 0 means "none" */
    if (b->since[dir] == 0 || now - b->since[dir] >= BUSY_PERIOD_MS) {
        b->since[dir] = now;
        b->count[dir] = 1;
        return false;
    }
    if (++b->count[dir] < BUSY_MESSAGES)
        return false;
    busy_timer *t = calloc(1, sizeof *t);
    if (!t)
        return false;
    *t = (busy_timer){.owner = b, .on_idle = on_idle, .arg = arg};
    t->ev = event_new(base, -1, 0, check, t);
    if (!t->ev || event_add(t->ev, &period) != 0) {
        if (t->ev)
            event_free(t->ev);
        free(t);
        return false;
    }
    b->timer = t;
    return true;
}

void busy_reset(busy *b)
{
    if (b->timer) {
        event_free(b->timer->ev);
        free(b->timer);
    }
    b->timer = NULL;
    b->since[BUSY_IN] = b->since[BUSY_OUT] = 0;
    b->count[BUSY_IN] = b->count[BUSY_OUT] = 0;
}
