/* proxyurl — a parent proxy's URL into its parts. See include/proxyurl.h. */
#include "proxyurl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Percent-decode text[0..len) into out (PROXYURL_CRED_MAX + 1 bytes). A
 * decoded NUL would cut the credential short on the wire: refused. */
static int decode_credential(const char *text, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)text[i];
        if (c == '%') {
            if (len - i < 3 || !isxdigit((unsigned char)text[i + 1]) ||
                !isxdigit((unsigned char)text[i + 2]))
                return -1;
            char hex[3] = {text[i + 1], text[i + 2], '\0'};
            c = (int)strtol(hex, NULL, 16);
            i += 2;
        }
        if (c == 0 || n == PROXYURL_CRED_MAX)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

static const struct {
    const char *prefix;
    proxyurl_kind kind;
} schemes[] = {
    {"http://", PROXYURL_HTTP},
    {"socks5://", PROXYURL_SOCKS5},
    {"socks5h://", PROXYURL_SOCKS5},
};

int proxyurl_parse(const char *text, proxyurl *out, const char **reason)
{
    memset(out, 0, sizeof *out);
    const char *rest = text;
    out->kind = PROXYURL_HTTP;
    const char *sep = strstr(text, "://");
    if (sep) {
        size_t i = 0, n = sizeof schemes / sizeof schemes[0];
        while (i < n && strncasecmp(text, schemes[i].prefix,
                                    strlen(schemes[i].prefix)) != 0)
            i++;
        if (i == n) {
            *reason = "a parent proxy URL must start with http:// or socks5://";
            return -1;
        }
        out->kind = schemes[i].kind;
        rest = sep + 3;
    }
    size_t len = strlen(rest);
    if (len > 0 && rest[len - 1] == '/')
        len--;
    if (memchr(rest, '/', len) || memchr(rest, '?', len) || memchr(rest, '#', len)) {
        *reason = "a parent proxy URL has no path: scheme://[user:pass@]host:port";
        return -1;
    }
    /* The last '@': a password may hold one unencoded. */
    const char *at = NULL;
    for (const char *p = rest; p < rest + len; p++)
        if (*p == '@')
            at = p;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        const char *user_end = colon ? colon : at;
        if (user_end == rest ||
            decode_credential(rest, (size_t)(user_end - rest), out->user) != 0 ||
            decode_credential(colon ? colon + 1 : at, colon ? (size_t)(at - colon - 1) : 0,
                              out->pass) != 0) {
            *reason = "the parent proxy's user name and password must be 1 to 255 "
                      "bytes each (percent-encoded as in a URL)";
            return -1;
        }
        out->has_credentials = true;
        len -= (size_t)(at + 1 - rest);
        rest = at + 1;
    }
    const char *why = NULL;
    if (authority_parse(rest, len, 0, &out->addr, &why) != 0) {
        *reason = why && strstr(why, "port") ? "the parent proxy URL needs host:port"
                                             : "the parent proxy's host:port is not valid";
        return -1;
    }
    return 0;
}

const char *proxyurl_scheme(proxyurl_kind kind)
{
    return kind == PROXYURL_SOCKS5 ? "socks5" : "http";
}
