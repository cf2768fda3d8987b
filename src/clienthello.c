/* clienthello — classify the first tunnel bytes and read a TLS ClientHello
 * without OpenSSL. See include/clienthello.h.
 *
 * Two steps: walk the records and gather the handshake message (it may be
 * split across records), then parse the message with a bounded reader in
 * which every vector is a sub-reader of exactly its declared length. */
#include "clienthello.h"

#include <string.h>

#define CT_HANDSHAKE 0x16
#define HS_CLIENT_HELLO 1
#define RECORD_HEADER 5
#define HS_HEADER 4
#define RECORD_MAX 16384 /* TLSPlaintext.length <= 2^14 */

#define EXT_SERVER_NAME 0
#define EXT_ALPN 16
#define EXT_SUPPORTED_VERSIONS 43
#define SNI_HOST_NAME 0
#define TLS13 0x0304

/* A bounded view: reads past n fail and leave the reader unchanged. */
typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static bool get_u8(reader *r, unsigned *v)
{
    if (r->n < 1)
        return false;
    *v = r->p[0];
    r->p++;
    r->n--;
    return true;
}

static bool get_u16(reader *r, unsigned *v)
{
    if (r->n < 2)
        return false;
    *v = (unsigned)r->p[0] << 8 | r->p[1];
    r->p += 2;
    r->n -= 2;
    return true;
}

static bool get_bytes(reader *r, size_t n, reader *sub)
{
    if (r->n < n)
        return false;
    sub->p = r->p;
    sub->n = n;
    r->p += n;
    r->n -= n;
    return true;
}

/* opaque x<..2^8-1> and x<..2^16-1>: the length, then that many bytes. */
static bool get_vec8(reader *r, reader *sub)
{
    reader save = *r;
    unsigned n;
    if (get_u8(r, &n) && get_bytes(r, n, sub))
        return true;
    *r = save;
    return false;
}

static bool get_vec16(reader *r, reader *sub)
{
    reader save = *r;
    unsigned n;
    if (get_u16(r, &n) && get_bytes(r, n, sub))
        return true;
    *r = save;
    return false;
}

static clienthello_status fail(clienthello_info *out, clienthello_status s,
                               const char *why)
{
    out->error = why;
    return s;
}

#define MALFORMED(why) fail(out, CLIENTHELLO_MALFORMED, why)

/* GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ..., 0xfafa. */
static bool is_grease(unsigned v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static bool is_host_byte(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* Copy a host_name into out->sni when it is a usable DNS name. The bytes
 * come from the wire and end up in policy decisions and log lines, so only
 * LDH (plus '_') labels pass: no NUL, comma, space, '*', ':', non-ASCII.
 * Literal IPv4 addresses are not permitted in SNI (RFC 6066 section 3). */
static void take_host_name(const reader *name, clienthello_info *out)
{
    size_t len = name->n;
    if (len > 1 && name->p[len - 1] == '.')
        len--; /* the absolute form of the same name */
    if (len == 0 || len > CLIENTHELLO_SNI_MAX)
        return;
    size_t label = 0;
    bool letter = false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = name->p[i];
        if (!is_host_byte(c))
            return;
        if (c == '.') {
            if (label == 0)
                return;
            label = 0;
            continue;
        }
        if (++label > 63)
            return;
        if (c < '0' || c > '9')
            letter = true;
    }
    if (label == 0 || !letter)
        return; /* empty last label, or digits and dots only */
    for (size_t i = 0; i < len; i++) {
        uint8_t c = name->p[i];
        out->sni[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    }
    out->sni[len] = '\0';
    out->sni_kind = CLIENTHELLO_SNI_NAME;
}

/* RFC 6066 section 3: ServerNameList server_name_list<1..2^16-1>, each a
 * name_type and (for every type defined or foreseen) opaque<1..2^16-1>;
 * at most one name per type. */
static clienthello_status parse_sni(reader ext, clienthello_info *out)
{
    reader list, name;
    bool host_seen = false;
    if (!get_vec16(&ext, &list) || ext.n != 0)
        return MALFORMED("server_name: bad list length");
    if (list.n == 0)
        return MALFORMED("server_name: empty list");
    out->sni_kind = CLIENTHELLO_SNI_UNUSABLE;
    while (list.n > 0) {
        unsigned type;
        if (!get_u8(&list, &type) || !get_vec16(&list, &name))
            return MALFORMED("server_name: bad name length");
        if (name.n == 0)
            return MALFORMED("server_name: empty name");
        if (type != SNI_HOST_NAME)
            continue;
        if (host_seen)
            return MALFORMED("server_name: two host names");
        host_seen = true;
        take_host_name(&name, out);
    }
    return CLIENTHELLO_OK;
}

/* RFC 7301: ProtocolName protocol_name_list<2..2^16-1>, each
 * opaque<1..2^8-1>. */
static clienthello_status parse_alpn(reader ext, clienthello_info *out)
{
    reader list, name;
    if (!get_vec16(&ext, &list) || ext.n != 0)
        return MALFORMED("ALPN: bad list length");
    if (list.n == 0)
        return MALFORMED("ALPN: empty list");
    out->has_alpn = true;
    while (list.n > 0) {
        if (!get_vec8(&list, &name))
            return MALFORMED("ALPN: bad name length");
        if (name.n == 0)
            return MALFORMED("ALPN: empty protocol name");
        if (out->n_alpn == CLIENTHELLO_ALPN_MAX) {
            out->alpn_truncated = true;
            continue;
        }
        clienthello_alpn *a = &out->alpn[out->n_alpn++];
        memcpy(a->name, name.p, name.n); /* name.n <= 255 by its u8 length */
        a->name[name.n] = '\0';
        a->len = name.n;
    }
    return CLIENTHELLO_OK;
}

/* RFC 8446 4.2.1, ClientHello form: ProtocolVersion versions<2..254>. */
static clienthello_status parse_versions(reader ext, clienthello_info *out)
{
    reader list;
    if (!get_vec8(&ext, &list) || ext.n != 0)
        return MALFORMED("supported_versions: bad list length");
    if (list.n < 2 || list.n % 2 != 0)
        return MALFORMED("supported_versions: bad list length");
    unsigned best = 0;
    while (list.n > 0) {
        unsigned v = 0;
        (void)get_u16(&list, &v); /* cannot fail: list.n is even */
        if (v == TLS13)
            out->offers_tls13 = true;
        if (!is_grease(v) && v > best)
            best = v;
    }
    if (best != 0)
        out->max_version = (uint16_t)best;
    return CLIENTHELLO_OK;
}

static clienthello_status parse_extensions(reader exts, clienthello_info *out)
{
    bool seen_sni = false, seen_alpn = false, seen_versions = false;
    while (exts.n > 0) {
        unsigned type;
        reader body;
        clienthello_status s = CLIENTHELLO_OK;
        if (!get_u16(&exts, &type) || !get_vec16(&exts, &body))
            return MALFORMED("bad extension length");
        /* RFC 8446 4.2: no extension type twice; checked for those read. */
        switch (type) {
        case EXT_SERVER_NAME:
            if (seen_sni)
                return MALFORMED("server_name sent twice");
            seen_sni = true;
            s = parse_sni(body, out);
            break;
        case EXT_ALPN:
            if (seen_alpn)
                return MALFORMED("ALPN sent twice");
            seen_alpn = true;
            s = parse_alpn(body, out);
            break;
        case EXT_SUPPORTED_VERSIONS:
            if (seen_versions)
                return MALFORMED("supported_versions sent twice");
            seen_versions = true;
            s = parse_versions(body, out);
            break;
        default:
            break;
        }
        if (s != CLIENTHELLO_OK)
            return s;
    }
    return CLIENTHELLO_OK;
}

/* The ClientHello body (RFC 8446 4.1.2, RFC 5246 7.4.1.2). */
static clienthello_status parse_body(reader m, clienthello_info *out)
{
    reader skip, exts;
    unsigned version;
    if (!get_u16(&m, &version))
        return MALFORMED("ClientHello too short");
    if (version >> 8 != 3)
        return MALFORMED("ClientHello version is not 3.x");
    out->legacy_version = (uint16_t)version;
    out->max_version = (uint16_t)version;
    if (!get_bytes(&m, 32, &skip))
        return MALFORMED("ClientHello too short");
    if (!get_vec8(&m, &skip) || skip.n > 32)
        return MALFORMED("bad session id length");
    if (!get_vec16(&m, &skip) || skip.n == 0 || skip.n % 2 != 0)
        return MALFORMED("bad cipher suites length");
    if (!get_vec8(&m, &skip) || skip.n == 0)
        return MALFORMED("bad compression methods length");
    if (m.n == 0)
        return CLIENTHELLO_OK; /* no extensions (before TLS 1.3) */
    if (!get_vec16(&m, &exts) || m.n != 0)
        return MALFORMED("bad extensions length");
    return parse_extensions(exts, out);
}

/* Walk the records of data[0..len) and gather the handshake message into
 * buf. Returns OK with *msg_len set once the whole ClientHello is there. */
static clienthello_status gather(const uint8_t *data, size_t len, uint8_t *buf,
                                 size_t *msg_len, clienthello_info *out)
{
    size_t pos = 0;  /* offset of the current record header */
    size_t have = 0; /* handshake bytes gathered */
    size_t need = 0; /* the message's size, header included; 0 = unknown */

    for (size_t rec = 0;; rec++) {
        /* A record holds at least one byte: if even that cannot end within
         * the bound, say so now, so that no caller waits beyond it. */
        if (pos + RECORD_HEADER + 1 > CLIENTHELLO_MAX_WIRE)
            return MALFORMED("ClientHello spread over too many bytes");
        if (len - pos < 1)
            return CLIENTHELLO_INCOMPLETE;
        if (data[pos] != CT_HANDSHAKE)
            return rec == 0 ? fail(out, CLIENTHELLO_NOT_TLS, "not a TLS handshake record")
                            : MALFORMED("another record type inside the ClientHello");
        if (len - pos < 2)
            return CLIENTHELLO_INCOMPLETE;
        if (data[pos + 1] != 3)
            return rec == 0 ? fail(out, CLIENTHELLO_NOT_TLS, "record version is not 3.x")
                            : MALFORMED("record version is not 3.x");
        if (len - pos < RECORD_HEADER)
            return CLIENTHELLO_INCOMPLETE;
        size_t rlen = (size_t)data[pos + 3] << 8 | data[pos + 4];
        if (rlen == 0)
            return MALFORMED("empty handshake record");
        if (rlen > RECORD_MAX)
            return MALFORMED("record too long");
        size_t payload = pos + RECORD_HEADER;
        if (payload + rlen > CLIENTHELLO_MAX_WIRE)
            return MALFORMED("ClientHello spread over too many bytes");
        size_t avail = len - payload < rlen ? len - payload : rlen;
        size_t used = 0, before = have;

        while (used < avail) {
            size_t target = need ? need : HS_HEADER;
            size_t n = target - have;
            if (n > avail - used)
                n = avail - used;
            memcpy(buf + have, data + payload + used, n);
            have += n;
            used += n;
            if (!need && have == HS_HEADER) {
                if (buf[0] != HS_CLIENT_HELLO)
                    return MALFORMED("handshake message is not a ClientHello");
                size_t body = (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
                if (body > CLIENTHELLO_MAX_MESSAGE - HS_HEADER)
                    return MALFORMED("ClientHello too long");
                need = HS_HEADER + body;
            }
            if (need && have == need)
                break;
        }
        /* The hello must end on a record boundary: nothing else of the
         * handshake may come before the server answers. */
        if (need && before + rlen > need)
            return MALFORMED("data after the ClientHello in its record");
        if (need && have == need) {
            out->wire_bytes = payload + rlen;
            out->n_records = rec + 1;
            *msg_len = need;
            return CLIENTHELLO_OK;
        }
        if (avail < rlen)
            return CLIENTHELLO_INCOMPLETE;
        pos = payload + rlen;
    }
}

clienthello_status clienthello_parse(const uint8_t *data, size_t len,
                                     clienthello_info *out)
{
    uint8_t buf[CLIENTHELLO_MAX_MESSAGE];
    size_t msg_len = 0;

    memset(out, 0, sizeof *out);
    if (!data)
        len = 0;
    clienthello_status s = gather(data, len, buf, &msg_len, out);
    if (s == CLIENTHELLO_OK) {
        reader m = { buf + HS_HEADER, msg_len - HS_HEADER };
        s = parse_body(m, out);
    }
    if (s != CLIENTHELLO_OK) {
        const char *why = out->error;
        memset(out, 0, sizeof *out);
        out->error = why;
    }
    return s;
}

const char *clienthello_status_str(clienthello_status s)
{
    switch (s) {
    case CLIENTHELLO_OK:
        return "ok";
    case CLIENTHELLO_INCOMPLETE:
        return "incomplete";
    case CLIENTHELLO_NOT_TLS:
        return "not TLS";
    case CLIENTHELLO_MALFORMED:
        return "malformed";
    }
    return "?";
}
