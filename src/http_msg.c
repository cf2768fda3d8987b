/* http_msg — incremental HTTP/1.x framing: drives http-parser one event at a
 * time and copies heads into owned, bounded structures. See include/http_msg.h.
 *
 * How it works: every callback that produces an event pauses the parser, so
 * http_parser_execute() returns right there and its return value is the
 * resume point (*consumed). Message starts pause too (internally), so that
 * the head can be measured from its first byte and fed to the parser in
 * slices that never exceed max_head_bytes.
 *
 * The resume point is where http-parser wants the next byte, which is one
 * byte early in two places: at HEAD the head's final LF, and at the BODY
 * ending a Content-Length body its final byte, are consumed with the END
 * or next step that follows. So a caller that feeds "the rest" never misses
 * an event, and never has one owed to it once all its bytes are consumed;
 * exact boundaries are head_bytes and the *consumed of END. */
#include "http_msg.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_head_build.h"

typedef enum {
    PH_IDLE,     /* between messages */
    PH_HEAD,     /* message started, head not complete */
    PH_BODY,     /* head reported, message not complete */
    PH_UPGRADED, /* the stream is no longer HTTP */
    PH_ENDED,    /* end of stream was fed */
    PH_FAILED    /* sticky error */
} phase;

typedef enum { LAST_NONE, LAST_FIELD, LAST_VALUE } last_cb;

struct http_msg_parser {
    http_parser hp;
    http_msg_kind kind;
    size_t max_head;
    phase phase;
    size_t head_seen;  /* bytes of the current head consumed so far */
    http_head head;
    bool head_valid;
    /* head under construction: pieces arrive split across callbacks, and
     * go one string after another into the head's block (http_head_put) */
    last_cb last;
    bool saw_header;
    size_t fields_seen; /* fields of the head so far, kept or not */
    /* http_msg_keep_only: keep the fields named only (none when NULL) */
    bool filtering;
    const char *only;
    size_t only_len;
    size_t cand_len;    /* bytes of the arriving name that match only */
    bool cand;          /* the arriving name may still be only */
    bool keeping;       /* the current field's value is kept */
    bool no_body_next; /* http_msg_expect_no_body() */
    /* chunked trailer fields of the current message, kept up to
     * HTTP_HEAD_MAX_HEADERS fields and max_head bytes (then dropped whole) */
    http_head trailers;
    size_t trailer_bytes;
    bool trailers_dropped;
    /* set by the callback that paused the parser */
    bool began;
    http_msg_event event;
    const char *body;
    size_t body_len;
    /* why a callback refused to go on */
    const char *cb_reason;
    bool cb_too_large;
    /* sticky failure */
    http_msg_event fail_event;
    const char *fail_reason;
};

static http_msg_parser *from_hp(http_parser *hp)
{
    return hp->data;
}

static int cb_fail(http_msg_parser *p, const char *why, bool too_large)
{
    p->cb_reason = why;
    p->cb_too_large = too_large;
    return -1;
}

static int on_message_begin(http_parser *hp)
{
    http_msg_parser *p = from_hp(hp);
    http_head_clear(&p->head);
    p->head.content_length = -1;
    p->head_valid = false;
    http_head_clear(&p->trailers);
    p->trailer_bytes = 0;
    p->trailers_dropped = false;
    p->phase = PH_HEAD;
    p->head_seen = 0;
    p->last = LAST_NONE;
    p->fields_seen = 0;
    p->saw_header = false;
    p->began = true;
    http_parser_pause(hp, 1);
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
    http_msg_parser *p = from_hp(hp);
    if (http_head_put(&p->head, &p->head.target, at, n) < 0)
        return cb_fail(p, "out of memory", false);
    return 0;
}

static int on_status(http_parser *hp, const char *at, size_t n)
{
    http_msg_parser *p = from_hp(hp);
    if (http_head_put(&p->head, &p->head.reason, at, n) < 0)
        return cb_fail(p, "out of memory", false);
    return 0;
}

/* A piece of a chunked trailer field's name (field) or value: kept in
 * p->trailers like a head's fields, within bounds; past them the trailers
 * are dropped whole (they are for the record only). */
static int trailer_piece(http_msg_parser *p, bool field, const char *at, size_t n)
{
    http_head *t = &p->trailers;
    p->trailer_bytes += n;
    if (p->trailers_dropped || p->trailer_bytes > p->max_head ||
        (!field && t->n_headers == 0))
        goto drop;
    if (field && p->last != LAST_FIELD &&
        (t->n_headers == HTTP_HEAD_MAX_HEADERS || http_head_new_field(t) < 0))
        goto drop;
    p->last = field ? LAST_FIELD : LAST_VALUE;
    http_header *h = &t->headers[t->n_headers - 1];
    if ((field ? http_head_put(t, &h->name, at, n) : http_head_value_piece(t, h, at, n)) < 0)
        goto drop;
    return 0;
drop:
    http_head_clear(t);
    p->trailers_dropped = true;
    return 0;
}

/* Filtering, a piece of a field's name: kept in the head only while the
 * name may still be p->only, so that other fields cost no copy. */
static int filtered_name(http_msg_parser *p, const char *at, size_t n)
{
    if (!p->cand || n == 0)
        return 0;
    /* (names hold no NUL: http-parser refuses one in a field name) */
    if (p->cand_len + n > p->only_len || strncasecmp(at, p->only + p->cand_len, n) != 0) {
        if (p->cand_len > 0)
            http_head_drop_last(&p->head);
        p->cand = false;
        return 0;
    }
    if (p->cand_len == 0 && http_head_new_field(&p->head) < 0)
        return -1;
    p->cand_len += n;
    http_header *h = &p->head.headers[p->head.n_headers - 1];
    return http_head_put(&p->head, &h->name, at, n);
}

/* Filtering, the name just ended: keep the field if it is p->only. */
static void filtered_decide(http_msg_parser *p)
{
    p->keeping = p->cand && p->cand_len == p->only_len;
    if (p->cand && !p->keeping && p->cand_len > 0)
        http_head_drop_last(&p->head);
    p->cand = false;
}

static int on_header_field(http_parser *hp, const char *at, size_t n)
{
    http_msg_parser *p = from_hp(hp);
    if (p->phase != PH_HEAD)
        return trailer_piece(p, true, at, n);
    p->saw_header = true;
    if (p->last != LAST_FIELD) {
        /* A value (possibly empty: http-parser reports those with length
         * 0) came before, so this is a new field, not a continuation. */
        if (p->fields_seen == HTTP_HEAD_MAX_HEADERS)
            return cb_fail(p, "too many header fields", true);
        p->fields_seen++;
        if (p->filtering) {
            p->cand = p->only_len > 0;
            p->cand_len = 0;
            p->keeping = false;
        } else if (http_head_new_field(&p->head) < 0) {
            return cb_fail(p, "out of memory", false);
        }
    }
    p->last = LAST_FIELD;
    if (p->filtering)
        return filtered_name(p, at, n) < 0 ? cb_fail(p, "out of memory", false) : 0;
    http_header *h = &p->head.headers[p->head.n_headers - 1];
    if (http_head_put(&p->head, &h->name, at, n) < 0)
        return cb_fail(p, "out of memory", false);
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t n)
{
    http_msg_parser *p = from_hp(hp);
    if (p->phase != PH_HEAD)
        return trailer_piece(p, false, at, n);
    if (p->fields_seen == 0)
        return cb_fail(p, "header value without a name", false);
    if (p->filtering) {
        if (p->last != LAST_VALUE)
            filtered_decide(p);
        p->last = LAST_VALUE;
        if (!p->keeping)
            return 0;
    }
    p->last = LAST_VALUE;
    if (http_head_value_piece(&p->head, &p->head.headers[p->head.n_headers - 1], at, n) < 0)
        return cb_fail(p, "out of memory", false);
    return 0;
}

/* A string the parser never reported (an empty target or reason) becomes
 * "" so that callers never meet NULL where the header promises a string. */
static int ensure_str(http_head *h, char **s)
{
    return *s ? 0 : http_head_put(h, s, "", 0);
}

/* Does the response being completed carry no body whatever its headers
 * say? RFC 9112 6.3: responses to HEAD, 1xx, 204 and 304. */
static bool response_skips_body(http_msg_parser *p, int status)
{
    if (status / 100 == 1)
        return true; /* the flag stays for the final response after a 1xx */
    if (p->no_body_next) {
        p->no_body_next = false;
        return true;
    }
    return status == 204 || status == 304;
}

static int on_headers_complete(http_parser *hp)
{
    http_msg_parser *p = from_hp(hp);
    http_head *h = &p->head;
    bool skip = false;

    if (p->filtering && p->last == LAST_FIELD)
        filtered_decide(p); /* a name with no value reported */
    /* The last value first: end_value works on the block's last string. */
    if (h->n_headers > 0 && http_head_end_value(h, &h->headers[h->n_headers - 1]) < 0)
        return cb_fail(p, "out of memory", false);
    h->version_major = hp->http_major;
    h->version_minor = hp->http_minor;
    if (p->kind == HTTP_MSG_REQUEST) {
        const char *m = http_method_str((enum http_method)hp->method);
        strncpy(h->method, m, sizeof h->method - 1);
        if (ensure_str(h, &h->target) < 0)
            return cb_fail(p, "out of memory", false);
    } else {
        h->status = (int)hp->status_code;
        if (ensure_str(h, &h->reason) < 0)
            return cb_fail(p, "out of memory", false);
        skip = response_skips_body(p, h->status);
    }
    if (hp->flags & F_CONTENTLENGTH) {
        if (hp->content_length > (uint64_t)INT64_MAX)
            return cb_fail(p, "content length too large", false);
        h->content_length = (int64_t)hp->content_length;
    }
    h->chunked = (hp->flags & F_CHUNKED) != 0;
    h->upgrade = hp->upgrade;
    /* The parser sets F_SKIPBODY only after this callback returns 1, but
     * http_should_keep_alive() needs it now: without it an HTTP/1.1 HEAD
     * response with no Content-Length reads as close-delimited. */
    if (skip)
        hp->flags |= F_SKIPBODY;
    h->keep_alive = http_should_keep_alive(hp) != 0;
    p->head_valid = true;
    p->phase = PH_BODY;
    p->event = HTTP_MSG_HEAD;
    http_parser_pause(hp, 1);
    return skip ? 1 : 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
    http_msg_parser *p = from_hp(hp);
    if (n == 0)
        return 0;
    p->body = at;
    p->body_len = n;
    p->event = HTTP_MSG_BODY;
    http_parser_pause(hp, 1);
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    http_msg_parser *p = from_hp(hp);
    http_head *t = &p->trailers;
    if (t->n_headers > 0 && http_head_end_value(t, &t->headers[t->n_headers - 1]) < 0)
        http_head_clear(t);
    p->phase = hp->upgrade ? PH_UPGRADED : PH_IDLE;
    p->event = HTTP_MSG_END;
    http_parser_pause(hp, 1);
    return 0;
}

/* One table for every parser: the callbacks find theirs through hp.data. */
static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

http_msg_parser *http_msg_parser_new(http_msg_kind kind, size_t max_head_bytes)
{
    /* malloc and an assignment, not calloc (which the compiler makes of
     * malloc + memset): glibc's calloc skips the thread cache, and an
     * HTTP/1 tap makes its parsers anew for each exchange. */
    http_msg_parser *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    *p = (http_msg_parser){.kind = kind, .max_head = max_head_bytes,
                           .phase = PH_IDLE, .head.content_length = -1};
    http_parser_init(&p->hp,
                     kind == HTTP_MSG_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE);
    p->hp.data = p;
    return p;
}

void http_msg_parser_free(http_msg_parser *p)
{
    if (!p)
        return;
    http_head_clear(&p->head);
    http_head_clear(&p->trailers);
    free(p);
}

const http_head *http_msg_trailers(const http_msg_parser *p)
{
    return p->trailers.n_headers > 0 ? &p->trailers : NULL;
}

static http_msg_event fail(http_msg_parser *p, http_msg_event ev,
                           const char *why)
{
    p->phase = PH_FAILED;
    p->fail_event = ev;
    p->fail_reason = why;
    return ev;
}

/* Turn a parser error into an event and plain words; the descriptions of
 * http-parser are kept where they already read well. */
static http_msg_event parser_failure(http_msg_parser *p, enum http_errno e)
{
    bool req = p->kind == HTTP_MSG_REQUEST;
    const char *start_line = req ? "invalid request line" : "invalid status line";

    if (e >= HPE_CB_message_begin && e <= HPE_CB_chunk_complete && p->cb_reason)
        return fail(p, p->cb_too_large ? HTTP_MSG_TOO_LARGE : HTTP_MSG_ERROR,
                    p->cb_reason);
    switch (e) {
    case HPE_HEADER_OVERFLOW:
        return fail(p, HTTP_MSG_TOO_LARGE, "head too large");
    case HPE_INVALID_EOF_STATE:
        return fail(p, HTTP_MSG_ERROR, "truncated message");
    case HPE_CLOSED_CONNECTION:
        return fail(p, HTTP_MSG_ERROR,
                    "data after a message that closed the connection");
    case HPE_INVALID_METHOD:
    case HPE_INVALID_STATUS:
        return fail(p, HTTP_MSG_ERROR, start_line);
    case HPE_INVALID_CONSTANT:
        /* also raised by the header-name matchers once headers started */
        return fail(p, HTTP_MSG_ERROR, p->saw_header
                        ? http_errno_description(e) : start_line);
    case HPE_INVALID_VERSION:
        return fail(p, HTTP_MSG_ERROR, "invalid HTTP version");
    case HPE_INVALID_URL:
    case HPE_INVALID_HOST:
    case HPE_INVALID_PORT:
    case HPE_INVALID_PATH:
    case HPE_INVALID_QUERY_STRING:
    case HPE_INVALID_FRAGMENT:
        return fail(p, HTTP_MSG_ERROR, "invalid request target");
    case HPE_INVALID_CONTENT_LENGTH:
        return fail(p, HTTP_MSG_ERROR, "invalid Content-Length");
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return fail(p, HTTP_MSG_ERROR,
                    "conflicting Content-Length or Transfer-Encoding");
    case HPE_INVALID_CHUNK_SIZE:
        return fail(p, HTTP_MSG_ERROR, "invalid chunk size");
    default:
        return fail(p, HTTP_MSG_ERROR, http_errno_description(e));
    }
}

static http_msg_event feed_eof(http_msg_parser *p)
{
    p->event = HTTP_MSG_NEED_MORE;
    http_parser_pause(&p->hp, 0);
    /* Only a close-delimited response body calls back here (END). */
    http_parser_execute(&p->hp, &settings, "", 0);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (e != HPE_OK && e != HPE_PAUSED)
        return parser_failure(p, e);
    /* The parser stays in its close-delimited state after that END and
     * would report it again on every later end of stream: stop here. */
    p->phase = PH_ENDED;
    return e == HPE_PAUSED ? p->event : HTTP_MSG_NEED_MORE;
}

http_msg_event http_msg_feed(http_msg_parser *p, const char *data, size_t len,
                             size_t *consumed, const char **body,
                             size_t *body_len)
{
    size_t off = 0;

    *consumed = 0;
    *body = NULL;
    *body_len = 0;
    if (p->phase == PH_FAILED)
        return p->fail_event;
    if (p->phase == PH_UPGRADED)
        return len == 0 ? HTTP_MSG_NEED_MORE
                        : fail(p, HTTP_MSG_ERROR, "upgraded");
    if (p->phase == PH_ENDED)
        return len == 0 ? HTTP_MSG_NEED_MORE
                        : fail(p, HTTP_MSG_ERROR, "data after end of stream");
    if (len == 0)
        return feed_eof(p);

    while (off < len) {
        size_t slice = len - off;
        if (p->phase == PH_HEAD) {
            /* Never let the parser see more head than allowed: memory for
             * the copied head stays bounded whatever the feed size. */
            if (p->head_seen >= p->max_head) {
                *consumed = off;
                return fail(p, HTTP_MSG_TOO_LARGE, "head too large");
            }
            if (slice > p->max_head - p->head_seen)
                slice = p->max_head - p->head_seen;
        }
        phase before = p->phase;
        p->event = HTTP_MSG_NEED_MORE;
        p->began = false;
        http_parser_pause(&p->hp, 0);
        size_t n = http_parser_execute(&p->hp, &settings, data + off, slice);
        enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);

        if (e == HPE_OK) {
            if (n != slice) /* only upgrades stop early, and they pause */
                return fail(p, HTTP_MSG_ERROR, "parser stopped unexpectedly");
            if (before == PH_HEAD)
                p->head_seen += n;
            off += n;
            continue;
        }
        if (e != HPE_PAUSED) {
            *consumed = off + n;
            return parser_failure(p, e);
        }
        if (p->began) {
            /* The first byte of a message was consumed with the pause. */
            p->head_seen = 1;
            off += n;
            continue;
        }
        if (p->event == HTTP_MSG_HEAD) {
            /* Paused on the head's last byte, which the parser has yet to
             * consume (it does so on resume). */
            p->head.head_bytes = p->head_seen + n + 1;
        } else if (p->event == HTTP_MSG_BODY) {
            *body = p->body;
            *body_len = p->body_len;
        }
        *consumed = off + n;
        return p->event;
    }
    *consumed = off;
    return HTTP_MSG_NEED_MORE;
}

const http_head *http_msg_head(const http_msg_parser *p)
{
    return p->head_valid ? &p->head : NULL;
}

void http_msg_release_head(http_msg_parser *p)
{
    if (p->phase != PH_IDLE)
        return;
    http_head_clear(&p->head);
    p->head.content_length = -1;
    p->head_valid = false;
}

int http_msg_take_head(http_msg_parser *p, http_head *out)
{
    if (!p->head_valid)
        return -1;
    *out = p->head;
    memset(&p->head, 0, sizeof p->head);
    p->head.content_length = -1;
    p->head_valid = false;
    return 0;
}

void http_msg_keep_only(http_msg_parser *p, const char *only)
{
    p->filtering = true;
    p->only = only;
    p->only_len = only ? strlen(only) : 0;
}

void http_msg_expect_no_body(http_msg_parser *p)
{
    p->no_body_next = true;
}

bool http_msg_at_rest(const http_msg_parser *p)
{
    return p->phase == PH_IDLE && !p->head_valid &&
           !p->no_body_next;
}

const char *http_msg_error(const http_msg_parser *p)
{
    return p->phase == PH_FAILED ? p->fail_reason : NULL;
}
