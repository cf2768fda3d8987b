/* flowjson — one exchange (flow_record) as a JSON object: the --flows
 * JSON-lines output, and the shared helpers the HAR writer uses for
 * times, strings and query parameters that came off the wire.
 *
 * Strings from the wire (URL, reason, header names and values) may be any
 * bytes. A string that is valid UTF-8 is kept as is; one that is not is
 * read as Latin-1 as a whole (each byte 0x80-0xFF becomes U+0080-U+00FF,
 * which is what obs-text in HTTP/1.1 headers historically meant), so no
 * byte is ever dropped and the output is always valid JSON.
 *
 * Record keys, in this order (json_object_size() may grow in later
 * versions):
 *   id, conn_id, stream_id, replay_of, phase, start, duration_ms, client,
 *   method, url, http_version, client_protocol, upstream_protocol, status,
 *   reason, request_headers, response_headers, request_trailers,
 *   response_trailers, request_bytes, response_bytes, websocket,
 *   websocket_messages, answered_by_proxy, passthrough, passthrough_reason,
 *   tls, upstream, error, request_body, response_body
 * See flowjson_record() for types. */
#ifndef TLSPEEK_FLOWJSON_H
#define TLSPEEK_FLOWJSON_H

#include <stddef.h>
#include <stdio.h>
#include <sys/time.h>

#include <jansson.h>

#include "flow_record.h"

/* Flags for json_dump*() of anything built here: reals with 15 significant
 * digits print millisecond values computed from microseconds exactly
 * ("12.345", not "12.345000000000001"). */
#define FLOWJSON_REAL_FLAGS JSON_REAL_PRECISION(15)

/* The record as a new JSON object (caller json_decref()s), or NULL on
 * allocation failure. Types:
 *   id, conn_id, stream_id (0 for HTTP/1), status, request_bytes,
 *   response_bytes: integer
 *   replay_of: integer (the flow this one replays), or null
 *   phase: "request", "response", "done" or "error" (flowjson_phase)
 *   start: "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC)
 *   duration_ms: real, end - start (0 when end is before start)
 *   client, method, url, upstream: string or null
 *   http_version: of the request, as flowjson_http_version() writes it
 *   client_protocol, upstream_protocol: what each leg speaks ("HTTP/1.1",
 *        "HTTP/2", "websocket"), string or null
 *   reason, error, passthrough_reason: string or null
 *   request_headers, response_headers, request_trailers,
 *   response_trailers: [[name, value], ...] in wire order (empty: [])
 *   websocket, answered_by_proxy, passthrough: bool
 *   websocket_messages: {"up": n, "down": n} (client to server, server to
 *        client) for a websocket, else null
 *   tls: null when neither leg is TLS, else {"client": T, "upstream": T}
 *        with T null for a plain leg or flowjson_tls()
 *   request_body, response_body: null, or {"file": name, "truncated": bool} */
json_t *flowjson_record(const flow_record *r);

/* One TLS leg as {"version", "cipher", "sni", "alpn", "client_cert"}, each
 * a string or null; JSON null when t is NULL. NULL on allocation failure. */
json_t *flowjson_tls(const flow_tls *t);

/* The request's HTTP version as written in records: "HTTP/2" when major is
 * 2, else "HTTP/<major>.<minor>" ("HTTP/1.1"). out holds at least 32 bytes
 * for any version. */
void flowjson_http_version(const flow_record *r, char *out, size_t size);

/* The phase as a word: "request", "response", "done", "error". Static. */
const char *flowjson_phase(flow_phase phase);

/* Append the record to f as one compact JSON line and fflush. Returns 0,
 * or -1 when the record could not be built or written (the caller counts
 * lost records; nothing is logged here, so a full disk cannot flood the
 * console; errno says why, ENOMEM when the record could not be built). */
int flowjson_write_line(FILE *f, const flow_record *r);

/* s[0..len) as a JSON string: as is when valid UTF-8, else Latin-1 (see
 * above). NULL only on allocation failure. */
json_t *flowjson_text(const char *s, size_t len);

/* flowjson_text(s, strlen(s)), or JSON null when s is NULL. */
json_t *flowjson_str(const char *s);

/* The query of url (between '?' and '#') as [{"name", "value"}, ...], the
 * shape of HAR's queryString: pieces split at '&', then at the first '=';
 * both halves form-decoded ('+' is a space, %XX a byte, a malformed '%'
 * kept as is), then as flowjson_text(). Empty pieces are skipped; a piece
 * without '=' has value "". An empty array when there is no query; NULL
 * on allocation failure. */
json_t *flowjson_query(const char *url);

/* tv as RFC 3339 UTC with milliseconds into out (at least
 * FLOWJSON_TIME_LEN bytes). Returns 0, or -1 when tv is out of range
 * (out is then "1970-01-01T00:00:00.000Z"). */
#define FLOWJSON_TIME_LEN 32
int flowjson_format_time(const struct timeval *tv, char *out);

/* b - a in milliseconds, with microsecond fractions. */
double flowjson_ms_between(const struct timeval *a, const struct timeval *b);

#endif
