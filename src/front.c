/* front — responses the proxy writes itself and the head it forwards. */
#include "front.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *front_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 508: return "Loop Detected";
    default: return "Unknown";
    }
}

void front_write_connect_ok(struct evbuffer *out)
{
    evbuffer_add_printf(out, "HTTP/1.1 200 Connection established\r\n\r\n");
}

void front_write_error(struct evbuffer *out, int status, const char *reason)
{
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: %zu\r\n"
                        "Connection: close\r\n"
                        "Server: tlspeek\r\n"
                        "\r\n%s\n",
                        status, front_status_text(status), strlen(reason) + 1,
                        reason);
}

void front_write_auth_required(struct evbuffer *out)
{
    static const char reason[] = "this proxy requires a user name and password\n";
    evbuffer_add_printf(out,
                        "HTTP/1.1 407 Proxy Authentication Required\r\n"
                        "Proxy-Authenticate: Basic realm=\"tlspeek\"\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: %zu\r\n"
                        "Connection: close\r\n"
                        "Server: tlspeek\r\n"
                        "\r\n%s",
                        sizeof reason - 1, reason);
}

void front_write_body(struct evbuffer *out, const char *content_type,
                      const void *body, size_t len, bool keep_alive,
                      bool head_only)
{
    evbuffer_add_printf(out,
                        "HTTP/1.1 200 OK\r\n"
                        "Content-Type: %s\r\n"
                        "Content-Length: %zu\r\n"
                        "Cache-Control: no-store\r\n"
                        "Connection: %s\r\n"
                        "Server: tlspeek\r\n"
                        "\r\n",
                        content_type, len, keep_alive ? "keep-alive" : "close");
    if (!head_only)
        evbuffer_add(out, body, len);
}

int front_parse_absolute(const char *target, authority *origin,
                         const char **path, const char **reason)
{
    /* ws:// is http:// with an upgrade (aiohttp asks a proxy that way). */
    size_t skip = strncasecmp(target, "http://", 7) == 0 ? 7
                  : strncasecmp(target, "ws://", 5) == 0 ? 5
                                                         : 0;
    if (skip == 0) {
        *reason = strncasecmp(target, "https://", 8) == 0 ||
                          strncasecmp(target, "wss://", 6) == 0
                      ? "https:// and wss:// URLs go through CONNECT, not a plain "
                        "request"
                      : "unsupported request target";
        return -1;
    }
    const char *host = target + skip;
    size_t host_len = strcspn(host, "/?#");
    if (authority_parse(host, host_len, 80, origin, reason) != 0)
        return -1;
    *path = host[host_len] == '/' ? host + host_len
            : host[host_len] ? host + host_len /* "?q" alone: keep as sent */
                             : "/";
    return 0;
}

/* Is name one of the hop-by-hop fields that never cross the proxy? */
static bool is_hop_by_hop(const http_head *head, const char *name, bool websocket)
{
    static const char *const fixed[] = {
        "Connection", "Proxy-Connection", "Proxy-Authorization",
        "Keep-Alive", "TE", "Trailer",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcasecmp(name, fixed[i]) == 0)
            return true;
    if (strcasecmp(name, "Upgrade") == 0)
        return !websocket;
    /* Fields the client named in Connection are for this hop only. */
    return http_head_has_token(head, "Connection", name);
}

bool front_write_forward_head(struct evbuffer *out, const http_head *head,
                              const authority *origin, const char *path)
{
    bool websocket = http_head_has_token(head, "Connection", "upgrade") &&
                     http_head_has_token(head, "Upgrade", "websocket");
    evbuffer_add_printf(out, "%s %s HTTP/%d.%d\r\n", head->method, path,
                        head->version_major, head->version_minor);
    bool has_host = false;
    for (size_t i = 0; i < head->n_headers; i++) {
        const http_header *h = &head->headers[i];
        if (is_hop_by_hop(head, h->name, websocket))
            continue;
        if (strcasecmp(h->name, "Host") == 0)
            has_host = true;
        evbuffer_add_printf(out, "%s: %s\r\n", h->name, h->value);
    }
    if (!has_host) {
        char host[AUTHORITY_HOST_MAX + 10];
        authority_format(origin, host, sizeof host);
        /* The default port is left out, as clients do. */
        if (origin->port == 80)
            *strrchr(host, ':') = '\0';
        evbuffer_add_printf(out, "Host: %s\r\n", host);
    }
    if (websocket)
        evbuffer_add_printf(out, "Connection: Upgrade\r\n");
    else if (!head->keep_alive)
        evbuffer_add_printf(out, "Connection: close\r\n");
    evbuffer_add_printf(out, "\r\n");
    return websocket;
}
