/* flow_record — one completed HTTP exchange as the outputs see it (console
 * line, --flows JSON lines, --har, --bodies). Built by the connection from
 * what the http_flow tap saw plus what only the connection knows (client
 * and upstream addresses, TLS parameters). Plain data: every pointer is
 * borrowed and valid only during the call that receives the record. */
#ifndef TLSPEEK_FLOW_RECORD_H
#define TLSPEEK_FLOW_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

#include "http_msg.h"

typedef struct {
    const char *version;  /* as OpenSSL names it, e.g. "TLSv1.3" */
    const char *cipher;   /* e.g. "TLS_AES_256_GCM_SHA384" */
    const char *sni;      /* NULL when none was sent */
    const char *alpn;     /* NULL when none was negotiated */
} flow_tls;

typedef struct {
    unsigned long long id;        /* unique in this run, increasing */
    struct timeval start;         /* first byte of the request head */
    struct timeval request_end;   /* request completely received */
    struct timeval response_start;/* first byte of the response head */
    struct timeval end;           /* response complete (or failure) */
    const char *client;           /* "127.0.0.1:53122" */
    const char *upstream;         /* "127.0.0.1:9443" (address connected to) */
    const char *url;              /* absolute: https://host:port/path?q */
    const char *method;
    int http_major, http_minor;   /* of the request */
    int status;                   /* 0 when no response head arrived */
    const char *reason;           /* reason phrase, or NULL */
    const http_header *request_headers;  /* wire order, repeats kept */
    size_t n_request_headers;
    const http_header *response_headers;
    size_t n_response_headers;
    unsigned long long request_bytes;  /* body payload, chunk framing removed */
    unsigned long long response_bytes;
    bool websocket;               /* 101 upgrade: relayed raw afterwards */
    bool tls;                     /* intercepted tunnel (else plain http) */
    flow_tls client_tls, upstream_tls; /* valid when tls */
    const char *error;            /* NULL, or why the exchange did not complete */
    /* --bodies: file names (relative to the bodies directory) or NULL, and
     * whether the body was longer than --body-limit (the rest counted only). */
    const char *request_body_file, *response_body_file;
    bool request_body_truncated, response_body_truncated;
} flow_record;

#endif
