/* flowout — where exchanges go: the console line, --flows (JSON lines),
 * --har (its own writer thread, see harwriter.h), --bodies (payload
 * files), and observers (the web UI's store). One per process; the
 * connections of every worker thread hand it records and body chunks.
 *
 * An exchange is reported in phases (flow_record.phase): FLOW_REQUEST,
 * FLOW_RESPONSE, then FLOW_DONE or FLOW_ERROR. Observers see every phase
 * and every body chunk; the console, --flows, --har and --bodies write
 * only the final record (DONE or ERROR).
 *
 * Nothing here makes a worker wait for a disk it does not write itself:
 * the HAR is built, inlined and rewritten on its own thread; a --flows
 * line and a body chunk are one write each, under a lock held only for
 * that write (--flows) or for a table lookup (--bodies).
 * An output that fails (disk full, file removed) never stops traffic: it
 * says so once and counts the records it lost. */
#ifndef TLSPEEK_FLOWOUT_H
#define TLSPEEK_FLOWOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "flow_record.h"

struct har;

/* The HAR document is rewritten at most this often. */
#define HAR_REWRITE_SECONDS 5

typedef struct {
    const char *flows_path;   /* "-" = stdout; NULL = none */
    const char *har_path;     /* NULL = none */
    const char *bodies_dir;   /* NULL = none */
    unsigned long long body_limit; /* bytes stored per body */
    bool console;             /* one line per exchange (not -q) */
    /* Tests only: how the HAR writer writes (NULL: har_write); see
     * harwriter_set_write. */
    int (*har_write_hook)(struct har *h, void *arg);
    void *har_write_hook_arg;
} flowout_options;

typedef struct flowout flowout;

/* Open the outputs. NULL on failure, logged with the file and reason.
 * base is not used (the HAR no longer needs an event loop's timer); it
 * stays so that callers did not have to change this round. */
flowout *flowout_new(struct event_base *base, const flowout_options *o);
/* Writes the HAR a last time, says how many records were lost, then
 * frees. Call after the workers stopped. NULL is a no-op. */
void flowout_free(flowout *f);

/* Observers (the web UI's store) see every phase of every exchange and
 * every body chunk, on the worker thread that produced it, with no lock of
 * flowout held. They must never block: copy and return. */
typedef struct {
    void (*on_record)(void *arg, const flow_record *r);
    void (*on_body)(void *arg, unsigned long long id, bool request,
                    const char *data, size_t len);
} flowout_observer;

/* Most observers one flowout takes. */
#define FLOWOUT_MAX_OBSERVERS 4

/* Add an observer (o is copied; arg must outlive f). Call from one thread
 * (start-up); an observer added while traffic flows sees what follows.
 * 0, or -1 when FLOWOUT_MAX_OBSERVERS are there already. */
int flowout_add_observer(flowout *f, const flowout_observer *o, void *arg);

/* Does any output want records at all (the console, --flows, --har,
 * --bodies or an observer)? When not, a connection builds none. Cheap:
 * call it per exchange. */
bool flowout_wants_records(const flowout *f);

/* Does any output read the header fields of records (--flows, --har, an
 * observer)? The console line reads only the response's Content-Type,
 * --bodies none: when no other output is on, a tap need not keep the
 * rest. Cheap. */
bool flowout_wants_fields(const flowout *f);

/* Does anyone want the FLOW_REQUEST and FLOW_RESPONSE phases (an
 * observer)? Only the final record goes anywhere else, so without an
 * observer a connection builds no phase records. Cheap. */
bool flowout_wants_phases(const flowout *f);

/* Does anyone want body chunks (--bodies or an observer)? Cheap. */
bool flowout_wants_bodies(const flowout *f);

/* Body payload of exchange id as it passes: to the observers, and to
 * --bodies. Chunks of one exchange come from one thread. */
void flowout_body(flowout *f, unsigned long long id, bool request,
                  const char *data, size_t len);

/* One phase of an exchange. For the final phase (FLOW_DONE, FLOW_ERROR)
 * the body files are closed and their names filled in r (valid during
 * this call); then the observers see r, and a final record goes to the
 * console, --flows and --har. */
void flowout_exchange(flowout *f, flow_record *r);

/* Records the outputs lost so far (--flows write failures, HAR entries
 * dropped), for tests and stats. */
unsigned long long flowout_lost(const flowout *f);

/* Longest console line (log.c's line buffer: a longer URL is cut there). */
#define FLOWOUT_LINE_MAX 2048

/* The console line of r into out (at most size bytes, NUL included):
 * "CLIENT METHOD URL STATUS TYPE SIZE N ms" ("-" for what is unknown),
 * then " HTTP/2", " websocket N messages up, M down", " (answered by
 * tlspeek)", " replay of #ID" and " error: WHY" where they apply. colour:
 * the status in ANSI green/yellow/red. */
void flowout_console_line(const flow_record *r, bool colour, char *out, size_t size);

#endif
