"""TLS records and ClientHellos by hand, for tests that must see or bend
every byte a TLS client sends (hostile hellos, fragmented handshakes,
reading the proxy's answer record by record)."""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
import struct
import time
from pathlib import Path

from harness import run_tool

# TLS wire constants (RFC 8446 / RFC 5246).
CT_ALERT, CT_HANDSHAKE, CT_APPLICATION_DATA = 0x15, 0x16, 0x17
HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_CERTIFICATE = 1, 2, 11
EXT_SERVER_NAME, EXT_SUPPORTED_VERSIONS, EXT_KEY_SHARE = 0, 43, 51

def u16(n: int) -> bytes:
    return struct.pack("!H", n)


def u24(n: int) -> bytes:
    return struct.pack("!I", n)[1:]


def frame(content_type: int, payload: bytes, version: bytes = b"\x03\x01") -> bytes:
    """One TLS record, with the payload's true length."""
    return bytes([content_type]) + version + u16(len(payload)) + payload


def split_records(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete (content type, payload) records in data, and what is left."""
    records = []
    while len(data) >= 5:
        length = struct.unpack("!H", data[3:5])[0]
        if len(data) < 5 + length:
            break
        records.append((data[0], data[5:5 + length]))
        data = data[5 + length:]
    return records, data


class MemoryTls:
    """A Python TLS client over memory BIOs on an already-connected socket,
    so that a test sees (and may rewrite) every byte it sends."""

    def __init__(self, sock: socket.socket | None, context: ssl.SSLContext,
                 server_hostname):
        self.sock = sock  # None: only first_flight() is used
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing,
                                    server_hostname=server_hostname)

    def first_flight(self) -> bytes:
        """The ClientHello records, not yet sent."""
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.outgoing.read()

    def flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _feed(self):
        data = self.sock.recv(65536)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()
        return bool(data)

    def finish_handshake(self):
        """Drive the handshake to its end over the socket (after the hello was sent)."""
        while True:
            try:
                self.obj.do_handshake()
                self.flush()
                return
            except ssl.SSLWantReadError:
                self.flush()
                if not self._feed():
                    self.obj.do_handshake()  # raises the SSL error for the EOF
                    return

    def sendall(self, data: bytes):
        self.obj.write(data)
        self.flush()

    def read_response(self) -> tuple[bytes, bytes]:
        """(head, body) of one HTTP response with a Content-Length."""
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += self._read()
        head, _, body = buffer.partition(b"\r\n\r\n")
        match = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
        length = int(match.group(1)) if match else 0
        while len(body) < length:
            body += self._read()
        return head, body

    def _read(self) -> bytes:
        while True:
            try:
                data = self.obj.read(65536)
                if not data:
                    raise AssertionError("TLS connection ended inside a response")
                return data
            except ssl.SSLWantReadError:
                if not self._feed():
                    raise AssertionError("TCP connection ended inside a response")


def hello_message(flight: bytes) -> bytes:
    """The ClientHello handshake message (header included) from a first flight."""
    records, rest = split_records(flight)
    payload = b"".join(p for t, p in records if t == CT_HANDSHAKE)
    assert payload[0] == HS_CLIENT_HELLO and not rest, "not a ClientHello flight"
    length = int.from_bytes(payload[1:4], "big")
    assert len(payload) == 4 + length, "ClientHello is not alone in its flight"
    return payload


class HelloParts:
    """A ClientHello message cut into its fields, to be edited and rebuilt
    with every length recomputed (or deliberately wrong)."""

    def __init__(self, message: bytes):
        body = message[4:]
        self.version = body[0:2]
        self.random = body[2:34]
        pos = 34
        sid_len = body[pos]
        self.session_id = body[pos + 1:pos + 1 + sid_len]
        pos += 1 + sid_len
        cs_len = struct.unpack("!H", body[pos:pos + 2])[0]
        self.cipher_suites = body[pos + 2:pos + 2 + cs_len]
        pos += 2 + cs_len
        comp_len = body[pos]
        self.compression = body[pos + 1:pos + 1 + comp_len]
        pos += 1 + comp_len
        ext_len = struct.unpack("!H", body[pos:pos + 2])[0]
        exts = body[pos + 2:pos + 2 + ext_len]
        self.extensions: list[tuple[int, bytes]] = []
        while exts:
            ext_type, length = struct.unpack("!HH", exts[:4])
            self.extensions.append((ext_type, exts[4:4 + length]))
            exts = exts[4 + length:]

    def set_extension(self, ext_type: int, body: bytes):
        for i, (t, _) in enumerate(self.extensions):
            if t == ext_type:
                self.extensions[i] = (ext_type, body)
                return
        self.extensions.insert(0, (ext_type, body))

    def extensions_bytes(self) -> bytes:
        return b"".join(u16(t) + u16(len(b)) + b for t, b in self.extensions)

    def body(self, *, sid_len=None, cs_len=None, ext_len=None) -> bytes:
        exts = self.extensions_bytes()
        return (self.version + self.random
                + bytes([len(self.session_id) if sid_len is None else sid_len])
                + self.session_id
                + u16(len(self.cipher_suites) if cs_len is None else cs_len)
                + self.cipher_suites
                + bytes([len(self.compression)]) + self.compression
                + u16(len(exts) if ext_len is None else ext_len) + exts)

    def message(self, **lies) -> bytes:
        body = self.body(**lies)
        return bytes([HS_CLIENT_HELLO]) + u24(len(body)) + body


def sni_extension(*names: bytes, name_type: int = 0) -> bytes:
    """A server_name extension body with these host names, lengths right."""
    entries = b"".join(bytes([name_type]) + u16(len(n)) + n for n in names)
    return u16(len(entries)) + entries


def read_server_flight(sock: socket.socket, deadline: float):
    """Read the proxy's answer to a ClientHello until EOF, an alert, or the
    server's Certificate message (sent in clear in TLS 1.2).

    Returns (records, certificate DER or None, closed by peer)."""
    data, records, handshake = b"", [], b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return records, None, False
        sock.settimeout(remaining)
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            return records, None, False
        except ConnectionResetError:
            return records, None, True
        if not piece:
            return records, None, True
        data += piece
        new, data = split_records(data)
        records += new
        for content_type, payload in new:
            if content_type == CT_ALERT:
                return records, None, _closed_soon(sock, deadline)
            if content_type == CT_HANDSHAKE:
                handshake += payload
        # Walk the complete handshake messages gathered so far.
        pos = 0
        while len(handshake) - pos >= 4:
            msg_type = handshake[pos]
            length = int.from_bytes(handshake[pos + 1:pos + 4], "big")
            if len(handshake) - pos - 4 < length:
                break
            if msg_type == HS_CERTIFICATE:
                body = handshake[pos + 4:pos + 4 + length]
                return records, certificate_list(body)[0], False
            pos += 4 + length


def certificate_list(body: bytes) -> list[bytes]:
    """The DER certificates of a TLS 1.2 Certificate message body, in order:
    certificate_list<0..2^24-1>, each ASN.1Cert<1..2^24-1>."""
    certificates, pos = [], 3
    while pos + 3 <= len(body):
        length = int.from_bytes(body[pos:pos + 3], "big")
        certificates.append(body[pos + 3:pos + 3 + length])
        pos += 3 + length
    return certificates


def read_server_certificates(sock: socket.socket, deadline: float) -> list[bytes]:
    """The whole chain of the server's Certificate message (TLS 1.2, in
    clear), leaf first; [] when none came before EOF, an alert or the
    deadline."""
    data, handshake = b"", b""
    while time.monotonic() < deadline:
        sock.settimeout(deadline - time.monotonic())
        try:
            piece = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return []
        if not piece:
            return []
        data += piece
        new, data = split_records(data)
        for content_type, payload in new:
            if content_type == CT_ALERT:
                return []
            if content_type == CT_HANDSHAKE:
                handshake += payload
        pos = 0
        while len(handshake) - pos >= 4:
            length = int.from_bytes(handshake[pos + 1:pos + 4], "big")
            if len(handshake) - pos - 4 < length:
                break
            if handshake[pos] == HS_CERTIFICATE:
                return certificate_list(handshake[pos + 4:pos + 4 + length])
            pos += 4 + length
    return []


def _closed_soon(sock, deadline) -> bool:
    """After an alert: True when the peer closes before the deadline."""
    try:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def certificate_sans(der: bytes, tmp: Path) -> list[str]:
    """The subjectAltName entries of a DER certificate, as openssl prints them."""
    path = tmp / f"leaf-{hashlib.sha256(der).hexdigest()[:12]}.der"
    path.write_bytes(der)
    out = run_tool(["openssl", "x509", "-inform", "DER", "-in", path, "-noout",
                    "-ext", "subjectAltName"]).stdout.decode()
    lines = [line.strip() for line in out.splitlines()[1:] if line.strip()]
    return [entry.strip() for line in lines for entry in line.split(",")]


def certificate_text(der: bytes, tmp: Path) -> str:
    path = tmp / f"leaf-{hashlib.sha256(der).hexdigest()[:12]}.der"
    path.write_bytes(der)
    return run_tool(["openssl", "x509", "-inform", "DER", "-in", path, "-noout",
                     "-text"]).stdout.decode(errors="replace")
