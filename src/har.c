/* har — HAR 1.2 log accumulator. Each entry is built from its flow_record
 * as a jansson object and serialized once, at har_add(); the ring keeps
 * the compact text. har_write() then only concatenates: serializing a
 * tree of tens of thousands of entries with jansson takes seconds and
 * about six times the memory (measured: 29 KiB per entry with 35 headers
 * as objects, 4.6 KiB as text; 4.8 s to dump 20000 entries), and the
 * writer runs on the event loop every few seconds. See include/har.h. */
#include "har.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "bodies.h"
#include "flowjson.h"
#include "log.h"

typedef struct {
    char *text;               /* the entry, compact JSON */
    size_t len;
    long long start_us;       /* sort key: HAR prefers startedDateTime order */
    unsigned long long id;    /* tie-break, so equal starts keep record order */
} slot;

struct har {
    char *path;
    char *creator_version;
    char *bodies_dir;      /* NULL: never inline bodies */
    slot *slots;           /* ring: index i (0 = oldest) at (first + i) % cap */
    size_t cap, first, count;
    size_t bytes;          /* sum of the slots' len */
    size_t max_entries, max_bytes;
    unsigned long long dropped;
    bool dirty;
    bool failing;          /* a write failure was reported; quiet until success */
};

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

/* A body file's content as a JSON string when it may be inlined (see
 * har_set_bodies_dir), else NULL. Failing to read is not an error: the
 * text is optional in HAR, and the file name stays in _file. */
static json_t *inline_body(const har *h, const char *file, bool truncated,
                           const http_header *hdrs, size_t n)
{
    const char *ctype = header_get(hdrs, n, "Content-Type");
    const char *cenc = header_get(hdrs, n, "Content-Encoding");
    /* A compressed body is stored as sent: not text until decoded. */
    if (!h->bodies_dir || !file || truncated || !ctype || !is_textual(ctype) ||
        (cenc && strcasecmp(cenc, "identity") != 0))
        return NULL;
    size_t len;
    char *buf = bodies_read(h->bodies_dir, file, HAR_INLINE_MAX, &len);
    json_t *v = NULL;
    /* NUL bytes would survive as \u0000 but mean the body is binary;
     * json_stringn refuses what is not UTF-8, which is what we want. */
    if (buf && !memchr(buf, '\0', len))
        v = json_stringn(buf, len);
    free(buf);
    return v;
}

static json_t *build_request(const har *h, const flow_record *r,
                             const char *version)
{
    const http_header *hd = r->request_headers;
    size_t n = r->n_request_headers;
    json_t *text = inline_body(h, r->request_body_file, r->request_body_truncated,
                               hd, n);
    json_t *post = NULL;
    if (text)
        post = json_pack("{s:o, s:o}", "mimeType",
                         str_or_empty(header_get(hd, n, "Content-Type")), "text", text);
    const char *file = r->request_body_file;
    bool failed = false;
    json_t *trailers = trailer_list(r->request_trailers, r->n_request_trailers, &failed);
    json_t *o = json_pack(
        "{s:o, s:o, s:s, s:[], s:o, s:o, s:i, s:I, s:o*, s:o*, s:o*, s:o*}",
        "method", str_or_empty(r->method), "url", str_or_empty(r->url),
        "httpVersion", version, "cookies", "headers", header_list(hd, n),
        "queryString", flowjson_query(r->url), "headersSize", -1,
        "bodySize", (json_int_t)r->request_bytes, "postData", post,
        "_bodyFile", file ? flowjson_str(file) : NULL,
        "_bodyTruncated", file ? json_boolean(r->request_body_truncated) : NULL,
        "_trailers", trailers);
    if (failed) { /* a NULL meant "leave out", not "out of memory" */
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *build_response(const har *h, const flow_record *r,
                              const char *version)
{
    const http_header *hd = r->response_headers;
    size_t n = r->n_response_headers;
    const char *file = r->response_body_file;
    json_t *content = json_pack(
        "{s:I, s:o, s:o*, s:o*, s:o*}", "size", (json_int_t)r->response_bytes,
        "mimeType", str_or_empty(header_get(hd, n, "Content-Type")),
        "text", inline_body(h, file, r->response_body_truncated, hd, n),
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

static json_t *build_entry(const har *h, const flow_record *r)
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
        "request", build_request(h, r, version),
        "response", build_response(h, r, version), "cache",
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

static void drop_oldest(har *h)
{
    slot *s = &h->slots[h->first];
    h->bytes -= s->len;
    free(s->text);
    h->first = (h->first + 1) % h->cap;
    h->count--;
    h->dropped++;
    h->dirty = true;
}

/* Drop the oldest entries beyond the limits, always keeping the newest. */
static void enforce_limits(har *h)
{
    while (h->count > h->max_entries || (h->count > 1 && h->bytes > h->max_bytes))
        drop_oldest(h);
}

int har_add(har *h, const flow_record *r)
{
    json_t *e = build_entry(h, r);
    char *text = e ? json_dumps(e, JSON_COMPACT | FLOWJSON_REAL_FLAGS) : NULL;
    json_decref(e);
    if (!text)
        goto fail;
    if (h->count == h->cap) {
        /* Grow geometrically, unrolling the ring. The entry limit bounds
         * the array; with the byte limit it may never be reached. */
        size_t ncap = h->cap ? h->cap * 2 : 64;
        if (ncap - 1 > h->max_entries) /* no overflow for SIZE_MAX */
            ncap = h->max_entries + 1;
        slot *ns = malloc(ncap * sizeof *ns);
        if (!ns)
            goto fail;
        for (size_t i = 0; i < h->count; i++)
            ns[i] = h->slots[(h->first + i) % h->cap];
        free(h->slots);
        h->slots = ns;
        h->cap = ncap;
        h->first = 0;
    }
    slot *s = &h->slots[(h->first + h->count) % h->cap];
    s->text = text;
    s->len = strlen(text);
    s->start_us = usec_of(&r->start);
    s->id = r->id;
    h->count++;
    h->bytes += s->len;
    h->dirty = true;
    enforce_limits(h);
    return 0;
fail:
    free(text);
    log_warn("HAR %s: out of memory, exchange %llu not recorded", h->path, r->id);
    return -1;
}

static int slot_cmp(const void *a, const void *b)
{
    const slot *x = a, *y = b;
    if (x->start_us != y->start_us)
        return x->start_us < y->start_us ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The log object without its entries, compact: {"version":...}. */
static char *log_head(const har *h)
{
    char note[160];
    char *text = NULL;
    snprintf(note, sizeof note,
             "%llu oldest entries dropped (tlspeek keeps at most %zu entries "
             "and %zu bytes)", h->dropped, h->max_entries, h->max_bytes);
    json_t *log = json_pack("{s:s, s:{s:s, s:o}, s:s*}", "version", "1.2",
                            "creator", "name", "tlspeek",
                            "version", flowjson_str(h->creator_version),
                            "comment", h->dropped ? note : NULL);
    if (log && h->dropped &&
        json_object_set_new(log, "_dropped", json_integer((json_int_t)h->dropped)) != 0)
        goto cleanup;
    if (log)
        text = json_dumps(log, JSON_COMPACT);
cleanup:
    json_decref(log);
    return text;
}

/* {"log":{...head...,"entries":[e1,e2,...]}}: the entries are spliced in
 * as text after the head's last key. */
static int write_entries(const har *h, FILE *f)
{
    int rc = -1;
    slot *sorted = NULL;
    char *head = log_head(h);
    if (!head)
        goto cleanup;
    if (h->count) {
        sorted = malloc(h->count * sizeof *sorted);
        if (!sorted)
            goto cleanup;
        for (size_t i = 0; i < h->count; i++)
            sorted[i] = h->slots[(h->first + i) % h->cap];
        qsort(sorted, h->count, sizeof *sorted, slot_cmp);
    }
    /* head is a compact object: it ends with its closing brace. */
    size_t hlen = strlen(head);
    if (fputs("{\"log\":", f) == EOF || fwrite(head, 1, hlen - 1, f) != hlen - 1 ||
        fputs(",\"entries\":[", f) == EOF)
        goto cleanup;
    for (size_t i = 0; i < h->count; i++)
        if ((i > 0 && fputc(',', f) == EOF) ||
            fwrite(sorted[i].text, 1, sorted[i].len, f) != sorted[i].len)
            goto cleanup;
    if (fputs("]}}\n", f) == EOF)
        goto cleanup;
    rc = 0;
cleanup:
    free(sorted);
    free(head);
    return rc;
}

/* Serialize to a mkstemp file beside path, fsync, rename over it. On failure
 * *what names the step and errno says why. */
static int write_doc(har *h, const char **what)
{
    int rc = -1, fd = -1, err;
    FILE *f = NULL;
    char *tmp = NULL;
    errno = ENOMEM;
    *what = "out of memory";
    if (asprintf(&tmp, "%s.tmp-XXXXXX", h->path) < 0) {
        tmp = NULL;
        goto cleanup;
    }
    /* Same directory as path, so rename() is atomic (same file system). */
    *what = "cannot create temporary file";
    if ((fd = mkstemp(tmp)) < 0) {
        free(tmp);
        tmp = NULL; /* nothing to unlink */
        goto cleanup;
    }
    *what = "cannot write";
    if (!(f = fdopen(fd, "w")))
        goto cleanup;
    fd = -1; /* owned by f now */
    if (write_entries(h, f) != 0 || fflush(f) != 0)
        goto cleanup;
    *what = "cannot sync";
    if (fsync(fileno(f)) != 0)
        goto cleanup;
    *what = "cannot write";
    int closed = fclose(f);
    f = NULL;
    if (closed != 0)
        goto cleanup;
    *what = "cannot replace";
    if (rename(tmp, h->path) != 0)
        goto cleanup;
    free(tmp);
    tmp = NULL;
    rc = 0;
cleanup:
    err = errno; /* what failed, before the clean-up calls touch errno */
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
    free(tmp);
    errno = err;
    return rc;
}

har *har_new(const char *path, const char *creator_version)
{
    const char *what;
    har *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(path)) ||
        !(h->creator_version = strdup(creator_version ? creator_version : ""))) {
        log_error("HAR %s: out of memory", path);
        goto fail;
    }
    h->max_entries = HAR_MAX_ENTRIES;
    h->max_bytes = HAR_MAX_BYTES;
    if (write_doc(h, &what) != 0) {
        log_error("HAR %s: %s: %s", path, what, strerror(errno));
        goto fail;
    }
    return h;
fail:
    har_free(h);
    return NULL;
}

int har_set_bodies_dir(har *h, const char *dir)
{
    char *copy = NULL;
    if (dir && !(copy = strdup(dir)))
        return -1;
    free(h->bodies_dir);
    h->bodies_dir = copy;
    return 0;
}

void har_set_limits(har *h, size_t max_entries, size_t max_bytes)
{
    h->max_entries = max_entries ? max_entries : 1;
    h->max_bytes = max_bytes;
    enforce_limits(h);
}

int har_write(har *h)
{
    const char *what;
    if (write_doc(h, &what) != 0) {
        /* Retried every few seconds by the caller: say it once, not each
         * time, until it works again. errno survives for the caller. */
        int err = errno;
        if (!h->failing)
            log_warn("HAR %s: %s: %s (will retry)", h->path, what, strerror(err));
        h->failing = true;
        errno = err;
        return -1;
    }
    if (h->failing)
        log_notice("HAR %s written again", h->path);
    h->failing = false;
    h->dirty = false;
    return 0;
}

bool har_dirty(const har *h)
{
    return h->dirty;
}

size_t har_count(const har *h)
{
    return h->count;
}

void har_free(har *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->count; i++)
        free(h->slots[(h->first + i) % h->cap].text);
    free(h->slots);
    free(h->path);
    free(h->creator_version);
    free(h->bodies_dir);
    free(h);
}
