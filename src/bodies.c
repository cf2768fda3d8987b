/* bodies — one file per request/response body under the --bodies
 * directory, bounded by a per-body limit. See include/bodies.h. */
#include "bodies.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct bodies {
    char *dir;
    int dirfd;  /* files are made relative to it: immune to chdir and renames */
    unsigned long long limit;
    /* Sinks of every worker thread count here. */
    atomic_ullong errors;
    atomic_bool warned;
};

struct bodies_sink {
    bodies *b;
    int fd;                   /* -1 until the first byte, or after a failure */
    bool failed;
    unsigned long long stored, total;
    char name[BODIES_NAME_MAX];
};

bodies *bodies_new(const char *dir, unsigned long long limit)
{
    bodies *b = calloc(1, sizeof *b);
    if (!b || !(b->dir = strdup(dir))) {
        log_error("bodies directory %s: out of memory", dir);
        goto fail;
    }
    b->dirfd = -1;
    b->limit = limit;
    /* 0700: the bodies are decrypted traffic. An existing directory keeps
     * its mode: the user made it and chose. */
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create bodies directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    b->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->dirfd < 0) {
        log_error("cannot open bodies directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    return b;
fail:
    bodies_free(b);
    return NULL;
}

void bodies_free(bodies *b)
{
    if (!b)
        return;
    if (b->dirfd >= 0)
        close(b->dirfd);
    free(b->dir);
    free(b);
}

const char *bodies_dir(const bodies *b)
{
    return b->dir;
}

unsigned long long bodies_errors(const bodies *b)
{
    return atomic_load(&b->errors);
}

bodies_sink *bodies_open(bodies *b, unsigned long long id, const char *which)
{
    if (!b || !which || (strcmp(which, "request") != 0 && strcmp(which, "response") != 0))
        return NULL;
    bodies_sink *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->b = b;
    s->fd = -1;
    snprintf(s->name, sizeof s->name, "%06llu-%s.bin", id, which);
    return s;
}

/* Count a failure, say so the first time only (a full disk would
 * otherwise print a line per body), and stop writing this sink. */
static void sink_fail(bodies_sink *s, const char *what, int err)
{
    bodies *b = s->b;
    atomic_fetch_add(&b->errors, 1);
    if (!atomic_exchange(&b->warned, true))
        log_warn("bodies %s/%s: %s: %s (further body write errors are only "
                 "counted)", b->dir, s->name, what, strerror(err));
    s->failed = true;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

int bodies_write(bodies_sink *s, const void *data, size_t len)
{
    if (!s)
        return 0;
    s->total += len;
    if (s->failed)
        return -1;
    unsigned long long room = s->b->limit - s->stored;
    size_t n = room < len ? (size_t)room : len;
    if (n == 0)
        return 0;
    if (s->fd < 0) {
        /* Lazily, so empty bodies make no file. O_NOFOLLOW: a link planted
         * in the directory must not redirect the write elsewhere;
         * O_NONBLOCK: nor a FIFO hang the worker in open() (ENXIO instead;
         * a regular file ignores the flag). */
        s->fd = openat(s->b->dirfd, s->name,
                       O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                       0600);
        if (s->fd < 0) {
            sink_fail(s, "cannot create", errno);
            return -1;
        }
    }
    const char *p = data;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(s->fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            sink_fail(s, "cannot write", w < 0 ? errno : ENOSPC);
            return -1;
        }
        done += (size_t)w;
        s->stored += (unsigned long long)w;
    }
    return 0;
}

const char *bodies_close(bodies_sink *s, char *name_out, bool *truncated)
{
    const char *name = NULL;
    bool cut = false;
    if (!s)
        goto cleanup;
    if (s->fd >= 0 && close(s->fd) != 0)
        sink_fail(s, "cannot write", errno);
    s->fd = -1;
    cut = s->failed || s->stored < s->total;
    /* A file exists when some bytes were stored, even if a later write
     * failed: what is there is still the start of the body. */
    if (s->stored > 0) {
        memcpy(name_out, s->name, sizeof s->name);
        name = name_out;
    }
cleanup:
    if (truncated)
        *truncated = cut;
    free(s);
    return name;
}

unsigned long long bodies_sink_total(const bodies_sink *s)
{
    return s ? s->total : 0;
}

void *bodies_read(const char *dir, const char *name, size_t max, size_t *len)
{
    char *buf = NULL, *path = NULL;
    bool ok = false;
    struct stat st;
    /* Names come from bodies_close(), but stay inside dir regardless. */
    if (strchr(name, '/') || strcmp(name, "..") == 0 ||
        asprintf(&path, "%s/%s", dir, name) < 0) {
        path = NULL;
        goto cleanup;
    }
    /* O_NONBLOCK: a FIFO put in its place must not hang the reader in
     * open() (it is then refused as not a regular file). */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        goto cleanup;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= max &&
        (buf = malloc((size_t)st.st_size + 1))) {
        size_t got = 0, size = (size_t)st.st_size;
        ssize_t r = 1;
        while (got < size && (r = read(fd, buf + got, size - got)) != 0) {
            if (r < 0 && errno != EINTR)
                break;
            got += r > 0 ? (size_t)r : 0;
        }
        ok = got == size;
        buf[got] = '\0';
        *len = got;
    }
    close(fd);
cleanup:
    free(path);
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}
