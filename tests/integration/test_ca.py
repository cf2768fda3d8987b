"""Integration tests of the CA as the proxy uses it: several processes
creating one new CA at once, a CA the user brought (its subject shown
escaped on the onboarding page), and the key type of the leaves it signs,
chosen for each client.

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
    Origin, Proxy, clean_env, curl_transfers, pem_certificates, pem_fingerprint, run_tool,
)
from fixtures import OriginTestCase

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


class LeafKeyTests(OriginTestCase):
    """Issue 12, defect 21, and issue 15: the leaf's key follows the client
    (--leaf-key-type auto, the default), whatever the CA's kind: EC P-256
    for a client that takes ECDSA P-256 signatures, RSA 2048 for one that
    accepts only RSA signatures (`openssl s_client -sigalgs ...`), which
    completes its handshake and verifies the leaf against the CA."""

    EC, RSA = "id-ecPublicKey", "rsaEncryption"
    RSA_ONLY = ("-sigalgs", "RSA-PSS+SHA256:RSA+SHA256")
    # Each client, and the kind it must get under auto.
    CLIENTS = (
        ((), EC),
        (("-tls1_2",), EC),
        (RSA_ONLY, RSA),
        (RSA_ONLY + ("-tls1_2",), RSA),
        # TLS 1.2 also needs an ECDSA suite, and P-256 among the groups.
        (("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"), RSA),
        (("-tls1_2", "-groups", "X25519"), RSA),
        (("-tls1_3", "-groups", "X25519"), EC),
        # RSA key exchange (no ECDHE): the RSA leaf allows keyEncipherment.
        (("-tls1_2", "-cipher", "AES128-GCM-SHA256"), RSA),
    )

    def proxy(self, name, *args, extra_env=None) -> Proxy:
        return self.proxy_in(self.tmp / name, *args, extra_env=extra_env)

    def s_client(self, proxy: Proxy, *args):
        """The leaf (PEM, or None), whether an HTTP exchange went through,
        and what s_client said on stderr. -verify_return_error: a leaf that
        does not verify against the proxy's CA ends the handshake."""
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

    def check_client(self, proxy: Proxy, args, expected: str) -> str:
        """The client gets a leaf of the expected kind, verified, and its
        request through; returns the leaf."""
        leaf, fetched, err = self.s_client(proxy, *args)
        self.assertIsNotNone(leaf, f"no handshake for {args}:\n{err}")
        self.assertEqual(self.key_algorithm(leaf), expected, args)
        self.assertTrue(fetched, f"no response through the tunnel for {args}:\n{err}")
        # RSA key exchange encrypts to the leaf's key: clients that check
        # (OpenSSL's does not) want keyEncipherment; an EC leaf only signs.
        usage = self.key_usage(leaf)
        self.assertEqual("Key Encipherment" in usage, expected == self.RSA, usage)
        return leaf

    def key_usage(self, pem: str) -> str:
        text = run_tool(["openssl", "x509", "-noout", "-ext", "keyUsage"],
                        input_bytes=pem.encode()).stdout.decode()
        return " ".join(text.split())

    def check_auto(self, proxy: Proxy, rsa_leaves: int = 1):
        leaves = {}
        for args, expected in self.CLIENTS:
            with self.subTest(client=args):
                leaf = self.check_client(proxy, args, expected)
                leaves.setdefault(expected, set()).add(pem_fingerprint(leaf))
        # One host asked by both kinds of client has a leaf of each kind
        # in the cache: each kind got the same leaf every time.
        self.assertEqual({kind: len(fps) for kind, fps in leaves.items()},
                         {self.EC: 1, self.RSA: rsa_leaves})

    def test_rsa_ca_gives_each_client_the_kind_it_takes(self):
        proxy = self.proxy("rsa-ca", "--ca-key-type", "rsa2048")
        self.assertEqual(self.key_algorithm(proxy.ca_cert.read_text()), self.RSA)
        # Two RSA leaves: the CA's own for the clients that verify only RSA
        # signatures, the session intermediate's for the TLS 1.2 clients
        # that take ECDSA signatures but lack an ECDSA suite or P-256.
        self.check_auto(proxy, rsa_leaves=2)

    def test_ec_ca_gives_each_client_the_kind_it_takes(self):
        proxy = self.proxy("ec-ca", "--leaf-key-type", "auto")
        self.assertEqual(self.key_algorithm(proxy.ca_cert.read_text()), self.EC)
        self.check_auto(proxy)

    def test_a_much_used_leaf_stays_the_same(self):
        # At its 16th use the cached leaf is replaced by a copy read back
        # from its DER (cheaper to send): clients see the same certificate,
        # verified, before and after, of each kind.
        proxy = self.proxy("reread", "--ca-key-type", "rsa2048")
        for args, kind in (((), self.EC), (self.RSA_ONLY, self.RSA)):
            with self.subTest(kind=kind):
                seen = {pem_fingerprint(self.check_client(proxy, args, kind))
                        for _ in range(20)}
                self.assertEqual(len(seen), 1, "the leaf changed")

    def test_rsa2048_forces_rsa_leaves(self):
        proxy = self.proxy("ec-ca-rsa-leaf", "--leaf-key-type", "rsa2048")
        for args, _ in self.CLIENTS:
            with self.subTest(client=args):
                self.check_client(proxy, args, self.RSA)

    def test_ec_p256_forces_ec_leaves(self):
        proxy = self.proxy("rsa-ca-ec-leaf", "--ca-key-type", "rsa2048",
                           "--leaf-key-type", "ec-p256", extra_env=self.DEBUG)
        self.check_client(proxy, (), self.EC)
        # ... which a client accepting only RSA signatures cannot use.
        leaf, fetched, err = self.s_client(proxy, *self.RSA_ONLY)
        self.assertFalse(fetched, "an RSA-only client got through an EC leaf")
        # No RSA key is ever made (it would be announced before the start
        # line, and the clients' lines come after it).
        self.assertNotIn(self.MAKING_RSA, proxy.console.text())

    # The RSA leaf key is made by a thread at start, in the background
    # (issue 15): the debug log says when it starts and when it is ready,
    # and when a handshake has to wait for it.
    DEBUG = {"TLSPEEK_DEBUG": "1"}
    MAKING_RSA = "making the RSA-2048 leaf key in the background"
    RSA_READY = r"RSA-2048 leaf key ready: made in the background in \d+ ms"
    WAITS = "the handshake waits for it"

    def test_rsa_key_is_made_before_any_client_needs_it(self):
        proxy = self.proxy("rsa-key-early", extra_env=self.DEBUG)
        # No client at all yet: the key comes by itself ...
        proxy.wait_for_line(self.RSA_READY)
        mark = proxy.mark()
        # ... and the first client that accepts only RSA signatures gets
        # its RSA leaf without waiting for it.
        self.check_client(proxy, self.RSA_ONLY, self.RSA)
        self.assertNotIn(self.WAITS, proxy.console.text(since=mark))
        self.assertNotIn("waited", proxy.console.text(since=mark))

    def test_rsa2048_makes_its_key_before_listening(self):
        proxy = self.proxy("rsa-key-forced", "--leaf-key-type", "rsa2048",
                           extra_env=self.DEBUG)
        self.check_client(proxy, self.RSA_ONLY, self.RSA)
        console = proxy.console.text()
        self.assertNotIn(self.MAKING_RSA, console)
        self.assertNotIn(self.WAITS, console)

    def test_rsa_only_client_at_start_up_gets_through(self):
        # Straight after the start line: the key may still be in the
        # making; the client's handshake then waits for it.
        proxy = self.proxy("rsa-key-at-start")
        self.check_client(proxy, self.RSA_ONLY, self.RSA)
        self.check_client(proxy, (), self.EC)

    def held_proxy(self, name, *args) -> tuple[Proxy, Path]:
        """A proxy (one worker) whose key thread waits for the file it
        returns; the cleanup creates it, so that nothing stays paused."""
        hold = self.tmp / f"{name}-hold"
        proxy = self.proxy(name, "--workers", "1", *args,
                           extra_env={**self.DEBUG, "TLSPEEK_TEST_HOLD_LEAF_KEY": str(hold)})
        self.addCleanup(hold.touch)
        return proxy, hold

    def start_rsa_only_client(self, proxy: Proxy) -> subprocess.Popen:
        """An RSA-only s_client left running (its handshake waits for the
        key); killed at cleanup."""
        client = subprocess.Popen(
            ["openssl", "s_client", "-proxy", f"{proxy.host}:{proxy.port}",
             "-connect", f"localhost:{self.origin.port}", "-servername", "localhost",
             *self.RSA_ONLY],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=clean_env())
        self.addCleanup(client.wait)
        self.addCleanup(client.kill)
        return client

    def test_a_client_waiting_for_the_key_holds_up_no_other(self):
        # The test hook holds the background thread until the file exists:
        # an RSA-only client comes while the key is still to be made.
        proxy, hold = self.held_proxy("rsa-key-held")
        waiting = {}
        thread = threading.Thread(
            target=lambda: waiting.update(result=self.s_client(proxy, *self.RSA_ONLY)))
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(hold.touch)  # never leave the client paused
        proxy.wait_for_line(self.WAITS)
        # Its handshake waits; the one worker goes on with another client.
        self.check_client(proxy, (), self.EC)
        self.assertNotIn("leaf key ready", proxy.console.text())
        self.assertTrue(thread.is_alive(), "the RSA-only client did not wait for the key")
        hold.touch()
        proxy.wait_for_line(self.RSA_READY)
        proxy.wait_for_line(r"the handshake waited [\d.]+ ms for the leaf key")
        thread.join()
        leaf, fetched, err = waiting["result"]
        self.assertIsNotNone(leaf, err)
        self.assertEqual(self.key_algorithm(leaf), self.RSA)
        self.assertTrue(fetched, err)

    def test_a_waiting_client_that_leaves_is_forgotten(self):
        # Its connection is freed while the key is still to come: the key
        # thread must not wake it once made (a use after free; ASan says
        # so in key_made without intercept_cancel_wait in conn_free).
        proxy, hold = self.held_proxy("rsa-key-left")
        mark = proxy.mark()
        client = self.start_rsa_only_client(proxy)
        proxy.wait_for_line(self.WAITS, since=mark)
        client.kill()
        client.wait()
        proxy.wait_for_line("client TLS handshake failed", since=mark)
        hold.touch()
        proxy.wait_for_line(self.RSA_READY)
        self.check_client(proxy, self.RSA_ONLY, self.RSA)

    def test_a_client_waits_no_longer_than_the_handshake_timeout(self):
        proxy, _ = self.held_proxy("rsa-key-late", "--handshake-timeout", "1")
        self.start_rsa_only_client(proxy)
        proxy.wait_for_line(self.WAITS)
        proxy.wait_for_line("the RSA leaf key was not made in time for this client")

    def test_stopping_while_the_key_is_made(self):
        # A proxy stopped while its key thread is held (or making the key),
        # and a client's handshake waits for it, exits cleanly and at once:
        # Proxy.stop asserts exit 0 in time (the waiting connection is
        # freed first; the thread must not wake it after).
        proxy, _ = self.held_proxy("rsa-key-stop")
        proxy.wait_for_line(self.MAKING_RSA)
        self.check_client(proxy, (), self.EC)
        self.start_rsa_only_client(proxy)
        proxy.wait_for_line(self.WAITS)
        proxy.stop()
        self.assertNotIn("leaf key ready", proxy.console.text())


if __name__ == "__main__":
    unittest.main()
