/* intercept — the crypto side of interception (see include/intercept.h). */
#include "intercept.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certcache.h"
#include "certmint.h"
#include "log.h"
#include "tlsctx.h"
#include "upsess.h"

/* Re-mint a cached leaf that expires within a day. */
#define INTERCEPT_LEAF_REFRESH_SECONDS (24L * 3600)

struct intercept {
    const ca *ca;
    SSL_CTX *client_ctx;   /* client-facing, pausing at the ClientHello */
    SSL_CTX *upstream_ctx;
    upsess *sessions;      /* resumable upstream sessions */
    EVP_PKEY *leaf_key;    /* one key, many leaves */
    certcache *leaves;
    bool http2;            /* h2 may be mirrored */
};

/* What a client-facing session carries between the hello callback and
 * the connection: the SNI read from the hello, and the leaf once chosen. */
typedef struct {
    char sni[AUTHORITY_HOST_MAX + 1];
    bool hello_seen;
    X509 *leaf;
    EVP_PKEY *key;         /* borrowed from the intercept */
    bool http2;
} hello_state;

static int hello_index = -1;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void free_hello_state(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                             long argl, void *argp)
{
    hello_state *h = ptr;
    if (h)
        X509_free(h->leaf);
    free(h);
}

static void make_index(void)
{
    hello_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_hello_state);
}

/* Runs on every ClientHello: the first time it notes the SNI and pauses
 * the handshake (the leaf depends on what the upstream presents); once a
 * leaf is set it puts it on the session and lets the handshake go on. */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    hello_state *h = SSL_get_ex_data(ssl, hello_index);
    if (!h) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (h->leaf) {
        if (SSL_use_certificate(ssl, h->leaf) != 1 ||
            SSL_use_PrivateKey(ssl, h->key) != 1) {
            *alert = SSL_AD_INTERNAL_ERROR;
            return SSL_CLIENT_HELLO_ERROR;
        }
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    if (!h->hello_seen) {
        h->hello_seen = true;
        tlsctx_hello_sni(ssl, h->sni, sizeof h->sni);
        if (tlsctx_hello_alpn(ssl, h->http2) != 0) {
            *alert = SSL_AD_INTERNAL_ERROR;
            return SSL_CLIENT_HELLO_ERROR;
        }
    }
    return SSL_CLIENT_HELLO_RETRY;
}

intercept *intercept_new(const ca *signer, const intercept_options *o)
{
    pthread_once(&index_once, make_index);
    intercept *ic = calloc(1, sizeof *ic);
    if (!ic) {
        log_error("out of memory");
        return NULL;
    }
    ic->ca = signer;
    ic->http2 = o->http2;
    ic->leaf_key = certmint_new_leaf_key(o->leaf_key_type);
    ic->leaves = certcache_new(o->leaf_cache_size);
    ic->client_ctx = tlsctx_new_client_facing(on_client_hello);
    ic->sessions = upsess_new(o->upstream_sessions);
    ic->upstream_ctx = ic->sessions
                           ? tlsctx_new_upstream(o->upstream_ca, o->insecure, ic->sessions)
                           : NULL;
    if (hello_index < 0 || !ic->leaf_key || !ic->leaves || !ic->client_ctx ||
        !ic->upstream_ctx) {
        intercept_free(ic);
        return NULL;
    }
    if (o->client_certs)
        clientcert_install(ic->upstream_ctx, o->client_certs);
    if (o->keylog) {
        tlsctx_set_keylog(ic->client_ctx, o->keylog);
        tlsctx_set_keylog(ic->upstream_ctx, o->keylog);
    }
    return ic;
}

void intercept_free(intercept *ic)
{
    if (!ic)
        return;
    tlsctx_free(ic->client_ctx);
    tlsctx_free(ic->upstream_ctx);
    upsess_free(ic->sessions);
    certcache_free(ic->leaves);
    certmint_free_key(ic->leaf_key);
    free(ic);
}

tlsm *intercept_client_session(const intercept *ic)
{
    tlsm *t = tlsm_new(ic->client_ctx, true);
    hello_state *h = calloc(1, sizeof *h);
    if (!t || !h || SSL_set_ex_data(tlsm_get0_ssl(t), hello_index, h) != 1) {
        free(h);
        tlsm_free(t);
        return NULL;
    }
    h->key = ic->leaf_key;
    h->http2 = ic->http2;
    return t;
}

const char *intercept_client_sni(tlsm *client)
{
    hello_state *h = SSL_get_ex_data(tlsm_get0_ssl(client), hello_index);
    return h && h->sni[0] ? h->sni : NULL;
}

tlsm *intercept_upstream_session(const intercept *ic, const char *sni,
                                 const authority *verify_as, const char *peer)
{
    tlsm *t = tlsm_new(ic->upstream_ctx, false);
    if (!t)
        return NULL;
    if (tlsctx_prepare_upstream(tlsm_get0_ssl(t), sni, verify_as, peer,
                                SSL_CTX_get_verify_mode(ic->upstream_ctx) ==
                                    SSL_VERIFY_NONE) != 0) {
        tlsm_free(t);
        return NULL;
    }
    return t;
}

/* Cache key: the name plus the upstream certificate's digest, so a
 * changed upstream certificate (new SANs) gets a new leaf. */
static void leaf_cache_key(const char *name, X509 *upstream, char *key, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int off = snprintf(key, size, "%s|", name);
    if (!upstream || X509_digest(upstream, EVP_sha256(), md, &md_len) != 1) {
        snprintf(key + off, size - (size_t)off, "-");
        return;
    }
    for (unsigned i = 0; i < md_len && (size_t)off + 3 < size; i++)
        off += snprintf(key + off, size - (size_t)off, "%02x", md[i]);
}

typedef struct {
    const intercept *ic;
    const char *name;
    X509 *upstream;
} mint_request;

static X509 *mint(void *arg)
{
    mint_request *r = arg;
    return certmint_leaf(r->ic->ca, r->ic->leaf_key, r->name, r->upstream);
}

int intercept_set_leaf(const intercept *ic, tlsm *client, const char *name,
                       tlsm *upstream, bool *from_cache)
{
    hello_state *h = SSL_get_ex_data(tlsm_get0_ssl(client), hello_index);
    if (!h)
        return -1;
    X509 *peer = upstream && tlsm_handshake_done(upstream)
                     ? SSL_get0_peer_certificate(tlsm_get0_ssl(upstream))
                     : NULL;
    mint_request r = {ic, name, peer};
    char key[AUTHORITY_HOST_MAX + 2 * EVP_MAX_MD_SIZE + 4];
    leaf_cache_key(name, peer, key, sizeof key);
    bool made = false;
    X509_free(h->leaf);
    h->leaf = certcache_get1_or_make(ic->leaves, key, time(NULL),
                                     INTERCEPT_LEAF_REFRESH_SECONDS, mint, &r, &made);
    *from_cache = !made;
    bool upstream_done = upstream && tlsm_handshake_done(upstream);
    tlsctx_answer_alpn(tlsm_get0_ssl(client), upstream_done ? tlsm_get0_ssl(upstream) : NULL);
    return h->leaf ? 0 : -1;
}

int intercept_mirror_alpn(tlsm *upstream, tlsm *client)
{
    return tlsctx_offer_alpn(tlsm_get0_ssl(upstream), tlsm_get0_ssl(client));
}

const char *intercept_alpn_refusal(tlsm *client)
{
    return tlsctx_alpn_refusal(tlsm_get0_ssl(client));
}

flow_tls *intercept_describe(tlsm *t)
{
    SSL *ssl = tlsm_get0_ssl(t);
    const unsigned char *alpn = NULL;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    hello_state *h = SSL_get_ex_data(ssl, hello_index);
    const char *sni = h ? (h->sni[0] ? h->sni : NULL)
                        : SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    size_t sni_len = sni ? strlen(sni) + 1 : 0;
    /* The record and its two strings in one block: one free(). */
    flow_tls *d = calloc(1, sizeof *d + sni_len + alpn_len + 1);
    if (!d)
        return NULL;
    char *text = (char *)(d + 1);
    /* Both are OpenSSL's static names. */
    d->version = SSL_get_version(ssl);
    d->cipher = SSL_get_cipher_name(ssl);
    if (sni) {
        memcpy(text, sni, sni_len);
        d->sni = text;
        text += sni_len;
    }
    if (alpn_len) {
        memcpy(text, alpn, alpn_len);
        text[alpn_len] = '\0';
        d->alpn = text;
    }
    /* Only upstream sessions send one; valid while the SSL lives. */
    if (!SSL_is_server(ssl))
        d->client_cert = clientcert_sent(ssl);
    return d;
}

bool intercept_secret_equal(const char *given, const char *expected)
{
    size_t n = strlen(expected);
    return strlen(given) == n && CRYPTO_memcmp(given, expected, n) == 0;
}
