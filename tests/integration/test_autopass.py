"""--auto-passthrough: a client that rejects the minted certificate for a
host makes the next tunnels to that host:port pass through untouched, for
--passthrough-ttl seconds; a client that trusts the CA never does."""

from __future__ import annotations

import json
import ssl

from fixtures import HELLO, ProxyTestCase
from harness import (SOCKET_TIMEOUT, Origin, RawClient, connect_request, curl_transfers,
                     wait_until)


def tls_get(proxy, connect_authority: str, sni: str, cafile) -> tuple[bool, str]:
    """CONNECT through proxy, then TLS with this SNI trusting only cafile,
    and GET /. (True, body) or (False, why)."""
    with RawClient(proxy.address) as client:
        client.send(connect_request(connect_authority))
        answer = client.read_response(bodyless=True)
        if answer.status != 200:
            return False, f"CONNECT answered {answer.status_line}"
        ctx = ssl.create_default_context(cafile=str(cafile))
        try:
            with ctx.wrap_socket(client.sock, server_hostname=sni) as tls:
                tls.settimeout(SOCKET_TIMEOUT)
                tls.sendall(f"GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n"
                            .encode())
                data = b""
                while piece := tls.recv(65536):
                    data += piece
        except (ssl.SSLError, OSError) as e:
            return False, str(e)
        return True, data.decode(errors="replace")


def quit_after_server_flight(proxy, connect_authority: str, sni: str, cafile) -> str:
    """CONNECT, send a ClientHello, read the proxy's server flight, find the
    certificate untrusted, and close without sending the alert (as some
    pinning apps do). Returns why verification failed."""
    with RawClient(proxy.address) as client:
        client.send(connect_request(connect_authority))
        client.read_response(bodyless=True)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        ctx = ssl.create_default_context(cafile=str(cafile))
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
        while True:
            try:
                tls.do_handshake()
                raise AssertionError("the handshake succeeded")
            except ssl.SSLWantReadError:
                client.send(outgoing.read())
                data = client.sock.recv(65536)
                if not data:
                    raise AssertionError("the proxy closed first")
                incoming.write(data)
            except ssl.SSLCertVerificationError as e:
                return str(e)  # the alert stays in `outgoing`: never sent


class AutoPassthroughTests(ProxyTestCase):

    @classmethod
    def start_servers(cls):
        cls.flows = cls.tmp / "flows.jsonl"
        cls.proxy_args = ("--auto-passthrough", "--flows", cls.flows)

    def untrusting_fetch(self, url, proxy=None):
        """curl trusting the origin's CA only, not the proxy's."""
        proxy = proxy or self.proxy
        result, transfers = curl_transfers([url], "--proxy", proxy.url,
                                           "--cacert", self.pki.ca.cert)
        return result, transfers[0] if transfers else None

    def test_rejecting_client_fails_once_then_sees_the_origin(self):
        # Each test its own origin: the list is keyed by host:port.
        with Origin(self.pki.good) as origin:
            url = origin.url("/", "localhost")
            mark = self.proxy.mark()
            result, first = self.untrusting_fetch(url)
            self.assertNotEqual(result.returncode, 0, result.describe())
            self.proxy.wait_for_line(
                rf"localhost:{origin.port}: the client rejected the certificate "
                rf"\(alert unknown_ca\); tunnels to localhost:{origin.port} now pass "
                r"through untouched", since=mark)
            result, second = self.untrusting_fetch(url)
            self.assertEqual(result.returncode, 0, result.describe())
            self.assertEqual(second.body, HELLO)
            self.proxy.wait_for_line(rf"CONNECT localhost:{origin.port} passthrough "
                                     r"\(--auto-passthrough", since=mark)
            record = self.record_for(f"localhost:{origin.port}")
            self.assertTrue(record["passthrough"], record)
            self.assertIn("unknown_ca", record["passthrough_reason"])
            self.assertGreater(record["response_bytes"], 0, record)

    def record_for(self, authority):
        def found():
            if not self.flows.exists():
                return None
            for line in self.flows.read_text().splitlines():
                r = json.loads(line)
                if r["url"] == authority and r.get("passthrough"):
                    return r
            return None
        return wait_until(found, f"a passthrough record for {authority}")

    def test_connect_by_address_is_keyed_by_sni(self):
        with Origin(self.pki.good) as origin:
            target = f"127.0.0.1:{origin.port}"
            mark = self.proxy.mark()
            ok, why = tls_get(self.proxy, target, "localhost", self.pki.ca.cert)
            self.assertFalse(ok, why)
            # The client's alert may still be on its way to the proxy (and
            # the next tunnel on another worker): wait until it is read.
            self.proxy.wait_for_line(rf"tunnels to localhost:{origin.port} now pass "
                                     r"through untouched", since=mark)
            ok, body = tls_get(self.proxy, target, "localhost", self.pki.ca.cert)
            self.assertTrue(ok, body)
            self.assertIn(HELLO.decode(), body)

    def test_close_without_alert_after_the_certificate(self):
        with Origin(self.pki.good) as origin:
            mark = self.proxy.mark()
            target = f"localhost:{origin.port}"
            why = quit_after_server_flight(self.proxy, target, "localhost",
                                           self.pki.ca.cert)
            self.assertIn("certificate verify failed", why)
            self.proxy.wait_for_line(
                rf"the client rejected the certificate \(closed without an alert "
                rf"after the certificate\); tunnels to {target} now pass", since=mark)
            ok, body = tls_get(self.proxy, target, "localhost", self.pki.ca.cert)
            self.assertTrue(ok, body)

    def test_trusting_client_is_never_passed_through(self):
        mark = self.proxy.mark()
        url = self.origin.url("/", "localhost")
        for _ in range(2):
            self.assertFetched(self.fetch(url))
        self.proxy.sync_console()  # both tunnels' lines are in, and any passthrough's
        self.assertEqual(len(self.intercepted_lines(f"localhost:{self.origin.port}", mark)),
                         2)
        self.assertNotIn("passthrough", self.proxy.console.text(mark))

    def test_ttl_expires(self):
        proxy = self.start_proxy("--auto-passthrough", "--passthrough-ttl", "2")
        with Origin(self.pki.good) as origin:
            url = origin.url("/", "localhost")
            mark = proxy.mark()
            result, _ = self.untrusting_fetch(url, proxy)
            self.assertNotEqual(result.returncode, 0, result.describe())
            proxy.wait_for_line(r"now pass through untouched for 2 s", since=mark)
            # Listed now; once the entry expires, a tunnel is intercepted
            # (and rejected) again, and listed again.
            again = proxy.mark()
            wait_until(lambda: self.untrusting_fetch(url, proxy)[0].returncode != 0,
                       "the passthrough entry expiring", timeout=15)
            proxy.wait_for_line(r"now pass through untouched for 2 s", since=again)
