/* http_head — owned HTTP heads: lookup, copy, free. See include/http_head.h. */
#include "http_head.h"

#include <stdlib.h>
#include <string.h>

#include "http_head_build.h"

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

bool http_head_name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

const char *http_head_get(const http_head *h, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < h->n_headers; i++)
        if (http_head_name_eq(h->headers[i].name, strlen(h->headers[i].name), name, nlen))
            return h->headers[i].value;
    return NULL;
}

/* Does the comma-separated list s hold token (OWS around elements)? */
static bool list_has(const char *s, const char *token, size_t tlen)
{
    while (*s) {
        size_t n = strcspn(s, ",");
        size_t start = 0, end = n;
        while (start < end && is_ows(s[start]))
            start++;
        while (end > start && is_ows(s[end - 1]))
            end--;
        if (http_head_name_eq(s + start, end - start, token, tlen))
            return true;
        s += n;
        if (*s == ',')
            s++;
    }
    return false;
}

bool http_head_has_token(const http_head *h, const char *name, const char *token)
{
    size_t nlen = strlen(name), tlen = strlen(token);
    for (size_t i = 0; i < h->n_headers; i++) {
        const http_header *f = &h->headers[i];
        if (http_head_name_eq(f->name, strlen(f->name), name, nlen) &&
            list_has(f->value, token, tlen))
            return true;
    }
    return false;
}

void http_head_clear(http_head *h)
{
    if (h->block) {
        free(h->block);
    } else {
        free(h->target);
        free(h->reason);
        for (size_t i = 0; i < h->n_headers; i++) {
            free(h->headers[i].name);
            free(h->headers[i].value);
        }
    }
    free(h->headers);
    memset(h, 0, sizeof *h);
}

/* *to = a copy of from in h's block (NULL stays NULL). */
static int copy_into(http_head *h, char **to, const char *from)
{
    *to = NULL;
    return from ? http_head_put(h, to, from, strlen(from)) : 0;
}

http_head *http_head_dup(const http_head *src)
{
    http_head *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    *h = *src; /* scalars; the strings are copied below */
    h->target = h->reason = NULL;
    h->block = NULL;
    h->block_len = h->block_cap = 0;
    h->n_headers = 0;
    h->headers_capacity = src->n_headers;
    h->headers = src->n_headers ? calloc(src->n_headers, sizeof *h->headers) : NULL;
    if (src->n_headers && !h->headers)
        goto fail;
    /* One block of the right size: the strings and their NULs. */
    size_t size = 0;
    size += src->target ? strlen(src->target) + 1 : 0;
    size += src->reason ? strlen(src->reason) + 1 : 0;
    for (size_t i = 0; i < src->n_headers; i++)
        size += strlen(src->headers[i].name) + strlen(src->headers[i].value) + 2;
    if (size > UINT32_MAX || (size && !(h->block = malloc(size))))
        goto fail;
    h->block_cap = (uint32_t)size;
    if (copy_into(h, &h->target, src->target) < 0 ||
        copy_into(h, &h->reason, src->reason) < 0)
        goto fail;
    for (size_t i = 0; i < src->n_headers; i++) {
        http_header *f = &h->headers[h->n_headers++];
        if (copy_into(h, &f->name, src->headers[i].name) < 0 ||
            copy_into(h, &f->value, src->headers[i].value) < 0)
            goto fail;
    }
    return h;
fail:
    http_head_free(h);
    return NULL;
}

void http_head_free(http_head *h)
{
    if (!h)
        return;
    http_head_clear(h);
    free(h);
}

int http_head_add(http_head *h, const char *name, size_t nlen, const char *value,
                  size_t vlen)
{
    if (h->n_headers == h->headers_capacity) {
        size_t capacity = h->headers_capacity ? h->headers_capacity * 2 : 16;
        if (capacity > HTTP_HEAD_MAX_HEADERS)
            capacity = HTTP_HEAD_MAX_HEADERS;
        if (capacity <= h->n_headers)
            return -1;
        http_header *grown = realloc(h->headers, capacity * sizeof *grown);
        if (!grown)
            return -1;
        h->headers = grown;
        h->headers_capacity = capacity;
    }
    while (vlen > 0 && is_ows(*value)) {
        value++;
        vlen--;
    }
    while (vlen > 0 && is_ows(value[vlen - 1]))
        vlen--;
    if (h->block) {
        /* counted first, so that growing the block moves its name too */
        http_header *f = &h->headers[h->n_headers++];
        f->name = f->value = NULL;
        if (http_head_put(h, &f->name, name, nlen) < 0 ||
            http_head_put(h, &f->value, value, vlen) < 0) {
            h->n_headers--; /* what was put stays unused in the block */
            return -1;
        }
        return 0;
    }
    char *n = strndup(name, nlen), *v = strndup(value, vlen);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    h->headers[h->n_headers].name = n;
    h->headers[h->n_headers].value = v;
    h->n_headers++;
    return 0;
}
