/* ui_priv — what the web UI's files (ui.c, ui_api.c, ui_replay.c) share.
 * Private to them. */
#ifndef TLSPEEK_UI_PRIV_H
#define TLSPEEK_UI_PRIV_H

#include <pthread.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "ui.h"

/* Largest request body the UI accepts (its API takes none). */
#define UI_MAX_BODY 65536
/* An event stream whose unsent output grows past this is a client that
 * stopped reading: it is dropped (and catches up with since=). A reading
 * client never gets near it: events go out every UI_COALESCE_MS. */
#define UI_STREAM_MAX_PENDING (256 * 1024)
/* The kernel's send buffer of an event stream, kept small so that a
 * client that stops reading shows in the pending bytes above soon
 * (loopback would otherwise absorb megabytes first). */
#define UI_STREAM_SNDBUF (32 * 1024)
/* Seconds between comment lines on idle event streams, so that a client
 * gone without a FIN is noticed. */
#define UI_HEARTBEAT_SECONDS 15
/* After sending events, streams look again this much later rather than
 * being woken by every change: under load the UI thread then runs ~20
 * times a second, not once per exchange (each wake-up is a context switch
 * that a worker on the same core pays for). */
#define UI_COALESCE_MS 50
/* Most flows one /api/flows answer holds. */
#define UI_MAX_LIST 100000

typedef struct ui_stream ui_stream;
typedef struct ui_replay ui_replay;

struct ui {
    ui_options o;
    char token[160];
    char address[AUTHORITY_HOST_MAX + 10]; /* "127.0.0.1:8081" as in URLs */
    uint16_t port;
    struct event_base *base;
    struct evdns_base *dns;  /* the UI thread's resolver, for replays */
    struct evhttp *http;
    struct event *wake_ev;   /* the store has changes for streams */
    struct event *stop_ev;
    struct event *heartbeat_ev;
    struct event *coalesce_ev; /* the next look after sending events */
    ui_stream *streams;
    ui_replay *replays;      /* in progress */
    pthread_t thread;
    bool started;
};

/* Answer req with status and a JSON body (steals body). */
void ui_send_json(struct evhttp_request *req, int status, json_t *body);
/* Answer req with status and {"error": message}. */
void ui_send_error(struct evhttp_request *req, int status, const char *message);

/* The /api routes other than /api/events: path starts with "/api/". */
void ui_api_handle(ui *u, struct evhttp_request *req, const char *path,
                   const char *query);

/* One flow as the API shows it: the --flows fields plus id, phase,
 * replay_of and what the page shows besides. New object or NULL. */
json_t *ui_flow_json(const flowstore_view *v);

/* Replay flow id: a new exchange, published like any other, with
 * replay_of = id. Returns its id, or 0 with *reason (static). */
unsigned long long ui_replay_start(ui *u, const flowstore_view *v, const char **reason);
/* Abandon every replay in progress (shutdown). */
void ui_replay_abort_all(ui *u);

#endif
