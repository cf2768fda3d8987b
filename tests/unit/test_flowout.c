/* Unit tests for flowout: the console line, which phases reach which
 * output, observers, output failures said once and counted, and the HAR
 * written on its own thread: a writer stuck in a write never holds up the
 * threads that hand over exchanges. */
#include "check_main.h"
#include "scratch.h"
#include "flowout.h"
#include "harwriter.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 2026-11-23T10:57:02Z */
#define T0 1795431422

static http_header resp_headers[] = {
    {"Content-Type", "text/plain; charset=utf-8"},
};

static flow_record record(unsigned long long id, flow_phase phase)
{
    flow_record r = {
        .id = id,
        .conn_id = 1,
        .phase = phase,
        .start = {T0, 0},
        .end = {T0 + 1, 234567},
        .client = "127.0.0.1:53122",
        .upstream = "127.0.0.1:8080",
        .url = "http://example.com/x",
        .method = "GET",
        .http_major = 1,
        .http_minor = 1,
        .status = phase == FLOW_REQUEST ? 0 : 200,
        .response_headers = resp_headers,
        .n_response_headers = phase == FLOW_REQUEST ? 0 : 1,
        .response_bytes = 1256,
    };
    return r;
}

/* Lines of a file, each a JSON object. */
static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = 0;
    char line[16384];
    while (fgets(line, sizeof line, f)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        ck_assert_msg(o != NULL, "%s: %s", err.text, line);
        json_decref(o);
        n++;
    }
    fclose(f);
    return n;
}

/* The entries of a HAR file, which must be valid JSON. */
static size_t har_entries(const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    ck_assert_msg(doc != NULL, "%s: %s", path, err.text);
    json_t *entries = json_object_get(json_object_get(doc, "log"), "entries");
    ck_assert(json_is_array(entries));
    size_t n = json_array_size(entries);
    json_decref(doc);
    return n;
}

/* A scratch directory and the output paths in it. */
typedef struct {
    char flows[256], har[256], bodies[256];
} out_paths;

static void scratch_outputs(out_paths *p)
{
    scratch_make("test_flowout");
    snprintf(p->flows, sizeof p->flows, "%s", scratch_path("flows.jsonl"));
    snprintf(p->har, sizeof p->har, "%s", scratch_path("out.har"));
    snprintf(p->bodies, sizeof p->bodies, "%s", scratch_path("bodies"));
}

/* --- the console line --- */

START_TEST(console_line_format)
{
    char line[FLOWOUT_LINE_MAX];
    flow_record r = record(1, FLOW_DONE);
    flowout_console_line(&r, false, line, sizeof line);
    ck_assert_str_eq(line, "127.0.0.1:53122 GET http://example.com/x 200 text/plain "
                           "1.3 kB 1235 ms");

    r.http_major = 2;
    r.http_minor = 0;
    r.websocket = true;
    r.ws_messages_up = 3;
    r.ws_messages_down = 4;
    r.answered_by_proxy = true;
    r.replay_of = 7;
    r.status = 502;
    r.error = "upstream refused";
    flowout_console_line(&r, false, line, sizeof line);
    ck_assert_str_eq(line, "127.0.0.1:53122 GET http://example.com/x 502 text/plain "
                           "1.3 kB 1235 ms HTTP/2 websocket 3 messages up, 4 down "
                           "(answered by tlspeek) replay of #7 error: upstream refused");

    /* Nothing known: dashes, never "(null)"; colour only around the status. */
    flow_record empty = {.id = 2, .phase = FLOW_ERROR};
    flowout_console_line(&empty, true, line, sizeof line);
    ck_assert_str_eq(line, "- - - \033[32m-\033[0m - 0 B 0 ms");
    r = record(3, FLOW_DONE);
    r.status = 404;
    flowout_console_line(&r, true, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, " \033[33m404\033[0m "));

    /* A small buffer cuts, never overruns: at every size, the start of the
     * whole line. */
    char small[12];
    flowout_console_line(&r, false, small, sizeof small);
    ck_assert_str_eq(small, "127.0.0.1:5");
    r.error = "refused";
    r.websocket = true;
    r.replay_of = 12;
    r.status = -3;
    char whole[FLOWOUT_LINE_MAX];
    flowout_console_line(&r, true, whole, sizeof whole);
    ck_assert_str_eq(whole, "127.0.0.1:53122 GET http://example.com/x \033[31m-3\033[0m "
                            "text/plain 1.3 kB 1235 ms websocket 0 messages up, 0 down "
                            "replay of #12 error: refused");
    for (size_t size = 1; size <= strlen(whole) + 1; size++) {
        char cut[FLOWOUT_LINE_MAX];
        memset(cut, 'x', sizeof cut);
        flowout_console_line(&r, true, cut, size);
        ck_assert_uint_eq(strlen(cut), size - 1);
        ck_assert(strncmp(cut, whole, size - 1) == 0);
        ck_assert(cut[size] == 'x');
    }
    flowout_console_line(&r, true, small, 0); /* nothing written */
    ck_assert_str_eq(small, "127.0.0.1:5");
}
END_TEST

/* The time is rounded as "%.0f" rounds (ties to even), without it. */
START_TEST(console_line_rounds_like_printf)
{
    static const struct {
        long usec;
        const char *ms;
    } cases[] = {{0, "0"},      {499, "0"},     {500, "0"},   {501, "1"},
                 {1500, "2"},   {2500, "2"},    {2501, "3"},  {999999, "1000"},
                 {12345678, "12346"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flow_record r = record(1, FLOW_DONE);
        r.start = (struct timeval){T0, 0};
        r.end = (struct timeval){T0 + cases[i].usec / 1000000, cases[i].usec % 1000000};
        char line[FLOWOUT_LINE_MAX], want[64], printed[32];
        flowout_console_line(&r, false, line, sizeof line);
        snprintf(want, sizeof want, " %s ms", cases[i].ms);
        ck_assert_msg(strstr(line, want), "%ld us: %s", cases[i].usec, line);
        snprintf(printed, sizeof printed, " %.0f ms", cases[i].usec / 1000.0);
        ck_assert_str_eq(want, printed);
    }
}
END_TEST

typedef struct {
    int records[4]; /* by phase */
    unsigned long long last_id;
    char last_response_file[64];
    size_t body_bytes[2]; /* response, request */
    int body_calls;
} seen;

static void on_record(void *arg, const flow_record *r)
{
    seen *s = arg;
    s->records[r->phase]++;
    s->last_id = r->id;
    snprintf(s->last_response_file, sizeof s->last_response_file, "%s",
             r->response_body_file ? r->response_body_file : "");
}

static void on_body(void *arg, unsigned long long id, bool request, const char *data,
                    size_t len)
{
    seen *s = arg;
    (void)id;
    (void)data;
    s->body_bytes[request] += len;
    s->body_calls++;
}

/* What a connection asks before it builds records: nothing with every
 * output off, no phases without an observer, bodies for --bodies or one,
 * header fields for --flows, --har or an observer (the console line and
 * --bodies read none but the Content-Type). */
START_TEST(wants_say_who_reads_what)
{
    flowout_options off = {0};
    flowout *f = flowout_new(NULL, &off);
    ck_assert_ptr_nonnull(f);
    ck_assert(!flowout_wants_records(f));
    ck_assert(!flowout_wants_phases(f));
    ck_assert(!flowout_wants_bodies(f));
    ck_assert(!flowout_wants_fields(f));
    seen a = {0};
    flowout_observer obs = {on_record, on_body};
    ck_assert_int_eq(flowout_add_observer(f, &obs, &a), 0);
    ck_assert(flowout_wants_records(f));
    ck_assert(flowout_wants_phases(f));
    ck_assert(flowout_wants_bodies(f));
    ck_assert(flowout_wants_fields(f));
    flowout_free(f);

    flowout_options console = {.console = true};
    f = flowout_new(NULL, &console);
    ck_assert(flowout_wants_records(f));
    ck_assert(!flowout_wants_phases(f));
    ck_assert(!flowout_wants_bodies(f));
    ck_assert(!flowout_wants_fields(f));
    flowout_free(f);

    out_paths p;
    scratch_outputs(&p);
    flowout_options bodies = {.bodies_dir = p.bodies, .body_limit = 10};
    f = flowout_new(NULL, &bodies);
    ck_assert_ptr_nonnull(f);
    ck_assert(flowout_wants_records(f));
    ck_assert(!flowout_wants_phases(f));
    ck_assert(flowout_wants_bodies(f));
    ck_assert(!flowout_wants_fields(f));
    flowout_free(f);
    flowout_options flows = {.flows_path = p.flows};
    f = flowout_new(NULL, &flows);
    ck_assert_ptr_nonnull(f);
    ck_assert(flowout_wants_records(f));
    ck_assert(!flowout_wants_phases(f));
    ck_assert(flowout_wants_fields(f));
    flowout_free(f);
    flowout_options har_only = {.har_path = p.har};
    f = flowout_new(NULL, &har_only);
    ck_assert_ptr_nonnull(f);
    ck_assert(flowout_wants_fields(f));
    flowout_free(f);
    scratch_remove();
}
END_TEST

START_TEST(only_final_records_are_written_observers_see_all)
{
    out_paths p;
    scratch_outputs(&p);
    flowout_options o = {.flows_path = p.flows, .har_path = p.har, .bodies_dir = p.bodies,
                         .body_limit = 1000};
    flowout *f = flowout_new(NULL, &o);
    ck_assert_ptr_nonnull(f);
    seen a = {0}, b = {0};
    flowout_observer obs = {on_record, on_body};
    flowout_observer records_only = {on_record, NULL};
    ck_assert_int_eq(flowout_add_observer(f, &obs, &a), 0);
    ck_assert_int_eq(flowout_add_observer(f, &records_only, &b), 0);

    flow_record r = record(1, FLOW_REQUEST);
    flowout_exchange(f, &r);
    flowout_body(f, 1, true, "upload", 6);
    r = record(1, FLOW_RESPONSE);
    flowout_exchange(f, &r);
    flowout_body(f, 1, false, "hello ", 6);
    flowout_body(f, 1, false, "", 0); /* nothing: nobody is told */
    flowout_body(f, 1, false, "world", 5);
    r = record(1, FLOW_DONE);
    flowout_exchange(f, &r);
    r = record(2, FLOW_REQUEST);
    flowout_exchange(f, &r);
    r = record(2, FLOW_ERROR);
    r.error = "client closed";
    flowout_exchange(f, &r);

    ck_assert_int_eq(a.records[FLOW_REQUEST], 2);
    ck_assert_int_eq(a.records[FLOW_RESPONSE], 1);
    ck_assert_int_eq(a.records[FLOW_DONE], 1);
    ck_assert_int_eq(a.records[FLOW_ERROR], 1);
    ck_assert_int_eq(a.body_calls, 3);
    ck_assert_uint_eq(a.body_bytes[true], 6);
    ck_assert_uint_eq(a.body_bytes[false], 11);
    ck_assert_int_eq(b.records[FLOW_REQUEST] + b.records[FLOW_RESPONSE] +
                     b.records[FLOW_DONE] + b.records[FLOW_ERROR], 5);
    ck_assert_int_eq(b.body_calls, 0);
    /* The final record reaches observers with its body file. */
    ck_assert_int_eq(a.records[FLOW_DONE], 1);

    ck_assert_uint_eq(count_lines(p.flows), 2); /* one line per exchange */
    flowout_free(f); /* writes the HAR a last time */
    ck_assert_uint_eq(har_entries(p.har), 2);
    struct stat st;
    ck_assert_int_eq(stat(scratch_path("bodies/000001-response.bin"), &st), 0);
    ck_assert_int_eq(st.st_size, 11);
    ck_assert_int_eq(stat(scratch_path("bodies/000001-request.bin"), &st), 0);
    ck_assert_int_eq(st.st_size, 6);
    scratch_remove();
}
END_TEST

START_TEST(final_record_carries_body_files_to_observers)
{
    scratch_make("test_flowout");
    char bodies_path[256];
    snprintf(bodies_path, sizeof bodies_path, "%s", scratch_path("b"));
    flowout_options o = {.bodies_dir = bodies_path, .body_limit = 4};
    flowout *f = flowout_new(NULL, &o);
    ck_assert_ptr_nonnull(f);
    seen a = {0};
    flowout_observer obs = {on_record, on_body};
    ck_assert_int_eq(flowout_add_observer(f, &obs, &a), 0);
    flowout_body(f, 42, false, "0123456789", 10);
    flow_record r = record(42, FLOW_DONE);
    flowout_exchange(f, &r);
    ck_assert_str_eq(a.last_response_file, "000042-response.bin");
    ck_assert(r.response_body_truncated); /* 10 bytes, 4 kept */
    ck_assert_ptr_null(r.request_body_file);
    /* More observers than room. */
    for (int i = 1; i < FLOWOUT_MAX_OBSERVERS; i++)
        ck_assert_int_eq(flowout_add_observer(f, &obs, &a), 0);
    ck_assert_int_eq(flowout_add_observer(f, &obs, &a), -1);
    flowout_free(f);
    flowout_free(NULL);
    scratch_remove();
}
END_TEST

/* --- failures: said once, counted --- */

START_TEST(output_failure_said_once_and_counted)
{
    scratch_make("test_flowout");
    /* The console goes to a file we read back. */
    int saved = dup(STDERR_FILENO);
    int out = open(scratch_path("stderr"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(out, 0);
    fflush(stderr);
    dup2(out, STDERR_FILENO);
    close(out);
    flowout_options o = {.flows_path = "/dev/full"};
    flowout *f = flowout_new(NULL, &o);
    ck_assert_ptr_nonnull(f);
    for (unsigned long long id = 1; id <= 3; id++) {
        flow_record r = record(id, FLOW_DONE);
        flowout_exchange(f, &r);
    }
    flow_record pending = record(4, FLOW_REQUEST); /* not written: not lost */
    flowout_exchange(f, &pending);
    ck_assert_uint_eq(flowout_lost(f), 3);
    flowout_free(f);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);

    FILE *log = fopen(scratch_path("stderr"), "r");
    ck_assert_ptr_nonnull(log);
    char line[1024];
    int said = 0, counted = 0;
    while (fgets(line, sizeof line, log)) {
        said += strstr(line, "cannot write --flows /dev/full: No space left") != NULL;
        counted += strstr(line, "3 exchange records could not be written") != NULL;
    }
    fclose(log);
    ck_assert_int_eq(said, 1);
    ck_assert_int_eq(counted, 1);
    scratch_remove();
}
END_TEST

/* --- the HAR writer never holds up the workers --- */

/* A write hook that stalls the writer thread inside a write until the
 * test lets it go: the HAR on a disk that has stopped answering. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered;  /* writes begun */
    bool release;
} stall;

static int stalled_write(har *h, void *arg)
{
    stall *s = arg;
    pthread_mutex_lock(&s->lock);
    s->entered++;
    pthread_cond_broadcast(&s->cond);
    while (!s->release)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    return har_write(h);
}

START_TEST(har_writer_stuck_in_a_write_does_not_block_workers)
{
    out_paths p;
    scratch_outputs(&p);
    stall s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};
    flowout_options o = {.har_path = p.har, .flows_path = p.flows,
                         .bodies_dir = p.bodies, .body_limit = 100,
                         .har_write_hook = stalled_write, .har_write_hook_arg = &s};
    flowout *f = flowout_new(NULL, &o);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(har_entries(p.har), 0); /* written at start, valid */

    /* The first exchange wakes the writer, which gets stuck writing it. */
    flow_record r = record(1, FLOW_DONE);
    flowout_exchange(f, &r);
    pthread_mutex_lock(&s.lock);
    while (s.entered == 0)
        pthread_cond_wait(&s.cond, &s.lock);
    pthread_mutex_unlock(&s.lock);

    /* While it is stuck, a worker hands over exchanges and body chunks.
     * Before the writer had its own thread, each of these took the lock
     * the write held: this loop would never end (Check's timeout fails the
     * test). Now each only queues. */
    for (unsigned long long id = 2; id <= 1000; id++) {
        flowout_body(f, id, false, "some body text", 14);
        r = record(id, FLOW_DONE);
        flowout_exchange(f, &r);
    }
    /* The file on disk is still the last whole document. */
    ck_assert_uint_eq(har_entries(p.har), 0);
    pthread_mutex_lock(&s.lock);
    ck_assert_int_eq(s.entered, 1);
    s.release = true;
    pthread_cond_broadcast(&s.cond);
    pthread_mutex_unlock(&s.lock);

    flowout_free(f); /* the last write: everything queued */
    ck_assert_uint_eq(har_entries(p.har), 1000);
    ck_assert_uint_eq(count_lines(p.flows), 1000);
    scratch_remove();
}
END_TEST

/* harwriter alone: flush waits for a write, and rewrites are batched. */
static int counting_write(har *h, void *arg)
{
    (*(int *)arg)++;
    return har_write(h);
}

START_TEST(har_writer_flush_and_batching)
{
    scratch_make("test_flowout");
    char path[256];
    snprintf(path, sizeof path, "%s", scratch_path("w.har"));
    har *h = har_new(path, "1");
    ck_assert_ptr_nonnull(h);
    /* A long interval: only flushes and the end write in this test. */
    harwriter *w = harwriter_new(h, 3600);
    ck_assert_ptr_nonnull(w);
    int writes = 0;
    harwriter_set_write(w, counting_write, &writes);
    ck_assert_int_eq(harwriter_flush(w), 0); /* nothing queued: at once */
    flow_record r = record(1, FLOW_DONE);
    ck_assert_int_eq(harwriter_add(w, &r), 0);
    ck_assert_int_eq(harwriter_flush(w), 0);
    ck_assert_uint_eq(har_entries(path), 1);
    int after_first = writes;
    ck_assert_int_ge(after_first, 1);
    /* Within the interval, more entries wait: no write until asked. */
    for (unsigned long long id = 2; id <= 50; id++) {
        r = record(id, FLOW_DONE);
        ck_assert_int_eq(harwriter_add(w, &r), 0);
    }
    ck_assert_int_eq(harwriter_flush(w), 0);
    ck_assert_int_eq(writes, after_first + 1);
    ck_assert_uint_eq(har_entries(path), 50);
    ck_assert_uint_eq(harwriter_lost(w), 0);

    /* A write that fails is reported to the flusher, and retried. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(scratch_dir), 0);
    r = record(51, FLOW_DONE);
    ck_assert_int_eq(harwriter_add(w, &r), 0);
    ck_assert_int_eq(harwriter_flush(w), -1);
    ck_assert_int_eq(mkdir(scratch_dir, 0700), 0);
    ck_assert_int_eq(harwriter_flush(w), 0);
    ck_assert_uint_eq(har_entries(path), 51);
    harwriter_free(w);
    harwriter_free(NULL);
    scratch_remove();
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("flowout");
    check_case(s, "console", 0, CHECK_TESTS(
        console_line_format, console_line_rounds_like_printf, wants_say_who_reads_what));
    check_case(s, "phases", 0, CHECK_TESTS(
        only_final_records_are_written_observers_see_all,
        final_record_carries_body_files_to_observers, output_failure_said_once_and_counted));
    check_case(s, "har", 30, CHECK_TESTS(
        har_writer_stuck_in_a_write_does_not_block_workers, har_writer_flush_and_batching));
    return s;
}
