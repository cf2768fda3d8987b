/* ca_priv — what the CA's two files share: ca.c (the CA users install:
 * loaded or created on disk) and ca_inter.c (the session intermediate,
 * made in memory under it). Private to these files. */
#ifndef TLSPEEK_CA_PRIV_H
#define TLSPEEK_CA_PRIV_H

#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca.h"

/* Certificates the CA makes start a little in the past, so that a client
 * whose clock lags still accepts them. */
#define CA_BACKDATE_SECONDS (2L * 24 * 3600)

struct ca {
    X509 *cert;
    EVP_PKEY *key;     /* never leaves ca.c and ca_inter.c */
    char *cert_path;   /* the root's file, for an intermediate too */
    bool intermediate; /* made by ca_new_intermediate(): sent in the chain */
};

/* Add to x the extensions of a CA certificate, built from ASN.1 objects
 * (nothing parsed): basicConstraints CA:TRUE critical with
 * pathLenConstraint pathlen (none when negative), keyUsage keyCertSign +
 * cRLSign critical, SKI. Returns 0, or -1 (OpenSSL's queue says why). */
int ca_add_ca_extensions(X509 *x, long pathlen);

#endif
