/* flowfilter — mitmproxy-style flow filters: a recursive-descent parser
 * into a small tree, and a matcher over it. See include/flowfilter.h. */
#include "flowfilter.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Deeper nesting is refused: the parser and matcher recurse, and a
 * filter typed by a person never needs more. */
#define FLOWFILTER_MAX_DEPTH 64

typedef enum {
    NODE_NOT, NODE_AND, NODE_OR,
    NODE_URL, NODE_METHOD, NODE_HOST, NODE_HEADER, NODE_TYPE, NODE_BODY,
    NODE_CODE, NODE_ERROR, NODE_HTTP2, NODE_WEBSOCKET, NODE_NO_RESPONSE,
    NODE_RESPONSE, NODE_ALL
} node_kind;

typedef struct node {
    node_kind kind;
    struct node *left, *right; /* NOT uses left; AND/OR both */
    regex_t re;                /* the regex kinds */
    bool has_re;
    int code;                  /* NODE_CODE */
} node;

struct flowfilter {
    node *root;
};

/* The filters: name after '~', what they build, whether they take an
 * argument (a regex, or for ~c a number). */
static const struct {
    const char *name;
    node_kind kind;
    bool arg;
} filters[] = {
    {"m", NODE_METHOD, true},   {"u", NODE_URL, true},    {"d", NODE_HOST, true},
    {"h", NODE_HEADER, true},   {"t", NODE_TYPE, true},   {"b", NODE_BODY, true},
    {"c", NODE_CODE, true},     {"e", NODE_ERROR, false}, {"http2", NODE_HTTP2, false},
    {"websocket", NODE_WEBSOCKET, false}, {"q", NODE_NO_RESPONSE, false},
    {"s", NODE_RESPONSE, false}, {"all", NODE_ALL, false},
};

typedef struct {
    const char *text;
    size_t pos;
    int depth;
    char *err;
    size_t err_size;
    bool failed;
} parser;

static void fail(parser *p, size_t at, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    char what[FLOWFILTER_ERROR_MAX - 32]; /* room for " at N" */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (p->err && p->err_size)
        snprintf(p->err, p->err_size < FLOWFILTER_ERROR_MAX ? p->err_size
                                                            : FLOWFILTER_ERROR_MAX,
                 "%s at %zu", what, at + 1);
}

static void node_free(node *n)
{
    if (!n)
        return;
    node_free(n->left);
    node_free(n->right);
    if (n->has_re)
        regfree(&n->re);
    free(n);
}

static node *node_new(parser *p, node_kind kind, node *left, node *right)
{
    node *n = calloc(1, sizeof *n);
    if (!n) {
        node_free(left);
        node_free(right);
        fail(p, p->pos, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->left = left;
    n->right = right;
    return n;
}

static void skip_space(parser *p)
{
    while (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' ||
           p->text[p->pos] == '\n' || p->text[p->pos] == '\r')
        p->pos++;
}

/* An argument at p->pos into a new string (caller frees), or NULL with
 * the parser failed. */
static char *read_arg(parser *p)
{
    const char *s = p->text + p->pos;
    size_t start = p->pos;
    if (*s == '"' || *s == '\'') {
        char quote = *s;
        char *out = malloc(strlen(s) + 1);
        size_t n = 0, i = 1;
        if (!out) {
            fail(p, start, "out of memory");
            return NULL;
        }
        for (; s[i] && s[i] != quote; i++) {
            if (s[i] == '\\' && (s[i + 1] == quote || s[i + 1] == '\\'))
                i++;
            out[n++] = s[i];
        }
        if (s[i] != quote) {
            free(out);
            fail(p, start, "unterminated quoted string");
            return NULL;
        }
        out[n] = '\0';
        p->pos += i + 1;
        return out;
    }
    /* Unquoted: parentheses inside an argument must balance, so that
     * "~u (a|b)" keeps its group and "(~m GET)" ends at its ')'. */
    size_t i = 0;
    int open = 0;
    for (; s[i]; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            break;
        if (c == '(')
            open++;
        else if (c == ')' && open-- == 0)
            break;
        else if ((c == '&' || c == '|') && open == 0)
            break;
    }
    if (i == 0)
        return NULL;
    char *out = strndup(s, i);
    if (!out)
        fail(p, start, "out of memory");
    p->pos += i;
    return out;
}

static node *parse_or(parser *p);

static node *regex_node(parser *p, node_kind kind, const char *arg, size_t at)
{
    node *n = node_new(p, kind, NULL, NULL);
    if (!n)
        return NULL;
    int rc = regcomp(&n->re, arg, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &n->re, why, sizeof why);
        fail(p, at, "bad regular expression '%s': %s", arg, why);
        free(n);
        return NULL;
    }
    n->has_re = true;
    return n;
}

static node *parse_filter(parser *p)
{
    size_t at = p->pos;
    const char *s = p->text + p->pos + 1;
    size_t len = 0;
    while ((s[len] >= 'a' && s[len] <= 'z') || (s[len] >= '0' && s[len] <= '9'))
        len++;
    size_t which = sizeof filters / sizeof filters[0];
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (strlen(filters[i].name) == len && strncmp(filters[i].name, s, len) == 0)
            which = i;
    if (which == sizeof filters / sizeof filters[0]) {
        fail(p, at, "unknown filter ~%.*s", (int)(len ? len : 1), len ? s : "");
        return NULL;
    }
    p->pos += 1 + len;
    if (!filters[which].arg)
        return node_new(p, filters[which].kind, NULL, NULL);
    skip_space(p);
    size_t arg_at = p->pos;
    char *arg = read_arg(p);
    if (!arg) {
        if (filters[which].kind == NODE_CODE)
            fail(p, at, "~c needs a status code");
        else
            fail(p, at, "~%s needs a regular expression", filters[which].name);
        return NULL;
    }
    node *n = NULL;
    if (filters[which].kind == NODE_CODE) {
        char *end;
        long code = strtol(arg, &end, 10);
        if (*end || end == arg || code < 100 || code > 999)
            fail(p, arg_at, "~c needs a status code (100-999), not '%s'", arg);
        else if ((n = node_new(p, NODE_CODE, NULL, NULL)))
            n->code = (int)code;
    } else {
        n = regex_node(p, filters[which].kind, arg, arg_at);
    }
    free(arg);
    return n;
}

static node *parse_unary(parser *p)
{
    skip_space(p);
    char c = p->text[p->pos];
    if (++p->depth > FLOWFILTER_MAX_DEPTH) {
        fail(p, p->pos, "expression nested too deeply");
        return NULL;
    }
    node *n = NULL;
    if (c == '!') {
        p->pos++;
        node *inner = parse_unary(p);
        n = inner ? node_new(p, NODE_NOT, inner, NULL) : NULL;
    } else if (c == '(') {
        size_t at = p->pos++;
        n = parse_or(p);
        skip_space(p);
        if (n && p->text[p->pos] != ')') {
            fail(p, at, "'(' is never closed");
            node_free(n);
            n = NULL;
        } else if (n) {
            p->pos++;
        }
    } else if (c == '~') {
        n = parse_filter(p);
    } else if (c == '\0') {
        fail(p, p->pos, "expression ends where a filter was expected");
    } else if (c == ')' || c == '&' || c == '|') {
        fail(p, p->pos, "unexpected '%c'", c);
    } else {
        size_t at = p->pos;
        char *word = read_arg(p);
        if (word)
            n = regex_node(p, NODE_URL, word, at);
        free(word);
    }
    p->depth--;
    return n;
}

/* and := unary (('&')? unary)* */
static node *parse_and(parser *p)
{
    node *left = parse_unary(p);
    while (left) {
        skip_space(p);
        char c = p->text[p->pos];
        if (c == '&') {
            p->pos++;
        } else if (c == '\0' || c == '|' || c == ')') {
            break;
        }
        node *right = parse_unary(p);
        if (!right) {
            node_free(left);
            return NULL;
        }
        left = node_new(p, NODE_AND, left, right);
    }
    return left;
}

static node *parse_or(parser *p)
{
    node *left = parse_and(p);
    while (left) {
        skip_space(p);
        if (p->text[p->pos] != '|')
            break;
        p->pos++;
        node *right = parse_and(p);
        if (!right) {
            node_free(left);
            return NULL;
        }
        left = node_new(p, NODE_OR, left, right);
    }
    return left;
}

flowfilter *flowfilter_parse(const char *text, char *err, size_t err_size)
{
    parser p = {.text = text, .err = err, .err_size = err_size};
    if (err && err_size)
        err[0] = '\0';
    flowfilter *f = calloc(1, sizeof *f);
    if (!f) {
        if (err && err_size)
            snprintf(err, err_size, "out of memory");
        return NULL;
    }
    skip_space(&p);
    if (text[p.pos] == '\0') {
        f->root = NULL; /* everything */
        return f;
    }
    f->root = parse_or(&p);
    if (f->root) {
        skip_space(&p);
        if (text[p.pos] != '\0') {
            fail(&p, p.pos, "unexpected '%c'", text[p.pos]);
            node_free(f->root);
            f->root = NULL;
        }
    }
    if (p.failed || !f->root) {
        if (!p.failed && err && err_size)
            snprintf(err, err_size, "out of memory");
        node_free(f->root);
        free(f);
        return NULL;
    }
    return f;
}

static bool bytes_match(const regex_t *re, const char *s, size_t len)
{
    if (!s)
        return false;
    /* REG_STARTEND: bodies hold NULs and are not NUL-terminated. */
    regmatch_t m = {.rm_so = 0, .rm_eo = (regoff_t)len};
    return regexec(re, s, 1, &m, REG_STARTEND) == 0;
}

static bool re_str(const regex_t *re, const char *s)
{
    return s && bytes_match(re, s, strlen(s));
}

static bool header_lines_match(const regex_t *re, const http_header *h, size_t n)
{
    char line[8192];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(line, sizeof line, "%s: %s", h[i].name, h[i].value);
        if (len < 0)
            continue;
        if ((size_t)len >= sizeof line)
            len = (int)sizeof line - 1;
        if (bytes_match(re, line, (size_t)len))
            return true;
    }
    return false;
}

static bool content_type_match(const regex_t *re, const http_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, "Content-Type") == 0 && re_str(re, h[i].value))
            return true;
    return false;
}

static bool eval(const node *n, const flowfilter_flow *fl)
{
    switch (n->kind) {
    case NODE_NOT: return !eval(n->left, fl);
    case NODE_AND: return eval(n->left, fl) && eval(n->right, fl);
    case NODE_OR: return eval(n->left, fl) || eval(n->right, fl);
    case NODE_URL: return re_str(&n->re, fl->url);
    case NODE_METHOD: return re_str(&n->re, fl->method);
    case NODE_HOST: return re_str(&n->re, fl->host);
    case NODE_HEADER:
        return header_lines_match(&n->re, fl->request_headers, fl->n_request_headers) ||
               header_lines_match(&n->re, fl->response_headers, fl->n_response_headers);
    case NODE_TYPE:
        return content_type_match(&n->re, fl->request_headers, fl->n_request_headers) ||
               content_type_match(&n->re, fl->response_headers, fl->n_response_headers);
    case NODE_BODY:
        return bytes_match(&n->re, fl->request_body, fl->request_body_len) ||
               bytes_match(&n->re, fl->response_body, fl->response_body_len);
    case NODE_CODE: return fl->status == n->code;
    case NODE_ERROR: return fl->error != NULL;
    case NODE_HTTP2: return fl->http2;
    case NODE_WEBSOCKET: return fl->websocket;
    case NODE_NO_RESPONSE: return fl->status == 0;
    case NODE_RESPONSE: return fl->status != 0;
    case NODE_ALL: return true;
    }
    return false;
}

bool flowfilter_match(const flowfilter *f, const flowfilter_flow *flow)
{
    return !f->root || eval(f->root, flow);
}

void flowfilter_free(flowfilter *f)
{
    if (!f)
        return;
    node_free(f->root);
    free(f);
}
