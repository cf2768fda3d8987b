/* http_flow — pairs requests and responses on a read-only tap. */
#include "http_flow.h"

#include <stdlib.h>
#include <string.h>

/* What the tap keeps of a request until its response completes. */
typedef struct {
    unsigned long long id;
    http_head *request;          /* owned copy */
    struct timeval start, request_end;
    unsigned long long body_bytes;
} pending;

struct http_flow {
    http_msg_parser *requests, *responses;
    const http_flow_callbacks *cbs;
    void *arg;
    atomic_ullong *next_id;
    /* Ring of requests in order, grown on demand up to
     * HTTP_FLOW_MAX_PENDING: most tunnels never pipeline, and an idle tap
     * should cost little. */
    pending *queue;
    size_t capacity, head, count;
    bool request_open;           /* the newest request is still arriving */
    bool response_prepared;      /* expect_no_body decided for queue[head] */
    struct timeval response_start;
    unsigned long long response_bytes;
    bool stopped;
    const char *stop_reason;
};

static struct timeval now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv;
}

http_flow *http_flow_new(size_t max_head_bytes, atomic_ullong *next_id,
                         const http_flow_callbacks *cbs, void *arg)
{
    http_flow *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->requests = http_msg_parser_new(HTTP_MSG_REQUEST, max_head_bytes);
    f->responses = http_msg_parser_new(HTTP_MSG_RESPONSE, max_head_bytes);
    if (!f->requests || !f->responses) {
        http_flow_free(f);
        return NULL;
    }
    f->cbs = cbs;
    f->arg = arg;
    f->next_id = next_id;
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
    if (capacity > HTTP_FLOW_MAX_PENDING)
        capacity = HTTP_FLOW_MAX_PENDING;
    pending *queue = calloc(capacity, sizeof *queue);
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

void http_flow_free(http_flow *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++)
        http_head_free(at(f, i)->request);
    http_msg_parser_free(f->requests);
    http_msg_parser_free(f->responses);
    free(f->queue);
    free(f);
}

static void stop(http_flow *f, const char *reason)
{
    if (!f->stopped) {
        f->stopped = true;
        f->stop_reason = reason;
    }
}

bool http_flow_stopped(const http_flow *f, const char **reason)
{
    if (reason)
        *reason = f->stop_reason;
    return f->stopped;
}

/* Report and drop the oldest pending exchange. */
static void finish_oldest(http_flow *f, const http_head *response, bool upgraded,
                          const char *error)
{
    pending *p = at(f, 0);
    http_exchange ex = {
        .id = p->id,
        .request = p->request,
        .response = response,
        .start = p->start,
        .request_end = p->request_end,
        .response_start = response ? f->response_start : (struct timeval){0, 0},
        .end = now(),
        .request_bytes = p->body_bytes,
        .response_bytes = f->response_bytes,
        .upgraded = upgraded,
        .error = error,
    };
    f->cbs->on_exchange(f->arg, &ex);
    http_head_free(p->request);
    memset(p, 0, sizeof *p);
    f->head = (f->head + 1) % f->capacity;
    f->count--;
    f->response_bytes = 0;
    f->response_prepared = false;
    f->response_start = (struct timeval){0, 0};
}

void http_flow_abort(http_flow *f, const char *reason)
{
    /* The oldest may have a response head already; the rest have none. */
    const http_head *partial = http_msg_head(f->responses);
    bool first = true;
    while (f->count > 0) {
        bool has_head = first && f->response_start.tv_sec != 0 && partial;
        finish_oldest(f, has_head ? partial : NULL, false, reason);
        first = false;
    }
    stop(f, reason);
}

static void on_request_head(http_flow *f, const http_head *h, struct timeval start)
{
    if (f->count == HTTP_FLOW_MAX_PENDING) {
        stop(f, "too many requests waiting for responses");
        return;
    }
    if (make_room(f) != 0) {
        stop(f, "out of memory");
        return;
    }
    pending *p = at(f, f->count);
    p->request = http_head_dup(h);
    if (!p->request) {
        stop(f, "out of memory");
        return;
    }
    p->id = atomic_fetch_add(f->next_id, 1);
    p->start = start;
    f->count++;
    f->request_open = true;
}

void http_flow_client_data(http_flow *f, const char *data, size_t len)
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
            on_request_head(f, http_msg_head(f->requests), t);
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
            if (f->count && f->request_open)
                at(f, f->count - 1)->request_end = now();
            f->request_open = false;
            http_msg_release_head(f->requests); /* the queue has a copy */
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
                if (f->count > 0)
                    http_flow_abort(f, "truncated: the client closed mid-request");
                return;
            }
            http_flow_abort(f, "client bytes are not HTTP");
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
    if (strcmp(at(f, 0)->request->method, "HEAD") == 0)
        http_msg_expect_no_body(f->responses);
}

void http_flow_server_data(http_flow *f, const char *data, size_t len)
{
    bool eof = len == 0;
    while (!f->stopped && (len > 0 || eof)) {
        if (f->count == 0 && !eof) {
            http_flow_abort(f, "a response without a request");
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
                finish_oldest(f, h, true, NULL);
                http_flow_abort(f, "upgraded to websocket");
                return;
            }
            if (h && h->status >= 100 && h->status < 200) {
                f->response_prepared = true; /* interim: the answer follows */
                break;
            }
            finish_oldest(f, h, false, NULL);
            http_msg_release_head(f->responses);
            if (eof)
                return;
            break;
        case HTTP_MSG_TOO_LARGE:
            http_flow_abort(f, "server response head too large");
            return;
        case HTTP_MSG_ERROR:
            http_flow_abort(f, eof ? "truncated: the server closed mid-response"
                                   : "server bytes are not HTTP");
            return;
        }
    }
}
