/* strhash — FNV-1a. See include/strhash.h. */
#include "strhash.h"

uint64_t strhash_fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u; /* the 64-bit offset basis */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3u; /* the 64-bit FNV prime */
    }
    return h;
}
