/* Unit tests for the crypto layer's certificates: the CA (create, reload,
 * refuse broken directories), minted leaves (checked by OpenSSL's own
 * strict verifier and field by field) and the leaf cache. */
#include "check_main.h"
#include "ca.h"
#include "certcache.h"
#include "certmint.h"
#include "log.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define DAY (24L * 3600)
/* Slack for "about now": a slow sanitized run still lands inside it. */
#define SLACK 120

/* Checked fixtures run in each forked test, so this state is per test. */
static struct {
    char dir[PATH_MAX];    /* mkdtemp root, removed by teardown */
    char cadir[PATH_MAX];  /* dir/ca: where the fixture CA lives */
    ca *ca;
    EVP_PKEY *leaf_key;
    int ex_index;          /* X509 ex_data slot that counts frees */
} fx;

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void path_in(char *out, const char *dir, const char *name)
{
    ck_assert_int_lt(snprintf(out, PATH_MAX, "%s/%s", dir, name), PATH_MAX);
}

static void tmp_setup(void)
{
    snprintf(fx.dir, sizeof fx.dir, "/tmp/tlspeek-certmint-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx.dir));
    path_in(fx.cadir, fx.dir, "ca");
}

static void tmp_teardown(void)
{
    nftw(fx.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void ca_setup(void)
{
    tmp_setup();
    fx.ca = ca_load_or_create(fx.cadir);
    ck_assert_ptr_nonnull(fx.ca);
    fx.leaf_key = certmint_new_leaf_key(CA_KEY_EC_P256);
    ck_assert_ptr_nonnull(fx.leaf_key);
}

static void ca_teardown(void)
{
    EVP_PKEY_free(fx.leaf_key);
    ca_free(fx.ca);
    tmp_teardown();
}

/* ---- helpers ---------------------------------------------------------- */

static mode_t mode_of(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_mode & 0777;
}

static size_t read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/* Run ca_load_or_create(dir) with stderr in a file; returns the CA (if
 * any) and leaves what was logged in log. */
static ca *load_capturing(const char *dir, char *log, size_t size)
{
    char path[PATH_MAX];
    path_in(path, fx.dir, "stderr.txt");
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    ca *c = ca_load_or_create(dir);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    read_file(path, log, size);
    return c;
}

static void expect_load_fails(const char *dir, const char *needle)
{
    char log[4096];
    ca *c = load_capturing(dir, log, sizeof log);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(log, needle) != NULL, "log \"%s\" lacks \"%s\"", log, needle);
    ck_assert_msg(strchr(log, '\n') == strrchr(log, '\n'), "not one line: %s", log);
}

/* Seconds from now to t (negative when t is in the past). */
static long secs_from_now(const ASN1_TIME *t)
{
    int days = 0, secs = 0;
    ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));
    ck_assert_ptr_nonnull(now);
    ck_assert_int_eq(ASN1_TIME_diff(&days, &secs, now, t), 1);
    ASN1_TIME_free(now);
    return days * DAY + secs;
}

static int ext_critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(X509_get_ext_by_NID(x, nid, i), -1); /* only one */
    return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* X509_V_OK when leaf chains to ca_cert, the only anchor, under strict
 * RFC 5280 checks and the TLS server purpose, and matches host or ip. */
static int verify(X509 *ca_cert, X509 *leaf, const char *host, const char *ip)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    ck_assert_ptr_nonnull(store);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(X509_STORE_add_cert(store, ca_cert), 1);
    ck_assert_int_eq(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
    ck_assert_int_eq(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    if (host)
        ck_assert_int_eq(X509_VERIFY_PARAM_set1_host(param, host, 0), 1);
    if (ip)
        ck_assert_int_eq(X509_VERIFY_PARAM_set1_ip_asc(param, ip), 1);
    int ok = X509_verify_cert(ctx);
    int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok == 1 ? X509_V_OK : (err ? err : X509_V_ERR_UNSPECIFIED);
}

static void assert_verifies(X509 *leaf, const char *host, const char *ip)
{
    int err = verify(ca_get0_cert(fx.ca), leaf, host, ip);
    ck_assert_msg(err == X509_V_OK, "verify %s: %s", host ? host : ip,
                  X509_verify_cert_error_string(err));
    if (host)
        ck_assert_int_eq(X509_check_host(leaf, host, 0, 0, NULL), 1);
    if (ip)
        ck_assert_int_eq(X509_check_ip_asc(leaf, ip, 0), 1);
}

/* The SANs as "DNS:x" / "IP:x" strings, compared in order. */
static void assert_sans(X509 *x, const char *const *want, int n)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    ck_assert_ptr_nonnull(gens);
    ck_assert_int_eq(sk_GENERAL_NAME_num(gens), n);
    for (int i = 0; i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char got[300], ip[INET6_ADDRSTRLEN] = "?";
        if (g->type == GEN_DNS) {
            snprintf(got, sizeof got, "DNS:%.*s", ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        } else {
            ck_assert_int_eq(g->type, GEN_IPADD);
            int len = ASN1_STRING_length(g->d.iPAddress);
            inet_ntop(len == 4 ? AF_INET : AF_INET6,
                      ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof ip);
            snprintf(got, sizeof got, "IP:%s", ip);
        }
        ck_assert_str_eq(got, want[i]);
    }
    GENERAL_NAMES_free(gens);
}

static void assert_cn(X509 *x, const char *cn)
{
    char buf[256] = "";
    X509_NAME *name = X509_get_subject_name(x);
    if (!cn) {
        ck_assert_int_eq(X509_NAME_entry_count(name), 0);
        return;
    }
    ck_assert_int_gt(X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, cn);
}

/* Positive, at most 128 bits, and (overwhelmingly likely) more than 64. */
static void assert_serial(X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    ck_assert_ptr_nonnull(bn);
    ck_assert(!BN_is_negative(bn) && !BN_is_zero(bn));
    ck_assert_int_le(BN_num_bits(bn), 128);
    ck_assert_int_gt(BN_num_bits(bn), 64);
    BN_free(bn);
}

/* Everything a leaf promises besides its names. */
static void assert_leaf_fields(X509 *leaf)
{
    X509 *cacert = ca_get0_cert(fx.ca);
    ck_assert_int_eq(X509_get_version(leaf), X509_VERSION_3);
    assert_serial(leaf);
    ck_assert_int_eq(X509_NAME_cmp(X509_get_issuer_name(leaf),
                                   X509_get_subject_name(cacert)), 0);
    /* CA:FALSE is present, not merely absent */
    ck_assert(X509_get_extension_flags(leaf) & EXFLAG_BCONS);
    ck_assert_int_eq(X509_check_ca(leaf), 0);
    ck_assert_uint_eq(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
    ck_assert_int_eq(ext_critical(leaf, NID_key_usage), 1);
    ck_assert_uint_eq(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);
    ck_assert_int_eq(ext_critical(leaf, NID_ext_key_usage), 0);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
    ck_assert_ptr_nonnull(aki);
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(cacert)), 0);
    ck_assert_ptr_null(X509_get0_authority_issuer(leaf));
    ck_assert_ptr_null(X509_get0_authority_serial(leaf));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ck_assert_int_eq(X509_pubkey_digest(leaf, EVP_sha1(), md, &mdlen), 1);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(leaf);
    ck_assert_ptr_nonnull(ski);
    ck_assert_int_eq(ASN1_STRING_length(ski), (int)mdlen);
    ck_assert_mem_eq(ASN1_STRING_get0_data(ski), md, mdlen);
    ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(leaf), fx.leaf_key), 1);
    long start = secs_from_now(X509_get0_notBefore(leaf));
    long end = secs_from_now(X509_get0_notAfter(leaf));
    ck_assert_int_le(labs(start + CERTMINT_BACKDATE_SECONDS), SLACK);
    ck_assert_int_le(labs(end - CERTMINT_VALID_SECONDS), SLACK);
}

static void add_dns(GENERAL_NAMES *gens, const char *data, int len)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    ck_assert(g && s && ASN1_STRING_set(s, data, len));
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    ck_assert_int_gt(sk_GENERAL_NAME_push(gens, g), 0);
}

/* A self-signed certificate standing in for what an upstream presents;
 * gens may be NULL (no SAN extension). Built with this test's own code. */
static X509 *make_upstream(GENERAL_NAMES *gens)
{
    X509 *x = X509_new();
    ck_assert_ptr_nonnull(x);
    ck_assert(X509_set_version(x, X509_VERSION_3));
    ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 7));
    ck_assert(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                         (const unsigned char *)"upstream", -1, -1, 0));
    ck_assert(X509_set_issuer_name(x, X509_get_subject_name(x)));
    ck_assert(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    ck_assert(X509_gmtime_adj(X509_getm_notAfter(x), DAY));
    ck_assert(X509_set_pubkey(x, fx.leaf_key));
    if (gens)
        ck_assert_int_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0), 1);
    ck_assert(X509_sign(x, fx.leaf_key, EVP_sha256()));
    return x;
}

/* A CA written by the test itself, independently of ca.c (nconf with
 * constant strings is fine here: no wire data), valid from notBefore to
 * notAfter seconds from now, into dir/ca.pem and dir/ca.key. */
static void write_test_ca(const char *dir, long not_before, long not_after)
{
    char path[PATH_MAX];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509V3_CTX v3;
    ck_assert(key && x);
    ck_assert(X509_set_version(x, X509_VERSION_3));
    ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
    ck_assert(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                         (const unsigned char *)"test CA", -1, -1, 0));
    ck_assert(X509_set_issuer_name(x, X509_get_subject_name(x)));
    ck_assert(X509_gmtime_adj(X509_getm_notBefore(x), not_before));
    ck_assert(X509_gmtime_adj(X509_getm_notAfter(x), not_after));
    ck_assert(X509_set_pubkey(x, key));
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    const struct { int nid; const char *value; } exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, "critical,keyCertSign,cRLSign"},
        {NID_subject_key_identifier, "hash"},
    };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &v3, exts[i].nid, exts[i].value);
        ck_assert_ptr_nonnull(e);
        ck_assert(X509_add_ext(x, e, -1));
        X509_EXTENSION_free(e);
    }
    ck_assert(X509_sign(x, key, EVP_sha256()));
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    path_in(path, dir, CA_CERT_FILE);
    FILE *f = fopen(path, "w");
    ck_assert(f && PEM_write_X509(f, x));
    fclose(f);
    path_in(path, dir, CA_KEY_FILE);
    f = fopen(path, "w");
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert(f && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* ---- ca ---------------------------------------------------------------- */

START_TEST(ca_created_with_modes_and_fields)
{
    char nested[PATH_MAX], parent[PATH_MAX], path[PATH_MAX];
    path_in(parent, fx.dir, "a");
    path_in(nested, parent, "b");
    ca *c = ca_load_or_create(nested);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(mode_of(parent), 0700);
    ck_assert_uint_eq(mode_of(nested), 0700);
    path_in(path, nested, CA_KEY_FILE);
    ck_assert_uint_eq(mode_of(path), 0600);
    path_in(path, nested, CA_CERT_FILE);
    ck_assert_int_eq(access(path, R_OK), 0);
    ck_assert_str_eq(ca_get0_cert_path(c), path);

    X509 *x = ca_get0_cert(c);
    char cn[256], org[64], day[16];
    time_t now = time(NULL);
    strftime(day, sizeof day, "%Y-%m-%d", localtime(&now));
    X509_NAME *subject = X509_get_subject_name(x);
    ck_assert_int_gt(X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn), 0);
    ck_assert_int_eq(strncmp(cn, "tlspeek CA ", 11), 0);
    ck_assert_ptr_nonnull(strstr(cn, day));
    ck_assert_int_gt(X509_NAME_get_text_by_NID(subject, NID_organizationName, org,
                                               sizeof org), 0);
    ck_assert_str_eq(org, "tlspeek");
    ck_assert_int_eq(X509_NAME_cmp(subject, X509_get_issuer_name(x)), 0);
    ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(x)), 1);
    ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);
    assert_serial(x);
    ck_assert_int_ne(X509_check_ca(x), 0);
    ck_assert_int_eq(ext_critical(x, NID_basic_constraints), 1);
    ck_assert_uint_eq(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    ck_assert_int_eq(ext_critical(x, NID_key_usage), 1);
    ck_assert_int_eq(ASN1_STRING_length(X509_get0_subject_key_id(x)), 20);
    ck_assert_int_eq(ext_critical(x, NID_subject_key_identifier), 0);
    long years = secs_from_now(X509_get0_notAfter(x)) / DAY / 365;
    ck_assert_int_eq(years, 10);
    /* Strict checks apply to the anchor too. */
    X509 *copy = X509_dup(x);
    int err = verify(x, copy, NULL, NULL);
    ck_assert_msg(err == X509_V_ERR_INVALID_PURPOSE || err == X509_V_OK, "%s",
                  X509_verify_cert_error_string(err));
    X509_free(copy);
    ca_free(c);
}
END_TEST

START_TEST(ca_reload_is_identical_and_untouched)
{
    char cert_path[PATH_MAX], key_path[PATH_MAX];
    static char before[2][8192], after[2][8192];
    struct stat st_before, st_after;
    path_in(cert_path, fx.cadir, CA_CERT_FILE);
    path_in(key_path, fx.cadir, CA_KEY_FILE);
    read_file(cert_path, before[0], sizeof before[0]);
    read_file(key_path, before[1], sizeof before[1]);
    ck_assert_int_eq(stat(cert_path, &st_before), 0);

    ca *again = ca_load_or_create(fx.cadir);
    ck_assert_ptr_nonnull(again);
    ck_assert_int_eq(X509_cmp(ca_get0_cert(again), ca_get0_cert(fx.ca)), 0);
    read_file(cert_path, after[0], sizeof after[0]);
    read_file(key_path, after[1], sizeof after[1]);
    ck_assert_str_eq(before[0], after[0]);
    ck_assert_str_eq(before[1], after[1]);
    ck_assert_int_eq(stat(cert_path, &st_after), 0);
    ck_assert_int_eq(st_before.st_mtim.tv_sec, st_after.st_mtim.tv_sec);
    ck_assert_int_eq(st_before.st_mtim.tv_nsec, st_after.st_mtim.tv_nsec);
    /* The reloaded key signs leaves the original certificate verifies. */
    X509 *leaf = certmint_leaf(again, fx.leaf_key, "localhost", NULL);
    ck_assert_ptr_nonnull(leaf);
    assert_verifies(leaf, "localhost", NULL);
    X509_free(leaf);
    ca_free(again);
}
END_TEST

START_TEST(ca_missing_key_fails)
{
    char path[PATH_MAX];
    path_in(path, fx.cadir, CA_KEY_FILE);
    ck_assert_int_eq(unlink(path), 0);
    expect_load_fails(fx.cadir, path);
    ck_assert_int_eq(access(path, F_OK), -1); /* not recreated */
}
END_TEST

START_TEST(ca_missing_cert_fails)
{
    char path[PATH_MAX];
    path_in(path, fx.cadir, CA_CERT_FILE);
    ck_assert_int_eq(unlink(path), 0);
    expect_load_fails(fx.cadir, path);
}
END_TEST

START_TEST(ca_mismatched_key_fails)
{
    char other[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
    path_in(other, fx.dir, "other");
    ca *c = ca_load_or_create(other);
    ck_assert_ptr_nonnull(c);
    ca_free(c);
    path_in(from, other, CA_KEY_FILE);
    path_in(to, fx.cadir, CA_KEY_FILE);
    ck_assert_int_eq(rename(from, to), 0);
    expect_load_fails(fx.cadir, "does not match");
    expect_load_fails(fx.cadir, to);
}
END_TEST

START_TEST(ca_garbage_key_fails)
{
    char path[PATH_MAX];
    path_in(path, fx.cadir, CA_KEY_FILE);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    /* PEM armour around garbage. The label is assembled at run time so
     * that no key-shaped text sits in the repository. */
    const char *label = "PRIVATE" " KEY";
    fprintf(f, "-----BEGIN %s-----\nnot base64\n-----END %s-----\n", label, label);
    fclose(f);
    expect_load_fails(fx.cadir, path);
}
END_TEST

START_TEST(ca_expired_or_not_a_dir_fails)
{
    char dir[PATH_MAX];
    path_in(dir, fx.dir, "expired");
    write_test_ca(dir, -10 * DAY, -DAY);
    expect_load_fails(dir, "expired");
    char file[PATH_MAX];
    path_in(file, fx.dir, "file");
    fclose(fopen(file, "w"));
    expect_load_fails(file, file);
}
END_TEST

START_TEST(ca_sign_sets_issuer_and_replaces_aki)
{
    X509 *x = make_upstream(NULL);
    ck_assert_int_eq(ca_sign(fx.ca, x), 0);
    ck_assert_int_eq(ca_sign(fx.ca, x), 0);
    ck_assert_int_eq(ext_critical(x, NID_authority_key_identifier), 0);
    ck_assert_int_eq(X509_NAME_cmp(X509_get_issuer_name(x),
                                   X509_get_subject_name(ca_get0_cert(fx.ca))), 0);
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
                         X509_get0_subject_key_id(ca_get0_cert(fx.ca))), 0);
    ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(ca_get0_cert(fx.ca))), 1);
    X509_free(x);
    ca_free(NULL);
}
END_TEST

/* ---- certmint ---------------------------------------------------------- */

START_TEST(leaf_key_is_p256)
{
    char group[64];
    ck_assert_int_eq(EVP_PKEY_is_a(fx.leaf_key, "EC"), 1);
    ck_assert_int_eq(EVP_PKEY_get_group_name(fx.leaf_key, group, sizeof group, NULL), 1);
    ck_assert_str_eq(group, "prime256v1");
}
END_TEST

/* Issue 12, defect 21: RSA leaves (what a client that takes only RSA
 * signatures needs) under an RSA CA. */
START_TEST(rsa_leaf_under_an_rsa_ca)
{
    ck_assert_int_eq(ca_get_key_type(fx.ca), CA_KEY_EC_P256);
    char rsa_dir[PATH_MAX];
    path_in(rsa_dir, fx.dir, "rsa-ca");
    ca *rsa_ca = ca_load_or_create_with(rsa_dir, CA_KEY_RSA2048);
    ck_assert_ptr_nonnull(rsa_ca);
    ck_assert_int_eq(ca_get_key_type(rsa_ca), CA_KEY_RSA2048);
    EVP_PKEY *key = certmint_new_leaf_key(ca_get_key_type(rsa_ca));
    ck_assert_ptr_nonnull(key);
    ck_assert_int_eq(EVP_PKEY_is_a(key, "RSA"), 1);
    ck_assert_int_eq(EVP_PKEY_get_bits(key), 2048);
    X509 *leaf = certmint_leaf(rsa_ca, key, "localhost", NULL);
    ck_assert_ptr_nonnull(leaf);
    ck_assert_int_eq(verify(ca_get0_cert(rsa_ca), leaf, "localhost", NULL), X509_V_OK);
    ck_assert_int_eq(EVP_PKEY_is_a(X509_get0_pubkey(leaf), "RSA"), 1);
    X509_free(leaf);
    certmint_free_key(key);
    ca_free(rsa_ca);
}
END_TEST

/* A leaf of either kind, under a CA of either kind, minted from
 * certmint_public_key(): the same public key bits as from the key pair,
 * verified, and one a server session takes with the key pair. */
static void check_public_key(const ca *issuer, ca_key_type kind)
{
    EVP_PKEY *key = certmint_new_leaf_key(kind);
    EVP_PKEY *pub = certmint_public_key(key);
    ck_assert_ptr_nonnull(pub);
    /* The point of it: held in OpenSSL's older form, not by a provider,
     * so that X509_set_pubkey() need not run the encoder and decoder. */
    ck_assert_ptr_null(EVP_PKEY_get0_provider(pub));
    X509 *slow = certmint_leaf(issuer, key, "localhost", NULL);
    X509 *leaf = certmint_leaf(issuer, pub, "localhost", NULL);
    ck_assert_ptr_nonnull(slow);
    ck_assert_ptr_nonnull(leaf);
    ck_assert_int_eq(verify(ca_get0_cert(issuer), leaf, "localhost", NULL), X509_V_OK);
    ck_assert_int_eq(ASN1_STRING_cmp(X509_get0_pubkey_bitstr(slow),
                                     X509_get0_pubkey_bitstr(leaf)), 0);
    unsigned char *a = NULL, *b = NULL;
    int alen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(slow), &a);
    int blen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &b);
    ck_assert_int_gt(alen, 0);
    ck_assert_int_eq(alen, blen);
    ck_assert_int_eq(memcmp(a, b, (size_t)alen), 0);
    ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(leaf), key), 1);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    ck_assert_ptr_nonnull(ssl);
    ck_assert_int_eq(SSL_use_certificate(ssl, leaf), 1);
    ck_assert_int_eq(SSL_use_PrivateKey(ssl, key), 1);
    ck_assert_int_eq(SSL_check_private_key(ssl), 1);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    OPENSSL_free(a);
    OPENSSL_free(b);
    X509_free(slow);
    X509_free(leaf);
    certmint_free_key(pub);
    certmint_free_key(key);
}

START_TEST(public_key_mints_the_same_leaf_cheaply)
{
    char rsa_dir[PATH_MAX];
    path_in(rsa_dir, fx.dir, "rsa-ca");
    ca *rsa_ca = ca_load_or_create_with(rsa_dir, CA_KEY_RSA2048);
    ck_assert_ptr_nonnull(rsa_ca);
    check_public_key(fx.ca, CA_KEY_EC_P256);
    check_public_key(fx.ca, CA_KEY_RSA2048);
    check_public_key(rsa_ca, CA_KEY_EC_P256);
    check_public_key(rsa_ca, CA_KEY_RSA2048);
    ck_assert_ptr_null(certmint_public_key(NULL));
    ca_free(rsa_ca);
}
END_TEST

START_TEST(mint_localhost)
{
    X509 *leaf = certmint_leaf(fx.ca, fx.leaf_key, "localhost", NULL);
    ck_assert_ptr_nonnull(leaf);
    assert_verifies(leaf, "localhost", NULL);
    assert_leaf_fields(leaf);
    assert_cn(leaf, "localhost");
    assert_sans(leaf, (const char *const[]){"DNS:localhost"}, 1);
    ck_assert_int_eq(ext_critical(leaf, NID_subject_alt_name), 0);
    ck_assert_int_eq(X509_check_host(leaf, "example.com", 0, 0, NULL), 0);
    X509_free(leaf);
}
END_TEST

START_TEST(mint_lowercases)
{
    X509 *leaf = certmint_leaf(fx.ca, fx.leaf_key, "WWW.Example.COM", NULL);
    ck_assert_ptr_nonnull(leaf);
    assert_cn(leaf, "www.example.com");
    assert_sans(leaf, (const char *const[]){"DNS:www.example.com"}, 1);
    X509_free(leaf);
}
END_TEST

START_TEST(mint_ip_literals)
{
    const char *ips[] = {"127.0.0.1", "::1", "2001:db8::42"};
    for (size_t i = 0; i < sizeof ips / sizeof ips[0]; i++) {
        X509 *leaf = certmint_leaf(fx.ca, fx.leaf_key, ips[i], NULL);
        ck_assert_ptr_nonnull(leaf);
        assert_verifies(leaf, NULL, ips[i]);
        assert_leaf_fields(leaf);
        char want[64];
        snprintf(want, sizeof want, "IP:%s", ips[i]);
        assert_sans(leaf, (const char *const[]){want}, 1);
        assert_cn(leaf, ips[i]);
        ck_assert_int_eq(X509_check_ip_asc(leaf, "10.0.0.1", 0), 0);
        X509_free(leaf);
    }
}
END_TEST

START_TEST(mint_long_name_has_no_cn)
{
    char host[128];
    snprintf(host, sizeof host, "%s.example.com",
             "abcdefghijklmnopqrstuvwxyz0123456789-abcdefghijklmnopqrstuvwxyz");
    ck_assert_uint_ge(strlen(host), 64);
    X509 *leaf = certmint_leaf(fx.ca, fx.leaf_key, host, NULL);
    ck_assert_ptr_nonnull(leaf);
    assert_verifies(leaf, host, NULL);
    assert_leaf_fields(leaf);
    assert_cn(leaf, NULL);
    /* An empty subject makes the SAN critical (RFC 5280 4.2.1.6). */
    ck_assert_int_eq(ext_critical(leaf, NID_subject_alt_name), 1);
    X509_free(leaf);
}
END_TEST

START_TEST(mint_with_upstream_sans)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    static const char nul_name[] = "evil.com\0.example.com";
    add_dns(gens, "Example.COM", -1);          /* duplicate of host */
    add_dns(gens, "www.example.com", -1);
    add_dns(gens, "*.example.com", -1);
    add_dns(gens, "*.com", -1);                /* wildcard over a TLD */
    add_dns(gens, "a,b.example.com", -1);      /* junk */
    add_dns(gens, "bad name.example.com", -1); /* junk */
    add_dns(gens, "*.*.example.com", -1);      /* junk */
    add_dns(gens, "w*.example.com", -1);       /* partial wildcard */
    add_dns(gens, nul_name, sizeof nul_name - 1);
    add_dns(gens, "10.0.0.2", -1);             /* IP text in a dNSName */
    add_dns(gens, "WWW.example.com", -1);      /* duplicate, other case */
    GENERAL_NAME *ip = a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_IPADD, "10.0.0.1", 0);
    ck_assert_ptr_nonnull(ip);
    sk_GENERAL_NAME_push(gens, ip);
    GENERAL_NAME *email = a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_EMAIL, "a@example.com", 0);
    ck_assert_ptr_nonnull(email);
    sk_GENERAL_NAME_push(gens, email);
    X509 *up = make_upstream(gens);
    GENERAL_NAMES_free(gens);

    X509 *leaf = certmint_leaf(fx.ca, fx.leaf_key, "example.com", up);
    ck_assert_ptr_nonnull(leaf);
    assert_sans(leaf, (const char *const[]){"DNS:example.com", "DNS:www.example.com",
                                           "DNS:*.example.com", "IP:10.0.0.1"}, 4);
    assert_leaf_fields(leaf);
    assert_verifies(leaf, "example.com", NULL);
    assert_verifies(leaf, "foo.example.com", NULL);
    assert_verifies(leaf, NULL, "10.0.0.1");
    ck_assert_int_eq(X509_check_host(leaf, "evil.com", 0, 0, NULL), 0);
    ck_assert_int_eq(X509_check_host(leaf, "a.b.example.com", 0, 0, NULL), 0);
    X509_free(leaf);

    /* An upstream without a SAN extension adds nothing. */
    X509 *bare = make_upstream(NULL);
    leaf = certmint_leaf(fx.ca, fx.leaf_key, "example.com", bare);
    ck_assert_ptr_nonnull(leaf);
    assert_sans(leaf, (const char *const[]){"DNS:example.com"}, 1);
    X509_free(leaf);
    X509_free(bare);
    X509_free(up);
}
END_TEST

START_TEST(mint_caps_san_count)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "h%d.example.com", i);
        add_dns(gens, name, -1);
    }
    X509 *up = make_upstream(gens);
    GENERAL_NAMES_free(gens);
    X509 *leaf = certmint_leaf(fx.ca, fx.leaf_key, "example.com", up);
    ck_assert_ptr_nonnull(leaf);
    GENERAL_NAMES *sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    ck_assert_int_gt(sk_GENERAL_NAME_num(sans), 1);
    ck_assert_int_le(sk_GENERAL_NAME_num(sans), 100);
    GENERAL_NAMES_free(sans);
    assert_verifies(leaf, "example.com", NULL);
    X509_free(leaf);
    X509_free(up);
}
END_TEST

START_TEST(mint_serials_differ)
{
    X509 *a = certmint_leaf(fx.ca, fx.leaf_key, "localhost", NULL);
    X509 *b = certmint_leaf(fx.ca, fx.leaf_key, "localhost", NULL);
    ck_assert(a && b);
    assert_serial(a);
    assert_serial(b);
    ck_assert_int_ne(ASN1_INTEGER_cmp(X509_get0_serialNumber(a),
                                      X509_get0_serialNumber(b)), 0);
    X509_free(a);
    X509_free(b);
}
END_TEST

START_TEST(mint_refuses_uncertifiable)
{
    char long_name[300], long_label[80];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    for (size_t i = 63; i < sizeof long_name - 1; i += 64)
        long_name[i] = '.';
    snprintf(long_label, sizeof long_label, "%064d.com", 0);
    const char *bad[] = {"a,b", "*.x.com", "", long_name, long_label, "a b.com",
                         "a\nb.com", "-a.com", "a..com", "example.com.", "[::1]",
                         "1.2.3.4:80", "\xc3\xa9.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(certmint_leaf(fx.ca, fx.leaf_key, bad[i], NULL) == NULL,
                      "minted for \"%s\"", bad[i]);
    ck_assert_ptr_null(certmint_leaf(fx.ca, fx.leaf_key, NULL, NULL));
}
END_TEST

START_TEST(mint_never_outlives_ca)
{
    char dir[PATH_MAX];
    path_in(dir, fx.dir, "short");
    write_test_ca(dir, -DAY, 10 * DAY);
    ca *c = ca_load_or_create(dir);
    ck_assert_ptr_nonnull(c);
    X509 *leaf = certmint_leaf(c, fx.leaf_key, "localhost", NULL);
    ck_assert_ptr_nonnull(leaf);
    ck_assert_int_eq(ASN1_TIME_compare(X509_get0_notAfter(leaf),
                                       X509_get0_notAfter(ca_get0_cert(c))), 0);
    int err = verify(ca_get0_cert(c), leaf, "localhost", NULL);
    ck_assert_msg(err == X509_V_OK, "%s", X509_verify_cert_error_string(err));
    X509_free(leaf);
    ca_free(c);
}
END_TEST

/* ---- certcache --------------------------------------------------------- */

/* Counts real frees: the cache's references are invisible otherwise. */
static void count_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                       long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (ptr)
        ++*(int *)ptr;
}

static void cache_setup(void)
{
    ca_setup();
    fx.ex_index = X509_get_ex_new_index(0, NULL, NULL, NULL, count_free);
    ck_assert_int_ge(fx.ex_index, 0);
}

/* A fresh leaf whose final free increments *freed. */
static X509 *tracked_leaf(int *freed)
{
    X509 *x = certmint_leaf(fx.ca, fx.leaf_key, "localhost", NULL);
    ck_assert_ptr_nonnull(x);
    *freed = 0;
    ck_assert_int_eq(X509_set_ex_data(x, fx.ex_index, freed), 1);
    return x;
}

START_TEST(cache_put_get_refcounts)
{
    int freed;
    certcache *c = certcache_new(4);
    ck_assert_ptr_nonnull(c);
    X509 *x = tracked_leaf(&freed);
    ck_assert_int_eq(certcache_put(c, "a", x), 0);
    X509_free(x); /* the cache keeps its own reference */
    ck_assert_int_eq(freed, 0);
    X509 *got = certcache_get1(c, "a", time(NULL), DAY);
    ck_assert_ptr_eq(got, x);
    ck_assert_ptr_null(certcache_get1(c, "b", time(NULL), DAY));
    ck_assert_uint_eq(certcache_size(c), 1);
    certcache_free(c);
    ck_assert_int_eq(freed, 0); /* ours is still alive */
    X509_free(got);
    ck_assert_int_eq(freed, 1);
    certcache_free(NULL);
}
END_TEST

static X509 *no_mint(void *arg)
{
    (void)arg;
    ck_abort_msg("minted on a hit");
    return NULL;
}

static X509 *give_leaf(void *arg)
{
    X509 *x = arg;
    X509_up_ref(x);
    return x;
}

/* The count each handout sees (the reread at a given use relies on one
 * caller seeing each), and a swap that keeps the entry but changes its
 * certificate, only when the entry still holds the old one. */
START_TEST(cache_counts_uses_and_swaps)
{
    int freed1, freed2, freed3;
    certcache *c = certcache_new(4);
    X509 *x1 = tracked_leaf(&freed1), *x2 = tracked_leaf(&freed2),
         *x3 = tracked_leaf(&freed3);
    bool made = false;
    unsigned uses = 0;
    X509 *got = certcache_get1_or_make(c, "a", time(NULL), DAY, give_leaf, x1, &made, &uses);
    ck_assert(made);
    ck_assert_uint_eq(uses, 1);
    X509_free(got);
    for (unsigned want = 2; want <= 4; want++) {
        got = certcache_get1_or_make(c, "a", time(NULL), DAY, no_mint, NULL, &made, &uses);
        ck_assert(!made);
        ck_assert_uint_eq(uses, want);
        ck_assert_ptr_eq(got, x1);
        X509_free(got);
    }
    ck_assert(!certcache_swap(c, "a", x3, x2)); /* not what it holds */
    ck_assert(!certcache_swap(c, "b", x1, x2)); /* no such entry */
    ck_assert(certcache_swap(c, "a", x1, x2));
    X509_free(x1);
    ck_assert_int_eq(freed1, 1); /* the cache dropped its reference */
    got = certcache_get1_or_make(c, "a", time(NULL), DAY, no_mint, NULL, &made, &uses);
    ck_assert_ptr_eq(got, x2);
    ck_assert_uint_eq(uses, 5); /* the count goes on */
    X509_free(got);
    ck_assert_uint_eq(certcache_size(c), 1);
    certcache_free(c);
    X509_free(x2);
    X509_free(x3);
    ck_assert_int_eq(freed2, 1);
    ck_assert_int_eq(freed3, 1);
}
END_TEST

/* A leaf read back is the same certificate, now with its encoding kept
 * (written by copying) and its key decoded by the provider. */
START_TEST(reread_is_the_same_certificate)
{
    EVP_PKEY *pub = certmint_public_key(fx.leaf_key);
    X509 *leaf = certmint_leaf(fx.ca, pub, "localhost", NULL);
    X509 *copy = certmint_reread(leaf);
    ck_assert_ptr_nonnull(copy);
    ck_assert_int_eq(X509_cmp(leaf, copy), 0);
    unsigned char *a = NULL, *b = NULL;
    int alen = i2d_X509(leaf, &a), blen = i2d_X509(copy, &b);
    ck_assert_int_gt(alen, 0);
    ck_assert_int_eq(alen, blen);
    ck_assert_int_eq(memcmp(a, b, (size_t)alen), 0);
    ck_assert_ptr_nonnull(EVP_PKEY_get0_provider(X509_get0_pubkey(copy)));
    ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(copy), fx.leaf_key), 1);
    assert_verifies(copy, "localhost", NULL);
    OPENSSL_free(a);
    OPENSSL_free(b);
    X509_free(copy);
    X509_free(leaf);
    certmint_free_key(pub);
}
END_TEST

START_TEST(cache_replace_drops_old)
{
    int freed1, freed2;
    certcache *c = certcache_new(4);
    X509 *x1 = tracked_leaf(&freed1), *x2 = tracked_leaf(&freed2);
    ck_assert_int_eq(certcache_put(c, "a", x1), 0);
    ck_assert_int_eq(certcache_put(c, "a", x2), 0);
    ck_assert_uint_eq(certcache_size(c), 1);
    X509_free(x1);
    ck_assert_int_eq(freed1, 1);
    X509 *got = certcache_get1(c, "a", time(NULL), DAY);
    ck_assert_ptr_eq(got, x2);
    X509_free(got);
    X509_free(x2);
    ck_assert_int_eq(freed2, 0);
    certcache_free(c);
    ck_assert_int_eq(freed2, 1);
}
END_TEST

START_TEST(cache_evicts_least_recently_used)
{
    int freed[4];
    const char *keys[] = {"a", "b", "c", "d"};
    X509 *x[4];
    certcache *c = certcache_new(3);
    for (int i = 0; i < 4; i++)
        x[i] = tracked_leaf(&freed[i]);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(certcache_put(c, keys[i], x[i]), 0);
    X509 *got = certcache_get1(c, "a", time(NULL), DAY); /* a is now newest */
    X509_free(got);
    ck_assert_int_eq(certcache_put(c, "d", x[3]), 0);
    ck_assert_uint_eq(certcache_size(c), 3);
    for (int i = 0; i < 4; i++)
        X509_free(x[i]);
    ck_assert_int_eq(freed[1], 1); /* b was the oldest */
    ck_assert_int_eq(freed[0] + freed[2] + freed[3], 0);
    ck_assert_ptr_null(certcache_get1(c, "b", time(NULL), DAY));
    for (int i = 0; i < 4; i += (i == 0 ? 2 : 1)) {
        got = certcache_get1(c, keys[i], time(NULL), DAY);
        ck_assert_ptr_eq(got, x[i]);
        X509_free(got);
    }
    certcache_free(c);
    ck_assert_int_eq(freed[0] + freed[2] + freed[3], 3);
}
END_TEST

START_TEST(cache_drops_near_expiry)
{
    int freed;
    certcache *c = certcache_new(4);
    X509 *x = tracked_leaf(&freed);
    ck_assert_int_eq(certcache_put(c, "a", x), 0);
    X509 *got = certcache_get1(c, "a", time(NULL), 198 * DAY);
    ck_assert_ptr_eq(got, x);
    X509_free(got);
    ck_assert_ptr_null(certcache_get1(c, "a", time(NULL), 200 * DAY));
    ck_assert_uint_eq(certcache_size(c), 0);
    ck_assert_int_eq(certcache_put(c, "a", x), 0);
    ck_assert_ptr_null(certcache_get1(c, "a", time(NULL) + 199 * DAY, 0));
    ck_assert_uint_eq(certcache_size(c), 0);
    X509_free(x);
    ck_assert_int_eq(freed, 1);
    certcache_free(c);
}
END_TEST

START_TEST(cache_scales_and_zero_capacity)
{
    int freed;
    X509 *x = tracked_leaf(&freed);
    certcache *c = certcache_new(1024);
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "host%d.example.com", i);
        ck_assert_int_eq(certcache_put(c, key, x), 0);
    }
    ck_assert_uint_eq(certcache_size(c), 1024);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "host%d.example.com", i);
        X509 *got = certcache_get1(c, key, time(NULL), DAY);
        ck_assert_msg((got != NULL) == (i >= 20000 - 1024), "key %d", i);
        X509_free(got);
    }
    certcache_free(c);
    c = certcache_new(0);
    ck_assert_int_eq(certcache_put(c, "a", x), 0);
    ck_assert_uint_eq(certcache_size(c), 0);
    ck_assert_ptr_null(certcache_get1(c, "a", time(NULL), 0));
    certcache_free(c);
    X509_free(x);
    ck_assert_int_eq(freed, 1);
}
END_TEST

struct hammer {
    certcache *cache;
    X509 *cert;
    unsigned seed;
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    char key[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%u", (unsigned)rand_r(&h->seed) % 200);
        if (i % 3 == 0)
            certcache_put(h->cache, key, h->cert);
        else
            X509_free(certcache_get1(h->cache, key, time(NULL), DAY));
    }
    return NULL;
}

START_TEST(cache_is_thread_safe)
{
    int freed;
    X509 *x = tracked_leaf(&freed);
    certcache *c = certcache_new(64);
    pthread_t threads[4];
    struct hammer h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){c, x, (unsigned)i + 1};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, hammer_run, &h[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    ck_assert_uint_le(certcache_size(c), 64);
    certcache_free(c);
    X509_free(x);
    ck_assert_int_eq(freed, 1);
}
END_TEST

/* Workers racing for one new host: one mint, every caller gets that leaf. */
struct racer {
    certcache *cache;
    X509 *got;
    bool made;
};

static atomic_int mints;

static X509 *slow_mint(void *arg)
{
    atomic_fetch_add(&mints, 1);
    usleep(20000); /* long enough for the other threads to miss too */
    return certmint_leaf(fx.ca, fx.leaf_key, "race.test", NULL);
}

static void *racer_run(void *arg)
{
    struct racer *r = arg;
    r->got = certcache_get1_or_make(r->cache, "race.test|-", time(NULL), DAY,
                                    slow_mint, NULL, &r->made, NULL);
    return NULL;
}

START_TEST(cache_concurrent_misses_mint_once)
{
    certcache *c = certcache_new(8);
    pthread_t threads[4];
    struct racer r[4];
    atomic_store(&mints, 0);
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){c, NULL, false};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, racer_run, &r[i]), 0);
    }
    int made = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_ptr_nonnull(r[i].got);
        ck_assert_ptr_eq(r[i].got, r[0].got);
        made += r[i].made;
    }
    ck_assert_int_eq(atomic_load(&mints), 1);
    ck_assert_int_eq(made, 1);
    for (int i = 0; i < 4; i++)
        X509_free(r[i].got);
    certcache_free(c);
}
END_TEST

Suite *unit_suite(void)
{
    log_configure(true, false); /* only warnings and errors */
    Suite *s = suite_create("certmint");
    TCase *tc = check_case(s, "ca", 0, CHECK_TESTS(
        ca_created_with_modes_and_fields, ca_reload_is_identical_and_untouched,
        ca_missing_key_fails, ca_missing_cert_fails, ca_mismatched_key_fails,
        ca_garbage_key_fails, ca_expired_or_not_a_dir_fails,
        ca_sign_sets_issuer_and_replaces_aki));
    tcase_add_checked_fixture(tc, ca_setup, ca_teardown);

    tc = check_case(s, "mint", 0, CHECK_TESTS(
        leaf_key_is_p256, rsa_leaf_under_an_rsa_ca, public_key_mints_the_same_leaf_cheaply,
        reread_is_the_same_certificate, mint_localhost, mint_lowercases, mint_ip_literals,
        mint_long_name_has_no_cn, mint_with_upstream_sans, mint_caps_san_count,
        mint_serials_differ, mint_refuses_uncertifiable, mint_never_outlives_ca));
    tcase_add_checked_fixture(tc, ca_setup, ca_teardown);

    tc = check_case(s, "cache", 0, CHECK_TESTS(
        cache_put_get_refcounts, cache_replace_drops_old, cache_counts_uses_and_swaps,
        cache_evicts_least_recently_used, cache_drops_near_expiry,
        cache_scales_and_zero_capacity, cache_is_thread_safe,
        cache_concurrent_misses_mint_once));
    tcase_add_checked_fixture(tc, cache_setup, ca_teardown);
    return s;
}
