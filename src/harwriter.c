/* harwriter — the HAR's own thread. See include/harwriter.h.
 *
 * One mutex guards the queue and the counters below it; the har itself is
 * touched only by the writer thread (and by harwriter_free after the
 * thread ended), so reading body files and rewriting the document happen
 * with no lock held that a worker could wait on. */
#include "harwriter.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harentry.h"
#include "log.h"

struct harwriter {
    har *har;                  /* the writer thread's alone */
    harwriter_write_fn write;
    void *write_arg;
    unsigned rewrite_seconds;
    struct timespec next_write; /* writer thread's: not before this */
    pthread_t thread;
    bool started;

    pthread_mutex_t lock;
    pthread_cond_t wake;       /* the writer: work, flush or stop */
    pthread_cond_t settled;    /* flushers: a write was attempted */
    har_item *head, *tail;    /* queued, oldest first */
    size_t queued_bytes;
    bool idle;                 /* writer waits with nothing to write */
    bool stopping;
    bool drop_said;            /* a full queue was reported (once per run) */
    unsigned long long flushes_asked; /* harwriter_flush calls so far */
    unsigned long long flushes_done;  /* ... the writer has answered */
    bool flush_ok;             /* how the last answered flush went */
    atomic_ullong lost;
};

static int default_write(har *h, void *arg)
{
    (void)arg;
    return har_write(h);
}

static void now(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
}

static bool reached(const struct timespec *t)
{
    struct timespec n;
    now(&n);
    return n.tv_sec > t->tv_sec || (n.tv_sec == t->tv_sec && n.tv_nsec >= t->tv_nsec);
}

/* Called with the lock held: sleep until there is something to do. */
static void wait_for_work(harwriter *w)
{
    for (;;) {
        bool dirty = har_dirty(w->har);
        if (w->head || w->stopping || w->flushes_asked > w->flushes_done ||
            (dirty && reached(&w->next_write)))
            return;
        if (dirty) {
            /* Changes wait for the next rewrite; new entries queue
             * meanwhile without waking us (see harwriter_add). */
            w->idle = false;
            pthread_cond_timedwait(&w->wake, &w->lock, &w->next_write);
        } else {
            w->idle = true;
            pthread_cond_wait(&w->wake, &w->lock);
        }
    }
}

static void *run(void *arg)
{
    harwriter *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        wait_for_work(w);
        w->idle = false;
        har_item *batch = w->head;
        w->head = w->tail = NULL;
        w->queued_bytes = 0;
        unsigned long long flushes = w->flushes_asked;
        bool now_wanted = w->stopping || flushes > w->flushes_done;
        bool stopping = w->stopping;
        pthread_mutex_unlock(&w->lock);

        while (batch) {
            har_item *next = batch->next;
            if (har_add_item(w->har, batch) != 0) /* logged there */
                atomic_fetch_add(&w->lost, 1);
            batch = next;
        }
        bool ok = true;
        if (har_dirty(w->har) && (now_wanted || reached(&w->next_write))) {
            /* Failures are logged by har_write, once per run of them; the
             * next interval retries. */
            ok = w->write(w->har, w->write_arg) == 0;
            now(&w->next_write);
            w->next_write.tv_sec += w->rewrite_seconds;
        }

        pthread_mutex_lock(&w->lock);
        if (flushes > w->flushes_done) {
            /* Whatever was queued when they asked went through this write
             * (or nothing needed writing). */
            w->flushes_done = flushes;
            w->flush_ok = ok;
            pthread_cond_broadcast(&w->settled);
        }
        if (stopping && !w->head)
            break;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

harwriter *harwriter_new(har *h, unsigned rewrite_seconds)
{
    harwriter *w = calloc(1, sizeof *w);
    pthread_condattr_t attr;
    bool attr_made = false, lock_made = false, wake_made = false, settled_made = false;
    if (!w)
        goto fail;
    w->har = h;
    w->write = default_write;
    w->rewrite_seconds = rewrite_seconds;
    atomic_init(&w->lost, 0);
    /* The rewrite deadline is on the monotonic clock: a wall-clock jump
     * must neither stall the HAR nor make it rewrite in a loop. */
    if (pthread_condattr_init(&attr) != 0)
        goto fail;
    attr_made = true;
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        !(lock_made = pthread_mutex_init(&w->lock, NULL) == 0) ||
        !(wake_made = pthread_cond_init(&w->wake, &attr) == 0) ||
        !(settled_made = pthread_cond_init(&w->settled, NULL) == 0))
        goto fail;
    pthread_condattr_destroy(&attr);
    attr_made = false;
    if (pthread_create(&w->thread, NULL, run, w) != 0)
        goto fail;
    w->started = true;
    pthread_setname_np(w->thread, "tlspeek-har");
    return w;
fail:
    log_error("cannot start the --har writer thread");
    if (attr_made)
        pthread_condattr_destroy(&attr);
    if (w) {
        if (settled_made)
            pthread_cond_destroy(&w->settled);
        if (wake_made)
            pthread_cond_destroy(&w->wake);
        if (lock_made)
            pthread_mutex_destroy(&w->lock);
        free(w);
    }
    har_free(h);
    return NULL;
}

void harwriter_set_write(harwriter *w, harwriter_write_fn fn, void *arg)
{
    pthread_mutex_lock(&w->lock);
    w->write = fn ? fn : default_write;
    w->write_arg = arg;
    pthread_mutex_unlock(&w->lock);
}

int harwriter_add(harwriter *w, const flow_record *r)
{
    har_item *e = har_item_new(r);
    if (!e) {
        atomic_fetch_add(&w->lost, 1);
        return -1;
    }
    bool first_drop = false, queued = false;
    pthread_mutex_lock(&w->lock);
    if (w->queued_bytes + e->len > HARWRITER_MAX_QUEUED) {
        first_drop = !w->drop_said;
        w->drop_said = true;
    } else {
        if (w->tail)
            w->tail->next = e;
        else
            w->head = e;
        w->tail = e;
        w->queued_bytes += e->len;
        queued = true;
        /* Wake the writer only when it sleeps with nothing to do, or when
         * a batch is worth moving: not once per exchange. */
        if (w->idle || w->queued_bytes >= HARWRITER_WAKE_BYTES)
            pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    if (queued)
        return 0;
    atomic_fetch_add(&w->lost, 1);
    if (first_drop)
        log_warn("--har: the writer is more than %d MiB behind (slow disk?); "
                 "exchanges are left out of the HAR while it is (counted at exit)",
                 HARWRITER_MAX_QUEUED / (1024 * 1024));
    har_item_free(e);
    return -1;
}

int harwriter_flush(harwriter *w)
{
    pthread_mutex_lock(&w->lock);
    unsigned long long mine = ++w->flushes_asked;
    pthread_cond_signal(&w->wake);
    while (w->flushes_done < mine)
        pthread_cond_wait(&w->settled, &w->lock);
    int rc = w->flush_ok ? 0 : -1;
    pthread_mutex_unlock(&w->lock);
    return rc;
}

unsigned long long harwriter_lost(const harwriter *w)
{
    return atomic_load(&w->lost);
}

unsigned long long harwriter_free(harwriter *w)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->settled);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    har_free(w->har);
    unsigned long long lost = atomic_load(&w->lost);
    free(w);
    return lost;
}
