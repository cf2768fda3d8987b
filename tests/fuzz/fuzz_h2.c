/* libFuzzer target: h2_flow (+ h2_msg, nghttp2's HPACK inflater), both
 * directions of one HTTP/2 connection.
 *
 * Input: a flags byte, then records of one control byte and up to 127
 * bytes: bit 7 of the control byte says who sends them (1 = the server),
 * bits 0-6 how many follow (the last record may be shorter). Records are
 * fed in order, so the fuzzer controls how the two directions interleave
 * (SETTINGS and their acknowledgements, resets racing data).
 *   flags bit 0  do not send the client connection preface first
 *   flags bit 1  the server's end of stream comes before the client's
 *   flags bit 2  tiny limits: 2 streams, 200-byte header lists
 *   flags bits 3-4  the fields heads keep: 0 every one, 1 a response's
 *                   Content-Type, 2 none (3: every one)
 * Then both ends of stream, more bytes, and an abort.
 * Checked: every exchange is reported in order REQUEST, [RESPONSE], DONE,
 * DONE exactly once; ids come from the counter; the body bytes passed to
 * on_body add up to the byte counts; authority, scheme and protocol (kept
 * by offset) are strings inside the request head's block; the tap says
 * why it stopped. */
#include <string.h>

#include "fuzz.h"
#include "h2_flow.h"

#define FIRST_ID 1000
#define MAX_IDS 4096 /* more streams than one input can open */
#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

typedef struct {
    atomic_ullong next_id;
    unsigned char seen[MAX_IDS];   /* bit 0 request, 1 response, 2 done */
    unsigned long long body[MAX_IDS][2];
    size_t done;
} fuzz_state;

static size_t slot(const fuzz_state *st, unsigned long long id)
{
    FUZZ_ASSERT(id >= FIRST_ID && id < st->next_id && id - FIRST_ID < MAX_IDS);
    return (size_t)(id - FIRST_ID);
}

static void walk(const http_head *h)
{
    volatile size_t sum = 0;
    sum += strlen(h->method);
    if (h->target)
        sum += strlen(h->target);
    for (size_t i = 0; i < h->n_headers; i++)
        sum += strlen(h->headers[i].name) + strlen(h->headers[i].value);
    (void)sum;
}

static void on_event(void *arg, tap_phase phase, const tap_exchange *ex)
{
    fuzz_state *st = arg;
    size_t i = slot(st, ex->id);
    FUZZ_ASSERT(ex->request && ex->http_major == 2);
    walk(ex->request);
    const char *in_block[] = {ex->authority, ex->scheme, ex->protocol};
    for (size_t k = 0; k < 3; k++) {
        const char *p = in_block[k];
        if (!p)
            continue;
        FUZZ_ASSERT(ex->request->block && p >= ex->request->block &&
                    p < ex->request->block + ex->request->block_len);
        FUZZ_ASSERT(p + strlen(p) < ex->request->block + ex->request->block_len);
    }
    if (ex->response)
        walk(ex->response);
    if (ex->request_trailers)
        walk(ex->request_trailers);
    if (ex->response_trailers)
        walk(ex->response_trailers);
    FUZZ_ASSERT(!(st->seen[i] & 4)); /* nothing after DONE */
    switch (phase) {
    case TAP_REQUEST:
        FUZZ_ASSERT(st->seen[i] == 0);
        st->seen[i] = 1;
        break;
    case TAP_RESPONSE:
        FUZZ_ASSERT(st->seen[i] == 1 && ex->response);
        FUZZ_ASSERT(ex->response->status < 100 || ex->response->status >= 200);
        st->seen[i] |= 2;
        break;
    case TAP_DONE:
        FUZZ_ASSERT(st->seen[i] & 1);
        FUZZ_ASSERT(!ex->response == !(st->seen[i] & 2));
        st->seen[i] |= 4;
        st->done++;
        if (ex->error)
            FUZZ_ASSERT(strlen(ex->error) > 0);
        FUZZ_ASSERT(ex->request_bytes == st->body[i][1]);
        FUZZ_ASSERT(ex->response_bytes == st->body[i][0]);
        break;
    }
}

static void on_body(void *arg, unsigned long long id, bool request, const char *data,
                    size_t len)
{
    fuzz_state *st = arg;
    size_t i = slot(st, id);
    FUZZ_ASSERT((st->seen[i] & 1) && !(st->seen[i] & 4));
    FUZZ_ASSERT(data != NULL && len > 0);
    volatile unsigned sum = 0;
    for (size_t k = 0; k < len; k++)
        sum += (unsigned char)data[k];
    (void)sum;
    st->body[i][request] += len;
}

static const tap_callbacks callbacks = {on_event, on_body};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    static fuzz_state st; /* large: not on the stack */
    memset(&st, 0, sizeof st);
    st.next_id = FIRST_ID;
    unsigned keep = (flags >> 3) & 3;
    tap_fields fields = keep == 1 ? TAP_FIELDS_CONTENT_TYPE
                        : keep == 2 ? TAP_FIELDS_NONE
                                    : TAP_FIELDS_ALL;
    tap_limits limits = {16384, 64, fields};
    if (flags & 4)
        limits = (tap_limits){200, 2, fields};
    tap t = h2_flow_tap_new(&limits, &st.next_id, &callbacks, &st);
    FUZZ_ASSERT(t.impl != NULL);
    const char *reason = "unset";
    FUZZ_ASSERT(!t.ops->stopped(t.impl, &reason));
    if (!(flags & 1))
        t.ops->client_data(t.impl, PREFACE, sizeof PREFACE - 1);
    size_t at = 1;
    while (at < size) {
        bool server = data[at] & 0x80;
        size_t n = data[at] & 0x7f;
        at++;
        if (n > size - at)
            n = size - at;
        if (n == 0)
            continue;
        (server ? t.ops->server_data : t.ops->client_data)(t.impl, (const char *)data + at, n);
        at += n;
    }
    for (int i = 0; i < 2; i++)
        ((i == 0) == !!(flags & 2) ? t.ops->server_data : t.ops->client_data)(t.impl, "", 0);
    /* more after the ends changes nothing and must not crash */
    t.ops->client_data(t.impl, "\0\0\0\x04\0\0\0\0\0", 9);
    t.ops->server_data(t.impl, "\0\0\0\x04\x01\0\0\0\0", 9);
    reason = NULL;
    if (t.ops->stopped(t.impl, &reason))
        FUZZ_ASSERT(reason != NULL && strlen(reason) > 0);
    t.ops->abort(t.impl, "fuzz: connection closed");
    FUZZ_ASSERT(t.ops->stopped(t.impl, &reason) && reason != NULL);
    FUZZ_ASSERT(st.done == st.next_id - FIRST_ID);
    t.ops->free(t.impl);
    return 0;
}
