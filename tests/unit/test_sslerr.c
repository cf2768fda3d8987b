/* Unit tests for sslerr: our words, OpenSSL's reason, a clean queue. */
#include "check_main.h"
#include "sslerr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "log.h"

/* What sslerr_log() printed on stderr (redirected to a file). */
static void logged(char *out, size_t size, const char *what)
{
    FILE *capture = tmpfile();
    ck_assert_ptr_nonnull(capture);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(capture), STDERR_FILENO);
    sslerr_log("cannot read %s", what);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(capture);
    size_t n = fread(out, 1, size - 1, capture);
    out[n] = '\0';
    fclose(capture);
}

START_TEST(reason_follows_our_words_and_queue_is_cleared)
{
    BIO *bio = BIO_new_mem_buf("not a certificate", -1);
    ck_assert_ptr_null(PEM_read_bio_X509(bio, NULL, NULL, NULL));
    BIO_free(bio);
    ck_assert_uint_ne(ERR_peek_error(), 0);
    char line[512];
    logged(line, sizeof line, "ca.pem");
    ck_assert_msg(strncmp(line, "tlspeek: cannot read ca.pem: error:", 35) == 0, "%s", line);
    ck_assert_ptr_nonnull(strstr(line, "no start line"));
    ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(empty_queue_says_unknown_error)
{
    ERR_clear_error();
    char line[512];
    logged(line, sizeof line, "ca.key");
    ck_assert_str_eq(line, "tlspeek: cannot read ca.key: unknown error\n");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("sslerr");
    check_case(s, "sslerr", 0, CHECK_TESTS(
        reason_follows_our_words_and_queue_is_cleared, empty_queue_says_unknown_error));
    return s;
}
