/* proxy — the process context: the CA, certificate cache, TLS contexts
 * and outputs every worker shares, the workers themselves (each an event
 * loop with its listener and resolver), and a clean stop on SIGINT/SIGTERM. */
#ifndef TLSPEEK_PROXY_H
#define TLSPEEK_PROXY_H

#include "config.h"

typedef struct proxy proxy;

/* Set everything up from cfg (which must outlive the proxy). On failure
 * logs one plain-words error and returns NULL. */
proxy *proxy_new(const config *cfg);

/* Serve until SIGINT or SIGTERM; then close every connection. Returns 0,
 * or -1 when the event loop failed. */
int proxy_run(proxy *p);
void proxy_free(proxy *p);

#endif
