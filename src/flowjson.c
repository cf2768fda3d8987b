/* flowjson — a flow_record as JSON, and one JSON line per exchange for
 * --flows. See include/flowjson.h for the keys and the string rule. */
#include "flowjson.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* json_pack() steals every "o" argument even when it fails (jansson
 * >= 2.11) and fails on a NULL one, so the builders below nest directly:
 * an allocation failure anywhere comes out as NULL at the top with
 * nothing leaked (test_flowjson checks that allocation by allocation). */

/* Map every byte to the code point of the same value (Latin-1) and encode
 * it as UTF-8: one byte below 0x80, two bytes above. */
static json_t *latin1_text(const char *s, size_t len)
{
    json_t *out = NULL;
    char *buf = malloc(len * 2 + 1);
    if (!buf)
        goto cleanup;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            buf[n++] = (char)c;
        } else {
            buf[n++] = (char)(0xC0 | (c >> 6));
            buf[n++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out = json_stringn(buf, n);
cleanup:
    free(buf);
    return out;
}

json_t *flowjson_text(const char *s, size_t len)
{
    /* jansson's own check is the definition that matters (it is what
     * json_stringn and the decoder accept: no overlongs, surrogates or
     * code points past U+10FFFF), so try it first and fall back to
     * Latin-1 for the whole string rather than guessing per byte. */
    json_t *v = json_stringn(s, len);
    if (v)
        return v;
    return latin1_text(s, len);
}

json_t *flowjson_str(const char *s)
{
    return s ? flowjson_text(s, strlen(s)) : json_null();
}

int flowjson_format_time(const struct timeval *tv, char *out)
{
    time_t t = tv->tv_sec;
    long usec = tv->tv_usec;
    struct tm tm;
    if (usec < 0 || usec > 999999)
        usec = 0;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        strcpy(out, "1970-01-01T00:00:00.000Z");
        return -1;
    }
    size_t n = strftime(out, FLOWJSON_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, FLOWJSON_TIME_LEN - n, ".%03ldZ", usec / 1000);
    return 0;
}

double flowjson_ms_between(const struct timeval *a, const struct timeval *b)
{
    /* Whole microseconds first, one division last: the result is then
     * the double nearest to an exact 3-decimal value. */
    long long us = ((long long)b->tv_sec - (long long)a->tv_sec) * 1000000LL +
                   ((long long)b->tv_usec - (long long)a->tv_usec);
    return (double)us / 1000.0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s[0..len) form-decoded ('+' is a space, %XX a byte, a stray '%' kept)
 * as a JSON string; decoded bytes that are not UTF-8 become Latin-1. */
static json_t *query_part(const char *s, size_t len)
{
    char *buf = malloc(len + 1);
    if (!buf)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '+') {
            buf[n++] = ' ';
        } else if (s[i] == '%' && i + 2 < len &&
                   (hi = hex_digit(s[i + 1])) >= 0 && (lo = hex_digit(s[i + 2])) >= 0) {
            buf[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            buf[n++] = s[i];
        }
    }
    json_t *v = flowjson_text(buf, n);
    free(buf);
    return v;
}

json_t *flowjson_query(const char *url)
{
    json_t *arr = json_array();
    /* A '?' inside the fragment does not start a query. */
    size_t before_fragment = url ? strcspn(url, "#") : 0;
    const char *q = url ? memchr(url, '?', before_fragment) : NULL;
    if (!arr || !q)
        return arr;
    q++;
    const char *end = url + before_fragment;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if (stop > q) {
            const char *eq = memchr(q, '=', (size_t)(stop - q));
            const char *name_end = eq ? eq : stop;
            const char *val = eq ? eq + 1 : stop;
            json_t *nv = json_pack("{s:o, s:o}",
                                   "name", query_part(q, (size_t)(name_end - q)),
                                   "value", query_part(val, (size_t)(stop - val)));
            if (json_array_append_new(arr, nv) != 0) {
                json_decref(arr);
                return NULL;
            }
        }
        q = stop + 1;
    }
    return arr;
}

/* [[name, value], ...] in wire order, repeats kept. */
static json_t *header_pairs(const http_header *h, size_t n)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        /* The pair joins arr before it is filled, so that on any failure
         * one json_decref(arr) frees everything built so far. */
        json_t *pair = json_array();
        if (json_array_append_new(arr, pair) != 0 ||
            json_array_append_new(pair, flowjson_str(h[i].name)) != 0 ||
            json_array_append_new(pair, flowjson_str(h[i].value)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *flowjson_tls(const flow_tls *t)
{
    if (!t)
        return json_null();
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "version", flowjson_str(t->version),
                     "cipher", flowjson_str(t->cipher), "sni", flowjson_str(t->sni),
                     "alpn", flowjson_str(t->alpn),
                     "client_cert", flowjson_str(t->client_cert));
}

void flowjson_http_version(const flow_record *r, char *out, size_t size)
{
    /* HTTP/2 has no minor version on the wire (RFC 9113 names it "HTTP/2"). */
    if (r->http_major == 2)
        snprintf(out, size, "HTTP/2");
    else
        snprintf(out, size, "HTTP/%d.%d", r->http_major, r->http_minor);
}

const char *flowjson_phase(flow_phase phase)
{
    switch (phase) {
    case FLOW_REQUEST:
        return "request";
    case FLOW_RESPONSE:
        return "response";
    case FLOW_DONE:
        return "done";
    case FLOW_ERROR:
        return "error";
    }
    return "error";
}

static json_t *body_info(const char *file, bool truncated)
{
    if (!file)
        return json_null();
    return json_pack("{s:o, s:b}", "file", flowjson_str(file), "truncated", truncated);
}

json_t *flowjson_record(const flow_record *r)
{
    char start[FLOWJSON_TIME_LEN];
    char version[32];
    flowjson_format_time(&r->start, start);
    double duration = flowjson_ms_between(&r->start, &r->end);
    flowjson_http_version(r, version, sizeof version);
    json_t *tls = r->client_tls || r->upstream_tls
                      ? json_pack("{s:o, s:o}", "client", flowjson_tls(r->client_tls),
                                  "upstream", flowjson_tls(r->upstream_tls))
                      : json_null();
    json_t *ws = r->websocket ? json_pack("{s:I, s:I}",
                                          "up", (json_int_t)r->ws_messages_up,
                                          "down", (json_int_t)r->ws_messages_down)
                              : json_null();
    /* Counters are unsigned long long in the record; json_int_t is signed
     * 64-bit, which no real id or byte count reaches. The record is built
     * in two packs only because one format string would be unreadable. */
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:o, s:s, s:s, s:f, s:o, s:o, s:o, s:s, s:o, s:o, s:i, s:o,"
        " s:o, s:o, s:o, s:o}",
        "id", (json_int_t)r->id, "conn_id", (json_int_t)r->conn_id,
        "stream_id", (json_int_t)r->stream_id,
        "replay_of", r->replay_of ? json_integer((json_int_t)r->replay_of) : json_null(),
        "phase", flowjson_phase(r->phase), "start", start,
        "duration_ms", duration > 0 ? duration : 0.0,
        "client", flowjson_str(r->client), "method", flowjson_str(r->method),
        "url", flowjson_str(r->url), "http_version", version,
        "client_protocol", flowjson_str(r->client_protocol),
        "upstream_protocol", flowjson_str(r->upstream_protocol),
        "status", r->status, "reason", flowjson_str(r->reason),
        "request_headers", header_pairs(r->request_headers, r->n_request_headers),
        "response_headers", header_pairs(r->response_headers, r->n_response_headers),
        "request_trailers", header_pairs(r->request_trailers, r->n_request_trailers),
        "response_trailers", header_pairs(r->response_trailers, r->n_response_trailers));
    json_t *rest = json_pack(
        "{s:I, s:I, s:b, s:o, s:b, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:o}",
        "request_bytes", (json_int_t)r->request_bytes,
        "response_bytes", (json_int_t)r->response_bytes,
        "websocket", (int)r->websocket, "websocket_messages", ws,
        "answered_by_proxy", (int)r->answered_by_proxy,
        "request_unparsed", (int)r->request_unparsed,
        "passthrough", (int)r->passthrough,
        "passthrough_reason", flowjson_str(r->passthrough_reason), "tls", tls,
        "upstream", flowjson_str(r->upstream), "error", flowjson_str(r->error),
        "request_body", body_info(r->request_body_file, r->request_body_truncated),
        "response_body", body_info(r->response_body_file, r->response_body_truncated));
    if (!o || !rest || json_object_update(o, rest) != 0) {
        json_decref(o);
        o = NULL;
    }
    json_decref(rest);
    return o;
}

int flowjson_write_line(FILE *f, const flow_record *r)
{
    int rc = -1, err = ENOMEM;
    char *text = NULL;
    json_t *o = flowjson_record(r);
    if (!o)
        goto cleanup;
    text = json_dumps(o, JSON_COMPACT | FLOWJSON_REAL_FLAGS);
    if (!text)
        goto cleanup;
    err = EIO; /* in case stdio fails without saying why */
    errno = 0;
    /* The line goes out in one fwrite so a reader tailing the file sees
     * whole records (stdio may still split it across write(2) calls when
     * the line is larger than its buffer): the newline takes the place of
     * the terminating NUL, and text is not used as a string after. */
    size_t len = strlen(text);
    text[len] = '\n';
    if (fwrite(text, 1, len + 1, f) != len + 1 || fflush(f) != 0) {
        err = errno ? errno : EIO;
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (rc != 0)
        clearerr(f); /* so the next record reports its own outcome */
    free(text);
    json_decref(o);
    if (rc != 0)
        errno = err; /* the caller may strerror(errno) */
    return rc;
}
