/* upsess — resumable upstream TLS sessions. See include/upsess.h. */
#include "upsess.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;             /* NULL: empty slot */
    SSL_SESSION *session;  /* the table's own reference */
} slot;

struct upsess {
    pthread_mutex_t lock;
    slot *slots;
    size_t n;
};

/* FNV-1a: keys are short and not attacker-chosen in bulk. */
static size_t slot_of(const upsess *u, const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h % u->n);
}

static void clear(slot *s)
{
    free(s->key);
    SSL_SESSION_free(s->session);
    s->key = NULL;
    s->session = NULL;
}

upsess *upsess_new(size_t slots)
{
    upsess *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->n = slots ? slots : 1;
    u->slots = calloc(u->n, sizeof *u->slots);
    if (!u->slots || pthread_mutex_init(&u->lock, NULL) != 0) {
        free(u->slots);
        free(u);
        return NULL;
    }
    return u;
}

void upsess_free(upsess *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++)
        clear(&u->slots[i]);
    pthread_mutex_destroy(&u->lock);
    free(u->slots);
    free(u);
}

int upsess_put(upsess *u, const char *key, SSL_SESSION *sess)
{
    char *copy = strdup(key);
    if (!copy)
        return -1;
    pthread_mutex_lock(&u->lock);
    slot *s = &u->slots[slot_of(u, key)];
    clear(s);
    s->key = copy;
    s->session = sess;
    pthread_mutex_unlock(&u->lock);
    return 0;
}

void upsess_forget(upsess *u, const char *key)
{
    pthread_mutex_lock(&u->lock);
    slot *s = &u->slots[slot_of(u, key)];
    if (s->key && strcmp(s->key, key) == 0)
        clear(s);
    pthread_mutex_unlock(&u->lock);
}

SSL_SESSION *upsess_get1(upsess *u, const char *key)
{
    SSL_SESSION *found = NULL;
    pthread_mutex_lock(&u->lock);
    slot *s = &u->slots[slot_of(u, key)];
    if (s->key && strcmp(s->key, key) == 0) {
        if (SSL_SESSION_get_protocol_version(s->session) >= TLS1_3_VERSION) {
            found = s->session; /* the table's reference moves to the caller */
            s->session = NULL;
            clear(s);
        } else if (SSL_SESSION_up_ref(s->session) == 1) {
            found = s->session;
        }
    }
    pthread_mutex_unlock(&u->lock);
    return found;
}
