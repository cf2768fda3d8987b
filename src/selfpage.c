/* selfpage — the proxy's own page and the CA certificate downloads. */
#include "selfpage.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "front.h"

static const char page_format[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>tlspeek</title></head><body>\n"
    "<h1>tlspeek is running</h1>\n"
    "<p>tlspeek is an intercepting HTTPS proxy for debugging. Point your\n"
    "client at <code>http://%s</code> as its HTTP and HTTPS proxy, and trust\n"
    "this proxy's certificate authority so that the certificates it makes\n"
    "for each site are accepted.</p>\n"
    "<ul>\n"
    "<li><a href=\"/ca.pem\">ca.pem</a> &mdash; the CA certificate in PEM\n"
    "(curl <code>--cacert</code>, Linux, Firefox)</li>\n"
    "<li><a href=\"/ca.crt\">ca.crt</a> &mdash; the same certificate in DER\n"
    "(Windows, macOS, Android, iOS)</li>\n"
    "</ul>\n"
    "<p>With curl: <code>curl --proxy http://%s --cacert ca.pem "
    "https://example.com/</code></p>\n"
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
        int n = snprintf(NULL, 0, page_format, proxy_address, proxy_address);
        char *page = malloc((size_t)n + 1);
        if (!page) {
            front_write_error(out, 500, "out of memory");
            return 500;
        }
        snprintf(page, (size_t)n + 1, page_format, proxy_address, proxy_address);
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
