/* upstream — resolve with evdns and connect to every address in turn,
 * within one time limit. See include/upstream.h. */
#include "upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/util.h>

#include "access.h"
#include "log.h"
#include "parent.h"

struct upstream_req {
    struct event_base *base;
    struct evdns_base *dns;
    authority target;
    const parent_proxy *via; /* the parent to tunnel through, or NULL */
    authority dial;         /* what is resolved and connected to: the
                               target, or the parent */
    parent_req *tunnel;     /* the parent's tunnel being opened */
    upstream_cb cb;
    void *arg;

    struct event *step_ev;  /* runs the next step from the event loop */
    struct event *timer;    /* the lookup's, then the connects' deadline */
    int connect_timeout;    /* seconds, armed when the lookup is done */
    struct evdns_getaddrinfo_request *dns_req; /* pending lookup */
    bool dns_done;          /* resolution finished (result below) */
    int dns_result;
    struct evutil_addrinfo *addrs; /* all addresses, in resolver order */
    struct evutil_addrinfo *next;  /* the next one to try */
    struct bufferevent *bev;       /* the attempt in progress */
    bool finished;          /* the callback has been called */
    bool cancelled;         /* abandoned by the owner */
    bool tunnel_refused;    /* the reason is the parent's answer */

    char peer[INET6_ADDRSTRLEN + 8]; /* address of the current attempt */
    char reason[1024];      /* why the last attempt failed */
};

static void req_free(upstream_req *req)
{
    if (req->step_ev)
        event_free(req->step_ev);
    if (req->timer)
        event_free(req->timer);
    if (req->bev)
        bufferevent_free(req->bev);
    if (req->addrs)
        evutil_freeaddrinfo(req->addrs);
    parent_cancel(req->tunnel);
    free(req);
}

/* Release req once nobody can call back into it. A pending evdns lookup
 * must be cancelled first; its callback (run from within the cancel)
 * then frees req. */
static void req_release(upstream_req *req)
{
    if (req->dns_req && !req->dns_done) {
        struct evdns_getaddrinfo_request *pending = req->dns_req;
        req->dns_req = NULL;
        evdns_getaddrinfo_cancel(pending);
        return;
    }
    req_free(req);
}

static void finish(upstream_req *req, upstream_status status)
{
    struct bufferevent *bev = NULL;
    if (status == UPSTREAM_OK) {
        bev = req->bev;
        req->bev = NULL;
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
        bufferevent_disable(bev, EV_READ | EV_WRITE);
    } else if (req->via && !req->tunnel_refused) {
        /* Failing to reach the parent is the parent's failure, whatever
         * the step: the user must see which proxy it was. A timeout too
         * is a 502: the target was never tried. */
        char why[sizeof req->reason];
        snprintf(why, sizeof why, "cannot reach the %s: %.600s", req->via->label,
                 req->reason);
        memcpy(req->reason, why, sizeof why);
        status = UPSTREAM_FAILED;
    }
    req->finished = true;
    req->cb(status, bev, req->peer, req->reason, req->arg);
    req_release(req);
}

static void try_next_address(upstream_req *req);

static void tunnel_done(struct bufferevent *bev, const char *reason, void *arg)
{
    upstream_req *req = arg;
    req->tunnel = NULL;
    if (!bev) {
        snprintf(req->reason, sizeof req->reason, "%s", reason);
        req->tunnel_refused = true;
        finish(req, UPSTREAM_FAILED);
        return;
    }
    req->bev = bev;
    finish(req, UPSTREAM_OK);
}

/* Connected to the parent: ask it for the tunnel, under its own deadline. */
static void open_tunnel(upstream_req *req)
{
    evtimer_del(req->timer);
    req->tunnel = parent_open(req->bev, req->via, &req->target,
                              req->connect_timeout, tunnel_done, req);
    if (!req->tunnel) {
        snprintf(req->reason, sizeof req->reason, "out of memory");
        finish(req, UPSTREAM_FAILED);
        return;
    }
    req->bev = NULL; /* the tunnel request owns it now */
}

static void connect_event_cb(struct bufferevent *bev, short what, void *arg)
{
    upstream_req *req = arg;
    if (what & BEV_EVENT_CONNECTED) {
        /* As on the client side: no Nagle delay on small exchanges. */
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (req->via)
            open_tunnel(req);
        else
            finish(req, UPSTREAM_OK);
        return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    if (err == ECONNREFUSED)
        snprintf(req->reason, sizeof req->reason, "connection refused by %s",
                 req->peer);
    else if (err)
        snprintf(req->reason, sizeof req->reason, "cannot connect to %s: %s",
                 req->peer, evutil_socket_error_to_string(err));
    else
        snprintf(req->reason, sizeof req->reason, "cannot connect to %s",
                 req->peer);
    log_debug("upstream %s: %s", req->dial.host, req->reason);
    bufferevent_free(req->bev);
    req->bev = NULL;
    try_next_address(req);
}

static void try_next_address(upstream_req *req)
{
    while (req->next) {
        struct evutil_addrinfo *ai = req->next;
        req->next = ai->ai_next;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        access_format_sockaddr(ai->ai_addr, req->peer, sizeof req->peer);
        req->bev = bufferevent_socket_new(req->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!req->bev) {
            snprintf(req->reason, sizeof req->reason, "out of memory");
            break;
        }
        bufferevent_setcb(req->bev, NULL, NULL, connect_event_cb, req);
        if (bufferevent_socket_connect(req->bev, ai->ai_addr,
                                       (int)ai->ai_addrlen) == 0)
            return; /* connect_event_cb continues */
        int err = EVUTIL_SOCKET_ERROR();
        snprintf(req->reason, sizeof req->reason, "cannot connect to %s: %s",
                 req->peer, evutil_socket_error_to_string(err));
        bufferevent_free(req->bev);
        req->bev = NULL;
    }
    if (!req->reason[0])
        snprintf(req->reason, sizeof req->reason, "%s has no usable address",
                 req->dial.host);
    finish(req, UPSTREAM_FAILED);
}

static void dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    upstream_req *req = arg;
    req->dns_done = true;
    req->dns_req = NULL;
    if (req->finished || req->cancelled) {
        /* Cancelled from req_release(): nobody else holds req now. */
        if (res)
            evutil_freeaddrinfo(res);
        req_free(req);
        return;
    }
    req->dns_result = result;
    req->addrs = req->next = res;
    /* Continue from the event loop: this may run inside
     * evdns_getaddrinfo() itself (hosts file, cached answers). */
    event_active(req->step_ev, EV_READ, 0);
}

static void after_dns(upstream_req *req)
{
    int r = req->dns_result;
    if (r == 0 && req->addrs) {
        struct timeval tv = {req->connect_timeout, 0};
        evtimer_add(req->timer, &tv);
        try_next_address(req);
        return;
    }
    upstream_status status = UPSTREAM_FAILED;
    if (r == EVUTIL_EAI_AGAIN) {
        status = UPSTREAM_TIMEOUT;
        snprintf(req->reason, sizeof req->reason,
                 "cannot resolve %s: the name server did not answer",
                 req->dial.host);
    } else if (r == EVUTIL_EAI_NONAME || r == EVUTIL_EAI_NODATA ||
               r == EVUTIL_EAI_FAIL || r == 0) {
        snprintf(req->reason, sizeof req->reason, "cannot resolve %s",
                 req->dial.host);
    } else {
        snprintf(req->reason, sizeof req->reason, "cannot resolve %s: %s",
                 req->dial.host, evutil_gai_strerror(r));
    }
    finish(req, status);
}

static void start_lookup(upstream_req *req)
{
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)req->dial.port);
    if (req->dial.kind != AUTHORITY_NAME) {
        /* A literal address needs no resolver. */
        hints.ai_flags = EVUTIL_AI_NUMERICHOST;
        req->dns_done = true;
        req->dns_result = evutil_getaddrinfo(req->dial.host, port, &hints,
                                             &req->addrs);
        req->next = req->addrs;
        after_dns(req);
        return;
    }
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    struct evdns_getaddrinfo_request *pending =
        evdns_getaddrinfo(req->dns, req->dial.host, port, &hints, dns_cb, req);
    if (!req->dns_done)
        req->dns_req = pending;
}

static void step_cb(evutil_socket_t fd, short what, void *arg)
{
    upstream_req *req = arg;
    if (!req->dns_done && !req->dns_req)
        start_lookup(req);
    else
        after_dns(req);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    upstream_req *req = arg;
    if (!req->dns_done)
        snprintf(req->reason, sizeof req->reason,
                 "cannot resolve %s: the name server did not answer in time",
                 req->dial.host);
    else
        snprintf(req->reason, sizeof req->reason,
                 "connection to %s timed out", req->peer[0] ? req->peer
                                                            : req->dial.host);
    finish(req, UPSTREAM_TIMEOUT);
}

upstream_req *upstream_connect(struct event_base *base, struct evdns_base *dns,
                               const authority *target, int dns_timeout_s,
                               int connect_timeout_s, const parent_proxy *parent,
                               upstream_cb cb, void *arg)
{
    upstream_req *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->base = base;
    req->dns = dns;
    req->target = *target;
    req->via = parent_for(parent, target);
    req->dial = req->via ? req->via->url.addr : *target;
    req->cb = cb;
    req->arg = arg;
    req->connect_timeout = connect_timeout_s;
    req->step_ev = event_new(base, -1, 0, step_cb, req);
    req->timer = evtimer_new(base, timeout_cb, req);
    if (!req->step_ev || !req->timer) {
        req_free(req);
        return NULL;
    }
    struct timeval tv = {dns_timeout_s, 0};
    evtimer_add(req->timer, &tv);
    /* Never call back from inside upstream_connect(). */
    event_active(req->step_ev, EV_READ, 0);
    return req;
}

void upstream_cancel(upstream_req *req)
{
    if (!req || req->finished)
        return;
    req->cancelled = true;
    req->finished = true;
    req_release(req);
}
