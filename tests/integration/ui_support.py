"""Helpers for the web UI's tests: an origin with the endpoints they need,
a small client for the UI's API and its event stream, and a test case
base that starts a proxy with --ui."""

from __future__ import annotations

import http.client
import http.server
import json
import queue
import re
import socket
import threading
import time
import urllib.parse

import harness
from fixtures import ProxyTestCase
from harness import SOCKET_TIMEOUT, Origin

TOKEN = "ui-test-token-0123456789"
UI_LINE = re.compile(r"web UI: http://(\S+):(\d+)/\?token=(\S+)")
WAIT = 10  # seconds: deadline of every poll


def wait_until(predicate, what: str, timeout: float = WAIT):
    """harness.wait_until with the UI tests' deadline."""
    return harness.wait_until(predicate, what, timeout)


class _UiOriginHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format, *args):
        pass

    def _send(self, status, body: bytes, content_type="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _handle(self):
        owner = self.server.owner
        body = self._body() if self.command in ("POST", "PUT") else b""
        path = self.path.split("?", 1)[0]
        owner.record(self.command, self.path, body)
        if path.startswith("/slow"):
            owner.release.wait(SOCKET_TIMEOUT)
            self._send(200, b"slow answer\n")
        elif path.startswith("/json"):
            self._send(200, b'{"name": "ada", "list": [1, 2]}', "application/json",
                       [("X-Unique", "json-" + path.rsplit("/", 1)[-1])])
        elif path.startswith("/image"):
            self._send(200, PNG_1PX, "image/png")
        elif path.startswith("/binary"):
            self._send(200, bytes(range(256)) * 4, "application/octet-stream")
        elif path.startswith("/echo"):
            self._send(201, body, "application/octet-stream",
                       [("X-Echo-Length", str(len(body)))])
        elif path.startswith("/missing"):
            self._send(404, b"not here\n")
        else:
            self._send(200, b"hello " + path.encode() + b"\n", "text/plain",
                       [("X-Path", path)])

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


# A 1x1 PNG (red), for the image view.
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082")


class UiOrigin(Origin):
    """An HTTPS origin for the UI tests:
      /slow...    answers once `release` is set (in-flight flows)
      /json/X     JSON with X-Unique: json-X
      /image      a PNG;  /binary  1 KiB of every byte value
      /echo       POST: the body back, 201;  /missing  404
      anything else: "hello PATH", with X-Path
    and remembers every request (method, path, body) in `seen`."""

    def __init__(self, cert):
        self.seen = []
        self.release = threading.Event()
        super().__init__(cert)

    def record(self, method, path, body):
        with self._lock:
            self.seen.append((method, path, body))

    def count(self, path) -> int:
        with self._lock:
            return sum(1 for _, p, _ in self.seen if p == path)

    def _serve_connection(self, sock, client_address):
        sock.settimeout(SOCKET_TIMEOUT)
        try:
            sock = self.tls_context.wrap_socket(sock, server_side=True)
        except OSError:
            sock.close()
            return
        self._track(sock, True)
        try:
            _UiOriginHandler(sock, client_address, self._server)
        except OSError:
            pass
        finally:
            self._track(sock, False)
            sock.close()


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class UiTestCase(ProxyTestCase):
    """A proxy with --ui on a free loopback port and a UiOrigin."""

    ui_args: tuple = ()

    @classmethod
    def start_servers(cls):
        cls.ui_origin = cls.enterClassContext(UiOrigin(cls.pki.good))
        cls.proxy_args = ("--ui", "0", "--ui-token", TOKEN, *cls.ui_args)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        match = cls.proxy.wait_for_line(UI_LINE)
        cls.ui_host, cls.ui_port = match.group(1), int(match.group(2))
        cls.ui_url = f"http://{cls.ui_host}:{cls.ui_port}"
        assert match.group(3) == TOKEN

    # -- the API -------------------------------------------------------------

    def request(self, method, path, headers=None, token=True, body=None) -> Response:
        """One request to the UI; token in the Authorization header."""
        hdrs = {"Host": f"127.0.0.1:{self.ui_port}"}
        if token:
            hdrs["Authorization"] = f"Bearer {TOKEN}"
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.ui_port, timeout=SOCKET_TIMEOUT)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in hdrs.items():
                if value is not None:
                    conn.putheader(name, value)
            conn.endheaders(body)
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def api(self, path, method="GET", expect=200) -> Response:
        resp = self.request(method, path)
        self.assertEqual(resp.status, expect, f"{method} {path}: {resp.body[:300]!r}")
        return resp

    def flows(self, since=0, filter_text=None) -> list[dict]:
        query = {"since": since}
        if filter_text is not None:
            query["filter"] = filter_text
        return self.api("/api/flows?" + urllib.parse.urlencode(query)).json()["flows"]

    def flow_for(self, url_part, phase="done", timeout=WAIT) -> dict:
        """The newest flow whose URL contains url_part, once in phase."""
        def find():
            for f in reversed(self.flows()):
                if url_part in f["url"] and (phase is None or f["phase"] == phase):
                    return f
            return None
        return wait_until(find, f"a flow for {url_part} in phase {phase}", timeout)

    def through_proxy(self, path, *args):
        """curl one URL of the UI origin through the proxy."""
        return self.fetch(self.ui_origin.url(path), *args)


class EventStream:
    """A reader of /api/events on its own thread: events go to a queue."""

    def __init__(self, port: int, token: str = TOKEN):
        self.events: queue.Queue = queue.Queue()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
        self.sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                          f"Authorization: Bearer {token}\r\n\r\n".encode())
        self.file = self.sock.makefile("rb")
        self.status_line = self.file.readline().decode()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        name = None
        try:
            for raw in self.file:
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name:
                    self.events.put((name, json.loads(line[6:]), time.monotonic()))
        except (OSError, ValueError):
            pass

    def wait_for(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event within {timeout}s")
            try:
                name, data, when = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if predicate(name, data):
                return data

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
