/* check_main — the one main() every unit suite shares (check_main.c).
 *
 * A suite file defines unit_suite(), returning its Suite with every test
 * case added (check_case makes one from a list); check_main.c runs it
 * (fork mode, Check's default) and exits non-zero when a test failed.
 * CK_VERBOSITY=verbose in the environment names each test as it passes.
 * Anything a suite must set up once for the whole process (the log level,
 * say) goes at the top of unit_suite(). */
#ifndef TLSPEEK_CHECK_MAIN_H
#define TLSPEEK_CHECK_MAIN_H

#include <check.h>

/* The suite this executable runs. */
Suite *unit_suite(void);

/* A NULL-ended list of tests (the names START_TEST gave), for check_case. */
#define CHECK_TESTS(...) ((const TTest *const[]){__VA_ARGS__, NULL})

/* Each test's time limit in a case made with timeout 0, unless
 * CK_DEFAULT_TIMEOUT is set: Check's own default, 4 s, is too short for a
 * real handshake or key under ASan with suites running side by side on
 * two loaded cores (test_tlsctx timed out so once). A hang still fails. */
#define CHECK_DEFAULT_TIMEOUT 60

/* A test case called name, added to s, holding tests (CHECK_TESTS(...))
 * in their order; timeout in seconds per test, 0 for
 * CHECK_DEFAULT_TIMEOUT. CK_TIMEOUT_MULTIPLIER scales either. Returned for
 * what a list cannot say: fixtures and loop tests. */
TCase *check_case(Suite *s, const char *name, int timeout, const TTest *const tests[]);

#endif
