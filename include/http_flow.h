/* http_flow — the HTTP/1 tap (see tap.h): a request parser on the
 * client's bytes, a response parser on the server's, responses paired
 * with requests in order (pipelining, HEAD, 1xx, 204/304, responses
 * ending at close, upgrades). It reports each exchange's request head,
 * final response head and end, and body payload as it passes. It never
 * changes or holds back the bytes: when it cannot understand them it
 * stops, reports every exchange still open with why, and the relay goes
 * on.
 *
 * Pure: libc + http_msg, no logging, no I/O (it reads the clock for the
 * exchange timestamps). */
#ifndef TLSPEEK_HTTP_FLOW_H
#define TLSPEEK_HTTP_FLOW_H

#include <stdatomic.h>

#include "tap.h"

/* Requests awaiting their response; more than this (or than
 * limits->max_open_exchanges, when smaller and not 0) stops inspection. */
#define HTTP_FLOW_MAX_PENDING 64

/* An HTTP/1 tap. Exchange ids are taken from *next_id (atomically
 * incremented), which the caller shares between taps on every worker
 * thread, so ids are unique in the process. cbs must outlive the tap.
 * Stop reasons include "server bytes are not HTTP", "upgraded to
 * websocket" and "too many requests waiting for responses". impl is NULL
 * on allocation failure. */
tap http_flow_tap_new(const tap_limits *limits, atomic_ullong *next_id,
                      const tap_callbacks *cbs, void *arg);

/* For tests: how many of its parsers and queue the HTTP/1 tap t holds
 * now; 0 once every exchange completed on a keep-alive stream. */
size_t http_flow_held(tap t);

#endif
