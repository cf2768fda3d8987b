"""Seeing inside the tunnels: TLS key log for both legs, hosts passed
through untouched."""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import struct
import threading
import time
import unittest

from browser_origin import (
    WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG, WS_OP_TEXT, BrowserOrigin, make_browser_leaf,
    websocket_accept,
)
from harness import (
    POLL_INTERVAL, Proxy, pem_certificates, run_tool, wait_until, open_tunnel,
)
from fixtures import HELLO, ProxyTestCase


def client_randoms(keylog_text: str) -> set[str]:
    """The client randoms of the sessions a key log has secrets for."""
    return {m.group(1) for m in re.finditer(
        r"^(?:CLIENT_HANDSHAKE_TRAFFIC_SECRET|CLIENT_RANDOM) ([0-9a-f]{64}) [0-9a-f]+$",
        keylog_text, re.M)}


class KeylogTests(ProxyTestCase):
    @classmethod
    def start_servers(cls):
        cls.keylog = cls.tmp / "keys.log"
        cls.proxy_args = ("--keylog", cls.keylog)

    def test_both_legs_of_a_tunnel_are_logged(self):
        before = client_randoms(self.keylog.read_text()) if self.keylog.exists() else set()
        self.assertFetched(self.fetch(self.origin.url("/")))
        text = self.keylog.read_text()
        new = client_randoms(text) - before
        # One session toward the client, one toward the origin.
        self.assertEqual(len(new), 2, text)
        self.assertRegex(text, r"(?m)^SERVER_TRAFFIC_SECRET_0 ")
        self.assertEqual(os.stat(self.keylog).st_mode & 0o777, 0o600)

    def test_tls12_legs_use_client_random_lines(self):
        self.assertFetched(self.fetch(self.origin.url("/"), "--tls-max", "1.2"))
        self.assertRegex(self.keylog.read_text(), r"(?m)^CLIENT_RANDOM [0-9a-f]{64} ")


class SslKeylogFileTests(unittest.TestCase):
    def test_environment_variable_is_honoured(self):
        import tempfile
        from pathlib import Path
        from harness import Origin, curl_transfers, make_pki
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            pki = make_pki(tmp / "pki")
            keylog = tmp / "env-keys.log"
            os.environ["SSLKEYLOGFILE"] = str(keylog)
            try:
                with Origin(pki.good) as origin, \
                        Proxy("--upstream-ca", pki.ca.cert) as proxy:
                    _, transfers = curl_transfers(
                        [origin.url("/")], "--proxy", proxy.url, "--cacert", proxy.ca_cert)
                    self.assertEqual(transfers[0].body, HELLO)
            finally:
                del os.environ["SSLKEYLOGFILE"]
            self.assertGreaterEqual(len(client_randoms(keylog.read_text())), 2)


class IgnoreHostsTests(ProxyTestCase):
    proxy_args = ("--ignore-hosts", "^(localhost|pinned\\.test)$")

    def origin_leaf(self, host: str) -> str:
        proc = run_tool(
            ["openssl", "s_client", "-proxy", f"{self.proxy.host}:{self.proxy.port}",
             "-connect", f"{host}:{self.origin.port}", "-servername", host,
             "-showcerts"], check=False)
        certificates = pem_certificates(proc.stdout.decode(errors="replace"))
        self.assertTrue(certificates, proc.stderr.decode(errors="replace"))
        leaf = self.tmp / f"leaf-{host}.pem"
        leaf.write_text(certificates[0])
        issuer = run_tool(["openssl", "x509", "-noout", "-issuer", "-in", leaf])
        return issuer.stdout.decode()

    def test_ignored_host_sees_the_origin_certificate(self):
        since = self.proxy.mark()
        self.assertIn("tlspeek integration test CA", self.origin_leaf("localhost"))
        self.proxy.wait_for_line(r"CONNECT localhost:\d+ passthrough", since=since)

    def test_other_hosts_are_still_intercepted(self):
        self.assertIn("tlspeek CA", self.origin_leaf("127.0.0.1"))

    def test_curl_through_passthrough_trusts_the_origin_ca(self):
        from harness import curl_transfers
        _, transfers = curl_transfers([self.origin.url("/", host="localhost")],
                                      "--proxy", self.proxy.url,
                                      "--cacert", str(self.pki.ca.cert))
        self.assertEqual(transfers[0].body, HELLO, transfers[0].describe())


if __name__ == "__main__":
    unittest.main()


class FlowOutputTests(ProxyTestCase):
    """--flows, --har and --bodies through the real binary: every exchange
    in clear, as JSON lines, as HAR, and as body files."""

    @classmethod
    def start_servers(cls):
        from harness import Origin
        cls.plain = cls.enterClassContext(Origin(None))
        cls.flows = cls.tmp / "flows.jsonl"
        cls.har = cls.tmp / "flows.har"
        cls.bodies = cls.tmp / "bodies"
        cls.proxy_args = ("--flows", cls.flows, "--har", cls.har, "--bodies",
                          cls.bodies, "--body-limit", "100000")

    def records_for(self, url_part: str, count: int = 1, timeout: float = 5):
        """The JSON records whose url contains url_part, waiting for count."""
        def found():
            lines = self.flows.read_text().splitlines() if self.flows.exists() else []
            records = [json.loads(line) for line in lines]
            matching = [r for r in records if url_part in r["url"]]
            return matching if len(matching) >= count else None
        return wait_until(found, f"{count} --flows record(s) for {url_part}", timeout)

    def test_get_in_a_tunnel(self):
        self.assertFetched(self.fetch(self.origin.url("/?q=1")))
        (r,) = self.records_for(f":{self.origin.port}/?q=1")
        self.assertEqual(r["method"], "GET")
        self.assertEqual(r["url"], f"https://127.0.0.1:{self.origin.port}/?q=1")
        self.assertEqual(r["status"], 200)
        self.assertEqual(r["http_version"], "HTTP/1.1")
        self.assertEqual(r["response_bytes"], len(HELLO))
        self.assertEqual(r["tls"]["client"]["version"], "TLSv1.3")
        self.assertEqual(r["tls"]["upstream"]["alpn"], "http/1.1")
        self.assertIsNone(r["error"])
        self.assertIn(["Host", f"127.0.0.1:{self.origin.port}"], r["request_headers"])
        self.assertRegex(r["start"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # This round's fields.
        self.assertIsInstance(r["conn_id"], int)
        self.assertGreater(r["conn_id"], 0)
        self.assertEqual(r["stream_id"], 0)
        self.assertIsNone(r["replay_of"])
        self.assertEqual(r["phase"], "done")
        self.assertEqual(r["client_protocol"], "HTTP/1.1")
        self.assertEqual(r["upstream_protocol"], "HTTP/1.1")
        self.assertEqual(r["request_trailers"], [])
        self.assertEqual(r["response_trailers"], [])
        self.assertIsNone(r["websocket_messages"])
        self.assertFalse(r["answered_by_proxy"])
        self.assertFalse(r["passthrough"])
        self.assertIsNone(r["passthrough_reason"])
        self.assertIsNone(r["tls"]["upstream"]["client_cert"])

    def test_post_sizes_and_bodies(self):
        body = bytes(range(256)) * 40
        upload = self.tmp / "upload.bin"
        upload.write_bytes(body)
        transfer = self.fetch(self.origin.url("/echo-sha256"), "--data-binary", f"@{upload}")
        self.assertEqual(transfer.status, 200, transfer.describe())
        (r,) = self.records_for("/echo-sha256")
        self.assertEqual(r["method"], "POST")
        self.assertEqual(r["request_bytes"], len(body))
        saved = self.bodies / r["request_body"]["file"]
        self.assertEqual(saved.read_bytes(), body)
        self.assertEqual((self.bodies / r["response_body"]["file"]).read_bytes(),
                         transfer.body)

    def test_head_chunked_and_not_modified_keep_alive(self):
        urls = [self.origin.url(p) for p in ("/chunked", "/not-modified", "/chunked")]
        transfers = self.fetch_many(urls)
        self.assertEqual(transfers[0].body, b"chunk one two")
        self.assertEqual(transfers[1].status, 304)
        chunked = self.records_for("/chunked", 2)
        self.assertEqual(chunked[0]["response_bytes"], len(b"chunk one two"))
        (nm,) = self.records_for("/not-modified")
        self.assertEqual(nm["status"], 304)
        self.assertEqual(nm["response_bytes"], 0)
        head = self.fetch(self.origin.url("/bytes/5000"), "--head")
        self.assertEqual(head.status, 200, head.describe())
        (hr,) = self.records_for("/bytes/5000")
        self.assertEqual(hr["method"], "HEAD")
        self.assertEqual(hr["response_bytes"], 0)

    def test_plain_http_is_recorded_with_null_tls(self):
        self.assertFetched(self.fetch(self.plain.url("/")))
        (r,) = self.records_for(f"http://127.0.0.1:{self.plain.port}/")
        self.assertIsNone(r["tls"])
        self.assertEqual(r["status"], 200)

    def test_har_has_one_entry_per_exchange(self):
        self.assertFetched(self.fetch(self.origin.url("/?har=1")))
        self.records_for("/?har=1")

        def har_with_it():
            doc = json.loads(self.har.read_text())
            urls = [e["request"]["url"] for e in doc["log"]["entries"]]
            return (doc, urls) if any(u.endswith("/?har=1") for u in urls) else None
        # Rewritten at most every 5 s.
        doc, urls = wait_until(har_with_it, "the exchange in the HAR", timeout=10)
        self.assertEqual(doc["log"]["version"], "1.2")
        self.assertEqual(doc["log"]["creator"]["name"], "tlspeek")
        self.assertTrue(any(u.endswith("/?har=1") for u in urls), urls)
        (entry,) = [e for e in doc["log"]["entries"] if e["request"]["url"].endswith("/?har=1")]
        self.assertEqual(entry["request"]["httpVersion"], "HTTP/1.1")
        self.assertIsInstance(entry["_id"], int)
        self.assertGreater(entry["_connId"], 0)
        self.assertEqual(entry["_clientProtocol"], "HTTP/1.1")
        self.assertEqual(entry["_tls"]["client"]["version"], "TLSv1.3")
        self.assertNotIn("_streamId", entry)
        flows = self.flows.read_text().splitlines()
        self.assertLessEqual(len(urls), len(flows))

    def test_console_line_per_exchange(self):
        since = self.proxy.mark()
        self.assertFetched(self.fetch(self.origin.url("/?console=1")))
        self.proxy.wait_for_line(
            rf"GET https://127\.0\.0\.1:{self.origin.port}/\?console=1 \S*200\S* "
            rf"text/plain 18 B \d+ ms", since=since)


class OutputFailureTests(ProxyTestCase):
    """A --flows file that cannot be written (a full disk: /dev/full):
    traffic keeps flowing, one clear error, and the loss is counted."""

    proxy_args = ("--flows", "/dev/full")

    def test_traffic_flows_and_the_error_is_said_once(self):
        since = self.proxy.mark()
        for _ in range(3):
            self.assertFetched(self.fetch(self.origin.url("/")))
        self.proxy.wait_for_line(r"cannot write --flows /dev/full: No space left",
                                 since=since)
        self.proxy.sync_console()  # a second warning would have come by now
        warnings = [line for line in self.proxy.console.lines(since)
                    if "cannot write --flows" in line]
        self.assertEqual(len(warnings), 1, warnings)


class HarDuringTrafficTests(ProxyTestCase):
    """--har while traffic flows: a viewer that opens the file at any moment
    finds a whole HAR document, and in the end every exchange is there."""

    EXCHANGES = 60
    HAR_REWRITE_SECONDS = 5  # include/flowout.h

    @classmethod
    def start_servers(cls):
        cls.har = cls.tmp / "live.har"
        cls.proxy_args = ("--har", cls.har)

    def read_har(self):
        """(number of our entries, None) or (None, why the file is not a HAR)."""
        try:
            doc = json.loads(self.har.read_bytes())
            entries = doc["log"]["entries"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            return None, repr(error)
        return sum("har-live=" in e["request"]["url"] for e in entries), None

    def test_har_is_whole_at_every_moment_and_complete_at_the_end(self):
        stop = threading.Event()
        seen, bad = set(), []

        def reader():
            while not stop.is_set():
                count, error = self.read_har()
                if error:
                    bad.append(error)
                else:
                    seen.add(count)
                time.sleep(POLL_INTERVAL / 2)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            urls = [self.origin.url(f"/?har-live={i}") for i in range(self.EXCHANGES)]
            # Several curl runs, so that the document is rewritten between them.
            for start in range(0, self.EXCHANGES, 20):
                for transfer in self.fetch_many(urls[start:start + 20]):
                    self.assertFetched(transfer)
            wait_until(lambda: self.read_har()[0] == self.EXCHANGES,
                       f"all {self.EXCHANGES} exchanges in the HAR",
                       timeout=self.HAR_REWRITE_SECONDS + 10)
        finally:
            stop.set()
            thread.join(timeout=10)
        self.assertEqual(bad, [], "the HAR file was not a whole document at times")
        self.assertGreater(len(seen), 1, f"the reader saw only {seen}: it never "
                           "overlapped a rewrite")


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """One client frame (FIN set, masked as RFC 6455 5.1 asks), short payload."""
    mask = os.urandom(4)
    return (struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask
            + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def read_server_frame(rfile) -> tuple[int, bytes]:
    """(opcode, payload) of one short unmasked server frame."""
    first, length = rfile.read(2)
    return first & 0x0F, rfile.read(length & 0x7F)


class WebsocketRecordTests(ProxyTestCase):
    """A websocket in an intercepted tunnel: its --flows record and HAR entry
    carry the data messages each way (control frames are not messages)."""

    @classmethod
    def start_servers(cls):
        cls.ws_origin = cls.enterClassContext(BrowserOrigin(make_browser_leaf(cls.pki)))
        cls.flows = cls.tmp / "ws.jsonl"
        cls.har = cls.tmp / "ws.har"
        cls.proxy_args = ("--flows", cls.flows, "--har", cls.har, "--connect-to",
                          f"api.test:443:127.0.0.1:{cls.ws_origin.port}")

    def test_message_counts_each_way(self):
        with open_tunnel(self.proxy.address, "api.test:443") as client:
            context = ssl.create_default_context(cafile=str(self.proxy.ca_cert))
            with context.wrap_socket(client.sock, server_hostname="api.test") as tls:
                rfile = tls.makefile("rb")
                key = base64.b64encode(os.urandom(16)).decode()
                tls.sendall(f"GET /echo HTTP/1.1\r\nHost: api.test\r\n"
                            f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            f"Sec-WebSocket-Key: {key}\r\n"
                            f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    head += rfile.read(1)
                self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
                self.assertIn(websocket_accept(key).encode(), head)
                tls.sendall(masked_frame(WS_OP_TEXT, b"hello"))
                self.assertEqual(read_server_frame(rfile), (WS_OP_TEXT, b"echo: hello"))
                for _ in range(2):
                    tls.sendall(masked_frame(WS_OP_PING, b"p"))
                    self.assertEqual(read_server_frame(rfile), (WS_OP_PONG, b"p"))
                tls.sendall(masked_frame(WS_OP_CLOSE, b"\x03\xe8"))
                self.assertEqual(read_server_frame(rfile), (WS_OP_CLOSE, b"\x03\xe8"))
                rfile.close()

        def record():
            lines = self.flows.read_text().splitlines() if self.flows.exists() else []
            found = [json.loads(line) for line in lines]
            found = [r for r in found if r["url"].endswith("/echo")]
            return found[0] if found else None
        r = wait_until(record, "the websocket's --flows record")
        self.assertTrue(r["websocket"])
        self.assertEqual(r["status"], 101)
        self.assertEqual(r["websocket_messages"], {"up": 1, "down": 1})
        self.assertEqual(r["client_protocol"], "websocket")

        def entry():
            doc = json.loads(self.har.read_text())
            found = [e for e in doc["log"]["entries"] if e["request"]["url"].endswith("/echo")]
            return found[0] if found else None
        e = wait_until(entry, "the websocket's HAR entry", timeout=10)
        self.assertTrue(e["_websocket"])
        self.assertEqual(e["_websocketMessages"], {"up": 1, "down": 1})

