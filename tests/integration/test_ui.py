"""The web UI's API against the real binary (--ui): who may look (token,
Host, cross-site), the flow list and since=, in-flight flows, the event
stream, exact body bytes, the curl command, replay, the HAR export, the
filter language, and a subscriber that never reads."""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid
from pathlib import Path

from harness import SOCKET_TIMEOUT, clean_env, curl
from ui_support import TOKEN, WAIT, EventStream, UiTestCase, wait_until


class AccessTests(UiTestCase):
    def test_token_is_required(self):
        self.assertEqual(self.request("GET", "/api/flows", token=False).status, 401)
        self.assertEqual(self.request("GET", "/", token=False).status, 401)
        wrong = self.request("GET", "/api/flows", token=False,
                             headers={"Authorization": "Bearer wrong-token-123"})
        self.assertEqual(wrong.status, 401)
        self.assertIn(b"token", wrong.body)
        self.assertEqual(self.request("GET", "/api/flows?token=" + TOKEN[:-1] + "x",
                                      token=False).status, 401)
        self.assertEqual(self.request("GET", "/api/flows?token=" + TOKEN,
                                      token=False).status, 200)
        self.assertEqual(self.request("GET", "/api/flows").status, 200)  # Bearer

    def test_page_sets_a_strict_http_only_cookie_that_works(self):
        page = self.request("GET", "/?token=" + TOKEN, token=False)
        self.assertEqual(page.status, 200)
        self.assertTrue(page.headers["Content-Type"].startswith("text/html"))
        cookie = page.headers["Set-Cookie"]
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=Strict", cookie)
        pair = cookie.split(";", 1)[0]
        self.assertEqual(self.request("GET", "/api/flows", token=False,
                                      headers={"Cookie": pair}).status, 200)
        self.assertEqual(self.request("GET", "/api/flows", token=False,
                                      headers={"Cookie": pair + "x"}).status, 401)

    def test_foreign_host_is_forbidden(self):
        for host in ("evil.test", f"evil.test:{self.ui_port}", "127.0.0.2",
                     f"localhost.evil.test:{self.ui_port}", f"127.0.0.1:{self.ui_port + 1}"):
            with self.subTest(host=host):
                self.assertEqual(self.request("GET", "/api/flows",
                                              headers={"Host": host}).status, 403)
        for host in ("localhost", f"localhost:{self.ui_port}", f"127.0.0.1:{self.ui_port}"):
            with self.subTest(host=host):
                self.assertEqual(self.request("GET", "/api/flows",
                                              headers={"Host": host}).status, 200)

    def test_cross_site_requests_are_forbidden(self):
        own = f"http://127.0.0.1:{self.ui_port}"
        for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                        {"Origin": "http://evil.test"}, {"Origin": "null"},
                        {"Origin": f"http://127.0.0.1:{self.ui_port + 1}"}):
            with self.subTest(headers=headers):
                resp = self.request("GET", "/api/flows", headers=headers)
                self.assertEqual(resp.status, 403)
                self.assertIn(b"other sites", resp.body)
        for headers in ({"Sec-Fetch-Site": "same-origin", "Origin": own},
                        {"Sec-Fetch-Site": "none"},
                        {"Origin": f"http://localhost:{self.ui_port}"}):
            with self.subTest(headers=headers):
                self.assertEqual(self.request("GET", "/api/flows", headers=headers).status,
                                 200)

    def test_assets_have_types_and_caching_headers(self):
        page = self.api("/")
        self.assertIn("default-src 'none'", page.headers["Content-Security-Policy"])
        self.assertEqual(page.headers["Referrer-Policy"], "no-referrer")
        for path, ctype in (("/app.js", "text/javascript"), ("/app.css", "text/css")):
            resp = self.api(path)
            self.assertTrue(resp.headers["Content-Type"].startswith(ctype))
            self.assertEqual(resp.headers["Cache-Control"], "no-cache")
            etag = resp.headers["ETag"]
            again = self.request("GET", path, headers={"If-None-Match": etag})
            self.assertEqual(again.status, 304)
        self.assertEqual(self.request("GET", "/nothing").status, 404)


class FlowTests(UiTestCase):
    def test_flows_have_flows_fields_and_since_works(self):
        first = self.through_proxy("/since-a")
        self.assertEqual(first.status, 200)
        flow = self.flow_for("/since-a")
        for key in ("id", "phase", "replay_of", "start", "duration_ms", "client", "method",
                    "url", "http_version", "status", "reason", "request_headers",
                    "response_headers", "request_bytes", "response_bytes", "websocket",
                    "tls", "upstream", "error"):
            self.assertIn(key, flow)
        self.assertEqual(flow["phase"], "done")
        self.assertIsNone(flow["replay_of"])
        self.assertEqual(flow["tls"]["client"]["version"][:4], "TLSv")
        self.through_proxy("/since-b")
        newer = self.flow_for("/since-b")
        after = self.flows(since=flow["id"])
        urls = [f["url"] for f in after]
        self.assertTrue(any("/since-b" in u for u in urls), urls)
        self.assertFalse(any("/since-a" in u for u in urls), urls)
        self.assertEqual(self.flows(since=newer["id"] + 1000), [])
        one = self.api(f"/api/flows/{flow['id']}").json()
        self.assertEqual(one["url"], flow["url"])
        self.assertEqual(self.request("GET", "/api/flows/999999999").status, 404)

    def test_in_flight_flow_is_visible(self):
        self.ui_origin.release.clear()
        result = {}
        worker = threading.Thread(
            target=lambda: result.setdefault("t", self.through_proxy("/slow-inflight")))
        worker.start()
        try:
            flow = self.flow_for("/slow-inflight", phase="request")
            self.assertEqual(flow["status"], 0)
        finally:
            self.ui_origin.release.set()
            worker.join(SOCKET_TIMEOUT * 2)
        self.assertEqual(result["t"].status, 200)
        done = self.flow_for("/slow-inflight", phase="done")
        self.assertEqual(done["id"], flow["id"])
        self.assertEqual(done["status"], 200)

    def test_event_arrives_within_a_second(self):
        stream = EventStream(self.ui_port)
        try:
            self.assertIn(" 200 ", stream.status_line)
            stream.wait_for(lambda name, data: name == "hello", WAIT)
            path = f"/event-{uuid.uuid4().hex}"
            threading.Thread(target=self.through_proxy, args=(path,), daemon=True).start()
            # The flow's id is only known from the event itself: take the
            # first flow event, then check it is this request's.
            data = stream.wait_for(lambda name, data: name == "flow", 1.0)
            self.assertIn(data["phase"], ("request", "response", "done"))
            flow = self.api(f"/api/flows/{data['id']}").json()
            self.assertIn(path, flow["url"])
        finally:
            stream.close()

    def test_body_bytes_are_exact(self):
        sent = bytes(range(256)) * 3 + b"\r\n\x00end"
        with tempfile.NamedTemporaryFile() as f:
            f.write(sent)
            f.flush()
            t = self.through_proxy("/echo-exact", "--data-binary", "@" + f.name,
                                   "-H", "Content-Type: application/octet-stream")
        self.assertEqual(t.status, 201)
        self.assertEqual(t.body, sent)
        flow = self.flow_for("/echo-exact")
        req = self.api(f"/api/flows/{flow['id']}/request/body")
        resp = self.api(f"/api/flows/{flow['id']}/response/body")
        self.assertEqual(req.body, sent)
        self.assertEqual(resp.body, sent)
        self.assertEqual(resp.headers["Content-Type"], "application/octet-stream")
        self.assertEqual(resp.headers["X-Body-Truncated"], "false")
        binary = self.through_proxy("/binary")
        flow = self.flow_for("/binary")
        self.assertEqual(self.api(f"/api/flows/{flow['id']}/response/body").body,
                         binary.body)

    def test_curl_command_repeats_the_request(self):
        body = b"name=ada&it's=\"quoted\"\n"
        with tempfile.NamedTemporaryFile() as f:
            f.write(body)
            f.flush()
            first = self.through_proxy("/echo-curl?x=1&y=2", "--data-binary", "@" + f.name,
                                       "-H", "X-Custom: a 'quoted' value")
        flow = self.flow_for("/echo-curl")
        command = self.api(f"/api/flows/{flow['id']}/curl").body.decode()
        self.assertTrue(command.startswith("curl "), command)
        before = self.ui_origin.count("/echo-curl?x=1&y=2")
        # As a user would paste it: through a shell, against the origin.
        script = command.rstrip("\n") + (f" --cacert {shlex.quote(str(self.pki.ca.cert))}"
                                         " -sS -w '\\n%{http_code}'")
        proc = subprocess.run(["bash", "-c", script], capture_output=True,
                              timeout=SOCKET_TIMEOUT * 3, env=clean_env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        out_body, _, code = proc.stdout.rpartition(b"\n")
        self.assertEqual(int(code), first.status)
        self.assertEqual(out_body, first.body)
        self.assertEqual(self.ui_origin.count("/echo-curl?x=1&y=2"), before + 1)
        seen = [s for s in self.ui_origin.seen if s[1] == "/echo-curl?x=1&y=2"]
        self.assertEqual(seen[-1][2], body)

    def test_replay_sends_the_request_again(self):
        path = f"/echo-replay-{uuid.uuid4().hex}"
        self.through_proxy(path, "--data-binary", "replay me")
        flow = self.flow_for(path)
        self.assertEqual(self.ui_origin.count(path), 1)
        resp = self.request("POST", f"/api/flows/{flow['id']}/replay")
        self.assertEqual(resp.status, 200, resp.body)
        new_id = resp.json()["id"]
        self.assertNotEqual(new_id, flow["id"])
        replay = wait_until(lambda: next((f for f in self.flows(since=flow["id"])
                                          if f["id"] == new_id and f["phase"] == "done"),
                                         None), "the replayed flow done")
        self.assertEqual(replay["replay_of"], flow["id"])
        self.assertEqual(replay["status"], 201)
        self.assertEqual(self.ui_origin.count(path), 2)
        self.assertEqual([s[2] for s in self.ui_origin.seen if s[1] == path],
                         [b"replay me", b"replay me"])
        self.assertEqual(self.api(f"/api/flows/{new_id}/response/body").body, b"replay me")

    def test_har_export_validates(self):
        self.through_proxy("/json/har")
        self.flow_for("/json/har")
        resp = self.api("/api/har")
        self.assertIn("attachment", resp.headers["Content-Disposition"])
        har = resp.json()
        log = har["log"]
        self.assertEqual(log["version"], "1.2")
        self.assertEqual(log["creator"]["name"], "tlspeek")
        self.assertTrue(log["entries"])
        for entry in log["entries"]:
            validate_har_entry(self, entry)
        mine = [e for e in log["entries"] if e["request"]["url"].endswith("/json/har")]
        self.assertEqual(json.loads(mine[0]["response"]["content"]["text"])["name"], "ada")
        only = self.api("/api/har?filter=" + urllib.parse.quote("~u /json/har")).json()
        self.assertEqual(len(only["log"]["entries"]), 1)


def validate_har_entry(test, entry):
    """The HAR 1.2 required fields and their types."""
    test.assertIsInstance(entry["startedDateTime"], str)
    test.assertIsInstance(entry["time"], (int, float))
    req, resp = entry["request"], entry["response"]
    for key, kind in (("method", str), ("url", str), ("httpVersion", str),
                      ("cookies", list), ("headers", list), ("queryString", list),
                      ("headersSize", int), ("bodySize", int)):
        test.assertIsInstance(req[key], kind, key)
    for key, kind in (("status", int), ("statusText", str), ("httpVersion", str),
                      ("cookies", list), ("headers", list), ("content", dict),
                      ("redirectURL", str), ("headersSize", int), ("bodySize", int)):
        test.assertIsInstance(resp[key], kind, key)
    test.assertIsInstance(resp["content"]["size"], int)
    test.assertIsInstance(resp["content"]["mimeType"], str)
    for h in req["headers"] + resp["headers"]:
        test.assertIsInstance(h["name"], str)
        test.assertIsInstance(h["value"], str)
    for key in ("send", "wait", "receive"):
        test.assertGreaterEqual(entry["timings"][key], 0)
    test.assertIsInstance(entry["cache"], dict)


class FilterTests(UiTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tag = uuid.uuid4().hex[:8]
        cls.tag = tag
        # A known set of flows: name -> (curl args, path)
        cls.paths = {
            "get": f"/json/{tag}",
            "post": f"/echo-{tag}",
            "missing": f"/missing-{tag}",
            "image": f"/image-{tag}",
        }

    def setUp(self):
        super().setUp()
        if getattr(type(self), "ids", None) is None:
            self.through_proxy(self.paths["get"])
            self.through_proxy(self.paths["post"], "--data-binary", f"needle-{self.tag}",
                               "-H", "Content-Type: text/x-special")
            self.through_proxy(self.paths["missing"])
            self.through_proxy(self.paths["image"])
            type(self).ids = {name: self.flow_for(path)["id"]
                              for name, path in self.paths.items()}

    def matching(self, expr) -> set[str]:
        flows = self.flows(filter_text=expr)
        names = {v: k for k, v in self.ids.items()}
        return {names[f["id"]] for f in flows if f["id"] in names}

    def test_each_operator(self):
        t = self.tag
        cases = [
            (f"{t.upper()}", {"get", "post", "missing", "image"}),  # bare word, any case
            (f"~m POST & {t}", {"post"}),
            (f"~c 404 & {t}", {"missing"}),
            (f"~d ^127\\.0\\.0\\.1$ & {t}", {"get", "post", "missing", "image"}),
            (f"~d nothing-like-this & {t}", set()),
            (f"~u /json/{t}", {"get"}),
            (f"~h 'x-unique: json-{t}'", {"get"}),
            (f"~t image/png & {t}", {"image"}),
            (f"~t x-special & {t}", {"post"}),
            (f"~b needle-{t}", {"post"}),
            (f"~b ada & {t}", {"get"}),
            (f"~e & {t}", set()),
            (f"~http2 & {t}", set()),
            (f"!~c 200 & {t}", {"post", "missing"}),
            (f"{t} !~c 200", {"post", "missing"}),          # juxtaposition
            (f"(~c 404 | ~m POST) & {t}", {"post", "missing"}),
            (f"~c 404 | ~m POST & {t}", {"post", "missing"}),
        ]
        for expr, expected in cases:
            with self.subTest(filter=expr):
                self.assertEqual(self.matching(expr), expected)

    def test_bad_filter_is_400_with_a_reason(self):
        for expr, words in (("~x", "unknown filter ~x"), ("(~e", "never closed"),
                            ("~c abc", "status code"), ("~u [", "bad regular expression")):
            with self.subTest(filter=expr):
                resp = self.request("GET", "/api/flows?filter=" + urllib.parse.quote(expr))
                self.assertEqual(resp.status, 400)
                self.assertIn(words, resp.json()["error"])
                har = self.request("GET", "/api/har?filter=" + urllib.parse.quote(expr))
                self.assertEqual(har.status, 400)

    def test_clear(self):
        self.through_proxy("/before-clear")
        self.flow_for("/before-clear")
        stream = EventStream(self.ui_port)
        try:
            self.api("/api/flows", method="DELETE")
            stream.wait_for(lambda name, data: name == "clear", WAIT)
        finally:
            stream.close()
        self.assertEqual(self.flows(), [])
        type(self).ids = None  # the next test makes its flows again


def proxy_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class SlowSubscriberTests(UiTestCase):
    REQUESTS = 3000

    def test_a_subscriber_that_never_reads_stalls_nothing(self):
        # A client that opens the stream and never reads again, with a tiny
        # receive buffer so that the proxy's side fills at once.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(SOCKET_TIMEOUT)
        sock.connect(("127.0.0.1", self.ui_port))
        sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{self.ui_port}\r\n"
                     f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
        try:
            self.through_proxy("/warm-up")
            before = proxy_rss_kib(self.proxy.process.pid)
            with tempfile.TemporaryDirectory() as tmp:
                config = Path(tmp) / "urls"
                url = self.ui_origin.url("/many-" + "x" * 200)
                config.write_text("".join(f'url = "{url}?{i}"\noutput = "/dev/null"\n'
                                          for i in range(self.REQUESTS)))
                result = curl("--proxy", self.proxy.url, "--cacert", self.proxy.ca_cert,
                              "--config", config, "--write-out", "%{http_code}\\n",
                              transfers=10)
            codes = result.stdout.decode().split()
            self.assertEqual(result.returncode, 0, result.describe())
            self.assertEqual(codes.count("200"), self.REQUESTS)
            grown = proxy_rss_kib(self.proxy.process.pid) - before
            # AddressSanitizer keeps freed memory in quarantine and pads
            # every block: its RSS says nothing about the proxy's.
            maps = Path(f"/proc/{self.proxy.process.pid}/maps").read_text()
            if "libasan" not in maps:
                self.assertLess(grown, 64 * 1024, f"RSS grew by {grown} KiB")
            print(f"\n  RSS growth over {self.REQUESTS} requests with a stalled "
                  f"subscriber: {grown} KiB", end=" ")
            # The UI itself still answers, and has the flows.
            self.assertTrue(self.flows(filter_text="~u many-"))
            # The stalled subscriber was dropped: reading now, it finds the
            # end of its stream after what had been queued for it.
            sock.settimeout(SOCKET_TIMEOUT)
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                if not sock.recv(1 << 20):
                    break
            else:
                self.fail("the subscriber that never read was not dropped")
        finally:
            sock.close()


if __name__ == "__main__":
    unittest.main()
