/* intercept — the crypto side of interception (see include/intercept.h). */
#include "intercept.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certcache.h"
#include "certmint.h"
#include "leafkeys.h"
#include "log.h"
#include "tlsctx.h"
#include "upsess.h"

/* Re-mint a cached leaf that expires within a day. */
#define INTERCEPT_LEAF_REFRESH_SECONDS (24L * 3600)

/* At its this-many-th use a leaf is replaced in the cache by a copy read
 * back from its DER (certmint_reread): 1.6 M instructions once, then 60 K
 * fewer per handshake (writing it out, and comparing its key with the
 * private key, cost less in the copy). A host seen a few times never pays
 * it; one seen 45 times or more gains. */
#define INTERCEPT_LEAF_REREAD_USES 16

struct intercept {
    const ca *ca;
    const ca *intermediate; /* signs leaves for clients verifying ECDSA, or NULL */
    STACK_OF(X509) *alone; /* empty, when there is an intermediate */
    SSL_CTX *client_ctx;   /* client-facing, pausing at the ClientHello */
    SSL_CTX *upstream_ctx;
    upsess *sessions;      /* resumable upstream sessions */
    bool key_by_client;    /* the leaf's kind follows each ClientHello */
    ca_key_type forced;    /* else every leaf is of this kind */
    leafkeys *keys;        /* the RSA one made in the background (auto) */
    certcache *leaves;
    bool http2;            /* h2 may be mirrored */
};

/* What a client-facing session carries between the hello callback and
 * the connection: the SNI read from the hello, and the leaf once chosen. */
typedef struct {
    char sni[AUTHORITY_HOST_MAX + 1];
    bool hello_seen;
    bool key_by_client;    /* choose kind from the hello */
    ca_key_type kind;      /* of the leaf's key */
    /* Borrowed from the intercept when its context sends the session
     * intermediate, else NULL: an empty chain, for a leaf the CA signed. */
    STACK_OF(X509) *alone;
    bool direct;           /* the CA signs this client's leaf: no intermediate */
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
    if (!h && SSL_get_certificate(ssl)) /* settled: the leaf is in place */
        return SSL_CLIENT_HELLO_SUCCESS;
    if (!h) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (h->leaf) {
        /* One call, not SSL_use_certificate + SSL_use_PrivateKey: OpenSSL
         * then looks the key's kind up once, not twice (13 K instructions
         * per connection). A leaf the CA signed goes alone: an empty
         * chain of its own overrides the context's (the intermediate). */
        if (SSL_use_cert_and_key(ssl, h->leaf, h->key, h->direct ? h->alone : NULL,
                                 1) != 1) {
            *alert = SSL_AD_INTERNAL_ERROR;
            return SSL_CLIENT_HELLO_ERROR;
        }
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    if (!h->hello_seen) {
        h->hello_seen = true;
        /* EC when the client takes it (nearly all do: one ECDSA signature
         * per handshake, 13 times cheaper than RSA-2048's), RSA for the
         * clients that accept only RSA signatures. */
        if (h->key_by_client)
            h->kind = tlsctx_hello_takes_ecdsa_p256(ssl) ? CA_KEY_EC_P256
                                                         : CA_KEY_RSA2048;
        /* A client that cannot verify the intermediate's ECDSA signature
         * (one that takes only RSA, the reason some pick an RSA CA) gets a
         * leaf the CA signed, as without an intermediate. */
        h->direct = !h->alone || !tlsctx_hello_verifies_ecdsa_p256(ssl);
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
    ic->intermediate = o->intermediate;
    ic->http2 = o->http2;
    ic->key_by_client = o->leaf_key_by_client;
    ic->forced = o->leaf_key_type;
    /* The EC key costs a fraction of a millisecond: made now, so that a
     * failure shows at start. A forced RSA key too, before listening:
     * every client needs it, so none would gain from its making in the
     * background, and a failure exits at start. Under auto the RSA key is
     * made in the background (leafkeys.h), ready long before most runs'
     * first client that accepts only RSA signatures; forced EC never
     * makes it. */
    ic->keys = leafkeys_new(ic->key_by_client ? CA_KEY_EC_P256 : ic->forced,
                            ic->key_by_client);
    ic->leaves = certcache_new(o->leaf_cache_size);
    ic->client_ctx = tlsctx_new_client_facing(on_client_hello);
    ic->sessions = upsess_new(o->upstream_sessions);
    ic->upstream_ctx = ic->sessions
                           ? tlsctx_new_upstream(o->upstream_ca, o->insecure, ic->sessions)
                           : NULL;
    if (hello_index < 0 || !ic->keys || !ic->leaves || !ic->client_ctx ||
        !ic->upstream_ctx) {
        intercept_free(ic);
        return NULL;
    }
    /* Once on the context, not per session: OpenSSL sends a context's
     * extra chain after whichever leaf a session uses, at no cost per
     * handshake (and skips building a chain from the empty store). */
    X509 *chain = o->intermediate ? ca_get0_chain_cert(o->intermediate) : NULL;
    bool chained = false;
    if (chain && X509_up_ref(chain) &&
        !(chained = SSL_CTX_add_extra_chain_cert(ic->client_ctx, chain)))
        X509_free(chain); /* the context did not take it */
    if (chain && (!chained || !(ic->alone = sk_X509_new_null()))) {
        log_error("cannot add the session intermediate to the TLS context");
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
    leafkeys_free(ic->keys);
    sk_X509_free(ic->alone);
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
    h->key_by_client = ic->key_by_client;
    h->kind = ic->forced;
    h->alone = ic->alone;
    h->direct = !h->alone;
    h->http2 = ic->http2;
    return t;
}

void intercept_client_settled(tlsm *client)
{
    SSL *ssl = tlsm_get0_ssl(client);
    hello_state *h = SSL_get_ex_data(ssl, hello_index);
    if (!h)
        return;
    (void)SSL_set_ex_data(ssl, hello_index, NULL);
    X509_free(h->leaf); /* the session holds its own reference */
    free(h);
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

/* Longest cache key: kind, signer, name, separator, SHA-1 in hex, NUL. */
#define LEAF_CACHE_KEY_MAX (2 + AUTHORITY_HOST_MAX + 1 + 2 * SHA_DIGEST_LENGTH + 1)

/* Cache key: the key's kind, 'd' when the CA signs it directly (not the
 * session intermediate), the name, and the upstream certificate's
 * SHA-1, so a changed upstream certificate (new SANs) gets a new leaf.
 * SHA-1, not SHA-256: OpenSSL computes it once when it reads the
 * certificate (X509_digest returns that copy) where SHA-256 hashed the
 * whole certificate again on every connection. Its collisions do not
 * matter here: both colliding certificates would have to be made by one
 * party and presented (and verified) for the same name, the name being
 * part of the key in clear, and the leaf served for one carries the names
 * of the other, which that party could have presented itself. */
static void leaf_cache_key(ca_key_type kind, bool direct, const char *name,
                           X509 *upstream, char key[LEAF_CACHE_KEY_MAX])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    size_t n = strnlen(name, AUTHORITY_HOST_MAX);
    char *out = key;
    *out++ = kind == CA_KEY_RSA2048 ? 'r' : 'e';
    *out++ = direct ? 'd' : ' ';
    memcpy(out, name, n);
    out += n;
    *out++ = '|';
    if (!upstream || X509_digest(upstream, EVP_sha1(), md, &md_len) != 1 ||
        md_len > SHA_DIGEST_LENGTH) {
        *out++ = '-';
        md_len = 0;
    }
    for (unsigned i = 0; i < md_len; i++) {
        *out++ = hex[md[i] >> 4];
        *out++ = hex[md[i] & 0xf];
    }
    *out = '\0';
}

typedef struct {
    const ca *issuer;
    const leafkey *key;
    const char *name;
    X509 *upstream;
} mint_request;

static X509 *mint(void *arg)
{
    mint_request *r = arg;
    return certmint_leaf(r->issuer, r->key->pub, r->name, r->upstream);
}

int intercept_set_leaf(const intercept *ic, tlsm *client, const char *name,
                       tlsm *upstream, bool *from_cache)
{
    hello_state *h = SSL_get_ex_data(tlsm_get0_ssl(client), hello_index);
    const leafkey *k = h ? leafkeys_get(ic->keys, h->kind) : NULL;
    if (!k)
        return -1;
    h->key = k->key;
    X509 *peer = upstream && tlsm_handshake_done(upstream)
                     ? SSL_get0_peer_certificate(tlsm_get0_ssl(upstream))
                     : NULL;
    /* h->direct is always set without an intermediate. */
    mint_request r = {h->direct ? ic->ca : ic->intermediate, k, name, peer};
    char key[LEAF_CACHE_KEY_MAX];
    leaf_cache_key(h->kind, h->direct, name, peer, key);
    bool made = false;
    unsigned uses = 0;
    X509_free(h->leaf);
    h->leaf = certcache_get1_or_make(ic->leaves, key, time(NULL),
                                     INTERCEPT_LEAF_REFRESH_SECONDS, mint, &r, &made,
                                     &uses);
    *from_cache = !made;
    /* Exactly one connection sees this count per entry. */
    X509 *copy = h->leaf && uses == INTERCEPT_LEAF_REREAD_USES
                     ? certmint_reread(h->leaf)
                     : NULL;
    if (copy) {
        (void)certcache_swap(ic->leaves, key, h->leaf, copy);
        X509_free(h->leaf);
        h->leaf = copy;
    }
    bool upstream_done = upstream && tlsm_handshake_done(upstream);
    tlsctx_answer_alpn(tlsm_get0_ssl(client), upstream_done ? tlsm_get0_ssl(upstream) : NULL);
    return h->leaf ? 0 : -1;
}

bool intercept_leaf_key_ready(const intercept *ic, tlsm *client)
{
    hello_state *h = SSL_get_ex_data(tlsm_get0_ssl(client), hello_index);
    return !h || leafkeys_ready(ic->keys, h->kind);
}

bool intercept_wait_leaf_key(const intercept *ic, tlsm *client, void (*ready)(void *arg),
                             void *arg)
{
    hello_state *h = SSL_get_ex_data(tlsm_get0_ssl(client), hello_index);
    return h && leafkeys_wait(ic->keys, h->kind, ready, arg);
}

void intercept_cancel_wait(const intercept *ic, const void *arg)
{
    leafkeys_cancel(ic->keys, arg);
}

int intercept_mirror_alpn(tlsm *upstream, tlsm *client)
{
    return tlsctx_offer_alpn(tlsm_get0_ssl(upstream), tlsm_get0_ssl(client));
}

const char *intercept_alpn_refusal(tlsm *client)
{
    return tlsctx_alpn_refusal(tlsm_get0_ssl(client));
}

bool intercept_is_tls13(tlsm *t)
{
    return SSL_version(tlsm_get0_ssl(t)) == TLS1_3_VERSION;
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
