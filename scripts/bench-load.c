/*
 * bench-load — the load generator of scripts/bench (not part of tlspeek).
 *
 * An OpenSSL client that speaks HTTP/1.1 over TLS to an origin, either
 * directly, through an HTTP proxy's CONNECT tunnel, or to a transparent /
 * static-destination TLS interceptor (--no-connect).  Certificates are NOT
 * verified: every proxy under test presents its own CA.
 *
 *   bench-load --mode newconn   --target H:P [--proxy H:P] [--no-connect]
 *              [-n N] [--seconds S] [--path /small]
 *        N times: TCP connect, CONNECT, TLS handshake, one GET, close.
 *   bench-load --mode keepalive ...  one tunnel, N GETs one after another.
 *   bench-load --mode download  ... [--path /big]   one GET, body discarded.
 *   bench-load --mode hold -n N [--parallel P] ...  open N tunnels (handshake
 *        + one GET each), P threads at a time (default 1), print "ready ...",
 *        keep them open until stdin reaches EOF.
 *
 *   --sni NAME      send NAME as SNI (default: the target's name, none for an
 *                   IP address);
 *   --sni-unique D  a name never sent before on each connection:
 *                   "<pid>-<n>.D" (a proxy's cost for a host it has not seen).
 *
 * Results go to stdout as key=value lines (requests, errors, seconds, rps,
 * p50_ms, p99_ms, bytes, mbps).  Requests are sequential (one at a time),
 * so latency is per request and rps is 1/latency, not a saturation figure.
 *
 * Build: cc -O2 -pthread -o bench-load scripts/bench-load.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *proxy;   /* host:port or NULL */
static const char *target;  /* host:port */
static int no_connect;
static const char *path = "/small";
static long nreq = 100;
static double max_seconds = 0;
static long parallel = 1; /* hold mode: threads opening tunnels */
static const char *sni;        /* --sni */
static const char *sni_unique; /* --sni-unique domain */
static long sni_seq;
static SSL_CTX *ctx;

struct conn {
    int fd;
    SSL *ssl;
    char buf[65536];
    size_t off, len;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int split_hp(const char *hp, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *c = strrchr(hp, ':');
    if (!c || (size_t)(c - hp) >= hcap || strlen(c + 1) >= pcap)
        return -1;
    memcpy(host, hp, c - hp);
    host[c - hp] = 0;
    strcpy(port, c + 1);
    return 0;
}

static int tcp_connect(const char *hp)
{
    char host[256], port[16];
    struct addrinfo hints = {0}, *ai;
    if (split_hp(hp, host, sizeof host, port, sizeof port))
        return -1;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai))
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
        close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static void conn_close(struct conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* TCP connect, CONNECT (unless direct or --no-connect), TLS handshake. */
static int conn_open(struct conn *c)
{
    c->ssl = NULL;
    c->off = c->len = 0;
    c->fd = tcp_connect(proxy ? proxy : target);
    if (c->fd < 0)
        return -1;
    if (proxy && !no_connect) {
        char req[600], resp[4096];
        int n = snprintf(req, sizeof req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
        if (send(c->fd, req, n, MSG_NOSIGNAL) != n)
            goto fail;
        size_t got = 0;
        for (;;) {
            ssize_t r = recv(c->fd, resp + got, sizeof resp - 1 - got, 0);
            if (r <= 0)
                goto fail;
            got += r;
            resp[got] = 0;
            if (strstr(resp, "\r\n\r\n"))
                break;
            if (got >= sizeof resp - 1)
                goto fail;
        }
        if (strncmp(resp, "HTTP/1.", 7) || strncmp(resp + 8, " 200", 4))
            goto fail;
    }
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    char host[256], port[16];
    split_hp(target, host, sizeof host, port, sizeof port);
    /* SNI only for names, as a browser does (never for IP literals) */
    char fresh[300];
    if (sni_unique) {
        snprintf(fresh, sizeof fresh, "%ld-%ld.%s", (long)getpid(),
                 __atomic_add_fetch(&sni_seq, 1, __ATOMIC_RELAXED), sni_unique);
        SSL_set_tlsext_host_name(c->ssl, fresh);
    } else if (sni) {
        SSL_set_tlsext_host_name(c->ssl, sni);
    } else if (strspn(host, "0123456789.") != strlen(host) && !strchr(host, ':')) {
        SSL_set_tlsext_host_name(c->ssl, host);
    }
    if (SSL_connect(c->ssl) != 1)
        goto fail;
    return 0;
fail:
    conn_close(c);
    return -1;
}

/* One GET; the body is read and discarded.  Returns body bytes or -1. */
static long long conn_get(struct conn *c, int keepalive)
{
    char req[600];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-load\r\n"
                     "Accept: */*\r\nConnection: %s\r\n\r\n",
                     path, target, keepalive ? "keep-alive" : "close");
    if (SSL_write(c->ssl, req, n) != n)
        return -1;
    /* read the head */
    char *end;
    for (;;) {
        if (c->len > c->off) {
            c->buf[c->len < sizeof c->buf ? c->len : sizeof c->buf - 1] = 0;
            end = memmem(c->buf + c->off, c->len - c->off, "\r\n\r\n", 4);
            if (end)
                break;
        }
        if (c->off > 0) {
            memmove(c->buf, c->buf + c->off, c->len - c->off);
            c->len -= c->off;
            c->off = 0;
        }
        if (c->len >= sizeof c->buf - 1)
            return -1;
        int r = SSL_read(c->ssl, c->buf + c->len, sizeof c->buf - 1 - c->len);
        if (r <= 0)
            return -1;
        c->len += r;
    }
    char *head = c->buf + c->off;
    size_t headlen = end + 4 - head;
    if (strncmp(head, "HTTP/1.", 7) || strncmp(head + 8, " 200", 4))
        return -1;
    long long clen = -1;
    for (char *l = strstr(head, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
        if (!strncasecmp(l + 2, "content-length:", 15))
            clen = atoll(l + 17);
    if (clen < 0)
        return -1; /* chunked or close-delimited bodies are not needed here */
    c->off += headlen;
    long long left = clen;
    size_t have = c->len - c->off;
    size_t take = have < (unsigned long long)left ? have : (size_t)left;
    c->off += take;
    left -= take;
    if (c->off == c->len)
        c->off = c->len = 0;
    char sink[65536];
    while (left > 0) {
        int r = SSL_read(c->ssl, sink, left < (long long)sizeof sink ? (int)left : (int)sizeof sink);
        if (r <= 0)
            return -1;
        left -= r;
    }
    return clen;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p * (n - 1) + 0.5);
    return v[i];
}

static void report(const char *mode, long ok, long err, double secs, double *lat)
{
    qsort(lat, ok, sizeof *lat, cmpd);
    printf("mode=%s\nrequests=%ld\nerrors=%ld\nseconds=%.4f\nrps=%.1f\np50_ms=%.3f\np99_ms=%.3f\n",
           mode, ok, err, secs, secs > 0 ? ok / secs : 0, pct(lat, ok, 0.50) * 1e3,
           pct(lat, ok, 0.99) * 1e3);
}

/* Hold mode: thread t opens tunnels t, t+P, t+2P, ... so P handshakes are in
 * flight at once; 10000 strictly sequential ones take most of a minute. */
struct hold_job {
    struct conn *cs;
    long first, ok, err;
};

static void *hold_open(void *arg)
{
    struct hold_job *j = arg;
    for (long i = j->first; i < nreq; i += parallel) {
        if (conn_open(&j->cs[i]) == 0 && conn_get(&j->cs[i], 1) >= 0)
            j->ok++;
        else {
            conn_close(&j->cs[i]);
            j->err++;
        }
    }
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-load --mode newconn|keepalive|download|hold --target HOST:PORT\n"
                    "       [--proxy HOST:PORT] [--no-connect] [-n N] [--seconds S] [--path P]\n"
                    "       [--parallel P] [--sni NAME | --sni-unique DOMAIN]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *mode = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-connect"))
            no_connect = 1;
        else if (i + 1 >= argc)
            usage();
        else if (!strcmp(a, "--mode"))
            mode = argv[++i];
        else if (!strcmp(a, "--proxy"))
            proxy = strcmp(argv[++i], "none") ? argv[i] : NULL;
        else if (!strcmp(a, "--target"))
            target = argv[++i];
        else if (!strcmp(a, "-n"))
            nreq = atol(argv[++i]);
        else if (!strcmp(a, "--seconds"))
            max_seconds = atof(argv[++i]);
        else if (!strcmp(a, "--path"))
            path = argv[++i];
        else if (!strcmp(a, "--parallel"))
            parallel = atol(argv[++i]);
        else if (!strcmp(a, "--sni"))
            sni = argv[++i];
        else if (!strcmp(a, "--sni-unique"))
            sni_unique = argv[++i];
        else
            usage();
    }
    if (!mode || !target)
        usage();
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* full handshakes */

    double *lat = calloc(nreq > 0 ? nreq : 1, sizeof *lat);
    long ok = 0, err = 0;
    double t0 = now();

    if (!strcmp(mode, "newconn")) {
        static struct conn c;
        for (long i = 0; i < nreq; i++) {
            if (max_seconds > 0 && now() - t0 > max_seconds)
                break;
            double s = now();
            if (conn_open(&c) == 0 && conn_get(&c, 0) >= 0) {
                lat[ok++] = now() - s;
            } else {
                err++;
                if (err > 20 && err > ok)
                    break;
            }
            conn_close(&c);
        }
        report(mode, ok, err, now() - t0, lat);
    } else if (!strcmp(mode, "keepalive")) {
        static struct conn c;
        if (conn_open(&c)) {
            fprintf(stderr, "bench-load: cannot open the tunnel\n");
            return 1;
        }
        t0 = now();
        for (long i = 0; i < nreq; i++) {
            if (max_seconds > 0 && (i & 63) == 0 && now() - t0 > max_seconds)
                break;
            double s = now();
            if (conn_get(&c, 1) < 0) {
                err++;
                break;
            }
            lat[ok++] = now() - s;
        }
        report(mode, ok, err, now() - t0, lat);
        conn_close(&c);
    } else if (!strcmp(mode, "download")) {
        static struct conn c;
        if (conn_open(&c)) {
            fprintf(stderr, "bench-load: cannot open the tunnel\n");
            return 1;
        }
        t0 = now();
        long long b = conn_get(&c, 1);
        double secs = now() - t0;
        conn_close(&c);
        if (b < 0) {
            fprintf(stderr, "bench-load: download failed\n");
            return 1;
        }
        printf("mode=download\nbytes=%lld\nseconds=%.4f\nmbps=%.1f\n", b, secs, b / secs / 1e6);
    } else if (!strcmp(mode, "hold")) {
        struct conn *cs = calloc(nreq, sizeof *cs);
        for (long i = 0; i < nreq; i++)
            cs[i].fd = -1;
        if (parallel < 1)
            parallel = 1;
        if (parallel > nreq)
            parallel = nreq > 0 ? nreq : 1;
        struct hold_job *jobs = calloc(parallel, sizeof *jobs);
        pthread_t *tids = calloc(parallel, sizeof *tids);
        for (long t = 0; t < parallel; t++) {
            jobs[t] = (struct hold_job){.cs = cs, .first = t};
            if (pthread_create(&tids[t], NULL, hold_open, &jobs[t])) {
                fprintf(stderr, "bench-load: pthread_create failed\n");
                return 1;
            }
        }
        for (long t = 0; t < parallel; t++) {
            pthread_join(tids[t], NULL);
            ok += jobs[t].ok;
            err += jobs[t].err;
        }
        free(jobs);
        free(tids);
        printf("ready opened=%ld errors=%ld seconds=%.3f\n", ok, err, now() - t0);
        fflush(stdout);
        char b[256];
        while (read(0, b, sizeof b) > 0)
            ;
        for (long i = 0; i < nreq; i++)
            conn_close(&cs[i]);
        free(cs);
    } else {
        usage();
    }
    free(lat);
    SSL_CTX_free(ctx);
    return 0;
}
