/* Unit tests for strhash: FNV-1a's published 64-bit test vectors. */
#include "check_main.h"
#include "strhash.h"

START_TEST(published_vectors)
{
    ck_assert_uint_eq(strhash_fnv1a(""), 0xcbf29ce484222325u);
    ck_assert_uint_eq(strhash_fnv1a("a"), 0xaf63dc4c8601ec8cu);
    ck_assert_uint_eq(strhash_fnv1a("foobar"), 0x85944171f73967e8u);
}
END_TEST

START_TEST(bytes_above_127_count_unsigned)
{
    /* A signed char would fold 0xff into the hash as -1. */
    ck_assert_uint_ne(strhash_fnv1a("\xff"), strhash_fnv1a("\x7f"));
    ck_assert_uint_eq(strhash_fnv1a("\xff"), (0xcbf29ce484222325u ^ 0xffu) * 0x100000001b3u);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("strhash");
    check_case(s, "fnv1a", 0, CHECK_TESTS(published_vectors, bytes_above_127_count_unsigned));
    return s;
}
