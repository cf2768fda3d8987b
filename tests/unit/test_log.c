/* Unit tests for log: traffic lines batched by log's writer thread arrive
 * whole, once each, in order, without a flush; other levels are written
 * before log_msg returns, after every line logged before them. */
#include "check_main.h"
#include "log.h"
#include "scratch.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define LINES 2000

/* stderr goes to a file in the shared scratch directory while a test runs. */
static char path[96];
static int saved_stderr = -1;

static void capture(void)
{
    scratch_make("test_log");
    snprintf(path, sizeof path, "%s", scratch_path("stderr"));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    saved_stderr = dup(STDERR_FILENO);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    close(fd);
}

/* Everything written to stderr so far (caller frees). */
static char *captured(void)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *text = calloc(1, 1 << 20);
    ck_assert_ptr_nonnull(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void release(void)
{
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    scratch_remove();
}

static void *log_lines(void *arg)
{
    int id = (int)(long)arg;
    for (int i = 0; i < LINES; i++)
        log_info("thread %d line %d", id, i);
    return NULL;
}

/* Lines of four threads at once: each whole, once, in its thread's order. */
START_TEST(batched_lines_whole_and_in_order)
{
    capture();
    log_configure(false, false);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, log_lines, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    log_flush();
    char *text = captured();
    int next[THREADS] = {0};
    size_t lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int id, n;
        ck_assert_msg(sscanf(line, "thread %d line %d", &id, &n) == 2, "line: %s", line);
        ck_assert(id >= 0 && id < THREADS);
        ck_assert_int_eq(n, next[id]);
        next[id]++;
        lines++;
    }
    ck_assert_uint_eq(lines, THREADS * LINES);
    free(text);
    release();
}
END_TEST

/* A warning is on stderr when log_msg returns, after the traffic lines
 * logged before it; a traffic line alone arrives without any flush (the
 * writer thread writes it: polled with a deadline). -q drops them. */
START_TEST(warnings_at_once_traffic_soon)
{
    capture();
    log_configure(false, false);
    log_info("first");
    log_text(LOG_INFO, "second", 6);
    log_warn("third");
    char *text = captured();
    ck_assert_str_eq(text, "first\nsecond\ntlspeek: third\n");
    free(text);

    log_info("fourth");
    bool seen = false;
    for (int i = 0; i < 1000 && !seen; i++) {
        text = captured();
        seen = strstr(text, "tlspeek: third\nfourth\n") != NULL;
        free(text);
        if (!seen)
            nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    ck_assert_msg(seen, "the traffic line never came");

    log_configure(true, false);
    log_info("quiet");
    log_notice("notice");
    text = captured();
    ck_assert_str_eq(text, "first\nsecond\ntlspeek: third\nfourth\nnotice\n");
    free(text);
    release();
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("log");
    check_case(s, "console", 60, CHECK_TESTS(
        batched_lines_whole_and_in_order, warnings_at_once_traffic_soon));
    return s;
}
