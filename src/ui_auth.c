/* ui_auth — the web UI's Host, cross-site and token rules. See
 * include/ui_auth.h. */
#include "ui_auth.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ui_auth_cookie_name(uint16_t port, char *buf, size_t size)
{
    snprintf(buf, size, "tlspeek_ui_%u", (unsigned)port);
}

/* Compare without leaking, through timing, how much of a guess was
 * right. */
static bool token_equal(const char *given, size_t len, const char *token)
{
    size_t n = strlen(token);
    unsigned char diff = len != n;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(token[i] ^ (i < len ? given[i] : 0));
    return diff == 0;
}

/* Is host[0..len) one of the UI's own names? */
static bool own_host(const ui_auth_config *c, const char *host, size_t len)
{
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    const char *names[] = {c->listen_host, "localhost", "127.0.0.1"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i] && strlen(names[i]) == len && strncasecmp(names[i], host, len) == 0)
            return true;
    return false;
}

/* Split "host[:port]" ("[v6][:port]"); port -1 when absent, -2 when
 * malformed. Returns the host's length. */
static size_t split_host(const char *text, long *port)
{
    size_t len = strlen(text);
    const char *colon = NULL;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close && close[1] == ':')
            colon = close + 1;
        else if (!close || close[1] != '\0')
            colon = text + len; /* malformed: port check fails */
    } else {
        colon = strrchr(text, ':');
    }
    *port = -1;
    if (!colon)
        return len;
    char *end;
    *port = colon[1] ? strtol(colon + 1, &end, 10) : -2;
    if (*port != -2 && (*end || *port < 1 || *port > 65535))
        *port = -2;
    return (size_t)(colon - text);
}

static bool host_ok(const ui_auth_config *c, const char *host)
{
    long port;
    size_t len = split_host(host, &port);
    return own_host(c, host, len) && (port == -1 || port == c->port);
}

static bool origin_ok(const ui_auth_config *c, const char *origin)
{
    static const char scheme[] = "http://";
    if (strncasecmp(origin, scheme, sizeof scheme - 1) != 0)
        return false;
    const char *rest = origin + sizeof scheme - 1;
    long port;
    size_t len = split_host(rest, &port);
    /* Browsers leave the port out of an origin only when it is 80. */
    return own_host(c, rest, len) && (port == c->port || (port == -1 && c->port == 80));
}

/* The value of cookie name in a Cookie header, or NULL; *len its length. */
static const char *cookie_value(const char *header, const char *name, size_t *len)
{
    size_t n = strlen(name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t item = strcspn(p, ";");
        if (item > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            *len = item - n - 1;
            return p + n + 1;
        }
        p += item;
    }
    return NULL;
}

static bool token_ok(const ui_auth_config *c, const ui_auth_request *r)
{
    if (r->query_token && token_equal(r->query_token, strlen(r->query_token), c->token))
        return true;
    static const char bearer[] = "Bearer ";
    if (r->authorization &&
        strncasecmp(r->authorization, bearer, sizeof bearer - 1) == 0) {
        const char *t = r->authorization + sizeof bearer - 1;
        if (token_equal(t, strlen(t), c->token))
            return true;
    }
    if (r->cookie) {
        char name[32];
        size_t len = 0;
        ui_auth_cookie_name(c->port, name, sizeof name);
        const char *v = cookie_value(r->cookie, name, &len);
        if (v && token_equal(v, len, c->token))
            return true;
    }
    return false;
}

ui_auth_result ui_auth_check(const ui_auth_config *c, const ui_auth_request *r,
                             const char **reason)
{
    if (!r->host || !host_ok(c, r->host)) {
        *reason = "this UI answers only to its own address, localhost or 127.0.0.1 "
                  "(Host header)";
        return UI_AUTH_BAD_HOST;
    }
    if (r->fetch_site && strcmp(r->fetch_site, "same-origin") != 0 &&
        strcmp(r->fetch_site, "none") != 0) {
        *reason = "requests from other sites are refused (Sec-Fetch-Site)";
        return UI_AUTH_CROSS_SITE;
    }
    if (r->origin && !origin_ok(c, r->origin)) {
        *reason = "requests from other sites are refused (Origin)";
        return UI_AUTH_CROSS_SITE;
    }
    if (!token_ok(c, r)) {
        *reason = "the UI needs its token: open the URL tlspeek printed at start "
                  "(?token=...), or send Authorization: Bearer TOKEN";
        return UI_AUTH_NO_TOKEN;
    }
    return UI_AUTH_OK;
}
