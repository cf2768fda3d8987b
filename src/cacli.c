/* cacli — `tlspeek ca SUBCOMMAND [--ca-dir DIR] [options]`: print, export,
 * trust, untrust and regenerate the CA that tlspeek signs leaves with.
 * See include/cacli.h; the trust stores themselves are trust_store.c. */
#include "cacli.h"
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "certinfo.h"
#include "files.h"
#include "log.h"
#include "trust_store.h"

static const char usage_text[] =
    "usage: tlspeek ca path|show|regenerate [--ca-dir DIR] [--ca-key-type TYPE]\n"
    "       tlspeek ca export --der|--pem [FILE] [--ca-dir DIR] [--ca-key-type TYPE]\n"
    "       tlspeek ca install|uninstall [--ca-dir DIR] [--nssdb DIR]...\n"
    "                  [--system-store DIR | --no-system]\n";

static const char help_text[] =
    "\n"
    "Manage the CA that signs the certificates tlspeek shows to clients.\n"
    "Subcommands other than uninstall create the CA when it does not exist.\n"
    "\n"
    "  path               print the CA certificate's path\n"
    "  show               print its subject, SHA-256 fingerprint and validity\n"
    "  export --der|--pem [FILE]\n"
    "                     write the certificate to FILE, or to stdout\n"
    "  install            trust the CA in the NSS databases of Chromium\n"
    "                     (~/.pki/nssdb) and of Firefox profiles (needs certutil,\n"
    "                     from libnss3-tools) and, as root, in the system store\n"
    "  uninstall          remove exactly what install added\n"
    "  regenerate         make a new CA; the old files stay as a dated backup\n"
    "\n"
    "  --ca-dir DIR       where the CA lives (default $XDG_CONFIG_HOME/tlspeek,\n"
    "                     else ~/.config/tlspeek)\n"
    "  --ca-key-type TYPE key of a CA created now: " CA_KEY_TYPE_NAMES "\n"
    "                     (default ec-p256)\n"
    "  --nssdb DIR        (un)install in this NSS database instead of the\n"
    "                     browsers' (repeatable; created when absent)\n"
    "  --system-store DIR (un)install in DIR instead of the system store,\n"
    "                     " TRUST_SYSTEM_DIR "\n"
    "                     (update-ca-certificates runs only for the latter)\n"
    "  --no-system        leave the system store alone\n"
    "  --help             this text\n";

typedef enum { SUB_PATH, SUB_SHOW, SUB_EXPORT, SUB_INSTALL, SUB_UNINSTALL,
               SUB_REGENERATE } subcommand;

/* Groups of options, and which a subcommand accepts, so that a misplaced
 * option is an error instead of silently doing nothing. */
enum {
    GROUP_KEY_TYPE, /* --ca-key-type: for subcommands that may create a CA */
    GROUP_FORMAT,   /* --der, --pem */
    GROUP_TRUST,    /* --nssdb, --system-store, --no-system */
    N_GROUPS
};
#define ALLOW_KEY_TYPE (1u << GROUP_KEY_TYPE)
#define ALLOW_FORMAT (1u << GROUP_FORMAT)
#define ALLOW_TRUST (1u << GROUP_TRUST)

static const struct {
    const char *name;
    subcommand sub;
    unsigned allow;
} subcommands[] = {
    {"path", SUB_PATH, ALLOW_KEY_TYPE},
    {"show", SUB_SHOW, ALLOW_KEY_TYPE},
    {"export", SUB_EXPORT, ALLOW_KEY_TYPE | ALLOW_FORMAT},
    {"install", SUB_INSTALL, ALLOW_KEY_TYPE | ALLOW_TRUST},
    {"uninstall", SUB_UNINSTALL, ALLOW_TRUST},
    {"regenerate", SUB_REGENERATE, ALLOW_KEY_TYPE},
};

enum { OPT_CA_DIR = 256, OPT_KEY_TYPE, OPT_DER, OPT_PEM, OPT_NSSDB, OPT_SYSTEM_STORE,
       OPT_NO_SYSTEM, OPT_HELP };

static const struct option long_options[] = {
    {"ca-dir", required_argument, NULL, OPT_CA_DIR},
    {"ca-key-type", required_argument, NULL, OPT_KEY_TYPE},
    {"der", no_argument, NULL, OPT_DER},
    {"pem", no_argument, NULL, OPT_PEM},
    {"nssdb", required_argument, NULL, OPT_NSSDB},
    {"system-store", required_argument, NULL, OPT_SYSTEM_STORE},
    {"no-system", no_argument, NULL, OPT_NO_SYSTEM},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

typedef struct {
    subcommand sub;
    const char *ca_dir; /* --ca-dir, borrowed; NULL: the default */
    ca_key_type key_type;
    int format;         /* OPT_DER, OPT_PEM, or 0 */
    const char *file;   /* export's FILE, or NULL for stdout */
    trust_options trust;
    unsigned used;      /* 1 << GROUP_* of the options given */
    const char *used_name[N_GROUPS]; /* one option given per group, for errors */
} cli_args;

typedef enum { PARSE_RUN, PARSE_HELP, PARSE_USAGE } parse_result;

static parse_result usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "tlspeek: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    fputs(usage_text, stderr);
    fputs("Try 'tlspeek ca --help' for more.\n", stderr);
    return PARSE_USAGE;
}

static void mark_used(cli_args *a, int group, const char *name)
{
    a->used |= 1u << group;
    a->used_name[group] = name;
}

static parse_result parse_option(cli_args *a, int opt, char **argv)
{
    switch (opt) {
    case OPT_CA_DIR: a->ca_dir = optarg; break;
    case OPT_KEY_TYPE:
        if (ca_key_type_parse(optarg, &a->key_type) != 0)
            return usage_error("unknown CA key type (use " CA_KEY_TYPE_NAMES ")", optarg);
        mark_used(a, GROUP_KEY_TYPE, "--ca-key-type");
        break;
    case OPT_DER:
    case OPT_PEM:
        if (a->format && a->format != opt)
            return usage_error("give only one of --der and --pem", NULL);
        a->format = opt;
        mark_used(a, GROUP_FORMAT, opt == OPT_DER ? "--der" : "--pem");
        break;
    case OPT_NSSDB:
        if (a->trust.n_nssdb == TRUST_MAX_NSSDB)
            return usage_error("too many --nssdb directories", NULL);
        a->trust.nssdb[a->trust.n_nssdb++] = optarg;
        mark_used(a, GROUP_TRUST, "--nssdb");
        break;
    case OPT_SYSTEM_STORE:
        a->trust.system_dir = optarg;
        mark_used(a, GROUP_TRUST, "--system-store");
        break;
    case OPT_NO_SYSTEM:
        a->trust.no_system = true;
        mark_used(a, GROUP_TRUST, "--no-system");
        break;
    case OPT_HELP: return PARSE_HELP;
    case ':': return usage_error("option needs a value", argv[optind - 1]);
    default: return usage_error("unknown option", argv[optind - 1]);
    }
    return PARSE_RUN;
}

static parse_result parse_args(int argc, char **argv, cli_args *a)
{
    memset(a, 0, sizeof *a);
    a->key_type = CA_KEY_EC_P256;
    optind = 1;
    opterr = 0; /* we print our own one-line reason */
    int opt;
    /* GNU getopt permutes: options may come before or after the
     * subcommand, as users type them. */
    while ((opt = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
        parse_result r = parse_option(a, opt, argv);
        if (r != PARSE_RUN)
            return r;
    }
    if (optind >= argc)
        return usage_error("no subcommand given", NULL);
    const char *name = argv[optind++];
    size_t i = 0, n = sizeof subcommands / sizeof subcommands[0];
    while (i < n && strcmp(subcommands[i].name, name) != 0)
        i++;
    if (i == n)
        return usage_error("unknown subcommand", name);
    a->sub = subcommands[i].sub;
    if (a->sub == SUB_EXPORT && optind < argc)
        a->file = argv[optind++];
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    unsigned wrong = a->used & ~subcommands[i].allow;
    for (int group = 0; group < N_GROUPS; group++) {
        if (wrong & (1u << group)) {
            char what[128];
            snprintf(what, sizeof what, "%s does not apply to 'tlspeek ca %s'",
                     a->used_name[group], name);
            return usage_error(what, NULL);
        }
    }
    if (a->sub == SUB_EXPORT && !a->format)
        return usage_error("export needs --der or --pem", NULL);
    if (a->trust.no_system && a->trust.system_dir)
        return usage_error("--system-store and --no-system contradict each other", NULL);
    return PARSE_RUN;
}

static int show(const ca *c)
{
    const tls_cert *cert = ca_get0_cert(c);
    char fp[CERTINFO_FINGERPRINT_SIZE], subject[CERTINFO_TEXT_SIZE];
    char not_before[CERTINFO_TEXT_SIZE], not_after[CERTINFO_TEXT_SIZE];
    if (certinfo_fingerprint_sha256(cert, fp, sizeof fp) != 0 ||
        certinfo_subject(cert, subject, sizeof subject) != 0 ||
        certinfo_validity(cert, not_before, not_after, sizeof not_before) != 0) {
        log_error("cannot describe the CA certificate %s", ca_get0_cert_path(c));
        return -1;
    }
    printf("subject: %s\nsha256: %s\nnot before: %s\nnot after: %s\n", subject, fp,
           not_before, not_after);
    return 0;
}

static int export_cert(const ca *c, int format, const char *file)
{
    bool to_stdout = !file || strcmp(file, "-") == 0;
    unsigned char *data = NULL;
    size_t len = 0;
    if (certinfo_encode(ca_get0_cert(c), format == OPT_DER ? CERTINFO_DER : CERTINFO_PEM,
                        &data, &len) != 0) {
        log_error("cannot encode the CA certificate: out of memory");
        return -1;
    }
    FILE *f = to_stdout ? stdout : fopen(file, "wb");
    if (!f) {
        log_error("cannot create %s: %s", file, strerror(errno));
        free(data);
        return -1;
    }
    bool ok = fwrite(data, 1, len, f) == len && fflush(f) == 0;
    if (!to_stdout)
        ok = fclose(f) == 0 && ok;
    free(data);
    if (!ok) {
        log_error("cannot write the CA certificate to %s", to_stdout ? "stdout" : file);
        return -1;
    }
    return 0;
}

/* Uninstall reads only the certificate: it must work on a CA whose key is
 * gone, and must never create a CA just to remove it. */
static int uninstall(const char *dir, const trust_options *trust)
{
    size_t n = strlen(dir) + sizeof "/" CA_CERT_FILE;
    char *path = malloc(n);
    if (!path) {
        log_error("out of memory");
        return -1;
    }
    snprintf(path, n, "%s/%s", dir, CA_CERT_FILE);
    int rc = -1;
    int exists = files_exists(path, NULL);
    tls_cert *cert = exists == 1 ? certinfo_read_pem_file(path) : NULL;
    if (exists == 0)
        log_error("no CA certificate %s: nothing to uninstall", path);
    else if (exists == 1 && !cert)
        log_error("cannot read a PEM certificate from %s", path);
    else
        rc = trust_uninstall(cert, trust, stdout);
    certinfo_free_cert(cert);
    free(path);
    return rc;
}

static int regenerate(const char *dir, ca_key_type type)
{
    char *cert_backup = NULL, *key_backup = NULL;
    if (ca_backup_files(dir, &cert_backup, &key_backup) != 0)
        return -1;
    ca *c = ca_load_or_create_with(dir, type);
    char fp[CERTINFO_FINGERPRINT_SIZE] = "?";
    int rc = -1;
    if (!c) {
        if (cert_backup || key_backup)
            log_error("the old CA is kept as %s and %s", cert_backup ? cert_backup : "-",
                      key_backup ? key_backup : "-");
    } else if (certinfo_fingerprint_sha256(ca_get0_cert(c), fp, sizeof fp) == 0) {
        printf("new CA certificate: %s\nsha256: %s\n", ca_get0_cert_path(c), fp);
        if (cert_backup || key_backup)
            printf("old CA kept as %s and %s\n", cert_backup ? cert_backup : "-",
                   key_backup ? key_backup : "-");
        printf("trust the new CA with: tlspeek ca install\n");
        rc = 0;
    } else {
        log_error("cannot compute the fingerprint of %s", ca_get0_cert_path(c));
    }
    ca_free(c);
    free(cert_backup);
    free(key_backup);
    return rc;
}

static int run(const cli_args *a, const char *dir)
{
    trust_options trust = a->trust;
    trust.ca_dir = dir;
    if (a->sub == SUB_UNINSTALL)
        return uninstall(dir, &trust);
    if (a->sub == SUB_REGENERATE)
        return regenerate(dir, a->key_type);
    ca *c = ca_load_or_create_with(dir, a->key_type);
    if (!c)
        return -1;
    int rc = 0;
    switch (a->sub) {
    case SUB_PATH: printf("%s\n", ca_get0_cert_path(c)); break;
    case SUB_SHOW: rc = show(c); break;
    case SUB_EXPORT: rc = export_cert(c, a->format, a->file); break;
    case SUB_INSTALL:
        rc = trust_install(ca_get0_cert(c), ca_get0_cert_path(c), &trust, stdout);
        break;
    default: break;
    }
    ca_free(c);
    return rc;
}

int cacli_main(int argc, char **argv)
{
    cli_args a;
    switch (parse_args(argc, argv, &a)) {
    case PARSE_HELP:
        fputs(usage_text, stdout);
        fputs(help_text, stdout);
        return 0;
    case PARSE_USAGE:
        return 2;
    case PARSE_RUN:
        break;
    }
    char *dir = a.ca_dir ? strdup(a.ca_dir) : config_default_ca_dir();
    if (!dir) {
        log_error("%s", a.ca_dir ? "out of memory"
                                 : "no --ca-dir given and neither XDG_CONFIG_HOME "
                                   "nor HOME is set");
        return 1;
    }
    int rc = run(&a, dir);
    free(dir);
    /* A full disk or a closed pipe on stdout is a failure too. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (rc == 0)
            log_error("cannot write to stdout");
        rc = -1;
    }
    return rc == 0 ? 0 : 1;
}
