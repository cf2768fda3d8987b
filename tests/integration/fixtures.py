"""Test-case bases and small servers shared by the integration test
modules, so that no test module imports another.

ProxyTestCase gives each class a fresh PKI, DNS server, TLS origin and proxy;
FaultTestCase adds the checks fault tests end with. LimitedProxy runs the
proxy under an open-file limit. MuteServer, ResettingServer and
HalfCloseServer misbehave on purpose."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import ssl
import tempfile
import threading
import unittest
from pathlib import Path

from harness import (
    SOCKET_TIMEOUT, DnsServer, Origin, Proxy, RawClient, TcpServer, curl_transfers,
    make_pki, peer_has_read, wait_until, open_tunnel,
)

HELLO = Origin.HELLO
DNS_RECORDS = {
    # Only the IPv4 address, so that the proxy does not depend on falling
    # back from ::1 (where the IPv4 origins do not listen).
    "localhost": ["127.0.0.1"],
    "origin.test": ["127.0.0.1"],
}
IPV6_SKIP = "no IPv6 loopback (::1) on this machine"
MB = 1024 * 1024


class OriginTestCase(unittest.TestCase):
    """Shared per class: a fresh PKI in a temporary directory (tmp), the DNS
    server, and a TLS origin with the good certificate on 127.0.0.1. Tests
    start their own proxies with proxy_in()."""

    @classmethod
    def setUpClass(cls):
        tmp = cls.enterClassContext(tempfile.TemporaryDirectory(prefix="tlspeek-it-"))
        cls.tmp = Path(tmp)
        cls.pki = make_pki(cls.tmp / "pki")
        cls.dns = cls.enterClassContext(DnsServer(DNS_RECORDS))
        cls.origin = cls.enterClassContext(Origin(cls.pki.good))

    def proxy_in(self, ca_dir: Path, *args, extra_env: dict | None = None) -> Proxy:
        """A proxy keeping its CA in ca_dir, trusting the test CA upstream and
        resolving through the DNS server; stopped (exit 0 checked) at the
        test's end."""
        proxy = Proxy("--upstream-ca", self.pki.ca.cert, *args, dns_port=self.dns.port,
                      ca_dir=ca_dir, extra_env=extra_env)
        self.addCleanup(proxy.stop)
        return proxy


class ProxyTestCase(OriginTestCase):
    """OriginTestCase plus, shared per class, a proxy that trusts the test
    CA (--upstream-ca) and resolves through the DNS server.

    Subclasses add servers in start_servers() and flags in proxy_args."""

    proxy_args: tuple = ()
    proxy_env: dict | None = None  # extra environment, e.g. TLSPEEK_DEBUG

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.proxies = []  # never a parent class's list
        cls.start_servers()
        cls.proxy = cls.start_proxy(*cls.proxy_args)

    @classmethod
    def start_servers(cls):
        """Hook: start more servers before the proxy."""

    @classmethod
    def start_proxy(cls, *args) -> Proxy:
        """A proxy for this class, stopped (and checked for exit 0) at its end."""
        proxy = cls.enterClassContext(
            Proxy("--upstream-ca", cls.pki.ca.cert, *args, dns_port=cls.dns.port,
                  extra_env=cls.proxy_env))
        cls.proxies.append(proxy)
        return proxy

    def setUp(self):
        self.console_marks = [proxy.mark() for proxy in self.proxies]

    def diagnostics(self) -> str:
        """What the proxies printed during this test; run.py appends it to
        the report of a failed test, since the cause is often only there."""
        return "\n".join(
            f"tlspeek console ({' '.join(proxy.command[1:])}) during the test:\n"
            f"{proxy.console.text(mark) or '(nothing)'}"
            for proxy, mark in zip(self.proxies, getattr(self, "console_marks",
                                                         [0] * len(self.proxies))))

    # -- clients ------------------------------------------------------------

    def fetch_many(self, urls, *args, proxy=None):
        """curl urls in one run through the proxy, trusting only its CA (no -k)."""
        proxy = proxy or self.proxy
        result, transfers = curl_transfers(
            urls, "--proxy", proxy.url, "--cacert", proxy.ca_cert, *args)
        self.assertEqual(len(transfers), len(urls),
                         f"curl reported {len(transfers)} of {len(urls)} transfers; "
                         f"{result.describe()}")
        return transfers

    def fetch(self, url, *args, proxy=None):
        return self.fetch_many([url], *args, proxy=proxy)[0]

    def direct(self, path):
        """GET path from the proxy itself, as a web server (no --proxy)."""
        result, transfers = curl_transfers([self.proxy.url + path])
        self.assertEqual(len(transfers), 1, result.describe())
        return transfers[0]

    # -- assertions ---------------------------------------------------------

    def assertFetched(self, transfer, body=HELLO):
        """A 200 with exactly body; the message shows what came instead."""
        self.assertEqual(transfer.status, 200, transfer.describe())
        self.assertEqual(transfer.body, body, transfer.describe())

    def assertIntercepted(self, authority, since):
        """The console has a line saying `CONNECT <authority>` was intercepted."""
        pattern = rf"(?=.*CONNECT {re.escape(authority)}(?![\d\]]))(?=.*intercepted)"
        self.proxy.wait_for_line(pattern, since=since)

    def intercepted_lines(self, authority, since):
        """Console lines since the mark reporting an intercepted CONNECT to authority."""
        connect = re.compile(rf"CONNECT {re.escape(authority)}(?![\d\]])")
        return [line for line in self.proxy.console.lines(since)
                if connect.search(line) and "intercepted" in line]


class FaultTestCase(ProxyTestCase):
    """ProxyTestCase plus the checks every fault test ends with."""

    def assertStillServing(self, proxy=None):
        self.assertFetched(self.fetch(self.origin.url("/", "localhost"), proxy=proxy))

    def open_tunnel(self, authority: str, proxy=None) -> RawClient:
        """A RawClient whose CONNECT to authority was answered 200."""
        client = open_tunnel((proxy or self.proxy).address, authority)
        self.addCleanup(client.close)
        return client

    def proxy_context(self, **kwargs) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.proxy.ca_cert))
        for name, value in kwargs.items():
            setattr(context, name, value)
        return context


class LimitedProxy(Proxy):
    """The proxy started under `prlimit --nofile=SOFT:HARD` (prlimit execs
    it, so the process is tlspeek itself), otherwise like harness.Proxy.
    nofile: N for N:N, or "SOFT:HARD"."""

    def __init__(self, nofile: int | str, *args, dns_port: int,
                 extra_env: dict[str, str] | None = None):
        limits = nofile if isinstance(nofile, str) else f"{nofile}:{nofile}"
        super().__init__(*args, dns_port=dns_port, extra_env=extra_env,
                         prefix=["prlimit", f"--nofile={limits}"])

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the ")" that ends comm: state is field 3, utime 14, stime 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))


# --------------------------------------------------------------------------
# Small servers


class MuteServer(TcpServer):
    """Accepts TCP connections and never sends a byte (a server that never
    speaks TLS, or a stalled one): it reads until the client goes."""

    def serve(self, sock):
        while sock.recv(65536):
            pass


class ResettingServer(TcpServer):
    """An HTTP server that promises 100000 bytes, sends a few, then resets
    the connection (SO_LINGER 0): an upstream dying mid-response."""

    def __init__(self, tls_context: ssl.SSLContext | None = None):
        self.tls = tls_context
        super().__init__()

    def serve(self, sock):
        sock.settimeout(10)
        stream = self.tls.wrap_socket(sock, server_side=True) if self.tls else sock
        with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = stream.recv(4096)
                if not piece:
                    return
                data += piece
            stream.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
            # The reset must come after the proxy has those bytes: a reset
            # may discard what the receiver has not read yet.
            wait_until(lambda: peer_has_read(sock), "the proxy reading the partial "
                       "response", timeout=SOCKET_TIMEOUT)
            stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")


class HalfCloseServer(TcpServer):
    """A plain TCP server for half-close tests, one mode per instance.

    "reply-after-eof": reads until the client's EOF, then answers
        b"got <n> bytes <sha256>\\n" and closes.
    "speak-first": sends GREETING, shuts down its sending side at once,
        then reads until EOF and keeps what it read in `received`."""

    GREETING = b"server speaks first, then stops sending\n"

    def __init__(self, mode: str):
        self.mode = mode
        self.received: list[bytes] = []
        self.done = threading.Event()
        super().__init__()

    def _read_to_eof(self, conn) -> bytes:
        data = b""
        while True:
            piece = conn.recv(65536)
            if not piece:
                return data
            data += piece

    def serve(self, sock):
        try:
            sock.settimeout(SOCKET_TIMEOUT)
            if self.mode == "reply-after-eof":
                data = self._read_to_eof(sock)
                sock.sendall(f"got {len(data)} bytes "
                             f"{hashlib.sha256(data).hexdigest()}\n".encode())
            else:
                sock.sendall(self.GREETING)
                sock.shutdown(socket.SHUT_WR)
                self.received.append(self._read_to_eof(sock))
        finally:
            self.done.set()
