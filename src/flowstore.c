/* flowstore — bounded store of recent flows and the change ring its
 * subscribers read. See include/flowstore.h. */
#include "flowstore.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* One published record: a single block holding the flow_record, its TLS
 * legs, every header and every string, so a copy is one malloc and a
 * release one free. Immutable once published. */
typedef struct {
    atomic_uint refs;
    flow_record r;
    flow_tls tls[2];
    http_header headers[]; /* then the strings */
} rec;

/* One body as kept. Bytes below len never change; appends write past len
 * under the store lock, so a view that saw len may read without it. When
 * it must grow, a bigger copy replaces it (views keep the old one).
 * data[cap] is always NUL, and data[len] is one between appends: readers
 * get a length, but a string routine that looks for a NUL (sanitizers'
 * regexec check, which ignores REG_STARTEND) stays inside the block. */
typedef struct {
    atomic_uint refs;
    size_t len, cap;
    char data[];
} body;

typedef struct {
    unsigned long long id; /* 0: empty */
    rec *record;           /* NULL until the first record (bodies may come first) */
    body *bodies[2];
    unsigned long long seen[2]; /* body bytes that passed, kept or not */
    bool dropped[2];       /* trimmed: keep no more (it would not be a prefix) */
} slot;

struct flowstore_sub {
    flowstore *store;
    unsigned long long cursor; /* next event sequence number to read */
    atomic_bool armed;
    void (*notify)(void *arg);
    void *arg;
};

struct flowstore {
    pthread_mutex_t lock;
    size_t keep;
    unsigned long long body_limit;
    size_t body_memory;      /* the bodies' allocations together stay under */
    size_t body_bytes;       /* what they hold now */
    unsigned long long trim_from; /* no body kept below this id */
    unsigned long long last_id;
    slot *slots;
    flowstore_event events[FLOWSTORE_EVENTS];
    unsigned long long next_seq; /* events published so far */
    flowstore_sub *subs[FLOWSTORE_MAX_SUBSCRIBERS];
};

static void rec_release(rec *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1)
        free(r);
}

static void body_release(body *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

flowstore *flowstore_new(size_t keep, unsigned long long body_limit, size_t body_memory)
{
    flowstore *s = calloc(1, sizeof *s);
    if (s)
        s->slots = calloc(keep ? keep : 1, sizeof *s->slots);
    if (!s || !s->slots || pthread_mutex_init(&s->lock, NULL) != 0) {
        log_error("out of memory for the UI's flow store");
        if (s)
            free(s->slots);
        free(s);
        return NULL;
    }
    s->keep = keep ? keep : 1;
    s->body_limit = body_limit;
    s->body_memory = body_memory;
    return s;
}

/* Let go of a slot's bodies (counts stay). Locked. */
static void drop_bodies(flowstore *s, slot *sl)
{
    for (int i = 0; i < 2; i++) {
        if (sl->bodies[i])
            s->body_bytes -= sl->bodies[i]->cap;
        sl->dropped[i] = sl->dropped[i] || sl->bodies[i];
        body_release(sl->bodies[i]);
        sl->bodies[i] = NULL;
    }
}

static void slot_empty(flowstore *s, slot *sl)
{
    drop_bodies(s, sl);
    rec_release(sl->record);
    memset(sl, 0, sizeof *sl);
}

/* Over the body memory: drop the bodies of the oldest flows first (not
 * current's, which is growing). Their records stay. Locked. */
static void trim_bodies(flowstore *s, const slot *current)
{
    unsigned long long oldest = s->last_id >= s->keep ? s->last_id - s->keep + 1 : 1;
    if (s->trim_from < oldest)
        s->trim_from = oldest;
    while (s->body_bytes > s->body_memory && s->trim_from <= s->last_id) {
        slot *sl = &s->slots[s->trim_from % s->keep];
        if (sl == current)
            break;
        if (sl->id == s->trim_from)
            drop_bodies(s, sl);
        s->trim_from++;
    }
}

void flowstore_free(flowstore *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->keep; i++)
        slot_empty(s, &s->slots[i]);
    free(s->slots);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void store_record(void *arg, const flow_record *r)
{
    flowstore_record(arg, r);
}

static void store_body(void *arg, unsigned long long id, bool request,
                       const char *data, size_t len)
{
    flowstore_body(arg, id, request, data, len);
}

const flowout_observer *flowstore_observer(void)
{
    static const flowout_observer observer = {store_record, store_body};
    return &observer;
}

/* Copying a record: the first pass (out NULL) measures the strings, the
 * second copies them. */
typedef struct {
    char *out;
    size_t n;
} packer;

static const char *pack_str(packer *k, const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s) + 1;
    char *dst = k->out ? k->out + k->n : NULL;
    if (dst)
        memcpy(dst, s, len);
    k->n += len;
    return dst;
}

static const http_header *pack_headers(packer *k, http_header **next,
                                       const http_header *h, size_t n)
{
    http_header *first = *next;
    for (size_t i = 0; i < n; i++) {
        const char *name = pack_str(k, h[i].name);
        const char *value = pack_str(k, h[i].value);
        if (first) {
            first[i].name = (char *)name;
            first[i].value = (char *)value;
        }
    }
    if (first)
        *next = first + n;
    return n ? first : NULL;
}

static const flow_tls *pack_tls(packer *k, flow_tls *dst, const flow_tls *t)
{
    if (!t)
        return NULL;
    flow_tls copy = {pack_str(k, t->version), pack_str(k, t->cipher), pack_str(k, t->sni),
                     pack_str(k, t->alpn), pack_str(k, t->client_cert)};
    if (dst)
        *dst = copy;
    return dst;
}

/* Fill r (when rc is not NULL) from src; returns the string bytes. */
static size_t pack(packer *k, rec *rc, const flow_record *src)
{
    flow_record *r = rc ? &rc->r : &(flow_record){0};
    http_header *next = rc ? rc->headers : NULL;
    *r = *src;
    r->client = pack_str(k, src->client);
    r->upstream = pack_str(k, src->upstream);
    r->url = pack_str(k, src->url);
    r->method = pack_str(k, src->method);
    r->client_protocol = pack_str(k, src->client_protocol);
    r->upstream_protocol = pack_str(k, src->upstream_protocol);
    r->reason = pack_str(k, src->reason);
    r->passthrough_reason = pack_str(k, src->passthrough_reason);
    r->error = pack_str(k, src->error);
    r->request_headers = pack_headers(k, &next, src->request_headers,
                                      src->n_request_headers);
    r->response_headers = pack_headers(k, &next, src->response_headers,
                                       src->n_response_headers);
    r->request_trailers = pack_headers(k, &next, src->request_trailers,
                                       src->n_request_trailers);
    r->response_trailers = pack_headers(k, &next, src->response_trailers,
                                        src->n_response_trailers);
    r->client_tls = pack_tls(k, rc ? &rc->tls[0] : NULL, src->client_tls);
    r->upstream_tls = pack_tls(k, rc ? &rc->tls[1] : NULL, src->upstream_tls);
    /* Body files belong to --bodies; the store keeps its own copies. */
    r->request_body_file = r->response_body_file = NULL;
    return k->n;
}

static rec *rec_copy(const flow_record *src)
{
    size_t n_headers = src->n_request_headers + src->n_response_headers +
                       src->n_request_trailers + src->n_response_trailers;
    packer measure = {0};
    size_t strings = pack(&measure, NULL, src);
    size_t head = sizeof(rec) + n_headers * sizeof(http_header);
    rec *rc = malloc(head + strings);
    if (!rc)
        return NULL;
    atomic_init(&rc->refs, 1);
    packer fill = {(char *)rc + head, 0};
    pack(&fill, rc, src);
    return rc;
}

/* The slot for id, emptied of an older flow; NULL when id is older than
 * what the slot holds (it was dropped). Locked. */
static slot *slot_for(flowstore *s, unsigned long long id)
{
    slot *sl = &s->slots[id % s->keep];
    if (sl->id > id)
        return NULL;
    if (sl->id != id) {
        slot_empty(s, sl);
        sl->id = id;
    }
    if (id > s->last_id)
        s->last_id = id;
    return sl;
}

/* Append a change and wake the armed subscribers. Locked. */
static void publish_event(flowstore *s, unsigned long long id, flow_phase phase,
                          bool cleared)
{
    s->events[s->next_seq % FLOWSTORE_EVENTS] =
        (flowstore_event){.id = id, .phase = phase, .cleared = cleared};
    s->next_seq++;
    for (size_t i = 0; i < FLOWSTORE_MAX_SUBSCRIBERS; i++) {
        flowstore_sub *sub = s->subs[i];
        if (sub && atomic_exchange(&sub->armed, false))
            sub->notify(sub->arg);
    }
}

void flowstore_record(flowstore *s, const flow_record *r)
{
    rec *copy = rec_copy(r);
    if (!copy)
        return; /* the UI misses one update; traffic goes on */
    rec *old = NULL;
    pthread_mutex_lock(&s->lock);
    slot *sl = slot_for(s, r->id);
    if (sl) {
        old = sl->record;
        sl->record = copy;
        copy = NULL;
        publish_event(s, r->id, r->phase, false);
    }
    pthread_mutex_unlock(&s->lock);
    rec_release(old);
    rec_release(copy);
}

void flowstore_body(flowstore *s, unsigned long long id, bool request,
                    const char *data, size_t len)
{
    body *old = NULL;
    pthread_mutex_lock(&s->lock);
    slot *sl = slot_for(s, id);
    if (!sl)
        goto out;
    body **bp = &sl->bodies[request ? 0 : 1];
    body *b = *bp;
    size_t have = b ? b->len : 0;
    size_t room = s->body_limit > have ? (size_t)(s->body_limit - have) : 0;
    size_t take = sl->dropped[request ? 0 : 1] ? 0 : len < room ? len : room;
    if (take && (!b || b->cap - b->len < take)) {
        /* Doubling keeps appends amortised O(1); the limit caps it. The
         * first piece gets exactly its size: most bodies come whole. */
        size_t cap = b ? b->cap * 2 : take;
        if (cap < have + take)
            cap = have + take;
        if (cap > s->body_limit)
            cap = (size_t)s->body_limit;
        body *grown = malloc(sizeof *grown + cap + 1);
        if (!grown)
            goto out;
        atomic_init(&grown->refs, 1);
        grown->len = have;
        grown->cap = cap;
        grown->data[cap] = '\0';
        if (have)
            memcpy(grown->data, b->data, have);
        s->body_bytes += cap - (b ? b->cap : 0);
        old = b;
        *bp = b = grown;
    }
    if (take) {
        memcpy(b->data + b->len, data, take);
        b->len += take;
        b->data[b->len] = '\0';
    }
    sl->seen[request ? 0 : 1] += len;
    if (s->body_bytes > s->body_memory)
        trim_bodies(s, sl);
out:
    pthread_mutex_unlock(&s->lock);
    body_release(old);
}

/* A view of a slot that has a record. Locked. */
static void view_of(const slot *sl, flowstore_view *v)
{
    memset(v, 0, sizeof *v);
    atomic_fetch_add(&sl->record->refs, 1);
    v->r = &sl->record->r;
    v->refs[0] = sl->record;
    for (int i = 0; i < 2; i++) {
        body *b = sl->bodies[i];
        if (!b)
            continue;
        atomic_fetch_add(&b->refs, 1);
        v->refs[1 + i] = b;
        v->body[i] = b->data;
        v->body_len[i] = b->len;
    }
    v->body_seen[0] = sl->seen[0];
    v->body_seen[1] = sl->seen[1];
}

long flowstore_list(flowstore *s, unsigned long long since, size_t max,
                    flowstore_view **out)
{
    *out = NULL;
    if (max == 0)
        return 0;
    pthread_mutex_lock(&s->lock);
    unsigned long long last = s->last_id;
    unsigned long long first = last >= s->keep ? last - s->keep + 1 : 1;
    if (first <= since)
        first = since + 1;
    size_t n = 0;
    for (unsigned long long id = last; id >= first && id > 0 && n < max; id--) {
        const slot *sl = &s->slots[id % s->keep];
        if (sl->id == id && sl->record)
            n++;
    }
    flowstore_view *views = n ? malloc(n * sizeof *views) : NULL;
    if (n && !views) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    /* Fill newest first from the end, so the array reads oldest first. */
    size_t i = n;
    for (unsigned long long id = last; id >= first && id > 0 && i > 0; id--) {
        const slot *sl = &s->slots[id % s->keep];
        if (sl->id == id && sl->record)
            view_of(sl, &views[--i]);
    }
    pthread_mutex_unlock(&s->lock);
    *out = views;
    return (long)n;
}

int flowstore_get(flowstore *s, unsigned long long id, flowstore_view *out)
{
    int rc = -1;
    pthread_mutex_lock(&s->lock);
    const slot *sl = &s->slots[id % s->keep];
    if (id && sl->id == id && sl->record) {
        view_of(sl, out);
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void flowstore_release(flowstore_view *views, size_t n, bool free_array)
{
    for (size_t i = 0; views && i < n; i++) {
        rec_release(views[i].refs[0]);
        body_release(views[i].refs[1]);
        body_release(views[i].refs[2]);
    }
    if (free_array)
        free(views);
}

void flowstore_clear(flowstore *s)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->keep; i++) {
        /* Keep the id: bodies and later phases of an exchange in flight
         * still land (listed again once its next record comes). */
        unsigned long long id = s->slots[i].id;
        slot_empty(s, &s->slots[i]);
        s->slots[i].id = id;
    }
    publish_event(s, 0, FLOW_DONE, true);
    pthread_mutex_unlock(&s->lock);
}

unsigned long long flowstore_last_id(flowstore *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned long long id = s->last_id;
    pthread_mutex_unlock(&s->lock);
    return id;
}

flowstore_sub *flowstore_subscribe(flowstore *s, void (*notify)(void *arg), void *arg)
{
    flowstore_sub *sub = calloc(1, sizeof *sub);
    if (!sub)
        return NULL;
    sub->store = s;
    sub->notify = notify;
    sub->arg = arg;
    atomic_init(&sub->armed, true);
    pthread_mutex_lock(&s->lock);
    sub->cursor = s->next_seq;
    size_t i = 0;
    while (i < FLOWSTORE_MAX_SUBSCRIBERS && s->subs[i])
        i++;
    if (i < FLOWSTORE_MAX_SUBSCRIBERS)
        s->subs[i] = sub;
    pthread_mutex_unlock(&s->lock);
    if (i == FLOWSTORE_MAX_SUBSCRIBERS) {
        free(sub);
        return NULL;
    }
    return sub;
}

size_t flowstore_poll(flowstore_sub *sub, flowstore_event *out, size_t max,
                      bool *lagged)
{
    flowstore *s = sub->store;
    size_t n = 0;
    *lagged = false;
    pthread_mutex_lock(&s->lock);
    if (s->next_seq - sub->cursor > FLOWSTORE_EVENTS) {
        *lagged = true;
        sub->cursor = s->next_seq;
    }
    while (n < max && sub->cursor < s->next_seq)
        out[n++] = s->events[sub->cursor++ % FLOWSTORE_EVENTS];
    /* Armed under the lock: a publish after this unlock will notify. */
    if (n == 0)
        atomic_store(&sub->armed, true);
    pthread_mutex_unlock(&s->lock);
    return n;
}

void flowstore_unsubscribe(flowstore_sub *sub)
{
    if (!sub)
        return;
    flowstore *s = sub->store;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < FLOWSTORE_MAX_SUBSCRIBERS; i++)
        if (s->subs[i] == sub)
            s->subs[i] = NULL;
    pthread_mutex_unlock(&s->lock);
    free(sub);
}
