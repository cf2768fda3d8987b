/* pump — one side of a connection: socket <-> optional memory-BIO TLS
 * session <-> plaintext. See include/pump.h. */
#include "pump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "busy.h"
#include "sockout.h"

/* Plaintext read from a TLS session is taken in pieces of this size: one
 * full TLS record. */
#define PUMP_PLAIN_CHUNK (16 * 1024)

/* Socket writes of up to this many bytes, not libevent's 16 KiB, and the
 * pump's reads after the first in pieces of this size: each system call
 * costs more in this kind of work than copying the bytes does. */
#define PUMP_MAX_SINGLE_IO (64 * 1024)

/* The pump reads its socket itself, on a read event of its own, rather
 * than through a bufferevent: libevent 2.1 asks the kernel how many
 * bytes are readable (an ioctl) before every read, and reads at most 4 KiB
 * per read event (EVBUFFER_MAX_READ; 2.2 made it settable), which cost a
 * bulk transfer an epoll_wait, an ioctl and a readv per 4 KiB and every
 * keep-alive request two ioctls. A read event here is one recv() when the
 * socket held less than PUMP_FIRST_READ, and goes on up to
 * PUMP_READ_BUDGET when it held more. In TLS mode the first read of an
 * idle side (see busy.h) lands on the stack and is copied into the
 * session's input queue (most reads are small, and a queue sized for the
 * largest read would stay with an idle connection); a busy side keeps its
 * queue anyway, and all its reads, like the following ones of an idle
 * side, go straight into the queue, saving that copy. */
#define PUMP_FIRST_READ (16 * 1024)
#define PUMP_READ_BUDGET (128 * 1024)

struct pump {
    evutil_socket_t fd;        /* ours: closed by pump_free */
    struct event *rev;         /* our reads (see PUMP_FIRST_READ) */
    sockout out;               /* our writes */
    tlsm *tls;                 /* NULL in raw mode */
    struct evbuffer *in;       /* input not yet consumed by the owner: the
                                  socket's bytes in raw mode, decrypted
                                  ones in TLS mode */
    const pump_callbacks *cbs;
    void *arg;
    bool handshake_reported;
    bool paused;               /* the client-hello callback asked to wait */
    bool ended;                /* on_end has been called */
    bool hold_output;          /* see pump_hold_output() */
    bool output_finished;      /* no more output: close_notify queued */
    bool shut_wanted;          /* pump_finish_output() was called */
    bool write_shut;           /* shutdown(SHUT_WR) done */
    bool reset_seen;           /* a direct send() or recv() was told
                                  ECONNRESET: the kernel reports that once,
                                  and later calls say EPIPE or EOF */
    busy busy;                 /* TLS: keep the buffers while busy */
    unsigned long long bytes_in, bytes_out;
};

static void end_side(pump *p, bool error, const char *reason)
{
    if (p->ended)
        return;
    p->ended = true;
    event_del(p->rev);
    p->cbs->on_end(p->arg, p, error, reason);
}

/* Move what the TLS session wants to send into the socket's output. */
static void drain_tls_output(pump *p)
{
    const void *data;
    size_t n;
    while ((n = tlsm_output_peek(p->tls, &data)) > 0) {
        if (sockout_send(&p->out, data, n) != 0) {
            end_side(p, true, "out of memory");
            return;
        }
        tlsm_output_consume(p->tls, n);
    }
}

static void maybe_shut_write(pump *p)
{
    if (!p->shut_wanted || p->write_shut || sockout_pending(&p->out) > 0)
        return;
    p->write_shut = true;
    shutdown(p->fd, SHUT_WR);
}

/* An evbuffer keeps a chunk reserved for bytes that never came, and
 * draining an empty evbuffer frees nothing: a TLS 1.3 server's tickets
 * (input, but no plaintext) left 16 KiB with every idle upstream side.
 * Draining a buffer to empty frees all its chunks, so one byte in and out
 * gives it back. */
static void release_empty(struct evbuffer *buf)
{
    if (evbuffer_get_length(buf) == 0 && evbuffer_add(buf, "", 1) == 0)
        evbuffer_drain(buf, 1);
}

static void release_empty(struct evbuffer *buf);

/* The side went idle: give the buffers back (see busy.h). */
static void went_idle(void *arg)
{
    pump *p = arg;
    tlsm_keep_buffers(p->tls, false);
    release_empty(p->in);
}

/* A message passed through the TLS session. */
static void note_message(pump *p, busy_dir dir)
{
    if (busy_note(&p->busy, p->out.base, dir, went_idle, p))
        tlsm_keep_buffers(p->tls, true);
}

/* Read every plaintext byte the session has and hand it to the owner.
 * The first record lands on the stack and is copied into p->in: most
 * messages are small, and reserving a record's room in p->in took a
 * 16 KiB chunk that the owner's drain freed again, a large malloc and free
 * per message. When more than a full record's ciphertext is waiting, or
 * the first record was large (a transfer), records are read straight into
 * reserved room, saving their copy; room reserved and left empty is given
 * back (release_empty). */
static void read_plaintext(pump *p)
{
    tlsm_status st = TLSM_WANT_INPUT;
    bool direct = tlsm_input_pending(p->tls) > PUMP_PLAIN_CHUNK, reserved = false;
    unsigned long long before = p->bytes_in;
    while (tlsm_has_input(p->tls)) {
        size_t n = 0;
        if (!direct) {
            char buf[PUMP_PLAIN_CHUNK];
            st = tlsm_read(p->tls, buf, sizeof buf, &n);
            if (n > 0 && evbuffer_add(p->in, buf, n) != 0) {
                end_side(p, true, "out of memory");
                return;
            }
            direct = n > PUMP_PLAIN_CHUNK / 4;
        } else {
            struct evbuffer_iovec iov;
            if (evbuffer_reserve_space(p->in, PUMP_PLAIN_CHUNK, &iov, 1) < 1) {
                end_side(p, true, "out of memory");
                return;
            }
            reserved = true;
            st = tlsm_read(p->tls, iov.iov_base, iov.iov_len, &n);
            iov.iov_len = n;
            evbuffer_commit_space(p->in, &iov, 1);
        }
        if (!p->hold_output || st == TLSM_ERROR)
            drain_tls_output(p); /* key updates, tickets, alerts */
        if (st != TLSM_OK)
            break;
        p->bytes_in += n;
    }
    if (p->bytes_in != before)
        note_message(p, BUSY_IN);
    if (evbuffer_get_length(p->in) > 0)
        p->cbs->on_data(p->arg, p, p->in);
    else if (reserved)
        release_empty(p->in);
    if (st == TLSM_CLOSED)
        end_side(p, false, "closed");
    else if (st == TLSM_ERROR)
        end_side(p, true, tlsm_reason(p->tls));
}

/* Advance the TLS session as far as the input allows. */
static void tls_step(pump *p)
{
    if (p->ended || p->paused)
        return;
    if (!tlsm_handshake_done(p->tls)) {
        tlsm_status st = tlsm_handshake(p->tls);
        /* Held: what the session wrote as its handshake completed. */
        if (!p->hold_output || st != TLSM_OK)
            drain_tls_output(p); /* send alerts too: the peer must see them */
        if (p->ended)
            return;
        if (st == TLSM_PAUSED) {
            p->paused = true;
            if (p->cbs->on_paused)
                p->cbs->on_paused(p->arg, p);
            return;
        }
        if (st == TLSM_ERROR) {
            end_side(p, true, tlsm_reason(p->tls));
            return;
        }
        if (st != TLSM_OK)
            return;
    }
    if (!p->handshake_reported) {
        p->handshake_reported = true;
        p->cbs->on_handshake(p->arg, p);
        if (p->ended)
            return;
    }
    read_plaintext(p);
}

/* Switching to TLS: the bytes read and not consumed in raw mode are the
 * first ciphertext. */
static void feed_input(pump *p)
{
    struct evbuffer *in = p->in;
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;
    /* evbuffer_pullup would copy the whole buffer; feed chunk by chunk. */
    struct evbuffer_iovec vec[8];
    while ((len = evbuffer_get_length(in)) > 0) {
        int n = evbuffer_peek(in, -1, NULL, vec, 8);
        if (n > 8)
            n = 8;
        size_t fed = 0;
        for (int i = 0; i < n; i++) {
            if (tlsm_feed(p->tls, vec[i].iov_base, vec[i].iov_len) != 0) {
                evbuffer_drain(in, fed);
                end_side(p, true, "out of memory");
                return;
            }
            fed += vec[i].iov_len;
        }
        evbuffer_drain(in, fed);
    }
}

/* Read up to want bytes from the socket into the input buffer (raw
 * mode). Returns what recv() returned (-1 also when out of memory); a
 * reset is remembered, since the kernel reports it only once. */
static ssize_t recv_into_input(pump *p, size_t want)
{
    struct evbuffer_iovec iov;
    ssize_t got = -1;
    errno = ENOMEM; /* unless recv() says otherwise */
    if (evbuffer_reserve_space(p->in, (ev_ssize_t)want, &iov, 1) == 1) {
        if (iov.iov_len > want)
            iov.iov_len = want;
        got = recv(p->fd, iov.iov_base, iov.iov_len, MSG_DONTWAIT);
        if (got > 0) {
            iov.iov_len = (size_t)got;
            evbuffer_commit_space(p->in, &iov, 1);
        } else if (got < 0 && errno == ECONNRESET) {
            p->reset_seen = true;
        }
    }
    return got;
}

/* The same straight into the TLS session's input queue. */
static ssize_t recv_into_tls(pump *p, size_t want)
{
    void *tail = tlsm_feed_reserve(p->tls, want);
    if (!tail) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t n = recv(p->fd, tail, want, MSG_DONTWAIT);
    if (n > 0)
        tlsm_feed_commit(p->tls, (size_t)n);
    else if (n < 0 && errno == ECONNRESET)
        p->reset_seen = true;
    return n;
}

/* A write failed (the peer reset or closed): what the peer said before
 * going, an alert most often, may still wait unread in the socket, and it
 * explains the failure better than "Broken pipe". Read it (last words are
 * short: PUMP_READ_BUDGET at most) and let the TLS session report it.
 * True when that ended this side; a reset met on the way is in
 * p->reset_seen. */
static bool read_last_words(pump *p)
{
    ssize_t got = -1;
    for (int i = 0; i < PUMP_READ_BUDGET / PUMP_MAX_SINGLE_IO; i++)
        if ((got = recv_into_tls(p, PUMP_MAX_SINGLE_IO)) <= 0)
            break;
    if (!p->ended)
        tls_step(p);
    if (p->ended || got != 0)
        return p->ended;
    /* The peer closed cleanly: the session tells close_notify from
     * truncation. */
    tlsm_feed_eof(p->tls);
    tls_step(p);
    return p->ended;
}

typedef enum { READ_AGAIN, READ_EOF, READ_ERROR } read_end;

/* Read what the socket holds now, up to PUMP_READ_BUDGET, into the TLS
 * session's input or, in raw mode, the input buffer; *got counts the
 * bytes. Returns how reading stopped: READ_AGAIN (nothing more for now, or
 * the budget is spent), READ_EOF, or READ_ERROR with *err an errno value
 * (a reset is also remembered: the kernel reports it once). */
static read_end read_socket(pump *p, size_t *got, int *err)
{
    size_t budget = PUMP_READ_BUDGET;
    *got = 0;
    for (bool first = true; budget > 0; first = false) {
        size_t want = first ? PUMP_FIRST_READ
                            : budget < PUMP_MAX_SINGLE_IO ? budget : PUMP_MAX_SINGLE_IO;
        ssize_t n;
        if (!p->tls) {
            n = recv_into_input(p, want);
        } else if (first && !busy_now(&p->busy)) {
            char buf[PUMP_FIRST_READ];
            n = recv(p->fd, buf, want, MSG_DONTWAIT);
            if (n > 0 && tlsm_feed(p->tls, buf, (size_t)n) != 0) {
                *err = ENOMEM;
                return READ_ERROR;
            }
        } else {
            n = recv_into_tls(p, want);
        }
        if (n == 0)
            return READ_EOF;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return READ_AGAIN;
            if (errno == ECONNRESET)
                p->reset_seen = true;
            *err = errno;
            return READ_ERROR;
        }
        *got += (size_t)n;
        /* A short read emptied the socket: asking again would only cost a
         * recv() that says EAGAIN. */
        if ((size_t)n < want)
            return READ_AGAIN;
        budget -= (size_t)n;
    }
    return READ_AGAIN;
}

static void side_event(pump *p, short what, int err);

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    pump *p = arg;
    if (p->ended)
        return;
    size_t got = 0;
    int err = 0;
    read_end end = read_socket(p, &got, &err);
    if (got > 0 && !p->tls) {
        size_t before = evbuffer_get_length(p->in);
        p->cbs->on_data(p->arg, p, p->in);
        /* Count what the owner consumed; the rest is counted when it is. */
        if (!p->tls)
            p->bytes_in += before - evbuffer_get_length(p->in);
    } else if (got > 0) {
        tls_step(p);
    }
    if (!p->ended && end != READ_AGAIN)
        side_event(p, BEV_EVENT_READING | (end == READ_EOF ? BEV_EVENT_EOF : BEV_EVENT_ERROR),
                   err);
}

static void written(void *arg)
{
    pump *p = arg;
    maybe_shut_write(p);
    p->cbs->on_drained(p->arg, p);
}

/* The side's socket reached its end (EOF) or failed (err: errno), as our
 * read or write found. */
static void side_event(pump *p, short what, int err)
{
    if (p->ended)
        return;
    /* A read took the reset; a later one sees an EOF. */
    if ((what & BEV_EVENT_EOF) && (p->reset_seen || p->out.reset_seen))
        what = BEV_EVENT_ERROR | BEV_EVENT_READING;
    if (what & BEV_EVENT_EOF) {
        if (!p->tls) {
            end_side(p, false, "closed");
            return;
        }
        tlsm_feed_eof(p->tls);
        tls_step(p);
        if (!p->ended) /* EOF mid-handshake with nothing to read */
            end_side(p, true, "connection closed during the TLS handshake");
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if (p->tls && (what & BEV_EVENT_WRITING) && read_last_words(p))
            return;
        if (p->reset_seen || p->out.reset_seen)
            err = ECONNRESET;
        end_side(p, true, err == ECONNRESET ? "connection reset by peer"
                          : err ? evutil_socket_error_to_string(err)
                                : "connection error");
    }
}

static void write_failed(void *arg, int err)
{
    side_event(arg, BEV_EVENT_WRITING | BEV_EVENT_ERROR, err);
}

pump *pump_new(struct bufferevent *bev, const pump_callbacks *cbs, void *arg)
{
    pump *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    struct event_base *base = bufferevent_get_base(bev);
    evutil_socket_t fd = bufferevent_getfd(bev);
    struct evbuffer *bin = bufferevent_get_input(bev), *bout = bufferevent_get_output(bev);
    p->in = evbuffer_new();
    p->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, p);
    p->out = (sockout){.fd = fd, .base = base, .low = PUMP_LOW_WATERMARK,
                       .max_write = PUMP_MAX_SINGLE_IO, .on_written = written,
                       .on_error = write_failed, .arg = p};
    /* What the bufferevent read or was asked to write (a parent proxy's
     * exchange) is ours now; a socket bufferevent's output is frozen at
     * its start outside its own writes. */
    evbuffer_unfreeze(bout, 1);
    if (!p->in || !p->rev || event_add(p->rev, NULL) != 0 ||
        evbuffer_add_buffer(p->in, bin) != 0 || sockout_send_buffer(&p->out, bout) != 0) {
        if (p->rev)
            event_free(p->rev);
        if (p->in)
            evbuffer_free(p->in);
        sockout_free(&p->out);
        free(p);
        return NULL;
    }
    /* The socket is the pump's from now on: the bufferevent lets it go
     * (no fd, so freeing it closes nothing). */
    bufferevent_setfd(bev, -1);
    bufferevent_free(bev);
    p->fd = fd;
    p->cbs = cbs;
    p->arg = arg;
    return p;
}

void pump_free(pump *p)
{
    if (!p)
        return;
    event_free(p->rev);
    sockout_free(&p->out);
    busy_reset(&p->busy);
    evutil_closesocket(p->fd);
    tlsm_free(p->tls);
    evbuffer_free(p->in);
    free(p);
}

void pump_start_tls(pump *p, tlsm *t)
{
    p->tls = t;
    feed_input(p);
    tls_step(p);
}

tlsm *pump_tls(pump *p)
{
    return p->tls;
}

void pump_resume_handshake(pump *p)
{
    p->paused = false;
    tls_step(p);
}

int pump_send(pump *p, const void *data, size_t len)
{
    p->hold_output = false;
    if (p->output_finished)
        return -1;
    p->bytes_out += len;
    if (!p->tls)
        return sockout_send(&p->out, data, len);
    size_t n = 0;
    note_message(p, BUSY_OUT);
    tlsm_status st = tlsm_write(p->tls, data, len, &n);
    drain_tls_output(p);
    return st == TLSM_OK ? 0 : -1;
}

int pump_send_buffer(pump *p, struct evbuffer *buf)
{
    p->hold_output = false;
    if (p->output_finished)
        return -1;
    if (!p->tls) {
        p->bytes_out += evbuffer_get_length(buf);
        return sockout_send_buffer(&p->out, buf);
    }
    struct evbuffer_iovec vec[16];
    if (evbuffer_get_length(buf) > 0)
        note_message(p, BUSY_OUT);
    while (evbuffer_get_length(buf) > 0) {
        int n = evbuffer_peek(buf, -1, NULL, vec, 16);
        if (n > 16)
            n = 16;
        size_t sent = 0;
        for (int i = 0; i < n; i++) {
            size_t w = 0;
            if (tlsm_write(p->tls, vec[i].iov_base, vec[i].iov_len, &w) != TLSM_OK) {
                evbuffer_drain(buf, sent);
                drain_tls_output(p);
                return -1;
            }
            sent += vec[i].iov_len;
        }
        p->bytes_out += sent;
        evbuffer_drain(buf, sent);
    }
    drain_tls_output(p);
    return 0;
}

void pump_finish_output_for_close(pump *p)
{
    p->hold_output = false;
    if (p->output_finished)
        return;
    p->output_finished = true;
    if (p->tls && tlsm_handshake_done(p->tls)) {
        tlsm_shutdown(p->tls);
        drain_tls_output(p);
    }
}

void pump_finish_output(pump *p)
{
    pump_finish_output_for_close(p);
    p->shut_wanted = true;
    maybe_shut_write(p);
}

void pump_set_reading(pump *p, bool on)
{
    if (p->ended)
        return;
    if (on)
        event_add(p->rev, NULL);
    else
        event_del(p->rev);
}

void pump_read_soon(pump *p)
{
    if (!p->ended)
        event_active(p->rev, EV_READ, 1);
}

void pump_hold_output(pump *p)
{
    p->hold_output = true;
}

struct evbuffer *pump_input(pump *p)
{
    return p->in;
}

size_t pump_output_pending(pump *p)
{
    return sockout_pending(&p->out);
}

unsigned long long pump_bytes_in(const pump *p)
{
    return p->bytes_in;
}

unsigned long long pump_bytes_out(const pump *p)
{
    return p->bytes_out;
}

bool pump_ended(const pump *p)
{
    return p->ended;
}
