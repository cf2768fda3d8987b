/* units — numbers for people: byte counts as the console and the session
 * and output layers print them. Pure (libc only, no logging). */
#ifndef TLSPEEK_UNITS_H
#define TLSPEEK_UNITS_H

#include <stddef.h>

/* Enough for any units_bytes() text ("18446744073.71 GB" and its NUL). */
#define UNITS_BYTES_LEN 32

/* n bytes in decimal units, as people read sizes: "999 B", "1.5 kB",
 * "52.4 MB", "1.25 GB" (1 kB = 1000 B). A value that would round up to
 * the next unit's 1000 is written in that unit ("1.0 MB", not
 * "1000.0 kB"). Writes at most size bytes to buf, NUL included. */
void units_bytes(unsigned long long n, char *buf, size_t size);

#endif
