/* selfpage — what the proxy answers to requests addressed to itself:
 * a short page saying how to use it, and the CA certificate to download
 * as PEM (/ca.pem) or DER (/ca.crt). */
#ifndef TLSPEEK_SELFPAGE_H
#define TLSPEEK_SELFPAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/buffer.h>

#include "tls_types.h"

/* The magic host name: http://tlspeek/ through the proxy reaches these
 * pages, as mitmproxy's mitm.it does. */
#define SELFPAGE_MAGIC_HOST "tlspeek"

/* Write the complete response to an origin-form request for path into
 * out: 200 for GET or HEAD of "/", "/ca.pem", "/ca.crt" (query and
 * fragment ignored), 404 for other paths, 405 for other methods, 500 when
 * the certificate cannot be described. proxy_address is "host:port" as
 * the user reaches the proxy. Returns the status. */
int selfpage_respond(struct evbuffer *out, const char *method, const char *path,
                     const tls_cert *ca_cert, const char *proxy_address,
                     bool keep_alive);

/* in as HTML text (&, <, >, " and ' as character references) into out,
 * always NUL-terminated; a reference that would not fit is left out
 * whole. Returns the length written. */
size_t selfpage_escape_html(const char *in, char *out, size_t size);

#endif
