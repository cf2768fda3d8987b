/* libFuzzer target: http_flow, both directions of one connection.
 *
 * Input: a split byte, a schedule byte, then the bytes of both streams.
 * The split byte cuts them as in fuzz_request_head.c: what comes before
 * the cut is the client's stream, the rest the server's. The schedule
 * byte says how they are delivered, in turns:
 *   bits 0-2  client chunk size: 1, 2, 3, 7, 16, 61, 512, everything
 *   bits 3-5  server chunk size, the same
 *   bit 6     the server's chunk goes first in each turn
 *   bit 7     the server's end of stream comes before the client's
 * Then both ends of stream, bytes after them, and http_flow_abort().
 * Checked: every exchange is read in full; ids come in order, each
 * exchange is announced (TAP_REQUEST) and reported done exactly once; the body bytes passed to on_body add
 * up to the exchange's byte counts. */
#include <string.h>

#include "http_flow.h"
#include "http_walk.h"

#define MAX_HEAD 1024
#define FIRST_ID 1000
#define MAX_IDS 4096 /* more exchanges than one input can hold */

static const size_t chunk_sizes[8] = { 1, 2, 3, 7, 16, 61, 512, (size_t)-1 };

typedef struct {
    atomic_ullong next_id;        /* the tap's counter */
    unsigned long long last_id;   /* the latest id reported */
    size_t reported;
    size_t announced;             /* TAP_REQUEST events */
    unsigned long long req_body[MAX_IDS], resp_body[MAX_IDS]; /* on_body sums */
} flow_state;

static size_t slot(const flow_state *st, unsigned long long id)
{
    FUZZ_ASSERT(id >= FIRST_ID && id < st->next_id);
    FUZZ_ASSERT(id - FIRST_ID < MAX_IDS);
    return (size_t)(id - FIRST_ID);
}

static void on_event(void *arg, tap_phase phase, const tap_exchange *ex)
{
    flow_state *st = arg;
    FUZZ_ASSERT(ex != NULL);
    size_t i = slot(st, ex->id);
    FUZZ_ASSERT(ex->request != NULL);
    if (phase == TAP_REQUEST) {
        /* announced once, before anything else of it */
        FUZZ_ASSERT(st->announced == ex->id - FIRST_ID);
        st->announced++;
        FUZZ_ASSERT(ex->response == NULL);
        return;
    }
    FUZZ_ASSERT(ex->id - FIRST_ID < st->announced);
    if (phase == TAP_RESPONSE) {
        FUZZ_ASSERT(ex->response != NULL);
        fuzz_walk_head(ex->response, HTTP_MSG_RESPONSE, MAX_HEAD);
        return;
    }
    /* in request order, once each */
    FUZZ_ASSERT(st->reported == 0 || ex->id > st->last_id);
    st->last_id = ex->id;
    st->reported++;
    FUZZ_ASSERT(ex->request != NULL);
    fuzz_walk_head(ex->request, HTTP_MSG_REQUEST, MAX_HEAD);
    if (ex->response)
        fuzz_walk_head(ex->response, HTTP_MSG_RESPONSE, MAX_HEAD);
    if (ex->upgraded)
        FUZZ_ASSERT(ex->response && ex->response->status == 101);
    if (ex->error)
        FUZZ_ASSERT(fuzz_strlen(ex->error) > 0);
    FUZZ_ASSERT(ex->request_bytes == st->req_body[i]);
    FUZZ_ASSERT(ex->response_bytes == st->resp_body[i]);
}

static void on_body(void *arg, unsigned long long id, bool request,
                    const char *data, size_t len)
{
    flow_state *st = arg;
    size_t i = slot(st, id);
    FUZZ_ASSERT(st->reported == 0 || id > st->last_id); /* not reported yet */
    FUZZ_ASSERT(data != NULL && len > 0);
    volatile unsigned sum = 0;
    for (size_t k = 0; k < len; k++)
        sum += (unsigned char)data[k];
    (void)sum;
    if (request)
        st->req_body[i] += len;
    else
        st->resp_body[i] += len;
}

static const tap_callbacks callbacks = { on_event, on_body };
static const tap_limits limits = { MAX_HEAD, 0, TAP_FIELDS_ALL };

static void deliver(tap f, bool server, const char **s, size_t *n,
                    size_t chunk)
{
    size_t k = *n < chunk ? *n : chunk;
    if (k == 0)
        return;
    if (server)
        f.ops->server_data(f.impl, *s, k);
    else
        f.ops->client_data(f.impl, *s, k);
    *s += k;
    *n -= k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n = size - 2;
    size_t cut = fuzz_cut(data[0], n);
    uint8_t sched = data[1];
    const char *cs = (const char *)data + 2, *ss = cs + cut;
    size_t cn = cut, sn = n - cut;
    size_t cchunk = chunk_sizes[sched & 7], schunk = chunk_sizes[sched >> 3 & 7];
    bool server_first = sched & 0x40, server_eof_first = sched & 0x80;

    static flow_state st; /* large: not on the stack */
    memset(&st, 0, sizeof st);
    st.next_id = FIRST_ID;
    tap f = http_flow_tap_new(&limits, &st.next_id, &callbacks, &st);
    FUZZ_ASSERT(f.impl != NULL);
    const char *reason = "unset";
    FUZZ_ASSERT(!f.ops->stopped(f.impl, &reason));
    while (cn > 0 || sn > 0) {
        deliver(f, server_first, server_first ? &ss : &cs,
                server_first ? &sn : &cn, server_first ? schunk : cchunk);
        deliver(f, !server_first, server_first ? &cs : &ss,
                server_first ? &cn : &sn, server_first ? cchunk : schunk);
    }
    for (int i = 0; i < 2; i++) {
        if ((i == 0) == server_eof_first)
            f.ops->server_data(f.impl, "", 0);
        else
            f.ops->client_data(f.impl, "", 0);
    }
    /* more after the end changes nothing and must not crash */
    f.ops->client_data(f.impl, "GET / HTTP/1.1\r\n\r\n", 18);
    f.ops->server_data(f.impl, "HTTP/1.1 200 OK\r\n\r\n", 19);
    reason = NULL;
    if (f.ops->stopped(f.impl, &reason))
        FUZZ_ASSERT(reason != NULL && fuzz_strlen(reason) > 0);
    /* the connection ends: whatever is still waiting is reported */
    f.ops->abort(f.impl, "fuzz: connection closed");
    FUZZ_ASSERT(f.ops->stopped(f.impl, &reason) && reason != NULL);
    FUZZ_ASSERT(st.reported == st.next_id - FIRST_ID);
    FUZZ_ASSERT(st.announced == st.reported);
    f.ops->free(f.impl);
    return 0;
}
