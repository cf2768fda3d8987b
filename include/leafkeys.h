/* leafkeys — the key pairs shared by every minted leaf, one per kind (EC
 * P-256, RSA 2048), and the making of the RSA one in the background.
 *
 * An RSA-2048 key takes 50-200 ms to generate (more under load): made on
 * a worker when the first client that accepts only RSA signatures came,
 * it stalled every connection of that worker. A thread started with the
 * set, at a lower priority than the workers (nice 5, LEAFKEYS_NICE in
 * leafkeys.c says why not 19), makes it instead, so that it is
 * ready long before such a client normally comes; a client that comes
 * sooner has its handshake paused until it is (leafkeys_wait), while its
 * worker goes on with the others. Once made, a key is read with one
 * acquire load, no lock. Keys stay in memory, never on disk. */
#ifndef TLSPEEK_LEAFKEYS_H
#define TLSPEEK_LEAFKEYS_H

#include <stdbool.h>

#include "ca.h"
#include "tls_types.h"

typedef struct leafkeys leafkeys;

/* One kind's key pair, and its public half in the form certmint_leaf()
 * encodes cheaply (certmint_public_key). */
typedef struct {
    tls_key *key;
    tls_key *pub;
} leafkey;

/* The set, with the key of kind `now` made before returning (a failure
 * shows at start), and, when background_rsa (and now is not RSA), a
 * thread making the RSA one. NULL on failure (logged). leafkeys_free(NULL)
 * is a no-op. */
leafkeys *leafkeys_new(ca_key_type now, bool background_rsa);

/* Stops the background thread (a key half made is abandoned) and waits
 * for it, then frees the keys. No waiter may remain (leafkeys_cancel). */
void leafkeys_free(leafkeys *ks);

/* The key of kind if it is made, else NULL. Never blocks: one acquire
 * load. */
const leafkey *leafkeys_ready(leafkeys *ks, ca_key_type kind);

/* The key of kind: made now on the caller's thread if nothing else makes
 * it, or waited for while the background thread does (only when
 * leafkeys_wait could not register). NULL when it cannot be made
 * (logged). */
const leafkey *leafkeys_get(leafkeys *ks, ca_key_type kind);

/* Is the key of kind still being made in the background? Then true, and
 * ready(arg) will be called once, from the background thread, when it is
 * made or failed (ready must be safe there, such as libevent's
 * event_active). false: leafkeys_get() will not wait for the background
 * (the key is ready, failed, or nothing makes it; or, memory being short,
 * the caller waits on a condition variable for the rest of the making). */
bool leafkeys_wait(leafkeys *ks, ca_key_type kind, void (*ready)(void *arg), void *arg);

/* Forget the registrations made with arg: after this returns, their
 * ready() is not running and will not be called. */
void leafkeys_cancel(leafkeys *ks, const void *arg);

#endif
