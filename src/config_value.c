/* config_value — the option values that are more than a word (see
 * config_value.h); config.c decides when each applies. */
#include "config_value.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "clientcert.h"
#include "proxyurl.h"

/* A whole number in [min, max] (max >= 0), or -1 when text is anything
 * else. Any number of digits: the bound, not the length, decides. */
long config_value_number(const char *text, long min, long max)
{
    if (!*text)
        return -1;
    long v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        int digit = *p - '0';
        if (v > (max - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    return v >= min ? v : -1;
}

int config_value_allow_list(const char *text, config *out, const char **reason)
{
    while (*text) {
        size_t len = strcspn(text, ",");
        if (out->n_allow == CONFIG_MAX_ALLOW) {
            *reason = "too many --allow-remote ranges";
            return -1;
        }
        if (access_cidr_parse(text, len, &out->allow[out->n_allow], reason) != 0)
            return -1;
        out->n_allow++;
        text += len;
        if (*text == ',')
            text++;
    }
    return 0;
}

/* Compile a --*-hosts style pattern: POSIX extended, case-insensitive. On
 * failure the reason goes into why. */
int config_value_host_pattern(regex_t *re, const char *text, char *why,
                                size_t why_size)
{
    int rc = regcomp(re, text, REG_EXTENDED | REG_NOSUB | REG_ICASE);
    if (rc != 0)
        regerror(rc, re, why, why_size);
    return rc == 0 ? 0 : -1;
}

/* The variables curl reads for an https:// URL, in its order. */
static const char *const proxy_env_vars[] = {"HTTPS_PROXY", "https_proxy",
                                             "ALL_PROXY", "all_proxy"};

/* --upstream-proxy, or else --upstream-proxy-from-env: fill the parent.
 * The URL is never echoed: it may hold a password. */
int config_value_upstream_proxy(config *out, const char *url, bool from_env,
                               FILE *err)
{
    const char *source = "--upstream-proxy";
    for (size_t i = 0; !url && from_env && i < sizeof proxy_env_vars /
                                                  sizeof proxy_env_vars[0]; i++) {
        const char *v = getenv(proxy_env_vars[i]);
        if (v && *v) {
            url = v;
            source = proxy_env_vars[i];
        }
    }
    if (!url)
        return 0;
    const char *why = NULL;
    if (proxyurl_parse(url, &out->upstream_proxy, &why) != 0) {
        fprintf(err, "tlspeek: %s: %s\n", source, why);
        return -1;
    }
    out->has_upstream_proxy = true;
    out->upstream_proxy_source = source;
    return 0;
}

/* --client-cert [HOST_REGEX=]FILE: load and check the file now, so that a
 * bad one stops the start with its reason. A file that exists by the
 * whole name is a FILE even if its name holds '='. */
int config_value_client_cert(config *out, const char *arg, FILE *err)
{
    clientcert_rules *rules = &out->client_certs;
    const char *eq = strchr(arg, '=');
    const char *file = eq && access(arg, F_OK) != 0 ? eq + 1 : arg;
    bool fallback = file == arg;
    if (fallback ? rules->fallback != NULL : rules->n == CLIENTCERT_MAX_RULES) {
        fprintf(err, "tlspeek: %s\n", fallback
                ? "--client-cert FILE given twice; only one may apply to every host"
                : "too many --client-cert HOST_REGEX=FILE rules");
        return -1;
    }
    char why[600];
    clientcert *cc = clientcert_load(file, why, sizeof why);
    if (!cc) {
        fprintf(err, "tlspeek: %s\n", why);
        return -1;
    }
    if (fallback) {
        rules->fallback = cc;
        return 0;
    }
    char *pattern = strndup(arg, (size_t)(eq - arg));
    if (!pattern)
        snprintf(why, sizeof why, "out of memory");
    int rc = pattern ? config_value_host_pattern(&rules->hosts[rules->n], pattern, why,
                                            sizeof why)
                     : -1;
    free(pattern);
    if (rc != 0) {
        fprintf(err, "tlspeek: --client-cert %s: %s\n", file, why);
        clientcert_free(cc);
        return -1;
    }
    rules->certs[rules->n++] = cc;
    return 0;
}

/* --ui [ADDR:]PORT: a bare port means loopback, since the UI shows
 * decrypted traffic; port 0 lets the kernel pick. */
int config_value_ui_address(const char *text, authority *out, const char **reason)
{
    long port = config_value_number(text, 0, 65535);
    if (port >= 0) {
        memset(out, 0, sizeof *out);
        strcpy(out->host, "127.0.0.1");
        out->kind = AUTHORITY_IPV4;
        out->port = (uint16_t)port;
        return 0;
    }
    size_t n = strlen(text);
    if (n > 2 && strcmp(text + n - 2, ":0") == 0 &&
        authority_parse(text, n - 2, 1, out, reason) == 0) {
        out->port = 0;
        return 0;
    }
    if (!strchr(text, ':') || text[n - 1] == ']') {
        *reason = "--ui needs a port: [ADDR:]PORT";
        return -1;
    }
    return authority_parse(text, n, 0, out, reason);
}

/* A token that goes into a URL, a header and a cookie unchanged. */
bool config_value_ui_token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 8 || n > 128)
        return false;
    for (const char *p = t; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
              *p == '~'))
            return false;
    return true;
}
