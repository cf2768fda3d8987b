/* ca_inter — the session intermediate: an EC P-256 key and a CA
 * certificate made in memory at start-up, signed once by the CA users
 * installed, so that the leaves for never-seen hosts cost an ECDSA
 * signature instead of an RSA one. The root users trust is unchanged;
 * the intermediate allows no CA below it, never outlives the root, and its
 * key is never written anywhere: each run makes a new one. */
#include "ca.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca_priv.h"
#include "sslerr.h"

/* RFC 5280 ub-common-name, in characters: OpenSSL refuses a longer CN. */
#define INTER_CN_MAX 64
#define INTER_CN_SUFFIX " (tlspeek session intermediate)"
/* The root's CN is cut to what leaves room for the suffix. */
#define INTER_ROOT_CN_MAX (INTER_CN_MAX - (int)(sizeof INTER_CN_SUFFIX - 1))

/* Does the name constraint list hold a directoryName subtree? The
 * intermediate's subject would have to fall within (or outside) it, which
 * a subject derived from the root's cannot promise. */
static bool has_dirname(const STACK_OF(GENERAL_SUBTREE) *subtrees)
{
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(subtrees); i++)
        if (sk_GENERAL_SUBTREE_value(subtrees, i)->base->type == GEN_DIRNAME)
            return true;
    return false;
}

const char *ca_direct_signing_reason(const ca *root)
{
    if (!EVP_PKEY_is_a(root->key, "RSA") && !EVP_PKEY_is_a(root->key, "RSA-PSS"))
        return "the CA's key is not RSA, so signing with it is fast already";
    /* Only a root: a CA with an issuer above it may sit under limits
     * (that issuer's pathLenConstraint) this process cannot see. */
    if (!(X509_get_extension_flags(root->cert) & EXFLAG_SS))
        return "the CA is not self-signed, and its issuer may forbid another level";
    if (X509_get_pathlen(root->cert) == 0)
        return "the CA forbids intermediates (pathLenConstraint 0)";
    int crit = 0;
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(root->cert, NID_name_constraints, &crit, NULL);
    bool dirname = nc ? has_dirname(nc->permittedSubtrees) ||
                            has_dirname(nc->excludedSubtrees)
                      : crit != -1; /* present but unreadable: play safe */
    NAME_CONSTRAINTS_free(nc);
    ERR_clear_error();
    if (dirname)
        return "the CA constrains directory names, which an intermediate's "
               "subject must honour";
    return NULL;
}

/* Keep the first `chars` characters (not bytes) of UTF-8 text s. */
static void cut_utf8(char *s, int chars)
{
    int n = 0;
    for (char *p = s; *p; p++) {
        if (((unsigned char)*p & 0xc0) != 0x80 && n++ == chars) {
            *p = '\0';
            return;
        }
    }
}

/* "<the root's CN> (tlspeek session intermediate)", the root's CN cut so
 * the whole fits: a browser's certificate viewer shows what it is and
 * under which CA. Returns 0 or -1. */
static int add_common_name(X509_NAME *name, const X509_NAME_ENTRY *root_cn)
{
    unsigned char *utf8 = NULL;
    int len = root_cn ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(root_cn)) : 0;
    if (len < 0)
        return -1;
    char cn[4 * INTER_CN_MAX + 1];
    snprintf(cn, sizeof cn, "%.*s", len, utf8 ? (const char *)utf8 : "");
    OPENSSL_free(utf8);
    cut_utf8(cn, INTER_ROOT_CN_MAX);
    size_t used = strlen(cn);
    if (used)
        snprintf(cn + used, sizeof cn - used, "%s", INTER_CN_SUFFIX);
    else
        snprintf(cn, sizeof cn, "tlspeek session intermediate");
    return X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                      (const unsigned char *)cn, -1, -1, 0)
               ? 0
               : -1;
}

/* The root's subject with its (first) CN replaced, or one added. */
static X509_NAME *make_subject(const X509_NAME *root)
{
    X509_NAME *name = X509_NAME_new();
    bool have_cn = false;
    if (!name)
        return NULL;
    for (int i = 0; i < X509_NAME_entry_count(root); i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(root, i);
        bool is_cn = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) == NID_commonName;
        if (is_cn && have_cn)
            continue;
        if (is_cn ? add_common_name(name, e) != 0
                  : !X509_NAME_add_entry(name, e, -1, 0))
            goto fail;
        have_cn = have_cn || is_cn;
    }
    if (!have_cn && add_common_name(name, NULL) != 0)
        goto fail;
    return name;
fail:
    X509_NAME_free(name);
    return NULL;
}

/* Backdated like leaves (clients whose clocks lag), but not before the
 * root began; ends with the root, so the leaves under it (clamped to
 * their issuer's end) never outlive either. */
static int set_validity(X509 *x, const X509 *root)
{
    time_t now = time(NULL);
    time_t start = now - CA_BACKDATE_SECONDS;
    const ASN1_TIME *root_start = X509_get0_notBefore(root);
    if (X509_cmp_time(root_start, &start) > 0 ? !X509_set1_notBefore(x, root_start)
                                              : !X509_time_adj_ex(X509_getm_notBefore(x),
                                                                  0, 0, &start))
        return -1;
    return X509_set1_notAfter(x, X509_get0_notAfter(root)) ? 0 : -1;
}

static X509 *make_cert(const ca *root, EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *subject = make_subject(X509_get_subject_name(root->cert));
    /* pathLenConstraint 0: only leaves below it. ca_sign() adds the
     * issuer, the AKI (the root's SKI) and the root's signature. */
    if (!x || !subject || !X509_set_version(x, X509_VERSION_3) ||
        ca_set_random_serial(x) != 0 || !X509_set_subject_name(x, subject) ||
        set_validity(x, root->cert) != 0 || !X509_set_pubkey(x, key) ||
        ca_add_ca_extensions(x, 0) != 0 || ca_sign(root, x) != 0) {
        X509_free(x);
        x = NULL;
    }
    X509_NAME_free(subject);
    return x;
}

/* x as if read from its DER: OpenSSL keeps the encoding of a parsed
 * certificate and copies it out, but encodes one built in memory again on
 * every i2d_X509(), which each handshake that sends it does (about 34 K
 * instructions). Takes x; NULL on failure. */
static X509 *reparsed(X509 *x)
{
    unsigned char *der = NULL;
    int len = x ? i2d_X509(x, &der) : -1;
    const unsigned char *p = der;
    X509 *parsed = len > 0 ? d2i_X509(NULL, &p, len) : NULL;
    OPENSSL_free(der);
    X509_free(x);
    return parsed;
}

ca *ca_new_intermediate(const ca *root)
{
    ca *c = calloc(1, sizeof *c);
    if (!c || !(c->cert_path = strdup(root->cert_path)) ||
        !(c->key = EVP_EC_gen("P-256")) || !(c->cert = reparsed(make_cert(root, c->key)))) {
        sslerr_log("cannot make the session intermediate under %s", root->cert_path);
        ca_free(c);
        return NULL;
    }
    c->intermediate = true;
    return c;
}

X509 *ca_get0_chain_cert(const ca *c)
{
    return c->intermediate ? c->cert : NULL;
}
