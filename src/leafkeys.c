/* leafkeys — the shared leaf keys, the RSA one made in the background
 * (see include/leafkeys.h). */
#include "leafkeys.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "certmint.h"
#include "log.h"

/* The kinds of ca_key_type: CA_KEY_EC_P256 and CA_KEY_RSA2048. */
#define LEAF_KINDS 2

/* The background thread's nice value: a busy worker gets three times its
 * CPU (weight 1024 against 335), yet with every core busy it still
 * finishes within a second or so, not the seconds of nice 10 or 19 (6.6 s
 * measured once at nice 10, both cores saturated), which a client paused
 * for it would wait. */
#define LEAFKEYS_NICE 5

/* For tests only: when this names a path, the background thread starts
 * making the key only once that file exists, so that a test can have a
 * client arrive while the key is still to come. */
#define LEAFKEYS_HOLD_ENV "TLSPEEK_TEST_HOLD_LEAF_KEY"
#define LEAFKEYS_HOLD_POLL_NS (10 * 1000 * 1000L)

typedef struct waiter {
    struct waiter *next;
    ca_key_type kind;
    void (*ready)(void *arg);
    void *arg;
} waiter;

struct leafkeys {
    /* Each set once (release), read without the lock (acquire), freed
     * with the set. */
    _Atomic(leafkey *) kind[LEAF_KINDS];
    pthread_mutex_t lock;   /* guards what follows */
    pthread_cond_t made;    /* signalled when the background is done */
    bool in_background[LEAF_KINDS]; /* the thread has yet to make it */
    waiter *waiters;
    bool has_thread;
    pthread_t thread;
    atomic_bool stop;       /* leafkeys_free: abandon the making */
};

static void leafkey_free(leafkey *k)
{
    if (!k)
        return;
    certmint_free_key(k->key);
    certmint_free_key(k->pub);
    free(k);
}

/* A key of kind and its public half; NULL when stopped or failed (logged). */
static leafkey *make(ca_key_type kind, atomic_bool *stop)
{
    leafkey *k = calloc(1, sizeof *k);
    if (!k) {
        log_error("out of memory");
        return NULL;
    }
    k->key = stop ? certmint_new_leaf_key_unless(kind, stop) : certmint_new_leaf_key(kind);
    if (!k->key || !(k->pub = certmint_public_key(k->key))) {
        leafkey_free(k);
        return NULL;
    }
    return k;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* The test hook: wait for the file named by LEAFKEYS_HOLD_ENV. false
 * when stopped meanwhile. */
static bool hold_for_test(leafkeys *ks)
{
    const char *path = getenv(LEAFKEYS_HOLD_ENV);
    if (!path || !*path)
        return true;
    const struct timespec poll = {0, LEAFKEYS_HOLD_POLL_NS};
    while (access(path, F_OK) != 0) {
        if (atomic_load(&ks->stop))
            return false;
        nanosleep(&poll, NULL);
    }
    return true;
}

static void *background(void *arg)
{
    leafkeys *ks = arg;
    /* Per thread on Linux: only this one yields to the workers. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), LEAFKEYS_NICE) != 0)
        log_debug("cannot lower the priority of the leaf key thread: %s",
                  strerror(errno));
    bool go = hold_for_test(ks);
    struct timespec start, end, cpu;
    clock_gettime(CLOCK_MONOTONIC, &start);
    leafkey *k = go ? make(CA_KEY_RSA2048, &ks->stop) : NULL;
    clock_gettime(CLOCK_MONOTONIC, &end);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    pthread_mutex_lock(&ks->lock);
    if (k)
        atomic_store_explicit(&ks->kind[CA_KEY_RSA2048], k, memory_order_release);
    ks->in_background[CA_KEY_RSA2048] = false;
    pthread_cond_broadcast(&ks->made);
    /* Under the lock: leafkeys_cancel returns only once no ready() of its
     * registration can run. */
    waiter *w = ks->waiters, *keep = NULL;
    while (w) {
        waiter *next = w->next;
        if (w->kind == CA_KEY_RSA2048) {
            w->ready(w->arg);
            free(w);
        } else {
            w->next = keep;
            keep = w;
        }
        w = next;
    }
    ks->waiters = keep;
    pthread_mutex_unlock(&ks->lock);
    if (k)
        log_debug("RSA-2048 leaf key ready: made in the background in %.0f ms "
                  "(%.0f ms of CPU)",
                  ms_between(&start, &end),
                  (double)cpu.tv_sec * 1e3 + (double)cpu.tv_nsec / 1e6);
    return NULL;
}

leafkeys *leafkeys_new(ca_key_type now, bool background_rsa)
{
    leafkeys *ks = calloc(1, sizeof *ks);
    if (!ks) {
        log_error("out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&ks->lock, NULL) != 0) {
        free(ks);
        log_error("cannot create a lock");
        return NULL;
    }
    if (pthread_cond_init(&ks->made, NULL) != 0) {
        pthread_mutex_destroy(&ks->lock);
        free(ks);
        log_error("cannot create a condition variable");
        return NULL;
    }
    atomic_init(&ks->stop, false);
    leafkey *first = make(now, NULL);
    if (!first) {
        leafkeys_free(ks);
        return NULL;
    }
    atomic_store_explicit(&ks->kind[now], first, memory_order_release);
    if (background_rsa && now != CA_KEY_RSA2048) {
        ks->in_background[CA_KEY_RSA2048] = true;
        log_debug("making the RSA-2048 leaf key in the background");
        /* Signals belong to the main thread's loop (as for the workers). */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&ks->thread, NULL, background, ks);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        ks->has_thread = rc == 0;
        if (rc == 0) {
            pthread_setname_np(ks->thread, "tlspeek-rsakey"); /* top -H, perf */
        } else {
            /* Not fatal: the first client that needs it makes it. */
            ks->in_background[CA_KEY_RSA2048] = false;
            log_debug("cannot start the leaf key thread: %s", strerror(rc));
        }
    }
    return ks;
}

void leafkeys_free(leafkeys *ks)
{
    if (!ks)
        return;
    if (ks->has_thread) {
        atomic_store(&ks->stop, true);
        pthread_join(ks->thread, NULL);
    }
    for (size_t i = 0; i < LEAF_KINDS; i++)
        leafkey_free(atomic_load(&ks->kind[i]));
    while (ks->waiters) {
        waiter *next = ks->waiters->next;
        free(ks->waiters);
        ks->waiters = next;
    }
    pthread_cond_destroy(&ks->made);
    pthread_mutex_destroy(&ks->lock);
    free(ks);
}

const leafkey *leafkeys_ready(leafkeys *ks, ca_key_type kind)
{
    return atomic_load_explicit(&ks->kind[kind], memory_order_acquire);
}

const leafkey *leafkeys_get(leafkeys *ks, ca_key_type kind)
{
    leafkey *k = atomic_load_explicit(&ks->kind[kind], memory_order_acquire);
    if (k)
        return k;
    pthread_mutex_lock(&ks->lock);
    while (ks->in_background[kind])
        pthread_cond_wait(&ks->made, &ks->lock);
    k = atomic_load_explicit(&ks->kind[kind], memory_order_relaxed);
    if (!k) {
        /* Nothing made it (the thread failed or never started): made here,
         * once, the other threads that need it waiting on the lock. */
        k = make(kind, NULL);
        if (k)
            atomic_store_explicit(&ks->kind[kind], k, memory_order_release);
    }
    pthread_mutex_unlock(&ks->lock);
    return k;
}

bool leafkeys_wait(leafkeys *ks, ca_key_type kind, void (*ready)(void *arg), void *arg)
{
    if (atomic_load_explicit(&ks->kind[kind], memory_order_acquire))
        return false;
    bool waiting = false;
    pthread_mutex_lock(&ks->lock);
    if (ks->in_background[kind]) {
        waiter *w = malloc(sizeof *w);
        if (w) {
            *w = (waiter){ks->waiters, kind, ready, arg};
            ks->waiters = w;
            waiting = true;
        }
    }
    pthread_mutex_unlock(&ks->lock);
    return waiting;
}

void leafkeys_cancel(leafkeys *ks, const void *arg)
{
    pthread_mutex_lock(&ks->lock);
    waiter **link = &ks->waiters;
    while (*link) {
        waiter *w = *link;
        if (w->arg == arg) {
            *link = w->next;
            free(w);
        } else {
            link = &w->next;
        }
    }
    pthread_mutex_unlock(&ks->lock);
}
