/* strhash — a string's hash for the proxy's in-memory tables. */
#ifndef TLSPEEK_STRHASH_H
#define TLSPEEK_STRHASH_H

#include <stdint.h>

/* 64-bit FNV-1a of a NUL-terminated string. Spread, not secrecy: fine for
 * bounded tables keyed by short names (host names, session keys), where a
 * chosen-key attack can at worst slow one table down. */
uint64_t strhash_fnv1a(const char *s);

#endif
