/* log — the console. See include/log.h.
 *
 * Traffic lines (LOG_INFO: a line per exchange, per connection) are
 * written in batches by a thread of their own, at most one write per
 * LOG_BATCH_MS under load, instead of one write per line from the worker
 * that made it: a write(2) per exchange cost a keep-alive request as much
 * as the rest of its console work ten times over. Lines keep their order:
 * every line goes through the one buffer, and a line of any other level
 * (errors, warnings, notices, debug) writes the buffer out, then itself,
 * before log_msg returns, so it is never held back. When the thread
 * cannot be started, lines are written at once as before. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool quiet_mode;
static bool debug_mode;

/* Longest line (log_msg cuts there). */
#define LINE_MAX_BYTES 2048
/* The batch buffer: lines wait here for the writer thread. */
#define BATCH_BYTES (64 * 1024)
/* How long the writer lets lines gather after a write: a line waits at
 * most this long (plus the write before it). */
#define LOG_BATCH_MS 10

static pthread_mutex_t buffer_lock = PTHREAD_MUTEX_INITIALIZER; /* the fields below */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;  /* fd 2, in order */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static char batches[2][BATCH_BYTES]; /* one filling, one being written */
static int filling;
static size_t filled;
static bool writer_waiting; /* asleep on wake: the next line wakes it */
static enum { WRITER_NONE, WRITER_RUNNING, WRITER_FAILED } writer_state;

void log_configure(bool quiet, bool debug)
{
    quiet_mode = quiet;
    debug_mode = debug;
}

/* All of s[0..n) to stderr; the console never fails the proxy. */
static void write_out(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

void log_flush(void)
{
    /* write_lock keeps batches in the order they were taken. */
    pthread_mutex_lock(&write_lock);
    pthread_mutex_lock(&buffer_lock);
    const char *batch = batches[filling];
    size_t n = filled;
    filling ^= 1;
    filled = 0;
    pthread_mutex_unlock(&buffer_lock);
    write_out(batch, n);
    pthread_mutex_unlock(&write_lock);
}

/* A child of fork has no writer thread: it starts its own. */
static void after_fork_in_child(void)
{
    pthread_mutex_init(&buffer_lock, NULL);
    pthread_mutex_init(&write_lock, NULL);
    pthread_cond_init(&wake, NULL);
    writer_state = WRITER_NONE;
    writer_waiting = false;
}

static void *writer_main(void *arg)
{
    (void)arg;
    const struct timespec gather = {0, LOG_BATCH_MS * 1000000L};
    for (;;) {
        pthread_mutex_lock(&buffer_lock);
        while (filled == 0) {
            writer_waiting = true;
            pthread_cond_wait(&wake, &buffer_lock);
        }
        writer_waiting = false;
        pthread_mutex_unlock(&buffer_lock);
        log_flush();
        nanosleep(&gather, NULL);
    }
    return NULL;
}

/* Append line[0..n) to the batch (buffer_lock held; released on return).
 * later: a traffic line the writer thread may write later; otherwise the
 * caller writes the batch out itself. Returns whether it must. */
static bool append(const char *line, size_t n, bool later)
{
    while (filled + n > BATCH_BYTES) {
        pthread_mutex_unlock(&buffer_lock);
        log_flush();
        pthread_mutex_lock(&buffer_lock);
    }
    memcpy(batches[filling] + filled, line, n);
    filled += n;
    if (later && writer_state == WRITER_NONE) {
        pthread_t t;
        pthread_attr_t attr;
        writer_state = WRITER_FAILED;
        if (pthread_attr_init(&attr) == 0) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &attr, writer_main, NULL) == 0) {
                writer_state = WRITER_RUNNING;
                atexit(log_flush); /* what is still waiting at exit */
                pthread_atfork(NULL, NULL, after_fork_in_child);
            }
            pthread_attr_destroy(&attr);
        }
    }
    bool now = !later || writer_state != WRITER_RUNNING;
    if (!now && writer_waiting) {
        writer_waiting = false;
        pthread_cond_signal(&wake);
    }
    pthread_mutex_unlock(&buffer_lock);
    return now;
}

/* One finished line (newline included) of level. */
static void emit_line(log_level level, const char *line, size_t n)
{
    pthread_mutex_lock(&buffer_lock);
    if (append(line, n, level == LOG_INFO))
        log_flush();
}

/* Is a line of level shown at all? */
static bool shown(log_level level)
{
    return !(level == LOG_INFO && quiet_mode) && !(level == LOG_DEBUG && !debug_mode);
}

/* "tlspeek: " before errors and warnings, into line; its length. */
static size_t prefix(log_level level, char *line)
{
    if (level > LOG_WARN)
        return 0;
    memcpy(line, "tlspeek: ", 9);
    return 9;
}

void log_msg(log_level level, const char *fmt, ...)
{
    if (!shown(level))
        return;
    /* One buffer per line, so that lines from the worker threads never
     * interleave mid-line. */
    char line[LINE_MAX_BYTES];
    size_t off = prefix(level, line);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + off, sizeof line - off - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    off += (size_t)n < sizeof line - off - 1 ? (size_t)n : sizeof line - off - 2;
    line[off++] = '\n';
    emit_line(level, line, off);
}

void log_text(log_level level, const char *text, size_t len)
{
    if (!shown(level))
        return;
    char line[LINE_MAX_BYTES];
    size_t off = prefix(level, line);
    if (len > sizeof line - off - 2)
        len = sizeof line - off - 2; /* cut where log_msg cuts */
    memcpy(line + off, text, len);
    off += len;
    line[off++] = '\n';
    emit_line(level, line, off);
}
