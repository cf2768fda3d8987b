"""--client-cert: certificates offered to servers that ask for one, chosen
per host, named in the record; bad files stop the start with exit 2."""

from __future__ import annotations

import json
import ssl
import subprocess
import unittest

from fixtures import ProxyTestCase
from harness import Origin, binary_path, clean_env, make_pki, wait_until
from nginx_origin import Nginx, make_client_cert


class ClientCertTests(ProxyTestCase):
    """alice for localhost, bob for every other host."""

    @classmethod
    def start_servers(cls):
        cls.nginx = cls.enterClassContext(Nginx(cls.tmp / "nginx", cls.pki))
        certs = cls.tmp / "client"
        cls.alice = make_client_cert(cls.pki, certs, "alice")
        cls.bob = make_client_cert(cls.pki, certs, "bob")
        cls.flows = cls.tmp / "flows.jsonl"
        cls.proxy_args = ("--client-cert", f"^localhost$={cls.alice}",
                          "--client-cert", cls.bob, "--flows", cls.flows)

    def records_for(self, url):
        def found():
            lines = self.flows.read_text().splitlines() if self.flows.exists() else []
            return [r for r in map(json.loads, lines) if r["url"] == url]
        return wait_until(found, f"a --flows record for {url}")

    def check(self, url, subject):
        transfer = self.fetch(url)
        self.assertEqual(transfer.status, 200, transfer.describe())
        self.assertIn(f"client: O=tlspeek tests,CN={subject}".encode(), transfer.body,
                      transfer.describe())
        record = self.records_for(url.replace(":443", ""))[-1]
        self.assertEqual(record["tls"]["upstream"]["client_cert"],
                         f"O=tlspeek tests,CN={subject}")
        return record

    def test_required_certificate_by_host_pattern(self):
        self.check(self.nginx.url("on", "localhost", "/a"), "alice")

    def test_fallback_for_other_hosts(self):
        self.check(self.nginx.url("on", "127.0.0.1", "/b"), "bob")

    def test_optional_verification_gets_one_too(self):
        self.check(self.nginx.url("optional", "localhost", "/c"), "alice")

    def test_every_connection_shows_it(self):
        # No resumed session hides the certificate from the server.
        for path in ("/d1", "/d2"):
            self.check(self.nginx.url("on", "localhost", path), "alice")

    def test_python_server_that_requires_one(self):
        origin = Origin(self.pki.good)
        origin.tls_context.verify_mode = ssl.CERT_REQUIRED
        origin.tls_context.load_verify_locations(self.pki.ca.cert)
        with origin:
            url = origin.url("/", "localhost")
            self.assertFetched(self.fetch(url))
        record = self.records_for(url)[-1]
        self.assertEqual(record["tls"]["upstream"]["client_cert"],
                         "O=tlspeek tests,CN=alice")

    def test_server_that_does_not_ask_gets_none(self):
        url = self.origin.url("/", "localhost")
        self.assertEqual(self.fetch(url).status, 200)
        record = self.records_for(url)[-1]
        self.assertIsNone(record["tls"]["upstream"]["client_cert"])

    def test_key_never_in_the_record(self):
        self.check(self.nginx.url("on", "localhost", "/e"), "alice")
        self.assertNotIn("PRIVATE KEY", self.flows.read_text())


class NoClientCertTests(ProxyTestCase):
    """Without --client-cert, nginx's own answer says what is missing."""

    @classmethod
    def start_servers(cls):
        cls.nginx = cls.enterClassContext(Nginx(cls.tmp / "nginx", cls.pki))

    def test_required_certificate_missing(self):
        transfer = self.fetch(self.nginx.url("on"))
        self.assertEqual(transfer.status, 400, transfer.describe())
        self.assertIn(b"No required SSL certificate was sent", transfer.body)

    def test_server_that_aborts_without_one(self):
        # Python's ssl server with CERT_REQUIRED ends the TLS 1.3 handshake
        # with a certificate_required alert instead of answering.
        origin = Origin(self.pki.good)
        origin.tls_context.verify_mode = ssl.CERT_REQUIRED
        origin.tls_context.load_verify_locations(self.pki.ca.cert)
        with origin:
            transfer = self.fetch(origin.url("/", "localhost"))
        self.assertEqual(transfer.status, 502, transfer.describe())
        self.assertIn(b"certificate required", transfer.body, transfer.describe())

    def test_optional_without_one(self):
        transfer = self.fetch(self.nginx.url("optional"))
        self.assertEqual(transfer.status, 200, transfer.describe())
        self.assertIn(b"client: \n", transfer.body)


class ClientCertOptionTests(unittest.TestCase):
    """Files that cannot be used: exit 2 at startup with the reason."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        from pathlib import Path
        cls.tmp = Path(cls.enterClassContext(tempfile.TemporaryDirectory()))
        cls.pki = make_pki(cls.tmp / "pki")
        cls.good = make_client_cert(cls.pki, cls.tmp, "good")
        cls.open_to_all = make_client_cert(cls.pki, cls.tmp, "open", mode=0o644)
        cls.mismatched = make_client_cert(cls.pki, cls.tmp, "mismatch", key_of="good")
        cls.no_key = cls.tmp / "nokey.pem"
        cls.no_key.write_text((cls.tmp / "good.crt").read_text())
        cls.no_key.chmod(0o600)

    def run_proxy(self, *args):
        return subprocess.run([str(binary_path()), "-l", "127.0.0.1:0", "--ca-dir",
                               str(self.tmp / "ca"), *map(str, args)],
                              capture_output=True, timeout=10, env=clean_env())

    def test_bad_files_exit_2_with_the_reason(self):
        cases = (
            ((self.tmp / "missing.pem",), "cannot read --client-cert"),
            ((self.open_to_all,), "chmod 600"),
            ((self.mismatched,), "does not match the certificate"),
            ((self.no_key,), "no (unencrypted) PEM private key"),
            ((f"^x$={self.tmp / 'missing.pem'}",), "cannot read --client-cert"),
            ((f"(={self.good}",), "--client-cert"),
            ((self.good, "--client-cert", self.good), "given twice"),
        )
        for args, reason in cases:
            with self.subTest(args=args):
                proc = self.run_proxy("--client-cert", *args)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(reason, proc.stderr.decode())
                self.assertNotIn(b"PRIVATE KEY", proc.stderr)


if __name__ == "__main__":
    unittest.main()
