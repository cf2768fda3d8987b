/* Shared by the libFuzzer targets in this directory: an assertion that
 * survives NDEBUG and says what failed before aborting, so that libFuzzer
 * records the input as a crash. */
#ifndef TLSPEEK_FUZZ_H
#define TLSPEEK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* The libFuzzer entry point every target defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where a control byte b (0..255) cuts n bytes: 0 -> 0, 255 -> n. */
static inline size_t fuzz_cut(uint8_t b, size_t n)
{
    return (size_t)b * n / 255;
}

#endif
