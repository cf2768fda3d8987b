/* conn_tls — interception of a CONNECT tunnel: the client's handshake
 * pauses at its ClientHello, the upstream handshake runs with the same
 * name, the leaf is chosen (cached or minted) and the client's handshake
 * resumes; then the decrypted bytes are relayed through the tap. When the
 * upstream failed, the client still completes its handshake and its first
 * request is answered with the reason. */
#include "conn_priv.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "log.h"

static void hello_paused(conn *c);
static void upstream_ready(conn *c);
static void upstream_failed(conn *c, bool error, const char *reason);
static void client_failed(conn *c, bool error, const char *reason);
static void handshake_timeout(conn *c);
static void client_handshake_done(conn *c);
static void refuse_client_data(conn *c, struct evbuffer *in);
static void refuse_timeout(conn *c);
static void relay_upstream_end(conn *c, bool error, const char *reason);
static void upstream_end_early(conn *c, bool error, const char *reason);

/* The client's hello is paused; the upstream handshake is under way. */
static const conn_phase hello_phase = {
    .name = "client-hello",
    .client_paused = hello_paused,
    .upstream_handshake = upstream_ready,
    .upstream_end = upstream_failed,
    .client_end = client_failed,
    .timeout = handshake_timeout,
};

/* The upstream is done, but the key the client's leaf needs (RSA, for a
 * client that accepts only RSA signatures) is still being made in the
 * background, in a run's first moments: this handshake waits for it, the
 * worker goes on with the others (key_ready). */
static const conn_phase key_wait_phase = {
    .name = "leaf-key-wait",
    .upstream_end = upstream_end_early,
    .client_end = client_failed,
    .timeout = handshake_timeout,
};

/* The leaf is chosen: the client's handshake finishes. */
static const conn_phase client_handshake_phase = {
    .name = "client-handshake",
    .client_handshake = client_handshake_done,
    .upstream_end = upstream_end_early,
    .client_end = client_failed,
    .timeout = handshake_timeout,
};

/* The upstream failed: the client's first request gets the reason. */
static const conn_phase refuse_phase = {
    .name = "tls-refuse",
    .client_data = refuse_client_data,
    .timeout = refuse_timeout,
};

/* Intercepted: the decrypted bytes are relayed through the tap. */
static const conn_phase intercepted_phase = {
    .name = "tls-relay",
    .client_data = conn_relay_client_data,
    .upstream_data = conn_relay_upstream_data,
    .client_end = conn_relay_client_end,
    .upstream_end = relay_upstream_end,
    .drained = conn_relay_drained,
};

void conn_tls_start(conn *c)
{
    tlsm *t = intercept_client_session(c->env->tls);
    if (!t) {
        conn_close(c, "cannot create a TLS session");
        return;
    }
    if (!conn_set_phase(c, &hello_phase)) {
        tlsm_free(t);
        return;
    }
    conn_arm_timer(c, c->env->handshake_timeout);
    pump_start_tls(c->client, t);
    /* Until the hello is read the server is not listened to. Paused only
     * now, when the whole hello did not come at once (hello_paused ran and
     * started the upstream's TLS): pausing it before and resuming it
     * within the same loop iteration cost an epoll_ctl(). */
    if (!c->closing && c->upstream && !pump_tls(c->upstream))
        pump_set_reading(c->upstream, false);
}

/* The client's hello has been read: start the upstream handshake with
 * the same name. */
static void hello_paused(conn *c)
{
    if (pump_tls(c->upstream))
        return;
    const char *sni = intercept_client_sni(pump_tls(c->client));
    if (sni)
        conn_set_text(&c->sni, sni);
    authority verify_as = c->target;
    const char *send_sni = NULL;
    if (c->sni && authority_name_is_certifiable(c->sni)) {
        snprintf(verify_as.host, sizeof verify_as.host, "%s", c->sni);
        verify_as.kind = AUTHORITY_NAME;
        send_sni = c->sni;
    } else if (c->target.kind == AUTHORITY_NAME) {
        send_sni = c->target.host; /* never an IP literal */
    }
    tlsm *t = intercept_upstream_session(c->env->tls, send_sni, &verify_as,
                                         c->upstream_peer);
    if (!t || intercept_mirror_alpn(t, pump_tls(c->client)) != 0) {
        tlsm_free(t);
        conn_close(c, "cannot create the upstream TLS session");
        return;
    }
    pump_set_reading(c->upstream, true);
    pump_start_tls(c->upstream, t);
}

/* The name the client asked for: its SNI when usable, else the CONNECT
 * host (possibly an IP literal). */
static const char *requested_name(const conn *c)
{
    if (c->sni && authority_name_is_certifiable(c->sni))
        return c->sni;
    return c->target.host;
}

/* From the background thread making the key: wake the connection on its
 * own worker (libevent is thread-aware, see proxy.c). */
static void key_made(void *arg)
{
    conn *c = arg;
    event_active(c->tls.key_ev, EV_TIMEOUT, 0);
}

static void resume_client(conn *c);

static void key_ready(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (c->closing || c->phase != &key_wait_phase)
        return;
    struct timeval now, waited;
    gettimeofday(&now, NULL);
    timersub(&now, &c->tls.key_wait_started, &waited);
    log_debug("%s CONNECT %s: the handshake waited %.1f ms for the leaf key", c->client_name,
              c->target_name, (double)waited.tv_sec * 1e3 + (double)waited.tv_usec / 1e3);
    resume_client(c);
}

/* Is the client's leaf key still being made? Then the connection waits
 * for it in key_wait_phase (true); false: go on. */
static bool wait_for_key(conn *c)
{
    tlsm *client = pump_tls(c->client);
    if (intercept_leaf_key_ready(c->env->tls, client))
        return false;
    /* The event exists before the registration: key_made may run at once. */
    if (!c->tls.key_ev && !(c->tls.key_ev = event_new(c->env->base, -1, 0, key_ready, c)))
        return false; /* intercept_set_leaf waits for the key instead */
    if (!intercept_wait_leaf_key(c->env->tls, client, key_made, c))
        return false;
    gettimeofday(&c->tls.key_wait_started, NULL);
    log_debug("%s CONNECT %s: the leaf key is still being made; the handshake waits for it",
              c->client_name, c->target_name);
    /* On failure the connection is closing: the registration goes with it
     * (conn_free). A deadline again: the one that led here (a refused
     * upstream's timeout) may have passed. */
    if (conn_set_phase(c, &key_wait_phase))
        conn_arm_timer(c, c->env->handshake_timeout);
    return true;
}

static void resume_client(conn *c)
{
    if (wait_for_key(c))
        return;
    tlsm *upstream = c->upstream ? pump_tls(c->upstream) : NULL;
    if (intercept_set_leaf(c->env->tls, pump_tls(c->client), requested_name(c),
                           upstream, &c->tls.leaf_from_cache) != 0) {
        conn_close(c, "cannot make a certificate for this host");
        return;
    }
    if (!conn_set_phase(c, &client_handshake_phase))
        return;
    conn_arm_timer(c, c->env->handshake_timeout);
    pump_resume_handshake(c->client);
    /* Our flight is out (in TLS 1.3 the server's last): the ticket OpenSSL
     * makes when the client's Finished comes goes out with the first
     * answer, one send() and one segment per connection fewer. */
    if (!c->closing && c->phase == &client_handshake_phase &&
        intercept_is_tls13(pump_tls(c->client)))
        pump_hold_output(c->client);
}

static void upstream_ready(conn *c)
{
    /* The server stays readable: plaintext it sends early waits until the
     * client is ready (the first of it pauses the server, see
     * upstream_on_data), its tickets are taken as they come, and its end
     * waits too (upstream_end_early). Pausing it here and resuming it once
     * relaying cost two epoll_ctl() calls per connection. */
    resume_client(c);
}

/* The server ended while the client's handshake goes on (a TLS 1.3
 * server refusing us after the handshake, when it wants a client
 * certificate; a server that sends and closes): the relay hears of it
 * once it starts, so that the client gets the answer it would have had. */
static void upstream_end_early(conn *c, bool error, const char *reason)
{
    c->tls.upstream_ended_early = true;
    c->tls.early_end_error = error;
    conn_set_text(&c->tls.early_end_reason, reason);
}

static void refuse(conn *c, int status, const char *reason)
{
    c->tls.refuse_status = status;
    conn_set_text(&c->tls.refuse_reason, reason);
    /* No line yet: the answer's record is it (or the close's, when the
     * client never asks). */
    if (conn_retire_upstream(c) != 0)
        return;
    /* The client still gets a working handshake, so that it can read the
     * reason as an HTTP answer instead of an opaque TLS alert. */
    resume_client(c);
}

static void upstream_failed(conn *c, bool error, const char *reason)
{
    static const char verify_prefix[] = "certificate verify failed: ";
    char msg[CONN_TEXT_MAX];
    if (strncmp(reason, verify_prefix, sizeof verify_prefix - 1) == 0)
        snprintf(msg, sizeof msg, "upstream certificate for %s failed verification: %s",
                 c->target_name, reason + sizeof verify_prefix - 1);
    else
        snprintf(msg, sizeof msg, "TLS handshake with %s failed: %s", c->target_name,
                 reason);
    refuse(c, 502, msg);
}

/* --auto-passthrough: a client that turned down the certificate we showed
 * it sends the next tunnels to this host:port through untouched. */
static void note_rejection(conn *c)
{
    const tlsm *t = c->client ? pump_tls(c->client) : NULL;
    if (!c->env->autopass || c->phase != &client_handshake_phase || !t)
        return;
    const char *rejection =
        autopass_rejection(tlsm_peer_alert(t), tlsm_peer_quit_handshake(t));
    if (!rejection)
        return;
    const char *host = requested_name(c);
    if (autopass_add(c->env->autopass, host, c->target.port, rejection,
                     autopass_clock()) == 1)
        log_notice("%s CONNECT %s: the client rejected the certificate (%s); "
                   "tunnels to %s:%u now pass through untouched for %d s "
                   "(--auto-passthrough)", c->client_name, c->target_name, rejection,
                   host, (unsigned)c->target.port, c->env->passthrough_ttl);
}

static void client_failed(conn *c, bool error, const char *reason)
{
    char why[600];
    /* We refused it for ALPN: the client turned nothing down. */
    const char *refusal = intercept_alpn_refusal(pump_tls(c->client));
    if (refusal) {
        snprintf(why, sizeof why, "client TLS handshake refused: %s", refusal);
    } else {
        note_rejection(c);
        snprintf(why, sizeof why, "client TLS handshake failed: %s", reason);
    }
    log_info("%s CONNECT %s %s", c->client_name, c->target_name, why);
    conn_close(c, why);
}

static void handshake_timeout(conn *c)
{
    char msg[CONN_TEXT_MAX];
    /* The upstream handshake starts once the client's hello is read. */
    bool upstream_started = c->upstream && pump_tls(c->upstream);
    if (c->phase == &hello_phase && upstream_started) {
        snprintf(msg, sizeof msg, "TLS handshake with %s timed out after %d s",
                 c->target_name, c->env->handshake_timeout);
        refuse(c, 504, msg);
        return;
    }
    conn_close(c, c->phase == &client_handshake_phase ? "client TLS handshake timed out"
                  : c->phase == &key_wait_phase
                      ? "the RSA leaf key was not made in time for this client"
                      : "client sent no complete TLS hello in time");
}

static void client_handshake_done(conn *c)
{
    free(c->tls.client_leg);
    c->tls.client_leg = intercept_describe(pump_tls(c->client));
    intercept_client_settled(pump_tls(c->client));
    if (c->tls.refuse_status) {
        if (!conn_set_phase(c, &refuse_phase))
            return;
        /* The client's request is due now, not after --idle-timeout. */
        conn_arm_timer(c, c->env->head_timeout);
        c->requests = http_msg_parser_new(HTTP_MSG_REQUEST, c->env->max_head_bytes);
        if (!c->requests)
            conn_close(c, "out of memory");
        return;
    }
    free(c->tls.upstream_leg);
    c->tls.upstream_leg = intercept_describe(pump_tls(c->upstream));
    const flow_tls *leg = c->tls.client_leg;
    log_info("%s CONNECT %s intercepted %s (cert %s)", c->client_name,
             c->target_name, leg ? leg->version : "TLS",
             c->tls.leaf_from_cache ? "cached" : "minted");
    conn_tap_start(c, "https", leg ? leg->alpn : NULL);
    conn_start_relay(c, &intercepted_phase);
    if (c->tls.upstream_ended_early && !c->closing)
        relay_upstream_end(c, c->tls.early_end_error,
                           c->tls.early_end_reason ? c->tls.early_end_reason : "closed");
}

static void refuse_client_data(conn *c, struct evbuffer *plain)
{
    size_t consumed = 0;
    http_msg_event ev = conn_feed(c->requests, plain, &consumed);
    evbuffer_drain(plain, evbuffer_get_length(plain));
    if (ev == HTTP_MSG_NEED_MORE)
        return;
    /* Whatever the client sent, it gets the reason and nothing else; the
     * answer is recorded like any exchange. */
    const char *why = c->tls.refuse_reason ? c->tls.refuse_reason : "upstream failed";
    conn_fail(c, c->tls.refuse_status, why);
}

static void refuse_timeout(conn *c)
{
    char why[CONN_TEXT_MAX + 64];
    snprintf(why, sizeof why, "no request in time after the upstream failed: %s",
             c->tls.refuse_reason ? c->tls.refuse_reason : "no reason kept");
    conn_close(c, why);
}

/* The server went away while the client still waits for an answer: the
 * client gets a 502 saying so, recorded as the proxy's answer. In TLS 1.3
 * the server may even refuse the handshake after ours is done (a client
 * certificate it requires): nothing of its has reached the client then. A
 * client that has closed itself is sent nothing. */
static void relay_upstream_end(conn *c, bool error, const char *reason)
{
    bool refused = error && pump_bytes_in(c->upstream) == 0 &&
                   tlsm_peer_alert(pump_tls(c->upstream)) >= 0;
    if (!c->client_ended && (refused || conn_tap_awaiting_response(c))) {
        char why[600];
        if (refused)
            snprintf(why, sizeof why, "TLS handshake with %s failed: %s",
                     c->target_name, reason);
        else
            snprintf(why, sizeof why, "%s closed the connection before answering%s%s",
                     c->target_name, error ? ": " : "", error ? reason : "");
        conn_fail(c, 502, why);
        return;
    }
    conn_relay_side_ended(c, false, error, reason);
}
