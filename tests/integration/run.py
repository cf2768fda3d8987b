#!/usr/bin/env python3
"""Run tlspeek's integration tests against a built binary.

usage: run.py [PATH-TO-TLSPEEK [PATTERN]]
  PATH-TO-TLSPEEK defaults to $TLSPEEK_BIN, else <repo>/build/tlspeek;
  PATTERN picks test modules (default test_*.py), e.g. "test_h2*.py".

Run it with Debian's /usr/bin/python3: python3-h2, python3-grpcio and
python3-selenium import only there.

Prints each test's result, then one summary line "N passed, M failed"
(", K skipped" appended when some were skipped); exits 0 iff M is 0.
A test whose class could not be set up (e.g. the proxy did not start)
counts as failed, and so does a class teardown error (e.g. the proxy did
not exit 0 on SIGTERM), so a broken binary can never look like a pass.
"""

import faulthandler
import os
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Last resort against a hang the per-call timeouts missed: dump every
# thread's stack and exit non-zero when one test (with its class's set-up)
# runs this long. Restarted at each test, so that it bounds a hang, not the
# length of the whole suite (which grows with every test and, under the
# sanitizers beside other jobs, came within minutes of a suite-wide 600 s).
WATCHDOG_SECONDS = 600


class CountingResult(unittest.TextTestResult):
    """Counts passes and skips per test, and class/module teardown errors."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0
        self.teardown_errors = 0

    def _add_diagnostics(self, test, reports):
        """Append the test's own diagnostics (the proxy console) to the report
        just recorded in reports (self.failures or self.errors)."""
        case = getattr(test, "test_case", test)  # a subTest wraps its case
        diagnostics = getattr(case, "diagnostics", None)
        if diagnostics and reports and reports[-1][0] is test:
            reports[-1] = (test, f"{reports[-1][1]}\n{diagnostics()}")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._add_diagnostics(test, self.failures)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self._add_diagnostics(subtest, self.failures if failed else self.errors)

    def startTest(self, test):
        faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
        super().startTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1

    def addError(self, test, err):
        super().addError(test, err)
        self._add_diagnostics(test, self.errors)
        # Class and module fixtures report through an _ErrorHolder, not a test.
        if not isinstance(test, unittest.TestCase) and "tearDown" in str(test):
            self.teardown_errors += 1


def main(argv) -> int:
    if len(argv) > 3:
        print(__doc__, file=sys.stderr)
        return 2
    pattern = argv[2] if len(argv) == 3 else "test_*.py"
    if len(argv) >= 2:
        os.environ["TLSPEEK_BIN"] = str(Path(argv[1]).resolve())
    elif os.environ.get("TLSPEEK_BIN"):
        os.environ["TLSPEEK_BIN"] = str(Path(os.environ["TLSPEEK_BIN"]).resolve())
    sys.path.insert(0, str(HERE))
    from harness import binary_path  # after sys.path is set

    binary = binary_path()
    print(f"tlspeek binary: {binary}", flush=True)
    if not os.access(binary, os.X_OK):
        print(f"warning: {binary} is missing or not executable; every test will fail",
              flush=True)

    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
    suite = unittest.defaultTestLoader.discover(str(HERE), pattern=pattern,
                                                top_level_dir=str(HERE))
    total = suite.countTestCases()
    runner = unittest.TextTestRunner(verbosity=2, resultclass=CountingResult,
                                     stream=sys.stdout)
    result = runner.run(suite)
    faulthandler.cancel_dump_traceback_later()

    skipped = len(result.skipped)
    # Everything discovered that neither passed nor was skipped failed,
    # including tests never run because their setUpClass failed.
    failed = total - result.passed - skipped + result.teardown_errors
    summary = f"{result.passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary, flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
