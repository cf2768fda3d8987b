/* bodies — the --bodies DIR output: each request and response body payload
 * (chunk framing removed, content encoding as sent) in its own file,
 * "<id>-request.bin" / "<id>-response.bin" with the exchange id padded to
 * six digits ("000042-response.bin"), at most `limit` bytes each.
 *
 * Files are mode 0600 (bodies carry whatever the traffic carried). Ids
 * restart with each run, so a directory reused across runs has files of
 * the same id overwritten; files of ids this run never reaches are left.
 *
 * Write errors never stop the proxy: they are counted, reported once per
 * bodies object with log_warn, and the affected body is reported as
 * truncated.
 *
 * Threads: a bodies may be shared by every worker thread (its error count
 * and warn-once flag are atomic, and nothing else in it changes after
 * bodies_new). A sink belongs to one thread at a time: the caller that
 * opened it writes and closes it. bodies_read() touches no bodies at all. */
#ifndef TLSPEEK_BODIES_H
#define TLSPEEK_BODIES_H

#include <stdbool.h>
#include <stddef.h>

/* Room for a body file name ("18446744073709551615-response.bin") and
 * its NUL. */
#define BODIES_NAME_MAX 48

typedef struct bodies bodies;
typedef struct bodies_sink bodies_sink;

/* Storage in dir, created (mode 0700, parent must exist) when missing;
 * each body keeps its first `limit` bytes (0 keeps none: bodies are only
 * counted). NULL with log_error when dir cannot be created or opened or
 * is not a directory, or on allocation failure. */
bodies *bodies_new(const char *dir, unsigned long long limit);

/* Free b. Every sink must have been closed first. NULL is a no-op. */
void bodies_free(bodies *b);

/* The directory as given to bodies_new (for har_set_bodies_dir). */
const char *bodies_dir(const bodies *b);

/* Write errors so far (open or write failures), for stats and tests. */
unsigned long long bodies_errors(const bodies *b);

/* A sink for one body of exchange `id`; which is "request" or "response".
 * No file is made until the first byte arrives, so an empty body leaves
 * no file. NULL on allocation failure or a bad `which` (then simply do
 * not store that body). */
bodies_sink *bodies_open(bodies *b, unsigned long long id, const char *which);

/* Store data[0..len) up to the limit and count all of it. Returns 0, or
 * -1 once this sink has failed to open or write its file (later data is
 * only counted). Never fatal. NULL s is a no-op returning 0. */
int bodies_write(bodies_sink *s, const void *data, size_t len);

/* Close and free the sink. When a file was made, its name relative to the
 * directory goes into name (BODIES_NAME_MAX bytes, the caller's) and name
 * is returned; NULL when no file was made (empty body, limit 0, a failed
 * open). *truncated (when not NULL) says whether the body had more bytes
 * than the file holds: over the limit, or cut short by a write error.
 * NULL s returns NULL with *truncated false. */
const char *bodies_close(bodies_sink *s, char *name, bool *truncated);

/* Total bytes written to s so far, stored or not. */
unsigned long long bodies_sink_total(const bodies_sink *s);

/* The content of body file name in dir when it is a regular file of at
 * most max bytes: a new buffer (caller free()s) with a NUL after the
 * *len bytes. NULL when absent, larger, unreadable, or name is not a
 * plain file name. Silent: for optional uses (inlining in HAR). */
void *bodies_read(const char *dir, const char *name, size_t max, size_t *len);

#endif
