/* Unit tests for ca_inter (issue 15): when a session intermediate is made
 * (an RSA root that allows one) and when the root signs itself, the
 * intermediate's fields, and leaves minted under it, checked by OpenSSL's
 * strict verifier with only the root trusted. */
#include "check_main.h"
#include "ca.h"
#include "certmint.h"
#include "log.h"
#include "scratch.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define DAY (24L * 3600)
/* Slack for "about now": a slow sanitized run still lands inside it. */
#define SLACK 120
#define SUFFIX " (tlspeek session intermediate)"

static void setup(void)
{
    scratch_make("tlspeek-ca-inter");
}

static void teardown(void)
{
    scratch_remove();
}

/* A CA the user brought, in scratch dir `name`: a self-signed RSA-2048
 * certificate with subject CN=cn, O=Example, and basicConstraints
 * `bc` (an openssl.cnf value). Returns it loaded. */
static ca *user_rsa_ca(const char *name, const char *cn, const char *bc)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s", scratch_path(name));
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    EVP_PKEY *key = EVP_RSA_gen(2048);
    X509 *x = X509_new();
    ck_assert_ptr_nonnull(key);
    ck_assert_ptr_nonnull(x);
    X509_NAME *subject = X509_get_subject_name(x);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)cn, -1, -1, 0), 1);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
                                                (const unsigned char *)"Example", -1, -1, 0), 1);
    ck_assert_int_eq(X509_set_issuer_name(x, subject), 1);
    ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
    ck_assert_int_eq(ca_set_random_serial(x), 0);
    ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), -DAY));
    ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), 30 * DAY));
    ck_assert_int_eq(X509_set_pubkey(x, key), 1);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, NULL, NID_basic_constraints, bc);
    ck_assert_ptr_nonnull(ext);
    ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
    ck_assert_int_eq(ca_add_subject_key_id(x), 0);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" CA_CERT_FILE, dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(PEM_write_X509(f, x), 1);
    fclose(f);
    snprintf(path, sizeof path, "%s/" CA_KEY_FILE, dir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
    ca *c = ca_load_or_create(dir);
    ck_assert_ptr_nonnull(c);
    return c;
}

static ca *tlspeek_ca(const char *name, ca_key_type type)
{
    ca *c = ca_load_or_create_with(scratch_path(name), type);
    ck_assert_ptr_nonnull(c);
    return c;
}

static int ext_critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    ck_assert_int_ge(i, 0);
    return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* X509_V_OK when leaf chains to root (the only anchor) through the
 * untrusted inter (or directly when inter is NULL), strictly, for a TLS
 * server named host. */
static int verify(X509 *root, X509 *inter, X509 *leaf, const char *host)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    ck_assert_ptr_nonnull(store);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_ptr_nonnull(untrusted);
    ck_assert_int_eq(X509_STORE_add_cert(store, root), 1);
    if (inter)
        ck_assert_int_gt(sk_X509_push(untrusted, inter), 0);
    ck_assert_int_eq(X509_STORE_CTX_init(ctx, store, leaf, untrusted), 1);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
    ck_assert_int_eq(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
    ck_assert_int_eq(X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host, 0), 1);
    int ok = X509_verify_cert(ctx);
    int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_free(untrusted);
    return ok == 1 ? X509_V_OK : (err ? err : X509_V_ERR_UNSPECIFIED);
}

static void cn_of(X509 *x, char *out, size_t size)
{
    ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
                                               out, (int)size), 0);
}

START_TEST(rsa_ca_gets_an_ec_intermediate_with_pathlen_0)
{
    ca *root = tlspeek_ca("rsa", CA_KEY_RSA2048);
    ck_assert_ptr_null(ca_direct_signing_reason(root));
    ca *inter = ca_new_intermediate(root);
    ck_assert_ptr_nonnull(inter);
    X509 *rc = ca_get0_cert(root), *ic = ca_get0_cert(inter);
    ck_assert_ptr_null(ca_get0_chain_cert(root));
    ck_assert_ptr_eq(ca_get0_chain_cert(inter), ic);
    ck_assert_str_eq(ca_get0_cert_path(inter), ca_get0_cert_path(root));
    ck_assert_int_eq(ca_get_key_type(inter), CA_KEY_EC_P256);

    /* Signed by the root, named after it. */
    ck_assert_int_eq(X509_verify(ic, X509_get0_pubkey(rc)), 1);
    ck_assert_int_eq(X509_NAME_cmp(X509_get_issuer_name(ic), X509_get_subject_name(rc)), 0);
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(ic),
                                           X509_get0_subject_key_id(rc)), 0);
    ck_assert_ptr_nonnull(X509_get0_subject_key_id(ic));
    char root_cn[128], cn[128];
    cn_of(rc, root_cn, sizeof root_cn);
    cn_of(ic, cn, sizeof cn);
    root_cn[64 - strlen(SUFFIX)] = '\0'; /* a long hostname is cut */
    ck_assert_str_eq(cn, strcat(root_cn, SUFFIX));

    /* CA:TRUE, pathlen 0, keyCertSign + cRLSign; both critical. */
    ck_assert_int_eq(X509_check_ca(ic), 1);
    ck_assert_int_eq(X509_get_pathlen(ic), 0);
    ck_assert_int_eq(ext_critical(ic, NID_basic_constraints), 1);
    ck_assert_int_eq(ext_critical(ic, NID_key_usage), 1);
    ck_assert_uint_eq(X509_get_key_usage(ic), KU_KEY_CERT_SIGN | KU_CRL_SIGN);

    /* From two days ago until the root's end. */
    time_t now = time(NULL), early = now - 2 * DAY - SLACK, late = now - 2 * DAY + SLACK;
    ck_assert_int_gt(X509_cmp_time(X509_get0_notBefore(ic), &early), 0);
    ck_assert_int_lt(X509_cmp_time(X509_get0_notBefore(ic), &late), 0);
    ck_assert_int_eq(ASN1_TIME_compare(X509_get0_notAfter(ic), X509_get0_notAfter(rc)), 0);

    /* A leaf under it verifies with only the root trusted, and not
     * without the intermediate; it ends no later than the intermediate. */
    EVP_PKEY *key = certmint_new_leaf_key(CA_KEY_EC_P256);
    X509 *leaf = certmint_leaf(inter, key, "localhost", NULL);
    ck_assert_ptr_nonnull(leaf);
    ck_assert_int_eq(verify(rc, ic, leaf, "localhost"), X509_V_OK);
    ck_assert_int_ne(verify(rc, NULL, leaf, "localhost"), X509_V_OK);
    ck_assert_int_le(ASN1_TIME_compare(X509_get0_notAfter(leaf), X509_get0_notAfter(ic)), 0);
    ck_assert_int_eq(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ic)), 0);

    /* Each call makes a new key. */
    ca *other = ca_new_intermediate(root);
    ck_assert_ptr_nonnull(other);
    ck_assert_int_ne(EVP_PKEY_eq(X509_get0_pubkey(ic),
                                 X509_get0_pubkey(ca_get0_cert(other))), 1);
    ca_free(other);
    X509_free(leaf);
    EVP_PKEY_free(key);
    ca_free(inter);
    ca_free(root);
}
END_TEST

START_TEST(ec_ca_signs_itself)
{
    ca *root = tlspeek_ca("ec", CA_KEY_EC_P256);
    const char *why = ca_direct_signing_reason(root);
    ck_assert_ptr_nonnull(why);
    ck_assert_ptr_nonnull(strstr(why, "not RSA"));
    ca_free(root);
}
END_TEST

START_TEST(ca_with_pathlen_0_signs_itself)
{
    ca *root = user_rsa_ca("pathlen0", "User CA", "critical,CA:TRUE,pathlen:0");
    const char *why = ca_direct_signing_reason(root);
    ck_assert_ptr_nonnull(why);
    ck_assert_ptr_nonnull(strstr(why, "pathLenConstraint 0"));
    ca_free(root);
    root = user_rsa_ca("pathlen1", "User CA", "critical,CA:TRUE,pathlen:1");
    ck_assert_ptr_null(ca_direct_signing_reason(root));
    ca_free(root);
}
END_TEST

/* ub-common-name is 64 characters: a long root CN is cut, on a character
 * boundary, so that the suffix fits; the root's other names stay. */
START_TEST(long_utf8_root_name_is_cut_to_fit)
{
    char long_cn[256] = "";
    for (int i = 0; i < 64; i++)
        strcat(long_cn, "\xc3\xa9"); /* U+00E9, two bytes each */
    ca *root = user_rsa_ca("long", long_cn, "critical,CA:TRUE");
    ca *inter = ca_new_intermediate(root);
    ck_assert_ptr_nonnull(inter);
    X509_NAME *name = X509_get_subject_name(ca_get0_cert(inter));
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    ck_assert_int_ge(i, 0);
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    char expected[256] = "";
    for (int j = 0; j < 64 - (int)strlen(SUFFIX); j++)
        strcat(expected, "\xc3\xa9");
    strcat(expected, SUFFIX);
    ck_assert_int_eq(len, (int)strlen(expected));
    ck_assert_mem_eq(utf8, expected, (size_t)len);
    OPENSSL_free(utf8);
    char org[64];
    ck_assert_int_gt(X509_NAME_get_text_by_NID(name, NID_organizationName, org, sizeof org), 0);
    ck_assert_str_eq(org, "Example");
    ca_free(inter);
    ca_free(root);
}
END_TEST

Suite *unit_suite(void)
{
    log_configure(true, false);
    Suite *s = suite_create("ca_inter");
    TCase *tc = check_case(s, "ca_inter", 60, CHECK_TESTS(
        rsa_ca_gets_an_ec_intermediate_with_pathlen_0, ec_ca_signs_itself,
        ca_with_pathlen_0_signs_itself, long_utf8_root_name_is_cut_to_fit));
    tcase_add_checked_fixture(tc, setup, teardown);
    return s;
}
