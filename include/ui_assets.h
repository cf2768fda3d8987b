/* ui_assets — the web UI's page, style sheet and script (ui/), embedded
 * into the binary at build time by ui/embed.py: the UI works offline and
 * never reads files at run time. */
#ifndef TLSPEEK_UI_ASSETS_H
#define TLSPEEK_UI_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path;          /* "/", "/app.js", ...; NULL ends the table */
    const char *content_type;
    const char *etag;          /* quoted strong ETag of the content */
    const unsigned char *data;
    size_t len;
} ui_asset;

extern const ui_asset ui_assets[];

#endif
