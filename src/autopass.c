/* autopass — a bounded, expiring list of host:port entries shared by the
 * workers. See include/autopass.h. Lookups scan the array: the list holds
 * a few hundred hosts at most, and a scan costs less than the handshake
 * it saves. */
#include "autopass.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authority.h"

typedef struct {
    char host[AUTHORITY_HOST_MAX + 1];
    uint16_t port;
    double expires;        /* 0: the slot is free */
    char reason[AUTOPASS_REASON_MAX];
} entry;

struct autopass {
    pthread_mutex_t lock;
    double ttl;
    size_t capacity;
    entry *entries;
};

autopass *autopass_new(size_t capacity, double ttl_s)
{
    autopass *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->entries = calloc(capacity, sizeof *a->entries);
    if (!a->entries || pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a->entries);
        free(a);
        return NULL;
    }
    a->capacity = capacity;
    a->ttl = ttl_s;
    return a;
}

void autopass_free(autopass *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a->entries);
    free(a);
}

/* The live entry for host:port, dropping expired ones on the way; NULL
 * when none. Called with the lock held. */
static entry *find(autopass *a, const char *host, uint16_t port, double now)
{
    for (size_t i = 0; i < a->capacity; i++) {
        entry *e = &a->entries[i];
        if (e->expires == 0)
            continue;
        if (e->expires <= now) {
            e->expires = 0;
            continue;
        }
        if (e->port == port && strcmp(e->host, host) == 0)
            return e;
    }
    return NULL;
}

int autopass_add(autopass *a, const char *host, uint16_t port, const char *reason,
                 double now)
{
    pthread_mutex_lock(&a->lock);
    entry *e = find(a, host, port, now);
    int added = e == NULL;
    if (!e) {
        /* A free slot, else the one that expires first. */
        e = &a->entries[0];
        for (size_t i = 0; i < a->capacity && e->expires != 0; i++)
            if (a->entries[i].expires < e->expires)
                e = &a->entries[i];
        snprintf(e->host, sizeof e->host, "%s", host);
        e->port = port;
    }
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    e->expires = now + a->ttl;
    pthread_mutex_unlock(&a->lock);
    return added;
}

bool autopass_check(autopass *a, const char *host, uint16_t port, double now,
                    char *reason, size_t size)
{
    pthread_mutex_lock(&a->lock);
    const entry *e = find(a, host, port, now);
    if (e && size > 0)
        snprintf(reason, size, "%s", e->reason);
    pthread_mutex_unlock(&a->lock);
    return e != NULL;
}

double autopass_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* TLS AlertDescription values (RFC 8446, 6.2) that mean "I do not accept
 * this certificate". */
enum {
    ALERT_BAD_CERTIFICATE = 42,
    ALERT_CERTIFICATE_UNKNOWN = 46,
    ALERT_UNKNOWN_CA = 48,
    ALERT_ACCESS_DENIED = 49,
};

const char *autopass_rejection(int alert, bool quit)
{
    switch (alert) {
    case ALERT_BAD_CERTIFICATE: return "alert bad_certificate";
    case ALERT_CERTIFICATE_UNKNOWN: return "alert certificate_unknown";
    case ALERT_UNKNOWN_CA: return "alert unknown_ca";
    case ALERT_ACCESS_DENIED: return "alert access_denied";
    default: break;
    }
    return alert < 0 && quit ? "closed without an alert after the certificate" : NULL;
}

size_t autopass_count(autopass *a, double now)
{
    size_t n = 0;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->capacity; i++)
        n += a->entries[i].expires > now;
    pthread_mutex_unlock(&a->lock);
    return n;
}
