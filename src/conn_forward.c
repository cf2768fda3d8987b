/* conn_forward — plain http:// requests in absolute form: forwarded to
 * the origin in origin form, the response relayed byte for byte, the
 * client connection (and the upstream one, for the same origin) kept
 * alive across requests. One exchange at a time: pipelined requests wait
 * in the client's buffer until the response before them is complete. */
#include "conn_priv.h"

#include <stdio.h>
#include <string.h>

#include "front.h"
#include "log.h"
#include "selfpage.h"

static bool same_origin(const authority *a, const authority *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Move the first n bytes of from to the pump, byte for byte. */
static void move_bytes(conn *c, struct evbuffer *from, size_t n, pump *to)
{
    if (n == 0)
        return;
    struct evbuffer *piece = evbuffer_new();
    if (!piece) {
        conn_close(c, "out of memory");
        return;
    }
    /* The tap sees exactly what crosses: the rewritten head, then the
     * bodies and responses byte for byte. */
    conn_tap_bytes(c, to == c->upstream, (const char *)evbuffer_pullup(from, (ssize_t)n),
                   n);
    evbuffer_remove_buffer(from, piece, n);
    pump_send_buffer(to, piece);
    evbuffer_free(piece);
}

static void send_request_head(conn *c)
{
    conn_tap_start(c, "http");
    size_t head_len = evbuffer_get_length(c->pending_head);
    conn_tap_bytes(c, true, (const char *)evbuffer_pullup(c->pending_head, -1),
                   head_len);
    pump_send_buffer(c->upstream, c->pending_head);
    evbuffer_free(c->pending_head);
    c->pending_head = NULL;
    http_msg_parser_free(c->responses);
    c->responses = http_msg_parser_new(HTTP_MSG_RESPONSE, 1024 * 1024);
    if (!c->responses) {
        conn_close(c, "out of memory");
        return;
    }
    if (strcmp(c->method, "HEAD") == 0)
        http_msg_expect_no_body(c->responses);
    pump_set_reading(c->upstream, true);
    pump_set_reading(c->client, true);
    conn_forward_client_input(c);
}

void conn_forward_start(conn *c, const http_head *head, bool complete)
{
    authority origin;
    const char *path = NULL, *reason = NULL;
    if (front_parse_absolute(head->target, &origin, &path, &reason) != 0) {
        log_info("%s %s %.200s 400 %s", c->client_name, head->method,
                 head->target, reason);
        conn_fail(c, 400, reason);
        return;
    }
    /* http://tlspeek/ is the proxy itself, from any client set up to use it. */
    if (strcmp(origin.host, SELFPAGE_MAGIC_HOST) == 0) {
        conn_answer_self(c, head, path);
        return;
    }
    snprintf(c->method, sizeof c->method, "%s", head->method);
    conn_set_text(&c->url, head->target);
    c->client_keep_alive = head->keep_alive;
    c->request_done = complete;
    c->pending_head = evbuffer_new();
    if (!c->pending_head) {
        conn_close(c, "out of memory");
        return;
    }
    c->websocket = front_write_forward_head(c->pending_head, head, &origin, path);
    conn_set_state(c, CONN_FORWARD);
    conn_arm_timer(c, c->env->idle_timeout);
    if (c->upstream && !c->upstream_ended && same_origin(&origin, &c->target)) {
        send_request_head(c);
        return;
    }
    conn_retire_upstream(c);
    c->target = origin;
    authority_format(&origin, c->target_name, sizeof c->target_name);
    conn_connect_upstream(c);
}

void conn_forward_connected(conn *c)
{
    send_request_head(c);
}

void conn_forward_client_input(conn *c)
{
    struct evbuffer *in = pump_input(c->client);
    while (!c->request_done && c->state == CONN_FORWARD &&
           evbuffer_get_length(in) > 0) {
        size_t consumed = 0;
        http_msg_event ev = conn_feed(c->requests, in, &consumed);
        move_bytes(c, in, consumed, c->upstream);
        if (ev == HTTP_MSG_NEED_MORE)
            return;
        if (ev == HTTP_MSG_END)
            c->request_done = true;
        else if (ev == HTTP_MSG_ERROR || ev == HTTP_MSG_TOO_LARGE) {
            char reason[200];
            snprintf(reason, sizeof reason, "bad request body: %s",
                     http_msg_error(c->requests));
            conn_close(c, reason);
            return;
        }
    }
    /* The next request waits until this exchange is over; don't let a
     * client queue unbounded bytes meanwhile. */
    if (c->request_done && evbuffer_get_length(in) > c->env->max_head_bytes)
        pump_set_reading(c->client, false);
}

/* The response is complete: go on with the next request, or close. */
static void exchange_done(conn *c)
{
    const http_head *response = http_msg_head(c->responses);
    if (c->websocket && response && response->status == 101) {
        log_info("%s %s %s upgraded to websocket", c->client_name, c->method,
                 c->url ? c->url : "-");
        http_msg_parser_free(c->requests);
        c->requests = NULL;
        conn_start_raw(c);
        return;
    }
    bool upstream_alive = response && response->keep_alive && !c->upstream_ended;
    if (!c->client_keep_alive) {
        conn_close(c, "response complete");
        return;
    }
    if (!upstream_alive)
        conn_retire_upstream(c);
    conn_set_state(c, CONN_READ_HEAD);
    conn_arm_timer(c, c->env->head_timeout);
    pump_set_reading(c->client, true);
    conn_process_client_input(c);
}

void conn_forward_upstream_input(conn *c, struct evbuffer *data)
{
    while (c->state == CONN_FORWARD && evbuffer_get_length(data) > 0) {
        size_t consumed = 0;
        http_msg_event ev = conn_feed(c->responses, data, &consumed);
        move_bytes(c, data, consumed, c->client);
        if (pump_output_pending(c->client) > CONN_HIGH_WATERMARK)
            pump_set_reading(c->upstream, false);
        switch (ev) {
        case HTTP_MSG_NEED_MORE:
            return;
        case HTTP_MSG_BODY:
            break;
        case HTTP_MSG_HEAD: {
            const http_head *h = http_msg_head(c->responses);
            if (h->status >= 200 || h->status == 101)
                log_info("%s %s %s %d", c->client_name, c->method, c->url ? c->url : "-",
                         h->status);
            break;
        }
        case HTTP_MSG_END: {
            const http_head *h = http_msg_head(c->responses);
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
                     c->target_name, http_msg_error(c->responses));
            conn_close(c, reason);
            return;
        }
        }
    }
}

void conn_forward_upstream_ended(conn *c, bool error, const char *reason)
{
    c->upstream_ended = true;
    if (!error)
        conn_tap_end(c, c->upstream);
    if (c->state != CONN_FORWARD) {
        conn_retire_upstream(c); /* an idle keep-alive connection went away */
        return;
    }
    if (!error && c->responses) {
        /* A response delimited by the end of the connection ends here. */
        size_t consumed = 0;
        const char *body;
        size_t body_len;
        if (http_msg_feed(c->responses, "", 0, &consumed, &body, &body_len) ==
            HTTP_MSG_END) {
            c->client_keep_alive = false;
            exchange_done(c);
            return;
        }
    }
    char why[600];
    snprintf(why, sizeof why, "%s closed the connection mid-response%s%s",
             c->target_name, error ? ": " : "", error ? reason : "");
    if (!c->responses || !http_msg_head(c->responses))
        conn_fail(c, 502, why);
    else
        conn_close(c, why);
}
