/* clientcert — client certificates for upstream servers that request one.
 * See include/clientcert.h. */
#include "clientcert.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct clientcert {
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *chain;  /* may be empty */
    char *subject;
};

/* Ex-data slots: the rules of an upstream context, the certificate chosen
 * for a connection, and the one actually sent. */
static int rules_index = -1, chosen_index = -1, sent_index = -1;
static pthread_once_t indexes_once = PTHREAD_ONCE_INIT;

static void make_indexes(void)
{
    rules_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    chosen_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    sent_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

void clientcert_free(clientcert *cc)
{
    if (!cc)
        return;
    X509_free(cc->cert);
    EVP_PKEY_free(cc->key);
    sk_X509_pop_free(cc->chain, X509_free);
    free(cc->subject);
    free(cc);
}

static char *subject_text(X509 *cert)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *text = NULL;
    if (mem && X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0,
                                  XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *data = NULL;
        long len = BIO_get_mem_data(mem, &data);
        text = malloc((size_t)len + 1);
        if (text) {
            memcpy(text, data, (size_t)len);
            text[len] = '\0';
        }
    }
    BIO_free(mem);
    return text;
}

/* Read the certificate, the chain after it, and the key, each in one pass
 * over the file (PEM readers skip blocks of other kinds). */
static int read_pem(const char *file, clientcert *cc, char *why, size_t why_size)
{
    BIO *in = BIO_new_file(file, "r");
    if (!in) {
        snprintf(why, why_size, "cannot read --client-cert %s: %s", file,
                 strerror(errno));
        return -1;
    }
    cc->cert = PEM_read_bio_X509(in, NULL, NULL, NULL);
    X509 *extra;
    while (cc->cert && (extra = PEM_read_bio_X509(in, NULL, NULL, NULL))) {
        if (!sk_X509_push(cc->chain, extra)) {
            X509_free(extra);
            break;
        }
    }
    ERR_clear_error(); /* the end of the file reads as an error */
    /* An encrypted key would need a passphrase we have no way to ask for:
     * an empty one makes it fail instead of prompting on the terminal. */
    if (cc->cert && BIO_reset(in) == 0)
        cc->key = PEM_read_bio_PrivateKey(in, NULL, NULL, (void *)"");
    ERR_clear_error();
    BIO_free(in);
    if (!cc->cert) {
        snprintf(why, why_size, "--client-cert %s holds no PEM certificate", file);
        return -1;
    }
    if (!cc->key) {
        snprintf(why, why_size, "--client-cert %s holds no (unencrypted) PEM private "
                 "key; put the key in the same file as the certificate", file);
        return -1;
    }
    if (X509_check_private_key(cc->cert, cc->key) != 1) {
        ERR_clear_error();
        snprintf(why, why_size, "--client-cert %s: the private key does not match "
                 "the certificate", file);
        return -1;
    }
    return 0;
}

clientcert *clientcert_load(const char *file, char *why, size_t why_size)
{
    /* The key signs as the user: like the CA key, it must be private. */
    struct stat st;
    if (stat(file, &st) != 0) {
        snprintf(why, why_size, "cannot read --client-cert %s: %s", file,
                 strerror(errno));
        return NULL;
    }
    if (st.st_mode & 077) {
        snprintf(why, why_size, "--client-cert %s is open to other users (mode %03o); "
                 "it holds a private key: run chmod 600 %s", file,
                 (unsigned)(st.st_mode & 0777), file);
        return NULL;
    }
    clientcert *cc = calloc(1, sizeof *cc);
    if (!cc || !(cc->chain = sk_X509_new_null())) {
        snprintf(why, why_size, "out of memory");
        clientcert_free(cc);
        return NULL;
    }
    if (read_pem(file, cc, why, why_size) != 0) {
        clientcert_free(cc);
        return NULL;
    }
    cc->subject = subject_text(cc->cert);
    if (!cc->subject) {
        snprintf(why, why_size, "out of memory");
        clientcert_free(cc);
        return NULL;
    }
    return cc;
}

const char *clientcert_subject(const clientcert *cc)
{
    return cc->subject;
}

void clientcert_rules_clear(clientcert_rules *rules)
{
    for (size_t i = 0; i < rules->n; i++) {
        regfree(&rules->hosts[i]);
        clientcert_free(rules->certs[i]);
    }
    clientcert_free(rules->fallback);
    memset(rules, 0, sizeof *rules);
}

/* OpenSSL calls this when the server sends a CertificateRequest: only then
 * does the chosen certificate go out. 1: carry on (with or without one). */
static int on_certificate_request(SSL *ssl, void *arg)
{
    clientcert *cc = SSL_get_ex_data(ssl, chosen_index);
    if (!cc)
        return 1;
    if (SSL_use_cert_and_key(ssl, cc->cert, cc->key, cc->chain, 1) != 1) {
        ERR_clear_error();
        return 0; /* fails the handshake with an internal error */
    }
    SSL_set_ex_data(ssl, sent_index, cc);
    return 1;
}

void clientcert_install(SSL_CTX *ctx, const clientcert_rules *rules)
{
    pthread_once(&indexes_once, make_indexes);
    if (!rules || (rules->n == 0 && !rules->fallback))
        return;
    SSL_CTX_set_ex_data(ctx, rules_index, (void *)rules);
    SSL_CTX_set_cert_cb(ctx, on_certificate_request, NULL);
}

int clientcert_choose(SSL *ssl, const char *host)
{
    pthread_once(&indexes_once, make_indexes);
    const clientcert_rules *rules = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl),
                                                        rules_index);
    if (!rules)
        return 0;
    clientcert *chosen = rules->fallback;
    for (size_t i = 0; i < rules->n; i++) {
        if (regexec(&rules->hosts[i], host, 0, NULL, 0) == 0) {
            chosen = rules->certs[i];
            break;
        }
    }
    if (!chosen)
        return 0;
    return SSL_set_ex_data(ssl, chosen_index, chosen) == 1 ? 1 : -1;
}

const char *clientcert_sent(const SSL *ssl)
{
    if (sent_index < 0)
        return NULL;
    const clientcert *cc = SSL_get_ex_data(ssl, sent_index);
    return cc ? cc->subject : NULL;
}
