"""--workers: several event-loop threads, each with its own listener on the
same port (SO_REUSEPORT), serving tunnels at the same time; a clean stop
with tunnels open on every worker; the port-in-use check still holding."""

from __future__ import annotations

import json
import os
import re
import ssl
import threading
from pathlib import Path

from harness import Proxy, binary_path, run_tool
from fixtures import FaultTestCase, LimitedProxy

WORKERS = 3


def worker_threads(proxy) -> list[str]:
    tasks = Path(f"/proc/{proxy.process.pid}/task")
    names = ((task / "comm").read_text().strip() for task in tasks.iterdir())
    return sorted(name for name in names if name.startswith("tlspeek-w"))


class WorkerTests(FaultTestCase):
    proxy_env = {"TLSPEEK_DEBUG": "1"}  # logs which worker accepted each client

    @classmethod
    def start_servers(cls):
        cls.flows = cls.tmp / "flows.jsonl"
        cls.proxy_args = ("--workers", str(WORKERS), "--flows", str(cls.flows))

    def test_one_named_thread_per_worker(self):
        self.assertEqual(worker_threads(self.proxy),
                         sorted(f"tlspeek-w{i}" for i in range(1, WORKERS + 1)))

    def test_concurrent_tunnels_are_spread_over_workers_and_all_served(self):
        mark = self.proxy.mark()
        urls = [self.origin.url(f"/bytes/{1000 + i}", "localhost") for i in range(30)]
        results = [None] * len(urls)

        def fetch(i):
            results[i] = self.fetch(urls[i])

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(urls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for i, transfer in enumerate(results):
            self.assertEqual(transfer.status, 200, transfer.describe())
            self.assertEqual(len(transfer.body), 1000 + i, transfer.describe())
        accepted_by = set(re.findall(r"accepted by worker (\d+)", self.proxy.console.text(mark)))
        self.assertGreaterEqual(len(accepted_by), 2,
                                f"30 clients all went to worker(s) {accepted_by}")
        # Exchange ids come from one counter shared by every worker.
        self.proxy.wait_for_line(r"GET https://localhost:\d+/bytes/1029 200", since=mark)
        ids = [json.loads(line)["id"] for line in self.flows.read_text().splitlines()]
        self.assertEqual(len(ids), len(set(ids)), f"duplicate exchange ids: {ids}")

    def test_shutdown_closes_tunnels_open_on_every_worker(self):
        proxy = Proxy("--upstream-ca", self.pki.ca.cert, "--workers", str(WORKERS),
                      dns_port=self.dns.port, extra_env={"TLSPEEK_DEBUG": "1"})
        self.addCleanup(proxy.stop)
        context = ssl.create_default_context(cafile=str(proxy.ca_cert))
        tunnels = []
        for _ in range(12):
            client = self.open_tunnel(f"localhost:{self.origin.port}", proxy=proxy)
            tunnels.append(context.wrap_socket(client.sock, server_hostname="localhost"))
        proxy.wait_for_line(r"CONNECT localhost:\d+ intercepted")
        accepted_by = set(re.findall(r"accepted by worker (\d+)", proxy.console.text()))
        self.assertGreaterEqual(len(accepted_by), 2)
        proxy.stop()  # asserts exit 0 within the harness's limit
        self.assertRegex(proxy.console.text(), r"SIGTERM received: closing 12 connections")
        for tunnel in tunnels:
            try:
                self.assertEqual(tunnel.recv(100), b"")
            except (ssl.SSLError, ConnectionResetError):
                pass  # closed without close_notify: also closed
            tunnel.close()


class WorkersOptionTests(FaultTestCase):
    def test_default_is_one_worker_per_cpu(self):
        # The class's proxy has no --workers.
        self.assertEqual(len(worker_threads(self.proxy)), min(os.cpu_count(), 256))

    def test_open_file_limit_is_raised_to_the_hard_limit_and_said(self):
        proxy = LimitedProxy("256:4096", dns_port=self.dns.port,
                             extra_env={"TLSPEEK_DEBUG": "1"})
        self.addCleanup(proxy.stop)
        proxy.wait_for_line(r"raised the open-file limit from 256 to 4096")
        limits = Path(f"/proc/{proxy.process.pid}/limits").read_text()
        self.assertRegex(limits, r"Max open files\s+4096\s+4096")

    def test_not_a_positive_number_is_a_usage_error(self):
        for value in ("0", "-1", "two", "", "257"):
            result = run_tool([binary_path(), "--workers", value], check=False)
            self.assertEqual(result.returncode, 2, value)
            self.assertIn(b"--workers takes a number", result.stderr, value)

    def test_port_held_by_a_worker_group_is_in_use(self):
        port = self.proxy.port  # the class's proxy: one worker per CPU
        for workers in ("1", "2"):
            result = run_tool([binary_path(), "-l", f"127.0.0.1:{port}", "--ca-dir",
                               self.proxy.ca_dir, "--workers", workers], check=False)
            self.assertEqual(result.returncode, 1, workers)
            self.assertIn(f"cannot listen on 127.0.0.1:{port}: Address already in use",
                          result.stderr.decode(), workers)

    def test_group_does_not_join_a_port_held_by_another_group(self):
        first = Proxy("--workers", "2")
        self.addCleanup(first.stop)
        result = run_tool([binary_path(), "-l", f"127.0.0.1:{first.port}", "--ca-dir",
                           first.ca_dir, "--workers", "2"], check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("Address already in use", result.stderr.decode())
