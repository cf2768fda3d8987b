"""Who may use the proxy when it listens beyond loopback: --allow-remote
ranges (403 for anyone else) and --proxy-auth (407 without credentials).

A remote client needs an address that is not loopback, and tests must not
leave loopback. So these tests make a private network namespace whose only
interface is its own `lo`, give that `lo` two extra addresses (10.99.0.1 for
the proxy and an outsider, 10.99.1.5 for an allowed client), and run the
proxy, an origin and curl inside it: every packet stays in the namespace.
That needs root (CI runs as root); elsewhere the tests are skipped, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from harness import POLL_INTERVAL, Proxy, wait_until

PROXY_ADDRESS = "10.99.0.1"   # where the proxy listens; also an outsider's address
ALLOWED_CLIENT = "10.99.1.5"  # inside --allow-remote 10.99.1.0/24
ORIGIN_PORT = 18080            # a fresh namespace has every port free
ORIGIN_BODY = b"hello from inside the namespace\n"
NAMESPACE_TIMEOUT = 10


class Namespace:
    """A network namespace held open by a sleeping process."""

    def __init__(self):
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "3600"],
                                       stdin=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE)
        self.prefix = ["nsenter", "--target", str(self.holder.pid), "--net"]
        try:
            self._wait_for_own_namespace()
        except BaseException:
            self.close()
            raise
        for address in (PROXY_ADDRESS, ALLOWED_CLIENT):
            self.run("ip", "addr", "add", f"{address}/32", "dev", "lo")
        self.run("ip", "link", "set", "lo", "up")

    def _wait_for_own_namespace(self):
        """Until the holder is in a network namespace that is not ours.
        Entering it earlier would configure the host's own loopback."""
        ours = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + NAMESPACE_TIMEOUT
        while True:
            if self.holder.poll() is not None:
                raise OSError(self.holder.stderr.read().decode().strip()
                              or f"unshare exited with {self.holder.returncode}")
            try:
                if os.readlink(f"/proc/{self.holder.pid}/ns/net") != ours:
                    return
            except OSError:
                pass  # exiting: poll() says so next time round
            if time.monotonic() > deadline:
                raise OSError(f"unshare made no network namespace within "
                              f"{NAMESPACE_TIMEOUT}s")
            time.sleep(POLL_INTERVAL)

    def run(self, *args, check=True, timeout=30):
        return subprocess.run(self.prefix + list(args), capture_output=True,
                              check=check, timeout=timeout)

    def popen(self, *args):
        return subprocess.Popen(self.prefix + list(args), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self):
        if self.holder.poll() is None:
            self.holder.kill()
        self.holder.wait()
        self.holder.stderr.close()


def namespace_or_reason():
    """A Namespace, or why one cannot be made here."""
    for tool in ("unshare", "nsenter", "ip", "curl"):
        if shutil.which(tool) is None:
            return None, f"{tool} is not installed"
    try:
        return Namespace(), None
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"cannot make a network namespace (needs root): {error}"


class RemoteClientTests(unittest.TestCase):
    namespace = None

    @classmethod
    def setUpClass(cls):
        cls.namespace, reason = namespace_or_reason()
        if cls.namespace is None:
            raise unittest.SkipTest(reason)
        cls._docroot = tempfile.TemporaryDirectory(prefix="tlspeek-origin-")
        (Path(cls._docroot.name) / "index.txt").write_bytes(ORIGIN_BODY)
        cls.origin = cls.namespace.popen(
            "python3", "-m", "http.server", "--bind", "127.0.0.1",
            "--directory", cls._docroot.name, str(ORIGIN_PORT))
        cls.origin_url = f"http://127.0.0.1:{ORIGIN_PORT}/index.txt"
        deadline = time.monotonic() + 15
        while cls.namespace.run("curl", "-sf", "-o", "/dev/null", cls.origin_url,
                                check=False).returncode != 0:
            if time.monotonic() > deadline:
                cls.tearDownClass()
                raise RuntimeError("the origin in the namespace did not start")
            time.sleep(POLL_INTERVAL)

    @classmethod
    def tearDownClass(cls):
        if cls.namespace is None:
            return
        cls.origin.kill()
        cls.origin.wait()
        cls._docroot.cleanup()
        cls.namespace.close()

    def start_proxy(self, *args) -> Proxy:
        proxy = Proxy(*args, listen=f"{PROXY_ADDRESS}:0", prefix=self.namespace.prefix)
        self.addCleanup(proxy.stop)
        self.diagnostics = proxy.console.text
        return proxy

    def fetch(self, proxy: Proxy, client_address: str, *curl_args):
        """curl from client_address through the proxy: (status, body)."""
        result = self.namespace.run(
            "curl", "-sS", "--max-time", "20", "--interface", client_address,
            "--proxy", proxy.url, "-o", "-", "-w", "\n%{http_code}",
            *curl_args, self.origin_url, check=False)
        body, _, status = result.stdout.rpartition(b"\n")
        return int(status or 0), body

    def test_client_outside_the_allowed_ranges_gets_403_with_the_reason(self):
        """The 403 is recorded (#12 defect 16) before any request is read:
        method and URL empty, request_unparsed; its record is its one line."""
        with tempfile.TemporaryDirectory() as tmp:
            flows = Path(tmp) / "flows.jsonl"
            proxy = self.start_proxy("--allow-remote", "10.99.1.0/24", "--flows", flows)
            status, body = self.fetch(proxy, PROXY_ADDRESS)
            self.assertEqual(status, 403)
            self.assertIn(b"not allowed", body)
            proxy.wait_for_line(rf"{PROXY_ADDRESS}:\d+ - - 403 .*answered by tlspeek"
                                r".* not allowed")
            (record,) = wait_until(
                lambda: [json.loads(line) for line in flows.read_text().splitlines()]
                if flows.exists() and flows.read_text() else None, "the 403's record")
            self.assertEqual((record["status"], record["method"], record["url"]),
                             (403, "", ""), record)
            self.assertTrue(record["answered_by_proxy"], record)
            self.assertTrue(record["request_unparsed"], record)
            self.assertIn("--allow-remote", record["error"])
            self.assertEqual(len([line for line in proxy.console.lines()
                                  if " 403 " in line]), 1, proxy.console.text())

    def test_client_inside_an_allowed_range_is_served(self):
        proxy = self.start_proxy("--allow-remote", "10.99.1.0/24")
        self.assertEqual(self.fetch(proxy, ALLOWED_CLIENT), (200, ORIGIN_BODY))

    def test_loopback_client_is_always_served(self):
        proxy = self.start_proxy("--allow-remote", "10.99.1.0/24")
        self.assertEqual(self.fetch(proxy, "127.0.0.1"), (200, ORIGIN_BODY))

    def test_outsider_is_refused_on_connect_too(self):
        proxy = self.start_proxy("--allow-remote", "10.99.1.0/24")
        result = self.namespace.run(
            "curl", "-sS", "--max-time", "20", "--interface", PROXY_ADDRESS,
            "--proxytunnel", "--proxy", proxy.url, "-o", "/dev/null",
            "-w", "%{http_connect}", self.origin_url, check=False)
        self.assertEqual(result.stdout, b"403")

    def test_remote_client_without_credentials_gets_407(self):
        proxy = self.start_proxy("--proxy-auth", "alice:s3cret")
        self.assertEqual(self.fetch(proxy, PROXY_ADDRESS)[0], 407)

    def test_remote_client_with_credentials_is_served(self):
        proxy = self.start_proxy("--proxy-auth", "alice:s3cret")
        self.assertEqual(self.fetch(proxy, PROXY_ADDRESS, "--proxy-user", "alice:s3cret"),
                         (200, ORIGIN_BODY))


if __name__ == "__main__":
    unittest.main()
