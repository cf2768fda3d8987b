/* Unit tests for authority: parsing, canonical forms, formatting and the
 * certificate-name check. */
#include "check_main.h"
#include "authority.h"

#include <stdlib.h>
#include <string.h>

/* Parse a NUL-terminated string; the length is strlen unless given. */
static int parse_str(const char *s, uint16_t def, authority *a, const char **why)
{
    return authority_parse(s, strlen(s), def, a, why);
}

static void expect_ok(const char *in, uint16_t def, const char *host,
                      uint16_t port, authority_kind kind)
{
    authority a;
    const char *why = NULL;
    ck_assert_msg(parse_str(in, def, &a, &why) == 0, "%s: %s", in,
                  why ? why : "?");
    ck_assert_str_eq(a.host, host);
    ck_assert_uint_eq(a.port, port);
    ck_assert_int_eq(a.kind, kind);
}

static void expect_bad(const char *in, size_t len, uint16_t def,
                       const char *reason)
{
    authority a;
    const char *why = NULL;
    memset(&a, 0x5a, sizeof a);
    ck_assert_int_eq(authority_parse(in, len, def, &a, &why), -1);
    ck_assert_ptr_nonnull(why);
    ck_assert_str_eq(why, reason);
    /* out is left alone on failure */
    ck_assert_int_eq((unsigned char)a.host[0], 0x5a);
}

/* Literal inputs carry their own length, embedded NULs included. */
#define BAD(lit, def, reason) expect_bad(lit, sizeof(lit) - 1, def, reason)

/* A host of n bytes made of labels of at most label bytes. */
static char *make_name(size_t n, size_t label)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        s[i] = ((i + 1) % (label + 1) == 0) ? '.' : 'a';
    if (n > 0 && s[n - 1] == '.')
        s[n - 1] = 'b';
    s[n] = '\0';
    return s;
}

START_TEST(names)
{
    expect_ok("example.com:443", 0, "example.com", 443, AUTHORITY_NAME);
    expect_ok("Example.COM:8443", 0, "example.com", 8443, AUTHORITY_NAME);
    expect_ok("example.com.:443", 0, "example.com", 443, AUTHORITY_NAME);
    expect_ok("localhost:1", 0, "localhost", 1, AUTHORITY_NAME);
    expect_ok("my_host-1.x:65535", 0, "my_host-1.x", 65535, AUTHORITY_NAME);
    expect_ok("a.b.c", 80, "a.b.c", 80, AUTHORITY_NAME);
    expect_ok("host:080", 0, "host", 80, AUTHORITY_NAME);
}
END_TEST

START_TEST(ipv4)
{
    expect_ok("127.0.0.1:8080", 0, "127.0.0.1", 8080, AUTHORITY_IPV4);
    expect_ok("10.1.2.3", 443, "10.1.2.3", 443, AUTHORITY_IPV4);
    BAD("1.2.3:80", 0, "invalid IPv4 address");
    BAD("256.1.1.1:80", 0, "invalid IPv4 address");
    BAD("01.2.3.4:80", 0, "invalid IPv4 address");
    BAD("1.2.3.4.:80", 0, "invalid IPv4 address");
}
END_TEST

START_TEST(ipv6)
{
    expect_ok("[::1]:443", 0, "::1", 443, AUTHORITY_IPV6);
    expect_ok("[::1]", 8443, "::1", 8443, AUTHORITY_IPV6);
    expect_ok("[2001:DB8:0:0:0:0:0:1]:80", 0, "2001:db8::1", 80,
              AUTHORITY_IPV6);
    expect_ok("[::ffff:1.2.3.4]:1", 0, "::ffff:1.2.3.4", 1, AUTHORITY_IPV6);
    BAD("[::1]", 0, "missing port");
    BAD("[::1:443", 0, "unterminated IPv6 address");
    BAD("[::1]443", 0, "unexpected bytes after IPv6 address");
    BAD("[]:443", 0, "empty host");
    BAD("[1.2.3.4]:443", 0, "invalid IPv6 address");
    BAD("[fe80::1%25eth0]:443", 0, "invalid IPv6 address");
    BAD("[::1]:0", 0, "invalid port");
    BAD("::1:443", 0, "IPv6 address without brackets");
    BAD("[::1\0]:443", 0, "invalid IPv6 address");
}
END_TEST

START_TEST(ports)
{
    BAD("example.com", 0, "missing port");
    BAD("example.com:0", 0, "invalid port");
    BAD("example.com:65536", 0, "invalid port");
    BAD("example.com:99999999999999999999", 0, "invalid port");
    BAD("example.com:80a", 0, "invalid port");
    BAD("example.com:", 0, "invalid port");
    BAD("example.com:", 443, "invalid port");
    BAD("example.com:-1", 0, "invalid port");
    BAD("example.com:+80", 0, "invalid port");
    BAD("example.com: 80", 0, "invalid port");
    BAD(":443", 0, "empty host");
}
END_TEST

START_TEST(garbage)
{
    BAD("", 443, "empty host");
    expect_bad(NULL, 0, 443, "empty host");
    BAD("exa mple.com:443", 0, "invalid host name");
    BAD(" example.com:443", 0, "invalid host name");
    BAD("user@example.com:443", 0, "invalid host name");
    BAD("example.com/x:443", 0, "invalid host name");
    BAD("example.com\0evil.com:443", 0, "invalid host name");
    BAD("exa\rmple.com:443", 0, "invalid host name");
    BAD("*.example.com:443", 0, "invalid host name");
    BAD("ex%41mple.com:443", 0, "invalid host name");
    BAD("\xc3\xa9t\xc3\xa9.fr:443", 0, "invalid host name");
    BAD("a..b:443", 0, "empty label in host name");
    BAD(".a:443", 0, "empty label in host name");
    BAD(".:443", 0, "empty label in host name");
    BAD("a..:443", 0, "empty label in host name");
    /* The length is honoured: bytes past len are not looked at. */
    authority a;
    ck_assert_int_eq(authority_parse("example.com:443 junk", 15, 0, &a, NULL), 0);
    ck_assert_str_eq(a.host, "example.com");
    /* A NULL reason or out is allowed. */
    ck_assert_int_eq(authority_parse("bad host", 8, 80, NULL, NULL), -1);
    ck_assert_int_eq(authority_parse("ok", 2, 80, NULL, NULL), 0);
}
END_TEST

START_TEST(lengths)
{
    authority a;
    const char *why = NULL;
    char *n253 = make_name(253, 63);
    ck_assert_int_eq(authority_parse(n253, 253, 443, &a, &why), 0);
    ck_assert_uint_eq(strlen(a.host), 253);

    char *n254 = make_name(254, 63);
    ck_assert_int_eq(authority_parse(n254, 254, 443, &a, &why), -1);
    ck_assert_str_eq(why, "host name too long");

    /* 253 plus the trailing dot is still 253. */
    char *dotted = malloc(255);
    ck_assert_ptr_nonnull(dotted);
    memcpy(dotted, n253, 253);
    dotted[253] = '.';
    dotted[254] = '\0';
    ck_assert_int_eq(authority_parse(dotted, 254, 443, &a, &why), 0);
    ck_assert_str_eq(a.host, n253);

    char *l63 = make_name(63, 63);
    ck_assert_int_eq(authority_parse(l63, 63, 443, &a, &why), 0);
    char *l64 = make_name(64, 64);
    ck_assert_int_eq(authority_parse(l64, 64, 443, &a, &why), -1);
    ck_assert_str_eq(why, "host name label too long");

    char *huge = make_name(5000, 10);
    ck_assert_int_eq(authority_parse(huge, 5000, 443, &a, &why), -1);
    ck_assert_str_eq(why, "host name too long");
    free(n253);
    free(n254);
    free(dotted);
    free(l63);
    free(l64);
    free(huge);
}
END_TEST

START_TEST(format)
{
    authority a;
    char buf[64];
    ck_assert_int_eq(parse_str("[2001:db8::1]:8443", 0, &a, NULL), 0);
    ck_assert_int_eq(authority_format(&a, buf, sizeof buf), 18);
    ck_assert_str_eq(buf, "[2001:db8::1]:8443");
    ck_assert_int_eq(parse_str("Example.com.", 443, &a, NULL), 0);
    ck_assert_int_eq(authority_format(&a, buf, sizeof buf), 15);
    ck_assert_str_eq(buf, "example.com:443");
    ck_assert_int_eq(parse_str("1.2.3.4:1", 0, &a, NULL), 0);
    ck_assert_int_eq(authority_format(&a, buf, sizeof buf), 9);
    ck_assert_str_eq(buf, "1.2.3.4:1");
    /* Truncation: snprintf-style length, always terminated. */
    ck_assert_int_eq(authority_format(&a, buf, 4), 9);
    ck_assert_str_eq(buf, "1.2");
    ck_assert_int_eq(authority_format(&a, NULL, 0), 9);

    /* Formatting then parsing is the identity on canonical values. */
    const char *inputs[] = {"[::FFFF:10.0.0.1]:1", "A.B:2", "8.8.8.8:53"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        authority b;
        ck_assert_int_eq(parse_str(inputs[i], 0, &a, NULL), 0);
        authority_format(&a, buf, sizeof buf);
        ck_assert_int_eq(parse_str(buf, 0, &b, NULL), 0);
        ck_assert_str_eq(a.host, b.host);
        ck_assert_uint_eq(a.port, b.port);
        ck_assert_int_eq(a.kind, b.kind);
    }
}
END_TEST

START_TEST(certifiable)
{
    ck_assert(authority_name_is_certifiable("example.com"));
    ck_assert(authority_name_is_certifiable("localhost"));
    ck_assert(authority_name_is_certifiable("Mixed.Case.Example"));
    ck_assert(authority_name_is_certifiable("_dmarc.example.com"));
    ck_assert(authority_name_is_certifiable("a_b.example"));
    ck_assert(authority_name_is_certifiable("xn--bcher-kva.example"));
    ck_assert(authority_name_is_certifiable("1a.example"));
    ck_assert(authority_name_is_certifiable("a-b.c"));

    ck_assert(!authority_name_is_certifiable(NULL));
    ck_assert(!authority_name_is_certifiable(""));
    ck_assert(!authority_name_is_certifiable("*.example.com"));
    ck_assert(!authority_name_is_certifiable("a*.example.com"));
    ck_assert(!authority_name_is_certifiable("a.example.com,b.com"));
    ck_assert(!authority_name_is_certifiable("a.example.com, DNS:b.com"));
    ck_assert(!authority_name_is_certifiable("example.com."));
    ck_assert(!authority_name_is_certifiable(".example.com"));
    ck_assert(!authority_name_is_certifiable("a..example.com"));
    ck_assert(!authority_name_is_certifiable("."));
    ck_assert(!authority_name_is_certifiable("-a.example"));
    ck_assert(!authority_name_is_certifiable("a-.example"));
    ck_assert(!authority_name_is_certifiable("a.example-"));
    ck_assert(!authority_name_is_certifiable("a b.example"));
    ck_assert(!authority_name_is_certifiable("a/b.example"));
    ck_assert(!authority_name_is_certifiable("a@b.example"));
    ck_assert(!authority_name_is_certifiable("a\nb.example"));
    ck_assert(!authority_name_is_certifiable("caf\xc3\xa9.example"));
    ck_assert(!authority_name_is_certifiable("127.0.0.1"));
    ck_assert(!authority_name_is_certifiable("10.1.2"));
    ck_assert(!authority_name_is_certifiable("::1"));
    ck_assert(!authority_name_is_certifiable("[::1]"));
    ck_assert(!authority_name_is_certifiable("2001:db8::1"));

    /* Bytes after an embedded NUL are invisible: the name is just "a". */
    const char with_nul[] = "a\0.evil.com";
    ck_assert(authority_name_is_certifiable(with_nul));

    char *n253 = make_name(253, 63);
    ck_assert(authority_name_is_certifiable(n253));
    char *n254 = make_name(254, 63);
    ck_assert(!authority_name_is_certifiable(n254));
    char *l63 = make_name(63, 63);
    ck_assert(authority_name_is_certifiable(l63));
    char *l64 = make_name(64, 64);
    ck_assert(!authority_name_is_certifiable(l64));
    free(n253);
    free(n254);
    free(l63);
    free(l64);
}
END_TEST

/* Every name that parses as AUTHORITY_NAME with no odd hyphens is also
 * certifiable: the two checks agree on what a plain host name is. */
START_TEST(parse_then_certify)
{
    const char *ok[] = {"WWW.Example.COM.:443", "a_b.c:1", "x:2"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        authority a;
        ck_assert_int_eq(parse_str(ok[i], 0, &a, NULL), 0);
        ck_assert_int_eq(a.kind, AUTHORITY_NAME);
        ck_assert(authority_name_is_certifiable(a.host));
    }
    authority a;
    ck_assert_int_eq(parse_str("[::1]:443", 0, &a, NULL), 0);
    ck_assert(!authority_name_is_certifiable(a.host));
    ck_assert_int_eq(parse_str("1.2.3.4:443", 0, &a, NULL), 0);
    ck_assert(!authority_name_is_certifiable(a.host));
}
END_TEST

START_TEST(port_alone)
{
    uint16_t port = 7;
    ck_assert_int_eq(authority_parse_port("443", 3, &port), 0);
    ck_assert_uint_eq(port, 443);
    ck_assert_int_eq(authority_parse_port("65535", 5, &port), 0);
    ck_assert_uint_eq(port, 65535);
    ck_assert_int_eq(authority_parse_port("00080", 5, &port), 0);
    ck_assert_uint_eq(port, 80);
    const char *bad[] = {"", "0", "65536", "99999999999", "-1", "+1", " 1", "1a", "8O"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(authority_parse_port(bad[i], strlen(bad[i]), &port) == -1,
                      "accepted '%s'", bad[i]);
    /* Only len bytes are read. */
    ck_assert_int_eq(authority_parse_port("80x", 2, &port), 0);
    ck_assert_uint_eq(port, 80);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("authority");

    check_case(s, "parse", 0, CHECK_TESTS(
        port_alone, names, ipv4, ipv6, ports, garbage, lengths));

    check_case(s, "format", 0, CHECK_TESTS(format));

    check_case(s, "certifiable", 0, CHECK_TESTS(certifiable, parse_then_certify));
    return s;
}
