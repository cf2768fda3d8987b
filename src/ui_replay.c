/* ui_replay — stub. */
#include "ui_priv.h"

unsigned long long ui_replay_start(ui *u, const flowstore_view *v, const char **reason)
{
    *reason = "replay is not available yet";
    return 0;
}

void ui_replay_abort_all(ui *u)
{
}
