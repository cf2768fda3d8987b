"""End to end with a real browser: headless Chromium through tlspeek.

A page on https://app.test/ loads a script and a stylesheet from
https://cdn.test/, fetch()es JSON from https://api.test/ (CORS) and talks
over wss://api.test/echo (see browser_origin.py). Each name is served by
its own TLS origin on a loopback port; the proxy reaches them through
--connect-to rules, verifies them with --upstream-ca, and resolves
anything else through the test name server (which knows no names, so Chromium's
background requests end in the proxy's 502 and nothing leaves the machine).

Chromium trusts the proxy's CA through the NSS database in $HOME/.pki/nssdb
of a throw-away HOME (trust_ca_in_nssdb). It is driven over the DevTools
protocol on a pipe (--remote-debugging-pipe: NUL-terminated JSON on file
descriptors 3 and 4) rather than with --dump-dom: --virtual-time-budget does
not wait for a WebSocket, so the DOM was sometimes dumped with the echo
still pending. Here the test polls the live DOM, in real time, until the
page says every part has an outcome.

Needs the Debian packages chromium and libnss3-tools (certutil); when they
are missing the tests fail (not skip) saying what to install.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

from browser_origin import BROWSER_NAMES, BrowserOrigin, make_browser_leaf
from harness import (
    SUBPROCESS_TIMEOUT, DnsServer, Proxy, binary_path, clean_env, make_pki, run_tool,
)

INSTALL_HINT = "apt-get install chromium libnss3-tools"

# Seconds. A page load on loopback takes well under 5 s.
BROWSER_START_TIMEOUT = 20   # until the DevTools pipe answers
PAGE_TIMEOUT = 15            # from navigation until the page has settled
BROWSER_STOP_TIMEOUT = 5     # Browser.close until the process has exited
POLL_INTERVAL = 0.1

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",            # tests run as root in containers
    "--disable-gpu",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
)

# Polled in the page: the state of the document, and the whole DOM.
PAGE_STATE_JS = """(() => {
  const result = document.getElementById("result");
  return {ready: document.readyState, title: document.title, url: location.href,
          result: result ? result.textContent : null,
          html: document.documentElement ? document.documentElement.outerHTML : ""};
})()"""

ALL_OK = "script:ok css:ok fetch:ok ws:ok"


def missing_tools() -> str | None:
    """None when chromium and certutil are installed, else what to do."""
    missing = [tool for tool in ("chromium", "certutil") if shutil.which(tool) is None]
    if not missing:
        return None
    return (f"{' and '.join(missing)} not found: the browser test needs Debian's chromium "
            f"and libnss3-tools; install them with `{INSTALL_HINT}` "
            "(scripts/test installs them)")


# --------------------------------------------------------------------------
# Trusting the proxy's CA in an NSS database


def tlspeek_ca_help() -> str | None:
    """The output of `tlspeek ca --help` when this tlspeek has
    `ca install --no-system --nssdb DIR`, else None.

    Exiting 0 is not enough on its own: a tlspeek without the subcommand
    exits 0 there too (it prints the general usage, since --help wins over
    the unknown argument), so the help must also mention --nssdb."""
    try:
        proc = subprocess.run([str(binary_path()), "ca", "--help"], capture_output=True,
                              text=True, timeout=SUBPROCESS_TIMEOUT, env=clean_env(),
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = proc.stdout + proc.stderr
    return text if proc.returncode == 0 and "--nssdb" in text else None


def trust_ca_in_nssdb(ca_dir: Path, home: Path) -> Path:
    """Make the NSS database $HOME/.pki/nssdb (what Chromium on Linux reads)
    trust the proxy CA in ca_dir for websites; returns the database directory.

    With `tlspeek ca install` available it does the job (so the test also
    covers it); otherwise certutil directly. Either way the database is then
    listed, and a CA trusted for TLS servers (trust flags "C") must be there."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True, exist_ok=True)
    database = f"sql:{nssdb}"
    help_text = tlspeek_ca_help()
    if help_text is not None:
        command = [str(binary_path()), "ca", "install", "--no-system", "--nssdb", str(nssdb)]
        # The proxy's CA is the default one for XDG_CONFIG_HOME=<ca_dir's parent>
        # when ca_dir is named tlspeek; --ca-dir says it too when it is an option.
        if "--ca-dir" in help_text or ca_dir.name != "tlspeek":
            command += ["--ca-dir", str(ca_dir)]
        env = {**clean_env(), "HOME": str(home), "XDG_CONFIG_HOME": str(ca_dir.parent)}
        proc = subprocess.run(command, capture_output=True, text=True,
                              timeout=SUBPROCESS_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(command[1:])} exited with {proc.returncode}:\n"
                                 f"{proc.stdout}{proc.stderr}")
    else:
        if not (nssdb / "cert9.db").exists():
            run_tool(["certutil", "-N", "--empty-password", "-d", database])
        run_tool(["certutil", "-A", "-n", "tlspeek", "-t", "C,,",
                  "-i", ca_dir / "ca.pem", "-d", database])
    listing = run_tool(["certutil", "-L", "-d", database]).stdout.decode(errors="replace")
    # Lines are "<nickname>   <SSL,S/MIME,JAR/XPI trust>", e.g. "tlspeek   C,,".
    if not re.search(r"^.*\S\s+[^,\s]*C[^,\s]*,[^,\s]*,[^,\s]*\s*$", listing, re.MULTILINE):
        raise AssertionError(f"no CA trusted for websites in {nssdb} after installing "
                             f"{ca_dir / 'ca.pem'}; certutil -L says:\n{listing}")
    return nssdb


# --------------------------------------------------------------------------
# Chromium over the DevTools protocol


class BrowserError(AssertionError):
    """Chromium did not start, answer or behave; the message says what it printed."""


def _high_fd(fd: int) -> int:
    """fd moved to the lowest free number >= 10 (the old one is closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Chromium:
    """Headless Chromium with the DevTools protocol on a pipe.

    Started in its own process group (so every helper process it forks can
    be ended with it) with HOME, XDG dirs and profile inside `home`, and every
    request through `proxy_url`. open(url) navigates the one tab and returns
    (navigation error text or "", the page's final state)."""

    def __init__(self, home: Path, proxy_url: str):
        self.home = home
        self.stderr_path = home / "chromium-stderr.log"
        self.events: list[dict] = []     # DevTools events, for diagnostics
        self._responses: dict[int, dict] = {}
        self._cond = threading.Condition()
        self._next_id = 0
        self._closed = False
        env = {**clean_env(), "HOME": str(home),
               "XDG_CONFIG_HOME": str(home / ".config"),
               "XDG_CACHE_HOME": str(home / ".cache")}
        command = ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={home / 'profile'}",
                   f"--proxy-server={proxy_url}", "about:blank"]
        self.command = command
        # Chromium reads commands on fd 3 and writes answers on fd 4. Popen
        # keeps passed descriptors at their numbers, so bash moves them there
        # (from numbers of 10 and up, so that neither is 3 or 4 already).
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        to_chrome_r, from_chrome_w = _high_fd(to_chrome_r), _high_fd(from_chrome_w)
        shell = (f'exec "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} '
                 f'{to_chrome_r}<&- {from_chrome_w}>&-')
        with open(self.stderr_path, "wb") as stderr:
            try:
                self.process = subprocess.Popen(
                    ["/bin/bash", "-c", shell, "bash", *command], stdin=subprocess.DEVNULL,
                    stdout=stderr, stderr=stderr, env=env, cwd=home,
                    pass_fds=(to_chrome_r, from_chrome_w), start_new_session=True)
            except BaseException:
                os.close(self._to_chrome)
                os.close(self._from_chrome)
                raise
            finally:
                os.close(to_chrome_r)
                os.close(from_chrome_w)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.call("Browser.getVersion", timeout=BROWSER_START_TIMEOUT)
            self.session = self._attach_to_page()
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable", session=self.session)
        except BaseException:
            self.stop()
            raise

    # -- the pipe ------------------------------------------------------------

    def _read(self):
        """The reader thread: answers by id, events in order, until EOF.
        It owns the read end of the pipe and closes it at the end."""
        buffer = b""
        try:
            while True:
                try:
                    data = os.read(self._from_chrome, 65536)
                except OSError:
                    break
                if not data:
                    break
                buffer += data
                *messages, buffer = buffer.split(b"\0")
                for raw in messages:
                    message = json.loads(raw)
                    with self._cond:
                        if "id" in message:
                            self._responses[message["id"]] = message
                        else:
                            self.events.append(message)
                        self._cond.notify_all()
        finally:
            os.close(self._from_chrome)
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = PAGE_TIMEOUT) -> dict:
        """Send one command and wait for its answer; BrowserError on an error."""
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        except OSError as error:
            raise BrowserError(f"cannot send {method} to Chromium ({error})"
                               f"{self.describe()}") from None
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._responses:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    state = "closed the pipe" if self._closed else f"took over {timeout}s"
                    raise BrowserError(f"Chromium {state} answering {method}"
                                       f"{self.describe()}")
                self._cond.wait(remaining)
            response = self._responses.pop(ident)
        if "error" in response:
            raise BrowserError(f"{method} failed: {response['error']}{self.describe()}")
        return response.get("result", {})

    def _attach_to_page(self) -> str:
        targets = self.call("Target.getTargets")["targetInfos"]
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            target = pages[0]["targetId"]
        else:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        return self.call("Target.attachToTarget",
                         {"targetId": target, "flatten": True})["sessionId"]

    # -- pages ---------------------------------------------------------------

    def page_state(self) -> dict:
        result = self.call("Runtime.evaluate",
                           {"expression": PAGE_STATE_JS, "returnByValue": True},
                           session=self.session)
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluating the page state threw "
                               f"{result['exceptionDetails']}{self.describe()}")
        return result["result"]["value"]

    def open(self, url: str) -> tuple[str, dict]:
        """Navigate to url, then poll until the page has settled: loaded, and
        either the test page with every part decided (title "done") or some
        other page (an error page has no #result). Returns (the navigation's
        errorText or "", the last page state); the state's "settled" says
        whether it settled within PAGE_TIMEOUT."""
        navigation = self.call("Page.navigate", {"url": url}, session=self.session)
        error_text = navigation.get("errorText", "")
        deadline = time.monotonic() + PAGE_TIMEOUT
        while True:
            state = self.page_state()
            state["settled"] = (state["ready"] == "complete"
                                and state["url"] != "about:blank"
                                and (state["title"] == "done" or state["result"] is None))
            if state["settled"] or time.monotonic() >= deadline:
                return error_text, state
            time.sleep(POLL_INTERVAL)

    # -- diagnostics and shutdown -------------------------------------------

    def console_messages(self) -> list[str]:
        """Console calls, exceptions and log entries the page produced."""
        lines = []
        with self._cond:
            events = list(self.events)
        for event in events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                args = " ".join(str(a.get("value", a.get("description", "")))
                                for a in params.get("args", []))
                lines.append(f"console.{params.get('type')}: {args}")
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text")
                lines.append(f"exception: {text}")
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                lines.append(f"log {entry.get('level')}: {entry.get('text')} "
                             f"{entry.get('url', '')}")
        return lines

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return "(no stderr file)"
        # D-Bus complaints are expected in a container and say nothing.
        useful = [line for line in text.splitlines() if "dbus" not in line.lower()]
        return "\n".join(useful[-lines:]) or "(nothing)"

    def describe(self) -> str:
        rc = self.process.poll() if hasattr(self, "process") else None
        status = "running" if rc is None else f"exited with {rc}"
        messages = "\n".join(self.console_messages()) or "(none)"
        return (f"\nChromium {status}; command: {' '.join(self.command)}"
                f"\npage console and log:\n{messages}"
                f"\nChromium stderr (last lines, D-Bus noise removed):\n{self.stderr_tail()}")

    def stop(self):
        """Browser.close, then wait; the process group is killed if it lingers."""
        if self.process.poll() is None:
            try:
                self.call("Browser.close", timeout=BROWSER_STOP_TIMEOUT)
            except BrowserError:
                pass  # it may close the pipe before answering
            try:
                self.process.wait(timeout=BROWSER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the group this test started (renderers, zygote).
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=BROWSER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.close(self._to_chrome)
        except OSError:
            pass
        self._reader.join(BROWSER_STOP_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# --------------------------------------------------------------------------
# The tests


class BrowserTests(unittest.TestCase):
    """Shared per class: a PKI with a leaf for the three names, the test name server
    (knowing no names) and one origin per name. Each test gets its own proxy
    (so its console lines and minted certificates are that test's alone) and
    its own HOME, NSS database and Chromium profile."""

    proxy_args: tuple[str, ...] = ()  # more tlspeek options, for subclasses

    @classmethod
    def setUpClass(cls):
        cls.missing = missing_tools()
        if cls.missing:
            return  # each test fails with the message
        tmp = cls.enterClassContext(tempfile.TemporaryDirectory(prefix="tlspeek-browser-"))
        cls.tmp = Path(tmp)
        cls.pki = make_pki(cls.tmp / "pki")
        cls.leaf = make_browser_leaf(cls.pki)
        cls.dns = cls.enterClassContext(DnsServer({}))
        cls.origins = {name: cls.enterClassContext(BrowserOrigin(cls.leaf))
                       for name in BROWSER_NAMES}

    def setUp(self):
        self.proxy = None
        self.browser = None
        if self.missing:
            self.fail(self.missing)
        home = self.enterContext(tempfile.TemporaryDirectory(prefix="tlspeek-home-"))
        self.home = Path(home)
        (self.home / "xdg").mkdir()
        connect_to = []
        for name, origin in self.origins.items():
            connect_to += ["--connect-to", f"{name}:443:127.0.0.1:{origin.port}"]
        self.proxy = self.enterContext(
            Proxy("--upstream-ca", self.pki.ca.cert, *connect_to, *self.proxy_args,
                  dns_port=self.dns.port, ca_dir=self.home / "xdg" / "tlspeek"))
        self.seen_before = {name: len(o.seen()) for name, o in self.origins.items()}

    def diagnostics(self) -> str:
        """For run.py's failure report: the proxy console and Chromium's side."""
        parts = []
        if self.proxy is not None:
            parts.append(f"tlspeek console ({' '.join(self.proxy.command[1:])}):\n"
                         f"{self.proxy.console.text() or '(nothing)'}")
        if self.browser is not None:
            parts.append(self.browser.describe().lstrip("\n"))
        if getattr(self, "origins", None):
            parts.append("origins saw: " + "; ".join(
                f"{name}: {origin.seen()[getattr(self, 'seen_before', {}).get(name, 0):]}"
                for name, origin in self.origins.items()))
        return "\n".join(parts)

    def open_app(self) -> tuple[str, dict]:
        """app.test in a fresh Chromium using self.home; (error text, page state)."""
        self.browser = Chromium(self.home, self.proxy.url)
        try:
            error_text, state = self.browser.open("https://app.test/")
        finally:
            self.browser.stop()
        # Chromium is gone: a proxy that died under it must say so now, not
        # later as a puzzling page.
        rc = self.proxy.process.poll()
        if rc is not None:
            self.fail(f"tlspeek exited with {rc} while Chromium used it")
        return error_text, state

    def origin_requests(self, name: str) -> list[str]:
        """Paths (and WebSocket events) origin `name` saw during this test."""
        origin = self.origins[name]
        return [f"{host}{path}" for host, path in origin.seen()[self.seen_before[name]:]]

    def intercepted(self, authority: str) -> list[str]:
        connect = re.compile(rf"CONNECT {re.escape(authority)}(?![\d\]])")
        return [line for line in self.proxy.console.lines()
                if connect.search(line) and "intercepted" in line]

    def test_page_with_script_css_fetch_and_websocket(self):
        trust_ca_in_nssdb(self.proxy.ca_dir, self.home)
        error_text, state = self.open_app()
        self.assertEqual(error_text, "", f"navigation failed: {error_text}")
        self.assertTrue(state["settled"],
                        f"the page did not finish within {PAGE_TIMEOUT}s; it shows "
                        f"{state['result']!r} (title {state['title']!r}, url {state['url']})")
        self.assertEqual(state["result"], ALL_OK, f"the page says {state['result']!r}")

        # Each name reached its own origin, through its --connect-to rule.
        self.assertIn("app.test/", self.origin_requests("app.test"))
        self.assertEqual({"cdn.test/app.js", "cdn.test/app.css"} -
                         set(self.origin_requests("cdn.test")), set())
        api = self.origin_requests("api.test")
        self.assertIn("api.test/data.json", api)
        self.assertTrue(any(r.startswith("api.test/echo#text:") for r in api),
                        f"no WebSocket message reached api.test's origin: {api}")

        # The proxy saw every tunnel decrypted, and minted one leaf per host
        # however many tunnels the browser opened to it in parallel.
        for name in BROWSER_NAMES:
            authority = f"{name}:443"
            lines = self.intercepted(authority)
            self.assertTrue(lines, f"no 'CONNECT {authority} ... intercepted' line")
            minted = [line for line in lines if "cert minted" in line]
            self.assertLessEqual(len(minted), 1,
                                 f"{len(minted)} certificates minted for {name}, "
                                 f"expected one reused from the cache:\n" + "\n".join(lines))

    def test_untrusted_ca_fails_the_page(self):
        # A HOME whose NSS database exists but does not hold the proxy's CA.
        nssdb = self.home / ".pki" / "nssdb"
        nssdb.mkdir(parents=True)
        run_tool(["certutil", "-N", "--empty-password", "-d", f"sql:{nssdb}"])
        error_text, state = self.open_app()
        dom = state["html"]
        self.assertNotIn("script:ok", dom, "the page loaded without trusting the CA")
        self.assertIsNone(state["result"], f"the test page rendered: {state['result']!r}")
        self.assertRegex(error_text + dom, r"ERR_CERT_AUTHORITY_INVALID",
                         f"expected a certificate error; navigation said {error_text!r}")
        self.assertEqual(self.origin_requests("app.test"), [],
                         "a request reached the origin through an untrusted tunnel")
        self.assertEqual(self.intercepted("app.test:443"), [],
                         "the proxy reports a completed interception Chromium refused")


class RsaCaBrowserTests(BrowserTests):
    """The same page under an RSA CA (issue 15): leaves are signed by the
    session intermediate the proxy makes in memory, and Chromium, which
    trusts only the CA, accepts [leaf, intermediate]."""

    proxy_args = ("--ca-key-type", "rsa2048")
    # Trust is the CA's either way: the EC case covers the refusal.
    test_untrusted_ca_fails_the_page = None

    def test_page_with_script_css_fetch_and_websocket(self):
        self.proxy.wait_for_line(r"leaves are signed by an EC session intermediate")
        super().test_page_with_script_css_fetch_and_websocket()


if __name__ == "__main__":
    unittest.main()
