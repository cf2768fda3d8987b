/* Unit tests for selfpage: the proxy's own page and CA downloads. */
#include "check_main.h"
#include "selfpage.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* A self-signed certificate whose subject holds what HTML must escape,
 * as a CA the user brought may. */
static X509 *make_cert(const char *cn)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    ck_assert(key && x && name);
    ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                         (const unsigned char *)cn, -1, -1, 0));
    ck_assert(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                         (const unsigned char *)"Q&A \"Labs\"", -1, -1, 0));
    ck_assert(X509_set_subject_name(x, name) && X509_set_issuer_name(x, name));
    ck_assert(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    ck_assert(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    ck_assert(X509_set_pubkey(x, key) && X509_sign(x, key, EVP_sha256()));
    X509_NAME_free(name);
    EVP_PKEY_free(key);
    return x;
}

typedef struct {
    int status;
    char head[2048];
    unsigned char *body;
    size_t body_len;
} response;

/* Ask selfpage, then split what it wrote into status, head and body. */
static response ask(const char *method, const char *path, X509 *cert)
{
    struct evbuffer *out = evbuffer_new();
    response r = {0};
    int returned = selfpage_respond(out, method, path, cert, "127.0.0.1:8080", true);
    size_t len = evbuffer_get_length(out);
    char *all = malloc(len + 1);
    ck_assert_ptr_nonnull(all);
    evbuffer_remove(out, all, len);
    all[len] = '\0';
    evbuffer_free(out);
    char *end = strstr(all, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    size_t head_len = (size_t)(end - all);
    ck_assert_uint_lt(head_len, sizeof r.head);
    memcpy(r.head, all, head_len);
    ck_assert_int_eq(sscanf(all, "HTTP/1.1 %d ", &r.status), 1);
    ck_assert_int_eq(r.status, returned);
    r.body_len = len - head_len - 4;
    r.body = malloc(r.body_len + 1);
    memcpy(r.body, end + 4, r.body_len);
    r.body[r.body_len] = '\0';
    free(all);
    return r;
}

START_TEST(escape_replaces_every_special_character)
{
    char out[128];
    ck_assert_uint_eq(selfpage_escape_html("a<b>&\"'z", out, sizeof out), 27);
    ck_assert_str_eq(out, "a&lt;b&gt;&amp;&quot;&#39;z");
    ck_assert_uint_eq(selfpage_escape_html("plain text", out, sizeof out), 10);
    ck_assert_str_eq(out, "plain text");
}
END_TEST

START_TEST(escape_never_cuts_a_reference)
{
    char out[8];
    /* "ab&lt;" is 6 bytes; "&amp;" would need 5 more: left out whole. */
    ck_assert_uint_eq(selfpage_escape_html("ab<&", out, sizeof out), 6);
    ck_assert_str_eq(out, "ab&lt;");
    char one[1] = {'x'};
    ck_assert_uint_eq(selfpage_escape_html("<", one, sizeof one), 0);
    ck_assert_str_eq(one, "");
    ck_assert_uint_eq(selfpage_escape_html("x", NULL, 0), 0);
}
END_TEST

START_TEST(page_escapes_the_ca_subject)
{
    X509 *cert = make_cert("Evil <script>alert(1)</script> & co");
    response r = ask("GET", "/", cert);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.head, "Content-Type: text/html"));
    const char *body = (const char *)r.body;
    ck_assert_ptr_null(strstr(body, "<script>"));
    ck_assert_ptr_nonnull(strstr(body, "Evil &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    /* As `openssl x509 -subject` shows it: O = Q&A \"Labs\" */
    ck_assert_ptr_nonnull(strstr(body, "O = Q&amp;A \\&quot;Labs\\&quot;"));
    ck_assert_ptr_nonnull(strstr(body, "http://127.0.0.1:8080"));
    free(r.body);
    X509_free(cert);
}
END_TEST

START_TEST(page_shows_the_sha256_fingerprint)
{
    X509 *cert = make_cert("tlspeek test CA");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ck_assert(X509_digest(cert, EVP_sha256(), md, &md_len));
    char expected[3 * EVP_MAX_MD_SIZE + 1];
    char *p = expected;
    for (unsigned int i = 0; i < md_len; i++)
        p += sprintf(p, "%s%02X", i ? ":" : "", md[i]);
    response r = ask("GET", "/?from=test", cert);
    ck_assert_int_eq(r.status, 200);
    char want[sizeof expected + 32];
    snprintf(want, sizeof want, "<code id=\"fingerprint\">%s</code>", expected);
    ck_assert_ptr_nonnull(strstr((const char *)r.body, want));
    free(r.body);
    X509_free(cert);
}
END_TEST

START_TEST(ca_pem_is_the_certificate_in_pem)
{
    X509 *cert = make_cert("tlspeek test CA");
    BIO *mem = BIO_new(BIO_s_mem());
    ck_assert(PEM_write_bio_X509(mem, cert));
    char *pem = NULL;
    long pem_len = BIO_get_mem_data(mem, &pem);
    const char *paths[] = {"/ca.pem", "/ca.pem?x=1", "/ca.pem#top"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        response r = ask("GET", paths[i], cert);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.head, "application/x-pem-file"));
        ck_assert_uint_eq(r.body_len, (size_t)pem_len);
        ck_assert_mem_eq(r.body, pem, r.body_len);
        free(r.body);
    }
    BIO_free(mem);
    X509_free(cert);
}
END_TEST

START_TEST(ca_crt_is_the_certificate_in_der)
{
    X509 *cert = make_cert("tlspeek test CA");
    unsigned char *der = NULL;
    int der_len = i2d_X509(cert, &der);
    ck_assert_int_gt(der_len, 0);
    response r = ask("GET", "/ca.crt", cert);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.head, "application/x-x509-ca-cert"));
    ck_assert_uint_eq(r.body_len, (size_t)der_len);
    ck_assert_mem_eq(r.body, der, r.body_len);
    free(r.body);
    OPENSSL_free(der);
    X509_free(cert);
}
END_TEST

START_TEST(head_gets_the_head_only)
{
    X509 *cert = make_cert("tlspeek test CA");
    response r = ask("HEAD", "/ca.crt", cert);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    ck_assert_ptr_nonnull(strstr(r.head, "Content-Length: "));
    ck_assert_ptr_null(strstr(r.head, "Content-Length: 0\r"));
    free(r.body);
    X509_free(cert);
}
END_TEST

START_TEST(other_paths_and_methods_are_refused)
{
    X509 *cert = make_cert("tlspeek test CA");
    const struct {
        const char *method, *path;
        int status;
    } cases[] = {
        {"GET", "/ca.pem.bak", 404}, {"GET", "/ca", 404}, {"GET", "/index.html", 404},
        {"GET", "//", 404},          {"POST", "/", 405},  {"PUT", "/ca.pem", 405},
        {"DELETE", "/x", 405},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        response r = ask(cases[i].method, cases[i].path, cert);
        ck_assert_msg(r.status == cases[i].status, "%s %s: %d", cases[i].method,
                      cases[i].path, r.status);
        ck_assert_ptr_nonnull(strstr(r.head, "Connection: close"));
        free(r.body);
    }
    X509_free(cert);
}
END_TEST

START_TEST(magic_host_is_tlspeek)
{
    /* The name users type (http://tlspeek/), documented in the README. */
    ck_assert_str_eq(SELFPAGE_MAGIC_HOST, "tlspeek");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("selfpage");
    check_case(s, "escape", 0, CHECK_TESTS(
        escape_replaces_every_special_character, escape_never_cuts_a_reference));
    check_case(s, "pages", 0, CHECK_TESTS(
        page_escapes_the_ca_subject, page_shows_the_sha256_fingerprint,
        ca_pem_is_the_certificate_in_pem, ca_crt_is_the_certificate_in_der,
        head_gets_the_head_only, other_paths_and_methods_are_refused, magic_host_is_tlspeek));
    return s;
}
