/* har — HAR 1.2 log accumulator. Each entry is built from its flow_record
 * as a jansson object and serialized once, at har_add(); the ring keeps
 * the compact text. har_write() then only concatenates: serializing a
 * tree of tens of thousands of entries with jansson takes seconds and
 * about six times the memory (measured: 29 KiB per entry with 35 headers
 * as objects, 4.6 KiB as text; 4.8 s to dump 20000 entries), and the
 * writer runs on the event loop every few seconds. See include/har.h. */
#include "har.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

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

/* The URL's query (between '?' and '#') as [{"name", "value"}, ...];
 * empty pieces are skipped, a piece without '=' has value "". */
static json_t *query_string(const char *url)
{
    json_t *arr = json_array();
    const char *q = url ? strchr(url, '?') : NULL;
    if (!arr || !q)
        return arr;
    q++;
    const char *end = q + strcspn(q, "#");
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if (stop > q) {
            const char *eq = memchr(q, '=', (size_t)(stop - q));
            const char *name_end = eq ? eq : stop;
            const char *val = eq ? eq + 1 : stop;
            json_t *nv = name_value(query_part(q, (size_t)(name_end - q)),
                                    query_part(val, (size_t)(stop - val)));
            if (json_array_append_new(arr, nv) != 0) {
                json_decref(arr);
                return NULL;
            }
        }
        q = stop + 1;
    }
    return arr;
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
    json_t *v = NULL;
    char *path = NULL;
    char *buf = NULL;
    int fd = -1;
    const char *ctype = header_get(hdrs, n, "Content-Type");
    const char *cenc = header_get(hdrs, n, "Content-Encoding");
    /* A compressed body is stored as sent: not text until decoded. */
    if (!h->bodies_dir || !file || truncated || !ctype || !is_textual(ctype) ||
        (cenc && strcasecmp(cenc, "identity") != 0) || strchr(file, '/'))
        goto cleanup;
    if (asprintf(&path, "%s/%s", h->bodies_dir, file) < 0) {
        path = NULL;
        goto cleanup;
    }
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > HAR_INLINE_MAX)
        goto cleanup;
    size_t size = (size_t)st.st_size, got = 0;
    buf = malloc(size + 1);
    if (!buf)
        goto cleanup;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto cleanup;
        got += (size_t)r;
    }
    /* NUL bytes would survive as \u0000 but mean the body is binary;
     * json_stringn refuses what is not UTF-8, which is what we want. */
    if (memchr(buf, '\0', size))
        goto cleanup;
    v = json_stringn(buf, size);
cleanup:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(path);
    return v;
}

static json_t *build_request(const har *h, const flow_record *r,
                             const char *version)
{
    bool bad = false;
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(o, "method", str_or_empty(r->method), &bad);
    put(o, "url", str_or_empty(r->url), &bad);
    put(o, "httpVersion", json_string(version), &bad);
    put(o, "cookies", json_array(), &bad);
    put(o, "headers", header_list(r->request_headers, r->n_request_headers), &bad);
    put(o, "queryString", query_string(r->url), &bad);
    put(o, "headersSize", json_integer(-1), &bad);
    put(o, "bodySize", json_integer((json_int_t)r->request_bytes), &bad);
    json_t *text = inline_body(h, r->request_body_file, r->request_body_truncated,
                               r->request_headers, r->n_request_headers);
    if (text) {
        const char *ctype = header_get(r->request_headers, r->n_request_headers,
                                       "Content-Type");
        /* Joined before it is filled (see header_list); a failed join has
         * already freed post, so text is dropped by hand. */
        json_t *post = json_object();
        put(o, "postData", post, &bad);
        if (bad) {
            json_decref(text);
        } else {
            put(post, "mimeType", str_or_empty(ctype), &bad);
            put(post, "text", text, &bad);
        }
    }
    if (r->request_body_file) {
        put(o, "_bodyFile", flowjson_str(r->request_body_file), &bad);
        put(o, "_bodyTruncated", json_boolean(r->request_body_truncated), &bad);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *build_response(const har *h, const flow_record *r,
                              const char *version)
{
    bool bad = false;
    const http_header *hd = r->response_headers;
    size_t n = r->n_response_headers;
    json_t *o = json_object();
    if (!o)
        return NULL;
    /* content joins o first, so one decref of o frees it on any failure. */
    json_t *content = json_object();
    put(o, "content", content, &bad);
    if (bad)
        goto cleanup;
    put(o, "status", json_integer(r->status), &bad);
    put(o, "statusText", str_or_empty(r->reason), &bad);
    /* The record carries the request's version only; with no response
     * head there is no version to show. */
    put(o, "httpVersion", json_string(r->status ? version : ""), &bad);
    put(o, "cookies", json_array(), &bad);
    put(o, "headers", header_list(hd, n), &bad);
    put(content, "size", json_integer((json_int_t)r->response_bytes), &bad);
    put(content, "mimeType", str_or_empty(header_get(hd, n, "Content-Type")), &bad);
    json_t *text = inline_body(h, r->response_body_file,
                               r->response_body_truncated, hd, n);
    if (text)
        put(content, "text", text, &bad);
    if (r->response_body_file) {
        put(content, "_file", flowjson_str(r->response_body_file), &bad);
        put(content, "_truncated", json_boolean(r->response_body_truncated), &bad);
    }
    put(o, "redirectURL", str_or_empty(header_get(hd, n, "Location")), &bad);
    put(o, "headersSize", json_integer(-1), &bad);
    put(o, "bodySize", json_integer((json_int_t)r->response_bytes), &bad);
cleanup:
    if (bad) {
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

    bool bad = false;
    json_t *o = json_object();
    if (!o)
        return NULL;
    /* Per exchange these are unknown: connections are reused and their
     * set-up belongs to the tunnel, not to one request. */
    put(o, "blocked", json_integer(-1), &bad);
    put(o, "dns", json_integer(-1), &bad);
    put(o, "connect", json_integer(-1), &bad);
    put(o, "ssl", json_integer(-1), &bad);
    put(o, "send", json_real((double)(t1 - t0) / 1000.0), &bad);
    put(o, "wait", json_real((double)(t2 - t1) / 1000.0), &bad);
    put(o, "receive", json_real((double)(t3 - t2) / 1000.0), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *build_entry(const har *h, const flow_record *r)
{
    bool bad = false;
    char started[FLOWJSON_TIME_LEN];
    char version[32];
    json_t *e = json_object();
    if (!e)
        return NULL;
    flowjson_format_time(&r->start, started);
    snprintf(version, sizeof version, "HTTP/%d.%d", r->http_major, r->http_minor);
    long long total = usec_of(&r->end) - usec_of(&r->start);

    put(e, "startedDateTime", json_string(started), &bad);
    put(e, "time", json_real(total > 0 ? (double)total / 1000.0 : 0.0), &bad);
    put(e, "request", build_request(h, r, version), &bad);
    put(e, "response", build_response(h, r, version), &bad);
    put(e, "cache", json_object(), &bad);
    put(e, "timings", build_timings(r), &bad);
    if (r->upstream && r->upstream[0])
        put(e, "serverIPAddress", upstream_host(r->upstream), &bad);
    if (r->client)
        put(e, "connection", flowjson_str(r->client), &bad);
    if (r->error)
        put(e, "_error", flowjson_str(r->error), &bad);
    if (r->websocket)
        put(e, "_websocket", json_true(), &bad);
    if (bad) {
        json_decref(e);
        return NULL;
    }
    return e;
}

static void drop_oldest(har *h)
{
    json_decref(h->slots[h->first].entry);
    h->first = (h->first + 1) % h->cap;
    h->count--;
    h->dropped++;
    h->dirty = true;
}

int har_add(har *h, const flow_record *r)
{
    json_t *e = build_entry(h, r);
    if (!e)
        goto fail;
    if (h->count >= h->max)
        drop_oldest(h);
    if (h->count == h->cap) {
        /* Grow geometrically up to the limit, unrolling the ring (it only
         * wraps once full, but set_max_entries may have moved first). */
        size_t ncap = h->cap ? h->cap * 2 : 64;
        if (ncap > h->max)
            ncap = h->max;
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
    s->entry = e;
    s->start_us = usec_of(&r->start);
    s->id = r->id;
    h->count++;
    h->dirty = true;
    return 0;
fail:
    json_decref(e);
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

/* The document: {"log": {version, creator, entries, [comment, _dropped]}}. */
static json_t *build_doc(const har *h)
{
    bool bad = false;
    slot *sorted = NULL;
    /* Each container joins its parent before it is filled, so that on
     * any failure one decref of doc frees everything (a failed join has
     * already freed the child). */
    json_t *doc = json_object();
    json_t *log = json_object();
    put(doc, "log", log, &bad);
    if (bad || !doc)
        goto cleanup;
    json_t *creator = json_object();
    put(log, "creator", creator, &bad);
    json_t *entries = json_array();
    put(log, "entries", entries, &bad);
    if (bad)
        goto cleanup;
    put(log, "version", json_string("1.2"), &bad);
    put(creator, "name", json_string("tlspeek"), &bad);
    put(creator, "version", flowjson_str(h->creator_version), &bad);
    if (bad)
        goto cleanup;
    if (h->count) {
        sorted = malloc(h->count * sizeof *sorted);
        if (!sorted) {
            bad = true;
            goto cleanup;
        }
        for (size_t i = 0; i < h->count; i++)
            sorted[i] = h->slots[(h->first + i) % h->cap];
        qsort(sorted, h->count, sizeof *sorted, slot_cmp);
    }
    for (size_t i = 0; i < h->count && !bad; i++)
        if (json_array_append(entries, sorted[i].entry) != 0)
            bad = true;
    if (h->dropped) {
        char note[160];
        snprintf(note, sizeof note,
                 "%llu oldest entries dropped (tlspeek keeps at most %zu)",
                 h->dropped, h->max);
        put(log, "comment", json_string(note), &bad);
        put(log, "_dropped", json_integer((json_int_t)h->dropped), &bad);
    }
cleanup:
    free(sorted);
    if (bad) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Serialize to PATH.tmp-XXXXXX, fsync, rename over path. On failure
 * *what names the step and errno is kept for the message. */
static int write_doc(har *h, const char **what)
{
    int rc = -1, err = 0;
    int fd = -1;
    FILE *f = NULL;
    char *tmp = NULL;
    json_t *doc = build_doc(h);
    *what = "out of memory";
    if (!doc || asprintf(&tmp, "%s.tmp-XXXXXX", h->path) < 0) {
        tmp = NULL;
        err = ENOMEM;
        goto cleanup;
    }
    /* Same directory as path, so rename() is atomic (same file system). */
    *what = "cannot create temporary file";
    fd = mkstemp(tmp);
    if (fd < 0) {
        err = errno;
        free(tmp);
        tmp = NULL; /* nothing to unlink */
        goto cleanup;
    }
    *what = "cannot write";
    f = fdopen(fd, "w");
    if (!f) {
        err = errno;
        goto cleanup;
    }
    fd = -1; /* owned by f now */
    errno = EIO;
    if (json_dumpf(doc, f, JSON_COMPACT | FLOWJSON_REAL_FLAGS) != 0 ||
        fputc('\n', f) == EOF || fflush(f) != 0) {
        err = errno;
        goto cleanup;
    }
    *what = "cannot sync";
    if (fsync(fileno(f)) != 0) {
        err = errno;
        goto cleanup;
    }
    int closed = fclose(f);
    f = NULL;
    if (closed != 0) {
        err = errno;
        *what = "cannot write";
        goto cleanup;
    }
    *what = "cannot replace";
    if (rename(tmp, h->path) != 0) {
        err = errno;
        goto cleanup;
    }
    free(tmp);
    tmp = NULL;
    rc = 0;
cleanup:
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
    free(tmp);
    json_decref(doc);
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
    h->max = HAR_MAX_ENTRIES;
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

void har_set_max_entries(har *h, size_t max_entries)
{
    h->max = max_entries ? max_entries : 1;
    while (h->count > h->max)
        drop_oldest(h);
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
        json_decref(h->slots[(h->first + i) % h->cap].entry);
    free(h->slots);
    free(h->path);
    free(h->creator_version);
    free(h->bodies_dir);
    free(h);
}
