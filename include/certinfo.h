/* certinfo — a certificate described in plain values (text, bytes) for
 * the modules above the crypto layer: the onboarding page, `tlspeek ca`
 * and the trust stores show, export and name the CA without OpenSSL. */
#ifndef TLSPEEK_CERTINFO_H
#define TLSPEEK_CERTINFO_H

#include <stddef.h>

#include "tls_types.h"

/* "AB:CD:..." (upper-case hex, colon-separated, as `openssl x509
 * -fingerprint -sha256` prints it) needs this many bytes with its NUL. */
#define CERTINFO_FINGERPRINT_SIZE 96

/* Enough for any subject or time text below; longer ones are cut. */
#define CERTINFO_TEXT_SIZE 512

typedef enum {
    CERTINFO_PEM, /* "-----BEGIN CERTIFICATE-----" text */
    CERTINFO_DER  /* the bytes themselves */
} certinfo_format;

/* The SHA-256 fingerprint of x's DER into out (at least
 * CERTINFO_FINGERPRINT_SIZE bytes), formatted as said above. 0 or -1. */
int certinfo_fingerprint_sha256(const tls_cert *x, char *out, size_t size);

/* x's subject as `openssl x509 -subject` prints it ("CN = a, O = b"),
 * UTF-8 left as is, cut to fit out. Raw text from whoever made the
 * certificate: escape it for HTML and the like. 0 or -1. */
int certinfo_subject(const tls_cert *x, char *out, size_t size);

/* The first commonName of x's subject, in UTF-8, cut to fit out. -1 when
 * the subject has none. */
int certinfo_common_name(const tls_cert *x, char *out, size_t size);

/* notBefore and notAfter as `openssl x509 -dates` prints them
 * ("Jan  2 03:04:05 2026 GMT"), each into a buffer of size bytes. 0/-1. */
int certinfo_validity(const tls_cert *x, char *not_before, char *not_after,
                      size_t size);

/* x encoded as format into a new buffer: *out (caller free()s) of *len
 * bytes. 0, or -1 (out of memory) with *out NULL. */
int certinfo_encode(const tls_cert *x, certinfo_format format, unsigned char **out,
                    size_t *len);

/* The first certificate of a PEM file, or NULL (nothing logged: the
 * caller says what the file was for). Free with certinfo_free_cert(). */
tls_cert *certinfo_read_pem_file(const char *path);
void certinfo_free_cert(tls_cert *x);

#endif
