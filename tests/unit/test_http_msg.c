/* Unit tests for http_msg: every message kind it must frame, its limits and
 * errors, and the same byte streams replayed split at every offset. */
#include "check_main.h"
#include "http_msg.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEAD 8192

/* Growable text buffer for transcripts. */
typedef struct {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        ck_assert_ptr_nonnull(b->s);
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    ck_assert_int_lt(n, (int)sizeof tmp);
    sb_add(b, tmp, (size_t)n);
}

/* One run of a parser over a stream: the stream, where it is cut into
 * feeds, and the request methods the responses answer (for HEAD). */
typedef struct {
    http_msg_kind kind;
    size_t max_head;
    const char *data;
    size_t len;
    bool eof;               /* feed len 0 after the data */
    const char *methods[8]; /* responses: the request each one answers */
    bool filter;            /* http_msg_keep_only(only) */
    const char *only;
} stream;

typedef struct {
    sbuf out;       /* the transcript */
    sbuf body;      /* body bytes not yet written to the transcript */
    size_t n_method;
    size_t end_consumed[8]; /* stream offset just after each END */
    size_t n_end;
} run_state;

static void flush_body(run_state *r)
{
    if (r->body.len == 0)
        return;
    sb_printf(&r->out, "BODY %zu:", r->body.len);
    sb_add(&r->out, r->body.s, r->body.len);
    sb_add(&r->out, "\n", 1);
    r->body.len = 0;
}

static void describe_head(sbuf *o, const http_head *h)
{
    if (h->target)
        sb_printf(o, "HEAD %s %s HTTP/%d.%d", h->method, h->target,
                  h->version_major, h->version_minor);
    else
        sb_printf(o, "HEAD %d \"%s\" HTTP/%d.%d", h->status, h->reason,
                  h->version_major, h->version_minor);
    sb_printf(o, " ka=%d up=%d ch=%d cl=%lld hb=%zu", h->keep_alive,
              h->upgrade, h->chunked, (long long)h->content_length,
              h->head_bytes);
    for (size_t i = 0; i < h->n_headers; i++)
        sb_printf(o, " [%s=%s]", h->headers[i].name, h->headers[i].value);
    sb_add(o, "\n", 1);
}

static void next_method(http_msg_parser *p, const stream *s, run_state *r)
{
    const char *m = r->n_method < 8 ? s->methods[r->n_method] : NULL;
    r->n_method++;
    if (m && strcmp(m, "HEAD") == 0)
        http_msg_expect_no_body(p);
}

/* Record one event; returns false once the stream must not be fed again. */
static bool record(http_msg_parser *p, const stream *s, run_state *r,
                   http_msg_event ev, const char *body, size_t body_len,
                   size_t stream_off)
{
    const http_head *h;
    /* Bodies are compared as one byte string per message: how the payload
     * is cut into BODY events depends on the feeds. */
    if (ev != HTTP_MSG_BODY && ev != HTTP_MSG_NEED_MORE)
        flush_body(r);
    switch (ev) {
    case HTTP_MSG_NEED_MORE:
        return true;
    case HTTP_MSG_HEAD:
        h = http_msg_head(p);
        ck_assert_ptr_nonnull(h);
        describe_head(&r->out, h);
        return true;
    case HTTP_MSG_BODY:
        ck_assert_uint_gt(body_len, 0);
        /* pointers into the caller's data, no copy */
        ck_assert(body >= s->data && body + body_len <= s->data + s->len);
        sb_add(&r->body, body, body_len);
        return true;
    case HTTP_MSG_END:
        sb_add(&r->out, "END\n", 4);
        if (r->n_end < 8)
            r->end_consumed[r->n_end++] = stream_off;
        h = http_msg_head(p);
        if (s->kind == HTTP_MSG_RESPONSE && h && h->status >= 200)
            next_method(p, s, r);
        return true;
    case HTTP_MSG_TOO_LARGE:
        sb_printf(&r->out, "TOO_LARGE %s\n", http_msg_error(p));
        return false;
    case HTTP_MSG_ERROR:
        sb_printf(&r->out, "ERROR %s\n", http_msg_error(p));
        return false;
    }
    ck_abort_msg("unknown event %d", (int)ev);
    return false;
}

/* Feed s->data cut at the offsets in cuts[0..n_cuts) (increasing); returns
 * the transcript, which the caller frees. */
static char *run_cuts(const stream *s, const size_t *cuts, size_t n_cuts,
                      run_state *r)
{
    http_msg_parser *p = http_msg_parser_new(s->kind, s->max_head);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_null(http_msg_head(p));
    if (s->filter)
        http_msg_keep_only(p, s->only);
    memset(r, 0, sizeof *r);
    if (s->kind == HTTP_MSG_RESPONSE)
        next_method(p, s, r);

    bool alive = true;
    size_t start = 0;
    for (size_t c = 0; c <= n_cuts && alive; c++) {
        size_t stop = c < n_cuts ? cuts[c] : s->len;
        size_t off = start;
        unsigned guard = 0;
        while (alive && off < stop) {
            size_t used = 0, body_len = 0;
            const char *body = NULL;
            http_msg_event ev = http_msg_feed(p, s->data + off, stop - off,
                                              &used, &body, &body_len);
            ck_assert_uint_le(used, stop - off);
            if (ev == HTTP_MSG_NEED_MORE)
                ck_assert_uint_eq(used, stop - off);
            if (ev == HTTP_MSG_BODY)
                ck_assert(body >= s->data + off && body + body_len <= s->data + stop);
            off += used;
            alive = record(p, s, r, ev, body, body_len, off);
            ck_assert_uint_lt(++guard, 4 * (unsigned)s->len + 16);
        }
        start = stop;
    }
    for (unsigned guard = 0; alive && s->eof; guard++) {
        size_t used = 1, body_len = 0;
        const char *body = NULL;
        http_msg_event ev = http_msg_feed(p, "", 0, &used, &body, &body_len);
        ck_assert_uint_eq(used, 0);
        alive = record(p, s, r, ev, body, body_len, s->len);
        if (ev == HTTP_MSG_NEED_MORE)
            break;
        ck_assert_uint_lt(guard, 4);
    }
    flush_body(r);
    http_msg_parser_free(p);
    free(r->body.s);
    return r->out.s ? r->out.s : strdup("");
}

static char *run_whole(const stream *s, run_state *r)
{
    return run_cuts(s, NULL, 0, r);
}

/* The transcript must not depend on how the stream is cut: at every single
 * offset, at every pair of offsets for short streams, and byte by byte. */
static void check_splits(const stream *s, const char *expected)
{
    run_state r;
    char *whole = run_whole(s, &r);
    ck_assert_str_eq(whole, expected);
    free(whole);

    for (size_t i = 1; i < s->len; i++) {
        char *t = run_cuts(s, &i, 1, &r);
        ck_assert_msg(strcmp(t, expected) == 0, "split at %zu:\n%s", i, t);
        free(t);
    }
    if (s->len <= 80) {
        for (size_t i = 1; i < s->len; i++) {
            for (size_t j = i + 1; j < s->len; j++) {
                size_t cuts[2] = {i, j};
                char *t = run_cuts(s, cuts, 2, &r);
                ck_assert_msg(strcmp(t, expected) == 0, "split at %zu,%zu:\n%s",
                              i, j, t);
                free(t);
            }
        }
    }
    size_t *all = malloc((s->len + 1) * sizeof *all);
    ck_assert_ptr_nonnull(all);
    for (size_t i = 0; i + 1 < s->len; i++)
        all[i] = i + 1;
    char *t = run_cuts(s, all, s->len ? s->len - 1 : 0, &r);
    ck_assert_msg(strcmp(t, expected) == 0, "byte by byte:\n%s", t);
    free(t);
    free(all);
}

#define REQ(str) {.kind = HTTP_MSG_REQUEST, .max_head = MAX_HEAD, \
                  .data = (str), .len = sizeof(str) - 1}
#define RES(str) {.kind = HTTP_MSG_RESPONSE, .max_head = MAX_HEAD, \
                  .data = (str), .len = sizeof(str) - 1}

/* ---- requests ---------------------------------------------------------- */

START_TEST(req_connect)
{
    static const char in[] =
        "CONNECT example.com:443 HTTP/1.1\r\n"
        "Host: example.com:443\r\n"
        "Proxy-Connection: keep-alive\r\n"
        "\r\n"
        "\x16\x03\x01\x00\x05hello";
    stream s = REQ(in);
    check_splits(&s,
        "HEAD CONNECT example.com:443 HTTP/1.1 ka=1 up=1 ch=0 cl=-1 hb=89"
        " [Host=example.com:443] [Proxy-Connection=keep-alive]\n"
        "END\n"
        "ERROR upgraded\n");
    /* The tunnel starts right after the head. */
    run_state r;
    free(run_whole(&s, &r));
    ck_assert_uint_eq(r.n_end, 1);
    ck_assert_uint_eq(r.end_consumed[0], 89);
    ck_assert_int_eq(in[89], 0x16);
}
END_TEST

START_TEST(req_absolute_form)
{
    stream s = REQ(
        "GET http://example.com/a/b?c=d HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "Accept:   */*  \t\r\n"
        "X-Empty:\r\n"
        "X-Spaces:    \r\n"
        "Connection: keep-alive, Upgrade-Insecure-Requests\r\n"
        "\r\n");
    check_splits(&s,
        "HEAD GET http://example.com/a/b?c=d HTTP/1.1 ka=1 up=0 ch=0 cl=-1"
        " hb=156 [Host=example.com] [Accept=*/*] [X-Empty=] [X-Spaces=]"
        " [Connection=keep-alive, Upgrade-Insecure-Requests]\n"
        "END\n");
}
END_TEST

START_TEST(req_origin_form)
{
    stream s = REQ("GET /index.html HTTP/1.0\r\nHost: a\r\n\r\n");
    check_splits(&s,
        "HEAD GET /index.html HTTP/1.0 ka=0 up=0 ch=0 cl=-1 hb=37 [Host=a]\n"
        "END\n");
    stream k = REQ("OPTIONS * HTTP/1.1\r\n\r\n");
    check_splits(&k, "HEAD OPTIONS * HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=22\nEND\n");
}
END_TEST

START_TEST(req_pipelined)
{
    stream s = REQ(
        "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        "\r\n" /* stray CRLF between messages is tolerated */
        "HEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n"
        "DELETE /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    check_splits(&s,
        "HEAD GET /1 HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=28 [Host=a]\nEND\n"
        "HEAD HEAD /2 HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=29 [Host=a]\nEND\n"
        "HEAD DELETE /3 HTTP/1.1 ka=0 up=0 ch=0 cl=-1 hb=50 [Host=a]"
        " [Connection=close]\nEND\n");
    run_state r;
    free(run_whole(&s, &r));
    ck_assert_uint_eq(r.n_end, 3);
    ck_assert_uint_eq(r.end_consumed[0], 28);
    ck_assert_uint_eq(r.end_consumed[1], 30 + 29);
    ck_assert_uint_eq(r.end_consumed[2], s.len);
}
END_TEST

/* http-parser (non-strict build) keeps parsing after "Connection: close";
 * the head says keep_alive=0 and the caller decides. */
START_TEST(req_after_close)
{
    stream s = REQ("GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    check_splits(&s,
        "HEAD GET / HTTP/1.1 ka=0 up=0 ch=0 cl=-1 hb=37 [Connection=close]\n"
        "END\n"
        "HEAD GET / HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=18\nEND\n");
}
END_TEST

/* Bare LF line ends and obsolete line folding still give stable heads. */
START_TEST(req_lf_and_fold)
{
    stream s = REQ("GET / HTTP/1.1\nHost: a\n\nGET /2 HTTP/1.1\r\n"
                   "X: a\r\n  b \r\nY:\r\n c\r\n\r\n");
    check_splits(&s,
        "HEAD GET / HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=24 [Host=a]\nEND\n"
        "HEAD GET /2 HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=39 [X=a  b] [Y=c]\n"
        "END\n");
}
END_TEST

START_TEST(req_post_body)
{
    stream s = REQ(
        "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
        "hello world"
        "GET /next HTTP/1.1\r\n\r\n");
    check_splits(&s,
        "HEAD POST /submit HTTP/1.1 ka=1 up=0 ch=0 cl=11 hb=54 [Host=a]"
        " [Content-Length=11]\n"
        "BODY 11:hello world\n"
        "END\n"
        "HEAD GET /next HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=22\nEND\n");
    run_state r;
    free(run_whole(&s, &r));
    ck_assert_uint_eq(r.end_consumed[0], 65);
}
END_TEST

START_TEST(req_zero_length)
{
    stream s = REQ("PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    check_splits(&s,
        "HEAD PUT /x HTTP/1.1 ka=1 up=0 ch=0 cl=0 hb=38 [Content-Length=0]\n"
        "END\n"
        "HEAD GET / HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=18\nEND\n");
}
END_TEST

START_TEST(req_chunked)
{
    stream s = REQ(
        "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n"
        "6;ext=1\r\n world\r\n"
        "0\r\nX-Trailer: t\r\n\r\n"
        "GET / HTTP/1.1\r\n\r\n");
    check_splits(&s,
        "HEAD POST /up HTTP/1.1 ka=1 up=0 ch=1 cl=-1 hb=49"
        " [Transfer-Encoding=chunked]\n"
        "BODY 11:hello world\n"
        "END\n"
        "HEAD GET / HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=18\nEND\n");
}
END_TEST

START_TEST(req_upgrade)
{
    stream s = REQ(
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n\x81\x00");
    check_splits(&s,
        "HEAD GET /ws HTTP/1.1 ka=1 up=1 ch=0 cl=-1 hb=70 [Host=a]"
        " [Upgrade=websocket] [Connection=Upgrade]\n"
        "END\n"
        "ERROR upgraded\n");
    /* An upgrade request with a body: the body first, then no more HTTP. */
    stream b = REQ("POST /u HTTP/1.1\r\nUpgrade: x\r\nConnection: upgrade\r\n"
                   "Content-Length: 2\r\n\r\nhiXYZ");
    check_splits(&b,
        "HEAD POST /u HTTP/1.1 ka=1 up=1 ch=0 cl=2 hb=72 [Upgrade=x]"
        " [Connection=upgrade] [Content-Length=2]\n"
        "BODY 2:hi\nEND\nERROR upgraded\n");
    /* CONNECT never has a body, whatever it says. */
    stream c = REQ("CONNECT a:1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    check_splits(&c,
        "HEAD CONNECT a:1 HTTP/1.1 ka=1 up=1 ch=0 cl=2 hb=43"
        " [Content-Length=2]\nEND\nERROR upgraded\n");
}
END_TEST

/* ---- responses --------------------------------------------------------- */

START_TEST(res_chunked_trailers)
{
    stream s = RES(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nWiki\r\n"
        "5\r\npedia\r\n"
        "E\r\n in\r\n\r\nchunks.\r\n"
        "0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n"
        "HTTP/1.1 204 No Content\r\n\r\n");
    check_splits(&s,
        "HEAD 200 \"OK\" HTTP/1.1 ka=1 up=0 ch=1 cl=-1 hb=47"
        " [Transfer-Encoding=chunked]\n"
        "BODY 23:Wikipedia in\r\n\r\nchunks.\n"
        "END\n"
        "HEAD 204 \"No Content\" HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=27\n"
        "END\n");
}
END_TEST

START_TEST(res_head)
{
    stream s = RES(
        "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "HTTP/1.1 200 OK\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    s.methods[0] = "HEAD";
    s.methods[1] = "HEAD";
    s.methods[2] = "HEAD";
    s.methods[3] = "GET";
    check_splits(&s,
        "HEAD 200 \"OK\" HTTP/1.1 ka=1 up=0 ch=0 cl=1234 hb=41"
        " [Content-Length=1234]\nEND\n"
        "HEAD 200 \"OK\" HTTP/1.1 ka=1 up=0 ch=1 cl=-1 hb=47"
        " [Transfer-Encoding=chunked]\nEND\n"
        "HEAD 200 \"OK\" HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=19\nEND\n"
        "HEAD 200 \"OK\" HTTP/1.1 ka=1 up=0 ch=0 cl=2 hb=38"
        " [Content-Length=2]\nBODY 2:hi\nEND\n");
}
END_TEST

START_TEST(res_continue)
{
    stream s = RES(
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    check_splits(&s,
        "HEAD 100 \"Continue\" HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=25\nEND\n"
        "HEAD 103 \"Early Hints\" HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=57"
        " [Link=</a.css>; rel=preload]\nEND\n"
        "HEAD 200 \"OK\" HTTP/1.1 ka=1 up=0 ch=0 cl=3 hb=38"
        " [Content-Length=3]\nBODY 3:abc\nEND\n");
    /* expect_no_body outlives interim responses: it is for the final one. */
    stream h = RES(
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    h.methods[0] = "HEAD";
    check_splits(&h,
        "HEAD 100 \"Continue\" HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=25\nEND\n"
        "HEAD 200 \"OK\" HTTP/1.1 ka=1 up=0 ch=0 cl=3 hb=38"
        " [Content-Length=3]\nEND\n"
        "HEAD 200 \"OK\" HTTP/1.1 ka=1 up=0 ch=0 cl=3 hb=38"
        " [Content-Length=3]\nBODY 3:abc\nEND\n");
}
END_TEST

START_TEST(res_no_body_status)
{
    stream s = RES(
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n"
        "HTTP/1.1 304 Not Modified\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz");
    check_splits(&s,
        "HEAD 204 \"No Content\" HTTP/1.1 ka=1 up=0 ch=0 cl=5 hb=46"
        " [Content-Length=5]\nEND\n"
        "HEAD 304 \"Not Modified\" HTTP/1.1 ka=1 up=0 ch=0 cl=10 hb=60"
        " [Content-Length=10] [ETag=\"x\"]\nEND\n"
        "HEAD 304 \"Not Modified\" HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=29\nEND\n"
        "HEAD 200 \"OK\" HTTP/1.1 ka=1 up=0 ch=0 cl=1 hb=38"
        " [Content-Length=1]\nBODY 1:z\nEND\n");
}
END_TEST

START_TEST(res_close_delimited)
{
    stream s = RES("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome body\r\nbytes");
    s.eof = true;
    check_splits(&s,
        "HEAD 200 \"OK\" HTTP/1.1 ka=0 up=0 ch=0 cl=-1 hb=38"
        " [Connection=close]\n"
        "BODY 16:some body\r\nbytes\n"
        "END\n");
    stream o = RES("HTTP/1.0 200\r\n\r\nold");
    o.eof = true;
    check_splits(&o,
        "HEAD 200 \"\" HTTP/1.0 ka=0 up=0 ch=0 cl=-1 hb=16\n"
        "BODY 3:old\nEND\n");
    stream e = RES("HTTP/1.1 200 OK\r\n\r\n");
    e.eof = true;
    check_splits(&e, "HEAD 200 \"OK\" HTTP/1.1 ka=0 up=0 ch=0 cl=-1 hb=19\nEND\n");
}
END_TEST

START_TEST(res_upgrade)
{
    stream s = RES(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n\x81\x05hello");
    check_splits(&s,
        "HEAD 101 \"Switching Protocols\" HTTP/1.1 ka=1 up=1 ch=0 cl=-1 hb=77"
        " [Upgrade=websocket] [Connection=Upgrade]\n"
        "END\n"
        "ERROR upgraded\n");
    /* The end of a stream after an upgrade is not an error. */
    s.len = 77;
    s.eof = true;
    check_splits(&s,
        "HEAD 101 \"Switching Protocols\" HTTP/1.1 ka=1 up=1 ch=0 cl=-1 hb=77"
        " [Upgrade=websocket] [Connection=Upgrade]\n"
        "END\n");
}
END_TEST

/* ---- errors and limits ------------------------------------------------- */

START_TEST(err_garbage)
{
    stream tls = REQ("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    check_splits(&tls, "ERROR invalid request line\n");
    stream junk = RES("garbage\r\n\r\n");
    check_splits(&junk, "ERROR invalid status line\n");
    stream ver = REQ("GET / HTTP/9.x\r\n\r\n");
    check_splits(&ver, "ERROR invalid HTTP version\n");
    stream url = REQ("GET /a\x01 HTTP/1.1\r\n\r\n");
    check_splits(&url, "ERROR invalid request target\n");
    stream hdr = REQ("GET / HTTP/1.1\r\nBad(H): x\r\n\r\n");
    check_splits(&hdr, "ERROR invalid character in header\n");
    stream nocolon = REQ("GET / HTTP/1.1\r\nX-A\r\n\r\n");
    check_splits(&nocolon, "ERROR invalid character in header\n");
    stream ctl = REQ("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n");
    check_splits(&ctl, "ERROR invalid character in header\n");
    stream st = RES("HTTP/1.1 2x0 OK\r\n\r\n");
    check_splits(&st, "ERROR invalid status line\n");
    stream chunk = REQ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    check_splits(&chunk,
        "HEAD POST / HTTP/1.1 ka=1 up=0 ch=1 cl=-1 hb=47"
        " [Transfer-Encoding=chunked]\n"
        "ERROR invalid chunk size\n");
    /* The error is sticky. */
    http_msg_parser *p = http_msg_parser_new(HTTP_MSG_REQUEST, MAX_HEAD);
    size_t used;
    const char *body;
    size_t body_len;
    ck_assert_int_eq(http_msg_feed(p, "\x16", 1, &used, &body, &body_len),
                     HTTP_MSG_ERROR);
    ck_assert_int_eq(http_msg_feed(p, "GET / HTTP/1.1\r\n\r\n", 18, &used,
                                   &body, &body_len), HTTP_MSG_ERROR);
    ck_assert_uint_eq(used, 0);
    ck_assert_int_eq(http_msg_feed(p, "", 0, &used, &body, &body_len),
                     HTTP_MSG_ERROR);
    ck_assert_str_eq(http_msg_error(p), "invalid request line");
    http_msg_parser_free(p);
}
END_TEST

START_TEST(err_content_length)
{
    stream dup = REQ("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
    check_splits(&dup, "ERROR conflicting Content-Length or Transfer-Encoding\n");
    stream diff = RES("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
    check_splits(&diff, "ERROR conflicting Content-Length or Transfer-Encoding\n");
    stream clte = REQ("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    check_splits(&clte, "ERROR conflicting Content-Length or Transfer-Encoding\n");
    stream bad = REQ("POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\nhello");
    check_splits(&bad, "ERROR invalid Content-Length\n");
    stream huge = REQ("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n");
    check_splits(&huge, "ERROR invalid Content-Length\n");
    stream big = REQ("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n");
    check_splits(&big, "ERROR content length too large\n");
    stream te = REQ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxyz");
    check_splits(&te,
        "HEAD POST / HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=44"
        " [Transfer-Encoding=gzip]\n"
        "ERROR request has invalid transfer-encoding\n");
}
END_TEST

/* A stream of one request whose head is exactly n bytes long. */
static char *head_of_size(size_t n)
{
    static const char start[] = "GET / HTTP/1.1\r\nX: ";
    size_t fixed = sizeof start - 1 + 4;
    ck_assert_uint_ge(n, fixed);
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, start, sizeof start - 1);
    memset(s + sizeof start - 1, 'v', n - fixed);
    memcpy(s + n - 4, "\r\n\r\n", 4);
    s[n] = '\0';
    return s;
}

START_TEST(limit_head_size)
{
    char *exact = head_of_size(100);
    stream s = {.kind = HTTP_MSG_REQUEST, .max_head = 100, .data = exact, .len = 100};
    char want[256];
    snprintf(want, sizeof want,
             "HEAD GET / HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=100 [X=%.*s]\nEND\n",
             100 - 23, exact + 19);
    check_splits(&s, want);

    char *over = head_of_size(101);
    stream o = {.kind = HTTP_MSG_REQUEST, .max_head = 100, .data = over, .len = 101};
    check_splits(&o, "TOO_LARGE head too large\n");
    stream res = {.kind = HTTP_MSG_RESPONSE, .max_head = 29, .eof = true,
                  .data = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", .len = 30};
    check_splits(&res, "TOO_LARGE head too large\n");
    res.max_head = 30;
    check_splits(&res, "HEAD 200 \"OK\" HTTP/1.1 ka=0 up=0 ch=0 cl=-1 hb=30"
                       " [Server=x]\nEND\n");

    /* Leading CRLFs between messages do not count towards the head. */
    char *lead = malloc(104);
    ck_assert_ptr_nonnull(lead);
    memcpy(lead, "\r\n\r\n", 4);
    memcpy(lead + 4, exact, 100);
    stream l = {.kind = HTTP_MSG_REQUEST, .max_head = 100, .data = lead, .len = 104};
    check_splits(&l, want);

    /* A huge head in one feed is refused without reading it all. */
    char *huge = head_of_size(1 << 20);
    http_msg_parser *p = http_msg_parser_new(HTTP_MSG_REQUEST, 4096);
    size_t used;
    const char *body;
    size_t body_len;
    ck_assert_int_eq(http_msg_feed(p, huge, 1 << 20, &used, &body, &body_len),
                     HTTP_MSG_TOO_LARGE);
    ck_assert_uint_eq(used, 4096);
    ck_assert_str_eq(http_msg_error(p), "head too large");
    http_msg_parser_free(p);

    /* Past http-parser's own limit (80 KiB) it is still TOO_LARGE. */
    stream b = {.kind = HTTP_MSG_REQUEST, .max_head = 1 << 21, .data = huge,
                .len = 1 << 20};
    run_state r;
    char *t = run_whole(&b, &r);
    ck_assert_str_eq(t, "TOO_LARGE head too large\n");
    free(t);
    free(huge);
    free(exact);
    free(over);
    free(lead);
}
END_TEST

/* A request with n header fields "Hi: i". */
static char *many_headers(size_t n, size_t *len)
{
    sbuf b = {0};
    sb_printf(&b, "GET / HTTP/1.1\r\n");
    for (size_t i = 0; i < n; i++)
        sb_printf(&b, "H%zu: %zu\r\n", i, i);
    sb_printf(&b, "\r\n");
    *len = b.len;
    return b.s;
}

START_TEST(limit_header_count)
{
    size_t len;
    char *ok = many_headers(HTTP_HEAD_MAX_HEADERS, &len);
    stream s = {.kind = HTTP_MSG_REQUEST, .max_head = MAX_HEAD, .data = ok, .len = len};
    run_state r;
    char *t = run_whole(&s, &r);
    ck_assert_ptr_nonnull(strstr(t, " [H127=127]\nEND\n"));
    free(t);

    http_msg_parser *p = http_msg_parser_new(HTTP_MSG_REQUEST, MAX_HEAD);
    size_t used;
    const char *body;
    size_t body_len;
    ck_assert_int_eq(http_msg_feed(p, ok, len, &used, &body, &body_len), HTTP_MSG_HEAD);
    const http_head *h = http_msg_head(p);
    ck_assert_uint_eq(h->n_headers, HTTP_HEAD_MAX_HEADERS);
    ck_assert_str_eq(http_head_get(h, "h100"), "100");
    http_msg_parser_free(p);

    char *bad = many_headers(HTTP_HEAD_MAX_HEADERS + 1, &len);
    stream o = {.kind = HTTP_MSG_REQUEST, .max_head = MAX_HEAD, .data = bad, .len = len};
    check_splits(&o, "TOO_LARGE too many header fields\n");
    free(ok);
    free(bad);
}
END_TEST

START_TEST(err_truncated)
{
    stream head = REQ("GET / HTTP/1.1\r\nHost: a");
    head.eof = true;
    check_splits(&head, "ERROR truncated message\n");
    stream body = REQ("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    body.eof = true;
    check_splits(&body,
        "HEAD POST / HTTP/1.1 ka=1 up=0 ch=0 cl=10 hb=39 [Content-Length=10]\n"
        "BODY 3:abc\nERROR truncated message\n");
    stream chunk = RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
    chunk.eof = true;
    check_splits(&chunk,
        "HEAD 200 \"OK\" HTTP/1.1 ka=1 up=0 ch=1 cl=-1 hb=47"
        " [Transfer-Encoding=chunked]\n"
        "BODY 2:ab\nERROR truncated message\n");
    /* A clean end between messages is just the end. */
    stream clean = REQ("GET / HTTP/1.1\r\n\r\n\r\n");
    clean.eof = true;
    check_splits(&clean, "HEAD GET / HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=18\nEND\n");
    stream empty = {.kind = HTTP_MSG_RESPONSE, .max_head = MAX_HEAD, .data = "",
                    .len = 0, .eof = true};
    check_splits(&empty, "");
}
END_TEST

/* ---- head accessors ---------------------------------------------------- */

START_TEST(head_lookup)
{
    static const char in[] =
        "GET / HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "Connection: keep-alive , Upgrade\r\n"
        "connection: TE,\t close\r\n"
        "Transfer-Encoding: gzip, chunked\r\n"
        "X-List: a,,b\r\n"
        "X-Empty:\r\n"
        "\r\n";
    http_msg_parser *p = http_msg_parser_new(HTTP_MSG_REQUEST, MAX_HEAD);
    size_t used;
    const char *body;
    size_t body_len;
    ck_assert_int_eq(http_msg_feed(p, in, sizeof in - 1, &used, &body, &body_len),
                     HTTP_MSG_HEAD);
    const http_head *h = http_msg_head(p);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(http_head_get(h, "HOST"), "example.com");
    ck_assert_str_eq(http_head_get(h, "connection"), "keep-alive , Upgrade");
    ck_assert_str_eq(http_head_get(h, "x-empty"), "");
    ck_assert_ptr_null(http_head_get(h, "Hos"));
    ck_assert_ptr_null(http_head_get(h, "Hostt"));
    ck_assert(http_head_has_token(h, "Connection", "upgrade"));
    ck_assert(http_head_has_token(h, "Connection", "KEEP-ALIVE"));
    ck_assert(http_head_has_token(h, "Connection", "close"));
    ck_assert(http_head_has_token(h, "connection", "te"));
    ck_assert(!http_head_has_token(h, "Connection", "keep"));
    ck_assert(!http_head_has_token(h, "Connection", "alive"));
    ck_assert(http_head_has_token(h, "Transfer-Encoding", "chunked"));
    ck_assert(!http_head_has_token(h, "Transfer-Encoding", "chunk"));
    ck_assert(http_head_has_token(h, "X-List", "b"));
    ck_assert(!http_head_has_token(h, "X-List", "c"));
    ck_assert(!http_head_has_token(h, "X-Empty", "x"));
    ck_assert(!http_head_has_token(h, "Absent", "x"));
    ck_assert_int_eq(h->status, 0);
    ck_assert_ptr_null(h->reason);
    http_msg_parser_free(p);

    /* A response head has a reason and no target; clear zeroes it. */
    p = http_msg_parser_new(HTTP_MSG_RESPONSE, MAX_HEAD);
    ck_assert_int_eq(http_msg_feed(p, "HTTP/1.1 404 Not Found\r\nA: b\r\n\r\n",
                                   33, &used, &body, &body_len), HTTP_MSG_HEAD);
    h = http_msg_head(p);
    ck_assert_ptr_null(h->target);
    ck_assert_str_eq(h->reason, "Not Found");
    ck_assert_int_eq(h->status, 404);
    ck_assert_str_eq(h->method, "");
    http_head copy;
    memset(&copy, 0, sizeof copy);
    copy.headers = calloc(1, sizeof *copy.headers);
    copy.headers_capacity = 1;
    copy.n_headers = 1;
    copy.headers[0].name = strdup(h->headers[0].name);
    copy.headers[0].value = strdup(h->headers[0].value);
    copy.reason = strdup(h->reason);
    http_head_clear(&copy);
    ck_assert_uint_eq(copy.n_headers, 0);
    ck_assert_ptr_null(copy.reason);
    http_msg_parser_free(p);
    http_msg_parser_free(NULL);
}
END_TEST

/* Feeds one fixed input to a parser piece by piece, as the proxy does:
 * each call hands over what is left (at most max bytes) and moves past
 * what the parser used. */
typedef struct {
    http_msg_parser *p;
    const char *in;
    size_t len, off, used;
    const char *body;
    size_t body_len;
} feeder;

#define FEEDER(parser, literal) {(parser), (literal), sizeof(literal) - 1, 0, 0, NULL, 0}

static http_msg_event feed_at_most(feeder *f, size_t max)
{
    size_t n = f->len - f->off < max ? f->len - f->off : max;
    http_msg_event ev = http_msg_feed(f->p, f->in + f->off, n, &f->used, &f->body,
                                      &f->body_len);
    f->off += f->used;
    return ev;
}

static http_msg_event feed(feeder *f)
{
    return feed_at_most(f, SIZE_MAX);
}

/* The head stays readable after END and until the next message starts. */
START_TEST(head_lifetime)
{
    static const char in[] = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    http_msg_parser *p = http_msg_parser_new(HTTP_MSG_REQUEST, MAX_HEAD);
    feeder f = FEEDER(p, in);
    ck_assert_int_eq(feed(&f), HTTP_MSG_HEAD);
    ck_assert_int_eq(feed(&f), HTTP_MSG_END);
    ck_assert_uint_eq(f.off, 19);
    ck_assert_str_eq(http_msg_head(p)->target, "/a");
    ck_assert_int_eq(feed_at_most(&f, 3), HTTP_MSG_NEED_MORE);
    ck_assert_uint_eq(f.used, 3);
    ck_assert_ptr_null(http_msg_head(p));
    ck_assert_int_eq(feed(&f), HTTP_MSG_HEAD);
    ck_assert_str_eq(http_msg_head(p)->target, "/b");
    ck_assert_ptr_null(http_msg_error(p));
    http_msg_parser_free(p);
}
END_TEST

/* A released head is gone at once, but only between messages: mid-message
 * the head is still in use and release does nothing. The next message
 * parses as usual. */
START_TEST(head_release)
{
    static const char in[] = "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"
                             "GET /b HTTP/1.1\r\n\r\n";
    http_msg_parser *p = http_msg_parser_new(HTTP_MSG_REQUEST, MAX_HEAD);
    feeder f = FEEDER(p, in);
    ck_assert_int_eq(feed(&f), HTTP_MSG_HEAD);
    http_msg_release_head(p); /* mid-message: kept */
    ck_assert_str_eq(http_msg_head(p)->target, "/a");
    ck_assert_int_eq(feed(&f), HTTP_MSG_BODY);
    ck_assert_int_eq(feed(&f), HTTP_MSG_END);
    ck_assert_str_eq(http_msg_head(p)->target, "/a");
    http_msg_release_head(p);
    ck_assert_ptr_null(http_msg_head(p));
    ck_assert_int_eq(feed(&f), HTTP_MSG_HEAD);
    ck_assert_str_eq(http_msg_head(p)->target, "/b");
    ck_assert_int_eq(http_msg_head(p)->content_length, -1);
    http_msg_parser_free(p);
}
END_TEST

/* A taken head is the caller's: the parser goes on with the body and the
 * next message without touching it, and has no head until the next one. */
START_TEST(head_take)
{
    static const char in[] = "POST /a HTTP/1.1\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok"
                             "GET /b HTTP/1.1\r\nX-B: 2\r\n\r\n";
    http_msg_parser *p = http_msg_parser_new(HTTP_MSG_REQUEST, MAX_HEAD);
    feeder f = FEEDER(p, in);
    http_head taken = {0};
    ck_assert_int_eq(http_msg_take_head(p, &taken), -1); /* nothing yet */
    ck_assert_int_eq(feed(&f), HTTP_MSG_HEAD);
    ck_assert_int_eq(http_msg_take_head(p, &taken), 0);
    ck_assert_ptr_null(http_msg_head(p));
    ck_assert_int_eq(http_msg_take_head(p, &(http_head){0}), -1);
    ck_assert_int_eq(feed(&f), HTTP_MSG_BODY);
    ck_assert_int_eq(feed(&f), HTTP_MSG_END);
    http_msg_release_head(p);
    ck_assert_int_eq(feed(&f), HTTP_MSG_HEAD);
    ck_assert_str_eq(http_msg_head(p)->target, "/b");
    ck_assert_int_eq(http_msg_head(p)->content_length, -1);
    http_msg_parser_free(p);
    /* Still whole after the parser went on and was freed. */
    ck_assert_str_eq(taken.method, "POST");
    ck_assert_str_eq(taken.target, "/a");
    ck_assert_int_eq(taken.content_length, 2);
    ck_assert_uint_eq(taken.n_headers, 2);
    ck_assert_str_eq(taken.headers[1].name, "X-A");
    ck_assert_str_eq(taken.headers[1].value, "1");
    ck_assert_uint_gt(taken.head_bytes, 0);
    http_head_clear(&taken);
}
END_TEST

/* Does s lie in h's block? */
static bool in_block(const http_head *h, const char *s)
{
    return s && (size_t)(s - h->block) < h->block_len &&
           s + strlen(s) < h->block + h->block_len;
}

static void assert_one_block(const http_head *h)
{
    ck_assert_ptr_nonnull(h->block);
    ck_assert_uint_le(h->block_len, h->block_cap);
    ck_assert(!h->target || in_block(h, h->target));
    ck_assert(!h->reason || in_block(h, h->reason));
    for (size_t i = 0; i < h->n_headers; i++)
        ck_assert(in_block(h, h->headers[i].name) && in_block(h, h->headers[i].value));
}

/* A head's strings go into one block, trimmed as they arrive: a head of
 * 2.8 KiB (the block grows, and moves, several times while fields arrive in
 * pieces), values with spaces and tabs around and inside them, an empty
 * one, a folded one; the same at every split. Its copy is one block too,
 * and a field added to that copy moves it without losing the others. */
START_TEST(head_block)
{
    sbuf in = {0}, want = {0};
    sb_printf(&in, "GET /%s HTTP/1.1\r\n", "block");
    sb_printf(&want, "HEAD GET /block HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=");
    sbuf fields = {0};
    for (int i = 0; i < 60; i++) {
        sb_printf(&in, "X-Field-%02d: \t %.*s a\t b %s\t\r\n", i, 20 + i % 7,
                  "0123456789abcdefghijklmnopqrstuvwxyz", i % 2 ? " " : "");
        sb_printf(&fields, " [X-Field-%02d=%.*s a\t b]", i, 20 + i % 7,
                  "0123456789abcdefghijklmnopqrstuvwxyz");
    }
    sb_printf(&in, "Empty:  \t \r\nFolded: one \r\n  two\t\r\n\r\n");
    sb_printf(&fields, " [Empty=] [Folded=one   two]");
    sb_printf(&want, "%zu", in.len);
    sb_add(&want, fields.s, fields.len);
    sb_printf(&want, "\nEND\n");
    ck_assert_uint_gt(in.len, 2048);
    stream s = {.kind = HTTP_MSG_REQUEST, .max_head = MAX_HEAD, .data = in.s, .len = in.len};
    check_splits(&s, want.s);

    http_msg_parser *p = http_msg_parser_new(HTTP_MSG_REQUEST, MAX_HEAD);
    size_t used, body_len;
    const char *body;
    ck_assert_int_eq(http_msg_feed(p, in.s, in.len, &used, &body, &body_len), HTTP_MSG_HEAD);
    const http_head *h = http_msg_head(p);
    assert_one_block(h);
    ck_assert_uint_gt(h->block_cap, 512); /* it grew */
    http_head *copy = http_head_dup(h);
    ck_assert_ptr_nonnull(copy);
    assert_one_block(copy);
    ck_assert_ptr_ne(copy->block, h->block);
    ck_assert_uint_eq(copy->block_len, copy->block_cap); /* sized exactly */
    ck_assert_str_eq(copy->target, "/block");
    ck_assert_uint_eq(copy->n_headers, 62);
    for (size_t i = 0; i < h->n_headers; i++) {
        ck_assert_str_eq(copy->headers[i].name, h->headers[i].name);
        ck_assert_str_eq(copy->headers[i].value, h->headers[i].value);
    }
    http_msg_parser_free(p);
    char *old = copy->block;
    ck_assert_int_eq(http_head_add(copy, "Added", 5, "  v  ", 5), 0);
    ck_assert_ptr_ne(copy->block, old); /* full, so it moved */
    assert_one_block(copy);
    ck_assert_str_eq(http_head_get(copy, "added"), "v");
    ck_assert_str_eq(http_head_get(copy, "x-field-59"),
                     "0123456789abcdefghijklm a\t b");
    ck_assert_str_eq(http_head_get(copy, "folded"), "one   two");
    http_head_free(copy);
    free(in.s);
    free(want.s);
    free(fields.s);
}
END_TEST

/* Only the fields asked for are kept, spelled as sent, whatever the case
 * and however the names arrive in pieces; names that only begin like it,
 * or that it begins, are not it. Framing still reads every field, and the
 * field count limit still counts those not kept. */
START_TEST(keep_only)
{
    static const char res[] =
        "HTTP/1.1 200 OK\r\nContent-Typ: a\r\ncontent-TYPE: text/html ; x\r\n"
        "Content-Length: 3\r\nContent-Type-X: b\r\nServer: s\r\n"
        "Content-Type:\r\nConnection: close\r\n\r\nabc"
        "HTTP/1.1 204 No Content\r\nX: y\r\nContent-Type: c \r\n\r\n";
    stream s = RES(res);
    s.filter = true;
    s.only = "Content-Type";
    check_splits(&s,
        "HEAD 200 \"OK\" HTTP/1.1 ka=0 up=0 ch=0 cl=3 hb=147"
        " [content-TYPE=text/html ; x] [Content-Type=]\n"
        "BODY 3:abc\nEND\n"
        "HEAD 204 \"No Content\" HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=51 [Content-Type=c]\n"
        "END\n");

    /* None kept: no field, the same framing. */
    s.only = NULL;
    check_splits(&s,
        "HEAD 200 \"OK\" HTTP/1.1 ka=0 up=0 ch=0 cl=3 hb=147\n"
        "BODY 3:abc\nEND\n"
        "HEAD 204 \"No Content\" HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=51\nEND\n");

    size_t len;
    char *bad = many_headers(HTTP_HEAD_MAX_HEADERS + 1, &len);
    stream o = {.kind = HTTP_MSG_REQUEST, .max_head = MAX_HEAD, .data = bad, .len = len,
                .filter = true};
    check_splits(&o, "TOO_LARGE too many header fields\n");
    o.only = "H3";
    check_splits(&o, "TOO_LARGE too many header fields\n");
    free(bad);
    char *ok = many_headers(HTTP_HEAD_MAX_HEADERS, &len);
    stream k = {.kind = HTTP_MSG_REQUEST, .max_head = MAX_HEAD, .data = ok, .len = len,
                .filter = true, .only = "h3"};
    check_splits(&k, "HEAD GET / HTTP/1.1 ka=1 up=0 ch=0 cl=-1 hb=1206 [H3=3]\nEND\n");
    free(ok);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("http_msg");

    check_case(s, "requests", 60, CHECK_TESTS(
        req_connect, req_absolute_form, req_origin_form, req_pipelined, req_after_close,
        req_lf_and_fold, req_post_body, req_zero_length, req_chunked, req_upgrade));

    check_case(s, "responses", 60, CHECK_TESTS(
        res_chunked_trailers, res_head, res_continue, res_no_body_status, res_close_delimited,
        res_upgrade));

    check_case(s, "errors", 60, CHECK_TESTS(err_garbage, err_content_length, err_truncated));

    check_case(s, "limits", 60, CHECK_TESTS(limit_head_size, limit_header_count));

    check_case(s, "heads", 0, CHECK_TESTS(
        head_lookup, head_lifetime, head_release, head_take, head_block, keep_only));
    return s;
}
