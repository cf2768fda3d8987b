/* units — numbers for people. See include/units.h. */
#include "units.h"

#include <stdio.h>
#include <string.h>

void units_bytes(unsigned long long n, char *buf, size_t size)
{
    /* Thresholds sit where one decimal would round to 1000 of the unit
     * (999950 B is "1000.0 kB" in %.1f): from there the next unit reads
     * better. GB has two decimals, so no threshold above it. */
    if (n < 1000) {
        /* the console line's usual case, without snprintf */
        char text[6] = {0};
        size_t len = 0;
        if (n >= 100)
            text[len++] = (char)('0' + n / 100);
        if (n >= 10)
            text[len++] = (char)('0' + n / 10 % 10);
        text[len++] = (char)('0' + n % 10);
        memcpy(text + len, " B", 3);
        len += 3; /* with the NUL */
        if (size > 0) {
            if (len > size)
                len = size;
            memcpy(buf, text, len);
            buf[len - 1] = '\0';
        }
    } else if (n < 999950ULL) {
        snprintf(buf, size, "%.1f kB", (double)n / 1e3);
    } else if (n < 999950000ULL) {
        snprintf(buf, size, "%.1f MB", (double)n / 1e6);
    } else {
        snprintf(buf, size, "%.2f GB", (double)n / 1e9);
    }
}
