/* flowout — where completed exchanges go: the console line, --flows (JSON
 * lines), --har (rewritten at most every HAR_REWRITE_SECONDS), and
 * --bodies (payload files). One per process; connections of every worker
 * thread hand it records (it serialises them).
 * An output that fails (disk full, file removed) never stops traffic: it
 * says so once and counts the records it lost. */
#ifndef TLSPEEK_FLOWOUT_H
#define TLSPEEK_FLOWOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "flow_record.h"

#define HAR_REWRITE_SECONDS 5

typedef struct {
    const char *flows_path;   /* "-" = stdout; NULL = none */
    const char *har_path;     /* NULL = none */
    const char *bodies_dir;   /* NULL = none */
    unsigned long long body_limit; /* bytes stored per body */
    bool console;             /* one line per exchange (not -q) */
} flowout_options;

typedef struct flowout flowout;

/* Open the outputs. NULL on failure, logged with the file and reason. */
flowout *flowout_new(struct event_base *base, const flowout_options *o);
/* Writes the HAR a last time, then frees. NULL is a no-op. */
void flowout_free(flowout *f);

/* Body payload of exchange id as it passes (for --bodies). */
void flowout_body(flowout *f, unsigned long long id, bool request,
                  const char *data, size_t len);

/* An exchange completed or failed: fills in the body file names, then
 * writes it to every output. */
void flowout_exchange(flowout *f, flow_record *r);

/* Longest console line flowout prints (a longer URL or error is cut). */
#define FLOWOUT_LINE_MAX 2048

/* The console line of r into out (at most size bytes, NUL included):
 * "CLIENT METHOD URL STATUS TYPE SIZE N ms" ("-" for what is unknown),
 * then " HTTP/2", " websocket N messages up, M down", " (answered by
 * tlspeek)", " replay of #ID" and " error: WHY" where they apply. colour:
 * the status in ANSI green/yellow/red. */
void flowout_console_line(const flow_record *r, bool colour, char *out, size_t size);

#endif
