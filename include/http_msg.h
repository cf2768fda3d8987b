/* http_msg — incremental HTTP/1.x message framing over http-parser.
 *
 * The only includer of http_parser.h. A parser is fed a byte stream of
 * one direction (requests or responses) and stops at each event that the
 * caller must act on: a complete head, a chunk of body payload, the end
 * of a message. Heads are copied into bounded, owned structures so the
 * caller may discard the input buffer.
 *
 * Pure: libc + http-parser, no logging, no I/O. */
#ifndef TLSPEEK_HTTP_MSG_H
#define TLSPEEK_HTTP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_head.h"

typedef enum { HTTP_MSG_REQUEST, HTTP_MSG_RESPONSE } http_msg_kind;

typedef enum {
    HTTP_MSG_NEED_MORE,   /* all input consumed, nothing to report */
    HTTP_MSG_HEAD,        /* a head is complete: http_msg_head() */
    HTTP_MSG_BODY,        /* *body and *body_len give payload (chunk framing removed) */
    HTTP_MSG_END,         /* the current message is complete */
    HTTP_MSG_TOO_LARGE,   /* head over max_head_bytes or too many headers */
    HTTP_MSG_ERROR        /* not HTTP, or invalid: http_msg_error() says why */
} http_msg_event;

typedef struct http_msg_parser http_msg_parser;

/* New parser for one direction. max_head_bytes bounds each head (start
 * line + headers + blank line). Returns NULL on allocation failure.
 * Free with http_msg_parser_free(). */
http_msg_parser *http_msg_parser_new(http_msg_kind kind, size_t max_head_bytes);
void http_msg_parser_free(http_msg_parser *p);

/* Feed data[0..len). Returns at the first event; *consumed says how many
 * bytes of data were used up to and including that event (the caller
 * feeds the rest again). len == 0 signals end of stream (a response
 * delimited by close then reports HTTP_MSG_END; otherwise NEED_MORE or,
 * mid-message, ERROR "truncated").
 * After HTTP_MSG_HEAD of a CONNECT request or of an upgrade (101, or a
 * request with Upgrade that the parser treats as such) the stream is no
 * longer HTTP: HTTP_MSG_END follows at once and further input is
 * reported as HTTP_MSG_ERROR "upgraded". */
http_msg_event http_msg_feed(http_msg_parser *p, const char *data, size_t len,
                             size_t *consumed, const char **body,
                             size_t *body_len);

/* The most recent complete head; valid from HTTP_MSG_HEAD until the next
 * message's head starts. NULL before the first head. */
const http_head *http_msg_head(const http_msg_parser *p);

/* The caller is done with the most recent head: free it now instead of
 * when the next message begins, so that an idle keep-alive connection
 * holds no head. Only between messages (after HTTP_MSG_END; otherwise it
 * does nothing); http_msg_head() is NULL afterwards. */
void http_msg_release_head(http_msg_parser *p);

/* Move the head just reported (right after HTTP_MSG_HEAD) into *out, which
 * must hold nothing: the caller owns its strings from then on (free them
 * with http_head_clear) and http_msg_head() is NULL until the next message.
 * A tap that keeps every request head anyway saves copying it this way.
 * 0, or -1 when no head is there to take. */
int http_msg_take_head(http_msg_parser *p, http_head *out);

/* The chunked trailer fields of the message that just ended (after
 * HTTP_MSG_END), or NULL when it had none (or more than max_head_bytes or
 * HTTP_HEAD_MAX_HEADERS of them, which are dropped); valid until the next
 * message begins. Only the names and values are set. */
const http_head *http_msg_trailers(const http_msg_parser *p);

/* Keep only the header fields named only (case-insensitive; spelled as
 * on the wire) in the heads this parser builds, or no field at all when
 * only is NULL. Call before the first feed. The target, the reason, the framing,
 * every limit (fields are counted all the same) and every error stay as
 * they are; trailers are kept whole. For a tap whose outputs read fewer
 * fields than heads have: a field not kept costs no copy. only must
 * outlive the parser. */
void http_msg_keep_only(http_msg_parser *p, const char *only);

/* For a response parser: the next response answers a HEAD request (or is
 * otherwise known to have no body). Call before feeding its bytes. */
void http_msg_expect_no_body(http_msg_parser *p);

/* True when p is between messages and holds nothing a fresh parser of the
 * same kind (with the same keep_only) would not: no head, no partial
 * message, no expect_no_body pending (http-parser, built non-strict,
 * starts each message afresh). Freeing p then and making a new one later changes no
 * outcome; an idle tunnel's tap holds no parser that way. */
bool http_msg_at_rest(const http_msg_parser *p);

/* Static plain-words reason after HTTP_MSG_ERROR / TOO_LARGE. */
const char *http_msg_error(const http_msg_parser *p);

#endif
