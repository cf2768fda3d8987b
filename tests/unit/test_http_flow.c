/* Unit tests for http_flow: exchanges paired in order, replayed with the
 * server's and the client's bytes split at every offset. */
#include "check_main.h"
#include "http_flow.h"
#include "wsframes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The transcript of exchanges a run reported, one line each at TAP_DONE,
 * and the events seen per exchange (ids 1..MAX_IDS). */
#define MAX_IDS 80
typedef struct {
    char text[8192];
    unsigned long long body_seen[2];
    int requests[MAX_IDS + 1], responses[MAX_IDS + 1], dones[MAX_IDS + 1];
    char trailers[256]; /* "request name=value; response name=value" */
} transcript;

static void record(void *arg, tap_phase phase, const tap_exchange *ex)
{
    transcript *t = arg;
    ck_assert(ex->id >= 1 && ex->id <= MAX_IDS);
    ck_assert_int_eq(t->dones[ex->id], 0); /* nothing after TAP_DONE */
    if (phase == TAP_REQUEST) {
        ck_assert_int_eq(t->requests[ex->id]++, 0);
        ck_assert_ptr_null(ex->response);
        return;
    }
    ck_assert_int_eq(t->requests[ex->id], 1); /* the request came first */
    if (phase == TAP_RESPONSE) {
        ck_assert_int_eq(t->responses[ex->id]++, 0);
        ck_assert_ptr_nonnull(ex->response);
        return;
    }
    t->dones[ex->id]++;
    for (int side = 0; side < 2; side++) {
        const http_head *tr = side ? ex->response_trailers : ex->request_trailers;
        for (size_t i = 0; tr && i < tr->n_headers; i++) {
            size_t used = strlen(t->trailers);
            snprintf(t->trailers + used, sizeof t->trailers - used, "%s %s=%s;",
                     side ? "response" : "request", tr->headers[i].name,
                     tr->headers[i].value);
        }
    }
    if (ex->response && !ex->error)
        ck_assert_int_eq(t->responses[ex->id], 1);
    size_t n = strlen(t->text);
    const char *host = http_head_get(ex->request, "Host");
    const char *type = ex->response ? http_head_get(ex->response, "Content-Type") : NULL;
    snprintf(t->text + n, sizeof t->text - n, "%s %s %s %d %s %llu %llu%s%s%s\n",
             ex->request->method, host ? host : "-", ex->request->target,
             ex->response ? ex->response->status : 0, type ? type : "-",
             ex->request_bytes, ex->response_bytes, ex->upgraded ? " upgraded" : "",
             ex->error ? " error: " : "", ex->error ? ex->error : "");
    ck_assert(timercmp(&ex->start, &ex->end, <=));
}

/* Body bytes seen, per direction, to compare with the sizes reported. */
static void count_body(void *arg, unsigned long long id, bool request,
                       const char *data, size_t len)
{
    transcript *t = arg;
    t->body_seen[request ? 0 : 1] += len;
    (void)id;
    (void)data;
}

static const tap_callbacks callbacks = {record, count_body};
static const tap_limits limits = {8192, 0, TAP_FIELDS_ALL};
static const tap_limits *run_limits = &limits; /* what run() gives the tap */

/* Every exchange that began was reported done exactly once. */
static void check_all_done(const transcript *t)
{
    for (int i = 1; i <= MAX_IDS; i++)
        ck_assert_int_eq(t->dones[i], t->requests[i]);
}

/* Feed the whole request stream (split at client_cut), then the response
 * stream (split at server_cut), then the server's EOF when eof. */
static void run(const char *req, const char *resp, size_t client_cut,
                size_t server_cut, bool eof, transcript *t, const char **stop)
{
    memset(t, 0, sizeof *t);
    atomic_ullong next_id = 1;
    tap f = http_flow_tap_new(run_limits, &next_id, &callbacks, t);
    ck_assert_ptr_nonnull(f.impl);
    size_t rl = strlen(req), sl = strlen(resp);
    /* Length 0 means end of stream: empty pieces are not fed. */
    if (client_cut)
        f.ops->client_data(f.impl, req, client_cut);
    if (rl > client_cut)
        f.ops->client_data(f.impl, req + client_cut, rl - client_cut);
    if (server_cut)
        f.ops->server_data(f.impl, resp, server_cut);
    if (sl > server_cut)
        f.ops->server_data(f.impl, resp + server_cut, sl - server_cut);
    if (eof)
        f.ops->server_data(f.impl, "", 0);
    *stop = NULL;
    f.ops->stopped(f.impl, stop);
    f.ops->abort(f.impl, "connection closed");
    f.ops->free(f.impl);
    check_all_done(t);
}

/* Every split of both streams gives the same transcript and stop reason. */
static void check_all_splits(const char *req, const char *resp, bool eof,
                             const char *want, const char *want_stop)
{
    size_t rl = strlen(req), sl = strlen(resp);
    for (size_t cc = 0; cc <= rl; cc += (rl > 200 ? 7 : 1)) {
        for (size_t sc = 0; sc <= sl; sc++) {
            transcript t;
            const char *stop;
            run(req, resp, cc, sc, eof, &t, &stop);
            ck_assert_msg(strcmp(t.text, want) == 0,
                          "cuts %zu/%zu: got\n%s\nwant\n%s", cc, sc, t.text, want);
            if (want_stop)
                ck_assert_msg(stop && strcmp(stop, want_stop) == 0,
                              "cuts %zu/%zu: stop %s", cc, sc, stop ? stop : "(none)");
            else
                ck_assert_msg(stop == NULL, "cuts %zu/%zu: stopped: %s", cc, sc, stop);
        }
    }
}

/* Between exchanges the tap holds no parser and no queue (memory per idle
 * tunnel), and makes them again for the next request. */
START_TEST(idle_tap_holds_nothing)
{
    transcript t;
    memset(&t, 0, sizeof t);
    atomic_ullong next_id = 1;
    tap f = http_flow_tap_new(&limits, &next_id, &callbacks, &t);
    ck_assert_ptr_nonnull(f.impl);
    ck_assert_uint_eq(http_flow_held(f), 0);
    const char *req = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for (int i = 0; i < 2; i++) {
        f.ops->client_data(f.impl, req, strlen(req));
        ck_assert_uint_gt(http_flow_held(f), 0);
        f.ops->server_data(f.impl, resp, 10); /* a response half there */
        ck_assert_uint_gt(http_flow_held(f), 0);
        f.ops->server_data(f.impl, resp + 10, strlen(resp) - 10);
        ck_assert_uint_eq(http_flow_held(f), 0);
    }
    f.ops->free(f.impl);
    ck_assert_str_eq(t.text, "GET h /a 200 - 0 2\nGET h /a 200 - 0 2\n");
}
END_TEST

START_TEST(pipelined_keep_alive)
{
    check_all_splits(
        "GET /a HTTP/1.1\r\nHost: x.test\r\n\r\n"
        "POST /b HTTP/1.1\r\nHost: x.test\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc"
        "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        false,
        "GET x.test /a 200 text/plain 0 3\n"
        "POST x.test /b 201 - 5 0\n",
        NULL);
}
END_TEST

/* The heads carry the fields the outputs read (tap_limits.fields): all,
 * a response's Content-Type (the console line), or none; the exchanges,
 * a HEAD's bodiless answer, sizes and targets stay the same. */
START_TEST(fields_only_what_outputs_read)
{
    static const char req[] = "GET /a HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"
                              "HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n";
    static const char resp[] =
        "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Type: text/plain\r\n"
        "Content-Length: 2\r\n\r\nhi"
        "HTTP/1.1 200 OK\r\ncontent-type: a/b\r\nContent-Length: 9\r\n\r\n";
    check_all_splits(req, resp, false, "GET h /a 200 text/plain 0 2\nHEAD h /b 200 a/b 0 0\n",
                     NULL);
    const tap_limits type_only = {8192, 0, TAP_FIELDS_CONTENT_TYPE};
    run_limits = &type_only;
    check_all_splits(req, resp, false, "GET - /a 200 text/plain 0 2\nHEAD - /b 200 a/b 0 0\n",
                     NULL);
    const tap_limits none = {8192, 0, TAP_FIELDS_NONE};
    run_limits = &none;
    check_all_splits(req, resp, false, "GET - /a 200 - 0 2\nHEAD - /b 200 - 0 0\n", NULL);
    run_limits = &limits;
}
END_TEST

START_TEST(head_response_has_no_body)
{
    check_all_splits(
        "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        false, "HEAD x /h 200 - 0 0\nGET x /g 200 - 0 2\n", NULL);
}
END_TEST

START_TEST(interim_then_final)
{
    check_all_splits(
        "PUT /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        false, "PUT x /u 204 - 2 0\n", NULL);
}
END_TEST

START_TEST(chunked_with_trailers)
{
    check_all_splits(
        "GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Sum: 1\r\n\r\n",
        false, "GET x /c 200 - 0 9\n", NULL);
}
END_TEST

START_TEST(response_ends_at_close)
{
    check_all_splits("GET /z HTTP/1.0\r\n\r\n",
                     "HTTP/1.0 200 OK\r\n\r\nuntil the end",
                     true, "GET - /z 200 - 0 13\n", NULL);
}
END_TEST

START_TEST(not_modified_and_no_content)
{
    check_all_splits(
        "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"
        "HTTP/1.1 204 No Content\r\n\r\n",
        false, "GET x /1 304 - 0 0\nGET x /2 204 - 0 0\n", NULL);
}
END_TEST

START_TEST(websocket_upgrade_stops_inspection)
{
    check_all_splits(
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        "\x81\x85masks",
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        "\x81\x02hi",
        false, "GET x /ws 101 - 0 0 upgraded\n", "upgraded to websocket");
}
END_TEST

START_TEST(garbage_from_server_stops)
{
    check_all_splits("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "SSH-2.0-OpenSSH\r\n",
                     false, "GET x / 0 - 0 0 error: server bytes are not HTTP\n",
                     "server bytes are not HTTP");
}
END_TEST

START_TEST(unanswered_request_fails_at_close)
{
    check_all_splits("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                     false,
                     "GET x /a 200 - 0 2\nGET x /b 0 - 0 0 error: connection closed\n",
                     NULL);
}
END_TEST

START_TEST(truncated_response)
{
    check_all_splits("GET /t HTTP/1.1\r\nHost: x\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true,
                     "GET x /t 200 - 0 3 error: truncated: the server closed mid-response\n",
                     "truncated: the server closed mid-response");
}
END_TEST

START_TEST(garbage_from_client_stops)
{
    check_all_splits("\x16\x03\x01 not http", "", false, "",
                     "client bytes are not HTTP");
}
END_TEST

/* A refused Expect: 100-continue: the answer comes before the body, and
 * the client closes without sending it. One complete exchange, and the
 * close is no reason to stop inspecting. */
START_TEST(client_close_after_refused_upload)
{
    static const char req[] = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                              "Expect: 100-continue\r\n\r\n";
    static const char resp[] = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n";
    transcript t = {0};
    atomic_ullong next_id = 1;
    tap f = http_flow_tap_new(&limits, &next_id, &callbacks, &t);
    ck_assert_ptr_nonnull(f.impl);
    f.ops->client_data(f.impl, req, strlen(req));
    f.ops->server_data(f.impl, resp, strlen(resp));
    f.ops->client_data(f.impl, "", 0);
    ck_assert(!f.ops->stopped(f.impl, NULL));
    ck_assert_str_eq(t.text, "POST x /up 413 - 0 0\n");
    f.ops->free(f.impl);
    check_all_done(&t);
}
END_TEST

/* The client closes in the middle of a request body nobody answered. */
START_TEST(client_closes_mid_request)
{
    static const char req[] = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
    transcript t = {0};
    atomic_ullong next_id = 1;
    const char *why = NULL;
    tap f = http_flow_tap_new(&limits, &next_id, &callbacks, &t);
    ck_assert_ptr_nonnull(f.impl);
    f.ops->client_data(f.impl, req, strlen(req));
    f.ops->client_data(f.impl, "", 0);
    ck_assert(f.ops->stopped(f.impl, &why));
    ck_assert_str_eq(why, "truncated: the client closed mid-request");
    ck_assert_str_eq(t.text, "POST x /up 0 - 3 0 error: truncated: the client closed mid-request\n");
    f.ops->free(f.impl);
    check_all_done(&t);
}
END_TEST

/* A tap that stops itself (too many pipelined requests) reports every
 * exchange it was holding, without being aborted: outputs close the body
 * files they opened for each. */
START_TEST(stopping_reports_every_pending_exchange)
{
    transcript t = {0};
    atomic_ullong next_id = 1;
    tap f = http_flow_tap_new(&limits, &next_id, &callbacks, &t);
    ck_assert_ptr_nonnull(f.impl);
    static const char req[] = "GET /p HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < HTTP_FLOW_MAX_PENDING + 1; i++)
        f.ops->client_data(f.impl, req, strlen(req));
    const char *why = NULL;
    ck_assert(f.ops->stopped(f.impl, &why));
    ck_assert_str_eq(why, "too many requests waiting for responses");
    for (int i = 1; i <= HTTP_FLOW_MAX_PENDING; i++) {
        ck_assert_int_eq(t.requests[i], 1);
        ck_assert_int_eq(t.dones[i], 1);
    }
    ck_assert_int_eq(t.requests[HTTP_FLOW_MAX_PENDING + 1], 0);
    ck_assert_ptr_nonnull(strstr(t.text, "GET x /p 0 - 0 0 error: too many requests"));
    f.ops->free(f.impl); /* no abort: nothing left to report */
    check_all_done(&t);
}
END_TEST

/* An early answer (a refused upload the client sends anyway): the
 * exchange is reported when the request ends, with every body byte that
 * was relayed (#12 defect 18). */
START_TEST(early_answer_counts_the_whole_request)
{
    static const char head[] = "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    transcript t = {0};
    atomic_ullong next_id = 1;
    tap f = http_flow_tap_new(&limits, &next_id, &callbacks, &t);
    f.ops->client_data(f.impl, head, strlen(head));
    f.ops->client_data(f.impl, "abc", 3);
    f.ops->server_data(f.impl, resp, strlen(resp));
    ck_assert_int_eq(t.dones[1], 0); /* the request is still arriving */
    f.ops->client_data(f.impl, "defghij", 7);
    ck_assert_str_eq(t.text, "POST x /e 200 - 10 2\n");
    /* The connection goes on with the next exchange. */
    static const char next[] = "GET /n HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char answer[] = "HTTP/1.1 204 No Content\r\n\r\n";
    f.ops->client_data(f.impl, next, strlen(next));
    f.ops->server_data(f.impl, answer, strlen(answer));
    ck_assert_str_eq(t.text, "POST x /e 200 - 10 2\nGET x /n 204 - 0 0\n");
    ck_assert(!f.ops->stopped(f.impl, NULL));
    f.ops->abort(f.impl, "closed");
    f.ops->free(f.impl);
    check_all_done(&t);
}
END_TEST

/* An early answer, then the client closes mid-body: nothing was lost. */
START_TEST(early_answer_then_client_close)
{
    static const char head[] = "PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab";
    static const char resp[] = "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n";
    transcript t = {0};
    atomic_ullong next_id = 1;
    tap f = http_flow_tap_new(&limits, &next_id, &callbacks, &t);
    f.ops->client_data(f.impl, head, strlen(head));
    f.ops->server_data(f.impl, resp, strlen(resp));
    f.ops->client_data(f.impl, "", 0);
    ck_assert_str_eq(t.text, "PUT x /e 413 - 2 0\n");
    f.ops->abort(f.impl, "closed");
    f.ops->free(f.impl);
    check_all_done(&t);
}
END_TEST

/* Chunked trailers of both directions reach the exchange, at every split. */
START_TEST(trailers_both_ways)
{
    static const char req[] = "POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3\r\nabc\r\n0\r\nX-Req:  a \r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "2\r\nok\r\n0\r\nX-Sum: 1\r\nX-Two: b\r\n\r\n";
    for (size_t cut = 0; cut <= strlen(resp); cut++) {
        transcript t;
        const char *stop;
        run(req, resp, strlen(req) / 2, cut, false, &t, &stop);
        ck_assert_str_eq(t.text, "POST x /t 200 - 3 2\n");
        ck_assert_str_eq(t.trailers, "request X-Req=a;response X-Sum=1;response X-Two=b;");
    }
}
END_TEST

/* Events come in order: request head, response head, done. */
START_TEST(events_in_order)
{
    transcript t = {0};
    atomic_ullong next_id = 1;
    tap f = http_flow_tap_new(&limits, &next_id, &callbacks, &t);
    static const char req[] = "GET /o HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
    f.ops->client_data(f.impl, req, strlen(req));
    ck_assert_int_eq(t.requests[1], 1);
    ck_assert_int_eq(t.responses[1], 0);
    f.ops->server_data(f.impl, head, strlen(head));
    ck_assert_int_eq(t.responses[1], 1);
    ck_assert_int_eq(t.dones[1], 0);
    f.ops->server_data(f.impl, "ok", 2);
    ck_assert_int_eq(t.dones[1], 1);
    f.ops->abort(f.impl, "closed");
    f.ops->free(f.impl);
    ck_assert_str_eq(t.text, "GET x /o 200 - 0 2\n");
}
END_TEST

/* Three frames: a masked 5-byte text frame, a 300-byte binary frame
 * (16-bit length), and an empty close frame; split at every offset. */
START_TEST(websocket_frames_counted_at_any_split)
{
    unsigned char stream[2 + 4 + 5 + 4 + 300 + 2];
    size_t n = 0;
    const unsigned char text[] = {0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3,
                                  'l' ^ 4, 'o' ^ 1};
    memcpy(stream, text, sizeof text);
    n = sizeof text;
    stream[n++] = 0x82;
    stream[n++] = 126;
    stream[n++] = 300 >> 8;
    stream[n++] = 300 & 0xff;
    memset(stream + n, 0x7e, 300); /* payload bytes that look like headers */
    n += 300;
    stream[n++] = 0x88;
    stream[n++] = 0x00;
    for (size_t cut = 0; cut <= n; cut++) {
        wsframes w = {0};
        wsframes_feed(&w, stream, cut);
        wsframes_feed(&w, stream + cut, n - cut);
        ck_assert_msg(w.frames == 3, "cut %zu: %llu frames", cut, w.frames);
        ck_assert_msg(w.messages == 2, "cut %zu: %llu messages", cut, w.messages);
        ck_assert_uint_eq(w.skip, 0);
    }
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("http_flow");
    check_case(s, "exchanges", 60, CHECK_TESTS(
        pipelined_keep_alive, head_response_has_no_body, interim_then_final,
        chunked_with_trailers, response_ends_at_close, not_modified_and_no_content,
        websocket_upgrade_stops_inspection, garbage_from_server_stops,
        garbage_from_client_stops, unanswered_request_fails_at_close, truncated_response,
        client_close_after_refused_upload, client_closes_mid_request,
        websocket_frames_counted_at_any_split, stopping_reports_every_pending_exchange,
        events_in_order, trailers_both_ways, early_answer_counts_the_whole_request,
        early_answer_then_client_close, fields_only_what_outputs_read, idle_tap_holds_nothing));
    return s;
}
