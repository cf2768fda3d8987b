"""Integration tests: the real tlspeek binary, real curl and openssl, on loopback.

Each TestCase class gets a fresh PKI, DNS server, origin(s) and proxy in
setUpClass (see ProxyTestCase); the tests then talk to the proxy as a user
would (curl --proxy, openssl s_client -proxy) or byte by byte (RawClient).
Run with run.py, which takes the binary path.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

from harness import (
    DNS_A, DNS_AAAA, Origin, Proxy, RawServer, binary_path, clean_env, connect_request,
    curl_transfers, free_port, has_ipv6_loopback, pattern_sha256, pem_certificates,
    pem_fingerprint, raw_exchange, run_tool, url_host, write_pattern_file, open_tunnel,
)
from fixtures import HELLO, IPV6_SKIP, MB, ProxyTestCase



class InterceptTests(ProxyTestCase):
    """HTTPS through the proxy: every way of naming the origin, keep-alive
    inside one tunnel, and ALPN never upgrading to h2."""

    @classmethod
    def start_servers(cls):
        cls.origin6 = None
        if has_ipv6_loopback():
            cls.origin6 = cls.enterClassContext(Origin(cls.pki.good, host="::1"))

    def check_get(self, origin, host):
        mark = self.proxy.mark()
        self.assertFetched(self.fetch(origin.url("/", host)))
        self.assertIntercepted(f"{url_host(host)}:{origin.port}", since=mark)

    def test_get_by_name_localhost(self):
        self.check_get(self.origin, "localhost")

    def test_get_by_ipv4_literal(self):
        self.check_get(self.origin, "127.0.0.1")

    def test_get_by_ipv6_literal(self):
        if self.origin6 is None:
            self.skipTest(IPV6_SKIP)
        self.check_get(self.origin6, "::1")

    def test_name_resolved_by_configured_dns_server(self):
        self.check_get(self.origin, "origin.test")
        asked = [q for q in self.dns.queries if q[0] == "origin.test"]
        self.assertTrue(any(qtype in (DNS_A, DNS_AAAA) for _, qtype in asked),
                        f"the DNS server was not asked for origin.test; it saw "
                        f"{self.dns.queries}")

    def test_keep_alive_inside_one_tunnel(self):
        urls = [self.origin.url(path, "localhost") for path in ("/", "/bytes/1000", "/")]
        connections_before = self.origin.connections
        mark = self.proxy.mark()
        first, second, third = self.fetch_many(urls)
        self.assertFetched(first)
        self.assertEqual(second.status, 200, second.describe())
        self.assertEqual(hashlib.sha256(second.body).hexdigest(), pattern_sha256(1000))
        self.assertFetched(third)
        self.assertEqual([t.new_connections for t in (first, second, third)], [1, 0, 0],
                         "curl did not reuse its connection to the proxy")
        authority = f"localhost:{self.origin.port}"
        self.assertIntercepted(authority, since=mark)
        # curl is done: a second tunnel would have been intercepted (and
        # said so) already; make sure its line has reached us.
        self.proxy.sync_console()
        self.assertEqual(len(self.intercepted_lines(authority, mark)), 1,
                         f"expected one CONNECT; console:\n{self.proxy.console.text(mark)}")
        self.assertEqual(self.origin.connections - connections_before, 1,
                         "three requests in one tunnel should use one upstream connection")

    def test_http2_request_falls_back_to_http11(self):
        transfer = self.fetch(self.origin.url("/", "localhost"), "--http2")
        self.assertFetched(transfer)
        self.assertEqual(transfer.http_version, "1.1",
                         "the proxy negotiated something other than HTTP/1.1 with curl")


class LargeBodyTests(ProxyTestCase):
    """Bodies big enough to exercise backpressure and buffering, byte-exact."""

    def test_download_10mb_byte_exact(self):
        length = 10 * MB
        transfer = self.fetch(self.origin.url(f"/bytes/{length}", "localhost"))
        self.assertEqual(transfer.status, 200, transfer.run.describe())
        self.assertEqual(len(transfer.body), length)
        self.assertEqual(hashlib.sha256(transfer.body).hexdigest(), pattern_sha256(length))

    def check_upload(self, length, *curl_args):
        path = self.tmp / f"upload-{length}"
        digest = write_pattern_file(path, length, seed=path.name)
        transfer = self.fetch(self.origin.url("/echo-sha256", "localhost"),
                              "--data-binary", f"@{path}", *curl_args)
        self.assertFetched(transfer, f"{length} {digest}\n".encode())

    def test_upload_5mb_with_content_length(self):
        # Over 1 MB curl sends "Expect: 100-continue": the 100 must pass too.
        self.check_upload(5 * MB, "-H", "Content-Type: application/octet-stream")

    def test_upload_chunked(self):
        self.check_upload(3 * MB + 17, "-H", "Transfer-Encoding: chunked")


class LeafCertificateTests(ProxyTestCase):
    """The certificate the proxy mints, as openssl s_client sees it."""

    def leaf_via_s_client(self) -> str:
        """The first certificate the proxy presents for localhost:<origin port>."""
        proc = run_tool(
            ["openssl", "s_client", "-proxy", f"{self.proxy.host}:{self.proxy.port}",
             "-connect", f"localhost:{self.origin.port}", "-servername", "localhost",
             "-showcerts", "-CAfile", self.proxy.ca_cert],
            check=False)
        output = proc.stdout.decode(errors="replace")
        certificates = pem_certificates(output)
        self.assertTrue(certificates, f"s_client got no certificate (exit "
                        f"{proc.returncode}):\n{output}\n{proc.stderr.decode(errors='replace')}")
        self.assertIn("Verify return code: 0 (ok)", output)
        return certificates[0]

    def name_of(self, which, pem_path):
        line = run_tool(["openssl", "x509", "-noout", f"-{which}", "-in", pem_path])
        return line.stdout.decode().strip().split("=", 1)[1]

    def test_leaf_signed_by_proxy_ca(self):
        leaf = self.tmp / "leaf.pem"
        leaf.write_text(self.leaf_via_s_client())
        self.assertEqual(self.name_of("issuer", leaf),
                         self.name_of("subject", self.proxy.ca_cert))
        verify = run_tool(["openssl", "verify", "-x509_strict", "-purpose", "sslserver",
                           "-verify_hostname", "localhost", "-CAfile", self.proxy.ca_cert,
                           leaf], check=False)
        self.assertEqual(verify.stdout.decode().strip(), f"{leaf}: OK",
                         verify.stderr.decode(errors="replace"))

    def test_leaf_cached_for_same_host(self):
        first, second = self.leaf_via_s_client(), self.leaf_via_s_client()
        self.assertEqual(pem_fingerprint(first), pem_fingerprint(second),
                         "two connections to one host got different leaves")


class PlainHttpTests(ProxyTestCase):
    """Absolute-form http:// requests forwarded to a plain origin."""

    @classmethod
    def start_servers(cls):
        cls.plain = cls.enterClassContext(Origin(None))

    def header_lines(self, transfer) -> list[str]:
        self.assertEqual(transfer.status, 200, transfer.describe())
        return transfer.body.decode("latin-1").splitlines()

    def test_host_kept_and_hop_by_hop_headers_removed(self):
        transfer = self.fetch(self.plain.url("/headers", "localhost"),
                              "-H", "Connection: x-drop", "-H", "X-Drop: 1",
                              "-H", "X-Keep: 2")
        lines = self.header_lines(transfer)
        names = [line.split(":", 1)[0].lower() for line in lines]
        self.assertIn(f"Host: localhost:{self.plain.port}", lines)
        self.assertIn("X-Keep: 2", lines)
        self.assertNotIn("x-drop", names, "a header named in Connection was forwarded")
        self.assertNotIn("proxy-connection", names)
        self.assertFalse(any("x-drop" in line.lower() for line in lines
                             if line.lower().startswith("connection:")),
                         f"the client's Connection header was forwarded: {lines}")

    def test_client_connection_reused(self):
        url = self.plain.url("/headers", "localhost")
        transfers = self.fetch_many([url, url])
        for transfer in transfers:
            self.assertIn(f"Host: localhost:{self.plain.port}", self.header_lines(transfer))
        self.assertEqual([t.new_connections for t in transfers], [1, 0],
                         "curl had to reconnect to the proxy for the second request")


class ConnectTests(ProxyTestCase):
    """CONNECT outcomes that do not involve upstream TLS."""

    @classmethod
    def start_servers(cls):
        cls.raw = cls.enterClassContext(RawServer())

    def raw_connect(self, authority):
        return raw_exchange(self.proxy.address, connect_request(authority))

    def test_closed_port_fails_curl_with_502(self):
        port = free_port()
        transfer = self.fetch(f"https://127.0.0.1:{port}/", "-v")
        self.assertNotEqual(transfer.run.returncode, 0, transfer.describe())
        self.assertEqual(transfer.connect_status, 502, transfer.describe())
        self.assertIn("502", transfer.run.stderr)

    def test_closed_port_raw_502_says_refused(self):
        response = self.raw_connect(f"127.0.0.1:{free_port()}")
        self.assertTrue(response.status_line.startswith("HTTP/1.1 502"), str(response))
        self.assertIn(b"connection refused", response.body.lower(), str(response))

    def test_unresolvable_name_502(self):
        response = self.raw_connect("nonexistent.invalid:443")
        self.assertTrue(response.status_line.startswith("HTTP/1.1 502"), str(response))
        self.assertIn(b"cannot resolve nonexistent.invalid", response.body, str(response))

    def test_plaintext_tunnel_relays_bytes(self):
        with open_tunnel(self.proxy.address, f"127.0.0.1:{self.raw.port}") as client:
            for line in (b"ping\n", b"\x00binary \xff\xfe bytes\n"):
                client.send(line)
                self.assertEqual(client.read_until(b"\n"), b"pong: " + line)


class UpstreamVerificationTests(ProxyTestCase):
    """Untrusted upstream certificates: the client sees a 502 saying why and
    no origin byte; with --insecure the same origins are reachable."""

    @classmethod
    def start_servers(cls):
        cls.bad_origins = {name: cls.enterClassContext(Origin(getattr(cls.pki, name)))
                           for name in ("expired", "wrongname", "selfsigned")}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.insecure_proxy = cls.start_proxy("--insecure")

    def check_rejected(self, name, reason_pattern):
        origin = self.bad_origins[name]
        # The insecure proxy's test also sends requests to these origins.
        requests_before = origin.requests
        transfer = self.fetch(origin.url("/", "localhost"))
        self.assertEqual(transfer.run.returncode, 0,
                         f"the client TLS handshake should succeed; {transfer.describe()}")
        self.assertEqual(transfer.status, 502, transfer.describe())
        text = transfer.body.decode(errors="replace")
        self.assertIn("failed verification", text)
        self.assertRegex(text, reason_pattern)
        self.assertNotIn("hello from origin", text)
        self.assertEqual(origin.requests, requests_before,
                         "a request reached the untrusted origin")

    def test_expired_certificate(self):
        self.check_rejected("expired", r"expired")

    def test_wrong_name_certificate(self):
        self.check_rejected("wrongname", r"hostname mismatch")

    def test_self_signed_certificate(self):
        self.check_rejected("selfsigned", r"self[- ]signed|unable to get local issuer")

    def test_insecure_reaches_every_origin(self):
        for name, origin in self.bad_origins.items():
            with self.subTest(origin=name):
                self.assertFetched(self.fetch(origin.url("/", "localhost"),
                                              proxy=self.insecure_proxy))


class UpstreamResumptionTests(ProxyTestCase):
    """The proxy keeps the sessions upstream servers give it and resumes
    them on the next tunnel to the same server under the same name (no key
    exchange, no certificate to parse and verify), TLS 1.2 and 1.3."""

    @classmethod
    def start_servers(cls):
        cls.origin12 = cls.enterClassContext(Origin(cls.pki.good))
        cls.origin12.tls_context.maximum_version = ssl.TLSVersion.TLSv1_2

    def check_resumes(self, origin):
        url = origin.url("/", "localhost")
        self.assertFetched(self.fetch(url))
        resumed_before, connections_before = origin.resumed, origin.connections
        for _ in range(3):  # separate curl runs: a new tunnel each
            self.assertFetched(self.fetch(url))
        self.assertEqual(origin.connections - connections_before, 3)
        self.assertEqual(origin.resumed - resumed_before, 3,
                         "every later tunnel should resume the upstream session")

    def test_tls13_session_is_resumed(self):
        self.check_resumes(self.origin)

    def test_tls12_session_is_resumed(self):
        self.check_resumes(self.origin12)

    def test_session_is_lent_to_an_address_its_certificate_covers(self):
        self.assertFetched(self.fetch(self.origin12.url("/", "localhost")))
        resumed_before = self.origin12.resumed
        # Same server verified as 127.0.0.1 (no SNI), which the certificate
        # names too: the session got as localhost resumes (test_resumption
        # has a name the certificate does not cover).
        self.assertFetched(self.fetch(self.origin12.url("/", "127.0.0.1")))
        self.assertEqual(self.origin12.resumed, resumed_before + 1)


class ClientResumptionTests(ProxyTestCase):
    """Clients resume their sessions with the proxy from its tickets."""

    def s_client(self, version, session_file, save, *more):
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        result = run_tool(
            ["openssl", "s_client", f"-{version}", "-proxy", f"127.0.0.1:{self.proxy.port}",
             "-connect", f"localhost:{self.origin.port}", "-servername", "localhost",
             "-CAfile", self.proxy.ca_cert, "-verify_return_error", "-ign_eof",
             "-sess_out" if save else "-sess_in", session_file, *more],
            input_bytes=request)
        return result.stdout.decode(errors="replace")

    def check_resumes(self, version):
        session_file = self.tmp / f"session-{version}.pem"
        first = self.s_client(version, session_file, save=True)
        self.assertRegex(first, r"(?m)^New, ")
        second = self.s_client(version, session_file, save=False)
        self.assertRegex(second, r"(?m)^Reused, ")
        self.assertIn(HELLO.decode(), second)

    def test_tls13_client_resumes(self):
        self.check_resumes("tls1_3")

    def test_tls12_client_resumes(self):
        self.check_resumes("tls1_2")

    def test_tls13_resumed_client_gets_the_next_ticket(self):
        """The TLS 1.3 ticket waits for the first answer (one send() with
        it, see pump_hold_output), on a resumed session too: a client that
        uses each ticket once, as browsers do, resumes again and again."""
        first, second = self.tmp / "chain-1.pem", self.tmp / "chain-2.pem"
        self.assertRegex(self.s_client("tls1_3", first, True), r"(?m)^New, ")
        resumed = self.s_client("tls1_3", first, False, "-sess_out", second)
        self.assertRegex(resumed, r"(?m)^Reused, ")
        again = self.s_client("tls1_3", second, False)
        self.assertRegex(again, r"(?m)^Reused, ")
        self.assertIn(HELLO.decode(), again)


class ClientCipherTests(ProxyTestCase):
    """The proxy picks AES-128-GCM (SHA-256 key schedule) over a client's
    AES-256-GCM-SHA384, as OpenSSL-based clients list it first, unless the
    client puts ChaCha20 first (how a client without AES instructions says
    so)."""

    def cipher(self, version, ciphers_option, ciphers):
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        result = run_tool(
            ["openssl", "s_client", f"-{version}", "-proxy", f"127.0.0.1:{self.proxy.port}",
             "-connect", f"localhost:{self.origin.port}", "-servername", "localhost",
             "-CAfile", self.proxy.ca_cert, "-verify_return_error", "-ign_eof",
             ciphers_option, ciphers],
            input_bytes=request)
        output = result.stdout.decode(errors="replace")
        self.assertIn(HELLO.decode(), output)
        return output

    def test_tls13_aes128_over_the_clients_aes256(self):
        output = self.cipher("tls1_3", "-ciphersuites",
                             "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256")
        self.assertRegex(output, r"Cipher is TLS_AES_128_GCM_SHA256")

    def test_tls13_chacha20_when_the_client_lists_it_first(self):
        output = self.cipher("tls1_3", "-ciphersuites",
                             "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256")
        self.assertRegex(output, r"Cipher is TLS_CHACHA20_POLY1305_SHA256")

    def test_tls12_aes128_over_the_clients_aes256(self):
        output = self.cipher("tls1_2", "-cipher",
                             "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                             "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
        self.assertRegex(output, r"Cipher is ECDHE-(ECDSA|RSA)-AES128-GCM-SHA256")


class SystemTrustStoreTests(ProxyTestCase):
    """Without --upstream-ca, upstreams are verified against the system
    store: the bundle file and the hashed directory, which $SSL_CERT_FILE
    and $SSL_CERT_DIR replace as they do for openssl and curl."""

    def system_store_proxy(self, cert_file, cert_dir) -> Proxy:
        proxy = Proxy(dns_port=self.dns.port, extra_env={
            "SSL_CERT_FILE": str(cert_file), "SSL_CERT_DIR": str(cert_dir)})
        self.addCleanup(proxy.stop)
        return proxy

    def test_ca_in_the_bundle_file_is_trusted(self):
        proxy = self.system_store_proxy(self.pki.ca.cert, self.tmp / "no-such-dir")
        self.assertFetched(self.fetch(self.origin.url("/", "localhost"), proxy=proxy))

    def test_ca_in_the_hashed_directory_is_trusted(self):
        hashed = self.tmp / "hashed-certs"
        hashed.mkdir(exist_ok=True)
        shutil.copy(self.pki.ca.cert, hashed / "test-ca.pem")
        run_tool(["openssl", "rehash", hashed])
        proxy = self.system_store_proxy(self.tmp / "no-such-file", hashed)
        self.assertFetched(self.fetch(self.origin.url("/", "localhost"), proxy=proxy))

    def test_ca_in_neither_is_not_trusted(self):
        proxy = self.system_store_proxy(self.tmp / "no-such-file", self.tmp / "no-such-dir")
        transfer = self.fetch(self.origin.url("/", "localhost"), proxy=proxy)
        self.assertEqual(transfer.status, 502, transfer.describe())
        self.assertIn(b"failed verification", transfer.body)


class FrontTests(ProxyTestCase):
    """Requests to the proxy itself: the CA page, and malformed requests."""

    def test_ca_page_is_html_linking_ca_pem(self):
        page = self.direct("/")
        self.assertEqual(page.status, 200, page.describe())
        self.assertIn("text/html", page.content_type)
        self.assertIn(b"ca.pem", page.body)

    def test_ca_pem_is_the_ca_file(self):
        pem = self.direct("/ca.pem")
        self.assertEqual(pem.status, 200, pem.describe())
        self.assertEqual(pem.body, self.proxy.ca_cert.read_bytes())

    def test_ca_crt_is_der(self):
        der = self.direct("/ca.crt")
        self.assertEqual(der.status, 200, der.describe())
        expected = run_tool(["openssl", "x509", "-in", self.proxy.ca_cert,
                             "-outform", "DER"]).stdout
        self.assertEqual(der.body, expected)

    def test_garbage_request_400(self):
        response = raw_exchange(self.proxy.address, b"hello\r\n\r\n")
        self.assertTrue(response.status_line.startswith("HTTP/1.1 400"), str(response))

    def test_oversize_head_431(self):
        request = (f"GET http://localhost:{self.origin.port}/ HTTP/1.1\r\n"
                   f"Host: localhost:{self.origin.port}\r\n"
                   f"X-Big: {'a' * 100_000}\r\n\r\n").encode()
        response = raw_exchange(self.proxy.address, request)
        self.assertTrue(response.status_line.startswith("HTTP/1.1 431"), str(response))


def run_binary(*args, timeout=10):
    """Run tlspeek to completion (option errors, --version)."""
    return subprocess.run([str(binary_path()), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=clean_env(),
                          stdin=subprocess.DEVNULL)


class CommandLineTests(unittest.TestCase):
    """Options, start-up errors, the CA directory, and shutdown."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="tlspeek-cli-")
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)

    def test_unknown_option_exits_2_with_usage(self):
        proc = run_binary("--bogus", "--ca-dir", self.tmp / "ca")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("usage", proc.stderr.lower())

    def test_version_exits_0(self):
        proc = run_binary("--version")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout, r"tlspeek \d+\.\d+")

    def test_listen_port_in_use_exits_1(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            proc = run_binary("-l", f"127.0.0.1:{port}", "--ca-dir", self.tmp / "ca")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}: Address already in use",
                      proc.stderr)

    def test_ca_dir_created_private(self):
        ca_dir = self.tmp / "new-ca"
        with Proxy(ca_dir=ca_dir) as proxy:
            self.assertEqual(proxy.ca_cert, ca_dir / "ca.pem")
            self.assertEqual(stat.S_IMODE(ca_dir.stat().st_mode), 0o700)
            self.assertEqual(stat.S_IMODE((ca_dir / "ca.key").stat().st_mode), 0o600)
            subject = run_tool(["openssl", "x509", "-noout", "-subject", "-in",
                                proxy.ca_cert])
            self.assertTrue(subject.stdout.startswith(b"subject="))

    def test_ca_kept_across_restarts(self):
        ca_dir = self.tmp / "ca"
        with Proxy(ca_dir=ca_dir) as proxy:
            first = proxy.ca_cert.read_bytes()
        with Proxy(ca_dir=ca_dir) as proxy:
            self.assertEqual(proxy.ca_cert.read_bytes(), first,
                             "a restart replaced the CA the user already trusts")

    def test_sigterm_with_open_tunnel_exits_0_promptly(self):
        with RawServer() as raw:
            proxy = Proxy(ca_dir=self.tmp / "ca")
            try:
                client = open_tunnel(proxy.address, f"127.0.0.1:{raw.port}")
                self.addCleanup(client.close)
                client.send(b"ping\n")
                self.assertEqual(client.read_until(b"\n"), b"pong: ping\n")
            finally:
                proxy.stop()  # asserts exit 0 within PROXY_STOP_TIMEOUT seconds
            self.assertTrue(client.is_closed_by_peer(), "the tunnel outlived the proxy")

    def test_listen_on_ipv6_loopback(self):
        if not has_ipv6_loopback():
            self.skipTest(IPV6_SKIP)
        with Proxy(listen="[::1]:0", ca_dir=self.tmp / "ca") as proxy:
            self.assertEqual(proxy.host, "[::1]")
            result, (pem,) = curl_transfers([proxy.url + "/ca.pem"])
            self.assertEqual(pem.status, 200, pem.describe())
            self.assertEqual(pem.body, proxy.ca_cert.read_bytes())


if __name__ == "__main__":
    unittest.main()
