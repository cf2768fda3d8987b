/* listener — bind, accept with EMFILE backoff, hand fds over. */
#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "log.h"

/* How long accepting pauses when out of descriptors: long enough for
 * connections to close, short enough that users barely notice. */
#define LISTENER_BACKOFF_MS 500
#define LISTENER_BACKLOG 1024

/* Descriptors are a process-wide resource: however many workers' listeners
 * run short, each episode of shortage is logged once. It ends when one of
 * them has accepted every waiting client again (see recovered_cb), so that
 * a later shortage is told too, as the warning's "if this repeats" asks
 * the user to watch for. */
static atomic_bool short_of_fds;

struct listener {
    struct evconnlistener *evl;
    struct event *resume_ev;
    struct event *recovered_ev; /* runs after a round of accepts */
    bool round_failed;          /* that round ended out of descriptors */
    listener_accept_cb cb;
    void *arg;
    char address[AUTHORITY_HOST_MAX + 10];
    uint16_t port;
};

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
                      struct sockaddr *sa, int socklen, void *arg)
{
    listener *l = arg;
    /* A plain load: the common case writes nothing shared. */
    if (atomic_load_explicit(&short_of_fds, memory_order_relaxed))
        event_active(l->recovered_ev, EV_TIMEOUT, 0);
    l->cb(fd, sa, socklen, l->arg);
}

/* Runs once libevent's round of accept() calls is over (the listener
 * accepts until the backlog is empty or a call fails). Only a round that
 * accepted and did not run out ends the shortage: while descriptors are
 * freed one by one, rounds that accept a few and fail again are still the
 * same episode. */
static void recovered_cb(evutil_socket_t fd, short what, void *arg)
{
    listener *l = arg;
    if (!l->round_failed && atomic_exchange(&short_of_fds, false))
        log_notice("accepting new connections again");
    l->round_failed = false;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    listener *l = arg;
    evconnlistener_enable(l->evl);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
    listener *l = arg;
    int err = EVUTIL_SOCKET_ERROR();
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        l->round_failed = true;
        if (!atomic_exchange(&short_of_fds, true)) {
            log_warn("out of file descriptors (%s): pausing new connections "
                     "briefly; raise 'ulimit -n' if this repeats",
                     evutil_socket_error_to_string(err));
        }
        evconnlistener_disable(l->evl);
        struct timeval tv = {0, LISTENER_BACKOFF_MS * 1000};
        evtimer_add(l->resume_ev, &tv);
        return;
    }
    log_warn("accept failed: %s", evutil_socket_error_to_string(err));
}

static void describe(const authority *where, char *buf, size_t size)
{
    authority_format(where, buf, size);
}

/* A socket bound to ai (and listening when listen_too). Returns the fd, or
 * -1 with *err set. */
static evutil_socket_t bound_socket(const struct addrinfo *ai, bool reuseport,
                                    bool listen_too, int *err)
{
    evutil_socket_t fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Every connection accepted from it inherits TCP_NODELAY (the kernel
     * copies the listener's options): one setsockopt() here, not one per
     * connection (see conn_new). */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        (listen_too && listen(fd, LISTENER_BACKLOG) != 0)) {
        *err = errno;
        close(fd);
        return -1;
    }
    return fd;
}

listener *listener_new(struct event_base *base, const authority *where,
                       listener_sharing sharing, listener_accept_cb cb, void *arg)
{
    char wanted[AUTHORITY_HOST_MAX + 10];
    describe(where, wanted, sizeof wanted);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | (where->kind == AUTHORITY_NAME ? 0 : AI_NUMERICHOST);
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)where->port);
    int gai = getaddrinfo(where->host, port, &hints, &res);
    if (gai != 0) {
        log_error("cannot listen on %s: %s", wanted, gai_strerror(gai));
        return NULL;
    }
    int err = 0;
    evutil_socket_t fd = -1;
    /* SO_REUSEPORT would also let us join another process's group on this
     * port and share its clients: first make sure nobody holds it. */
    if (sharing == LISTENER_GROUP_FIRST && where->port != 0) {
        evutil_socket_t probe = bound_socket(res, false, false, &err);
        if (probe >= 0)
            close(probe);
    }
    if (!err)
        fd = bound_socket(res, sharing != LISTENER_ALONE, true, &err);
    freeaddrinfo(res);
    if (fd < 0) {
        log_error("cannot listen on %s: %s", wanted, strerror(err));
        return NULL;
    }
    evutil_make_socket_nonblocking(fd);
    evutil_make_socket_closeonexec(fd);

    listener *l = calloc(1, sizeof *l);
    if (!l) {
        close(fd);
        return NULL;
    }
    l->cb = cb;
    l->arg = arg;
    l->evl = evconnlistener_new(base, accept_cb, l, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    l->resume_ev = evtimer_new(base, resume_cb, l);
    l->recovered_ev = event_new(base, -1, 0, recovered_cb, l);
    if (!l->evl || !l->resume_ev || !l->recovered_ev) {
        log_error("cannot listen on %s: out of memory", wanted);
        if (!l->evl)
            close(fd);
        listener_free(l);
        return NULL;
    }
    evconnlistener_set_error_cb(l->evl, accept_error_cb);

    /* Report the real port when the kernel picked it. */
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    authority bound = *where;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            bound.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            bound.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    describe(&bound, l->address, sizeof l->address);
    l->port = bound.port;
    return l;
}

void listener_free(listener *l)
{
    if (!l)
        return;
    if (l->evl)
        evconnlistener_free(l->evl);
    if (l->resume_ev)
        event_free(l->resume_ev);
    if (l->recovered_ev)
        event_free(l->recovered_ev);
    free(l);
}

uint16_t listener_port(const listener *l)
{
    return l->port;
}

const char *listener_address(const listener *l)
{
    return l->address;
}
