/* Unit tests for config: the command-line contract. */
#include "check_main.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* Parse a NULL-terminated argument list; usage and help go to /dev/null. */
static config_result parse(config *cfg, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"tlspeek";
    for (; *args && argc < 31; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    FILE *null = fopen("/dev/null", "w");
    config_result r = config_parse(argc, argv, cfg, null, null);
    fclose(null);
    return r;
}

START_TEST(defaults)
{
    setenv("HOME", "/home/someone", 1);
    unsetenv("XDG_CONFIG_HOME");
    config cfg;
    const char *args[] = {NULL};
    ck_assert_int_eq(parse(&cfg, args), CONFIG_RUN);
    ck_assert_str_eq(cfg.listen.host, "127.0.0.1");
    ck_assert_uint_eq(cfg.listen.port, 8080);
    ck_assert_str_eq(cfg.ca_dir, "/home/someone/.config/tlspeek");
    ck_assert(!cfg.insecure);
    ck_assert(!cfg.quiet);
    ck_assert(!cfg.no_http2);
    ck_assert_int_eq(cfg.n_dns, 0);
    config_free(&cfg);
}
END_TEST

START_TEST(xdg_config_home)
{
    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    config cfg;
    const char *args[] = {NULL};
    ck_assert_int_eq(parse(&cfg, args), CONFIG_RUN);
    ck_assert_str_eq(cfg.ca_dir, "/xdg/tlspeek");
    config_free(&cfg);
}
END_TEST

START_TEST(all_options)
{
    config cfg;
    const char *args[] = {"-l", "[::1]:9000", "--ca-dir", "/tmp/ca", "--dns",
                          "127.0.0.1:5353", "--dns", "[::1]:53", "--upstream-ca",
                          "extra.pem", "-k", "-q", "--no-http2", NULL};
    ck_assert_int_eq(parse(&cfg, args), CONFIG_RUN);
    ck_assert_str_eq(cfg.listen.host, "::1");
    ck_assert_int_eq(cfg.listen.kind, AUTHORITY_IPV6);
    ck_assert_uint_eq(cfg.listen.port, 9000);
    ck_assert_str_eq(cfg.ca_dir, "/tmp/ca");
    ck_assert_int_eq(cfg.n_dns, 2);
    ck_assert_str_eq(cfg.dns[1], "[::1]:53");
    ck_assert_str_eq(cfg.upstream_ca, "extra.pem");
    ck_assert(cfg.insecure);
    ck_assert(cfg.quiet);
    ck_assert(cfg.no_http2);
    config_free(&cfg);
}
END_TEST

START_TEST(port_zero_picks_a_free_port)
{
    config cfg;
    const char *args[] = {"--listen", "127.0.0.1:0", NULL};
    ck_assert_int_eq(parse(&cfg, args), CONFIG_RUN);
    ck_assert_str_eq(cfg.listen.host, "127.0.0.1");
    ck_assert_uint_eq(cfg.listen.port, 0);
    config_free(&cfg);
}
END_TEST

START_TEST(bad_options_are_usage_errors)
{
    static const char *const bad[][4] = {
        {"--bogus", NULL},
        {"-l", NULL},
        {"-l", "127.0.0.1:99999", NULL},
        {"-l", "not a host:80", NULL},
        {"stray", NULL},
        {"--insecure=yes", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config cfg;
        ck_assert_msg(parse(&cfg, bad[i]) == CONFIG_EXIT_USAGE, "case %zu", i);
    }
}
END_TEST

START_TEST(too_many_dns_servers)
{
    const char *args[2 * CONFIG_MAX_DNS + 3];
    int n = 0;
    for (int i = 0; i <= CONFIG_MAX_DNS; i++) {
        args[n++] = "--dns";
        args[n++] = "127.0.0.1";
    }
    args[n] = NULL;
    config cfg;
    ck_assert_int_eq(parse(&cfg, args), CONFIG_EXIT_USAGE);
}
END_TEST

START_TEST(help_and_version_exit_zero)
{
    config cfg;
    const char *help[] = {"--help", NULL};
    const char *version[] = {"--version", NULL};
    ck_assert_int_eq(parse(&cfg, help), CONFIG_EXIT_OK);
    ck_assert_int_eq(parse(&cfg, version), CONFIG_EXIT_OK);
}
END_TEST

START_TEST(connect_to_rules)
{
    config cfg;
    const char *args[] = {"--connect-to", "app.test:443:127.0.0.1:8443",
                          "--connect-to", "::[::1]:", "--connect-to",
                          ":8080:backend.test:", NULL};
    ck_assert_int_eq(parse(&cfg, args), CONFIG_RUN);
    ck_assert_int_eq(cfg.n_connect_to, 3);
    authority app = {.host = "app.test", .port = 443, .kind = AUTHORITY_NAME};
    authority other = {.host = "other.test", .port = 8080, .kind = AUTHORITY_NAME};
    authority r = connect_to_apply(cfg.connect_to, 3, &app);
    ck_assert_str_eq(r.host, "127.0.0.1");
    ck_assert_uint_eq(r.port, 8443);
    ck_assert_int_eq(r.kind, AUTHORITY_IPV4);
    /* The first matching rule wins: "::[::1]:" matches any host and port. */
    r = connect_to_apply(cfg.connect_to, 3, &other);
    ck_assert_str_eq(r.host, "::1");
    ck_assert_uint_eq(r.port, 8080);
    r = connect_to_apply(cfg.connect_to + 2, 1, &other);
    ck_assert_str_eq(r.host, "backend.test");
    ck_assert_uint_eq(r.port, 8080);
    r = connect_to_apply(cfg.connect_to + 2, 1, &app); /* port differs */
    ck_assert_str_eq(r.host, "app.test");
    config_free(&cfg);

    static const char *const bad[] = {"a:1:b", "a:1:b:2:3", "a:x:b:2",
                                      "a:1:b:70000", "a b:1:c:2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *one[] = {"--connect-to", bad[i], NULL};
        ck_assert_msg(parse(&cfg, one) == CONFIG_EXIT_USAGE, "%s", bad[i]);
    }
}
END_TEST

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in4->sin_addr) == 1)
        in4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    else
        ck_abort_msg("bad test address %s", text);
    return ss;
}

START_TEST(allow_remote_ranges)
{
    config cfg;
    const char *args[] = {"-l", "0.0.0.0:8080", "--allow-remote",
                          "10.0.0.0/8,192.168.1.7,fd00::/8", NULL};
    ck_assert_int_eq(parse(&cfg, args), CONFIG_RUN);
    ck_assert_int_eq(cfg.n_allow, 3);
    static const struct { const char *ip; bool in; bool loopback; } cases[] = {
        {"10.1.2.3", true, false},     {"11.0.0.1", false, false},
        {"192.168.1.7", true, false},  {"192.168.1.8", false, false},
        {"fd12::1", true, false},      {"fe80::1", false, false},
        {"::ffff:10.9.9.9", true, false}, {"127.0.0.5", false, true},
        {"::1", false, true},          {"::ffff:127.0.0.1", false, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sockaddr_storage ss = addr(cases[i].ip);
        ck_assert_msg(access_cidr_match(cfg.allow, 3, (struct sockaddr *)&ss) ==
                      cases[i].in, "%s", cases[i].ip);
        ck_assert_msg(access_is_loopback((struct sockaddr *)&ss) ==
                      cases[i].loopback, "%s", cases[i].ip);
    }
    config_free(&cfg);

    const char *open_args[] = {"-l", "0.0.0.0:8080", NULL};
    ck_assert_int_eq(parse(&cfg, open_args), CONFIG_EXIT_USAGE);
    const char *bad[] = {"--allow-remote", "10.0.0.0/33", NULL};
    ck_assert_int_eq(parse(&cfg, bad), CONFIG_EXIT_USAGE);
}
END_TEST

/* Issue 12, defect 13: the documented maximum (1 TiB) must be accepted,
 * whatever the number of digits, and one more byte refused. */
START_TEST(body_limit_accepts_its_documented_maximum)
{
    config cfg;
    const char *max[] = {"--body-limit", CONFIG_MAX_BODY_LIMIT_TEXT, NULL};
    ck_assert_int_eq(parse(&cfg, max), CONFIG_RUN);
    ck_assert_uint_eq(cfg.body_limit, 1ULL << 40);
    config_free(&cfg);
    const char *padded[] = {"--body-limit", "000000000000000042", NULL};
    ck_assert_int_eq(parse(&cfg, padded), CONFIG_RUN);
    ck_assert_uint_eq(cfg.body_limit, 42);
    config_free(&cfg);
    const char *zero[] = {"--body-limit", "0", NULL};
    ck_assert_int_eq(parse(&cfg, zero), CONFIG_RUN);
    ck_assert_uint_eq(cfg.body_limit, 0);
    config_free(&cfg);
    const char *bad[][3] = {
        {"--body-limit", "1099511627777", NULL},        /* max + 1 */
        {"--body-limit", "99999999999999999999999", NULL}, /* past any long */
        {"--body-limit", "-1", NULL},
        {"--body-limit", "", NULL},
        {"--body-limit", "1k", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(parse(&cfg, bad[i]) == CONFIG_EXIT_USAGE, "accepted %s", bad[i][1]);
        config_free(&cfg);
    }
}
END_TEST

/* Issue 15: the session intermediate is on unless --no-intermediate. */
START_TEST(no_intermediate)
{
    config cfg;
    const char *none[] = {NULL};
    ck_assert_int_eq(parse(&cfg, none), CONFIG_RUN);
    ck_assert(!cfg.no_intermediate);
    config_free(&cfg);
    const char *off[] = {"--no-intermediate", NULL};
    ck_assert_int_eq(parse(&cfg, off), CONFIG_RUN);
    ck_assert(cfg.no_intermediate);
    config_free(&cfg);
    const char *with_value[] = {"--no-intermediate=yes", NULL};
    ck_assert_int_eq(parse(&cfg, with_value), CONFIG_EXIT_USAGE);
    config_free(&cfg);
}
END_TEST

START_TEST(leaf_key_type_and_debug)
{
    config cfg;
    unsetenv("TLSPEEK_DEBUG");
    const char *none[] = {NULL};
    ck_assert_int_eq(parse(&cfg, none), CONFIG_RUN);
    ck_assert(!cfg.has_leaf_key_type); /* auto: leaves follow the client */
    ck_assert(!cfg.debug);
    config_free(&cfg);
    setenv("TLSPEEK_DEBUG", "1", 1);
    const char *rsa[] = {"--leaf-key-type", "rsa2048", NULL};
    ck_assert_int_eq(parse(&cfg, rsa), CONFIG_RUN);
    ck_assert(cfg.has_leaf_key_type);
    ck_assert_int_eq(cfg.leaf_key_type, CA_KEY_RSA2048);
    ck_assert(cfg.debug);
    config_free(&cfg);
    const char *ec[] = {"--leaf-key-type", "ec", NULL};
    ck_assert_int_eq(parse(&cfg, ec), CONFIG_RUN);
    ck_assert_int_eq(cfg.leaf_key_type, CA_KEY_EC_P256);
    config_free(&cfg);
    const char *autokind[] = {"--leaf-key-type", "rsa2048", "--leaf-key-type", "auto", NULL};
    ck_assert_int_eq(parse(&cfg, autokind), CONFIG_RUN);
    ck_assert(!cfg.has_leaf_key_type);
    config_free(&cfg);
    const char *bad[] = {"--leaf-key-type", "dsa", NULL};
    ck_assert_int_eq(parse(&cfg, bad), CONFIG_EXIT_USAGE);
    config_free(&cfg);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("config");
    check_case(s, "command line", 0, CHECK_TESTS(
        defaults, xdg_config_home, all_options, port_zero_picks_a_free_port,
        bad_options_are_usage_errors, too_many_dns_servers, help_and_version_exit_zero,
        connect_to_rules, allow_remote_ranges, body_limit_accepts_its_documented_maximum,
        leaf_key_type_and_debug, no_intermediate));
    return s;
}
