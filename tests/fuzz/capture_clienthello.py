#!/usr/bin/env python3
"""Capture real TLS ClientHellos from local clients, for the clienthello
unit test (C arrays) and the fuzz seed corpus (binary files).

A listener on 127.0.0.1 accepts one connection per client, reads records
until the ClientHello is complete and closes; the client then fails, which
is expected. Usage:

    tests/fuzz/capture_clienthello.py OUTDIR     # writes OUTDIR/<name>.bin

and prints each capture as an annotated C byte array on stdout. No network
is needed; the clients are openssl s_client and curl."""
import os
import socket
import subprocess
import sys
import threading

CLIENTS = {
    # name: argv, with {port} substituted
    "openssl_sni_alpn": ["openssl", "s_client", "-connect", "127.0.0.1:{port}",
                         "-servername", "x.test", "-alpn", "h2,http/1.1"],
    "openssl_tls12_nosni": ["openssl", "s_client", "-connect", "127.0.0.1:{port}",
                            "-noservername", "-tls1_2"],
    "curl": ["curl", "-sk", "--max-time", "3", "--resolve",
             "www.example.test:{port}:127.0.0.1",
             "https://www.example.test:{port}/"],
    "curl_http11": ["curl", "-sk", "--http1.1", "--max-time", "3", "--resolve",
                    "api.example.test:{port}:127.0.0.1",
                    "https://api.example.test:{port}/"],
}


def read_hello(conn):
    data = b""
    need = None
    conn.settimeout(5)
    while True:
        # Walk the records received so far, gathering handshake bytes.
        hs, pos = b"", 0
        while pos + 5 <= len(data):
            rlen = int.from_bytes(data[pos + 3:pos + 5], "big")
            if pos + 5 + rlen > len(data):
                break
            hs += data[pos + 5:pos + 5 + rlen]
            pos += 5 + rlen
            if len(hs) >= 4:
                need = 4 + int.from_bytes(hs[1:4], "big")
                if len(hs) >= need:
                    return data[:pos]
        chunk = conn.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before the ClientHello ended")
        data += chunk


def capture(argv):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    result = {}

    def serve():
        conn, _ = srv.accept()
        try:
            result["hello"] = read_hello(conn)
        finally:
            conn.close()

    t = threading.Thread(target=serve)
    t.start()
    subprocess.run([a.format(port=port) for a in argv], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    t.join(10)
    srv.close()
    return result["hello"]


EXT_NAMES = {0: "server_name", 5: "status_request", 10: "supported_groups",
             11: "ec_point_formats", 13: "signature_algorithms", 16: "ALPN",
             18: "signed_certificate_timestamp", 21: "padding",
             22: "encrypt_then_mac", 23: "extended_master_secret",
             35: "session_ticket", 43: "supported_versions",
             45: "psk_key_exchange_modes", 49: "post_handshake_auth",
             51: "key_share", 65281: "renegotiation_info"}


def annotate(data):
    """(comment, bytes) pieces of a single-record ClientHello."""
    out = []
    pos = 0

    def take(n, what):
        nonlocal pos
        out.append((what, data[pos:pos + n]))
        pos += n
        return data[pos - n:pos]

    def num(b):
        return int.from_bytes(b, "big")

    rlen = num(take(5, "record: handshake, version, length")[3:5])
    hl = num(take(4, "handshake: client_hello, length")[1:4])
    take(2, "legacy_version")
    take(32, "random")
    sid = num(take(1, "legacy_session_id length"))
    take(sid, "legacy_session_id")
    cs = num(take(2, "cipher_suites length"))
    take(cs, "cipher_suites")
    cm = num(take(1, "compression_methods length"))
    take(cm, "compression_methods")
    if pos < len(data):
        el = num(take(2, "extensions length"))
        end = pos + el
        while pos < end:
            t = num(data[pos:pos + 2])
            n = num(data[pos + 2:pos + 4])
            name = EXT_NAMES.get(t, "0x%04x" % t)
            take(4, "extension %s: type, length %d" % (name, n))
            if t == 0:
                take(2, "server_name_list length")
                take(1, "name_type host_name")
                hn = num(take(2, "host_name length"))
                take(hn, "host_name %r" % data[pos:pos + hn].decode())
            elif t == 16:
                stop = pos + n
                take(2, "protocol_name_list length")
                while pos < stop:
                    pl = num(take(1, "protocol name length"))
                    take(pl, "%r" % data[pos:pos + pl].decode())
            elif t == 43:
                take(1, "versions length")
                take(n - 1, "versions")
            elif n:
                take(n, "%s data" % name)
    assert pos == len(data) == 5 + rlen == 9 + hl
    return out


def c_array(name, data, argv):
    lines = ["/* %s (%d bytes): %s */" % (name, len(data), " ".join(argv).replace("{port}", "PORT")),
             "static const uint8_t hello_%s[] = {" % name]
    for what, b in annotate(data):
        lines.append("    /* %s */" % what)
        for i in range(0, len(b), 12):
            lines.append("    " + " ".join("0x%02x," % x for x in b[i:i + 12]))
    lines.append("};")
    return "\n".join(lines)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else None
    for name, argv in CLIENTS.items():
        data = capture(argv)
        if out:
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, name + ".bin"), "wb") as f:
                f.write(data)
        print(c_array(name, data, argv))
        print()


if __name__ == "__main__":
    main()
