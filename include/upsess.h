/* upsess — TLS sessions the proxy got from upstream servers, kept so the
 * next connection to the same server resumes instead of paying for a full
 * handshake (key exchange, certificate parsing and verification) again.
 *
 * A small direct-mapped table: each key hashes to one slot and a newer
 * session for another key simply replaces it, so memory is bounded and
 * nothing needs sweeping. Thread-safe: every worker shares one. */
#ifndef TLSPEEK_UPSESS_H
#define TLSPEEK_UPSESS_H

#include <stddef.h>

#include <openssl/ssl.h>

typedef struct upsess upsess;

/* A table of slots entries (at least 1). NULL when out of memory. */
upsess *upsess_new(size_t slots);
void upsess_free(upsess *u);

/* Keep sess for key, taking over the caller's reference; a session
 * already held for key (or for another key in the same slot) is released.
 * Returns 0, or -1 (memory) having released nothing of the caller's. */
int upsess_put(upsess *u, const char *key, SSL_SESSION *sess);

/* A session for key with a reference for the caller, or NULL. A TLS 1.3
 * session is handed out once (its ticket should not be reused, RFC 8446
 * appendix C.4); a TLS 1.2 one stays for later connections too. */
SSL_SESSION *upsess_get1(upsess *u, const char *key);

/* Drop what is kept for key, if anything. */
void upsess_forget(upsess *u, const char *key);

#endif
