/* tlspeek — an intercepting HTTPS proxy for debugging: see README.md. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacli.h"
#include "config.h"
#include "log.h"
#include "proxy.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ca") == 0)
        return cacli_main(argc - 1, argv + 1);
    config cfg;
    switch (config_parse(argc, argv, &cfg, stdout, stderr)) {
    case CONFIG_EXIT_OK:
        config_free(&cfg);
        return 0;
    case CONFIG_EXIT_USAGE:
        config_free(&cfg);
        return 2;
    case CONFIG_RUN:
        break;
    }
    log_configure(cfg.quiet, cfg.debug);
    /* A peer closing mid-write must fail that write, not kill the proxy. */
    signal(SIGPIPE, SIG_IGN);
    /* A bulk transfer allocates and frees buffers of 64-300 KiB at every
     * read event. With glibc's defaults those came from fresh mmaps, or the
     * freed top of the heap went back to the kernel each time, and faulting
     * the pages in again cost more than the TLS work itself (100 MB through
     * a tunnel: 290,000 page faults, 3x the CPU). Serve them from the heap
     * and give memory back only when over 2 MiB of its top is free. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 2 << 20);

    proxy *p = proxy_new(&cfg);
    if (!p) {
        config_free(&cfg);
        return 1;
    }
    int rc = proxy_run(p);
    proxy_free(p);
    config_free(&cfg);
    return rc == 0 ? 0 : 1;
}
