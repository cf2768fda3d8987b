/* wsframes — count WebSocket frames and messages (RFC 6455) in one direction of an
 * upgraded connection, reading only frame headers and skipping payloads.
 * Pure: libc only. */
#ifndef TLSPEEK_WSFRAMES_H
#define TLSPEEK_WSFRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned long long frames;    /* complete frame headers seen */
    unsigned long long messages;  /* data messages: final (FIN) text, binary
                                     or continuation frames */
    uint64_t skip;                /* payload bytes still to skip */
    unsigned char header[14];     /* a header split across pieces */
    size_t have;
} wsframes;

/* Account for len more bytes of the stream. */
void wsframes_feed(wsframes *w, const unsigned char *data, size_t len);

#endif
