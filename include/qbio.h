/* qbio — an OpenSSL BIO over a plain byte queue, for driving an SSL
 * object from memory (tlsm's rbio and wbio).
 *
 * Why not BIO_s_mem(): OpenSSL 3's memory BIO zeroes every region it grows
 * into (BUF_MEM_grow_clean) and its whole buffer on every reset, and keeps
 * its largest size forever. Profiling a bulk transfer showed those memsets
 * at about a quarter of the proxy's user-space instructions. This queue
 * copies each byte once in and once out, never zeroes, and frees its
 * buffer when drained (unless it is carrying a steady transfer), so an
 * idle connection holds none.
 *
 * Reads of an empty queue ask to retry (no input yet) until
 * qbio_set_eof(), after which they report end of file. */
#ifndef TLSPEEK_QBIO_H
#define TLSPEEK_QBIO_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/bio.h>

/* A new, empty queue BIO; NULL when out of memory. Free with BIO_free()
 * (or with the SSL that owns it). */
BIO *qbio_new(void);

/* From now on an empty queue reads as end of file. */
void qbio_set_eof(BIO *b);

/* The queued bytes, contiguous: *data points at them until the next write
 * or consume. Returns their count (0: *data is NULL). */
size_t qbio_peek(BIO *b, const void **data);

/* Drop the first n queued bytes (all of them if n is larger). */
void qbio_consume(BIO *b, size_t n);

/* Room for n more bytes at the queue's end, for a caller that fills it
 * itself (a socket read straight into the queue, saving a copy): where
 * they go, valid until the next call on b; NULL when out of memory.
 * qbio_commit() then appends the first n of them (n no more than
 * reserved). */
void *qbio_reserve(BIO *b, size_t n);
void qbio_commit(BIO *b, size_t n);

/* keep: a drained queue keeps its buffer (up to 128 KiB), for a
 * busy connection that would otherwise free and take it again for every
 * message. !keep: back to the default, and an empty queue gives its buffer
 * back now. */
void qbio_set_keep(BIO *b, bool keep);

/* Bytes queued (BIO_ctrl_pending without the dispatch). */
size_t qbio_pending(BIO *b);

/* Bytes of buffer the queue holds, used or not (memory checks). */
size_t qbio_capacity(BIO *b);

#endif
