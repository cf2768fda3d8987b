/* har — HAR 1.2 log accumulator. Entries arrive as compact JSON text
 * (harentry), the ring keeps that text, and har_write() only
 * concatenates: serializing a tree of tens of thousands of entries with
 * jansson takes seconds and about six times the memory (measured: 4.8 s
 * to dump 20000 entries). See include/har.h. */
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
#include "harentry.h"
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

/* A body file's content as a JSON string, or NULL when it cannot be read,
 * is larger than HAR_INLINE_MAX, holds a NUL byte (binary) or is not
 * UTF-8 (json_stringn refuses it, which is what we want). Failing is not
 * an error: the text is optional in HAR, and the file name stays. */
static json_t *body_text(const har *h, const char *file)
{
    size_t len;
    char *buf = bodies_read(h->bodies_dir, file, HAR_INLINE_MAX, &len);
    json_t *v = NULL;
    if (buf && !memchr(buf, '\0', len))
        v = json_stringn(buf, len);
    free(buf);
    return v;
}

/* Put the bodies e may carry into its text, when they can be read.
 * -1 only on allocation failure; e is unchanged then. */
static int inline_bodies(const har *h, har_item *e)
{
    if (!h->bodies_dir || (!e->request_file[0] && !e->response_file[0]))
        return 0;
    json_t *req = e->request_file[0] ? body_text(h, e->request_file) : NULL;
    json_t *resp = e->response_file[0] ? body_text(h, e->response_file) : NULL;
    if (!req && !resp)
        return 0;
    int rc = -1;
    char *text = NULL;
    json_t *o = json_loads(e->text, 0, NULL);
    json_t *content = json_object_get(json_object_get(o, "response"), "content");
    json_t *request = json_object_get(o, "request");
    if (!content || !request)
        goto cleanup;
    if (resp && json_object_set(content, "text", resp) != 0)
        goto cleanup;
    if (req && json_object_set_new(request, "postData",
                                   json_pack("{s:o, s:O}", "mimeType",
                                             flowjson_str(e->request_mime), "text", req)) != 0)
        goto cleanup;
    if (!(text = json_dumps(o, JSON_COMPACT | FLOWJSON_REAL_FLAGS)))
        goto cleanup;
    free(e->text);
    e->text = text;
    e->len = strlen(text);
    rc = 0;
cleanup:
    json_decref(req);
    json_decref(resp);
    json_decref(o);
    return rc;
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
    har_item *e = har_item_new(r);
    if (!e) {
        log_warn("HAR %s: out of memory, exchange %llu not recorded", h->path, r->id);
        return -1;
    }
    return har_add_item(h, e);
}

int har_add_item(har *h, har_item *e)
{
    if (inline_bodies(h, e) != 0)
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
    s->text = e->text;
    s->len = e->len;
    s->start_us = e->start_us;
    s->id = e->id;
    e->text = NULL; /* the slot has it now */
    har_item_free(e);
    h->count++;
    h->bytes += s->len;
    h->dirty = true;
    enforce_limits(h);
    return 0;
fail:
    log_warn("HAR %s: out of memory, exchange %llu not recorded", h->path, e->id);
    har_item_free(e);
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
