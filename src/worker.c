/* worker — one event loop per thread. See include/worker.h. */
#include "worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "log.h"

struct worker {
    struct event_base *base;
    struct evdns_base *dns;
    listener *listener;
    struct event *stop_ev;
    conn_env env;
    pthread_t thread;
    bool started;
};

static void on_accept(evutil_socket_t fd, const struct sockaddr *sa, int socklen,
                      void *arg)
{
    worker *w = arg;
    conn_accept(&w->env, fd, sa, socklen);
}

/* Runs on the worker's own thread, activated by worker_stop(). */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    listener_free(w->listener);
    w->listener = NULL;
    conn_close_all(&w->env);
    event_base_loopbreak(w->base);
}

static struct evdns_base *make_resolver(struct event_base *base, const config *cfg)
{
    struct evdns_base *dns;
    if (cfg->n_dns == 0) {
        dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                       EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!dns)
            log_error("cannot set up the resolver from /etc/resolv.conf; "
                      "name one with --dns ADDR");
    } else {
        dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!dns) {
            log_error("cannot set up the resolver");
            return NULL;
        }
        for (int i = 0; i < cfg->n_dns; i++) {
            if (evdns_base_nameserver_ip_add(dns, cfg->dns[i]) != 0) {
                log_error("--dns %s: not an IP address with an optional port",
                          cfg->dns[i]);
                evdns_base_free(dns, 0);
                return NULL;
            }
        }
        /* localhost and friends still come from /etc/hosts. */
        evdns_base_load_hosts(dns, NULL);
    }
    if (!dns)
        return NULL;
    /* Two tries within --dns-timeout; upstream's own timer has the last word. */
    char per_try[16];
    snprintf(per_try, sizeof per_try, "%d", cfg->dns_timeout > 1 ? cfg->dns_timeout / 2 : 1);
    evdns_base_set_option(dns, "timeout:", per_try);
    evdns_base_set_option(dns, "attempts:", "2");
    /* 0x20 case randomisation confuses simple or caching name servers. */
    evdns_base_set_option(dns, "randomize-case:", "0");
    return dns;
}

/* An event loop that hands the kernel only the net change of a loop
 * iteration's event changes: a connection going from connecting to
 * reading, or pausing and resuming a side, cost an epoll_ctl() per step
 * (12 per intercepted connection). libevent leaves this off by default
 * for programs that dup() descriptors they watch; this one never does. */
static struct event_base *new_loop(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

worker *worker_new(int id, const config *cfg, const conn_env *shared,
                   const authority *where, listener_sharing sharing)
{
    worker *w = calloc(1, sizeof *w);
    if (!w) {
        log_error("out of memory");
        return NULL;
    }
    w->env = *shared;
    w->env.worker_id = id;
    w->env.live = NULL;
    w->base = new_loop();
    if (!w->base) {
        log_error("cannot create an event loop");
        goto fail;
    }
    w->stop_ev = event_new(w->base, -1, 0, on_stop, w);
    w->dns = make_resolver(w->base, cfg);
    if (!w->stop_ev || !w->dns)
        goto fail;
    w->listener = listener_new(w->base, where, sharing, on_accept, w);
    if (!w->listener)
        goto fail;
    w->env.base = w->base;
    w->env.dns = w->dns;
    snprintf(w->env.self_address, sizeof w->env.self_address, "%s",
             listener_address(w->listener));
    w->env.listen = *where;
    w->env.listen.port = listener_port(w->listener);
    return w;
fail:
    worker_free(w);
    return NULL;
}

const char *worker_address(const worker *w)
{
    return w->env.self_address;
}

uint16_t worker_port(const worker *w)
{
    return w->env.listen.port;
}

static void *run(void *arg)
{
    worker *w = arg;
    /* Runs until worker_stop(), even while the listener is paused. */
    if (event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY) < 0)
        log_error("a worker's event loop failed");
    return NULL;
}

int worker_start(worker *w)
{
    /* Signals belong to the main thread's loop: the new thread inherits a
     * mask that blocks them all. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("cannot start a worker thread: %s", strerror(rc));
        return -1;
    }
    w->started = true;
    /* Named here, not by the thread itself, so that the name is there by
     * the time the proxy says it is listening. Shown by top -H, perf, gdb. */
    char name[16];
    snprintf(name, sizeof name, "tlspeek-w%d", w->env.worker_id);
    pthread_setname_np(w->thread, name);
    return 0;
}

void worker_stop(worker *w)
{
    event_active(w->stop_ev, EV_READ, 0);
}

void worker_free(worker *w)
{
    if (!w)
        return;
    if (w->started)
        pthread_join(w->thread, NULL);
    conn_close_all(&w->env);
    listener_free(w->listener);
    /* Closing cancels pending name lookups, and evdns finishes a
     * cancelled lookup in deferred callbacks: run what is due once more
     * (no listener left to accept), or the lookups and the connect
     * requests waiting on them are never freed. */
    if (w->base)
        event_base_loop(w->base, EVLOOP_NONBLOCK);
    if (w->stop_ev)
        event_free(w->stop_ev);
    if (w->dns)
        evdns_base_free(w->dns, 0);
    if (w->base)
        event_base_free(w->base);
    free(w);
}
