/* selfpage — what the proxy answers to requests addressed to itself:
 * a short page saying how to use it, and the CA certificate to download
 * as PEM (/ca.pem) or DER (/ca.crt). */
#ifndef TLSPEEK_SELFPAGE_H
#define TLSPEEK_SELFPAGE_H

#include <stdbool.h>

#include <event2/buffer.h>
#include <openssl/x509.h>

/* The magic host name: http://tlspeek/ through the proxy reaches these
 * pages, as mitmproxy's mitm.it does. */
#define SELFPAGE_MAGIC_HOST "tlspeek"

/* Write the complete response to an origin-form GET/HEAD of path into
 * out: 200 for "/", "/ca.pem", "/ca.crt", 404 otherwise. proxy_address is
 * "host:port" as the user reaches the proxy. Returns the status. */
int selfpage_respond(struct evbuffer *out, const char *method, const char *path,
                     X509 *ca_cert, const char *proxy_address, bool keep_alive);

#endif
