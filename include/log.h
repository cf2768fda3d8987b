/* log — the console: one line per event, on stderr.
 *
 * Process-wide state: the verbosity, set once at start-up from the
 * configuration before any event loop runs, and the batch of traffic
 * lines waiting for log's writer thread. */
#ifndef TLSPEEK_LOG_H
#define TLSPEEK_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    LOG_ERROR,  /* always shown: the user must act */
    LOG_WARN,   /* always shown: something went wrong for one connection */
    LOG_NOTICE, /* always shown, unprefixed: where the proxy listens */
    LOG_INFO,   /* traffic lines; silenced by -q */
    LOG_DEBUG   /* only with TLSPEEK_DEBUG=1 in the environment */
} log_level;

/* Set once at start-up: quiet hides LOG_INFO, debug shows LOG_DEBUG. */
void log_configure(bool quiet, bool debug);

/* Print "tlspeek: " + message + newline for ERROR/WARN, the bare message
 * for INFO/DEBUG. Never fails. INFO lines (traffic) may be written up to
 * some 10 ms later, in a batch with others, by a thread of log's own;
 * lines of every level keep their order, and any other level's line is
 * written, after those before it, before this returns. */
void log_msg(log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* text[0..len) as log_msg(level, "%s", text) prints it, without the
 * formatting: for a line built elsewhere (the console line of every
 * exchange). */
void log_text(log_level level, const char *text, size_t len);

/* Write out the INFO lines still waiting now (also done at exit). */
void log_flush(void);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
