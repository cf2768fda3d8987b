/* upstream — resolve a host (evdns) and connect to it, trying every
 * address in turn, within a time limit. The result is a connected
 * socket bufferevent or a reason in plain words. */
#ifndef TLSPEEK_UPSTREAM_H
#define TLSPEEK_UPSTREAM_H

#include <stdbool.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "authority.h"
#include "parent.h"

typedef struct upstream_req upstream_req;

typedef enum {
    UPSTREAM_OK,
    UPSTREAM_FAILED,   /* refused, unreachable, cannot resolve: 502 */
    UPSTREAM_TIMEOUT   /* DNS or connect timed out: 504 */
} upstream_status;

/* Called exactly once, never from within upstream_connect(). On
 * UPSTREAM_OK, bev is connected and owned by the callee (callbacks
 * unset, reading disabled) and peer names the address it connected to
 * ("1.2.3.4:443"); otherwise bev is NULL and reason says why, e.g.
 * "cannot resolve nonexistent.invalid" or "connection refused by
 * 127.0.0.1:9". Strings are valid during the call only. The request is
 * freed right after the callback returns. */
typedef void (*upstream_cb)(upstream_status status, struct bufferevent *bev,
                            const char *peer, const char *reason, void *arg);

/* Start connecting to target. dns_timeout_s bounds the name lookup and
 * then connect_timeout_s every address together. With a parent (may be
 * NULL) whose exception pattern does not match target's host, the parent
 * is resolved and connected to instead, and asked for a tunnel to target
 * within another connect_timeout_s; peer is then the parent's address,
 * and any failure is UPSTREAM_FAILED (502) with a reason naming the
 * parent ("HTTP parent proxy 127.0.0.1:3128 refused CONNECT
 * example.com:443: 403 Forbidden"), never its credentials. NULL on
 * allocation failure. */
upstream_req *upstream_connect(struct event_base *base, struct evdns_base *dns,
                               const authority *target, int dns_timeout_s,
                               int connect_timeout_s, const parent_proxy *parent,
                               upstream_cb cb, void *arg);

/* Abandon a pending request: the callback will not be called. */
void upstream_cancel(upstream_req *req);

#endif
