/* Unit tests for qbio: the two-queue BIO under tlsm. */
#include "check_main.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>

#include "qbio.h"

/* What the SSL writes goes to the output queue, in order; what it reads
 * comes from the input queue, in order; neither sees the other's bytes. */
START_TEST(two_queues_in_fifo_order)
{
    BIO *b = qbio_new();
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(BIO_write(b, "hello ", 6), 6);
    ck_assert_int_eq(BIO_write(b, "world", 5), 5);
    ck_assert_int_eq(BIO_ctrl_pending(b), 0);
    const void *data;
    ck_assert_uint_eq(qbio_peek(b, &data), 11);
    ck_assert_mem_eq(data, "hello world", 11);
    qbio_consume(b, 4);
    ck_assert_uint_eq(qbio_peek(b, &data), 7);
    ck_assert_mem_eq(data, "o world", 7);

    ck_assert_int_eq(qbio_feed(b, "HELLO ", 6), 0);
    ck_assert_int_eq(qbio_feed(b, "WORLD", 5), 0);
    ck_assert_int_eq(BIO_ctrl_pending(b), 11);
    ck_assert_uint_eq(qbio_pending(b), 11);
    char out[16] = {0};
    ck_assert_int_eq(BIO_read(b, out, 4), 4);
    ck_assert_mem_eq(out, "HELL", 4);
    ck_assert_int_eq(BIO_read(b, out, sizeof out), 7);
    ck_assert_mem_eq(out, "O WORLD", 7);
    ck_assert_uint_eq(qbio_peek(b, &data), 7); /* output untouched */
    ck_assert_mem_eq(data, "o world", 7);
    BIO_free(b);
}
END_TEST

START_TEST(empty_reads_retry_until_eof)
{
    BIO *b = qbio_new();
    char out[4];
    ck_assert_int_le(BIO_read(b, out, sizeof out), 0);
    ck_assert(BIO_should_retry(b));
    ck_assert(!BIO_eof(b));
    qbio_set_eof(b);
    ck_assert_int_le(BIO_read(b, out, sizeof out), 0);
    ck_assert(!BIO_should_retry(b));
    ck_assert(BIO_eof(b));
    /* Bytes queued before EOF are still read first. */
    ck_assert_int_eq(qbio_feed(b, "ab", 2), 0);
    ck_assert(!BIO_eof(b));
    ck_assert_int_eq(BIO_read(b, out, sizeof out), 2);
    BIO_free(b);
}
END_TEST

START_TEST(memory_is_given_back)
{
    BIO *b = qbio_new();
    const void *data;
    ck_assert_uint_eq(qbio_peek(b, &data), 0);
    ck_assert_ptr_null(data);
    /* A small message: its first buffer is freed once drained. */
    ck_assert_int_eq(BIO_write(b, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    qbio_consume(b, 18);
    ck_assert_uint_eq(qbio_capacity(b), 0);
    /* A record-sized transfer keeps its buffer for the next record... */
    char *big = calloc(1, 300000);
    ck_assert_int_eq(BIO_write(b, big, 20000), 20000);
    qbio_consume(b, 20000);
    ck_assert_uint_gt(qbio_capacity(b), 0);
    /* ...a burst does not. */
    ck_assert_int_eq(BIO_write(b, big, 300000), 300000);
    ck_assert_uint_ge(qbio_capacity(b), 300000);
    qbio_consume(b, 300000);
    ck_assert_uint_eq(qbio_capacity(b), 0);
    free(big);
    BIO_free(b);
}
END_TEST

/* A busy connection's queue keeps even its first buffer when drained, and
 * gives it back as soon as it is told the connection went idle. */
START_TEST(kept_while_busy)
{
    BIO *b = qbio_new();
    qbio_set_keep(b, true);
    ck_assert_int_eq(BIO_write(b, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    qbio_consume(b, 18);
    size_t cap = qbio_capacity(b);
    ck_assert_uint_gt(cap, 0);
    ck_assert_int_eq(BIO_write(b, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    qbio_consume(b, 18);
    ck_assert_uint_eq(qbio_capacity(b), cap);
    qbio_set_keep(b, false);
    ck_assert_uint_eq(qbio_capacity(b), 0);
    /* Not while bytes are queued: they stay. */
    qbio_set_keep(b, true);
    ck_assert_int_eq(BIO_write(b, "abc", 3), 3);
    qbio_set_keep(b, false);
    const void *data;
    ck_assert_uint_eq(qbio_peek(b, &data), 3);
    ck_assert_mem_eq(data, "abc", 3);
    qbio_consume(b, 3);
    ck_assert_uint_eq(qbio_capacity(b), 0);
    BIO_free(b);
}
END_TEST

START_TEST(partial_consumes_then_growth_keep_order)
{
    BIO *b = qbio_new();
    unsigned char in[10000], out[10000];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 7);
    size_t written = 0, read = 0;
    /* Interleave writes and partial reads so the queue compacts and grows. */
    while (read < sizeof in) {
        size_t w = written + 1500 <= sizeof in ? 1500 : sizeof in - written;
        if (w > 0) {
            ck_assert_int_eq(qbio_feed(b, in + written, w), 0);
            written += w;
        }
        int r = BIO_read(b, out + read, 1000);
        ck_assert_int_gt(r, 0);
        read += (size_t)r;
    }
    ck_assert_mem_eq(in, out, sizeof in);
    BIO_free(b);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("qbio");
    check_case(s, "queue", 0, CHECK_TESTS(
        two_queues_in_fifo_order, empty_reads_retry_until_eof, memory_is_given_back,
        partial_consumes_then_growth_keep_order, kept_while_busy));
    return s;
}
