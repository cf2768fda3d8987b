"""Integration tests of `tlspeek ca SUBCOMMAND`: the CA's lifecycle.

The real binary with a temporary --ca-dir and HOME, real `openssl` to check
what it prints and writes, real `certutil` (libnss3-tools) on temporary NSS
databases, and temporary directories for the system store: no test touches
the user's own trust stores or /usr/local/share/ca-certificates. The last
class starts the proxy on such a CA and checks, with strict verifiers, a
leaf it mints.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

from harness import (
    Origin, Proxy, SUBPROCESS_TIMEOUT, binary_path, clean_env, make_pki, pem_certificates,
    run_tool, open_tunnel,
)
from fixtures import OriginTestCase

CERTUTIL_MISSING = ("certutil is not installed (apt-get install libnss3-tools); "
                    "scripts/test installs it")
TEN_YEARS_DAYS = 3650


def openssl_value(option, cert_path, *extra) -> str:
    """The value after '=' of `openssl x509 -noout -<option>`, e.g. -fingerprint."""
    out = run_tool(["openssl", "x509", "-noout", f"-{option}", *extra, "-in", cert_path])
    return out.stdout.decode().strip().split("=", 1)[1]


def certutil(*args, check=True):
    if shutil.which("certutil") is None:
        raise AssertionError(CERTUTIL_MISSING)
    return run_tool(["certutil", *args], check=check)


def nss_nicknames(db: Path) -> str:
    """`certutil -L` of an NSS database: one line per certificate nickname."""
    return certutil("-L", "-d", f"sql:{db}").stdout.decode()


class CaCliTestCase(unittest.TestCase):
    """Each test gets a temporary directory holding the CA (ca/), a HOME
    (home/, so that default NSS locations are temporary too) and whatever
    else it makes."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="tlspeek-ca-cli-")
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)
        self.ca_dir = self.tmp / "ca"
        self.home = self.tmp / "home"
        self.home.mkdir()
        self.ca_pem = self.ca_dir / "ca.pem"

    def env(self, **overrides) -> dict[str, str]:
        env = clean_env()
        env.pop("XDG_CONFIG_HOME", None)
        env["HOME"] = str(self.home)
        env.update(overrides)
        return env

    def run_ca(self, *args, ca_dir=True, env=None) -> subprocess.CompletedProcess:
        """`tlspeek ca ARGS [--ca-dir <tmp>/ca]`, output as bytes."""
        command = [str(binary_path()), "ca", *map(str, args)]
        if ca_dir:
            command += ["--ca-dir", str(self.ca_dir)]
        return subprocess.run(command, capture_output=True, timeout=SUBPROCESS_TIMEOUT,
                              env=env or self.env(), stdin=subprocess.DEVNULL)

    def ok(self, *args, **kwargs) -> str:
        """Run; assert exit 0; return stdout as text."""
        proc = self.run_ca(*args, **kwargs)
        self.assertEqual(proc.returncode, 0, self.describe(proc))
        return proc.stdout.decode()

    @staticmethod
    def describe(proc) -> str:
        return (f"exit {proc.returncode}; stdout:\n{proc.stdout.decode(errors='replace')}"
                f"stderr:\n{proc.stderr.decode(errors='replace')}")

    def show(self) -> dict[str, str]:
        lines = self.ok("show").splitlines()
        return dict(line.split(": ", 1) for line in lines)

    def common_name(self) -> str:
        return re.search(r"CN\s*=\s*([^,/]+)", openssl_value("subject", self.ca_pem)).group(1)


class PathShowExportTests(CaCliTestCase):

    def test_path_creates_private_dir_and_key(self):
        self.assertEqual(self.ok("path"), f"{self.ca_pem}\n")
        self.assertEqual(stat.S_IMODE(self.ca_dir.stat().st_mode), 0o700)
        self.assertEqual(stat.S_IMODE((self.ca_dir / "ca.key").stat().st_mode), 0o600)
        first = self.ca_pem.read_bytes()
        self.assertEqual(self.ok("path"), f"{self.ca_pem}\n")
        self.assertEqual(self.ca_pem.read_bytes(), first, "a second run replaced the CA")

    def test_default_dir_is_xdg_then_home(self):
        xdg = self.tmp / "xdg"
        out = self.ok("path", ca_dir=False, env=self.env(XDG_CONFIG_HOME=str(xdg)))
        self.assertEqual(out, f"{xdg}/tlspeek/ca.pem\n")
        out = self.ok("path", ca_dir=False)
        self.assertEqual(out, f"{self.home}/.config/tlspeek/ca.pem\n")

    def test_show_matches_openssl(self):
        shown = self.show()
        self.assertEqual(list(shown), ["subject", "sha256", "not before", "not after"])
        self.assertEqual(shown["sha256"],
                         openssl_value("fingerprint", self.ca_pem, "-sha256"))
        self.assertRegex(shown["sha256"], r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
        self.assertEqual(shown["subject"], openssl_value("subject", self.ca_pem))
        self.assertIn("tlspeek CA", shown["subject"])
        self.assertEqual(shown["not before"], openssl_value("startdate", self.ca_pem))
        self.assertEqual(shown["not after"], openssl_value("enddate", self.ca_pem))

    def test_ca_certificate_profile(self):
        self.ok("path")
        text = run_tool(["openssl", "x509", "-noout", "-text", "-in",
                         self.ca_pem]).stdout.decode()
        self.assertRegex(text, r"Basic Constraints: critical\s+CA:TRUE")
        self.assertRegex(text, r"Key Usage: critical\s+Certificate Sign, CRL Sign")
        self.assertIn("Subject Key Identifier", text)
        self.assertIn("id-ecPublicKey", text)
        self.assertIn("prime256v1", text)
        start = ssl.cert_time_to_seconds(openssl_value("startdate", self.ca_pem))
        end = ssl.cert_time_to_seconds(openssl_value("enddate", self.ca_pem))
        self.assertGreaterEqual((end - start) / 86400, TEN_YEARS_DAYS)

    def test_export_der_to_stdout_and_file(self):
        self.ok("path")
        expected = run_tool(["openssl", "x509", "-in", self.ca_pem,
                             "-outform", "DER"]).stdout
        self.assertEqual(self.run_ca("export", "--der").stdout, expected)
        target = self.tmp / "out" / "ca.der"
        target.parent.mkdir()
        self.assertEqual(self.ok("export", "--der", target), "")
        self.assertEqual(target.read_bytes(), expected)

    def test_export_pem_to_stdout_and_file(self):
        self.ok("path")
        expected = self.ca_pem.read_bytes()
        self.assertEqual(self.run_ca("export", "--pem").stdout, expected)
        target = self.tmp / "exported.pem"
        self.ok("--pem", "export", target)  # options may precede the subcommand
        self.assertEqual(target.read_bytes(), expected)


class UsageTests(CaCliTestCase):

    def assertUsage(self, *args):
        proc = self.run_ca(*args)
        self.assertEqual(proc.returncode, 2, self.describe(proc))
        self.assertIn(b"usage: tlspeek ca", proc.stderr)
        self.assertEqual(proc.stdout, b"")

    def test_bad_subcommands_and_options_exit_2(self):
        for args in [(), ("frobnicate",), ("path", "--bogus"), ("path", "extra"),
                     ("export",), ("export", "--der", "--pem"), ("path", "--der"),
                     ("uninstall", "--ca-key-type", "rsa2048"),
                     ("path", "--ca-key-type", "dsa1024"),
                     ("install", "--no-system", "--system-store", self.tmp),
                     ("install", "--nssdb")]:
            with self.subTest(args=args):
                self.assertUsage(*args)
        self.assertFalse(self.ca_dir.exists(), "a usage error created the CA")

    def test_help_lists_subcommands(self):
        proc = self.run_ca("--help", ca_dir=False)
        self.assertEqual(proc.returncode, 0, self.describe(proc))
        for name in ("path", "show", "export", "install", "uninstall", "regenerate"):
            self.assertRegex(proc.stdout.decode(), rf"(?m)^  {name}\b")


class RegenerateAndKeyTypeTests(CaCliTestCase):

    def test_regenerate_changes_fingerprint_and_keeps_backup(self):
        old = self.show()["sha256"]
        old_pem = self.ca_pem.read_bytes()
        out = self.ok("regenerate")
        new = openssl_value("fingerprint", self.ca_pem, "-sha256")
        self.assertNotEqual(new, old)
        self.assertIn(str(self.ca_pem), out)
        self.assertIn(f"sha256: {new}", out)
        backups = sorted(p.name for p in self.ca_dir.iterdir()
                         if p.name not in ("ca.pem", "ca.key"))
        self.assertEqual(len(backups), 2, backups)
        pem_backup, key_backup = (self.ca_dir / b for b in sorted(
            backups, key=lambda name: not name.endswith(".pem")))
        self.assertRegex(pem_backup.name, r"^ca-\d{8}-\d{6}(-\d+)?\.pem$")
        self.assertEqual(key_backup.name, pem_backup.name[:-4] + ".key")
        self.assertEqual(pem_backup.read_bytes(), old_pem)
        self.assertEqual(stat.S_IMODE(key_backup.stat().st_mode), 0o600)
        self.assertEqual(stat.S_IMODE((self.ca_dir / "ca.key").stat().st_mode), 0o600)
        # The same second again: a second backup, not an overwritten one.
        self.ok("regenerate")
        self.assertEqual(len(list(self.ca_dir.iterdir())), 6)

    def key_text(self) -> str:
        return run_tool(["openssl", "x509", "-noout", "-text", "-in",
                         self.ca_pem]).stdout.decode()

    def test_rsa2048_key_type(self):
        self.ok("path", "--ca-key-type", "rsa2048")
        text = self.key_text()
        self.assertIn("rsaEncryption", text)
        self.assertIn("Public-Key: (2048 bit)", text)
        self.assertRegex(text, r"Basic Constraints: critical\s+CA:TRUE")
        # An existing CA is loaded whatever --ca-key-type says.
        self.ok("show", "--ca-key-type", "ec-p256")
        self.assertIn("rsaEncryption", self.key_text())

    def test_regenerate_with_other_key_type(self):
        self.ok("path")
        self.assertIn("id-ecPublicKey", self.key_text())
        self.ok("regenerate", "--ca-key-type", "rsa2048")
        self.assertIn("rsaEncryption", self.key_text())


class InstallTests(CaCliTestCase):
    """install/uninstall on temporary NSS databases and system stores."""

    def setUp(self):
        super().setUp()
        if shutil.which("certutil") is None:
            self.fail(CERTUTIL_MISSING)
        # A stand-in update-ca-certificates first in PATH that only leaves a
        # mark, to prove it is not run for a --system-store directory.
        self.fake_bin = self.tmp / "bin"
        self.fake_bin.mkdir()
        self.refresh_mark = self.tmp / "update-ca-certificates-ran"
        fake = self.fake_bin / "update-ca-certificates"
        fake.write_text(f"#!/bin/sh\ntouch '{self.refresh_mark}'\n")
        fake.chmod(0o755)
        self.path_env = self.env(PATH=f"{self.fake_bin}:{os.environ.get('PATH', '')}")

    def test_install_uninstall_nssdb(self):
        db = self.tmp / "nssdb"
        out = self.ok("install", "--nssdb", db, "--no-system")
        self.assertIn(f"added to NSS database {db}\n", out)
        cn = self.common_name()
        self.assertIn(cn, nss_nicknames(db))
        self.assertIn("C,,", [line.split()[-1] for line in nss_nicknames(db).splitlines()
                              if cn in line])
        out = self.ok("uninstall", "--nssdb", db, "--no-system")
        self.assertIn(f"removed from NSS database {db}\n", out)
        self.assertNotIn(cn, nss_nicknames(db))
        # Again: nothing left to remove is not an error.
        self.assertIn(f"not in NSS database {db}", self.ok("uninstall", "--nssdb", db,
                                                           "--no-system"))

    def test_uninstall_keeps_other_certificates(self):
        db = self.tmp / "nssdb"
        db.mkdir()
        certutil("-N", "--empty-password", "-d", f"sql:{db}")
        pki = make_pki(self.tmp / "pki")
        certutil("-A", "-n", "someone else", "-t", "C,,", "-i", pki.ca.cert,
                 "-d", f"sql:{db}")
        self.ok("install", "--nssdb", db, "--no-system")
        self.ok("uninstall", "--nssdb", db, "--no-system")
        self.assertIn("someone else", nss_nicknames(db))

    def test_default_nss_locations(self):
        profile = self.home / ".mozilla" / "firefox" / "abcd1234.default-release"
        profile.mkdir(parents=True)
        certutil("-N", "--empty-password", "-d", f"sql:{profile}")
        (self.home / ".mozilla" / "firefox" / "no-db-here").mkdir()
        chromium = self.home / ".pki" / "nssdb"
        out = self.ok("install", "--no-system")
        self.assertIn(f"added to NSS database {chromium}\n", out)
        self.assertIn(f"added to NSS database {profile}\n", out)
        self.assertNotIn("no-db-here", out)
        cn = self.common_name()
        for db in (chromium, profile):
            self.assertIn(cn, nss_nicknames(db))
        out = self.ok("uninstall", "--no-system")
        for db in (chromium, profile):
            self.assertIn(f"removed from NSS database {db}\n", out)
            self.assertNotIn(cn, nss_nicknames(db))

    def test_system_store_directory(self):
        store = self.tmp / "store"
        db = self.tmp / "nssdb"
        out = self.ok("install", "--system-store", store, "--nssdb", db, env=self.path_env)
        files = list(store.glob("tlspeek-*.crt"))
        self.assertEqual(len(files), 1, out)
        self.assertIn(f"installed {files[0]}\n", out)
        self.assertEqual(ssl.PEM_cert_to_DER_cert(files[0].read_text()),
                         ssl.PEM_cert_to_DER_cert(self.ca_pem.read_text()))
        self.assertEqual(stat.S_IMODE(files[0].stat().st_mode), 0o644)
        out = self.ok("uninstall", "--system-store", store, "--nssdb", db,
                      env=self.path_env)
        self.assertIn(f"removed {files[0]}\n", out)
        self.assertFalse(files[0].exists())
        self.assertFalse(self.refresh_mark.exists(),
                         "update-ca-certificates ran for a non-default directory")

    def test_install_without_certutil_names_the_package(self):
        empty_bin = self.tmp / "empty-bin"
        empty_bin.mkdir()
        proc = self.run_ca("install", "--nssdb", self.tmp / "nssdb", "--no-system",
                           env=self.env(PATH=str(empty_bin)))
        self.assertNotEqual(proc.returncode, 0, self.describe(proc))
        self.assertIn(b"certutil not found", proc.stderr)
        self.assertIn(b"apt-get install libnss3-tools", proc.stderr)
        self.assertFalse((self.tmp / "nssdb").exists())

    def test_uninstall_without_a_ca_fails_and_creates_none(self):
        proc = self.run_ca("uninstall", "--nssdb", self.tmp / "nssdb", "--no-system")
        self.assertEqual(proc.returncode, 1, self.describe(proc))
        self.assertIn(b"nothing to uninstall", proc.stderr)
        self.assertFalse(self.ca_dir.exists())


class MintedLeafTests(OriginTestCase):
    """A leaf minted by the proxy from a CA made by `tlspeek ca`, checked by
    the two strict verifiers the issue names, for each CA key type."""

    def start_proxy(self, key_type: str) -> Proxy:
        ca_dir = self.tmp / key_type
        proc = subprocess.run([str(binary_path()), "ca", "path", "--ca-dir", str(ca_dir),
                               "--ca-key-type", key_type], capture_output=True,
                              timeout=SUBPROCESS_TIMEOUT, env=clean_env())
        self.assertEqual(proc.returncode, 0, proc.stderr.decode(errors="replace"))
        proxy = self.proxy_in(ca_dir)
        self.assertEqual(proxy.ca_cert, ca_dir / "ca.pem")
        return proxy

    def chain_via_s_client(self, proxy: Proxy) -> list[str]:
        proc = run_tool(
            ["openssl", "s_client", "-proxy", f"{proxy.host}:{proxy.port}",
             "-connect", f"localhost:{self.origin.port}", "-servername", "localhost",
             "-showcerts", "-CAfile", proxy.ca_cert], check=False)
        certificates = pem_certificates(proc.stdout.decode(errors="replace"))
        self.assertTrue(certificates, f"s_client got no certificate:\n"
                        f"{proc.stderr.decode(errors='replace')}")
        return certificates

    def strict_python_get(self, proxy: Proxy) -> bytes:
        """GET / through a CONNECT tunnel with Python's strict verification."""
        ctx = ssl.create_default_context(cafile=str(proxy.ca_cert))
        ctx.verify_flags |= ssl.VERIFY_X509_STRICT
        with open_tunnel(proxy.address, f"localhost:{self.origin.port}") as client:
            with ctx.wrap_socket(client.sock, server_hostname="localhost") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                response = b""
                while chunk := tls.recv(65536):
                    response += chunk
        return response

    def check_key_type(self, key_type: str, chain_length: int):
        proxy = self.start_proxy(key_type)
        leaf = self.tmp / f"leaf-{key_type}.pem"
        certificates = self.chain_via_s_client(proxy)
        # Under an RSA CA, the session intermediate that signed the leaf.
        self.assertEqual(len(certificates), chain_length)
        leaf.write_text(certificates[0])
        untrusted = []
        if chain_length > 1:
            chain = self.tmp / f"chain-{key_type}.pem"
            chain.write_text("".join(certificates[1:]))
            untrusted = ["-untrusted", chain]
        verify = run_tool(["openssl", "verify", "-x509_strict", "-purpose", "sslserver",
                           "-CAfile", proxy.ca_cert, *untrusted, leaf], check=False)
        self.assertEqual(verify.stdout.decode().strip(), f"{leaf}: OK",
                         verify.stderr.decode(errors="replace"))
        response = self.strict_python_get(proxy)
        self.assertTrue(response.startswith(b"HTTP/1.1 200"), response[:300])
        self.assertTrue(response.endswith(Origin.HELLO), response[-300:])

    def test_leaf_from_ec_ca_passes_strict_verifiers(self):
        self.check_key_type("ec-p256", 1)

    def test_leaf_from_rsa_ca_passes_strict_verifiers(self):
        self.check_key_type("rsa2048", 2)


if __name__ == "__main__":
    unittest.main()
