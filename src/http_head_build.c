/* http_head_build — building an http_head's strings in its one block, as
 * a parser's callbacks deliver them in pieces. See include/http_head_build.h. */
#include "http_head_build.h"

#include <stdlib.h>
#include <string.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* A head's first block: room for a typical request or response head's
 * strings (a browser's, cookies aside), so most heads never grow it. */
#define BLOCK_FIRST 512

/* *s moved with the block from old to new (NULL stays NULL). */
static void rebase(char **s, const char *old, char *new)
{
    if (*s)
        *s = new + (*s - old);
}

/* Room for need more bytes in h's block. Grows by moving to a new block
 * (not realloc) so that each pointer can be turned into its offset while
 * the old block is still there. */
static int block_room(http_head *h, size_t need)
{
    if (need <= (size_t)h->block_cap - h->block_len)
        return 0;
    size_t cap = h->block_cap ? h->block_cap : BLOCK_FIRST;
    while (cap - h->block_len < need) {
        if (cap > UINT32_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *block = malloc(cap);
    if (!block)
        return -1;
    char *old = h->block;
    if (old) {
        memcpy(block, old, h->block_len);
        rebase(&h->target, old, block);
        rebase(&h->reason, old, block);
        for (size_t i = 0; i < h->n_headers; i++) {
            rebase(&h->headers[i].name, old, block);
            rebase(&h->headers[i].value, old, block);
        }
        free(old);
    }
    h->block = block;
    h->block_cap = (uint32_t)cap;
    return 0;
}

int http_head_reserve(http_head *h, size_t n)
{
    return n > UINT32_MAX ? -1 : block_room(h, n ? n : 1);
}

void http_head_reset(http_head *h)
{
    char *block = h->block;
    http_header *headers = h->headers;
    uint32_t block_cap = h->block_cap;
    size_t headers_capacity = h->headers_capacity;
    memset(h, 0, sizeof *h);
    h->block = block;
    h->block_cap = block_cap;
    h->headers = headers;
    h->headers_capacity = headers_capacity;
}

int http_head_put(http_head *h, char **s, const char *at, size_t n)
{
    /* Appending overwrites the NUL that ends *s; a new string needs one. */
    size_t need = *s ? n : n + 1;
    /* *s by offset, in case it is not one of the head's own pointers */
    size_t start = *s ? (size_t)(*s - h->block) : h->block_len;
    if (n > UINT32_MAX || block_room(h, need) < 0)
        return -1;
    *s = h->block + start;
    bool fresh = need > n;
    char *end = h->block + h->block_len - (fresh ? 0 : 1); /* past the end, or *s's NUL */
    if (n)
        memcpy(end, at, n);
    end[n] = '\0';
    h->block_len += (uint32_t)need;
    return 0;
}

void http_head_rtrim_last(http_head *h, char *s)
{
    char *end = h->block + h->block_len - 1; /* s's NUL */
    while (end > s && is_ows(end[-1]))
        end--;
    *end = '\0';
    h->block_len = (uint32_t)(end + 1 - h->block);
}

void http_head_drop_last(http_head *h)
{
    if (h->n_headers == 0)
        return;
    http_header *f = &h->headers[--h->n_headers];
    const char *first = f->name ? f->name : f->value;
    if (h->block && first)
        h->block_len = (uint32_t)(first - h->block);
    f->name = f->value = NULL;
}

/* Room for one more field: heads start small (most have a dozen fields)
 * and double up to HTTP_HEAD_MAX_HEADERS. */
static int grow_headers(http_head *h)
{
    if (h->n_headers < h->headers_capacity)
        return 0;
    size_t capacity = h->headers_capacity ? h->headers_capacity * 2 : 16;
    if (capacity > HTTP_HEAD_MAX_HEADERS)
        capacity = HTTP_HEAD_MAX_HEADERS;
    http_header *grown = realloc(h->headers, capacity * sizeof *grown);
    if (!grown)
        return -1;
    h->headers = grown;
    h->headers_capacity = capacity;
    return 0;
}

/* Room for, and the start of, a new field in h (the previous one's value
 * ended). 0, or -1 when memory is short. */
int http_head_new_field(http_head *h)
{
    if (h->n_headers > 0 && http_head_end_value(h, &h->headers[h->n_headers - 1]) < 0)
        return -1;
    if (grow_headers(h) < 0)
        return -1;
    h->headers[h->n_headers++] = (http_header){NULL, NULL};
    return 0;
}

/* A piece of field f's value: leading whitespace dropped while the value
 * is still empty (trailing whitespace goes in end_value), so that values
 * are trimmed as they arrive rather than in a second pass. */
int http_head_value_piece(http_head *h, http_header *f, const char *at, size_t n)
{
    if (!f->value || !f->value[0])
        while (n > 0 && is_ows(*at)) {
            at++;
            n--;
        }
    if (f->value && n == 0)
        return 0;
    return http_head_put(h, &f->value, at, n);
}

/* Field f's value is complete (the next field began, or the head ended):
 * "" when none came, trailing whitespace dropped. It is the last string
 * of the block, which is what lets the trim happen there. */
int http_head_end_value(http_head *h, http_header *f)
{
    if (!f->value)
        return http_head_put(h, &f->value, "", 0);
    http_head_rtrim_last(h, f->value);
    return 0;
}
