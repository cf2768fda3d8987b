/* access — client address ranges and loopback tests. See include/access.h. */
#include "access.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int access_cidr_parse(const char *text, size_t len, access_cidr *out,
                      const char **reason)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf) {
        *reason = "not an address range";
        return -1;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    unsigned prefix = 0;
    bool has_prefix = slash != NULL;
    if (slash) {
        *slash = '\0';
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3) {
            *reason = "invalid prefix length";
            return -1;
        }
        for (; *p; p++) {
            if (*p < '0' || *p > '9') {
                *reason = "invalid prefix length";
                return -1;
            }
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
    }
    memset(out, 0, sizeof *out);
    unsigned bits;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        bits = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        bits = 128;
    } else {
        *reason = "not an IP address";
        return -1;
    }
    if (!has_prefix)
        prefix = bits;
    if (prefix > bits) {
        *reason = "prefix length too long for the address";
        return -1;
    }
    out->prefix = prefix;
    /* Clear host bits so that matching is a plain prefix comparison. */
    for (unsigned i = 0; i < bits / 8; i++) {
        unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0;
        if (keep < 8)
            out->addr[i] &= (uint8_t)(0xff00u >> keep);
    }
    return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (a[whole] & mask) == (b[whole] & mask);
}

/* The address of sa as IPv4 when it is IPv4 or IPv4-mapped IPv6. */
static bool as_ipv4(const struct sockaddr *sa, uint8_t v4[4])
{
    if (sa->sa_family == AF_INET) {
        memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            memcpy(v4, a->s6_addr + 12, 4);
            return true;
        }
    }
    return false;
}

bool access_cidr_match(const access_cidr *ranges, size_t n,
                       const struct sockaddr *sa)
{
    uint8_t v4[4];
    bool is_v4 = as_ipv4(sa, v4);
    const uint8_t *v6 = sa->sa_family == AF_INET6
        ? ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr : NULL;
    for (size_t i = 0; i < n; i++) {
        const access_cidr *r = &ranges[i];
        if (r->family == AF_INET && is_v4 && prefix_equal(v4, r->addr, r->prefix))
            return true;
        if (r->family == AF_INET6 && v6 && prefix_equal(v6, r->addr, r->prefix))
            return true;
    }
    return false;
}

bool access_is_loopback(const struct sockaddr *sa)
{
    uint8_t v4[4];
    if (as_ipv4(sa, v4))
        return v4[0] == 127;
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

bool access_host_is_loopback(const char *host)
{
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct sockaddr_in in4 = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, host, &in4.sin_addr) == 1)
        return access_is_loopback((struct sockaddr *)&in4);
    if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1)
        return access_is_loopback((struct sockaddr *)&in6);
    return false;
}

void access_format_sockaddr(const struct sockaddr *sa, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, size, "unknown address");
    }
}
