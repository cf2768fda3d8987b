/* autopass — the hosts whose clients rejected the minted certificate
 * (--auto-passthrough): a bounded list of host:port entries, each with the
 * reason it was added, that expire after a time to live. Shared by every
 * worker thread (one lock); the caller supplies the clock, so that tests
 * can drive it.
 *
 * Pure: libc (and its pthreads) only, no logging. */
#ifndef TLSPEEK_AUTOPASS_H
#define TLSPEEK_AUTOPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest reason kept per entry, NUL included. */
#define AUTOPASS_REASON_MAX 96

typedef struct autopass autopass;

/* A list of at most capacity entries (> 0), each kept ttl_s seconds after
 * it was last added. NULL on allocation failure. */
autopass *autopass_new(size_t capacity, double ttl_s);
void autopass_free(autopass *a);

/* List host:port from now on, with reason (cut to fit). When the list is
 * full, the entry that would expire first makes room. 1 when host:port
 * was not listed, 0 when an entry was renewed. */
int autopass_add(autopass *a, const char *host, uint16_t port, const char *reason,
                 double now);

/* Is host:port listed and unexpired at now? If so, true, and its reason
 * is copied into reason (size bytes, may be 0). Expired entries found on
 * the way are dropped. */
bool autopass_check(autopass *a, const char *host, uint16_t port, double now,
                    char *reason, size_t size);

/* Unexpired entries at now (for tests and the debug log). */
size_t autopass_count(autopass *a, double now);

/* Seconds on a clock that only moves forward (CLOCK_MONOTONIC): the now
 * of the calls above. */
double autopass_clock(void);

/* Did a client reject the certificate it was shown? alert is the fatal
 * alert it sent (-1: none), quit says it closed without one right after
 * the server's flight. The rejection in words ("alert unknown_ca"), or
 * NULL when this was some other failure. */
const char *autopass_rejection(int alert, bool quit);

#endif
