/* ca — the local certificate authority: load it from a directory or
 * create it there on first use, move it aside for a new one, and sign
 * leaves with it, or with a session intermediate made under it in memory
 * (ca_new_intermediate) when its own key is slow to sign with.
 *
 * The only holder of the CA private keys: nothing outside ca.c and
 * ca_inter.c ever sees them; leaves are signed through ca_sign(). */
#ifndef TLSPEEK_CA_H
#define TLSPEEK_CA_H

#include "tls_types.h"

typedef struct ca ca;

#define CA_CERT_FILE "ca.pem"
#define CA_KEY_FILE "ca.key"

/* The key a new CA gets. EC P-256 is the default: small, fast, accepted
 * everywhere; RSA 2048 is for clients that still cannot verify ECDSA. */
typedef enum {
    CA_KEY_EC_P256,
    CA_KEY_RSA2048
} ca_key_type;

/* The names ca_key_type_parse() accepts, for usage texts. */
#define CA_KEY_TYPE_NAMES "ec-p256, rsa2048"

/* "ec-p256" (or "ec") or "rsa2048" into *out: 0, or -1 for any other
 * name. */
int ca_key_type_parse(const char *name, ca_key_type *out);

/* Load dir/ca.pem and dir/ca.key, or, when neither exists, create dir
 * (mode 0700, parents too) and a new CA there: EC P-256 key (or the type
 * given to ca_load_or_create_with()) written 0600,
 * self-signed certificate valid 10 years, subject
 * "CN=tlspeek CA <hostname> <YYYY-MM-DD>, O=tlspeek", basicConstraints
 * CA:TRUE critical, keyUsage keyCertSign+cRLSign critical, SKI.
 * Processes starting at once on one directory agree: the directory is
 * locked while the CA is looked for and made, and the files appear
 * complete (written under temporary names, then linked), so one process
 * creates the CA and the others load it.
 * On failure logs one plain-words error (which file, what is wrong) and
 * returns NULL. The caller owns the result: ca_free(). */
ca *ca_load_or_create(const char *dir);
/* The same, with the key type of a CA created now; an existing CA is
 * loaded whatever its key. ca_load_or_create(dir) is
 * ca_load_or_create_with(dir, CA_KEY_EC_P256). */
ca *ca_load_or_create_with(const char *dir, ca_key_type type);
void ca_free(ca *c);

/* Move dir/ca.pem and dir/ca.key aside, to dir/ca-YYYYMMDD-HHMMSS.pem and
 * .key (a "-N" suffix when those exist), so that the next
 * ca_load_or_create_with() makes a new CA. The backups keep the files'
 * modes (the key stays 0600) and never overwrite anything. *cert_backup
 * and *key_backup get the new paths (caller frees), or NULL for a file
 * that did not exist. Returns 0, or -1 after logging why. */
int ca_backup_files(const char *dir, char **cert_backup, char **key_backup);

/* The kind of the CA's own key: CA_KEY_RSA2048 for any RSA key (a CA the
 * user brought may have another size), else CA_KEY_EC_P256. Leaves are
 * given the same kind by default. */
ca_key_type ca_get_key_type(const ca *c);

/* Borrowed: the CA certificate, and the path of its PEM file. */
tls_cert *ca_get0_cert(const ca *c);
const char *ca_get0_cert_path(const ca *c);

/* Why leaves should be signed by root itself rather than by a session
 * intermediate: a static reason for the console, or NULL when an
 * intermediate is allowed and saves work: root's key is RSA (an RSA
 * signature costs about 13 ECDSA P-256 ones), root is self-signed (no
 * issuer above it whose limits are unknown), its pathLenConstraint is
 * absent or above 0, and it has no directoryName name constraints (which
 * the intermediate's subject would have to honour). */
const char *ca_direct_signing_reason(const ca *root);

/* A new session intermediate under root (which must outlive it): an EC
 * P-256 key made now and kept in memory only, and a certificate signed by
 * root with SHA-256: subject = root's subject with CN "<root's CN>
 * (tlspeek session intermediate)", random serial, valid from 2 days ago
 * (not before root) until root's notAfter, basicConstraints CA:TRUE
 * pathLenConstraint 0 critical, keyUsage keyCertSign + cRLSign critical,
 * SKI, AKI = root's SKI. ca_sign() with it signs leaves;
 * ca_get0_cert_path() is root's file; ca_get0_chain_cert() is its
 * certificate. NULL after logging. Free with ca_free(). */
ca *ca_new_intermediate(const ca *root);

/* Borrowed: the certificate a server sends after a leaf c signed, so that
 * clients holding only the root can build the path: an intermediate's own
 * certificate, or NULL for a root (clients have it already). */
tls_cert *ca_get0_chain_cert(const ca *c);

/* Set leaf's issuer to the CA's subject, add an authorityKeyIdentifier
 * equal to the CA's SKI (keyid only) and sign it with SHA-256.
 * Returns 0, or -1 (OpenSSL error queue holds why). */
int ca_sign(const ca *c, tls_cert *leaf);

/* Give x a random positive serial of 128 bits (top bit clear, so DER
 * needs no sign byte; never zero): unique issuer+serial for every
 * certificate, as Firefox requires. Returns 0 or -1. */
int ca_set_random_serial(tls_cert *x);

/* Add a subjectKeyIdentifier to x: RFC 5280 method 1, the SHA-1 of the
 * subjectPublicKey bits (x's public key must be set). Returns 0 or -1. */
int ca_add_subject_key_id(tls_cert *x);

#endif
