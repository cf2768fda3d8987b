/* authority — parse, canonicalise and format "host:port" from the wire, and
 * judge whether a name is safe for a certificate. See include/authority.h. */
#include "authority.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_LEN 253
#define LABEL_MAX_LEN 63

static int fail(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return -1;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes a host name may hold: LDH plus '_', which real hosts use even
 * though RFC 952 does not allow it. Everything else (controls, spaces,
 * '@', '/', '%', '*', non-ASCII, NUL) is refused, so a name cannot smuggle
 * userinfo, a path or a second authority past the caller. */
static bool is_name_byte(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_';
}

int authority_parse_port(const char *s, size_t len, uint16_t *port)
{
    unsigned long v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
        if (v > 65535)
            return -1;
    }
    if (v == 0)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* s (len bytes, not NUL-terminated) as an address of family af (AF_INET
 * or AF_INET6), written canonically (inet_ntop) into a->host. */
static int parse_ip(int af, const char *s, size_t len, authority *a,
                    const char **reason)
{
    bool v6 = af == AF_INET6;
    const char *why = v6 ? "invalid IPv6 address" : "invalid IPv4 address";
    char tmp[INET6_ADDRSTRLEN];
    struct in6_addr addr; /* room for either family */
    /* memchr for NUL: inet_pton would silently stop at an embedded one. */
    if (len == 0 || len >= (v6 ? INET6_ADDRSTRLEN : INET_ADDRSTRLEN) ||
        memchr(s, '\0', len))
        return fail(reason, why);
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (inet_pton(af, tmp, &addr) != 1)
        return fail(reason, why);
    if (!inet_ntop(af, &addr, a->host, sizeof a->host))
        return fail(reason, why);
    a->kind = v6 ? AUTHORITY_IPV6 : AUTHORITY_IPV4;
    return 0;
}

/* Only digits and dots: an IPv4 literal or nothing. Treating "1.2.3" or
 * "010.1.1.1" as a DNS name would let it be read as an address elsewhere
 * (resolvers and browsers disagree), so such strings are refused. */
static bool looks_numeric(const char *s, size_t len)
{
    bool digit = false;
    for (size_t i = 0; i < len; i++) {
        if (is_digit((unsigned char)s[i]))
            digit = true;
        else if (s[i] != '.')
            return false;
    }
    return digit;
}

static int parse_name(const char *s, size_t len, authority *a,
                      const char **reason)
{
    /* One trailing dot is the absolute form of the same name. */
    if (len > 1 && s[len - 1] == '.')
        len--;
    if (len > NAME_MAX_LEN)
        return fail(reason, "host name too long");
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return fail(reason, "empty label in host name");
            label = 0;
        } else if (is_name_byte(c)) {
            if (++label > LABEL_MAX_LEN)
                return fail(reason, "host name label too long");
        } else {
            return fail(reason, "invalid host name");
        }
        a->host[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
    }
    if (label == 0)
        return fail(reason, "empty label in host name");
    a->host[len] = '\0';
    a->kind = AUTHORITY_NAME;
    return 0;
}

int authority_parse(const char *text, size_t len, uint16_t default_port,
                    authority *out, const char **reason)
{
    authority a;
    const char *host, *port = NULL;
    size_t host_len, port_len = 0;
    bool bracketed = false;

    memset(&a, 0, sizeof a);
    if (!text || len == 0)
        return fail(reason, "empty host");
    if (text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (!close)
            return fail(reason, "unterminated IPv6 address");
        host = text + 1;
        host_len = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - text);
        if (rest > 0) {
            if (close[1] != ':')
                return fail(reason, "unexpected bytes after IPv6 address");
            port = close + 2;
            port_len = rest - 1;
        }
        bracketed = true;
    } else {
        const char *colon = memchr(text, ':', len);
        host = text;
        host_len = colon ? (size_t)(colon - text) : len;
        if (colon) {
            port = colon + 1;
            port_len = len - host_len - 1;
            if (memchr(port, ':', port_len))
                return fail(reason, "IPv6 address without brackets");
        }
    }

    if (host_len == 0)
        return fail(reason, "empty host");
    if (port) {
        if (authority_parse_port(port, port_len, &a.port) < 0)
            return fail(reason, "invalid port");
    } else if (default_port == 0) {
        return fail(reason, "missing port");
    } else {
        a.port = default_port;
    }

    int rc;
    if (bracketed)
        rc = parse_ip(AF_INET6, host, host_len, &a, reason);
    else if (looks_numeric(host, host_len))
        rc = parse_ip(AF_INET, host, host_len, &a, reason);
    else
        rc = parse_name(host, host_len, &a, reason);
    if (rc < 0)
        return -1;
    if (out)
        *out = a;
    return 0;
}

int authority_format(const authority *a, char *buf, size_t size)
{
    if (a->kind == AUTHORITY_IPV6)
        return snprintf(buf, size, "[%s]:%u", a->host, (unsigned)a->port);
    return snprintf(buf, size, "%s:%u", a->host, (unsigned)a->port);
}

bool authority_name_is_certifiable(const char *name)
{
    if (!name)
        return false;
    size_t len = strlen(name);
    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    /* IP literals belong in iPAddress SANs; a dNSName of "10.0.0.1" is
     * refused by verifiers and would confuse the cache key. */
    if (looks_numeric(name, len))
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return false;
            label = 0;
        } else if (is_name_byte(c)) {
            if (c == '-' && label == 0)
                return false;
            if (++label > LABEL_MAX_LEN)
                return false;
        } else {
            return false; /* '*', ',', ':', spaces, controls, non-ASCII */
        }
    }
    return label > 0 && name[len - 1] != '-';
}
