/* Unit tests for autopass: the bounded, expiring passthrough list. */
#include "autopass.h"

#include <string.h>

#include "check_main.h"

START_TEST(added_hosts_are_listed_until_they_expire)
{
    autopass *a = autopass_new(4, 600);
    char reason[AUTOPASS_REASON_MAX] = "";
    ck_assert(!autopass_check(a, "pinned.example", 443, 100, reason, sizeof reason));
    ck_assert_int_eq(autopass_add(a, "pinned.example", 443, "unknown CA", 100), 1);
    ck_assert(autopass_check(a, "pinned.example", 443, 699.5, reason, sizeof reason));
    ck_assert_str_eq(reason, "unknown CA");
    /* Another port of the same host is another service. */
    ck_assert(!autopass_check(a, "pinned.example", 8443, 101, NULL, 0));
    ck_assert(!autopass_check(a, "pinned.example", 443, 700, reason, sizeof reason));
    ck_assert_uint_eq(autopass_count(a, 700), 0);
    autopass_free(a);
    autopass_free(NULL);
}
END_TEST

START_TEST(adding_again_renews)
{
    autopass *a = autopass_new(4, 10);
    ck_assert_int_eq(autopass_add(a, "h", 1, "first", 0), 1);
    ck_assert_int_eq(autopass_add(a, "h", 1, "second", 5), 0);
    char reason[AUTOPASS_REASON_MAX];
    ck_assert(autopass_check(a, "h", 1, 14, reason, sizeof reason));
    ck_assert_str_eq(reason, "second");
    ck_assert_uint_eq(autopass_count(a, 14), 1);
    autopass_free(a);
}
END_TEST

START_TEST(bounded_the_soonest_to_expire_goes)
{
    autopass *a = autopass_new(3, 100);
    autopass_add(a, "a", 1, "", 0);
    autopass_add(a, "b", 1, "", 1);
    autopass_add(a, "c", 1, "", 2);
    autopass_add(a, "a", 1, "", 3); /* renewed: now b is the oldest */
    ck_assert_int_eq(autopass_add(a, "d", 1, "", 4), 1);
    ck_assert_uint_eq(autopass_count(a, 4), 3);
    ck_assert(!autopass_check(a, "b", 1, 4, NULL, 0));
    ck_assert(autopass_check(a, "a", 1, 4, NULL, 0));
    ck_assert(autopass_check(a, "c", 1, 4, NULL, 0));
    ck_assert(autopass_check(a, "d", 1, 4, NULL, 0));
    autopass_free(a);
}
END_TEST

START_TEST(long_reasons_are_cut)
{
    autopass *a = autopass_new(1, 100);
    char longer[300];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    autopass_add(a, "h", 1, longer, 0);
    char reason[AUTOPASS_REASON_MAX];
    ck_assert(autopass_check(a, "h", 1, 1, reason, sizeof reason));
    ck_assert_uint_eq(strlen(reason), AUTOPASS_REASON_MAX - 1);
    autopass_free(a);
}
END_TEST

START_TEST(rejections_are_certificate_alerts_or_a_silent_close)
{
    ck_assert_str_eq(autopass_rejection(48, false), "alert unknown_ca");
    ck_assert_str_eq(autopass_rejection(42, false), "alert bad_certificate");
    ck_assert_str_eq(autopass_rejection(46, false), "alert certificate_unknown");
    ck_assert_str_eq(autopass_rejection(49, false), "alert access_denied");
    ck_assert_ptr_nonnull(autopass_rejection(-1, true));
    /* A handshake failure or a protocol version mismatch is not about the
     * certificate; an alert explains a close. */
    ck_assert_ptr_null(autopass_rejection(40, false));
    ck_assert_ptr_null(autopass_rejection(70, true));
    ck_assert_ptr_null(autopass_rejection(-1, false));
    double t = autopass_clock();
    ck_assert(autopass_clock() >= t);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("autopass");
    check_case(s, "list", 0, CHECK_TESTS(
        added_hosts_are_listed_until_they_expire, adding_again_renews,
        bounded_the_soonest_to_expire_goes, long_reasons_are_cut,
        rejections_are_certificate_alerts_or_a_silent_close));
    return s;
}
