/* conn_tap — the read-only exchange tap of a connection: chooses the tap
 * (by ALPN), shows it the plaintext going each way, counts websocket
 * messages after an upgrade, and turns each exchange it reports into a
 * flow_record for the outputs, adding what only the connection knows
 * (ids, addresses, both legs' protocol and TLS details). */
#include "conn_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front.h"
#include "h2_flow.h"
#include "http_flow.h"
#include "log.h"

/* A websocket's exchange, kept from its 101 to the connection's end so
 * that its record carries the message counts. */
struct conn_tap_upgrade {
    tap_exchange ex;          /* request and response are owned copies */
    http_head *request, *response;
};

/* URLs up to this size are built on the stack (most are). */
#define URL_STACK 512

/* Append n bytes of s at *at (room was counted by the caller). */
static void put(char **at, const char *s, size_t n)
{
    memcpy(*at, s, n);
    *at += n;
}

/* The URL as the client would write it: scheme://host[:port]target, the
 * port left out when it is the scheme's default; an HTTP/2 request names
 * its host itself (:authority). target is origin-form (or absolute-form,
 * kept as sent). Built in buf (size bytes) when it fits, else allocated
 * (the caller frees a result that is not buf); NULL when memory is short.
 * Plain copies rather than snprintf: this runs for every exchange. */
static char *make_url(const conn *c, const char *h2_authority, const char *target,
                      char *buf, size_t size)
{
    bool absolute = target[0] != '/';
    const char *scheme = c->tap.scheme;
    bool h2 = h2_authority && h2_authority[0];
    const char *host = h2 ? h2_authority : c->target.host;
    bool v6 = !h2 && c->target.kind == AUTHORITY_IPV6;
    char port[8];
    size_t port_len = 0;
    if (!h2 && c->target.port != (strcmp(scheme, "https") == 0 ? 443 : 80)) {
        /* ":" and at most five digits, written backwards then turned */
        char digits[6];
        size_t n = 0;
        unsigned v = c->target.port;
        do
            digits[n++] = (char)('0' + v % 10);
        while ((v /= 10) > 0 && n < sizeof digits);
        port[port_len++] = ':';
        while (n > 0)
            port[port_len++] = digits[--n];
    }
    size_t scheme_len = absolute ? 0 : strlen(scheme);
    size_t host_len = absolute ? 0 : strlen(host);
    size_t target_len = strlen(target);
    size_t need = absolute ? target_len + 1
                           : scheme_len + 3 + host_len + (v6 ? 2 : 0) + port_len +
                                 target_len + 1;
    char *url = need <= size ? buf : malloc(need);
    if (!url)
        return NULL;
    char *at = url;
    if (!absolute) {
        put(&at, scheme, scheme_len);
        put(&at, "://", 3);
        if (v6)
            put(&at, "[", 1);
        put(&at, host, host_len);
        if (v6)
            put(&at, "]", 1);
        put(&at, port, port_len);
    }
    put(&at, target, target_len);
    *at = '\0';
    return url;
}

static const char *protocol_of(const tap_exchange *ex)
{
    if (ex->http_major == 2)
        return "HTTP/2";
    return ex->http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

static void emit(conn *c, tap_phase phase, const tap_exchange *ex)
{
    /* The oldest exchange without a response got the proxy's own answer. */
    int by_proxy = 0;
    if (phase == TAP_DONE && !ex->response && c->tap.proxy_status) {
        by_proxy = c->tap.proxy_status;
        c->tap.proxy_status = 0;
    }
    /* No record nobody reads: with no output on (-q, no --flows, --har,
     * --bodies or UI) none at all; without an observer (the UI) only the
     * final one, the only one the other outputs take. */
    flowout *out = c->env->out;
    if (!out || !flowout_wants_records(out) ||
        (phase != TAP_DONE && !flowout_wants_phases(out)))
        return;
    char url_buf[URL_STACK];
    char *url = make_url(c, ex->authority, ex->request->target ? ex->request->target : "/",
                         url_buf, sizeof url_buf);
    const char *protocol = ex->upgraded ? "websocket" : protocol_of(ex);
    /* An extended CONNECT answered 2xx: the stream speaks its :protocol. */
    if (ex->protocol && ex->response && ex->response->status / 100 == 2)
        protocol = ex->protocol;
    flow_record r = {
        .id = ex->id,
        .conn_id = c->id,
        .stream_id = ex->stream_id,
        .phase = phase == TAP_REQUEST    ? FLOW_REQUEST
                 : phase == TAP_RESPONSE ? FLOW_RESPONSE
                 : ex->error             ? FLOW_ERROR
                                         : FLOW_DONE,
        .start = ex->start,
        .request_end = ex->request_end,
        .response_start = ex->response_start,
        .end = ex->end,
        .client = c->client_name,
        .upstream = c->upstream_peer,
        .url = url ? url : "-",
        .method = ex->request->method,
        .http_major = ex->http_major,
        .http_minor = ex->http_minor,
        .client_protocol = protocol,
        .upstream_protocol = protocol,
        .status = ex->response ? ex->response->status : by_proxy,
        .reason = ex->response ? ex->response->reason
                  : by_proxy   ? front_status_text(by_proxy)
                               : NULL,
        .answered_by_proxy = by_proxy != 0,
        .request_unparsed = ex->request->method[0] == '\0',
        .request_headers = ex->request->headers,
        .n_request_headers = ex->request->n_headers,
        .response_headers = ex->response ? ex->response->headers : NULL,
        .n_response_headers = ex->response ? ex->response->n_headers : 0,
        .request_trailers = ex->request_trailers ? ex->request_trailers->headers : NULL,
        .n_request_trailers = ex->request_trailers ? ex->request_trailers->n_headers : 0,
        .response_trailers = ex->response_trailers ? ex->response_trailers->headers
                                                   : NULL,
        .n_response_trailers =
            ex->response_trailers ? ex->response_trailers->n_headers : 0,
        .request_bytes = ex->request_bytes,
        .response_bytes = ex->response_bytes,
        .websocket = ex->upgraded,
        .ws_messages_up = ex->upgraded ? c->tap.ws_up.messages : 0,
        .ws_messages_down = ex->upgraded ? c->tap.ws_down.messages : 0,
        .client_tls = c->tls.client_leg,
        .upstream_tls = c->tls.client_leg ? c->tls.upstream_leg : NULL,
        .error = ex->error,
    };
    flowout_exchange(out, &r);
    if (url != url_buf)
        free(url);
}

/* An upgrade's exchange waits for the connection's end: its record then
 * carries the websocket's message counts. */
static void hold_upgrade(conn *c, const tap_exchange *ex)
{
    struct conn_tap_upgrade *u = calloc(1, sizeof *u);
    if (u) {
        u->ex = *ex;
        u->request = http_head_dup(ex->request);
        u->response = ex->response ? http_head_dup(ex->response) : NULL;
        u->ex.request = u->request;
        u->ex.response = u->response;
        u->ex.request_trailers = u->ex.response_trailers = NULL;
        u->ex.error = NULL;
    }
    if (!u || !u->request || (ex->response && !u->response)) {
        if (u) {
            http_head_free(u->request);
            http_head_free(u->response);
            free(u);
        }
        emit(c, TAP_DONE, ex); /* without counts, rather than not at all */
        return;
    }
    c->tap.upgrade = u;
}

static void release_upgrade(conn *c)
{
    struct conn_tap_upgrade *u = c->tap.upgrade;
    if (!u)
        return;
    c->tap.upgrade = NULL;
    evutil_gettimeofday(&u->ex.end, NULL);
    emit(c, TAP_DONE, &u->ex);
    http_head_free(u->request);
    http_head_free(u->response);
    free(u);
}

static void on_event(void *arg, tap_phase phase, const tap_exchange *ex)
{
    conn *c = arg;
    if (phase == TAP_REQUEST)
        c->tap.awaiting++;
    else if ((phase == TAP_RESPONSE || !ex->response) && c->tap.awaiting > 0)
        c->tap.awaiting--;
    if (phase == TAP_DONE && ex->upgraded && !c->tap.websocket_open) {
        c->tap.websocket_open = true;
        c->tap.ws_tail = ex->upgrade_tail;
        emit(c, TAP_RESPONSE, ex);
        hold_upgrade(c, ex);
        return;
    }
    emit(c, phase, ex);
}

static void on_body(void *arg, unsigned long long id, bool request, const char *data,
                    size_t len)
{
    conn *c = arg;
    if (c->env->out && flowout_wants_bodies(c->env->out))
        flowout_body(c->env->out, id, request, data, len);
}

static const tap_callbacks tap_cbs = {on_event, on_body};

void conn_tap_start(conn *c, const char *scheme, const char *alpn)
{
    if (c->tap.tap.ops)
        return;
    c->tap.scheme = scheme;
    /* The one place a tap is chosen: by the protocol the client's leg
     * negotiated, which ALPN mirroring made the upstream's too. */
    bool h2 = alpn && strcmp(alpn, "h2") == 0;
    /* Heads carry the fields the outputs read, no more (outputs are set
     * before any traffic: the UI's observer is added at start-up). */
    flowout *out = c->env->out;
    tap_fields fields = !out || !flowout_wants_records(out) ? TAP_FIELDS_NONE
                        : flowout_wants_fields(out)         ? TAP_FIELDS_ALL
                                                            : TAP_FIELDS_CONTENT_TYPE;
    tap_limits limits = {c->env->max_head_bytes,
                         h2 ? H2_FLOW_MAX_STREAMS : HTTP_FLOW_MAX_PENDING, fields};
    tap t = h2 ? h2_flow_tap_new(&limits, c->env->next_exchange_id, &tap_cbs, c)
               : http_flow_tap_new(&limits, c->env->next_exchange_id, &tap_cbs, c);
    if (t.impl)
        c->tap.tap = t;
}

static void free_tap(conn *c)
{
    if (c->tap.tap.ops)
        c->tap.tap.ops->free(c->tap.tap.impl);
    c->tap.tap = (tap){0};
}

static void count_websocket(conn *c, bool from_client, const char *data, size_t len)
{
    wsframes_feed(from_client ? &c->tap.ws_up : &c->tap.ws_down,
                  (const unsigned char *)data, len);
}

void conn_tap_bytes(conn *c, bool from_client, const char *data, size_t len)
{
    if (len == 0)
        return;
    if (!c->tap.tap.ops) {
        if (c->tap.websocket_open)
            count_websocket(c, from_client, data, len);
        return;
    }
    tap *t = &c->tap.tap;
    if (from_client)
        t->ops->client_data(t->impl, data, len);
    else
        t->ops->server_data(t->impl, data, len);
    const char *why = NULL;
    if (!t->ops->stopped(t->impl, &why))
        return;
    /* It reported what it held when it stopped. */
    if (!c->tap.websocket_open)
        log_info("%s %s: HTTP inspection stopped (%s); relaying bytes as they are",
                 c->client_name, c->target_name, why);
    free_tap(c);
    /* The frames that came in the same piece as the 101. */
    if (c->tap.websocket_open && c->tap.ws_tail > 0 && c->tap.ws_tail <= len) {
        count_websocket(c, from_client, data + len - c->tap.ws_tail, c->tap.ws_tail);
        c->tap.ws_tail = 0;
    }
}

void conn_tap_buffer(conn *c, bool from_client, struct evbuffer *data)
{
    if (!c->tap.tap.ops && !c->tap.websocket_open)
        return;
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(data, &pos, 0, EVBUFFER_PTR_SET);
    struct evbuffer_iovec v;
    size_t seen = 0;
    while (evbuffer_peek(data, -1, &pos, &v, 1) == 1 && v.iov_len > 0) {
        conn_tap_bytes(c, from_client, v.iov_base, v.iov_len);
        seen += v.iov_len;
        if (evbuffer_ptr_set(data, &pos, seen, EVBUFFER_PTR_SET) != 0)
            break;
    }
}

void conn_tap_end(conn *c, bool from_client)
{
    tap *t = &c->tap.tap;
    if (!t->ops)
        return;
    if (from_client)
        t->ops->client_data(t->impl, "", 0);
    else
        t->ops->server_data(t->impl, "", 0);
    if (t->ops->stopped(t->impl, NULL))
        free_tap(c);
}

void conn_tap_new_upstream(conn *c)
{
    tap *t = &c->tap.tap;
    if (!t->ops)
        return;
    t->ops->abort(t->impl, "the server closed its connection");
    free_tap(c);
}

void conn_tap_abort(conn *c, const char *reason)
{
    tap *t = &c->tap.tap;
    if (t->ops) {
        t->ops->abort(t->impl, reason);
        free_tap(c);
    }
    release_upgrade(c);
}

void conn_tap_passthrough(conn *c)
{
    if (!c->env->out || !c->client)
        return;
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    flow_record r = {
        .id = atomic_fetch_add(c->env->next_exchange_id, 1),
        .conn_id = c->id,
        .phase = FLOW_DONE,
        .start = c->started,
        .request_end = now,
        .response_start = now,
        .end = now,
        .client = c->client_name,
        .upstream = c->upstream_peer,
        .url = c->target_name, /* what a CONNECT names: host:port */
        .method = "CONNECT",
        .http_major = 1,
        .http_minor = 1,
        .status = 200,
        .request_bytes = pump_bytes_in(c->client) - c->tunnel_base_in,
        .response_bytes = pump_bytes_out(c->client) - c->tunnel_base_out,
        .passthrough = true,
        .passthrough_reason = c->passthrough_reason,
    };
    flowout_exchange(c->env->out, &r);
}

bool conn_tap_awaiting_response(const conn *c)
{
    return c->tap.tap.ops && c->tap.awaiting > 0;
}

void conn_tap_answer(conn *c, int status, const char *reason)
{
    /* An exchange the tap holds is the one answered: the tap reports it
     * when conn_close aborts it, with the close reason as its error. */
    if (conn_tap_awaiting_response(c)) {
        c->tap.proxy_status = status;
        return;
    }
    if (!c->env->out)
        return;
    /* Else the request is the head just read. A tunnel's CONNECT head is
     * gone once the tunnel starts: its record needs no more than the
     * method and the target. No head at all (garbage, a head too large, a
     * client turned away at accept): method and URL stay empty, and the
     * record says the request was not parsed rather than inventing one. */
    const http_head *head = c->requests ? http_msg_head(c->requests) : NULL;
    http_head none = {.method = "", .target = "", .version_major = 1,
                      .version_minor = 1, .content_length = -1};
    http_head connect = {.method = "CONNECT", .target = c->target_name,
                         .version_major = 1, .version_minor = 1,
                         .content_length = -1};
    if (!head)
        head = !c->requests && c->target_name[0] ? &connect : &none;
    c->tap.scheme = c->tls.client_leg ? "https" : "http";
    tap_exchange ex = {
        .id = atomic_fetch_add(c->env->next_exchange_id, 1),
        .http_major = head->version_major,
        .http_minor = head->version_minor,
        .request = head,
        .error = reason,
    };
    evutil_gettimeofday(&ex.start, NULL);
    ex.request_end = ex.end = ex.start;
    c->tap.proxy_status = status;
    emit(c, TAP_REQUEST, &ex);
    emit(c, TAP_DONE, &ex);
}
