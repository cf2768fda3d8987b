/* parent — open a tunnel through a parent proxy: HTTP CONNECT or SOCKS5.
 * See include/parent.h. */
#include "parent.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "http_msg.h"
#include "log.h"

/* Largest CONNECT answer head read from an HTTP parent. */
#define PARENT_MAX_HEAD 16384
/* Longest piece of a parent's reason phrase quoted back. */
#define PARENT_QUOTE_MAX 120

/* SOCKS5 (RFC 1928) and its user/password sub-negotiation (RFC 1929). */
#define SOCKS_VERSION 5
#define SOCKS_AUTH_NONE 0x00
#define SOCKS_AUTH_USERPASS 0x02
#define SOCKS_AUTH_UNACCEPTABLE 0xff
#define SOCKS_USERPASS_VERSION 1
#define SOCKS_CMD_CONNECT 1
#define SOCKS_ATYP_IPV4 1
#define SOCKS_ATYP_NAME 3
#define SOCKS_ATYP_IPV6 4

typedef enum {
    STEP_HTTP_HEAD,     /* CONNECT sent: reading the answer's head */
    STEP_SOCKS_METHOD,  /* greeting sent: reading the chosen method */
    STEP_SOCKS_AUTH,    /* user/password sent: reading the verdict */
    STEP_SOCKS_REPLY    /* CONNECT sent: reading the reply */
} parent_step;

struct parent_req {
    struct bufferevent *bev;
    const parent_proxy *p;
    authority target;
    char target_name[AUTHORITY_HOST_MAX + 10];
    parent_cb cb;
    void *arg;
    struct event *timer;
    int timeout_s;
    parent_step step;
    http_msg_parser *answer;  /* HTTP: the CONNECT answer's head */
    size_t fed;               /* bytes of the input given to it so far */
    char reason[PARENT_LABEL_MAX + AUTHORITY_HOST_MAX + 3 * PARENT_QUOTE_MAX];
};

void parent_set_label(parent_proxy *p)
{
    char addr[AUTHORITY_HOST_MAX + 10];
    authority_format(&p->url.addr, addr, sizeof addr);
    snprintf(p->label, sizeof p->label, "%s parent proxy %s",
             p->url.kind == PROXYURL_SOCKS5 ? "SOCKS5" : "HTTP", addr);
}

const parent_proxy *parent_for(const parent_proxy *p, const authority *target)
{
    if (!p)
        return NULL;
    if (p->except && regexec(p->except, target->host, 0, NULL, 0) == 0)
        return NULL;
    return p;
}

static void req_free(parent_req *req)
{
    if (req->timer)
        event_free(req->timer);
    if (req->bev)
        bufferevent_free(req->bev);
    http_msg_parser_free(req->answer);
    free(req);
}

static void finish(parent_req *req, bool ok)
{
    struct bufferevent *bev = NULL;
    if (ok) {
        bev = req->bev;
        req->bev = NULL;
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
        bufferevent_disable(bev, EV_READ | EV_WRITE);
    } else {
        log_debug("%s: %s", req->target_name, req->reason);
    }
    req->cb(bev, ok ? NULL : req->reason, req->arg);
    req_free(req);
}

/* Copy wire text into a quote: printable ASCII only, bounded. */
static void quote(const char *text, char *out, size_t size)
{
    size_t n = 0;
    for (; text && *text && n + 1 < size && n < PARENT_QUOTE_MAX; text++)
        out[n++] = *text >= 0x20 && *text < 0x7f ? *text : '?';
    out[n] = '\0';
}

static void fail(parent_req *req, const char *what)
{
    snprintf(req->reason, sizeof req->reason, "%s %.580s", req->p->label, what);
    finish(req, false);
}

/* ---- HTTP CONNECT ---- */

static int send_http_connect(parent_req *req)
{
    struct evbuffer *out = bufferevent_get_output(req->bev);
    const char *auth = req->p->authorization;
    return evbuffer_add_printf(out, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n",
                               req->target_name, req->target_name,
                               auth ? "Proxy-Authorization: " : "", auth ? auth : "",
                               auth ? "\r\n" : "") < 0 ? -1 : 0;
}

/* Returns true when the step is done (finished either way). */
static bool read_http_answer(parent_req *req, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    size_t have = len < PARENT_MAX_HEAD ? len : PARENT_MAX_HEAD;
    const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)have);
    if (!data || have <= req->fed)
        return false;
    size_t used = 0, body_len = 0;
    const char *body;
    http_msg_event ev = http_msg_feed(req->answer, data + req->fed, have - req->fed,
                                      &used, &body, &body_len);
    req->fed += used;
    if (ev == HTTP_MSG_NEED_MORE) {
        if (have == PARENT_MAX_HEAD)
            fail(req, "sent an answer head over 16 KiB");
        return have == PARENT_MAX_HEAD;
    }
    if (ev != HTTP_MSG_HEAD) {
        char what[sizeof req->reason];
        snprintf(what, sizeof what, "answered CONNECT %s with something that is "
                 "not HTTP (%s)", req->target_name, http_msg_error(req->answer));
        fail(req, what);
        return true;
    }
    const http_head *head = http_msg_head(req->answer);
    if (head->status >= 200 && head->status < 300) {
        /* The head's final LF is left to the caller (http_msg.h); what
         * follows it is the target's. */
        evbuffer_drain(in, req->fed + 1);
        finish(req, true);
        return true;
    }
    char phrase[PARENT_QUOTE_MAX + 1], what[sizeof req->reason];
    quote(head->reason, phrase, sizeof phrase);
    const char *hint = "";
    /* tinyproxy answers wrong credentials with 401, not 407. */
    if (head->status == 407 || (head->status == 401 && req->p->authorization))
        hint = req->p->authorization
                   ? " (it did not accept the user name and password given)"
                   : " (it wants a user name and password: "
                     "http://USER:PASS@host:port)";
    snprintf(what, sizeof what, "refused CONNECT %s: %d %s%s", req->target_name,
             head->status, phrase, hint);
    fail(req, what);
    return true;
}

/* ---- SOCKS5 ---- */

static void send_socks_greeting(parent_req *req)
{
    unsigned char hello[4] = {SOCKS_VERSION, 1, SOCKS_AUTH_NONE, 0};
    if (req->p->url.has_credentials) {
        hello[1] = 2;
        hello[3] = SOCKS_AUTH_USERPASS;
    }
    bufferevent_write(req->bev, hello, hello[1] == 2 ? 4 : 3);
}

static void send_socks_userpass(parent_req *req)
{
    const proxyurl *u = &req->p->url;
    unsigned char ulen = (unsigned char)strlen(u->user);
    unsigned char plen = (unsigned char)strlen(u->pass);
    unsigned char v = SOCKS_USERPASS_VERSION;
    bufferevent_write(req->bev, &v, 1);
    bufferevent_write(req->bev, &ulen, 1);
    bufferevent_write(req->bev, u->user, ulen);
    bufferevent_write(req->bev, &plen, 1);
    bufferevent_write(req->bev, u->pass, plen);
}

static void send_socks_connect(parent_req *req)
{
    unsigned char msg[4 + 1 + AUTHORITY_HOST_MAX + 2] = {SOCKS_VERSION,
                                                         SOCKS_CMD_CONNECT, 0};
    size_t n = 4;
    const authority *t = &req->target;
    if (t->kind == AUTHORITY_IPV4) {
        msg[3] = SOCKS_ATYP_IPV4;
        inet_pton(AF_INET, t->host, msg + n);
        n += 4;
    } else if (t->kind == AUTHORITY_IPV6) {
        msg[3] = SOCKS_ATYP_IPV6;
        inet_pton(AF_INET6, t->host, msg + n);
        n += 16;
    } else {
        /* By name: the parent resolves it (it may see names we cannot). */
        size_t len = strlen(t->host);
        msg[3] = SOCKS_ATYP_NAME;
        msg[n++] = (unsigned char)len;
        memcpy(msg + n, t->host, len);
        n += len;
    }
    msg[n++] = (unsigned char)(t->port >> 8);
    msg[n++] = (unsigned char)(t->port & 0xff);
    bufferevent_write(req->bev, msg, n);
    req->step = STEP_SOCKS_REPLY;
}

static const char *socks_reply_text(unsigned code)
{
    static const char *const texts[] = {
        "succeeded", "general SOCKS server failure",
        "connection not allowed by ruleset", "network unreachable",
        "host unreachable", "connection refused", "TTL expired",
        "command not supported", "address type not supported",
    };
    return code < sizeof texts / sizeof texts[0] ? texts[code] : "unknown reply";
}

/* Returns true when waiting for more input is pointless (finished). */
static bool read_socks(parent_req *req, struct evbuffer *in)
{
    unsigned char b[5];
    size_t len = evbuffer_get_length(in);
    char what[sizeof req->reason];
    switch (req->step) {
    case STEP_SOCKS_METHOD:
        if (len < 2)
            return false;
        evbuffer_remove(in, b, 2);
        if (b[0] != SOCKS_VERSION) {
            fail(req, "does not speak SOCKS5");
        } else if (b[1] == SOCKS_AUTH_NONE) {
            send_socks_connect(req);
            return false;
        } else if (b[1] == SOCKS_AUTH_USERPASS && req->p->url.has_credentials) {
            send_socks_userpass(req);
            req->step = STEP_SOCKS_AUTH;
            return false;
        } else {
            fail(req, req->p->url.has_credentials
                          ? "accepted none of our authentication methods"
                          : "wants a user name and password: "
                            "socks5://USER:PASS@host:port");
        }
        return true;
    case STEP_SOCKS_AUTH:
        if (len < 2)
            return false;
        evbuffer_remove(in, b, 2);
        if (b[1] != 0) {
            fail(req, "did not accept the user name and password given");
            return true;
        }
        send_socks_connect(req);
        return false;
    case STEP_SOCKS_REPLY: {
        if (len < 5)
            return false;
        evbuffer_copyout(in, b, 5);
        size_t need = b[3] == SOCKS_ATYP_IPV4   ? 4 + 4 + 2
                      : b[3] == SOCKS_ATYP_IPV6 ? 4 + 16 + 2
                                                : 4 + 1 + (size_t)b[4] + 2;
        if (b[0] != SOCKS_VERSION) {
            fail(req, "does not speak SOCKS5");
            return true;
        }
        if (b[1] != 0) {
            snprintf(what, sizeof what, "refused CONNECT %s: SOCKS reply %u, %s",
                     req->target_name, b[1], socks_reply_text(b[1]));
            fail(req, what);
            return true;
        }
        if (b[3] != SOCKS_ATYP_IPV4 && b[3] != SOCKS_ATYP_IPV6 &&
            b[3] != SOCKS_ATYP_NAME) {
            fail(req, "sent a SOCKS5 reply with an unknown address type");
            return true;
        }
        if (len < need)
            return false;
        evbuffer_drain(in, need);
        finish(req, true);
        return true;
    }
    case STEP_HTTP_HEAD:
        break;
    }
    return true;
}

/* ---- events ---- */

static void on_read(struct bufferevent *bev, void *arg)
{
    parent_req *req = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (req->step == STEP_HTTP_HEAD) {
        read_http_answer(req, in);
        return;
    }
    /* A SOCKS parent may answer several steps in one read: go on while a
     * step moves forward; stop when one waits for more bytes. */
    for (;;) {
        parent_step step = req->step;
        size_t before = evbuffer_get_length(in);
        if (read_socks(req, in))
            return; /* finished: req is gone */
        if (req->step == step && evbuffer_get_length(in) == before)
            return;
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    parent_req *req = arg;
    char text[PARENT_LABEL_MAX + 80];
    if (what & BEV_EVENT_EOF) {
        snprintf(text, sizeof text, "closed the connection before opening a tunnel "
                 "to %s", req->target_name);
    } else {
        int err = EVUTIL_SOCKET_ERROR();
        snprintf(text, sizeof text, "broke the connection before opening a tunnel "
                 "to %s%s%s", req->target_name, err ? ": " : "",
                 err ? evutil_socket_error_to_string(err) : "");
    }
    fail(req, text);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    parent_req *req = arg;
    char text[AUTHORITY_HOST_MAX + 80];
    snprintf(text, sizeof text, "did not open a tunnel to %s within %d s",
             req->target_name, req->timeout_s);
    fail(req, text);
}

parent_req *parent_open(struct bufferevent *bev, const parent_proxy *p,
                        const authority *target, int timeout_s, parent_cb cb,
                        void *arg)
{
    parent_req *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->p = p;
    req->target = *target;
    authority_format(target, req->target_name, sizeof req->target_name);
    req->cb = cb;
    req->arg = arg;
    req->timeout_s = timeout_s;
    req->timer = evtimer_new(bufferevent_get_base(bev), on_timeout, req);
    if (p->url.kind == PROXYURL_HTTP)
        req->answer = http_msg_parser_new(HTTP_MSG_RESPONSE, PARENT_MAX_HEAD);
    if (!req->timer || (p->url.kind == PROXYURL_HTTP && !req->answer)) {
        req_free(req);
        return NULL;
    }
    req->bev = bev;
    struct timeval tv = {timeout_s, 0};
    evtimer_add(req->timer, &tv);
    bufferevent_setcb(bev, on_read, NULL, on_event, req);
    if (p->url.kind == PROXYURL_HTTP) {
        req->step = STEP_HTTP_HEAD;
        http_msg_expect_no_body(req->answer);
        if (send_http_connect(req) != 0) {
            req->bev = NULL;
            req_free(req);
            return NULL;
        }
    } else {
        req->step = STEP_SOCKS_METHOD;
        send_socks_greeting(req);
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    return req;
}

void parent_cancel(parent_req *req)
{
    if (req)
        req_free(req);
}
