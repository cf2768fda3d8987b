/* parent — speak to a parent proxy over a connected socket so that it
 * opens a tunnel to the real target: HTTP CONNECT (with Basic
 * Proxy-Authorization when credentials are given) or SOCKS5 (RFC 1928
 * CONNECT by name, RFC 1929 user name and password), within a time
 * limit. The result is the same bufferevent, now a tunnel to the target,
 * or a reason in plain words that names the parent and quotes its answer
 * but never its credentials. */
#ifndef TLSPEEK_PARENT_H
#define TLSPEEK_PARENT_H

#include <regex.h>
#include <stdbool.h>

#include <event2/bufferevent.h>

#include "authority.h"
#include "proxyurl.h"

/* Longest "HTTP parent proxy [v6addr]:port"-style label, NUL included. */
#define PARENT_LABEL_MAX (AUTHORITY_HOST_MAX + 40)

/* A parent proxy as the process configured it; read-only while workers
 * run. */
typedef struct {
    proxyurl url;                /* kind, address, credentials */
    const char *authorization;   /* HTTP: the Proxy-Authorization value
                                    ("Basic ..."), or NULL */
    const regex_t *except;       /* hosts connected to directly, or NULL */
    char label[PARENT_LABEL_MAX];/* "HTTP parent proxy 127.0.0.1:3128",
                                    for reasons: no credentials */
} parent_proxy;

/* Fill p->label from p->url (call once after filling url). */
void parent_set_label(parent_proxy *p);

/* The parent to connect to target through, or NULL when there is none
 * or target's host matches the exception pattern (it goes direct). */
const parent_proxy *parent_for(const parent_proxy *p, const authority *target);

typedef struct parent_req parent_req;

/* Called exactly once, never from within parent_open(). On success bev is
 * the tunnel (callbacks unset, reading disabled; its input may already
 * hold the target's first bytes) and reason is NULL; on failure bev has
 * been freed, NULL is passed, and reason (valid during the call) says
 * why, e.g. "HTTP parent proxy 127.0.0.1:3128 refused CONNECT
 * example.com:443: 403 Forbidden". The request is freed after the call. */
typedef void (*parent_cb)(struct bufferevent *bev, const char *reason, void *arg);

/* Take over bev, connected to parent p, and ask for a tunnel to target
 * within timeout_s seconds. NULL on allocation failure (bev untouched). */
parent_req *parent_open(struct bufferevent *bev, const parent_proxy *p,
                        const authority *target, int timeout_s, parent_cb cb,
                        void *arg);

/* Abandon a pending request and free its bufferevent; the callback will
 * not be called. NULL is a no-op. */
void parent_cancel(parent_req *req);

#endif
