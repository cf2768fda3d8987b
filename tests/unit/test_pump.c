/* Unit tests for pump: one side of a connection over a real loopback TCP
 * socket pair and a libevent loop, the peer driven by the test. Covers
 * what only shows with a real socket: reading more than 4 KiB (libevent's
 * cap) per read event, a reset the pump's own read took, reading the
 * peer's last words after a failed write, and reading turned off and on. */
#include "check_main.h"
#include "tcppair.h"
#include "pump.h"
#include "qbio.h"
#include "busy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

/* What the pump reported. */
typedef struct {
    size_t first_data; /* bytes offered by the first on_data */
    size_t total;
    int handshakes;
    bool ended, error;
    char reason[200];
} record;

static void on_data(void *arg, pump *p, struct evbuffer *plain)
{
    record *r = arg;
    size_t n = evbuffer_get_length(plain);
    if (r->total == 0)
        r->first_data = n;
    r->total += n;
    evbuffer_drain(plain, n);
}

static void on_handshake(void *arg, pump *p)
{
    ((record *)arg)->handshakes++;
}

static void on_end(void *arg, pump *p, bool error, const char *reason)
{
    record *r = arg;
    r->ended = true;
    r->error = error;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

static void on_drained(void *arg, pump *p)
{
}

static const pump_callbacks callbacks = {
    .on_data = on_data, .on_handshake = on_handshake, .on_end = on_end,
    .on_drained = on_drained,
};

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        ck_assert_int_gt(n, 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Close with a reset (SO_LINGER 0) instead of a FIN. */
static void reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* Run the loop until the pump's socket has nothing more to report. */
static void settle(struct event_base *base, int fd)
{
    for (int i = 0; i < 50; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, 20);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
}

typedef struct {
    struct event_base *base;
    int fd, peer;
    pump *p;
    record r;
    SSL_CTX *sctx, *cctx; /* tls_rig_up() */
} rig;

static void rig_up(rig *g)
{
    memset(g, 0, sizeof *g);
    g->base = event_base_new();
    ck_assert_ptr_nonnull(g->base);
    tcp_pair(&g->fd, &g->peer);
    struct bufferevent *bev = bufferevent_socket_new(g->base, g->fd, BEV_OPT_CLOSE_ON_FREE);
    ck_assert_ptr_nonnull(bev);
    g->p = pump_new(bev, &callbacks, &g->r);
    ck_assert_ptr_nonnull(g->p);
}

static void rig_down(rig *g)
{
    pump_free(g->p);
    if (g->peer >= 0)
        close(g->peer);
    event_base_free(g->base);
    SSL_CTX_free(g->sctx);
    SSL_CTX_free(g->cctx);
}

/* 100 kB waiting in the socket arrive in one callback, not in libevent
 * 2.1's 4 KiB per read event. */
START_TEST(reads_past_libevent_cap)
{
    rig g;
    rig_up(&g);
    static char data[100000];
    memset(data, 'x', sizeof data);
    send_all(g.peer, data, sizeof data);
    settle(g.base, g.fd);
    ck_assert_uint_eq(g.r.total, sizeof data);
    ck_assert_uint_eq(g.r.first_data, sizeof data);
    ck_assert(!g.r.ended);
    rig_down(&g);
}
END_TEST

/* The peer sends exactly what libevent's read and one full read of the
 * pump's take, then resets: the pump's next read of its own gets the
 * reset, which the kernel reports once, and libevent's next read only an
 * EOF. The side must still end as reset, not as a clean close. */
START_TEST(reset_taken_by_own_read_is_a_reset)
{
    rig g;
    rig_up(&g);
    static char data[4096 + 65536];
    memset(data, 'y', sizeof data);
    send_all(g.peer, data, sizeof data);
    reset(g.peer);
    g.peer = -1;
    settle(g.base, g.fd);
    ck_assert(g.r.ended);
    ck_assert(g.r.error);
    ck_assert_str_eq(g.r.reason, "connection reset by peer");
    rig_down(&g);
}
END_TEST

/* A server context with a throwaway self-signed P-256 certificate, and a
 * client context that does not verify it (the pump is under test, not
 * verification). */
static void tls_contexts(SSL_CTX **server, SSL_CTX **client)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    ck_assert(key && x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"pump.test", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    *server = SSL_CTX_new(TLS_server_method());
    *client = SSL_CTX_new(TLS_client_method());
    ck_assert(*server && *client);
    ck_assert_int_eq(SSL_CTX_use_certificate(*server, x), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(*server, key), 1);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* Send what the test's TLS session wants to send, to the pump. */
static void flush_to_pump(tlsm *t, int peer)
{
    const void *data;
    size_t n;
    while ((n = tlsm_output_peek(t, &data)) > 0) {
        send_all(peer, data, n);
        tlsm_output_consume(t, n);
    }
}

/* Feed the test's TLS session whatever the pump has sent so far. */
static void feed_from_pump(tlsm *t, int peer)
{
    char buf[65536];
    ssize_t n;
    while ((n = recv(peer, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        ck_assert_int_eq(tlsm_feed(t, buf, (size_t)n), 0);
}

static void handshake_through_pump(rig *g, tlsm *server, tlsm *client);

/* A rig whose pump (server role, through *server, which it owns) and the
 * test's *client have completed a handshake. */
static void tls_rig_up(rig *g, tlsm **server, tlsm **client)
{
    rig_up(g);
    tls_contexts(&g->sctx, &g->cctx);
    *server = tlsm_new(g->sctx, true);
    *client = tlsm_new(g->cctx, false);
    ck_assert(*server && *client);
    handshake_through_pump(g, *server, *client);
}

/* The pump (server role, through server) and the test's client complete
 * a handshake. */
static void handshake_through_pump(rig *g, tlsm *server, tlsm *client)
{
    pump_start_tls(g->p, server);
    ck_assert_int_eq(tlsm_handshake(client), TLSM_WANT_INPUT);
    flush_to_pump(client, g->peer);
    for (int i = 0; i < 10 && g->r.handshakes == 0; i++) {
        settle(g->base, g->fd);
        feed_from_pump(client, g->peer);
        tlsm_handshake(client);
        flush_to_pump(client, g->peer);
    }
}

/* A write to a peer that went away fails; the close_notify the peer sent
 * before going waits unread (the pump was not reading). The pump must read
 * it and end the side as the peer's clean close, not as "connection reset
 * by peer" or "Broken pipe". */
START_TEST(failed_write_reads_the_last_words)
{
    rig g;
    tlsm *server, *client;
    tls_rig_up(&g, &server, &client);
    settle(g.base, g.fd);
    ck_assert_int_eq(g.r.handshakes, 1);
    ck_assert(tlsm_handshake_done(client));

    pump_set_reading(g.p, false);
    ck_assert_int_eq(tlsm_shutdown(client), TLSM_OK);
    flush_to_pump(client, g.peer);
    size_t big = 8 << 20; /* far more than the socket buffers hold */
    char *data = calloc(1, big);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(pump_send(g.p, data, big), 0);
    free(data);
    ck_assert_uint_gt(pump_output_pending(g.p), 0);
    reset(g.peer);
    g.peer = -1;
    settle(g.base, g.fd);

    ck_assert(g.r.ended);
    ck_assert_msg(!g.r.error && strcmp(g.r.reason, "closed") == 0,
                  "ended with error %d: %s", g.r.error, g.r.reason);
    tlsm_free(client);
    rig_down(&g);
}
END_TEST

/* Bytes of buffer the session's ciphertext queues hold: they are kept or
 * given back together with OpenSSL's record buffers (tlsm_keep_buffers),
 * which the test cannot see. */
static size_t input_buffer(tlsm *t)
{
    return qbio_capacity(SSL_get_rbio(tlsm_get0_ssl(t)));
}

/* Client message i to the pump; settled, and arrived. */
static void send_message(rig *g, tlsm *client, int i)
{
    char msg[64];
    int len = snprintf(msg, sizeof msg, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    size_t n = 0, before = g->r.total;
    ck_assert_int_eq(tlsm_write(client, msg, (size_t)len, &n), TLSM_OK);
    flush_to_pump(client, g->peer);
    for (int k = 0; k < 500 && g->r.total < before + (size_t)len; k++) {
        struct pollfd pfd = {.fd = g->fd, .events = POLLIN};
        poll(&pfd, 1, 10);
        event_base_loop(g->base, EVLOOP_NONBLOCK);
    }
    ck_assert_uint_eq(g->r.total, before + (size_t)len);
}

/* A side that carried a few messages holds no record buffers; one that
 * carries BUSY_MESSAGES within a period keeps them (no free and malloc of 16 KiB per
 * message) until it has been idle for a while, then gives them back. */
START_TEST(busy_side_keeps_buffers_until_idle)
{
    rig g;
    tlsm *server, *client;
    tls_rig_up(&g, &server, &client);
    ck_assert_int_eq(g.r.handshakes, 1);

    send_message(&g, client, 1);
    ck_assert_uint_eq(input_buffer(server), 0);
    for (int i = 2; i < BUSY_MESSAGES; i++)
        send_message(&g, client, i); /* a few at a connection's start: not yet */
    ck_assert_uint_eq(input_buffer(server), 0);
    send_message(&g, client, BUSY_MESSAGES); /* busy from now */
    send_message(&g, client, BUSY_MESSAGES + 1);
    ck_assert_uint_gt(input_buffer(server), 0);
    /* Idle now: the buffers go back within a few seconds. */
    for (int i = 0; i < 10 && input_buffer(server) > 0; i++)
        settle(g.base, g.fd); /* a second each */
    ck_assert_uint_eq(input_buffer(server), 0);
    /* And it still works. */
    send_message(&g, client, BUSY_MESSAGES + 2);
    ck_assert(!g.r.ended);

    tlsm_free(client);
    rig_down(&g);
}
END_TEST

/* Reading off leaves the bytes in the socket (backpressure); on again,
 * they all arrive, and the peer's close after them ends the side cleanly
 * once they have. */
START_TEST(reading_off_holds_bytes_until_on)
{
    rig g;
    rig_up(&g);
    static char data[300000];
    memset(data, 'y', sizeof data);
    pump_set_reading(g.p, false);
    send_all(g.peer, data, 1000);
    settle(g.base, g.fd);
    ck_assert_uint_eq(g.r.total, 0);
    pump_set_reading(g.p, true);
    settle(g.base, g.fd);
    ck_assert_uint_eq(g.r.total, 1000);
    send_all(g.peer, data, sizeof data);
    close(g.peer);
    g.peer = -1;
    settle(g.base, g.fd);
    ck_assert_uint_eq(g.r.total, 1000 + sizeof data);
    ck_assert(g.r.ended);
    ck_assert_msg(!g.r.error, "ended with error: %s", g.r.reason);
    rig_down(&g);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("pump");
    check_case(s, "socket", 60, CHECK_TESTS(
        reads_past_libevent_cap, reset_taken_by_own_read_is_a_reset,
        failed_write_reads_the_last_words, reading_off_holds_bytes_until_on,
        busy_side_keeps_buffers_until_idle));
    return s;
}
