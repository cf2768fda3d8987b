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

/* Most header fields kept per head; more is a TOO_LARGE error. */
#define HTTP_MSG_MAX_HEADERS 128

typedef enum { HTTP_MSG_REQUEST, HTTP_MSG_RESPONSE } http_msg_kind;

typedef struct {
    char *name;  /* as on the wire, NUL-terminated, owned by the head */
    char *value; /* leading/trailing whitespace trimmed, owned by the head */
} http_header;

typedef struct {
    /* requests */
    char method[24];   /* "GET", "CONNECT", ... (http_method_str) */
    char *target;      /* request-target as sent, owned; NULL for responses */
    /* responses */
    int status;        /* 0 for requests */
    char *reason;      /* reason phrase, owned; NULL for requests */
    /* both */
    int version_major, version_minor;
    http_header *headers; /* n_headers of them, owned; grown as fields arrive */
    size_t n_headers;
    size_t headers_capacity;
    bool keep_alive;     /* http_should_keep_alive() at head end */
    bool upgrade;        /* CONNECT, or Upgrade accepted by the parser */
    bool chunked;        /* Transfer-Encoding: chunked */
    int64_t content_length; /* -1 when absent */
    size_t head_bytes;   /* wire size of the head (start line + headers) */
} http_head;

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

/* For a response parser: the next response answers a HEAD request (or is
 * otherwise known to have no body). Call before feeding its bytes. */
void http_msg_expect_no_body(http_msg_parser *p);

/* Static plain-words reason after HTTP_MSG_ERROR / TOO_LARGE. */
const char *http_msg_error(const http_msg_parser *p);

/* Case-insensitive lookup of the first header named name; NULL if absent. */
const char *http_head_get(const http_head *h, const char *name);

/* Does a comma-separated header (e.g. Connection) list token? Case-insensitive,
 * over every header field named name. */
bool http_head_has_token(const http_head *h, const char *name, const char *token);

/* Free what a head owns and zero it. */
void http_head_clear(http_head *h);

/* A heap copy of src that owns its own strings (NULL on allocation
 * failure); free with http_head_free(), which accepts NULL. */
http_head *http_head_dup(const http_head *src);
void http_head_free(http_head *h);

#endif
