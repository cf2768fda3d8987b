/* conn_tap — the read-only exchange tap of a connection: feeds http_flow
 * with the plaintext going each way, and turns each exchange it reports
 * into a flow_record for the outputs, adding what only the connection
 * knows (addresses, TLS parameters). */
#include "conn_priv.h"

#include <stdio.h>
#include <string.h>

#include "clientcert.h"
#include "log.h"

static void describe_tls(SSL *ssl, const char *sni, flow_tls *out,
                         char *alpn_buf, size_t alpn_size)
{
    const unsigned char *alpn = NULL;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    snprintf(alpn_buf, alpn_size, "%.*s", (int)alpn_len, (const char *)alpn);
    out->version = SSL_get_version(ssl);
    out->cipher = SSL_get_cipher_name(ssl);
    out->sni = sni && sni[0] ? sni : NULL;
    out->alpn = alpn_len ? alpn_buf : NULL;
}

static void on_exchange(void *arg, const http_exchange *ex)
{
    conn *c = arg;
    if (ex->upgraded)
        c->websocket_open = true;
    if (!c->env->out)
        return;
    char url[2048];
    const char *target = ex->request->target ? ex->request->target : "";
    if (target[0] == '/')
        snprintf(url, sizeof url, "%s://%s%s", c->flow_scheme, c->target_name, target);
    else
        snprintf(url, sizeof url, "%s", target);
    flow_record r = {
        .id = ex->id,
        .phase = ex->error ? FLOW_ERROR : FLOW_DONE,
        .start = ex->start,
        .request_end = ex->request_end,
        .response_start = ex->response_start,
        .end = ex->end,
        .client = c->client_name,
        .upstream = c->upstream_peer,
        .url = url,
        .method = ex->request->method,
        .http_major = ex->request->version_major,
        .http_minor = ex->request->version_minor,
        .status = ex->response ? ex->response->status : 0,
        .reason = ex->response ? ex->response->reason : NULL,
        .request_headers = ex->request->headers,
        .n_request_headers = ex->request->n_headers,
        .response_headers = ex->response ? ex->response->headers : NULL,
        .n_response_headers = ex->response ? ex->response->n_headers : 0,
        .request_bytes = ex->request_bytes,
        .response_bytes = ex->response_bytes,
        .websocket = ex->upgraded,
        .error = ex->error,
    };
    char client_alpn[256], upstream_alpn[256];
    flow_tls client_leg = {0}, upstream_leg = {0};
    tlsm *client_tls = c->client ? pump_tls(c->client) : NULL;
    tlsm *upstream_tls = c->upstream ? pump_tls(c->upstream) : NULL;
    if (client_tls) {
        describe_tls(tlsm_get0_ssl(client_tls), c->sni, &client_leg, client_alpn,
                     sizeof client_alpn);
        r.client_tls = &client_leg;
        if (upstream_tls) {
            SSL *ssl = tlsm_get0_ssl(upstream_tls);
            describe_tls(ssl, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name),
                         &upstream_leg, upstream_alpn, sizeof upstream_alpn);
            upstream_leg.client_cert = clientcert_sent(ssl);
            r.upstream_tls = &upstream_leg;
        }
    }
    flowout_exchange(c->env->out, &r);
}

static void count_websocket(conn *c, bool from_client, struct evbuffer *data)
{
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(data, &pos, 0, EVBUFFER_PTR_SET);
    struct evbuffer_iovec v;
    size_t seen = 0;
    while (evbuffer_peek(data, -1, &pos, &v, 1) == 1 && v.iov_len > 0) {
        wsframes_feed(from_client ? &c->ws_up : &c->ws_down, v.iov_base, v.iov_len);
        seen += v.iov_len;
        if (evbuffer_ptr_set(data, &pos, seen, EVBUFFER_PTR_SET) != 0)
            break;
    }
}

static void on_body(void *arg, unsigned long long id, bool request,
                    const char *data, size_t len)
{
    conn *c = arg;
    if (c->env->out)
        flowout_body(c->env->out, id, request, data, len);
}

static const http_flow_callbacks tap_callbacks = {on_exchange, on_body};

void conn_tap_start(conn *c, const char *scheme)
{
    if (c->flow)
        return;
    c->flow_scheme = scheme;
    c->flow = http_flow_new(c->env->max_head_bytes, c->env->next_exchange_id,
                            &tap_callbacks, c);
}

static void check_stopped(conn *c)
{
    const char *why = NULL;
    if (!http_flow_stopped(c->flow, &why))
        return;
    if (strcmp(why, "upgraded to websocket") != 0)
        log_info("%s %s: HTTP inspection stopped (%s); relaying bytes as they are",
                 c->client_name, c->target_name, why);
    http_flow_free(c->flow);
    c->flow = NULL;
}

void conn_tap_bytes(conn *c, bool from_client, const char *data, size_t len)
{
    if (!c->flow || len == 0)
        return;
    if (from_client)
        http_flow_client_data(c->flow, data, len);
    else
        http_flow_server_data(c->flow, data, len);
    check_stopped(c);
}

void conn_tap(conn *c, pump *from, struct evbuffer *data)
{
    bool from_client = from == c->client;
    if (c->websocket_open) {
        count_websocket(c, from_client, data);
        return;
    }
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(data, &pos, 0, EVBUFFER_PTR_SET);
    struct evbuffer_iovec v;
    size_t seen = 0;
    while (c->flow && evbuffer_peek(data, -1, &pos, &v, 1) == 1 && v.iov_len > 0) {
        conn_tap_bytes(c, from_client, v.iov_base, v.iov_len);
        seen += v.iov_len;
        if (evbuffer_ptr_set(data, &pos, seen, EVBUFFER_PTR_SET) != 0)
            break;
    }
}

void conn_tap_end(conn *c, pump *from)
{
    if (!c->flow)
        return;
    if (from == c->upstream)
        http_flow_server_data(c->flow, "", 0);
    else
        http_flow_client_data(c->flow, "", 0);
    check_stopped(c);
}

void conn_tap_abort(conn *c, const char *reason)
{
    if (!c->flow)
        return;
    http_flow_abort(c->flow, reason);
    http_flow_free(c->flow);
    c->flow = NULL;
}
