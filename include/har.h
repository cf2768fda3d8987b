/* har — the --har output: every exchange of the run as one HAR 1.2
 * document (http://www.softwareishard.com/blog/har-12-spec/), kept in
 * memory and rewritten whole, atomically, by har_write().
 *
 * Memory is bounded: each entry is serialized once when added (compact
 * JSON text, a few KiB) and the oldest entries are dropped beyond
 * HAR_MAX_ENTRIES entries or HAR_MAX_BYTES bytes of entries, whichever
 * comes first (har_set_limits() changes both). The document then says so
 * in log.comment ("N oldest entries dropped ...") and in a custom
 * log._dropped count. Entries are written sorted by startedDateTime.
 *
 * Per entry, besides the standard fields: httpVersion is "HTTP/2" for an
 * HTTP/2 stream, else "HTTP/1.x"; serverIPAddress is the upstream host
 * without port or brackets; connection is the client address
 * ("127.0.0.1:53122"). Custom fields (each left out when it would say
 * nothing: zero, false, none):
 *   _id, _connId: the flow and its client connection (always there);
 *   _streamId (HTTP/2), _replayOf: integers;
 *   _clientProtocol, _upstreamProtocol: what each leg speaks;
 *   _error: why the exchange failed; _answeredByProxy: true when tlspeek
 *   itself answered; _passthrough (true) and _passthroughReason;
 *   _websocket (true) and _websocketMessages {"up", "down"} after a 101;
 *   _tls {"client", "upstream"}: each leg as flowjson_tls() or null;
 *   request._trailers, response._trailers: [{"name", "value"}, ...];
 *   with a body file, _file and _truncated in response.content (and
 *   request._bodyFile/_bodyTruncated).
 * Timings: blocked, dns, connect and ssl are -1 (per exchange they are not
 * known: the connection is shared); send, wait and receive come from the
 * record's four timestamps and always add up to time. A timestamp left
 * zero is taken as the next known one, so an exchange without a response
 * spends its time in wait.
 *
 * Threads: a har belongs to one thread at a time (in tlspeek, the HAR
 * writer thread of harwriter.h); nothing in it is locked. Entries can be
 * built on any thread with har_item_new() (harentry.h) and handed over. */
#ifndef TLSPEEK_HAR_H
#define TLSPEEK_HAR_H

#include <stdbool.h>
#include <stddef.h>

#include "flow_record.h"

/* One entry on its way into a log (harentry.h). */
typedef struct har_item har_item;

/* Default limits. The bytes bound what is held in memory and rewritten
 * at each har_write() (which blocks the caller while it writes). */
#define HAR_MAX_ENTRIES 100000
#define HAR_MAX_BYTES (64 * 1024 * 1024)

/* Response and request bodies at most this long are inlined as text. */
#define HAR_INLINE_MAX (64 * 1024)

typedef struct har har;

/* A HAR log for path, creator {"name": "tlspeek", "version":
 * creator_version}. Writes the empty document at once, so that a path
 * that cannot be written is a start-up error: NULL (logged with
 * log_error) when it cannot, or on allocation failure. */
har *har_new(const char *path, const char *creator_version);

/* Where --bodies stores files (the directory that flow_record body file
 * names are relative to). When set, a body file of at most HAR_INLINE_MAX
 * bytes that was not truncated, has a textual Content-Type, no
 * Content-Encoding and is valid UTF-8 without NUL bytes is inlined as
 * response.content.text (or request.postData.text). Copied; NULL unsets.
 * Returns 0, or -1 on allocation failure. */
int har_set_bodies_dir(har *h, const char *dir);

/* Change the limits (max_entries at least 1; the newest entry is kept
 * even when it alone is over max_bytes); excess oldest entries are
 * dropped now. */
void har_set_limits(har *h, size_t max_entries, size_t max_bytes);

/* Append one entry built from r (nothing of r is kept):
 * har_add_item(h, har_item_new(r)). Returns 0, or -1 on allocation
 * failure (logged, entry lost). Marks the log dirty. */
int har_add(har *h, const flow_record *r);

/* Append e, taking it (freed on failure too). With a bodies directory
 * set, the body files e names are read now and inlined when they qualify
 * (see har_set_bodies_dir): this reads files, so it belongs on the thread
 * that owns h, not on an event loop. Returns 0, or -1 on allocation
 * failure (logged, entry lost). Marks the log dirty. */
int har_add_item(har *h, har_item *e);

/* Write the whole document to path atomically: a uniquely named
 * temporary file beside it (mkstemp; mode 0600: headers carry cookies and
 * tokens), fsync'ed, then renamed over path, so that a reader always finds
 * a whole document. Returns 0 and clears dirty, or -1 (dirty stays set,
 * so a later call retries; the failure is logged with log_warn once until
 * a write succeeds again; errno says why). Blocks while it writes:
 * entries are already text, so this is about 0.3 s per 90 MB plus the
 * fsync (measured); call it off the event loops (harwriter does). */
int har_write(har *h);

/* Entries were added (or dropped) since the last successful write. */
bool har_dirty(const har *h);

/* Entries held now (for tests and stats). */
size_t har_count(const har *h);

/* Free everything; does not write. NULL is a no-op. */
void har_free(har *h);

#endif
