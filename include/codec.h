/* codec — byte encodings the proxy needs and OpenSSL already provides, so
 * that no other layer writes its own or includes OpenSSL for one. */
#ifndef TLSPEEK_CODEC_H
#define TLSPEEK_CODEC_H

#include <stddef.h>

/* data in standard base64 (RFC 4648, with padding) as a new
 * NUL-terminated string (caller frees), or NULL when out of memory. */
char *codec_base64(const void *data, size_t len);

/* Overwrite len bytes at p with zeros in a way the compiler cannot drop as
 * a dead store (OPENSSL_cleanse): for secrets about to be freed. */
void codec_wipe(void *p, size_t len);

#endif
