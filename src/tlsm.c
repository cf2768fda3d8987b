/* tlsm — one TLS session over a memory-BIO pair (see include/tlsm.h).
 *
 * The SSL object reads ciphertext from the input queue of one in-memory
 * BIO (filled by tlsm_feed) and writes ciphertext to its output queue
 * (emptied through tlsm_output_peek/consume): a qbio, serving as both rbio
 * and wbio, rather than two BIO_s_mem(), for the reasons in
 * include/qbio.h. Every SSL_* I/O call is
 * preceded by a clearing of the error queue (clear_errors) so that
 * SSL_get_error() and the reason we compose describe this call only, and
 * the error queue is cleared again
 * once the reason is stored, so no stale error leaks into another
 * connection's SSL calls on the same thread.
 *
 * Failures are described in plain words in a buffer inside the session;
 * this module never logs (the owner of the connection decides). */
#include "tlsm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "qbio.h"

struct tlsm {
    SSL *ssl;
    BIO *bio;             /* ciphertext from and for the peer; owned by ssl */
    bool hs_done;         /* sticky: SSL_in_init() can turn true again
                             while a post-handshake message (TLS 1.3
                             ticket, key update) is processed; the
                             contract says "done" forever */
    bool eof;             /* tlsm_feed_eof() was called */
    bool failed;          /* a fatal error happened: never call SSL again */
    bool closed;          /* the peer's close_notify was received */
    bool shut_sent;       /* our close_notify is queued */
    bool keep_buffers;    /* tlsm_keep_buffers(): busy, buffers stay */
    short peer_alert;     /* fatal alert received, or -1 */
    char *reason;         /* allocated on the first failure: most sessions
                             never fail, and tens of thousands are held */
};

static void set_reason(tlsm *t, const char *prefix, const char *detail)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", prefix, detail ? detail : "");
    free(t->reason);
    t->reason = strdup(buf);
}

/* ERR_clear_error() walks and resets all 16 slots of the thread's error
 * queue (about 800 instructions), and it ran before every SSL call: four
 * times per relayed keep-alive request. An empty queue needs no clearing,
 * and ERR_peek_error() is what SSL_get_error() consults anyway. */
static void clear_errors(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* Compose the reason for a fatal SSL_ERROR_SSL / SSL_ERROR_SYSCALL from
 * the error queue. Order matters: an alert from the peer explains the
 * failure better than whatever we noticed after it; a verification
 * failure needs the X509 detail, which the queue does not carry. */
static void describe_failure(tlsm *t)
{
    unsigned long first = 0, e;
    int alert = -1;
    bool verify_failed = false, unexpected_eof = false;

    while ((e = ERR_get_error()) != 0) {
        if (first == 0)
            first = e;
        if (ERR_GET_LIB(e) != ERR_LIB_SSL)
            continue;
        int r = ERR_GET_REASON(e);
        /* A received fatal alert is queued as reason
         * SSL_AD_REASON_OFFSET + description (ssl.h documents the
         * offset), so the alert is known without an info callback: that
         * would need an ex_data index (process-global state) and would
         * fight any callback the owner installs on the SSL. */
        if (r >= SSL_AD_REASON_OFFSET && r <= SSL_AD_REASON_OFFSET + 255)
            alert = t->peer_alert = (short)(r - SSL_AD_REASON_OFFSET);
        else if (r == SSL_R_CERTIFICATE_VERIFY_FAILED)
            verify_failed = true;
        else if (r == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            unexpected_eof = true;
    }

    if (alert >= 0) {
        /* OpenSSL 3.0 has no name for TLS 1.3's certificate_required (116),
         * which is what a server wanting a client certificate sends. */
        set_reason(t, "peer sent alert: ",
                   alert == 116 ? "certificate required"
                                : SSL_alert_desc_string_long(alert));
    } else if (verify_failed) {
        long v = SSL_get_verify_result(t->ssl);
        set_reason(t, "certificate verify failed: ",
                   v != X509_V_OK ? X509_verify_cert_error_string(v)
                                  : "rejected by the verify callback");
    } else if (unexpected_eof || (first == 0 && t->eof)) {
        set_reason(t, t->hs_done ? "connection closed without close_notify"
                                 : "connection closed during handshake",
                   NULL);
    } else if (first != 0 && ERR_reason_error_string(first) != NULL) {
        set_reason(t, ERR_reason_error_string(first), NULL);
    } else {
        set_reason(t, "TLS failure without a reported cause", NULL);
    }
}

/* Map a failed SSL call (ret <= 0) to a status. Must run right after the
 * call: SSL_get_error() consults the thread's error queue. */
static tlsm_status map_error(tlsm *t, int ret)
{
    switch (SSL_get_error(t->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: /* a memory BIO always accepts writes */
        return TLSM_WANT_INPUT;
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
    case SSL_ERROR_WANT_X509_LOOKUP: /* a certificate callback said
                                        "retry": same contract, the owner
                                        resumes with tlsm_handshake() */
        return TLSM_PAUSED;
    case SSL_ERROR_ZERO_RETURN:
        t->closed = true;
        ERR_clear_error();
        return TLSM_CLOSED;
    case SSL_ERROR_SSL:
    case SSL_ERROR_SYSCALL:
        describe_failure(t);
        break;
    default: /* WANT_ASYNC, WANT_CONNECT, ...: impossible with our setup */
        set_reason(t, "unexpected TLS library state", NULL);
        break;
    }
    ERR_clear_error();
    t->failed = true;
    return TLSM_ERROR;
}

tlsm *tlsm_new(SSL_CTX *ctx, bool server_role)
{
    tlsm *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->peer_alert = -1;
    t->ssl = SSL_new(ctx);
    t->bio = qbio_new();
    if (t->ssl == NULL || t->bio == NULL) {
        BIO_free(t->bio);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_bio(t->ssl, t->bio, t->bio); /* one reference for both */
    if (server_role)
        SSL_set_accept_state(t->ssl);
    else
        SSL_set_connect_state(t->ssl);
    /* RELEASE_BUFFERS: idle connections must not keep ~34 KiB of record
     * buffers each. AUTO_RETRY stays on (OpenSSL's default, set here in
     * case the ctx cleared it): without it SSL_read returns WANT_READ
     * after a TLS 1.3 ticket or key update even when application data is
     * already in the input queue, and the caller would wait for input that has
     * arrived. With a memory BIO a retry never blocks. */
    SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_AUTO_RETRY);
    /* A TCP EOF without close_notify must stay distinguishable from a
     * clean close (truncation); the owner decides what to tolerate. */
    SSL_clear_options(t->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    return t;
}

void tlsm_free(tlsm *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t->reason);
    free(t);
}

SSL *tlsm_get0_ssl(tlsm *t)
{
    return t->ssl;
}

int tlsm_feed(tlsm *t, const void *data, size_t len)
{
    return qbio_feed(t->bio, data, len);
}

void *tlsm_feed_reserve(tlsm *t, size_t n)
{
    return qbio_reserve(t->bio, n);
}

void tlsm_feed_commit(tlsm *t, size_t n)
{
    qbio_commit(t->bio, n);
}

void tlsm_feed_eof(tlsm *t)
{
    t->eof = true;
    /* From now on an empty input queue reads as EOF (0, no retry), so OpenSSL
     * reports either the close_notify it already saw or a truncation. */
    qbio_set_eof(t->bio);
}

size_t tlsm_output_peek(tlsm *t, const void **data)
{
    const void *p;
    size_t n = qbio_peek(t->bio, &p);
    if (data != NULL)
        *data = p;
    return n;
}

void tlsm_output_consume(tlsm *t, size_t n)
{
    qbio_consume(t->bio, n);
}

tlsm_status tlsm_handshake(tlsm *t)
{
    if (t->failed)
        return TLSM_ERROR;
    if (t->hs_done)
        return TLSM_OK;
    clear_errors();
    int ret = SSL_do_handshake(t->ssl);
    if (ret == 1) {
        t->hs_done = true;
        return TLSM_OK;
    }
    tlsm_status st = map_error(t, ret);
    if (st == TLSM_CLOSED) {
        /* close_notify before the handshake ended is not a clean end of
         * a session that never started. */
        set_reason(t, "connection closed during handshake", NULL);
        t->failed = true;
        return TLSM_ERROR;
    }
    return st;
}

bool tlsm_handshake_done(const tlsm *t)
{
    return t->hs_done;
}

tlsm_status tlsm_read(tlsm *t, void *buf, size_t max, size_t *n)
{
    *n = 0;
    if (t->failed)
        return TLSM_ERROR;
    if (t->closed)
        return TLSM_CLOSED;
    if (!t->hs_done) {
        tlsm_status st = tlsm_handshake(t);
        if (st != TLSM_OK)
            return st;
    }
    if (max == 0)
        return TLSM_OK;
    clear_errors();
    /* Besides application data this processes post-handshake messages
     * (TLS 1.3 tickets, key updates), which may queue output. */
    tlsm_status st = SSL_read_ex(t->ssl, buf, max, n) == 1 ? TLSM_OK : map_error(t, 0);
    if (st != TLSM_OK)
        *n = 0;
    /* Nothing more to read: give the record buffers back, unless the
     * owner said the session is busy (tlsm_keep_buffers).
     * SSL_MODE_RELEASE_BUFFERS alone left a TLS 1.3 upstream side holding
     * its 16 KiB read buffer once idle (after the server's tickets). */
    if (!t->keep_buffers && (st == TLSM_OK || st == TLSM_WANT_INPUT) &&
        qbio_pending(t->bio) == 0 && !SSL_has_pending(t->ssl))
        SSL_free_buffers(t->ssl);
    return st;
}

void tlsm_keep_buffers(tlsm *t, bool keep)
{
    if (keep == t->keep_buffers)
        return;
    t->keep_buffers = keep;
    qbio_set_keep(t->bio, keep);
    if (keep) {
        SSL_clear_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
        return;
    }
    SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
    /* Fails, harmlessly, while a record is half read or unsent: the next
     * quiet read frees them then. */
    if (!t->failed && qbio_pending(t->bio) == 0 && !SSL_has_pending(t->ssl))
        SSL_free_buffers(t->ssl);
}

tlsm_status tlsm_write(tlsm *t, const void *buf, size_t len, size_t *n)
{
    const unsigned char *p = buf;
    *n = 0;
    if (t->failed)
        return TLSM_ERROR;
    if (!t->hs_done) {
        /* Caller bug (early data is not supported): say so, but the
         * session itself is intact. */
        set_reason(t, "handshake not complete", NULL);
        return TLSM_ERROR;
    }
    while (*n < len) {
        size_t done = 0;
        clear_errors();
        /* Without SSL_MODE_ENABLE_PARTIAL_WRITE one call takes it all;
         * loop anyway in case the ctx enabled it. */
        if (SSL_write_ex(t->ssl, p + *n, len - *n, &done) != 1)
            return map_error(t, 0);
        *n += done;
    }
    return TLSM_OK;
}

tlsm_status tlsm_shutdown(tlsm *t)
{
    if (t->failed)
        return TLSM_ERROR;
    if (t->shut_sent)
        return TLSM_OK;
    if (!t->hs_done) {
        set_reason(t, "handshake not complete", NULL);
        return TLSM_ERROR;
    }
    clear_errors();
    /* One call queues close_notify (0: the peer's is still to come, 1: it
     * already came). We never call again to wait for the peer's: the
     * owner closes the transport once the output is flushed. */
    int ret = SSL_shutdown(t->ssl);
    if (ret < 0) {
        tlsm_status st = map_error(t, ret);
        if (st == TLSM_ERROR)
            return st;
    }
    clear_errors();
    t->shut_sent = true;
    return TLSM_OK;
}

int tlsm_peer_alert(const tlsm *t)
{
    return t->peer_alert;
}

bool tlsm_peer_quit_handshake(const tlsm *t)
{
    return t->eof && !t->hs_done && t->peer_alert < 0;
}

const char *tlsm_reason(const tlsm *t)
{
    if (t->reason)
        return t->reason;
    return t->failed ? "TLS failure" : ""; /* strdup failed */
}

size_t tlsm_input_pending(const tlsm *t)
{
    return qbio_pending(t->bio);
}

bool tlsm_has_input(const tlsm *t)
{
    return t->failed || t->closed || t->eof || qbio_pending(t->bio) > 0 ||
           SSL_has_pending(t->ssl);
}
