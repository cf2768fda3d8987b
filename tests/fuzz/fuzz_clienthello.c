/* libFuzzer target: clienthello_parse.
 *
 * Input: the first bytes of a tunnel, as is. Besides the absence of
 * crashes it checks what the header promises: the output's invariants,
 * that a final answer does not change when more bytes arrive (and that an
 * OK hello was INCOMPLETE one byte earlier), and that the same hello cut
 * into other records reads the same. */
#include <string.h>

#include "clienthello.h"
#include "fuzz.h"

static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

static void check_info(clienthello_status s, const clienthello_info *in,
                       size_t size)
{
    switch (s) {
    case CLIENTHELLO_OK:
        FUZZ_ASSERT(in->error == NULL);
        FUZZ_ASSERT(in->wire_bytes >= 5 + 4 && in->wire_bytes <= size);
        FUZZ_ASSERT(in->wire_bytes <= CLIENTHELLO_MAX_WIRE);
        FUZZ_ASSERT(in->n_records >= 1 && in->n_records * 6 <= in->wire_bytes);
        FUZZ_ASSERT(in->legacy_version >> 8 == 3);
        FUZZ_ASSERT(in->max_version != 0);
        if (in->offers_tls13)
            FUZZ_ASSERT(in->max_version >= 0x0304);
        break;
    case CLIENTHELLO_INCOMPLETE:
        FUZZ_ASSERT(in->error == NULL);
        FUZZ_ASSERT(size < CLIENTHELLO_MAX_WIRE);
        break;
    case CLIENTHELLO_NOT_TLS:
    case CLIENTHELLO_MALFORMED:
        FUZZ_ASSERT(in->error != NULL && in->error[0] != '\0');
        break;
    default:
        FUZZ_ASSERT(!"unknown status");
    }
    FUZZ_ASSERT(strcmp(clienthello_status_str(s), "?") != 0);
    if (s != CLIENTHELLO_OK) {
        FUZZ_ASSERT(in->wire_bytes == 0 && in->n_records == 0);
        FUZZ_ASSERT(in->sni_kind == CLIENTHELLO_SNI_NONE && in->n_alpn == 0);
    }

    size_t sni_len = strnlen(in->sni, sizeof in->sni);
    FUZZ_ASSERT(sni_len <= CLIENTHELLO_SNI_MAX);
    if (in->sni_kind == CLIENTHELLO_SNI_NAME) {
        FUZZ_ASSERT(sni_len > 0);
        FUZZ_ASSERT(in->sni[0] != '.' && in->sni[sni_len - 1] != '.');
        FUZZ_ASSERT(strstr(in->sni, "..") == NULL);
        for (size_t i = 0; i < sni_len; i++)
            FUZZ_ASSERT(is_host_char(in->sni[i]));
    } else {
        FUZZ_ASSERT(sni_len == 0);
    }

    FUZZ_ASSERT(in->n_alpn <= CLIENTHELLO_ALPN_MAX);
    FUZZ_ASSERT(in->has_alpn == (in->n_alpn > 0));
    if (in->alpn_truncated)
        FUZZ_ASSERT(in->n_alpn == CLIENTHELLO_ALPN_MAX);
    for (size_t i = 0; i < in->n_alpn; i++) {
        FUZZ_ASSERT(in->alpn[i].len >= 1 &&
                    in->alpn[i].len <= CLIENTHELLO_ALPN_NAME_MAX);
        FUZZ_ASSERT(in->alpn[i].name[in->alpn[i].len] == '\0');
    }
}

static void same_info(const clienthello_info *a, const clienthello_info *b,
                      bool same_records)
{
    if (same_records) {
        FUZZ_ASSERT(a->wire_bytes == b->wire_bytes);
        FUZZ_ASSERT(a->n_records == b->n_records);
    }
    FUZZ_ASSERT(a->legacy_version == b->legacy_version);
    FUZZ_ASSERT(a->max_version == b->max_version);
    FUZZ_ASSERT(a->offers_tls13 == b->offers_tls13);
    FUZZ_ASSERT(a->sni_kind == b->sni_kind);
    FUZZ_ASSERT(strcmp(a->sni, b->sni) == 0);
    FUZZ_ASSERT(a->has_alpn == b->has_alpn && a->n_alpn == b->n_alpn);
    FUZZ_ASSERT(a->alpn_truncated == b->alpn_truncated);
    for (size_t i = 0; i < a->n_alpn; i++) {
        FUZZ_ASSERT(a->alpn[i].len == b->alpn[i].len);
        FUZZ_ASSERT(memcmp(a->alpn[i].name, b->alpn[i].name, a->alpn[i].len) == 0);
    }
    FUZZ_ASSERT(a->error == b->error ||
                (a->error && b->error && strcmp(a->error, b->error) == 0));
}

/* The handshake bytes of an OK hello, gathered from its records, cut
 * into records of chunk bytes (record version 3.1). */
static uint8_t *recut(const uint8_t *data, size_t wire, size_t chunk, size_t *out_len)
{
    uint8_t *msg = malloc(wire), *out;
    size_t m = 0;
    FUZZ_ASSERT(msg != NULL);
    for (size_t pos = 0; pos < wire;) {
        size_t rlen = (size_t)data[pos + 3] << 8 | data[pos + 4];
        memcpy(msg + m, data + pos + 5, rlen);
        m += rlen;
        pos += 5 + rlen;
    }
    size_t records = (m + chunk - 1) / chunk;
    *out_len = m + 5 * records;
    out = malloc(*out_len);
    FUZZ_ASSERT(out != NULL);
    size_t o = 0;
    for (size_t off = 0; off < m; off += chunk) {
        size_t c = m - off < chunk ? m - off : chunk;
        out[o++] = 0x16;
        out[o++] = 0x03;
        out[o++] = 0x01;
        out[o++] = (uint8_t)(c >> 8);
        out[o++] = (uint8_t)c;
        memcpy(out + o, msg + off, c);
        o += c;
    }
    free(msg);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clienthello_info full, part;
    clienthello_status s = clienthello_parse(data, size, &full);
    check_info(s, &full, size);

    /* shorter inputs: INCOMPLETE, or already this very answer */
    size_t cuts[3] = { size / 2, size ? size - 1 : 0,
                       s == CLIENTHELLO_OK ? full.wire_bytes - 1 : size / 3 };
    for (size_t i = 0; i < 3; i++) {
        if (cuts[i] >= size)
            continue;
        clienthello_status ps = clienthello_parse(data, cuts[i], &part);
        check_info(ps, &part, cuts[i]);
        if (ps != CLIENTHELLO_INCOMPLETE) {
            FUZZ_ASSERT(ps == s);
            same_info(&part, &full, true);
        }
        if (i == 2 && s == CLIENTHELLO_OK)
            FUZZ_ASSERT(ps == CLIENTHELLO_INCOMPLETE);
    }

    if (s == CLIENTHELLO_OK) {
        /* exactly its records are enough */
        FUZZ_ASSERT(clienthello_parse(data, full.wire_bytes, &part) == CLIENTHELLO_OK);
        same_info(&part, &full, true);
        /* the same message in other records */
        size_t chunk = 1 + data[full.wire_bytes / 2] % 97, len;
        uint8_t *re = recut(data, full.wire_bytes, chunk, &len);
        if (len <= CLIENTHELLO_MAX_WIRE) {
            FUZZ_ASSERT(clienthello_parse(re, len, &part) == CLIENTHELLO_OK);
            same_info(&part, &full, false);
            FUZZ_ASSERT(part.wire_bytes == len);
        }
        free(re);
    }
    return 0;
}
