/* conn_front — the plaintext front of a connection: admission (address
 * ranges, connection limit), request heads, proxy authentication, the
 * proxy's own pages, CONNECT and the upstream connection, and the
 * decision, on the tunnel's first byte, between interception and a raw
 * relay. */
#include "conn_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "front.h"
#include "log.h"
#include "selfpage.h"

http_msg_event conn_feed(http_msg_parser *parser,
                                       struct evbuffer *buf, size_t *consumed)
{
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(buf, &pos, 0, EVBUFFER_PTR_SET);
    *consumed = 0;
    for (;;) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(buf, -1, &pos, &v, 1) < 1 || v.iov_len == 0)
            return HTTP_MSG_NEED_MORE;
        size_t used = 0;
        const char *body;
        size_t body_len;
        http_msg_event ev = http_msg_feed(parser, v.iov_base, v.iov_len, &used,
                                          &body, &body_len);
        *consumed += used;
        if (ev != HTTP_MSG_NEED_MORE)
            return ev;
        evbuffer_ptr_set(buf, &pos, *consumed, EVBUFFER_PTR_SET);
    }
}

bool conn_finish_head(http_msg_parser *parser, struct evbuffer *buf)
{
    char lf;
    if (evbuffer_remove(buf, &lf, 1) != 1)
        return false;
    size_t used = 0, body_len = 0;
    const char *body;
    return http_msg_feed(parser, &lf, 1, &used, &body, &body_len) == HTTP_MSG_END;
}

static void start_connect(conn *c, const http_head *head);


void conn_answer_self(conn *c, const http_head *head, const char *path)
{
    bool has_body = head->chunked || head->content_length > 0;
    bool keep_alive = head->keep_alive && !has_body;
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        conn_close(c, "out of memory");
        return;
    }
    int status = selfpage_respond(out, head->method, path,
                                  ca_get0_cert(c->env->ca), c->env->self_address,
                                  keep_alive);
    pump_send_buffer(c->client, out);
    evbuffer_free(out);
    log_info("%s %s %s %d (the proxy's own page)", c->client_name, head->method,
             head->target, status);
    if (!keep_alive || status >= 400)
        conn_close(c, "answered by the proxy");
}

/* With --proxy-auth, does the request carry the right credentials? The
 * comparison takes the same time wherever the first difference is. */
static bool authorized(const conn *c, const http_head *head)
{
    const char *expected = c->env->proxy_auth;
    if (!expected)
        return true;
    const char *given = http_head_get(head, "Proxy-Authorization");
    if (!given)
        return false;
    size_t n = strlen(expected);
    return strlen(given) == n && CRYPTO_memcmp(given, expected, n) == 0;
}

void conn_process_client_input(conn *c)
{
    struct evbuffer *in = pump_input(c->client);
    while (c->state == CONN_READ_HEAD && evbuffer_get_length(in) > 0) {
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
            log_info("%s 431 %s", c->client_name, http_msg_error(c->requests));
            conn_fail(c, 431, http_msg_error(c->requests));
            return;
        case HTTP_MSG_ERROR: {
            char reason[160];
            snprintf(reason, sizeof reason, "bad request: %s",
                     http_msg_error(c->requests));
            log_info("%s 400 %s", c->client_name, reason);
            conn_fail(c, 400, reason);
            return;
        }
        case HTTP_MSG_HEAD:
            break;
        }
        const http_head *head = http_msg_head(c->requests);
        bool complete = conn_finish_head(c->requests, in);
        conn_touch(c);
        bool to_proxy_itself = head->target[0] == '/';
        if (!to_proxy_itself && !authorized(c, head)) {
            struct evbuffer *out = evbuffer_new();
            if (out) {
                front_write_auth_required(out);
                pump_send_buffer(c->client, out);
                evbuffer_free(out);
            }
            log_info("%s %s %s 407 proxy authentication required",
                     c->client_name, head->method, head->target);
            conn_close(c, "proxy authentication required");
            return;
        }
        if (strcmp(head->method, "CONNECT") == 0)
            start_connect(c, head);
        else if (head->target[0] == '/')
            conn_answer_self(c, head, head->target);
        else
            conn_forward_start(c, head, complete);
    }
}

static void connect_done(upstream_status status, struct bufferevent *bev,
                         const char *peer, const char *reason, void *arg)
{
    conn *c = arg;
    c->connecting = NULL;
    if (status != UPSTREAM_OK) {
        int code = status == UPSTREAM_TIMEOUT ? 504 : 502;
        log_info("%s %s %s %d %s", c->client_name,
                 c->state == CONN_FORWARD ? c->method : "CONNECT",
                 c->target_name, code, reason);
        c->target_name[0] = '\0'; /* no tunnel to report on close */
        conn_fail(c, code, reason);
        return;
    }
    snprintf(c->upstream_peer, sizeof c->upstream_peer, "%s", peer);
    c->upstream = pump_new(bev, &conn_upstream_callbacks, c);
    if (!c->upstream) {
        bufferevent_free(bev);
        conn_fail(c, 502, "out of memory");
        return;
    }
    c->upstream_ended = false;
    if (c->state == CONN_FORWARD) {
        conn_forward_connected(c);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        conn_close(c, "out of memory");
        return;
    }
    front_write_connect_ok(out);
    pump_send_buffer(c->client, out);
    evbuffer_free(out);
    c->tunnel_base_in = pump_bytes_in(c->client);
    c->tunnel_base_out = pump_bytes_out(c->client);
    conn_set_state(c, CONN_TUNNEL_PEEK);
    /* Browsers open tunnels ahead of need: waiting is not an error. */
    conn_arm_timer(c, c->env->idle_timeout);
    pump_set_reading(c->client, true);
    /* The client may have sent its first tunnel bytes with the CONNECT. */
    if (evbuffer_get_length(pump_input(c->client)) > 0)
        conn_tunnel_first_bytes(c);
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

void conn_connect_upstream(conn *c)
{
    pump_set_reading(c->client, false);
    /* --connect-to changes where we connect, never the name we verify,
     * present in the certificate or send as SNI. */
    authority dest = connect_to_apply(c->env->connect_to, c->env->n_connect_to,
                                      &c->target);
    /* A parent at our own address would send every request round again. */
    const parent_proxy *via = parent_for(c->env->parent, &dest);
    if (via && is_self(c->env, &via->url.addr)) {
        log_info("%s %s 508 the %s is this proxy itself", c->client_name,
                 c->target_name, via->label);
        c->target_name[0] = '\0';
        conn_fail(c, 508, "the parent proxy (--upstream-proxy) is this proxy "
                          "itself: every request would loop");
        return;
    }
    if (is_self(c->env, &dest)) {
        log_info("%s %s 508 request loops back to the proxy itself",
                 c->client_name, c->target_name);
        c->target_name[0] = '\0';
        conn_fail(c, 508, "this request would loop back to the proxy itself");
        return;
    }
    c->connecting = upstream_connect(c->env->base, c->env->dns, &dest,
                                     c->env->dns_timeout, c->env->connect_timeout,
                                     c->env->parent, connect_done, c);
    if (!c->connecting)
        conn_fail(c, 502, "out of memory");
}

static void start_connect(conn *c, const http_head *head)
{
    const char *reason = NULL;
    if (authority_parse(head->target, strlen(head->target), 0, &c->target,
                        &reason) != 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "bad CONNECT target \"%.200s\": %s",
                 head->target, reason);
        log_info("%s CONNECT 400 %s", c->client_name, msg);
        conn_fail(c, 400, msg);
        return;
    }
    authority_format(&c->target, c->target_name, sizeof c->target_name);
    /* From here on the client's bytes belong to the tunnel. */
    http_msg_parser_free(c->requests);
    c->requests = NULL;
    conn_set_state(c, CONN_CONNECTING);
    evtimer_del(c->timer);
    conn_connect_upstream(c);
}

void conn_tunnel_first_bytes(conn *c)
{
    struct evbuffer *in = pump_input(c->client);
    unsigned char first;
    if (evbuffer_copyout(in, &first, 1) != 1)
        return;
    /* Pinned apps reject any certificate but the origin's own: the user
     * names their hosts, and their tunnels pass through untouched. */
    if (c->env->ignore_hosts &&
        regexec(c->env->ignore_hosts, c->target.host, 0, NULL, 0) == 0) {
        log_info("%s CONNECT %s passthrough (--ignore-hosts)", c->client_name,
                 c->target_name);
        conn_start_raw(c);
        return;
    }
    /* 0x16: a TLS handshake record. Anything else is not ours to read. */
    if (first == 0x16) {
        conn_tls_start(c);
        return;
    }
    conn_start_raw_tunnel(c);
}

void conn_start_raw_tunnel(conn *c)
{
    log_info("%s CONNECT %s relayed (not TLS)", c->client_name, c->target_name);
    conn_start_raw(c);
}

void conn_start_raw(conn *c)
{
    conn_set_state(c, CONN_RAW);
    conn_touch(c);
    conn_arm_timer(c, c->env->idle_timeout);
    if (evbuffer_get_length(pump_input(c->client)) > 0)
        conn_relay(c, c->client, pump_input(c->client));
    if (evbuffer_get_length(pump_input(c->upstream)) > 0)
        conn_relay(c, c->upstream, pump_input(c->upstream));
    pump_set_reading(c->upstream, true);
}

/* Turn away clients the proxy must not serve, with the reason. */
void conn_admit(conn *c, const struct sockaddr *sa)
{
    conn_env *env = c->env;
    if (!access_is_loopback(sa) && env->n_allow > 0 &&
        !access_cidr_match(env->allow, env->n_allow, sa)) {
        log_info("%s 403 client address not allowed (see --allow-remote)",
                 c->client_name);
        conn_fail(c, 403, "your address is not allowed to use this proxy");
        return;
    }
    /* all_live counts this connection too. */
    unsigned long long live = atomic_load(env->all_live);
    if (live > env->max_conns) {
        if (!env->warned_max_conns)
            log_warn("%lu connections open: turning new clients away with 503 "
                     "(--max-conns %lu)", env->max_conns, env->max_conns);
        env->warned_max_conns = true;
        conn_fail(c, 503, "the proxy has too many connections open; try again");
        return;
    }
    if (live < env->max_conns / 10 * 9)
        env->warned_max_conns = false;
}
