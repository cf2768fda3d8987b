/* qbio — an OpenSSL BIO over two plain byte queues, for driving an SSL
 * object from memory (tlsm): the SSL reads the peer's ciphertext from the
 * input queue, which the owner fills (qbio_feed, qbio_reserve/commit), and
 * writes its own records to the output queue, which the owner empties
 * (qbio_peek/consume). One BIO serves as the SSL's rbio and wbio: a BIO
 * costs some 250 bytes with its lock, twice per TLS session, and tens of
 * thousands of sessions are held.
 *
 * Why not BIO_s_mem(): OpenSSL 3's memory BIO zeroes every region it grows
 * into (BUF_MEM_grow_clean) and its whole buffer on every reset, and keeps
 * its largest size forever. Profiling a bulk transfer showed those memsets
 * at about a quarter of the proxy's user-space instructions. These queues
 * copy each byte once in and once out, never zero, and free their buffer
 * when drained (unless carrying a steady transfer, or told to keep it), so
 * an idle connection holds none.
 *
 * Reads of an empty input queue ask to retry (no input yet) until
 * qbio_set_eof(), after which they report end of file. */
#ifndef TLSPEEK_QBIO_H
#define TLSPEEK_QBIO_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/bio.h>

/* A new BIO with both queues empty; NULL when out of memory. Free with
 * BIO_free() (or with the SSL that owns it). */
BIO *qbio_new(void);

/* Input: append n bytes (0, or -1 out of memory). */
int qbio_feed(BIO *b, const void *data, size_t n);

/* Input: room for n more bytes at the queue's end, for a caller that fills
 * it itself (a socket read straight into the queue, saving a copy): where
 * they go, valid until the next call on b; NULL when out of memory.
 * qbio_commit() then appends the first n of them (no more than reserved). */
void *qbio_reserve(BIO *b, size_t n);
void qbio_commit(BIO *b, size_t n);

/* Input: bytes queued and not yet read by the SSL. */
size_t qbio_pending(BIO *b);

/* Input: from now on an empty queue reads as end of file. */
void qbio_set_eof(BIO *b);

/* Output: the queued bytes, contiguous: *data points at them until the
 * next write or consume. Returns their count (0: *data is NULL). */
size_t qbio_peek(BIO *b, const void **data);

/* Output: drop the first n queued bytes (all of them if n is larger). */
void qbio_consume(BIO *b, size_t n);

/* keep: drained queues keep their buffers (up to 128 KiB), for a busy
 * connection that would otherwise free and take them again for every
 * message. !keep: back to the default, and empty queues give their buffers
 * back now. */
void qbio_set_keep(BIO *b, bool keep);

/* Bytes of buffer both queues hold, used or not (memory checks). */
size_t qbio_capacity(BIO *b);

#endif
