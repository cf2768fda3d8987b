/* Unit tests for tlsctx: both SSL_CTX families, handshaking with each other
 * in memory (a BIO pair), and what they read from a ClientHello. */
#include "check_main.h"
#include "tlsctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"

/* Checked fixtures run in each forked test, so this state is per test. */
static struct {
    EVP_PKEY *key;
    X509 *cert;            /* self-signed, SAN localhost and 127.0.0.1 */
    char ca_file[64];      /* cert in PEM, for --upstream-ca */
    char sni[256];         /* what the hello callback read */
    int hellos;            /* hello callback runs */
    bool http2;            /* mirroring: h2 may be offered (no --no-http2) */
} fx;

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ck_assert_ptr_nonnull(ext);
    ck_assert(X509_add_ext(x, ext, -1));
    X509_EXTENSION_free(ext);
}

static void setup(void)
{
    memset(&fx, 0, sizeof fx);
    fx.key = EVP_EC_gen("P-256");
    fx.cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    ck_assert(fx.key && fx.cert && name);
    ck_assert(X509_set_version(fx.cert, X509_VERSION_3));
    ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(fx.cert), 7));
    ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                         (const unsigned char *)"localhost", -1, -1, 0));
    ck_assert(X509_set_subject_name(fx.cert, name) && X509_set_issuer_name(fx.cert, name));
    X509_NAME_free(name);
    ck_assert(X509_gmtime_adj(X509_getm_notBefore(fx.cert), -3600));
    ck_assert(X509_gmtime_adj(X509_getm_notAfter(fx.cert), 3600));
    ck_assert(X509_set_pubkey(fx.cert, fx.key));
    add_ext(fx.cert, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(fx.cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    ck_assert(X509_sign(fx.cert, fx.key, EVP_sha256()));
    snprintf(fx.ca_file, sizeof fx.ca_file, "/tmp/tlspeek-tlsctx-XXXXXX");
    int fd = mkstemp(fx.ca_file);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert(f && PEM_write_X509(f, fx.cert));
    fclose(f);
}

static void teardown(void)
{
    unlink(fx.ca_file);
    X509_free(fx.cert);
    EVP_PKEY_free(fx.key);
}

/* The proxy's hello callback reads the SNI and lets the handshake go on
 * with the fixture's certificate (the real one pauses for the upstream). */
static int on_hello(SSL *ssl, int *alert, void *arg)
{
    (void)alert, (void)arg;
    fx.hellos++;
    tlsctx_hello_sni(ssl, fx.sni, sizeof fx.sni);
    return SSL_use_certificate(ssl, fx.cert) == 1 && SSL_use_PrivateKey(ssl, fx.key) == 1
               ? SSL_CLIENT_HELLO_SUCCESS
               : SSL_CLIENT_HELLO_ERROR;
}

/* Handshake client and server over a BIO pair. 1 when both finished, 0
 * when either failed. */
static int handshake(SSL *client, SSL *server)
{
    BIO *cb = NULL, *sb = NULL;
    ck_assert(BIO_new_bio_pair(&cb, 0, &sb, 0));
    SSL_set_bio(client, cb, cb);
    SSL_set_bio(server, sb, sb);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    int c = 0, s = 0;
    for (int round = 0; round < 20 && (c != 1 || s != 1); round++) {
        if (c != 1) {
            c = SSL_do_handshake(client);
            if (c <= 0 && SSL_get_error(client, c) != SSL_ERROR_WANT_READ)
                return 0;
        }
        if (s != 1) {
            s = SSL_do_handshake(server);
            if (s <= 0 && SSL_get_error(server, s) != SSL_ERROR_WANT_READ)
                return 0;
        }
    }
    return c == 1 && s == 1;
}

static authority target(const char *text)
{
    authority a;
    const char *why = NULL;
    ck_assert_int_eq(authority_parse(text, strlen(text), 443, &a, &why), 0);
    return a;
}

/* One upstream-role connection from up to a client-facing server. */
static int connect_pair(SSL_CTX *up, SSL_CTX *server_ctx, const char *sni,
                        const char *host, bool insecure, SSL **client_out, SSL **server_out)
{
    SSL *client = SSL_new(up);
    SSL *server = SSL_new(server_ctx);
    ck_assert(client && server);
    authority t = target(host);
    ck_assert_int_eq(tlsctx_prepare_upstream(client, sni, &t, "127.0.0.1:443", insecure), 0);
    int ok = handshake(client, server);
    *client_out = client;
    *server_out = server;
    return ok;
}

static void alpn_of(SSL *ssl, char *out, size_t size)
{
    const unsigned char *p = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &p, &len);
    snprintf(out, size, "%.*s", (int)len, p ? (const char *)p : "");
}

START_TEST(families_build_with_their_settings)
{
    SSL_CTX *up = tlsctx_new_upstream(NULL, false, NULL);
    SSL_CTX *insecure = tlsctx_new_upstream(NULL, true, NULL);
    SSL_CTX *front = tlsctx_new_client_facing(on_hello);
    ck_assert(up && insecure && front);
    ck_assert_int_eq(SSL_CTX_get_verify_mode(up), SSL_VERIFY_PEER);
    ck_assert_int_eq(SSL_CTX_get_verify_mode(insecure), SSL_VERIFY_NONE);
    ck_assert_int_eq(SSL_CTX_get_min_proto_version(up), TLS1_2_VERSION);
    ck_assert_int_eq(SSL_CTX_get_min_proto_version(front), TLS1_2_VERSION);
    /* Clients resume with tickets; no server-side store. */
    ck_assert_int_eq(SSL_CTX_get_session_cache_mode(front), SSL_SESS_CACHE_OFF);
    tlsctx_free(up);
    tlsctx_free(insecure);
    tlsctx_free(front);
    tlsctx_free(NULL);
}
END_TEST

START_TEST(bad_upstream_ca_file_is_refused)
{
    ck_assert_ptr_null(tlsctx_new_upstream("/nonexistent/ca.pem", false, NULL));
    ck_assert_ptr_null(tlsctx_new_upstream("/dev/null", false, NULL));
}
END_TEST

START_TEST(upstream_verifies_name_and_offers_http11)
{
    SSL_CTX *up = tlsctx_new_upstream(fx.ca_file, false, NULL);
    SSL_CTX *front = tlsctx_new_client_facing(on_hello);
    SSL *client, *server;
    ck_assert_int_eq(connect_pair(up, front, "LocalHost", "localhost", false, &client,
                                  &server), 1);
    ck_assert_int_eq(SSL_get_verify_result(client), X509_V_OK);
    ck_assert_int_eq(fx.hellos, 1);
    ck_assert_str_eq(fx.sni, "localhost"); /* lower-cased */
    char alpn[32];
    alpn_of(client, alpn, sizeof alpn);
    ck_assert_str_eq(alpn, "http/1.1");
    SSL_free(client);
    SSL_free(server);
    tlsctx_free(up);
    tlsctx_free(front);
}
END_TEST

START_TEST(upstream_refuses_another_name)
{
    SSL_CTX *up = tlsctx_new_upstream(fx.ca_file, false, NULL);
    SSL_CTX *front = tlsctx_new_client_facing(on_hello);
    SSL *client, *server;
    ck_assert_int_eq(connect_pair(up, front, "example.com", "example.com", false,
                                  &client, &server), 0);
    ck_assert_int_eq(SSL_get_verify_result(client), X509_V_ERR_HOSTNAME_MISMATCH);
    SSL_free(client);
    SSL_free(server);
    /* The same with --insecure: nothing is checked. */
    SSL_CTX *insecure = tlsctx_new_upstream(NULL, true, NULL);
    ck_assert_int_eq(connect_pair(insecure, front, "example.com", "example.com", true,
                                  &client, &server), 1);
    SSL_free(client);
    SSL_free(server);
    tlsctx_free(insecure);
    tlsctx_free(up);
    tlsctx_free(front);
}
END_TEST

START_TEST(ip_target_gets_no_sni_and_ip_verification)
{
    SSL_CTX *up = tlsctx_new_upstream(fx.ca_file, false, NULL);
    SSL_CTX *front = tlsctx_new_client_facing(on_hello);
    SSL *client, *server;
    ck_assert_int_eq(connect_pair(up, front, NULL, "127.0.0.1", false, &client, &server),
                     1);
    ck_assert_str_eq(fx.sni, "");
    ck_assert_int_eq(SSL_get_verify_result(client), X509_V_OK);
    SSL_free(client);
    SSL_free(server);
    tlsctx_free(up);
    tlsctx_free(front);
}
END_TEST

/* A client of our own with its own ALPN list, against the client-facing
 * context: http/1.1 is chosen when offered, h2 never. */
static void client_facing_alpn(const unsigned char *offer, size_t offer_len,
                               const char *expected)
{
    SSL_CTX *front = tlsctx_new_client_facing(on_hello);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    ck_assert(front && cctx);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    ck_assert_int_eq(SSL_CTX_set_alpn_protos(cctx, offer, (unsigned int)offer_len), 0);
    SSL *client = SSL_new(cctx);
    SSL *server = SSL_new(front);
    ck_assert_int_eq(handshake(client, server), 1);
    char alpn[32];
    alpn_of(server, alpn, sizeof alpn);
    ck_assert_str_eq(alpn, expected);
    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(cctx);
    tlsctx_free(front);
}

START_TEST(client_facing_selects_http11_never_h2)
{
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    static const unsigned char h2_only[] = "\x02h2";
    client_facing_alpn(both, sizeof both - 1, "http/1.1");
    client_facing_alpn(h2_only, sizeof h2_only - 1, "");
}
END_TEST

/* ---- ALPN mirroring: client -> front (client-facing) | up -> origin ---- */

/* The origin's own ALPN list, in its order of preference (wire format). */
typedef struct {
    const unsigned char *list;
    unsigned int len;
} origin_alpn;

static int origin_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                         const unsigned char *in, unsigned int inlen, void *arg)
{
    const origin_alpn *o = arg;
    unsigned char *selected = NULL;
    (void)ssl;
    if (SSL_select_next_proto(&selected, outlen, o->list, o->len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

/* As the proxy does: the first hello notes the client's ALPN offer and
 * pauses; when it runs again the leaf goes on and the handshake goes on. */
static int mirror_hello(SSL *ssl, int *alert, void *arg)
{
    (void)alert, (void)arg;
    if (++fx.hellos == 1) {
        ck_assert_int_eq(tlsctx_hello_alpn(ssl, fx.http2), 0);
        return SSL_CLIENT_HELLO_RETRY;
    }
    return SSL_use_certificate(ssl, fx.cert) == 1 && SSL_use_PrivateKey(ssl, fx.key) == 1
               ? SSL_CLIENT_HELLO_SUCCESS
               : SSL_CLIENT_HELLO_ERROR;
}

/* A client offering `offer` (wire format, "" for no ALPN) through the
 * proxy's two contexts to an origin selecting from `origin` ("" for no
 * ALPN callback). Returns what the client got: the protocol, "" for none,
 * or "refused" (then *refusal is the reason given); *at_origin is what
 * the origin selected. */
static const char *mirror(const char *offer, const char *origin, bool http2,
                          char *at_origin, size_t size, const char **refusal)
{
    static char got[32];
    fx.http2 = http2;
    fx.hellos = 0;
    SSL_CTX *front = tlsctx_new_client_facing(mirror_hello);
    SSL_CTX *up = tlsctx_new_upstream(fx.ca_file, false, NULL);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX *octx = SSL_CTX_new(TLS_server_method());
    ck_assert(front && up && cctx && octx);
    ck_assert(SSL_CTX_use_certificate(octx, fx.cert) == 1 &&
              SSL_CTX_use_PrivateKey(octx, fx.key) == 1);
    origin_alpn o = {(const unsigned char *)origin, (unsigned int)strlen(origin)};
    if (o.len)
        SSL_CTX_set_alpn_select_cb(octx, origin_select, &o);
    SSL *client = SSL_new(cctx), *fs = SSL_new(front);
    if (offer[0])
        ck_assert_int_eq(SSL_set_alpn_protos(client, (const unsigned char *)offer,
                                             (unsigned int)strlen(offer)), 0);
    BIO *cb = NULL, *sb = NULL;
    ck_assert(BIO_new_bio_pair(&cb, 0, &sb, 0));
    SSL_set_bio(client, cb, cb);
    SSL_set_bio(fs, sb, sb);
    SSL_set_connect_state(client);
    SSL_set_accept_state(fs);
    /* The client's hello, paused at the proxy. */
    ck_assert_int_le(SSL_do_handshake(client), 0);
    int r = SSL_do_handshake(fs);
    ck_assert_int_eq(SSL_get_error(fs, r), SSL_ERROR_WANT_CLIENT_HELLO_CB);
    /* The upstream handshake, offered the client's list. */
    SSL *us = SSL_new(up), *os = SSL_new(octx);
    authority t = target("localhost");
    ck_assert_int_eq(tlsctx_prepare_upstream(us, "localhost", &t, "127.0.0.1:443", false), 0);
    ck_assert_int_eq(tlsctx_offer_alpn(us, fs), 0);
    ck_assert_int_eq(handshake(us, os), 1);
    alpn_of(os, at_origin, size);
    tlsctx_answer_alpn(fs, us);
    /* The client's handshake resumes. */
    int c = 0, f = 0;
    bool failed = false;
    for (int round = 0; round < 20 && !failed && (c != 1 || f != 1); round++) {
        if (f != 1) {
            f = SSL_do_handshake(fs);
            failed |= f <= 0 && SSL_get_error(fs, f) != SSL_ERROR_WANT_READ;
        }
        if (c != 1 && !failed) {
            c = SSL_do_handshake(client);
            failed |= c <= 0 && SSL_get_error(client, c) != SSL_ERROR_WANT_READ;
        }
    }
    *refusal = tlsctx_alpn_refusal(fs);
    if (failed)
        snprintf(got, sizeof got, "refused");
    else
        alpn_of(client, got, sizeof got);
    SSL_free(client);
    SSL_free(fs);
    SSL_free(us);
    SSL_free(os);
    SSL_CTX_free(cctx);
    SSL_CTX_free(octx);
    tlsctx_free(front);
    tlsctx_free(up);
    return got;
}

#define H2 "\x02h2"
#define H11 "\x08http/1.1"

START_TEST(alpn_is_mirrored)
{
    static const struct {
        const char *offer, *origin;
        bool http2;
        const char *client_gets, *origin_selects;
    } cases[] = {
        {H2 H11, H2 H11, true, "h2", "h2"},
        {H2 H11, H11, true, "http/1.1", "http/1.1"},
        {H2 H11, "", true, "", ""},
        {H11 H2, H11 H2, true, "http/1.1", "http/1.1"},
        {H11, H2, true, "", ""},               /* we offered only http/1.1 */
        {H2, H2 H11, true, "h2", "h2"},
        {H2, H11, true, "refused", ""},        /* we offered only h2 */
        {H2, "", true, "refused", ""},
        {"", H2 H11, true, "", ""},            /* nothing offered upstream */
        {"\x06spdy/3" H2, H2 H11, true, "h2", "h2"},
        {H2 H11, H2 H11, false, "http/1.1", "http/1.1"}, /* --no-http2 */
        {H2, H2 H11, false, "refused", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char at_origin[32];
        const char *refusal = NULL;
        const char *got = mirror(cases[i].offer, cases[i].origin, cases[i].http2, at_origin,
                                 sizeof at_origin, &refusal);
        ck_assert_msg(strcmp(got, cases[i].client_gets) == 0, "case %zu: client got %s", i,
                      got);
        ck_assert_msg(strcmp(at_origin, cases[i].origin_selects) == 0,
                      "case %zu: origin selected %s", i, at_origin);
        bool refused = strcmp(got, "refused") == 0;
        ck_assert_msg((refusal != NULL) == refused, "case %zu: refusal %s", i,
                      refusal ? refusal : "(none)");
        if (refusal)
            ck_assert_ptr_nonnull(strstr(refusal, cases[i].http2 ? "did not select"
                                                                  : "--no-http2"));
    }
}
END_TEST

START_TEST(keylog_gets_the_secrets_of_both_sides)
{
    FILE *log = tmpfile();
    ck_assert_ptr_nonnull(log);
    SSL_CTX *up = tlsctx_new_upstream(fx.ca_file, false, NULL);
    SSL_CTX *front = tlsctx_new_client_facing(on_hello);
    tlsctx_set_keylog(up, log);
    tlsctx_set_keylog(front, log);
    SSL *client, *server;
    ck_assert_int_eq(connect_pair(up, front, "localhost", "localhost", false, &client,
                                  &server), 1);
    rewind(log);
    char line[512];
    int client_traffic = 0;
    while (fgets(line, sizeof line, log))
        client_traffic += strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0;
    ck_assert_int_eq(client_traffic, 2); /* one line from each side */
    SSL_free(client);
    SSL_free(server);
    tlsctx_free(up);
    tlsctx_free(front);
    fclose(log);
}
END_TEST

Suite *unit_suite(void)
{
    log_configure(true, false); /* only warnings and errors */
    Suite *s = suite_create("tlsctx");
    TCase *tc = check_case(s, "contexts", 0, CHECK_TESTS(
        families_build_with_their_settings, bad_upstream_ca_file_is_refused,
        upstream_verifies_name_and_offers_http11, upstream_refuses_another_name,
        ip_target_gets_no_sni_and_ip_verification, client_facing_selects_http11_never_h2,
        alpn_is_mirrored, keylog_gets_the_secrets_of_both_sides));
    tcase_add_checked_fixture(tc, setup, teardown);
    return s;
}
