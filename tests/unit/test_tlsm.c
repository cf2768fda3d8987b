/* Unit tests for tlsm: a client-role and a server-role session talk to
 * each other entirely in memory. Certificates are made at test time
 * (P-256 keys, self-signed, SAN localhost), so nothing on disk and no
 * network is involved. Bytes are shuttled between the two sessions by
 * the test, in chunks of varying size, which also exercises partial
 * tlsm_output_consume(). */
#include "check_main.h"
#include "tlsm.h"
#include "qbio.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/tls1.h>
#include <openssl/x509v3.h>

/* ---------- fixture: keys, certificates, contexts ---------- */

typedef struct {
    EVP_PKEY *key;          /* the server's key */
    X509 *cert;             /* self-signed, SAN localhost, valid now */
    X509 *expired;          /* same key, not valid any more */
    EVP_PKEY *other_key;
    X509 *other_cert;       /* an unrelated self-signed "CA" */
    SSL_CTX *sctx;          /* server: cert + key */
    SSL_CTX *cctx;          /* client: trusts cert, verifies the peer */
} fixture;

/* Check runs each test in its own process after setup(); the fixture is
 * the usual way to hand state from a checked fixture to a test. */
static fixture fx;

static X509 *make_cert(EVP_PKEY *key, const char *name, long from_s, long to_s)
{
    X509 *x = X509_new();
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
    ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), from_s));
    ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), to_s));
    ck_assert_int_eq(X509_set_pubkey(x, key), 1);

    X509_NAME *nm = X509_get_subject_name(x);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
                         (const unsigned char *)name, -1, -1, 0), 1);
    ck_assert_int_eq(X509_set_issuer_name(x, nm), 1);

    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    ck_assert(gens && gn && ia5);
    ck_assert_int_eq(ASN1_STRING_set(ia5, name, -1), 1);
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    ck_assert_int_gt(sk_GENERAL_NAME_push(gens, gn), 0);
    ck_assert_int_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                                       X509V3_ADD_DEFAULT), 1);
    GENERAL_NAMES_free(gens);

    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    return x;
}

static SSL_CTX *make_client_ctx(X509 *trusted)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(X509_STORE_add_cert(SSL_CTX_get_cert_store(c), trusted), 1);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    return c;
}

static void setup(void)
{
    fx.key = EVP_EC_gen("P-256");
    fx.other_key = EVP_EC_gen("P-256");
    ck_assert(fx.key && fx.other_key);
    fx.cert = make_cert(fx.key, "localhost", -60, 3600);
    fx.expired = make_cert(fx.key, "localhost", -7200, -3600);
    fx.other_cert = make_cert(fx.other_key, "localhost", -60, 3600);

    fx.sctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(fx.sctx);
    ck_assert_int_eq(SSL_CTX_use_certificate(fx.sctx, fx.cert), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(fx.sctx, fx.key), 1);
    fx.cctx = make_client_ctx(fx.cert);
}

static void teardown(void)
{
    SSL_CTX_free(fx.sctx);
    SSL_CTX_free(fx.cctx);
    X509_free(fx.cert);
    X509_free(fx.expired);
    X509_free(fx.other_cert);
    EVP_PKEY_free(fx.key);
    EVP_PKEY_free(fx.other_key);
}

/* ---------- helpers ---------- */

static tlsm *new_client(SSL_CTX *ctx, const char *host)
{
    tlsm *c = tlsm_new(ctx, false);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(SSL_set_tlsext_host_name(tlsm_get0_ssl(c), "localhost"), 1);
    ck_assert_int_eq(SSL_set1_host(tlsm_get0_ssl(c), host), 1);
    return c;
}

static tlsm *new_server(SSL_CTX *ctx)
{
    tlsm *s = tlsm_new(ctx, true);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Deterministic xorshift: "random-ish" sizes and content, reproducible. */
static uint32_t rnd(uint32_t *st)
{
    uint32_t x = *st;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *st = x;
}

/* Move all pending output of `from` into `to`, in chunks of at most
 * `chunk` bytes (0: random sizes), consuming exactly what was moved. */
static size_t move_output(tlsm *from, tlsm *to, size_t chunk, uint32_t *st)
{
    size_t total = 0;
    const void *data;
    size_t len;
    while ((len = tlsm_output_peek(from, &data)) > 0) {
        size_t take = chunk ? chunk : 1 + rnd(st) % 20000;
        if (take > len)
            take = len;
        ck_assert_int_eq(tlsm_feed(to, data, take), 0);
        tlsm_output_consume(from, take);
        ck_assert_uint_eq(tlsm_output_peek(from, &data), len - take);
        total += take;
    }
    return total;
}

/* Run both handshakes until both are done or one stops (error/pause). */
static void run_handshake(tlsm *c, tlsm *s, tlsm_status *cs, tlsm_status *ss)
{
    uint32_t st = 12345;
    for (int i = 0; i < 20; i++) {
        *cs = tlsm_handshake(c);
        move_output(c, s, 0, &st);
        *ss = tlsm_handshake(s);
        move_output(s, c, 0, &st);
        if (*cs == TLSM_OK && *ss == TLSM_OK)
            return;
        if (*cs == TLSM_ERROR || *ss == TLSM_ERROR || *ss == TLSM_PAUSED)
            return;
    }
    ck_abort_msg("handshake did not converge");
}

static void handshake_ok(tlsm *c, tlsm *s)
{
    tlsm_status cs, ss;
    run_handshake(c, s, &cs, &ss);
    ck_assert_msg(cs == TLSM_OK, "client %d: %s", cs, tlsm_reason(c));
    ck_assert_msg(ss == TLSM_OK, "server %d: %s", ss, tlsm_reason(s));
    ck_assert(tlsm_handshake_done(c));
    ck_assert(tlsm_handshake_done(s));
    /* Done is sticky. */
    ck_assert_int_eq(tlsm_handshake(c), TLSM_OK);
    ck_assert_int_eq(tlsm_handshake(s), TLSM_OK);
}

/* Read everything available from t into buf[*got..want). Any byte beyond
 * `want` is a failure. Returns the final (non-OK) status. */
static tlsm_status read_all(tlsm *t, unsigned char *buf, size_t *got,
                            size_t want, uint32_t *st)
{
    for (;;) {
        unsigned char spill[64];
        size_t n = 0, max = 1 + rnd(st) % 65536;
        tlsm_status r;
        if (*got == want) {
            r = tlsm_read(t, spill, sizeof spill, &n);
            ck_assert_msg(r != TLSM_OK, "extra plaintext");
        } else {
            if (max > want - *got)
                max = want - *got;
            r = tlsm_read(t, buf + *got, max, &n);
        }
        if (r != TLSM_OK) {
            ck_assert_uint_eq(n, 0);
            return r;
        }
        ck_assert_uint_gt(n, 0);
        ck_assert_uint_le(n, max);
        *got += n;
    }
}

/* ---------- tests ---------- */

static const int versions[] = {TLS1_3_VERSION, TLS1_2_VERSION};

/* (1) the handshake completes for TLS 1.3 and TLS 1.2 */
START_TEST(test_handshake_versions)
{
    SSL_CTX_set_max_proto_version(fx.cctx, versions[_i]);
    tlsm *c = new_client(fx.cctx, "localhost");
    tlsm *s = new_server(fx.sctx);
    ck_assert(!tlsm_handshake_done(c));
    ck_assert_str_eq(tlsm_reason(c), "");
    handshake_ok(c, s);
    ck_assert_int_eq(SSL_version(tlsm_get0_ssl(c)), versions[_i]);
    ck_assert_int_eq(SSL_version(tlsm_get0_ssl(s)), versions[_i]);
    ck_assert_int_eq(SSL_get_verify_result(tlsm_get0_ssl(c)), X509_V_OK);
    tlsm_free(c);
    tlsm_free(s);
}
END_TEST

/* (2) 1 MB each way, byte-exact, varied write and read sizes; with
 * TLS 1.3 a key update in the middle, whose answer the reading side
 * queues as output (the caller must drain after reads too). */
START_TEST(test_exchange_1mb)
{
    enum { N = 1 << 20 };
    SSL_CTX_set_max_proto_version(fx.cctx, versions[_i]);
    tlsm *c = new_client(fx.cctx, "localhost");
    tlsm *s = new_server(fx.sctx);
    handshake_ok(c, s);

    unsigned char *c_out = malloc(N), *s_out = malloc(N);
    unsigned char *c_in = malloc(N), *s_in = malloc(N);
    ck_assert(c_out && s_out && c_in && s_in);
    uint32_t st = 0x9e3779b9u;
    for (size_t i = 0; i < N; i++) {
        c_out[i] = (unsigned char)rnd(&st);
        s_out[i] = (unsigned char)(rnd(&st) >> 8);
    }

    size_t c_sent = 0, s_sent = 0, c_got = 0, s_got = 0;
    bool key_updated = false;
    for (int iter = 0; c_got < N || s_got < N; iter++) {
        ck_assert_int_lt(iter, 10000);
        if (c_sent < N) {
            size_t w = 1 + rnd(&st) % 40000, n = 0;
            if (w > N - c_sent)
                w = N - c_sent;
            if (!key_updated && c_sent > N / 2 &&
                versions[_i] == TLS1_3_VERSION) {
                ck_assert_int_eq(SSL_key_update(tlsm_get0_ssl(c),
                                     SSL_KEY_UPDATE_REQUESTED), 1);
                key_updated = true;
            }
            ck_assert_int_eq(tlsm_write(c, c_out + c_sent, w, &n), TLSM_OK);
            ck_assert_uint_eq(n, w);
            c_sent += w;
        }
        if (s_sent < N && rnd(&st) % 3 != 0) {
            size_t w = 1 + rnd(&st) % 40000, n = 0;
            if (w > N - s_sent)
                w = N - s_sent;
            ck_assert_int_eq(tlsm_write(s, s_out + s_sent, w, &n), TLSM_OK);
            ck_assert_uint_eq(n, w);
            s_sent += w;
        }
        move_output(c, s, 0, &st);
        move_output(s, c, 0, &st);
        ck_assert_int_eq(read_all(s, s_in, &s_got, N, &st), TLSM_WANT_INPUT);
        ck_assert_int_eq(read_all(c, c_in, &c_got, N, &st), TLSM_WANT_INPUT);
        move_output(s, c, 0, &st);
        move_output(c, s, 0, &st);
        ck_assert_int_eq(read_all(s, s_in, &s_got, N, &st), TLSM_WANT_INPUT);
        ck_assert_int_eq(read_all(c, c_in, &c_got, N, &st), TLSM_WANT_INPUT);
    }
    ck_assert(memcmp(c_out, s_in, N) == 0);
    ck_assert(memcmp(s_out, c_in, N) == 0);
    ck_assert(key_updated == (versions[_i] == TLS1_3_VERSION));

    free(c_out);
    free(s_out);
    free(c_in);
    free(s_in);
    tlsm_free(c);
    tlsm_free(s);
}
END_TEST

/* One big write then a full drain: the output buffer's memory is given
 * back (idle connections must stay small). */
START_TEST(test_output_memory_released)
{
    enum { N = 300000 };
    tlsm *c = new_client(fx.cctx, "localhost");
    tlsm *s = new_server(fx.sctx);
    handshake_ok(c, s);
    unsigned char *buf = calloc(1, N);
    size_t n = 0;
    ck_assert_int_eq(tlsm_write(c, buf, N, &n), TLSM_OK);
    ck_assert_uint_eq(n, N);
    const void *data;
    size_t len = tlsm_output_peek(c, &data);
    ck_assert_uint_gt(len, N);
    ck_assert_int_eq(tlsm_feed(s, data, len), 0);
    tlsm_output_consume(c, len);
    ck_assert_uint_eq(tlsm_output_peek(c, &data), 0);
    ck_assert_uint_le(qbio_capacity(SSL_get_wbio(tlsm_get0_ssl(c))), 32 * 1024);
    /* The server's input buffer is given back once read. */
    uint32_t st = 1;
    size_t total = 0;
    ck_assert_int_eq(read_all(s, buf, &total, N, &st), TLSM_WANT_INPUT);
    ck_assert_uint_eq(total, N);
    ck_assert_uint_le(qbio_capacity(SSL_get_rbio(tlsm_get0_ssl(s))), 32 * 1024);
    /* Both still work after their buffers were swapped. */
    ck_assert_int_eq(tlsm_write(c, "ping", 4, &n), TLSM_OK);
    move_output(c, s, 0, &st);
    unsigned char got[8];
    ck_assert_int_eq(tlsm_read(s, got, sizeof got, &n), TLSM_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert(memcmp(got, "ping", 4) == 0);
    free(buf);
    tlsm_free(c);
    tlsm_free(s);
}
END_TEST

/* (3) the client-hello callback pauses the handshake until decided */
typedef struct {
    int calls;
    bool decided;
    char sni[64];
} hello_state;

static int hello_cb(SSL *ssl, int *alert, void *arg)
{
    hello_state *h = arg;
    h->calls++;
    if (!h->decided) {
        const unsigned char *p;
        size_t len;
        /* server_name: list length(2) type(1) name length(2) name */
        if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) &&
            len > 5 && p[2] == TLSEXT_NAMETYPE_host_name) {
            size_t nl = ((size_t)p[3] << 8) | p[4];
            if (nl <= len - 5 && nl < sizeof h->sni) {
                memcpy(h->sni, p + 5, nl);
                h->sni[nl] = '\0';
            }
        }
        return SSL_CLIENT_HELLO_RETRY;
    }
    /* The decision: the certificate is chosen only now, as the proxy
     * does after the upstream handshake. */
    if (SSL_use_certificate(ssl, fx.cert) != 1 ||
        SSL_use_PrivateKey(ssl, fx.key) != 1) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

START_TEST(test_client_hello_pause)
{
    hello_state h = {0};
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(sctx);
    SSL_CTX_set_client_hello_cb(sctx, hello_cb, &h);
    tlsm *c = new_client(fx.cctx, "localhost");
    tlsm *s = new_server(sctx);
    uint32_t st = 7;

    ck_assert_int_eq(tlsm_handshake(c), TLSM_WANT_INPUT);
    move_output(c, s, 0, &st);
    ck_assert_int_eq(tlsm_handshake(s), TLSM_PAUSED);
    ck_assert_int_eq(h.calls, 1);
    ck_assert_str_eq(h.sni, "localhost");
    const void *data;
    ck_assert_uint_eq(tlsm_output_peek(s, &data), 0);

    /* Not decided yet: still paused, reads report the pause too. */
    ck_assert_int_eq(tlsm_handshake(s), TLSM_PAUSED);
    size_t n = 1;
    unsigned char b[4];
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_PAUSED);
    ck_assert_uint_eq(n, 0);
    ck_assert(!tlsm_handshake_done(s));

    h.decided = true;
    ck_assert_int_eq(tlsm_handshake(s), TLSM_WANT_INPUT);
    ck_assert_uint_gt(tlsm_output_peek(s, &data), 0);
    move_output(s, c, 0, &st);
    handshake_ok(c, s);

    ck_assert_int_eq(tlsm_write(c, "hi", 2, &n), TLSM_OK);
    move_output(c, s, 0, &st);
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert(memcmp(b, "hi", 2) == 0);
    tlsm_free(c);
    tlsm_free(s);
    SSL_CTX_free(sctx);
}
END_TEST

/* (4) the client trusts another CA: it fails with a verify reason, and
 * the server, fed the client's alert, names the alert. */
START_TEST(test_verify_failure_and_alert)
{
    SSL_CTX *cctx = make_client_ctx(fx.other_cert);
    tlsm *c = new_client(cctx, "localhost");
    tlsm *s = new_server(fx.sctx);
    tlsm_status cs, ss;
    run_handshake(c, s, &cs, &ss);
    ck_assert_int_eq(cs, TLSM_ERROR);
    ck_assert_msg(strstr(tlsm_reason(c), "certificate verify failed: ") ==
                      tlsm_reason(c), "%s", tlsm_reason(c));
    ck_assert_msg(strstr(tlsm_reason(c), "self-signed") != NULL ||
                      strstr(tlsm_reason(c), "issuer") != NULL,
                  "%s", tlsm_reason(c));
    /* run_handshake moved the client's alert; the server sees it. */
    ck_assert_int_eq(ss, TLSM_ERROR);
    ck_assert_msg(strstr(tlsm_reason(s), "peer sent alert: ") == tlsm_reason(s),
                  "%s", tlsm_reason(s));
    ck_assert_uint_gt(strlen(tlsm_reason(s)), strlen("peer sent alert: "));
    /* An OpenSSL client that does not trust the issuer says unknown_ca. */
    ck_assert_int_eq(tlsm_peer_alert(s), SSL_AD_UNKNOWN_CA);
    ck_assert_int_eq(tlsm_peer_alert(c), -1);
    ck_assert(!tlsm_peer_quit_handshake(s));

    /* Fatal is final: every later call says ERROR, reason unchanged. */
    char saved[256];
    snprintf(saved, sizeof saved, "%s", tlsm_reason(c));
    size_t n;
    unsigned char b[4];
    ck_assert_int_eq(tlsm_handshake(c), TLSM_ERROR);
    ck_assert_int_eq(tlsm_read(c, b, sizeof b, &n), TLSM_ERROR);
    ck_assert_int_eq(tlsm_write(c, "x", 1, &n), TLSM_ERROR);
    ck_assert_int_eq(tlsm_shutdown(c), TLSM_ERROR);
    ck_assert_str_eq(tlsm_reason(c), saved);
    ck_assert(!tlsm_handshake_done(c));
    tlsm_free(c);
    tlsm_free(s);
    SSL_CTX_free(cctx);
}
END_TEST

/* (5) verification against the right CA but the wrong name */
START_TEST(test_hostname_mismatch)
{
    tlsm *c = new_client(fx.cctx, "other.example");
    tlsm *s = new_server(fx.sctx);
    tlsm_status cs, ss;
    run_handshake(c, s, &cs, &ss);
    ck_assert_int_eq(cs, TLSM_ERROR);
    ck_assert_str_eq(tlsm_reason(c), "certificate verify failed: hostname mismatch");
    ck_assert_int_eq(ss, TLSM_ERROR);
    ck_assert_msg(strstr(tlsm_reason(s), "peer sent alert: ") != NULL,
                  "%s", tlsm_reason(s));
    tlsm_free(c);
    tlsm_free(s);
}
END_TEST

START_TEST(test_expired_certificate)
{
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(sctx);
    ck_assert_int_eq(SSL_CTX_use_certificate(sctx, fx.expired), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(sctx, fx.key), 1);
    SSL_CTX *cctx = make_client_ctx(fx.expired);
    tlsm *c = new_client(cctx, "localhost");
    tlsm *s = new_server(sctx);
    tlsm_status cs, ss;
    run_handshake(c, s, &cs, &ss);
    ck_assert_int_eq(cs, TLSM_ERROR);
    ck_assert_str_eq(tlsm_reason(c), "certificate verify failed: certificate has expired");
    tlsm_free(c);
    tlsm_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}
END_TEST

/* (6) non-TLS bytes: an HTTP request to a server, an HTTP response to a
 * client, and binary noise */
START_TEST(test_garbage)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    static const char resp[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    static const unsigned char noise[] = {0x16, 0x03, 0x01, 0xff, 0xff, 0x01,
                                          0x02, 0x03, 0x04, 0x05, 0x06};

    tlsm *s = new_server(fx.sctx);
    ck_assert_int_eq(tlsm_feed(s, req, sizeof req - 1), 0);
    ck_assert_int_eq(tlsm_handshake(s), TLSM_ERROR);
    ck_assert_str_ne(tlsm_reason(s), "");
    tlsm_free(s);

    tlsm *c = new_client(fx.cctx, "localhost");
    ck_assert_int_eq(tlsm_handshake(c), TLSM_WANT_INPUT);
    tlsm_output_consume(c, tlsm_output_peek(c, &(const void *){NULL}));
    ck_assert_int_eq(tlsm_feed(c, resp, sizeof resp - 1), 0);
    ck_assert_int_eq(tlsm_handshake(c), TLSM_ERROR);
    ck_assert_str_eq(tlsm_reason(c), "wrong version number");
    tlsm_free(c);

    s = new_server(fx.sctx);
    ck_assert_int_eq(tlsm_feed(s, noise, sizeof noise), 0);
    tlsm_status r = tlsm_handshake(s);
    ck_assert_int_eq(r, TLSM_ERROR);
    ck_assert_str_ne(tlsm_reason(s), "");
    tlsm_free(s);
}
END_TEST

/* (7a) clean close: close_notify, then CLOSED, even after a TCP EOF */
START_TEST(test_close_notify)
{
    tlsm *c = new_client(fx.cctx, "localhost");
    tlsm *s = new_server(fx.sctx);
    handshake_ok(c, s);
    uint32_t st = 3;
    size_t n = 0;
    unsigned char b[16];

    ck_assert_int_eq(tlsm_write(c, "last", 4, &n), TLSM_OK);
    ck_assert_int_eq(tlsm_shutdown(c), TLSM_OK);
    ck_assert_uint_gt(move_output(c, s, 0, &st), 0);
    ck_assert_int_eq(tlsm_shutdown(c), TLSM_OK); /* idempotent ... */
    const void *data;
    ck_assert_uint_eq(tlsm_output_peek(c, &data), 0); /* ... and silent */

    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_CLOSED);
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_CLOSED);
    tlsm_feed_eof(s);
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_CLOSED);
    ck_assert_uint_eq(n, 0);

    /* Half-close: the server may still answer, then close too. */
    ck_assert_int_eq(tlsm_write(s, "bye", 3, &n), TLSM_OK);
    ck_assert_int_eq(tlsm_shutdown(s), TLSM_OK);
    move_output(s, c, 0, &st);
    ck_assert_int_eq(tlsm_read(c, b, sizeof b, &n), TLSM_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(tlsm_read(c, b, sizeof b, &n), TLSM_CLOSED);
    tlsm_free(c);
    tlsm_free(s);
}
END_TEST

/* (7b) EOF without close_notify is an error, after and during handshake */
START_TEST(test_eof_without_close_notify)
{
    tlsm *c = new_client(fx.cctx, "localhost");
    tlsm *s = new_server(fx.sctx);
    handshake_ok(c, s);
    uint32_t st = 5;
    size_t n = 0;
    unsigned char b[16];

    ck_assert_int_eq(tlsm_write(c, "data", 4, &n), TLSM_OK);
    move_output(c, s, 0, &st);
    tlsm_feed_eof(s);
    /* Data before the EOF is still delivered. */
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_ERROR);
    ck_assert_str_eq(tlsm_reason(s), "connection closed without close_notify");
    tlsm_free(c);
    tlsm_free(s);

    /* EOF in the middle of a ClientHello */
    c = new_client(fx.cctx, "localhost");
    s = new_server(fx.sctx);
    ck_assert_int_eq(tlsm_handshake(c), TLSM_WANT_INPUT);
    const void *data;
    size_t len = tlsm_output_peek(c, &data);
    ck_assert_uint_gt(len, 10);
    ck_assert_int_eq(tlsm_feed(s, data, len / 2), 0);
    ck_assert_int_eq(tlsm_handshake(s), TLSM_WANT_INPUT);
    tlsm_feed_eof(s);
    ck_assert_int_eq(tlsm_handshake(s), TLSM_ERROR);
    ck_assert_str_eq(tlsm_reason(s), "connection closed during handshake");
    ck_assert(tlsm_peer_quit_handshake(s));
    ck_assert_int_eq(tlsm_peer_alert(s), -1);
    tlsm_free(c);
    tlsm_free(s);

    /* EOF before any byte */
    s = new_server(fx.sctx);
    tlsm_feed_eof(s);
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_ERROR);
    ck_assert_str_eq(tlsm_reason(s), "connection closed during handshake");
    tlsm_free(s);
}
END_TEST

/* tlsm_has_input() is true exactly while a read could return something
 * other than WANT_INPUT: records not read yet (also split ones: a read
 * must say it wants the rest), part of a record left by a short read, and
 * an EOF not reported yet. */
START_TEST(test_has_input)
{
    tlsm *c = new_client(fx.cctx, "localhost");
    tlsm *s = new_server(fx.sctx);
    handshake_ok(c, s);
    uint32_t st = 9;
    size_t n = 0;
    unsigned char b[64];

    /* TLS 1.3 tickets from the server are input for the client; reading
     * them yields nothing and leaves none. */
    while (tlsm_has_input(c))
        ck_assert_int_eq(tlsm_read(c, b, sizeof b, &n), TLSM_WANT_INPUT);
    ck_assert(!tlsm_has_input(s));

    ck_assert_int_eq(tlsm_write(c, "0123456789", 10, &n), TLSM_OK);
    const void *data;
    size_t len = tlsm_output_peek(c, &data);
    ck_assert_uint_gt(len, 3);
    ck_assert_int_eq(tlsm_feed(s, data, 3), 0); /* part of the record */
    tlsm_output_consume(c, 3);
    ck_assert(tlsm_has_input(s));
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_WANT_INPUT);
    move_output(c, s, 0, &st);
    ck_assert(tlsm_has_input(s));
    ck_assert_int_eq(tlsm_read(s, b, 4, &n), TLSM_OK); /* a short read */
    ck_assert(tlsm_has_input(s));
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_OK);
    ck_assert_uint_eq(n, 6);
    ck_assert(!tlsm_has_input(s));

    tlsm_feed_eof(s);
    ck_assert(tlsm_has_input(s));
    ck_assert_int_eq(tlsm_read(s, b, sizeof b, &n), TLSM_ERROR);
    tlsm_free(c);
    tlsm_free(s);
}
END_TEST

/* Misuse: writing or shutting down before the handshake */
START_TEST(test_write_before_handshake)
{
    tlsm *c = new_client(fx.cctx, "localhost");
    size_t n = 99;
    ck_assert_int_eq(tlsm_write(c, "x", 1, &n), TLSM_ERROR);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(tlsm_reason(c), "handshake not complete");
    ck_assert_int_eq(tlsm_shutdown(c), TLSM_ERROR);
    tlsm_free(c);
    tlsm_free(NULL);
}
END_TEST

/* (8) every flight delivered one byte at a time, with a handshake step
 * after each byte; only the last byte of a flight makes progress. */
static tlsm_status feed_bytewise(tlsm *from, tlsm *to)
{
    tlsm_status r = TLSM_WANT_INPUT;
    const void *data;
    size_t len;
    while ((len = tlsm_output_peek(from, &data)) > 0) {
        ck_assert_int_eq(tlsm_feed(to, data, 1), 0);
        tlsm_output_consume(from, 1);
        r = tlsm_handshake(to);
        ck_assert_msg(r == TLSM_WANT_INPUT || r == TLSM_OK, "%d: %s", r,
                      tlsm_reason(to));
        /* Nobody answers half a flight. */
        if (len > 1)
            ck_assert_uint_eq(tlsm_output_peek(to, &(const void *){NULL}), 0);
    }
    return r;
}

START_TEST(test_bytewise_handshake)
{
    SSL_CTX_set_max_proto_version(fx.cctx, versions[_i]);
    tlsm *c = new_client(fx.cctx, "localhost");
    tlsm *s = new_server(fx.sctx);
    const void *data;
    ck_assert_int_eq(tlsm_handshake(c), TLSM_WANT_INPUT);
    size_t hello = tlsm_output_peek(c, &data);
    ck_assert_uint_gt(hello, 100);
    for (size_t i = 0; i + 1 < hello; i++) {
        ck_assert_int_eq(tlsm_feed(s, (const char *)data + i, 1), 0);
        ck_assert_int_eq(tlsm_handshake(s), TLSM_WANT_INPUT);
        ck_assert_uint_eq(tlsm_output_peek(s, &(const void *){NULL}), 0);
    }
    ck_assert_int_eq(tlsm_feed(s, (const char *)data + hello - 1, 1), 0);
    tlsm_output_consume(c, hello);
    ck_assert_int_eq(tlsm_handshake(s), TLSM_WANT_INPUT);
    ck_assert_uint_gt(tlsm_output_peek(s, &data), 0); /* ServerHello... */

    for (int round = 0; round < 10; round++) {
        if (tlsm_handshake_done(c) && tlsm_handshake_done(s))
            break;
        feed_bytewise(s, c);
        feed_bytewise(c, s);
    }
    ck_assert(tlsm_handshake_done(c));
    ck_assert(tlsm_handshake_done(s));

    /* And application data, byte by byte, still arrives whole. */
    size_t n;
    ck_assert_int_eq(tlsm_write(c, "hello", 5, &n), TLSM_OK);
    unsigned char b[8];
    size_t got = 0;
    size_t len;
    while ((len = tlsm_output_peek(c, &data)) > 0) {
        ck_assert_int_eq(tlsm_feed(s, data, 1), 0);
        tlsm_output_consume(c, 1);
        tlsm_status r = tlsm_read(s, b + got, sizeof b - got, &n);
        if (len > 1)
            ck_assert_int_eq(r, TLSM_WANT_INPUT);
        else
            ck_assert_int_eq(r, TLSM_OK);
        got += n;
    }
    ck_assert_uint_eq(got, 5);
    ck_assert(memcmp(b, "hello", 5) == 0);
    tlsm_free(c);
    tlsm_free(s);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *su = suite_create("tlsm");
    TCase *tc = check_case(su, "memory", 60, CHECK_TESTS(
        test_output_memory_released, test_client_hello_pause, test_verify_failure_and_alert,
        test_hostname_mismatch, test_expired_certificate, test_garbage, test_close_notify,
        test_eof_without_close_notify, test_has_input, test_write_before_handshake));
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_handshake_versions, 0, 2);
    tcase_add_loop_test(tc, test_exchange_1mb, 0, 2);
    tcase_add_loop_test(tc, test_bytewise_handshake, 0, 2);
    return su;
}
