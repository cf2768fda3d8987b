/* connect_to — curl-style --connect-to rules: when a client asks for
 * HOST:PORT, connect to HOST2:PORT2 instead, while the certificate, SNI
 * and Host header stay HOST. Empty fields mean "any" (HOST, PORT) and
 * "the same" (HOST2, PORT2).
 *
 * Pure: libc only. */
#ifndef TLSPEEK_CONNECT_TO_H
#define TLSPEEK_CONNECT_TO_H

#include <stddef.h>

#include "authority.h"

typedef struct {
    char host[AUTHORITY_HOST_MAX + 1];  /* "" = any host */
    uint16_t port;                      /* 0 = any port */
    authority to;                       /* host "" = same; port 0 = same */
} connect_to_rule;

/* Parse "HOST:PORT:HOST2:PORT2" (IPv6 addresses in brackets). Returns 0,
 * or -1 with *reason (static). */
int connect_to_parse(const char *text, connect_to_rule *out, const char **reason);

/* The address to connect to for target: the first matching rule applied,
 * or target itself. */
authority connect_to_apply(const connect_to_rule *rules, size_t n,
                           const authority *target);

#endif
