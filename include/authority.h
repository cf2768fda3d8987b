/* authority — parse and validate "host:port" as it appears in CONNECT
 * request-targets, absolute URLs and Host headers, and decide whether a
 * name from the wire is safe to put into a certificate.
 *
 * Pure: libc only, no logging; callers report the returned reason. */
#ifndef TLSPEEK_AUTHORITY_H
#define TLSPEEK_AUTHORITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest DNS name (RFC 1035) plus room for the NUL. */
#define AUTHORITY_HOST_MAX 254

typedef enum {
    AUTHORITY_NAME, /* a DNS name, lower-cased, no trailing dot */
    AUTHORITY_IPV4, /* dotted quad, canonical form */
    AUTHORITY_IPV6  /* written without brackets, canonical (inet_ntop) form */
} authority_kind;

typedef struct {
    char host[AUTHORITY_HOST_MAX + 1]; /* never bracketed, NUL-terminated */
    uint16_t port;                     /* 1..65535 */
    authority_kind kind;
} authority;

/* s[0..len) as a port: decimal 1..65535, no sign or spaces, at least one
 * digit. Returns 0 and fills *port, or -1. */
int authority_parse_port(const char *s, size_t len, uint16_t *port);

/* Parse text[0..len) as host[:port], IPv6 as [addr][:port].
 * When the port is absent, default_port is used; default_port 0 means the
 * port is required. Rejects empty hosts, port 0 or > 65535, bytes that are
 * not valid in a host name (controls, spaces, '@', '/', ...), names longer
 * than 253 or with labels longer than 63.
 * Returns 0 and fills *out, or -1 with *reason (static string, may be NULL
 * if the caller does not want it) saying why in plain words. */
int authority_parse(const char *text, size_t len, uint16_t default_port,
                    authority *out, const char **reason);

/* Write "host:port" ("[v6]:port" for IPv6) into buf; always NUL-terminates.
 * Returns the length that would have been written (snprintf-style). */
int authority_format(const authority *a, char *buf, size_t size);

/* Is name (NUL-terminated) safe to place in a certificate's dNSName SAN?
 * True only for LDH labels (letters, digits, hyphen not at label ends,
 * plus '_' which real hosts use), 1..63 per label, 1..253 in total, at
 * least one label, no wildcard, no empty label. IP literals are false
 * (they go in iPAddress SANs instead). */
bool authority_name_is_certifiable(const char *name);

#endif
