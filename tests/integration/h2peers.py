"""HTTP/2 peers for the integration tests: nghttpd (Debian's nghttp2-server)
as an h2 origin, a TLS origin that selects a given ALPN list and records
what it selected, a client for ALPN handshakes through a CONNECT tunnel,
and an HTTP/2 client (python3-h2) in a CONNECT tunnel.

python3-h2 imports only in Debian's /usr/bin/python3 (run.py says so)."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings

from harness import (
    SOCKET_TIMEOUT, TcpServer, clean_env, connect_request, wait_until,
)

NGHTTPD_START_TIMEOUT = 10


def can_connect(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class Nghttpd:
    """nghttpd on 127.0.0.1 serving docroot over TLS (ALPN h2 only), echoing
    uploads (POST/PUT) and adding a trailer to every response with a body.
    Requests for PUSH_FROM get PUSHED pushed with them (clients that allow
    push). A context manager; stop() ends it."""

    TRAILER = ("x-origin-trailer", "done")
    PUSH_FROM, PUSHED = "/index.html", "/s0.txt"

    def __init__(self, cert, docroot: Path, log: Path):
        from harness import free_port
        self.port = free_port()
        self.host = "127.0.0.1"
        self._log = open(log, "wb")
        command = ["nghttpd", f"--address={self.host}", f"--htdocs={docroot}",
                   "--echo-upload", f"--trailer={self.TRAILER[0]}: {self.TRAILER[1]}",
                   f"--push={self.PUSH_FROM}={self.PUSHED}",
                   str(self.port), str(cert.key), str(cert.cert)]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, env=clean_env())
        try:
            wait_until(lambda: self.process.poll() is not None or
                       can_connect(self.host, self.port),
                       "nghttpd listening", NGHTTPD_START_TIMEOUT)
            if self.process.poll() is not None:
                raise RuntimeError(f"nghttpd exited with {self.process.returncode}: "
                                   f"{log.read_text(errors='replace')}")
        except BaseException:
            self.stop()
            raise

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class AlpnOrigin(TcpServer):
    """A TLS server on loopback whose ALPN selection is `protocols` (in its
    order of preference; empty: no ALPN at all). Records each handshake's
    selected protocol in `selected`, then answers one line: the protocol."""

    def __init__(self, cert, protocols):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert.cert, cert.key)
        if protocols:
            self.context.set_alpn_protocols(list(protocols))
        self.selected = []
        super().__init__()

    def serve(self, sock):
        sock.settimeout(SOCKET_TIMEOUT)
        try:
            tls = self.context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self._lock:
            self.selected.append(tls.selected_alpn_protocol())
        try:
            tls.sendall(f"{tls.selected_alpn_protocol()}\n".encode())
            tls.recv(1)
        except OSError:
            pass
        tls.close()


def open_tunnel(proxy, authority: str) -> socket.socket:
    """A socket on which the proxy has answered `CONNECT authority` with 200."""
    sock = socket.create_connection(proxy.address, timeout=SOCKET_TIMEOUT)
    sock.sendall(connect_request(authority))
    head = b""
    while b"\r\n\r\n" not in head:
        byte = sock.recv(1)
        if not byte:
            sock.close()
            raise ConnectionError(f"proxy closed after {head!r}")
        head += byte
    if not head.startswith(b"HTTP/1.1 200"):
        sock.close()
        raise ConnectionError(f"CONNECT {authority}: {head!r}")
    return sock


def tls_through(proxy, authority: str, server_name: str, alpn) -> ssl.SSLSocket:
    """A TLS session (trusting only the proxy's CA) in a CONNECT tunnel,
    offering the ALPN list alpn (None or empty: no ALPN extension)."""
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    if alpn:
        context.set_alpn_protocols(list(alpn))
    sock = open_tunnel(proxy, authority)
    try:
        return context.wrap_socket(sock, server_hostname=server_name)
    except BaseException:
        sock.close()
        raise


@dataclasses.dataclass
class H2Stream:
    headers: list = dataclasses.field(default_factory=list)
    trailers: list = dataclasses.field(default_factory=list)
    length: int = 0
    sha256: "hashlib._Hash" = dataclasses.field(default_factory=hashlib.sha256)
    body: bytearray = dataclasses.field(default_factory=bytearray)
    ended: bool = False
    reset: int | None = None

    @property
    def status(self) -> int:
        return int(dict(self.headers).get(":status", 0))


class H2Client:
    """An HTTP/2 client (python3-h2) in a CONNECT tunnel through the proxy.
    request() sends; pump(until) reads until until() is true. Bodies up to
    KEEP_BODY bytes are kept; all are hashed. Flow-control windows are
    given back as data arrives."""

    KEEP_BODY = 1 << 20

    def __init__(self, proxy, authority: str, server_name: str = "localhost"):
        self.authority = authority
        self.sock = tls_through(proxy, authority, server_name, ["h2"])
        protocol = self.sock.selected_alpn_protocol()
        if protocol != "h2":
            self.sock.close()
            raise AssertionError(f"the proxy gave ALPN {protocol!r}, not h2")
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.streams: dict[int, H2Stream] = {}
        self.closed = False
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path: str, method: str = "GET", body: bytes | None = None,
                headers=(), trailers=()) -> int:
        """Send a request (a body small enough for the first flow-control
        window: 65535 bytes), in frames the server accepts; returns its
        stream id."""
        sid = self.conn.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", "https"), (":authority", self.authority),
                  (":path", path), *headers]
        self.conn.send_headers(sid, fields, end_stream=body is None and not trailers)
        if body is not None:
            size = self.conn.max_outbound_frame_size
            pieces = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
            for i, piece in enumerate(pieces):
                self.conn.send_data(sid, piece,
                                    end_stream=not trailers and i == len(pieces) - 1)
        if trailers:
            self.conn.send_headers(sid, list(trailers), end_stream=True)
        self.streams[sid] = H2Stream()
        self.flush()
        return sid

    def reset(self, sid: int):
        self.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        self.flush()

    def _handle(self, event):
        stream = self.streams.get(getattr(event, "stream_id", None))
        if isinstance(event, h2.events.PushedStreamReceived):
            self.streams[event.pushed_stream_id] = H2Stream(headers=event.headers)
        elif isinstance(event, h2.events.ResponseReceived):
            stream.headers = event.headers
        elif isinstance(event, h2.events.DataReceived):
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if stream:
                stream.length += len(event.data)
                stream.sha256.update(event.data)
                if len(stream.body) < self.KEEP_BODY:
                    stream.body += event.data
        elif isinstance(event, h2.events.TrailersReceived):
            stream.trailers = event.headers
        elif isinstance(event, h2.events.StreamEnded):
            stream.ended = True
        elif isinstance(event, h2.events.StreamReset) and stream:
            stream.reset = event.error_code
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closed = True

    def pump(self, until, what: str, timeout: float = 20):
        """Read and handle frames until until() is true; AssertionError after
        timeout seconds or if the connection ends first."""
        deadline = time.monotonic() + timeout
        while not until():
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout}s"
                                     f"{' (connection ended)' if self.closed else ''}")
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                self.closed = True
                continue
            for event in self.conn.receive_data(data):
                self._handle(event)
            self.flush()

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except OSError:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class H2EchoServer(TcpServer):
    """A python3-h2 TLS origin (ALPN h2) that allows extended CONNECT
    (RFC 8441, SETTINGS_ENABLE_CONNECT_PROTOCOL) and answers:
      CONNECT with :protocol  -> 200, then echoes every DATA on the stream;
      GET /events             -> text/event-stream, event i sent once
                                 delivered[i - 1] is set (the client saw
                                 the one before), EVENTS of them;
      anything else           -> 404."""

    EVENTS = 4
    EVENT_WAIT = 20  # seconds for the client to see an event

    def __init__(self, cert):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert.cert, cert.key)
        self.context.set_alpn_protocols(["h2"])
        self.delivered = [threading.Event() for _ in range(self.EVENTS)]
        super().__init__()

    @staticmethod
    def event(i: int) -> bytes:
        return f"data: event {i}\n\n".encode()

    def serve(self, sock):
        tls = self.context.wrap_socket(sock, server_side=True)
        tls.settimeout(0.05)  # so that pending events are looked at
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        conn.update_settings({h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
        tls.sendall(conn.data_to_send())
        sse = {}  # stream id -> next event to send
        deadline = None
        while True:
            try:
                data = tls.recv(65536)
                if not data:
                    return
                events = conn.receive_data(data)
            except socket.timeout:
                events = []
            for event in events:
                if isinstance(event, h2.events.RequestReceived):
                    fields = dict(event.headers)
                    sid = event.stream_id
                    if fields[":method"] == "CONNECT" and ":protocol" in fields:
                        conn.send_headers(sid, [(":status", "200")])
                    elif fields.get(":path") == "/events":
                        conn.send_headers(sid, [(":status", "200"),
                                                ("content-type", "text/event-stream")])
                        conn.send_data(sid, self.event(0))
                        sse[sid] = 1
                        deadline = time.monotonic() + self.EVENT_WAIT
                    else:
                        conn.send_headers(sid, [(":status", "404")], end_stream=True)
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length,
                                                   event.stream_id)
                    conn.send_data(event.stream_id, event.data)  # the echo
                elif isinstance(event, h2.events.StreamEnded):
                    if event.stream_id not in sse:
                        conn.end_stream(event.stream_id)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return
            for sid, i in list(sse.items()):
                if self.delivered[i - 1].is_set():
                    if i < self.EVENTS:
                        conn.send_data(sid, self.event(i))
                        sse[sid] = i + 1
                        deadline = time.monotonic() + self.EVENT_WAIT
                    else:
                        conn.end_stream(sid)
                        del sse[sid]
                elif time.monotonic() > deadline:
                    conn.reset_stream(sid)  # event i - 1 never reached the client
                    del sse[sid]
            data = conn.data_to_send()
            if data:
                tls.sendall(data)
