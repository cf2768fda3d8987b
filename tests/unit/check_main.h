/* check_main — the one main() every unit suite shares (check_main.c).
 *
 * A suite file defines unit_suite(), returning its Suite with every test
 * case added; check_main.c runs it (fork mode, Check's default) and exits
 * non-zero when a test failed. Anything a suite must set up once for the
 * whole process (the log level, say) goes at the top of unit_suite(). */
#ifndef TLSPEEK_CHECK_MAIN_H
#define TLSPEEK_CHECK_MAIN_H

#include <check.h>

/* The suite this executable runs. */
Suite *unit_suite(void);

#endif
