/* ui_auth — who may use the web UI: the decisions, apart from the HTTP
 * server so that they can be tested on their own.
 *
 * Decrypted traffic holds cookies and tokens, so every request must:
 *  - name the UI by a Host it really has (the listener's address,
 *    localhost or 127.0.0.1): anything else is DNS rebinding -> 403;
 *  - not come from another site: Sec-Fetch-Site other than same-origin or
 *    none, or an Origin that is not the UI's own -> 403;
 *  - carry the token: ?token=, Authorization: Bearer, or the cookie the
 *    page sets (HttpOnly, SameSite=Strict) -> else 401.
 *
 * Pure: libc only. */
#ifndef TLSPEEK_UI_AUTH_H
#define TLSPEEK_UI_AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *listen_host; /* as bound, e.g. "127.0.0.1" or "::1" */
    uint16_t port;           /* the real port */
    const char *token;
} ui_auth_config;

/* What a request says; NULL for a header or parameter it lacks. */
typedef struct {
    const char *host;          /* Host */
    const char *origin;        /* Origin */
    const char *fetch_site;    /* Sec-Fetch-Site */
    const char *authorization; /* Authorization */
    const char *cookie;        /* Cookie */
    const char *query_token;   /* ?token= */
} ui_auth_request;

typedef enum {
    UI_AUTH_OK,
    UI_AUTH_BAD_HOST,   /* 403 */
    UI_AUTH_CROSS_SITE, /* 403 */
    UI_AUTH_NO_TOKEN    /* 401 */
} ui_auth_result;

/* Decide about one request; *reason (static) says why when not OK. */
ui_auth_result ui_auth_check(const ui_auth_config *c, const ui_auth_request *r,
                             const char **reason);

/* The cookie's name for the UI on port (cookies ignore ports, so two UIs
 * on one host need two names): "tlspeek_ui_PORT". */
void ui_auth_cookie_name(uint16_t port, char *buf, size_t size);

#endif
