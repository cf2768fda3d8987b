/* h2_msg — one direction of HTTP/2: frames and HPACK, read as they pass.
 * See include/h2_msg.h. */
#include "h2_msg.h"

#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#define FRAME_HEADER_LEN 9
static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof preface - 1)
#define SETTING_LEN 6
#define SETTINGS_HEADER_TABLE_SIZE 0x1
/* The most bytes read before a frame's body: GOAWAY's ids and code, or
 * HEADERS' pad length and priority fields. */
#define MAX_PREFIX 8

enum frame_type {
    FRAME_DATA = 0x0,
    FRAME_HEADERS = 0x1,
    FRAME_PRIORITY = 0x2,
    FRAME_RST_STREAM = 0x3,
    FRAME_SETTINGS = 0x4,
    FRAME_PUSH_PROMISE = 0x5,
    FRAME_PING = 0x6,
    FRAME_GOAWAY = 0x7,
    FRAME_WINDOW_UPDATE = 0x8,
    FRAME_CONTINUATION = 0x9
};

enum frame_flag {
    FLAG_END_STREAM = 0x1, /* also ACK on SETTINGS and PING */
    FLAG_END_HEADERS = 0x4,
    FLAG_PADDED = 0x8,
    FLAG_PRIORITY = 0x20
};

/* Where in the byte stream the reader is. */
typedef enum {
    AT_PREFACE, /* client direction: the 24-byte connection preface */
    AT_HEADER,  /* the 9-byte frame header */
    AT_PREFIX,  /* fixed fields before the body (pad length, ids, codes) */
    AT_BODY,    /* the frame's content, handed on as it arrives */
    AT_PADDING  /* padding, skipped */
} position;

struct h2_msg {
    const h2_msg_callbacks *cbs;
    void *arg;
    nghttp2_hd_inflater *hpack;
    position at;
    size_t got;                 /* bytes of the preface, header or prefix read */
    unsigned char buf[FRAME_HEADER_LEN]; /* frame header, then prefix or a setting */
    /* The current frame. */
    uint32_t length, stream;
    uint8_t type, flags;
    size_t prefix_len;
    uint32_t body_left, pad_left;
    uint32_t settings_table;    /* HEADER_TABLE_SIZE seen in this SETTINGS frame */
    /* A header block continues until END_HEADERS, in CONTINUATION frames
     * that nothing may come between. */
    bool in_block;
    uint32_t block_stream;
    bool block_end_stream;
    /* Table sizes of the peer's SETTINGS, applied when this side
     * acknowledges each of them, oldest first. */
    uint32_t unacked[H2_MSG_MAX_UNACKED_SETTINGS];
    size_t n_unacked;
    const char *error;
};

h2_msg *h2_msg_new(bool from_client, const h2_msg_callbacks *cbs, void *arg)
{
    h2_msg *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (nghttp2_hd_inflate_new(&m->hpack) != 0) {
        free(m);
        return NULL;
    }
    m->cbs = cbs;
    m->arg = arg;
    m->at = from_client ? AT_PREFACE : AT_HEADER;
    return m;
}

void h2_msg_free(h2_msg *m)
{
    if (!m)
        return;
    nghttp2_hd_inflate_del(m->hpack);
    free(m);
}

const char *h2_msg_error(const h2_msg *m)
{
    return m->error;
}

static int fail(h2_msg *m, const char *reason)
{
    if (!m->error)
        m->error = reason;
    return -1;
}

/* A callback asked to stop. */
static int check(h2_msg *m, int rc)
{
    return rc == 0 ? 0 : fail(m, "stopped");
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int h2_msg_peer_settings(h2_msg *m, uint32_t table_size)
{
    if (m->n_unacked == H2_MSG_MAX_UNACKED_SETTINGS)
        return fail(m, "too many unacknowledged HTTP/2 SETTINGS");
    m->unacked[m->n_unacked++] = table_size;
    return 0;
}

/* This side acknowledged the peer's oldest SETTINGS. */
static int settings_acked(h2_msg *m)
{
    if (m->n_unacked == 0)
        return 0; /* an acknowledgement of nothing: the peers' business */
    uint32_t size = m->unacked[0];
    m->n_unacked--;
    memmove(m->unacked, m->unacked + 1, m->n_unacked * sizeof m->unacked[0]);
    if (size == H2_MSG_NO_TABLE_SIZE)
        return 0;
    if (size > H2_MSG_MAX_TABLE_SIZE)
        size = H2_MSG_MAX_TABLE_SIZE;
    if (nghttp2_hd_inflate_change_table_size(m->hpack, size) != 0)
        return fail(m, "HPACK table size change failed");
    return 0;
}

/* Decode a piece of the current header block; final at its end. */
static int inflate(h2_msg *m, const unsigned char *in, size_t len, bool final)
{
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(m->hpack, &nv, &flags, in, len, final);
        if (rv < 0)
            return fail(m, rv == NGHTTP2_ERR_NOMEM ? "out of memory"
                                                   : "HPACK decoding failed");
        in += rv;
        len -= (size_t)rv;
        if ((flags & NGHTTP2_HD_INFLATE_EMIT) &&
            check(m, m->cbs->on_header(m->arg, (const char *)nv.name, nv.namelen,
                                       (const char *)nv.value, nv.valuelen)) != 0)
            return -1;
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(m->hpack);
            return 0;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && len == 0)
            return 0;
    }
}

/* The fixed fields before a frame's body, by type and flags; 0 when none. */
static size_t prefix_length(uint8_t type, uint8_t flags)
{
    size_t padded = flags & FLAG_PADDED ? 1 : 0;
    switch (type) {
    case FRAME_DATA:
        return padded;
    case FRAME_HEADERS:
        return padded + (flags & FLAG_PRIORITY ? 5 : 0);
    case FRAME_PUSH_PROMISE:
        return padded + 4;
    case FRAME_RST_STREAM:
        return 4;
    case FRAME_GOAWAY:
        return 8;
    default:
        return 0;
    }
}

/* Validate a complete frame header and set up its payload. */
static int begin_frame(h2_msg *m)
{
    const unsigned char *h = m->buf;
    m->length = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
    m->type = h[3];
    m->flags = h[4];
    m->stream = be32(h + 5) & 0x7fffffffu;
    m->got = 0;
    m->pad_left = 0;
    m->settings_table = H2_MSG_NO_TABLE_SIZE;
    if (m->in_block && (m->type != FRAME_CONTINUATION || m->stream != m->block_stream))
        return fail(m, "an HTTP/2 header block was interrupted");
    if (!m->in_block && m->type == FRAME_CONTINUATION)
        return fail(m, "an HTTP/2 CONTINUATION frame without a header block");
    bool on_stream = m->type == FRAME_DATA || m->type == FRAME_HEADERS ||
                     m->type == FRAME_PRIORITY || m->type == FRAME_RST_STREAM ||
                     m->type == FRAME_PUSH_PROMISE || m->type == FRAME_CONTINUATION;
    bool on_connection = m->type == FRAME_SETTINGS || m->type == FRAME_PING ||
                         m->type == FRAME_GOAWAY;
    if ((on_stream && m->stream == 0) || (on_connection && m->stream != 0))
        return fail(m, "an HTTP/2 frame on the wrong stream");
    bool ack = m->flags & FLAG_END_STREAM;
    bool bad_length =
        (m->type == FRAME_RST_STREAM && m->length != 4) ||
        (m->type == FRAME_PRIORITY && m->length != 5) ||
        (m->type == FRAME_PING && m->length != 8) ||
        (m->type == FRAME_WINDOW_UPDATE && m->length != 4) ||
        (m->type == FRAME_SETTINGS && (ack ? m->length != 0 : m->length % SETTING_LEN != 0));
    m->prefix_len = prefix_length(m->type, m->flags);
    if (bad_length || m->length < m->prefix_len)
        return fail(m, "an HTTP/2 frame of the wrong size");
    m->body_left = m->length - (uint32_t)m->prefix_len;
    m->at = AT_PREFIX;
    return 0;
}

/* The prefix is read: padding known, and the events it completes. */
static int prefix_done(h2_msg *m)
{
    const unsigned char *p = m->buf;
    if (m->flags & FLAG_PADDED &&
        (m->type == FRAME_DATA || m->type == FRAME_HEADERS ||
         m->type == FRAME_PUSH_PROMISE)) {
        if (p[0] > m->body_left)
            return fail(m, "HTTP/2 padding longer than its frame");
        m->pad_left = p[0];
        m->body_left -= p[0];
        p++;
    }
    m->at = AT_BODY;
    m->got = 0;
    switch (m->type) {
    case FRAME_HEADERS:
    case FRAME_PUSH_PROMISE: {
        uint32_t promised = 0;
        if (m->type == FRAME_PUSH_PROMISE)
            promised = be32(p) & 0x7fffffffu;
        m->in_block = true;
        m->block_stream = m->stream;
        m->block_end_stream = m->type == FRAME_HEADERS && (m->flags & FLAG_END_STREAM);
        return check(m, m->cbs->on_block_begin(m->arg, m->stream, promised,
                                               m->block_end_stream));
    }
    case FRAME_RST_STREAM:
        return check(m, m->cbs->on_rst_stream(m->arg, m->stream, be32(p)));
    case FRAME_GOAWAY:
        return check(m, m->cbs->on_goaway(m->arg, be32(p) & 0x7fffffffu, be32(p + 4)));
    default:
        return 0;
    }
}

/* A piece of the body of the current frame. */
static int body(h2_msg *m, const unsigned char *p, size_t n)
{
    switch (m->type) {
    case FRAME_DATA:
        return check(m, m->cbs->on_data(m->arg, m->stream, (const char *)p, n));
    case FRAME_HEADERS:
    case FRAME_PUSH_PROMISE:
    case FRAME_CONTINUATION:
        return inflate(m, p, n, false);
    case FRAME_SETTINGS:
        /* Settings are 6 bytes each, maybe split across reads. */
        for (size_t i = 0; i < n; i++) {
            m->buf[m->got++] = p[i];
            if (m->got < SETTING_LEN)
                continue;
            m->got = 0;
            if (((unsigned)m->buf[0] << 8 | m->buf[1]) == SETTINGS_HEADER_TABLE_SIZE)
                m->settings_table = be32(m->buf + 2);
        }
        return 0;
    default:
        return 0; /* PING data, GOAWAY debug data, unknown frames: skipped */
    }
}

/* The whole frame has been read. */
static int end_frame(h2_msg *m)
{
    m->at = AT_HEADER;
    m->got = 0;
    switch (m->type) {
    case FRAME_DATA:
        if (m->flags & FLAG_END_STREAM)
            return check(m, m->cbs->on_end_stream(m->arg, m->stream));
        return 0;
    case FRAME_HEADERS:
    case FRAME_PUSH_PROMISE:
    case FRAME_CONTINUATION:
        if (!(m->flags & FLAG_END_HEADERS))
            return 0;
        m->in_block = false;
        static const unsigned char nothing[1];
        if (inflate(m, nothing, 0, true) != 0 || check(m, m->cbs->on_block_end(m->arg)) != 0)
            return -1;
        if (m->block_end_stream)
            return check(m, m->cbs->on_end_stream(m->arg, m->block_stream));
        return 0;
    case FRAME_SETTINGS:
        if (m->flags & FLAG_END_STREAM)
            return settings_acked(m);
        return check(m, m->cbs->on_settings(m->arg, m->settings_table));
    default:
        return 0;
    }
}

/* Move on through states that need no more input (an empty prefix, body
 * or padding). */
static int settle(h2_msg *m)
{
    for (;;) {
        if (m->at == AT_PREFIX && m->got == m->prefix_len) {
            if (prefix_done(m) != 0)
                return -1;
        } else if (m->at == AT_BODY && m->body_left == 0) {
            m->at = AT_PADDING;
        } else if (m->at == AT_PADDING && m->pad_left == 0) {
            return end_frame(m);
        } else {
            return 0;
        }
    }
}

int h2_msg_feed(h2_msg *m, const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    while (!m->error && len > 0) {
        size_t n = 0;
        switch (m->at) {
        case AT_PREFACE:
            n = PREFACE_LEN - m->got < len ? PREFACE_LEN - m->got : len;
            if (memcmp(p, preface + m->got, n) != 0)
                return fail(m, "not the HTTP/2 connection preface");
            m->got += n;
            if (m->got == PREFACE_LEN) {
                m->at = AT_HEADER;
                m->got = 0;
            }
            break;
        case AT_HEADER:
            n = FRAME_HEADER_LEN - m->got < len ? FRAME_HEADER_LEN - m->got : len;
            memcpy(m->buf + m->got, p, n);
            m->got += n;
            if (m->got == FRAME_HEADER_LEN && (begin_frame(m) != 0 || settle(m) != 0))
                return -1;
            break;
        case AT_PREFIX:
            n = m->prefix_len - m->got < len ? m->prefix_len - m->got : len;
            memcpy(m->buf + m->got, p, n);
            m->got += n;
            if (settle(m) != 0)
                return -1;
            break;
        case AT_BODY:
            n = m->body_left < len ? m->body_left : len;
            m->body_left -= (uint32_t)n;
            if (body(m, p, n) != 0 || settle(m) != 0)
                return -1;
            break;
        case AT_PADDING:
            n = m->pad_left < len ? m->pad_left : len;
            m->pad_left -= (uint32_t)n;
            if (settle(m) != 0)
                return -1;
            break;
        }
        p += n;
        len -= n;
    }
    return m->error ? -1 : 0;
}

const char *h2_msg_error_name(uint32_t error_code)
{
    static const char *const names[] = {
        "NO_ERROR",           "PROTOCOL_ERROR",      "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",    "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",   "REFUSED_STREAM",      "CANCEL",
        "COMPRESSION_ERROR",  "CONNECT_ERROR",       "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
    };
    return error_code < sizeof names / sizeof names[0] ? names[error_code] : NULL;
}
