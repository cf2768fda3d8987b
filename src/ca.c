/* ca — loads the local certificate authority from its directory, or creates
 * it there on first use (EC P-256 or RSA 2048), moves it aside for
 * `tlspeek ca regenerate`, and signs leaves with its private key. The
 * session intermediate made under it is in ca_inter.c. */
#include "ca.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca_priv.h"
#include "files.h"
#include "log.h"
#include "sslerr.h"

/* The CA lasts ten years: users install it once in their trust stores
 * and should not redo that. */
#define CA_VALID_DAYS 3652
/* RFC 5280 ub-common-name: OpenSSL refuses a longer CN. */
#define CA_CN_MAX 64
#define CA_SERIAL_BYTES 16

/* A random positive serial of at most 128 bits: never zero, top bit
 * clear so that DER never needs a sign byte. */
int ca_set_random_serial(X509 *x)
{
    unsigned char bytes[CA_SERIAL_BYTES];
    int rc = -1;
    BIGNUM *bn = NULL;
    do {
        if (RAND_bytes(bytes, sizeof bytes) != 1)
            goto cleanup;
        bytes[0] &= 0x7f;
        if (!(bn = BN_bin2bn(bytes, sizeof bytes, bn)))
            goto cleanup;
    } while (BN_is_zero(bn));
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        rc = 0;
cleanup:
    BN_free(bn);
    return rc;
}

/* "tlspeek CA <hostname> <YYYY-MM-DD>", the hostname shortened so that
 * the whole CN fits in 64 characters. Tells users which machine and day
 * a CA in their trust store came from. */
static void make_common_name(char *cn, size_t size)
{
    char host[HOST_NAME_MAX + 1] = "localhost";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    char day[16] = "0000-00-00";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(day, sizeof day, "%Y-%m-%d", &tm);
    int fixed = (int)(strlen("tlspeek CA  ") + strlen(day));
    int room = CA_CN_MAX - fixed;
    snprintf(cn, size, "tlspeek CA %.*s %s", room, host, day);
}

int ca_add_subject_key_id(X509 *x)
{
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int rc = ski && X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) &&
                     ASN1_OCTET_STRING_set(ski, md, (int)mdlen) &&
                     X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0,
                                       X509V3_ADD_REPLACE) == 1
                 ? 0
                 : -1;
    ASN1_OCTET_STRING_free(ski);
    return rc;
}

int ca_add_ca_extensions(X509 *x, long pathlen)
{
    int rc = -1;
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    if (!bc || !ku)
        goto cleanup;
    bc->ca = 0xff; /* DER TRUE */
    if (pathlen >= 0 && (!(bc->pathlen = ASN1_INTEGER_new()) ||
                         !ASN1_INTEGER_set(bc->pathlen, pathlen)))
        goto cleanup;
    if (X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_REPLACE) != 1)
        goto cleanup;
    /* Bits 5 and 6 of KeyUsage (RFC 5280 4.2.1.3). */
    if (!ASN1_BIT_STRING_set_bit(ku, 5, 1) || !ASN1_BIT_STRING_set_bit(ku, 6, 1) ||
        X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_REPLACE) != 1)
        goto cleanup;
    rc = ca_add_subject_key_id(x);
cleanup:
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    return rc;
}

static X509 *make_ca_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name = NULL;
    char cn[CA_CN_MAX + 1];
    time_t now = time(NULL);
    if (!x || !X509_set_version(x, X509_VERSION_3) || ca_set_random_serial(x) != 0)
        goto fail;
    make_common_name(cn, sizeof cn);
    name = X509_NAME_new();
    if (!name ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                    (const unsigned char *)"tlspeek", -1, -1, 0) ||
        !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name))
        goto fail;
    if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, -CA_BACKDATE_SECONDS, &now) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), CA_VALID_DAYS, 0, &now))
        goto fail;
    /* No pathLenConstraint: the session intermediate goes below it. */
    if (!X509_set_pubkey(x, key) || ca_add_ca_extensions(x, -1) != 0 ||
        !X509_sign(x, key, EVP_sha256()))
        goto fail;
    X509_NAME_free(name);
    return x;
fail:
    X509_NAME_free(name);
    X509_free(x);
    return NULL;
}

/* Write a PEM file to path + ".tmp" (replacing a leftover of a crash),
 * to be published by link() once complete: a reader never sees half a
 * key. Returns the temporary path (caller frees), or NULL after logging. */
static char *write_temp_pem(const char *path, mode_t mode, X509 *cert, EVP_PKEY *key)
{
    char *tmp = malloc(strlen(path) + sizeof ".tmp");
    if (!tmp) {
        log_error("out of memory writing %s", path);
        return NULL;
    }
    sprintf(tmp, "%s.tmp", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        log_error("cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return NULL;
    }
    BIO *bio = BIO_new_fd(fd, BIO_NOCLOSE);
    bool ok = bio && (cert ? PEM_write_bio_X509(bio, cert)
                           : PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0,
                                                      NULL, NULL));
    BIO_free(bio);
    if (!ok)
        sslerr_log("cannot write %s", tmp);
    if (ok && fsync(fd) != 0) {
        log_error("cannot write %s: %s", tmp, strerror(errno));
        ok = false;
    }
    if (close(fd) != 0 && ok) {
        log_error("cannot write %s: %s", tmp, strerror(errno));
        ok = false;
    }
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}

/* Give a finished temporary file its final name. link(), not rename():
 * it fails instead of replacing, so an existing CA is never overwritten. */
static int publish(char *tmp, const char *path)
{
    int rc = link(tmp, path);
    if (rc != 0)
        log_error("cannot create %s: %s", path, strerror(errno));
    unlink(tmp);
    free(tmp);
    return rc == 0 ? 0 : -1;
}

static int create_ca(ca *c, const char *key_path, ca_key_type type)
{
    c->key = type == CA_KEY_RSA2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    if (!c->key) {
        sslerr_log("cannot generate the key for %s", key_path);
        return -1;
    }
    c->cert = make_ca_cert(c->key);
    if (!c->cert) {
        sslerr_log("cannot build the CA certificate %s", c->cert_path);
        return -1;
    }
    char *key_tmp = write_temp_pem(key_path, 0600, NULL, c->key);
    char *cert_tmp = key_tmp ? write_temp_pem(c->cert_path, 0644, c->cert, NULL) : NULL;
    if (!cert_tmp) {
        if (key_tmp)
            unlink(key_tmp);
        free(key_tmp);
        return -1;
    }
    /* Key first: a crash in between leaves a key without a certificate,
     * which the next start reports instead of guessing. */
    if (publish(key_tmp, key_path) != 0) {
        unlink(cert_tmp);
        free(cert_tmp);
        return -1;
    }
    if (publish(cert_tmp, c->cert_path) != 0) {
        unlink(key_path);
        return -1;
    }
    log_info("created a new CA in %s; trust it with 'tlspeek ca install', or "
             "install it in your client's trust store", c->cert_path);
    return 0;
}

/* Several tlspeek processes may start at once on a new directory: the
 * first to take this lock creates the CA, the others wait and load it.
 * flock() on the directory itself: no lock file to leave behind, and the
 * kernel drops the lock with the process. Returns the descriptor to
 * close (which unlocks), or -1 after logging. */
static int lock_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        log_error("cannot open CA directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc;
    while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        log_error("cannot lock CA directory %s: %s", dir, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Never prompt for a passphrase on the terminal: the proxy may run
 * unattended, and an encrypted key is reported instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static int check_private(const char *path, const char *wanted_mode);

static int load_ca(ca *c, const char *key_path)
{
    BIO *bio = BIO_new_file(c->cert_path, "r");
    c->cert = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    if (!c->cert) {
        sslerr_log("cannot read a PEM certificate from %s", c->cert_path);
        return -1;
    }
    bio = BIO_new_file(key_path, "r");
    c->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    if (!c->key) {
        sslerr_log("cannot read an unencrypted PEM private key from %s", key_path);
        return -1;
    }
    if (X509_check_private_key(c->cert, c->key) != 1) {
        ERR_clear_error();
        log_error("CA key %s does not match certificate %s", key_path, c->cert_path);
        return -1;
    }
    if (X509_check_ca(c->cert) == 0) {
        log_error("%s is not a CA certificate (no basicConstraints CA:TRUE)",
                  c->cert_path);
        return -1;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(c->cert)) <= 0) {
        log_error("CA certificate %s has expired; remove it and %s to create "
                  "a new CA", c->cert_path, key_path);
        return -1;
    }
    return check_private(key_path, "600");
}

/* The CA key signs certificates every client trusts: a key or directory
 * that others can read or write is refused, with the command that fixes
 * it, rather than used. */
static int check_private(const char *path, const char *wanted_mode)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        log_error("cannot access %s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_mode & 077) {
        log_error("%s is open to other users (mode %03o); the CA key must be "
                  "private: run chmod %s %s", path, (unsigned)(st.st_mode & 0777),
                  wanted_mode, path);
        return -1;
    }
    return 0;
}

int ca_key_type_parse(const char *name, ca_key_type *out)
{
    if (strcmp(name, "ec-p256") == 0 || strcmp(name, "ec") == 0)
        *out = CA_KEY_EC_P256;
    else if (strcmp(name, "rsa2048") == 0)
        *out = CA_KEY_RSA2048;
    else
        return -1;
    return 0;
}

ca *ca_load_or_create(const char *dir)
{
    return ca_load_or_create_with(dir, CA_KEY_EC_P256);
}

ca *ca_load_or_create_with(const char *dir, ca_key_type type)
{
    ca *c = NULL;
    char *key_path = NULL;
    if (!dir || !*dir) {
        log_error("no CA directory given");
        return NULL;
    }
    if (files_make_dirs(dir, 0700) != 0 || check_private(dir, "700") != 0)
        return NULL;
    int lock = lock_dir(dir);
    if (lock < 0)
        return NULL;
    c = calloc(1, sizeof *c);
    if (!c || !(c->cert_path = files_join(dir, CA_CERT_FILE)) ||
        !(key_path = files_join(dir, CA_KEY_FILE))) {
        log_error("out of memory loading the CA from %s", dir);
        goto fail;
    }
    int have_cert = files_exists(c->cert_path, NULL);
    int have_key = files_exists(key_path, NULL);
    if (have_cert < 0 || have_key < 0)
        goto fail;
    if (have_cert != have_key) {
        log_error("%s is missing but %s exists; restore it, or remove both "
                  "to create a new CA", have_cert ? key_path : c->cert_path,
                  have_cert ? c->cert_path : key_path);
        goto fail;
    }
    if ((have_cert ? load_ca(c, key_path) : create_ca(c, key_path, type)) != 0)
        goto fail;
    free(key_path);
    close(lock);
    return c;
fail:
    free(key_path);
    ca_free(c);
    close(lock);
    return NULL;
}

/* Hard-link each existing file to its backup name: link() fails with
 * EEXIST instead of replacing, so an older backup is never lost, and the
 * CA stays untouched until both links exist. to[i] stays NULL for a file
 * that does not exist. */
static int link_backups(char *const from[2], const int have[2], const char *dir,
                        char *to[2])
{
    static const char *const ext[2] = {".pem", ".key"};
    char stamp[32] = "00000000-000000";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    for (int attempt = 0; attempt < 100; attempt++) {
        char suffix[16] = "";
        if (attempt)
            snprintf(suffix, sizeof suffix, "-%d", attempt);
        int i = 0, err = 0;
        for (; i < 2; i++) {
            if (!have[i])
                continue;
            char name[64];
            snprintf(name, sizeof name, "ca-%s%s%s", stamp, suffix, ext[i]);
            if (!(to[i] = files_join(dir, name))) {
                err = ENOMEM;
                break;
            }
            if (link(from[i], to[i]) != 0) {
                err = errno;
                free(to[i]);
                to[i] = NULL;
                break;
            }
        }
        if (i == 2)
            return 0;
        for (int j = 0; j < i; j++) {
            if (to[j])
                unlink(to[j]);
            free(to[j]);
            to[j] = NULL;
        }
        if (err != EEXIST) {
            log_error("cannot back up %s: %s", from[i], strerror(err));
            return -1;
        }
    }
    log_error("cannot back up the CA in %s: too many backups from this second", dir);
    return -1;
}

int ca_backup_files(const char *dir, char **cert_backup, char **key_backup)
{
    int rc = -1;
    char *from[2] = {files_join(dir, CA_CERT_FILE), files_join(dir, CA_KEY_FILE)};
    char *to[2] = {NULL, NULL};
    int have[2] = {0, 0};
    int lock = -1;
    *cert_backup = *key_backup = NULL;
    if (!from[0] || !from[1]) {
        log_error("out of memory backing up the CA in %s", dir);
        goto cleanup;
    }
    if ((lock = lock_dir(dir)) < 0)
        goto cleanup;
    have[0] = files_exists(from[0], NULL);
    have[1] = files_exists(from[1], NULL);
    if (have[0] < 0 || have[1] < 0)
        goto cleanup;
    if ((have[0] || have[1]) && link_backups(from, have, dir, to) != 0)
        goto cleanup;
    /* Certificate first: should the key's unlink fail, the next start
     * reports a key without a certificate instead of using either. */
    for (int i = 0; i < 2; i++) {
        if (have[i] && unlink(from[i]) != 0) {
            log_error("cannot remove %s after backing it up to %s: %s", from[i],
                      to[i], strerror(errno));
            goto cleanup;
        }
    }
    *cert_backup = to[0];
    *key_backup = to[1];
    to[0] = to[1] = NULL;
    rc = 0;
cleanup:
    if (lock >= 0)
        close(lock);
    free(to[0]);
    free(to[1]);
    free(from[0]);
    free(from[1]);
    return rc;
}

void ca_free(ca *c)
{
    if (!c)
        return;
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
    free(c->cert_path);
    free(c);
}

X509 *ca_get0_cert(const ca *c)
{
    return c->cert;
}

ca_key_type ca_get_key_type(const ca *c)
{
    return EVP_PKEY_is_a(c->key, "RSA") ? CA_KEY_RSA2048 : CA_KEY_EC_P256;
}

const char *ca_get0_cert_path(const ca *c)
{
    return c->cert_path;
}

int ca_sign(const ca *c, X509 *leaf)
{
    int rc = -1;
    AUTHORITY_KEYID *akid = NULL;
    if (!X509_set_issuer_name(leaf, X509_get_subject_name(c->cert)))
        goto cleanup;
    /* keyid only, copied byte for byte, so verifiers pick this CA by its
     * SKI; issuer+serial would pin the leaf to one CA certificate. A CA
     * brought by the user without an SKI gets no AKI. */
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(c->cert);
    if (ski) {
        akid = AUTHORITY_KEYID_new();
        if (!akid || !(akid->keyid = ASN1_OCTET_STRING_dup(ski)) ||
            X509_add1_ext_i2d(leaf, NID_authority_key_identifier, akid, 0,
                              X509V3_ADD_REPLACE) != 1)
            goto cleanup;
    }
    if (!X509_sign(leaf, c->key, EVP_sha256()))
        goto cleanup;
    rc = 0;
cleanup:
    AUTHORITY_KEYID_free(akid);
    return rc;
}
