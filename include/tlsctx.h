/* tlsctx — the two SSL_CTX families of the proxy: the upstream client
 * context (trust store, verification, ALPN http/1.1) and the client-facing
 * server context (client-hello callback, ALPN selection). */
#ifndef TLSPEEK_TLSCTX_H
#define TLSPEEK_TLSCTX_H

#include <stdbool.h>
#include <stdio.h>

#include "authority.h"
#include "tls_types.h"
#include "upsess.h"

/* Client-role context for upstream connections: the system trust store
 * plus extra_ca_file (PEM, may be NULL), peer verification unless
 * insecure, TLS 1.2+, ALPN "http/1.1" offered. Sessions the servers give
 * (verified ones only, unless insecure) go into sessions (may be NULL: no
 * resumption), which must outlive the context. NULL on failure (logged,
 * naming the file when it is the CA file that is bad). */
tls_context *tlsctx_new_upstream(const char *extra_ca_file, bool insecure,
                             upsess *sessions);

/* What runs on every ClientHello the client-facing side receives: OpenSSL's
 * SSL_client_hello_cb_fn, spelt without OpenSSL's header. */
typedef int (*tlsctx_hello_fn)(tls_ssl *ssl, int *alert, void *arg);

/* Server-role context for the client-facing side. hello_cb runs on every
 * ClientHello (see SSL_CTX_set_client_hello_cb) with SSL_get_app_data()
 * as its connection. ALPN: what tlsctx_answer_alpn() noted (mirroring);
 * without it, "http/1.1" when offered, else none. NULL on failure (logged). */
tls_context *tlsctx_new_client_facing(tlsctx_hello_fn hello_cb);

/* Release a context of either family; NULL is a no-op. Sessions made from
 * it keep their own reference. */
void tlsctx_free(tls_context *ctx);

/* Append the TLS secrets of every session made from ctx to keylog (NSS
 * key log format, one line per secret, flushed at once so Wireshark can
 * follow a live capture). keylog must outlive ctx. */
void tlsctx_set_keylog(tls_context *ctx, FILE *keylog);

/* Longest peer address ("ip:port", IPv6 in brackets) with its NUL. */
#define TLSCTX_PEER_MAX 64

/* Prepare an upstream SSL for target: SNI = sni when it is a name (else
 * none: never an IP literal), and, unless insecure, verification of the
 * certificate against target's name or IP address. peer is the address
 * connected to ("ip:port"): with the SNI and target it names the session
 * cache entry, so a session is only offered back to the same server, under
 * the same name it was verified for or (TLS 1.3) another name its
 * certificate is valid for. 0 or -1. */
int tlsctx_prepare_upstream(tls_ssl *ssl, const char *sni, const authority *target,
                            const char *peer, bool insecure);

/* ALPN mirroring, in handshake order:
 * tlsctx_hello_alpn, in the client-hello callback: note the protocols the
 * client offers that the proxy relays (h2, unless http2 is false, and
 * http/1.1), its order kept. 0, or -1 when memory is short. */
int tlsctx_hello_alpn(tls_ssl *client, bool http2);
/* Offer upstream exactly what client offered of those (nothing if nothing). 0/-1. */
int tlsctx_offer_alpn(tls_ssl *upstream, const tls_ssl *client);
/* Before the client's handshake resumes: it gets what upstream selected
 * (upstream NULL, failed or silent: nothing). A client that offers h2 and
 * not http/1.1 and cannot have h2 is refused with a no_application_protocol
 * alert. */
void tlsctx_answer_alpn(tls_ssl *client, const tls_ssl *upstream);
/* Why the ALPN selection refused client (static), or NULL. */
const char *tlsctx_alpn_refusal(const tls_ssl *client);

/* From a paused ClientHello: the SNI host name (copied, NUL-terminated,
 * lower-cased; "" when absent, over-long or not printable ASCII). */
void tlsctx_hello_sni(tls_ssl *ssl, char *sni, size_t sni_size);

/* From a paused ClientHello: can the client take a certificate with an
 * EC P-256 key? Its signature_algorithms offer ecdsa_secp256r1_sha256 and,
 * unless TLS 1.3 will be negotiated, its supported_groups (when sent)
 * include P-256 and it offers an ECDHE-ECDSA cipher suite. */
bool tlsctx_hello_takes_ecdsa_p256(tls_ssl *ssl);

/* From a paused ClientHello: does the client verify ECDSA P-256 signatures
 * in certificates (ecdsa_secp256r1_sha256 in signature_algorithms_cert
 * when it sends that, else in signature_algorithms)? Decides whether the
 * session intermediate may sign its leaf. */
bool tlsctx_hello_verifies_ecdsa_p256(tls_ssl *ssl);

#endif
