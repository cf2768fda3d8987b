/* Unit tests for flowfilter: every filter and operator against two
 * hand-made flows, precedence, quoting, and the messages bad expressions
 * get. */
#include "flowfilter.h"

#include <check.h>

#include "check_main.h"
#include <stdlib.h>
#include <string.h>

static http_header get_req[] = {{"Host", "api.example.com"}, {"Accept", "*/*"}};
static http_header get_resp[] = {{"Content-Type", "application/json; charset=utf-8"},
                                 {"X-Unique", "marker-42"}};
static http_header post_req[] = {{"Content-Type", "text/plain"}};

/* A finished JSON GET over HTTP/1.1, and a failed HTTP/2 POST. */
static const flowfilter_flow get_flow = {
    .method = "GET", .url = "https://api.example.com/v1/Users?q=1",
    .host = "api.example.com", .status = 200,
    .request_headers = get_req, .n_request_headers = 2,
    .response_headers = get_resp, .n_response_headers = 2,
    .response_body = "{\"name\":\"ada\"}", .response_body_len = 14,
};
static const char post_body[] = "secret\0after-nul";
static const flowfilter_flow post_flow = {
    .method = "POST", .url = "https://upload.test/form", .host = "upload.test",
    .status = 0, .request_headers = post_req, .n_request_headers = 1,
    .request_body = post_body, .request_body_len = sizeof post_body - 1,
    .error = "stream reset by the client: CANCEL", .http2 = true,
};
static const flowfilter_flow ws_flow = {
    .method = "GET", .url = "https://chat.test/ws", .host = "chat.test",
    .status = 101, .websocket = true,
};

/* Does text parse, and which of (get, post, ws) does it match, as "gpw"
 * letters ("-" for a miss)? */
static const char *which(const char *text)
{
    static char out[4];
    char err[FLOWFILTER_ERROR_MAX];
    flowfilter *f = flowfilter_parse(text, err, sizeof err);
    ck_assert_msg(f != NULL, "'%s' did not parse: %s", text, err);
    out[0] = flowfilter_match(f, &get_flow) ? 'g' : '-';
    out[1] = flowfilter_match(f, &post_flow) ? 'p' : '-';
    out[2] = flowfilter_match(f, &ws_flow) ? 'w' : '-';
    out[3] = '\0';
    flowfilter_free(f);
    return out;
}

static void expect(const char *text, const char *matches)
{
    const char *got = which(text);
    ck_assert_msg(strcmp(got, matches) == 0, "'%s' matched %s, expected %s", text, got,
                  matches);
}

static void expect_error(const char *text, const char *message)
{
    char err[FLOWFILTER_ERROR_MAX] = "sentinel";
    flowfilter *f = flowfilter_parse(text, err, sizeof err);
    ck_assert_msg(f == NULL, "'%s' parsed", text);
    ck_assert_msg(strstr(err, message) != NULL, "'%s': message '%s' lacks '%s'", text,
                  err, message);
}

START_TEST(bare_word_is_url_case_insensitive)
{
    expect("users", "g--");
    expect("USERS", "g--");
    expect("test", "-pw");
    expect("nothing-here", "---");
}
END_TEST

START_TEST(each_filter)
{
    expect("~m post", "-p-");
    expect("~m ^GET$", "g-w");
    expect("~u /v1/", "g--");
    expect("~d ^upload\\.", "-p-");
    expect("~d example", "g--");
    expect("~h 'x-unique: marker-42'", "g--");
    expect("~h ^host:", "g--");
    expect("~t json", "g--");
    expect("~t text/plain", "-p-");
    expect("~b ada", "g--");
    expect("~b after-nul", "-p-");   /* past a NUL byte */
    expect("~c 200", "g--");
    expect("~c 101", "--w");
    expect("~e", "-p-");
    expect("~http2", "-p-");
    expect("~websocket", "--w");
    expect("~q", "-p-");
    expect("~s", "g-w");
    expect("~all", "gpw");
    expect("", "gpw");
    expect("   ", "gpw");
}
END_TEST

START_TEST(operators_and_precedence)
{
    expect("!~e", "g-w");
    expect("! ~e", "g-w");
    expect("!!~e", "-p-");
    expect("~m GET & ~c 200", "g--");
    expect("~m GET ~c 200", "g--");       /* juxtaposition is & */
    expect("~m POST | ~websocket", "-pw");
    expect("~m POST | ~m GET ~c 200", "gp-"); /* & binds tighter than | */
    expect("(~m POST | ~m GET) & !~c 200", "-pw");
    expect("!(~e|~websocket)", "g--");
    expect("((~all))", "gpw");
    expect("~u (v1|form)", "gp-");         /* a group inside an argument */
    expect("(~u (v1|form))", "gp-");
    expect("~u \"v1|ws\"", "g-w");
    expect("~u 'chat'|~e", "-pw");
    expect("~m GET&~c 101", "--w");
}
END_TEST

START_TEST(bad_expressions)
{
    expect_error("~x", "unknown filter ~x at 1");
    expect_error("~", "unknown filter");
    expect_error("~m", "~m needs a regular expression at 1");
    expect_error("~c", "~c needs a status code");
    expect_error("~c abc", "~c needs a status code (100-999), not 'abc' at 4");
    expect_error("~c 42", "~c needs a status code");
    expect_error("(~e", "'(' is never closed at 1");
    expect_error("~e)", "unexpected ')' at 3");
    expect_error("~e |", "expression ends where a filter was expected");
    expect_error("& ~e", "unexpected '&' at 1");
    expect_error("!", "expression ends");
    expect_error("~u 'open", "unterminated quoted string at 4");
    expect_error("~u [a", "bad regular expression '[a'");
    expect_error("a(", "bad regular expression"); /* '(' never balanced: word runs on */
    char deep[400];
    memset(deep, '(', 200);
    strcpy(deep + 200, "~e");
    expect_error(deep, "nested too deeply");
}
END_TEST

START_TEST(error_message_fits_small_buffer)
{
    char err[8];
    ck_assert_ptr_null(flowfilter_parse("~nosuchfilter", err, sizeof err));
    ck_assert_uint_eq(strlen(err), sizeof err - 1);
    ck_assert_ptr_null(flowfilter_parse("~nosuchfilter", NULL, 0));
    flowfilter_free(NULL);
}
END_TEST

START_TEST(null_fields_never_match)
{
    flowfilter_flow empty = {0};
    expect("~all", "gpw");
    char err[FLOWFILTER_ERROR_MAX];
    const char *texts[] = {"x", "~m .", "~u .", "~d .", "~h .", "~t .", "~b .", "~e",
                           "~http2", "~websocket", "~s"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        flowfilter *f = flowfilter_parse(texts[i], err, sizeof err);
        ck_assert_ptr_nonnull(f);
        ck_assert_msg(!flowfilter_match(f, &empty), "'%s' matched an empty flow",
                      texts[i]);
        flowfilter_free(f);
    }
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("flowfilter");
    check_case(s, "core", 0, CHECK_TESTS(
        bare_word_is_url_case_insensitive, each_filter, operators_and_precedence,
        bad_expressions, error_message_fits_small_buffer, null_fields_never_match));
    return s;
}

