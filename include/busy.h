/* busy — is one side of a connection busy? A side that carries a second
 * message in the same direction within BUSY_PERIOD_MS becomes busy, and
 * stays so until a whole period passes without any message.
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

typedef enum { BUSY_IN, BUSY_OUT } busy_dir;

typedef struct busy_timer busy_timer;

/* Zero-initialised: idle, no message seen. */
typedef struct {
    uint32_t last[2];  /* ms of the last message each way while idle; 0: none */
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
