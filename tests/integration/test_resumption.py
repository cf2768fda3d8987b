"""Upstream TLS 1.3 resumption when many tunnels to one server open at once,
and (TLS 1.3 and 1.2) under another name of the same server.

A TLS 1.3 ticket is used once (RFC 8446 appendix C.4), so every tunnel
opening while others are still in their handshake needs a ticket of its
own: the proxy keeps a pool of them per server and refills it from every
NewSessionTicket. The origin (Python's ssl, OpenSSL underneath: two tickets
after a full handshake, one after a resumed one, as nginx sends) counts the
handshakes that resumed, so the figure is the server's own, not the
proxy's."""

from __future__ import annotations

import asyncio
import ssl

from harness import DnsServer, Origin, connect_request
from fixtures import DNS_RECORDS, FaultTestCase

BURST = 50


class ConcurrentResumptionTests(FaultTestCase):
    def setUp(self):
        super().setUp()
        # An origin of each test's own: the proxy keeps tickets per server.
        self.server = self.enterContext(Origin(self.pki.good))
        # socketserver listens with a backlog of 5: a burst would see SYNs
        # dropped and retried a second later. listen() again raises it.
        self.server._server.socket.listen(1024)

    async def _tunnel(self, context):
        """CONNECT, TLS through the proxy, one GET, close: True on a 200."""
        reader, writer = await asyncio.open_connection(*self.proxy.address)
        try:
            writer.write(connect_request(f"localhost:{self.server.port}"))
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                return False
            await writer.start_tls(context, server_hostname="localhost")
            writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            response = await reader.read()
            return response.startswith(b"HTTP/1.1 200") and response.endswith(
                self.server.HELLO)
        finally:
            writer.close()

    def burst(self, n=BURST):
        """n tunnels opened at once; returns (handshakes the origin saw,
        how many of them resumed)."""
        context = self.proxy_context()
        connections, resumed = self.server.connections, self.server.resumed

        async def run():
            return await asyncio.gather(*(self._tunnel(context) for _ in range(n)),
                                        return_exceptions=True)

        results = asyncio.run(asyncio.wait_for(run(), 60))
        failures = [r for r in results if r is not True]
        self.assertEqual(failures, [], f"{len(failures)} of {n} tunnels failed")
        return self.server.connections - connections, self.server.resumed - resumed

    def test_a_burst_after_warm_up_resumes(self):
        # The first burst finds no ticket; the second finds the pool's
        # first size and teaches it how many tunnels open at once here.
        self.burst()
        self.burst()
        connections, resumed = self.burst()
        self.assertEqual(connections, BURST)
        self.assertGreaterEqual(resumed, BURST * 9 // 10,
                                f"the origin saw {resumed} of {connections} handshakes resume")

    def test_both_tickets_of_a_handshake_are_kept(self):
        """A full handshake brings two tickets: two tunnels opened at once
        next both resume, and each resumed one brings a ticket back."""
        self.assertEqual(self.burst(1), (1, 0))
        self.assertEqual(self.burst(2), (2, 2))
        self.assertEqual(self.burst(2), (2, 2))


class OtherNameResumptionTests(FaultTestCase):
    """A TLS 1.3 ticket got under one name of a server may resume a tunnel to
    another name of the same server when the certificate it came with is
    valid for that name too (RFC 8446, 4.6.1), and never otherwise: resuming
    skips the certificate check."""

    MAX_VERSION = None  # the origin's highest protocol version

    @classmethod
    def start_servers(cls):
        # other.test reaches the origin too, but its certificate does not
        # name it (the test certificate covers localhost and origin.test).
        cls.dns = cls.enterClassContext(
            DnsServer({**DNS_RECORDS, "other.test": ["127.0.0.1"]}))

    def setUp(self):
        super().setUp()
        self.server = self.enterContext(Origin(self.pki.good))
        if self.MAX_VERSION:
            self.server.tls_context.maximum_version = self.MAX_VERSION

    def test_a_name_the_certificate_covers_resumes(self):
        self.assertFetched(self.fetch(self.server.url("/", "localhost")))
        resumed = self.server.resumed
        self.assertFetched(self.fetch(self.server.url("/", "origin.test")))
        self.assertEqual(self.server.resumed - resumed, 1,
                         "origin.test should resume the session got as localhost")

    def test_a_name_the_certificate_does_not_cover_is_verified_in_full(self):
        self.assertFetched(self.fetch(self.server.url("/", "localhost")))
        resumed = self.server.resumed
        handshakes = self.server.connections + self.server.handshake_failures
        transfer = self.fetch(self.server.url("/", "other.test"))
        self.assertEqual(transfer.status, 502, transfer.describe())
        self.assertIn("failed verification", transfer.body.decode(errors="replace"))
        self.assertEqual(self.server.resumed, resumed, "other.test resumed a session")
        # the proxy's full handshake reached the origin (and was cut when
        # the certificate did not verify)
        self.assertEqual(self.server.connections + self.server.handshake_failures,
                         handshakes + 1)


class OtherNameResumptionTls12Tests(OtherNameResumptionTests):
    """The same rule for a TLS 1.2 session, which stays for later tunnels
    (a TLS 1.2 server keeping to RFC 6066 would refuse it and the handshake
    would go on in full; OpenSSL's servers, as nginx's, resume it)."""

    MAX_VERSION = ssl.TLSVersion.TLSv1_2

    def test_the_lent_session_stays_for_the_next_name(self):
        self.assertFetched(self.fetch(self.server.url("/", "localhost")))
        resumed = self.server.resumed
        self.assertFetched(self.fetch(self.server.url("/", "origin.test")))
        self.assertFetched(self.fetch(self.server.url("/", "localhost")))
        self.assertEqual(self.server.resumed - resumed, 2)


if __name__ == "__main__":
    import unittest
    unittest.main()
