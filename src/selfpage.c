/* selfpage — the proxy's own page and the CA certificate downloads. */
#include "selfpage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certinfo.h"
#include "front.h"

/* The page: how to point a client at the proxy and trust its CA, per
 * platform, with the fingerprint to compare before trusting anything.
 * Arguments: proxy address (twice), fingerprint, CA subject. */
static const char page_format[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width\">\n"
    "<title>tlspeek</title>\n"
    "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}"
    "code{background:#f3f3f3;padding:0 .2em}h2{margin-top:1.5em}dt{font-weight:bold;margin-top:.6em}</style>\n"
    "</head><body>\n"
    "<h1>tlspeek is running</h1>\n"
    "<p>tlspeek is an intercepting HTTPS proxy for debugging. Set "
    "<code>http://%s</code> as your client's HTTP and HTTPS proxy, then trust "
    "this proxy's certificate authority (CA) so that the certificates it makes "
    "for each site are accepted.</p>\n"
    "<h2>Download the CA certificate</h2>\n"
    "<ul><li><a href=\"/ca.pem\">ca.pem</a> (PEM: Linux, Firefox, curl, Python)</li>\n"
    "<li><a href=\"/ca.crt\">ca.crt</a> (DER: Windows, macOS, iOS, Android)</li></ul>\n"
    "<p>Before trusting it, check that its SHA-256 fingerprint is<br>"
    "<code id=\"fingerprint\">%s</code><br>(subject: %s). On the proxy's "
    "machine, <code>tlspeek ca show</code> prints the same.</p>\n"
    "<h2>Trust it</h2>\n"
    "<dl>\n"
    "<dt>Linux (Chromium, Firefox, system tools)</dt><dd>On the proxy's machine: "
    "<code>tlspeek ca install</code> (as root it also adds the system store, so "
    "curl, wget and Python trust it).</dd>\n"
    "<dt>curl</dt><dd><code>curl --proxy http://%s --cacert ca.pem "
    "https://example.com/</code></dd>\n"
    "<dt>Firefox (any system)</dt><dd>Settings, Privacy &amp; Security, "
    "Certificates, View Certificates, Authorities, Import <code>ca.pem</code>; "
    "tick \"Trust this CA to identify websites\".</dd>\n"
    "<dt>macOS</dt><dd>Open <code>ca.crt</code> in Keychain Access, add it to "
    "the System keychain, open it and set \"When using this certificate\" to "
    "Always Trust.</dd>\n"
    "<dt>Windows</dt><dd>Open <code>ca.crt</code>, Install Certificate, Local "
    "Machine, \"Place all certificates in the following store\": Trusted Root "
    "Certification Authorities.</dd>\n"
    "<dt>iOS</dt><dd>Open this page in Safari, download <code>ca.crt</code>, "
    "install the profile in Settings, then enable full trust in Settings, "
    "General, About, Certificate Trust Settings.</dd>\n"
    "<dt>Android</dt><dd>Settings, Security, Encryption &amp; credentials, "
    "Install a certificate, CA certificate, choose <code>ca.crt</code>. Apps "
    "trust user CAs only when their network security config allows it.</dd>\n"
    "</dl>\n"
    "<p>Remove the CA when you are done: anyone with its key could "
    "impersonate any site to this device (<code>tlspeek ca uninstall</code> "
    "on Linux).</p>\n"
    "</body></html>\n";

size_t selfpage_escape_html(const char *in, char *out, size_t size)
{
    size_t o = 0;
    if (size == 0)
        return 0;
    for (; *in; in++) {
        const char *ref = *in == '&'    ? "&amp;"
                          : *in == '<'  ? "&lt;"
                          : *in == '>'  ? "&gt;"
                          : *in == '"'  ? "&quot;"
                          : *in == '\'' ? "&#39;"
                                        : NULL;
        size_t n = ref ? strlen(ref) : 1;
        if (o + n >= size)
            break;
        memcpy(out + o, ref ? ref : in, n);
        o += n;
    }
    out[o] = '\0';
    return o;
}

static void respond_with(struct evbuffer *out, const char *method,
                         const char *type, const void *body, size_t len,
                         bool keep_alive)
{
    front_write_body(out, type, body, len, keep_alive,
                     strcmp(method, "HEAD") == 0);
}

/* The page, with the CA's fingerprint and subject filled in. The subject
 * is whatever the CA's maker wrote (a CA the user brought may hold '<' or
 * '&'): escaped, like everything else that is not ours. */
static int respond_page(struct evbuffer *out, const char *method, const tls_cert *ca_cert,
                        const char *proxy_address, bool keep_alive)
{
    char fingerprint[CERTINFO_FINGERPRINT_SIZE] = "?";
    char subject[CERTINFO_TEXT_SIZE] = "?";
    char subject_html[6 * CERTINFO_TEXT_SIZE];
    char address_html[6 * 272]; /* a host name of 254 bytes, ":" and a port */
    certinfo_fingerprint_sha256(ca_cert, fingerprint, sizeof fingerprint);
    certinfo_subject(ca_cert, subject, sizeof subject);
    selfpage_escape_html(subject, subject_html, sizeof subject_html);
    selfpage_escape_html(proxy_address, address_html, sizeof address_html);
    int n = snprintf(NULL, 0, page_format, address_html, fingerprint, subject_html,
                     address_html);
    char *page = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (!page) {
        front_write_error(out, 500, "out of memory");
        return 500;
    }
    snprintf(page, (size_t)n + 1, page_format, address_html, fingerprint,
             subject_html, address_html);
    respond_with(out, method, "text/html; charset=utf-8", page, (size_t)n, keep_alive);
    free(page);
    return 200;
}

/* The certificate itself, for /ca.pem and /ca.crt. */
static int respond_cert(struct evbuffer *out, const char *method, const tls_cert *ca_cert,
                        certinfo_format format, bool keep_alive)
{
    unsigned char *data = NULL;
    size_t len = 0;
    if (certinfo_encode(ca_cert, format, &data, &len) != 0) {
        front_write_error(out, 500, "cannot encode the CA certificate");
        return 500;
    }
    respond_with(out, method,
                 format == CERTINFO_PEM ? "application/x-pem-file"
                                        : "application/x-x509-ca-cert",
                 data, len, keep_alive);
    free(data);
    return 200;
}

int selfpage_respond(struct evbuffer *out, const char *method, const char *path,
                     const tls_cert *ca_cert, const char *proxy_address,
                     bool keep_alive)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        front_write_error(out, 405, "the proxy's own pages only answer GET");
        return 405;
    }
    size_t path_len = strcspn(path, "?#");
    if (path_len == 1 && path[0] == '/')
        return respond_page(out, method, ca_cert, proxy_address, keep_alive);
    if (path_len == 7 && strncmp(path, "/ca.pem", 7) == 0)
        return respond_cert(out, method, ca_cert, CERTINFO_PEM, keep_alive);
    if (path_len == 7 && strncmp(path, "/ca.crt", 7) == 0)
        return respond_cert(out, method, ca_cert, CERTINFO_DER, keep_alive);
    front_write_error(out, 404, "no such page on the proxy; try / or /ca.pem");
    return 404;
}
