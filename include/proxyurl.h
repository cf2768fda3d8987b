/* proxyurl — parse a parent proxy's URL, "http://[user:pass@]host:port"
 * or "socks5://[user:pass@]host:port", as given to --upstream-proxy or
 * found in HTTPS_PROXY / ALL_PROXY.
 *
 * Pure: libc only, no logging; callers report the returned reason. The
 * reasons never quote the text, which may hold a password. */
#ifndef TLSPEEK_PROXYURL_H
#define TLSPEEK_PROXYURL_H

#include <stdbool.h>

#include "authority.h"

/* RFC 1929 caps each of user name and password at 255 bytes; Basic
 * credentials are held to the same bound. */
#define PROXYURL_CRED_MAX 255

typedef enum {
    PROXYURL_HTTP,   /* HTTP CONNECT for every target */
    PROXYURL_SOCKS5  /* RFC 1928 CONNECT by name (the parent resolves) */
} proxyurl_kind;

typedef struct {
    proxyurl_kind kind;
    authority addr;                  /* the parent's host:port */
    bool has_credentials;            /* user (and pass) were given */
    char user[PROXYURL_CRED_MAX + 1];/* percent-decoded */
    char pass[PROXYURL_CRED_MAX + 1];
} proxyurl;

/* Parse text (NUL-terminated). Schemes: http, socks5 and socks5h (the
 * same: names are always resolved by the parent); no scheme means http,
 * as curl reads these variables. The port is required; a trailing "/" is
 * allowed, any other path is not. user and pass are percent-decoded.
 * Returns 0 and fills *out, or -1 with *reason (static, plain words). */
int proxyurl_parse(const char *text, proxyurl *out, const char **reason);

/* "http" or "socks5". */
const char *proxyurl_scheme(proxyurl_kind kind);

#endif
