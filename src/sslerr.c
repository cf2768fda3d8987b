/* sslerr — our words plus OpenSSL's reason. See include/sslerr.h. */
#include "sslerr.h"

#include <stdarg.h>
#include <stdio.h>

#include <openssl/err.h>

#include "log.h"

void sslerr_log(const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    log_error("%s: %s", what, reason);
    ERR_clear_error();
}
