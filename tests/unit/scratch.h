/* scratch — a temporary directory for unit suites that write files. One
 * at a time per test process (Check forks each test). */
#ifndef TLSPEEK_SCRATCH_H
#define TLSPEEK_SCRATCH_H

/* The directory scratch_make() made ("" before). */
extern char scratch_dir[64];

/* Make /tmp/<prefix>-XXXXXX into scratch_dir (the test fails if it
 * cannot). */
void scratch_make(const char *prefix);

/* scratch_dir + "/" + name, in a static buffer overwritten by the next
 * call: copy it to keep two at once. */
const char *scratch_path(const char *name);

/* Remove scratch_dir and everything below it. */
void scratch_remove(void);

#endif
