/* h2_flow — the HTTP/2 tap (include/tap.h): reads both directions of one
 * HTTP/2 connection with h2_msg (frames, one HPACK inflater per
 * direction), pairs what each side sends by stream id, and reports one
 * exchange per stream: the request head with its pseudo-headers folded
 * in (method, target = :path, authority, scheme, and an extended
 * CONNECT's protocol), the final response head
 * (informational 1xx heads are passed over), trailers either way, DATA
 * payload sizes without padding, and how the stream ended (both sides'
 * END_STREAM, a RST_STREAM naming its code and sender, a GOAWAY that left
 * it unprocessed, or the connection ending). Server-pushed streams are
 * exchanges too, their request taken from the PUSH_PROMISE.
 *
 * Heads keep the fields limits->fields asks for (tap.h), each head's
 * strings in one block (http_head_build.h); finished streams and their
 * heads' memory are reused by the next streams while any stream is open,
 * so a busy connection allocates nothing per request.
 *
 * Bounded: at most limits->max_open_exchanges streams are tracked and a
 * header list holds at most limits->max_head_bytes (RFC 9113 size: name +
 * value + 32 per field); body bytes are passed to on_body, never kept.
 * Past a limit, or when the bytes are not HTTP/2, the tap stops (every
 * open stream gets TAP_DONE with the reason) and the relay goes on.
 *
 * Pure: libc + h2_msg, no logging, no I/O (it reads the clock for the
 * exchange timestamps). */
#ifndef TLSPEEK_H2_FLOW_H
#define TLSPEEK_H2_FLOW_H

#include "tap.h"

/* Concurrent streams a connection's tap follows (servers commonly allow
 * 100 to 128; past this the tap stops and the relay goes on). */
#define H2_FLOW_MAX_STREAMS 256

/* An HTTP/2 tap. Exchange ids are taken from *next_id (atomically
 * incremented, shared by every tap of the process). limits is copied; cbs
 * and next_id must outlive the tap. impl is NULL when memory is short. */
tap h2_flow_tap_new(const tap_limits *limits, atomic_ullong *next_id,
                    const tap_callbacks *cbs, void *arg);

#endif
