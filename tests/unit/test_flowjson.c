/* Unit tests for the exchange outputs: flowjson (records as JSON lines),
 * har (the HAR 1.2 document, written atomically) and bodies (body files
 * with a limit). Records are built by hand; every output is parsed back
 * with jansson and checked key by key. */
#include "check_main.h"
#include "scratch.h"
#include "bodies.h"
#include "flowjson.h"
#include "har.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 2026-11-23T10:57:02Z */
#define T0 1795431422

/* Directory entries other than . and .. */
static int count_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static struct timeval tv(long long sec, long usec)
{
    struct timeval t = {(time_t)sec, (suseconds_t)usec};
    return t;
}

static http_header req_headers[] = {
    {"Host", "example.com"},
    {"Accept", "*/*"},
    {"Cookie", "a=1"},
    {"Cookie", "b=2"},
};
static http_header resp_headers[] = {
    {"Content-Type", "text/html; charset=utf-8"},
    {"Set-Cookie", "x=1"},
    {"Set-Cookie", "y=2"},
};
/* 0xE9 and 0xFF are not UTF-8 here: Latin-1 é and ÿ. */
static http_header latin_headers[] = {
    {"X-Latin", "caf\xE9 \xFF"},
    {"X-Utf8", "na\xC3\xAFve"},
    {"X-N\xE4me", "v"},
};

/* A completed plain-http GET. */
static flow_record plain_record(void)
{
    flow_record r = {
        .id = 7,
        .start = tv(T0, 123456),
        .request_end = tv(T0, 200000),
        .response_start = tv(T0, 500000),
        .end = tv(T0 + 1, 358023), /* 1234.567 ms after start */
        .client = "127.0.0.1:53122",
        .upstream = "93.184.216.34:80",
        .url = "http://example.com/search?q=hello%20world&lang=en&flag&&x=a+b#frag",
        .method = "GET",
        .http_major = 1,
        .http_minor = 1,
        .status = 200,
        .reason = "OK",
        .request_headers = req_headers,
        .n_request_headers = 4,
        .response_headers = resp_headers,
        .n_response_headers = 3,
        .request_bytes = 0,
        .response_bytes = 1256,
    };
    return r;
}

/* An intercepted websocket upgrade that later failed, with Latin-1 headers. */
static flow_record tls_record(void)
{
    flow_record r = plain_record();
    r.id = 8;
    r.url = "https://example.com:443/chat";
    r.upstream = "[2001:db8::1]:443";
    r.status = 101;
    r.reason = NULL;
    r.request_headers = latin_headers;
    r.n_request_headers = 3;
    r.response_headers = NULL;
    r.n_response_headers = 0;
    r.websocket = true;
    static const flow_tls client = {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "example.com",
                                    "http/1.1", NULL};
    static const flow_tls upstream = {"TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", NULL, NULL,
                                      NULL};
    r.client_tls = &client;
    r.upstream_tls = &upstream;
    r.error = "connection reset by peer";
    r.response_body_file = "000008-response.bin";
    r.response_body_truncated = true;
    return r;
}

/* An HTTP/2 stream with trailers (gRPC), intercepted with a client
 * certificate offered upstream; a replay that tlspeek answered itself. */
static http_header grpc_trailers[] = {
    {"grpc-status", "0"},
    {"grpc-message", "fine"},
};
static http_header req_trailers[] = {{"x-checksum", "abc"}};

static flow_record h2_record(void)
{
    flow_record r = plain_record();
    r.id = 12;
    r.conn_id = 3;
    r.stream_id = 5;
    r.replay_of = 9;
    r.phase = FLOW_DONE;
    r.url = "https://example.com/pkg.Svc/Call";
    r.method = "POST";
    r.http_major = 2;
    r.http_minor = 0;
    r.client_protocol = "HTTP/2";
    r.upstream_protocol = "HTTP/2";
    r.request_trailers = req_trailers;
    r.n_request_trailers = 1;
    r.response_trailers = grpc_trailers;
    r.n_response_trailers = 2;
    r.answered_by_proxy = true;
    static const flow_tls client = {"TLSv1.3", "TLS_AES_128_GCM_SHA256", "example.com",
                                    "h2", NULL};
    static const flow_tls upstream = {"TLSv1.3", "TLS_AES_128_GCM_SHA256", "example.com",
                                      "h2", "CN=client"};
    r.client_tls = &client;
    r.upstream_tls = &upstream;
    return r;
}

/* flowjson_write_line into a temporary file, read the line back. */
static json_t *write_and_parse(const flow_record *r)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(flowjson_write_line(f, r), 0);
    rewind(f);
    char line[8192];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    size_t len = strlen(line);
    ck_assert_uint_gt(len, 2);
    ck_assert_int_eq(line[len - 1], '\n');
    ck_assert_ptr_eq(strchr(line, '\n'), line + len - 1); /* one line */
    ck_assert_int_eq(fgetc(f), EOF);
    fclose(f);
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    ck_assert_msg(o != NULL, "%s: %s", err.text, line);
    ck_assert(json_is_object(o));
    return o;
}

static const char *str_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

static void expect_pair(json_t *arr, size_t i, const char *name, const char *value)
{
    json_t *p = json_array_get(arr, i);
    ck_assert(json_is_array(p));
    ck_assert_uint_eq(json_array_size(p), 2);
    ck_assert_str_eq(json_string_value(json_array_get(p, 0)), name);
    ck_assert_str_eq(json_string_value(json_array_get(p, 1)), value);
}

START_TEST(record_plain)
{
    flow_record r = plain_record();
    json_t *o = write_and_parse(&r);
    ck_assert_uint_eq(json_object_size(o), 32);
    ck_assert(json_is_integer(json_object_get(o, "id")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "id")), 7);
    ck_assert_str_eq(str_at(o, "start"), "2026-11-23T10:57:02.123Z");
    json_t *d = json_object_get(o, "duration_ms");
    ck_assert(json_is_number(d));
    ck_assert_double_eq_tol(json_number_value(d), 1234.567, 1e-9);
    ck_assert_str_eq(str_at(o, "client"), "127.0.0.1:53122");
    ck_assert_str_eq(str_at(o, "method"), "GET");
    ck_assert_str_eq(str_at(o, "url"), r.url);
    ck_assert_str_eq(str_at(o, "http_version"), "HTTP/1.1");
    ck_assert(json_is_integer(json_object_get(o, "status")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "status")), 200);
    ck_assert_str_eq(str_at(o, "reason"), "OK");

    json_t *rq = json_object_get(o, "request_headers");
    ck_assert(json_is_array(rq));
    ck_assert_uint_eq(json_array_size(rq), 4);
    expect_pair(rq, 0, "Host", "example.com");
    expect_pair(rq, 1, "Accept", "*/*");
    expect_pair(rq, 2, "Cookie", "a=1");  /* repeats kept, in wire order */
    expect_pair(rq, 3, "Cookie", "b=2");
    json_t *rs = json_object_get(o, "response_headers");
    ck_assert_uint_eq(json_array_size(rs), 3);
    expect_pair(rs, 1, "Set-Cookie", "x=1");
    expect_pair(rs, 2, "Set-Cookie", "y=2");

    ck_assert(json_is_integer(json_object_get(o, "request_bytes")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "request_bytes")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "response_bytes")), 1256);
    ck_assert(json_is_false(json_object_get(o, "websocket")));
    ck_assert(json_is_null(json_object_get(o, "tls")));
    ck_assert_str_eq(str_at(o, "upstream"), "93.184.216.34:80");
    ck_assert(json_is_null(json_object_get(o, "error")));
    ck_assert(json_is_null(json_object_get(o, "request_body")));
    ck_assert(json_is_null(json_object_get(o, "response_body")));
    json_decref(o);
}
END_TEST

static void expect_tls_side(json_t *t, const char *version, const char *cipher,
                            const char *sni, const char *alpn)
{
    ck_assert(json_is_object(t));
    ck_assert_uint_eq(json_object_size(t), 5);
    ck_assert_str_eq(str_at(t, "version"), version);
    ck_assert_str_eq(str_at(t, "cipher"), cipher);
    if (sni)
        ck_assert_str_eq(str_at(t, "sni"), sni);
    else
        ck_assert(json_is_null(json_object_get(t, "sni")));
    if (alpn)
        ck_assert_str_eq(str_at(t, "alpn"), alpn);
    else
        ck_assert(json_is_null(json_object_get(t, "alpn")));
}

START_TEST(record_tls_latin1_websocket)
{
    flow_record r = tls_record();
    json_t *o = write_and_parse(&r);
    ck_assert_uint_eq(json_object_size(o), 32);
    json_t *t = json_object_get(o, "tls");
    ck_assert(json_is_object(t));
    ck_assert_uint_eq(json_object_size(t), 2);
    expect_tls_side(json_object_get(t, "client"), "TLSv1.3",
                    "TLS_AES_256_GCM_SHA384", "example.com", "http/1.1");
    expect_tls_side(json_object_get(t, "upstream"), "TLSv1.2",
                    "ECDHE-RSA-AES128-GCM-SHA256", NULL, NULL);

    /* 0xE9 -> U+00E9, 0xFF -> U+00FF; valid UTF-8 stays as it was. */
    json_t *rq = json_object_get(o, "request_headers");
    ck_assert_uint_eq(json_array_size(rq), 3);
    expect_pair(rq, 0, "X-Latin", "caf\xC3\xA9 \xC3\xBF");
    expect_pair(rq, 1, "X-Utf8", "na\xC3\xAFve");
    expect_pair(rq, 2, "X-N\xC3\xA4me", "v");
    ck_assert(json_is_array(json_object_get(o, "response_headers")));
    ck_assert_uint_eq(json_array_size(json_object_get(o, "response_headers")), 0);

    ck_assert_int_eq(json_integer_value(json_object_get(o, "status")), 101);
    ck_assert(json_is_null(json_object_get(o, "reason")));
    ck_assert(json_is_true(json_object_get(o, "websocket")));
    ck_assert_str_eq(str_at(o, "error"), "connection reset by peer");
    ck_assert_str_eq(str_at(o, "upstream"), "[2001:db8::1]:443");
    ck_assert(json_is_null(json_object_get(o, "request_body")));
    json_t *b = json_object_get(o, "response_body");
    ck_assert(json_is_object(b));
    ck_assert_str_eq(str_at(b, "file"), "000008-response.bin");
    ck_assert(json_is_true(json_object_get(b, "truncated")));
    json_decref(o);
}
END_TEST

static json_int_t int_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return json_integer_value(v);
}

START_TEST(record_ids_protocols_trailers)
{
    flow_record r = h2_record();
    json_t *o = write_and_parse(&r);
    ck_assert_uint_eq(json_object_size(o), 32);
    /* The documented order: ids first, then what happened. */
    void *it = json_object_iter(o);
    ck_assert_str_eq(json_object_iter_key(it), "id");
    it = json_object_iter_next(o, it);
    ck_assert_str_eq(json_object_iter_key(it), "conn_id");
    ck_assert_int_eq(int_at(o, "id"), 12);
    ck_assert_int_eq(int_at(o, "conn_id"), 3);
    ck_assert_int_eq(int_at(o, "stream_id"), 5);
    ck_assert_int_eq(int_at(o, "replay_of"), 9);
    ck_assert_str_eq(str_at(o, "phase"), "done");
    ck_assert_str_eq(str_at(o, "http_version"), "HTTP/2");
    ck_assert_str_eq(str_at(o, "client_protocol"), "HTTP/2");
    ck_assert_str_eq(str_at(o, "upstream_protocol"), "HTTP/2");
    json_t *tr = json_object_get(o, "response_trailers");
    ck_assert_uint_eq(json_array_size(tr), 2);
    expect_pair(tr, 0, "grpc-status", "0");
    expect_pair(tr, 1, "grpc-message", "fine");
    tr = json_object_get(o, "request_trailers");
    ck_assert_uint_eq(json_array_size(tr), 1);
    expect_pair(tr, 0, "x-checksum", "abc");
    ck_assert(json_is_true(json_object_get(o, "answered_by_proxy")));
    ck_assert(json_is_false(json_object_get(o, "request_unparsed")));
    ck_assert(json_is_false(json_object_get(o, "passthrough")));
    ck_assert(json_is_null(json_object_get(o, "passthrough_reason")));
    ck_assert(json_is_null(json_object_get(o, "websocket_messages")));
    json_t *t = json_object_get(o, "tls");
    expect_tls_side(json_object_get(t, "client"), "TLSv1.3", "TLS_AES_128_GCM_SHA256",
                    "example.com", "h2");
    ck_assert(json_is_null(json_object_get(json_object_get(t, "client"), "client_cert")));
    ck_assert_str_eq(str_at(json_object_get(t, "upstream"), "client_cert"), "CN=client");
    json_decref(o);

    /* A websocket with its message counts; a passthrough tunnel. */
    r = plain_record();
    r.websocket = true;
    r.ws_messages_up = 3;
    r.ws_messages_down = 40;
    r.phase = FLOW_ERROR;
    r.passthrough = true;
    r.passthrough_reason = "--ignore-hosts";
    o = write_and_parse(&r);
    json_t *ws = json_object_get(o, "websocket_messages");
    ck_assert(json_is_object(ws));
    ck_assert_uint_eq(json_object_size(ws), 2);
    ck_assert_int_eq(int_at(ws, "up"), 3);
    ck_assert_int_eq(int_at(ws, "down"), 40);
    ck_assert_str_eq(str_at(o, "phase"), "error");
    ck_assert(json_is_true(json_object_get(o, "passthrough")));
    ck_assert_str_eq(str_at(o, "passthrough_reason"), "--ignore-hosts");
    ck_assert(json_is_null(json_object_get(o, "replay_of")));
    ck_assert_int_eq(int_at(o, "stream_id"), 0);
    ck_assert(json_is_null(json_object_get(o, "tls")));
    json_decref(o);

    /* Only the upstream leg is TLS (plain http:// forwarded to https). */
    static const flow_tls up = {"TLSv1.2", "AES128-SHA", NULL, NULL, NULL};
    r = plain_record();
    r.upstream_tls = &up;
    o = flowjson_record(&r);
    t = json_object_get(o, "tls");
    ck_assert(json_is_null(json_object_get(t, "client")));
    expect_tls_side(json_object_get(t, "upstream"), "TLSv1.2", "AES128-SHA", NULL, NULL);
    json_decref(o);

    char v[32];
    flowjson_http_version(&r, v, sizeof v);
    ck_assert_str_eq(v, "HTTP/1.1");
    ck_assert_str_eq(flowjson_phase(FLOW_REQUEST), "request");
    ck_assert_str_eq(flowjson_phase(FLOW_RESPONSE), "response");
}
END_TEST

START_TEST(record_nulls)
{
    flow_record r = {
        .id = 1,
        .start = tv(T0, 0),
        .end = tv(T0 - 1, 0), /* clock went back: never a negative duration */
        .http_major = 1,
        .http_minor = 0,
    };
    json_t *o = flowjson_record(&r);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(json_object_size(o), 32);
    ck_assert_str_eq(str_at(o, "http_version"), "HTTP/1.0");
    ck_assert_double_eq(json_number_value(json_object_get(o, "duration_ms")), 0.0);
    static const char *const nulls[] = {"client", "method", "url", "reason",
                                        "tls", "upstream", "error",
                                        "request_body", "response_body", "replay_of",
                                        "client_protocol", "upstream_protocol",
                                        "passthrough_reason", "websocket_messages"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        ck_assert_msg(json_is_null(json_object_get(o, nulls[i])), "%s", nulls[i]);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "status")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(o, "request_headers")), 0);
    json_decref(o);
}
END_TEST

START_TEST(text_rules)
{
    /* Overlong encodings and surrogates are not UTF-8: Latin-1 as a whole. */
    json_t *v = flowjson_text("\xC0\xAF", 2);
    ck_assert_str_eq(json_string_value(v), "\xC3\x80\xC2\xAF");
    json_decref(v);
    v = flowjson_text("\xED\xA0\x80", 3);
    ck_assert_str_eq(json_string_value(v), "\xC3\xAD\xC2\xA0\xC2\x80");
    json_decref(v);
    v = flowjson_text("\xE2\x82\xAC", 3); /* a valid euro sign stays */
    ck_assert_str_eq(json_string_value(v), "\xE2\x82\xAC");
    json_decref(v);
    v = flowjson_str(NULL);
    ck_assert(json_is_null(v));

    char out[FLOWJSON_TIME_LEN];
    struct timeval t = tv(T0, 999999);
    ck_assert_int_eq(flowjson_format_time(&t, out), 0);
    ck_assert_str_eq(out, "2026-11-23T10:57:02.999Z");
    t = tv(0, 0);
    flowjson_format_time(&t, out);
    ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
}
END_TEST

/* The query as [{name, value}], or NULL for "no array" checks. */
static void expect_query(const char *url, size_t n, const char *const *pairs)
{
    json_t *q = flowjson_query(url);
    ck_assert_msg(json_is_array(q), "%s", url ? url : "(null)");
    ck_assert_msg(json_array_size(q) == n, "%s: %zu pieces", url ? url : "(null)",
                  json_array_size(q));
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(q, i);
        ck_assert_uint_eq(json_object_size(o), 2);
        ck_assert_str_eq(str_at(o, "name"), pairs[2 * i]);
        ck_assert_str_eq(str_at(o, "value"), pairs[2 * i + 1]);
    }
    json_decref(q);
}

START_TEST(query_parsing)
{
    expect_query(NULL, 0, NULL);
    expect_query("http://a/", 0, NULL);
    expect_query("http://a/?", 0, NULL);
    expect_query("http://a/#frag?x=1", 0, NULL); /* in the fragment */
    expect_query("http://a/?&&", 0, NULL);
    static const char *const plain[] = {"a", "1", "b", "", "c", "x=y"};
    expect_query("http://a/?a=1&b&c=x=y#f", 3, plain);
    static const char *const decoded[] = {"sp ace", "%zz%4%", "k+", "caf\xC3\xA9"};
    expect_query("http://a/p?sp+ace=%zz%4%&k%2B=caf%C3%A9", 2, decoded);
    /* Decoded bytes that are not UTF-8: Latin-1, like headers. */
    static const char *const latin[] = {"q", "caf\xC3\xA9", "e", ""};
    expect_query("/x?q=caf%E9&e=", 2, latin);
    static const char *const ctl[] = {"a", "%\x10\x11"}; /* not hex digits */
    expect_query("/x?a=%\x10\x11", 1, ctl);
}
END_TEST

START_TEST(write_line_failure)
{
    /* /dev/full fails every write with ENOSPC, even for root. */
    FILE *f = fopen("/dev/full", "w");
    ck_assert_ptr_nonnull(f);
    flow_record r = plain_record();
    ck_assert_int_eq(flowjson_write_line(f, &r), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_int_eq(flowjson_write_line(f, &r), -1); /* and again */
    fclose(f);
}
END_TEST

/* jansson allocations fail from the n-th on (n < 0: never). */
static long alloc_budget = -1;

static void *failing_malloc(size_t size)
{
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return malloc(size);
}

/* Every jansson allocation that can fail, failing in turn: NULL or -1,
 * never a crash, and nothing leaked (the sanitizer build checks that). */
START_TEST(allocation_failures)
{
    scratch_make("test_flowjson");
    /* har_add warns at each failure: silence stderr for the loop. */
    int saved_stderr = dup(STDERR_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    ck_assert_int_ge(saved_stderr, 0);
    ck_assert_int_ge(devnull, 0);
    fflush(stderr);
    dup2(devnull, STDERR_FILENO);
    close(devnull);
    har *h = har_new(scratch_path("out.har"), "1");
    ck_assert_ptr_nonnull(h);
    flow_record recs[3] = {plain_record(), tls_record(), h2_record()};
    recs[1].ws_messages_up = 1;
    recs[1].passthrough = true;
    recs[1].passthrough_reason = "why";
    json_set_alloc_funcs(failing_malloc, free);
    for (int k = 0; k < 3; k++) {
        bool built = false, added = false;
        for (long n = 0; !(built && added); n++) {
            ck_assert_int_lt(n, 100000);
            alloc_budget = n;
            json_t *o = flowjson_record(&recs[k]);
            if (o)
                built = true;
            json_decref(o);
            alloc_budget = n;
            if (har_add(h, &recs[k]) == 0)
                added = true;
        }
    }
    alloc_budget = -1;
    ck_assert_uint_eq(har_count(h), 3);
    ck_assert_int_eq(har_write(h), 0);
    json_set_alloc_funcs(malloc, free);
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    har_free(h);
    scratch_remove();
}
END_TEST

/* --- har --- */

static json_t *load_har(const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    ck_assert_msg(doc != NULL, "%s: %s", path, err.text);
    json_t *log = json_object_get(doc, "log");
    ck_assert(json_is_object(log));
    ck_assert_str_eq(str_at(log, "version"), "1.2");
    ck_assert_str_eq(str_at(json_object_get(log, "creator"), "name"), "tlspeek");
    ck_assert(json_is_array(json_object_get(log, "entries")));
    return doc;
}

static json_t *entries_of(json_t *doc)
{
    return json_object_get(json_object_get(doc, "log"), "entries");
}

static json_t *entry_by_url(json_t *doc, const char *url)
{
    json_t *entries = entries_of(doc);
    for (size_t i = 0; i < json_array_size(entries); i++) {
        json_t *e = json_array_get(entries, i);
        if (strcmp(str_at(json_object_get(e, "request"), "url"), url) == 0)
            return e;
    }
    ck_abort_msg("no entry for %s", url);
    return NULL;
}

static double num_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_number(v), "%s is not a number", key);
    return json_number_value(v);
}

static void expect_nv(json_t *arr, size_t i, const char *name, const char *value)
{
    json_t *o = json_array_get(arr, i);
    ck_assert(json_is_object(o));
    ck_assert_str_eq(str_at(o, "name"), name);
    ck_assert_str_eq(str_at(o, "value"), value);
}

/* Standard shape of every entry; timings add up to time. */
static void expect_entry_shape(json_t *e)
{
    ck_assert(json_is_string(json_object_get(e, "startedDateTime")));
    ck_assert(json_is_object(json_object_get(e, "cache")));
    json_t *rq = json_object_get(e, "request"), *rs = json_object_get(e, "response");
    ck_assert(json_is_array(json_object_get(rq, "cookies")));
    ck_assert(json_is_array(json_object_get(rq, "headers")));
    ck_assert(json_is_array(json_object_get(rq, "queryString")));
    ck_assert_int_eq((int)num_at(rq, "headersSize"), -1);
    ck_assert(json_is_array(json_object_get(rs, "cookies")));
    ck_assert(json_is_array(json_object_get(rs, "headers")));
    ck_assert(json_is_string(json_object_get(rs, "statusText")));
    ck_assert(json_is_string(json_object_get(rs, "redirectURL")));
    ck_assert(json_is_string(json_object_get(rs, "httpVersion")));
    ck_assert(json_is_string(json_object_get(json_object_get(rs, "content"), "mimeType")));
    ck_assert_int_eq((int)num_at(rs, "headersSize"), -1);
    json_t *t = json_object_get(e, "timings");
    ck_assert_int_eq((int)num_at(t, "blocked"), -1);
    ck_assert_int_eq((int)num_at(t, "dns"), -1);
    ck_assert_int_eq((int)num_at(t, "connect"), -1);
    ck_assert_int_eq((int)num_at(t, "ssl"), -1);
    double send = num_at(t, "send"), wait = num_at(t, "wait"), recv = num_at(t, "receive");
    ck_assert(send >= 0 && wait >= 0 && recv >= 0);
    ck_assert_double_eq_tol(send + wait + recv, num_at(e, "time"), 1e-6);
}

START_TEST(har_three_entries)
{
    scratch_make("test_flowjson");
    char *path = strdup(scratch_path("out.har"));
    har *h = har_new(path, "9.9.9");
    ck_assert_ptr_nonnull(h);
    ck_assert(!har_dirty(h));
    json_t *doc = load_har(path); /* valid from the start */
    ck_assert_uint_eq(json_array_size(entries_of(doc)), 0);
    json_decref(doc);

    flow_record r1 = plain_record();
    flow_record r2 = tls_record();
    http_header redirect[] = {{"Location", "/next"}, {"Content-Type", "text/plain"}};
    r2.url = "http://[::1]:8080/api";
    r2.upstream = "[::1]:8080";
    r2.method = "POST";
    r2.status = 302;
    r2.reason = "Found";
    r2.response_headers = redirect;
    r2.n_response_headers = 2;
    r2.request_bytes = 11;
    r2.error = NULL;
    r2.start = tv(T0 - 5, 0); /* earlier: must come first */
    r2.request_end = tv(T0 - 5, 1000);
    r2.response_start = tv(T0 - 5, 2000);
    r2.end = tv(T0 - 5, 3000);
    flow_record r3 = plain_record();
    r3.id = 9;
    r3.url = "https://example.com:443/fail";
    r3.status = 0;
    r3.reason = NULL;
    r3.response_headers = NULL;
    r3.n_response_headers = 0;
    r3.response_start = tv(0, 0); /* no response came */
    r3.error = "upstream closed";
    r3.start = tv(T0 + 10, 0);
    r3.request_end = tv(T0 + 10, 100000);
    r3.end = tv(T0 + 10, 600000);

    ck_assert_int_eq(har_add(h, &r1), 0);
    ck_assert(har_dirty(h));
    ck_assert_int_eq(har_add(h, &r2), 0);
    ck_assert_int_eq(har_add(h, &r3), 0);
    ck_assert_uint_eq(har_count(h), 3);
    ck_assert_int_eq(har_write(h), 0);
    ck_assert(!har_dirty(h));
    ck_assert_int_eq(count_files(scratch_dir), 1); /* no temporary file left */

    doc = load_har(path);
    ck_assert_str_eq(str_at(json_object_get(json_object_get(doc, "log"), "creator"),
                            "version"), "9.9.9");
    json_t *entries = entries_of(doc);
    ck_assert_uint_eq(json_array_size(entries), 3);
    ck_assert_ptr_null(json_object_get(json_object_get(doc, "log"), "_dropped"));
    for (size_t i = 0; i < 3; i++)
        expect_entry_shape(json_array_get(entries, i));
    /* Sorted by start. */
    ck_assert_str_eq(str_at(json_array_get(entries, 0), "startedDateTime"),
                     "2026-11-23T10:56:57.000Z");
    ck_assert_str_eq(str_at(json_array_get(entries, 1), "startedDateTime"),
                     "2026-11-23T10:57:02.123Z");

    json_t *e1 = entry_by_url(doc, r1.url);
    json_t *rq = json_object_get(e1, "request");
    ck_assert_str_eq(str_at(rq, "method"), "GET");
    ck_assert_str_eq(str_at(rq, "httpVersion"), "HTTP/1.1");
    json_t *qs = json_object_get(rq, "queryString");
    ck_assert_uint_eq(json_array_size(qs), 4);
    expect_nv(qs, 0, "q", "hello world");
    expect_nv(qs, 1, "lang", "en");
    expect_nv(qs, 2, "flag", "");
    expect_nv(qs, 3, "x", "a b");
    ck_assert_uint_eq(json_array_size(json_object_get(rq, "headers")), 4);
    expect_nv(json_object_get(rq, "headers"), 3, "Cookie", "b=2");
    ck_assert_int_eq((int)num_at(rq, "bodySize"), 0);
    json_t *rs = json_object_get(e1, "response");
    ck_assert_int_eq((int)num_at(rs, "status"), 200);
    ck_assert_str_eq(str_at(rs, "statusText"), "OK");
    ck_assert_str_eq(str_at(rs, "httpVersion"), "HTTP/1.1");
    ck_assert_str_eq(str_at(rs, "redirectURL"), "");
    json_t *content = json_object_get(rs, "content");
    ck_assert_str_eq(str_at(content, "mimeType"), "text/html; charset=utf-8");
    ck_assert_int_eq((int)num_at(content, "size"), 1256);
    ck_assert_ptr_null(json_object_get(content, "text"));
    ck_assert_int_eq((int)num_at(rs, "bodySize"), 1256);
    json_t *t = json_object_get(e1, "timings");
    ck_assert_double_eq_tol(num_at(t, "send"), 76.544, 1e-9);
    ck_assert_double_eq_tol(num_at(t, "wait"), 300.0, 1e-9);
    ck_assert_double_eq_tol(num_at(t, "receive"), 858.023, 1e-9);
    ck_assert_double_eq_tol(num_at(e1, "time"), 1234.567, 1e-9);
    ck_assert_str_eq(str_at(e1, "serverIPAddress"), "93.184.216.34");
    ck_assert_str_eq(str_at(e1, "connection"), "127.0.0.1:53122");
    ck_assert_ptr_null(json_object_get(e1, "_error"));
    ck_assert_ptr_null(json_object_get(e1, "_websocket"));

    json_t *e2 = entry_by_url(doc, r2.url);
    ck_assert_str_eq(str_at(e2, "serverIPAddress"), "::1");
    ck_assert(json_is_true(json_object_get(e2, "_websocket")));
    ck_assert_str_eq(str_at(json_object_get(e2, "response"), "redirectURL"), "/next");
    ck_assert_int_eq((int)num_at(json_object_get(e2, "request"), "bodySize"), 11);
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(e2, "request"),
                                                      "queryString")), 0);
    /* Latin-1 header value, as in flowjson. */
    expect_nv(json_object_get(json_object_get(e2, "request"), "headers"), 0,
              "X-Latin", "caf\xC3\xA9 \xC3\xBF");
    json_t *c2 = json_object_get(json_object_get(e2, "response"), "content");
    ck_assert_str_eq(str_at(c2, "_file"), "000008-response.bin");
    ck_assert(json_is_true(json_object_get(c2, "_truncated")));

    json_t *e3 = entry_by_url(doc, r3.url);
    ck_assert_str_eq(str_at(e3, "_error"), "upstream closed");
    json_t *rs3 = json_object_get(e3, "response");
    ck_assert_int_eq((int)num_at(rs3, "status"), 0);
    ck_assert_str_eq(str_at(rs3, "httpVersion"), "");
    ck_assert_str_eq(str_at(json_object_get(rs3, "content"), "mimeType"), "");
    t = json_object_get(e3, "timings");
    ck_assert_double_eq_tol(num_at(t, "send"), 100.0, 1e-9);
    ck_assert_double_eq_tol(num_at(t, "wait"), 500.0, 1e-9); /* until the failure */
    ck_assert_double_eq_tol(num_at(t, "receive"), 0.0, 1e-9);
    json_decref(doc);

    /* Rewriting replaces the file, again without leftovers. */
    ck_assert_int_eq(har_write(h), 0);
    ck_assert_int_eq(count_files(scratch_dir), 1);
    har_free(h);
    free(path);
    scratch_remove();
}
END_TEST

START_TEST(har_h2_and_custom_fields)
{
    scratch_make("test_flowjson");
    char *path = strdup(scratch_path("out.har"));
    har *h = har_new(path, "1");
    ck_assert_ptr_nonnull(h);
    flow_record r1 = h2_record();
    flow_record r2 = plain_record();
    r2.id = 13;
    r2.url = "http://example.com/ws";
    r2.websocket = true;
    r2.ws_messages_up = 2;
    r2.ws_messages_down = 7;
    r2.passthrough = true;
    r2.passthrough_reason = "not TLS";
    ck_assert_int_eq(har_add(h, &r1), 0);
    ck_assert_int_eq(har_add(h, &r2), 0);
    ck_assert_int_eq(har_write(h), 0);
    json_t *doc = load_har(path);
    json_t *e1 = entry_by_url(doc, r1.url);
    expect_entry_shape(e1);
    ck_assert_str_eq(str_at(json_object_get(e1, "request"), "httpVersion"), "HTTP/2");
    ck_assert_str_eq(str_at(json_object_get(e1, "response"), "httpVersion"), "HTTP/2");
    ck_assert_int_eq((int)num_at(e1, "_id"), 12);
    ck_assert_int_eq((int)num_at(e1, "_connId"), 3);
    ck_assert_int_eq((int)num_at(e1, "_streamId"), 5);
    ck_assert_int_eq((int)num_at(e1, "_replayOf"), 9);
    ck_assert_str_eq(str_at(e1, "_clientProtocol"), "HTTP/2");
    ck_assert_str_eq(str_at(e1, "_upstreamProtocol"), "HTTP/2");
    ck_assert(json_is_true(json_object_get(e1, "_answeredByProxy")));
    ck_assert_ptr_null(json_object_get(e1, "_passthrough"));
    ck_assert_ptr_null(json_object_get(e1, "_websocketMessages"));
    json_t *tls = json_object_get(e1, "_tls");
    ck_assert_str_eq(str_at(json_object_get(tls, "client"), "alpn"), "h2");
    ck_assert_str_eq(str_at(json_object_get(tls, "upstream"), "client_cert"), "CN=client");
    json_t *tr = json_object_get(json_object_get(e1, "response"), "_trailers");
    ck_assert_uint_eq(json_array_size(tr), 2);
    expect_nv(tr, 0, "grpc-status", "0");
    expect_nv(tr, 1, "grpc-message", "fine");
    tr = json_object_get(json_object_get(e1, "request"), "_trailers");
    ck_assert_uint_eq(json_array_size(tr), 1);
    expect_nv(tr, 0, "x-checksum", "abc");

    json_t *e2 = entry_by_url(doc, r2.url);
    expect_entry_shape(e2);
    ck_assert_str_eq(str_at(json_object_get(e2, "request"), "httpVersion"), "HTTP/1.1");
    ck_assert_ptr_null(json_object_get(e2, "_streamId")); /* HTTP/1: none */
    ck_assert_ptr_null(json_object_get(e2, "_replayOf"));
    ck_assert_ptr_null(json_object_get(e2, "_answeredByProxy"));
    ck_assert_ptr_null(json_object_get(e2, "_tls"));
    ck_assert_ptr_null(json_object_get(json_object_get(e2, "response"), "_trailers"));
    ck_assert(json_is_true(json_object_get(e2, "_websocket")));
    json_t *ws = json_object_get(e2, "_websocketMessages");
    ck_assert_int_eq((int)num_at(ws, "up"), 2);
    ck_assert_int_eq((int)num_at(ws, "down"), 7);
    ck_assert(json_is_true(json_object_get(e2, "_passthrough")));
    ck_assert_str_eq(str_at(e2, "_passthroughReason"), "not TLS");
    json_decref(doc);
    har_free(h);
    free(path);
    scratch_remove();
}
END_TEST

START_TEST(har_unwritable)
{
    ck_assert_ptr_null(har_new("/nonexistent-tlspeek-dir/x.har", "1"));

    scratch_make("test_flowjson");
    char *path = strdup(scratch_path("out.har"));
    har *h = har_new(path, "1");
    ck_assert_ptr_nonnull(h);
    /* The directory disappears under it (chmod would not stop root). */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(scratch_dir), 0);
    flow_record r = plain_record();
    ck_assert_int_eq(har_add(h, &r), 0);
    errno = 0;
    ck_assert_int_eq(har_write(h), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert(har_dirty(h)); /* retried later */
    ck_assert_int_eq(har_write(h), -1);
    /* It comes back: the next write works. */
    ck_assert_int_eq(mkdir(scratch_dir, 0700), 0);
    ck_assert_int_eq(har_write(h), 0);
    ck_assert(!har_dirty(h));
    json_t *doc = load_har(path);
    ck_assert_uint_eq(json_array_size(entries_of(doc)), 1);
    json_decref(doc);
    har_free(h);
    free(path);
    scratch_remove();
}
END_TEST

START_TEST(har_bounded)
{
    scratch_make("test_flowjson");
    char *path = strdup(scratch_path("out.har"));
    har *h = har_new(path, "1");
    ck_assert_ptr_nonnull(h);
    har_set_limits(h, 2, HAR_MAX_BYTES);
    flow_record r = plain_record();
    const char *urls[] = {"http://a/1", "http://a/2", "http://a/3", "http://a/4",
                          "http://a/5"};
    for (int i = 0; i < 5; i++) {
        r.id = (unsigned long long)i;
        r.url = urls[i];
        ck_assert_int_eq(har_add(h, &r), 0);
        ck_assert_uint_le(har_count(h), 2);
    }
    ck_assert_int_eq(har_write(h), 0);
    json_t *doc = load_har(path);
    json_t *log = json_object_get(doc, "log");
    ck_assert_uint_eq(json_array_size(entries_of(doc)), 2);
    ck_assert_int_eq((int)num_at(log, "_dropped"), 3);
    ck_assert_ptr_nonnull(strstr(str_at(log, "comment"), "3 oldest entries dropped"));
    entry_by_url(doc, "http://a/4");
    entry_by_url(doc, "http://a/5");
    json_decref(doc);

    /* Lowering a limit drops at once, and marks the log dirty. */
    ck_assert_int_eq(har_add(h, &r), 0);
    ck_assert_int_eq(har_write(h), 0);
    har_set_limits(h, 10, 1); /* 1 byte: only the newest stays */
    ck_assert_uint_eq(har_count(h), 1);
    ck_assert(har_dirty(h));
    ck_assert_int_eq(har_write(h), 0);
    doc = load_har(path);
    ck_assert_uint_eq(json_array_size(entries_of(doc)), 1);
    ck_assert_int_eq((int)num_at(json_object_get(doc, "log"), "_dropped"), 5);
    json_decref(doc);
    har_free(h);
    free(path);
    scratch_remove();
}
END_TEST

/* Where bodies_close() puts names in these tests. */
static char name_buf[BODIES_NAME_MAX];

/* Store data as a body file of exchange id; returns the name (copied). */
static char *store_body(bodies *b, unsigned long long id, const char *which,
                        const char *data)
{
    bodies_sink *s = bodies_open(b, id, which);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(bodies_write(s, data, strlen(data)), 0);
    bool truncated = true;
    const char *name = bodies_close(s, name_buf, &truncated);
    ck_assert_ptr_nonnull(name);
    ck_assert(!truncated);
    return strdup(name);
}

START_TEST(har_inline_text)
{
    scratch_make("test_flowjson");
    bodies *b = bodies_new(scratch_dir, 1024);
    ck_assert_ptr_nonnull(b);
    char *text_file = store_body(b, 1, "response", "hello, world");
    char *post_file = store_body(b, 1, "request", "{\"a\":1}");
    char *bin_file = store_body(b, 2, "response", "PNG\x01\x02");

    har *h = har_new(scratch_path("out.har"), "1");
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(har_set_bodies_dir(h, bodies_dir(b)), 0);
    http_header text_hdrs[] = {{"Content-Type", "text/plain; charset=utf-8"}};
    http_header json_hdrs[] = {{"Content-Type", "application/json"}};
    http_header png_hdrs[] = {{"Content-Type", "image/png"}};
    http_header gz_hdrs[] = {{"Content-Type", "text/plain"},
                             {"Content-Encoding", "gzip"}};
    flow_record r = plain_record();
    r.url = "http://a/text";
    r.response_headers = text_hdrs;
    r.n_response_headers = 1;
    r.response_body_file = text_file;
    r.request_headers = json_hdrs;
    r.n_request_headers = 1;
    r.request_body_file = post_file;
    ck_assert_int_eq(har_add(h, &r), 0);
    r.request_body_file = NULL;
    r.url = "http://a/png";
    r.response_headers = png_hdrs;
    r.response_body_file = bin_file;
    ck_assert_int_eq(har_add(h, &r), 0);
    r.url = "http://a/gzip";
    r.response_headers = gz_hdrs;
    r.n_response_headers = 2;
    r.response_body_file = text_file;
    ck_assert_int_eq(har_add(h, &r), 0);
    r.url = "http://a/truncated";
    r.response_headers = text_hdrs;
    r.n_response_headers = 1;
    r.response_body_truncated = true;
    ck_assert_int_eq(har_add(h, &r), 0);
    ck_assert_int_eq(har_write(h), 0);

    json_t *doc = load_har(scratch_path("out.har"));
    json_t *e = entry_by_url(doc, "http://a/text");
    json_t *content = json_object_get(json_object_get(e, "response"), "content");
    ck_assert_str_eq(str_at(content, "text"), "hello, world");
    ck_assert_str_eq(str_at(content, "_file"), text_file);
    json_t *post = json_object_get(json_object_get(e, "request"), "postData");
    ck_assert_str_eq(str_at(post, "mimeType"), "application/json");
    ck_assert_str_eq(str_at(post, "text"), "{\"a\":1}");
    const char *no_text[] = {"http://a/png", "http://a/gzip", "http://a/truncated"};
    for (size_t i = 0; i < 3; i++) {
        e = entry_by_url(doc, no_text[i]);
        content = json_object_get(json_object_get(e, "response"), "content");
        ck_assert_msg(json_object_get(content, "text") == NULL, "%s", no_text[i]);
        ck_assert_ptr_null(json_object_get(json_object_get(e, "request"), "postData"));
    }
    json_decref(doc);
    har_free(h);
    bodies_free(b);
    free(text_file);
    free(post_file);
    free(bin_file);
    scratch_remove();
}
END_TEST

/* --- bodies --- */

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

START_TEST(bodies_truncates_at_limit)
{
    scratch_make("test_flowjson");
    bodies *b = bodies_new(scratch_dir, 4);
    ck_assert_ptr_nonnull(b);
    bodies_sink *s = bodies_open(b, 42, "response");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(bodies_write(s, "01234", 5), 0);
    ck_assert_int_eq(bodies_write(s, "56789", 5), 0);
    ck_assert_uint_eq(bodies_sink_total(s), 10);
    bool truncated = false;
    const char *name = bodies_close(s, name_buf, &truncated);
    ck_assert_ptr_nonnull(name);
    ck_assert_str_eq(name, "000042-response.bin");
    ck_assert(truncated);
    ck_assert_int_eq(file_size(scratch_path(name)), 4);
    FILE *f = fopen(scratch_path(name), "rb");
    char buf[8] = {0};
    ck_assert_uint_eq(fread(buf, 1, sizeof buf, f), 4);
    fclose(f);
    ck_assert_str_eq(buf, "0123");
    struct stat st;
    ck_assert_int_eq(stat(scratch_path(name), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    /* Exactly the limit is not truncated. */
    s = bodies_open(b, 43, "response");
    bodies_write(s, "abcd", 4);
    name = bodies_close(s, name_buf, &truncated);
    ck_assert_str_eq(name, "000043-response.bin");
    ck_assert(!truncated);
    ck_assert_int_eq(file_size(scratch_path(name)), 4);
    ck_assert_uint_eq(bodies_errors(b), 0);
    bodies_free(b);
    scratch_remove();
}
END_TEST

/* A FIFO where a body file goes hangs neither the writer (a worker) nor
 * the reader (the HAR writer) in open(). */
START_TEST(bodies_fifo_does_not_hang)
{
    scratch_make("test_flowjson");
    bodies *b = bodies_new(scratch_dir, 100);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(mkfifo(scratch_path("000007-response.bin"), 0600), 0);
    size_t len = 0;
    ck_assert_ptr_null(bodies_read(scratch_dir, "000007-response.bin", 100, &len));
    bodies_sink *s = bodies_open(b, 7, "response");
    ck_assert_int_eq(bodies_write(s, "abc", 3), -1); /* no reader: ENXIO */
    bool truncated = false;
    ck_assert_ptr_null(bodies_close(s, name_buf, &truncated));
    ck_assert(truncated);
    ck_assert_uint_eq(bodies_errors(b), 1);
    bodies_free(b);
    scratch_remove();
}
END_TEST

START_TEST(bodies_empty_makes_no_file)
{
    scratch_make("test_flowjson");
    bodies *b = bodies_new(scratch_dir, 100);
    bodies_sink *s = bodies_open(b, 1, "request");
    bool truncated = true;
    ck_assert_ptr_null(bodies_close(s, name_buf, &truncated));
    ck_assert(!truncated);
    s = bodies_open(b, 2, "request");
    ck_assert_int_eq(bodies_write(s, "", 0), 0);
    ck_assert_ptr_null(bodies_close(s, name_buf, &truncated));
    ck_assert_int_eq(count_files(scratch_dir), 0);

    /* Limit 0: counted, never stored. */
    bodies *none = bodies_new(scratch_dir, 0);
    s = bodies_open(none, 3, "response");
    ck_assert_int_eq(bodies_write(s, "xyz", 3), 0);
    ck_assert_ptr_null(bodies_close(s, name_buf, &truncated));
    ck_assert(truncated);
    ck_assert_int_eq(count_files(scratch_dir), 0);
    ck_assert_ptr_null(bodies_close(NULL, name_buf, &truncated));
    ck_assert(!truncated);
    bodies_free(none);
    bodies_free(b);
    scratch_remove();
}
END_TEST

START_TEST(bodies_names_unique)
{
    scratch_make("test_flowjson");
    bodies *b = bodies_new(scratch_dir, 100);
    char *names[4];
    names[0] = store_body(b, 42, "request", "a");
    names[1] = store_body(b, 42, "response", "b");
    names[2] = store_body(b, 43, "request", "c");
    names[3] = store_body(b, 1234567, "response", "d");
    ck_assert_str_eq(names[0], "000042-request.bin");
    ck_assert_str_eq(names[1], "000042-response.bin");
    ck_assert_str_eq(names[2], "000043-request.bin");
    ck_assert_str_eq(names[3], "1234567-response.bin");
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            ck_assert_str_ne(names[i], names[j]);
    ck_assert_int_eq(count_files(scratch_dir), 4);
    ck_assert_ptr_null(bodies_open(b, 1, "other"));
    for (int i = 0; i < 4; i++)
        free(names[i]);
    bodies_free(b);
    scratch_remove();
}
END_TEST

START_TEST(bodies_directory)
{
    scratch_make("test_flowjson");
    char *sub = strdup(scratch_path("bodies"));
    bodies *b = bodies_new(sub, 10); /* created */
    ck_assert_ptr_nonnull(b);
    struct stat st;
    ck_assert_int_eq(stat(sub, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_str_eq(bodies_dir(b), sub);
    bodies *again = bodies_new(sub, 10); /* exists: fine */
    ck_assert_ptr_nonnull(again);
    bodies_free(again);

    ck_assert_ptr_null(bodies_new(scratch_path("missing/parent"), 10));
    FILE *f = fopen(scratch_path("plain"), "w");
    fclose(f);
    ck_assert_ptr_null(bodies_new(scratch_path("plain"), 10));

    /* The directory vanishes: writes fail, are counted, never fatal. */
    ck_assert_int_eq(rmdir(sub), 0);
    bodies_sink *s = bodies_open(b, 5, "response");
    ck_assert_int_eq(bodies_write(s, "data", 4), -1);
    ck_assert_int_eq(bodies_write(s, "more", 4), -1);
    ck_assert_uint_eq(bodies_sink_total(s), 8);
    bool truncated = false;
    ck_assert_ptr_null(bodies_close(s, name_buf, &truncated));
    ck_assert(truncated);
    s = bodies_open(b, 6, "response");
    ck_assert_int_eq(bodies_write(s, "x", 1), -1);
    bodies_close(s, name_buf, NULL);
    ck_assert_uint_eq(bodies_errors(b), 2);
    bodies_free(b);
    free(sub);
    scratch_remove();
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("flowjson");

    check_case(s, "record", 0, CHECK_TESTS(
        record_plain, record_tls_latin1_websocket, record_ids_protocols_trailers, record_nulls,
        text_rules, query_parsing, write_line_failure, allocation_failures));

    check_case(s, "har", 0, CHECK_TESTS(
        har_three_entries, har_h2_and_custom_fields, har_unwritable, har_bounded,
        har_inline_text));

    check_case(s, "bodies", 0, CHECK_TESTS(
        bodies_truncates_at_limit, bodies_empty_makes_no_file, bodies_fifo_does_not_hang,
        bodies_names_unique, bodies_directory));
    return s;
}
