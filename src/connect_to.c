/* connect_to — curl-style --connect-to rules. See include/connect_to.h. */
#include "connect_to.h"

#include <stdlib.h>
#include <string.h>

/* Split text at ':' outside brackets into exactly four fields. */
static int split_fields(const char *text, const char *field[4], size_t len[4])
{
    int n = 0;
    int depth = 0;
    const char *start = text;
    for (const char *p = text;; p++) {
        if (*p == '[')
            depth++;
        else if (*p == ']')
            depth--;
        if ((*p == ':' && depth == 0) || *p == '\0') {
            if (n == 4)
                return -1;
            field[n] = start;
            len[n] = (size_t)(p - start);
            n++;
            start = p + 1;
            if (*p == '\0')
                break;
        }
    }
    return n == 4 ? 0 : -1;
}

/* A rule's port: empty means any (or the same), as 0. */
static int parse_port(const char *s, size_t len, uint16_t *port)
{
    *port = 0;
    return len == 0 ? 0 : authority_parse_port(s, len, port);
}

/* A host field: empty, or a host that authority_parse accepts. */
static int parse_host(const char *s, size_t len, authority *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return 0;
    return authority_parse(s, len, 1, out, NULL);
}

int connect_to_parse(const char *text, connect_to_rule *out, const char **reason)
{
    const char *f[4];
    size_t l[4];
    memset(out, 0, sizeof *out);
    if (split_fields(text, f, l) != 0) {
        *reason = "expected HOST:PORT:HOST2:PORT2";
        return -1;
    }
    authority from;
    if (parse_host(f[0], l[0], &from) != 0 || parse_host(f[2], l[2], &out->to) != 0) {
        *reason = "invalid host";
        return -1;
    }
    if (parse_port(f[1], l[1], &out->port) != 0 ||
        parse_port(f[3], l[3], &out->to.port) != 0) {
        *reason = "invalid port";
        return -1;
    }
    memcpy(out->host, from.host, sizeof out->host);
    return 0;
}

authority connect_to_apply(const connect_to_rule *rules, size_t n,
                           const authority *target)
{
    authority result = *target;
    for (size_t i = 0; i < n; i++) {
        const connect_to_rule *r = &rules[i];
        if ((r->host[0] && strcmp(r->host, target->host) != 0) ||
            (r->port && r->port != target->port))
            continue;
        if (r->to.host[0]) {
            memcpy(result.host, r->to.host, sizeof result.host);
            result.kind = r->to.kind;
        }
        if (r->to.port)
            result.port = r->to.port;
        break;
    }
    return result;
}
