/* proxy — builds the process context, starts the workers and waits for a
 * signal to stop them. */
#include "proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "ca.h"
#include "codec.h"
#include "conn.h"
#include "intercept.h"
#include "autopass.h"
#include "log.h"
#include "parent.h"
#include "ui.h"
#include "worker.h"

/* Leaves for this many distinct hosts stay cached. */
#define PROXY_CERT_CACHE_SIZE 1024
/* Slots for resumable upstream sessions (one server and name each). */
#define PROXY_UPSTREAM_SESSIONS 1024
/* Hosts --auto-passthrough remembers at once. */
#define PROXY_AUTOPASS_HOSTS 1024

struct proxy {
    const config *cfg;
    struct event_base *base;  /* the main thread's: signals and timers */
    ca *ca;                  /* the CA users install */
    ca *intermediate;        /* signs the leaves under an RSA CA, or NULL */
    const char *direct_why;  /* why the CA signs leaves itself, or NULL */
    intercept *tls;          /* TLS contexts, leaf key and caches (shared) */
    worker *workers[CONFIG_MAX_WORKERS];
    int n_workers;
    struct event *sigint_ev, *sigterm_ev;
    char *proxy_auth_header; /* "Basic <base64 of USER:PASS>" */
    parent_proxy parent;     /* --upstream-proxy, when configured */
    char *parent_auth_header; /* its Proxy-Authorization, or NULL */
    autopass *autopass;      /* --auto-passthrough's hosts, or NULL */
    FILE *keylog;            /* --keylog / SSLKEYLOGFILE */
    conn_env env;            /* what every worker's connections share */
    atomic_ullong all_live;
    atomic_ullong next_exchange_id;
    atomic_ullong next_conn_id;
    flowstore *store;        /* --ui: recent flows for the web UI */
    ui *ui;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    proxy *p = arg;
    unsigned long long live = atomic_load(&p->all_live);
    log_notice("%s received: closing %llu connection%s and stopping",
               sig == SIGINT ? "SIGINT" : "SIGTERM", live, live == 1 ? "" : "s");
    for (int i = 0; i < p->n_workers; i++)
        worker_stop(p->workers[i]);
    event_base_loopbreak(p->base);
}

/* Many idle tunnels need many descriptors (two each): take the whole hard
 * limit the user allows rather than the customary soft 1024. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        log_debug("raised the open-file limit from %llu to %llu",
                  (unsigned long long)before, (unsigned long long)rl.rlim_max);
}

static int setup_tls(proxy *p)
{
    if (p->cfg->keylog) {
        /* Secrets: readable by the user only, like the CA key. */
        int fd = open(p->cfg->keylog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        p->keylog = fd >= 0 ? fdopen(fd, "a") : NULL;
        if (!p->keylog) {
            log_error("cannot open the key log %s: %s", p->cfg->keylog,
                      strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
    }
    intercept_options o = {
        .upstream_ca = p->cfg->upstream_ca,
        .insecure = p->cfg->insecure,
        .http2 = !p->cfg->no_http2,
        .client_certs = &p->cfg->client_certs,
        /* The leaf key's kind follows each client unless --leaf-key-type
         * forces one: the CA's kind does not matter (an RSA CA signs EC
         * leaves as public CAs do). */
        .leaf_key_by_client = !p->cfg->has_leaf_key_type,
        .leaf_key_type = p->cfg->leaf_key_type,
        .keylog = p->keylog,
        .leaf_cache_size = PROXY_CERT_CACHE_SIZE,
        .upstream_sessions = PROXY_UPSTREAM_SESSIONS,
    };
    /* An RSA CA signs once, at start-up, an EC intermediate that then
     * signs every leaf: a never-seen host costs an ECDSA signature, not an
     * RSA one. */
    p->direct_why = p->cfg->no_intermediate ? "--no-intermediate"
                                            : ca_direct_signing_reason(p->ca);
    if (!p->direct_why && !(p->intermediate = ca_new_intermediate(p->ca)))
        return -1;
    o.intermediate = p->intermediate;
    p->tls = intercept_new(p->ca, &o);
    p->env.tls = p->tls;
    return p->tls ? 0 : -1;
}

/* The Proxy-Authorization value a client sends for user:pass. The
 * intermediate copy holds the credentials too: wiped before it is freed. */
static char *basic_auth_header(const char *user_pass)
{
    char *b64 = codec_base64(user_pass, strlen(user_pass));
    size_t n = b64 ? sizeof "Basic " + strlen(b64) : 0;
    char *header = b64 ? malloc(n) : NULL;
    if (header)
        snprintf(header, n, "Basic %s", b64);
    else
        log_error("out of memory");
    if (b64) {
        codec_wipe(b64, strlen(b64));
        free(b64);
    }
    return header;
}

/* The parent proxy every worker connects through, from the settings. */
static int setup_parent(proxy *p)
{
    const config *cfg = p->cfg;
    if (!cfg->has_upstream_proxy)
        return 0;
    p->parent.url = cfg->upstream_proxy;
    p->parent.except = cfg->has_upstream_proxy_except ? &cfg->upstream_proxy_except
                                                      : NULL;
    parent_set_label(&p->parent);
    const proxyurl *u = &cfg->upstream_proxy;
    if (u->kind == PROXYURL_HTTP && u->has_credentials) {
        char user_pass[2 * PROXYURL_CRED_MAX + 2];
        snprintf(user_pass, sizeof user_pass, "%s:%s", u->user, u->pass);
        p->parent_auth_header = basic_auth_header(user_pass);
        codec_wipe(user_pass, sizeof user_pass);
        if (!p->parent_auth_header)
            return -1;
        p->parent.authorization = p->parent_auth_header;
    }
    p->env.parent = &p->parent;
    return 0;
}

/* The web UI: a store fed by the outputs, and its own listener. */
static int setup_ui(proxy *p)
{
    const config *cfg = p->cfg;
    p->store = flowstore_new(cfg->ui_keep, cfg->body_limit, cfg->ui_body_memory);
    if (!p->store || flowout_add_observer(p->env.out, flowstore_observer(), p->store) != 0)
        return -1;
    ui_options o = {
        .listen = cfg->ui_listen,
        .token = cfg->ui_token,
        .store = p->store,
        .out = p->env.out,
        .next_exchange_id = &p->next_exchange_id,
        .tls = p->tls,
        .parent = p->env.parent,
        .dns = cfg->dns,
        .n_dns = cfg->n_dns,
        .connect_to = cfg->connect_to,
        .n_connect_to = (size_t)cfg->n_connect_to,
        .dns_timeout = cfg->dns_timeout,
        .connect_timeout = cfg->connect_timeout,
        .handshake_timeout = cfg->handshake_timeout,
        .idle_timeout = cfg->idle_timeout,
        .max_head_bytes = cfg->max_head_bytes,
    };
    p->ui = ui_new(&o);
    return p->ui ? 0 : -1;
}

proxy *proxy_new(const config *cfg)
{
    proxy *p = calloc(1, sizeof *p);
    if (!p) {
        log_error("out of memory");
        return NULL;
    }
    p->cfg = cfg;
    /* Workers are woken from the main thread (worker_stop) and share the
     * certificate cache: libevent must be thread-aware before any loop. */
    if (evthread_use_pthreads() != 0) {
        log_error("cannot set up threads");
        goto fail;
    }
    raise_fd_limit();
    p->base = event_base_new();
    if (!p->base) {
        log_error("cannot create the event loop");
        goto fail;
    }
    p->ca = ca_load_or_create_with(cfg->ca_dir, cfg->ca_key_type);
    if (!p->ca || setup_tls(p) != 0)
        goto fail;
    if (cfg->proxy_auth && !(p->proxy_auth_header = basic_auth_header(cfg->proxy_auth)))
        goto fail;
    if (setup_parent(p) != 0)
        goto fail;

    flowout_options outputs = {
        .flows_path = cfg->flows,
        .har_path = cfg->har,
        .bodies_dir = cfg->bodies,
        .body_limit = cfg->body_limit,
        .console = !cfg->quiet,
    };
    p->env.out = flowout_new(p->base, &outputs);
    if (!p->env.out)
        goto fail;

    conn_env *env = &p->env;
    env->ca = p->ca;
    env->insecure = cfg->insecure;
    env->ignore_hosts = cfg->has_ignore_hosts ? &cfg->ignore_hosts : NULL;
    if (cfg->auto_passthrough &&
        !(p->autopass = autopass_new(PROXY_AUTOPASS_HOSTS, cfg->passthrough_ttl))) {
        log_error("out of memory");
        goto fail;
    }
    env->autopass = p->autopass;
    env->passthrough_ttl = cfg->passthrough_ttl;
    env->allow = cfg->allow;
    env->n_allow = (size_t)cfg->n_allow;
    env->proxy_auth = p->proxy_auth_header;
    env->dns_timeout = cfg->dns_timeout;
    env->max_conns = cfg->max_conns;
    env->connect_to = cfg->connect_to;
    env->n_connect_to = (size_t)cfg->n_connect_to;
    env->head_timeout = cfg->head_timeout;
    env->connect_timeout = cfg->connect_timeout;
    env->handshake_timeout = cfg->handshake_timeout;
    env->idle_timeout = cfg->idle_timeout;
    env->max_head_bytes = cfg->max_head_bytes;
    atomic_init(&p->all_live, 0);
    atomic_init(&p->next_exchange_id, 1);
    atomic_init(&p->next_conn_id, 1);
    env->all_live = &p->all_live;
    env->next_exchange_id = &p->next_exchange_id;
    env->next_conn_id = &p->next_conn_id;

    if (cfg->ui && setup_ui(p) != 0)
        goto fail;

    /* The first worker binds the asked-for address (port 0: the kernel
     * picks); the others join it on the same port. */
    authority where = cfg->listen;
    for (int i = 0; i < cfg->workers; i++) {
        listener_sharing sharing = cfg->workers == 1 ? LISTENER_ALONE
                                   : i == 0          ? LISTENER_GROUP_FIRST
                                                     : LISTENER_GROUP_MEMBER;
        p->workers[i] = worker_new(i + 1, cfg, env, &where, sharing);
        if (!p->workers[i])
            goto fail;
        p->n_workers++;
        where.port = worker_port(p->workers[i]);
    }

    p->sigint_ev = evsignal_new(p->base, SIGINT, on_signal, p);
    p->sigterm_ev = evsignal_new(p->base, SIGTERM, on_signal, p);
    if (!p->sigint_ev || !p->sigterm_ev || evsignal_add(p->sigint_ev, NULL) ||
        evsignal_add(p->sigterm_ev, NULL)) {
        log_error("cannot install signal handlers");
        goto fail;
    }
    return p;
fail:
    proxy_free(p);
    return NULL;
}

int proxy_run(proxy *p)
{
    for (int i = 0; i < p->n_workers; i++) {
        if (worker_start(p->workers[i]) != 0) {
            for (int j = 0; j < i; j++)
                worker_stop(p->workers[j]);
            return -1;
        }
    }
    log_notice("listening on %s — CA certificate: %s (trust it in your browser, "
               "or curl --cacert it)%s",
               worker_address(p->workers[0]), ca_get0_cert_path(p->ca),
               p->cfg->insecure ? "; upstream certificates are NOT verified "
                                  "(--insecure)" : "");
    if (p->intermediate)
        log_notice("leaves are signed by an EC session intermediate made in memory "
                   "under the CA (its RSA key signs once per run; "
                   "--no-intermediate to sign with the CA itself)");
    else
        log_notice("leaves are signed by the CA itself: %s", p->direct_why);
    if (p->env.parent)
        log_notice("connecting to servers through the %s (%s%s)%s",
                   p->parent.label, p->cfg->upstream_proxy_source,
                   p->cfg->upstream_proxy.has_credentials ? ", with credentials" : "",
                   p->parent.except ? "; --upstream-proxy-except hosts directly"
                                        : "");
    else if (p->cfg->upstream_proxy_from_env)
        log_notice("--upstream-proxy-from-env: none of HTTPS_PROXY, https_proxy, "
                   "ALL_PROXY, all_proxy is set; connecting to servers directly");
    log_debug("%d worker thread%s", p->n_workers, p->n_workers == 1 ? "" : "s");
    if (p->ui && ui_start(p->ui) != 0) {
        for (int i = 0; i < p->n_workers; i++)
            worker_stop(p->workers[i]);
        return -1;
    }
    if (event_base_dispatch(p->base) < 0) {
        log_error("the event loop failed");
        for (int i = 0; i < p->n_workers; i++)
            worker_stop(p->workers[i]);
        return -1;
    }
    return 0;
}

void proxy_free(proxy *p)
{
    if (!p)
        return;
    /* The UI first: its replays publish to the outputs. */
    ui_free(p->ui);
    /* Each worker joins its thread, then closes what is left. */
    for (int i = 0; i < p->n_workers; i++)
        worker_free(p->workers[i]);
    /* After the connections: their unfinished exchanges are written too. */
    flowout_free(p->env.out);
    flowstore_free(p->store);
    if (p->sigint_ev)
        event_free(p->sigint_ev);
    if (p->sigterm_ev)
        event_free(p->sigterm_ev);
    intercept_free(p->tls);
    ca_free(p->intermediate);
    ca_free(p->ca);
    free(p->proxy_auth_header);
    if (p->parent_auth_header)
        codec_wipe(p->parent_auth_header, strlen(p->parent_auth_header));
    free(p->parent_auth_header);
    autopass_free(p->autopass);
    if (p->keylog)
        fclose(p->keylog);
    if (p->base)
        event_base_free(p->base);
    free(p);
}
