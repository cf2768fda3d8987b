/* front — the plaintext side of the proxy exchange: the responses the
 * proxy itself writes (200 Connection established, 4xx/5xx with a reason),
 * the absolute-form target, and the origin-form head forwarded upstream.
 * No I/O: everything is written into evbuffers the caller sends. */
#ifndef TLSPEEK_FRONT_H
#define TLSPEEK_FRONT_H

#include <stdbool.h>

#include <event2/buffer.h>

#include "authority.h"
#include "http_msg.h"

/* The standard reason phrase of status ("Bad Gateway"), or "Unknown". */
const char *front_status_text(int status);

/* "HTTP/1.1 200 Connection established" and an empty line. */
void front_write_connect_ok(struct evbuffer *out);

/* A complete response: status line, text/plain body = reason + "\n",
 * Content-Length, and Connection: close. */
void front_write_error(struct evbuffer *out, int status, const char *reason);

/* 407 Proxy Authentication Required with a Basic challenge; closes. */
void front_write_auth_required(struct evbuffer *out);

/* A complete 200 response with the given type and body; keep_alive
 * chooses between Connection: keep-alive and close; head_only leaves the
 * body out (the answer to HEAD). */
void front_write_body(struct evbuffer *out, const char *content_type,
                      const void *body, size_t len, bool keep_alive,
                      bool head_only);

/* Split an absolute-form target "http://host[:port]/path?query" (or
 * "ws://...", the same with an upgrade) into the origin (port 80 when
 * absent) and the origin-form path ("/" when empty).
 * Returns 0, or -1 with *reason. *path points into target. */
int front_parse_absolute(const char *target, authority *origin,
                         const char **path, const char **reason);

/* The request head to send upstream for a forwarded request: origin-form
 * start line, the client's headers minus hop-by-hop ones (Connection and
 * the fields it names, Proxy-Connection, Proxy-Authorization, Keep-Alive,
 * TE, Trailer, and Upgrade unless this is a websocket upgrade), a Host
 * header (added from origin when missing), and Connection: close when the
 * client does not keep the connection alive (or "upgrade" for a
 * websocket). Returns true when the request is a websocket upgrade. */
bool front_write_forward_head(struct evbuffer *out, const http_head *head,
                              const authority *origin, const char *path);

#endif
