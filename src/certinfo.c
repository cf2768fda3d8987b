/* certinfo — fingerprints, names, dates and encodings of a certificate.
 * See include/certinfo.h. */
#include "certinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

int certinfo_fingerprint_sha256(const X509 *x, char *out, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (size < CERTINFO_FINGERPRINT_SIZE || !X509_digest(x, EVP_sha256(), md, &len) ||
        len * 3 > size)
        return -1;
    char *p = out;
    for (unsigned int i = 0; i < len; i++)
        p += sprintf(p, "%s%02X", i ? ":" : "", md[i]);
    return 0;
}

/* What a memory BIO holds, as a NUL-terminated text cut to fit out. */
static int take_text(BIO *mem, char *out, size_t size)
{
    char *data = NULL;
    long len = BIO_get_mem_data(mem, &data);
    if (len < 0 || size == 0)
        return -1;
    size_t n = (size_t)len < size - 1 ? (size_t)len : size - 1;
    memcpy(out, data, n);
    out[n] = '\0';
    return 0;
}

int certinfo_subject(const X509 *x, char *out, size_t size)
{
    /* The same flags `openssl x509 -subject` uses, but UTF-8 kept. */
    unsigned long flags = (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) |
                          ASN1_STRFLGS_UTF8_CONVERT;
    BIO *mem = BIO_new(BIO_s_mem());
    int rc = mem && X509_NAME_print_ex(mem, X509_get_subject_name(x), 0, flags) >= 0
                 ? take_text(mem, out, size)
                 : -1;
    BIO_free(mem);
    ERR_clear_error();
    return rc;
}

int certinfo_common_name(const X509 *x, char *out, size_t size)
{
    const X509_NAME *subject = X509_get_subject_name(x);
    int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    int len = i >= 0 ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
                                                      X509_NAME_get_entry(subject, i)))
                     : -1;
    if (len >= 0 && size > 0)
        snprintf(out, size, "%.*s", len, (const char *)utf8);
    OPENSSL_free(utf8);
    ERR_clear_error();
    return len >= 0 && size > 0 ? 0 : -1;
}

static int print_time(const ASN1_TIME *t, char *out, size_t size)
{
    BIO *mem = BIO_new(BIO_s_mem());
    int rc = mem && ASN1_TIME_print(mem, t) == 1 ? take_text(mem, out, size) : -1;
    BIO_free(mem);
    ERR_clear_error();
    return rc;
}

int certinfo_validity(const X509 *x, char *not_before, char *not_after, size_t size)
{
    return print_time(X509_get0_notBefore(x), not_before, size) == 0 &&
                   print_time(X509_get0_notAfter(x), not_after, size) == 0
               ? 0
               : -1;
}

int certinfo_encode(const X509 *x, certinfo_format format, unsigned char **out,
                    size_t *len)
{
    /* One path for both: OpenSSL writes either encoding into a memory
     * BIO, whose bytes are then copied into a plain malloc()ed buffer. */
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    *out = NULL;
    *len = 0;
    if (mem && (format == CERTINFO_DER ? i2d_X509_bio(mem, x)
                                       : PEM_write_bio_X509(mem, x)) == 1)
        n = BIO_get_mem_data(mem, &data);
    if (n > 0 && (*out = malloc((size_t)n))) {
        memcpy(*out, data, (size_t)n);
        *len = (size_t)n;
    }
    BIO_free(mem);
    ERR_clear_error();
    return *out ? 0 : -1;
}

X509 *certinfo_read_pem_file(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    return x;
}

void certinfo_free_cert(X509 *x)
{
    X509_free(x);
}
