/* libFuzzer target: the http_msg request parser.
 *
 * Input: one control byte, then the client's byte stream. The stream is
 * fed in two pieces, cut where the control byte says (0: all in the second
 * piece, 255: all in the first), then the end of stream. Every head is
 * read through every accessor; the feed contract (consumed counts, body
 * pointers, progress) is checked as it goes. */
#include "http_walk.h"

#define MAX_HEAD 1024 /* small, so that TOO_LARGE is within reach */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = size - 1;
    size_t cut = fuzz_cut(data[0], n);
    const char *s = (const char *)data + 1;

    http_msg_parser *p = http_msg_parser_new(HTTP_MSG_REQUEST, MAX_HEAD);
    FUZZ_ASSERT(p != NULL);
    FUZZ_ASSERT(http_msg_head(p) == NULL);
    FUZZ_ASSERT(http_msg_error(p) == NULL);
    fuzz_feed_state st = { 0 };
    if (cut > 0)
        fuzz_feed(p, HTTP_MSG_REQUEST, MAX_HEAD, s, cut, &st, NULL, NULL);
    if (!st.failed && n - cut > 0)
        fuzz_feed(p, HTTP_MSG_REQUEST, MAX_HEAD, s + cut, n - cut, &st, NULL, NULL);
    if (!st.failed)
        fuzz_feed(p, HTTP_MSG_REQUEST, MAX_HEAD, "", 0, &st, NULL, NULL);
    FUZZ_ASSERT(st.ends <= st.heads);
    /* after the end of stream, nothing more is HTTP */
    size_t used;
    const char *body;
    size_t body_len;
    http_msg_event ev = http_msg_feed(p, "x", 1, &used, &body, &body_len);
    FUZZ_ASSERT(ev == HTTP_MSG_ERROR || ev == HTTP_MSG_TOO_LARGE);
    FUZZ_ASSERT(http_msg_error(p) != NULL);
    http_msg_parser_free(p);
    return 0;
}
