/* Unit tests for codec: base64 (RFC 4648's test vectors) and wiping. */
#include "check_main.h"
#include "codec.h"

#include <stdlib.h>
#include <string.h>

START_TEST(base64_rfc4648_vectors)
{
    static const char *const vectors[][2] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
        {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof *vectors; i++) {
        char *b64 = codec_base64(vectors[i][0], strlen(vectors[i][0]));
        ck_assert_ptr_nonnull(b64);
        ck_assert_str_eq(b64, vectors[i][1]);
        free(b64);
    }
}
END_TEST

START_TEST(base64_of_binary_and_credentials)
{
    char *b64 = codec_base64("\x00\xff\xfe", 3);
    ck_assert_str_eq(b64, "AP/+");
    free(b64);
    b64 = codec_base64("user:pass", 9); /* Proxy-Authorization: Basic */
    ck_assert_str_eq(b64, "dXNlcjpwYXNz");
    free(b64);
}
END_TEST

START_TEST(wipe_zeroes)
{
    char secret[] = "hunter2";
    codec_wipe(secret, sizeof secret);
    for (size_t i = 0; i < sizeof secret; i++)
        ck_assert_int_eq(secret[i], 0);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("codec");
    check_case(s, "codec", 0, CHECK_TESTS(
        base64_rfc4648_vectors, base64_of_binary_and_credentials, wipe_zeroes));
    return s;
}
