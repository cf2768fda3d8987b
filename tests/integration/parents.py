"""Parent proxies for the --upstream-proxy tests, on loopback.

Real software where Debian has it: tinyproxy (an HTTP parent, with or
without Basic auth) and dante (`danted`, a SOCKS5 parent without auth).
In Python, what those cannot be made to do here: a SOCKS5 parent that asks
for a user name and password (dante would check them against the system's
accounts), parents that refuse with a fixed answer, and one that never
answers."""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

from harness import SOCKET_TIMEOUT, TcpServer, clean_env, free_port

START_TIMEOUT = 10


def wait_listening(port: int, process: subprocess.Popen, what: str, log: Path):
    """Poll until something accepts on 127.0.0.1:port, or fail saying why."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    raise RuntimeError(f"{what} did not start listening on {port}:\n{text}")


def stop_group(process: subprocess.Popen):
    """SIGTERM a server started with start_new_session (it and every
    process it forked), SIGKILL if it lingers; wait for it."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=SOCKET_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=SOCKET_TIMEOUT)


class _Daemon:
    """A parent proxy program run in the foreground in its own process group."""

    name = "daemon"

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.dir / f"{self.name}.log"
        command = self.command()
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=clean_env(),
                                            start_new_session=True)
        try:
            wait_listening(self.port, self.process, self.name, self.log)
        except BaseException:
            self.stop()
            raise

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self):
        stop_group(self.process)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class TinyProxy(_Daemon):
    """tinyproxy as an HTTP parent; with auth=(user, password), its BasicAuth."""

    name = "tinyproxy"

    def __init__(self, directory: Path, auth: tuple[str, str] | None = None):
        self.auth = auth
        super().__init__(directory)

    def command(self):
        conf = self.dir / "tinyproxy.conf"
        lines = [f"Port {self.port}", "Listen 127.0.0.1", "Timeout 30",
                 "LogLevel Connect", f"LogFile \"{self.log}\"", "MaxClients 50"]
        # No ConnectPort line: CONNECT to any port (the origins' are random).
        if self.auth:
            lines.append(f"BasicAuth {self.auth[0]} {self.auth[1]}")
        conf.write_text("\n".join(lines) + "\n")
        return ["tinyproxy", "-d", "-c", str(conf)]

    def connects(self) -> list[str]:
        """The CONNECT targets tinyproxy was asked for, in order."""
        return [line.split("CONNECT ", 2)[-1].split()[0]
                for line in self.log_text().splitlines()
                if "Request (file descriptor" in line and ": CONNECT " in line]


class Dante(_Daemon):
    """dante-server as a SOCKS5 parent without authentication."""

    name = "danted"

    def command(self):
        conf = self.dir / "danted.conf"
        conf.write_text(
            "logoutput: stderr\n"
            f"internal: 127.0.0.1 port = {self.port}\n"
            "external: 127.0.0.1\n"
            "socksmethod: none\n"
            "clientmethod: none\n"
            "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
            "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect error }\n")
        return ["danted", "-f", str(conf), "-N", "1", "-p", str(self.dir / "danted.pid")]


def _read_exactly(sock, n: int) -> bytes:
    data = b""
    while len(data) < n:
        piece = sock.recv(n - len(data))
        if not piece:
            raise OSError("peer closed")
        data += piece
    return data


def _read_head(sock) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            break
        data += piece
    return data


def relay(a, b):
    """Copy bytes both ways between two sockets until either side ends."""
    socks = [a, b]
    while True:
        ready, _, _ = select.select(socks, [], [], SOCKET_TIMEOUT)
        if not ready:
            return
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


class FixedAnswerParent(TcpServer):
    """An HTTP parent that answers every request head with `answer` and
    closes, remembering the heads it was sent."""

    def __init__(self, answer: bytes):
        self.answer = answer
        self.heads: list[bytes] = []
        super().__init__()

    def serve(self, sock):
        sock.settimeout(SOCKET_TIMEOUT)
        head = _read_head(sock)
        with self._lock:
            self.heads.append(head)
        sock.sendall(self.answer)


class SilentParent(TcpServer):
    """Accepts, reads, and never answers (until the client gives up)."""

    def serve(self, sock):
        sock.settimeout(SOCKET_TIMEOUT * 3)
        while sock.recv(4096):
            pass


class Socks5Parent(TcpServer):
    """A SOCKS5 server (RFC 1928 CONNECT; RFC 1929 when credentials are
    set). `requests` records (address type, host, port) of each CONNECT and
    `auths` each (user, password) offered; `reply` other than 0 refuses
    every CONNECT with that code."""

    def __init__(self, credentials: tuple[bytes, bytes] | None = None, reply: int = 0):
        self.credentials = credentials
        self.reply = reply
        self.requests: list[tuple[int, str, int]] = []
        self.auths: list[tuple[bytes, bytes]] = []
        super().__init__()

    def serve(self, sock):
        sock.settimeout(SOCKET_TIMEOUT)
        version, n = _read_exactly(sock, 2)
        methods = _read_exactly(sock, n)
        wanted = 2 if self.credentials else 0
        if version != 5 or wanted not in methods:
            sock.sendall(b"\x05\xff")
            return
        sock.sendall(bytes([5, wanted]))
        if wanted == 2:
            _, ulen = _read_exactly(sock, 2)
            user = _read_exactly(sock, ulen)
            (plen,) = _read_exactly(sock, 1)
            password = _read_exactly(sock, plen)
            with self._lock:
                self.auths.append((user, password))
            ok = (user, password) == self.credentials
            sock.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        _, cmd, _, atyp = _read_exactly(sock, 4)
        if atyp == 1:
            host = socket.inet_ntop(socket.AF_INET, _read_exactly(sock, 4))
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, _read_exactly(sock, 16))
        else:
            host = _read_exactly(sock, _read_exactly(sock, 1)[0]).decode()
        (port,) = struct.unpack("!H", _read_exactly(sock, 2))
        with self._lock:
            self.requests.append((atyp, host, port))
        failure = b"\x05%c\x00\x01\x00\x00\x00\x00\x00\x00"
        if cmd != 1 or self.reply:
            sock.sendall(failure % (self.reply or 7))
            return
        try:
            target = socket.create_connection((host, port), timeout=SOCKET_TIMEOUT)
        except OSError:
            sock.sendall(failure % 5)
            return
        with target:
            bound_host, bound_port = target.getsockname()[:2]
            sock.sendall(b"\x05\x00\x00\x01" + socket.inet_aton(bound_host)
                         + struct.pack("!H", bound_port))
            relay(sock, target)
