/* Unit tests for h2_flow (and h2_msg under it): connections written frame
 * by frame, header blocks encoded by nghttp2's own HPACK deflater (one per
 * direction, as a real peer keeps), replayed whole, split at every byte of
 * every step, and one byte at a time. */
#include "h2_flow.h"
#include "h2_msg.h"

#include "check_main.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DATA = 0, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY,
       WINDOW_UPDATE, CONTINUATION };
enum { END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIO = 0x20 };
#define CLIENT true
#define SERVER false
#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

/* A connection: the bytes each side sends, in the order they cross. */
typedef struct {
    bool client;
    unsigned char *data;
    size_t len;
} step;

typedef struct {
    step steps[256];
    size_t n;
    nghttp2_hd_deflater *enc[2]; /* [1] encodes the client's blocks */
} script;

static void script_init(script *sc)
{
    memset(sc, 0, sizeof *sc);
    ck_assert_int_eq(nghttp2_hd_deflate_new(&sc->enc[0], 4096), 0);
    ck_assert_int_eq(nghttp2_hd_deflate_new(&sc->enc[1], 4096), 0);
}

static void script_free(script *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        free(sc->steps[i].data);
    nghttp2_hd_deflate_del(sc->enc[0]);
    nghttp2_hd_deflate_del(sc->enc[1]);
}

/* Append bytes sent by one side (a new step when the side changes). */
static void put(script *sc, bool client, const void *p, size_t n)
{
    if (sc->n == 0 || sc->steps[sc->n - 1].client != client) {
        ck_assert_uint_lt(sc->n, 256);
        sc->steps[sc->n++].client = client;
    }
    step *s = &sc->steps[sc->n - 1];
    s->data = realloc(s->data, s->len + n + 1);
    memcpy(s->data + s->len, p, n);
    s->len += n;
}

static void frame(script *sc, bool client, int type, int flags, uint32_t stream,
                  const void *payload, size_t len)
{
    unsigned char h[9] = {(unsigned char)(len >> 16), (unsigned char)(len >> 8),
                          (unsigned char)len, (unsigned char)type, (unsigned char)flags,
                          (unsigned char)(stream >> 24), (unsigned char)(stream >> 16),
                          (unsigned char)(stream >> 8), (unsigned char)stream};
    put(sc, client, h, 9);
    put(sc, client, payload, len);
}

/* HPACK-encode name/value pairs (NULL-terminated list) with that side's
 * deflater into out; returns the length. */
static size_t encode(script *sc, bool client, const char *const *nv, unsigned char *out,
                     size_t cap)
{
    nghttp2_nv fields[64];
    size_t n = 0;
    for (; nv[2 * n]; n++)
        fields[n] = (nghttp2_nv){(uint8_t *)nv[2 * n], (uint8_t *)nv[2 * n + 1],
                                 strlen(nv[2 * n]), strlen(nv[2 * n + 1]),
                                 NGHTTP2_NV_FLAG_NONE};
    ssize_t len = nghttp2_hd_deflate_hd(sc->enc[client ? 1 : 0], out, cap, fields, n);
    ck_assert_int_gt(len, 0);
    return (size_t)len;
}

/* One HEADERS frame carrying the whole block. */
static void headers(script *sc, bool client, uint32_t stream, int flags,
                    const char *const *nv)
{
    unsigned char block[8192];
    size_t len = encode(sc, client, nv, block, sizeof block);
    frame(sc, client, HEADERS, flags | END_HEADERS, stream, block, len);
}

static void data(script *sc, bool client, uint32_t stream, int flags, const char *text)
{
    frame(sc, client, DATA, flags, stream, text, strlen(text));
}

/* Client preface and empty SETTINGS each way, acknowledged. */
static void open_connection(script *sc)
{
    put(sc, CLIENT, PREFACE, 24);
    frame(sc, CLIENT, SETTINGS, 0, 0, "", 0);
    frame(sc, SERVER, SETTINGS, 0, 0, "", 0);
    frame(sc, SERVER, SETTINGS, ACK, 0, "", 0);
    frame(sc, CLIENT, SETTINGS, ACK, 0, "", 0);
}

/* ---- the transcript of what the tap reported ---- */

typedef struct {
    char text[16384];
    unsigned long long body[2]; /* on_body bytes: response, request */
    size_t max_open;
    long long lengths[2]; /* content_length of the last DONE's request, response */
} transcript;

static void fields(char *out, size_t size, const http_head *h)
{
    out[0] = '\0';
    for (size_t i = 0; h && i < h->n_headers; i++) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s=%s", i ? "," : "", h->headers[i].name,
                 h->headers[i].value);
    }
}

static void on_event(void *arg, tap_phase phase, const tap_exchange *ex)
{
    transcript *t = arg;
    size_t n = strlen(t->text);
    char *out = t->text + n;
    size_t room = sizeof t->text - n;
    ck_assert_int_eq(ex->http_major, 2);
    ck_assert_ptr_nonnull(ex->request);
    if (phase == TAP_REQUEST) {
        char h[512];
        fields(h, sizeof h, ex->request);
        snprintf(out, room, "> %llu s%u %s %s://%s%s%s%s [%s]\n", ex->id,
                 (unsigned)ex->stream_id, ex->request->method,
                 ex->scheme ? ex->scheme : "-", ex->authority ? ex->authority : "-",
                 ex->request->target ? ex->request->target : "-",
                 ex->protocol ? " :protocol " : "", ex->protocol ? ex->protocol : "", h);
    } else if (phase == TAP_RESPONSE) {
        char h[512];
        fields(h, sizeof h, ex->response);
        snprintf(out, room, "< %llu %d [%s]\n", ex->id, ex->response->status, h);
    } else {
        char rt[256], st[256];
        fields(rt, sizeof rt, ex->request_trailers);
        fields(st, sizeof st, ex->response_trailers);
        snprintf(out, room, "= %llu %d %llu/%llu%s%s%s%s%s%s%s\n", ex->id,
                 ex->response ? ex->response->status : 0, ex->request_bytes,
                 ex->response_bytes, rt[0] ? " rt:" : "", rt, st[0] ? " st:" : "", st,
                 ex->error ? " error: " : "", ex->error ? ex->error : "",
                 ex->reset_by == TAP_BY_CLIENT   ? " by client"
                 : ex->reset_by == TAP_BY_SERVER ? " by server"
                                                 : "");
        ck_assert(timercmp(&ex->start, &ex->end, <=));
        t->lengths[0] = (long long)ex->request->content_length;
        t->lengths[1] = ex->response ? (long long)ex->response->content_length : -2;
    }
}

static void on_body(void *arg, unsigned long long id, bool request, const char *d,
                    size_t len)
{
    transcript *t = arg;
    ck_assert_uint_gt(len, 0);
    t->body[request] += len;
    (void)id;
    (void)d;
}

static const tap_callbacks callbacks = {on_event, on_body};

/* The fields run() asks the tap to keep. */
static tap_fields run_fields = TAP_FIELDS_ALL;

/* Replay sc: whole steps, except step cut_step fed in two pieces at
 * cut_at (cut_step out of range: none), or everything a byte at a time.
 * Then the end given by eof (0 none, 1 client, 2 server) and an abort. */
static void run(const script *sc, size_t cut_step, size_t cut_at, bool bytewise,
                int eof, size_t max_head, transcript *t, const char **stop)
{
    memset(t, 0, sizeof *t);
    atomic_ullong next_id = 1;
    tap_limits limits = {max_head, 8, run_fields};
    tap tp = h2_flow_tap_new(&limits, &next_id, &callbacks, t);
    ck_assert_ptr_nonnull(tp.impl);
    for (size_t i = 0; i < sc->n; i++) {
        const step *s = &sc->steps[i];
        void (*feed)(void *, const char *, size_t) =
            s->client ? tp.ops->client_data : tp.ops->server_data;
        const char *p = (const char *)s->data;
        if (bytewise) {
            for (size_t k = 0; k < s->len; k++)
                feed(tp.impl, p + k, 1);
        } else if (i == cut_step && cut_at > 0 && cut_at < s->len) {
            feed(tp.impl, p, cut_at);
            feed(tp.impl, p + cut_at, s->len - cut_at);
        } else {
            feed(tp.impl, p, s->len);
        }
    }
    if (eof)
        (eof == 1 ? tp.ops->client_data : tp.ops->server_data)(tp.impl, "", 0);
    *stop = NULL;
    tp.ops->stopped(tp.impl, stop);
    size_t before = strlen(t->text);
    tp.ops->abort(tp.impl, "connection closed");
    /* what the abort ended is not part of the expected transcript unless
     * the test asks for it: keep it apart */
    memmove(t->text + before + 1, t->text + before, strlen(t->text + before) + 1);
    t->text[before] = '|';
    tp.ops->free(tp.impl);
}

/* Every way of cutting the bytes gives the same transcript and stop. */
static void check(const script *sc, int eof, size_t max_head, const char *want,
                  const char *want_stop)
{
    size_t runs = 0;
    for (size_t st = 0; st <= sc->n; st++) {
        size_t len = st < sc->n ? sc->steps[st].len : 1;
        for (size_t at = 0; at < len; at++, runs++) {
            transcript t;
            const char *stop;
            run(sc, st, at, st == sc->n, eof, max_head, &t, &stop);
            ck_assert_msg(strcmp(t.text, want) == 0, "step %zu cut %zu: got\n%s\nwant\n%s",
                          st, at, t.text, want);
            if (want_stop)
                ck_assert_msg(stop && strcmp(stop, want_stop) == 0, "step %zu cut %zu: %s",
                              st, at, stop ? stop : "(not stopped)");
            else
                ck_assert_msg(!stop, "step %zu cut %zu: stopped: %s", st, at, stop);
        }
    }
    ck_assert_uint_gt(runs, 1);
}

static const char *const get_a[] = {":method", "GET", ":scheme", "https", ":authority",
                                    "a.test", ":path", "/a", "accept", "*/*", NULL};
static const char *const ok_text[] = {":status", "200", "content-type", "text/plain", NULL};

/* A frame with a pad length byte, fixed fields, a body and pad zeros. */
static void padded(script *sc, bool client, int type, int flags, uint32_t stream,
                   const void *fixed, size_t fixed_len, const void *body, size_t len,
                   unsigned pad)
{
    unsigned char p[9000] = {(unsigned char)pad};
    memcpy(p + 1, fixed, fixed_len);
    memcpy(p + 1 + fixed_len, body, len);
    memset(p + 1 + fixed_len + len, 0, pad);
    frame(sc, client, type, flags | PADDED, stream, p, 1 + fixed_len + len + pad);
}

START_TEST(simple_get)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    headers(&sc, CLIENT, 1, END_STREAM, get_a);
    headers(&sc, SERVER, 1, 0, ok_text);
    data(&sc, SERVER, 1, END_STREAM, "hello");
    check(&sc, 0, 4096,
          "> 1 s1 GET https://a.test/a [accept=*/*]\n"
          "< 1 200 [content-type=text/plain]\n"
          "= 1 200 0/5\n|",
          NULL);
    script_free(&sc);
}
END_TEST

/* Every frame type once at least, with padding, priority fields, a
 * continued block, a push, PING, WINDOW_UPDATE and an unknown type. */
START_TEST(every_frame_type)
{
    script sc;
    script_init(&sc);
    put(&sc, CLIENT, PREFACE, 24);
    static const unsigned char settings[] = {0, 1, 0, 0, 0x10, 0, 0, 3, 0, 0, 0, 100};
    frame(&sc, CLIENT, SETTINGS, 0, 0, settings, sizeof settings);
    frame(&sc, CLIENT, WINDOW_UPDATE, 0, 0, "\0\x01\0\0", 4);
    frame(&sc, CLIENT, PRIORITY, 0, 1, "\0\0\0\0\x10", 5);
    static const char *const post[] = {":method", "POST", ":scheme", "https", ":authority",
                                       "a.test", ":path", "/up", NULL};
    unsigned char block[512];
    size_t blen = encode(&sc, CLIENT, post, block, sizeof block);
    padded(&sc, CLIENT, HEADERS, END_HEADERS | PRIO, 1, "\x80\0\0\0\x20", 5, block, blen, 7);
    padded(&sc, CLIENT, DATA, 0, 1, "", 0, "abc", 3, 10);
    frame(&sc, CLIENT, PING, 0, 0, "12345678", 8);
    frame(&sc, CLIENT, 0xfa, 0x3, 1, "unknown!", 8);
    padded(&sc, CLIENT, DATA, END_STREAM, 1, "", 0, "", 0, 0);
    frame(&sc, SERVER, SETTINGS, 0, 0, "", 0);
    frame(&sc, SERVER, SETTINGS, ACK, 0, "", 0);
    frame(&sc, SERVER, PING, ACK, 0, "12345678", 8);
    frame(&sc, SERVER, WINDOW_UPDATE, 0, 1, "\0\0\x10\0", 4);
    static const char *const resp[] = {":status", "200", "server", "test",
                                       "link", "</s.css>; rel=preload", NULL};
    blen = encode(&sc, SERVER, resp, block, sizeof block);
    frame(&sc, SERVER, HEADERS, 0, 1, block, 2);
    frame(&sc, SERVER, CONTINUATION, 0, 1, block + 2, 3);
    frame(&sc, SERVER, CONTINUATION, END_HEADERS, 1, block + 5, blen - 5);
    static const char *const promise[] = {":method", "GET", ":scheme", "https", ":authority",
                                          "a.test", ":path", "/s.css", NULL};
    blen = encode(&sc, SERVER, promise, block, sizeof block);
    padded(&sc, SERVER, PUSH_PROMISE, END_HEADERS, 1, "\0\0\0\x02", 4, block, blen, 3);
    frame(&sc, CLIENT, SETTINGS, ACK, 0, "", 0);
    padded(&sc, SERVER, DATA, END_STREAM, 1, "", 0, "done", 4, 255);
    headers(&sc, SERVER, 2, 0, ok_text);
    data(&sc, SERVER, 2, END_STREAM, "p{}");
    frame(&sc, CLIENT, RST_STREAM, 0, 2, "\0\0\0\x08", 4);
    frame(&sc, SERVER, GOAWAY, 0, 0, "\0\0\0\x01\0\0\0\0debug", 13);
    check(&sc, 0, 4096,
          "> 1 s1 POST https://a.test/up []\n"
          "< 1 200 [server=test,link=</s.css>; rel=preload]\n"
          "> 2 s2 GET https://a.test/s.css []\n"
          "= 1 200 3/4\n"
          "< 2 200 [content-type=text/plain]\n"
          "= 2 200 0/3\n|",
          NULL);
    script_free(&sc);
}
END_TEST

/* Many requests one after the other: the dynamic tables of both sides
 * carry repeated fields from stream to stream. */
START_TEST(dynamic_table_across_requests)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    static char want[16384];
    want[0] = '\0';
    for (unsigned i = 0; i < 40; i++) {
        char n[16], path[32];
        snprintf(n, sizeof n, "%u", i * 7);
        snprintf(path, sizeof path, "/item/%u", i % 5);
        const char *const req[] = {":method", "GET", ":scheme", "https", ":authority", "a.test",
                                   ":path", path, "cookie", "session=0123456789abcdef",
                                   "x-n", n, NULL};
        const char *const resp[] = {":status", "200", "etag", n, "cache-control",
                                    "max-age=60", NULL};
        uint32_t id = 2 * i + 1;
        headers(&sc, CLIENT, id, END_STREAM, req);
        headers(&sc, SERVER, id, END_STREAM, resp);
        size_t w = strlen(want);
        snprintf(want + w, sizeof want - w,
                 "> %u s%u GET https://a.test%s [cookie=session=0123456789abcdef,x-n=%s]\n"
                 "< %u 200 [etag=%s,cache-control=max-age=60]\n= %u 200 0/0\n",
                 i + 1, id, path, n, i + 1, n, i + 1);
    }
    strcat(want, "|");
    check(&sc, 0, 4096, want, NULL);
    script_free(&sc);
}
END_TEST

START_TEST(interleaved_streams)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    for (uint32_t id = 1; id <= 5; id += 2)
        headers(&sc, CLIENT, id, END_STREAM, get_a);
    headers(&sc, SERVER, 5, 0, ok_text);
    data(&sc, SERVER, 5, 0, "five");
    headers(&sc, SERVER, 1, 0, ok_text);
    data(&sc, SERVER, 5, 0, "5");
    data(&sc, SERVER, 1, 0, "one");
    headers(&sc, SERVER, 3, END_STREAM, ok_text);
    data(&sc, SERVER, 1, END_STREAM, "1");
    data(&sc, SERVER, 5, END_STREAM, "");
    check(&sc, 0, 4096,
          "> 1 s1 GET https://a.test/a [accept=*/*]\n"
          "> 2 s3 GET https://a.test/a [accept=*/*]\n"
          "> 3 s5 GET https://a.test/a [accept=*/*]\n"
          "< 3 200 [content-type=text/plain]\n"
          "< 1 200 [content-type=text/plain]\n"
          "< 2 200 [content-type=text/plain]\n"
          "= 2 200 0/0\n"
          "= 1 200 0/4\n"
          "= 3 200 0/5\n|",
          NULL);
    script_free(&sc);
}
END_TEST

/* Resets: a client cancelling a download, a server refusing a stream,
 * and a server cutting a request short after answering it (complete). */
START_TEST(rst_stream_mid_stream)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    headers(&sc, CLIENT, 1, END_STREAM, get_a);
    headers(&sc, SERVER, 1, 0, ok_text);
    data(&sc, SERVER, 1, 0, "partial");
    frame(&sc, CLIENT, RST_STREAM, 0, 1, "\0\0\0\x08", 4);
    data(&sc, SERVER, 1, 0, "in flight"); /* after the reset: not counted */
    headers(&sc, CLIENT, 3, END_STREAM, get_a);
    frame(&sc, SERVER, RST_STREAM, 0, 3, "\0\0\0\x07", 4);
    headers(&sc, CLIENT, 5, 0, get_a);
    data(&sc, CLIENT, 5, 0, "body");
    headers(&sc, SERVER, 5, END_STREAM, ok_text);
    frame(&sc, SERVER, RST_STREAM, 0, 5, "\0\0\0\0", 4);
    headers(&sc, CLIENT, 7, END_STREAM, get_a);
    frame(&sc, CLIENT, RST_STREAM, 0, 7, "\0\0\0\x42", 4);
    check(&sc, 0, 4096,
          "> 1 s1 GET https://a.test/a [accept=*/*]\n"
          "< 1 200 [content-type=text/plain]\n"
          "= 1 200 0/7 error: stream reset by the client: CANCEL by client\n"
          "> 2 s3 GET https://a.test/a [accept=*/*]\n"
          "= 2 0 0/0 error: stream reset by the server: REFUSED_STREAM by server\n"
          "> 3 s5 GET https://a.test/a [accept=*/*]\n"
          "< 3 200 [content-type=text/plain]\n"
          "= 3 200 4/0\n"
          "> 4 s7 GET https://a.test/a [accept=*/*]\n"
          "= 4 0 0/0 error: stream reset by the client: error 0x42 by client\n|",
          NULL);
    script_free(&sc);
}
END_TEST

/* A GOAWAY leaves the streams past its last id unprocessed; the others
 * go on until the server closes. */
START_TEST(goaway_mid_stream)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    headers(&sc, CLIENT, 1, END_STREAM, get_a);
    headers(&sc, CLIENT, 3, END_STREAM, get_a);
    headers(&sc, SERVER, 1, 0, ok_text);
    frame(&sc, SERVER, GOAWAY, 0, 0, "\0\0\0\x01\0\0\0\x0b", 8);
    data(&sc, SERVER, 1, 0, "xy");
    check(&sc, 2, 4096,
          "> 1 s1 GET https://a.test/a [accept=*/*]\n"
          "> 2 s3 GET https://a.test/a [accept=*/*]\n"
          "< 1 200 [content-type=text/plain]\n"
          "= 2 0 0/0 error: not processed: GOAWAY from the server (ENHANCE_YOUR_CALM)\n"
          "= 1 200 0/2 error: the server closed the connection after a GOAWAY from the "
          "server (ENHANCE_YOUR_CALM)\n|",
          NULL);
    script_free(&sc);
}
END_TEST

START_TEST(trailers_both_ways)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    static const char *const grpc[] = {":method", "POST", ":scheme", "https", ":authority",
                                       "g.test", ":path", "/pkg.Svc/Call", "content-type",
                                       "application/grpc", "te", "trailers", NULL};
    headers(&sc, CLIENT, 1, 0, grpc);
    frame(&sc, CLIENT, DATA, 0, 1, "\0\0\0\0\x02hi", 7);
    static const char *const req_trailers[] = {"x-checksum", "abc", NULL};
    headers(&sc, CLIENT, 1, END_STREAM, req_trailers);
    static const char *const resp[] = {":status", "200", "content-type", "application/grpc",
                                       NULL};
    headers(&sc, SERVER, 1, 0, resp);
    frame(&sc, SERVER, DATA, 0, 1, "\0\0\0\0\x03one", 8);
    frame(&sc, SERVER, DATA, 0, 1, "\0\0\0\0\x03two", 8);
    static const char *const resp_trailers[] = {"grpc-status", "0", "grpc-message", "ok",
                                                NULL};
    headers(&sc, SERVER, 1, END_STREAM, resp_trailers);
    check(&sc, 0, 4096,
          "> 1 s1 POST https://g.test/pkg.Svc/Call "
          "[content-type=application/grpc,te=trailers]\n"
          "< 1 200 [content-type=application/grpc]\n"
          "= 1 200 7/16 rt:x-checksum=abc st:grpc-status=0,grpc-message=ok\n|",
          NULL);
    script_free(&sc);
}
END_TEST

START_TEST(informational_heads)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    headers(&sc, CLIENT, 1, END_STREAM, get_a);
    static const char *const early[] = {":status", "103", "link", "</a.css>", NULL};
    headers(&sc, SERVER, 1, 0, early);
    headers(&sc, SERVER, 1, END_STREAM, ok_text);
    check(&sc, 0, 4096,
          "> 1 s1 GET https://a.test/a [accept=*/*]\n"
          "< 1 200 [content-type=text/plain]\n"
          "= 1 200 0/0\n|",
          NULL);
    script_free(&sc);
}
END_TEST

/* A header list over the limit stops the tap; the open streams end. */
START_TEST(oversize_header_block)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    headers(&sc, CLIENT, 1, END_STREAM, get_a);
    char big[400];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *const req[] = {":method", "GET", ":scheme", "https", ":authority", "a.test",
                               ":path", "/big", "x-big", big, NULL};
    headers(&sc, CLIENT, 3, END_STREAM, req);
    headers(&sc, SERVER, 1, END_STREAM, ok_text);
    check(&sc, 0, 256,
          "> 1 s1 GET https://a.test/a [accept=*/*]\n"
          "= 1 0 0/0 error: an HTTP/2 header list over the size limit\n|",
          "an HTTP/2 header list over the size limit");
    script_free(&sc);
}
END_TEST

START_TEST(too_many_streams)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    for (uint32_t id = 1; id <= 17; id += 2)
        headers(&sc, CLIENT, id, END_STREAM, get_a);
    transcript t;
    const char *stop;
    run(&sc, 99, 0, false, 0, 4096, &t, &stop);
    ck_assert_str_eq(stop, "more concurrent HTTP/2 streams than the tap follows");
    ck_assert_ptr_nonnull(strstr(t.text, "= 8 0 0/0 error: more concurrent"));
    ck_assert_ptr_null(strstr(t.text, "> 9 "));
    script_free(&sc);
}
END_TEST

/* SETTINGS_HEADER_TABLE_SIZE: the server's encoder may use a larger
 * table once it has acknowledged the client's SETTINGS, and the tap's
 * decoder follows; without the acknowledgement it does not. */
static void table_size_script(script *sc, bool acked)
{
    script_init(sc);
    nghttp2_hd_deflate_del(sc->enc[0]);
    ck_assert_int_eq(nghttp2_hd_deflate_new(&sc->enc[0], 16384), 0);
    put(sc, CLIENT, PREFACE, 24);
    frame(sc, CLIENT, SETTINGS, 0, 0, "\0\x01\0\0\x40\0", 6);
    headers(sc, CLIENT, 1, END_STREAM, get_a);
    frame(sc, SERVER, SETTINGS, 0, 0, "", 0);
    if (acked)
        frame(sc, SERVER, SETTINGS, ACK, 0, "", 0);
    ck_assert_int_eq(nghttp2_hd_deflate_change_table_size(sc->enc[0], 16384), 0);
    char big[6000];
    memset(big, 'c', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *const resp[] = {":status", "200", "x-big", big, NULL};
    headers(sc, SERVER, 1, 0, resp);
    headers(sc, SERVER, 1, END_STREAM, resp); /* indexed: only a 6 KB table has it */
}

START_TEST(header_table_size_setting)
{
    script sc;
    table_size_script(&sc, true);
    transcript t;
    const char *stop;
    run(&sc, 99, 0, false, 0, 16384, &t, &stop);
    ck_assert_msg(!stop, "stopped: %s", stop);
    ck_assert_ptr_nonnull(strstr(t.text, "< 1 200 [x-big=ccc"));
    ck_assert_ptr_nonnull(strstr(t.text, "= 1 200 0/0 st:x-big=ccc"));
    script_free(&sc);
    table_size_script(&sc, false);
    run(&sc, 99, 0, false, 0, 16384, &t, &stop);
    ck_assert_str_eq(stop, "HPACK decoding failed");
    script_free(&sc);
}
END_TEST

START_TEST(not_http2)
{
    script sc;
    script_init(&sc);
    put(&sc, CLIENT, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    check(&sc, 0, 4096, "|", "not the HTTP/2 connection preface");
    script_free(&sc);
    script_init(&sc);
    open_connection(&sc);
    unsigned char block[256];
    size_t blen = encode(&sc, CLIENT, get_a, block, sizeof block);
    frame(&sc, CLIENT, HEADERS, 0, 1, block, 3);
    data(&sc, CLIENT, 1, 0, "interrupts the header block");
    check(&sc, 0, 4096, "|", "an HTTP/2 header block was interrupted");
    script_free(&sc);
    (void)blen;
}
END_TEST

/* The client closes mid-request; the abort ends the rest. */
START_TEST(connection_end)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    headers(&sc, CLIENT, 1, 0, get_a);
    headers(&sc, CLIENT, 3, END_STREAM, get_a);
    check(&sc, 1, 4096,
          "> 1 s1 GET https://a.test/a [accept=*/*]\n"
          "> 2 s3 GET https://a.test/a [accept=*/*]\n"
          "= 1 0 0/0 error: truncated: the client closed the connection\n"
          "|= 2 0 0/0 error: connection closed\n",
          NULL);
    script_free(&sc);
}
END_TEST

/* Body bytes handed to on_body add up to the counts, padding excluded. */
START_TEST(body_bytes_without_padding)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    headers(&sc, CLIENT, 1, 0, get_a);
    padded(&sc, CLIENT, DATA, END_STREAM, 1, "", 0, "12345", 5, 200);
    headers(&sc, SERVER, 1, 0, ok_text);
    padded(&sc, SERVER, DATA, 0, 1, "", 0, "abcdefgh", 8, 9);
    data(&sc, SERVER, 1, END_STREAM, "ij");
    transcript t;
    const char *stop;
    run(&sc, 99, 0, true, 0, 4096, &t, &stop);
    ck_assert_ptr_nonnull(strstr(t.text, "= 1 200 5/10\n"));
    ck_assert_uint_eq(t.body[1], 5);
    ck_assert_uint_eq(t.body[0], 10);
    script_free(&sc);
}
END_TEST

/* Heads keep the fields the outputs read (tap.h), and the same framing
 * whichever: method, target, authority, scheme, status, content length. */
START_TEST(fields_kept_as_outputs_read)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    const char *const post[] = {":method", "POST", ":scheme", "https", ":authority", "a.test",
                                ":path", "/p", "content-type", "text/plain",
                                "content-length", "2", NULL};
    headers(&sc, CLIENT, 1, 0, post);
    data(&sc, CLIENT, 1, END_STREAM, "hi");
    const char *const resp[] = {":status", "201", "x-a", "1", "content-length", "3",
                                "content-type", "text/html", NULL};
    headers(&sc, SERVER, 1, 0, resp);
    data(&sc, SERVER, 1, END_STREAM, "abc");
    static const struct {
        tap_fields fields;
        const char *want;
    } cases[] = {
        {TAP_FIELDS_ALL, "> 1 s1 POST https://a.test/p [content-type=text/plain,content-length=2]\n"
                         "< 1 201 [x-a=1,content-length=3,content-type=text/html]\n"
                         "= 1 201 2/3\n|"},
        {TAP_FIELDS_CONTENT_TYPE, "> 1 s1 POST https://a.test/p []\n"
                                  "< 1 201 [content-type=text/html]\n"
                                  "= 1 201 2/3\n|"},
        {TAP_FIELDS_NONE, "> 1 s1 POST https://a.test/p []\n"
                          "< 1 201 []\n"
                          "= 1 201 2/3\n|"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_fields = cases[i].fields;
        transcript t;
        const char *stop;
        run(&sc, 99, 0, false, 0, 4096, &t, &stop);
        run_fields = TAP_FIELDS_ALL;
        ck_assert_ptr_null(stop);
        ck_assert_str_eq(t.text, cases[i].want);
        ck_assert_int_eq(t.lengths[0], 2);
        ck_assert_int_eq(t.lengths[1], 3);
    }
    script_free(&sc);
}
END_TEST

/* An extended CONNECT (RFC 8441): its :protocol is reported beside the
 * head, not among its fields; a later stream's request has none. */
START_TEST(extended_connect_protocol)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    const char *const ws[] = {":method", "CONNECT", ":protocol", "websocket", ":scheme",
                              "https", ":authority", "a.test", ":path", "/chat",
                              "sec-websocket-version", "13", NULL};
    headers(&sc, CLIENT, 1, 0, ws);
    const char *const ok[] = {":status", "200", NULL};
    headers(&sc, SERVER, 1, 0, ok);
    data(&sc, CLIENT, 1, 0, "\x81\x02hi");
    data(&sc, SERVER, 1, 0, "\x81\x02hi");
    headers(&sc, CLIENT, 3, END_STREAM, get_a);
    check(&sc, 0, 4096,
          "> 1 s1 CONNECT https://a.test/chat :protocol websocket [sec-websocket-version=13]\n"
          "< 1 200 []\n"
          "> 2 s3 GET https://a.test/a [accept=*/*]\n"
          "|= 2 0 0/0 error: connection closed\n"
          "= 1 200 4/4 error: connection closed\n",
          NULL);
    script_free(&sc);
}
END_TEST

/* Streams and heads are reused as streams come and go: nothing of an
 * earlier stream shows in a later one (a request without :authority or
 * :scheme, a response without fields), over more streams than are kept. */
START_TEST(reused_streams_start_clean)
{
    script sc;
    script_init(&sc);
    open_connection(&sc);
    const char *const bare[] = {":method", "GET", ":path", "/bare", NULL};
    const char *const no_fields[] = {":status", "204", NULL};
    const char *const first[] = {":method", "GET", ":scheme", "https", ":authority",
                                 "first.test", ":path", "/first", "x-first", "1",
                                 "content-length", "0", NULL};
    headers(&sc, CLIENT, 1, END_STREAM, first);
    uint32_t id = 3;
    for (int round = 0; round < 20; round++, id += 2) {
        /* id opens while id - 2 is still open, then id - 2 ends */
        headers(&sc, CLIENT, id, END_STREAM, round % 2 ? bare : first);
        headers(&sc, SERVER, id - 2, END_STREAM, round % 2 ? ok_text : no_fields);
    }
    headers(&sc, SERVER, id - 2, END_STREAM, ok_text);
    transcript t;
    const char *stop;
    run(&sc, 99, 0, false, 0, 4096, &t, &stop);
    ck_assert_ptr_null(stop);
    ck_assert_ptr_nonnull(strstr(t.text, "> 21 s41 GET -://-/bare []\n"
                                         "< 20 200 [content-type=text/plain]\n"
                                         "= 20 200 0/0\n"));
    ck_assert_ptr_nonnull(strstr(t.text, "> 20 s39 GET https://first.test/first "
                                         "[x-first=1,content-length=0]\n"
                                         "< 19 204 []\n"));
    ck_assert_ptr_nonnull(strstr(t.text, "< 21 200 [content-type=text/plain]\n"
                                         "= 21 200 0/0\n|"));
    ck_assert_int_eq(t.lengths[0], -1);
    check(&sc, 0, 4096, t.text, NULL);
    script_free(&sc);
}
END_TEST

START_TEST(error_names)
{
    ck_assert_str_eq(h2_msg_error_name(0), "NO_ERROR");
    ck_assert_str_eq(h2_msg_error_name(8), "CANCEL");
    ck_assert_str_eq(h2_msg_error_name(13), "HTTP_1_1_REQUIRED");
    ck_assert_ptr_null(h2_msg_error_name(14));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("h2_flow");
    check_case(s, "core", 60, CHECK_TESTS(
        simple_get, every_frame_type, dynamic_table_across_requests, interleaved_streams,
        rst_stream_mid_stream, goaway_mid_stream, trailers_both_ways, informational_heads,
        oversize_header_block, too_many_streams, header_table_size_setting, not_http2,
        connection_end, body_bytes_without_padding, fields_kept_as_outputs_read,
        reused_streams_start_clean, extended_connect_protocol, error_names));
    return s;
}
