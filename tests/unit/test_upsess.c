/* Unit tests for upsess: the upstream session table. */
#include "check_main.h"

#include <stdlib.h>

#include <openssl/ssl.h>

#include "upsess.h"

static SSL_SESSION *session(int version)
{
    SSL_SESSION *s = SSL_SESSION_new();
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(SSL_SESSION_set_protocol_version(s, version), 1);
    return s;
}

START_TEST(tls12_session_stays_for_later_connections)
{
    upsess *u = upsess_new(8);
    SSL_SESSION *s = session(TLS1_2_VERSION);
    ck_assert_int_eq(upsess_put(u, "127.0.0.1:443 a.test a.test", s), 0);
    for (int i = 0; i < 3; i++) {
        SSL_SESSION *got = upsess_get1(u, "127.0.0.1:443 a.test a.test");
        ck_assert_ptr_eq(got, s);
        SSL_SESSION_free(got);
    }
    upsess_free(u);
}
END_TEST

START_TEST(tls13_session_is_handed_out_once)
{
    upsess *u = upsess_new(8);
    SSL_SESSION *s = session(TLS1_3_VERSION);
    ck_assert_int_eq(upsess_put(u, "k", s), 0);
    SSL_SESSION *got = upsess_get1(u, "k");
    ck_assert_ptr_eq(got, s);
    ck_assert_ptr_null(upsess_get1(u, "k"));
    SSL_SESSION_free(got);
    upsess_free(u);
}
END_TEST

/* Forgetting drops the key's session and nothing else, even in a table
 * of one slot where every key shares it. */
START_TEST(forget_drops_only_that_key)
{
    upsess *u = upsess_new(1);
    ck_assert_int_eq(upsess_put(u, "a", session(TLS1_2_VERSION)), 0);
    upsess_forget(u, "b");
    SSL_SESSION *got = upsess_get1(u, "a");
    ck_assert_ptr_nonnull(got);
    SSL_SESSION_free(got);
    upsess_forget(u, "a");
    ck_assert_ptr_null(upsess_get1(u, "a"));
    upsess_forget(u, "a"); /* nothing there: no harm */
    upsess_free(u);
}
END_TEST

START_TEST(other_keys_get_nothing)
{
    upsess *u = upsess_new(8);
    ck_assert_int_eq(upsess_put(u, "127.0.0.1:443 a.test a.test",
                                session(TLS1_2_VERSION)), 0);
    ck_assert_ptr_null(upsess_get1(u, "127.0.0.1:443 b.test b.test"));
    ck_assert_ptr_null(upsess_get1(u, "127.0.0.1:8443 a.test a.test"));
    ck_assert_ptr_null(upsess_get1(u, ""));
    upsess_free(u);
}
END_TEST

START_TEST(newer_session_replaces_older_in_its_slot)
{
    upsess *u = upsess_new(1); /* every key shares the one slot */
    SSL_SESSION *a = session(TLS1_2_VERSION), *b = session(TLS1_2_VERSION);
    ck_assert_int_eq(upsess_put(u, "a", a), 0);
    ck_assert_int_eq(upsess_put(u, "b", b), 0); /* releases a */
    ck_assert_ptr_null(upsess_get1(u, "a"));
    SSL_SESSION *got = upsess_get1(u, "b");
    ck_assert_ptr_eq(got, b);
    SSL_SESSION_free(got);
    SSL_SESSION *c = session(TLS1_2_VERSION);
    ck_assert_int_eq(upsess_put(u, "b", c), 0); /* same key: replaced too */
    got = upsess_get1(u, "b");
    ck_assert_ptr_eq(got, c);
    SSL_SESSION_free(got);
    upsess_free(u); /* ASan's leak check: every reference was released */
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("upsess");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, tls12_session_stays_for_later_connections);
    tcase_add_test(tc, tls13_session_is_handed_out_once);
    tcase_add_test(tc, other_keys_get_nothing);
    tcase_add_test(tc, forget_drops_only_that_key);
    tcase_add_test(tc, newer_session_replaces_older_in_its_slot);
    suite_add_tcase(s, tc);
    return s;
}
