/* flowstore — the web UI's bounded, process-wide store of recent flows,
 * and the fan-out of their changes to subscribers (event streams).
 *
 * Workers publish each phase of an exchange (flowstore_record) and its
 * body chunks (flowstore_body) through a flowout observer: a deep copy
 * made before taking the lock, then a short critical section that swaps
 * it in and appends one event to a ring. No worker ever waits on a UI
 * client: a subscriber only holds a cursor into that ring; one that
 * falls a whole ring behind is told it lagged (and is dropped by its
 * owner; it catches up from the flow list by id).
 *
 * Bounds: the newest `keep` exchange ids (slot = id % keep: the oldest go
 * first), each with its latest record (heads copied whole) and up to
 * body_limit bytes of each body, all bodies within body_memory bytes;
 * FLOWSTORE_EVENTS events of 16 bytes.
 *
 * Readers take views: counted references to immutable records and to
 * body buffers that only grow past the length the view saw, so filtering
 * and serialising happen outside the lock. */
#ifndef TLSPEEK_FLOWSTORE_H
#define TLSPEEK_FLOWSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "flow_record.h"
#include "flowout.h"

/* Changes kept for subscribers; one that falls further behind lags. */
#define FLOWSTORE_EVENTS 16384
/* Most subscribers at once. */
#define FLOWSTORE_MAX_SUBSCRIBERS 32

typedef struct flowstore flowstore;
typedef struct flowstore_sub flowstore_sub;

/* One stored flow as a reader sees it. body[0] is the request body,
 * body[1] the response body: body_len bytes kept, body_seen bytes seen
 * (more than kept when over the limit). All valid until
 * flowstore_release(). */
typedef struct {
    const flow_record *r;
    const char *body[2];
    size_t body_len[2];
    unsigned long long body_seen[2];
    void *refs[3];   /* private */
} flowstore_view;

/* A change: flow id reached phase; cleared = the store was emptied
 * (id 0). */
typedef struct {
    unsigned long long id;
    flow_phase phase;
    bool cleared;
} flowstore_event;

/* A store of the newest keep flows (at least 1) with body_limit bytes
 * per body, all bodies together in body_memory bytes (past it, the
 * bodies of the oldest flows go first; their records stay, their bodies
 * then show as not kept). NULL on allocation failure (logged). */
flowstore *flowstore_new(size_t keep, unsigned long long body_limit, size_t body_memory);
/* Every view must have been released and every subscriber gone. NULL
 * is a no-op. */
void flowstore_free(flowstore *s);

/* The observer to give flowout_add_observer() with the store as arg. */
const flowout_observer *flowstore_observer(void);

/* Publish a phase of an exchange (r is copied; any thread). A record
 * whose id is older than every kept one is dropped. */
void flowstore_record(flowstore *s, const flow_record *r);
/* Append body bytes of exchange id (any thread). */
void flowstore_body(flowstore *s, unsigned long long id, bool request,
                    const char *data, size_t len);

/* Views of the stored flows with an id greater than since, at most max
 * of them (the newest when there are more), oldest first, into a new
 * array (*out; free with flowstore_release()). Returns how many (0 with
 * *out NULL when none; -1 on allocation failure). */
long flowstore_list(flowstore *s, unsigned long long since, size_t max,
                    flowstore_view **out);
/* The view of one flow: 0, or -1 when it is not (or no longer) kept. */
int flowstore_get(flowstore *s, unsigned long long id, flowstore_view *out);
/* Release n views (and free the array when views came from
 * flowstore_list; pass free_array false for a single flowstore_get). */
void flowstore_release(flowstore_view *views, size_t n, bool free_array);

/* Forget every flow; subscribers get a cleared event. */
void flowstore_clear(flowstore *s);

/* Newest id published so far (0 when none). */
unsigned long long flowstore_last_id(flowstore *s);

/* A subscriber that sees changes from now on. notify(arg) is called on
 * the publishing thread, with the store locked, when the subscriber is
 * armed (after a flowstore_poll() that returned nothing): it must only
 * wake its owner (e.g. event_active). NULL when there are
 * FLOWSTORE_MAX_SUBSCRIBERS already or memory is short. */
flowstore_sub *flowstore_subscribe(flowstore *s, void (*notify)(void *arg), void *arg);
/* Up to max changes since the last poll into out; returns how many.
 * *lagged is set when changes were lost (the subscriber fell
 * FLOWSTORE_EVENTS behind): its owner should drop it. Returning 0 arms
 * the notification. */
size_t flowstore_poll(flowstore_sub *sub, flowstore_event *out, size_t max,
                      bool *lagged);
/* NULL is a no-op. */
void flowstore_unsubscribe(flowstore_sub *sub);

#endif
