/* http_head_build — the building half of http_head (see http_head.h):
 * the strings of a head put one after another into its block as a
 * parser's callbacks deliver them in pieces, values trimmed as they
 * arrive. The HTTP/1 parser (http_msg) builds its heads with it;
 * http_head_add and http_head_dup use it for heads with a block.
 *
 * Pure: libc only. */
#ifndef TLSPEEK_HTTP_HEAD_BUILD_H
#define TLSPEEK_HTTP_HEAD_BUILD_H

#include <stddef.h>

#include "http_head.h"

/* Append at[0..n) to *s, which is NULL (start a new string, "" when n is
 * 0) or the string most recently started in h's block: a parser's
 * callbacks deliver each string in pieces, one string after another. The
 * block grows as needed; growing moves it, and every string pointer of
 * the head (target, reason, names, values, *s) follows. 0, or -1 when
 * memory is short or the block would pass 4 GiB (the head is unchanged). */
int http_head_put(http_head *h, char **s, const char *at, size_t n);

/* Room for n more bytes in h's block, which is made when h has none, so
 * that the strings added to h afterwards (http_head_add included) go into
 * it. 0, or -1 when memory is short or the block would pass 4 GiB. */
int http_head_reserve(http_head *h, size_t n);

/* Forget h's strings and fields but keep its block and its fields array
 * for the next head built in h (h must have a block or no strings). */
void http_head_reset(http_head *h);

/* Drop the spaces and tabs ending s, the string most recently started in
 * h's block (a field value once its last piece has arrived). */
void http_head_rtrim_last(http_head *h, char *s);

/* Forget the last field of h: its name and value, when they are the last
 * strings of h's block, give their room back. */
void http_head_drop_last(http_head *h);

/* Room for one more field at the end of h's fields, set to no name and
 * no value, after ending the value of the field before it (see
 * http_head_end_value). The fields array starts at 16 and doubles up to
 * HTTP_HEAD_MAX_HEADERS (the caller refuses more). 0, or -1 when memory
 * is short. */
int http_head_new_field(http_head *h);

/* A piece of field f's value, the last string of h's block (or its
 * first piece): whitespace leading the value is dropped as it arrives.
 * 0, or -1 when memory is short. */
int http_head_value_piece(http_head *h, http_header *f, const char *at, size_t n);

/* Field f's value is complete: "" when none came, trailing whitespace
 * dropped (it must be the last string of h's block). 0, or -1 when
 * memory is short. Calling it again changes nothing. */
int http_head_end_value(http_head *h, http_header *f);

#endif
