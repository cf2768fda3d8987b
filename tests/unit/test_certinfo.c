/* Unit tests for certinfo: a certificate as text and bytes. */
#include "check_main.h"
#include "certinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* A self-signed certificate with the given subject entries (NULL CN: none). */
static X509 *make_cert(const char *cn, const char *org)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    ck_assert(key && x && name);
    if (cn)
        ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                             (const unsigned char *)cn, -1, -1, 0));
    ck_assert(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                         (const unsigned char *)org, -1, -1, 0));
    ck_assert(X509_set_subject_name(x, name) && X509_set_issuer_name(x, name));
    ASN1_TIME *t = ASN1_TIME_new();
    ck_assert(ASN1_TIME_set_string(t, "20260102030405Z"));
    ck_assert(X509_set1_notBefore(x, t));
    ck_assert(ASN1_TIME_set_string(t, "20360102030405Z"));
    ck_assert(X509_set1_notAfter(x, t));
    ASN1_TIME_free(t);
    ck_assert(X509_set_pubkey(x, key) && X509_sign(x, key, EVP_sha256()));
    X509_NAME_free(name);
    EVP_PKEY_free(key);
    return x;
}

START_TEST(subject_and_common_name)
{
    X509 *x = make_cert("tlspeek CA h\xc3\xb6st 2026-01-02", "tlspeek");
    char text[CERTINFO_TEXT_SIZE];
    ck_assert_int_eq(certinfo_subject(x, text, sizeof text), 0);
    ck_assert_str_eq(text, "CN = tlspeek CA h\xc3\xb6st 2026-01-02, O = tlspeek");
    ck_assert_int_eq(certinfo_common_name(x, text, sizeof text), 0);
    ck_assert_str_eq(text, "tlspeek CA h\xc3\xb6st 2026-01-02");
    char small[8];
    ck_assert_int_eq(certinfo_subject(x, small, sizeof small), 0);
    ck_assert_str_eq(small, "CN = tl"); /* cut, still terminated */
    X509_free(x);
    x = make_cert(NULL, "no name");
    ck_assert_int_eq(certinfo_common_name(x, text, sizeof text), -1);
    X509_free(x);
}
END_TEST

START_TEST(validity_as_openssl_prints_it)
{
    X509 *x = make_cert("c", "o");
    char before[64], after[64];
    ck_assert_int_eq(certinfo_validity(x, before, after, sizeof before), 0);
    ck_assert_str_eq(before, "Jan  2 03:04:05 2026 GMT");
    ck_assert_str_eq(after, "Jan  2 03:04:05 2036 GMT");
    X509_free(x);
}
END_TEST

START_TEST(fingerprint_is_sha256_of_der)
{
    X509 *x = make_cert("c", "o");
    unsigned char md[32];
    unsigned int len = 0;
    ck_assert(X509_digest(x, EVP_sha256(), md, &len) && len == 32);
    char expected[CERTINFO_FINGERPRINT_SIZE], *p = expected;
    for (unsigned int i = 0; i < len; i++)
        p += sprintf(p, "%s%02X", i ? ":" : "", md[i]);
    char fp[CERTINFO_FINGERPRINT_SIZE];
    ck_assert_int_eq(certinfo_fingerprint_sha256(x, fp, sizeof fp), 0);
    ck_assert_str_eq(fp, expected);
    ck_assert_int_eq(certinfo_fingerprint_sha256(x, fp, 10), -1);
    X509_free(x);
}
END_TEST

START_TEST(pem_and_der_round_trip_through_a_file)
{
    X509 *x = make_cert("c", "o");
    unsigned char *pem = NULL, *der = NULL;
    size_t pem_len = 0, der_len = 0;
    ck_assert_int_eq(certinfo_encode(x, CERTINFO_PEM, &pem, &pem_len), 0);
    ck_assert_int_eq(certinfo_encode(x, CERTINFO_DER, &der, &der_len), 0);
    ck_assert(pem_len > 27 && memcmp(pem, "-----BEGIN CERTIFICATE-----", 27) == 0);
    const unsigned char *q = der;
    X509 *back = d2i_X509(NULL, &q, (long)der_len);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(X509_cmp(back, x), 0);
    X509_free(back);

    char path[] = "/tmp/tlspeek-certinfo-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, pem, pem_len), (ssize_t)pem_len);
    close(fd);
    back = certinfo_read_pem_file(path);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(X509_cmp(back, x), 0);
    certinfo_free_cert(back);
    unlink(path);
    ck_assert_ptr_null(certinfo_read_pem_file(path)); /* gone */
    ck_assert_ptr_null(certinfo_read_pem_file("/dev/null")); /* not PEM */
    certinfo_free_cert(NULL);
    free(pem);
    free(der);
    X509_free(x);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("certinfo");
    check_case(s, "certinfo", 0, CHECK_TESTS(
        subject_and_common_name, validity_as_openssl_prints_it, fingerprint_is_sha256_of_der,
        pem_and_der_round_trip_through_a_file));
    return s;
}
