/* conn_forward — plain http:// requests in absolute form: forwarded to
 * the origin in origin form, the response relayed byte for byte, the
 * client connection (and the upstream one, for the same origin) kept
 * alive across requests. One exchange at a time: pipelined requests wait
 * in the client's buffer until the response before them is complete.
 * Both directions have watermark backpressure. */
#include "conn_priv.h"

#include <stdio.h>
#include <string.h>

#include "front.h"
#include "log.h"

static void forward_client_data(conn *c, struct evbuffer *in);
static void forward_upstream_data(conn *c, struct evbuffer *in);
static void forward_upstream_end(conn *c, bool error, const char *reason);
static void forward_drained(conn *c, pump *p);
static void exchange_done(conn *c);

static const conn_phase forward_phase = {
    .name = "forward",
    .client_data = forward_client_data,
    .upstream_data = forward_upstream_data,
    .upstream_end = forward_upstream_end,
    .drained = forward_drained,
};

static bool same_origin(const authority *a, const authority *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Move the first n bytes of from to the pump, byte for byte. */
static void move_bytes(conn *c, struct evbuffer *from, size_t n, pump *to)
{
    if (n == 0)
        return;
    /* The tap sees exactly what crosses: the rewritten head, then the
     * bodies and responses byte for byte. */
    conn_tap_bytes(c, to == c->upstream, (const char *)evbuffer_pullup(from, (ssize_t)n),
                   n);
    struct evbuffer *piece = evbuffer_new();
    if (!piece) {
        conn_close(c, "out of memory");
        return;
    }
    evbuffer_remove_buffer(from, piece, n);
    if (pump_send_buffer(to, piece) != 0)
        evbuffer_drain(piece, evbuffer_get_length(piece));
    evbuffer_free(piece);
}

static void send_request_head(conn *c)
{
    conn_tap_start(c, "http", NULL);
    struct evbuffer *head = c->fwd.pending_head;
    conn_tap_bytes(c, true, (const char *)evbuffer_pullup(head, -1),
                   evbuffer_get_length(head));
    pump_send_buffer(c->upstream, head);
    evbuffer_free(head);
    c->fwd.pending_head = NULL;
    http_msg_parser_free(c->fwd.responses);
    c->fwd.responses = http_msg_parser_new(HTTP_MSG_RESPONSE, 1024 * 1024);
    if (!c->fwd.responses) {
        conn_close(c, "out of memory");
        return;
    }
    if (strcmp(c->fwd.method, "HEAD") == 0)
        http_msg_expect_no_body(c->fwd.responses);
    if (!conn_set_phase(c, &forward_phase))
        return;
    conn_arm_timer(c, c->env->idle_timeout);
    pump_set_reading(c->upstream, true);
    pump_set_reading(c->client, true);
    forward_client_data(c, pump_input(c->client));
}

/* A new upstream connection: a new response stream for the tap. */
static void forward_connected(conn *c)
{
    conn_tap_new_upstream(c);
    send_request_head(c);
}

void conn_forward_start(conn *c, const http_head *head, const authority *origin,
                        const char *path, bool complete)
{
    snprintf(c->fwd.method, sizeof c->fwd.method, "%s", head->method);
    c->fwd.answered = false;
    c->fwd.client_keep_alive = head->keep_alive;
    c->fwd.request_done = complete;
    c->fwd.pending_head = evbuffer_new();
    if (!c->fwd.pending_head) {
        conn_close(c, "out of memory");
        return;
    }
    c->fwd.websocket = front_write_forward_head(c->fwd.pending_head, head, origin, path);
    if (c->upstream && !c->upstream_ended && same_origin(origin, &c->target)) {
        send_request_head(c);
        return;
    }
    if (conn_retire_upstream(c) != 0)
        return;
    c->target = *origin;
    if (conn_name_target(c) != 0) {
        conn_close(c, "out of memory");
        return;
    }
    conn_connect(c, c->fwd.method, forward_connected);
}

static void forward_client_data(conn *c, struct evbuffer *in)
{
    while (!c->fwd.request_done && c->phase == &forward_phase &&
           evbuffer_get_length(in) > 0) {
        size_t consumed = 0;
        http_msg_event ev = conn_feed(c->requests, in, &consumed);
        move_bytes(c, in, consumed, c->upstream);
        if (c->closing)
            return;
        if (ev == HTTP_MSG_NEED_MORE)
            break;
        if (ev == HTTP_MSG_END) {
            c->fwd.request_done = true;
            if (c->fwd.answered) {
                exchange_done(c);
                return;
            }
        }
        else if (ev == HTTP_MSG_ERROR || ev == HTTP_MSG_TOO_LARGE) {
            char reason[200];
            snprintf(reason, sizeof reason, "bad request body: %s",
                     http_msg_error(c->requests));
            conn_close(c, reason);
            return;
        }
    }
    if (c->phase != &forward_phase)
        return;
    /* A body faster than the origin takes it waits in the kernel, not
     * here: reading resumes when the upstream's output drains. */
    if (!c->fwd.request_done && pump_output_pending(c->upstream) > CONN_HIGH_WATERMARK)
        pump_set_reading(c->client, false);
    /* The next request waits until this exchange is over; don't let a
     * client queue unbounded bytes meanwhile. */
    if (c->fwd.request_done && evbuffer_get_length(in) > c->env->max_head_bytes)
        pump_set_reading(c->client, false);
}

static void forward_drained(conn *c, pump *p)
{
    if (p == c->client)
        pump_set_reading(c->upstream, true);
    else if (!c->fwd.request_done)
        pump_set_reading(c->client, true);
}

/* The response is complete: go on with the next request, or close. An
 * early answer (a refused upload) waits for the request body's end: what
 * the client still sends is relayed and counted. */
static void exchange_done(conn *c)
{
    const http_head *response = http_msg_head(c->fwd.responses);
    if (!c->fwd.request_done && !(c->fwd.websocket && response &&
                                  response->status == 101)) {
        c->fwd.answered = true;
        return;
    }
    c->fwd.answered = false;
    if (c->fwd.websocket && response && response->status == 101) {
        log_info("%s %s %s upgraded to websocket", c->client_name, c->fwd.method,
                 c->target_name);
        http_msg_parser_free(c->requests);
        c->requests = NULL;
        conn_start_relay(c, &conn_relay_phase);
        return;
    }
    bool upstream_alive = response && response->keep_alive && !c->upstream_ended;
    if (!c->fwd.client_keep_alive) {
        conn_close(c, "response complete");
        return;
    }
    if (!upstream_alive && conn_retire_upstream(c) != 0)
        return;
    conn_head_next(c);
}

static void forward_upstream_data(conn *c, struct evbuffer *data)
{
    while (c->phase == &forward_phase && evbuffer_get_length(data) > 0) {
        size_t consumed = 0;
        http_msg_event ev = conn_feed(c->fwd.responses, data, &consumed);
        move_bytes(c, data, consumed, c->client);
        if (c->closing)
            return;
        if (pump_output_pending(c->client) > CONN_HIGH_WATERMARK)
            pump_set_reading(c->upstream, false);
        switch (ev) {
        case HTTP_MSG_NEED_MORE:
            return;
        case HTTP_MSG_HEAD:
        case HTTP_MSG_BODY:
            break;
        case HTTP_MSG_END: {
            const http_head *h = http_msg_head(c->fwd.responses);
            /* 100 Continue and friends: the real answer follows. */
            if (h && h->status >= 100 && h->status < 200 && h->status != 101)
                break;
            exchange_done(c);
            return;
        }
        case HTTP_MSG_TOO_LARGE:
        case HTTP_MSG_ERROR: {
            char reason[400];
            snprintf(reason, sizeof reason, "bad response from %s: %s",
                     c->target_name, http_msg_error(c->fwd.responses));
            conn_close(c, reason);
            return;
        }
        }
    }
}

static void forward_upstream_end(conn *c, bool error, const char *reason)
{
    /* The origin answered early and went: the rest of the body has
     * nowhere to go. */
    if (c->fwd.answered) {
        conn_close(c, "response complete");
        return;
    }
    bool answered = http_msg_head(c->fwd.responses) != NULL;
    if (!error && answered) {
        conn_tap_end(c, false);
        /* A response delimited by the end of the connection ends here. */
        size_t consumed = 0;
        const char *body;
        size_t body_len;
        if (http_msg_feed(c->fwd.responses, "", 0, &consumed, &body, &body_len) ==
            HTTP_MSG_END) {
            c->fwd.client_keep_alive = false;
            exchange_done(c);
            return;
        }
    }
    /* The client still waits for a response head: it gets a 502 naming
     * the side that closed, recorded as the proxy's answer. */
    char why[600];
    snprintf(why, sizeof why, "%s closed the connection %s%s%s", c->target_name,
             answered ? "mid-response" : "before answering", error ? ": " : "",
             error ? reason : "");
    if (answered) {
        conn_close(c, why);
        return;
    }
    conn_fail(c, 502, why);
}
