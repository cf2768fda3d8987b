/* wsframes — count WebSocket frames and messages. See include/wsframes.h. */
#include "wsframes.h"

#include <string.h>

/* The length of a frame header from its first two bytes: 2, plus 2 or 8
 * for extended lengths, plus 4 for the mask key. */
static size_t header_length(const unsigned char *h)
{
    size_t n = 2;
    unsigned len7 = h[1] & 0x7f;
    if (len7 == 126)
        n += 2;
    else if (len7 == 127)
        n += 8;
    if (h[1] & 0x80)
        n += 4;
    return n;
}

static uint64_t payload_length(const unsigned char *h)
{
    unsigned len7 = h[1] & 0x7f;
    if (len7 < 126)
        return len7;
    uint64_t v = 0;
    size_t bytes = len7 == 126 ? 2 : 8;
    for (size_t i = 0; i < bytes; i++)
        v = (v << 8) | h[2 + i];
    return v;
}

void wsframes_feed(wsframes *w, const unsigned char *data, size_t len)
{
    while (len > 0) {
        if (w->skip > 0) {
            size_t n = w->skip < len ? (size_t)w->skip : len;
            w->skip -= n;
            data += n;
            len -= n;
            continue;
        }
        /* Gather a whole header, which may straddle pieces. */
        size_t need = w->have < 2 ? 2 : header_length(w->header);
        size_t n = need - w->have < len ? need - w->have : len;
        memcpy(w->header + w->have, data, n);
        w->have += n;
        data += n;
        len -= n;
        if (w->have < 2 || w->have < header_length(w->header))
            continue;
        w->frames++;
        /* FIN on a data frame (text, binary, continuation) ends a
         * message; control frames (opcode 8 and up) are not messages. */
        if ((w->header[0] & 0x80) && (w->header[0] & 0x0f) < 8)
            w->messages++;
        w->skip = payload_length(w->header);
        w->have = 0;
    }
}
