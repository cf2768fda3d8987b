"""Every answer the proxy gives to a request is recorded (#12 defect 16):
one --flows record with the status, the reason as its error and
answered_by_proxy, the method and URL when the request head was read (a
request_unparsed flag, and empty method and URL, when it was not), and
exactly one console line: the record's. 502 and 504 have their tests in
test_phases.py; 403 (a remote client) in test_access.py."""

from __future__ import annotations

import json

from fixtures import ProxyTestCase
from harness import RawClient, connect_request, raw_exchange, wait_until


class AnswerTestCase(ProxyTestCase):
    """A proxy writing --flows; checks on the answers it records."""

    extra_args: tuple = ()

    @classmethod
    def start_servers(cls):
        cls.flows = cls.tmp / "flows.jsonl"
        cls.proxy_args = ("--flows", cls.flows, *cls.extra_args)

    def setUp(self):
        super().setUp()
        self.proxy.sync_console()  # the records of earlier tests are written
        self.records_before = len(self.all_records())

    def all_records(self) -> list[dict]:
        if not self.flows.exists():
            return []
        return [json.loads(line) for line in self.flows.read_text().splitlines() if line]

    def records(self) -> list[dict]:
        """The records written during this test."""
        return self.all_records()[self.records_before:]

    def answer_record(self, status: int, error_part: str) -> dict:
        """The one record of status whose error holds error_part, with its
        one console line (checked after the records so far are printed)."""
        def found():
            matches = [r for r in self.records()
                       if r["status"] == status and error_part in (r["error"] or "")]
            return matches or None
        (record,) = wait_until(found, f"a record of the proxy's {status}")
        self.assertTrue(record["answered_by_proxy"], record)
        self.proxy.sync_console()
        lines = [line for line in self.proxy.console.lines(self.console_marks[0])
                 if f" {status} " in line and error_part in line]
        self.assertEqual(len(lines), 1, "\n".join(lines))
        self.assertIn("answered by tlspeek", lines[0])
        return record

    def assert_parsed(self, record: dict, method: str, url: str):
        self.assertEqual((record["method"], record["url"]), (method, url), record)
        self.assertFalse(record["request_unparsed"], record)

    def assert_unparsed(self, record: dict):
        self.assertEqual((record["method"], record["url"]), ("", ""), record)
        self.assertTrue(record["request_unparsed"], record)


class BadRequestAnswerTests(AnswerTestCase):
    def test_garbage_request_400_is_recorded_unparsed(self):
        response = raw_exchange(self.proxy.address, b"hello\r\n\r\n")
        self.assertEqual(response.status, 400, str(response))
        self.assert_unparsed(self.answer_record(400, "bad request"))

    def test_garbage_after_a_kept_alive_request_is_not_recorded_under_it(self):
        """The parser keeps the last head: the garbage after it must not be
        recorded as that request."""
        with RawClient(self.proxy.address) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: tlspeek\r\n\r\n")
            self.assertEqual(client.read_response().status, 200)
            client.send(b"\x01\x02garbage\r\n\r\n")
            self.assertEqual(client.read_response().status, 400)
        self.assert_unparsed(self.answer_record(400, "bad request"))

    def test_bad_connect_target_400_is_recorded(self):
        response = raw_exchange(self.proxy.address, connect_request("no-port-here"))
        self.assertEqual(response.status, 400, str(response))
        self.assert_parsed(self.answer_record(400, "bad CONNECT target"),
                           "CONNECT", "no-port-here")

    def test_bad_absolute_url_400_is_recorded(self):
        url = "ftp://example.test/file"
        response = raw_exchange(self.proxy.address,
                                f"GET {url} HTTP/1.1\r\nHost: example.test\r\n\r\n".encode())
        self.assertEqual(response.status, 400, str(response))
        self.assert_parsed(self.answer_record(400, "unsupported request target"),
                           "GET", url)

    def test_oversize_head_431_is_recorded_unparsed(self):
        request = (f"GET http://localhost:{self.origin.port}/ HTTP/1.1\r\n"
                   f"Host: localhost:{self.origin.port}\r\n"
                   f"X-Big: {'a' * 100_000}\r\n\r\n").encode()
        response = raw_exchange(self.proxy.address, request)
        self.assertEqual(response.status, 431, str(response))
        self.assert_unparsed(self.answer_record(431, ""))

    def test_loop_508_is_recorded(self):
        port = self.proxy.address[1]
        url = f"http://localhost:{port}/?loop=1"
        response = raw_exchange(
            self.proxy.address,
            f"GET {url} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        self.assertEqual(response.status, 508, str(response))
        self.assert_parsed(self.answer_record(508, "loop"), "GET", url)

    def test_the_proxys_own_pages_are_not_recorded(self):
        """They are no exchange with an origin: their console line says so,
        and --flows and HAR keep only traffic through the proxy."""
        response = raw_exchange(
            self.proxy.address,
            b"GET / HTTP/1.1\r\nHost: tlspeek\r\nConnection: close\r\n\r\n")
        self.assertEqual(response.status, 200, str(response))
        since = self.console_marks[0]
        self.proxy.wait_for_line(r"GET / 200 \(the proxy's own page\)", since=since)
        self.proxy.sync_console()
        # This class makes no exchange with an origin that could answer 200.
        self.assertEqual([r for r in self.records() if r["status"] == 200], [])


class AuthAnswerTests(AnswerTestCase):
    extra_args = ("--proxy-auth", "alice:s3cret")

    def test_proxy_auth_407_is_recorded(self):
        url = f"http://127.0.0.1:{self.origin.port}/?auth=1"
        response = raw_exchange(
            self.proxy.address,
            f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        self.assertEqual(response.status, 407, str(response))
        self.assertIn("proxy-authenticate", response.headers)
        self.assert_parsed(self.answer_record(407, "authentication"), "GET", url)


class MaxConnsAnswerTests(AnswerTestCase):
    extra_args = ("--max-conns", "2")

    def test_too_many_connections_503_is_recorded_unparsed(self):
        clients = [RawClient(self.proxy.address) for _ in range(2)]
        names = [client.sock.getsockname() for client in clients]
        try:
            self.proxy.wait_accepted(*(client.sock for client in clients))
            response = raw_exchange(self.proxy.address,
                                    connect_request(self.origin.authority))
            self.assertEqual(response.status, 503, str(response))
            self.proxy.wait_for_line(r" 503 .*answered by tlspeek",
                                     since=self.console_marks[0])
        finally:
            for client in clients:
                client.close()
        self.proxy.wait_released(*names)
        self.assert_unparsed(self.answer_record(503, "too many connections"))
