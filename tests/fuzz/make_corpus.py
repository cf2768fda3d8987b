#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets into tests/fuzz/corpus/.

Each seed is a small real input in the target's format (see the comment at
the top of each tests/fuzz/fuzz_*.c). The ClientHello captures come from
capture_clienthello.py; this adds variants of them and non-TLS openings.
Run from anywhere; existing files of the same name are overwritten."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("latin-1")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def cut_byte(stream_len, cut):
    """The control byte b for which b * stream_len // 255 == cut."""
    for b in range(256):
        if b * stream_len // 255 == cut:
            return b
    raise ValueError("no control byte cuts %d bytes at %d" % (stream_len, cut))


REQUESTS = {
    "get": "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
           "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    "post_length": "POST /api/items HTTP/1.1\r\nHost: api.example.com\r\n"
                   "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                   "{\"name\":\"x\"}\n",
    "post_chunked": "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    "pipelined": "GET /a HTTP/1.1\r\nHost: a\r\n\r\nHEAD /b HTTP/1.1\r\nHost: a\r\n\r\n"
                 "GET /c HTTP/1.0\r\n\r\n",
    "connect": "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
               "Proxy-Connection: keep-alive\r\n\r\n\x16\x03\x01",
    "websocket": "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n\x81\x05hello",
    "absolute_form": "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n"
                     "Connection: close, TE\r\nFolded: a\r\n  b\r\n\r\n",
    "expect_continue": "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                       "Content-Length: 3\r\n\r\nabc",
    "http09ish": "GET /\r\n\r\n",
}

RESPONSES = {
    "ok_length": "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "4\r\nWiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\n\r\n",
    "close_delimited": "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    "interim": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
               "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    "no_content": "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
                  "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
    "switching": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\n\r\n\x81\x02hi",
    "keepalive_pair": "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!"
                      "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\nbye",
}

# (name, response mask byte, stream): the mask says which responses answer HEAD
RESPONSE_MASKS = {"ok_length": 0x01, "keepalive_pair": 0x02, "chunked": 0x00,
                  "close_delimited": 0x00, "interim": 0x00, "no_content": 0x00,
                  "switching": 0x00}

FLOWS = {
    "get_ok": (REQUESTS["get"], RESPONSES["ok_length"]),
    "head_then_get": ("HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
                      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
    "continue": ("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                 "Content-Length: 3\r\n\r\nabc",
                 "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
                 "Content-Length: 0\r\n\r\n"),
    "websocket": ("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\n\r\n\x81\x05hello",
                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\n\r\n\x81\x02hi"),
    "close_delimited": ("GET /x HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\nall of it"),
    "chunked_both": ("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "2\r\nok\r\n0\r\n\r\n"),
    "garbage_server": ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "SSH-2.0-OpenSSH_9.2\r\n"),
}
# schedule bytes: whole streams client first; 1-byte turns; 7/3 server first
SCHEDULES = [0x3f, 0x00, 0x5b, 0x92]

AUTHORITIES = [
    (0, "example.com:443"), (1, "Example.COM."), (0, "[::1]:8443"),
    (0, "[2001:db8::1]:443"), (2, "127.0.0.1"), (0, "10.0.0.1:65535"),
    (3, "_dmarc.example.com"), (0, "xn--bcher-kva.example:80"),
    (0, "a-b.c-d.e:1"), (4, "[fe80::1%25eth0]"), (0, "user@host:80"),
    (0, "1.2.3:80"), (0, "*.example.com:443"), (ord("a"), "localhost"),
]


def main():
    for name, req in REQUESTS.items():
        write("request_head", name, "x" + req)
        write("request_head", name + "_1", "\x01" + req)
    for name, resp in RESPONSES.items():
        write("response", name, "x" + chr(RESPONSE_MASKS[name]) + resp)
    for name, (client, server) in FLOWS.items():
        stream = client + server
        b = cut_byte(len(stream), len(client))
        for i, sched in enumerate(SCHEDULES):
            write("flow", "%s_%d" % (name, i), chr(b) + chr(sched) + stream)
    for i, (port, text) in enumerate(AUTHORITIES):
        write("authority", "%02d" % i, chr(port) + text)

    # clienthello: the captures cut into records; openings that are not TLS
    ch = os.path.join(CORPUS, "clienthello")
    for base, cut in (("openssl_sni_alpn", 61), ("curl", 200)):
        with open(os.path.join(ch, base + ".bin"), "rb") as f:
            rec = f.read()
        msg, out = rec[5:], b""
        for off in range(0, len(msg), cut):
            part = msg[off:off + cut]
            out += rec[:3] + len(part).to_bytes(2, "big") + part
        write("clienthello", "%s_records_of_%d.bin" % (base, cut), out)
    write("clienthello", "http_get", REQUESTS["get"])
    write("clienthello", "ssh_banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    write("clienthello", "server_hello_start", "\x16\x03\x03\x00\x30\x02\x00\x00\x2c\x03\x03")


if __name__ == "__main__":
    main()
