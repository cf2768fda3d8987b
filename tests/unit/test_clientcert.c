/* Unit tests for clientcert: loading and checking --client-cert files, and
 * the choice of certificate per host. The handshake itself is covered by
 * the integration suite against nginx. */
#include "clientcert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "check_main.h"

static char dir[] = "/tmp/test_clientcert.XXXXXX";

static X509 *make_cert(EVP_PKEY *key, const char *cn)
{
    X509 *cert = X509_new();
    ck_assert_ptr_nonnull(cert);
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
                               -1, 0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    ck_assert_int_gt(X509_sign(cert, key, EVP_sha256()), 0);
    return cert;
}

/* Write cert (signed by its own key) and key_in_file to dir/name, mode. */
static const char *write_pem(const char *name, const char *cn, bool matching_key,
                             bool with_key, mode_t mode)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    EVP_PKEY *other = EVP_EC_gen("P-256");
    X509 *cert = make_cert(key, cn);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    PEM_write_X509(f, cert);
    if (with_key)
        PEM_write_PrivateKey(f, matching_key ? key : other, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    chmod(path, mode);
    X509_free(cert);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    return path;
}

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    static const char *const names[] = {"good.pem", "open.pem", "mismatch.pem",
                                        "nokey.pem", "a.pem", "b.pem"};
    char path[300];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

START_TEST(loads_a_good_file)
{
    char why[600] = "";
    clientcert *cc = clientcert_load(write_pem("good.pem", "alice", true, true, 0600),
                                     why, sizeof why);
    ck_assert_msg(cc != NULL, "%s", why);
    ck_assert_str_eq(clientcert_subject(cc), "CN=alice");
    clientcert_free(cc);
    clientcert_free(NULL);
}
END_TEST

static void expect_refused(const char *path, const char *reason_part)
{
    char why[600] = "";
    ck_assert_ptr_null(clientcert_load(path, why, sizeof why));
    ck_assert_msg(strstr(why, reason_part) != NULL, "%s", why);
    ck_assert_msg(strstr(why, path) != NULL, "the reason names the file: %s", why);
}

START_TEST(refuses_bad_files)
{
    expect_refused(write_pem("open.pem", "a", true, true, 0640), "chmod 600");
    expect_refused(write_pem("mismatch.pem", "a", false, true, 0600),
                   "does not match");
    expect_refused(write_pem("nokey.pem", "a", true, false, 0600), "no (unencrypted)");
    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.pem", dir);
    expect_refused(missing, "cannot read");
}
END_TEST

START_TEST(chooses_by_host_then_fallback)
{
    char why[600];
    clientcert_rules rules = {0};
    ck_assert_int_eq(regcomp(&rules.hosts[0], "^api\\.example$",
                             REG_EXTENDED | REG_NOSUB | REG_ICASE), 0);
    rules.certs[0] = clientcert_load(write_pem("a.pem", "a", true, true, 0600), why,
                                     sizeof why);
    rules.n = 1;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    clientcert_install(ctx, &rules);
    SSL *ssl = SSL_new(ctx);
    ck_assert_int_eq(clientcert_choose(ssl, "api.example"), 1);
    ck_assert_int_eq(clientcert_choose(ssl, "other.example"), 0);
    ck_assert_ptr_null(clientcert_sent(ssl)); /* nothing asked for yet */
    SSL_free(ssl);
    SSL_CTX_free(ctx);

    rules.fallback = clientcert_load(write_pem("b.pem", "b", true, true, 0600), why,
                                     sizeof why);
    ctx = SSL_CTX_new(TLS_client_method());
    clientcert_install(ctx, &rules);
    ssl = SSL_new(ctx);
    ck_assert_int_eq(clientcert_choose(ssl, "other.example"), 1);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    clientcert_rules_clear(&rules);
    ck_assert_uint_eq(rules.n, 0);
}
END_TEST

START_TEST(no_rules_chooses_nothing)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    clientcert_rules none = {0};
    clientcert_install(ctx, &none);
    SSL *ssl = SSL_new(ctx);
    ck_assert_int_eq(clientcert_choose(ssl, "any.example"), 0);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("clientcert");
    TCase *tc = check_case(s, "files", 0, CHECK_TESTS(
        loads_a_good_file, refuses_bad_files, chooses_by_host_then_fallback,
        no_rules_chooses_nothing));
    tcase_add_checked_fixture(tc, setup, teardown);
    return s;
}
