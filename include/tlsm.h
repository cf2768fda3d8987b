/* tlsm — one TLS session over a memory-BIO pair.
 *
 * TLS is a transform, not a socket: ciphertext is fed in with tlsm_feed()
 * and taken out with tlsm_output_peek()/tlsm_output_consume(); plaintext
 * goes through tlsm_read()/tlsm_write(). Nothing here knows a file
 * descriptor or an event loop, so the same code serves the client-facing
 * (server role) and upstream (client role) sides, and tests can run a
 * whole handshake in memory.
 *
 * Every call that may produce TLS records (handshake, write, read, which
 * may answer key updates, shutdown, and failures that send an alert)
 * leaves them in the output buffer: the caller drains it after every
 * call, errors included, so the peer sees alerts. */
#ifndef TLSPEEK_TLSM_H
#define TLSPEEK_TLSM_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

typedef enum {
    TLSM_OK,          /* progress made / operation complete */
    TLSM_WANT_INPUT,  /* needs more ciphertext from the peer */
    TLSM_PAUSED,      /* server role: the client-hello callback asked to
                         retry (SSL_ERROR_WANT_CLIENT_HELLO_CB); call
                         tlsm_handshake() again when ready */
    TLSM_CLOSED,      /* the peer sent close_notify (clean end) */
    TLSM_ERROR        /* fatal: tlsm_reason() says why */
} tlsm_status;

typedef struct tlsm tlsm;

/* A new session from ctx in server role (accepting) or client role
 * (connecting), with fresh memory BIOs. The caller configures the SSL
 * (SNI, host check, ex_data, ...) via tlsm_get0_ssl() before the first
 * handshake step. NULL on failure. Free with tlsm_free(). */
tlsm *tlsm_new(SSL_CTX *ctx, bool server_role);
void tlsm_free(tlsm *t);

SSL *tlsm_get0_ssl(tlsm *t);

/* Append ciphertext received from the peer. Returns 0, or -1 (memory). */
int tlsm_feed(tlsm *t, const void *data, size_t len);

/* tlsm_feed() without the copy: room for n bytes of ciphertext, to be
 * filled by the caller (a socket read) before the next tlsm_* call, NULL
 * when out of memory; tlsm_feed_commit() then takes the first n of them
 * (no more than reserved). */
void *tlsm_feed_reserve(tlsm *t, size_t n);
void tlsm_feed_commit(tlsm *t, size_t n);

/* The peer closed its transport (TCP EOF): subsequent reads that need
 * input report TLSM_CLOSED if the session was cleanly shut down... or
 * TLSM_ERROR "connection closed without close_notify" otherwise. */
void tlsm_feed_eof(tlsm *t);

/* Ciphertext waiting to be sent to the peer: *data points into the
 * session's buffer (valid until the next tlsm_* call). Returns its length
 * (0 if none). tlsm_output_consume() drops the first n bytes. */
size_t tlsm_output_peek(tlsm *t, const void **data);
void tlsm_output_consume(tlsm *t, size_t n);

/* Advance the handshake. TLSM_OK once complete (and on every later
 * call), else WANT_INPUT / PAUSED / ERROR. */
tlsm_status tlsm_handshake(tlsm *t);
bool tlsm_handshake_done(const tlsm *t);

/* Read up to max plaintext bytes into buf; *n is how many. TLSM_OK with
 * *n > 0, WANT_INPUT when nothing is available yet, CLOSED after the
 * peer's close_notify, ERROR otherwise. */
tlsm_status tlsm_read(tlsm *t, void *buf, size_t max, size_t *n);

/* Could tlsm_read() return anything but WANT_INPUT: ciphertext or
 * decrypted bytes not read yet, or an end or failure not reported yet? */
bool tlsm_has_input(const tlsm *t);

/* Memory policy for the session's buffers (OpenSSL's two record buffers,
 * about 16.5 KiB each, and the ciphertext queues). By default they are
 * given back whenever a read leaves nothing to read and once a write is
 * done, so an idle session holds none; a busy one then frees and takes
 * them again for every message. keep: hold them from now on; !keep: back
 * to the default, giving back now what is not in use. */
void tlsm_keep_buffers(tlsm *t, bool keep);

/* Bytes of ciphertext fed and not yet taken by the session. */
size_t tlsm_input_pending(const tlsm *t);

/* Encrypt len plaintext bytes; with memory BIOs this always takes all of
 * it (records land in the output buffer). *n = len on TLSM_OK. */
tlsm_status tlsm_write(tlsm *t, const void *buf, size_t len, size_t *n);

/* Queue our close_notify (idempotent). TLSM_OK or TLSM_ERROR. */
tlsm_status tlsm_shutdown(tlsm *t);

/* Plain-words reason for the last TLSM_ERROR, e.g. "certificate verify
 * failed: self-signed certificate" or "peer sent alert: handshake
 * failure". Owned by t; valid until the next call. Never NULL. */
const char *tlsm_reason(const tlsm *t);

/* The fatal alert the peer sent (its TLS AlertDescription, e.g. 48 for
 * unknown_ca), or -1 when none was received. */
int tlsm_peer_alert(const tlsm *t);

/* Did the peer close its side (EOF) before the handshake was done,
 * without sending an alert? */
bool tlsm_peer_quit_handshake(const tlsm *t);

#endif
