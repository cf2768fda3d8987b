/* certmint — builds the leaf certificate shown to a client for one host,
 * from that host and the upstream certificate's names, signed by the CA. */
#include "certmint.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "authority.h"
#include "log.h"
#include "sslerr.h"

/* Bounds the work an upstream certificate with thousands of SANs can
 * cause per mint; real sites stay well under it. */
#define CERTMINT_MAX_SANS 100
/* RFC 5280 ub-common-name: a longer name only goes in the SAN. */
#define CERTMINT_CN_MAX 64
/* How much of a refused name the log shows. */
#define CERTMINT_LOG_NAME_MAX 64

/* Names come from the wire: show only printable ASCII, bounded, so a
 * hostile name cannot forge log lines or flood the console. */
static void printable_name(const char *name, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; name[i] && o + 4 < size && i < CERTMINT_LOG_NAME_MAX; i++) {
        unsigned char ch = (unsigned char)name[i];
        out[o++] = (ch > 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (name[0] && strlen(name) > CERTMINT_LOG_NAME_MAX && o + 4 <= size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

EVP_PKEY *certmint_new_leaf_key(ca_key_type type)
{
    EVP_PKEY *key = type == CA_KEY_RSA2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    if (!key)
        sslerr_log("cannot generate a key for leaf certificates");
    return key;
}

/* OpenSSL calls this as the generation progresses (each prime candidate
 * of an RSA key): 0 abandons it. */
static int keygen_progress(EVP_PKEY_CTX *ctx)
{
    atomic_bool *stop = EVP_PKEY_CTX_get_app_data(ctx);
    return !atomic_load_explicit(stop, memory_order_relaxed);
}

EVP_PKEY *certmint_new_leaf_key_unless(ca_key_type type, atomic_bool *stop)
{
    bool rsa = type == CA_KEY_RSA2048;
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL);
    bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 &&
              (rsa ? EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048)
                   : EVP_PKEY_CTX_set_group_name(ctx, "P-256")) == 1;
    if (ok) {
        EVP_PKEY_CTX_set_app_data(ctx, stop);
        EVP_PKEY_CTX_set_cb(ctx, keygen_progress);
        ok = EVP_PKEY_keygen(ctx, &key) == 1;
    }
    EVP_PKEY_CTX_free(ctx);
    if (ok)
        return key;
    EVP_PKEY_free(key);
    if (atomic_load(stop))
        ERR_clear_error(); /* asked for: not a failure */
    else
        sslerr_log("cannot generate a key for leaf certificates");
    return NULL;
}

void certmint_free_key(EVP_PKEY *key)
{
    EVP_PKEY_free(key);
}

/* X509_set_pubkey() encodes a key held by a provider (every key OpenSSL 3
 * makes) through OSSL_ENCODER, then decodes the result again through
 * OSSL_DECODER, only to throw the decoded copy away: 2.4 M instructions
 * per mint, more than the ECDSA signature. A key in OpenSSL's older form,
 * with its ASN.1 method, is encoded by that method directly. So the
 * public half goes through the encoder once here, and comes back in the
 * older form through d2i_PublicKey(): an RSAPublicKey, or for EC a point
 * read onto a copy of the key's parameters (the curve). */
EVP_PKEY *certmint_public_key(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    EVP_PKEY *pub = NULL;
    int len = key ? i2d_PublicKey(key, &der) : -1;
    const unsigned char *p = der;
    if (len > 0 && EVP_PKEY_is_a(key, "RSA")) {
        pub = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);
    } else if (len > 0 && (pub = EVP_PKEY_new()) &&
               (EVP_PKEY_copy_parameters(pub, key) != 1 ||
                !d2i_PublicKey(EVP_PKEY_EC, &pub, &p, len))) {
        EVP_PKEY_free(pub);
        pub = NULL;
    }
    OPENSSL_free(der);
    /* Still correct with the key itself, only slower per mint. */
    if (!pub && key && EVP_PKEY_up_ref(key) == 1)
        pub = key;
    ERR_clear_error();
    return pub;
}

/* Copy an ASCII name lower-cased: SAN comparison is case-insensitive, so
 * one spelling per name keeps duplicate detection a byte compare.
 * Returns -1 when the name does not fit or holds a NUL. */
static int copy_lower(const unsigned char *in, size_t len, char *out, size_t size)
{
    if (len == 0 || len >= size || memchr(in, '\0', len))
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = in[i];
        out[i] = (char)((ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch);
    }
    out[len] = '\0';
    return 0;
}

static bool has_name(const GENERAL_NAMES *gens, const GENERAL_NAME *gen)
{
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++)
        if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(gens, i), (GENERAL_NAME *)gen) == 0)
            return true;
    return false;
}

/* Append a name of type GEN_DNS (IA5String) or GEN_IPADD (OCTET STRING)
 * unless it is already there or the list is full. Returns -1 only when
 * OpenSSL runs out of memory. */
static int add_name(GENERAL_NAMES *gens, int type, const void *data, int len)
{
    if (sk_GENERAL_NAME_num(gens) >= CERTMINT_MAX_SANS)
        return 0;
    GENERAL_NAME *gen = GENERAL_NAME_new();
    ASN1_STRING *value = type == GEN_DNS ? ASN1_IA5STRING_new()
                                         : ASN1_OCTET_STRING_new();
    if (!gen || !value || !ASN1_STRING_set(value, data, len)) {
        GENERAL_NAME_free(gen);
        ASN1_STRING_free(value);
        return -1;
    }
    GENERAL_NAME_set0_value(gen, type, value);
    if (has_name(gens, gen)) {
        GENERAL_NAME_free(gen);
        return 0;
    }
    if (!sk_GENERAL_NAME_push(gens, gen)) {
        GENERAL_NAME_free(gen);
        return -1;
    }
    return 0;
}

/* An upstream dNSName is kept when certifiable, or when it is "*.rest"
 * with rest certifiable and at least two labels: "*.com" would cover a
 * whole TLD. Everything else (IDN junk, spaces, NULs) is skipped. */
static bool upstream_dns_ok(const char *name)
{
    if (name[0] == '*' && name[1] == '.') {
        const char *rest = name + 2;
        return strchr(rest, '.') && authority_name_is_certifiable(rest);
    }
    return authority_name_is_certifiable(name);
}

static int add_upstream_names(GENERAL_NAMES *gens, X509 *upstream)
{
    int rc = 0;
    GENERAL_NAMES *up = X509_get_ext_d2i(upstream, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; rc == 0 && i < sk_GENERAL_NAME_num(up); i++) {
        if (sk_GENERAL_NAME_num(gens) >= CERTMINT_MAX_SANS)
            break;
        const GENERAL_NAME *gen = sk_GENERAL_NAME_value(up, i);
        if (gen->type == GEN_DNS) {
            char name[AUTHORITY_HOST_MAX];
            const ASN1_IA5STRING *s = gen->d.dNSName;
            if (copy_lower(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s),
                           name, sizeof name) == 0 && upstream_dns_ok(name))
                rc = add_name(gens, GEN_DNS, name, (int)strlen(name));
        } else if (gen->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *s = gen->d.iPAddress;
            int len = ASN1_STRING_length(s);
            if (len == 4 || len == 16)
                rc = add_name(gens, GEN_IPADD, ASN1_STRING_get0_data(s), len);
        }
    }
    GENERAL_NAMES_free(up);
    /* A malformed SAN extension upstream is not our failure. */
    ERR_clear_error();
    return rc;
}

/* The host's own name first (clients match it), as iPAddress for IP
 * literals. name is lower-cased already. Returns 1 when it is not
 * certifiable, -1 on OpenSSL failure, 0 when added. */
static int add_host_name(GENERAL_NAMES *gens, const char *name)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) == 1)
        return add_name(gens, GEN_IPADD, ip, 4);
    if (inet_pton(AF_INET6, name, ip) == 1)
        return add_name(gens, GEN_IPADD, ip, 16);
    if (!authority_name_is_certifiable(name))
        return 1;
    return add_name(gens, GEN_DNS, name, (int)strlen(name));
}

/* Backdated for clients with slow clocks; never past the CA's own end,
 * which verifiers would reject or at least warn about. */
static int set_validity(X509 *leaf, const ASN1_TIME *ca_end, time_t now)
{
    time_t end = now + CERTMINT_VALID_SECONDS;
    if (!X509_time_adj_ex(X509_getm_notBefore(leaf), 0,
                          -CERTMINT_BACKDATE_SECONDS, &now))
        return -1;
    if (X509_cmp_time(ca_end, &end) < 0)
        return X509_set1_notAfter(leaf, ca_end) ? 0 : -1;
    return X509_time_adj_ex(X509_getm_notAfter(leaf), 0, CERTMINT_VALID_SECONDS,
                            &now) ? 0 : -1;
}

/* Everything but the AKI, which ca_sign() adds: built from ASN.1 objects
 * so that no wire byte is ever parsed as configuration. The SAN is
 * critical when the subject is empty (RFC 5280 4.2.1.6). */
static int add_leaf_extensions(X509 *leaf, GENERAL_NAMES *gens, int san_critical,
                               bool rsa)
{
    int rc = -1;
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    if (!bc || !ku || !eku)
        goto cleanup;
    bc->ca = 0; /* CA:FALSE, encoded as an empty SEQUENCE */
    if (X509_add1_ext_i2d(leaf, NID_basic_constraints, bc, 0, X509V3_ADD_REPLACE) != 1)
        goto cleanup;
    /* digitalSignature (bit 0) is all an ECDHE server needs; an RSA key
     * also allows keyEncipherment (bit 2) for clients still using RSA key
     * exchange, which some (not OpenSSL) refuse without it. */
    if (!ASN1_BIT_STRING_set_bit(ku, 0, 1) || (rsa && !ASN1_BIT_STRING_set_bit(ku, 2, 1)) ||
        X509_add1_ext_i2d(leaf, NID_key_usage, ku, 1, X509V3_ADD_REPLACE) != 1)
        goto cleanup;
    if (!sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) ||
        X509_add1_ext_i2d(leaf, NID_ext_key_usage, eku, 0, X509V3_ADD_REPLACE) != 1)
        goto cleanup;
    if (X509_add1_ext_i2d(leaf, NID_subject_alt_name, gens, san_critical,
                          X509V3_ADD_REPLACE) != 1)
        goto cleanup;
    rc = ca_add_subject_key_id(leaf);
cleanup:
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    EXTENDED_KEY_USAGE_free(eku);
    return rc;
}

/* Subject CN = the host when it fits; otherwise an empty subject and the
 * SAN carries the name alone. Returns 1 when a CN was set. */
static int set_subject(X509 *leaf, const char *host)
{
    if (strlen(host) >= CERTMINT_CN_MAX)
        return 0;
    X509_NAME *name = X509_get_subject_name(leaf);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)host, -1, -1, 0))
        return -1;
    return 1;
}

/* Everything after the names: returns the signed leaf, or NULL with the
 * reason in the OpenSSL error queue. */
static X509 *build_leaf(const ca *issuer, EVP_PKEY *leaf_key, const char *name,
                        GENERAL_NAMES *gens, time_t now)
{
    X509 *leaf = X509_new();
    int has_cn = 0;
    if (!leaf || !X509_set_version(leaf, X509_VERSION_3) ||
        ca_set_random_serial(leaf) != 0 || !X509_set_pubkey(leaf, leaf_key) ||
        (has_cn = set_subject(leaf, name)) < 0 ||
        set_validity(leaf, X509_get0_notAfter(ca_get0_cert(issuer)), now) != 0 ||
        add_leaf_extensions(leaf, gens, !has_cn,
                            EVP_PKEY_get_base_id(leaf_key) == EVP_PKEY_RSA) != 0 ||
        ca_sign(issuer, leaf) != 0)
        goto fail;
    return leaf;
fail:
    X509_free(leaf);
    return NULL;
}

X509 *certmint_leaf(const ca *issuer, EVP_PKEY *leaf_key, const char *host,
                    X509 *upstream)
{
    X509 *leaf = NULL;
    GENERAL_NAMES *gens = NULL;
    char name[AUTHORITY_HOST_MAX];
    char shown[CERTMINT_LOG_NAME_MAX + 8];
    time_t now = time(NULL);
    if (!issuer || !leaf_key || !host) {
        log_error("certmint_leaf: missing CA, key or host");
        return NULL;
    }
    printable_name(host, shown, sizeof shown);
    /* ca_load_or_create() refuses an expired CA; this catches one that
     * expired while we run, rather than minting leaves nobody accepts. */
    if (X509_cmp_time(X509_get0_notAfter(ca_get0_cert(issuer)), &now) <= 0) {
        log_error("cannot mint a certificate for %s: the CA certificate %s "
                  "has expired", shown, ca_get0_cert_path(issuer));
        goto cleanup;
    }
    int added = -1;
    if ((gens = sk_GENERAL_NAME_new_null()))
        added = copy_lower((const unsigned char *)host, strlen(host), name,
                           sizeof name) == 0 ? add_host_name(gens, name) : 1;
    if (added > 0) {
        log_warn("not minting a certificate for \"%s\": not a valid host name",
                 shown);
        goto cleanup;
    }
    if (added < 0 || (upstream && add_upstream_names(gens, upstream) != 0) ||
        !(leaf = build_leaf(issuer, leaf_key, name, gens, now)))
        sslerr_log("cannot mint a certificate for %s", shown);
cleanup:
    GENERAL_NAMES_free(gens);
    return leaf;
}

X509 *certmint_reread(X509 *leaf)
{
    unsigned char *der = NULL;
    int len = i2d_X509(leaf, &der);
    const unsigned char *p = der;
    X509 *copy = len > 0 ? d2i_X509(NULL, &p, len) : NULL;
    OPENSSL_free(der);
    if (!copy)
        sslerr_log("cannot read back a minted certificate");
    return copy;
}
