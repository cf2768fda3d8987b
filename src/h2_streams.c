/* h2_streams — an HTTP/2 tap's streams by id, and spares for reuse. See
 * include/h2_streams.h. */
#include "h2_streams.h"

#include <stdlib.h>
#include <string.h>

#include "http_head_build.h"

/* Where id is, or would go, among the open streams. */
static size_t position_of(const h2_streams *t, uint32_t id)
{
    size_t lo = 0, hi = t->n_open;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->open[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

h2_stream *h2_streams_find(h2_streams *t, uint32_t id)
{
    if (t->last_found && t->last_found->id == id)
        return t->last_found;
    size_t i = position_of(t, id);
    if (i < t->n_open && t->open[i]->id == id)
        return t->last_found = t->open[i];
    return NULL;
}

static void free_stream(h2_stream *s)
{
    http_head_clear(&s->request);
    http_head_clear(&s->final);
    http_head_free(s->request_trailers);
    http_head_free(s->response_trailers);
    free(s);
}

h2_stream *h2_streams_take(h2_streams *t)
{
    h2_stream *s = t->spare;
    if (!s)
        return calloc(1, sizeof *s);
    t->spare = s->next_spare;
    t->n_spare--;
    s->next_spare = NULL;
    return s;
}

/* s becomes a spare (its heads emptied, their memory kept), or is freed. */
static void retire(h2_streams *t, h2_stream *s)
{
    if (t->n_spare == H2_STREAMS_SPARE) {
        free_stream(s);
        return;
    }
    http_head_free(s->request_trailers);
    http_head_free(s->response_trailers);
    http_head request = s->request, final = s->final;
    http_head_reset(&request);
    http_head_reset(&final);
    *s = (h2_stream){.request = request, .final = final, .next_spare = t->spare};
    t->spare = s;
    t->n_spare++;
}

int h2_streams_open(h2_streams *t, h2_stream *s)
{
    if (t->n_open == t->capacity) {
        size_t capacity = t->capacity ? t->capacity * 2 : 4;
        h2_stream **grown = realloc(t->open, capacity * sizeof *grown);
        if (!grown) {
            retire(t, s);
            return -1;
        }
        t->open = grown;
        t->capacity = capacity;
    }
    size_t at = position_of(t, s->id);
    memmove(t->open + at + 1, t->open + at, (t->n_open - at) * sizeof *t->open);
    t->open[at] = s;
    t->n_open++;
    return 0;
}

void h2_streams_close(h2_streams *t, h2_stream *s)
{
    size_t i = position_of(t, s->id);
    if (i < t->n_open && t->open[i] == s) {
        t->n_open--;
        memmove(t->open + i, t->open + i + 1, (t->n_open - i) * sizeof *t->open);
    }
    if (t->last_found == s)
        t->last_found = NULL;
    retire(t, s);
}

void h2_streams_release(h2_streams *t)
{
    while (t->spare) {
        h2_stream *s = t->spare;
        t->spare = s->next_spare;
        free_stream(s);
    }
    t->n_spare = 0;
}

void h2_streams_clear(h2_streams *t)
{
    for (size_t i = 0; i < t->n_open; i++)
        free_stream(t->open[i]);
    free(t->open);
    h2_streams_release(t);
    memset(t, 0, sizeof *t);
}
