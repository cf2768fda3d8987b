/* listener — bind the proxy's address, accept clients, and back off
 * briefly when the process runs out of file descriptors instead of
 * spinning on accept(). */
#ifndef TLSPEEK_LISTENER_H
#define TLSPEEK_LISTENER_H

#include <event2/event.h>
#include <event2/util.h>

#include "authority.h"

typedef struct listener listener;

/* A newly accepted, non-blocking client socket; the callee owns fd. */
typedef void (*listener_accept_cb)(evutil_socket_t fd, const struct sockaddr *sa,
                                   int socklen, void *arg);

/* How a listener shares its port with the other workers' listeners. */
typedef enum {
    LISTENER_ALONE,        /* the only one: a plain exclusive bind */
    LISTENER_GROUP_FIRST,  /* SO_REUSEPORT, after checking the port is free */
    LISTENER_GROUP_MEMBER, /* SO_REUSEPORT, joining the first one's port */
} listener_sharing;

/* Bind and listen on where (an IP literal, or a name resolved with the
 * system resolver once at start). With SO_REUSEPORT the kernel spreads new
 * connections over the group's listeners. On failure logs
 * "cannot listen on HOST:PORT: <reason>" and returns NULL. */
listener *listener_new(struct event_base *base, const authority *where,
                       listener_sharing sharing, listener_accept_cb cb, void *arg);
void listener_free(listener *l);

/* The bound address as "host:port" ("[v6]:port"), with the real port when
 * port 0 was asked for. Owned by l. */
const char *listener_address(const listener *l);

/* The bound port (the real one when port 0 was asked for). */
uint16_t listener_port(const listener *l);

#endif
