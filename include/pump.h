/* pump — one side of a connection: a socket, optionally with a TLS
 * session (tlsm) between the socket and the plaintext.
 *
 * In raw mode the plaintext is the socket's bytes. After pump_start_tls()
 * ciphertext read from the socket is fed to the tlsm, plaintext comes out
 * of it, and what the session wants to send (handshake records, alerts,
 * application data, close_notify) is drained to the socket after every
 * step. The owner (conn) wires two pumps together and decides policy;
 * the pump only moves bytes and reports. */
#ifndef TLSPEEK_PUMP_H
#define TLSPEEK_PUMP_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "tlsm.h"

/* When a pump's unsent output falls to this, on_drained fires: the
 * owner resumes reading the other side (watermark backpressure). */
#define PUMP_LOW_WATERMARK (64 * 1024)

typedef struct pump pump;

typedef struct {
    /* Plaintext arrived (raw bytes in raw mode). The callee drains what it
     * consumes from plain; what it leaves stays there for the next call. */
    void (*on_data)(void *arg, pump *p, struct evbuffer *plain);
    /* The TLS handshake completed. */
    void (*on_handshake)(void *arg, pump *p);
    /* The client-hello callback paused the handshake (see
     * pump_resume_handshake). Called outside OpenSSL's call stack. */
    void (*on_paused)(void *arg, pump *p);
    /* The side ended: clean (TCP EOF in raw mode, close_notify or EOF
     * after it in TLS mode) when error is false; otherwise reason says
     * why ("connection reset by peer", a TLS reason, ...). Called once. */
    void (*on_end)(void *arg, pump *p, bool error, const char *reason);
    /* Unsent output fell to PUMP_LOW_WATERMARK or below. */
    void (*on_drained)(void *arg, pump *p);
} pump_callbacks;

/* Take over bev's socket, in raw mode, reading enabled: bytes bev read or
 * still had to write become the pump's, bev is freed, and the pump closes
 * the socket when freed (sockout.h says why not a bufferevent). cbs must
 * outlive the pump. NULL on allocation failure (bev not freed). */
pump *pump_new(struct bufferevent *bev, const pump_callbacks *cbs, void *arg);
void pump_free(pump *p);

/* Switch to TLS through t (the pump takes ownership). Bytes already read
 * and not consumed are fed to the session first, and the handshake is
 * driven at once (a client-role session sends its ClientHello). May call
 * back before returning. */
void pump_start_tls(pump *p, tlsm *t);
tlsm *pump_tls(pump *p);

/* Continue a handshake that the client-hello callback paused. */
void pump_resume_handshake(pump *p);

/* Send plaintext (encrypted in TLS mode). pump_send_buffer moves all of
 * buf. Returns 0, or -1 when the side has failed (nothing sent). */
int pump_send(pump *p, const void *data, size_t len);
int pump_send_buffer(pump *p, struct evbuffer *buf);

/* No more output from us: queue close_notify in TLS mode, and shut the
 * socket's write half once everything queued has been sent. */
void pump_finish_output(pump *p);

/* The same for a side whose socket the owner closes as soon as its output
 * is flushed (pump_free): close_notify is queued, but the write half is
 * not shut, since close() sends the FIN anyway and shutdown() first was a
 * system call per connection for nothing. pump_finish_output() may follow
 * (the owner cannot close at once after all): the write half is then shut
 * once flushed, as usual. */
void pump_finish_output_for_close(pump *p);

/* Backpressure: start or stop reading from the socket. */
void pump_set_reading(pump *p, bool on);

/* What the TLS session writes on its own as its handshake completes and
 * after (a TLS 1.3 server's tickets, key updates) waits for the owner's
 * next pump_send*() or pump_finish_output*(), and goes out in one send()
 * with it. Only for a TLS 1.3 server-role session whose own flight is
 * out: in TLS 1.2 a server's last flight completes the handshake, and the
 * client waits for it. Errors' alerts are never held. */
void pump_hold_output(pump *p);

/* Read the socket within this loop iteration, before epoll says it is
 * readable: a client's first bytes mostly come with its connection, and
 * waiting to be told costs an epoll_wait() and often a wakeup. When
 * nothing is there yet it costs one recv() (EAGAIN). */
void pump_read_soon(pump *p);

/* Plaintext received and not yet consumed by the owner (in raw mode the
 * socket's input buffer). Borrowed. */
struct evbuffer *pump_input(pump *p);

/* Bytes queued for the socket and not yet sent. */
size_t pump_output_pending(pump *p);

/* Plaintext bytes received from and sent to this side so far. */
unsigned long long pump_bytes_in(const pump *p);
unsigned long long pump_bytes_out(const pump *p);

/* Has the side ended (on_end was called)? */
bool pump_ended(const pump *p);

#endif
