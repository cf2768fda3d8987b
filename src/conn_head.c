/* conn_head — the first phase of every connection and of every request
 * on a kept-alive one: admission (address ranges, the connection limit),
 * reading the request head, proxy authentication, and routing: CONNECT
 * to the tunnel, absolute form to forwarding, origin form to the proxy's
 * own pages. */
#include "conn_priv.h"

#include <stdio.h>
#include <string.h>

#include "front.h"
#include "log.h"
#include "selfpage.h"

static void head_client_data(conn *c, struct evbuffer *in);
static void head_upstream_end(conn *c, bool error, const char *reason);
static void head_timeout(conn *c);

static const conn_phase head_phase = {
    .name = "read-head",
    .client_data = head_client_data,
    .upstream_end = head_upstream_end,
    .timeout = head_timeout,
};

/* With --proxy-auth, does the request carry the right credentials? */
static bool authorized(const conn *c, const http_head *head)
{
    const char *expected = c->env->proxy_auth;
    if (!expected)
        return true;
    const char *given = http_head_get(head, "Proxy-Authorization");
    return given && intercept_secret_equal(given, expected);
}

static void route(conn *c, const http_head *head, bool complete)
{
    bool to_proxy_itself = head->target[0] == '/';
    if (!to_proxy_itself && !authorized(c, head)) {
        conn_fail(c, 407, "proxy authentication required");
        return;
    }
    if (strcmp(head->method, "CONNECT") == 0) {
        conn_tunnel_start(c, head);
        return;
    }
    if (to_proxy_itself) {
        conn_self_answer(c, head, head->target);
        return;
    }
    authority origin;
    const char *path = NULL, *reason = NULL;
    if (front_parse_absolute(head->target, &origin, &path, &reason) != 0) {
        conn_fail(c, 400, reason);
        return;
    }
    /* http://tlspeek/ is the proxy itself, from any client set up to use it. */
    if (strcmp(origin.host, SELFPAGE_MAGIC_HOST) == 0)
        conn_self_answer(c, head, path);
    else
        conn_forward_start(c, head, &origin, path, complete);
}

static void read_heads(conn *c, struct evbuffer *in)
{
    while (c->phase == &head_phase && evbuffer_get_length(in) > 0) {
        if (!c->head.head_started) {
            /* A head is arriving: it has --head-timeout to complete. */
            c->head.head_started = true;
            conn_arm_timer(c, c->env->head_timeout);
        }
        size_t consumed = 0;
        http_msg_event ev = conn_feed(c->requests, in, &consumed);
        evbuffer_drain(in, consumed);
        switch (ev) {
        case HTTP_MSG_NEED_MORE:
            return;
        case HTTP_MSG_END:
        case HTTP_MSG_BODY:
            continue; /* the end of a bodiless request already answered */
        case HTTP_MSG_TOO_LARGE:
            conn_fail(c, 431, http_msg_error(c->requests));
            return;
        case HTTP_MSG_ERROR: {
            char reason[160];
            snprintf(reason, sizeof reason, "bad request: %s",
                     http_msg_error(c->requests));
            conn_fail(c, 400, reason);
            return;
        }
        case HTTP_MSG_HEAD:
            break;
        }
        const http_head *head = http_msg_head(c->requests);
        bool complete = conn_finish_head(c->requests, in);
        conn_touch(c);
        c->head.head_started = false;
        route(c, head, complete);
    }
}

static void head_client_data(conn *c, struct evbuffer *in)
{
    /* Answering a request may start the next one (conn_head_next): the
     * loop below takes it, without recursing per pipelined request. */
    if (c->head.reading)
        return;
    c->head.reading = true;
    read_heads(c, in);
    c->head.reading = false;
}

/* A kept-alive upstream connection (plain forwarding) went away between
 * requests: the next request reconnects. */
static void head_upstream_end(conn *c, bool error, const char *reason)
{
    log_debug("%s %s closed its idle connection", c->client_name, c->target_name);
    conn_retire_upstream(c);
}

static void head_timeout(conn *c)
{
    if (c->head.head_started) {
        conn_close(c, "no complete request head in time");
        return;
    }
    char reason[64];
    snprintf(reason, sizeof reason, "idle for %d s", c->env->idle_timeout);
    conn_close(c, reason);
}

void conn_head_next(conn *c)
{
    if (!conn_set_phase(c, &head_phase))
        return;
    /* The last request is over: a failure reading the next one must not
     * be recorded under its head. */
    if (c->requests)
        http_msg_release_head(c->requests);
    /* Between requests the connection may rest for --idle-timeout; the
     * head timeout starts with the next head's first byte. */
    c->head.head_started = false;
    conn_arm_timer(c, c->env->idle_timeout);
    pump_set_reading(c->client, true);
    struct evbuffer *in = pump_input(c->client);
    if (evbuffer_get_length(in) > 0)
        head_client_data(c, in);
}

/* Turn away clients the proxy must not serve, with the reason. */
static bool admit(conn *c, const struct sockaddr *sa)
{
    conn_env *env = c->env;
    if (!access_is_loopback(sa) && env->n_allow > 0 &&
        !access_cidr_match(env->allow, env->n_allow, sa)) {
        conn_fail(c, 403, "your address is not allowed to use this proxy "
                          "(--allow-remote)");
        return false;
    }
    /* all_live counts this connection too. */
    unsigned long long live = atomic_load(env->all_live);
    if (live > env->max_conns) {
        if (!env->warned_max_conns)
            log_warn("%lu connections open: turning new clients away with 503 "
                     "(--max-conns %lu)", env->max_conns, env->max_conns);
        env->warned_max_conns = true;
        conn_fail(c, 503, "the proxy has too many connections open; try again");
        return false;
    }
    if (live < env->max_conns / 10 * 9)
        env->warned_max_conns = false;
    return true;
}

void conn_accept(conn_env *env, evutil_socket_t fd, const struct sockaddr *sa,
                 int socklen)
{
    conn *c = conn_new(env, fd, sa);
    if (!c || !admit(c, sa))
        return;
    /* The first head must arrive within --head-timeout of the accept
     * (conn_new armed it): a client that connects and says nothing is
     * not kept. */
    c->head.head_started = true;
    if (conn_set_phase(c, &head_phase))
        pump_read_soon(c->client);
}
