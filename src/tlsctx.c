/* tlsctx — builds the upstream and client-facing SSL_CTXs and reads what
 * the proxy needs from a ClientHello. */
#include "tlsctx.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clientcert.h"
#include "log.h"
#include "sslerr.h"

/* AES-128-GCM first, as browsers order them, where OpenSSL's defaults put
 * AES-256 first: AES-128 with TLS 1.3's SHA-256 key schedule (SHA
 * extensions in current CPUs) costs less per handshake and per byte than
 * AES-256 with SHA-384. Upstream, servers mostly take the client's
 * (our) order; toward clients, see tlsctx_new_client_facing. The same
 * suites and ciphers as OpenSSL's defaults otherwise. */
#define TLS13_SUITES \
    "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
#define TLS12_CIPHERS \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ALL:!COMPLEMENTOFDEFAULT:!eNULL"

/* ALPN wire format: length-prefixed protocol names. */
static const unsigned char alpn_http11[] = "\x08http/1.1";

/* The system trust store as a bundle file plus a hashed directory
 * ($SSL_CERT_FILE / $SSL_CERT_DIR override them, as for openssl and curl).
 * Not SSL_CTX_set_default_verify_paths(): in OpenSSL 3 it also adds an
 * OSSL_STORE lookup that reads the whole certificate directory every time
 * an issuer is not found in memory, which profiling showed on every
 * handshake with a server whose issuer is not a system root. */
static bool load_system_trust(SSL_CTX *ctx)
{
    const char *file = getenv(X509_get_default_cert_file_env());
    const char *dir = getenv(X509_get_default_cert_dir_env());
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP *bundle = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    X509_LOOKUP *hashed = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
    bool loaded =
        bundle && hashed &&
        X509_LOOKUP_load_file(bundle, file ? file : X509_get_default_cert_file(),
                              X509_FILETYPE_PEM) == 1;
    if (hashed)
        loaded |= X509_LOOKUP_add_dir(hashed, dir ? dir : X509_get_default_cert_dir(),
                                      X509_FILETYPE_PEM) == 1;
    /* A missing bundle or directory is not an error by itself. */
    ERR_clear_error();
    return loaded;
}

/* Ex-data slots: the session cache of an upstream context, and the cache
 * key of an upstream connection (freed with it). */
static int sessions_index = -1, session_key_index = -1;
static pthread_once_t indexes_once = PTHREAD_ONCE_INIT;

static void free_session_key(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                             long argl, void *argp)
{
    free(ptr);
}

static void make_indexes(void)
{
    sessions_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    session_key_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_session_key);
}

/* OpenSSL hands over each new session from an upstream server (TLS 1.2
 * at the end of the handshake, TLS 1.3 with every ticket). Returns 0: the
 * reference stays OpenSSL's. */
static int on_new_session(SSL *ssl, SSL_SESSION *session)
{
    upsess *sessions = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sessions_index);
    const char *key = SSL_get_ex_data(ssl, session_key_index);
    /* A session resumes without verifying again: keep only verified ones. */
    bool verified = SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE ||
                    SSL_get_verify_result(ssl) == X509_V_OK;
    if (!sessions || !key || !verified || !SSL_SESSION_is_resumable(session))
        return 0;
    /* Keep a copy: the session handed over stays this connection's, and
     * OpenSSL marks it not resumable if the connection then ends without
     * close_notify (SSL_free) or with an alert, as origins that close
     * after a response often do; that made every second TLS 1.3 ticket
     * useless. The copy shares the certificates (references). */
    SSL_SESSION *copy = SSL_SESSION_dup(session);
    /* The key starts with the server's address, which groups the names
     * the server is reached under (see offer_session). */
    char group[TLSCTX_PEER_MAX];
    size_t len = strcspn(key, " ");
    snprintf(group, sizeof group, "%.*s", (int)len, key);
    if (copy && upsess_put(sessions, key, len < sizeof group ? group : NULL, copy) != 0)
        SSL_SESSION_free(copy);
    return 0;
}

/* A connection capped at TLS 1.2 to resume a TLS 1.2 session (see
 * offer_session) that ended in a full handshake instead (the server no
 * longer takes the session) says nothing about the server's best version:
 * keep no session for it, so that the next connection offers TLS 1.3. This
 * runs after the new-session callback. */
static void on_handshake_event(const SSL *ssl, int where, int ret)
{
    if (!(where & SSL_CB_HANDSHAKE_DONE) || SSL_session_reused(ssl))
        return;
    /* The getter is a macro over SSL_ctrl(), which takes no const SSL but
     * only reads here. */
    if (SSL_get_max_proto_version((SSL *)ssl) != TLS1_2_VERSION)
        return;
    upsess *sessions = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sessions_index);
    const char *key = SSL_get_ex_data(ssl, session_key_index);
    if (sessions && key)
        upsess_forget(sessions, key);
}

SSL_CTX *tlsctx_new_upstream(const char *extra_ca_file, bool insecure,
                             upsess *sessions)
{
    pthread_once(&indexes_once, make_indexes);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        sslerr_log("cannot create the upstream TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        sslerr_log("cannot set the upstream ciphers");
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* Nothing is verified with --insecure: no store to search either. */
    if (!insecure && !load_system_trust(ctx))
        log_warn("cannot load the system trust store; only --upstream-ca "
                 "anchors will be trusted");
    if (extra_ca_file &&
        SSL_CTX_load_verify_locations(ctx, extra_ca_file, NULL) != 1) {
        sslerr_log("--upstream-ca %s is not a readable PEM certificate file",
                   extra_ca_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (sessions) {
        /* Our own store, keyed by server and name, not OpenSSL's. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                                SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_set_ex_data(ctx, sessions_index, sessions);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
        SSL_CTX_set_info_callback(ctx, on_handshake_event);
    }
    if (SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof alpn_http11 - 1) != 0) {
        sslerr_log("cannot set ALPN");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ALPN mirroring. A client-facing session keeps, from its ClientHello, the
 * protocols it offers that the proxy relays (h2, http/1.1, in the client's
 * order); the upstream is offered exactly those, and the client later gets
 * exactly what the upstream selected. */
typedef struct {
    unsigned char offer[2 * (1 + 8)]; /* wire format: "\x02h2\x08http/1.1" at most */
    size_t offer_len;
    bool h2_only;          /* offers h2 and not http/1.1 */
    bool http2;            /* h2 may be relayed (no --no-http2) */
    bool answered;         /* the upstream's choice is known */
    unsigned char selected[1 + 8]; /* it, in wire format; [0] == 0: none */
    const char *refusal;   /* why the client was refused, or NULL */
} alpn_state;

static int alpn_index = -1;
static pthread_once_t alpn_once = PTHREAD_ONCE_INIT;

static void free_alpn_state(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                            long argl, void *argp)
{
    free(ptr);
}

static void make_alpn_index(void)
{
    alpn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_alpn_state);
}

static alpn_state *get_alpn(const SSL *ssl)
{
    return alpn_index < 0 ? NULL : SSL_get_ex_data(ssl, alpn_index);
}

int tlsctx_hello_alpn(SSL *client, bool http2)
{
    pthread_once(&alpn_once, make_alpn_index);
    if (get_alpn(client))
        return 0; /* the hello callback runs again when the handshake resumes */
    alpn_state *a = calloc(1, sizeof *a);
    if (!a || alpn_index < 0 || SSL_set_ex_data(client, alpn_index, a) != 1) {
        free(a);
        return -1;
    }
    a->http2 = http2;
    const unsigned char *ext = NULL;
    size_t len = 0;
    if (!SSL_client_hello_get0_ext(client, TLSEXT_TYPE_application_layer_protocol_negotiation,
                                   &ext, &len) ||
        len < 2 || (((size_t)ext[0] << 8) | ext[1]) != len - 2)
        return 0; /* no (usable) offer: none upstream either */
    bool h2 = false, http11 = false;
    for (size_t i = 2; i < len && i + 1 + ext[i] <= len; i += 1 + ext[i]) {
        const unsigned char *name = ext + i;
        bool is_h2 = name[0] == 2 && memcmp(name + 1, "h2", 2) == 0;
        bool is_http11 = name[0] == 8 && memcmp(name + 1, "http/1.1", 8) == 0;
        if ((is_h2 && h2) || (is_http11 && http11))
            continue; /* listed twice */
        h2 |= is_h2;
        http11 |= is_http11;
        if ((is_h2 && http2) || is_http11) {
            memcpy(a->offer + a->offer_len, name, 1 + (size_t)name[0]);
            a->offer_len += 1 + (size_t)name[0];
        }
    }
    a->h2_only = h2 && !http11;
    return 0;
}

int tlsctx_offer_alpn(SSL *upstream, const SSL *client)
{
    const alpn_state *a = get_alpn(client);
    if (!a)
        return 0; /* the context's default offer */
    /* Clearing takes an empty list (and returns 0 for success). */
    return SSL_set_alpn_protos(upstream, a->offer_len ? a->offer : NULL,
                               (unsigned)a->offer_len) == 0 ? 0 : -1;
}

void tlsctx_answer_alpn(SSL *client, const SSL *upstream)
{
    alpn_state *a = get_alpn(client);
    if (!a)
        return;
    a->answered = true;
    a->selected[0] = 0;
    const unsigned char *p = NULL;
    unsigned int len = 0;
    if (upstream)
        SSL_get0_alpn_selected(upstream, &p, &len);
    if (len > 0 && len < sizeof a->selected) {
        a->selected[0] = (unsigned char)len;
        memcpy(a->selected + 1, p, len);
    }
}

const char *tlsctx_alpn_refusal(const SSL *client)
{
    const alpn_state *a = get_alpn(client);
    return a ? a->refusal : NULL;
}

/* The client gets what the upstream selected, nothing when it selected
 * nothing, and a no_application_protocol alert when it offers only h2
 * and cannot have it. Sessions without mirroring (the upstream's choice
 * never noted) get http/1.1 when they offer it, else no ALPN. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    alpn_state *a = get_alpn(ssl);
    const unsigned char *ours = alpn_http11;
    unsigned int ours_len = sizeof alpn_http11 - 1;
    if (a && a->answered) {
        ours = a->selected;
        ours_len = a->selected[0] ? 1u + a->selected[0] : 0;
    }
    unsigned char *selected = NULL;
    if (ours_len && SSL_select_next_proto(&selected, outlen, ours, ours_len, in, inlen) ==
                        OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    if (a && a->answered && a->h2_only) {
        a->refusal = a->http2 ? "the client offers only h2 (ALPN) and the server "
                                "did not select it"
                              : "the client offers only h2 (ALPN) and --no-http2 is set";
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
    }
    return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *tlsctx_new_client_facing(tlsctx_hello_fn hello_cb)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        sslerr_log("cannot create the client-facing TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* Our order (AES-128-GCM with SHA-256 first), except that a client
     * that puts ChaCha20 first gets it: that is how a client without AES
     * instructions says so. OpenSSL-based clients (curl, Python) list
     * AES-256-GCM-SHA384 first, whose SHA-384 key schedule cost 0.3 M of
     * the 3.3 M instructions of a new connection; browsers already list
     * AES-128 first. */
    if (SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        sslerr_log("cannot set the client-facing ciphers");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
    SSL_CTX_set_client_hello_cb(ctx, hello_cb, NULL);
    /* Clients resume with stateless tickets, which need no server-side
     * store: an internal cache would only cost a lock, an allocation and a
     * periodic sweep per handshake. One TLS 1.3 ticket per handshake, not
     * OpenSSL's two: each is an encryption on the hot path. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    return ctx;
}

void tlsctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

static void write_keylog_line(const SSL *ssl, const char *line)
{
    FILE *f = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (f) {
        fprintf(f, "%s\n", line);
        fflush(f);
    }
}

void tlsctx_set_keylog(SSL_CTX *ctx, FILE *keylog)
{
    /* The context's app data slot carries the file to the callback, which
     * OpenSSL gives no argument of its own. */
    SSL_CTX_set_app_data(ctx, keylog);
    SSL_CTX_set_keylog_callback(ctx, write_keylog_line);
}

/* May a session got under another name of the same server
 * resume under target? Only when the certificate it was made with is
 * valid for target too (RFC 8446, 4.6.1): resuming skips the certificate
 * check, which must not let a name through that a full handshake would
 * have refused. The same rule with --insecure, where the certificate is
 * not checked: a session goes only where its certificate could. */
static bool certificate_covers(SSL_SESSION *session, void *arg)
{
    const authority *target = arg;
    X509 *cert = SSL_SESSION_get0_peer(session);
    if (!cert)
        return false;
    if (target->kind == AUTHORITY_NAME)
        return X509_check_host(cert, target->host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                               NULL) == 1;
    return X509_check_ip_asc(cert, target->host, 0) == 1;
}

/* Offer the session last given by the same server for the same names, or
 * else one it gave under another name its certificate also covers: a new
 * host on a known server (a CDN's, a wildcard certificate's) then costs a
 * resumed handshake, not a full one. */
static int offer_session(SSL *ssl, const char *sni, const authority *target,
                         const char *peer)
{
    upsess *sessions = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sessions_index);
    if (!sessions)
        return 0;
    size_t size = strlen(peer) + strlen(sni ? sni : "") + strlen(target->host) + 3;
    char *key = malloc(size);
    if (!key)
        return -1;
    snprintf(key, size, "%s %s %s", peer, sni ? sni : "", target->host);
    if (SSL_set_ex_data(ssl, session_key_index, key) != 1) {
        free(key);
        return -1;
    }
    SSL_SESSION *session = upsess_get1(sessions, key);
    if (!session)
        session = upsess_get1_from_group(sessions, peer, key, certificate_covers,
                                         (void *)target);
    if (session) {
        /* The server chose TLS 1.2 last time and will resume that session
         * in TLS 1.2: a ClientHello that also offers TLS 1.3 must carry a
         * TLS 1.3 key share, an X25519 key generated for nothing (15 % of
         * the proxy's instructions per new connection to such a server). */
        if (SSL_SESSION_get_protocol_version(session) == TLS1_2_VERSION)
            SSL_set_max_proto_version(ssl, TLS1_2_VERSION);
        SSL_set_session(ssl, session);
        SSL_SESSION_free(session);
    }
    return 0;
}

int tlsctx_prepare_upstream(SSL *ssl, const char *sni, const authority *target,
                            const char *peer, bool insecure)
{
    if (sni && sni[0] && SSL_set_tlsext_host_name(ssl, sni) != 1)
        return -1;
    /* By the name the client asked for, as --client-cert patterns say. A
     * resumed session would not show the server a certificate again, and
     * the record could not say which one it took: with a client
     * certificate, every handshake is a full one. */
    int chosen = clientcert_choose(ssl, target->host);
    if (chosen < 0 || (chosen == 0 && offer_session(ssl, sni, target, peer) != 0))
        return -1;
    if (insecure)
        return 0;
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if (target->kind == AUTHORITY_NAME) {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        return SSL_set1_host(ssl, target->host) == 1 ? 0 : -1;
    }
    return X509_VERIFY_PARAM_set1_ip_asc(param, target->host) == 1 ? 0 : -1;
}

void tlsctx_hello_sni(SSL *ssl, char *sni, size_t sni_size)
{
    const unsigned char *ext = NULL;
    size_t len = 0;
    sni[0] = '\0';
    /* server_name extension: list length (2), then entries of
     * type (1) + length (2) + name; we take the first host_name entry. */
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) ||
        len < 5)
        return;
    size_t list_len = ((size_t)ext[0] << 8) | ext[1];
    if (list_len + 2 != len || ext[2] != TLSEXT_NAMETYPE_host_name)
        return;
    size_t name_len = ((size_t)ext[3] << 8) | ext[4];
    if (name_len == 0 || name_len + 5 > len || name_len >= sni_size)
        return;
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = ext[5 + i];
        if (c <= 0x20 || c >= 0x7f) { /* not a host name: ignore the SNI */
            sni[0] = '\0';
            return;
        }
        sni[i] = (char)tolower(c);
    }
    sni[name_len] = '\0';
}

/* Does a ClientHello extension hold a list of 16-bit values (after a
 * length of len_size bytes that matches the extension) that includes
 * value? Absent or malformed: false. */
static bool hello_ext_lists(SSL *ssl, unsigned type, size_t len_size, unsigned value)
{
    const unsigned char *ext = NULL;
    size_t len = 0;
    if (!SSL_client_hello_get0_ext(ssl, type, &ext, &len) || len < len_size)
        return false;
    size_t list = len_size == 1 ? ext[0] : ((size_t)ext[0] << 8) | ext[1];
    if (list + len_size != len || list % 2 != 0)
        return false;
    for (size_t i = len_size; i + 1 < len; i += 2)
        if ((((unsigned)ext[i] << 8) | ext[i + 1]) == value)
            return true;
    return false;
}

/* Does the client offer a TLS 1.2 cipher suite authenticated by ECDSA? */
static bool hello_offers_ecdsa_suite(SSL *ssl)
{
    const unsigned char *suites = NULL;
    size_t len = SSL_client_hello_get0_ciphers(ssl, &suites);
    for (size_t i = 0; i + 1 < len; i += 2) {
        const SSL_CIPHER *c = SSL_CIPHER_find(ssl, suites + i);
        if (c && SSL_CIPHER_get_auth_nid(c) == NID_auth_ecdsa)
            return true;
    }
    return false;
}

/* TLS code points (RFC 8446 4.2.3, 4.2.7, 4.2.1). */
#define SIGALG_ECDSA_P256_SHA256 0x0403
#define GROUP_SECP256R1 23
#define VERSION_TLS13 0x0304

bool tlsctx_hello_takes_ecdsa_p256(SSL *ssl)
{
    /* Without signature_algorithms a TLS 1.2 client takes SHA-1
     * signatures only, which OpenSSL 3 no longer makes: no EC then. */
    if (!hello_ext_lists(ssl, TLSEXT_TYPE_signature_algorithms, 2,
                         SIGALG_ECDSA_P256_SHA256))
        return false;
    /* TLS 1.3 (what OpenSSL picks whenever the client offers it) names
     * the curve in the signature algorithm and needs nothing else. */
    int max = SSL_get_max_proto_version(ssl);
    if ((max == 0 || max >= TLS1_3_VERSION) &&
        hello_ext_lists(ssl, TLSEXT_TYPE_supported_versions, 1, VERSION_TLS13))
        return true;
    /* TLS 1.2: the curve must be among the client's groups when it lists
     * them (RFC 8422 5.1), and an ECDSA suite must be on offer. */
    const unsigned char *ext = NULL;
    size_t len = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_groups, &ext, &len) &&
        !hello_ext_lists(ssl, TLSEXT_TYPE_supported_groups, 2, GROUP_SECP256R1))
        return false;
    return hello_offers_ecdsa_suite(ssl);
}

bool tlsctx_hello_verifies_ecdsa_p256(SSL *ssl)
{
    /* RFC 8446 4.2.3: signature_algorithms_cert, when present, is what
     * the client accepts in certificates; else signature_algorithms is
     * (as in TLS 1.2, RFC 5246 7.4.1.4.1). */
    const unsigned char *ext = NULL;
    size_t len = 0;
    unsigned type = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_signature_algorithms_cert,
                                              &ext, &len)
                        ? TLSEXT_TYPE_signature_algorithms_cert
                        : TLSEXT_TYPE_signature_algorithms;
    return hello_ext_lists(ssl, type, 2, SIGALG_ECDSA_P256_SHA256);
}
