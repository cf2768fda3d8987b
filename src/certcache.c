/* certcache — a bounded, thread-safe LRU of minted leaves: a chained hash
 * table for lookup plus a doubly linked recency list, both O(1). */
#include "certcache.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "strhash.h"

/* Buckets are a power of two at least the capacity, so chains average
 * under one entry; never fewer than this many. */
#define CERTCACHE_MIN_BUCKETS 16

typedef struct entry {
    struct entry *chain;          /* next in the same hash bucket */
    struct entry *newer, *older;  /* recency list; NULL at the ends */
    X509 *cert;                   /* the cache's own reference */
    time_t not_after;             /* cert's, read once: 0 if unreadable */
    unsigned uses;                /* times handed out (saturating) */
    uint64_t hash;
    char key[];
} entry;

struct certcache {
    pthread_mutex_t lock;
    pthread_mutex_t make_lock; /* one miss made at a time */
    entry **buckets;
    size_t nbuckets; /* power of two */
    size_t capacity;
    size_t size;
    entry *newest, *oldest;
};

certcache *certcache_new(size_t capacity)
{
    certcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->capacity = capacity;
    c->nbuckets = CERTCACHE_MIN_BUCKETS;
    while (c->nbuckets < capacity && c->nbuckets <= SIZE_MAX / 4)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->buckets);
        free(c);
        return NULL;
    }
    if (pthread_mutex_init(&c->make_lock, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        free(c->buckets);
        free(c);
        return NULL;
    }
    return c;
}

static void entry_free(entry *e)
{
    X509_free(e->cert);
    free(e);
}

void certcache_free(certcache *c)
{
    if (!c)
        return;
    for (entry *e = c->newest, *next; e; e = next) {
        next = e->older;
        entry_free(e);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->make_lock);
    free(c->buckets);
    free(c);
}

/* The slot that points at the entry for key (or at the NULL ending its
 * chain), so that callers can unlink without a second walk. */
static entry **find_slot(certcache *c, const char *key, uint64_t hash)
{
    entry **slot = &c->buckets[hash & (c->nbuckets - 1)];
    while (*slot && ((*slot)->hash != hash || strcmp((*slot)->key, key) != 0))
        slot = &(*slot)->chain;
    return slot;
}

static void list_unlink(certcache *c, entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void list_push_newest(certcache *c, entry *e)
{
    e->newer = NULL;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
}

/* Take the entry behind *slot out of both structures and free it. */
static void remove_at(certcache *c, entry **slot)
{
    entry *e = *slot;
    *slot = e->chain;
    list_unlink(c, e);
    c->size--;
    entry_free(e);
}

/* certcache_get1(), also counting the hit in *uses (when not NULL). */
static X509 *get1_counted(certcache *c, const char *key, time_t now,
                          long refresh_margin, unsigned *uses)
{
    X509 *cert = NULL;
    uint64_t hash = strhash_fnv1a(key);
    time_t limit = now + refresh_margin;
    pthread_mutex_lock(&c->lock);
    entry **slot = find_slot(c, key, hash);
    entry *e = *slot;
    if (!e)
        goto cleanup;
    /* A malformed time reads as 0, expired: a bad entry is replaced
     * rather than served forever. */
    if (e->not_after <= limit) {
        remove_at(c, slot);
        goto cleanup;
    }
    if (X509_up_ref(e->cert) != 1)
        goto cleanup;
    cert = e->cert;
    if (e->uses < UINT_MAX)
        e->uses++;
    if (uses)
        *uses = e->uses;
    list_unlink(c, e);
    list_push_newest(c, e);
cleanup:
    pthread_mutex_unlock(&c->lock);
    return cert;
}

X509 *certcache_get1(certcache *c, const char *key, time_t now,
                     long refresh_margin)
{
    return get1_counted(c, key, now, refresh_margin, NULL);
}

/* The certificate's notAfter as a time_t, or 0 when it cannot be read.
 * Read at put, not at every lookup: parsing the ASN1_TIME on each hit
 * (X509_cmp_time) was 5 K instructions per connection. */
static time_t read_not_after(const X509 *cert)
{
    int days = 0, secs = 0;
    time_t now = time(NULL);
    /* The difference from now (NULL), so no calendar conversion here. */
    if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) != 1)
        return 0;
    time_t t = now + (time_t)days * 86400 + secs;
    return t > 0 ? t : 0;
}

int certcache_put(certcache *c, const char *key, X509 *cert)
{
    size_t len = strlen(key);
    /* Allocate before locking: a failure leaves the cache unchanged and
     * the lock is never held across malloc. */
    entry *e = malloc(sizeof *e + len + 1);
    if (!e)
        return -1;
    if (X509_up_ref(cert) != 1) {
        free(e);
        return -1;
    }
    memcpy(e->key, key, len + 1);
    e->cert = cert;
    e->not_after = read_not_after(cert);
    e->uses = 1; /* the put counts as the first handout */
    e->hash = strhash_fnv1a(key);
    e->chain = NULL;
    pthread_mutex_lock(&c->lock);
    entry **slot = find_slot(c, key, e->hash);
    if (*slot)
        remove_at(c, slot); /* its chain successor now sits in *slot */
    if (c->capacity == 0) {
        /* A zero-capacity cache stores nothing: minting every time is
         * the caller's explicit choice. */
        entry_free(e);
        goto cleanup;
    }
    e->chain = *slot;
    *slot = e;
    list_push_newest(c, e);
    c->size++;
    if (c->size > c->capacity)
        remove_at(c, find_slot(c, c->oldest->key, c->oldest->hash));
cleanup:
    pthread_mutex_unlock(&c->lock);
    return 0;
}

size_t certcache_size(certcache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->size;
    pthread_mutex_unlock(&c->lock);
    return n;
}

X509 *certcache_get1_or_make(certcache *c, const char *key, time_t now,
                             long refresh_margin, certcache_make_fn make,
                             void *arg, bool *made, unsigned *uses)
{
    *made = false;
    unsigned ignored;
    uses = uses ? uses : &ignored;
    X509 *cert = get1_counted(c, key, now, refresh_margin, uses);
    if (cert)
        return cert;
    pthread_mutex_lock(&c->make_lock);
    cert = get1_counted(c, key, now, refresh_margin, uses);
    if (!cert) {
        cert = make(arg);
        if (cert) {
            /* A failed put only costs a mint next time. */
            (void)certcache_put(c, key, cert);
            *made = true;
            *uses = 1;
        }
    }
    pthread_mutex_unlock(&c->make_lock);
    return cert;
}

bool certcache_swap(certcache *c, const char *key, X509 *old, X509 *cert)
{
    bool swapped = false;
    if (X509_up_ref(cert) != 1)
        return false;
    pthread_mutex_lock(&c->lock);
    entry *e = *find_slot(c, key, strhash_fnv1a(key));
    if (e && e->cert == old) {
        e->cert = cert;
        swapped = true;
    }
    pthread_mutex_unlock(&c->lock);
    X509_free(swapped ? old : cert);
    return swapped;
}
