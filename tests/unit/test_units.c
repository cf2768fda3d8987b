/* Unit tests for units: byte counts as people read them. */
#include "check_main.h"
#include "units.h"

#include <stdio.h>
#include <string.h>

static const char *bytes(unsigned long long n)
{
    static char buf[UNITS_BYTES_LEN];
    units_bytes(n, buf, sizeof buf);
    return buf;
}

START_TEST(byte_counts)
{
    ck_assert_str_eq(bytes(0), "0 B");
    ck_assert_str_eq(bytes(999), "999 B");
    ck_assert_str_eq(bytes(1000), "1.0 kB");
    ck_assert_str_eq(bytes(1500), "1.5 kB");
    ck_assert_str_eq(bytes(999949), "999.9 kB");
    ck_assert_str_eq(bytes(999950), "1.0 MB"); /* not "1000.0 kB" */
    ck_assert_str_eq(bytes(52400000), "52.4 MB");
    ck_assert_str_eq(bytes(999949999), "999.9 MB");
    ck_assert_str_eq(bytes(999950000), "1.00 GB");
    ck_assert_str_eq(bytes(1250000000), "1.25 GB");
    ck_assert_str_eq(bytes(18446744073709551615ULL), "18446744073.71 GB");
}
END_TEST

/* Below 1000 B the text is written without snprintf: the same text, cut
 * the same way, for every count and buffer size. */
START_TEST(small_counts_as_printf)
{
    for (unsigned long long n = 0; n < 1000; n++) {
        for (size_t size = 1; size <= UNITS_BYTES_LEN; size++) {
            char got[UNITS_BYTES_LEN], want[UNITS_BYTES_LEN];
            memset(got, 'x', sizeof got);
            units_bytes(n, got, size);
            snprintf(want, size, "%llu B", n);
            ck_assert_msg(strcmp(got, want) == 0, "%llu in %zu: %s", n, size, got);
            ck_assert(size == UNITS_BYTES_LEN || got[size] == 'x');
        }
    }
}
END_TEST

START_TEST(small_buffer_is_cut_not_overrun)
{
    char buf[4] = "xyz";
    units_bytes(123456, buf, sizeof buf);
    ck_assert_str_eq(buf, "123");
    units_bytes(5, buf, 0); /* nothing written */
    ck_assert_str_eq(buf, "123");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("units");
    check_case(s, "bytes", 0, CHECK_TESTS(
        byte_counts, small_buffer_is_cut_not_overrun, small_counts_as_printf));
    return s;
}
