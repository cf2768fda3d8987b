/* libFuzzer target: the http_msg response parser, with
 * http_msg_expect_no_body() (responses to HEAD).
 *
 * Input: a control byte that cuts the stream in two pieces as in
 * fuzz_request_head.c, a mask byte whose bit i says "response i answers a
 * HEAD request" (http_msg_expect_no_body() before its first byte), then
 * the server's byte stream, followed by the end of stream. */
#include "http_walk.h"

#define MAX_HEAD 1024

typedef struct {
    uint8_t mask;
    unsigned next; /* index of the response to come */
} heads_state;

/* Before each response: say whether it answers a HEAD. After a 1xx the
 * final response of the same request follows, so the index stays. */
static void on_event(http_msg_parser *p, http_msg_event ev, void *arg)
{
    heads_state *hs = arg;
    if (ev != HTTP_MSG_END)
        return;
    const http_head *h = http_msg_head(p);
    if (h && h->status >= 100 && h->status < 200 && h->status != 101)
        return;
    hs->next++;
    if (hs->next < 8 && (hs->mask >> hs->next & 1))
        http_msg_expect_no_body(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n = size - 2;
    size_t cut = fuzz_cut(data[0], n);
    heads_state hs = { data[1], 0 };
    const char *s = (const char *)data + 2;

    http_msg_parser *p = http_msg_parser_new(HTTP_MSG_RESPONSE, MAX_HEAD);
    FUZZ_ASSERT(p != NULL);
    if (hs.mask & 1)
        http_msg_expect_no_body(p);
    fuzz_feed_state st = { 0 };
    if (cut > 0)
        fuzz_feed(p, HTTP_MSG_RESPONSE, MAX_HEAD, s, cut, &st, on_event, &hs);
    if (!st.failed && n - cut > 0)
        fuzz_feed(p, HTTP_MSG_RESPONSE, MAX_HEAD, s + cut, n - cut, &st,
                  on_event, &hs);
    if (!st.failed)
        fuzz_feed(p, HTTP_MSG_RESPONSE, MAX_HEAD, "", 0, &st, on_event, &hs);
    FUZZ_ASSERT(st.ends <= st.heads);
    http_msg_parser_free(p);
    return 0;
}
