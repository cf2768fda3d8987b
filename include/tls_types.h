/* tls_types — names for the crypto layer's objects, for the modules above
 * it that hold them but never look inside (only crypto modules include
 * OpenSSL: see README, "Modules").
 *
 * Each is OpenSSL's own structure tag, so a pointer passes between a
 * crypto module (which knows it as X509, SSL_CTX, ...) and its holder
 * unchanged, with no cast and no OpenSSL header on the holder's side. */
#ifndef TLSPEEK_TLS_TYPES_H
#define TLSPEEK_TLS_TYPES_H

typedef struct x509_st tls_cert;            /* X509: a certificate */
typedef struct evp_pkey_st tls_key;         /* EVP_PKEY: a key pair */
typedef struct ssl_ctx_st tls_context;      /* SSL_CTX: settings shared by sessions */
typedef struct ssl_st tls_ssl;              /* SSL: one TLS connection */
typedef struct ssl_session_st tls_session;  /* SSL_SESSION: resumable state */

#endif
