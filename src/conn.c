/* conn — a client connection's life: accept, the state machine's
 * callbacks, the relay with backpressure and half-close, timers, and the
 * one close path. The plaintext front is in conn_front.c, interception in
 * conn_tls.c and plain forwarding in conn_forward.c. */
#include "conn_priv.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "front.h"
#include "log.h"

static const char *const state_names[] = {
    [CONN_READ_HEAD] = "read-head",
    [CONN_CONNECTING] = "connecting",
    [CONN_TUNNEL_PEEK] = "tunnel-peek",
    [CONN_RAW] = "raw-relay",
    [CONN_CLIENT_HELLO] = "client-hello",
    [CONN_CLIENT_HANDSHAKE] = "client-handshake",
    [CONN_TLS_RELAY] = "tls-relay",
    [CONN_TLS_REFUSE] = "tls-refuse",
    [CONN_FORWARD] = "forward",
    [CONN_CLOSING] = "closing",
};

void conn_set_state(conn *c, conn_state state)
{
    log_debug("%s %s -> %s", c->client_name, state_names[c->state],
              state_names[state]);
    c->state = state;
}

void conn_touch(conn *c)
{
    evutil_gettimeofday(&c->last_activity, NULL);
}

void conn_arm_timer(conn *c, int seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(c->timer, &tv);
}

static void schedule_reap(conn *c)
{
    event_active(c->reap_ev, EV_TIMEOUT, 0);
}

void conn_retire_upstream(conn *c)
{
    if (!c->upstream)
        return;
    /* The pump may be on the call stack: free it from the loop. */
    if (c->n_retired == CONN_MAX_RETIRED) {
        conn_close(c, "too many upstream connections at once");
        return;
    }
    pump_set_reading(c->upstream, false);
    c->retired[c->n_retired++] = c->upstream;
    c->upstream = NULL;
    c->upstream_ended = false;
    schedule_reap(c);
}

static double elapsed_seconds(const struct timeval *since)
{
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    return (double)(now.tv_sec - since->tv_sec) +
           (double)(now.tv_usec - since->tv_usec) / 1e6;
}

void conn_format_bytes(unsigned long long n, char *buf, size_t size)
{
    if (n < 1000)
        snprintf(buf, size, "%llu B", n);
    else if (n < 1000 * 1000)
        snprintf(buf, size, "%.1f kB", (double)n / 1e3);
    else if (n < 1000ULL * 1000 * 1000)
        snprintf(buf, size, "%.1f MB", (double)n / 1e6);
    else
        snprintf(buf, size, "%.2f GB", (double)n / 1e9);
}

static void log_final_line(conn *c)
{
    if (!c->target_name[0] || !c->client)
        return;
    char up[32], down[32];
    conn_format_bytes(pump_bytes_in(c->client) - c->tunnel_base_in, up, sizeof up);
    conn_format_bytes(pump_bytes_out(c->client) - c->tunnel_base_out, down,
                      sizeof down);
    char frames[96] = "";
    if (c->websocket_open)
        snprintf(frames, sizeof frames, ", websocket %llu frames up, %llu down",
                 c->ws_up.frames, c->ws_down.frames);
    log_info("%s closed %s after %.3f s: %s up, %s down%s (%s)", c->client_name,
             c->target_name, elapsed_seconds(&c->started), up, down, frames,
             c->close_reason);
}

void conn_set_text(char **field, const char *text)
{
    free(*field);
    *field = strndup(text, CONN_TEXT_MAX - 1);
}

static bool output_flushed(conn *c)
{
    return (!c->client || pump_output_pending(c->client) == 0) &&
           (!c->upstream || pump_output_pending(c->upstream) == 0);
}

void conn_close(conn *c, const char *reason)
{
    if (c->state == CONN_CLOSING)
        return;
    conn_set_text(&c->close_reason_buf, reason);
    c->close_reason = c->close_reason_buf ? c->close_reason_buf : "closed";
    conn_tap_abort(c, c->close_reason);
    log_final_line(c);
    conn_set_state(c, CONN_CLOSING);
    upstream_cancel(c->connecting);
    c->connecting = NULL;
    /* Flush what is queued (a 502, the last response bytes, close_notify)
     * and then free; a peer that never reads gets CONN_DRAIN_SECONDS. */
    if (c->client) {
        pump_set_reading(c->client, false);
        pump_finish_output(c->client);
    }
    if (c->upstream) {
        pump_set_reading(c->upstream, false);
        pump_finish_output(c->upstream);
    }
    conn_arm_timer(c, CONN_DRAIN_SECONDS);
    if (output_flushed(c))
        schedule_reap(c);
}

void conn_fail(conn *c, int status, const char *reason)
{
    struct evbuffer *out = evbuffer_new();
    if (out) {
        front_write_error(out, status, reason);
        pump_send_buffer(c->client, out);
        evbuffer_free(out);
    }
    conn_close(c, reason);
}

static void conn_free(conn *c)
{
    conn_env *env = c->env;
    if (c->prev)
        c->prev->next = c->next;
    else
        env->live = c->next;
    if (c->next)
        c->next->prev = c->prev;
    atomic_fetch_sub(env->all_live, 1);

    upstream_cancel(c->connecting);
    for (int i = 0; i < c->n_retired; i++)
        pump_free(c->retired[i]);
    pump_free(c->client);
    pump_free(c->upstream);
    http_msg_parser_free(c->requests);
    http_msg_parser_free(c->responses);
    http_flow_free(c->flow);
    if (c->pending_head)
        evbuffer_free(c->pending_head);
    X509_free(c->leaf);
    event_free(c->timer);
    event_free(c->reap_ev);
    free(c->sni);
    free(c->refuse_reason);
    free(c->url);
    free(c->close_reason_buf);
    free(c);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    for (int i = 0; i < c->n_retired; i++)
        pump_free(c->retired[i]);
    c->n_retired = 0;
    if (c->state == CONN_CLOSING && output_flushed(c))
        conn_free(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    switch (c->state) {
    case CONN_READ_HEAD:
        conn_close(c, "no complete request head in time");
        return;
    case CONN_CLIENT_HELLO:
    case CONN_CLIENT_HANDSHAKE:
        conn_tls_timeout(c);
        return;
    case CONN_CLOSING:
        conn_free(c);
        return;
    default: {
        double idle = elapsed_seconds(&c->last_activity);
        if (idle >= c->env->idle_timeout) {
            char reason[64];
            snprintf(reason, sizeof reason, "idle for %d s", c->env->idle_timeout);
            conn_close(c, reason);
        } else {
            conn_arm_timer(c, c->env->idle_timeout - (int)idle);
        }
        return;
    }
    }
}

void conn_relay(conn *c, pump *from, struct evbuffer *data)
{
    pump *to = from == c->client ? c->upstream : c->client;
    if (c->flow || c->websocket_open)
        conn_tap(c, from, data);
    if (!to || pump_ended(to) == true) {
        /* The other side is gone; what it would have got is dropped. */
        if (!to) {
            evbuffer_drain(data, evbuffer_get_length(data));
            return;
        }
    }
    if (pump_send_buffer(to, data) != 0) {
        evbuffer_drain(data, evbuffer_get_length(data));
        return;
    }
    if (pump_output_pending(to) > CONN_HIGH_WATERMARK)
        pump_set_reading(from, false);
}

void conn_side_ended(conn *c, pump *p, bool error, const char *reason)
{
    bool is_client = p == c->client;
    if (is_client)
        c->client_ended = true;
    else
        c->upstream_ended = true;
    if (c->state == CONN_CLOSING)
        return;
    char why[600];
    /* In TLS 1.3 the server may still refuse the handshake after ours is
     * done (a client certificate it requires): if nothing of its has
     * reached the client, the client's request is answered with why. */
    if (error && !is_client && c->state == CONN_TLS_RELAY &&
        pump_bytes_in(p) == 0) {
        snprintf(why, sizeof why, "TLS handshake with %s failed: %s",
                 c->target_name, reason);
        log_info("%s CONNECT %s 502 %s", c->client_name, c->target_name, why);
        conn_fail(c, 502, why);
        return;
    }
    if (error) {
        snprintf(why, sizeof why, "%s: %s", is_client ? "client" : "server",
                 reason);
        conn_close(c, why);
        return;
    }
    if (c->state != CONN_RAW && c->state != CONN_TLS_RELAY) {
        conn_close(c, is_client ? "client closed" : "server closed");
        return;
    }
    if (c->flow)
        conn_tap_end(c, p);
    /* Half-close: pass the end on, keep relaying the other direction. */
    pump *other = is_client ? c->upstream : c->client;
    pump_finish_output(other);
    if (c->client_ended && c->upstream_ended)
        conn_close(c, is_client ? "client closed" : "server closed");
}

static void client_on_data(void *arg, pump *p, struct evbuffer *data)
{
    conn *c = arg;
    conn_touch(c);
    switch (c->state) {
    case CONN_READ_HEAD:
        conn_process_client_input(c);
        return;
    case CONN_TUNNEL_PEEK:
        conn_tunnel_first_bytes(c);
        return;
    case CONN_RAW:
    case CONN_TLS_RELAY:
        conn_relay(c, p, data);
        return;
    case CONN_TLS_REFUSE:
        conn_tls_refuse_input(c, data);
        return;
    case CONN_FORWARD:
        conn_forward_client_input(c);
        return;
    case CONN_CLOSING:
        evbuffer_drain(data, evbuffer_get_length(data));
        return;
    default:
        /* CONNECTING, CLIENT_HELLO, CLIENT_HANDSHAKE: keep it for later. */
        pump_set_reading(p, false);
        return;
    }
}

static void client_on_handshake(void *arg, pump *p)
{
    conn_tls_client_handshake_done(arg);
}

static void client_on_paused(void *arg, pump *p)
{
    conn_tls_client_paused(arg);
}

static void client_on_end(void *arg, pump *p, bool error, const char *reason)
{
    conn *c = arg;
    if (c->state == CONN_CLIENT_HELLO || c->state == CONN_CLIENT_HANDSHAKE) {
        char why[600];
        snprintf(why, sizeof why, "client TLS handshake failed: %s", reason);
        log_info("%s CONNECT %s %s", c->client_name, c->target_name, why);
        c->client_ended = true;
        conn_close(c, why);
        return;
    }
    conn_side_ended(c, p, error, reason);
}

static void on_drained(void *arg, pump *p)
{
    conn *c = arg;
    if (c->state == CONN_CLOSING) {
        if (output_flushed(c))
            schedule_reap(c);
        return;
    }
    /* Backpressure released: read the side that feeds p again. */
    pump *feeder = p == c->client ? c->upstream : c->client;
    if (feeder && (c->state == CONN_RAW || c->state == CONN_TLS_RELAY))
        pump_set_reading(feeder, true);
    else if (feeder && c->state == CONN_FORWARD && feeder == c->upstream)
        pump_set_reading(feeder, true);
}

static void upstream_on_data(void *arg, pump *p, struct evbuffer *data)
{
    conn *c = arg;
    conn_touch(c);
    switch (c->state) {
    case CONN_RAW:
    case CONN_TLS_RELAY:
        conn_relay(c, p, data);
        return;
    case CONN_FORWARD:
        conn_forward_upstream_input(c, data);
        return;
    case CONN_TUNNEL_PEEK:
        /* The server speaks first: this is no TLS tunnel. */
        conn_start_raw_tunnel(c);
        return;
    default:
        if (p != c->upstream) /* a retired pump */
            evbuffer_drain(data, evbuffer_get_length(data));
        else
            pump_set_reading(p, false);
        return;
    }
}

static void upstream_on_handshake(void *arg, pump *p)
{
    conn_tls_upstream_ready(arg);
}

static void upstream_on_end(void *arg, pump *p, bool error, const char *reason)
{
    conn *c = arg;
    if (p != c->upstream)
        return; /* retired */
    switch (c->state) {
    case CONN_CLIENT_HELLO:
        c->upstream_ended = true;
        conn_tls_upstream_failed(c, reason);
        return;
    case CONN_FORWARD:
    case CONN_READ_HEAD:
        conn_forward_upstream_ended(c, error, reason);
        return;
    default:
        conn_side_ended(c, p, error, reason);
    }
}

static const pump_callbacks client_callbacks = {
    .on_data = client_on_data,
    .on_handshake = client_on_handshake,
    .on_paused = client_on_paused,
    .on_end = client_on_end,
    .on_drained = on_drained,
};

const pump_callbacks conn_upstream_callbacks = {
    .on_data = upstream_on_data,
    .on_handshake = upstream_on_handshake,
    .on_end = upstream_on_end,
    .on_drained = on_drained,
};

static void format_peer(const struct sockaddr *sa, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
    }
}

void conn_accept(conn_env *env, evutil_socket_t fd, const struct sockaddr *sa,
                 int socklen)
{
    conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = NULL;
    if (!c)
        goto fail;
    c->env = env;
    /* Requests and responses are small writes that wait for each other:
     * Nagle's algorithm with delayed ACKs would add ~40 ms to each. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    format_peer(sa, c->client_name, sizeof c->client_name);
    evutil_gettimeofday(&c->started, NULL);
    c->last_activity = c->started;
    c->timer = evtimer_new(env->base, timer_cb, c);
    c->reap_ev = event_new(env->base, -1, 0, reap_cb, c);
    c->requests = http_msg_parser_new(HTTP_MSG_REQUEST, env->max_head_bytes);
    bev = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->timer || !c->reap_ev || !c->requests || !bev)
        goto fail;
    c->client = pump_new(bev, &client_callbacks, c);
    if (!c->client)
        goto fail;
    c->next = env->live;
    if (env->live)
        env->live->prev = c;
    env->live = c;
    atomic_fetch_add(env->all_live, 1);
    log_debug("%s accepted by worker %d", c->client_name, env->worker_id);
    c->state = CONN_READ_HEAD;
    conn_arm_timer(c, env->head_timeout);
    conn_admit(c, sa);
    return;
fail:
    log_warn("out of memory: dropping a new connection");
    if (bev)
        bufferevent_free(bev);
    else
        evutil_closesocket(fd);
    if (c) {
        if (c->timer)
            event_free(c->timer);
        if (c->reap_ev)
            event_free(c->reap_ev);
        http_msg_parser_free(c->requests);
        free(c);
    }
}

void conn_close_all(conn_env *env)
{
    while (env->live) {
        conn *c = env->live;
        if (c->state != CONN_CLOSING)
            c->close_reason = "proxy shutting down";
        conn_tap_abort(c, "proxy shutting down");
        conn_free(c);
    }
}
