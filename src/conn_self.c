/* conn_self — the proxy's own pages (origin-form requests to the proxy,
 * or http://tlspeek/ through it): the help page and the CA certificate.
 * The connection is kept for the next request when the request allows. */
#include "conn_priv.h"

#include "log.h"
#include "selfpage.h"

void conn_self_answer(conn *c, const http_head *head, const char *path)
{
    bool has_body = head->chunked || head->content_length > 0;
    bool keep_alive = head->keep_alive && !has_body;
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        conn_close(c, "out of memory");
        return;
    }
    int status = selfpage_respond(out, head->method, path, ca_get0_cert(c->env->ca),
                                  c->env->self_address, keep_alive);
    conn_send_client(c, out);
    evbuffer_free(out);
    log_info("%s %s %s %d (the proxy's own page)", c->client_name, head->method,
             head->target, status);
    if (!keep_alive || status >= 400)
        conn_close(c, "answered by the proxy");
    else
        conn_head_next(c);
}
