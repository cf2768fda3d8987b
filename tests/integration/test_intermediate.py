"""Integration tests of the session intermediate (issue 15: a never-seen
host under an RSA CA must not cost an RSA signature).

Under an RSA CA the proxy makes, at start-up and in memory only, an EC
P-256 intermediate signed once by the CA, signs leaves with it and sends
[leaf, intermediate]. It signs with the CA itself when the CA's key is EC
already, when the CA forbids an intermediate (pathLenConstraint 0, or
directoryName constraints), or with --no-intermediate; the console says
which, in one line.

The real binary on temporary --ca-dir directories; a real TLS origin
verified with --upstream-ca; real `openssl s_client` as the client, real
`openssl verify` and `openssl x509` to check what it got, real curl.
"""

from __future__ import annotations

import datetime
import re
import ssl
import time
import unittest
from pathlib import Path

from harness import (
    SOCKET_TIMEOUT, Origin, Proxy, curl_transfers, pem_certificates, pem_fingerprint,
    run_tool, open_tunnel,
)
from fixtures import OriginTestCase
from tlswire import (
    CT_HANDSHAKE, EXT_SERVER_NAME, HelloParts, MemoryTls, frame, hello_message,
    read_server_certificates, sni_extension, u16,
)

EXT_SIGNATURE_ALGORITHMS, EXT_SIGNATURE_ALGORITHMS_CERT = 13, 50
ECDSA_P256_SHA256, RSA_PKCS1_SHA256, RSA_PSS_RSAE_SHA256 = 0x0403, 0x0401, 0x0804

INTERMEDIATE_LINE = r"leaves are signed by an EC session intermediate"
DIRECT_LINE = r"leaves are signed by the CA itself: "


def x509(pem_path: Path, *options: str) -> str:
    return run_tool(["openssl", "x509", "-noout", *options, "-in", pem_path]
                    ).stdout.decode()


def not_after(pem_path: Path) -> datetime.datetime:
    text = x509(pem_path, "-enddate").strip().split("=", 1)[1]
    return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y %Z")


def name_of(which: str, pem_path: Path) -> str:
    return x509(pem_path, f"-{which}", "-nameopt", "RFC2253").strip().split("=", 1)[1]


def extension(pem_path: Path, name: str) -> str:
    """openssl x509 -ext NAME's text, e.g. 'X509v3 Basic Constraints: critical\\n
    CA:TRUE, pathlen:0'."""
    return x509(pem_path, "-ext", name)


class IntermediateTests(OriginTestCase):
    def proxy(self, ca_dir: Path, *args) -> Proxy:
        return self.proxy_in(ca_dir, *args)

    def chain(self, proxy: Proxy, name: str, *args: str) -> list[Path]:
        """The certificates the proxy presents for localhost (leaf first),
        written to files name-0.pem, name-1.pem, ...; the handshake must
        verify against the proxy's CA alone."""
        proc = run_tool(
            ["openssl", "s_client", "-proxy", f"{proxy.host}:{proxy.port}",
             "-connect", f"localhost:{self.origin.port}", "-servername", "localhost",
             "-CAfile", proxy.ca_cert, "-verify_return_error", "-verify_hostname",
             "localhost", "-showcerts", *args], check=False)
        out = proc.stdout.decode(errors="replace")
        self.assertIn("Verify return code: 0 (ok)", out,
                      out[-3000:] + proc.stderr.decode(errors="replace"))
        paths = []
        for i, pem in enumerate(pem_certificates(out)):
            path = self.tmp / f"{name}-{i}.pem"
            path.write_text(pem)
            paths.append(path)
        return paths

    def verify(self, *args) -> tuple[bool, str]:
        proc = run_tool(["openssl", "verify", "-x509_strict", *args], check=False)
        text = (proc.stdout + proc.stderr).decode(errors="replace")
        return proc.returncode == 0 and ": OK" in text, text

    def make_rsa_ca(self, ca_dir: Path, *extensions: str, subject: str = ""):
        """An RSA-2048 CA the user brought, with these extra extension lines."""
        ca_dir.mkdir(mode=0o700, parents=True)
        config = ca_dir.parent / f"{ca_dir.name}.cnf"
        config.write_text(
            "[ req ]\ndistinguished_name = dn\n[ dn ]\n[ ext ]\n"
            "keyUsage = critical, keyCertSign, cRLSign\n"
            "subjectKeyIdentifier = hash\n" + "".join(e + "\n" for e in extensions))
        run_tool(["openssl", "req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes",
                  "-config", config, "-extensions", "ext",
                  "-subj", subject or f"/CN=User CA {ca_dir.name}/O=Example", "-days", "30",
                  "-keyout", ca_dir / "ca.key", "-out", ca_dir / "ca.pem"])
        (ca_dir / "ca.key").chmod(0o600)

    def check_direct(self, proxy: Proxy, name: str, reason: str):
        proxy.wait_for_line(DIRECT_LINE + reason)
        certificates = self.chain(proxy, name)
        self.assertEqual(len(certificates), 1, "a chain came with a leaf the CA signed")
        self.assertEqual(name_of("issuer", certificates[0]),
                         name_of("subject", proxy.ca_cert))
        ok, text = self.verify("-CAfile", proxy.ca_cert, certificates[0])
        self.assertTrue(ok, text)

    def test_rsa_ca_sends_leaf_and_ec_intermediate(self):
        ca_dir = self.tmp / "rsa"
        proxy = self.proxy(ca_dir, "--ca-key-type", "rsa2048")
        proxy.wait_for_line(INTERMEDIATE_LINE)
        leaf, inter = self.chain(proxy, "rsa")  # exactly two: not the root
        ca = proxy.ca_cert

        # The path verifies only with the intermediate, which the CA signed.
        ok, text = self.verify("-purpose", "sslserver", "-verify_hostname", "localhost",
                               "-CAfile", ca, "-untrusted", inter, leaf)
        self.assertTrue(ok, text)
        ok, text = self.verify("-CAfile", ca, leaf)
        self.assertFalse(ok, "the leaf verified without the intermediate: " + text)
        ok, text = self.verify("-CAfile", ca, inter)
        self.assertTrue(ok, text)
        self.assertEqual(name_of("issuer", leaf), name_of("subject", inter))
        self.assertEqual(name_of("issuer", inter), name_of("subject", ca))
        self.assertIn("(tlspeek session intermediate)", name_of("subject", inter))

        # An EC CA that allows no CA below it, identified by its SKI.
        self.assertIn("Public Key Algorithm: id-ecPublicKey", x509(inter, "-text"))
        self.assertRegex(extension(inter, "basicConstraints"),
                         r"critical\s+CA:TRUE, pathlen:0")
        self.assertRegex(extension(inter, "keyUsage"),
                         r"critical\s+Certificate Sign, CRL Sign")
        ca_ski = extension(ca, "subjectKeyIdentifier").splitlines()[1].strip()
        self.assertIn(ca_ski, extension(inter, "authorityKeyIdentifier"))
        self.assertLessEqual(not_after(leaf), not_after(inter))
        self.assertLessEqual(not_after(inter), not_after(ca))

        # curl trusting the CA only gets through, and nothing new is on disk.
        result, (transfer,) = curl_transfers(
            [self.origin.url("/", "localhost")], "--proxy", proxy.url, "--cacert", ca)
        self.assertEqual(transfer.body, Origin.HELLO, transfer.describe())
        self.assertEqual(sorted(p.name for p in ca_dir.iterdir()), ["ca.key", "ca.pem"])
        # The proxy's page still hands out the root, not the intermediate.
        result, (page,) = curl_transfers([proxy.url + "/ca.pem"])
        self.assertEqual(pem_fingerprint(page.body.decode()), pem_fingerprint(ca.read_text()))

        # A new intermediate each run, under the same CA.
        proxy.stop()
        again = self.proxy(ca_dir)
        again.wait_for_line(INTERMEDIATE_LINE)
        leaf2, inter2 = self.chain(again, "rsa-again")
        self.assertNotEqual(pem_fingerprint(inter.read_text()),
                            pem_fingerprint(inter2.read_text()))
        self.assertNotEqual(x509(inter, "-pubkey"), x509(inter2, "-pubkey"))
        self.assertEqual(sorted(p.name for p in ca_dir.iterdir()), ["ca.key", "ca.pem"])

    def test_client_taking_only_rsa_gets_a_leaf_the_ca_signed(self):
        # It could not verify the intermediate's ECDSA signature: its leaf
        # (RSA) comes alone, signed by the RSA CA, as without an
        # intermediate. Other clients of the same proxy still get the chain.
        proxy = self.proxy(self.tmp / "rsa-only", "--ca-key-type", "rsa2048")
        proxy.wait_for_line(INTERMEDIATE_LINE)
        for round in range(2):  # minted, then from the cache
            certificates = self.chain(proxy, f"rsa-only-{round}", "-sigalgs",
                                      "RSA-PSS+SHA256:RSA+SHA256")
            self.assertEqual(len(certificates), 1, "an intermediate came along")
            (leaf,) = certificates
            self.assertEqual(name_of("issuer", leaf), name_of("subject", proxy.ca_cert))
            self.assertIn("sha256WithRSAEncryption", x509(leaf, "-text"))
            ok, text = self.verify("-CAfile", proxy.ca_cert, leaf)
            self.assertTrue(ok, text)
            leaf, inter = self.chain(proxy, f"ecdsa-too-{round}", "-sigalgs",
                                     "RSA-PSS+SHA256:ECDSA+SHA256")
            self.assertEqual(name_of("issuer", leaf), name_of("subject", inter))

    def certificates_for_hello(self, proxy: Proxy, edits: dict) -> list[bytes]:
        """The chain the proxy sends for a TLS 1.2 ClientHello (Python's
        own, with these extension bodies set), read off the wire."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        parts = HelloParts(hello_message(MemoryTls(None, context, "x.test").first_flight()))
        parts.set_extension(EXT_SERVER_NAME, sni_extension(b"localhost"))
        for ext_type, body in edits.items():
            parts.set_extension(ext_type, body)
        with open_tunnel(proxy.address, f"localhost:{self.origin.port}") as client:
            client.send(frame(CT_HANDSHAKE, parts.message()))
            return read_server_certificates(client.sock, time.monotonic() + SOCKET_TIMEOUT)

    def test_signature_algorithms_cert_decides_the_signer(self):
        # signature_algorithms_cert, when sent, is what the client verifies
        # in certificates (RFC 8446 4.2.3): ECDSA in signature_algorithms
        # alone does not make it take the intermediate's signature.
        proxy = self.proxy(self.tmp / "sigalgs-cert", "--ca-key-type", "rsa2048")
        proxy.wait_for_line(INTERMEDIATE_LINE)
        ca_subject = name_of("subject", proxy.ca_cert)

        def u16_list(*values):
            return u16(2 * len(values)) + b"".join(u16(v) for v in values)

        sigalgs = {EXT_SIGNATURE_ALGORITHMS: u16_list(ECDSA_P256_SHA256, RSA_PKCS1_SHA256,
                                                      RSA_PSS_RSAE_SHA256)}
        cases = {
            "no signature_algorithms_cert": (sigalgs, 2),
            "ECDSA in signature_algorithms_cert": (
                {**sigalgs, EXT_SIGNATURE_ALGORITHMS_CERT:
                    u16_list(RSA_PKCS1_SHA256, ECDSA_P256_SHA256)}, 2),
            "RSA only in signature_algorithms_cert": (
                {**sigalgs, EXT_SIGNATURE_ALGORITHMS_CERT: u16_list(RSA_PKCS1_SHA256)}, 1),
        }
        for what, (edits, length) in cases.items():
            with self.subTest(what):
                chain = self.certificates_for_hello(proxy, edits)
                self.assertEqual(len(chain), length, what)
                leaf = self.tmp / f"hello-{length}.der"
                leaf.write_bytes(chain[0])
                issuer = x509(leaf, "-inform", "DER", "-issuer", "-nameopt", "RFC2253")
                self.assertEqual(issuer.strip().split("=", 1)[1] == ca_subject,
                                 length == 1, f"{what}: issuer {issuer}")

    def test_no_intermediate_option_signs_with_the_rsa_ca(self):
        proxy = self.proxy(self.tmp / "off", "--ca-key-type", "rsa2048",
                           "--no-intermediate")
        self.check_direct(proxy, "off", "--no-intermediate")

    def test_ec_ca_gets_no_intermediate(self):
        proxy = self.proxy(self.tmp / "ec")
        self.check_direct(proxy, "ec", re.escape("the CA's key is not RSA"))

    def test_ca_with_pathlen_0_signs_directly(self):
        ca_dir = self.tmp / "pathlen0"
        self.make_rsa_ca(ca_dir, "basicConstraints = critical, CA:TRUE, pathlen:0")
        proxy = self.proxy(ca_dir)
        self.check_direct(proxy, "pathlen0",
                          re.escape("the CA forbids intermediates (pathLenConstraint 0)"))

    def test_ca_with_directory_name_constraints_signs_directly(self):
        # Names under O=Example are excluded: an intermediate named after
        # the CA ("O=Example, CN=...") would be refused; the leaves
        # ("CN=localhost") are not.
        ca_dir = self.tmp / "dirname"
        self.make_rsa_ca(ca_dir, "basicConstraints = critical, CA:TRUE",
                         "nameConstraints = critical, excluded;dirName:dir_sect",
                         "[ dir_sect ]", "O = Example",
                         subject="/O=Example/CN=User CA dirname")
        proxy = self.proxy(ca_dir)
        self.check_direct(proxy, "dirname", "the CA constrains directory names")

    def test_user_rsa_ca_with_dns_constraints_gets_an_intermediate(self):
        # DNS constraints bind the leaves' names whoever signs them: the
        # intermediate stays, and the path still verifies.
        ca_dir = self.tmp / "dns"
        self.make_rsa_ca(ca_dir, "basicConstraints = critical, CA:TRUE, pathlen:1",
                         "nameConstraints = critical, permitted;DNS:localhost, "
                         "permitted;DNS:origin.test")
        proxy = self.proxy(ca_dir)
        proxy.wait_for_line(INTERMEDIATE_LINE)
        leaf, inter = self.chain(proxy, "dns")
        self.assertIn("User CA dns (tlspeek session intermediate)", name_of("subject", inter))
        self.assertIn("O=Example", name_of("subject", inter))


if __name__ == "__main__":
    unittest.main()
