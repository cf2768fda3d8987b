/* http_flow — pairs requests and responses on a read-only tap. */
#include "http_flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_msg.h"

/* What the tap keeps of a request until its response completes. */
typedef struct {
    char method[24];
    char *target;
    char *host;
    unsigned long long body_bytes;
} pending;

struct http_flow {
    http_msg_parser *requests, *responses;
    http_flow_cb cb;
    void *arg;
    pending queue[HTTP_FLOW_MAX_PENDING]; /* ring of requests in order */
    size_t head, count;
    bool request_open;       /* the newest request's body is still arriving */
    bool response_started;   /* a response head for queue[head] was seen */
    bool response_expects_no_body_set;
    unsigned long long response_bytes;
    bool stopped;
    const char *stop_reason;
};

http_flow *http_flow_new(size_t max_head_bytes, http_flow_cb cb, void *arg)
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
    f->cb = cb;
    f->arg = arg;
    return f;
}

static void pending_clear(pending *p)
{
    free(p->target);
    free(p->host);
    memset(p, 0, sizeof *p);
}

void http_flow_free(http_flow *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++)
        pending_clear(&f->queue[(f->head + i) % HTTP_FLOW_MAX_PENDING]);
    http_msg_parser_free(f->requests);
    http_msg_parser_free(f->responses);
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

static pending *newest(http_flow *f)
{
    return &f->queue[(f->head + f->count - 1) % HTTP_FLOW_MAX_PENDING];
}

static void on_request_head(http_flow *f, const http_head *h)
{
    if (f->count == HTTP_FLOW_MAX_PENDING) {
        stop(f, "too many requests waiting for responses");
        return;
    }
    f->count++;
    pending *p = newest(f);
    snprintf(p->method, sizeof p->method, "%s", h->method);
    p->target = strdup(h->target ? h->target : "");
    const char *host = http_head_get(h, "Host");
    p->host = host ? strdup(host) : NULL;
    f->request_open = true;
    if (!p->target || (host && !p->host))
        stop(f, "out of memory");
}

void http_flow_client_data(http_flow *f, const char *data, size_t len)
{
    bool eof = len == 0;
    while (!f->stopped && (len > 0 || eof)) {
        size_t used = 0, body_len = 0;
        const char *body = NULL;
        http_msg_event ev = http_msg_feed(f->requests, data, len, &used, &body,
                                          &body_len);
        data += used;
        len -= used;
        switch (ev) {
        case HTTP_MSG_NEED_MORE:
            return;
        case HTTP_MSG_HEAD:
            on_request_head(f, http_msg_head(f->requests));
            break;
        case HTTP_MSG_BODY:
            if (f->count)
                newest(f)->body_bytes += body_len;
            break;
        case HTTP_MSG_END:
            f->request_open = false;
            if (eof)
                return;
            break;
        case HTTP_MSG_TOO_LARGE:
        case HTTP_MSG_ERROR:
            /* After CONNECT or an upgrade the bytes are not HTTP; the
             * response side decides whether that is expected. */
            if (strcmp(http_msg_error(f->requests), "upgraded") == 0)
                return;
            stop(f, "client bytes are not HTTP");
            return;
        }
    }
}

/* The response for queue[head] is complete. */
static void complete_exchange(http_flow *f, const http_head *resp, bool upgraded)
{
    if (f->count == 0) {
        stop(f, "a response without a request");
        return;
    }
    pending *p = &f->queue[f->head];
    http_exchange ex = {
        .method = p->method,
        .target = p->target,
        .host = p->host,
        .status = resp ? resp->status : 0,
        .content_type = resp ? http_head_get(resp, "Content-Type") : NULL,
        .request_bytes = p->body_bytes,
        .response_bytes = f->response_bytes,
        .upgraded = upgraded,
    };
    f->cb(f->arg, &ex);
    pending_clear(p);
    f->head = (f->head + 1) % HTTP_FLOW_MAX_PENDING;
    f->count--;
    f->response_bytes = 0;
    f->response_started = false;
    f->response_expects_no_body_set = false;
}

/* Before a response's first byte: a HEAD request's answer has no body. */
static void prepare_response(http_flow *f)
{
    if (f->response_expects_no_body_set || f->count == 0)
        return;
    f->response_expects_no_body_set = true;
    if (strcmp(f->queue[f->head].method, "HEAD") == 0)
        http_msg_expect_no_body(f->responses);
}

void http_flow_server_data(http_flow *f, const char *data, size_t len)
{
    bool eof = len == 0;
    while (!f->stopped && (len > 0 || eof)) {
        prepare_response(f);
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
            f->response_started = true;
            break;
        case HTTP_MSG_BODY:
            f->response_bytes += body_len;
            break;
        case HTTP_MSG_END:
            if (h && h->status == 101) {
                complete_exchange(f, h, true);
                stop(f, "upgraded to websocket");
                return;
            }
            if (h && h->status >= 100 && h->status < 200) {
                f->response_started = false; /* interim: the answer follows */
                break;
            }
            complete_exchange(f, h, false);
            if (eof)
                return;
            break;
        case HTTP_MSG_TOO_LARGE:
            stop(f, "server response head too large");
            return;
        case HTTP_MSG_ERROR:
            stop(f, "server bytes are not HTTP");
            return;
        }
    }
}
