/* conn_connect — connecting upstream: --connect-to applied, loops back to
 * the proxy itself (or through a parent that is the proxy) refused,
 * through the parent proxy when one is set, then the continuation the caller gave (the
 * tunnel's 200, or sending a forwarded request). Failures are answered
 * here: 502, 504 on a timeout, 508 for a loop. */
#include "conn_priv.h"

#include <string.h>

static const conn_phase connect_phase = {
    .name = "connecting",
    /* Client bytes wait (NULL client_data: the first of them pauses the
     * client); a client that leaves ends it. */
};

static void connect_done(upstream_status status, struct bufferevent *bev,
                         const char *peer, const char *reason, void *arg)
{
    conn *c = arg;
    c->connect.req = NULL;
    if (status != UPSTREAM_OK) {
        conn_fail(c, status == UPSTREAM_TIMEOUT ? 504 : 502, reason);
        return;
    }
    if (conn_attach_upstream(c, bev, peer) != 0)
        return;
    c->connect.then(c);
}

/* Would connecting to dest reach this proxy itself? Any spelling of a
 * loopback address counts when the proxy listens on loopback or on every
 * address. */
static bool is_self(const conn_env *env, const authority *dest)
{
    if (dest->port != env->listen.port)
        return false;
    if (strcmp(dest->host, env->listen.host) == 0)
        return true;
    bool listens_on_loopback = access_host_is_loopback(env->listen.host) ||
                               strcmp(env->listen.host, "0.0.0.0") == 0 ||
                               strcmp(env->listen.host, "::") == 0;
    return listens_on_loopback && access_host_is_loopback(dest->host);
}

void conn_connect(conn *c, const char *method, conn_connected_fn then)
{
    if (!conn_set_phase(c, &connect_phase))
        return;
    c->connect.method = method;
    c->connect.then = then;
    /* The client stays readable: what it sends meanwhile is kept for the
     * next phase and pauses it then (client_on_data), and a client that
     * leaves ends the attempt. Pausing it here and resuming it once
     * connected cost two epoll_ctl() calls per connection. */
    /* upstream.c bounds the lookup and the connect with its own timers. */
    evtimer_del(c->timer);
    /* --connect-to changes where we connect, never the name we verify,
     * present in the certificate or send as SNI. */
    authority dest = connect_to_apply(c->env->connect_to, c->env->n_connect_to,
                                      &c->target);
    /* A parent at our own address would send every request round again. */
    const parent_proxy *via = parent_for(c->env->parent, &dest);
    if (via && is_self(c->env, &via->url.addr)) {
        conn_fail(c, 508, "the parent proxy (--upstream-proxy) is this proxy "
                          "itself: every request would loop");
        return;
    }
    if (is_self(c->env, &dest)) {
        conn_fail(c, 508, "this request would loop back to the proxy itself");
        return;
    }
    c->connect.req = upstream_connect(c->env->base, c->env->dns, &dest,
                                      c->env->dns_timeout, c->env->connect_timeout,
                                      c->env->parent, connect_done, c);
    if (!c->connect.req)
        conn_fail(c, 502, "out of memory");
}
