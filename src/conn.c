/* conn — the core of a client connection: creation, the phase it is in,
 * timers, the relay with backpressure and half-close, the one close path
 * and the deferred free. Everything a phase does is in its own file (see
 * conn_priv.h); the core reaches it only through its conn_phase table. */
#include "conn_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "front.h"
#include "log.h"
#include "units.h"

/* Closing is a phase too: every event is ignored or drained. */
static const conn_phase closing_phase = {.name = "closing"};

bool conn_set_phase(conn *c, const conn_phase *phase)
{
    if (c->closing)
        return false;
    log_debug("%s %s -> %s", c->client_name, c->phase ? c->phase->name : "accepted",
              phase->name);
    c->phase = phase;
    return true;
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

int conn_retire_upstream(conn *c)
{
    if (!c->upstream)
        return 0;
    /* The pump may be on the call stack: free it from the loop. */
    if (c->n_retired == CONN_MAX_RETIRED) {
        conn_close(c, "too many upstream connections at once");
        return -1;
    }
    pump_set_reading(c->upstream, false);
    c->retired[c->n_retired++] = c->upstream;
    c->upstream = NULL;
    c->upstream_ended = false;
    if (!c->client_ended)
        c->first_end = NULL; /* that server's end is no longer news */
    schedule_reap(c);
    return 0;
}

static double elapsed_seconds(const struct timeval *since)
{
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    return (double)(now.tv_sec - since->tv_sec) +
           (double)(now.tv_usec - since->tv_usec) / 1e6;
}

static void log_final_line(conn *c)
{
    if (!c->report_tunnel || !c->client)
        return;
    char up[UNITS_BYTES_LEN], down[UNITS_BYTES_LEN];
    units_bytes(pump_bytes_in(c->client) - c->tunnel_base_in, up, sizeof up);
    units_bytes(pump_bytes_out(c->client) - c->tunnel_base_out, down, sizeof down);
    char frames[96] = "";
    if (c->tap.websocket_open)
        snprintf(frames, sizeof frames, ", websocket %llu frames up, %llu down",
                 c->tap.ws_up.frames, c->tap.ws_down.frames);
    log_info("%s closed %s after %.3f s: %s up, %s down%s (%s)", c->client_name,
             c->target_name, elapsed_seconds(&c->started), up, down, frames,
             c->close_reason);
}

/* target_name before conn_name_target: never freed */
static char unnamed[1];

int conn_name_target(conn *c)
{
    char buf[AUTHORITY_HOST_MAX + 10];
    int n = authority_format(&c->target, buf, sizeof buf);
    char *name = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!name)
        return -1;
    memcpy(name, buf, (size_t)n + 1);
    if (c->target_name != unnamed)
        free(c->target_name);
    c->target_name = name;
    return 0;
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
    if (c->closing)
        return;
    conn_set_text(&c->close_reason_buf, reason);
    c->close_reason = c->close_reason_buf ? c->close_reason_buf : "closed";
    conn_tap_abort(c, c->close_reason);
    if (c->passthrough_reason)
        conn_tap_passthrough(c);
    log_final_line(c);
    conn_set_phase(c, &closing_phase);
    c->closing = true;
    upstream_cancel(c->connect.req);
    c->connect.req = NULL;
    /* Flush what is queued (a 502, the last response bytes, close_notify)
     * and then free; a peer that never reads gets CONN_DRAIN_SECONDS. */
    if (c->client) {
        pump_set_reading(c->client, false);
        pump_finish_output_for_close(c->client);
    }
    if (c->upstream) {
        pump_set_reading(c->upstream, false);
        pump_finish_output_for_close(c->upstream);
    }
    conn_arm_timer(c, CONN_DRAIN_SECONDS);
    if (output_flushed(c)) {
        schedule_reap(c); /* the sockets close now: no shutdown() needed */
        return;
    }
    /* A side still flushing keeps both open: each gets its FIN once its
     * own output is out, not when the other's is. */
    if (c->client)
        pump_finish_output(c->client);
    if (c->upstream)
        pump_finish_output(c->upstream);
}

void conn_send_client(conn *c, struct evbuffer *out)
{
    if (pump_send_buffer(c->client, out) != 0)
        evbuffer_drain(out, evbuffer_get_length(out));
}

void conn_fail(conn *c, int status, const char *reason)
{
    conn_tap_answer(c, status, reason);
    struct evbuffer *out = evbuffer_new();
    if (out) {
        /* 407 carries the challenge a client needs to answer it. */
        if (status == 407)
            front_write_auth_required(out);
        else
            front_write_error(out, status, reason);
        conn_send_client(c, out);
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

    upstream_cancel(c->connect.req);
    for (int i = 0; i < c->n_retired; i++)
        pump_free(c->retired[i]);
    pump_free(c->client);
    pump_free(c->upstream);
    http_msg_parser_free(c->requests);
    http_msg_parser_free(c->fwd.responses);
    if (c->fwd.pending_head)
        evbuffer_free(c->fwd.pending_head);
    free(c->tls.refuse_reason);
    free(c->tls.client_leg);
    free(c->tls.upstream_leg);
    free(c->tls.early_end_reason);
    if (c->tls.key_ev) {
        /* No wake-up from the key's thread may come after this. */
        intercept_cancel_wait(env->tls, c);
        event_free(c->tls.key_ev);
    }
    event_free(c->timer);
    event_free(c->reap_ev);
    free(c->sni);
    free(c->passthrough_reason);
    free(c->close_reason_buf);
    if (c->target_name != unnamed)
        free(c->target_name);
    free(c);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    for (int i = 0; i < c->n_retired; i++)
        pump_free(c->retired[i]);
    c->n_retired = 0;
    if (c->closing && output_flushed(c))
        conn_free(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (c->closing) {
        conn_free(c);
        return;
    }
    if (c->phase->timeout) {
        c->phase->timeout(c);
        return;
    }
    double idle = elapsed_seconds(&c->last_activity);
    if (idle >= c->env->idle_timeout) {
        char reason[64];
        snprintf(reason, sizeof reason, "idle for %d s", c->env->idle_timeout);
        conn_close(c, reason);
    } else {
        conn_arm_timer(c, c->env->idle_timeout - (int)idle);
    }
}

/* ---- the relay ---- */

void conn_relay_data(conn *c, pump *from, struct evbuffer *data)
{
    bool from_client = from == c->client;
    pump *to = from_client ? c->upstream : c->client;
    conn_tap_buffer(c, from_client, data);
    /* The other side is gone: what it would have got is dropped. */
    if (!to || pump_send_buffer(to, data) != 0) {
        evbuffer_drain(data, evbuffer_get_length(data));
        return;
    }
    if (pump_output_pending(to) > CONN_HIGH_WATERMARK)
        pump_set_reading(from, false);
}

void conn_relay_side_ended(conn *c, bool client_side, bool error, const char *reason)
{
    if (error) {
        /* After the other side's clean close, this one's abrupt end (a
         * server that drops the connection on our close_notify) is its
         * consequence: the record names who closed first. */
        bool other_closed = client_side ? c->upstream_ended : c->client_ended;
        char why[600];
        if (other_closed)
            snprintf(why, sizeof why, "%s", c->first_end);
        else
            snprintf(why, sizeof why, "%s: %s", client_side ? "client" : "server",
                     reason);
        conn_close(c, why);
        return;
    }
    conn_tap_end(c, client_side);
    /* Both ended: conn_close passes the end on (and closes at once). */
    if (c->client_ended && (c->upstream_ended || !c->upstream)) {
        conn_close(c, c->first_end);
        return;
    }
    /* Half-close: pass the end on, keep relaying the other direction. */
    pump *other = client_side ? c->upstream : c->client;
    if (other)
        pump_finish_output(other);
}

void conn_relay_drained(conn *c, pump *p)
{
    /* Backpressure released: read the side that feeds p again. */
    pump *feeder = p == c->client ? c->upstream : c->client;
    if (feeder)
        pump_set_reading(feeder, true);
}

void conn_relay_client_data(conn *c, struct evbuffer *in)
{
    conn_relay_data(c, c->client, in);
}

void conn_relay_upstream_data(conn *c, struct evbuffer *in)
{
    conn_relay_data(c, c->upstream, in);
}

void conn_relay_client_end(conn *c, bool error, const char *reason)
{
    conn_relay_side_ended(c, true, error, reason);
}

static void relay_upstream_end(conn *c, bool error, const char *reason)
{
    conn_relay_side_ended(c, false, error, reason);
}

const conn_phase conn_relay_phase = {
    .name = "relay",
    .client_data = conn_relay_client_data,
    .upstream_data = conn_relay_upstream_data,
    .client_end = conn_relay_client_end,
    .upstream_end = relay_upstream_end,
    .drained = conn_relay_drained,
};

void conn_start_relay(conn *c, const conn_phase *phase)
{
    if (!conn_set_phase(c, phase))
        return;
    conn_touch(c);
    conn_arm_timer(c, c->env->idle_timeout);
    if (evbuffer_get_length(pump_input(c->client)) > 0)
        conn_relay_data(c, c->client, pump_input(c->client));
    if (c->upstream && evbuffer_get_length(pump_input(c->upstream)) > 0)
        conn_relay_data(c, c->upstream, pump_input(c->upstream));
    if (c->closing)
        return;
    pump_set_reading(c->client, true);
    if (c->upstream)
        pump_set_reading(c->upstream, true);
}

/* ---- the pumps' callbacks: to the phase's operations ---- */

static void client_on_data(void *arg, pump *p, struct evbuffer *data)
{
    conn *c = arg;
    conn_touch(c);
    if (c->closing)
        evbuffer_drain(data, evbuffer_get_length(data));
    else if (c->phase->client_data)
        c->phase->client_data(c, data);
    else
        pump_set_reading(p, false); /* kept for the next phase */
}

static void upstream_on_data(void *arg, pump *p, struct evbuffer *data)
{
    conn *c = arg;
    conn_touch(c);
    if (c->closing || p != c->upstream) /* closing, or a retired pump */
        evbuffer_drain(data, evbuffer_get_length(data));
    else if (c->phase->upstream_data)
        c->phase->upstream_data(c, data);
    else
        pump_set_reading(p, false);
}

static void client_on_end(void *arg, pump *p, bool error, const char *reason)
{
    conn *c = arg;
    c->client_ended = true;
    if (!c->first_end)
        c->first_end = "client closed";
    if (c->closing)
        return;
    if (c->phase->client_end)
        c->phase->client_end(c, error, reason);
    else
        conn_close(c, "client closed");
}

static void upstream_on_end(void *arg, pump *p, bool error, const char *reason)
{
    conn *c = arg;
    if (p != c->upstream)
        return; /* retired */
    c->upstream_ended = true;
    if (!c->first_end)
        c->first_end = "server closed";
    if (c->closing)
        return;
    if (c->phase->upstream_end)
        c->phase->upstream_end(c, error, reason);
    else
        conn_close(c, "server closed");
}

static void on_drained(void *arg, pump *p)
{
    conn *c = arg;
    if (c->closing) {
        if (output_flushed(c))
            schedule_reap(c);
        return;
    }
    if (c->phase->drained && (p == c->client || p == c->upstream))
        c->phase->drained(c, p);
}

static void client_on_handshake(void *arg, pump *p)
{
    conn *c = arg;
    if (!c->closing && c->phase->client_handshake)
        c->phase->client_handshake(c);
}

static void client_on_paused(void *arg, pump *p)
{
    conn *c = arg;
    if (!c->closing && c->phase->client_paused)
        c->phase->client_paused(c);
}

static void upstream_on_handshake(void *arg, pump *p)
{
    conn *c = arg;
    if (!c->closing && p == c->upstream && c->phase->upstream_handshake)
        c->phase->upstream_handshake(c);
}

static const pump_callbacks client_callbacks = {
    .on_data = client_on_data,
    .on_handshake = client_on_handshake,
    .on_paused = client_on_paused,
    .on_end = client_on_end,
    .on_drained = on_drained,
};

static const pump_callbacks upstream_callbacks = {
    .on_data = upstream_on_data,
    .on_handshake = upstream_on_handshake,
    .on_end = upstream_on_end,
    .on_drained = on_drained,
};

int conn_attach_upstream(conn *c, struct bufferevent *bev, const char *peer)
{
    snprintf(c->upstream_peer, sizeof c->upstream_peer, "%s", peer);
    c->upstream = pump_new(bev, &upstream_callbacks, c);
    if (!c->upstream) {
        bufferevent_free(bev);
        conn_fail(c, 502, "out of memory");
        return -1;
    }
    c->upstream_ended = false;
    c->report_tunnel = true;
    return 0;
}

/* ---- life ---- */

conn *conn_new(conn_env *env, evutil_socket_t fd, const struct sockaddr *sa)
{
    conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = NULL;
    if (!c)
        goto fail;
    c->env = env;
    c->target_name = unnamed;
    /* Requests and responses are small writes that wait for each other:
     * Nagle's algorithm with delayed ACKs would add ~40 ms to each. The
     * socket has TCP_NODELAY from the listener it was accepted from
     * (listener.c), which saves a setsockopt() per connection. */
    access_format_sockaddr(sa, c->client_name, sizeof c->client_name);
    evutil_gettimeofday(&c->started, NULL);
    c->last_activity = c->started;
    c->id = env->next_conn_id ? atomic_fetch_add(env->next_conn_id, 1) : 0;
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
    log_debug("%s accepted by worker %d (connection %llu)", c->client_name,
              env->worker_id, c->id);
    conn_arm_timer(c, env->head_timeout);
    return c;
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
    return NULL;
}

void conn_close_all(conn_env *env)
{
    while (env->live) {
        conn *c = env->live;
        if (!c->closing)
            c->close_reason = "proxy shutting down";
        conn_tap_abort(c, "proxy shutting down");
        conn_free(c);
    }
}

/* ---- request streams, shared by the head and forwarding phases ---- */

http_msg_event conn_feed(http_msg_parser *parser, struct evbuffer *buf,
                         size_t *consumed)
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
