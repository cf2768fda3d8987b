/* flowfilter — the web UI's filter language: a subset of mitmproxy's flow
 * filters, parsed once into a tree and matched against many flows. The
 * same code serves the page (through the API) and the API itself.
 *
 *   word         the URL matches word as a regular expression
 *   ~m RE        method          ~u RE   URL
 *   ~d RE        host            ~h RE   a header line "Name: value" of
 *   ~c CODE      status code             the request or the response
 *   ~t RE        a Content-Type (request or response)
 *   ~b RE        the request or the response body (as kept)
 *   ~e           the exchange failed      ~http2     spoken over HTTP/2
 *   ~q           no response yet          ~s         has a response
 *   ~websocket   upgraded to a websocket  ~all       every flow
 *   !X  X & Y  X Y (same as &)  X | Y  ( X )
 * Precedence: ! binds tightest, then & (and juxtaposition), then |.
 * Regular expressions are POSIX extended and case-insensitive. An
 * argument is a quoted string ("..." or '...', backslash escapes the
 * quote) or runs to the next space, '&', '|' or unbalanced ')'.
 *
 * Pure: libc + POSIX regex, no logging. */
#ifndef TLSPEEK_FLOWFILTER_H
#define TLSPEEK_FLOWFILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "http_head.h"

/* What a filter looks at: a view of one stored flow, all borrowed. */
typedef struct {
    const char *method;        /* NULL when unknown */
    const char *url;
    const char *host;          /* without port */
    int status;                /* 0: no response head yet */
    const http_header *request_headers;
    size_t n_request_headers;
    const http_header *response_headers;
    size_t n_response_headers;
    const char *request_body;  /* bytes kept (may hold NULs), or NULL */
    size_t request_body_len;
    const char *response_body;
    size_t response_body_len;
    const char *error;         /* NULL unless the exchange failed */
    bool http2;
    bool websocket;
} flowfilter_flow;

typedef struct flowfilter flowfilter;

/* Longest message flowfilter_parse() writes, with its NUL. */
#define FLOWFILTER_ERROR_MAX 256

/* Parse text into a filter. NULL on a bad expression, with a message in
 * plain words in err (err_size bytes, at most FLOWFILTER_ERROR_MAX used),
 * e.g. "unknown filter ~x at 5" or "~c needs a status code at 1";
 * "out of memory" on allocation failure. Text of only spaces is a filter
 * that matches everything. Free with flowfilter_free(). */
flowfilter *flowfilter_parse(const char *text, char *err, size_t err_size);

/* Does flow match f? Never modifies either, so one filter may be
 * matched from several threads at once. */
bool flowfilter_match(const flowfilter *f, const flowfilter_flow *flow);

/* NULL is a no-op. */
void flowfilter_free(flowfilter *f);

#endif
