"""Names for development: --connect-to, and the magic host http://tlspeek/."""

from __future__ import annotations

import unittest

from harness import raw_exchange, run_tool
from fixtures import ProxyTestCase


class ConnectToTests(ProxyTestCase):
    """origin.test:443 is mapped to the TLS origin's real loopback port: the
    client asks for origin.test (port 443), the certificate, SNI and Host
    stay origin.test, and only the address connected to changes."""

    @classmethod
    def start_servers(cls):
        cls.proxy_args = ("--connect-to",
                          f"origin.test:443:127.0.0.1:{cls.origin.port}")

    def test_mapped_name_on_default_port(self):
        since = self.proxy.mark()
        transfer = self.fetch("https://origin.test/")
        self.assertFetched(transfer)
        self.assertIntercepted("origin.test:443", since)

    def test_host_header_stays_the_requested_name(self):
        transfer = self.fetch("https://origin.test/headers")
        self.assertEqual(transfer.status, 200, transfer.describe())
        self.assertIn(b"Host: origin.test\n", transfer.body, transfer.describe())

    def test_unmapped_port_is_not_redirected(self):
        # origin.test:444 matches no rule; the test name server sends it to 127.0.0.1,
        # where nothing listens on 444 (a privileged port): refused, 502.
        transfer = self.fetch("https://origin.test:444/")
        self.assertEqual(transfer.connect_status, 502, transfer.describe())


class MagicHostTests(ProxyTestCase):
    """http://tlspeek/ through the proxy is the proxy's own page."""

    def test_magic_host_serves_the_page(self):
        result_transfer = self.fetch("http://tlspeek/")
        self.assertEqual(result_transfer.status, 200, result_transfer.describe())
        self.assertIn(b"ca.pem", result_transfer.body)

    def test_magic_host_serves_the_ca(self):
        transfer = self.fetch("http://tlspeek/ca.pem")
        self.assertEqual(transfer.status, 200, transfer.describe())
        with open(self.proxy.ca_cert, "rb") as f:
            self.assertEqual(transfer.body, f.read())

    def test_page_shows_the_ca_fingerprint_and_platform_steps(self):
        body = self.fetch("http://tlspeek/").body.decode()
        openssl = run_tool(["openssl", "x509", "-noout", "-fingerprint", "-sha256",
                            "-in", str(self.proxy.ca_cert)])
        fingerprint = openssl.stdout.decode().strip().split("=", 1)[1]
        self.assertIn(f'<code id="fingerprint">{fingerprint}</code>', body)
        for platform in ("Linux", "Firefox", "macOS", "Windows", "iOS", "Android"):
            self.assertIn(platform, body)
        self.assertIn('href="/ca.crt"', body)

    def test_magic_host_in_capitals_or_with_the_root_dot(self):
        # Host names are case-insensitive; sent as a client typed them
        # (raw bytes: curl would lower-case the name itself).
        for host in ("TLSPEEK", "TlsPeek", "tlspeek."):
            with self.subTest(host=host):
                response = raw_exchange(
                    self.proxy.address,
                    f"GET http://{host}/ca.pem HTTP/1.1\r\nHost: {host}\r\n"
                    "Connection: close\r\n\r\n".encode())
                self.assertEqual(response.status, 200, str(response))
                self.assertEqual(response.body, self.proxy.ca_cert.read_bytes())

    def test_unknown_page_is_404(self):
        transfer = self.fetch("http://tlspeek/nope")
        self.assertEqual(transfer.status, 404, transfer.describe())


if __name__ == "__main__":
    unittest.main()
