/* ui — the web UI's listener, loop and thread: access checks, the
 * embedded page, and the event streams. The API is in ui_api.c, replays
 * in ui_replay.c. See include/ui.h. */
#include "ui_priv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "ui_assets.h"
#include "ui_auth.h"

/* One client of /api/events. */
struct ui_stream {
    ui *ui;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    flowstore_sub *sub;
    ui_stream *next;
};

static const char *const phase_names[] = {"request", "response", "done", "error"};

void ui_send_json(struct evhttp_request *req, int status, json_t *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *out = evbuffer_new();
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(body);
    if (!out || !text) {
        evhttp_send_error(req, 500, "out of memory");
    } else {
        evbuffer_add(out, text, strlen(text));
        evhttp_send_reply(req, status, NULL, out);
    }
    free(text);
    if (out)
        evbuffer_free(out);
}

void ui_send_error(struct evhttp_request *req, int status, const char *message)
{
    ui_send_json(req, status, json_pack("{s:s}", "error", message));
}

/* Headers every answer gets: the token travels in URLs, so no referrer;
 * the UI is never framed; types are never sniffed. */
static void add_common_headers(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
}

static void serve_asset(ui *u, struct evhttp_request *req, const ui_asset *a,
                        bool set_cookie)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", a->content_type);
    /* Revalidate each time: a new binary serves new files at once. */
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "ETag", a->etag);
    if (strcmp(a->path, "/") == 0) {
        evhttp_add_header(h, "Content-Security-Policy",
                          "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' blob: data:; connect-src 'self'; "
                          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    }
    if (set_cookie) {
        char name[32], cookie[256];
        ui_auth_cookie_name(u->port, name, sizeof name);
        snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict", name,
                 u->token);
        evhttp_add_header(h, "Set-Cookie", cookie);
    }
    const char *match = evhttp_find_header(evhttp_request_get_input_headers(req),
                                           "If-None-Match");
    if (match && strcmp(match, a->etag) == 0 && !set_cookie) {
        evhttp_send_reply(req, 304, "Not Modified", NULL);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add_reference(out, a->data, a->len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void stream_free(ui_stream *s)
{
    ui *u = s->ui;
    for (ui_stream **p = &u->streams; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    flowstore_unsubscribe(s->sub);
    free(s);
}

/* libevent closes the connection. When the client went away mid-stream,
 * libevent has already detached the unfinished request from it and left
 * it to us: ending the reply of a detached request frees it. */
static void on_stream_closed(struct evhttp_connection *evcon, void *arg)
{
    ui_stream *s = arg;
    struct evhttp_request *req = s->req;
    stream_free(s);
    if (!evhttp_request_get_connection(req))
        evhttp_send_reply_end(req);
}

/* Drop a stream that lagged or stopped reading: its queued bytes go
 * with its connection, so memory stays bounded. */
static void stream_drop(ui_stream *s, const char *why)
{
    struct evhttp_connection *evcon = s->evcon;
    log_debug("web UI: event stream dropped (%s)", why);
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    stream_free(s);
    evhttp_connection_free(evcon);
}

static size_t stream_pending(const ui_stream *s)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* Send what the store has for s. Returns whether events were sent (then
 * s is not armed: the caller looks again later); false too when s was
 * dropped. */
static bool stream_pump(ui_stream *s)
{
    flowstore_event ev[256];
    bool lagged = false;
    size_t n;
    struct evbuffer *chunk = evbuffer_new();
    if (!chunk)
        return true; /* the next look tries again */
    while ((n = flowstore_poll(s->sub, ev, sizeof ev / sizeof ev[0], &lagged)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (ev[i].cleared)
                evbuffer_add_printf(chunk, "event: clear\ndata: {}\n\n");
            else
                evbuffer_add_printf(chunk,
                                    "event: flow\ndata: {\"id\":%llu,\"phase\":\"%s\"}\n\n",
                                    ev[i].id, phase_names[ev[i].phase]);
        }
        /* A short batch means the store is drained for now: stop before
         * the poll that would arm the stream, and look again later. */
        if (n < sizeof ev / sizeof ev[0] ||
            evbuffer_get_length(chunk) + stream_pending(s) > UI_STREAM_MAX_PENDING)
            break;
    }
    bool full = evbuffer_get_length(chunk) + stream_pending(s) > UI_STREAM_MAX_PENDING;
    bool sent = evbuffer_get_length(chunk) > 0;
    if (!lagged && !full && sent)
        evhttp_send_reply_chunk(s->req, chunk);
    evbuffer_free(chunk);
    if (lagged || full) {
        stream_drop(s, lagged ? "it fell behind" : "the client is not reading");
        return false;
    }
    return sent;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    ui *u = arg;
    ui_stream *next;
    bool again = false;
    for (ui_stream *s = u->streams; s; s = next) {
        next = s->next;
        again |= stream_pump(s);
    }
    if (again && !evtimer_pending(u->coalesce_ev, NULL)) {
        struct timeval later = {0, UI_COALESCE_MS * 1000};
        evtimer_add(u->coalesce_ev, &later);
    }
}

/* Runs on a worker thread with the store locked: only wake the UI. */
static void on_store_change(void *arg)
{
    ui_stream *s = arg;
    event_active(s->ui->wake_ev, EV_READ, 1);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    ui *u = arg;
    ui_stream *next;
    for (ui_stream *s = u->streams; s; s = next) {
        next = s->next;
        if (stream_pending(s) > UI_STREAM_MAX_PENDING) {
            stream_drop(s, "the client is not reading");
            continue;
        }
        struct evbuffer *chunk = evbuffer_new();
        if (chunk) {
            evbuffer_add_printf(chunk, ": still here\n\n");
            evhttp_send_reply_chunk(s->req, chunk);
            evbuffer_free(chunk);
        }
    }
}

static void start_stream(ui *u, struct evhttp_request *req)
{
    ui_stream *s = calloc(1, sizeof *s);
    if (!s) {
        ui_send_error(req, 503, "out of memory");
        return;
    }
    s->ui = u;
    s->req = req;
    s->evcon = evhttp_request_get_connection(req);
    s->sub = flowstore_subscribe(u->o.store, on_store_change, s);
    if (!s->sub) {
        free(s);
        ui_send_error(req, 503, "too many event streams are open");
        return;
    }
    s->next = u->streams;
    u->streams = s;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    evhttp_connection_set_closecb(s->evcon, on_stream_closed, s);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
    int sndbuf = UI_STREAM_SNDBUF;
    if (bev)
        setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    evhttp_send_reply_start(req, 200, "OK");
    /* A first line at once, so that the client knows it is connected. */
    struct evbuffer *chunk = evbuffer_new();
    if (chunk) {
        evbuffer_add_printf(chunk, "retry: 1000\nevent: hello\ndata: {\"last_id\":%llu}\n\n",
                            flowstore_last_id(u->o.store));
        evhttp_send_reply_chunk(req, chunk);
        evbuffer_free(chunk);
    }
}

static const char *header(struct evhttp_request *req, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    ui *u = arg;
    add_common_headers(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq params = {0}; /* evhttp_parse_query_str initialises it */
    if (query)
        evhttp_parse_query_str(query, &params);
    ui_auth_config ac = {u->o.listen.host, u->port, u->token};
    ui_auth_request ar = {
        .host = header(req, "Host"),
        .origin = header(req, "Origin"),
        .fetch_site = header(req, "Sec-Fetch-Site"),
        .authorization = header(req, "Authorization"),
        .cookie = header(req, "Cookie"),
        .query_token = evhttp_find_header(&params, "token"),
    };
    const char *why = NULL;
    ui_auth_result verdict = ui_auth_check(&ac, &ar, &why);
    if (verdict != UI_AUTH_OK) {
        ui_send_error(req, verdict == UI_AUTH_NO_TOKEN ? 401 : 403, why);
        goto out;
    }
    if (!path || !*path)
        path = "/";
    if (strcmp(path, "/api/events") == 0) {
        if (evhttp_request_get_command(req) != EVHTTP_REQ_GET)
            ui_send_error(req, 405, "the event stream is read with GET");
        else
            start_stream(u, req);
        goto out;
    }
    if (strncmp(path, "/api/", 5) == 0) {
        ui_api_handle(u, req, path, query);
        goto out;
    }
    for (const ui_asset *a = ui_assets; a->path; a++) {
        if (strcmp(a->path, path) == 0) {
            /* The page's own load sets the cookie that later requests use. */
            serve_asset(u, req, a, strcmp(path, "/") == 0 && ar.query_token);
            goto out;
        }
    }
    ui_send_error(req, 404, "no such page");
out:
    evhttp_clear_headers(&params);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    ui *u = arg;
    event_base_loopbreak(u->base);
}

static void *ui_thread(void *arg)
{
    ui *u = arg;
    event_base_dispatch(u->base);
    return NULL;
}

/* 128 random bits as hex. */
static int random_token(char *out, size_t size)
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw || size < 33)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static struct evdns_base *make_resolver(ui *u)
{
    struct evdns_base *dns = evdns_base_new(u->base, u->o.n_dns ? 0 :
                                            EVDNS_BASE_INITIALIZE_NAMESERVERS);
    for (int i = 0; dns && i < u->o.n_dns; i++)
        evdns_base_nameserver_ip_add(dns, u->o.dns[i]);
    return dns;
}

ui *ui_new(const ui_options *o)
{
    ui *u = calloc(1, sizeof *u);
    if (!u) {
        log_error("out of memory");
        return NULL;
    }
    u->o = *o;
    if (o->token)
        snprintf(u->token, sizeof u->token, "%s", o->token);
    else if (random_token(u->token, sizeof u->token) != 0) {
        log_error("cannot make a random token for the web UI; give one with --ui-token");
        goto fail;
    }
    u->base = event_base_new();
    u->http = u->base ? evhttp_new(u->base) : NULL;
    u->dns = u->base ? make_resolver(u) : NULL;
    u->wake_ev = u->base ? event_new(u->base, -1, 0, on_wake, u) : NULL;
    u->stop_ev = u->base ? event_new(u->base, -1, 0, on_stop, u) : NULL;
    u->heartbeat_ev = u->base ? event_new(u->base, -1, EV_PERSIST, on_heartbeat, u) : NULL;
    u->coalesce_ev = u->base ? evtimer_new(u->base, on_wake, u) : NULL;
    struct timeval beat = {UI_HEARTBEAT_SECONDS, 0};
    if (!u->http || !u->dns || !u->wake_ev || !u->stop_ev || !u->heartbeat_ev ||
        !u->coalesce_ev ||
        event_add(u->heartbeat_ev, &beat) != 0) {
        log_error("cannot set up the web UI's event loop");
        goto fail;
    }
    evhttp_set_allowed_methods(u->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
    evhttp_set_max_body_size(u->http, UI_MAX_BODY);
    evhttp_set_timeout(u->http, 60);
    evhttp_set_gencb(u->http, on_request, u);
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(u->http, o->listen.host, o->listen.port);
    if (!bound) {
        char where[AUTHORITY_HOST_MAX + 10];
        authority_format(&o->listen, where, sizeof where);
        log_error("cannot listen on %s for the web UI (--ui): address in use or "
                  "not on this machine", where);
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(bound);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        u->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    authority shown = o->listen;
    shown.port = u->port;
    authority_format(&shown, u->address, sizeof u->address);
    return u;
fail:
    ui_free(u);
    return NULL;
}

int ui_start(ui *u)
{
    if (pthread_create(&u->thread, NULL, ui_thread, u) != 0) {
        log_error("cannot start the web UI's thread");
        return -1;
    }
    u->started = true;
    log_notice("web UI: http://%s/?token=%s", u->address, u->token);
    if (strcmp(u->o.listen.host, "127.0.0.1") != 0 && strcmp(u->o.listen.host, "::1") != 0 &&
        strcmp(u->o.listen.host, "localhost") != 0)
        log_warn("the web UI listens on %s, beyond this machine: anyone with the "
                 "token sees the decrypted traffic", u->address);
    return 0;
}

void ui_free(ui *u)
{
    if (!u)
        return;
    if (u->started) {
        event_active(u->stop_ev, EV_READ, 1);
        pthread_join(u->thread, NULL);
    }
    while (u->streams)
        stream_drop(u->streams, "shutting down");
    if (u->base)
        ui_replay_abort_all(u);
    if (u->http)
        evhttp_free(u->http);
    if (u->dns)
        evdns_base_free(u->dns, 1);
    if (u->wake_ev)
        event_free(u->wake_ev);
    if (u->stop_ev)
        event_free(u->stop_ev);
    if (u->heartbeat_ev)
        event_free(u->heartbeat_ev);
    if (u->coalesce_ev)
        event_free(u->coalesce_ev);
    if (u->base)
        event_base_free(u->base);
    free(u);
}
