/* intercept — the crypto side of interception, for the connection code,
 * which includes no OpenSSL: the two TLS context families, the leaf key
 * and the leaf cache (one per process), and per session: the pause at the
 * ClientHello, putting the chosen leaf on the session, describing a
 * finished handshake for the flow records. Also the constant-time
 * comparison that proxy authentication needs. */
#ifndef TLSPEEK_INTERCEPT_H
#define TLSPEEK_INTERCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "authority.h"
#include "ca.h"
#include "clientcert.h"
#include "flow_record.h"
#include "tlsm.h"

typedef struct intercept intercept;

typedef struct {
    const char *upstream_ca;  /* extra trust anchors (PEM file), or NULL */
    bool insecure;            /* do not verify upstream certificates */
    bool http2;               /* ALPN h2 may be mirrored (not --no-http2) */
    const clientcert_rules *client_certs; /* --client-cert, or NULL; must
                                 outlive the intercept */
    bool leaf_key_by_client;  /* EC P-256 for clients that take it, else
                                 RSA-2048 (--leaf-key-type auto) */
    ca_key_type leaf_key_type; /* otherwise, the kind every leaf is of */
    const ca *intermediate;   /* the session intermediate (ca_new_intermediate)
                                 that signs the leaves of clients verifying
                                 ECDSA P-256, or NULL; must outlive the
                                 intercept */
    FILE *keylog;             /* NSS key log for both families, or NULL;
                                 must outlive the intercept */
    size_t leaf_cache_size;   /* distinct hosts whose leaves stay cached */
    size_t upstream_sessions; /* resumable upstream sessions kept */
} intercept_options;

/* Build the contexts, the leaf key (under auto the RSA one is made by a
 * background thread, see leafkeys.h) and the caches, leaves signed by signer, the CA (which must
 * outlive the result), or, with o->intermediate, signed by that for every
 * client that verifies its ECDSA signature, which then gets [leaf,
 * intermediate]. Thread-safe to use from every worker.
 * NULL on failure (logged). intercept_free(NULL) is a no-op. */
intercept *intercept_new(const ca *signer, const intercept_options *o);
void intercept_free(intercept *ic);

/* A client-facing (server-role) session whose handshake pauses at the
 * ClientHello (TLSM_PAUSED, until intercept_set_leaf), remembering the
 * SNI. NULL on allocation failure. */
tlsm *intercept_client_session(const intercept *ic);

/* The SNI the paused client sent (lower-cased), or NULL when none was
 * usable. Borrowed from the session. */
const char *intercept_client_sni(tlsm *client);

/* An upstream (client-role) session: SNI = sni (NULL for none; never an
 * IP literal), and, unless --insecure, verification against verify_as;
 * peer ("ip:port") keys session resumption. NULL on failure. */
tlsm *intercept_upstream_session(const intercept *ic, const char *sni,
                                 const authority *verify_as, const char *peer);

/* Offer upstream the ALPN protocols the paused client offered that the
 * proxy relays (h2 unless --no-http2, http/1.1; nothing when it offered
 * none). 0, or -1 when memory is short. */
int intercept_mirror_alpn(tlsm *upstream, tlsm *client);

/* Why the client's handshake was refused for ALPN (it offers only h2 and
 * cannot have it), or NULL. Static. */
const char *intercept_alpn_refusal(tlsm *client);

/* Has t negotiated TLS 1.3 (known once its ServerHello is made or read)? */
bool intercept_is_tls13(tlsm *t);

/* Choose the leaf for the paused client session: its key of the kind the
 * ClientHello takes (unless forced), for name (a certifiable
 * name or an IP literal) plus, when upstream has completed its handshake,
 * the names of the certificate it presented; from the cache unless it
 * expires within a day, else minted. The session presents it when its
 * handshake resumes, with the ALPN protocol upstream selected (none when
 * upstream is NULL or failed). *from_cache says which. 0, or -1 (logged). */
int intercept_set_leaf(const intercept *ic, tlsm *client, const char *name,
                       tlsm *upstream, bool *from_cache);

/* Is the key of the leaf the paused client needs made? One atomic load
 * (true nearly always: only the first seconds of a run may say false). */
bool intercept_leaf_key_ready(const intercept *ic, tlsm *client);

/* Is the key of the leaf the paused client needs still being made in
 * the background (the RSA one, the first seconds of a run)? Then true,
 * and ready(arg) is called once, from that background thread, when it is
 * made (or failed); intercept_set_leaf() would wait for it until then.
 * false: intercept_set_leaf() can go on now. */
bool intercept_wait_leaf_key(const intercept *ic, tlsm *client, void (*ready)(void *arg),
                             void *arg);

/* Forget what intercept_wait_leaf_key registered with arg: after this
 * returns, its ready(arg) is not running and will not be called. */
void intercept_cancel_wait(const intercept *ic, const void *arg);

/* The client's handshake completed and was described: free what only the
 * handshake needed (SNI, leaf choice), which a held tunnel would otherwise
 * keep. intercept_client_sni returns NULL after, intercept_describe reads
 * OpenSSL's SNI. */
void intercept_client_settled(tlsm *client);

/* Describe a completed handshake (version, cipher, SNI, ALPN, and for an
 * upstream session the client certificate sent) in one allocation the
 * caller free()s, valid while t lives; NULL when memory is short. */
flow_tls *intercept_describe(tlsm *t);

/* Are the strings equal? Takes the same time wherever they differ (for
 * credentials). */
bool intercept_secret_equal(const char *given, const char *expected);

#endif
