/* ui_replay — the UI's replay: a small HTTP/1.1 client on the UI's own
 * loop that sends a stored request to its origin again, reaching it the
 * way the workers do (--dns, --connect-to, upstream verification through
 * the same intercept), and publishes the exchange to the outputs like any
 * other, as a new flow with replay_of set. One request per connection
 * (Connection: close), so the response ends at the latest with the
 * connection. */
#include "ui_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "http_msg.h"
#include "log.h"
#include "upstream.h"

struct ui_replay {
    ui *ui;
    ui_replay *next;
    upstream_req *connecting;
    struct bufferevent *bev;
    bool https;
    tlsm *tls;                /* https only, once connected */
    flow_tls *upstream_leg;   /* described once the handshake is done */
    http_msg_parser *parser;
    struct evbuffer *request; /* the bytes to send */
    bool sent;
    bool head_only;           /* a HEAD request: the response has no body */
    /* The record, with copies of what it points at. */
    flow_record r;
    http_header *headers;
    size_t n_headers;
    char *url, *method, *peer;
    authority target;         /* from the URL: SNI and verification */
};

/* Request headers that belong to the original connection, or that this
 * client sets itself. */
static bool replay_drops(const char *name)
{
    static const char *const drop[] = {"Host", "Content-Length", "Connection",
                                       "Keep-Alive", "Proxy-Connection", "Transfer-Encoding",
                                       "TE", "Upgrade", "Proxy-Authorization", "Expect"};
    if (name[0] == ':')
        return true;
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (strcasecmp(name, drop[i]) == 0)
            return true;
    return false;
}

static void replay_free(ui_replay *rp)
{
    ui *u = rp->ui;
    for (ui_replay **p = &u->replays; *p; p = &(*p)->next)
        if (*p == rp) {
            *p = rp->next;
            break;
        }
    if (rp->connecting)
        upstream_cancel(rp->connecting);
    if (rp->bev)
        bufferevent_free(rp->bev);
    tlsm_free(rp->tls);
    free(rp->upstream_leg);
    http_msg_parser_free(rp->parser);
    if (rp->request)
        evbuffer_free(rp->request);
    for (size_t i = 0; i < rp->n_headers; i++) {
        free(rp->headers[i].name);
        free(rp->headers[i].value);
    }
    free(rp->headers);
    free(rp->url);
    free(rp->method);
    free(rp->peer);
    free(rp);
}

static void publish(ui_replay *rp, flow_phase phase, const char *error)
{
    const http_head *resp = rp->parser ? http_msg_head(rp->parser) : NULL;
    flow_record r = rp->r;
    r.phase = phase;
    r.error = error;
    r.upstream = rp->peer;
    r.upstream_tls = rp->upstream_leg;
    if (resp && phase != FLOW_REQUEST) {
        r.status = resp->status;
        r.reason = resp->reason;
        r.response_headers = resp->headers;
        r.n_response_headers = resp->n_headers;
    }
    if (phase == FLOW_DONE || phase == FLOW_ERROR)
        gettimeofday(&r.end, NULL);
    flowout_exchange(rp->ui->o.out, &r);
}

/* End the replay: a final record, then free. */
static void finish(ui_replay *rp, const char *error)
{
    if (error)
        log_info("replay of #%llu (as #%llu): %s", rp->r.replay_of, rp->r.id, error);
    publish(rp, error ? FLOW_ERROR : FLOW_DONE, error);
    replay_free(rp);
}

/* Move the session's ciphertext to the socket. */
static void flush_tls(ui_replay *rp)
{
    const void *data;
    size_t n;
    while ((n = tlsm_output_peek(rp->tls, &data)) > 0) {
        bufferevent_write(rp->bev, data, n);
        tlsm_output_consume(rp->tls, n);
    }
}

/* Feed plaintext of the response; false when the replay ended. */
static bool take_response(ui_replay *rp, const char *data, size_t len)
{
    bool eof = len == 0;
    do {
        size_t used = 0, body_len = 0;
        const char *body = NULL;
        http_msg_event ev = http_msg_feed(rp->parser, data, len, &used, &body, &body_len);
        data += used;
        len -= used;
        switch (ev) {
        case HTTP_MSG_HEAD:
            gettimeofday(&rp->r.response_start, NULL);
            publish(rp, FLOW_RESPONSE, NULL);
            break;
        case HTTP_MSG_BODY:
            rp->r.response_bytes += body_len;
            flowout_body(rp->ui->o.out, rp->r.id, false, body, body_len);
            break;
        case HTTP_MSG_END:
            finish(rp, NULL);
            return false;
        case HTTP_MSG_TOO_LARGE:
        case HTTP_MSG_ERROR:
            finish(rp, http_msg_error(rp->parser));
            return false;
        case HTTP_MSG_NEED_MORE:
            if (eof) {
                finish(rp, "the server closed the connection before the response ended");
                return false;
            }
            return true;
        }
    } while (len > 0 || eof);
    return true;
}

static void send_request(ui_replay *rp)
{
    if (rp->sent)
        return;
    rp->sent = true;
    size_t len = evbuffer_get_length(rp->request);
    if (rp->tls) {
        size_t n;
        tlsm_write(rp->tls, evbuffer_pullup(rp->request, -1), len, &n);
        flush_tls(rp);
    } else {
        bufferevent_write_buffer(rp->bev, rp->request);
    }
    gettimeofday(&rp->r.request_end, NULL);
}

/* Drive the TLS session after new ciphertext: handshake, then the
 * request, then plaintext to the parser. False when the replay ended. */
static bool drive_tls(ui_replay *rp)
{
    if (!tlsm_handshake_done(rp->tls)) {
        tlsm_status st = tlsm_handshake(rp->tls);
        flush_tls(rp);
        if (st == TLSM_WANT_INPUT)
            return true;
        if (st != TLSM_OK) {
            finish(rp, tlsm_reason(rp->tls));
            return false;
        }
        rp->upstream_leg = intercept_describe(rp->tls);
    }
    send_request(rp);
    char buf[16384];
    for (;;) {
        size_t n = 0;
        tlsm_status st = tlsm_read(rp->tls, buf, sizeof buf, &n);
        flush_tls(rp);
        if (st == TLSM_OK && n > 0) {
            if (!take_response(rp, buf, n))
                return false;
        } else if (st == TLSM_WANT_INPUT) {
            return true;
        } else if (st == TLSM_CLOSED) {
            return take_response(rp, NULL, 0);
        } else {
            /* Servers that close without close_notify end the body that way. */
            return take_response(rp, NULL, 0);
        }
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    ui_replay *rp = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    char *data = (char *)evbuffer_pullup(in, -1);
    if (rp->https) {
        tlsm_feed(rp->tls, data, len);
        evbuffer_drain(in, len);
        drive_tls(rp);
        return;
    }
    /* The parser copies what it keeps: the input can go after feeding. */
    bool alive = len == 0 || take_response(rp, data, len);
    if (alive)
        evbuffer_drain(in, len);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    ui_replay *rp = arg;
    if (what & BEV_EVENT_TIMEOUT) {
        finish(rp, "the server did not answer in time (--idle-timeout)");
    } else if (rp->https) {
        tlsm_feed_eof(rp->tls);
        drive_tls(rp);
    } else {
        take_response(rp, NULL, 0);
    }
}

static void on_connected(upstream_status status, struct bufferevent *bev,
                         const char *peer, const char *reason, void *arg)
{
    ui_replay *rp = arg;
    rp->connecting = NULL;
    if (status != UPSTREAM_OK) {
        finish(rp, reason);
        return;
    }
    rp->bev = bev;
    rp->peer = strdup(peer);
    bufferevent_setcb(bev, on_read, NULL, on_event, rp);
    struct timeval idle = {rp->ui->o.idle_timeout, 0};
    bufferevent_set_timeouts(bev, &idle, &idle);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    if (rp->https) {
        const char *sni = rp->target.kind == AUTHORITY_NAME ? rp->target.host : NULL;
        rp->tls = intercept_upstream_session(rp->ui->o.tls, sni, &rp->target, peer);
        if (!rp->tls) {
            finish(rp, "cannot set up TLS to the server");
            return;
        }
        drive_tls(rp);
    } else {
        send_request(rp);
    }
}

/* Split url into scheme, authority and target; 0 or -1. */
static int parse_url(ui_replay *rp, const char *url, bool *https, const char **path)
{
    *https = strncasecmp(url, "https://", 8) == 0;
    if (!*https && strncasecmp(url, "http://", 7) != 0)
        return -1;
    const char *host = url + (*https ? 8 : 7);
    size_t len = strcspn(host, "/?#");
    *path = host[len] == '/' ? host + len : "/";
    const char *why = NULL;
    return authority_parse(host, len, *https ? 443 : 80, &rp->target, &why);
}

/* The request as bytes, and the record's copies. 0, or -1 (memory). */
static int build_request(ui_replay *rp, const flowstore_view *v, const char *path)
{
    const flow_record *o = v->r;
    struct evbuffer *b = rp->request = evbuffer_new();
    rp->headers = calloc(o->n_request_headers + 3, sizeof *rp->headers);
    if (!b || !rp->headers)
        return -1;
    char host[AUTHORITY_HOST_MAX + 10];
    bool default_port = rp->target.port == (rp->https ? 443 : 80);
    if (default_port)
        snprintf(host, sizeof host, rp->target.kind == AUTHORITY_IPV6 ? "[%s]" : "%s",
                 rp->target.host);
    else
        authority_format(&rp->target, host, sizeof host);
    char length[32];
    snprintf(length, sizeof length, "%zu", v->body_len[0]);
    bool has_body = v->body_len[0] > 0 || strcmp(o->method, "POST") == 0 ||
                    strcmp(o->method, "PUT") == 0 || strcmp(o->method, "PATCH") == 0;
    evbuffer_add_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\n", o->method, path, host);
    rp->headers[rp->n_headers].name = strdup("Host");
    rp->headers[rp->n_headers++].value = strdup(host);
    for (size_t i = 0; i < o->n_request_headers; i++) {
        const http_header *h = &o->request_headers[i];
        if (replay_drops(h->name))
            continue;
        evbuffer_add_printf(b, "%s: %s\r\n", h->name, h->value);
        rp->headers[rp->n_headers].name = strdup(h->name);
        rp->headers[rp->n_headers++].value = strdup(h->value);
    }
    if (has_body) {
        evbuffer_add_printf(b, "Content-Length: %s\r\n", length);
        rp->headers[rp->n_headers].name = strdup("Content-Length");
        rp->headers[rp->n_headers++].value = strdup(length);
    }
    evbuffer_add_printf(b, "Connection: close\r\n\r\n");
    rp->headers[rp->n_headers].name = strdup("Connection");
    rp->headers[rp->n_headers++].value = strdup("close");
    for (size_t i = 0; i < rp->n_headers; i++)
        if (!rp->headers[i].name || !rp->headers[i].value)
            return -1;
    if (v->body_len[0])
        evbuffer_add(b, v->body[0], v->body_len[0]);
    rp->r.request_bytes = v->body_len[0];
    return 0;
}

unsigned long long ui_replay_start(ui *u, const flowstore_view *v, const char **reason)
{
    const flow_record *o = v->r;
    if (v->body_seen[0] > v->body_len[0]) {
        *reason = "the request body was longer than --body-limit: it was not kept "
                  "whole, so it cannot be sent again";
        return 0;
    }
    if (o->websocket || !o->method || strcmp(o->method, "CONNECT") == 0) {
        *reason = "only plain HTTP requests can be replayed (not websockets or tunnels)";
        return 0;
    }
    ui_replay *rp = calloc(1, sizeof *rp);
    if (!rp) {
        *reason = "out of memory";
        return 0;
    }
    rp->ui = u;
    rp->next = u->replays;
    u->replays = rp;
    bool https;
    const char *path;
    if (!o->url || parse_url(rp, o->url, &https, &path) != 0) {
        *reason = "the flow's URL cannot be sent again";
        replay_free(rp);
        return 0;
    }
    rp->https = https;
    rp->url = strdup(o->url);
    rp->method = strdup(o->method);
    rp->parser = http_msg_parser_new(HTTP_MSG_RESPONSE, u->o.max_head_bytes);
    if (!rp->url || !rp->method || !rp->parser || build_request(rp, v, path) != 0) {
        *reason = "out of memory";
        replay_free(rp);
        return 0;
    }
    rp->head_only = strcmp(o->method, "HEAD") == 0;
    if (rp->head_only)
        http_msg_expect_no_body(rp->parser);
    authority to = connect_to_apply(u->o.connect_to, u->o.n_connect_to, &rp->target);
    rp->connecting = upstream_connect(u->base, u->dns, &to, u->o.dns_timeout,
                                      u->o.connect_timeout, u->o.parent, on_connected, rp);
    if (!rp->connecting) {
        *reason = "out of memory";
        replay_free(rp);
        return 0;
    }
    rp->r = (flow_record){
        .id = atomic_fetch_add(u->o.next_exchange_id, 1),
        .replay_of = o->id,
        .phase = FLOW_REQUEST,
        .client = "tlspeek (replay)",
        .url = rp->url,
        .method = rp->method,
        .http_major = 1,
        .http_minor = 1,
        .client_protocol = "HTTP/1.1",
        .upstream_protocol = "HTTP/1.1",
        .request_headers = rp->headers,
        .n_request_headers = rp->n_headers,
        .request_bytes = v->body_len[0],
    };
    gettimeofday(&rp->r.start, NULL);
    publish(rp, FLOW_REQUEST, NULL);
    if (v->body_len[0])
        flowout_body(u->o.out, rp->r.id, true, v->body[0], v->body_len[0]);
    return rp->r.id;
}

void ui_replay_abort_all(ui *u)
{
    while (u->replays)
        finish(u->replays, "tlspeek is stopping");
}
