"""Integration tests of the CA as the proxy uses it: several processes
creating one new CA at once, a CA the user brought (its subject shown
escaped on the onboarding page), and the key type of the leaves it signs.

The real binary on temporary --ca-dir directories; real `openssl` to make a
user's CA and, as a client restricted to RSA signatures, to connect through
the proxy; real curl for the onboarding page.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import unittest
from pathlib import Path

from harness import (
    DnsServer, Origin, Proxy, curl_transfers, make_pki, pem_certificates,
    pem_fingerprint, run_tool,
)

INSTANCES = 8


class ConcurrentCreationTests(unittest.TestCase):
    """Issue 12, defect 17: instances started at once on a new --ca-dir."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="tlspeek-race-")
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)

    def start_at_once(self, ca_dir: Path, *args) -> list:
        """INSTANCES proxies started together (a barrier releases every
        thread's Popen at once); each result is a Proxy or the exception
        its start raised."""
        barrier = threading.Barrier(INSTANCES)
        results = [None] * INSTANCES

        def start(i):
            barrier.wait()
            try:
                results[i] = Proxy(*args, ca_dir=ca_dir)
            except Exception as e:  # reported below, with every other outcome
                results[i] = e

        threads = [threading.Thread(target=start, args=(i,)) for i in range(INSTANCES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:
            if isinstance(r, Proxy):
                self.addCleanup(r.stop)
        return results

    def check_one_ca(self, ca_dir: Path, *args):
        results = self.start_at_once(ca_dir, *args)
        failed = [str(r) for r in results if not isinstance(r, Proxy)]
        self.assertEqual(failed, [], f"{len(failed)} of {INSTANCES} did not start")
        on_disk = (ca_dir / "ca.pem").read_text()
        served = set()
        for proxy in results:
            result, (pem,) = curl_transfers([proxy.url + "/ca.pem"])
            self.assertEqual(pem.status, 200, pem.describe())
            served.add(pem_fingerprint(pem.body.decode()))
        self.assertEqual(served, {pem_fingerprint(on_disk)},
                         "the instances present different CAs")
        self.assertEqual(sorted(p.name for p in ca_dir.iterdir()), ["ca.key", "ca.pem"],
                         "temporary files were left behind")

    def test_instances_started_at_once_share_one_new_ca(self):
        self.check_one_ca(self.tmp / "new" / "ca")

    def test_the_same_with_a_slow_rsa_key(self):
        # RSA key generation takes long enough for every loser to arrive
        # while the winner is still writing.
        self.check_one_ca(self.tmp / "rsa", "--ca-key-type", "rsa2048")


class UserCaTests(unittest.TestCase):
    """Issue 12, defect 11: a CA the user brought, whose subject holds HTML."""

    SUBJECT = "/CN=Evil <img src=x onerror=alert(1)> & Co/O=Q&A <Labs>"

    def test_onboarding_page_escapes_the_subject(self):
        tmp = Path(self.enterContext(tempfile.TemporaryDirectory(prefix="tlspeek-userca-")))
        ca_dir = tmp / "ca"
        ca_dir.mkdir(mode=0o700)
        config = tmp / "openssl.cnf"
        config.write_text(
            "[ req ]\ndistinguished_name = dn\n[ dn ]\n[ ext_ca ]\n"
            "basicConstraints = critical, CA:TRUE\n"
            "keyUsage = critical, keyCertSign, cRLSign\n"
            "subjectKeyIdentifier = hash\n")
        run_tool(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-config", config,
                  "-extensions", "ext_ca", "-subj", self.SUBJECT, "-days", "30",
                  "-keyout", ca_dir / "ca.key", "-out", ca_dir / "ca.pem"])
        (ca_dir / "ca.key").chmod(0o600)
        with Proxy(ca_dir=ca_dir) as proxy:
            result, (page,) = curl_transfers([proxy.url + "/"])
        self.assertEqual(page.status, 200, page.describe())
        self.assertIn(b"Evil &lt;img src=x onerror=alert(1)&gt; &amp; Co", page.body)
        self.assertIn(b"Q&amp;A &lt;Labs&gt;", page.body)
        self.assertNotIn(b"<img", page.body)
        self.assertNotIn(b"<Labs>", page.body)


class LeafKeyTests(unittest.TestCase):
    """Issue 12, defect 21: the leaf's key type, seen by a client that
    accepts only RSA signatures (`openssl s_client -sigalgs RSA-PSS+SHA256`)."""

    @classmethod
    def setUpClass(cls):
        tmp = cls.enterClassContext(tempfile.TemporaryDirectory(prefix="tlspeek-leafkey-"))
        cls.tmp = Path(tmp)
        cls.pki = make_pki(cls.tmp / "pki")
        cls.dns = cls.enterClassContext(DnsServer({"localhost": ["127.0.0.1"]}))
        cls.origin = cls.enterClassContext(Origin(cls.pki.good))

    def proxy(self, name, *args) -> Proxy:
        proxy = Proxy("--upstream-ca", self.pki.ca.cert, *args, dns_port=self.dns.port,
                      ca_dir=self.tmp / name)
        self.addCleanup(proxy.stop)
        return proxy

    def s_client(self, proxy: Proxy, *args):
        """The leaf (PEM, or None) and whether an HTTP exchange went through."""
        proc = run_tool(
            ["openssl", "s_client", "-proxy", f"{proxy.host}:{proxy.port}",
             "-connect", f"localhost:{self.origin.port}", "-servername", "localhost",
             "-CAfile", proxy.ca_cert, "-verify_return_error", "-showcerts",
             "-ign_eof", *args],
            input_bytes=b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            check=False)
        out = proc.stdout.decode(errors="replace")
        certificates = pem_certificates(out)
        return (certificates[0] if certificates else None,
                Origin.HELLO.decode() in out, proc.stderr.decode(errors="replace"))

    def key_algorithm(self, pem: str) -> str:
        text = run_tool(["openssl", "x509", "-noout", "-text"],
                        input_bytes=pem.encode()).stdout.decode()
        line = next(l for l in text.splitlines() if "Public Key Algorithm" in l)
        return line.split(":", 1)[1].strip()

    def check_rsa_only_client(self, proxy: Proxy):
        leaf, fetched, err = self.s_client(proxy, "-sigalgs", "RSA-PSS+SHA256")
        self.assertIsNotNone(leaf, f"no handshake with an RSA-only client:\n{err}")
        self.assertEqual(self.key_algorithm(leaf), "rsaEncryption")
        self.assertTrue(fetched, f"no response through the tunnel:\n{err}")

    def test_leaf_takes_the_rsa_ca_key_type(self):
        self.check_rsa_only_client(self.proxy("rsa-ca", "--ca-key-type", "rsa2048"))

    def test_leaf_key_type_option_gives_rsa_under_an_ec_ca(self):
        proxy = self.proxy("ec-ca-rsa-leaf", "--leaf-key-type", "rsa2048")
        self.assertEqual(self.key_algorithm(proxy.ca_cert.read_text()), "id-ecPublicKey")
        self.check_rsa_only_client(proxy)

    def test_ec_ca_gives_ec_leaves_by_default(self):
        proxy = self.proxy("ec-ca")
        leaf, fetched, err = self.s_client(proxy)
        self.assertIsNotNone(leaf, err)
        self.assertEqual(self.key_algorithm(leaf), "id-ecPublicKey")
        self.assertTrue(fetched, err)
        # ... which a client accepting only RSA signatures cannot use.
        leaf, fetched, err = self.s_client(proxy, "-sigalgs", "RSA-PSS+SHA256")
        self.assertFalse(fetched, "an RSA-only client got through an EC leaf")


if __name__ == "__main__":
    unittest.main()
