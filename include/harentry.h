/* harentry — one HAR 1.2 entry built from a flow_record (see har.h for
 * its fields), on whichever thread has the record: no I/O, no shared
 * state. As a JSON object (har_entry: for documents built elsewhere, the
 * web UI's export), or as a har_item: the compact text a worker hands to
 * the thread that owns the HAR log.
 *
 * Bodies are not read here: an item only notes which body files may be
 * inlined as text (whole, textual Content-Type, no Content-Encoding), and
 * har_add_item() reads them on the log's own thread. */
#ifndef TLSPEEK_HARENTRY_H
#define TLSPEEK_HARENTRY_H

#include <stddef.h>

#include <jansson.h>

#include "bodies.h"
#include "flow_record.h"
#include "har.h"

struct har_item {
    char *text;             /* the entry, compact JSON, no body text inlined */
    size_t len;             /* strlen(text) */
    long long start_us;     /* sort key: HAR prefers startedDateTime order */
    unsigned long long id;  /* tie-break, so equal starts keep record order */
    /* Body files that may be inlined, relative to the bodies directory;
     * "" when not. request_mime is the request's Content-Type (for
     * postData), NULL unless request_file is set. */
    char request_file[BODIES_NAME_MAX];
    char response_file[BODIES_NAME_MAX];
    char *request_mime;
    struct har_item *next; /* free for the holder's queue; NULL when made */
};

/* The entry for r with no body text (the caller may add content.text) as
 * a new object (json_decref()), or NULL on allocation failure. */
json_t *har_entry(const flow_record *r);

/* The entry for r as an item (nothing of r is kept), or NULL on
 * allocation failure (nothing logged: the caller counts the loss). */
har_item *har_item_new(const flow_record *r);

/* Free e and what it holds (not e->next). NULL is a no-op. */
void har_item_free(har_item *e);

#endif
