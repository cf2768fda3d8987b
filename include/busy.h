/* busy — is one side of a connection busy? A side that carries
 * BUSY_MESSAGES messages in the same direction within BUSY_PERIOD_MS
 * becomes busy, and stays so until a whole period passes without any
 * message. Not two: a connection's start (a handshake's flights, an h2
 * preface with its SETTINGS, a browser's first requests) passes a few
 * messages at once, and keeping 60 KiB of buffers for a second or two per
 * starting connection raised a burst's peak heap, which glibc does not
 * give back (idle h2 tunnels measured 43 -> 102 KiB each).
 *
 * The pump keeps a TLS session's buffers while its side is busy and gives
 * them back once it is not (see tlsm_keep_buffers): thousands of idle
 * tunnels hold none, and a busy one does not free and take 16 KiB buffers
 * again for every message. A side that carries one message and then idles
 * (most held tunnels) never becomes busy. The timer exists only while the
 * side is busy (an idle side costs 16 bytes) and is re-armed once per
 * period, not per message; the clock is the event loop's cached time (no
 * system call). */
#ifndef TLSPEEK_BUSY_H
#define TLSPEEK_BUSY_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#define BUSY_PERIOD_MS 1000
#define BUSY_MESSAGES 8

typedef enum { BUSY_IN, BUSY_OUT } busy_dir;

typedef struct busy_timer busy_timer;

/* Zero-initialised: idle, no message seen. */
typedef struct {
    uint32_t since[2]; /* ms when each way's count began; 0: none yet */
    uint16_t count[2]; /* messages each way since then, while idle */
    busy_timer *timer; /* non-NULL exactly while busy */
} busy;

/* A message passed in direction dir. True when the side has just become
 * busy; on_idle(arg) is then called from base's loop once it is idle
 * again. False otherwise, also when no timer can be had (the side then
 * stays idle). */
bool busy_note(busy *b, struct event_base *base, busy_dir dir, void (*on_idle)(void *arg),
               void *arg);

static inline bool busy_now(const busy *b)
{
    return b->timer != NULL;
}

/* Back to idle with nothing seen, without calling on_idle; frees the
 * timer. */
void busy_reset(busy *b);

#endif
