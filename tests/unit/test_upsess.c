/* Unit tests for upsess: the upstream session table. */
#include "check_main.h"

#include <stdlib.h>
#include <time.h>

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
    ck_assert_int_eq(upsess_put(u, "127.0.0.1:443 a.test a.test", NULL, s), 0);
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
    ck_assert_int_eq(upsess_put(u, "k", NULL, s), 0);
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
    ck_assert_int_eq(upsess_put(u, "a", NULL, session(TLS1_2_VERSION)), 0);
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
    ck_assert_int_eq(upsess_put(u, "127.0.0.1:443 a.test a.test", NULL,
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
    ck_assert_int_eq(upsess_put(u, "a", NULL, a), 0);
    ck_assert_int_eq(upsess_put(u, "b", NULL, b), 0); /* releases a */
    ck_assert_ptr_null(upsess_get1(u, "a"));
    SSL_SESSION *got = upsess_get1(u, "b");
    ck_assert_ptr_eq(got, b);
    SSL_SESSION_free(got);
    SSL_SESSION *c = session(TLS1_2_VERSION);
    ck_assert_int_eq(upsess_put(u, "b", NULL, c), 0); /* same key: replaced too */
    got = upsess_get1(u, "b");
    ck_assert_ptr_eq(got, c);
    SSL_SESSION_free(got);
    upsess_free(u); /* ASan's leak check: every reference was released */
}
END_TEST

/* Servers send several TLS 1.3 tickets per handshake, and tunnels opening
 * at once each need one: the pool keeps them all, and each goes out once. */
START_TEST(tls13_tickets_pool_and_go_out_once_each)
{
    upsess *u = upsess_new(8);
    SSL_SESSION *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = session(TLS1_3_VERSION);
        ck_assert_int_eq(upsess_put(u, "k", NULL, t[i]), 0);
    }
    ck_assert_uint_eq(upsess_count(u, "k"), 3);
    SSL_SESSION *got[3];
    for (int i = 0; i < 3; i++) {
        got[i] = upsess_get1(u, "k");
        ck_assert_ptr_nonnull(got[i]);
        for (int j = 0; j < i; j++)
            ck_assert_ptr_ne(got[i], got[j]);
    }
    ck_assert_ptr_eq(got[0], t[2]); /* the newest first */
    ck_assert_ptr_null(upsess_get1(u, "k"));
    for (int i = 0; i < 3; i++)
        SSL_SESSION_free(got[i]);
    upsess_free(u);
}
END_TEST

/* A full pool makes room by pushing out the ticket that expires first. */
START_TEST(full_pool_pushes_out_what_expires_first)
{
    upsess *u = upsess_new(8);
    SSL_SESSION *shortest = NULL;
    for (int i = 0; i < UPSESS_POOL; i++) {
        SSL_SESSION *s = session(TLS1_3_VERSION);
        SSL_SESSION_set_timeout(s, i == 3 ? 100 : 1000);
        if (i == 3)
            shortest = s;
        ck_assert_int_eq(upsess_put(u, "k", NULL, s), 0);
    }
    SSL_SESSION *newer = session(TLS1_3_VERSION);
    SSL_SESSION_set_timeout(newer, 1000);
    ck_assert_int_eq(upsess_put(u, "k", NULL, newer), 0);
    ck_assert_uint_eq(upsess_count(u, "k"), UPSESS_POOL);
    /* A ticket that would expire before all of them is not kept. */
    SSL_SESSION *brief = session(TLS1_3_VERSION);
    SSL_SESSION_set_timeout(brief, 10);
    ck_assert_int_eq(upsess_put(u, "k", NULL, brief), 0);
    for (int i = 0; i < UPSESS_POOL; i++) {
        SSL_SESSION *got = upsess_get1(u, "k");
        ck_assert_ptr_nonnull(got);
        ck_assert_ptr_ne(got, shortest);
        ck_assert_ptr_ne(got, brief);
        SSL_SESSION_free(got);
    }
    ck_assert_ptr_null(upsess_get1(u, "k"));
    upsess_free(u);
}
END_TEST

START_TEST(expired_tickets_are_not_handed_out)
{
    upsess *u = upsess_new(8);
    SSL_SESSION *old = session(TLS1_3_VERSION);
    SSL_SESSION_set_time(old, (long)time(NULL) - 1000);
    SSL_SESSION_set_timeout(old, 300);
    SSL_SESSION *fresh = session(TLS1_3_VERSION);
    ck_assert_int_eq(upsess_put(u, "k", NULL, fresh), 0);
    ck_assert_int_eq(upsess_put(u, "k", NULL, old), 0);
    ck_assert_uint_eq(upsess_count(u, "k"), 1);
    SSL_SESSION *got = upsess_get1(u, "k");
    ck_assert_ptr_eq(got, fresh);
    SSL_SESSION_free(got);
    ck_assert_ptr_null(upsess_get1(u, "k"));
    upsess_free(u);
}
END_TEST

/* Each connection that finds the pool empty lets it keep twice as many
 * tickets, up to UPSESS_POOL_MAX, while the table as a whole is under its
 * budget. */
START_TEST(misses_grow_the_pool_within_the_budget)
{
    upsess *u = upsess_new(16); /* budget: 16 * UPSESS_POOL */
    for (int i = 0; i < UPSESS_POOL + 5; i++)
        ck_assert_int_eq(upsess_put(u, "k", NULL, session(TLS1_3_VERSION)), 0);
    ck_assert_uint_eq(upsess_count(u, "k"), UPSESS_POOL);
    for (int i = 0; i < UPSESS_POOL; i++)
        SSL_SESSION_free(upsess_get1(u, "k"));
    ck_assert_ptr_null(upsess_get1(u, "k")); /* a miss */
    for (int i = 0; i < 3 * UPSESS_POOL; i++)
        ck_assert_int_eq(upsess_put(u, "k", NULL, session(TLS1_3_VERSION)), 0);
    ck_assert_uint_eq(upsess_count(u, "k"), 2 * UPSESS_POOL);
    for (int i = 0; i < 2 * UPSESS_POOL; i++)
        SSL_SESSION_free(upsess_get1(u, "k"));
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_null(upsess_get1(u, "k")); /* doubles up to the most */
    for (int i = 0; i < 2 * UPSESS_POOL_MAX; i++)
        ck_assert_int_eq(upsess_put(u, "k", NULL, session(TLS1_3_VERSION)), 0);
    ck_assert_uint_eq(upsess_count(u, "k"), UPSESS_POOL_MAX);
    upsess_free(u);

    u = upsess_new(1); /* budget: UPSESS_POOL, all of it this key's */
    ck_assert_int_eq(upsess_put(u, "k", NULL, session(TLS1_3_VERSION)), 0);
    SSL_SESSION_free(upsess_get1(u, "k"));
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_null(upsess_get1(u, "k"));
    for (int i = 0; i < UPSESS_POOL + 5; i++)
        ck_assert_int_eq(upsess_put(u, "k", NULL, session(TLS1_3_VERSION)), 0);
    ck_assert_uint_eq(upsess_count(u, "k"), UPSESS_POOL);
    upsess_free(u);
}
END_TEST

/* A server that changed versions made the other kind stale. */
START_TEST(one_version_at_a_time)
{
    upsess *u = upsess_new(8);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(upsess_put(u, "k", NULL, session(TLS1_3_VERSION)), 0);
    SSL_SESSION *s12 = session(TLS1_2_VERSION);
    ck_assert_int_eq(upsess_put(u, "k", NULL, s12), 0);
    ck_assert_uint_eq(upsess_count(u, "k"), 1);
    SSL_SESSION *t13 = session(TLS1_3_VERSION);
    ck_assert_int_eq(upsess_put(u, "k", NULL, t13), 0);
    ck_assert_uint_eq(upsess_count(u, "k"), 1);
    SSL_SESSION *got = upsess_get1(u, "k");
    ck_assert_ptr_eq(got, t13);
    SSL_SESSION_free(got);
    upsess_free(u);
}
END_TEST

static bool accept_all(SSL_SESSION *s, void *arg)
{
    (*(int *)arg)++;
    return true;
}

static bool accept_none(SSL_SESSION *s, void *arg)
{
    return false;
}

/* Another name of the same server may take a TLS 1.3 ticket kept under
 * the group's latest key, once, when accept approves it; a TLS 1.2 session
 * by the same rule, which stays for later connections; never its own
 * key's, never another group's. */
START_TEST(group_lends_tickets_to_another_name)
{
    upsess *u = upsess_new(64);
    int asked = 0;
    SSL_SESSION *t1 = session(TLS1_3_VERSION), *t2 = session(TLS1_3_VERSION);
    ck_assert_int_eq(upsess_put(u, "peer a", "peer", t1), 0);
    ck_assert_int_eq(upsess_put(u, "peer a", "peer", t2), 0);
    ck_assert_ptr_null(upsess_get1_from_group(u, "peer", "peer b", accept_none, NULL));
    ck_assert_ptr_null(upsess_get1_from_group(u, "other", "other b", accept_all, &asked));
    ck_assert_ptr_null(upsess_get1_from_group(u, "peer", "peer a", accept_all, &asked));
    ck_assert_int_eq(asked, 0);
    SSL_SESSION *got = upsess_get1_from_group(u, "peer", "peer b", accept_all, &asked);
    ck_assert_ptr_eq(got, t2);
    SSL_SESSION_free(got);
    ck_assert_uint_eq(upsess_count(u, "peer a"), 1);
    got = upsess_get1_from_group(u, "peer", "peer c", accept_all, &asked);
    ck_assert_ptr_eq(got, t1);
    SSL_SESSION_free(got);
    ck_assert_ptr_null(upsess_get1_from_group(u, "peer", "peer c", accept_all, &asked));
    SSL_SESSION *s12 = session(TLS1_2_VERSION);
    ck_assert_int_eq(upsess_put(u, "peer d", "peer", s12), 0);
    ck_assert_ptr_null(upsess_get1_from_group(u, "peer", "peer e", accept_none, NULL));
    for (int i = 0; i < 2; i++) {
        got = upsess_get1_from_group(u, "peer", "peer e", accept_all, &asked);
        ck_assert_ptr_eq(got, s12);
        SSL_SESSION_free(got);
    }
    ck_assert_uint_eq(upsess_count(u, "peer d"), 1);
    upsess_free(u);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("upsess");
    check_case(s, "table", 0, CHECK_TESTS(
        tls12_session_stays_for_later_connections, tls13_session_is_handed_out_once,
        other_keys_get_nothing, forget_drops_only_that_key,
        newer_session_replaces_older_in_its_slot, tls13_tickets_pool_and_go_out_once_each,
        full_pool_pushes_out_what_expires_first, expired_tickets_are_not_handed_out,
        misses_grow_the_pool_within_the_budget, one_version_at_a_time,
        group_lends_tickets_to_another_name));
    return s;
}
