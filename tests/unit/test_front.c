/* Unit tests for front: the absolute-form target, the head forwarded
 * upstream (hop-by-hop fields removed, Host added), and the proxy's own
 * answers. */
#include "check_main.h"
#include "front.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

/* The evbuffer's contents as a NUL-terminated heap string. */
static char *text_of(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    evbuffer_copyout(b, s, n);
    s[n] = '\0';
    return s;
}

static void add(http_head *h, const char *name, const char *value)
{
    ck_assert_int_eq(http_head_add(h, name, strlen(name), value, strlen(value)), 0);
}

static http_head request(bool keep_alive)
{
    http_head h = {0};
    strcpy(h.method, "GET");
    h.version_major = 1;
    h.version_minor = 1;
    h.keep_alive = keep_alive;
    h.content_length = -1;
    return h;
}

START_TEST(absolute_targets_split_into_origin_and_path)
{
    static const struct {
        const char *target, *host, *path;
        unsigned port;
    } cases[] = {
        {"http://example.com/a/b?q=1", "example.com", "/a/b?q=1", 80},
        {"http://example.com", "example.com", "/", 80},
        {"HTTP://Example.com:8080/x", "example.com", "/x", 8080}, /* names fold to lower case */
        {"http://example.com?q", "example.com", "?q", 80},
        {"ws://chat.test/socket", "chat.test", "/socket", 80},
        {"http://[::1]:8081/v6", "::1", "/v6", 8081},
        {"http://127.0.0.1/", "127.0.0.1", "/", 80},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        authority a;
        const char *path = NULL, *reason = NULL;
        ck_assert_msg(front_parse_absolute(cases[i].target, &a, &path, &reason) == 0,
                      "%s: %s", cases[i].target, reason);
        ck_assert_str_eq(a.host, cases[i].host);
        ck_assert_uint_eq(a.port, cases[i].port);
        ck_assert_str_eq(path, cases[i].path);
    }
}
END_TEST

START_TEST(unsupported_targets_are_refused_with_a_reason)
{
    static const char *const bad[] = {
        "https://example.com/", "wss://example.com/", "ftp://example.com/",
        "example.com/x", "http://", "http://exa mple.com/", "http://host:99999/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        authority a;
        const char *path = NULL, *reason = NULL;
        ck_assert_msg(front_parse_absolute(bad[i], &a, &path, &reason) == -1, "%s", bad[i]);
        ck_assert_ptr_nonnull(reason);
        ck_assert_uint_gt(strlen(reason), 0);
    }
    authority a;
    const char *path = NULL, *reason = NULL;
    front_parse_absolute("https://example.com/", &a, &path, &reason);
    ck_assert_ptr_nonnull(strstr(reason, "CONNECT"));
}
END_TEST

START_TEST(hop_by_hop_fields_are_removed)
{
    http_head h = request(true);
    add(&h, "Host", "example.com");
    add(&h, "Connection", "keep-alive, X-Private");
    add(&h, "X-Private", "only for this hop");
    add(&h, "Proxy-Connection", "keep-alive");
    add(&h, "Proxy-Authorization", "Basic dXNlcjpwYXNz");
    add(&h, "Keep-Alive", "timeout=5");
    add(&h, "TE", "trailers");
    add(&h, "Trailer", "X-Checksum");
    add(&h, "Upgrade", "h2c");
    add(&h, "Accept", "*/*");
    add(&h, "X-Kept", "yes");
    authority origin;
    const char *path, *reason;
    ck_assert_int_eq(front_parse_absolute("http://example.com/p", &origin, &path, &reason), 0);
    struct evbuffer *out = evbuffer_new();
    ck_assert(!front_write_forward_head(out, &h, &origin, path));
    char *s = text_of(out);
    ck_assert_str_eq(s, "GET /p HTTP/1.1\r\n"
                        "Host: example.com\r\n"
                        "Accept: */*\r\n"
                        "X-Kept: yes\r\n"
                        "\r\n");
    free(s);
    evbuffer_free(out);
    http_head_clear(&h);
}
END_TEST

START_TEST(host_is_added_without_the_default_port_and_close_is_said)
{
    http_head h = request(false);
    add(&h, "Accept", "*/*");
    static const struct {
        const char *target, *host_line;
    } cases[] = {
        {"http://example.com/", "Host: example.com\r\n"},
        {"http://example.com:8080/", "Host: example.com:8080\r\n"},
        {"http://[::1]/", "Host: [::1]\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        authority origin;
        const char *path, *reason;
        ck_assert_int_eq(front_parse_absolute(cases[i].target, &origin, &path, &reason), 0);
        struct evbuffer *out = evbuffer_new();
        front_write_forward_head(out, &h, &origin, path);
        char *s = text_of(out);
        ck_assert_msg(strstr(s, cases[i].host_line), "%s gave %s", cases[i].target, s);
        ck_assert_ptr_nonnull(strstr(s, "Connection: close\r\n\r\n"));
        free(s);
        evbuffer_free(out);
    }
    http_head_clear(&h);
}
END_TEST

START_TEST(a_websocket_upgrade_keeps_its_upgrade)
{
    http_head h = request(true);
    add(&h, "Host", "chat.test");
    add(&h, "Connection", "Upgrade");
    add(&h, "Upgrade", "websocket");
    add(&h, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    authority origin;
    const char *path, *reason;
    ck_assert_int_eq(front_parse_absolute("ws://chat.test/s", &origin, &path, &reason), 0);
    struct evbuffer *out = evbuffer_new();
    ck_assert(front_write_forward_head(out, &h, &origin, path));
    char *s = text_of(out);
    ck_assert_ptr_nonnull(strstr(s, "GET /s HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(s, "Upgrade: websocket\r\n"));
    ck_assert_ptr_nonnull(strstr(s, "Sec-WebSocket-Key: "));
    ck_assert_ptr_nonnull(strstr(s, "Connection: Upgrade\r\n\r\n"));
    free(s);
    evbuffer_free(out);
    http_head_clear(&h);
}
END_TEST

START_TEST(error_answers_carry_the_reason)
{
    struct evbuffer *out = evbuffer_new();
    front_write_error(out, 502, "TLS handshake with example.com:443 failed");
    char *s = text_of(out);
    ck_assert_ptr_eq(strstr(s, "HTTP/1.1 502 Bad Gateway\r\n"), s);
    ck_assert_ptr_nonnull(strstr(s, "Connection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(s, "Content-Length: 42\r\n"));
    ck_assert_ptr_nonnull(strstr(s, "\r\n\r\nTLS handshake with example.com:443 failed\n"));
    free(s);
    evbuffer_free(out);
    ck_assert_str_eq(front_status_text(504), "Gateway Timeout");
    ck_assert_str_eq(front_status_text(799), "Unknown");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("front");
    check_case(s, "front", 0, CHECK_TESTS(
        absolute_targets_split_into_origin_and_path,
        unsupported_targets_are_refused_with_a_reason, hop_by_hop_fields_are_removed,
        host_is_added_without_the_default_port_and_close_is_said,
        a_websocket_upgrade_keeps_its_upgrade, error_answers_carry_the_reason));
    return s;
}
