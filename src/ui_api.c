/* ui_api — the web UI's JSON API under /api (the page uses nothing
 * else):
 *   GET    /api/flows?since=ID&filter=EXPR&limit=N   {"flows": [...]}
 *   DELETE /api/flows                                  clear
 *   GET    /api/flows/ID                               one flow
 *   GET    /api/flows/ID/request/body, /response/body  the bytes as kept
 *   GET    /api/flows/ID/curl                          a curl command line
 *   POST   /api/flows/ID/replay                        {"id": NEW}
 *   GET    /api/har?filter=EXPR                        a HAR 1.2 document
 * Flows are --flows records (flowjson) plus id, phase, replay_of and the
 * details the page shows. */
#include "ui_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "flowfilter.h"
#include "flowjson.h"
#include "harentry.h"
#include "version.h"

static const char *const phase_names[] = {"request", "response", "done", "error"};

static json_t *header_pairs(const http_header *h, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_pack("[o, o]", flowjson_str(h[i].name),
                                             flowjson_str(h[i].value)));
    return arr;
}

static const char *find_header(const http_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

static double ms_or_null_base(const struct timeval *start, const struct timeval *t)
{
    if (!t->tv_sec && !t->tv_usec)
        return -1;
    return flowjson_ms_between(start, t);
}

json_t *ui_flow_json(const flowstore_view *v)
{
    const flow_record *r = v->r;
    json_t *o = flowjson_record(r);
    if (!o)
        return NULL;
    const char *ctype = find_header(r->response_headers, r->n_response_headers,
                                    "Content-Type");
    json_object_set_new(o, "phase", json_string(phase_names[r->phase]));
    /* flowjson shows TLS only with a client leg; a replay has only the
     * upstream one. */
    const flow_tls *up = r->upstream_tls;
    if (!r->client_tls && up)
        json_object_set_new(o, "tls", json_pack("{s:n, s:{s:o, s:o, s:o, s:o}}", "client",
                                                "upstream", "version",
                                                flowjson_str(up->version), "cipher",
                                                flowjson_str(up->cipher), "sni",
                                                flowjson_str(up->sni), "alpn",
                                                flowjson_str(up->alpn)));
    json_object_set_new(o, "replay_of",
                        r->replay_of ? json_integer((json_int_t)r->replay_of) : json_null());
    json_object_set_new(o, "content_type", flowjson_str(ctype));
    json_object_set_new(o, "client_protocol", flowjson_str(r->client_protocol));
    json_object_set_new(o, "upstream_protocol", flowjson_str(r->upstream_protocol));
    json_object_set_new(o, "request_trailers",
                        header_pairs(r->request_trailers, r->n_request_trailers));
    json_object_set_new(o, "response_trailers",
                        header_pairs(r->response_trailers, r->n_response_trailers));
    json_object_set_new(o, "ws_messages_up", json_integer((json_int_t)r->ws_messages_up));
    json_object_set_new(o, "ws_messages_down",
                        json_integer((json_int_t)r->ws_messages_down));
    json_object_set_new(o, "answered_by_proxy", json_boolean(r->answered_by_proxy));
    json_object_set_new(o, "request_unparsed", json_boolean(r->request_unparsed));
    json_object_set_new(o, "passthrough", json_boolean(r->passthrough));
    /* Timing relative to start, in ms; -1 when not reached yet. */
    json_object_set_new(o, "timing",
                        json_pack("{s:f, s:f, s:f}",
                                  "request_end", ms_or_null_base(&r->start, &r->request_end),
                                  "response_start",
                                  ms_or_null_base(&r->start, &r->response_start),
                                  "end", ms_or_null_base(&r->start, &r->end)));
    for (int i = 0; i < 2; i++)
        json_object_set_new(o, i == 0 ? "request_body_kept" : "response_body_kept",
                            json_pack("{s:I, s:b}", "bytes", (json_int_t)v->body_len[i],
                                      "truncated", v->body_seen[i] > v->body_len[i]));
    return o;
}

/* The host of an absolute URL, without port or brackets. */
static void url_host(const char *url, char *out, size_t size)
{
    out[0] = '\0';
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p)
        return;
    p += 3;
    size_t n;
    if (*p == '[') {
        p++;
        n = strcspn(p, "]");
    } else {
        n = strcspn(p, ":/?#");
    }
    snprintf(out, size, "%.*s", (int)n, p);
}

static bool matches(const flowfilter *f, const flowstore_view *v)
{
    if (!f)
        return true;
    const flow_record *r = v->r;
    char host[256];
    url_host(r->url, host, sizeof host);
    flowfilter_flow ff = {
        .method = r->method, .url = r->url, .host = host, .status = r->status,
        .request_headers = r->request_headers, .n_request_headers = r->n_request_headers,
        .response_headers = r->response_headers,
        .n_response_headers = r->n_response_headers,
        .request_body = v->body[0], .request_body_len = v->body_len[0],
        .response_body = v->body[1], .response_body_len = v->body_len[1],
        .error = r->error, .http2 = r->http_major == 2, .websocket = r->websocket,
    };
    return flowfilter_match(f, &ff);
}

/* The filter= parameter parsed; false (answered 400) when it is bad. */
static bool parse_filter(struct evhttp_request *req, struct evkeyvalq *params,
                         flowfilter **out)
{
    *out = NULL;
    const char *text = evhttp_find_header(params, "filter");
    if (!text || !*text)
        return true;
    char err[FLOWFILTER_ERROR_MAX], msg[FLOWFILTER_ERROR_MAX + 32];
    *out = flowfilter_parse(text, err, sizeof err);
    if (!*out) {
        snprintf(msg, sizeof msg, "bad filter: %s", err);
        ui_send_error(req, 400, msg);
        return false;
    }
    return true;
}

static unsigned long long number_param(struct evkeyvalq *params, const char *name,
                                       unsigned long long dflt)
{
    const char *t = evhttp_find_header(params, name);
    if (!t || !*t)
        return dflt;
    char *end;
    unsigned long long v = strtoull(t, &end, 10);
    return *end ? dflt : v;
}

static void list_flows(ui *u, struct evhttp_request *req, struct evkeyvalq *params)
{
    flowfilter *f;
    if (!parse_filter(req, params, &f))
        return;
    unsigned long long since = number_param(params, "since", 0);
    unsigned long long limit = number_param(params, "limit", UI_MAX_LIST);
    flowstore_view *views;
    long n = flowstore_list(u->o.store, since, limit > UI_MAX_LIST ? UI_MAX_LIST : limit,
                            &views);
    json_t *flows = json_array();
    for (long i = 0; flows && i < n; i++)
        if (matches(f, &views[i]))
            json_array_append_new(flows, ui_flow_json(&views[i]));
    flowstore_release(views, n > 0 ? (size_t)n : 0, true);
    flowfilter_free(f);
    ui_send_json(req, 200, json_pack("{s:o, s:I}", "flows", flows, "last_id",
                                     (json_int_t)flowstore_last_id(u->o.store)));
}

static void add_har_body(json_t *entry, const flowstore_view *v, int which)
{
    /* Text bodies kept whole go into the HAR; others only by size. */
    if (!v->body[which] || v->body_seen[which] > v->body_len[which])
        return;
    json_t *text = json_stringn(v->body[which], v->body_len[which]);
    if (!text || memchr(v->body[which], '\0', v->body_len[which])) {
        json_decref(text);
        return;
    }
    if (which == 1) {
        json_object_set_new(json_object_get(json_object_get(entry, "response"), "content"),
                            "text", text);
    } else {
        const char *ct = find_header(v->r->request_headers, v->r->n_request_headers,
                                     "Content-Type");
        json_object_set_new(json_object_get(entry, "request"), "postData",
                            json_pack("{s:s, s:o}", "mimeType", ct ? ct : "", "text", text));
    }
}

static void export_har(ui *u, struct evhttp_request *req, struct evkeyvalq *params)
{
    flowfilter *f;
    if (!parse_filter(req, params, &f))
        return;
    flowstore_view *views;
    long n = flowstore_list(u->o.store, 0, UI_MAX_LIST, &views);
    json_t *entries = json_array();
    for (long i = 0; entries && i < n; i++) {
        if (!matches(f, &views[i]))
            continue;
        json_t *e = har_entry(views[i].r);
        if (!e)
            continue;
        add_har_body(e, &views[i], 0);
        add_har_body(e, &views[i], 1);
        json_array_append_new(entries, e);
    }
    flowstore_release(views, n > 0 ? (size_t)n : 0, true);
    flowfilter_free(f);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Disposition",
                      "attachment; filename=\"tlspeek.har\"");
    ui_send_json(req, 200, json_pack("{s:{s:s, s:{s:s, s:s}, s:o}}", "log", "version",
                                     "1.2", "creator", "name", "tlspeek", "version",
                                     TLSPEEK_VERSION, "entries", entries));
}

static void send_body(struct evhttp_request *req, const flowstore_view *v, int which)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char seen[32];
    snprintf(seen, sizeof seen, "%llu", v->body_seen[which]);
    /* Never the flow's own type: captured HTML must not run on the UI's
     * origin. The page reads the type from the flow's headers. */
    evhttp_add_header(h, "Content-Type", "application/octet-stream");
    evhttp_add_header(h, "Content-Security-Policy", "sandbox");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Body-Seen", seen);
    evhttp_add_header(h, "X-Body-Truncated",
                      v->body_seen[which] > v->body_len[which] ? "true" : "false");
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (v->body_len[which])
        evbuffer_add(out, v->body[which], v->body_len[which]);
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

/* s as one shell word: '...' when printable, else $'...' with escapes. */
static void shell_quote(struct evbuffer *b, const char *s, size_t len)
{
    bool plain = true;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            plain = false;
    if (plain) {
        evbuffer_add(b, "'", 1);
        for (size_t i = 0; i < len; i++) {
            if (s[i] == '\'')
                evbuffer_add(b, "'\\''", 4);
            else
                evbuffer_add(b, &s[i], 1);
        }
        evbuffer_add(b, "'", 1);
        return;
    }
    evbuffer_add(b, "$'", 2);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\'' || c == '\\')
            evbuffer_add_printf(b, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            evbuffer_add_printf(b, "\\x%02x", c);
        else
            evbuffer_add(b, &s[i], 1);
    }
    evbuffer_add(b, "'", 1);
}

/* Headers curl makes itself from the command line, or that belong to one
 * connection only. */
static bool curl_skips(const char *name)
{
    static const char *const skip[] = {"Host", "Content-Length", "Connection",
                                       "Keep-Alive", "Proxy-Connection", "Transfer-Encoding",
                                       "TE", "Upgrade", "Proxy-Authorization"};
    if (name[0] == ':')
        return true; /* HTTP/2 pseudo-headers */
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcasecmp(name, skip[i]) == 0)
            return true;
    return false;
}

static void send_curl(struct evhttp_request *req, const flowstore_view *v)
{
    const flow_record *r = v->r;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add_printf(b, "curl");
    if (r->http_major == 2)
        evbuffer_add_printf(b, " --http2");
    if (strcmp(r->method ? r->method : "GET", "GET") != 0 || v->body_len[0]) {
        evbuffer_add_printf(b, " -X ");
        shell_quote(b, r->method, strlen(r->method));
    }
    evbuffer_add_printf(b, " ");
    shell_quote(b, r->url, strlen(r->url));
    for (size_t i = 0; i < r->n_request_headers; i++) {
        const http_header *h = &r->request_headers[i];
        if (curl_skips(h->name))
            continue;
        char line[8192];
        int n = snprintf(line, sizeof line, "%s: %s", h->name, h->value);
        evbuffer_add_printf(b, " \\\n  -H ");
        shell_quote(b, line, n < (int)sizeof line ? (size_t)n : sizeof line - 1);
    }
    if (v->body_len[0]) {
        evbuffer_add_printf(b, " \\\n  --data-binary ");
        shell_quote(b, v->body[0], v->body_len[0]);
    }
    evbuffer_add_printf(b, "\n");
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void flow_route(ui *u, struct evhttp_request *req, unsigned long long id,
                       const char *rest)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    flowstore_view v;
    if (flowstore_get(u->o.store, id, &v) != 0) {
        ui_send_error(req, 404, "no such flow (it may have been dropped: the UI keeps "
                      "the newest --ui-keep flows)");
        return;
    }
    bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
    if (!*rest && get) {
        ui_send_json(req, 200, ui_flow_json(&v));
    } else if (strcmp(rest, "/request/body") == 0 && get) {
        send_body(req, &v, 0);
    } else if (strcmp(rest, "/response/body") == 0 && get) {
        send_body(req, &v, 1);
    } else if (strcmp(rest, "/curl") == 0 && get) {
        send_curl(req, &v);
    } else if (strcmp(rest, "/replay") == 0 && cmd == EVHTTP_REQ_POST) {
        const char *why = "cannot replay";
        unsigned long long nid = ui_replay_start(u, &v, &why);
        if (nid)
            ui_send_json(req, 200, json_pack("{s:I}", "id", (json_int_t)nid));
        else
            ui_send_error(req, 409, why);
    } else {
        ui_send_error(req, 404, "no such API call");
    }
    flowstore_release(&v, 1, false);
}

void ui_api_handle(ui *u, struct evhttp_request *req, const char *path,
                   const char *query)
{
    struct evkeyvalq params = {0}; /* evhttp_parse_query_str initialises it */
    if (query && evhttp_parse_query_str(query, &params) != 0) {
        ui_send_error(req, 400, "malformed query string");
        evhttp_clear_headers(&params);
        return;
    }
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (strcmp(path, "/api/flows") == 0) {
        if (cmd == EVHTTP_REQ_DELETE) {
            flowstore_clear(u->o.store);
            ui_send_json(req, 200, json_pack("{s:b}", "cleared", 1));
        } else if (cmd == EVHTTP_REQ_GET) {
            list_flows(u, req, &params);
        } else {
            ui_send_error(req, 405, "GET or DELETE");
        }
    } else if (strcmp(path, "/api/har") == 0 && cmd == EVHTTP_REQ_GET) {
        export_har(u, req, &params);
    } else if (strncmp(path, "/api/flows/", 11) == 0 && path[11] >= '1' &&
               path[11] <= '9') {
        char *rest;
        unsigned long long id = strtoull(path + 11, &rest, 10);
        flow_route(u, req, id, rest);
    } else {
        ui_send_error(req, 404, "no such API call");
    }
    evhttp_clear_headers(&params);
}
