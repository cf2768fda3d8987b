/* ca — the local certificate authority: load it from a directory or
 * create it there on first use, and sign leaves with it.
 *
 * The only holder of the CA private key: nothing outside ca.c ever sees
 * it; leaves are signed through ca_sign(). */
#ifndef TLSPEEK_CA_H
#define TLSPEEK_CA_H

#include <openssl/x509.h>

typedef struct ca ca;

#define CA_CERT_FILE "ca.pem"
#define CA_KEY_FILE "ca.key"

/* Load dir/ca.pem and dir/ca.key, or, when neither exists, create dir
 * (mode 0700, parents too) and a new CA there: EC P-256 key written 0600,
 * self-signed certificate valid 10 years, subject
 * "CN=tlspeek CA <hostname> <YYYY-MM-DD>, O=tlspeek", basicConstraints
 * CA:TRUE critical, keyUsage keyCertSign+cRLSign critical, SKI.
 * On failure logs one plain-words error (which file, what is wrong) and
 * returns NULL. The caller owns the result: ca_free(). */
ca *ca_load_or_create(const char *dir);
void ca_free(ca *c);

/* Borrowed: the CA certificate, and the path of its PEM file. */
X509 *ca_get0_cert(const ca *c);
const char *ca_get0_cert_path(const ca *c);

/* Set leaf's issuer to the CA's subject, add an authorityKeyIdentifier
 * equal to the CA's SKI (keyid only) and sign it with SHA-256.
 * Returns 0, or -1 (OpenSSL error queue holds why). */
int ca_sign(const ca *c, X509 *leaf);

/* Give x a random positive serial of 128 bits (top bit clear, so DER
 * needs no sign byte; never zero): unique issuer+serial for every
 * certificate, as Firefox requires. Returns 0 or -1. */
int ca_set_random_serial(X509 *x);

#endif
