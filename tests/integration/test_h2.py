"""HTTP/2 through tlspeek: ALPN mirrored between the legs, the h2 bytes
relayed unchanged, and one record per stream.

Origins: nghttpd (Debian's nghttp2-server; ALPN h2 only, uploads echoed, a
trailer on every response with a body), python TLS servers selecting a
given ALPN list, the harness's HTTP/1.1 origin, and a grpcio server.
Clients: curl --http2, python3-h2 in a CONNECT tunnel, grpcio, and
headless Chromium (selenium + chromium-driver). Run with /usr/bin/python3.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import ssl
import tempfile
import threading
import unittest
from pathlib import Path

from fixtures import MB, ProxyTestCase
from h2peers import AlpnOrigin, H2Client, H2EchoServer, H2Stream, Nghttpd, tls_through
from harness import (
    pattern_pieces, pattern_sha256, run_tool, wait_until, write_pattern_file,
)

BIG = 50 * MB
UPLOAD = 20 * MB
CONCURRENT = 20
RECORD_WAIT = 10


def small_body(i: int) -> bytes:
    return f"small file {i}\n".encode() * (i + 1)


class H2Case(ProxyTestCase):
    """A proxy writing --flows, nghttpd with a docroot, and helpers to read
    the records."""

    @classmethod
    def start_servers(cls):
        docroot = cls.tmp / "htdocs"
        docroot.mkdir()
        (docroot / "index.html").write_text(
            "<!doctype html><title>h2 page</title><p id=result>h2 page</p>\n")
        for i in range(CONCURRENT):
            (docroot / f"s{i}.txt").write_bytes(small_body(i))
        with open(docroot / "big.bin", "wb") as f:
            for piece in pattern_pieces(BIG, "h2-big"):
                f.write(piece)
        cls.h2origin = cls.enterClassContext(
            Nghttpd(cls.pki.good, docroot, cls.tmp / "nghttpd.log"))
        cls.flows = cls.tmp / "flows.jsonl"
        cls.har = cls.tmp / "flows.har"
        cls.bodies = cls.tmp / "bodies"
        cls.proxy_args = ("--flows", cls.flows, "--har", cls.har, "--bodies", cls.bodies)

    def h2url(self, path: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.h2origin.port}{path}"

    def records(self, predicate, count: int = 1, timeout: float = RECORD_WAIT):
        """The --flows records for which predicate(record) is true, waiting
        until there are count of them."""
        def found():
            lines = self.flows.read_text().splitlines() if self.flows.exists() else []
            matching = [r for r in map(json.loads, lines) if predicate(r)]
            return matching if len(matching) >= count else None
        return wait_until(found, f"{count} matching record(s) in --flows", timeout)

    def records_for(self, url: str, count: int = 1):
        return self.records(lambda r: r["url"] == url, count)


class CurlTests(H2Case):
    """curl --http2 through the proxy to nghttpd."""

    def test_get_is_http2_on_both_legs(self):
        transfer = self.fetch(self.h2url("/index.html"), "--http2")
        self.assertEqual(transfer.status, 200, transfer.describe())
        self.assertEqual(transfer.http_version, "2", transfer.describe())
        self.assertIn(b"h2 page", transfer.body)
        (r,) = self.records_for(self.h2url("/index.html"))
        self.assertEqual(r["http_version"], "HTTP/2")
        self.assertEqual(r["method"], "GET")
        self.assertEqual(r["status"], 200)
        self.assertEqual(r["stream_id"], 1)
        self.assertEqual(r["tls"]["client"]["alpn"], "h2")
        self.assertEqual(r["tls"]["upstream"]["alpn"], "h2")
        self.assertEqual(r["response_bytes"], len(transfer.body))
        self.assertIsNone(r["error"])
        names = [name for name, _ in r["request_headers"]]
        self.assertNotIn(":path", names)  # folded into method and url
        self.assertIn("user-agent", names)
        # nghttpd's trailer, passed through and recorded
        self.assertIn(list(Nghttpd.TRAILER), r["response_trailers"])

    def test_big_download_and_upload_are_byte_identical(self):
        transfer = self.fetch(self.h2url("/big.bin"), "--http2")
        self.assertEqual(transfer.status, 200, transfer.describe())
        self.assertEqual(transfer.http_version, "2")
        self.assertEqual(len(transfer.body), BIG)
        self.assertEqual(hashlib.sha256(transfer.body).hexdigest(),
                         pattern_sha256(BIG, "h2-big"))
        upload = self.tmp / "upload.bin"
        digest = write_pattern_file(upload, UPLOAD, "h2-up")
        echoed = self.fetch(self.h2url("/index.html?up"), "--http2", "--data-binary",
                            f"@{upload}")
        self.assertEqual(echoed.status, 200, echoed.describe())
        self.assertEqual(len(echoed.body), UPLOAD)
        self.assertEqual(hashlib.sha256(echoed.body).hexdigest(), digest)
        (down,) = self.records_for(self.h2url("/big.bin"))
        self.assertEqual(down["response_bytes"], BIG)
        (up,) = self.records_for(self.h2url("/index.html?up"))
        self.assertEqual(up["method"], "POST")
        self.assertEqual(up["request_bytes"], UPLOAD)
        self.assertEqual(up["response_bytes"], UPLOAD)


class OutputTests(H2Case):
    """Each stream of one h2 connection is one console line, one HAR entry
    (httpVersion HTTP/2) and one pair of --bodies files."""

    def test_one_line_entry_and_body_per_stream(self):
        since = self.proxy.mark()
        paths = ["/s4.txt?out", "/s5.txt?out"]
        transfers = self.fetch_many([self.h2url(p) for p in paths], "--http2")
        for i, transfer in zip((4, 5), transfers):
            self.assertEqual(transfer.body, small_body(i), transfer.describe())
            self.assertEqual(transfer.http_version, "2")
        records = [self.records_for(self.h2url(p))[0] for p in paths]
        self.assertEqual(records[0]["conn_id"], records[1]["conn_id"])  # one connection
        self.assertEqual({r["stream_id"] for r in records}, {1, 3})
        for i, (path, r) in zip((4, 5), zip(paths, records)):
            self.proxy.wait_for_line(rf"GET {re.escape(self.h2url(path))} \S*200\S* "
                                     rf"text/plain .* HTTP/2", since=since)
            saved = self.bodies / r["response_body"]["file"]
            self.assertEqual(saved.read_bytes(), small_body(i))

        def entries():  # the HAR is rewritten at most 5 s after an exchange
            if not self.har.exists():
                return None
            doc = json.loads(self.har.read_text())
            found = [e for e in doc["log"]["entries"] if e["request"]["url"].endswith("?out")]
            return found if len(found) == 2 else None
        for entry in wait_until(entries, "both streams in the HAR", 10):
            self.assertEqual(entry["request"]["httpVersion"], "HTTP/2")
            self.assertEqual(entry["response"]["httpVersion"], "HTTP/2")
            self.assertIn(entry["_streamId"], (1, 3))


class H2ClientTests(H2Case):
    """python3-h2 in a CONNECT tunnel."""

    def client(self) -> H2Client:
        return H2Client(self.proxy, f"localhost:{self.h2origin.port}")

    def test_twenty_concurrent_streams(self):
        with self.client() as c:
            sids = [c.request(f"/s{i}.txt?c20") for i in range(CONCURRENT)]
            c.pump(lambda: all(c.streams[s].ended for s in sids), "20 responses")
            for i, sid in enumerate(sids):
                stream = c.streams[sid]
                self.assertEqual(stream.status, 200)
                self.assertEqual(bytes(stream.body), small_body(i))
        records = self.records(lambda r: r["url"].endswith(".txt?c20"), CONCURRENT)
        self.assertEqual(sorted(r["stream_id"] for r in records), sids)
        self.assertEqual(len({r["conn_id"] for r in records}), 1)
        for r in records:
            self.assertEqual(r["http_version"], "HTTP/2")
            self.assertIsNone(r["error"])

    def test_client_reset_mid_download_then_the_proxy_still_serves(self):
        with self.client() as c:
            big = c.request("/big.bin")
            c.pump(lambda: c.streams[big].length >= MB, "the first MB of the download")
            c.reset(big)
            after = c.request("/s3.txt")
            c.pump(lambda: c.streams[after].ended, "a request after the reset")
            self.assertEqual(bytes(c.streams[after].body), small_body(3))
        (r,) = self.records_for(self.h2url("/big.bin"))
        self.assertEqual(r["error"], "stream reset by the client: CANCEL")
        self.assertLess(r["response_bytes"], BIG)
        (again,) = self.records_for(self.h2url("/s3.txt"))
        self.assertIsNone(again["error"])
        transfer = self.fetch(self.h2url("/s1.txt"), "--http2")
        self.assertEqual(transfer.body, small_body(1), transfer.describe())

    def test_server_push_is_an_exchange_of_its_own(self):
        with self.client() as c:
            page = c.request(Nghttpd.PUSH_FROM + "?push")
            c.pump(lambda: c.streams[page].ended and
                   any(s.ended for sid, s in c.streams.items() if sid % 2 == 0),
                   "the page and the resource pushed with it")
            pushed = next(sid for sid in c.streams if sid % 2 == 0)
            self.assertEqual(bytes(c.streams[pushed].body), small_body(0))
        (r,) = self.records_for(self.h2url(Nghttpd.PUSHED))
        self.assertEqual(r["stream_id"], pushed)
        self.assertEqual(r["status"], 200)
        self.assertEqual(r["response_bytes"], len(small_body(0)))
        self.assertIsNone(r["error"])

    def test_request_trailers_are_recorded(self):
        with self.client() as c:
            sid = c.request("/s2.txt?t", "POST", b"payload", headers=[("te", "trailers")],
                            trailers=[("x-client-trailer", "yes")])
            c.pump(lambda: c.streams[sid].ended, "the echoed upload")
            self.assertEqual(bytes(c.streams[sid].body), b"payload")
        (r,) = self.records_for(self.h2url("/s2.txt?t"))
        self.assertEqual(r["request_trailers"], [["x-client-trailer", "yes"]])
        self.assertEqual(r["request_bytes"], 7)


class TapLimitTests(H2Case):
    """A header list over --max-head-bytes stops the tap, never the relay:
    the streams already open end with the reason, one console line says
    it, and every byte still flows."""

    @classmethod
    def start_servers(cls):
        super().start_servers()
        cls.proxy_args += ("--max-head-bytes", "4096")

    def test_oversize_header_list_stops_inspection_not_traffic(self):
        since = self.proxy.mark()
        with H2Client(self.proxy, f"localhost:{self.h2origin.port}") as c:
            first = c.request("/big.bin?limit")
            c.pump(lambda: c.streams[first].length > 0, "the download's first bytes")
            big = c.request("/s6.txt?limit", headers=[("x-big", "b" * 5000)])
            c.pump(lambda: c.streams[big].ended and c.streams[first].ended,
                   "both responses, past the tap's limit", timeout=60)
            self.assertEqual(bytes(c.streams[big].body), small_body(6))
            self.assertEqual(c.streams[first].length, BIG)
            self.assertEqual(c.streams[first].sha256.hexdigest(),
                             pattern_sha256(BIG, "h2-big"))
        (r,) = self.records_for(self.h2url("/big.bin?limit"))
        self.assertEqual(r["error"], "an HTTP/2 header list over the size limit")
        self.proxy.sync_console()
        stops = [line for line in self.proxy.console.lines(since)
                 if "inspection stopped" in line]
        self.assertEqual(len(stops), 1, stops)
        self.assertIn("an HTTP/2 header list over the size limit", stops[0])


STREAM_MESSAGES = 4
GRPC_TIMEOUT = 30


class GrpcTests(ProxyTestCase):
    """grpcio client and server through the proxy (h2 on both legs): a
    unary call, and a server stream whose every message must reach the
    client before the server sends the next one."""

    @classmethod
    def start_servers(cls):
        import grpc
        from concurrent import futures
        cls.flows = cls.tmp / "flows.jsonl"
        cls.proxy_args = ("--flows", cls.flows)
        cls.received = [threading.Event() for _ in range(STREAM_MESSAGES)]

        def echo(request, context):
            return b"echo:" + request

        def stream(request, context):
            for i in range(STREAM_MESSAGES):
                yield f"message {i}".encode()
                # The next message only once the client has this one: a
                # relay that held the stream back would stop it here.
                if not cls.received[i].wait(GRPC_TIMEOUT):
                    context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                  f"message {i} did not reach the client")

        handler = grpc.method_handlers_generic_handler("test.Svc", {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
        })
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((handler,))
        credentials = grpc.ssl_server_credentials(
            [(cls.pki.good.key.read_bytes(), cls.pki.good.cert.read_bytes())])
        cls.grpc_port = server.add_secure_port("127.0.0.1:0", credentials)
        server.start()
        cls.addClassCleanup(server.stop, None)

    def channel(self):
        """A channel that finds the proxy as users point gRPC at one: the
        https_proxy variable (grpc reads it when it connects, so it stays
        set until the test ends), trusting the proxy's CA."""
        import grpc
        for name in ("https_proxy", "grpc_proxy", "no_proxy", "NO_PROXY", "no_grpc_proxy"):
            self.addCleanup(os.environ.__setitem__ if name in os.environ
                            else lambda n, v: os.environ.pop(n, None),
                            name, os.environ.get(name))
            os.environ.pop(name, None)
        os.environ["https_proxy"] = self.proxy.url
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.proxy.ca_cert.read_bytes())
        return grpc.secure_channel(f"localhost:{self.grpc_port}", credentials)

    def records_for(self, path):
        url = f"https://localhost:{self.grpc_port}{path}"
        def found():
            lines = self.flows.read_text().splitlines() if self.flows.exists() else []
            return [r for r in map(json.loads, lines) if r["url"] == url]
        return wait_until(found, f"a record for {url}", RECORD_WAIT)

    def test_unary_and_server_streaming(self):
        with self.channel() as channel:
            echo = channel.unary_unary("/test.Svc/Echo")
            self.assertEqual(echo(b"hi", timeout=GRPC_TIMEOUT), b"echo:hi")
            stream = channel.unary_stream("/test.Svc/Stream")
            got = []
            for i, message in enumerate(stream(b"go", timeout=GRPC_TIMEOUT)):
                got.append(message)
                self.received[i].set()
        self.assertEqual(got, [f"message {i}".encode() for i in range(STREAM_MESSAGES)])
        (unary,) = self.records_for("/test.Svc/Echo")
        self.assertEqual(unary["http_version"], "HTTP/2")
        self.assertEqual(unary["method"], "POST")
        self.assertIn(["grpc-status", "0"], unary["response_trailers"])
        (streamed,) = self.records_for("/test.Svc/Stream")
        self.assertIn(["grpc-status", "0"], streamed["response_trailers"])
        self.assertIsNone(streamed["error"])
        self.assertEqual(streamed["tls"]["client"]["alpn"], "h2")
        self.assertEqual(streamed["tls"]["upstream"]["alpn"], "h2")


class ChromiumTests(H2Case):
    """Headless Chromium (selenium + chromium-driver) loads an h2 page
    through the proxy; its navigation entry says h2."""

    def spki_hash(self) -> str:
        """base64 sha256 of the public key of the proxy's leaves (one key per
        run, for every host; verified against the proxy's CA here), for
        Chromium's --ignore-certificate-errors-spki-list, which looks at the
        certificates the server presents (the leaf only)."""
        with tls_through(self.proxy, self.h2origin.authority, "localhost", ["h2"]) as tls:
            leaf = tls.getpeercert(binary_form=True)
        public_key = run_tool(["openssl", "x509", "-inform", "DER", "-noout", "-pubkey"],
                              input_bytes=leaf).stdout
        der = run_tool(["openssl", "pkey", "-pubin", "-outform", "DER"],
                       input_bytes=public_key).stdout
        return base64.b64encode(hashlib.sha256(der).digest()).decode()

    def test_page_arrives_over_h2(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        profile = Path(tempfile.mkdtemp(prefix="tlspeek-chromium-", dir=self.tmp))
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-extensions",
                     f"--user-data-dir={profile}", f"--proxy-server={self.proxy.url}",
                     f"--ignore-certificate-errors-spki-list={self.spki_hash()}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.set_page_load_timeout(GRPC_TIMEOUT)
            url = self.h2url("/index.html", host="origin.test")
            driver.get(url)
            self.assertEqual(driver.title, "h2 page", driver.page_source[:500])
            protocol = driver.execute_script(
                "return performance.getEntriesByType('navigation')[0].nextHopProtocol")
        finally:
            driver.quit()
        self.assertEqual(protocol, "h2")
        (r,) = self.records_for(url)
        self.assertEqual(r["http_version"], "HTTP/2")
        self.assertEqual(r["status"], 200)


class StreamingTests(ProxyTestCase):
    """What the relay must leave end to end: websockets over h2 (extended
    CONNECT, RFC 8441) and a server-sent event stream whose every event
    must reach the client before the server sends the next."""

    @classmethod
    def start_servers(cls):
        cls.flows = cls.tmp / "flows.jsonl"
        cls.proxy_args = ("--flows", cls.flows)
        cls.echo = cls.enterClassContext(H2EchoServer(cls.pki.good))

    def client(self) -> H2Client:
        return H2Client(self.proxy, f"localhost:{self.echo.port}")

    def record(self, path):
        url = f"https://localhost:{self.echo.port}{path}"
        def found():
            lines = self.flows.read_text().splitlines() if self.flows.exists() else []
            return [r for r in map(json.loads, lines) if r["url"] == url]
        (r,) = wait_until(found, f"a record for {url}", RECORD_WAIT)
        return r

    def test_websocket_over_h2(self):
        with self.client() as c:
            # Extended CONNECT waits for the server to allow it (its SETTINGS).
            c.pump(lambda: c.conn.remote_settings.enable_connect_protocol,
                   "the server's SETTINGS_ENABLE_CONNECT_PROTOCOL")
            sid = c.conn.get_next_available_stream_id()
            c.conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                                      (":scheme", "https"), (":authority", c.authority),
                                      (":path", "/chat")])
            c.streams[sid] = H2Stream()
            for message in (b"hello", b"again"):
                before = c.streams[sid].length
                c.conn.send_data(sid, message)
                c.flush()
                c.pump(lambda: c.streams[sid].length >= before + len(message),
                       f"the echo of {message!r}")
            self.assertEqual(c.streams[sid].status, 200)
            self.assertEqual(bytes(c.streams[sid].body), b"helloagain")
            c.conn.end_stream(sid)
            c.flush()
            c.pump(lambda: c.streams[sid].ended, "the end of the tunnel stream")
        r = self.record("/chat")
        self.assertEqual(r["method"], "CONNECT")
        # the stream speaks its :protocol once answered, which is not a header
        self.assertNotIn(":protocol", [name for name, _ in r["request_headers"]])
        self.assertEqual((r["client_protocol"], r["upstream_protocol"]),
                         ("websocket", "websocket"))
        self.assertEqual(r["status"], 200)
        self.assertEqual((r["request_bytes"], r["response_bytes"]), (10, 10))

    def test_server_sent_events_arrive_one_by_one(self):
        with self.client() as c:
            sid = c.request("/events")
            for i in range(H2EchoServer.EVENTS):
                want = b"".join(H2EchoServer.event(k) for k in range(i + 1))
                c.pump(lambda: bytes(c.streams[sid].body) == want or
                       c.streams[sid].reset is not None, f"event {i}")
                self.assertIsNone(c.streams[sid].reset, f"event {i} was held back")
                self.echo.delivered[i].set()
            c.pump(lambda: c.streams[sid].ended, "the end of the event stream")
        r = self.record("/events")
        self.assertEqual(r["status"], 200)
        self.assertIsNone(r["error"])


# client offer x origin selection -> what the client gets
ALPN_CASES = [
    (["h2", "http/1.1"], ["h2"], "h2"),
    (["h2", "http/1.1"], ["h2", "http/1.1"], "h2"),
    (["h2", "http/1.1"], ["http/1.1"], "http/1.1"),
    (["h2", "http/1.1"], [], None),
    (["http/1.1", "h2"], ["http/1.1", "h2"], "http/1.1"),  # the server's order wins
    (["http/1.1"], ["h2"], None),
    (["http/1.1"], ["h2", "http/1.1"], "http/1.1"),
    (["http/1.1"], [], None),
    (["h2"], ["h2"], "h2"),
    (["h2"], ["h2", "http/1.1"], "h2"),
    (["h2"], ["http/1.1"], "refused"),
    (["h2"], [], "refused"),
    ([], ["h2", "http/1.1"], None),
    (["spdy/3", "h2"], ["h2", "http/1.1"], "h2"),
]


class AlpnTests(ProxyTestCase):
    """Every combination of what the client offers and what the origin
    selects: the client gets exactly the origin's choice."""

    @classmethod
    def start_servers(cls):
        cls.origins = {}
        for _, selects, _ in ALPN_CASES:
            key = tuple(selects)
            if key not in cls.origins:
                cls.origins[key] = cls.enterClassContext(AlpnOrigin(cls.pki.good, selects))

    def handshake(self, proxy, offer, origin):
        """What the client got: the protocol, None, or "refused"."""
        try:
            tls = tls_through(proxy, f"localhost:{origin.port}", "localhost", offer)
        except ssl.SSLError as error:
            self.assertIn("NO APPLICATION PROTOCOL", str(error).upper().replace("_", " "), error)
            return "refused"
        with tls:
            got = tls.selected_alpn_protocol()
            line = tls.makefile("rb").readline()
        self.assertEqual(line.decode().strip(), str(got))  # the origin selected the same
        return got

    def test_every_combination(self):
        for offer, selects, expected in ALPN_CASES:
            with self.subTest(client=offer, origin=selects):
                origin = self.origins[tuple(selects)]
                since = self.proxy.mark()
                self.assertEqual(self.handshake(self.proxy, offer, origin), expected)
                if expected == "refused":
                    self.proxy.wait_for_line(r"offers only h2 \(ALPN\) and the server did "
                                             r"not select it", since=since)

    def test_h2_only_client_to_an_http1_origin(self):
        since = self.proxy.mark()
        self.assertEqual(self.handshake(self.proxy, ["h2"], self.origin), "refused")
        self.proxy.wait_for_line(rf"localhost:{self.origin.port}.*offers only h2",
                                 since=since)
        self.proxy.sync_console()
        lines = [line for line in self.proxy.console.lines(since)
                 if "offers only h2" in line and " closed " not in line]
        self.assertEqual(len(lines), 1, lines)


class NoHttp2Tests(AlpnTests):
    """--no-http2: http/1.1 only, on both legs."""

    proxy_args = ("--no-http2",)

    def test_every_combination(self):
        origin = self.origins[("h2", "http/1.1")]
        self.assertEqual(self.handshake(self.proxy, ["h2", "http/1.1"], origin), "http/1.1")
        self.assertEqual(origin.selected[-1], "http/1.1")
        since = self.proxy.mark()
        self.assertEqual(self.handshake(self.proxy, ["h2"], origin), "refused")
        self.proxy.wait_for_line(r"offers only h2 \(ALPN\) and --no-http2 is set",
                                 since=since)

    def test_curl_falls_back_to_http1(self):
        transfer = self.fetch(self.origin.url("/"), "--http2")
        self.assertEqual(transfer.status, 200, transfer.describe())
        self.assertEqual(transfer.http_version, "1.1")


if __name__ == "__main__":
    unittest.main()
