/* Unit tests for proxyurl: parent proxy URLs, credentials, refusals. */
#include "proxyurl.h"

#include <stdlib.h>
#include <string.h>

#include "check_main.h"

static proxyurl parse_ok(const char *text)
{
    proxyurl u;
    const char *why = NULL;
    ck_assert_msg(proxyurl_parse(text, &u, &why) == 0, "%s: %s", text, why ? why : "?");
    return u;
}

static void expect_bad(const char *text, const char *reason_part)
{
    proxyurl u;
    const char *why = NULL;
    ck_assert_int_eq(proxyurl_parse(text, &u, &why), -1);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, reason_part), "%s: %s", text, why);
    /* A reason never quotes the URL: it may hold a password. */
    ck_assert_ptr_null(strstr(why, "secret"));
}

START_TEST(http_without_credentials)
{
    proxyurl u = parse_ok("http://proxy.corp.example:3128");
    ck_assert_int_eq(u.kind, PROXYURL_HTTP);
    ck_assert_str_eq(u.addr.host, "proxy.corp.example");
    ck_assert_uint_eq(u.addr.port, 3128);
    ck_assert(!u.has_credentials);
    ck_assert_str_eq(proxyurl_scheme(u.kind), "http");
}
END_TEST

START_TEST(schemes_and_defaults)
{
    ck_assert_int_eq(parse_ok("socks5://127.0.0.1:1080").kind, PROXYURL_SOCKS5);
    ck_assert_int_eq(parse_ok("SOCKS5H://127.0.0.1:1080/").kind, PROXYURL_SOCKS5);
    /* No scheme: http, as curl reads HTTPS_PROXY. */
    proxyurl u = parse_ok("10.0.0.1:8080");
    ck_assert_int_eq(u.kind, PROXYURL_HTTP);
    ck_assert_str_eq(u.addr.host, "10.0.0.1");
    u = parse_ok("http://[::1]:3128/");
    ck_assert_str_eq(u.addr.host, "::1");
    ck_assert_int_eq(u.addr.kind, AUTHORITY_IPV6);
}
END_TEST

START_TEST(credentials_are_decoded)
{
    proxyurl u = parse_ok("http://al%69ce:p%40ss:w@rd@host:1");
    ck_assert(u.has_credentials);
    ck_assert_str_eq(u.user, "alice");
    /* The last '@' ends the credentials; the first ':' splits them. */
    ck_assert_str_eq(u.pass, "p@ss:w@rd");
    ck_assert_str_eq(u.addr.host, "host");
    u = parse_ok("socks5://bob@host:1");
    ck_assert(u.has_credentials);
    ck_assert_str_eq(u.user, "bob");
    ck_assert_str_eq(u.pass, "");
}
END_TEST

START_TEST(refusals)
{
    expect_bad("ftp://u:secret@h:1", "http:// or socks5://");
    expect_bad("https://h:1", "http:// or socks5://");
    expect_bad("http://u:secret@h", "host:port");
    expect_bad("http://u:secret@h:1/x", "no path");
    expect_bad("http://u:secret@h:1?x", "no path");
    expect_bad("http://:secret@h:1", "user name and password");
    expect_bad("http://u:secret%0@h:1", "user name and password");
    expect_bad("http://u:secret%00x@h:1", "user name and password");
    expect_bad("http://u:secret@h:99999", "host:port");
    expect_bad("http://u:secret@:1", "not valid");
    char long_user[300 + 20];
    memset(long_user, 'a', 300);
    strcpy(long_user + 300, ":secret@h:1");
    expect_bad(long_user, "user name and password");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("proxyurl");
    check_case(s, "parse", 0, CHECK_TESTS(
        http_without_credentials, schemes_and_defaults, credentials_are_decoded, refusals));
    return s;
}
