/* h2_msg — reads one direction of an HTTP/2 connection as a passive
 * observer: the client preface (client direction), frames split across
 * reads at any byte, padding, header blocks continued in CONTINUATION
 * frames and decoded with this direction's HPACK inflater, DATA payload
 * without its padding, RST_STREAM, GOAWAY, and the SETTINGS acknowledgements
 * that change the decoder's table size. Unknown frame types are skipped.
 * It never buffers a frame: payload bytes are handed on as they arrive.
 *
 * Pure: libc + nghttp2's HPACK inflater (no nghttp2 session), no logging. */
#ifndef TLSPEEK_H2_MSG_H
#define TLSPEEK_H2_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest dynamic table this reader agrees to keep, whatever the peer
 * announces in SETTINGS_HEADER_TABLE_SIZE: past it the reader fails with an
 * HPACK error (the tap stops, the relay goes on) rather than holding a
 * table of the peers' choosing. 64 KiB is what browsers announce. */
#define H2_MSG_MAX_TABLE_SIZE 65536
/* SETTINGS frames sent by the peer and not yet acknowledged by this side. */
#define H2_MSG_MAX_UNACKED_SETTINGS 16
/* A SETTINGS frame that does not carry SETTINGS_HEADER_TABLE_SIZE. */
#define H2_MSG_NO_TABLE_SIZE UINT32_MAX

/* Events of one direction, in wire order. Each returns 0 to go on, or
 * non-zero to stop the reader (h2_msg_feed then returns -1 with
 * h2_msg_error() == "stopped"). Pointers are valid during the call only. */
typedef struct {
    /* A header block begins: HEADERS (promised = 0) or PUSH_PROMISE
     * (promised = the stream it reserves). end_stream is the HEADERS
     * frame's END_STREAM flag, announced here and signalled again by
     * on_end_stream after on_block_end. */
    int (*on_block_begin)(void *arg, uint32_t stream, uint32_t promised,
                          bool end_stream);
    /* One decoded field of the current block, pseudo-headers included. */
    int (*on_header)(void *arg, const char *name, size_t nlen, const char *value,
                     size_t vlen);
    /* The current block is complete. */
    int (*on_block_end)(void *arg);
    /* DATA payload of stream, padding removed; len > 0. */
    int (*on_data)(void *arg, uint32_t stream, const char *data, size_t len);
    /* This side ended stream (END_STREAM on DATA or HEADERS). */
    int (*on_end_stream)(void *arg, uint32_t stream);
    int (*on_rst_stream)(void *arg, uint32_t stream, uint32_t error_code);
    int (*on_goaway)(void *arg, uint32_t last_stream, uint32_t error_code);
    /* A SETTINGS frame that is not an acknowledgement; table_size is its
     * last SETTINGS_HEADER_TABLE_SIZE, or H2_MSG_NO_TABLE_SIZE. */
    int (*on_settings)(void *arg, uint32_t table_size);
} h2_msg_callbacks;

typedef struct h2_msg h2_msg;

/* A reader of the client's direction (expects the connection preface
 * first) or of the server's. cbs must outlive it. NULL when memory is
 * short. */
h2_msg *h2_msg_new(bool from_client, const h2_msg_callbacks *cbs, void *arg);
void h2_msg_free(h2_msg *m);

/* Read the next len bytes of this direction. 0, or -1 once the bytes are
 * not HTTP/2 as this reader understands it (then h2_msg_error() says why
 * and every later call returns -1 at once). */
int h2_msg_feed(h2_msg *m, const char *data, size_t len);

/* The other side sent a SETTINGS frame (table_size as in on_settings):
 * when this side acknowledges it, this direction's decoder takes the new
 * table size, as the peer's own decoder does. 0, or -1 past
 * H2_MSG_MAX_UNACKED_SETTINGS (the reader has then failed). */
int h2_msg_peer_settings(h2_msg *m, uint32_t table_size);

/* Why the reader failed (static), or NULL while it has not. */
const char *h2_msg_error(const h2_msg *m);

/* The name of an HTTP/2 error code ("CANCEL"), or NULL when unknown. */
const char *h2_msg_error_name(uint32_t error_code);

#endif
