/* harwriter — the --har output, kept off the event loops. Worker threads
 * hand each finished exchange over in a short critical section (append to
 * a queue, maybe signal); one writer thread of its own takes the queued
 * entries, reads the body files to inline (har_add_item) and rewrites
 * the document (har_write: temporary file, fsync, rename, so that the
 * file is a whole, valid HAR at every moment).
 *
 * The document is rewritten when something changed, at most every
 * rewrite interval; the first change after a quiet interval is written at
 * once. Entries wait in the queue up to HARWRITER_MAX_QUEUED bytes of
 * text (a writer stuck on a slow disk cannot take the proxy's memory);
 * past that they are dropped, counted, and the first drop is said. */
#ifndef TLSPEEK_HARWRITER_H
#define TLSPEEK_HARWRITER_H

#include "flow_record.h"
#include "har.h"

/* Queued entry text the writer may fall behind by (the HAR's own bound). */
#define HARWRITER_MAX_QUEUED HAR_MAX_BYTES

/* The writer wakes early once this much entry text is queued, so that a
 * busy proxy's entries move into the log's own bounded ring in batches. */
#define HARWRITER_WAKE_BYTES (1024 * 1024)

typedef struct harwriter harwriter;

/* How the document is written: har_write by default. Tests put a hook
 * here to stall the writer and show that the workers do not wait. */
typedef int (*harwriter_write_fn)(har *h, void *arg);

/* A writer thread for h, taking h (freed here on failure too), rewriting
 * at most every rewrite_seconds. NULL, logged, when the thread cannot
 * start or on allocation failure. */
harwriter *harwriter_new(har *h, unsigned rewrite_seconds);

/* Replace the write function (before the first harwriter_add). */
void harwriter_set_write(harwriter *w, harwriter_write_fn fn, void *arg);

/* Queue an entry for r; any thread, never waits for the writer (only for
 * the queue's lock, held for a few pointer moves). Builds the entry's
 * JSON text first (CPU only, no I/O). Returns 0, or -1 when the entry is
 * lost: out of memory, or the queue is full (counted, see harwriter_lost;
 * the first full queue is logged). */
int harwriter_add(harwriter *w, const flow_record *r);

/* Have the writer take every entry queued before the call and write the
 * document now if anything is unwritten (also after a failed write), and
 * wait for it. 0 when that write succeeded or nothing needed writing, -1
 * when it failed. For tests: this waits for the disk. */
int harwriter_flush(harwriter *w);

/* Entries lost so far (queue full or out of memory). */
unsigned long long harwriter_lost(const harwriter *w);

/* Stop the thread after it has taken every queued entry and written the
 * document a last time; free the writer and its har. Returns the entries
 * lost over its life (harwriter_lost at the end). NULL returns 0. */
unsigned long long harwriter_free(harwriter *w);

#endif
