"""--upstream-proxy: every upstream connection through a parent proxy.

HTTP parents are tinyproxy (with and without BasicAuth) and small fixed
answerers (403, 407, silence); SOCKS5 parents are dante (no auth) and a
Python SOCKS5 server that asks for a user name and password."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import unittest

from fixtures import ProxyTestCase
from harness import (Origin, Proxy, binary_path, clean_env, connect_request, free_port,
                     raw_exchange, wait_until)
from h2peers import Nghttpd
from parents import Dante, FixedAnswerParent, SilentParent, Socks5Parent, TinyProxy

PASSWORD = "s3cr3t%50w-x"        # as written in the URL (%50 is 'P')
PASSWORD_DECODED = "s3cr3tPw-x"
CLOSED_PORT = 1  # nothing listens on tcpmux here; connecting is refused


def closed_port_authority() -> str:
    return f"localhost:{CLOSED_PORT}"


class ParentTestCase(ProxyTestCase):
    """Helpers: the 502 a CONNECT gets, and what a tinyproxy parent logged."""

    def assertParentConnected(self, parent, target):
        wait_until(lambda: target in parent.connects(),
                   f"tinyproxy logging CONNECT {target}")

    def connect_answer(self, authority, proxy=None):
        proxy = proxy or self.proxy
        return raw_exchange(proxy.address, connect_request(authority))

    def assertRefusal(self, answer, *quotes, since=0, proxy=None):
        """A 502 whose body and console line hold every quote."""
        proxy = proxy or self.proxy
        self.assertEqual(answer.status, 502, str(answer))
        body = answer.body.decode(errors="replace")
        for quote in quotes:
            self.assertIn(quote, body, str(answer))
            proxy.wait_for_line(re.escape(quote), since=since)


class HttpParentTests(ParentTestCase):
    """tinyproxy without auth, for https and plain http targets alike."""

    @classmethod
    def start_servers(cls):
        cls.parent = cls.enterClassContext(TinyProxy(cls.tmp / "tinyproxy"))
        cls.plain = cls.enterClassContext(Origin())
        cls.wrongname = cls.enterClassContext(Origin(cls.pki.wrongname))
        cls.proxy_args = ("--upstream-proxy", f"http://{cls.parent.authority}")

    def test_https_is_intercepted_through_the_parent(self):
        mark = self.proxy.mark()
        target = f"localhost:{self.origin.port}"
        self.assertFetched(self.fetch(self.origin.url("/", "localhost")))
        self.assertIntercepted(target, since=mark)
        self.assertParentConnected(self.parent, target)

    def test_plain_http_goes_through_a_connect_tunnel(self):
        target = f"localhost:{self.plain.port}"
        self.assertFetched(self.fetch(self.plain.url("/", "localhost")))
        self.assertParentConnected(self.parent, target)

    def test_upstream_verification_still_applies(self):
        # The parent's tunnel changes nothing about whom we trust: this
        # origin's certificate has no SAN for localhost.
        target = f"localhost:{self.wrongname.port}"
        transfer = self.fetch(f"https://{target}/")
        self.assertEqual(transfer.status, 502, transfer.describe())
        self.assertIn(b"failed verification", transfer.body, transfer.describe())
        self.assertParentConnected(self.parent, target)

    def test_parent_refusal_is_a_502_naming_it(self):
        mark = self.proxy.mark()
        answer = self.connect_answer(closed_port_authority())
        # tinyproxy's own words for a target it cannot reach.
        self.assertRefusal(answer, f"HTTP parent proxy {self.parent.authority}",
                           f"refused CONNECT {closed_port_authority()}: 500", since=mark)


class HttpParentAuthTests(ParentTestCase):
    """tinyproxy with BasicAuth: credentials from the URL are sent (and
    percent-decoded), and never written anywhere."""

    @classmethod
    def start_servers(cls):
        cls.parent = cls.enterClassContext(
            TinyProxy(cls.tmp / "tinyproxy", auth=("alice", PASSWORD_DECODED)))
        cls.flows = cls.tmp / "flows.jsonl"
        cls.har = cls.tmp / "flows.har"
        cls.proxy_args = ("--upstream-proxy",
                          f"http://alice:{PASSWORD}@{cls.parent.authority}",
                          "--flows", cls.flows, "--har", cls.har)

    def test_credentials_are_accepted_and_never_shown(self):
        mark = self.proxy.mark()
        self.assertFetched(self.fetch(self.origin.url("/", "localhost")))
        self.assertIntercepted(f"localhost:{self.origin.port}", since=mark)
        self.proxy.stop()  # writes the HAR; the class teardown accepts a stopped proxy
        basic = base64.b64encode(f"alice:{PASSWORD_DECODED}".encode()).decode()
        for where, text in (("console", self.proxy.console.text()),
                            ("--flows", self.flows.read_text()),
                            ("--har", self.har.read_text())):
            for secret in (PASSWORD, PASSWORD_DECODED, basic):
                self.assertNotIn(secret, text, f"{where} shows a credential")
        records = [json.loads(line) for line in self.flows.read_text().splitlines()]
        self.assertEqual(records[-1]["upstream"], self.parent.authority)

    def test_without_credentials_the_407_is_quoted(self):
        proxy = self.start_proxy("--upstream-proxy", f"http://{self.parent.authority}")
        answer = self.connect_answer(f"localhost:{self.origin.port}", proxy=proxy)
        self.assertRefusal(answer, f"HTTP parent proxy {self.parent.authority}",
                           "407 Proxy Authentication Required", proxy=proxy)

    def test_wrong_credentials_are_refused(self):
        proxy = self.start_proxy("--upstream-proxy",
                                 f"http://alice:wrong@{self.parent.authority}")
        answer = self.connect_answer(f"localhost:{self.origin.port}", proxy=proxy)
        self.assertRefusal(answer, "did not accept the user name and password",
                           proxy=proxy)
        proxy.sync_console()  # every line of the refusal is in
        self.assertNotIn("wrong", proxy.console.text())


class RefusingParentTests(ParentTestCase):
    """Parents that answer 403 and 407 whatever is asked, one that never
    answers, and where --upstream-proxy-except sends hosts directly."""

    @classmethod
    def start_servers(cls):
        cls.forbidding = cls.enterClassContext(FixedAnswerParent(
            b"HTTP/1.1 403 Forbidden by policy\r\nContent-Length: 0\r\n\r\n"))
        cls.wanting = cls.enterClassContext(FixedAnswerParent(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n"
            b"Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n"))
        cls.silent = cls.enterClassContext(SilentParent())
        cls.flows = cls.tmp / "flows.jsonl"
        cls.proxy_args = ("--upstream-proxy", f"http://{cls.forbidding.authority}",
                          "--upstream-proxy-except", r"^localhost$", "--flows", cls.flows)

    def test_403_is_quoted_in_a_502(self):
        mark = self.proxy.mark()
        target = f"127.0.0.1:{self.origin.port}"
        answer = self.connect_answer(target)
        self.assertRefusal(answer, f"HTTP parent proxy {self.forbidding.authority}",
                           "403 Forbidden by policy", since=mark)
        # The --flows record says the same.
        def record():
            lines = self.flows.read_text().splitlines() if self.flows.exists() else []
            return [r for r in map(json.loads, lines)
                    if r["method"] == "CONNECT" and r["url"] == target]
        (r,) = wait_until(record, f"a --flows record for CONNECT {target}")
        self.assertEqual(r["status"], 502, r)
        self.assertTrue(r["answered_by_proxy"], r)
        self.assertIn(f"HTTP parent proxy {self.forbidding.authority}", r["error"])
        self.assertIn("403 Forbidden by policy", r["error"])
        self.assertTrue(any(head.startswith(
            f"CONNECT 127.0.0.1:{self.origin.port} HTTP/1.1\r\n".encode())
            for head in self.forbidding.heads), self.forbidding.heads)

    def test_plain_http_refusal_too(self):
        transfer = self.fetch(f"http://127.0.0.1:{self.origin.port}/")
        self.assertEqual(transfer.status, 502, transfer.describe())
        self.assertIn(b"403 Forbidden by policy", transfer.body, transfer.describe())

    def test_except_pattern_goes_direct(self):
        before = len(self.forbidding.heads)
        self.assertFetched(self.fetch(self.origin.url("/", "localhost")))
        self.assertEqual(len(self.forbidding.heads), before)

    def test_407_is_quoted_in_a_502(self):
        proxy = self.start_proxy("--upstream-proxy", f"http://{self.wanting.authority}")
        answer = self.connect_answer(f"localhost:{self.origin.port}", proxy=proxy)
        self.assertRefusal(answer, f"HTTP parent proxy {self.wanting.authority}",
                           "407 Proxy Authentication Required",
                           "wants a user name and password", proxy=proxy)

    def test_silent_parent_times_out_with_a_502(self):
        proxy = self.start_proxy("--upstream-proxy", f"http://{self.silent.authority}",
                                 "--connect-timeout", "1")
        answer = self.connect_answer(f"localhost:{self.origin.port}", proxy=proxy)
        self.assertRefusal(answer, f"HTTP parent proxy {self.silent.authority}",
                           "did not open a tunnel", proxy=proxy)

    def test_unreachable_parent_is_a_502_naming_it(self):
        port = free_port()
        proxy = self.start_proxy("--upstream-proxy", f"http://127.0.0.1:{port}")
        answer = self.connect_answer(f"localhost:{self.origin.port}", proxy=proxy)
        self.assertRefusal(answer, f"cannot reach the HTTP parent proxy 127.0.0.1:{port}",
                           proxy=proxy)

    def test_parent_at_our_own_address_is_a_loop(self):
        port = free_port()
        proxy = self.start_proxy("--upstream-proxy", f"http://localhost:{port}",
                                 listen=f"127.0.0.1:{port}")
        answer = self.connect_answer(f"127.0.0.1:{self.origin.port}", proxy=proxy)
        self.assertEqual(answer.status, 508, str(answer))
        self.assertIn(b"parent proxy", answer.body)

    @classmethod
    def start_proxy(cls, *args, listen=None):
        if listen is None:
            return super().start_proxy(*args)
        proxy = cls.enterClassContext(Proxy("--upstream-ca", cls.pki.ca.cert, *args,
                                            dns_port=cls.dns.port, listen=listen))
        cls.proxies.append(proxy)
        return proxy


class FromEnvironmentTests(ParentTestCase):
    """HTTPS_PROXY is read only with --upstream-proxy-from-env."""

    @classmethod
    def start_servers(cls):
        cls.forbidding = cls.enterClassContext(FixedAnswerParent(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"))
        cls.proxy_env = {"HTTPS_PROXY": f"http://{cls.forbidding.authority}"}

    def test_environment_ignored_without_the_flag(self):
        self.assertFetched(self.fetch(self.origin.url("/", "localhost")))
        self.assertEqual(self.forbidding.heads, [])

    def test_flag_without_a_variable_says_it_connects_directly(self):
        proxy = Proxy("--upstream-proxy-from-env", dns_port=self.dns.port)
        with proxy:
            proxy.wait_for_line(r"none of HTTPS_PROXY, https_proxy, ALL_PROXY, "
                                r"all_proxy is set; connecting to servers directly")

    def test_environment_read_with_the_flag(self):
        proxy = self.start_proxy("--upstream-proxy-from-env")
        proxy.wait_for_line(rf"HTTP parent proxy {self.forbidding.authority} "
                            r"\(HTTPS_PROXY\)")
        answer = self.connect_answer(f"localhost:{self.origin.port}", proxy=proxy)
        self.assertRefusal(answer, "403 Forbidden", proxy=proxy)


class Socks5Tests(ParentTestCase):
    """dante without auth; a SOCKS5 server with RFC 1929 auth."""

    @classmethod
    def start_servers(cls):
        cls.dante = cls.enterClassContext(Dante(cls.tmp / "dante"))
        cls.authed = cls.enterClassContext(Socks5Parent(credentials=(b"bob", b"hunter2")))
        cls.plain = cls.enterClassContext(Origin())
        cls.proxy_args = ("--upstream-proxy", f"socks5://{cls.dante.authority}")

    def test_https_through_dante(self):
        mark = self.proxy.mark()
        self.assertFetched(self.fetch(self.origin.url("/", "localhost")))
        self.assertIntercepted(f"localhost:{self.origin.port}", since=mark)

    def test_plain_http_through_dante(self):
        self.assertFetched(self.fetch(self.plain.url("/", "localhost")))

    def test_socks_error_code_is_quoted(self):
        mark = self.proxy.mark()
        answer = self.connect_answer(closed_port_authority())
        self.assertRefusal(answer, f"SOCKS5 parent proxy {self.dante.authority}",
                           "SOCKS reply", since=mark)

    def test_user_and_password_by_name(self):
        proxy = self.start_proxy("--upstream-proxy",
                                 f"socks5://bob:hunter2@{self.authed.authority}")
        mark = proxy.mark()
        self.assertFetched(self.fetch(self.origin.url("/", "localhost"), proxy=proxy))
        self.assertIn((b"bob", b"hunter2"), self.authed.auths)
        # By name (address type 3): the parent resolves it.
        self.assertIn((3, "localhost", self.origin.port), self.authed.requests)
        proxy.sync_console()  # the exchange's lines are in
        self.assertNotIn("hunter2", proxy.console.text(mark))

    def test_missing_and_wrong_credentials(self):
        for url, quote in (
                (f"socks5://{self.authed.authority}", "wants a user name and password"),
                (f"socks5://bob:nope@{self.authed.authority}",
                 "did not accept the user name and password")):
            with self.subTest(url=url):
                proxy = self.start_proxy("--upstream-proxy", url)
                answer = self.connect_answer(f"localhost:{self.origin.port}", proxy=proxy)
                self.assertRefusal(answer, f"SOCKS5 parent proxy {self.authed.authority}",
                                   quote, proxy=proxy)


class Http2ThroughParentTests(ParentTestCase):
    """HTTP/2 on both legs over the parent's tunnel (tinyproxy, dante)."""

    @classmethod
    def start_servers(cls):
        docroot = cls.tmp / "htdocs"
        docroot.mkdir()
        (docroot / "index.html").write_text("h2 through a parent\n")
        cls.h2origin = cls.enterClassContext(
            Nghttpd(cls.pki.good, docroot, cls.tmp / "nghttpd.log"))
        cls.parent = cls.enterClassContext(TinyProxy(cls.tmp / "tinyproxy"))
        cls.dante = cls.enterClassContext(Dante(cls.tmp / "dante"))
        cls.flows = cls.tmp / "flows.jsonl"
        cls.proxy_args = ("--upstream-proxy", f"http://{cls.parent.authority}",
                          "--flows", cls.flows)

    def check_h2(self, proxy, flows, parent_authority):
        url = f"https://localhost:{self.h2origin.port}/index.html"
        transfer = self.fetch(url, "--http2", proxy=proxy)
        self.assertEqual(transfer.status, 200, transfer.describe())
        self.assertEqual(transfer.http_version, "2", transfer.describe())
        self.assertEqual(transfer.body, b"h2 through a parent\n")

        def record():
            lines = flows.read_text().splitlines() if flows.exists() else []
            return [r for r in map(json.loads, lines) if r["url"] == url]
        (r,) = wait_until(record, f"a --flows record for {url}")
        self.assertEqual(r["http_version"], "HTTP/2")
        self.assertEqual(r["tls"]["upstream"]["alpn"], "h2")
        self.assertEqual(r["upstream"], parent_authority)

    def test_http2_through_an_http_parent(self):
        self.check_h2(self.proxy, self.flows, self.parent.authority)
        self.assertParentConnected(self.parent, f"localhost:{self.h2origin.port}")

    def test_http2_through_a_socks5_parent(self):
        flows = self.tmp / "socks-flows.jsonl"
        proxy = self.start_proxy("--upstream-proxy", f"socks5://{self.dante.authority}",
                                 "--flows", flows)
        self.check_h2(proxy, flows, self.dante.authority)


class ParentOptionTests(unittest.TestCase):
    """Bad parent URLs: exit 2 with a reason, and the password never echoed."""

    def run_proxy(self, *args, env=None):
        return subprocess.run([str(binary_path()), "-l", "127.0.0.1:0", *args],
                              capture_output=True, timeout=10,
                              env={**clean_env(), **(env or {})})

    def test_bad_urls_exit_2_without_echoing_them(self):
        for url, reason in (("ftp://u:secretpw@h:1", "http:// or socks5://"),
                            ("http://u:secretpw@h", "host:port"),
                            ("http://u:secretpw@h:1/path", "no path")):
            with self.subTest(url=url):
                proc = self.run_proxy("--upstream-proxy", url)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(reason, proc.stderr.decode())
                self.assertNotIn(b"secretpw", proc.stderr)

    def test_bad_environment_url_names_the_variable(self):
        proc = self.run_proxy("--upstream-proxy-from-env",
                              env={"ALL_PROXY": "gopher://x:secretpw@h:1"})
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(b"ALL_PROXY", proc.stderr)
        self.assertNotIn(b"secretpw", proc.stderr)


if __name__ == "__main__":
    unittest.main()
