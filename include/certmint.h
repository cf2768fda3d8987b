/* certmint — build the leaf certificate a client sees for one host.
 *
 * Names from the wire are hostile: SANs are built as GENERAL_NAMEs, and a
 * name goes into a certificate only when authority_name_is_certifiable(). */
#ifndef TLSPEEK_CERTMINT_H
#define TLSPEEK_CERTMINT_H

#include <stdatomic.h>

#include "ca.h"
#include "tls_types.h"

/* Leaf validity: starts 2 days in the past (clock skew), lasts 199 days
 * from now (under every browser's limit), never past the CA's notAfter. */
#define CERTMINT_BACKDATE_SECONDS (2L * 24 * 3600)
#define CERTMINT_VALID_SECONDS (199L * 24 * 3600)

/* A new key for leaves, one per run and shared by all leaves: EC P-256,
 * or RSA 2048 for clients that accept only RSA signatures (generating it
 * takes tens of milliseconds more, once). Returns NULL on failure
 * (logged). Free with certmint_free_key(). */
tls_key *certmint_new_leaf_key(ca_key_type type);
/* The same, made step by step so that another thread can abandon it
 * by setting *stop (the RSA key made in the background, when tlspeek
 * stops before it is done): NULL then, not logged. */
tls_key *certmint_new_leaf_key_unless(ca_key_type type, atomic_bool *stop);
void certmint_free_key(tls_key *key);

/* The public half of key in the form certmint_leaf() encodes cheaply
 * (see certmint.c: X509_set_pubkey() costs a hundredth of what it costs
 * with the key itself). Make it once per key and share it between
 * threads: OpenSSL locks what it caches in it. Falls back to a new
 * reference to key itself; NULL only when key is NULL or broken. Free
 * with certmint_free_key(). */
tls_key *certmint_public_key(tls_key *key);

/* Mint a leaf for host (a DNS name, or an IPv4/IPv6 literal without
 * brackets) with the public key of leaf_key (the key pair, or cheaper,
 * its certmint_public_key()), signed by ca:
 *  - SAN: host (dNSName, or iPAddress for literals) first, then the
 *    upstream certificate's dNSName (certifiable ones, "*.x" wildcards
 *    allowed) and iPAddress SANs, when upstream is not NULL; duplicates
 *    dropped;
 *  - subject CN = first name, only when shorter than 64 characters;
 *  - random positive 128-bit serial; validity as above;
 *  - basicConstraints CA:FALSE, keyUsage digitalSignature (critical;
 *    keyEncipherment too on an RSA key),
 *    extendedKeyUsage serverAuth, SKI of leaf_key, AKI = CA's SKI.
 * Returns a new certificate (caller frees), or NULL when host is not
 * certifiable or OpenSSL fails (logged once). */
tls_cert *certmint_leaf(const ca *ca, tls_key *leaf_key, const char *host,
                        tls_cert *upstream);

/* A copy of a minted leaf read back from its DER, for leaves served many
 * times. OpenSSL keeps the encoding of a certificate it reads and writes
 * it out by copying; one it built field by field, as certmint_leaf()
 * does, it encodes again every time, and a server writes its certificate
 * twice per handshake (length, then bytes: 68 K instructions). Reading
 * back costs 1.6 M once (OpenSSL 3.0 decodes the public key through
 * OSSL_DECODER). NULL on failure (logged). */
tls_cert *certmint_reread(tls_cert *leaf);

#endif
