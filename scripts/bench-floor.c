/*
 * bench-floor — the OpenSSL work any TLS-intercepting proxy on this machine
 * must do, measured alone (a tool of scripts/bench, not part of tlspeek).
 *
 * One process, no sockets: four SSL objects per "connection", joined by BIO
 * pairs, do what a bench setup makes the client (bench-load's context: no
 * SNI, never resuming), tlspeek's two roles and the origin (nginx's OpenSSL
 * defaults: tickets only, two per TLS 1.3 handshake) do.  The proxy-server has
 * tlspeek's client-facing context (src/tlsctx.c: TLS13_SUITES, server
 * preference, one ticket, no cache; a ClientHello callback pausing the
 * handshake until the upstream one is done, then setting the leaf, as
 * src/intercept.c), the proxy-client its upstream one with --insecure, as in
 * the bench, keeping a copy of each new session.  Only the SSL_* calls on the
 * proxy's two SSL objects are timed (CLOCK_THREAD_CPUTIME_ID, SSL_new to
 * SSL_free, callbacks included, the clock's own cost removed): not the client,
 * origin, copying between the pairs, kernel (sockets, wake-ups), proxy logic.
 *   ec12   leaf EC P-256 signed by an EC P-256 CA, sent alone; origin TLS 1.2
 *          only, RSA-2048 key; the upstream resumes a TLS 1.2 session, the
 *          proxy-client capped at TLS 1.2 then, as tlspeek;
 *   rsa13  leaf EC P-256 under an EC intermediate under an RSA-2048 CA, sent
 *          as [leaf, intermediate] (src/ca_inter.c); origin TLS 1.2 and 1.3,
 *          EC P-256 key; the upstream resumes with the newest ticket (psk_dhe_ke).
 * Modes, one line each ("floor setup=S mode=M value=V unit=U ..."): newconn,
 * ms per connection (full TLS 1.3 handshake toward the client, the upstream
 * one resumed, a 100-byte GET and a small response relayed, shutdown,
 * SSL_free); keepalive, ms per request over an established pair of sessions
 * (request and response each decrypted on one side, encrypted on the other);
 * bulk, s per 100 MB (16 KiB records from the origin's side to the client's).
 * --idle-us N sleeps N µs before each flight is passed on (not timed): the
 * proxy's caches go cold between flights as while it waits for the network.
 * A warm-up, then the median of --reps runs; exit 1 with one line on stderr
 * if a handshake fails or an upstream handshake does not resume.
 */
#define _GNU_SOURCE
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* Under valgrind --tool=callgrind --collect-atstart=no, only the timed calls
 * are counted, and each measured mode is dumped (scripts/profile --floor). */
#if defined(__has_include) && __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(what)
#endif

/* As src/tlsctx.c. */
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
#define TLS12_CIPHERS \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ALL:!COMPLEMENTOFDEFAULT:!eNULL"
#define RECORD 16384
#define USAGE                                                                     \
    "usage: bench-floor --setup ec12|rsa13 [--mode newconn,keepalive,bulk] [--quick] " \
    "[--reps N] [--idle-us N]"
#define BATCH 8            /* bulk records a flight */
#define PAIR_BUF (1 << 18) /* bytes a BIO pair holds each way: > BATCH records */

static const char *setup_name;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-floor [%s]: ", setup_name ? setup_name : "-");
    vfprintf(stderr, fmt, ap);
    char why[256] = "";
    if (ERR_peek_last_error())
        ERR_error_string_n(ERR_peek_last_error(), why, sizeof why);
    fprintf(stderr, "%s%s%s\n", *why ? " (" : "", why, *why ? ")" : "");
    va_end(ap);
    exit(1);
}

/* ---------------------------------------------------------------- timing */

static double timed_s;    /* proxy-side CPU seconds since zeroed */
static long timed_calls;  /* clock pairs read meanwhile, to subtract their cost */
static double clock_cost, t0; /* seconds one empty pair reads as; tic() */

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void tic(void)
{
    CALLGRIND_TOGGLE_COLLECT;
    t0 = cpu_now();
}

static void toc(void)
{
    CALLGRIND_TOGGLE_COLLECT;
    timed_s += cpu_now() - t0;
    timed_calls++;
}

/* Proxy-side seconds since zeroed, the clock's own cost removed. */
#define PROXY_SECONDS (timed_s - timed_calls * clock_cost)

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmpd);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void calibrate(void)
{
    for (int i = 0; i < 100000; i++)
        tic(), toc();
    clock_cost = timed_s / timed_calls;
}

/* ---------------------------------------------------------------- keys, certificates */

static X509 *reread(X509 *x)
{
    /* As if loaded from DER, as tlspeek's leaves and intermediate are:
     * OpenSSL re-encodes a certificate built in memory on every send. */
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    const unsigned char *p = der;
    X509 *copy = len > 0 ? d2i_X509(NULL, &p, len) : NULL;
    OPENSSL_free(der);
    X509_free(x);
    return copy;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    if (!e || !X509_add_ext(x, e, -1))
        die("cannot add an extension");
    X509_EXTENSION_free(e);
}

/* A certificate for key, signed by issuer_key (self-signed when issuer is
 * NULL); ca: a CA certificate, else a server leaf for the bench's names. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       int ca)
{
    X509 *x = X509_new();
    X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    if (!name || !X509_set_version(x, X509_VERSION_3) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(x), (long)rand() + 1) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
                                    -1, 0) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 2 * 86400) || !X509_set_pubkey(x, key))
        die("cannot build a certificate");
    add_ext(x, issuer, NID_subject_key_identifier, "hash");
    if (issuer)
        add_ext(x, issuer, NID_authority_key_identifier, "keyid");
    if (ca) {
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
        add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
        add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
        /* tlspeek's leaf: the name asked for plus the origin's names */
        add_ext(x, issuer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost,DNS:*.bench.test");
    }
    if (!X509_sign(x, issuer_key, EVP_sha256()))
        die("cannot sign a certificate");
    return reread(x);
}

static EVP_PKEY *make_key(int rsa)
{
    EVP_PKEY *k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    if (!k)
        die("cannot make a key");
    return k;
}

/* ---------------------------------------------------------------- the four roles */

static struct {
    int rsa13;
    SSL_CTX *client, *pserver, *pclient, *origin;
    X509 *leaf;
    EVP_PKEY *leaf_key;
    SSL_SESSION *session; /* the newest upstream session (a copy) */
} W;

/* The proxy-client's new-session callback: a copy, as src/tlsctx.c keeps
 * (the session handed over stays the connection's). */
static int on_new_session(SSL *ssl, SSL_SESSION *s)
{
    (void)ssl;
    SSL_SESSION *copy = SSL_SESSION_is_resumable(s) ? SSL_SESSION_dup(s) : NULL;
    if (copy) {
        SSL_SESSION_free(W.session);
        W.session = copy;
    }
    return 0;
}

/* The proxy-server's ClientHello callback, as src/intercept.c: pause until
 * the upstream handshake is done (app data set), then set the leaf (alone,
 * or followed by the context's extra chain: the intermediate). */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    if (!SSL_get_app_data(ssl))
        return SSL_CLIENT_HELLO_RETRY;
    if (SSL_use_cert_and_key(ssl, W.leaf, W.leaf_key, NULL, 1) != 1) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* proxy: what both of tlspeek's contexts share (src/tlsctx.c) */
static SSL_CTX *new_ctx(const SSL_METHOD *m, int proxy)
{
    SSL_CTX *c = SSL_CTX_new(m);
    if (!c || (proxy && (!SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) ||
                         SSL_CTX_set_ciphersuites(c, TLS13_SUITES) != 1 ||
                         SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1)))
        die("cannot make a TLS context");
    if (proxy)
        SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    return c;
}

static void make_world(int rsa13)
{
    W.rsa13 = rsa13;
    /* client: bench-load's context */
    W.client = new_ctx(TLS_client_method(), 0);
    SSL_CTX_set_verify(W.client, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(W.client, SSL_SESS_CACHE_OFF);

    /* proxy-server: tlsctx_new_client_facing() */
    SSL_CTX *ps = W.pserver = new_ctx(TLS_server_method(), 1);
    SSL_CTX_set_options(ps, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
    SSL_CTX_set_client_hello_cb(ps, on_client_hello, NULL);
    SSL_CTX_set_session_cache_mode(ps, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ps, 1);
    W.leaf_key = make_key(0);
    EVP_PKEY *ca_key = make_key(rsa13);
    X509 *ca = make_cert("floor interception CA", ca_key, NULL, ca_key, 1);
    if (rsa13) {
        EVP_PKEY *inter_key = make_key(0);
        X509 *inter = make_cert("floor session intermediate", inter_key, ca, ca_key, 1);
        W.leaf = make_cert("127.0.0.1", W.leaf_key, inter, inter_key, 0);
        if (!SSL_CTX_add_extra_chain_cert(ps, inter)) /* takes inter */
            die("extra chain");
        EVP_PKEY_free(inter_key);
    } else {
        W.leaf = make_cert("127.0.0.1", W.leaf_key, ca, ca_key, 0);
    }
    X509_free(ca);
    EVP_PKEY_free(ca_key);

    /* proxy-client: tlsctx_new_upstream(NULL, insecure, sessions) */
    SSL_CTX *pc = W.pclient = new_ctx(TLS_client_method(), 1);
    SSL_CTX_set_verify(pc, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(pc, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(pc, on_new_session);

    /* origin: nginx's defaults over OpenSSL (tickets on, two in TLS 1.3) */
    SSL_CTX *o = W.origin = new_ctx(TLS_server_method(), 0);
    SSL_CTX_set_min_proto_version(o, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(o, rsa13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    /* nginx's default "ssl_session_cache none": resumption by tickets only */
    SSL_CTX_set_session_cache_mode(o, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    EVP_PKEY *okey = make_key(!rsa13);
    X509 *ocert = make_cert("localhost", okey, NULL, okey, 0);
    if (SSL_CTX_use_certificate(o, ocert) != 1 || SSL_CTX_use_PrivateKey(o, okey) != 1)
        die("origin certificate");
    X509_free(ocert);
    EVP_PKEY_free(okey);
}

/* ---------------------------------------------------------------- connections */

typedef struct {
    SSL *ssl;
    BIO *net; /* the outer end of its BIO pair: the "socket" (the inner is ssl's) */
    int timed;     /* the proxy's: every SSL call on it is timed */
} end;

typedef struct { end c, ps, pc, o; } conn; /* client, proxy-server, proxy-client, origin */

static long opened, resumed; /* upstream handshakes, and how many resumed */

/* stmt, timed when e is one of the proxy's two SSL objects */
#define ON(e, stmt) do { if ((e)->timed) tic(); stmt; if ((e)->timed) toc(); } while (0)

static unsigned char buf[1 << 17];

static long idle_us; /* --idle-us: the network's pause before each flight */

/* Ciphertext written by from goes to to's input (or is dropped), after
 * idle_us: a proxy waits for the network between flights, and its caches,
 * TLB and CPU go cold meanwhile, which a hot loop would not show. */
static void pass(end *from, end *to)
{
    int n;
    struct timespec pause = {0, idle_us * 1000};
    if (idle_us && BIO_ctrl_pending(from->net))
        nanosleep(&pause, NULL);
    while ((n = BIO_read(from->net, buf, sizeof buf)) > 0)
        if (to && BIO_write(to->net, buf, n) != n)
            die("BIO_write");
}

static void end_new(end *e, SSL_CTX *ctx, int timed, int server)
{
    e->timed = timed;
    ON(e, {
        e->ssl = SSL_new(ctx);
        /* a BIO pair, not two BIO_s_mem(): one copy each way, as a socket
         * (a memory BIO also zeroes what it grows by, every record) */
        BIO *inner = NULL;
        if (!e->ssl || !BIO_new_bio_pair(&inner, PAIR_BUF, &e->net, PAIR_BUF))
            die("SSL_new");
        SSL_set_bio(e->ssl, inner, inner);
        /* as src/tlsm.c: a TCP EOF stays apart from close_notify */
        SSL_set_mode(e->ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_AUTO_RETRY);
        SSL_clear_options(e->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
        (server ? SSL_set_accept_state : SSL_set_connect_state)(e->ssl);
    });
}

/* One handshake step; 1 when done, 0 when it wants more, dies otherwise. */
static int step(end *e, const char *who)
{
    int r, err = 0;
    ON(e, r = SSL_do_handshake(e->ssl); if (r != 1) err = SSL_get_error(e->ssl, r));
    if (r != 1 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_CLIENT_HELLO_CB)
        die("the %s handshake failed (SSL error %d)", who, err);
    return r == 1;
}

/* Both sides step in turn until both are done. */
static void handshake(end *a, end *b, const char *what)
{
    int a_done = 0, b_done = 0;
    for (int i = 0; i < 10 && !(a_done && b_done); i++) {
        a_done = a_done || step(a, what);
        pass(a, b);
        b_done = b_done || step(b, what);
        pass(b, a);
    }
    if (!a_done || !b_done)
        die("the %s handshake did not finish", what);
}

/* 100 bytes, as bench-load's GET of /small */
static const char request[] = "GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench/1.0\r\n"
                              "Accept: */*\r\nConnection: keep-alive\r\n\r\n";
/* nginx's answer: this head, then bench's /small (99 'x', a newline: main()) */
static const char response_head[] =
    "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 03 Dec 2026 12:00:00 GMT\r\n"
    "Content-Type: application/octet-stream\r\nContent-Length: 100\r\n"
    "Last-Modified: Thu, 03 Dec 2026 11:00:00 GMT\r\nConnection: keep-alive\r\n"
    "ETag: \"692f9ab0-64\"\r\nAccept-Ranges: bytes\r\n\r\n";
static char response[sizeof response_head - 1 + 100];

/* from writes len bytes, to reads them all. */
static void relay(end *from, end *to, const void *data, size_t len)
{
    size_t done = 0, got = 0, n = 0;
    int ok;
    ON(from, ok = SSL_write_ex(from->ssl, data, len, &done));
    if (!ok || done != len)
        die("SSL_write");
    pass(from, to);
    while (got < len) {
        ON(to, ok = SSL_read_ex(to->ssl, buf, RECORD, &n));
        if (!ok)
            die("SSL_read");
        got += n;
    }
}

/* Both handshakes in tlspeek's order: the client's hello, the upstream
 * handshake (resumed), then the client's handshake with the leaf. */
static void conn_open(conn *k)
{
    end_new(&k->c, W.client, 0, 0);
    end_new(&k->o, W.origin, 0, 1);
    end_new(&k->ps, W.pserver, 1, 1);
    step(&k->c, "client");
    pass(&k->c, &k->ps);
    if (step(&k->ps, "client"))
        die("the ClientHello callback did not pause the handshake");

    end_new(&k->pc, W.pclient, 1, 0);
    int resuming = W.session != NULL;
    /* src/tlsctx.c offer_session(): a TLS 1.2 session caps the hello */
    ON(&k->pc, if (resuming) {
        if (SSL_SESSION_get_protocol_version(W.session) == TLS1_2_VERSION)
            SSL_set_max_proto_version(k->pc.ssl, TLS1_2_VERSION);
        SSL_set_session(k->pc.ssl, W.session);
    });
    handshake(&k->pc, &k->o, "upstream");
    if (resuming && !SSL_session_reused(k->pc.ssl))
        die("the upstream handshake did not resume (a full handshake would lie)");
    opened++;
    resumed += resuming;
    if (SSL_version(k->pc.ssl) != (W.rsa13 ? TLS1_3_VERSION : TLS1_2_VERSION))
        die("the upstream negotiated %s", SSL_get_version(k->pc.ssl));

    SSL_set_app_data(k->ps.ssl, &W); /* the leaf may go on */
    handshake(&k->ps, &k->c, "client");
    if (SSL_version(k->ps.ssl) != TLS1_3_VERSION || SSL_session_reused(k->ps.ssl))
        die("the client handshake is not a full TLS 1.3 one");
}

/* One request and its response, relayed: the response first crosses the
 * upstream session (with the origin's tickets, on a new connection). */
static void conn_request(conn *k)
{
    relay(&k->c, &k->ps, request, sizeof request - 1);
    relay(&k->pc, &k->o, request, sizeof request - 1);
    relay(&k->o, &k->pc, response, sizeof response);
    relay(&k->ps, &k->c, response, sizeof response);
}

/* close_notify from `from` (sent now unless already) read by to */
static void close_to(end *from, end *to)
{
    size_t n;
    int r, err;
    ON(from, SSL_shutdown(from->ssl));
    pass(from, to);
    ON(to, r = SSL_read_ex(to->ssl, buf, RECORD, &n); err = SSL_get_error(to->ssl, r));
    if (r || err != SSL_ERROR_ZERO_RETURN)
        die("no close_notify (SSL error %d)", err);
}

static void end_free(end *e)
{
    ON(e, SSL_free(e->ssl));
    BIO_free(e->net);
    e->ssl = NULL;
}

/* The origin closes after the response (nginx with Connection: close),
 * the proxy closes both sides, the client answers. */
static void conn_close(conn *k)
{
    close_to(&k->o, &k->pc);
    ON(&k->pc, SSL_shutdown(k->pc.ssl));
    close_to(&k->ps, &k->c);
    close_to(&k->c, &k->ps);
    end *all[] = {&k->c, &k->o, &k->ps, &k->pc};
    for (int i = 0; i < 4; i++)
        end_free(all[i]);
}

/* A busy side keeps its record buffers (src/busy.c), as keep-alive and bulk make it. */
static void keep_buffers(conn *k)
{
    ON(&k->ps, SSL_clear_mode(k->ps.ssl, SSL_MODE_RELEASE_BUFFERS));
    ON(&k->pc, SSL_clear_mode(k->pc.ssl, SSL_MODE_RELEASE_BUFFERS));
}

/* ---------------------------------------------------------------- modes */

static double run_newconn(conn *k, long n)
{
    timed_s = timed_calls = 0;
    for (long i = 0; i < n; i++) {
        conn_open(k);
        conn_request(k);
        conn_close(k);
    }
    return PROXY_SECONDS * 1e3 / n;
}

static double run_keepalive(conn *k, long n)
{
    timed_s = timed_calls = 0;
    for (long i = 0; i < n; i++)
        conn_request(k);
    return PROXY_SECONDS * 1e3 / n;
}

static double run_bulk(conn *k, long records)
{
    static unsigned char block[RECORD]; /* zeros: AES-GCM's cost does not depend on them */
    timed_s = timed_calls = 0;
    /* BATCH records a flight, as tlspeek reads up to 128 KiB per event */
    for (long i = 0; i < records; i += BATCH) {
        size_t got = 0, n = 0, done = 0, want = 0;
        for (; want < BATCH * RECORD && i + (long)(want / RECORD) < records; want += RECORD)
            if (SSL_write_ex(k->o.ssl, block, RECORD, &done) != 1)
                die("origin SSL_write");
        pass(&k->o, &k->pc);
        while (got < want) {
            int ok;
            ON(&k->pc, ok = SSL_read_ex(k->pc.ssl, buf, RECORD, &n));
            if (!ok)
                die("SSL_read (bulk)");
            ON(&k->ps, ok = SSL_write_ex(k->ps.ssl, buf, n, &done));
            if (!ok || done != n)
                die("SSL_write (bulk)");
            got += n;
        }
        pass(&k->ps, NULL); /* the client's decryption is not the proxy's */
    }
    return PROXY_SECONDS * (100e6 / ((double)records * RECORD));
}

/* A tenth of n as warm-up, then the median of reps runs of n units. */
static void measure(const char *mode, double (*run)(conn *, long), conn *k, long n, int reps,
                    const char *unit)
{
    double v[99];
    run(k, n / 10 + 1);
    opened = resumed = 0;
    CALLGRIND_ZERO_STATS;
    for (int r = 0; r < reps; r++)
        v[r] = run(k, n);
    CALLGRIND_DUMP_STATS_AT(mode);
    double med = median(v, reps);
    printf("floor setup=%s mode=%s value=%.5f unit=%s n=%ld reps=%d min=%.5f max=%.5f "
           "upstream_resumed=%ld/%ld idle_us=%ld clock_ns=%.0f\n",
           setup_name, mode, med, unit, n, reps, v[0], v[reps - 1], resumed, opened, idle_us,
           clock_cost * 1e9);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *modes = "newconn,keepalive,bulk";
    int quick = 0, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (i + 1 >= argc)
            die(USAGE);
        else if (!strcmp(argv[i], "--setup"))
            setup_name = argv[++i];
        else if (!strcmp(argv[i], "--mode"))
            modes = argv[++i];
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--idle-us"))
            idle_us = atol(argv[++i]);
        else
            die(USAGE);
    }
    if (!setup_name || (strcmp(setup_name, "ec12") && strcmp(setup_name, "rsa13")) ||
        reps < 1 || reps > 99 || idle_us < 0 || idle_us > 999999)
        die(USAGE);
    make_world(!strcmp(setup_name, "rsa13"));
    memcpy(response, response_head, sizeof response_head - 1);
    memset(response + sizeof response_head - 1, 'x', 99);
    response[sizeof response - 1] = '\n';
    calibrate();

    /* the first upstream handshake is a full one; every later one must resume */
    conn k;
    conn_open(&k);
    conn_request(&k);
    conn_close(&k);
    if (!W.session)
        die("the origin gave no session to resume");
    if (strstr(modes, "newconn"))
        measure("newconn", run_newconn, &k, quick ? 100 : 400, reps, "ms/connection");
    if (strstr(modes, "keepalive")) {
        conn_open(&k);
        keep_buffers(&k);
        long n = (quick ? 5000 : 20000) / (idle_us ? 5 : 1); /* 4 flights a request */
        measure("keepalive", run_keepalive, &k, n, reps, "ms/request");
        conn_close(&k);
    }
    if (strstr(modes, "bulk")) {
        conn_open(&k);
        conn_request(&k);
        keep_buffers(&k);
        measure("bulk", run_bulk, &k, (long)((quick ? 20e6 : 100e6) / RECORD),
                reps < 3 ? reps : 3, "s/100MB");
    }
    return 0; /* the contexts, keys and session go with the process */
}
