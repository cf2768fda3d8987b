/* http_head — an HTTP message head (request or response line, header
 * fields) as every module sees it, whatever the wire protocol: HTTP/1
 * (http_msg fills it) or HTTP/2 (h2_flow fills it from HPACK). Kept apart
 * from the parsers so that outputs and the UI need no parser header.
 *
 * Pure: libc only. */
#ifndef TLSPEEK_HTTP_HEAD_H
#define TLSPEEK_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most header fields kept per head; parsers treat more as too large. */
#define HTTP_HEAD_MAX_HEADERS 128

typedef struct {
    char *name;  /* as on the wire, NUL-terminated, owned by the head */
    char *value; /* leading/trailing whitespace trimmed, owned by the head */
} http_header;

/* How a head owns its strings. A head built by hand owns each string
 * (target, reason, every name and value) as an allocation of its own. A
 * head the HTTP/1 parser builds, or http_head_dup copies, keeps them all
 * in one block instead (block set): one allocation per head rather than
 * two per field, which is most of what inspecting a small keep-alive
 * request used to cost. Never mix the two: strings of a head with a block
 * go through http_head_put (http_head_build.h) or http_head_add, not
 * strdup. */

typedef struct {
    /* requests */
    char method[24];   /* "GET", "CONNECT", ... */
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
    char *block;         /* NULL, or the one allocation holding every string */
    uint32_t block_len;  /* bytes of block in use (strings and their NULs) */
    uint32_t block_cap;  /* bytes allocated */
} http_head;

/* Append one field (copies of name[0..nlen) and value[0..vlen), value
 * trimmed of surrounding whitespace), into the head's block when it has
 * one, else as two allocations. 0, or -1 when memory is short or the head
 * already holds HTTP_HEAD_MAX_HEADERS fields. */
int http_head_add(http_head *h, const char *name, size_t nlen, const char *value,
                  size_t vlen);

/* Are the two field names equal, ASCII letters compared without case (as
 * field names are, RFC 9110 5.1)? Neither needs a terminating NUL. */
bool http_head_name_eq(const char *a, size_t alen, const char *b, size_t blen);

/* Case-insensitive lookup of the first header named name; NULL if absent. */
const char *http_head_get(const http_head *h, const char *name);

/* Does a comma-separated header (e.g. Connection) list token? Case-insensitive,
 * over every header field named name. */
bool http_head_has_token(const http_head *h, const char *name, const char *token);

/* Free what a head owns (its block, or each string) and zero it. */
void http_head_clear(http_head *h);

/* A heap copy of src whose strings are in one block of its own (NULL on
 * allocation failure); free with http_head_free(), which accepts NULL. */
http_head *http_head_dup(const http_head *src);
void http_head_free(http_head *h);

#endif
