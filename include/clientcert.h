/* clientcert — client certificates offered to upstream servers that ask
 * for one (--client-cert): load and check each PEM file once at startup,
 * choose one per connection by host name (first matching pattern, else
 * the fallback), hand it to OpenSSL only when the server requests a
 * certificate, and say afterwards which one was sent (its subject; never
 * anything of the key). */
#ifndef TLSPEEK_CLIENTCERT_H
#define TLSPEEK_CLIENTCERT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "tls_types.h"

/* Most --client-cert options. */
#define CLIENTCERT_MAX_RULES 32

typedef struct clientcert clientcert;

/* Load file: a PEM file holding a certificate, its private key and
 * optionally the chain (further certificates, in order). NULL when the
 * file is missing or unreadable, holds no certificate or no key, the key
 * does not match the certificate, or the file is open to other users
 * (group or world bits): why (size why_size) then says so in plain words,
 * naming the file. Free with clientcert_free() (NULL is a no-op). */
clientcert *clientcert_load(const char *file, char *why, size_t why_size);
void clientcert_free(clientcert *cc);

/* The certificate's subject, RFC 2253 ("CN=alice,O=Example"). */
const char *clientcert_subject(const clientcert *cc);

/* The choice of certificate per host: rules in order, host patterns
 * matched against the name the client asked for; fallback (may be NULL)
 * when none matches. Owned by the settings; read-only once installed. */
typedef struct {
    regex_t hosts[CLIENTCERT_MAX_RULES];
    clientcert *certs[CLIENTCERT_MAX_RULES];
    size_t n;
    clientcert *fallback;
} clientcert_rules;

/* Free every certificate and pattern in rules and zero it. */
void clientcert_rules_clear(clientcert_rules *rules);

/* Offer certificates from rules on connections made from ctx (an
 * upstream, client-role context). rules must outlive ctx. */
void clientcert_install(tls_context *ctx, const clientcert_rules *rules);

/* Choose the certificate for a connection to host (before its
 * handshake). 1 when one was chosen, 0 when none applies (or ctx has no
 * rules), -1 when memory is short. */
int clientcert_choose(tls_ssl *ssl, const char *host);

/* After the handshake: the subject of the certificate sent to the server,
 * or NULL when none was (not requested, none chosen, or the session was
 * resumed). Valid while the SSL lives. */
const char *clientcert_sent(const tls_ssl *ssl);

#endif
