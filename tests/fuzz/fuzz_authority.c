/* libFuzzer target: authority_parse, authority_format and
 * authority_name_is_certifiable.
 *
 * Input: a control byte choosing the default port (0: the port is
 * required; else 443, 80, 1, 65535, or the byte itself), then the text.
 * Checked: whatever parses formats into text that parses back to the same
 * authority; whatever is certifiable is a well-formed DNS name. */
#include <arpa/inet.h>
#include <string.h>

#include "authority.h"
#include "fuzz.h"

static bool is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* What authority.h promises of a certifiable name. Letters may be of
 * either case: the function accepts "Mixed.Case.Example" on purpose
 * (test_authority.c), dNSName matching being case-insensitive. */
static void check_certifiable(const char *name)
{
    size_t len = strlen(name), label = 0;
    bool letter = false;
    FUZZ_ASSERT(len >= 1 && len <= 253);
    for (size_t i = 0; i <= len; i++) {
        char c = name[i];
        if (c == '.' || c == '\0') {
            FUZZ_ASSERT(label >= 1 && label <= 63); /* no empty label */
            FUZZ_ASSERT(name[i - 1] != '-');        /* no hyphen at its end */
            label = 0;
            continue;
        }
        FUZZ_ASSERT(is_ldh(c)); /* no '*', ',', ':', space, NUL, non-ASCII */
        if (label == 0)
            FUZZ_ASSERT(c != '-');
        if (!(c >= '0' && c <= '9'))
            letter = true;
        label++;
    }
    FUZZ_ASSERT(letter); /* not an IP literal */
}

static void check_parsed(const authority *a)
{
    size_t len = strnlen(a->host, sizeof a->host);
    FUZZ_ASSERT(len >= 1 && len < sizeof a->host);
    FUZZ_ASSERT(a->port >= 1);
    uint8_t addr[16];
    switch (a->kind) {
    case AUTHORITY_NAME:
        FUZZ_ASSERT(len <= 253);
        FUZZ_ASSERT(a->host[0] != '.' && a->host[len - 1] != '.');
        FUZZ_ASSERT(strstr(a->host, "..") == NULL);
        for (size_t i = 0; i < len; i++) {
            char c = a->host[i];
            FUZZ_ASSERT(c == '.' || (is_ldh(c) && !(c >= 'A' && c <= 'Z')));
        }
        break;
    case AUTHORITY_IPV4:
        FUZZ_ASSERT(inet_pton(AF_INET, a->host, addr) == 1);
        break;
    case AUTHORITY_IPV6:
        FUZZ_ASSERT(inet_pton(AF_INET6, a->host, addr) == 1);
        break;
    default:
        FUZZ_ASSERT(!"unknown kind");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t ports[] = { 0, 443, 80, 1, 65535 };
    if (size < 1)
        return 0;
    uint16_t def = data[0] < 5 ? ports[data[0]] : data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    authority a, b;
    const char *why = NULL;
    memset(&a, 0x5a, sizeof a);
    if (authority_parse(text, len, def, &a, &why) == 0) {
        check_parsed(&a);
        char buf[AUTHORITY_HOST_MAX + 16];
        int n = authority_format(&a, buf, sizeof buf);
        FUZZ_ASSERT(n > 0 && (size_t)n < sizeof buf && strlen(buf) == (size_t)n);
        /* format(parse(x)) parses back to the same authority */
        why = NULL;
        FUZZ_ASSERT(authority_parse(buf, (size_t)n, 0, &b, &why) == 0);
        FUZZ_ASSERT(strcmp(a.host, b.host) == 0);
        FUZZ_ASSERT(a.port == b.port && a.kind == b.kind);
        /* and formats the same way again */
        char buf2[sizeof buf];
        FUZZ_ASSERT(authority_format(&b, buf2, sizeof buf2) == n);
        FUZZ_ASSERT(strcmp(buf, buf2) == 0);
        /* a short buffer is cut, NUL-terminated, and the length stays */
        char small[8];
        FUZZ_ASSERT(authority_format(&a, small, sizeof small) == n);
        FUZZ_ASSERT(strlen(small) == ((size_t)n < sizeof small ? (size_t)n : sizeof small - 1));
        if (authority_name_is_certifiable(a.host)) {
            FUZZ_ASSERT(a.kind == AUTHORITY_NAME);
            check_certifiable(a.host);
        }
    } else {
        FUZZ_ASSERT(why != NULL && why[0] != '\0');
        /* out is left alone on failure */
        FUZZ_ASSERT((unsigned char)a.host[0] == 0x5a);
        FUZZ_ASSERT(authority_parse(text, len, def, NULL, NULL) == -1);
    }

    /* the whole text as a name, as SNI or a SAN would give it */
    char *name = malloc(len + 1);
    FUZZ_ASSERT(name != NULL);
    memcpy(name, text, len);
    name[len] = '\0';
    if (authority_name_is_certifiable(name))
        check_certifiable(name);
    free(name);
    return 0;
}
