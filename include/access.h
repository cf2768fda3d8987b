/* access — who may use the proxy: client address ranges (CIDR), the
 * loopback test, and socket addresses as text. Pure: libc only. */
#ifndef TLSPEEK_ACCESS_H
#define TLSPEEK_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct {
    int family;          /* AF_INET or AF_INET6 */
    uint8_t addr[16];    /* network address, host bits cleared */
    unsigned prefix;     /* 0..32 or 0..128 */
} access_cidr;

/* Parse "10.0.0.0/8", "192.168.1.7" (a /32), "fd00::/8" or "::1".
 * Returns 0, or -1 with *reason (static). */
int access_cidr_parse(const char *text, size_t len, access_cidr *out,
                      const char **reason);

/* Does sa (IPv4, IPv6 or IPv4-mapped IPv6) fall in one of the ranges? */
bool access_cidr_match(const access_cidr *ranges, size_t n,
                       const struct sockaddr *sa);

/* Is sa a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)? */
bool access_is_loopback(const struct sockaddr *sa);

/* Is the textual host (an authority host: name, IPv4 or IPv6 without
 * brackets) a loopback name or address: localhost, 127.0.0.0/8, ::1? */
bool access_host_is_loopback(const char *host);

/* sa as "127.0.0.1:53122" or "[::1]:443" ("unknown address" for other
 * families), cut to size. */
void access_format_sockaddr(const struct sockaddr *sa, char *buf, size_t size);

#endif
