/* files — mkdir -p, existence, path joining. See include/files.h. */
#include "files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

int files_make_dirs(const char *dir, mode_t mode)
{
    char *path = strdup(dir);
    if (!path) {
        log_error("out of memory creating %s", dir);
        return -1;
    }
    int rc = -1;
    /* Each prefix ending at a '/' (and the whole path) in turn. */
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, mode) != 0 && errno != EEXIST) {
            log_error("cannot create directory %s: %s", path, strerror(errno));
            goto done;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_error("%s is not a directory", dir);
        goto done;
    }
    rc = 0;
done:
    free(path);
    return rc;
}

int files_exists(const char *dir, const char *name)
{
    char *path = name ? files_join(dir, name) : strdup(dir);
    if (!path) {
        log_error("out of memory looking for %s", name ? name : dir);
        return -1;
    }
    struct stat st;
    int rc = 1;
    if (stat(path, &st) != 0) {
        rc = errno == ENOENT || errno == ENOTDIR ? 0 : -1;
        if (rc < 0)
            log_error("cannot access %s: %s", path, strerror(errno));
    }
    free(path);
    return rc;
}

char *files_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}
