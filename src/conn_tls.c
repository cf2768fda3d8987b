/* conn_tls — interception of a CONNECT tunnel: pause the client's
 * handshake at its ClientHello, complete the upstream handshake, choose
 * the leaf (cached or minted), resume the client, and, when the upstream
 * failed, answer the client's first request with the reason. */
#include "conn_priv.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "certmint.h"
#include "front.h"
#include "log.h"
#include "tlsctx.h"

/* Re-mint a cached leaf that expires within a day. */
#define CONN_LEAF_REFRESH_SECONDS (24L * 3600)

/* The name the client asked for: its SNI when usable, else the CONNECT
 * host (possibly an IP literal). */
static const char *requested_name(const conn *c)
{
    if (c->sni && authority_name_is_certifiable(c->sni))
        return c->sni;
    return c->target.host;
}

/* Cache key: the name plus the upstream certificate's digest, so a
 * changed upstream certificate (new SANs) gets a new leaf. */
static void leaf_cache_key(const char *name, X509 *upstream, char *key,
                           size_t size)
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
    conn *c;
    const char *name;
    X509 *upstream;
} mint_request;

static X509 *mint(void *arg)
{
    mint_request *r = arg;
    return certmint_leaf(r->c->env->ca, r->c->env->leaf_key, r->name, r->upstream);
}

static int choose_leaf(conn *c, X509 *upstream)
{
    mint_request r = {c, requested_name(c), upstream};
    char key[AUTHORITY_HOST_MAX + 2 * EVP_MAX_MD_SIZE + 4];
    leaf_cache_key(r.name, upstream, key, sizeof key);
    X509_free(c->leaf);
    bool made = false;
    c->leaf = certcache_get1_or_make(c->env->certs, key, time(NULL),
                                     CONN_LEAF_REFRESH_SECONDS, mint, &r, &made);
    c->leaf_from_cache = !made;
    return c->leaf ? 0 : -1;
}

int conn_hello_cb(SSL *ssl, int *alert, void *arg)
{
    conn *c = SSL_get_app_data(ssl);
    if (!c) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (c->leaf) {
        if (SSL_use_certificate(ssl, c->leaf) != 1 ||
            SSL_use_PrivateKey(ssl, c->env->leaf_key) != 1) {
            *alert = SSL_AD_INTERNAL_ERROR;
            return SSL_CLIENT_HELLO_ERROR;
        }
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    if (!c->hello_seen) {
        c->hello_seen = true;
        char sni[AUTHORITY_HOST_MAX + 1];
        tlsctx_hello_sni(ssl, sni, sizeof sni);
        if (sni[0])
            conn_set_text(&c->sni, sni);
    }
    /* Wait for the upstream: the leaf depends on what it presents. */
    return SSL_CLIENT_HELLO_RETRY;
}

void conn_tls_start(conn *c)
{
    tlsm *t = tlsm_new(c->env->client_ctx, true);
    if (!t) {
        conn_close(c, "cannot create a TLS session");
        return;
    }
    SSL_set_app_data(tlsm_get0_ssl(t), c);
    conn_set_state(c, CONN_CLIENT_HELLO);
    conn_arm_timer(c, c->env->handshake_timeout);
    pump_set_reading(c->upstream, false);
    pump_start_tls(c->client, t);
}

/* The client's hello has been read: start the upstream handshake with
 * the same name. */
void conn_tls_client_paused(conn *c)
{
    if (c->state != CONN_CLIENT_HELLO || pump_tls(c->upstream))
        return;
    authority verify_as = c->target;
    const char *sni = NULL;
    if (c->sni && authority_name_is_certifiable(c->sni)) {
        snprintf(verify_as.host, sizeof verify_as.host, "%s", c->sni);
        verify_as.kind = AUTHORITY_NAME;
        sni = c->sni;
    } else if (c->target.kind == AUTHORITY_NAME) {
        sni = c->target.host; /* never an IP literal */
    }
    tlsm *t = tlsm_new(c->env->upstream_ctx, false);
    if (!t || tlsctx_prepare_upstream(tlsm_get0_ssl(t), sni, &verify_as,
                                      c->upstream_peer, c->env->insecure) != 0) {
        tlsm_free(t);
        conn_close(c, "cannot create the upstream TLS session");
        return;
    }
    pump_set_reading(c->upstream, true);
    pump_start_tls(c->upstream, t);
}

static void resume_client(conn *c, X509 *upstream_cert)
{
    if (choose_leaf(c, upstream_cert) != 0) {
        conn_close(c, "cannot make a certificate for this host");
        return;
    }
    conn_set_state(c, CONN_CLIENT_HANDSHAKE);
    conn_arm_timer(c, c->env->handshake_timeout);
    pump_resume_handshake(c->client);
}

void conn_tls_upstream_ready(conn *c)
{
    if (c->state != CONN_CLIENT_HELLO)
        return;
    /* Plaintext the server sends early waits until the client is ready. */
    pump_set_reading(c->upstream, false);
    resume_client(c, SSL_get0_peer_certificate(tlsm_get0_ssl(pump_tls(c->upstream))));
}

static void refuse(conn *c, int status, const char *reason)
{
    c->refuse_status = status;
    conn_set_text(&c->refuse_reason, reason);
    log_info("%s CONNECT %s %d %s", c->client_name, c->target_name, status,
             reason);
    conn_retire_upstream(c);
    /* The client still gets a working handshake, so that it can read the
     * reason as an HTTP answer instead of an opaque TLS alert. */
    resume_client(c, NULL);
}

void conn_tls_upstream_failed(conn *c, const char *reason)
{
    static const char verify_prefix[] = "certificate verify failed: ";
    char msg[CONN_TEXT_MAX];
    if (strncmp(reason, verify_prefix, sizeof verify_prefix - 1) == 0)
        snprintf(msg, sizeof msg,
                 "upstream certificate for %s failed verification: %s",
                 c->target_name, reason + sizeof verify_prefix - 1);
    else
        snprintf(msg, sizeof msg, "TLS handshake with %s failed: %s",
                 c->target_name, reason);
    refuse(c, 502, msg);
}

void conn_tls_timeout(conn *c)
{
    char msg[CONN_TEXT_MAX];
    if (c->state == CONN_CLIENT_HELLO && c->hello_seen) {
        snprintf(msg, sizeof msg, "TLS handshake with %s timed out after %d s",
                 c->target_name, c->env->handshake_timeout);
        refuse(c, 504, msg);
        return;
    }
    conn_close(c, c->hello_seen ? "client TLS handshake timed out"
                                : "client sent no complete TLS hello in time");
}

void conn_tls_client_handshake_done(conn *c)
{
    SSL *ssl = tlsm_get0_ssl(pump_tls(c->client));
    if (c->refuse_status) {
        conn_set_state(c, CONN_TLS_REFUSE);
        conn_arm_timer(c, c->env->head_timeout);
        c->requests = http_msg_parser_new(HTTP_MSG_REQUEST, c->env->max_head_bytes);
        if (!c->requests)
            conn_close(c, "out of memory");
        return;
    }
    log_info("%s CONNECT %s intercepted %s (cert %s)", c->client_name,
             c->target_name, SSL_get_version(ssl),
             c->leaf_from_cache ? "cached" : "minted");
    conn_tap_start(c, "https");
    conn_set_state(c, CONN_TLS_RELAY);
    conn_touch(c);
    conn_arm_timer(c, c->env->idle_timeout);
    pump_set_reading(c->upstream, true);
    if (evbuffer_get_length(pump_input(c->upstream)) > 0)
        conn_relay(c, c->upstream, pump_input(c->upstream));
}

void conn_tls_refuse_input(conn *c, struct evbuffer *plain)
{
    size_t consumed = 0;
    http_msg_event ev = conn_feed(c->requests, plain, &consumed);
    evbuffer_drain(plain, evbuffer_get_length(plain));
    if (ev == HTTP_MSG_NEED_MORE)
        return;
    /* Whatever the client sent, it gets the reason and nothing else. */
    conn_fail(c, c->refuse_status,
              c->refuse_reason ? c->refuse_reason : "upstream failed");
}
