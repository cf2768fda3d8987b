"""Seeing inside the tunnels: TLS key log for both legs, hosts passed
through untouched."""

from __future__ import annotations

import os
import re
import unittest

from harness import Proxy, pem_certificates, run_tool
from test_proxy import HELLO, ProxyTestCase


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
        from harness import DnsServer, Origin, curl_transfers, make_pki
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
