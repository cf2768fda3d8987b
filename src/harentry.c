/* harentry — one HAR 1.2 entry from a flow_record, as compact JSON text.
 * Built as a jansson tree and serialized at once: the tree is about six
 * times the text (measured: 29 KiB per entry with 35 headers as objects,
 * 4.6 KiB as text), and entries wait in queues and rings as text. See
 * include/harentry.h. */
#include "harentry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "flowjson.h"

/* json_pack() steals every "o" argument even when it fails (jansson
 * >= 2.11), and fails on a NULL one: builders below hand it the results
 * of other builders directly, and a NULL anywhere (allocation failure)
 * comes out as NULL at the top with nothing leaked. "o*" leaves a key out
 * when its value is NULL on purpose. */

static long long usec_of(const struct timeval *tv)
{
    return (long long)tv->tv_sec * 1000000LL + (long long)tv->tv_usec;
}

static long long clamp_ll(long long v, long long lo, long long hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static const char *header_get(const http_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].name && strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

/* A string field that HAR requires even when the record has nothing. */
static json_t *str_or_empty(const char *s)
{
    return flowjson_str(s ? s : "");
}

static json_t *name_value(json_t *name, json_t *value)
{
    return json_pack("{s:o, s:o}", "name", name, "value", value);
}

/* [{"name", "value"}, ...] in wire order. */
static json_t *header_list(const http_header *h, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        if (json_array_append_new(arr, name_value(str_or_empty(h[i].name),
                                                  str_or_empty(h[i].value))) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* Trailers as a header list, or NULL (the key left out) when there are
 * none: HAR 1.2 has no place for them, so they go in a custom field. */
static json_t *trailer_list(const http_header *h, size_t n, bool *failed)
{
    if (n == 0)
        return NULL;
    json_t *list = header_list(h, n);
    if (!list)
        *failed = true;
    return list;
}

/* The host of "host:port", "[v6]:port", "host" or a bare IPv6 address. */
static json_t *upstream_host(const char *up)
{
    size_t len = strlen(up);
    if (up[0] == '[') {
        const char *close = strchr(up, ']');
        return close ? flowjson_text(up + 1, (size_t)(close - up - 1))
                     : flowjson_text(up, len);
    }
    const char *colon = strchr(up, ':');
    if (colon && !strchr(colon + 1, ':'))
        len = (size_t)(colon - up);
    return flowjson_text(up, len);
}

/* Does this Content-Type name something worth showing as text? */
static bool is_textual(const char *ctype)
{
    static const char *const exact[] = {
        "application/json", "application/xml", "application/javascript",
        "application/x-javascript", "application/ecmascript",
        "application/x-www-form-urlencoded", "application/graphql",
    };
    char media[128];
    size_t n = strcspn(ctype, ";");
    while (n > 0 && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof media)
        return false;
    memcpy(media, ctype, n);
    media[n] = '\0';
    if (strncasecmp(media, "text/", 5) == 0)
        return true;
    if (n > 5 && (strcasecmp(media + n - 5, "+json") == 0 ||
                  strcasecmp(media + n - 4, "+xml") == 0))
        return true;
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcasecmp(media, exact[i]) == 0)
            return true;
    return false;
}

/* May this body be inlined as text later (har_add_item)? Only a whole
 * body (not truncated), of a textual Content-Type, stored as sent: a
 * compressed body is not text until decoded. */
static bool may_inline(const char *file, bool truncated, const http_header *hdrs,
                       size_t n)
{
    const char *ctype = header_get(hdrs, n, "Content-Type");
    const char *cenc = header_get(hdrs, n, "Content-Encoding");
    return file && !truncated && ctype && is_textual(ctype) &&
           (!cenc || strcasecmp(cenc, "identity") == 0) &&
           strlen(file) < BODIES_NAME_MAX;
}

static json_t *build_request(const flow_record *r, const char *version)
{
    const http_header *hd = r->request_headers;
    size_t n = r->n_request_headers;
    const char *file = r->request_body_file;
    bool failed = false;
    json_t *trailers = trailer_list(r->request_trailers, r->n_request_trailers, &failed);
    json_t *o = json_pack(
        "{s:o, s:o, s:s, s:[], s:o, s:o, s:i, s:I, s:o*, s:o*, s:o*, s:o*}",
        "method", str_or_empty(r->method), "url", str_or_empty(r->url),
        "httpVersion", version, "cookies", "headers", header_list(hd, n),
        "queryString", flowjson_query(r->url), "headersSize", -1,
        "bodySize", (json_int_t)r->request_bytes, "postData", NULL,
        "_bodyFile", file ? flowjson_str(file) : NULL,
        "_bodyTruncated", file ? json_boolean(r->request_body_truncated) : NULL,
        "_trailers", trailers);
    if (failed) { /* a NULL meant "leave out", not "out of memory" */
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *build_response(const flow_record *r, const char *version)
{
    const http_header *hd = r->response_headers;
    size_t n = r->n_response_headers;
    const char *file = r->response_body_file;
    json_t *content = json_pack(
        "{s:I, s:o, s:o*, s:o*, s:o*}", "size", (json_int_t)r->response_bytes,
        "mimeType", str_or_empty(header_get(hd, n, "Content-Type")),
        "text", NULL,
        "_file", file ? flowjson_str(file) : NULL,
        "_truncated", file ? json_boolean(r->response_body_truncated) : NULL);
    bool failed = false;
    json_t *trailers = trailer_list(r->response_trailers, r->n_response_trailers,
                                    &failed);
    /* The record carries the request's version only; with no response
     * head there is no version to show. */
    json_t *o = json_pack(
        "{s:i, s:o, s:s, s:[], s:o, s:o, s:o, s:i, s:I, s:o*}",
        "status", r->status, "statusText", str_or_empty(r->reason),
        "httpVersion", r->status ? version : "", "cookies",
        "headers", header_list(hd, n), "content", content,
        "redirectURL", str_or_empty(header_get(hd, n, "Location")),
        "headersSize", -1, "bodySize", (json_int_t)r->response_bytes,
        "_trailers", trailers);
    if (failed) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *build_timings(const flow_record *r)
{
    /* Make the four instants monotonic: a zero (unknown) instant takes the
     * next known one, and each is clamped between its neighbours (a server
     * may answer before the request body ends), so that send + wait +
     * receive is exactly end - start and none is negative. */
    long long t0 = usec_of(&r->start);
    long long t3 = usec_of(&r->end) ? usec_of(&r->end) : t0;
    t3 = t3 < t0 ? t0 : t3;
    long long t2 = usec_of(&r->response_start) ? usec_of(&r->response_start) : t3;
    t2 = clamp_ll(t2, t0, t3);
    long long t1 = usec_of(&r->request_end) ? usec_of(&r->request_end) : t2;
    t1 = clamp_ll(t1, t0, t2);
    /* blocked, dns, connect and ssl are unknown per exchange: connections
     * are reused and their set-up belongs to the tunnel, not one request. */
    return json_pack("{s:i, s:i, s:i, s:f, s:f, s:f, s:i}", "blocked", -1,
                     "dns", -1, "connect", -1, "send", (double)(t1 - t0) / 1000.0,
                     "wait", (double)(t2 - t1) / 1000.0,
                     "receive", (double)(t3 - t2) / 1000.0, "ssl", -1);
}

/* What tlspeek knows beyond HAR 1.2, as custom fields (a leading '_', as
 * the spec asks), added to e; a field that would say nothing (zero, false,
 * none) is left out. json_object_set_new() refuses a NULL value, so an
 * allocation failure anywhere comes out as -1. */
static int add_custom(json_t *e, const flow_record *r)
{
    int bad = json_object_set_new(e, "_id", json_integer((json_int_t)r->id));
    bad |= json_object_set_new(e, "_connId", json_integer((json_int_t)r->conn_id));
    if (r->stream_id)
        bad |= json_object_set_new(e, "_streamId", json_integer((json_int_t)r->stream_id));
    if (r->replay_of)
        bad |= json_object_set_new(e, "_replayOf", json_integer((json_int_t)r->replay_of));
    if (r->client_protocol)
        bad |= json_object_set_new(e, "_clientProtocol", flowjson_str(r->client_protocol));
    if (r->upstream_protocol)
        bad |= json_object_set_new(e, "_upstreamProtocol",
                                   flowjson_str(r->upstream_protocol));
    if (r->answered_by_proxy)
        bad |= json_object_set_new(e, "_answeredByProxy", json_true());
    if (r->request_unparsed)
        bad |= json_object_set_new(e, "_requestUnparsed", json_true());
    if (r->passthrough) {
        bad |= json_object_set_new(e, "_passthrough", json_true());
        bad |= json_object_set_new(e, "_passthroughReason",
                                   flowjson_str(r->passthrough_reason));
    }
    if (r->websocket) {
        bad |= json_object_set_new(e, "_websocket", json_true());
        bad |= json_object_set_new(
            e, "_websocketMessages",
            json_pack("{s:I, s:I}", "up", (json_int_t)r->ws_messages_up,
                      "down", (json_int_t)r->ws_messages_down));
    }
    if (r->client_tls || r->upstream_tls)
        bad |= json_object_set_new(e, "_tls",
                                   json_pack("{s:o, s:o}",
                                             "client", flowjson_tls(r->client_tls),
                                             "upstream", flowjson_tls(r->upstream_tls)));
    return bad ? -1 : 0;
}

static json_t *build_entry(const flow_record *r)
{
    char started[FLOWJSON_TIME_LEN];
    char version[32];
    flowjson_format_time(&r->start, started);
    flowjson_http_version(r, version, sizeof version);
    long long total = usec_of(&r->end) - usec_of(&r->start);
    json_t *e = json_pack(
        "{s:s, s:f, s:o, s:o, s:{}, s:o, s:o*, s:o*, s:o*}",
        "startedDateTime", started,
        "time", total > 0 ? (double)total / 1000.0 : 0.0,
        "request", build_request(r, version),
        "response", build_response(r, version), "cache",
        "timings", build_timings(r),
        "serverIPAddress", r->upstream && r->upstream[0] ? upstream_host(r->upstream) : NULL,
        "connection", r->client ? flowjson_str(r->client) : NULL,
        "_error", r->error ? flowjson_str(r->error) : NULL);
    if (e && add_custom(e, r) != 0) {
        json_decref(e);
        return NULL;
    }
    return e;
}

json_t *har_entry(const flow_record *r)
{
    return build_entry(r);
}

har_item *har_item_new(const flow_record *r)
{
    har_item *e = calloc(1, sizeof *e);
    json_t *o = build_entry(r);
    if (!e || !o)
        goto fail;
    if (!(e->text = json_dumps(o, JSON_COMPACT | FLOWJSON_REAL_FLAGS)))
        goto fail;
    json_decref(o);
    e->len = strlen(e->text);
    e->start_us = usec_of(&r->start);
    e->id = r->id;
    if (may_inline(r->response_body_file, r->response_body_truncated,
                   r->response_headers, r->n_response_headers))
        snprintf(e->response_file, sizeof e->response_file, "%s", r->response_body_file);
    if (may_inline(r->request_body_file, r->request_body_truncated, r->request_headers,
                   r->n_request_headers)) {
        const char *ctype = header_get(r->request_headers, r->n_request_headers,
                                       "Content-Type");
        if (!(e->request_mime = strdup(ctype)))
            goto fail;
        snprintf(e->request_file, sizeof e->request_file, "%s", r->request_body_file);
    }
    return e;
fail:
    json_decref(o);
    har_item_free(e);
    return NULL;
}

void har_item_free(har_item *e)
{
    if (!e)
        return;
    free(e->text);
    free(e->request_mime);
    free(e);
}
