/* check_main — runs the suite its executable was linked with. See
 * check_main.h. */
#include "check_main.h"

#include <stddef.h>
#include <stdlib.h>

TCase *check_case(Suite *s, const char *name, int timeout, const TTest *const tests[])
{
    TCase *tc = tcase_create(name);
    if (timeout > 0)
        tcase_set_timeout(tc, timeout);
    else if (!getenv("CK_DEFAULT_TIMEOUT"))
        tcase_set_timeout(tc, CHECK_DEFAULT_TIMEOUT);
    for (size_t i = 0; tests[i]; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return tc;
}

int main(void)
{
    SRunner *sr = srunner_create(unit_suite());
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY=verbose names each test */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
