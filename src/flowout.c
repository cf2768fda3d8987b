/* flowout — the outputs of exchanges. See include/flowout.h. */
#include "flowout.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bodies.h"
#include "flowjson.h"
#include "har.h"
#include "harwriter.h"
#include "log.h"
#include "units.h"
#include "version.h"

/* Body files being written, by exchange id (few at once per connection). */
#define FLOWOUT_SINK_BUCKETS 256

typedef struct open_body {
    unsigned long long id;
    bool request;
    bodies_sink *sink;         /* written by its exchange's thread only */
    struct open_body *next;
} open_body;

struct flowout {
    bool console;
    bool colour;              /* the console is a terminal */
    /* --flows: one lock so that lines stay whole and records never mix. */
    pthread_mutex_t flows_lock;
    FILE *flows;
    const char *flows_path;
    bool flows_failed;        /* said once */
    harwriter *har;
    /* --bodies: the lock guards the table of open sinks, not the writes. */
    pthread_mutex_t bodies_lock;
    bodies *bodies;
    open_body *open[FLOWOUT_SINK_BUCKETS];
    atomic_ullong lost;
    /* Written at start-up, read by every worker: the count is published
     * after the slot is filled. */
    flowout_observer observers[FLOWOUT_MAX_OBSERVERS];
    void *observer_args[FLOWOUT_MAX_OBSERVERS];
    atomic_size_t n_observers;
};

flowout *flowout_new(struct event_base *base, const flowout_options *o)
{
    (void)base;
    flowout *f = calloc(1, sizeof *f);
    if (!f) {
        log_error("out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&f->flows_lock, NULL) != 0) {
        free(f);
        log_error("cannot set up the outputs");
        return NULL;
    }
    if (pthread_mutex_init(&f->bodies_lock, NULL) != 0) {
        pthread_mutex_destroy(&f->flows_lock);
        free(f);
        log_error("cannot set up the outputs");
        return NULL;
    }
    atomic_init(&f->lost, 0);
    atomic_init(&f->n_observers, 0);
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
    if (o->bodies_dir) {
        f->bodies = bodies_new(o->bodies_dir, o->body_limit);
        if (!f->bodies)
            goto fail;
    }
    if (o->har_path) {
        /* har_new() writes the empty document at once (viewers can open it
         * from the start, and a path that cannot be written is a start-up
         * error) and logs why when it cannot. */
        har *h = har_new(o->har_path, TLSPEEK_VERSION);
        if (!h)
            goto fail;
        if (f->bodies && har_set_bodies_dir(h, bodies_dir(f->bodies)) != 0) {
            har_free(h);
            log_error("out of memory");
            goto fail;
        }
        if (!(f->har = harwriter_new(h, HAR_REWRITE_SECONDS))) /* takes h */
            goto fail;
        if (o->har_write_hook)
            harwriter_set_write(f->har, o->har_write_hook, o->har_write_hook_arg);
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
    /* The writer writes the document a last time; what it lost counts. */
    atomic_fetch_add(&f->lost, harwriter_free(f->har));
    f->har = NULL;
    unsigned long long lost = flowout_lost(f);
    if (lost)
        log_warn("%llu exchange record%s could not be written", lost,
                 lost == 1 ? "" : "s");
    for (size_t i = 0; i < FLOWOUT_SINK_BUCKETS; i++) {
        while (f->open[i]) {
            open_body *b = f->open[i];
            f->open[i] = b->next;
            char name[BODIES_NAME_MAX];
            bodies_close(b->sink, name, NULL);
            free(b);
        }
    }
    bodies_free(f->bodies);
    if (f->flows && f->flows != stdout)
        fclose(f->flows);
    pthread_mutex_destroy(&f->bodies_lock);
    pthread_mutex_destroy(&f->flows_lock);
    free(f);
}

unsigned long long flowout_lost(const flowout *f)
{
    return atomic_load(&f->lost) + (f->har ? harwriter_lost(f->har) : 0);
}

int flowout_add_observer(flowout *f, const flowout_observer *o, void *arg)
{
    size_t n = atomic_load(&f->n_observers);
    if (n == FLOWOUT_MAX_OBSERVERS)
        return -1;
    f->observers[n] = *o;
    f->observer_args[n] = arg;
    atomic_store(&f->n_observers, n + 1);
    return 0;
}

bool flowout_wants_phases(const flowout *f)
{
    return atomic_load(&f->n_observers) > 0;
}

bool flowout_wants_bodies(const flowout *f)
{
    return f->bodies || flowout_wants_phases(f);
}

bool flowout_wants_fields(const flowout *f)
{
    return f->flows || f->har || flowout_wants_phases(f);
}

bool flowout_wants_records(const flowout *f)
{
    return f->console || f->flows || f->har || flowout_wants_bodies(f);
}

/* The sink of (id, request), made on its first chunk; NULL when it cannot
 * be (out of memory: that body is simply not stored). */
static bodies_sink *sink_for(flowout *f, unsigned long long id, bool request)
{
    pthread_mutex_lock(&f->bodies_lock);
    open_body *b = *bucket(f, id);
    while (b && !(b->id == id && b->request == request))
        b = b->next;
    if (!b && (b = calloc(1, sizeof *b))) {
        b->id = id;
        b->request = request;
        /* No file yet (made on the first stored byte, outside the lock). */
        b->sink = bodies_open(f->bodies, id, request ? "request" : "response");
        if (b->sink) {
            b->next = *bucket(f, id);
            *bucket(f, id) = b;
        } else {
            free(b);
            b = NULL;
        }
    }
    pthread_mutex_unlock(&f->bodies_lock);
    return b ? b->sink : NULL;
}

void flowout_body(flowout *f, unsigned long long id, bool request,
                  const char *data, size_t len)
{
    if (len == 0)
        return;
    size_t n = atomic_load(&f->n_observers);
    for (size_t i = 0; i < n; i++)
        if (f->observers[i].on_body)
            f->observers[i].on_body(f->observer_args[i], id, request, data, len);
    if (!f->bodies)
        return;
    /* The sink stays in the table until this exchange's final record, which
     * comes from this same thread: writing it unlocked is safe. Failures
     * are counted and said once by bodies. */
    bodies_write(sink_for(f, id, request), data, len);
}

/* Close the body file of (id, request) if one was opened; its name goes
 * into name (BODIES_NAME_MAX bytes; empty when none). */
static void close_body(flowout *f, unsigned long long id, bool request,
                       char *name, bool *truncated)
{
    name[0] = '\0';
    *truncated = false;
    open_body *found = NULL;
    pthread_mutex_lock(&f->bodies_lock);
    for (open_body **p = bucket(f, id); *p; p = &(*p)->next) {
        if ((*p)->id == id && (*p)->request == request) {
            found = *p;
            *p = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&f->bodies_lock);
    if (found) {
        bodies_close(found->sink, name, truncated);
        free(found);
    }
}

/* ms rounded as "%.0f" would (to nearest, ties to even), without the
 * floating-point formatting that costs more than the rest of the line;
 * ms is >= 0 and below 2^53 (else *whole is left for "%.0f"). */
static bool round_ms(double ms, unsigned long long *whole)
{
    if (!(ms >= 0 && ms < 9007199254740992.0))
        return false;
    unsigned long long w = (unsigned long long)ms;
    double frac = ms - (double)w; /* exact: w is ms's integer part */
    if (frac > 0.5 || (frac == 0.5 && (w & 1)))
        w++;
    *whole = w;
    return true;
}

/* v in decimal into out (21 bytes are always enough). */
static void decimal(unsigned long long v, char *out)
{
    char digits[20];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    while (n > 0)
        *out++ = digits[--n];
    *out = '\0';
}

/* A line being written into a caller's buffer: cut at its end, never
 * overrun (as snprintf cuts). */
typedef struct {
    char *at, *end; /* end: where the NUL goes at the latest */
} line_out;

static void add(line_out *o, const char *s, size_t n)
{
    size_t room = (size_t)(o->end - o->at);
    if (n > room)
        n = room;
    memcpy(o->at, s, n);
    o->at += n;
}

static void add_str(line_out *o, const char *s)
{
    add(o, s, strlen(s));
}

static void add_decimal(line_out *o, unsigned long long v)
{
    char digits[24];
    decimal(v, digits);
    add_str(o, digits);
}

/* Is name "Content-Type", in any case? Length first: most names are not. */
static bool is_content_type(const char *name)
{
    return strlen(name) == 12 && strcasecmp(name, "Content-Type") == 0;
}

void flowout_console_line(const flow_record *r, bool colour, char *out, size_t size)
{
    if (size == 0)
        return;
    const char *type = NULL;
    for (size_t i = 0; i < r->n_response_headers; i++)
        if (is_content_type(r->response_headers[i].name))
            type = r->response_headers[i].value;
    char bytes[UNITS_BYTES_LEN];
    units_bytes(r->response_bytes, bytes, sizeof bytes);
    double ms = flowjson_ms_between(&r->start, &r->end);
    /* Green 2xx/3xx, yellow 4xx, red 5xx and failures: the eye finds them. */
    const char *on = "", *off = "";
    if (colour) {
        on = r->error || r->status >= 500 ? "\033[31m"
             : r->status >= 400           ? "\033[33m"
                                          : "\033[32m";
        off = "\033[0m";
    }
    /* Plain copies rather than one snprintf: this runs for every exchange,
     * and formatting cost more than the rest of the exchange's record. */
    line_out o = {out, out + size - 1};
    add_str(&o, r->client ? r->client : "-");
    add(&o, " ", 1);
    add_str(&o, r->method && r->method[0] ? r->method : "-");
    add(&o, " ", 1);
    add_str(&o, r->url && r->url[0] ? r->url : "-");
    add(&o, " ", 1);
    add_str(&o, on);
    if (r->status > 0) {
        add_decimal(&o, (unsigned long long)r->status);
    } else if (r->status < 0) {
        char status[24];
        snprintf(status, sizeof status, "%d", r->status);
        add_str(&o, status);
    } else {
        add(&o, "-", 1);
    }
    add_str(&o, off);
    add(&o, " ", 1);
    if (type)
        add(&o, type, strcspn(type, ";"));
    else
        add(&o, "-", 1);
    add(&o, " ", 1);
    add_str(&o, bytes);
    add(&o, " ", 1);
    unsigned long long whole;
    if (round_ms(ms > 0 ? ms : 0.0, &whole)) {
        add_decimal(&o, whole);
    } else {
        char ms_text[32];
        snprintf(ms_text, sizeof ms_text, "%.0f", ms);
        add_str(&o, ms_text);
    }
    add(&o, " ms", 3);
    /* What sets this exchange apart, in words: after the fixed columns so
     * that the columns stay where the eye expects them. */
    if (r->http_major == 2)
        add_str(&o, " HTTP/2");
    if (r->websocket) {
        add_str(&o, " websocket ");
        add_decimal(&o, r->ws_messages_up);
        add_str(&o, " messages up, ");
        add_decimal(&o, r->ws_messages_down);
        add_str(&o, " down");
    }
    if (r->answered_by_proxy)
        add_str(&o, " (answered by tlspeek)");
    if (r->replay_of) {
        add_str(&o, " replay of #");
        add_decimal(&o, r->replay_of);
    }
    if (r->error) {
        add_str(&o, " error: ");
        add_str(&o, r->error);
    }
    *o.at = '\0';
}

static void console_line(flowout *f, const flow_record *r)
{
    char line[FLOWOUT_LINE_MAX];
    flowout_console_line(r, f->colour, line, sizeof line);
    log_text(LOG_INFO, line, strlen(line));
}

static void write_flows(flowout *f, const flow_record *r)
{
    pthread_mutex_lock(&f->flows_lock);
    if (flowjson_write_line(f->flows, r) != 0) {
        atomic_fetch_add(&f->lost, 1);
        if (!f->flows_failed)
            log_warn("cannot write --flows %s: %s; traffic goes on, records "
                     "are being lost", f->flows_path, strerror(errno));
        f->flows_failed = true;
    }
    pthread_mutex_unlock(&f->flows_lock);
}

void flowout_exchange(flowout *f, flow_record *r)
{
    bool final = r->phase == FLOW_DONE || r->phase == FLOW_ERROR;
    char request_file[BODIES_NAME_MAX], response_file[BODIES_NAME_MAX];
    if (final && f->bodies) {
        close_body(f, r->id, true, request_file, &r->request_body_truncated);
        close_body(f, r->id, false, response_file, &r->response_body_truncated);
        r->request_body_file = request_file[0] ? request_file : NULL;
        r->response_body_file = response_file[0] ? response_file : NULL;
    }
    size_t n = atomic_load(&f->n_observers);
    for (size_t i = 0; i < n; i++)
        if (f->observers[i].on_record)
            f->observers[i].on_record(f->observer_args[i], r);
    if (!final)
        return;
    if (f->console)
        console_line(f, r);
    if (f->flows)
        write_flows(f, r);
    if (f->har)
        harwriter_add(f->har, r); /* losses counted there */
}
