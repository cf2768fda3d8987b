"""Limits, timeouts, access control and hostile input: what the client
receives, and that the proxy goes on serving everyone else afterwards."""

from __future__ import annotations

import socket
import ssl
import time
import unittest

from harness import (
    Proxy, RawClient, RawServer, connect_request, listen_queue_full, raw_exchange,
    run_tool, tcp_row, wait_until, open_tunnel,
)
from fixtures import MuteServer, ProxyTestCase, ResettingServer


class TimeoutTests(ProxyTestCase):
    proxy_args = ("--head-timeout", "1", "--handshake-timeout", "1",
                  "--idle-timeout", "2", "--connect-timeout", "1")

    @classmethod
    def start_servers(cls):
        cls.mute = MuteServer()
        cls.addClassCleanup(cls.mute.close)
        cls.raw = cls.enterClassContext(RawServer())

    def assertStillServing(self):
        self.assertFetched(self.fetch(self.origin.url("/")))

    def assertClosedWithin(self, client, seconds):
        client.sock.settimeout(seconds)
        self.assertTrue(client.is_closed_by_peer(),
                        f"the proxy did not close the connection within {seconds} s")

    def test_connect_timeout_is_504(self):
        # A listener whose accept queue is full drops new SYNs: connecting
        # to it hangs, as to a host that does not answer, all on loopback.
        full = socket.socket()
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        self.addCleanup(full.close)
        port = full.getsockname()[1]
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
            self.addCleanup(s.close)
        wait_until(lambda: listen_queue_full(port, backlog=0),
                   "the accept queue of the unanswering listener filling up")
        start = time.monotonic()
        response = raw_exchange(self.proxy.address, connect_request(f"127.0.0.1:{port}"))
        self.assertEqual(response.status, 504, str(response))
        self.assertIn(b"timed out", response.body)
        self.assertLess(time.monotonic() - start, 6)
        self.assertStillServing()

    def test_slow_request_head_is_cut_off(self):
        with RawClient(self.proxy.address) as client:
            client.send(b"CONNECT localhost:1 HTTP/1.1\r\nHost: a")  # never finished
            self.assertClosedWithin(client, 5)
        self.assertStillServing()

    def test_upstream_that_never_speaks_tls_gets_504_in_the_tunnel(self):
        transfer = self.fetch(f"https://127.0.0.1:{self.mute.port}/")
        self.assertEqual(transfer.status, 504, transfer.describe())
        self.assertIn(b"timed out", transfer.body)
        self.assertStillServing()

    def test_idle_tunnel_is_closed(self):
        with open_tunnel(self.proxy.address, self.raw.authority) as client:
            client.send(b"ping\n")
            self.assertEqual(client.read_until(b"\n"), b"pong: ping\n")
            self.assertClosedWithin(client, 6)
        self.assertStillServing()

    def test_partial_client_hello_then_silence(self):
        with open_tunnel(self.proxy.address, self.origin.authority) as client:
            client.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            self.assertClosedWithin(client, 5)
        self.assertStillServing()


class DnsTimeoutTests(unittest.TestCase):
    """A name server that never answers: 504 with the reason, in time."""

    def test_silent_name_server(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        with Proxy("--dns-timeout", "1", dns_port=silent.getsockname()[1]) as proxy:
            start = time.monotonic()
            response = raw_exchange(proxy.address, connect_request("silent.test:443"))
            self.assertEqual(response.status, 504, str(response))
            self.assertIn(b"cannot resolve silent.test", response.body)
            self.assertLess(time.monotonic() - start, 8, "the DNS timeout was not applied")

    def test_client_leaving_during_the_lookup_is_let_go(self):
        """The client is still read while the proxy resolves and connects
        (not paused and resumed, two epoll_ctl calls per connection): one
        that leaves meanwhile is let go then, not once the lookup gives up."""
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        with Proxy("--dns-timeout", "60", dns_port=silent.getsockname()[1]) as proxy:
            client = socket.create_connection(proxy.address)
            client.sendall(connect_request("silent.test:443"))
            silent.settimeout(10)
            silent.recvfrom(512)  # the proxy is looking the name up
            ours, theirs = client.getsockname(), client.getpeername()
            client.close()
            close_wait = 8  # the proxy's side got our FIN and has not closed
            wait_until(lambda: getattr(tcp_row(theirs, ours), "state", None) != close_wait,
                       "the proxy to close the connection of a client that left", timeout=10)


class UpstreamFaultTests(ProxyTestCase):
    @classmethod
    def start_servers(cls):
        cls.resetting = ResettingServer()
        cls.addClassCleanup(cls.resetting.close)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cls.pki.good.cert, cls.pki.good.key)
        cls.resetting_tls = ResettingServer(context)
        cls.addClassCleanup(cls.resetting_tls.close)

    def test_plain_upstream_reset_mid_response_closes_the_client(self):
        with RawClient(self.proxy.address) as client:
            client.send(f"GET http://127.0.0.1:{self.resetting.port}/ HTTP/1.1\r\n"
                        f"Host: 127.0.0.1:{self.resetting.port}\r\n\r\n".encode())
            data = client.read_to_eof()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"), data[:200])
        self.assertLess(len(data), 100000)
        self.assertFetched(self.fetch(self.origin.url("/")))

    def test_tls_upstream_reset_mid_response_closes_the_client(self):
        result = run_tool(["curl", "--silent", "--max-time", "20", "--proxy",
                           self.proxy.url, "--cacert", self.proxy.ca_cert,
                           f"https://localhost:{self.resetting_tls.port}/"], check=False)
        self.assertNotEqual(result.returncode, 0, "curl should see a truncated body")
        self.assertNotEqual(result.returncode, 28, "curl timed out: the proxy hung")
        self.assertFetched(self.fetch(self.origin.url("/")))

    def test_client_reset_mid_upload(self):
        with RawClient(self.proxy.address) as client:
            client.send(f"POST http://{self.origin.authority}/echo-sha256 HTTP/1.1\r\n"
                        f"Host: {self.origin.authority}\r\nContent-Length: 1000000\r\n"
                        f"\r\n".encode() + b"x" * 1000)
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   b"\x01\0\0\0\0\0\0\0")
        self.assertFetched(self.fetch(self.origin.url("/")))


class AuthTests(ProxyTestCase):
    proxy_args = ("--proxy-auth", "alice:s3cret")

    def test_without_credentials_407_with_challenge(self):
        response = raw_exchange(self.proxy.address, connect_request(self.origin.authority))
        self.assertEqual(response.status, 407, str(response))
        self.assertIn("basic", response.headers.get("proxy-authenticate", "").lower())

    def test_wrong_credentials_407(self):
        transfer = self.fetch(self.origin.url("/"), "--proxy-user", "alice:wrong")
        self.assertEqual(transfer.connect_status, 407, transfer.describe())

    def test_right_credentials_work_and_are_not_forwarded(self):
        self.assertFetched(self.fetch(self.origin.url("/"), "--proxy-user", "alice:s3cret"))
        plain = self.enterContext(self.plain_origin())
        transfer = self.fetch(plain.url("/headers"), "--proxy-user", "alice:s3cret")
        self.assertEqual(transfer.status, 200, transfer.describe())
        self.assertNotIn(b"proxy-authorization", transfer.body.lower())

    def test_console_never_shows_the_password(self):
        self.fetch(self.origin.url("/"), "--proxy-user", "alice:s3cret")
        self.proxy.sync_console()  # the exchange's lines are in
        self.assertNotIn("s3cret", self.proxy.console.text())
        self.assertNotIn("YWxpY2U6czNjcmV0", self.proxy.console.text())

    def plain_origin(self):
        from harness import Origin
        return Origin(None)


class LoopTests(ProxyTestCase):
    def test_connect_to_the_proxy_itself_is_508(self):
        port = self.proxy.address[1]
        for host in ("127.0.0.1", "localhost", "127.0.0.2"):
            response = raw_exchange(self.proxy.address, connect_request(f"{host}:{port}"))
            self.assertEqual(response.status, 508, f"{host}: {response}")

    def test_absolute_form_to_the_proxy_itself_is_508(self):
        port = self.proxy.address[1]
        response = raw_exchange(
            self.proxy.address,
            f"GET http://localhost:{port}/ HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        self.assertEqual(response.status, 508, str(response))


class MaxConnsTests(ProxyTestCase):
    proxy_args = ("--max-conns", "3")

    def test_over_the_limit_gets_503_and_others_keep_working(self):
        clients = [RawClient(self.proxy.address) for _ in range(3)]
        names = [client.sock.getsockname() for client in clients]
        try:
            self.proxy.wait_accepted(*(client.sock for client in clients))
            response = raw_exchange(self.proxy.address, connect_request(self.origin.authority))
            self.assertEqual(response.status, 503, str(response))
            self.proxy.wait_for_line(r"--max-conns 3")
            clients[0].send(connect_request(self.origin.authority))
            self.assertEqual(clients[0].read_response(bodyless=True).status, 200)
        finally:
            for client in clients:
                client.close()
        self.proxy.wait_released(*names)
        self.assertFetched(self.fetch(self.origin.url("/")))


class HostileInputTests(ProxyTestCase):
    def forward(self, headers: str):
        return raw_exchange(
            self.proxy.address,
            (f"POST http://{self.origin.authority}/echo-sha256 HTTP/1.1\r\n"
             f"Host: {self.origin.authority}\r\n{headers}\r\nhello").encode())

    def test_content_length_with_transfer_encoding_is_400(self):
        response = self.forward("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")
        self.assertEqual(response.status, 400, str(response))

    def test_conflicting_content_lengths_are_400(self):
        response = self.forward("Content-Length: 5\r\nContent-Length: 6\r\n")
        self.assertEqual(response.status, 400, str(response))

    def test_invalid_header_characters_are_400(self):
        response = raw_exchange(self.proxy.address,
                                b"GET http://x.test/ HTTP/1.1\r\nBad\x01Name: v\r\n\r\n")
        self.assertEqual(response.status, 400, str(response))

    def test_tunnel_with_non_tls_garbage_after_connect_is_relayed(self):
        # Not TLS: relayed as is to the origin, which answers 400 to it.
        with open_tunnel(self.proxy.address, self.origin.authority) as client:
            client.send(b"\x00\x01garbage\r\n\r\n")
            client.sock.settimeout(5)
            client.read_to_eof()
        self.assertFetched(self.fetch(self.origin.url("/")))


class ListenTests(unittest.TestCase):
    def test_non_loopback_listen_without_access_rules_is_refused(self):
        from harness import binary_path
        result = run_tool([str(binary_path()), "-l", "0.0.0.0:0"], check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--proxy-auth", result.stderr.decode() + result.stdout.decode())

    def test_non_loopback_listen_with_allow_remote_starts(self):
        with Proxy("--allow-remote", "10.0.0.0/8,fd00::/8", listen="0.0.0.0:0") as proxy:
            self.assertTrue(proxy.address[1] > 0)


class CaPermissionTests(unittest.TestCase):
    """The CA key and its directory must be private; wider permissions are
    refused at start with the chmod that fixes them."""

    def start(self, ca_dir):
        from harness import binary_path
        return run_tool([str(binary_path()), "-l", "127.0.0.1:0", "--ca-dir",
                         str(ca_dir)], check=False, timeout=10)

    def test_open_directory_is_refused(self):
        import tempfile
        from pathlib import Path
        with tempfile.TemporaryDirectory() as tmp:
            ca_dir = Path(tmp) / "ca"
            ca_dir.mkdir(mode=0o755)
            ca_dir.chmod(0o755)
            result = self.start(ca_dir)
            output = (result.stdout + result.stderr).decode()
            self.assertEqual(result.returncode, 1, output)
            self.assertIn(f"chmod 700 {ca_dir}", output)

    def test_readable_key_is_refused(self):
        import tempfile
        from pathlib import Path
        with tempfile.TemporaryDirectory() as tmp:
            ca_dir = Path(tmp) / "ca"
            with Proxy(ca_dir=ca_dir):
                pass  # creates the CA, private
            (ca_dir / "ca.key").chmod(0o644)
            result = self.start(ca_dir)
            output = (result.stdout + result.stderr).decode()
            self.assertEqual(result.returncode, 1, output)
            self.assertIn(f"chmod 600 {ca_dir / 'ca.key'}", output)


if __name__ == "__main__":
    unittest.main()
