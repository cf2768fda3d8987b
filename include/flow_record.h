/* flow_record — one HTTP exchange (an HTTP/1 request/response pair or one
 * HTTP/2 stream) as the outputs see it (console line, --flows JSON lines,
 * --har, --bodies, the web UI's store). Built by the connection from what
 * its tap saw plus what only the connection knows (ids, addresses, both
 * legs' protocol and TLS details). Plain data: every pointer is borrowed
 * and valid only during the call that receives the record. */
#ifndef TLSPEEK_FLOW_RECORD_H
#define TLSPEEK_FLOW_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "http_head.h"

/* One TLS leg, described once when its handshake completes and kept by the
 * connection; records point at it. */
typedef struct {
    const char *version;  /* as OpenSSL names it, e.g. "TLSv1.3" */
    const char *cipher;   /* e.g. "TLS_AES_256_GCM_SHA384" */
    const char *sni;      /* NULL when none was sent */
    const char *alpn;     /* NULL when none was negotiated */
    const char *client_cert; /* subject of the client certificate we offered
                                upstream (upstream leg only), or NULL */
} flow_tls;

/* How far an exchange has got. The console, --flows, --har and --bodies
 * write only FLOW_DONE / FLOW_ERROR records; the UI shows every phase. */
typedef enum {
    FLOW_REQUEST,  /* request head seen, no response yet */
    FLOW_RESPONSE, /* response head seen */
    FLOW_DONE,     /* complete */
    FLOW_ERROR     /* ended without completing: error says why */
} flow_phase;

typedef struct {
    unsigned long long id;        /* unique in this run, increasing */
    unsigned long long conn_id;   /* the client connection it came on */
    uint32_t stream_id;           /* HTTP/2 stream id; 0 for HTTP/1 */
    unsigned long long replay_of; /* id of the flow replayed (web UI), or 0 */
    flow_phase phase;
    struct timeval start;         /* first byte of the request head */
    struct timeval request_end;   /* request completely received */
    struct timeval response_start;/* first byte of the response head */
    struct timeval end;           /* response complete (or failure) */
    const char *client;           /* "127.0.0.1:53122" */
    const char *upstream;         /* "127.0.0.1:9443" (address connected to) */
    const char *url;              /* absolute, default port left out:
                                     https://host/path?q, http://host:8080/x */
    const char *method;
    int http_major, http_minor;   /* of the request: 1.1, 1.0, 2.0 */
    const char *client_protocol;  /* what each leg speaks: "HTTP/1.1", */
    const char *upstream_protocol;/* "HTTP/2", "websocket" after a 101, an
                                     HTTP/2 extended CONNECT's :protocol
                                     once answered 2xx */
    int status;                   /* 0 when no response head arrived */
    const char *reason;           /* reason phrase, or NULL */
    const http_header *request_headers;  /* wire order, repeats kept */
    size_t n_request_headers;
    const http_header *response_headers;
    size_t n_response_headers;
    const http_header *request_trailers; /* HTTP/2 or chunked trailers */
    size_t n_request_trailers;
    const http_header *response_trailers;
    size_t n_response_trailers;
    unsigned long long request_bytes;  /* body payload relayed: chunk framing
                                          and HTTP/2 padding removed */
    unsigned long long response_bytes;
    bool websocket;               /* 101 upgrade: relayed raw afterwards */
    unsigned long long ws_messages_up, ws_messages_down; /* websocket frames
                                          client->server, server->client */
    bool answered_by_proxy;       /* tlspeek itself answered (502, 504, ...) */
    bool request_unparsed;        /* it answered before a request head was
                                     read (garbage, a head too large, a
                                     client turned away): method and url
                                     are empty, not guessed */
    bool passthrough;             /* tunnel relayed without interception */
    const char *passthrough_reason;
    const flow_tls *client_tls;   /* NULL when the client leg is plain */
    const flow_tls *upstream_tls; /* NULL when the upstream leg is plain */
    const char *error;            /* NULL, or why the exchange did not complete;
                                     for HTTP/2 resets "stream reset by the
                                     client: CANCEL" */
    /* --bodies: file names (relative to the bodies directory) or NULL, and
     * whether the body was longer than --body-limit (the rest counted only). */
    const char *request_body_file, *response_body_file;
    bool request_body_truncated, response_body_truncated;
} flow_record;

#endif
