/* check_main — runs the suite its executable was linked with. See
 * check_main.h. */
#include "check_main.h"

#include <stdlib.h>

int main(void)
{
    SRunner *sr = srunner_create(unit_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
