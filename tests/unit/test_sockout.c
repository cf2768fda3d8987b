/* Unit tests for sockout (a side's socket output) and busy (is a side
 * busy?), over a loopback TCP pair and a libevent loop. */
#include "check_main.h"
#include "tcppair.h"
#include "busy.h"
#include "sockout.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int written, errors, err;
} seen;

static void on_written(void *arg)
{
    ((seen *)arg)->written++;
}

static void on_error(void *arg, int err)
{
    ((seen *)arg)->errors++;
    ((seen *)arg)->err = err;
}

/* Small writes go straight out without a queue or an event; what the
 * socket cannot take waits, in order, and on_written says when it went. */
START_TEST(queues_only_what_must_wait)
{
    struct event_base *base = event_base_new();
    int fd, peer;
    tcp_pair(&fd, &peer);
    seen s = {0};
    sockout o = {.fd = fd, .base = base, .low = 0, .max_write = 65536,
                 .on_written = on_written, .on_error = on_error, .arg = &s};
    ck_assert_int_eq(sockout_send(&o, "hello", 5), 0);
    ck_assert_ptr_null(o.queue);
    ck_assert_ptr_null(o.ev);
    size_t big = 8 << 20;
    unsigned char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 13);
    ck_assert_int_eq(sockout_send(&o, data, big), 0);
    ck_assert_uint_gt(sockout_pending(&o), 0);
    /* Everything arrives, in order, and the queue empties. */
    unsigned char *got = malloc(big + 5);
    size_t have = 0;
    for (int i = 0; i < 100000 && have < big + 5; i++) {
        ssize_t n = recv(peer, got + have, big + 5 - have, MSG_DONTWAIT);
        if (n > 0)
            have += (size_t)n;
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    ck_assert_uint_eq(have, big + 5);
    ck_assert_mem_eq(got, "hello", 5);
    ck_assert(memcmp(got + 5, data, big) == 0);
    ck_assert_uint_eq(sockout_pending(&o), 0);
    ck_assert_int_ge(s.written, 1);
    ck_assert_int_eq(s.errors, 0);
    free(data);
    free(got);
    sockout_free(&o);
    close(fd);
    close(peer);
    event_base_free(base);
}
END_TEST

/* A queued write to a peer that reset reports the error once. */
START_TEST(queued_write_reports_the_failure)
{
    struct event_base *base = event_base_new();
    int fd, peer;
    tcp_pair(&fd, &peer);
    seen s = {0};
    sockout o = {.fd = fd, .base = base, .max_write = 65536, .on_written = on_written,
                 .on_error = on_error, .arg = &s};
    size_t big = 8 << 20;
    char *data = calloc(1, big);
    ck_assert_int_eq(sockout_send(&o, data, big), 0);
    ck_assert_uint_gt(sockout_pending(&o), 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(peer);
    for (int i = 0; i < 200 && s.errors == 0; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, 10);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    ck_assert_int_eq(s.errors, 1);
    ck_assert(s.err == ECONNRESET || s.err == EPIPE);
    free(data);
    sockout_free(&o);
    close(fd);
    event_base_free(base);
}
END_TEST

static void idle_cb(void *arg)
{
    (*(int *)arg)++;
}

/* Fewer than BUSY_MESSAGES messages a way is not busy; that many in a
 * period are, until a period passes without any, when on_idle runs once. */
START_TEST(busy_until_a_quiet_period)
{
    struct event_base *base = event_base_new();
    busy b = {0};
    int idle = 0;
    for (int i = 1; i < BUSY_MESSAGES; i++) {
        ck_assert(!busy_note(&b, base, BUSY_IN, idle_cb, &idle));
        ck_assert(!busy_note(&b, base, BUSY_OUT, idle_cb, &idle)); /* other way */
    }
    ck_assert(!busy_now(&b));
    ck_assert(busy_note(&b, base, BUSY_IN, idle_cb, &idle));
    ck_assert(busy_now(&b));
    ck_assert(!busy_note(&b, base, BUSY_IN, idle_cb, &idle)); /* already */
    for (int i = 0; i < 500 && idle == 0; i++) {
        poll(NULL, 0, 10);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    ck_assert_int_eq(idle, 1);
    ck_assert(!busy_now(&b));
    /* A fresh start: one message alone is not busy again. */
    ck_assert(!busy_note(&b, base, BUSY_IN, idle_cb, &idle));
    busy_reset(&b);
    event_base_free(base);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("sockout");
    check_case(s, "socket", 60, CHECK_TESTS(
        queues_only_what_must_wait, queued_write_reports_the_failure,
        busy_until_a_quiet_period));
    return s;
}
