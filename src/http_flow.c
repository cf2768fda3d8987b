/* http_flow — the HTTP/1 tap: pairs requests and responses. */
#include "http_flow.h"

#include <stdlib.h>
#include <string.h>

#include "http_msg.h"

typedef struct http_flow http_flow;

/* What the tap keeps of a request until its response completes. */
typedef struct {
    unsigned long long id;
    http_head request;           /* taken from the request parser (no copy) */
    struct timeval start, request_end;
    unsigned long long body_bytes;
    http_head *trailers;         /* owned copy of the request's, or NULL */
} pending;

struct http_flow {
    /* Made when bytes arrive and freed again when no exchange is open
     * (rest): a held, idle tunnel's tap keeps no parser and no queue. */
    http_msg_parser *requests, *responses;
    size_t max_head_bytes;
    tap_fields fields;
    const tap_callbacks *cbs;
    void *arg;
    atomic_ullong *next_id;
    size_t max_pending;
    /* Ring of requests in order, grown on demand up to max_pending: most
     * tunnels never pipeline, and an idle tap should cost little. */
    pending *queue;
    size_t capacity, head, count;
    bool request_open;           /* the newest request is still arriving */
    bool response_prepared;      /* expect_no_body decided for queue[head] */
    struct timeval response_start;
    unsigned long long response_bytes;
    /* An early answer: the response to the last request completed while
     * that request's body was still arriving (a refused upload). Its
     * exchange is reported when the request ends, so that request_bytes
     * counts everything relayed. */
    http_head *early;
    http_head *early_trailers;   /* its response's trailers, or NULL */
    struct timeval early_start;
    unsigned long long early_bytes;
    bool stopped;
    const char *stop_reason;
};

static struct timeval now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv;
}

static void flow_free(void *impl);

/* A parser of kind, copying only the fields outputs read: the console
 * line reads only a response's Content-Type, without outputs nothing. */
static http_msg_parser *parser_new(const http_flow *f, http_msg_kind kind)
{
    http_msg_parser *p = http_msg_parser_new(kind, f->max_head_bytes);
    if (p && f->fields != TAP_FIELDS_ALL)
        http_msg_keep_only(p, kind == HTTP_MSG_RESPONSE &&
                                      f->fields == TAP_FIELDS_CONTENT_TYPE
                                  ? "Content-Type" : NULL);
    return p;
}

static http_flow *flow_new(const tap_limits *limits, atomic_ullong *next_id,
                           const tap_callbacks *cbs, void *arg)
{
    http_flow *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->max_head_bytes = limits->max_head_bytes;
    f->fields = limits->fields;
    f->cbs = cbs;
    f->arg = arg;
    f->next_id = next_id;
    f->max_pending = limits->max_open_exchanges &&
                             limits->max_open_exchanges < HTTP_FLOW_MAX_PENDING
                         ? limits->max_open_exchanges
                         : HTTP_FLOW_MAX_PENDING;
    return f;
}

static pending *at(http_flow *f, size_t i)
{
    return &f->queue[(f->head + i) % f->capacity];
}

/* Room for one more request: doubles the ring, oldest first at 0. */
static int make_room(http_flow *f)
{
    if (f->count < f->capacity)
        return 0;
    size_t capacity = f->capacity ? f->capacity * 2 : 2;
    if (capacity > f->max_pending)
        capacity = f->max_pending;
    /* Not calloc: glibc's calloc skips the thread cache, and the queue is
     * made anew for each exchange (rest). Slots are filled before use. */
    pending *queue = malloc(capacity * sizeof *queue);
    if (!queue)
        return -1;
    for (size_t i = 0; i < f->count; i++)
        queue[i] = *at(f, i);
    free(f->queue);
    f->queue = queue;
    f->capacity = capacity;
    f->head = 0;
    return 0;
}

static void flow_free(void *impl)
{
    http_flow *f = impl;
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++) {
        http_head_clear(&at(f, i)->request);
        http_head_free(at(f, i)->trailers);
    }
    http_msg_parser_free(f->requests);
    http_msg_parser_free(f->responses);
    http_head_free(f->early);
    http_head_free(f->early_trailers);
    free(f->queue);
    free(f);
}

static bool flow_stopped(const void *impl, const char **reason)
{
    const http_flow *f = impl;
    if (reason)
        *reason = f->stop_reason;
    return f->stopped;
}

/* The exchange of pending request p as the tap reports it. */
static tap_exchange exchange_of(const http_flow *f, const pending *p,
                                const http_head *response)
{
    return (tap_exchange){
        .id = p->id,
        .http_major = p->request.version_major,
        .http_minor = p->request.version_minor,
        .request = &p->request,
        .response = response,
        .start = p->start,
        .request_end = p->request_end,
        .response_start = response ? f->response_start : (struct timeval){0, 0},
        .request_bytes = p->body_bytes,
        /* What the response stream carried is the oldest's. */
        .response_bytes = p == &f->queue[f->head] ? f->response_bytes : 0,
    };
}

/* Report and drop the oldest pending exchange. */
static void finish_oldest(http_flow *f, const http_head *response,
                          const http_head *trailers, bool upgraded, size_t tail,
                          const char *error)
{
    pending *p = at(f, 0);
    tap_exchange ex = exchange_of(f, p, response);
    ex.request_trailers = p->trailers;
    ex.response_trailers = response ? trailers : NULL;
    ex.end = now();
    ex.upgraded = upgraded;
    ex.upgrade_tail = tail;
    ex.error = error;
    f->cbs->on_event(f->arg, TAP_DONE, &ex);
    http_head_clear(&p->request);
    http_head_free(p->trailers);
    memset(p, 0, sizeof *p);
    f->head = (f->head + 1) % f->capacity;
    f->count--;
    f->response_bytes = 0;
    f->response_prepared = false;
    f->response_start = (struct timeval){0, 0};
}

/* Hold the oldest (and only) exchange's complete response h until its
 * request ends. */
static void defer_answer(http_flow *f, const http_head *h, const http_head *trailers)
{
    f->early = http_head_dup(h);
    f->early_trailers = trailers ? http_head_dup(trailers) : NULL;
    if (!f->early) {
        http_head_free(f->early_trailers);
        f->early_trailers = NULL;
        finish_oldest(f, h, trailers, false, 0, NULL); /* memory short: report it now */
        return;
    }
    f->early_start = f->response_start;
    f->early_bytes = f->response_bytes;
    f->response_bytes = 0;
    f->response_start = (struct timeval){0, 0};
}

/* Report the exchange an early answer was held for. */
static void finish_early(http_flow *f, const char *error)
{
    f->response_start = f->early_start;
    f->response_bytes = f->early_bytes;
    finish_oldest(f, f->early, f->early_trailers, false, 0, error);
    http_head_free(f->early);
    http_head_free(f->early_trailers);
    f->early = f->early_trailers = NULL;
}

/* Stop inspecting: every exchange still waiting is reported with reason
 * (the oldest with the response head it may have got), whatever made the
 * tap stop, so that outputs close what they opened for each. */
static void stop(http_flow *f, const char *reason)
{
    if (f->stopped)
        return;
    f->stopped = true;
    f->stop_reason = reason;
    if (f->early)
        finish_early(f, reason);
    const http_head *partial = f->responses ? http_msg_head(f->responses) : NULL;
    bool first = true;
    while (f->count > 0) {
        bool has_head = first && f->response_start.tv_sec != 0 && partial &&
                        partial->status >= 200;
        finish_oldest(f, has_head ? partial : NULL, NULL, false, 0, reason);
        first = false;
    }
}

static void flow_abort(void *impl, const char *reason)
{
    stop(impl, reason);
}

static void on_request_head(http_flow *f, struct timeval start)
{
    if (f->count == f->max_pending) {
        stop(f, "too many requests waiting for responses");
        return;
    }
    if (make_room(f) != 0) {
        stop(f, "out of memory");
        return;
    }
    pending *p = at(f, f->count);
    *p = (pending){0};
    if (http_msg_take_head(f->requests, &p->request) != 0) {
        stop(f, "out of memory");
        return;
    }
    p->id = atomic_fetch_add(f->next_id, 1);
    p->start = start;
    f->count++;
    f->request_open = true;
    tap_exchange ex = exchange_of(f, p, NULL);
    f->cbs->on_event(f->arg, TAP_REQUEST, &ex);
}

static void feed_client(http_flow *f, const char *data, size_t len)
{
    bool eof = len == 0;
    while (!f->stopped && (len > 0 || eof)) {
        size_t used = 0, body_len = 0;
        const char *body = NULL;
        /* A head that ends in this piece began no later than now. */
        struct timeval t = now();
        http_msg_event ev = http_msg_feed(f->requests, data, len, &used, &body,
                                          &body_len);
        data += used;
        len -= used;
        switch (ev) {
        case HTTP_MSG_NEED_MORE:
            return;
        case HTTP_MSG_HEAD:
            on_request_head(f, t);
            break;
        case HTTP_MSG_BODY:
            if (f->count && f->request_open) {
                pending *p = at(f, f->count - 1);
                p->body_bytes += body_len;
                if (f->cbs->on_body)
                    f->cbs->on_body(f->arg, p->id, true, body, body_len);
            }
            break;
        case HTTP_MSG_END:
            if (f->count && f->request_open) {
                pending *p = at(f, f->count - 1);
                p->request_end = now();
                const http_head *trailers = http_msg_trailers(f->requests);
                p->trailers = trailers ? http_head_dup(trailers) : NULL;
            }
            f->request_open = false;
            http_msg_release_head(f->requests); /* the queue took the head */
            if (f->early)
                finish_early(f, NULL);
            if (eof)
                return;
            break;
        case HTTP_MSG_TOO_LARGE:
        case HTTP_MSG_ERROR:
            /* After CONNECT or an upgrade the bytes are not HTTP; the
             * response side decides whether that is expected. */
            if (strcmp(http_msg_error(f->requests), "upgraded") == 0)
                return;
            if (eof) {
                /* A body cut short by the client's close. Once answered
                 * (a refused Expect: 100-continue) nothing is lost. */
                if (f->early)
                    finish_early(f, NULL);
                else if (f->count > 0)
                    stop(f, "truncated: the client closed mid-request");
                return;
            }
            stop(f, "client bytes are not HTTP");
            return;
        }
    }
}

/* Before a response's first byte: a HEAD request's answer has no body. */
static void prepare_response(http_flow *f)
{
    if (f->response_prepared || f->count == 0)
        return;
    f->response_prepared = true;
    f->response_start = (struct timeval){0, 0};
    if (strcmp(at(f, 0)->request.method, "HEAD") == 0)
        http_msg_expect_no_body(f->responses);
}

static void feed_server(http_flow *f, const char *data, size_t len)
{
    bool eof = len == 0;
    while (!f->stopped && (len > 0 || eof)) {
        if (f->early && eof)
            return; /* its response was complete */
        if ((f->count == 0 || f->early) && !eof) {
            stop(f, "a response without a request");
            return;
        }
        prepare_response(f);
        if (f->response_start.tv_sec == 0 && len > 0)
            f->response_start = now();
        size_t used = 0, body_len = 0;
        const char *body = NULL;
        http_msg_event ev = http_msg_feed(f->responses, data, len, &used, &body,
                                          &body_len);
        data += used;
        len -= used;
        const http_head *h = http_msg_head(f->responses);
        switch (ev) {
        case HTTP_MSG_NEED_MORE:
            return;
        case HTTP_MSG_HEAD:
            if (f->count && h && (h->status >= 200 || h->status == 101)) {
                tap_exchange ex = exchange_of(f, at(f, 0), h);
                f->cbs->on_event(f->arg, TAP_RESPONSE, &ex);
            }
            break;
        case HTTP_MSG_BODY:
            f->response_bytes += body_len;
            if (f->cbs->on_body && f->count)
                f->cbs->on_body(f->arg, at(f, 0)->id, false, body, body_len);
            break;
        case HTTP_MSG_END:
            if (f->count == 0)
                return;
            if (h && h->status == 101) {
                finish_oldest(f, h, NULL, true, len, NULL);
                stop(f, "upgraded to websocket");
                return;
            }
            if (h && h->status >= 100 && h->status < 200) {
                f->response_prepared = true; /* interim: the answer follows */
                break;
            }
            if (f->count == 1 && f->request_open)
                defer_answer(f, h, http_msg_trailers(f->responses)); /* answered
                                                    before its body ended */
            else
                finish_oldest(f, h, http_msg_trailers(f->responses), false, 0, NULL);
            http_msg_release_head(f->responses);
            if (eof)
                return;
            break;
        case HTTP_MSG_TOO_LARGE:
            stop(f, "server response head too large");
            return;
        case HTTP_MSG_ERROR:
            stop(f, eof ? "truncated: the server closed mid-response"
                                   : "server bytes are not HTTP");
            return;
        }
    }
}

/* Free what a fresh tap would not hold: the parsers once no exchange is
 * open and each is between messages, the queue once empty. Most held
 * tunnels sit idle between requests for far longer than they work. */
static void rest(http_flow *f)
{
    if (f->stopped || f->count > 0 || f->early || f->request_open)
        return;
    if (f->requests && http_msg_at_rest(f->requests)) {
        http_msg_parser_free(f->requests);
        f->requests = NULL;
    }
    if (f->responses && http_msg_at_rest(f->responses)) {
        http_msg_parser_free(f->responses);
        f->responses = NULL;
    }
    free(f->queue);
    f->queue = NULL;
    f->capacity = f->head = 0;
}

/* *p, made first if rest freed it; false (and the tap stopped) when
 * memory is short. */
static bool ready(http_flow *f, http_msg_parser **p, http_msg_kind kind)
{
    if (!*p && !f->stopped && !(*p = parser_new(f, kind)))
        stop(f, "out of memory");
    return *p != NULL;
}

static void flow_client_data(void *impl, const char *data, size_t len)
{
    http_flow *f = impl;
    if (!ready(f, &f->requests, HTTP_MSG_REQUEST))
        return;
    feed_client(f, data, len);
    rest(f);
}

static void flow_server_data(void *impl, const char *data, size_t len)
{
    http_flow *f = impl;
    if (!ready(f, &f->responses, HTTP_MSG_RESPONSE))
        return;
    feed_server(f, data, len);
    rest(f);
}

/* For tests: the parsers and queue the tap holds (0 when it rests). */
size_t http_flow_held(tap t)
{
    const http_flow *f = t.impl;
    return (f->requests != NULL) + (f->responses != NULL) + (f->queue != NULL);
}

static const tap_ops http_flow_ops = {
    .client_data = flow_client_data,
    .server_data = flow_server_data,
    .abort = flow_abort,
    .stopped = flow_stopped,
    .free = flow_free,
};

tap http_flow_tap_new(const tap_limits *limits, atomic_ullong *next_id,
                      const tap_callbacks *cbs, void *arg)
{
    return (tap){&http_flow_ops, flow_new(limits, next_id, cbs, arg)};
}
