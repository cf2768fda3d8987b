"""Origins for the headless-Chromium test (test_browser.py).

A small web application spread over three host names, as a real page is:

  https://app.test/          the page (HTML + inline script)
  https://cdn.test/app.js    a script the page loads
  https://cdn.test/app.css   a stylesheet the page loads
  https://api.test/data.json JSON fetched cross-origin (CORS)
  wss://api.test/echo        a WebSocket that echoes one text message

The page writes what worked into <div id=result>, e.g.
"script:ok css:ok fetch:ok ws:ok", and sets document.title to "done"
when every part has an outcome, so a browser's DOM says it all.

BrowserOrigin serves every name by its Host header; the test starts one
per name on its own loopback port, so that the proxy's --connect-to rules
are what brings each name to the right place. The leaf certificate comes
from the test CA of harness.make_pki (made with the openssl CLI and the
config make_pki wrote), valid for the three names only.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import re
import ssl
import struct

from harness import (
    EC_KEY_ARGS, SOCKET_TIMEOUT, CertPair, Pki, _BackgroundServer, _family,
    _tcp_server_class, run_tool,
)

BROWSER_NAMES = ("app.test", "cdn.test", "api.test")
BROWSER_SANS = ", ".join(f"DNS:{name}" for name in BROWSER_NAMES)
RESULT_PARTS = ("script", "css", "fetch", "ws")

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_OP_TEXT, WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG = 0x1, 0x8, 0x9, 0xA
WS_MAX_PAYLOAD = 64 * 1024

DATA = {"answer": 42, "from": "api.test"}

APP_JS = b"window.appScriptLoaded = true;\n"

# The page checks that this rule applied (getComputedStyle), so a stylesheet
# that did not load cannot look like one that did.
APP_CSS = b"#styled { width: 123px; color: rgb(1, 2, 3); }\n"

APP_HTML = b"""<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>pending</title>
<link rel="stylesheet" href="https://cdn.test/app.css">
<script src="https://cdn.test/app.js"></script>
</head>
<body>
<div id="styled">styled by app.css</div>
<div id="result">pending</div>
<script>
"use strict";
const parts = {script: "pending", css: "pending", fetch: "pending", ws: "pending"};
function show() {
  const names = ["script", "css", "fetch", "ws"];
  document.getElementById("result").textContent =
    names.map(name => name + ":" + parts[name]).join(" ");
  if (names.every(name => parts[name] !== "pending")) document.title = "done";
}
function settle(name, value) {
  if (parts[name] === "pending") { parts[name] = value; show(); }
}
// A parser-inserted script runs only after the stylesheets before it and the
// external script before it have loaded, so both are decided here.
settle("script", window.appScriptLoaded === true ? "ok" : "missing");
const style = getComputedStyle(document.getElementById("styled"));
settle("css", style.width === "123px" && style.color === "rgb(1, 2, 3)"
              ? "ok" : "missing(" + style.width + "," + style.color + ")");
fetch("https://api.test/data.json", {cache: "no-store"})
  .then(response => response.ok ? response.json()
                                : Promise.reject("status " + response.status))
  .then(data => settle("fetch", data.answer === 42 ? "ok" : "bad-json"))
  .catch(error => settle("fetch", "error(" + error + ")"));
try {
  const token = "hello-" + Math.random().toString(36).slice(2);
  const ws = new WebSocket("wss://api.test/echo");
  ws.onopen = () => ws.send(token);
  ws.onmessage = event => {
    settle("ws", event.data === "echo: " + token ? "ok" : "bad-echo");
    ws.close(1000, "done");
  };
  ws.onerror = () => settle("ws", "error");
  ws.onclose = event => settle("ws", "closed(" + event.code + ")");
} catch (error) {
  settle("ws", "exception(" + error + ")");
}
show();
</script>
</body>
</html>
"""

# (host, path) -> (content type, body, extra headers)
RESOURCES = {
    ("app.test", "/"): ("text/html; charset=utf-8", APP_HTML, {}),
    ("cdn.test", "/app.js"): ("text/javascript", APP_JS, {}),
    ("cdn.test", "/app.css"): ("text/css", APP_CSS, {}),
    ("api.test", "/data.json"): ("application/json", json.dumps(DATA).encode(),
                                 {"Access-Control-Allow-Origin": "https://app.test"}),
}


def make_browser_leaf(pki: Pki) -> CertPair:
    """A leaf for app.test, cdn.test and api.test signed by pki's CA.

    Uses the openssl config (database, serial) make_pki left in the PKI
    directory, with the extensions in a file of our own (-extfile), so the
    leaf has the same profile as harness's good leaf but our names."""
    d = pki.ca.cert.parent
    config = d / "openssl.cnf"
    extfile = d / "browser-ext.cnf"
    extfile.write_text(
        "[ ext_browser ]\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
        f"subjectAltName = {BROWSER_SANS}\n")
    pair = CertPair(d / "browser.pem", d / "browser.key")
    csr = d / "browser.csr"
    run_tool(["openssl", "req", "-new", *EC_KEY_ARGS, "-config", config,
              "-subj", "/CN=app.test", "-keyout", pair.key, "-out", csr])
    run_tool(["openssl", "ca", "-batch", "-notext", "-config", config,
              "-cert", pki.ca.cert, "-keyfile", pki.ca.key,
              "-extfile", extfile, "-extensions", "ext_browser",
              "-days", "30", "-in", csr, "-out", pair.cert])
    return pair


def websocket_accept(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def _read_exactly(rfile, n: int) -> bytes:
    data = rfile.read(n)
    if len(data) != n:
        raise ConnectionError(f"EOF after {len(data)} of {n} bytes of a frame")
    return data


def read_ws_frame(rfile) -> tuple[int, bytes]:
    """(opcode, payload) of one client frame; client frames must be masked.

    Fragmented messages are not supported (a browser sends short text in
    one frame)."""
    first, second = _read_exactly(rfile, 2)
    fin, opcode = first & 0x80, first & 0x0F
    masked, length = second & 0x80, second & 0x7F
    if not fin:
        raise ConnectionError("fragmented WebSocket frame")
    if not masked:
        raise ConnectionError("unmasked client WebSocket frame (RFC 6455 5.1)")
    if length == 126:
        length = struct.unpack("!H", _read_exactly(rfile, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _read_exactly(rfile, 8))[0]
    if length > WS_MAX_PAYLOAD:
        raise ConnectionError(f"WebSocket frame of {length} bytes")
    mask = _read_exactly(rfile, 4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exactly(rfile, length)))
    return opcode, payload


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked server frame with FIN set."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return head + payload


class _BrowserHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format, *args):
        pass

    def _host(self) -> str:
        """The Host header's name, without a port, lower case."""
        host = self.headers.get("Host", "").strip().lower()
        return re.sub(r":\d+$", "", host)

    def _send(self, status, body: bytes, content_type="text/plain", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        host, path = self._host(), self.path.split("?", 1)[0]
        self.server.owner._record(host, path)
        if (host, path) == ("api.test", "/echo"):
            self._websocket_echo()
            return
        resource = RESOURCES.get((host, path))
        if resource is None:
            self._send(404, f"nothing at {host}{path}\n".encode())
            return
        content_type, body, extra = resource
        self._send(200, body, content_type, extra)

    def _websocket_echo(self):
        key = self.headers.get("Sec-WebSocket-Key")
        if (self.headers.get("Upgrade", "").lower() != "websocket" or not key
                or self.headers.get("Sec-WebSocket-Version") != "13"):
            self._send(400, b"not a WebSocket handshake\n")
            return
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", websocket_accept(key))
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        owner = self.server.owner
        echoed = False
        while True:
            opcode, payload = read_ws_frame(self.rfile)
            if opcode == WS_OP_TEXT and not echoed:
                self.wfile.write(ws_frame(WS_OP_TEXT, b"echo: " + payload))
                self.wfile.flush()
                echoed = True
                owner._record("api.test", "/echo#text:" + payload.decode(errors="replace"))
            elif opcode == WS_OP_PING:
                self.wfile.write(ws_frame(WS_OP_PONG, payload))
                self.wfile.flush()
            elif opcode == WS_OP_CLOSE:
                # Answer with the same status code, then end the connection.
                self.wfile.write(ws_frame(WS_OP_CLOSE, payload[:2]))
                self.wfile.flush()
                owner._record("api.test", "/echo#close")
                return
            else:
                raise ConnectionError(f"unexpected WebSocket opcode {opcode}")


class BrowserOrigin(_BackgroundServer):
    """A TLS origin on a loopback port serving the RESOURCES of every name
    in BROWSER_NAMES by Host header, plus the WebSocket at api.test/echo.

    `requests` lists (host, path) in arrival order, WebSocket events
    included as ("api.test", "/echo#text:<message>") and ("api.test",
    "/echo#close"); `connections` counts
    completed TLS handshakes, `handshake_failures` the others."""

    def __init__(self, cert: CertPair, host: str = "127.0.0.1"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert.cert, cert.key)
        ctx.set_alpn_protocols(["http/1.1"])
        self.tls_context = ctx
        self.requests: list[tuple[str, str]] = []
        self.connections = 0
        self.handshake_failures = 0
        server_class = _tcp_server_class(http.server.ThreadingHTTPServer, _family(host))
        super().__init__(server_class((host, 0), _BrowserHandler, self))

    def _record(self, host: str, path: str):
        with self._lock:
            self.requests.append((host, path))

    def _serve_connection(self, sock, client_address):
        sock.settimeout(SOCKET_TIMEOUT)
        try:
            sock = self.tls_context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            with self._lock:
                self.handshake_failures += 1
            sock.close()
            return
        with self._lock:
            self.connections += 1
        self._track(sock, True)
        try:
            _BrowserHandler(sock, client_address, self._server)
        except (OSError, ConnectionError):
            pass  # the client went away, or broke the WebSocket protocol
        finally:
            self._track(sock, False)
            try:
                sock.close()
            except OSError:
                pass

    def seen(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.requests)
