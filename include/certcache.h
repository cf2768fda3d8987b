/* certcache — bounded LRU of minted leaves, keyed by a string the caller
 * builds from the names the leaf covers. Thread-safe (one mutex), so
 * event loops in several threads may share one cache. */
#ifndef TLSPEEK_CERTCACHE_H
#define TLSPEEK_CERTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tls_types.h"

typedef struct certcache certcache;

/* A cache of at most capacity entries. NULL on allocation failure.
 * certcache_free() drops every reference the cache holds. */
certcache *certcache_new(size_t capacity);
void certcache_free(certcache *c);

/* The leaf stored under key with a new reference (caller X509_free()s),
 * or NULL when absent or when it expires within refresh_margin seconds
 * of now (such an entry is dropped so that the caller mints again).
 * A hit makes the entry most recently used. */
tls_cert *certcache_get1(certcache *c, const char *key, time_t now,
                     long refresh_margin);

/* Store cert under key (the cache takes its own reference), replacing an
 * existing entry, evicting the least recently used one when full.
 * Returns 0, or -1 on allocation failure (cache unchanged). */
int certcache_put(certcache *c, const char *key, tls_cert *cert);

/* Makes the leaf for a cache miss; NULL on failure. */
typedef tls_cert *(*certcache_make_fn)(void *arg);

/* certcache_get1(), and on a miss make(arg) and certcache_put(). Misses
 * are made one at a time, checking the cache again first, so that workers
 * racing for the same new host mint one leaf, not one each (lookups are
 * never held up by a mint). *made says whether this call minted; *uses
 * (unless NULL) how many times the entry has been handed out, this call
 * included (1 when it minted, a put counting as one; one call sees each
 * count). NULL when make()
 * failed. */
tls_cert *certcache_get1_or_make(certcache *c, const char *key, time_t now,
                             long refresh_margin, certcache_make_fn make,
                             void *arg, bool *made, unsigned *uses);

/* If the entry under key still holds old, hold cert instead (the cache
 * takes its own reference to cert and drops its one to old), keeping the
 * entry's recency and count. Returns whether it did. */
bool certcache_swap(certcache *c, const char *key, tls_cert *old, tls_cert *cert);

/* Number of entries (for tests and stats). */
size_t certcache_size(certcache *c);

#endif
