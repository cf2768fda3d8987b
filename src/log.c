/* log — the console. See include/log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool quiet_mode;
static bool debug_mode;

void log_configure(bool quiet, bool debug)
{
    quiet_mode = quiet;
    debug_mode = debug;
}

void log_msg(log_level level, const char *fmt, ...)
{
    if (level == LOG_INFO && quiet_mode)
        return;
    if (level == LOG_DEBUG && !debug_mode)
        return;
    /* One buffer and one write per line, so that lines from the worker
     * threads never interleave mid-line. */
    char line[2048];
    size_t off = 0;
    if (level <= LOG_WARN)
        off = (size_t)snprintf(line, sizeof line, "tlspeek: ");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + off, sizeof line - off - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    off += (size_t)n < sizeof line - off - 1 ? (size_t)n : sizeof line - off - 2;
    line[off++] = '\n';
    fwrite(line, 1, off, stderr);
    fflush(stderr);
}

void log_text(log_level level, const char *text, size_t len)
{
    if (level == LOG_INFO && quiet_mode)
        return;
    if (level == LOG_DEBUG && !debug_mode)
        return;
    char line[2048];
    size_t off = 0;
    if (level <= LOG_WARN) {
        memcpy(line, "tlspeek: ", 9);
        off = 9;
    }
    if (len > sizeof line - off - 2)
        len = sizeof line - off - 2; /* cut where log_msg cuts */
    memcpy(line + off, text, len);
    off += len;
    line[off++] = '\n';
    fwrite(line, 1, off, stderr);
    fflush(stderr);
}
