/* Unit tests for ui_auth: the web UI's Host, cross-site and token rules,
 * and the cookie parsing behind them. */
#include "ui_auth.h"

#include <check.h>
#include <string.h>

#include "check_main.h"

static const ui_auth_config cfg = {"127.0.0.1", 8081, "sekret-token-1"};

static ui_auth_result check(const ui_auth_request *r)
{
    const char *why = "sentinel";
    ui_auth_result res = ui_auth_check(&cfg, r, &why);
    ck_assert_ptr_nonnull(why);
    return res;
}

START_TEST(token_sources)
{
    ui_auth_request r = {.host = "127.0.0.1:8081"};
    ck_assert_int_eq(check(&r), UI_AUTH_NO_TOKEN);
    r.query_token = "sekret-token-1";
    ck_assert_int_eq(check(&r), UI_AUTH_OK);
    r.query_token = "sekret-token-";
    ck_assert_int_eq(check(&r), UI_AUTH_NO_TOKEN);
    r.query_token = "sekret-token-12";
    ck_assert_int_eq(check(&r), UI_AUTH_NO_TOKEN);
    r.query_token = NULL;
    r.authorization = "Bearer sekret-token-1";
    ck_assert_int_eq(check(&r), UI_AUTH_OK);
    r.authorization = "Basic sekret-token-1";
    ck_assert_int_eq(check(&r), UI_AUTH_NO_TOKEN);
    r.authorization = NULL;
    r.cookie = "a=1; tlspeek_ui_8081=sekret-token-1; b=2";
    ck_assert_int_eq(check(&r), UI_AUTH_OK);
    r.cookie = "tlspeek_ui_8081=sekret-token-1";
    ck_assert_int_eq(check(&r), UI_AUTH_OK);
    r.cookie = "tlspeek_ui_8082=sekret-token-1"; /* another UI's cookie */
    ck_assert_int_eq(check(&r), UI_AUTH_NO_TOKEN);
    r.cookie = "xtlspeek_ui_8081=sekret-token-1";
    ck_assert_int_eq(check(&r), UI_AUTH_NO_TOKEN);
    r.cookie = "tlspeek_ui_8081=sekret-token-1x";
    ck_assert_int_eq(check(&r), UI_AUTH_NO_TOKEN);
}
END_TEST

START_TEST(host_rule)
{
    const char *good[] = {"127.0.0.1", "127.0.0.1:8081", "localhost", "LOCALHOST:8081"};
    const char *bad[] = {"evil.test", "evil.test:8081", "127.0.0.1:8082", "127.0.0.2",
                         "localhost.evil.test", "127.0.0.1:", "127.0.0.1:x", "[::1]:8081",
                         ""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ui_auth_request r = {.host = good[i], .query_token = "sekret-token-1"};
        ck_assert_msg(check(&r) == UI_AUTH_OK, "%s refused", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ui_auth_request r = {.host = bad[i], .query_token = "sekret-token-1"};
        ck_assert_msg(check(&r) == UI_AUTH_BAD_HOST, "%s allowed", bad[i]);
    }
    ui_auth_request none = {.query_token = "sekret-token-1"};
    ck_assert_int_eq(check(&none), UI_AUTH_BAD_HOST);
    /* An IPv6 listener answers to its own bracketed address. */
    ui_auth_config v6 = {"::1", 8081, "sekret-token-1"};
    ui_auth_request r6 = {.host = "[::1]:8081", .query_token = "sekret-token-1"};
    const char *why;
    ck_assert_int_eq(ui_auth_check(&v6, &r6, &why), UI_AUTH_OK);
}
END_TEST

START_TEST(cross_site_rule)
{
    ui_auth_request r = {.host = "127.0.0.1:8081", .query_token = "sekret-token-1"};
    const char *sites[] = {"cross-site", "same-site"};
    for (size_t i = 0; i < 2; i++) {
        r.fetch_site = sites[i];
        ck_assert_int_eq(check(&r), UI_AUTH_CROSS_SITE);
    }
    r.fetch_site = "same-origin";
    ck_assert_int_eq(check(&r), UI_AUTH_OK);
    r.fetch_site = "none";
    ck_assert_int_eq(check(&r), UI_AUTH_OK);
    r.fetch_site = NULL;
    const char *bad_origins[] = {"http://evil.test", "null", "http://127.0.0.1",
                                 "http://127.0.0.1:8082", "https://127.0.0.1:8081",
                                 "http://127.0.0.1:8081.evil.test"};
    for (size_t i = 0; i < sizeof bad_origins / sizeof bad_origins[0]; i++) {
        r.origin = bad_origins[i];
        ck_assert_msg(check(&r) == UI_AUTH_CROSS_SITE, "%s allowed", bad_origins[i]);
    }
    r.origin = "http://localhost:8081";
    ck_assert_int_eq(check(&r), UI_AUTH_OK);
    /* The Host check comes first: a rebinding page gets 403 either way. */
    r.host = "evil.test";
    ck_assert_int_eq(check(&r), UI_AUTH_BAD_HOST);
}
END_TEST

START_TEST(cookie_name)
{
    char name[32];
    ui_auth_cookie_name(65535, name, sizeof name);
    ck_assert_str_eq(name, "tlspeek_ui_65535");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("ui_auth");
    check_case(s, "core", 0, CHECK_TESTS(
        token_sources, host_rule, cross_site_rule, cookie_name));
    return s;
}
