"""Faults and load: many tunnels at once, half-closes, TLS alerts from
either side, hostile ClientHellos, non-TLS bytes that look like TLS, and
running out of file descriptors. Each test checks what the client receives
and that the proxy still serves a normal request afterwards.

(Timeouts, size limits, access control and HTTP-level hostile input are in
test_limits.py; this file does not repeat them.)
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import resource
import socket
import ssl
import time
import unittest

from harness import (
    Origin, RawClient, connect_request, pattern_sha256, peer_has_read, wait_until,
)
from fixtures import HELLO, FaultTestCase, HalfCloseServer, LimitedProxy
from tlswire import (
    CT_ALERT, CT_APPLICATION_DATA, CT_HANDSHAKE, EXT_KEY_SHARE, EXT_SERVER_NAME,
    EXT_SUPPORTED_VERSIONS, HS_CLIENT_HELLO, HS_SERVER_HELLO, HelloParts,
    MemoryTls, certificate_sans, certificate_text, frame, hello_message, read_server_flight,
    sni_extension, u16, u24,
)

# How long the proxy may take to turn away a hello it has all the bytes of.
# Well under the default --handshake-timeout (10 s), so a proxy that just
# waits for the timeout fails these tests.
REJECT_WITHIN = 5


class ConcurrencyTests(FaultTestCase):
    CLIENTS = 500
    BODY_LENGTH = 4096

    @classmethod
    def setUpClass(cls):
        # 500 client sockets plus 500 origin sockets live in this process,
        # and the proxy (which inherits the limit) holds two per tunnel.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 4 * cls.CLIENTS + 256
        if soft != resource.RLIM_INFINITY and soft < wanted:
            new_hard = hard if hard == resource.RLIM_INFINITY else max(hard, wanted)
            try:
                # Raising the hard limit needs CAP_SYS_RESOURCE (root).
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, new_hard))
            except (ValueError, OSError) as error:
                raise unittest.SkipTest(
                    f"needs {wanted} file descriptors; 'ulimit -n' is {soft} and the "
                    f"hard limit {hard} cannot be raised ({error})")
            cls.addClassCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        super().setUpClass()
        # socketserver listens with a backlog of 5: with 500 connections
        # arriving at once the kernel would drop SYNs and delay some by
        # seconds. listen() again on the same socket only raises the backlog.
        cls.origin._server.socket.listen(1024)

    async def _open(self, context, authority):
        reader, writer = await asyncio.open_connection(*self.proxy.address)
        writer.write(connect_request(authority))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            writer.close()
            raise AssertionError(f"CONNECT answered {head!r}")
        await writer.start_tls(context, server_hostname="localhost")
        return reader, writer

    async def _get(self, reader, writer, path):
        writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if not head.startswith(b"HTTP/1.1 200") or not match:
            raise AssertionError(f"response head {head!r}")
        return await reader.readexactly(int(match.group(1)))

    async def _run_all(self):
        context = self.proxy_context()
        authority = f"localhost:{self.origin.port}"
        path = f"/bytes/{self.BODY_LENGTH}"

        async def bounded(coroutine):
            return await asyncio.wait_for(coroutine, timeout=45)

        # Phase 1: every tunnel is open and intercepted at the same time.
        opened = await asyncio.gather(
            *(bounded(self._open(context, authority)) for _ in range(self.CLIENTS)),
            return_exceptions=True)
        streams = [o for o in opened if not isinstance(o, BaseException)]
        errors = [repr(o) for o in opened if isinstance(o, BaseException)]
        # Phase 2: all of them ask at once.
        bodies = await asyncio.gather(
            *(bounded(self._get(r, w, path)) for r, w in streams), return_exceptions=True)
        for _, writer in streams:
            writer.close()
        await asyncio.gather(*(bounded(w.wait_closed()) for _, w in streams),
                             return_exceptions=True)
        return len(streams), errors, bodies

    def test_500_concurrent_intercepted_gets_byte_exact(self):
        mark = self.proxy.mark()
        opened, errors, bodies = asyncio.run(self._run_all())
        self.assertEqual(opened, self.CLIENTS,
                         f"{len(errors)} tunnels failed to open; first: {errors[:3]}")
        expected = pattern_sha256(self.BODY_LENGTH)
        bad = [b if isinstance(b, BaseException) else f"{len(b)} bytes"
               for b in bodies
               if isinstance(b, BaseException) or hashlib.sha256(b).hexdigest() != expected]
        self.assertEqual(bad, [], f"{len(bad)} of {self.CLIENTS} GETs failed")
        # The console reports every one as intercepted.
        def intercepted():
            return len(self.intercepted_lines(f"localhost:{self.origin.port}", mark))
        wait_until(lambda: intercepted() >= self.CLIENTS,
                   f"{self.CLIENTS} tunnels reported intercepted", timeout=30)
        self.assertEqual(intercepted(), self.CLIENTS)
        self.assertStillServing()


class HalfCloseTests(FaultTestCase):
    @classmethod
    def start_servers(cls):
        cls.after_eof = HalfCloseServer("reply-after-eof")
        cls.addClassCleanup(cls.after_eof.close)
        cls.speaks_first = HalfCloseServer("speak-first")
        cls.addClassCleanup(cls.speaks_first.close)

    def test_client_half_close_is_passed_on_and_the_reply_still_arrives(self):
        client = self.open_tunnel(self.after_eof.authority)
        request = b"everything I have to say\n" * 1000
        client.send(request)
        client.sock.shutdown(socket.SHUT_WR)
        client.sock.settimeout(REJECT_WITHIN)
        reply = client.read_to_eof()
        self.assertEqual(reply, f"got {len(request)} bytes "
                                f"{hashlib.sha256(request).hexdigest()}\n".encode(),
                         "the server's answer after the client's EOF did not arrive whole")
        self.assertStillServing()

    def test_server_half_close_is_passed_on_and_the_client_can_still_send(self):
        self.speaks_first.done.clear()
        client = self.open_tunnel(self.speaks_first.authority)
        client.sock.settimeout(REJECT_WITHIN)
        self.assertEqual(client.read_to_eof(), HalfCloseServer.GREETING,
                         "the client did not see the server's EOF after its greeting")
        late = b"sent after the server stopped sending\n"
        client.send(late)
        client.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(self.speaks_first.done.wait(REJECT_WITHIN),
                        "the server never saw the client's EOF")
        self.assertEqual(self.speaks_first.received[-1], late)
        self.assertStillServing()


class TlsAlertTests(FaultTestCase):
    """A fatal alert from the client during its handshake, and from an
    upstream that wants a client certificate the proxy does not have."""

    @classmethod
    def start_servers(cls):
        cls.wants_cert = {}
        for version in ("TLSv1_2", "TLSv1_3"):
            origin = cls.enterClassContext(Origin(cls.pki.good))
            origin.tls_context.verify_mode = ssl.CERT_REQUIRED
            origin.tls_context.load_verify_locations(cls.pki.ca.cert)
            origin.tls_context.minimum_version = getattr(ssl.TLSVersion, version)
            origin.tls_context.maximum_version = getattr(ssl.TLSVersion, version)
            cls.wants_cert[version] = origin

    def test_client_alert_unknown_ca_is_logged_and_proxy_keeps_serving(self):
        mark = self.proxy.mark()
        client = self.open_tunnel(f"localhost:{self.origin.port}")
        # Trusts the test CA, not the proxy's: rejects the minted leaf.
        context = ssl.create_default_context(cafile=str(self.pki.ca.cert))
        with self.assertRaises(ssl.SSLCertVerificationError):
            context.wrap_socket(client.sock, server_hostname="localhost")
        self.proxy.wait_for_line(
            rf"CONNECT localhost:{self.origin.port} client TLS handshake failed: "
            r"peer sent alert: unknown CA", since=mark)
        self.assertStillServing()

    def check_upstream_alert(self, version):
        origin = self.wants_cert[version]
        failures_before = origin.handshake_failures
        transfer = self.fetch(origin.url("/", "localhost"))
        self.assertEqual(transfer.status, 502,
                         f"expected a 502 naming the upstream's alert; {transfer.describe()}")
        body = transfer.body.decode(errors="replace")
        self.assertIn(f"TLS handshake with localhost:{origin.port} failed", body)
        # TLS 1.2 servers send handshake_failure (40), TLS 1.3 servers
        # certificate_required (116): the reason must name it. In TLS 1.3
        # the proxy has already sent the request when the alert comes, and
        # the server, closing with that request unread, resets the
        # connection; a reset that arrives first destroys the alert in the
        # kernel's buffer, and then the reset is the reason.
        pattern = r"alert: (handshake failure|certificate required)"
        if version == "TLSv1_3":
            pattern += r"|connection reset by peer"
        self.assertRegex(body, pattern, "the 502 does not say why")
        self.assertGreater(origin.handshake_failures, failures_before)
        self.assertEqual(origin.requests, 0)
        self.assertStillServing()

    def test_upstream_alert_tls12_client_certificate_required_gives_502(self):
        self.check_upstream_alert("TLSv1_2")

    def test_upstream_alert_tls13_client_certificate_required_gives_502(self):
        self.check_upstream_alert("TLSv1_3")


class HostileHelloTests(FaultTestCase):
    """Hand-made ClientHellos through a CONNECT tunnel."""

    @classmethod
    def start_servers(cls):
        # Which SNI the proxy sends upstream: never a name from a bad hello.
        cls.upstream_snis = []
        cls.origin.tls_context.sni_callback = (
            lambda _sock, name, _ctx: cls.upstream_snis.append(name))

    def setUp(self):
        super().setUp()
        self.authority = f"localhost:{self.origin.port}"

    def captured_hello(self, **context_settings) -> bytes:
        """A real ClientHello message from Python's ssl, never sent."""
        tls = MemoryTls(None, self.proxy_context(**context_settings), "placeholder.test")
        return hello_message(tls.first_flight())

    def send_and_expect_rejection(self, wire: bytes, what: str):
        """Send wire bytes into an intercepted tunnel: the proxy must answer
        with nothing or a TLS alert, never a ServerHello, close within
        REJECT_WITHIN seconds, and log why."""
        mark = self.proxy.mark()
        client = self.open_tunnel(self.authority)
        client.send(wire)
        records, _, closed = read_server_flight(client.sock,
                                                time.monotonic() + REJECT_WITHIN)
        types = [t for t, _ in records]
        self.assertTrue(closed, f"{what}: the proxy did not close within "
                        f"{REJECT_WITHIN} s (records received: {types})")
        self.assertTrue(all(t == CT_ALERT for t in types),
                        f"{what}: expected only an alert, got record types {types}")
        self.proxy.wait_for_line(
            rf"CONNECT {re.escape(self.authority)} client TLS handshake failed", since=mark)

    # -- malformed ------------------------------------------------------------

    def test_malformed_hellos_with_lying_lengths_are_rejected(self):
        parts = HelloParts(self.captured_hello())
        good = parts.message()
        body = parts.body()
        cases = {
            "handshake length longer than the record, then application data":
                frame(CT_HANDSHAKE, bytes([HS_CLIENT_HELLO]) + u24(len(body) + 100) + body)
                + frame(CT_APPLICATION_DATA, b"\x00" * 100, b"\x03\x03"),
            "handshake length shorter than the hello":
                frame(CT_HANDSHAKE, bytes([HS_CLIENT_HELLO]) + u24(len(body) - 40) + body),
            "extensions length past the end":
                frame(CT_HANDSHAKE, parts.message(ext_len=len(parts.extensions_bytes()) + 50)),
            "extensions length short of the end":
                frame(CT_HANDSHAKE, parts.message(ext_len=len(parts.extensions_bytes()) - 7)),
            "cipher suites length odd and past its field":
                frame(CT_HANDSHAKE, parts.message(cs_len=len(parts.cipher_suites) + 3)),
            "session id length 255":
                frame(CT_HANDSHAKE, parts.message(sid_len=255)),
            "record length beyond the TLS maximum":
                b"\x16\x03\x01\xff\xff" + good,
            "a ServerHello instead of a ClientHello":
                frame(CT_HANDSHAKE, bytes([HS_SERVER_HELLO]) + good[1:]),
        }
        # server_name bodies whose inner lengths lie.
        for name, ext in {
            "server_name list length past the extension":
                u16(200) + b"\x00" + u16(9) + b"localhost",
            "server_name name length past the list":
                u16(12) + b"\x00" + u16(40) + b"localhost",
            "server_name empty list": u16(0),
        }.items():
            edited = HelloParts(good)
            edited.set_extension(EXT_SERVER_NAME, ext)
            cases[name] = frame(CT_HANDSHAKE, edited.message())
        for what, wire in cases.items():
            with self.subTest(what):
                self.send_and_expect_rejection(wire, what)
        self.assertStillServing()

    # -- fragmented -----------------------------------------------------------

    def check_fragmented_handshake(self, pieces: int, tcp_chunks: bool):
        client = self.open_tunnel(self.authority)
        tls = MemoryTls(client.sock, self.proxy_context(), "localhost")
        message = hello_message(tls.first_flight())
        cut = [len(message) * i // pieces for i in range(pieces + 1)]
        wire = b"".join(frame(CT_HANDSHAKE, message[a:b]) for a, b in zip(cut, cut[1:]))
        if tcp_chunks:
            # Also cut the bytes at odd places, record headers included.
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for start in range(0, len(wire), 3 + len(wire) // 7):
                # The proxy has read the last piece before the next is sent,
                # so each reaches it as a read of its own.
                wait_until(lambda: peer_has_read(client.sock), "the proxy reading "
                           "a piece of the hello")
                client.send(wire[start:start + 3 + len(wire) // 7])
        else:
            client.send(wire)
        tls.finish_handshake()
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head, body = tls.read_response()
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertEqual(body, HELLO)

    def test_client_hello_split_across_three_records_completes(self):
        self.check_fragmented_handshake(3, tcp_chunks=False)
        self.assertStillServing()

    def test_client_hello_split_across_records_and_tcp_segments_completes(self):
        self.check_fragmented_handshake(3, tcp_chunks=True)
        self.assertStillServing()

    # -- absurd names -----------------------------------------------------------

    ABSURD_NAMES = {
        "300 characters": b"a" * 250 + b".test" + b"b" * 45,
        "comma": b"localhost,evil.test",
        "NUL": b"evil.test\x00localhost",
        "wildcard": b"*.x.test",
        "empty label": b"a..b",
        "space": b"evil test",
        "non-ASCII": "\u00e9vil.test".encode(),
        "label over 63": b"a" * 64 + b".test",
        "leading hyphen": b"-evil.test",
        "IP address literal": b"10.9.8.7",
        "colon": b"evil.test:443",
        "slash": b"evil.test/x",
    }

    def leaf_for_hello(self, extensions: dict, what: str):
        """Send a TLS 1.2 ClientHello with these extension bodies (type ->
        body, set in this order) into a new tunnel. Returns the leaf's DER
        (TLS 1.2 sends it in clear), or None when the proxy refused the
        hello with an alert and closed."""
        parts = HelloParts(self.captured_hello(maximum_version=ssl.TLSVersion.TLSv1_2))
        for ext_type, body in extensions.items():
            parts.set_extension(ext_type, body)
        client = self.open_tunnel(self.authority)
        client.send(frame(CT_HANDSHAKE, parts.message()))
        records, der, closed = read_server_flight(client.sock, time.monotonic() + REJECT_WITHIN)
        types = [t for t, _ in records]
        if der is None:
            self.assertTrue(closed and types and types[-1] == CT_ALERT,
                            f"{what}: neither a certificate nor an alert and a close "
                            f"(records {types}, closed {closed})")
        return der

    def leaf_for_sni(self, sni_ext: bytes, what: str):
        """leaf_for_hello with this server_name extension body."""
        return self.leaf_for_hello({EXT_SERVER_NAME: sni_ext}, what)

    def check_leaf_names(self, der: bytes, absurd: bytes, what: str):
        sans = certificate_sans(der, self.tmp)
        allowed = {"DNS:localhost", "DNS:origin.test", "IP Address:127.0.0.1",
                   "IP Address:0:0:0:0:0:0:0:1"}
        self.assertIn("DNS:localhost", sans, f"{what}: the CONNECT host is not in the leaf")
        self.assertLessEqual(set(sans), allowed, f"{what}: unexpected SANs {sans}")
        self.assertNotIn(absurd, der, f"{what}: the name went into the certificate:\n"
                         f"{certificate_text(der, self.tmp)}")

    def test_absurd_sni_never_reaches_a_certificate(self):
        completed = []
        for what, name in self.ABSURD_NAMES.items():
            with self.subTest(what):
                seen = len(self.upstream_snis)
                der = self.leaf_for_sni(sni_extension(name), what)
                if der is not None:
                    completed.append(what)
                    self.check_leaf_names(der, name, what)
                # The upstream was asked for the CONNECT host instead.
                self.assertLessEqual(set(self.upstream_snis[seen:]), {"localhost"},
                                     f"{what}: SNI sent upstream")
        # Sanity: the method works, i.e. at least the harmless-to-OpenSSL
        # names got as far as a certificate.
        self.assertIn("wildcard", completed)
        self.assertStillServing()

    def test_control_a_valid_sni_does_reach_the_certificate(self):
        # Shows that the method above sees SNIs at all: a valid name the
        # upstream's certificate does not cover still gets its own leaf
        # (the client then reads a 502 inside the tunnel).
        der = self.leaf_for_sni(sni_extension(b"Control.Test"), "control")
        self.assertIsNotNone(der, "no certificate for a valid SNI")
        self.assertEqual(certificate_sans(der, self.tmp), ["DNS:control.test"])
        self.assertStillServing()

    def test_odd_server_name_lists(self):
        cases = {
            "two host names, the second absurd": sni_extension(b"localhost", b"*.evil.test"),
            "two host names, the first absurd": sni_extension(b"*.evil.test", b"localhost"),
            "unknown name type only": sni_extension(b"*.evil.test", name_type=7),
        }
        for what, ext in cases.items():
            with self.subTest(what):
                seen = len(self.upstream_snis)
                der = self.leaf_for_sni(ext, what)
                if der is not None:
                    self.check_leaf_names(der, b"evil", what)
                self.assertLessEqual(set(self.upstream_snis[seen:]), {"localhost"},
                                     f"{what}: SNI sent upstream")
        self.assertStillServing()

    # -- the leaf's key, chosen from the hello ------------------------------------

    EXT_SUPPORTED_GROUPS, EXT_SIGNATURE_ALGORITHMS = 10, 13
    ECDSA_P256_SHA256, RSA_PKCS1_SHA256, SECP256R1, X25519 = 0x0403, 0x0401, 23, 29

    def leaf_key_for(self, edits: dict, what: str):
        """Send a TLS 1.2 ClientHello with these extension bodies: the key
        algorithm of the leaf the proxy presents, or None when it refused
        the hello with an alert and closed."""
        der = self.leaf_for_hello({EXT_SERVER_NAME: sni_extension(b"localhost"), **edits},
                                  what)
        if der is None:
            return None
        text = certificate_text(der, self.tmp)
        return re.search(r"Public Key Algorithm: (\S+)", text).group(1)

    @staticmethod
    def u16_list(*values: int) -> bytes:
        return u16(2 * len(values)) + b"".join(u16(v) for v in values)

    def test_leaf_key_follows_the_hello_lists(self):
        # What the ClientHello callback reads to choose the leaf's key, as
        # the wire has it (TLS 1.2: the certificate comes in clear).
        sigalgs, groups = self.EXT_SIGNATURE_ALGORITHMS, self.EXT_SUPPORTED_GROUPS
        cases = {
            "ECDSA P-256 offered": ({sigalgs: self.u16_list(self.ECDSA_P256_SHA256,
                                                            self.RSA_PKCS1_SHA256)},
                                    "id-ecPublicKey"),
            "RSA signatures only": ({sigalgs: self.u16_list(self.RSA_PKCS1_SHA256)},
                                    "rsaEncryption"),
            "P-256 not among the groups": ({groups: self.u16_list(self.X25519)},
                                           "rsaEncryption"),
        }
        for what, (edits, expected) in cases.items():
            with self.subTest(what):
                self.assertEqual(self.leaf_key_for(edits, what), expected)
        self.assertStillServing()

    def test_lying_key_choice_lists_are_harmless(self):
        # Bodies whose inner lengths lie, read by the proxy before OpenSSL
        # checks them: a leaf of either kind or an alert, never a crash.
        sigalgs, groups = self.EXT_SIGNATURE_ALGORITHMS, self.EXT_SUPPORTED_GROUPS
        cases = {
            "signature_algorithms list past the extension":
                {sigalgs: u16(200) + u16(self.ECDSA_P256_SHA256)},
            "signature_algorithms odd length":
                {sigalgs: u16(3) + u16(self.ECDSA_P256_SHA256) + b"\x01"},
            "signature_algorithms one byte": {sigalgs: b"\x04"},
            "signature_algorithms empty list": {sigalgs: u16(0)},
            "supported_groups list past the extension":
                {groups: u16(100) + u16(self.SECP256R1)},
            "supported_groups empty": {groups: b""},
            "supported_versions list past the extension":
                {EXT_SUPPORTED_VERSIONS: bytes([9]) + b"\x03\x04"},
            "supported_versions odd length":
                {EXT_SUPPORTED_VERSIONS: bytes([3]) + b"\x03\x04\x03"},
        }
        for what, edits in cases.items():
            with self.subTest(what):
                self.assertIn(self.leaf_key_for(edits, what),
                              (None, "id-ecPublicKey", "rsaEncryption"))
        self.assertStillServing()

    # -- not TLS after all --------------------------------------------------------

    def test_0x16_then_garbage_is_closed_cleanly(self):
        cases = {
            "0x16 then text": b"\x16" + b"this is not a TLS record at all\r\n" * 4,
            "0x16 0x03 0x01 then a short length and garbage":
                b"\x16\x03\x01\x00\x20" + b"\xee" * 32 + b"more garbage" * 10,
            "a ClientHello two bytes long":
                frame(CT_HANDSHAKE, b"\x01\x00\x00\x02\xff\xff"),
        }
        for what, wire in cases.items():
            with self.subTest(what):
                self.send_and_expect_rejection(wire, what)
        self.assertStillServing()

    def test_0x16_then_eof_is_closed(self):
        client = self.open_tunnel(self.authority)
        client.send(b"\x16\x03")
        client.sock.shutdown(socket.SHUT_WR)
        records, _, closed = read_server_flight(client.sock, time.monotonic() + REJECT_WITHIN)
        self.assertTrue(closed, "the proxy kept a tunnel whose client ended mid-hello")
        self.assertStillServing()


class Tls12UpstreamHelloTests(FaultTestCase):
    """To a server that chose TLS 1.2, the proxy resumes with a TLS 1.2
    ClientHello: no TLS 1.3 key share, which would be a key generated for
    nothing. When the server no longer takes the session, the next
    connection offers TLS 1.3 again. Seen from the origin's side, in the
    ClientHellos it receives."""

    @classmethod
    def start_servers(cls):
        cls.hellos: list[HelloParts] = []
        cls.origin12 = cls.enterClassContext(Origin(cls.pki.good))
        cls.origin12.tls_context = cls.tls12_context()

    @classmethod
    def tls12_context(cls) -> ssl.SSLContext:
        """A TLS 1.2 server context of its own: new session cache and ticket keys."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cls.pki.good.cert, cls.pki.good.key)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2

        def record(conn, direction, version, content_type, msg_type, data):
            if direction == "read" and msg_type == ssl._TLSMessageType.CLIENT_HELLO:
                cls.hellos.append(HelloParts(data))
        ctx._msg_callback = record  # CPython's hook for OpenSSL's msg callback
        return ctx

    def fetch_one(self) -> tuple[bool, bool]:
        """Fetch through a new tunnel: (its ClientHello offered TLS 1.3, the
        origin resumed the session)."""
        seen, resumed = len(self.hellos), self.origin12.resumed
        self.assertFetched(self.fetch(self.origin12.url("/", "localhost")))
        self.assertEqual(len(self.hellos), seen + 1)
        extensions = {t for t, _ in self.hellos[-1].extensions}
        offers_13 = EXT_KEY_SHARE in extensions
        self.assertEqual(EXT_SUPPORTED_VERSIONS in extensions, offers_13)
        return offers_13, self.origin12.resumed > resumed

    def test_resumes_in_tls12_and_offers_tls13_after_a_full_handshake(self):
        self.assertEqual(self.fetch_one(), (True, False), "first: full, TLS 1.3 offered")
        for _ in range(2):
            self.assertEqual(self.fetch_one(), (False, True), "resumed in a TLS 1.2 hello")
        # The server forgets its sessions and ticket keys (a restart).
        self.origin12.tls_context = self.tls12_context()
        self.assertEqual(self.fetch_one(), (False, False), "session refused: full handshake")
        self.assertEqual(self.fetch_one(), (True, False), "TLS 1.3 offered again")
        self.assertEqual(self.fetch_one(), (False, True), "and the new session resumed")


class FileDescriptorExhaustionTests(FaultTestCase):
    NOFILE = 40
    CLIENTS = 60
    FD_WARNING = r"out of file descriptors"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # One worker: with several, the first client may wait in the backlog
        # of a listener that never got a descriptor, and the test needs it
        # accepted. (The warning is process-wide either way.)
        cls.limited = cls.enterClassContext(
            LimitedProxy(cls.NOFILE, "--upstream-ca", cls.pki.ca.cert, "--workers", "1",
                         dns_port=cls.dns.port))
        cls.proxies.append(cls.limited)

    def test_out_of_descriptors_pauses_accepting_warns_once_and_recovers(self):
        mark = self.limited.mark()
        # Before: it works under the limit.
        self.assertStillServing(proxy=self.limited)
        clients = []
        try:
            for _ in range(self.CLIENTS):
                # The kernel completes connections the proxy has not accepted
                # yet (they wait in the listen backlog).
                clients.append(RawClient(self.limited.address, timeout=5))
            self.limited.wait_for_line(self.FD_WARNING, since=mark)
            self.assertGreaterEqual(self.limited.open_fds(), self.NOFILE - 5,
                                    "the proxy was not actually saturated")
            # Saturated: the proxy must sleep between attempts, not spin.
            cpu_before = self.limited.cpu_seconds()
            time.sleep(2)
            cpu_used = self.limited.cpu_seconds() - cpu_before
            self.assertLess(cpu_used, 0.5,
                            f"the proxy used {cpu_used:.2f} s of CPU in 2 s while out "
                            f"of descriptors: a busy loop")
            # An accepted client can still be served where no new descriptor
            # is needed: the proxy's own page.
            clients[0].send(b"GET /ca.pem HTTP/1.1\r\nHost: x\r\n\r\n")
            response = clients[0].read_response()
            self.assertEqual(response.status, 200, str(response))
            self.assertEqual(response.body, self.limited.ca_cert.read_bytes())
        finally:
            for client in clients:
                client.close()
        # After: the backlog drains, and a normal request works again.
        wait_until(lambda: self.limited.open_fds() < self.NOFILE - 5,
                   "the proxy letting the closed clients' descriptors go", timeout=10)
        self.assertStillServing(proxy=self.limited)
        self.limited.sync_console()  # a second warning would have come by now
        warnings = [line for line in self.limited.console.lines(mark)
                    if re.search(self.FD_WARNING, line)]
        self.assertEqual(len(warnings), 1, "expected exactly one warning:\n"
                         + "\n".join(warnings))

    def test_each_shortage_is_warned_once(self):
        """Issue 12, defect 12: the warning says "if this repeats", so a
        second shortage after the proxy accepted again is warned again."""
        for episode in (1, 2):
            mark = self.limited.mark()
            clients = []
            try:
                for _ in range(self.CLIENTS):
                    clients.append(RawClient(self.limited.address, timeout=5))
                self.limited.wait_for_line(self.FD_WARNING, since=mark)
            finally:
                for client in clients:
                    client.close()
            self.limited.wait_for_line(r"accepting new connections again", since=mark)
            self.assertStillServing(proxy=self.limited)
            self.limited.sync_console()
            warnings = [line for line in self.limited.console.lines(mark)
                        if re.search(self.FD_WARNING, line)]
            self.assertEqual(len(warnings), 1, f"shortage {episode}: expected one "
                             "warning:\n" + "\n".join(warnings))


if __name__ == "__main__":
    unittest.main()
