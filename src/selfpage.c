/* selfpage — the proxy's own page and the CA certificate downloads. */
#include "selfpage.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "ca.h"
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

static void respond_with(struct evbuffer *out, const char *method,
                         const char *type, const void *body, size_t len,
                         bool keep_alive)
{
    front_write_body(out, type, body, len, keep_alive,
                     strcmp(method, "HEAD") == 0);
}

int selfpage_respond(struct evbuffer *out, const char *method, const char *path,
                     X509 *ca_cert, const char *proxy_address, bool keep_alive)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        front_write_error(out, 405, "the proxy's own pages only answer GET");
        return 405;
    }
    size_t path_len = strcspn(path, "?#");
    if (path_len == 1 && path[0] == '/') {
        char fingerprint[CA_FINGERPRINT_SIZE] = "?";
        char subject[256] = "?";
        ca_fingerprint_sha256(ca_cert, fingerprint, sizeof fingerprint);
        X509_NAME_oneline(X509_get_subject_name(ca_cert), subject, sizeof subject);
        int n = snprintf(NULL, 0, page_format, proxy_address, fingerprint, subject,
                         proxy_address);
        char *page = malloc((size_t)n + 1);
        if (!page) {
            front_write_error(out, 500, "out of memory");
            return 500;
        }
        snprintf(page, (size_t)n + 1, page_format, proxy_address, fingerprint,
                 subject, proxy_address);
        respond_with(out, method, "text/html; charset=utf-8", page, (size_t)n,
                     keep_alive);
        free(page);
        return 200;
    }
    if (path_len == 7 && strncmp(path, "/ca.pem", 7) == 0) {
        BIO *mem = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len = 0;
        if (mem && PEM_write_bio_X509(mem, ca_cert) == 1)
            len = BIO_get_mem_data(mem, &data);
        if (len > 0)
            respond_with(out, method, "application/x-pem-file", data,
                         (size_t)len, keep_alive);
        else
            front_write_error(out, 500, "cannot encode the CA certificate");
        BIO_free(mem);
        return len > 0 ? 200 : 500;
    }
    if (path_len == 7 && strncmp(path, "/ca.crt", 7) == 0) {
        unsigned char *der = NULL;
        int len = i2d_X509(ca_cert, &der);
        if (len > 0)
            respond_with(out, method, "application/x-x509-ca-cert", der,
                         (size_t)len, keep_alive);
        else
            front_write_error(out, 500, "cannot encode the CA certificate");
        OPENSSL_free(der);
        return len > 0 ? 200 : 500;
    }
    front_write_error(out, 404, "no such page on the proxy; try / or /ca.pem");
    return 404;
}
