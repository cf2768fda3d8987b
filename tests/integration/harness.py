"""Test harness for tlspeek's integration suite: real processes on loopback.

Everything a test needs besides the proxy itself is made here, at test time,
with the Python standard library and the `openssl` and `curl` command-line
tools: a throw-away PKI, TLS and plain HTTP origins, a line-echo TCP server,
a tiny authoritative DNS server, and a wrapper that starts the real tlspeek
binary and watches its console.

Rules the helpers keep so that no test can hang or leak onto the network:
  * every socket has a timeout and every subprocess call has a timeout;
  * every server binds a loopback address on port 0 (the kernel picks);
  * name resolution of the proxy goes to our own DNS server (--dns), and the
    proxy variables of the calling environment never reach a subprocess.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import ipaddress
import os
import re
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Seconds. Generous for loopback, short enough that a broken proxy fails fast.
# Deadlines, never timing assertions: they must hold for the sanitizer build
# on a 2-core machine busy with other jobs (scripts/test beside stress-ng),
# where the proxy's start, its console lines and its exit (ASan's leak check)
# are several times slower; waiting longer costs nothing when all is well.
SOCKET_TIMEOUT = 10
SUBPROCESS_TIMEOUT = 30
CURL_MAX_TIME = 30
PROXY_START_TIMEOUT = 30
PROXY_STOP_TIMEOUT = 20
CONSOLE_WAIT = 15

# Environment variables that would send curl or openssl somewhere else.
PROXY_ENV_VARS = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy")

# The proxy's first console line, e.g.
#   listening on 127.0.0.1:40123 — CA certificate: /tmp/x/ca.pem (trust it ...)
START_LINE = re.compile(r"listening on (\S+):(\d+) .* CA certificate: (\S+)")

PIECE_SIZE = 64 * 1024


# --------------------------------------------------------------------------
# Small utilities


def clean_env() -> dict[str, str]:
    """The environment for subprocesses, minus every proxy setting (either case).

    A developer's http_proxy must not route the test traffic through a real
    proxy, and no_proxy must not change which requests go through tlspeek."""
    banned = {name.lower() for name in PROXY_ENV_VARS}
    return {k: v for k, v in os.environ.items() if k.lower() not in banned}


def run_tool(args, *, input_bytes=b"", timeout=SUBPROCESS_TIMEOUT, check=True):
    """Run a command-line tool with a timeout; on failure say what it printed."""
    proc = subprocess.run(
        [str(a) for a in args], input=input_bytes, capture_output=True,
        timeout=timeout, env=clean_env())
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, args))} exited with {proc.returncode}:\n"
            f"{proc.stderr.decode(errors='replace')}")
    return proc


def free_port(host="127.0.0.1") -> int:
    """A port that nothing listens on right now (bound, read, released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def has_ipv6_loopback() -> bool:
    """Whether ::1 can be bound here (containers often lack IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def url_host(host: str) -> str:
    """A host as written in URLs and authorities: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host else host


def pattern_pieces(length: int, seed: str = "bytes"):
    """Deterministic pseudo-random bytes in PIECE_SIZE pieces.

    SHAKE-256 of (seed, length, piece index): fast, needs no state between
    pieces, and lets origin and test produce the very same bytes
    independently, so a body can be checked without storing it twice."""
    for index, offset in enumerate(range(0, length, PIECE_SIZE)):
        size = min(PIECE_SIZE, length - offset)
        yield hashlib.shake_256(f"{seed}/{length}/{index}".encode()).digest(size)


def pattern_sha256(length: int, seed: str = "bytes") -> str:
    """The sha256 hex digest of pattern_pieces(length, seed) joined."""
    digest = hashlib.sha256()
    for piece in pattern_pieces(length, seed):
        digest.update(piece)
    return digest.hexdigest()


def write_pattern_file(path: Path, length: int, seed: str) -> str:
    """Write pattern bytes to path (for curl --data-binary @path); return their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for piece in pattern_pieces(length, seed):
            f.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def pem_certificates(text: str) -> list[str]:
    """Every PEM certificate block in text, in order (e.g. s_client -showcerts)."""
    return re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?",
                      text, re.DOTALL)


def pem_fingerprint(pem: str) -> str:
    """sha256 of a PEM certificate's DER bytes, hex."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


# --------------------------------------------------------------------------
# PKI


@dataclasses.dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclasses.dataclass(frozen=True)
class Pki:
    """Paths of a test CA and the leaves the origins serve."""
    ca: CertPair
    good: CertPair        # signed by ca, valid for localhost, origin.test, 127.0.0.1, ::1
    expired: CertPair     # signed by ca, same names, validity entirely in 2020
    wrongname: CertPair   # signed by ca, valid for wrong.example only
    selfsigned: CertPair  # for localhost, but not from ca


GOOD_SANS = "DNS:localhost, DNS:origin.test, IP:127.0.0.1, IP:::1"
LEAF_SANS = {
    "good": GOOD_SANS,
    "expired": GOOD_SANS,
    "wrongname": "DNS:wrong.example",
    "selfsigned": "DNS:localhost, IP:127.0.0.1",
}
EXPIRED_START, EXPIRED_END = "20200101000000Z", "20200201000000Z"
EC_KEY_ARGS = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def _openssl_config(directory: Path) -> str:
    """A minimal config for `openssl req` and `openssl ca`.

    `openssl ca` is used for the leaves because it is the OpenSSL 3.0 tool
    that accepts explicit -startdate/-enddate (x509 -req only has -days,
    which cannot go negative), so one path serves valid and expired leaves."""
    leaf_sections = "".join(
        f"[ ext_{name} ]\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        f"subjectAltName = {sans}\n\n"
        for name, sans in LEAF_SANS.items())
    return (
        "[ req ]\n"
        "distinguished_name = req_dn\n"
        "prompt = no\n"
        "[ req_dn ]\n"
        "CN = unused\n\n"
        "[ ca ]\n"
        "default_ca = test_ca\n"
        "[ test_ca ]\n"
        f"database = {directory}/index.txt\n"
        f"new_certs_dir = {directory}/issued\n"
        f"serial = {directory}/serial\n"
        "default_md = sha256\n"
        "policy = policy_any\n"
        "unique_subject = no\n"
        "email_in_dn = no\n"
        "copy_extensions = none\n"
        "[ policy_any ]\n"
        "commonName = supplied\n\n"
        "[ ext_ca ]\n"
        "basicConstraints = critical, CA:TRUE\n"
        "keyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\n\n"
        + leaf_sections)


def make_pki(directory) -> Pki:
    """Create a fresh test CA and the four origin certificates under directory.

    EC P-256 keys keep this to a fraction of a second; nothing is cached
    between runs, so a test never depends on a previous one's files."""
    d = Path(directory)
    (d / "issued").mkdir(parents=True, exist_ok=True)
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    config = d / "openssl.cnf"
    config.write_text(_openssl_config(d))

    def pair(name):
        return CertPair(d / f"{name}.pem", d / f"{name}.key")

    def self_signed(name, subject, extensions):
        p = pair(name)
        run_tool(["openssl", "req", "-x509", "-new", *EC_KEY_ARGS, "-config", config,
                  "-extensions", extensions, "-subj", subject, "-days", "30",
                  "-keyout", p.key, "-out", p.cert])
        return p

    def signed_leaf(name, *validity):
        p = pair(name)
        csr = d / f"{name}.csr"
        run_tool(["openssl", "req", "-new", *EC_KEY_ARGS, "-config", config,
                  "-subj", "/CN=tlspeek test origin", "-keyout", p.key, "-out", csr])
        run_tool(["openssl", "ca", "-batch", "-notext", "-config", config,
                  "-cert", ca.cert, "-keyfile", ca.key, "-extensions", f"ext_{name}",
                  *validity, "-in", csr, "-out", p.cert])
        return p

    ca = self_signed("ca", "/CN=tlspeek integration test CA", "ext_ca")
    return Pki(
        ca=ca,
        good=signed_leaf("good", "-days", "30"),
        expired=signed_leaf("expired", "-startdate", EXPIRED_START,
                            "-enddate", EXPIRED_END),
        wrongname=signed_leaf("wrongname", "-days", "30"),
        selfsigned=self_signed("selfsigned", "/CN=localhost", "ext_selfsigned"),
    )


# --------------------------------------------------------------------------
# Background servers


class _BackgroundServer:
    """Runs a socketserver in a daemon thread; a context manager that stops it.

    TCP servers also remember their open connections so that stop() can cut
    keep-alive connections instead of leaving handler threads in recv()."""

    def __init__(self, server: socketserver.BaseServer):
        self._server = server
        self._open = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return self._server.server_address[0]

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def authority(self) -> str:
        return f"{url_host(self.host)}:{self.port}"

    def _track(self, sock, add: bool):
        with self._lock:
            (self._open.add if add else self._open.discard)(sock)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            still_open = list(self._open)
        for sock in still_open:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=SOCKET_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _tcp_server_class(base, family):
    """A socketserver class bound to family, with daemon threads, that hands
    each connection to its owner (so the owner can wrap it in TLS and track it)
    and stays silent about client errors (proxies cut connections on purpose)."""

    class Server(base):
        address_family = family
        daemon_threads = True
        allow_reuse_address = True
        block_on_close = False

        def __init__(self, address, handler, owner):
            self.owner = owner
            super().__init__(address, handler)

        def server_bind(self):
            # HTTPServer.server_bind calls getfqdn(), a DNS lookup: skip it.
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = self.server_address[:2]

        def finish_request(self, request, client_address):
            self.owner._serve_connection(request, client_address)

        def handle_error(self, request, client_address):
            pass

    return Server


def _family(host: str):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _read_chunked(rfile):
    """Yield the data of a chunked message body, then consume the trailer."""
    while True:
        size_line = rfile.readline(1024)
        if not size_line:
            raise ConnectionError("EOF inside a chunked body")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return
        yield rfile.read(size)
        rfile.readline(1024)  # CRLF after the chunk data


class _OriginHandler(http.server.BaseHTTPRequestHandler):
    """The origin's endpoints; see Origin."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection ends after this

    def log_message(self, format, *args):
        pass

    def _send(self, status, body: bytes, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def _body_pieces(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            yield from _read_chunked(self.rfile)
            return
        remaining = int(self.headers.get("Content-Length", "0"))
        while remaining > 0:
            piece = self.rfile.read(min(PIECE_SIZE, remaining))
            if not piece:
                raise ConnectionError("EOF inside a body")
            remaining -= len(piece)
            yield piece

    def do_GET(self):
        self.server.owner._count("requests")
        path = self.path.split("?", 1)[0]  # a query string changes nothing
        if path == "/":
            self._send(200, Origin.HELLO)
        elif self.path == "/chunked":
            # Three chunks and a trailer: Origin.CHUNKED once decoded.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(b"6\r\nchunk \r\n3\r\none\r\n4\r\n two\r\n"
                                 b"0\r\nX-Trailer: yes\r\n\r\n")
        elif self.path == "/not-modified":
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
        elif self.path == "/headers":
            lines = "".join(f"{name}: {value}\n" for name, value in self.headers.items())
            self._send(200, lines.encode("latin-1"))
        elif re.fullmatch(r"/bytes/\d+", self.path):
            length = int(self.path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            for piece in pattern_pieces(length):
                self.wfile.write(piece)
        else:
            self._send(404, b"no such endpoint\n")

    def do_POST(self):
        self.server.owner._count("requests")
        if self.path != "/echo-sha256":
            self._send(404, b"no such endpoint\n")
            return
        digest, length = hashlib.sha256(), 0
        for piece in self._body_pieces():
            digest.update(piece)
            length += len(piece)
        self._send(200, f"{length} {digest.hexdigest()}\n".encode())


class Origin(_BackgroundServer):
    """An HTTP/1.1 origin on a loopback port, TLS when given a certificate.

    Endpoints:
      GET /            -> HELLO (text/plain)
      GET /bytes/N     -> N bytes of pattern_pieces(N), streamed, with Content-Length
      POST /echo-sha256 -> "<length> <sha256hex>\\n" of the body (Content-Length or chunked)
      GET /headers     -> the request headers as received, "Name: value" per line
    Keep-alive works (HTTP/1.1, every response has a Content-Length).
    `connections` and `requests` count what reached it, so a test can prove
    that nothing (or exactly one connection) got through."""

    HELLO = b"hello from origin\n"
    CHUNKED = b"chunk one two"  # /chunked, once its framing is removed

    def __init__(self, cert: CertPair | None = None, host: str = "127.0.0.1"):
        self.tls_context = None
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert.cert, cert.key)
            ctx.set_alpn_protocols(["http/1.1"])
            self.tls_context = ctx
        self.connections = 0
        self.requests = 0
        self.handshake_failures = 0
        self.resumed = 0  # TLS handshakes that resumed a session
        server_class = _tcp_server_class(http.server.ThreadingHTTPServer, _family(host))
        super().__init__(server_class((host, 0), _OriginHandler, self))

    @property
    def scheme(self) -> str:
        return "https" if self.tls_context else "http"

    def url(self, path: str = "/", host: str | None = None) -> str:
        """This origin's URL for path, naming it as host (default: its address)."""
        return f"{self.scheme}://{url_host(host or self.host)}:{self.port}{path}"

    def _count(self, counter: str):
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def _serve_connection(self, sock, client_address):
        sock.settimeout(SOCKET_TIMEOUT)
        if self.tls_context:
            try:
                sock = self.tls_context.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                self._count("handshake_failures")
                sock.close()
                return
            if sock.session_reused:
                self._count("resumed")
        self._count("connections")
        self._track(sock, True)
        try:
            _OriginHandler(sock, client_address, self._server)
        except OSError:
            pass  # the client went away mid-response
        finally:
            self._track(sock, False)
            sock.close()


class TcpServer(_BackgroundServer):
    """A threaded TCP server on host: each connection goes to serve(sock) on
    a thread of its own and is closed afterwards (stop() also cuts the ones
    still open). Subclasses implement serve(); OSError there is the peer
    going away and is ignored."""

    def __init__(self, host: str = "127.0.0.1"):
        server_class = _tcp_server_class(socketserver.ThreadingTCPServer, _family(host))
        super().__init__(server_class((host, 0), socketserver.BaseRequestHandler, self))

    def serve(self, sock):
        raise NotImplementedError

    def _serve_connection(self, sock, client_address):
        self._track(sock, True)
        try:
            self.serve(sock)
        except OSError:
            pass
        finally:
            self._track(sock, False)
            sock.close()

    def close(self):
        self.stop()


class RawServer(TcpServer):
    """A plain TCP line server: answers each line L with b"pong: " + L.

    Not HTTP and not TLS, to check that a CONNECT tunnel to a plaintext
    port is relayed byte for byte."""

    def serve(self, sock):
        sock.settimeout(SOCKET_TIMEOUT)
        with sock.makefile("rb") as lines:
            for line in lines:
                sock.sendall(b"pong: " + line)


# --------------------------------------------------------------------------
# DNS


DNS_A, DNS_AAAA = 1, 28
DNS_NOERROR, DNS_FORMERR, DNS_NXDOMAIN, DNS_NOTIMP = 0, 1, 3, 4
DNS_TTL = 60


def _parse_question(packet: bytes):
    """(name, qtype, end offset) of the single question of a DNS query.

    Raises ValueError on anything but one uncompressed question."""
    if len(packet) < 12 or struct.unpack("!H", packet[4:6])[0] != 1:
        raise ValueError("expected exactly one question")
    labels, offset = [], 12
    while True:
        length = packet[offset]
        if length == 0:
            break
        if length & 0xC0:
            raise ValueError("compressed names in queries are not supported")
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii"))
        offset += 1 + length
    qtype, _qclass = struct.unpack("!HH", packet[offset + 1:offset + 5])
    return ".".join(labels), qtype, offset + 5


def dns_response(query: bytes, records: dict[str, list[str]]) -> bytes | None:
    """The answer to one DNS query from records (lower-case name -> addresses).

    A and AAAA come from the addresses of the matching family; a known name
    without addresses of the asked type gets an empty NOERROR (so a resolver
    asking AAAA for an IPv4-only name moves on); unknown names NXDOMAIN.
    Names match case-insensitively but the question is echoed verbatim,
    because resolvers such as evdns randomise the case (0x20) and check it."""
    if len(query) < 12:
        return None
    query_id, flags = struct.unpack("!HH", query[:4])
    opcode = flags & 0x7800
    answers, rcode = [], DNS_NOERROR
    try:
        name, qtype, question_end = _parse_question(query)
    except (ValueError, IndexError, struct.error, UnicodeDecodeError):
        name, qtype, question_end, rcode = None, 0, 12, DNS_FORMERR
    if rcode == DNS_NOERROR and opcode != 0:
        rcode = DNS_NOTIMP
    if rcode == DNS_NOERROR:
        addresses = records.get(name.lower().rstrip("."))
        if addresses is None:
            rcode = DNS_NXDOMAIN
        else:
            wanted = {DNS_A: 4, DNS_AAAA: 6}.get(qtype)
            answers = [ipaddress.ip_address(a).packed for a in addresses
                       if ipaddress.ip_address(a).version == wanted]
    response_flags = 0x8000 | opcode | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
    question = query[12:question_end]
    header = struct.pack("!HHHHHH", query_id, response_flags,
                         1 if question else 0, len(answers), 0, 0)
    # Each answer names the question by a pointer to offset 12.
    records_bytes = b"".join(
        b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, DNS_TTL, len(rdata)) + rdata
        for rdata in answers)
    return header + question + records_bytes


class _DnsHandler(socketserver.BaseRequestHandler):
    def handle(self):
        query, sock = self.request
        owner = self.server.owner
        try:
            name, qtype, _ = _parse_question(query)
            owner.queries.append((name.lower(), qtype))
        except (ValueError, IndexError, struct.error, UnicodeDecodeError):
            pass
        response = dns_response(query, owner.records)
        if response:
            sock.sendto(response, self.client_address)


class DnsServer(_BackgroundServer):
    """A UDP DNS server on 127.0.0.1:<port> answering from a fixed table.

    The proxy gets `--dns 127.0.0.1:<port>`, so tests can name origins
    (origin.test) and unresolvable hosts without touching real DNS.
    `queries` lists (lower-case name, qtype) received, to prove it was used."""

    def __init__(self, records: dict[str, list[str]]):
        self.records = {name.lower(): list(addrs) for name, addrs in records.items()}
        self.queries: list[tuple[str, int]] = []

        class Server(socketserver.ThreadingUDPServer):
            daemon_threads = True

            def __init__(self, address, handler, owner):
                self.owner = owner
                super().__init__(address, handler)

        super().__init__(Server(("127.0.0.1", 0), _DnsHandler, self))


# --------------------------------------------------------------------------
# Waiting on what the kernel can see (every wait is a poll with a deadline)

POLL_INTERVAL = 0.02


def wait_until(predicate, what: str, timeout: float = CONSOLE_WAIT):
    """Poll predicate() until it returns something true, and return that;
    AssertionError naming what was awaited when timeout seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(POLL_INTERVAL)


TCP_LISTEN = 0x0A  # the state column of /proc/net/tcp


@dataclasses.dataclass
class TcpRow:
    """One socket of /proc/net/tcp{,6} (this network namespace)."""
    local: tuple[str, int]
    remote: tuple[str, int]
    state: int
    tx_queue: int   # bytes sent and not yet acknowledged (listener: 0)
    rx_queue: int   # bytes received and not yet read (listener: accept queue)
    inode: int      # 0 while nobody holds a descriptor for it


def _proc_address(text: str) -> tuple[str, int]:
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word of the address in host byte order.
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if len(raw) == 16 and raw.startswith(b"\0" * 10 + b"\xff\xff"):
        raw = raw[12:]  # an IPv4-mapped address: report it as IPv4
    return str(ipaddress.ip_address(raw)), int(port, 16)


def tcp_rows() -> list[TcpRow]:
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            tx, rx = (int(x, 16) for x in f[4].split(":"))
            rows.append(TcpRow(_proc_address(f[1]), _proc_address(f[2]), int(f[3], 16),
                               tx, rx, int(f[9])))
    return rows


def _addr(sockaddr) -> tuple[str, int]:
    host = sockaddr[0]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return str(ipaddress.ip_address(host)), sockaddr[1]


def tcp_row(local, remote) -> TcpRow | None:
    """The socket from local to remote ((host, port) pairs, as getsockname()
    gives them), if it still exists."""
    local, remote = _addr(local), _addr(remote)
    for row in tcp_rows():
        if row.local == local and row.remote == remote:
            return row
    return None


def process_socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process pid holds descriptors for."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def peer_has_read(sock: socket.socket) -> bool:
    """Everything sock sent was acknowledged, and the process at the other
    end (on loopback) has read it: the bytes are in that process."""
    mine = tcp_row(sock.getsockname(), sock.getpeername())
    theirs = tcp_row(sock.getpeername(), sock.getsockname())
    return bool(mine and theirs and mine.tx_queue == 0 and theirs.rx_queue == 0)


def listen_queue_full(port: int, backlog: int, host: str = "127.0.0.1") -> bool:
    """A listener on (host, port), made with listen(backlog), that accept()s
    nothing has its accept queue full: the kernel then drops new SYNs, so a
    connect to it hangs."""
    for row in tcp_rows():
        if row.state == TCP_LISTEN and row.local == _addr((host, port)):
            # Linux drops a SYN once the queue holds more than the backlog.
            return row.rx_queue > backlog
    return False


# --------------------------------------------------------------------------
# The proxy under test


def binary_path() -> Path:
    """The tlspeek binary: $TLSPEEK_BIN, else <repo>/build/tlspeek."""
    return Path(os.environ.get("TLSPEEK_BIN") or REPO_ROOT / "build" / "tlspeek")


class Console:
    """Collects a process's output lines in a thread; tests wait on them."""

    def __init__(self, stream):
        self.closed = False  # set when the stream reaches EOF
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._collect, args=(stream,), daemon=True)
        self._thread.start()

    def _collect(self, stream):
        for raw in stream:
            with self._cond:
                self._lines.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                self._cond.notify_all()
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def mark(self) -> int:
        """A position: lines(since=mark) are the lines printed after it."""
        with self._cond:
            return len(self._lines)

    def lines(self, since: int = 0) -> list[str]:
        with self._cond:
            return self._lines[since:]

    def text(self, since: int = 0) -> str:
        return "\n".join(self.lines(since))

    def wait_for(self, pattern, timeout=CONSOLE_WAIT, since=0):
        """The first match of regex pattern in a line after since, waiting up to
        timeout seconds; raises AssertionError showing the console otherwise."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[since:]:
                    match = regex.search(line)
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    break
                self._cond.wait(remaining)
        when = "before the output ended" if self.closed else f"within {timeout}s"
        raise AssertionError(
            f"no console line matching {pattern!r} {when}; console "
            f"since the mark:\n{self.text(since) or '(nothing)'}")

    def join(self, timeout):
        self._thread.join(timeout)


class Proxy:
    """The real tlspeek binary on an ephemeral loopback port.

    Started with `[prefix...] tlspeek -l <listen> --ca-dir <dir> [--dns 127.0.0.1:<port>] <args>`;
    reads its console until the start line, from which it takes the port and
    the CA certificate path. stop() sends SIGTERM and asserts a clean exit 0
    within PROXY_STOP_TIMEOUT seconds (also on leaving a `with` block)."""

    def __init__(self, *args, dns_port: int | None = None, listen="127.0.0.1:0",
                 ca_dir: Path | None = None, prefix: list[str] | None = None,
                 extra_env: dict[str, str] | None = None):
        self._tmp = None
        if ca_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tlspeek-ca-")
            ca_dir = Path(self._tmp.name) / "ca"
        self.ca_dir = Path(ca_dir)
        binary = binary_path()
        if not os.access(binary, os.X_OK):
            self._cleanup_tmp()
            raise RuntimeError(f"tlspeek binary not found or not executable: {binary} "
                               "(build it, or pass its path / set TLSPEEK_BIN)")
        # prefix runs the binary through another command (e.g. nsenter), which
        # must exec it so that signals reach tlspeek itself.
        command = list(prefix or []) + [str(binary), "-l", listen, "--ca-dir",
                                        str(self.ca_dir)]
        if dns_port is not None:
            command += ["--dns", f"127.0.0.1:{dns_port}"]
        command += [str(a) for a in args]
        self.command = command
        # stdout joins stderr: all of it is "the console", and an unread pipe
        # could otherwise fill up and stall the proxy.
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        env={**clean_env(), **(extra_env or {})})
        self.console = Console(self.process.stdout)
        self._stopped = False
        try:
            self._read_start_line()
        except BaseException:
            self._kill()
            raise

    def _read_start_line(self):
        try:
            match = self.console.wait_for(START_LINE, timeout=PROXY_START_TIMEOUT)
        except AssertionError:
            try:
                rc = self.process.wait(timeout=1)
                what = f"tlspeek exited with {rc} before printing its start line"
            except subprocess.TimeoutExpired:
                what = f"tlspeek printed no start line within {PROXY_START_TIMEOUT}s"
            raise RuntimeError(
                f"{what}.\ncommand: {' '.join(self.command)}\nconsole:\n"
                f"{self.console.text() or '(nothing)'}") from None
        host, port, ca_path = match.groups()
        self.host = host  # as printed, "[::1]" for IPv6
        self.port = int(port)
        self.ca_cert = Path(ca_path)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) for socket.create_connection (no brackets)."""
        return self.host.strip("[]"), self.port

    @property
    def url(self) -> str:
        """For curl --proxy, and for requests addressed to the proxy itself."""
        return f"http://{self.host}:{self.port}"

    def mark(self) -> int:
        return self.console.mark()

    def wait_for_line(self, pattern, timeout=CONSOLE_WAIT, since=0):
        return self.console.wait_for(pattern, timeout, since)

    def holds(self, client_address) -> bool:
        """The proxy has accepted the connection from client_address (a
        client socket's getsockname()) and still holds it open."""
        row = tcp_row(self.address, client_address)
        return bool(row and row.inode and
                    row.inode in process_socket_inodes(self.process.pid))

    def wait_accepted(self, *clients: socket.socket, timeout=CONSOLE_WAIT):
        """Until the proxy has accept()ed each client socket's connection
        (a connection the kernel completed may still wait in the backlog)."""
        names = [c.getsockname() for c in clients]
        wait_until(lambda: all(self.holds(n) for n in names),
                   f"the proxy accepting {len(names)} connection(s)", timeout)

    def wait_released(self, *client_addresses, timeout=CONSOLE_WAIT):
        """Until the proxy holds none of these client connections (each a
        getsockname() taken before the client closed): it has seen the
        close and let the connection go."""
        wait_until(lambda: not any(self.holds(a) for a in client_addresses),
                   "the proxy closing its side of the client connections", timeout)

    def sync_console(self, timeout=CONSOLE_WAIT):
        """Until every console line the proxy printed before this call has
        reached self.console: ask the proxy's own page for a unique path and
        wait for the line it logs (lines are written whole, in order).

        Also until the proxy has let that connection go: it counts against
        --max-conns until then, and the client reading the answer does not
        mean the proxy has closed it yet (with --workers, the next client
        may even be accepted by another thread first)."""
        Proxy._syncs += 1
        path = f"/tlspeek-console-sync-{os.getpid()}-{Proxy._syncs}"
        mark = self.mark()
        with RawClient(self.address) as client:
            name = client.sock.getsockname()
            client.send(f"GET {path} HTTP/1.1\r\nHost: tlspeek\r\n"
                        f"Connection: close\r\n\r\n".encode())
            client.read_response()
        self.wait_for_line(re.escape(path), timeout=timeout, since=mark)
        self.wait_released(name, timeout=timeout)

    _syncs = 0

    def stop(self):
        """SIGTERM, then assert exit status 0 within PROXY_STOP_TIMEOUT seconds."""
        if self._stopped:
            return
        self._stopped = True
        try:
            early = self.process.poll()
            if early is not None:
                raise AssertionError(f"tlspeek died before it was stopped, status "
                                     f"{early}; console:\n{self.console.text()}")
            self.process.send_signal(signal.SIGTERM)
            try:
                rc = self.process.wait(timeout=PROXY_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
                raise AssertionError(
                    f"tlspeek did not exit within {PROXY_STOP_TIMEOUT}s of SIGTERM; "
                    f"console:\n{self.console.text()}") from None
            self._release_console()
            if rc != 0:
                raise AssertionError(f"tlspeek exited with {rc} after SIGTERM, not 0; "
                                     f"console:\n{self.console.text()}")
        finally:
            self._cleanup_tmp()

    def _kill(self):
        self._stopped = True
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=PROXY_STOP_TIMEOUT)
        self._release_console()
        self._cleanup_tmp()

    def _release_console(self):
        """After exit: collect the last lines, then close our end of the pipe."""
        self.console.join(SOCKET_TIMEOUT)
        self.process.stdout.close()

    def _cleanup_tmp(self):
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *rest):
        if exc_type is None:
            self.stop()
        else:
            # The test already failed; report that, not a second failure.
            try:
                self.stop()
            except AssertionError:
                pass


# --------------------------------------------------------------------------
# Clients


@dataclasses.dataclass
class CurlResult:
    returncode: int
    stdout: bytes
    stderr: str

    def describe(self) -> str:
        """For assertion messages: what curl said."""
        return f"curl exit {self.returncode}; stderr:\n{self.stderr.strip() or '(empty)'}"


def curl(*args, transfers: int = 1) -> CurlResult:
    """Run curl with errors shown, a time limit, no ~/.curlrc (-q) and no
    proxy variables from the environment. transfers: how many URLs args
    hold, since curl's --max-time applies to each of them."""
    command = ["curl", "-q", "--silent", "--show-error", "--max-time", str(CURL_MAX_TIME),
               *map(str, args)]
    limit = CURL_MAX_TIME * transfers + 10
    try:
        proc = subprocess.run(command, capture_output=True, timeout=limit, env=clean_env())
    except subprocess.TimeoutExpired as expired:
        stderr = (expired.stderr or b"").decode(errors="replace")
        return CurlResult(-1, expired.stdout or b"",
                          f"(harness: curl killed after {limit}s)\n{stderr}")
    return CurlResult(proc.returncode, proc.stdout, proc.stderr.decode(errors="replace"))


@dataclasses.dataclass
class Transfer:
    """One URL of a curl run, from its --write-out line and output file."""
    url: str
    status: int            # %{http_code}: 0 when no response
    connect_status: int    # %{http_connect}: the proxy's answer to CONNECT
    new_connections: int   # %{num_connects}: 0 when an open connection was reused
    http_version: str      # %{http_version}
    content_type: str
    body: bytes
    run: CurlResult        # the whole curl run, for assertion messages

    def describe(self) -> str:
        return (f"{self.url}: status {self.status}, CONNECT status {self.connect_status}, "
                f"body {self.body[:300]!r}; {self.run.describe()}")


TRANSFER_FORMAT = "%{http_code} %{http_connect} %{num_connects} %{http_version} %{content_type}\\n"


def curl_transfers(urls, *args) -> tuple[CurlResult, list[Transfer]]:
    """Fetch urls in ONE curl run (so curl may reuse connections), each body
    into its own file; returns the run and one Transfer per reported URL."""
    with tempfile.TemporaryDirectory(prefix="tlspeek-curl-") as tmp:
        outputs = [Path(tmp) / f"body{i}" for i in range(len(urls))]
        url_args = []
        for url, output in zip(urls, outputs):
            url_args += ["-o", output, url]
        result = curl("--write-out", TRANSFER_FORMAT, *args, *url_args,
                      transfers=len(urls))
        transfers = []
        lines = result.stdout.decode(errors="replace").splitlines()
        for url, output, line in zip(urls, outputs, lines):
            code, connect_code, connects, version, *ctype = line.split(" ", 4)
            body = output.read_bytes() if output.exists() else b""
            transfers.append(Transfer(url, int(code), int(connect_code), int(connects),
                                      version, "".join(ctype), body, result))
    return result, transfers


@dataclasses.dataclass
class RawResponse:
    status_line: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def status(self) -> int:
        parts = self.status_line.split(" ")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    def __str__(self):
        return f"{self.status_line!r}, headers {self.headers}, body {self.body[:500]!r}"


class RawClient:
    """A plain TCP client with a read buffer, for speaking to the proxy byte
    by byte: hand-made requests, CONNECT then raw tunnel traffic."""

    def __init__(self, address, timeout=SOCKET_TIMEOUT):
        self.sock = socket.create_connection(address, timeout=timeout)
        self._buffer = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(PIECE_SIZE)
        self._buffer += data
        return bool(data)

    def read_until(self, delimiter: bytes, limit=1 << 20) -> bytes:
        """Bytes up to and including delimiter; AssertionError at EOF first."""
        while delimiter not in self._buffer:
            if len(self._buffer) > limit or not self._fill():
                raise AssertionError(f"connection ended (or passed {limit} bytes) before "
                                     f"{delimiter!r}; received {self._buffer[:500]!r}")
        end = self._buffer.index(delimiter) + len(delimiter)
        data, self._buffer = self._buffer[:end], self._buffer[end:]
        return data

    def read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not self._fill():
                raise AssertionError(f"connection ended after {len(self._buffer)} of "
                                     f"{n} bytes: {self._buffer[:500]!r}")
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        data, self._buffer = self._buffer, b""
        return data

    def read_response(self, bodyless=False) -> RawResponse:
        """One HTTP/1.x response. bodyless: a CONNECT 2xx (the tunnel follows)."""
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head[:-4].split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if bodyless:
            body = b""
        elif "content-length" in headers:
            body = self.read_exactly(int(headers["content-length"]))
        else:
            body = self.read_to_eof()
        return RawResponse(status_line, headers, body)

    def is_closed_by_peer(self) -> bool:
        """True when the peer closed (EOF or reset) with no further data."""
        try:
            return not self._buffer and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_exchange(address, request: bytes) -> RawResponse:
    """Send request bytes on a new connection and read one response.

    A send error is tolerated: a proxy may answer (and close) before reading
    everything, e.g. an oversize head, and the answer is what matters."""
    with RawClient(address) as client:
        try:
            client.send(request)
        except OSError:
            pass
        return client.read_response()


def connect_request(authority: str) -> bytes:
    return f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()


def open_tunnel(address, authority: str, timeout=SOCKET_TIMEOUT) -> RawClient:
    """A RawClient to the proxy at address whose CONNECT to authority was
    answered 200 (AssertionError otherwise, the connection closed). Bytes
    of a server that speaks first may already be in its buffer: read them
    through the client. client.sock may be wrapped in TLS, whose server
    waits for the ClientHello, so that nothing can have been read past the
    200."""
    client = RawClient(address, timeout=timeout)
    try:
        client.send(connect_request(authority))
        response = client.read_response(bodyless=True)
        if response.status != 200:
            raise AssertionError(f"CONNECT {authority} answered: {response}")
    except BaseException:
        client.close()
        raise
    return client
