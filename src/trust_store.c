/* trust_store — puts the CA into the NSS databases browsers read and into
 * the system store, and takes it out again. See include/trust_store.h. */
#include "trust_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "certinfo.h"
#include "files.h"
#include "log.h"

/* Enough of a tool's output to show why it failed. */
#define TOOL_OUTPUT_MAX 2048
/* Every file name we build; a longer one is refused, not truncated. */
#define PATH_BUF 4608
/* An NSS nickname: the CA's CN plus a fingerprint prefix. */
#define NICKNAME_MAX 128

typedef enum { TOOL_OK, TOOL_MISSING, TOOL_FAILED } tool_status;

/* How many places were changed (added to or removed from) and how many
 * could not be; a place already as wanted counts as neither. */
typedef struct {
    int done;
    int failed;
} tally;

/* How the CA is named where it is installed, both derived from the
 * certificate so that uninstall finds exactly what install added, and
 * unique to it (a CA regenerated the same day has the same CN). */
typedef struct {
    char nickname[NICKNAME_MAX];
    char file_name[64];
} ca_names;

typedef struct {
    char **v;
    int n;
} str_list;

static void str_list_free(str_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int str_list_add(str_list *l, const char *a, const char *b)
{
    char **v = realloc(l->v, (size_t)(l->n + 1) * sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    size_t n = strlen(a) + strlen(b) + 1;
    if (!(v[l->n] = malloc(n)))
        return -1;
    snprintf(v[l->n++], n, "%s%s", a, b);
    return 0;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Which Debian package brings a tool we run, for the "not found" line. */
static const char *package_of(const char *tool)
{
    return strcmp(tool, "certutil") == 0 ? "libnss3-tools" : "ca-certificates";
}

static void report_missing(const char *tool)
{
    log_error("%s not found: install it with 'apt-get install %s'", tool,
              package_of(tool));
}

/* Whether PATH holds an executable name, so that a missing tool is
 * reported once instead of once per database. */
static bool tool_in_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        char file[PATH_BUF];
        struct stat st;
        int n = snprintf(file, sizeof file, "%.*s/%s", len ? (int)len : 1,
                         len ? path : ".", name);
        if (n > 0 && (size_t)n < sizeof file && stat(file, &st) == 0 &&
            S_ISREG(st.st_mode) && access(file, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

/* Run argv[0] (found through PATH) with stdin from /dev/null and its
 * stdout and stderr captured into output (truncated, NUL-terminated, with
 * the rest drained so the tool never blocks); wait for it. TOOL_OK means
 * it exited 0; otherwise output says why. */
static tool_status run_tool(const char *const argv[], char *output, size_t size)
{
    int fds[2];
    size_t used = 0;
    output[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(output, size, "cannot make a pipe: %s", strerror(errno));
        return TOOL_FAILED;
    }
    posix_spawn_file_actions_t actions;
    pid_t pid;
    int err = posix_spawn_file_actions_init(&actions);
    if (err == 0) {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
        err = posix_spawnp(&pid, argv[0], &actions, NULL, (char *const *)argv,
                           environ);
        posix_spawn_file_actions_destroy(&actions);
    }
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        snprintf(output, size, "cannot run %s: %s", argv[0], strerror(err));
        return err == ENOENT ? TOOL_MISSING : TOOL_FAILED;
    }
    char buf[512];
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n < size - 1 - used ? (size_t)n : size - 1 - used;
        memcpy(output + used, buf, take);
        used += take;
    }
    output[used] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            snprintf(output, size, "cannot wait for %s: %s", argv[0], strerror(errno));
            return TOOL_FAILED;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return TOOL_OK;
    /* One line for our message: the tool's own words, newlines flattened. */
    while (used > 0 && strchr(" \t\r\n", output[used - 1]))
        output[--used] = '\0';
    for (char *p = output; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    if (used == 0 && WIFEXITED(status))
        snprintf(output, size, "%s exited with status %d", argv[0], WEXITSTATUS(status));
    else if (used == 0)
        snprintf(output, size, "%s was killed by signal %d", argv[0],
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return TOOL_FAILED;
}

static const char *home_dir(void)
{
    const char *home = getenv("HOME");
    if (home && home[0])
        return home;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && pw->pw_dir[0] ? pw->pw_dir : NULL;
}

static int make_names(const tls_cert *cert, ca_names *names)
{
    char fp[CERTINFO_FINGERPRINT_SIZE], hex[65];
    size_t n = 0;
    if (certinfo_fingerprint_sha256(cert, fp, sizeof fp) != 0)
        return -1;
    for (const char *p = fp; *p && n < sizeof hex - 1; p++)
        if (*p != ':')
            hex[n++] = *p;
    hex[n] = '\0';

    char cn[NICKNAME_MAX - 16];
    if (certinfo_common_name(cert, cn, sizeof cn) != 0)
        snprintf(cn, sizeof cn, "tlspeek CA");
    /* NSS reads "token:nickname", so no colon may appear in ours. */
    for (char *p = cn; *p; p++)
        if (*p == ':')
            *p = '-';
    snprintf(names->nickname, sizeof names->nickname, "%s (%.8s)", cn, hex);
    snprintf(names->file_name, sizeof names->file_name, "tlspeek-%.16s.crt", hex);
    for (char *p = names->file_name; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    return 0;
}

/* The NSS databases to use: those given, else Chromium's (created on
 * install when absent) and every Firefox profile that has a cert9.db. */
static int nss_targets(const trust_options *opts, str_list *dirs, bool *explicit)
{
    *explicit = opts->n_nssdb > 0;
    for (int i = 0; i < opts->n_nssdb; i++)
        if (str_list_add(dirs, opts->nssdb[i], "") != 0)
            goto oom;
    if (*explicit)
        return 0;
    const char *home = home_dir();
    if (!home) {
        log_error("cannot find your home directory: pass --nssdb DIR");
        return -1;
    }
    if (str_list_add(dirs, home, "/.pki/nssdb") != 0)
        goto oom;
    char firefox[PATH_BUF];
    int len = snprintf(firefox, sizeof firefox, "%s/.mozilla/firefox", home);
    DIR *d = len > 0 && (size_t)len < sizeof firefox ? opendir(firefox) : NULL;
    if (!d)
        return 0;
    int first = dirs->n;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char profile[PATH_BUF];
        int n = snprintf(profile, sizeof profile, "%s/%s", firefox, e->d_name);
        if (n < 0 || (size_t)n >= sizeof profile || files_exists(profile, "cert9.db") != 1)
            continue;
        if (str_list_add(dirs, profile, "") != 0) {
            closedir(d);
            goto oom;
        }
    }
    closedir(d);
    qsort(dirs->v + first, (size_t)(dirs->n - first), sizeof *dirs->v, compare_strings);
    return 0;
oom:
    log_error("out of memory listing NSS databases");
    return -1;
}

/* certutil's name for the database in dir: "sql:DIR". -1 (counted as a
 * failure, logged) when it does not fit. */
static int nss_database_name(const char *dir, char *sql, size_t size, tally *t)
{
    if (snprintf(sql, size, "sql:%s", dir) < (int)size)
        return 0;
    log_error("NSS database name too long: %s", dir);
    t->failed++;
    return -1;
}

static void nss_install(const char *dir, const char *cert_path, const ca_names *names,
                        FILE *out, tally *t)
{
    char sql[PATH_BUF], output[TOOL_OUTPUT_MAX];
    if (nss_database_name(dir, sql, sizeof sql, t) != 0)
        return;
    /* Chromium makes ~/.pki/nssdb only when it first needs it: make it
     * the way it would, with an empty password, so it needs no prompt. */
    if (files_exists(dir, "cert9.db") != 1) {
        const char *create[] = {"certutil", "-N", "--empty-password", "-d", sql, NULL};
        if (files_make_dirs(dir, 0700) != 0) {
            t->failed++;
            return;
        }
        if (run_tool(create, output, sizeof output) != TOOL_OK) {
            log_error("certutil could not create NSS database %s: %s", dir, output);
            t->failed++;
            return;
        }
        fprintf(out, "created NSS database %s\n", dir);
    }
    const char *add[] = {"certutil", "-A", "-n", names->nickname, "-t", "C,,",
                         "-i", cert_path, "-d", sql, NULL};
    if (run_tool(add, output, sizeof output) != TOOL_OK) {
        log_error("certutil could not add the CA to NSS database %s: %s", dir, output);
        t->failed++;
        return;
    }
    fprintf(out, "added to NSS database %s\n", dir);
    t->done++;
}

static void nss_uninstall(const char *dir, bool explicit, const ca_names *names,
                          FILE *out, tally *t)
{
    char sql[PATH_BUF], output[TOOL_OUTPUT_MAX];
    if (nss_database_name(dir, sql, sizeof sql, t) != 0)
        return;
    if (files_exists(dir, "cert9.db") != 1) {
        /* A default location the browser never created: nothing to say. */
        if (explicit)
            fprintf(out, "no NSS database in %s: nothing to remove\n", dir);
        return;
    }
    const char *list[] = {"certutil", "-L", "-n", names->nickname, "-d", sql, NULL};
    if (run_tool(list, output, sizeof output) != TOOL_OK) {
        if (strcasestr(output, "could not find")) {
            fprintf(out, "not in NSS database %s\n", dir);
        } else {
            log_error("certutil could not read NSS database %s: %s", dir, output);
            t->failed++;
        }
        return;
    }
    const char *del[] = {"certutil", "-D", "-n", names->nickname, "-d", sql, NULL};
    if (run_tool(del, output, sizeof output) != TOOL_OK) {
        log_error("certutil could not remove the CA from NSS database %s: %s", dir,
                  output);
        t->failed++;
        return;
    }
    fprintf(out, "removed from NSS database %s\n", dir);
    t->done++;
}

/* Install when cert_path is given, else uninstall, in every NSS database. */
static void nss_all(const char *cert_path, const trust_options *opts,
                    const ca_names *names, FILE *out, tally *t)
{
    str_list dirs = {NULL, 0};
    bool explicit;
    if (nss_targets(opts, &dirs, &explicit) != 0) {
        t->failed++;
    } else if (!tool_in_path("certutil")) {
        report_missing("certutil");
        t->failed++;
    } else {
        for (int i = 0; i < dirs.n; i++) {
            if (cert_path)
                nss_install(dirs.v[i], cert_path, names, out, t);
            else
                nss_uninstall(dirs.v[i], explicit, names, out, t);
        }
    }
    str_list_free(&dirs);
}

/* update-ca-certificates rebuilds /etc/ssl/certs from the store; only for
 * the real store, since a packager's staging directory is not it. After a
 * removal it needs --fresh: otherwise the certificate's links in
 * /etc/ssl/certs stay behind, dangling. */
static void refresh_system_store(bool removed, FILE *out, tally *t)
{
    const char *refresh[] = {"update-ca-certificates", removed ? "--fresh" : NULL,
                             NULL};
    char output[TOOL_OUTPUT_MAX];
    tool_status st = run_tool(refresh, output, sizeof output);
    if (st == TOOL_MISSING) {
        report_missing(refresh[0]);
        t->failed++;
    } else if (st != TOOL_OK) {
        log_error("update-ca-certificates failed: %s", output);
        t->failed++;
    } else {
        fprintf(out, "ran update-ca-certificates%s\n", removed ? " --fresh" : "");
    }
}

/* Written to a temporary name and renamed, so update-ca-certificates never
 * sees half a certificate; 0644 whatever the umask, as the store wants. */
static int write_cert_file(const char *path, const tls_cert *cert)
{
    char tmp[PATH_BUF];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        log_error("cannot create %s: name too long", path);
        return -1;
    }
    unsigned char *pem = NULL;
    size_t len = 0;
    if (certinfo_encode(cert, CERTINFO_PEM, &pem, &len) != 0) {
        log_error("cannot encode the CA certificate for %s", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error("cannot create %s: %s", tmp, strerror(errno));
        free(pem);
        return -1;
    }
    bool ok = fchmod(fd, 0644) == 0 && write(fd, pem, len) == (ssize_t)len;
    free(pem);
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        log_error("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void system_store(const tls_cert *cert, bool install, const trust_options *opts,
                         const ca_names *names, FILE *out, tally *t)
{
    bool real = opts->system_dir == NULL;
    const char *dir = real ? TRUST_SYSTEM_DIR : opts->system_dir;
    char path[PATH_BUF];
    if (snprintf(path, sizeof path, "%s/%s", dir, names->file_name) >= (int)sizeof path) {
        log_error("system store directory name too long: %s", dir);
        t->failed++;
        return;
    }
    if (!install && files_exists(dir, names->file_name) != 1) {
        fprintf(out, "not in system store %s\n", dir);
        return;
    }
    if (real && geteuid() != 0) {
        if (install) /* the user's own stores are what most need */
            log_notice("system store skipped: not root (to add it too: sudo tlspeek "
                       "ca install --ca-dir %s)", opts->ca_dir);
        else {
            log_error("cannot remove %s: not root (run: sudo tlspeek ca uninstall "
                      "--ca-dir %s)", path, opts->ca_dir);
            t->failed++;
        }
        return;
    }
    if (install) {
        if (real && !tool_in_path("update-ca-certificates")) {
            report_missing("update-ca-certificates");
            t->failed++;
            return;
        }
        if (files_make_dirs(dir, 0755) != 0 || write_cert_file(path, cert) != 0) {
            t->failed++;
            return;
        }
        fprintf(out, "installed %s\n", path);
    } else {
        if (unlink(path) != 0) {
            log_error("cannot remove %s: %s", path, strerror(errno));
            t->failed++;
            return;
        }
        fprintf(out, "removed %s\n", path);
    }
    t->done++;
    if (real)
        refresh_system_store(!install, out, t);
}

int trust_install(const tls_cert *cert, const char *cert_path, const trust_options *opts,
                  FILE *out)
{
    ca_names names;
    tally t = {0, 0};
    if (make_names(cert, &names) != 0) {
        log_error("cannot compute the fingerprint of %s", cert_path);
        return -1;
    }
    nss_all(cert_path, opts, &names, out, &t);
    if (!opts->no_system)
        system_store(cert, true, opts, &names, out, &t);
    fflush(out);
    if (t.done == 0)
        log_error("the CA was not installed anywhere");
    return t.done > 0 ? 0 : -1;
}

int trust_uninstall(const tls_cert *cert, const trust_options *opts, FILE *out)
{
    ca_names names;
    tally t = {0, 0};
    if (make_names(cert, &names) != 0) {
        log_error("cannot compute the fingerprint of the CA certificate");
        return -1;
    }
    nss_all(NULL, opts, &names, out, &t);
    if (!opts->no_system)
        system_store(cert, false, opts, &names, out, &t);
    fflush(out);
    return t.failed > 0 && t.done == 0 ? -1 : 0;
}
