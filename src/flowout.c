/* flowout — the outputs of completed exchanges. See include/flowout.h. */
#include "flowout.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bodies.h"
#include "flowjson.h"
#include "har.h"
#include "log.h"
#include "units.h"
#include "version.h"

/* Body files being written, by exchange id (few at once per connection). */
#define FLOWOUT_SINK_BUCKETS 256

typedef struct open_body {
    unsigned long long id;
    bool request;
    bodies_sink *sink;
    struct open_body *next;
} open_body;

struct flowout {
    /* Workers hand records over from their own threads: one at a time. */
    pthread_mutex_t lock;
    bool console;
    bool colour;              /* the console is a terminal */
    FILE *flows;
    const char *flows_path;
    bool flows_failed;        /* said once */
    har *har;
    struct event *har_timer;
    bodies *bodies;
    open_body *open[FLOWOUT_SINK_BUCKETS];
    unsigned long long lost;
};

static void har_tick(evutil_socket_t fd, short what, void *arg)
{
    flowout *f = arg;
    /* har_write() reports its own failures, once per run of them; traffic
     * goes on and the next tick tries again. */
    pthread_mutex_lock(&f->lock);
    if (har_dirty(f->har))
        har_write(f->har);
    pthread_mutex_unlock(&f->lock);
}

flowout *flowout_new(struct event_base *base, const flowout_options *o)
{
    flowout *f = calloc(1, sizeof *f);
    if (!f) {
        log_error("out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        log_error("cannot set up the outputs");
        free(f);
        return NULL;
    }
    f->console = o->console;
    f->colour = isatty(STDERR_FILENO) && !getenv("NO_COLOR");
    if (o->flows_path) {
        f->flows_path = o->flows_path;
        f->flows = strcmp(o->flows_path, "-") == 0 ? stdout
                                                   : fopen(o->flows_path, "a");
        if (!f->flows) {
            log_error("cannot open --flows %s: %s", o->flows_path, strerror(errno));
            goto fail;
        }
    }
    if (o->har_path) {
        /* har_new() writes the empty document at once (viewers can open it
         * from the start) and logs why when it cannot. */
        f->har = har_new(o->har_path, TLSPEEK_VERSION);
        if (!f->har)
            goto fail;
        f->har_timer = event_new(base, -1, EV_PERSIST, har_tick, f);
        struct timeval tv = {HAR_REWRITE_SECONDS, 0};
        if (!f->har_timer || event_add(f->har_timer, &tv) != 0) {
            log_error("cannot set up --har %s", o->har_path);
            goto fail;
        }
    }
    if (o->bodies_dir) {
        f->bodies = bodies_new(o->bodies_dir, o->body_limit);
        if (!f->bodies)
            goto fail;
        if (f->har)
            har_set_bodies_dir(f->har, bodies_dir(f->bodies)); /* small text inlined */
    }
    return f;
fail:
    flowout_free(f);
    return NULL;
}

static open_body **bucket(flowout *f, unsigned long long id)
{
    return &f->open[id % FLOWOUT_SINK_BUCKETS];
}

void flowout_free(flowout *f)
{
    if (!f)
        return;
    if (f->har && har_dirty(f->har))
        har_write(f->har);
    if (f->lost)
        log_warn("%llu exchange record%s could not be written", f->lost,
                 f->lost == 1 ? "" : "s");
    for (size_t i = 0; i < FLOWOUT_SINK_BUCKETS; i++) {
        while (f->open[i]) {
            open_body *b = f->open[i];
            f->open[i] = b->next;
            bool truncated;
            bodies_close(b->sink, &truncated);
            free(b);
        }
    }
    if (f->har_timer)
        event_free(f->har_timer);
    har_free(f->har);
    bodies_free(f->bodies);
    if (f->flows && f->flows != stdout)
        fclose(f->flows);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void flowout_body(flowout *f, unsigned long long id, bool request,
                  const char *data, size_t len)
{
    if (!f->bodies || len == 0)
        return;
    pthread_mutex_lock(&f->lock);
    open_body *b = *bucket(f, id);
    while (b && !(b->id == id && b->request == request))
        b = b->next;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            goto out;
        b->id = id;
        b->request = request;
        b->sink = bodies_open(f->bodies, id, request ? "request" : "response");
        if (!b->sink) {
            free(b);
            goto out;
        }
        b->next = *bucket(f, id);
        *bucket(f, id) = b;
    }
    bodies_write(b->sink, data, len);
out:
    pthread_mutex_unlock(&f->lock);
}

/* Close the body file of (id, request) if one was opened; its name goes
 * into name (empty when none). */
static void close_body(flowout *f, unsigned long long id, bool request,
                       char *name, size_t size, bool *truncated)
{
    name[0] = '\0';
    *truncated = false;
    for (open_body **p = bucket(f, id); *p; p = &(*p)->next) {
        open_body *b = *p;
        if (b->id != id || b->request != request)
            continue;
        const char *file = bodies_close(b->sink, truncated);
        if (file)
            snprintf(name, size, "%s", file);
        *p = b->next;
        free(b);
        return;
    }
}

void flowout_console_line(const flow_record *r, bool colour, char *out, size_t size)
{
    const char *type = NULL;
    for (size_t i = 0; i < r->n_response_headers; i++)
        if (strcasecmp(r->response_headers[i].name, "Content-Type") == 0)
            type = r->response_headers[i].value;
    char bytes[UNITS_BYTES_LEN], status[16], extra[160] = "";
    units_bytes(r->response_bytes, bytes, sizeof bytes);
    snprintf(status, sizeof status, "%d", r->status);
    double ms = flowjson_ms_between(&r->start, &r->end);
    /* Green 2xx/3xx, yellow 4xx, red 5xx and failures: the eye finds them. */
    const char *on = "", *off = "";
    if (colour) {
        on = r->error || r->status >= 500 ? "\033[31m"
             : r->status >= 400           ? "\033[33m"
                                          : "\033[32m";
        off = "\033[0m";
    }
    /* What sets this exchange apart, in words: after the fixed columns so
     * that the columns stay where the eye expects them. */
    size_t n = 0;
    if (r->http_major == 2)
        n += (size_t)snprintf(extra + n, sizeof extra - n, " HTTP/2");
    if (r->websocket && n < sizeof extra)
        n += (size_t)snprintf(extra + n, sizeof extra - n,
                              " websocket %llu messages up, %llu down",
                              r->ws_messages_up, r->ws_messages_down);
    if (r->answered_by_proxy && n < sizeof extra)
        n += (size_t)snprintf(extra + n, sizeof extra - n, " (answered by tlspeek)");
    if (r->replay_of && n < sizeof extra)
        snprintf(extra + n, sizeof extra - n, " replay of #%llu", r->replay_of);
    int type_len = type ? (int)strcspn(type, ";") : 1;
    snprintf(out, size, "%s %s %s %s%s%s %.*s %s %.0f ms%s%s%s",
             r->client ? r->client : "-", r->method ? r->method : "-",
             r->url ? r->url : "-", on, r->status ? status : "-", off, type_len,
             type ? type : "-", bytes, ms > 0 ? ms : 0.0, extra,
             r->error ? " error: " : "", r->error ? r->error : "");
}

static void console_line(flowout *f, const flow_record *r)
{
    char line[FLOWOUT_LINE_MAX];
    flowout_console_line(r, f->colour, line, sizeof line);
    log_info("%s", line);
}

void flowout_exchange(flowout *f, flow_record *r)
{
    char request_file[64], response_file[64];
    pthread_mutex_lock(&f->lock);
    if (f->bodies) {
        close_body(f, r->id, true, request_file, sizeof request_file,
                   &r->request_body_truncated);
        close_body(f, r->id, false, response_file, sizeof response_file,
                   &r->response_body_truncated);
        r->request_body_file = request_file[0] ? request_file : NULL;
        r->response_body_file = response_file[0] ? response_file : NULL;
    }
    if (f->console)
        console_line(f, r);
    if (f->flows && flowjson_write_line(f->flows, r) != 0) {
        f->lost++;
        if (!f->flows_failed)
            log_warn("cannot write --flows %s: %s; traffic goes on, records "
                     "are being lost", f->flows_path, strerror(errno));
        f->flows_failed = true;
    }
    if (f->har && har_add(f->har, r) != 0)
        f->lost++;
    pthread_mutex_unlock(&f->lock);
}
