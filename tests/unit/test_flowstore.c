/* Unit tests for flowstore: deep copies, the keep bound, body limits,
 * views that outlive updates, the change ring (notify, lag, clear) and
 * publishing from several threads at once. */
#include "flowstore.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

static flow_record make(unsigned long long id, flow_phase phase, int status)
{
    static http_header req[] = {{"Host", "a.test"}, {"X-Req", "1"}};
    static http_header resp[] = {{"Content-Type", "text/plain"}};
    static http_header trailers[] = {{"grpc-status", "0"}};
    static flow_tls leg = {"TLSv1.3", "TLS_AES_128_GCM_SHA256", "a.test", "h2", NULL};
    flow_record r = {
        .id = id, .phase = phase, .method = "GET", .url = "https://a.test/x",
        .client = "127.0.0.1:1", .status = status, .reason = status ? "OK" : NULL,
        .request_headers = req, .n_request_headers = 2,
        .response_headers = status ? resp : NULL, .n_response_headers = status ? 1 : 0,
        .response_trailers = trailers, .n_response_trailers = 1,
        .client_tls = &leg, .upstream_tls = &leg,
        .request_body_file = "not-kept",
    };
    return r;
}

START_TEST(records_are_deep_copies)
{
    flowstore *s = flowstore_new(10, 100, 1 << 20);
    char url[32] = "https://a.test/original";
    flow_record r = make(1, FLOW_REQUEST, 0);
    r.url = url;
    flowstore_record(s, &r);
    strcpy(url, "https://changed/");
    flowstore_view v;
    ck_assert_int_eq(flowstore_get(s, 1, &v), 0);
    ck_assert_str_eq(v.r->url, "https://a.test/original");
    ck_assert_str_eq(v.r->request_headers[1].name, "X-Req");
    ck_assert_str_eq(v.r->response_trailers[0].value, "0");
    ck_assert_str_eq(v.r->client_tls->cipher, "TLS_AES_128_GCM_SHA256");
    ck_assert_ptr_null(v.r->request_body_file);
    ck_assert_int_eq(v.r->phase, FLOW_REQUEST);
    /* A later phase replaces the record; the old view still reads. */
    flow_record done = make(1, FLOW_DONE, 200);
    flowstore_record(s, &done);
    ck_assert_str_eq(v.r->url, "https://a.test/original");
    flowstore_view v2;
    ck_assert_int_eq(flowstore_get(s, 1, &v2), 0);
    ck_assert_int_eq(v2.r->status, 200);
    ck_assert_str_eq(v2.r->response_headers[0].value, "text/plain");
    flowstore_release(&v, 1, false);
    flowstore_release(&v2, 1, false);
    ck_assert_int_eq(flowstore_get(s, 2, &v), -1);
    flowstore_free(s);
}
END_TEST

START_TEST(keeps_the_newest)
{
    flowstore *s = flowstore_new(3, 100, 1 << 20);
    for (unsigned long long id = 1; id <= 5; id++) {
        flow_record r = make(id, FLOW_DONE, 200);
        flowstore_record(s, &r);
    }
    flowstore_view *views;
    ck_assert_int_eq(flowstore_list(s, 0, 100, &views), 3);
    ck_assert_uint_eq(views[0].r->id, 3);
    ck_assert_uint_eq(views[2].r->id, 5);
    flowstore_release(views, 3, true);
    ck_assert_int_eq(flowstore_list(s, 4, 100, &views), 1);
    ck_assert_uint_eq(views[0].r->id, 5);
    flowstore_release(views, 1, true);
    ck_assert_int_eq(flowstore_list(s, 5, 100, &views), 0);
    ck_assert_ptr_null(views);
    /* max keeps the newest. */
    ck_assert_int_eq(flowstore_list(s, 0, 2, &views), 2);
    ck_assert_uint_eq(views[0].r->id, 4);
    flowstore_release(views, 2, true);
    /* An update of a dropped flow is dropped. */
    flow_record old = make(1, FLOW_DONE, 500);
    flowstore_record(s, &old);
    flowstore_view v;
    ck_assert_int_eq(flowstore_get(s, 1, &v), -1);
    ck_assert_uint_eq(flowstore_last_id(s), 5);
    flowstore_free(s);
}
END_TEST

START_TEST(bodies_are_bounded)
{
    flowstore *s = flowstore_new(4, 10000, 1 << 20);
    /* Bodies may come before the first record. */
    char chunk[3000];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (char)i;
    for (int i = 0; i < 5; i++)
        flowstore_body(s, 7, false, chunk, sizeof chunk);
    flowstore_body(s, 7, true, "req", 3);
    flowstore_view v;
    ck_assert_int_eq(flowstore_get(s, 7, &v), -1); /* no record yet */
    flow_record r = make(7, FLOW_RESPONSE, 200);
    flowstore_record(s, &r);
    ck_assert_int_eq(flowstore_get(s, 7, &v), 0);
    ck_assert_uint_eq(v.body_len[1], 10000);
    ck_assert_uint_eq(v.body_seen[1], 15000);
    ck_assert_int_eq(memcmp(v.body[1], chunk, 3000), 0);
    ck_assert_int_eq(memcmp(v.body[1] + 9000, chunk, 1000), 0);
    ck_assert_uint_eq(v.body_len[0], 3);
    ck_assert_int_eq(memcmp(v.body[0], "req", 3), 0);
    /* More bytes do not change what the view sees. */
    flowstore_body(s, 7, true, "more", 4);
    ck_assert_uint_eq(v.body_len[0], 3);
    flowstore_release(&v, 1, false);
    ck_assert_int_eq(flowstore_get(s, 7, &v), 0);
    ck_assert_int_eq(memcmp(v.body[0], "reqmore", 7), 0);
    flowstore_release(&v, 1, false);
    flowstore_free(s);
}
END_TEST

START_TEST(body_memory_drops_oldest_bodies_first)
{
    /* Room for about two 4 KiB bodies. */
    flowstore *s = flowstore_new(10, 4096, 9000);
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    for (unsigned long long id = 1; id <= 4; id++) {
        flow_record r = make(id, FLOW_DONE, 200);
        flowstore_record(s, &r);
        flowstore_body(s, id, false, chunk, sizeof chunk);
    }
    flowstore_view v;
    ck_assert_int_eq(flowstore_get(s, 1, &v), 0);
    ck_assert_uint_eq(v.body_len[1], 0);      /* dropped, record kept */
    ck_assert_uint_eq(v.body_seen[1], 4096);
    flowstore_release(&v, 1, false);
    ck_assert_int_eq(flowstore_get(s, 4, &v), 0);
    ck_assert_uint_eq(v.body_len[1], 4096);
    flowstore_release(&v, 1, false);
    /* A dropped body keeps nothing more: it would not be a prefix. */
    flowstore_body(s, 1, false, "late", 4);
    ck_assert_int_eq(flowstore_get(s, 1, &v), 0);
    ck_assert_uint_eq(v.body_len[1], 0);
    ck_assert_uint_eq(v.body_seen[1], 4100);
    flowstore_release(&v, 1, false);
    flowstore_free(s);
}
END_TEST

static int notified;
static void on_notify(void *arg)
{
    (void)arg;
    notified++;
}

START_TEST(subscribers_see_changes_and_lag)
{
    flowstore *s = flowstore_new(100, 0, 0);
    notified = 0;
    flowstore_sub *sub = flowstore_subscribe(s, on_notify, NULL);
    ck_assert_ptr_nonnull(sub);
    flow_record r = make(1, FLOW_REQUEST, 0);
    flowstore_record(s, &r);
    r.phase = FLOW_DONE;
    flowstore_record(s, &r);
    ck_assert_int_eq(notified, 1); /* once until polled empty */
    flowstore_event ev[8];
    bool lagged;
    ck_assert_uint_eq(flowstore_poll(sub, ev, 8, &lagged), 2);
    ck_assert(!lagged);
    ck_assert_uint_eq(ev[0].id, 1);
    ck_assert_int_eq(ev[0].phase, FLOW_REQUEST);
    ck_assert_int_eq(ev[1].phase, FLOW_DONE);
    ck_assert_uint_eq(flowstore_poll(sub, ev, 8, &lagged), 0);
    flowstore_clear(s);
    ck_assert_int_eq(notified, 2);
    ck_assert_uint_eq(flowstore_poll(sub, ev, 8, &lagged), 1);
    ck_assert(ev[0].cleared);
    flowstore_view *views;
    ck_assert_int_eq(flowstore_list(s, 0, 10, &views), 0);
    /* A subscriber that never reads lags once the ring wraps. */
    for (int i = 0; i < FLOWSTORE_EVENTS + 1; i++)
        flowstore_record(s, &r);
    ck_assert_uint_eq(flowstore_poll(sub, ev, 8, &lagged), 0);
    ck_assert(lagged);
    flowstore_unsubscribe(sub);
    flowstore_unsubscribe(NULL);
    flowstore_free(s);
    flowstore_free(NULL);
}
END_TEST

START_TEST(subscriber_limit)
{
    flowstore *s = flowstore_new(1, 0, 0);
    flowstore_sub *subs[FLOWSTORE_MAX_SUBSCRIBERS];
    for (int i = 0; i < FLOWSTORE_MAX_SUBSCRIBERS; i++)
        ck_assert_ptr_nonnull(subs[i] = flowstore_subscribe(s, on_notify, NULL));
    ck_assert_ptr_null(flowstore_subscribe(s, on_notify, NULL));
    for (int i = 0; i < FLOWSTORE_MAX_SUBSCRIBERS; i++)
        flowstore_unsubscribe(subs[i]);
    flowstore_free(s);
}
END_TEST

#define THREAD_RECORDS 20000

static void *publisher(void *arg)
{
    flowstore *s = arg;
    static atomic_ullong next = 1;
    for (int i = 0; i < THREAD_RECORDS; i++) {
        flow_record r = make(atomic_fetch_add(&next, 1), FLOW_DONE, 200);
        flowstore_record(s, &r);
        flowstore_body(s, r.id, false, "abcdef", 6);
    }
    return NULL;
}

START_TEST(concurrent_publishers)
{
    flowstore *s = flowstore_new(1000, 4, 1 << 20);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, publisher, s);
    /* Read while they write. */
    for (int round = 0; round < 50; round++) {
        flowstore_view *views;
        long n = flowstore_list(s, 0, 1000, &views);
        ck_assert_int_ge(n, 0);
        for (long i = 0; i < n; i++)
            ck_assert_str_eq(views[i].r->url, "https://a.test/x");
        flowstore_release(views, (size_t)n, true);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    flowstore_view *views;
    ck_assert_int_eq(flowstore_list(s, 0, 5000, &views), 1000);
    ck_assert_uint_eq(views[999].r->id, 3 * THREAD_RECORDS);
    ck_assert_uint_eq(views[999].body_len[1], 4);
    flowstore_release(views, 1000, true);
    flowstore_free(s);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("flowstore");
    check_case(s, "core", 60, CHECK_TESTS(
        records_are_deep_copies, keeps_the_newest, bodies_are_bounded,
        body_memory_drops_oldest_bodies_first, subscribers_see_changes_and_lag,
        subscriber_limit, concurrent_publishers));
    return s;
}

