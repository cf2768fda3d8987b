/* conn_tunnel — a CONNECT: connect upstream, answer 200, then look at
 * the tunnel's first bytes: a TLS ClientHello is intercepted (conn_tls.c)
 * unless --ignore-hosts names the host (by the CONNECT name, or by the
 * hello's SNI when the CONNECT names an address); anything else, or a
 * server that speaks first, is relayed raw. */
#include "conn_priv.h"

#include <stdio.h>
#include <string.h>

#include "clienthello.h"
#include "front.h"
#include "log.h"

static void peek_client_data(conn *c, struct evbuffer *in);
static void peek_upstream_data(conn *c, struct evbuffer *in);

static const conn_phase peek_phase = {
    .name = "tunnel-peek",
    .client_data = peek_client_data,
    .upstream_data = peek_upstream_data,
    /* Browsers open tunnels ahead of need: the idle timeout applies. */
};

static void relay_raw(conn *c, const char *why)
{
    log_info("%s CONNECT %s %s", c->client_name, c->target_name, why);
    conn_start_relay(c, &conn_relay_phase);
}

/* Relay a tunnel untouched on purpose; its record says why. */
static void pass_through(conn *c, const char *why)
{
    char line[CONN_TEXT_MAX + 16];
    snprintf(line, sizeof line, "passthrough (%s)", why);
    conn_set_text(&c->passthrough_reason, why);
    relay_raw(c, line);
}

static bool ignored(const conn *c, const char *host)
{
    return c->env->ignore_hosts &&
           regexec(c->env->ignore_hosts, host, 0, NULL, 0) == 0;
}

/* With --auto-passthrough, is host listed? why gets the reason. */
static bool auto_passed(const conn *c, const char *host, char *why, size_t size)
{
    char reason[AUTOPASS_REASON_MAX];
    if (!c->env->autopass || !autopass_check(c->env->autopass, host, c->target.port,
                                             autopass_clock(), reason, sizeof reason))
        return false;
    snprintf(why, size, "--auto-passthrough: a client rejected the certificate, %s",
             reason);
    return true;
}

/* The tunnel's first bytes decide. Returns without deciding while a
 * ClientHello that the decision needs is still incomplete. */
static void peek_client_data(conn *c, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    unsigned char first;
    if (evbuffer_copyout(in, &first, 1) != 1)
        return;
    /* Pinned apps reject any certificate but the origin's own: the user
     * names their hosts, and their tunnels pass through untouched. */
    if (ignored(c, c->target.host)) {
        pass_through(c, "--ignore-hosts");
        return;
    }
    /* 0x16: a TLS handshake record. Anything else is not ours to read. */
    if (first != 0x16) {
        relay_raw(c, "relayed (not TLS)");
        return;
    }
    /* A CONNECT to an address says nothing --ignore-hosts can match, and
     * --auto-passthrough keyed the host by name: the SNI in the hello
     * names it. Read before any TLS object exists, so that a passthrough
     * replays the hello untouched. */
    const char *host = c->target.host;
    clienthello_info hello;
    if ((c->env->ignore_hosts || c->env->autopass) && c->target.kind != AUTHORITY_NAME) {
        size_t n = len < CLIENTHELLO_MAX_WIRE ? len : CLIENTHELLO_MAX_WIRE;
        clienthello_status st =
            clienthello_parse(evbuffer_pullup(in, (ssize_t)n), n, &hello);
        if (st == CLIENTHELLO_INCOMPLETE && n < CLIENTHELLO_MAX_WIRE)
            return; /* wait for the rest of the hello */
        if (st == CLIENTHELLO_OK && hello.sni_kind == CLIENTHELLO_SNI_NAME) {
            host = hello.sni;
            if (ignored(c, host)) {
                conn_set_text(&c->sni, host);
                pass_through(c, "--ignore-hosts, by SNI");
                return;
            }
        }
    }
    char why[CONN_TEXT_MAX];
    if (auto_passed(c, host, why, sizeof why)) {
        if (host != c->target.host)
            conn_set_text(&c->sni, host);
        pass_through(c, why);
        return;
    }
    conn_tls_start(c);
}

/* The server speaks first: this is no TLS tunnel. */
static void peek_upstream_data(conn *c, struct evbuffer *in)
{
    relay_raw(c, "relayed (not TLS)");
}

static void tunnel_connected(conn *c)
{
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        conn_close(c, "out of memory");
        return;
    }
    front_write_connect_ok(out);
    conn_send_client(c, out);
    evbuffer_free(out);
    c->tunnel_base_in = pump_bytes_in(c->client);
    c->tunnel_base_out = pump_bytes_out(c->client);
    if (!conn_set_phase(c, &peek_phase))
        return;
    conn_touch(c);
    conn_arm_timer(c, c->env->idle_timeout);
    pump_set_reading(c->client, true);
    pump_set_reading(c->upstream, true);
    /* The client may have sent its first tunnel bytes with the CONNECT. */
    if (evbuffer_get_length(pump_input(c->client)) > 0)
        peek_client_data(c, pump_input(c->client));
}

void conn_tunnel_start(conn *c, const http_head *head)
{
    const char *reason = NULL;
    if (authority_parse(head->target, strlen(head->target), 0, &c->target,
                        &reason) != 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "bad CONNECT target \"%.200s\": %s", head->target,
                 reason);
        conn_fail(c, 400, msg);
        return;
    }
    if (conn_name_target(c) != 0) {
        conn_fail(c, 500, "out of memory");
        return;
    }
    /* From here on the client's bytes belong to the tunnel. */
    http_msg_parser_free(c->requests);
    c->requests = NULL;
    conn_connect(c, "CONNECT", tunnel_connected);
}
