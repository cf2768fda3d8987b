/* files — the few file-system steps several modules take: make a
 * directory with its parents, ask whether a file is there, join a path.
 * Like log, usable by every layer but the pure one (these log). */
#ifndef TLSPEEK_FILES_H
#define TLSPEEK_FILES_H

#include <sys/types.h>

/* mkdir -p: every directory created gets mode (existing ones are left as
 * they are), and dir must end up a directory. 0, or -1 after logging
 * which directory could not be made and why. */
int files_make_dirs(const char *dir, mode_t mode);

/* Whether dir/name exists (name NULL: dir itself): 1, 0, or -1 when that
 * cannot be told (a permission problem the user must fix; logged). */
int files_exists(const char *dir, const char *name);

/* "dir/name" in a new string (caller frees), or NULL when out of memory. */
char *files_join(const char *dir, const char *name);

#endif
