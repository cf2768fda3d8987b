/* trust_store — add the CA certificate to, and remove it from, the places
 * a Linux desktop trusts: the NSS databases of Chromium (~/.pki/nssdb) and
 * of Firefox profiles, through `certutil` (libnss3-tools), and the system
 * store (/usr/local/share/ca-certificates + update-ca-certificates).
 *
 * External programs run with an argv array (never a shell); a failing
 * one's output is shown. Each thing done is one line on the out stream;
 * what is missing or failed is one line on stderr. The certificate's
 * names and bytes come from certinfo: no OpenSSL here. */
#ifndef TLSPEEK_TRUST_STORE_H
#define TLSPEEK_TRUST_STORE_H

#include <stdbool.h>
#include <stdio.h>

#include "tls_types.h"

#define TRUST_MAX_NSSDB 16
#define TRUST_SYSTEM_DIR "/usr/local/share/ca-certificates"

typedef struct {
    /* NSS database directories to use instead of the browsers' own
     * (Chromium's ~/.pki/nssdb, Firefox profiles with a cert9.db). */
    const char *nssdb[TRUST_MAX_NSSDB];
    int n_nssdb;
    /* The system store directory; NULL means TRUST_SYSTEM_DIR, which alone
     * is refreshed with update-ca-certificates and needs root. */
    const char *system_dir;
    bool no_system;     /* leave the system store alone */
    const char *ca_dir; /* only for hints such as "sudo tlspeek ca install --ca-dir ..." */
} trust_options;

/* Trust cert (whose PEM file is cert_path) everywhere opts says. Returns 0
 * when at least one place now trusts it, -1 when nothing could be done. */
int trust_install(const tls_cert *cert, const char *cert_path, const trust_options *opts,
                  FILE *out);

/* Remove what trust_install() added for cert: its NSS nickname and its
 * system store file. Returns -1 when something failed and nothing was
 * removed, else 0 (also when it was installed nowhere). */
int trust_uninstall(const tls_cert *cert, const trust_options *opts, FILE *out);

#endif
