/* worker — one event loop on its own thread, with its own listener (all
 * workers share the port through SO_REUSEPORT), its own resolver and its
 * own connections. Connections never move between workers, so nothing a
 * connection touches needs a lock except what the process shares on
 * purpose: the certificate cache, the outputs and two counters. */
#ifndef TLSPEEK_WORKER_H
#define TLSPEEK_WORKER_H

#include "config.h"
#include "conn.h"
#include "listener.h"

typedef struct worker worker;

/* Worker number id (1..N) listening on where, not yet running. shared is
 * the process part of every connection's environment (TLS contexts, CA,
 * limits, outputs, counters); the worker copies it and fills in its own
 * loop, resolver and listen address. NULL on failure, with the reason
 * logged. */
worker *worker_new(int id, const config *cfg, const conn_env *shared,
                   const authority *where, listener_sharing sharing);

/* The bound "host:port" and port (the real one when port 0 was asked for). */
const char *worker_address(const worker *w);
uint16_t worker_port(const worker *w);

/* Run the loop on a new thread. 0, or -1 with the reason logged. */
int worker_start(worker *w);

/* From any thread: stop accepting, close this worker's connections and
 * end its loop. */
void worker_stop(worker *w);

/* Wait for a started worker's thread to end, then free everything. */
void worker_free(worker *w);

#endif
