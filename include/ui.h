/* ui — the live web UI, served by tlspeek itself on its own listener,
 * event loop and thread, so that no UI client can ever slow a worker:
 * the page and its assets (embedded at build time), the JSON API under
 * /api (ui_api), the event stream /api/events (server-sent events from
 * the flowstore), and replays (ui_replay). Access rules: ui_auth. */
#ifndef TLSPEEK_UI_H
#define TLSPEEK_UI_H

#include <stdatomic.h>
#include <stdbool.h>

#include "authority.h"
#include "connect_to.h"
#include "flowout.h"
#include "flowstore.h"
#include "intercept.h"
#include "parent.h"

typedef struct {
    authority listen;          /* port 0: the kernel picks */
    const char *token;         /* NULL: a random one */
    flowstore *store;          /* what the UI shows (must outlive the UI) */
    /* For replays: how the proxy reaches upstream servers. */
    flowout *out;              /* where a replay's exchange is published */
    atomic_ullong *next_exchange_id;
    const intercept *tls;      /* upstream sessions, as the workers make them */
    const char *const *dns;    /* --dns servers (none: /etc/resolv.conf) */
    int n_dns;
    const connect_to_rule *connect_to;
    size_t n_connect_to;
    const parent_proxy *parent; /* --upstream-proxy, or NULL */
    int dns_timeout, connect_timeout, handshake_timeout, idle_timeout;
    size_t max_head_bytes;
} ui_options;

typedef struct ui ui;

/* Bind the UI's listener and set up its loop (not running yet). Logs one
 * plain-words error and returns NULL on failure (address in use, ...). */
ui *ui_new(const ui_options *o);

/* Start the UI's thread and print "web UI: http://ADDR:PORT/?token=..."
 * (the one line a user needs). 0 or -1 (logged). */
int ui_start(ui *u);

/* Stop the thread (if started), close every client, free. NULL is a
 * no-op. */
void ui_free(ui *u);

#endif
