/* clienthello — classify the first bytes a client sends into a tunnel (a
 * TLS handshake or not) and read its ClientHello (SNI, ALPN, versions)
 * without OpenSSL, for decisions taken before a TLS object exists: the
 * tunnel (conn_tunnel.c) reads the SNI to match --ignore-hosts when the
 * CONNECT names an IP address, so that a pinned host's bytes, hello
 * included, pass through untouched.
 *
 * The parser is stateless: give it every byte received so far, from the
 * first, each time more arrive. A ClientHello fragmented across several
 * records is reassembled. Once a call returns anything but INCOMPLETE,
 * feeding more bytes gives the same answer, and a caller never needs more
 * than CLIENTHELLO_MAX_WIRE bytes to get it.
 *
 * Pure: libc only, no logging; callers report the returned status. */
#ifndef TLSPEEK_CLIENTHELLO_H
#define TLSPEEK_CLIENTHELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest ClientHello handshake message accepted, header included. */
#define CLIENTHELLO_MAX_MESSAGE (16384 + 4)
/* Largest input needed: records carrying a hello must end within it. */
#define CLIENTHELLO_MAX_WIRE 32768
/* Longest SNI host name kept (RFC 1035), without the NUL. */
#define CLIENTHELLO_SNI_MAX 253
/* ALPN protocol names kept, and the longest name (RFC 7301). */
#define CLIENTHELLO_ALPN_MAX 8
#define CLIENTHELLO_ALPN_NAME_MAX 255

typedef enum {
    CLIENTHELLO_OK,         /* a well-formed ClientHello: *out is filled */
    CLIENTHELLO_INCOMPLETE, /* nothing wrong so far: call again with more */
    CLIENTHELLO_NOT_TLS,    /* not a TLS handshake record: first byte not
                               0x16, or record version not 3.x */
    CLIENTHELLO_MALFORMED   /* TLS records, but not a valid ClientHello */
} clienthello_status;

typedef enum {
    CLIENTHELLO_SNI_NONE,     /* no server_name extension */
    CLIENTHELLO_SNI_NAME,     /* sni holds the host name */
    CLIENTHELLO_SNI_UNUSABLE  /* server_name sent, but not a usable host name:
                                 an IP literal, too long, empty label, a byte
                                 outside [A-Za-z0-9._-], or no host_name entry */
} clienthello_sni;

typedef struct {
    size_t len;                               /* 1..255 */
    char name[CLIENTHELLO_ALPN_NAME_MAX + 1]; /* as sent (may hold NULs), NUL-terminated */
} clienthello_alpn;

typedef struct {
    /* input bytes from the first record through the end of the record that
     * completes the hello (the hello always ends on a record boundary) */
    size_t wire_bytes;
    size_t n_records;        /* records the hello was carried in */
    uint16_t legacy_version; /* ClientHello.legacy_version, e.g. 0x0303 */
    /* highest version offered: the largest non-GREASE entry of
     * supported_versions, else legacy_version */
    uint16_t max_version;
    bool offers_tls13;       /* supported_versions lists 0x0304 */
    clienthello_sni sni_kind;
    char sni[CLIENTHELLO_SNI_MAX + 1]; /* lower-cased, no trailing dot; "" unless SNI_NAME */
    bool has_alpn;           /* the ALPN extension was sent */
    size_t n_alpn;           /* names copied into alpn[], in the client's order */
    bool alpn_truncated;     /* more than CLIENTHELLO_ALPN_MAX were offered */
    clienthello_alpn alpn[CLIENTHELLO_ALPN_MAX];
    /* after NOT_TLS or MALFORMED: why, in plain words (static); else NULL */
    const char *error;
} clienthello_info;

/* Classify data[0..len), the first bytes of a tunnel, and read the
 * ClientHello they start with. *out is always reset; it is filled on
 * CLIENTHELLO_OK, and out->error is set on NOT_TLS and MALFORMED.
 * Every length field is checked against its enclosing bounds. */
clienthello_status clienthello_parse(const uint8_t *data, size_t len,
                                     clienthello_info *out);

/* "ok", "incomplete", "not TLS", "malformed". */
const char *clienthello_status_str(clienthello_status s);

#endif
