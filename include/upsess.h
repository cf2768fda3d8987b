/* upsess — TLS sessions the proxy got from upstream servers, kept so the
 * next connection to the same server resumes instead of paying for a full
 * handshake (key exchange, certificate parsing and verification) again.
 *
 * A direct-mapped table: each key hashes to one slot and a session for
 * another key simply replaces what the slot held, so memory is bounded and
 * nothing needs sweeping. A slot holds one TLS 1.2 session (reusable by
 * every connection) or a small pool of TLS 1.3 tickets: a TLS 1.3 ticket is
 * used once (RFC 8446 appendix C.4), servers send two or more per
 * handshake, and tunnels opening at once each need their own. The pool
 * starts at UPSESS_POOL tickets and doubles, up to UPSESS_POOL_MAX, each
 * time a connection found it empty; past UPSESS_POOL it takes more only
 * while the table as a whole holds fewer than slots * UPSESS_POOL
 * sessions. Thread-safe: every worker shares one. */
#ifndef TLSPEEK_UPSESS_H
#define TLSPEEK_UPSESS_H

#include <stdbool.h>
#include <stddef.h>

#include "tls_types.h"

/* TLS 1.3 tickets kept per server to begin with, and at most. */
#define UPSESS_POOL 8
#define UPSESS_POOL_MAX 64

typedef struct upsess upsess;

/* A table of slots entries (at least 1). NULL when out of memory. */
upsess *upsess_new(size_t slots);
void upsess_free(upsess *u);

/* Keep sess for key, taking over the caller's reference (the session may
 * be released at once when the pool has no room for it). A TLS 1.2
 * session replaces whatever key had; a TLS 1.3 one joins key's pool,
 * pushing out expired tickets and, when the pool is full, the one that
 * expires first. A slot holding another key is emptied. group (may be
 * NULL) names the server apart from the names in the key: the group's
 * sessions are looked for under key from now on (see
 * upsess_get1_from_group). Returns 0, or -1 (memory) having released
 * nothing of the caller's. */
int upsess_put(upsess *u, const char *key, const char *group, tls_session *sess);

/* A session for key with a reference for the caller, or NULL. A TLS 1.3
 * ticket is handed out once (the newest unexpired one); a TLS 1.2 session
 * stays for later connections too. */
tls_session *upsess_get1(upsess *u, const char *key);

/* For a connection to group's server under key, which has nothing of its
 * own: a session kept under the key group's sessions last went to (another
 * name of the same server), the newest one accept(session, arg) approves,
 * with a reference for the caller, or NULL. A TLS 1.3 ticket is handed out
 * once; a TLS 1.2 session stays, as with upsess_get1. RFC 8446 (4.6.1)
 * lets a client resume under another name only when the original
 * certificate is valid for it, and accept decides that for both versions;
 * a TLS 1.2 server keeping to RFC 6066 (3) refuses such a resumption and
 * the handshake goes on in full, as it would have without the offer. It
 * runs with the table locked and must not call upsess. */
tls_session *upsess_get1_from_group(upsess *u, const char *group, const char *key,
                                    bool (*accept)(tls_session *, void *), void *arg);

/* Drop what is kept for key, if anything. */
void upsess_forget(upsess *u, const char *key);

/* Sessions kept for key right now (tests, diagnostics). */
size_t upsess_count(upsess *u, const char *key);

#endif
