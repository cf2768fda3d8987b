/* Unit tests for config: the command-line contract. */
#include <check.h>
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
                          "extra.pem", "-k", "-q", NULL};
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

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("command line");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, xdg_config_home);
    tcase_add_test(tc, all_options);
    tcase_add_test(tc, port_zero_picks_a_free_port);
    tcase_add_test(tc, bad_options_are_usage_errors);
    tcase_add_test(tc, too_many_dns_servers);
    tcase_add_test(tc, help_and_version_exit_zero);
    tcase_add_test(tc, connect_to_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
