/* upsess — resumable upstream TLS sessions. See include/upsess.h. */
#include "upsess.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "strhash.h"

typedef struct {
    char *key;              /* NULL: empty slot */
    SSL_SESSION **pool;     /* the table's references, oldest first */
    size_t n, alloc;        /* held, and room in the array */
    size_t room;            /* most this key may hold (see upsess.h) */
} slot;

/* The key a group's sessions were last put under. */
typedef struct {
    char *group, *key;
} latest;

struct upsess {
    pthread_mutex_t lock;
    slot *slots;
    latest *latest;         /* direct-mapped too, n entries */
    size_t n;
    size_t held;            /* sessions held in every slot together */
    size_t budget;          /* past this, no pool grows beyond UPSESS_POOL */
};

static size_t hash_of(const upsess *u, const char *key)
{
    return (size_t)(strhash_fnv1a(key) % u->n);
}

static bool is_tls13(const SSL_SESSION *s)
{
    return SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION;
}

/* When s stops being worth offering: a TLS 1.3 ticket lives as long as
 * the server's lifetime hint says (OpenSSL does not offer it past that),
 * any session no longer than its own timeout. */
static long expiry(const SSL_SESSION *s)
{
    long life = SSL_SESSION_get_timeout(s);
    unsigned long hint = SSL_SESSION_get_ticket_lifetime_hint(s);
    if (is_tls13(s) && hint > 0 && hint < (unsigned long)life)
        life = (long)hint;
    return SSL_SESSION_get_time(s) + life;
}

static void drop_at(upsess *u, slot *s, size_t i)
{
    SSL_SESSION_free(s->pool[i]);
    memmove(&s->pool[i], &s->pool[i + 1], (s->n - i - 1) * sizeof *s->pool);
    s->n--;
    u->held--;
}

static void drop_all(upsess *u, slot *s)
{
    while (s->n > 0)
        drop_at(u, s, s->n - 1);
}

static void drop_expired(upsess *u, slot *s, long now)
{
    for (size_t i = s->n; i-- > 0;)
        if (expiry(s->pool[i]) <= now)
            drop_at(u, s, i);
}

static void clear(upsess *u, slot *s)
{
    drop_all(u, s);
    free(s->pool);
    free(s->key);
    *s = (slot){0};
}

upsess *upsess_new(size_t slots)
{
    upsess *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->n = slots ? slots : 1;
    u->budget = u->n * UPSESS_POOL;
    u->slots = calloc(u->n, sizeof *u->slots);
    u->latest = calloc(u->n, sizeof *u->latest);
    if (!u->slots || !u->latest || pthread_mutex_init(&u->lock, NULL) != 0) {
        free(u->slots);
        free(u->latest);
        free(u);
        return NULL;
    }
    return u;
}

void upsess_free(upsess *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++) {
        clear(u, &u->slots[i]);
        free(u->latest[i].group);
        free(u->latest[i].key);
    }
    pthread_mutex_destroy(&u->lock);
    free(u->slots);
    free(u->latest);
    free(u);
}

/* The slot for key, or NULL when it holds another key (or none). */
static slot *find(upsess *u, const char *key)
{
    slot *s = &u->slots[hash_of(u, key)];
    return s->key && strcmp(s->key, key) == 0 ? s : NULL;
}

/* Make room for one more session in s (which holds TLS 1.3 tickets only):
 * true when there is, having perhaps pushed out the ticket that expires
 * first; false when sess itself expires before every ticket held. */
static bool make_room(upsess *u, slot *s, const SSL_SESSION *sess)
{
    bool full = s->n >= s->room || (s->n >= UPSESS_POOL && u->held >= u->budget);
    if (!full) {
        if (s->n < s->alloc)
            return true;
        size_t alloc = s->alloc ? s->alloc * 2 : UPSESS_POOL;
        SSL_SESSION **grown = realloc(s->pool, alloc * sizeof *grown);
        if (grown) {
            s->pool = grown;
            s->alloc = alloc;
            return true;
        }
        if (s->n == 0)
            return false;
    }
    size_t first = 0;
    for (size_t i = 1; i < s->n; i++)
        if (expiry(s->pool[i]) < expiry(s->pool[first]))
            first = i;
    if (expiry(s->pool[first]) > expiry(sess))
        return false;
    drop_at(u, s, first);
    return true;
}

/* Remember that group's sessions now go under key (best effort: without
 * memory, the group is just not remembered). */
static void note_group(upsess *u, const char *group, const char *key)
{
    latest *l = &u->latest[hash_of(u, group)];
    if (l->group && strcmp(l->group, group) == 0 && strcmp(l->key, key) == 0)
        return;
    char *g = strdup(group), *k = strdup(key);
    if (!g || !k) {
        free(g);
        free(k);
        return;
    }
    free(l->group);
    free(l->key);
    l->group = g;
    l->key = k;
}

int upsess_put(upsess *u, const char *key, const char *group, SSL_SESSION *sess)
{
    pthread_mutex_lock(&u->lock);
    if (group)
        note_group(u, group, key);
    slot *s = find(u, key);
    if (!s) {
        char *copy = strdup(key);
        if (!copy) {
            pthread_mutex_unlock(&u->lock);
            return -1;
        }
        s = &u->slots[hash_of(u, key)];
        clear(u, s);
        s->key = copy;
        s->room = UPSESS_POOL;
    }
    long now = (long)time(NULL);
    drop_expired(u, s, now);
    /* One kind at a time: a TLS 1.2 session serves every connection, and
     * a server that changed versions has made the older kind stale. */
    if (!is_tls13(sess) || (s->n > 0 && !is_tls13(s->pool[0])))
        drop_all(u, s);
    if (expiry(sess) > now && make_room(u, s, sess)) {
        s->pool[s->n++] = sess;
        u->held++;
    } else {
        SSL_SESSION_free(sess);
    }
    pthread_mutex_unlock(&u->lock);
    return 0;
}

void upsess_forget(upsess *u, const char *key)
{
    pthread_mutex_lock(&u->lock);
    slot *s = find(u, key);
    if (s)
        clear(u, s);
    pthread_mutex_unlock(&u->lock);
}

SSL_SESSION *upsess_get1(upsess *u, const char *key)
{
    SSL_SESSION *found = NULL;
    pthread_mutex_lock(&u->lock);
    slot *s = find(u, key);
    if (s) {
        drop_expired(u, s, (long)time(NULL));
        if (s->n == 0) {
            /* More tunnels at once than tickets: keep more next time.
             * Doubling, since one burst shows the shortfall only once;
             * what the pool then holds still follows demand, since a
             * resumed handshake brings back one ticket for the one used
             * and only full handshakes (misses) add more. */
            s->room = s->room * 2 < UPSESS_POOL_MAX ? s->room * 2 : UPSESS_POOL_MAX;
        } else if (is_tls13(s->pool[s->n - 1])) {
            found = s->pool[--s->n]; /* the table's reference moves */
            u->held--;
        } else if (SSL_SESSION_up_ref(s->pool[0]) == 1) {
            found = s->pool[0];
        }
    }
    pthread_mutex_unlock(&u->lock);
    return found;
}

SSL_SESSION *upsess_get1_from_group(upsess *u, const char *group, const char *key,
                                    bool (*accept)(SSL_SESSION *, void *), void *arg)
{
    SSL_SESSION *found = NULL;
    pthread_mutex_lock(&u->lock);
    latest *l = &u->latest[hash_of(u, group)];
    slot *s = l->group && strcmp(l->group, group) == 0 && strcmp(l->key, key) != 0
                  ? find(u, l->key)
                  : NULL;
    if (s) {
        drop_expired(u, s, (long)time(NULL));
        for (size_t i = s->n; i-- > 0;) {
            if (!accept(s->pool[i], arg))
                continue;
            if (!is_tls13(s->pool[i])) {
                /* A TLS 1.2 session serves every connection: lent, kept. */
                if (SSL_SESSION_up_ref(s->pool[i]) == 1)
                    found = s->pool[i];
                break;
            }
            found = s->pool[i];
            memmove(&s->pool[i], &s->pool[i + 1], (s->n - i - 1) * sizeof *s->pool);
            s->n--;
            u->held--;
            break;
        }
    }
    pthread_mutex_unlock(&u->lock);
    return found;
}

size_t upsess_count(upsess *u, const char *key)
{
    pthread_mutex_lock(&u->lock);
    slot *s = find(u, key);
    size_t n = s ? s->n : 0;
    pthread_mutex_unlock(&u->lock);
    return n;
}
