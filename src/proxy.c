/* proxy — builds the process context and runs the event loop. */
#include "proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "ca.h"
#include "certcache.h"
#include "certmint.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "tlsctx.h"

/* Leaves for this many distinct hosts stay cached. */
#define PROXY_CERT_CACHE_SIZE 1024

struct proxy {
    const config *cfg;
    struct event_base *base;
    struct evdns_base *dns;
    ca *ca;
    listener *listener;
    struct event *sigint_ev, *sigterm_ev;
    char *proxy_auth_header; /* "Basic <base64 of USER:PASS>" */
    FILE *keylog;            /* --keylog / SSLKEYLOGFILE */
    conn_env env;
};

static void on_accept(evutil_socket_t fd, const struct sockaddr *sa, int socklen,
                      void *arg)
{
    proxy *p = arg;
    conn_accept(&p->env, fd, sa, socklen);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    proxy *p = arg;
    log_notice("%s received: closing %llu connection%s and stopping",
               sig == SIGINT ? "SIGINT" : "SIGTERM", p->env.n_live,
               p->env.n_live == 1 ? "" : "s");
    listener_free(p->listener);
    p->listener = NULL;
    conn_close_all(&p->env);
    event_base_loopbreak(p->base);
}

static struct evdns_base *make_resolver(struct event_base *base, const config *cfg)
{
    struct evdns_base *dns;
    if (cfg->n_dns == 0) {
        dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                       EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!dns)
            log_error("cannot set up the resolver from /etc/resolv.conf; "
                      "name one with --dns ADDR");
        return dns;
    }
    dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!dns) {
        log_error("cannot set up the resolver");
        return NULL;
    }
    for (int i = 0; i < cfg->n_dns; i++) {
        if (evdns_base_nameserver_ip_add(dns, cfg->dns[i]) != 0) {
            log_error("--dns %s: not an IP address with an optional port",
                      cfg->dns[i]);
            evdns_base_free(dns, 0);
            return NULL;
        }
    }
    /* localhost and friends still come from /etc/hosts. */
    evdns_base_load_hosts(dns, NULL);
    return dns;
}

static int setup_tls(proxy *p)
{
    p->env.leaf_key = certmint_new_leaf_key();
    p->env.certs = certcache_new(PROXY_CERT_CACHE_SIZE);
    p->env.client_ctx = tlsctx_new_client_facing(conn_hello_cb);
    p->env.upstream_ctx = tlsctx_new_upstream(p->cfg->upstream_ca, p->cfg->insecure);
    if (!p->env.leaf_key || !p->env.certs || !p->env.client_ctx ||
        !p->env.upstream_ctx)
        return -1;
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
        tlsctx_set_keylog(p->env.client_ctx, p->keylog);
        tlsctx_set_keylog(p->env.upstream_ctx, p->keylog);
    }
    return 0;
}

/* The Proxy-Authorization value a client sends for user:pass. */
static char *basic_auth_header(const char *user_pass)
{
    size_t n = strlen(user_pass);
    size_t b64 = 4 * ((n + 2) / 3);
    char *header = malloc(sizeof "Basic " + b64);
    if (!header) {
        log_error("out of memory");
        return NULL;
    }
    memcpy(header, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)header + 6, (const unsigned char *)user_pass,
                    (int)n);
    return header;
}

proxy *proxy_new(const config *cfg)
{
    proxy *p = calloc(1, sizeof *p);
    if (!p) {
        log_error("out of memory");
        return NULL;
    }
    p->cfg = cfg;
    p->base = event_base_new();
    if (!p->base) {
        log_error("cannot create the event loop");
        goto fail;
    }
    p->ca = ca_load_or_create_with(cfg->ca_dir, cfg->ca_key_type);
    if (!p->ca || setup_tls(p) != 0)
        goto fail;
    p->dns = make_resolver(p->base, cfg);
    if (!p->dns)
        goto fail;
    /* Two tries within --dns-timeout; upstream's own timer has the last word. */
    char per_try[16];
    snprintf(per_try, sizeof per_try, "%d", cfg->dns_timeout > 1 ? cfg->dns_timeout / 2 : 1);
    evdns_base_set_option(p->dns, "timeout:", per_try);
    evdns_base_set_option(p->dns, "attempts:", "2");
    if (cfg->proxy_auth && !(p->proxy_auth_header = basic_auth_header(cfg->proxy_auth)))
        goto fail;
    /* 0x20 case randomisation confuses simple or caching name servers. */
    evdns_base_set_option(p->dns, "randomize-case:", "0");

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

    p->listener = listener_new(p->base, &cfg->listen, on_accept, p);
    if (!p->listener)
        goto fail;

    conn_env *env = &p->env;
    env->base = p->base;
    env->dns = p->dns;
    env->ca = p->ca;
    env->insecure = cfg->insecure;
    env->ignore_hosts = cfg->has_ignore_hosts ? &cfg->ignore_hosts : NULL;
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
    snprintf(env->self_address, sizeof env->self_address, "%s",
             listener_address(p->listener));
    env->listen = cfg->listen;
    env->listen.port = listener_port(p->listener);

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
    log_notice("listening on %s — CA certificate: %s (trust it in your browser, "
               "or curl --cacert it)%s",
               listener_address(p->listener), ca_get0_cert_path(p->ca),
               p->cfg->insecure ? "; upstream certificates are NOT verified "
                                  "(--insecure)" : "");
    if (event_base_dispatch(p->base) < 0) {
        log_error("the event loop failed");
        return -1;
    }
    return 0;
}

void proxy_free(proxy *p)
{
    if (!p)
        return;
    conn_close_all(&p->env);
    /* After the connections: their unfinished exchanges are written too. */
    flowout_free(p->env.out);
    listener_free(p->listener);
    if (p->sigint_ev)
        event_free(p->sigint_ev);
    if (p->sigterm_ev)
        event_free(p->sigterm_ev);
    if (p->dns)
        evdns_base_free(p->dns, 0);
    SSL_CTX_free(p->env.client_ctx);
    SSL_CTX_free(p->env.upstream_ctx);
    certcache_free(p->env.certs);
    EVP_PKEY_free(p->env.leaf_key);
    ca_free(p->ca);
    free(p->proxy_auth_header);
    if (p->keylog)
        fclose(p->keylog);
    if (p->base)
        event_base_free(p->base);
    free(p);
}
