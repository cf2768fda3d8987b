/* flowjson — a flow_record as JSON, and one JSON line per exchange for
 * --flows. See include/flowjson.h for the keys and the string rule. */
#include "flowjson.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Build-time failure flag threaded through the object builders: jansson
 * setters steal the value even when they fail, so every put is a single
 * call and the caller checks once at the end instead of after each key. */
static void put(json_t *obj, const char *key, json_t *val, bool *bad)
{
    /* json_object_set_new() decrefs val itself on failure and rejects a
     * NULL val (an allocation that failed upstream). */
    if (json_object_set_new(obj, key, val) != 0)
        *bad = true;
}

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

static json_t *tls_side(const flow_tls *t)
{
    bool bad = false;
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(o, "version", flowjson_str(t->version), &bad);
    put(o, "cipher", flowjson_str(t->cipher), &bad);
    put(o, "sni", flowjson_str(t->sni), &bad);
    put(o, "alpn", flowjson_str(t->alpn), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *tls_info(const flow_record *r)
{
    if (!r->tls)
        return json_null();
    bool bad = false;
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(o, "client", tls_side(&r->client_tls), &bad);
    put(o, "upstream", tls_side(&r->upstream_tls), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *body_info(const char *file, bool truncated)
{
    if (!file)
        return json_null();
    bool bad = false;
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(o, "file", flowjson_str(file), &bad);
    put(o, "truncated", json_boolean(truncated), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *flowjson_record(const flow_record *r)
{
    bool bad = false;
    char start[FLOWJSON_TIME_LEN];
    char version[32];
    json_t *o = json_object();
    if (!o)
        return NULL;

    flowjson_format_time(&r->start, start);
    double duration = flowjson_ms_between(&r->start, &r->end);
    snprintf(version, sizeof version, "HTTP/%d.%d", r->http_major, r->http_minor);

    /* Counters are unsigned long long in the record; json_int_t is signed
     * 64-bit, which no real id or byte count reaches. */
    put(o, "id", json_integer((json_int_t)r->id), &bad);
    put(o, "start", json_string(start), &bad);
    put(o, "duration_ms", json_real(duration > 0 ? duration : 0.0), &bad);
    put(o, "client", flowjson_str(r->client), &bad);
    put(o, "method", flowjson_str(r->method), &bad);
    put(o, "url", flowjson_str(r->url), &bad);
    put(o, "http_version", json_string(version), &bad);
    put(o, "status", json_integer(r->status), &bad);
    put(o, "reason", flowjson_str(r->reason), &bad);
    put(o, "request_headers",
        header_pairs(r->request_headers, r->n_request_headers), &bad);
    put(o, "response_headers",
        header_pairs(r->response_headers, r->n_response_headers), &bad);
    put(o, "request_bytes", json_integer((json_int_t)r->request_bytes), &bad);
    put(o, "response_bytes", json_integer((json_int_t)r->response_bytes), &bad);
    put(o, "websocket", json_boolean(r->websocket), &bad);
    put(o, "tls", tls_info(r), &bad);
    put(o, "upstream", flowjson_str(r->upstream), &bad);
    put(o, "error", flowjson_str(r->error), &bad);
    put(o, "request_body",
        body_info(r->request_body_file, r->request_body_truncated), &bad);
    put(o, "response_body",
        body_info(r->response_body_file, r->response_body_truncated), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
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
