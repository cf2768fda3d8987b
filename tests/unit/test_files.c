/* Unit tests for files: mkdir -p, existence, joining. */
#include "check_main.h"
#include "files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "scratch.h"

/* The scratch directory each test runs in (tests/unit/scratch.c). */
#define root scratch_dir

static void setup(void)
{
    scratch_make("tlspeek-files");
}

static void teardown(void)
{
    scratch_remove();
}

START_TEST(make_dirs_makes_parents_with_the_mode)
{
    char *deep = files_join(root, "a/b/c");
    ck_assert_ptr_nonnull(deep);
    mode_t old = umask(0);
    ck_assert_int_eq(files_make_dirs(deep, 0700), 0);
    umask(old);
    struct stat st;
    ck_assert_int_eq(stat(deep, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    /* Again: existing directories are fine and left as they are. */
    ck_assert_int_eq(chmod(deep, 0750), 0);
    ck_assert_int_eq(files_make_dirs(deep, 0700), 0);
    ck_assert_int_eq(stat(deep, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0750);
    free(deep);
}
END_TEST

START_TEST(make_dirs_refuses_a_file_in_the_way)
{
    char *file = files_join(root, "plain");
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(files_make_dirs(file, 0700), -1);
    char *below = files_join(file, "sub");
    ck_assert_int_eq(files_make_dirs(below, 0700), -1);
    free(below);
    free(file);
}
END_TEST

START_TEST(exists_tells_present_absent_and_unknown)
{
    ck_assert_int_eq(files_exists(root, NULL), 1);
    ck_assert_int_eq(files_exists(root, "nothing"), 0);
    char *file = files_join(root, "plain");
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(files_exists(root, "plain"), 1);
    /* Below a file: not there (ENOTDIR), not an error. */
    ck_assert_int_eq(files_exists(file, "cert9.db"), 0);
    free(file);
    if (geteuid() != 0) { /* root reads through any mode */
        char *locked = files_join(root, "locked");
        ck_assert_int_eq(mkdir(locked, 0000), 0);
        ck_assert_int_eq(files_exists(locked, "x"), -1);
        chmod(locked, 0700);
        free(locked);
    }
}
END_TEST

START_TEST(join_puts_one_slash)
{
    char *p = files_join("/etc", "hosts");
    ck_assert_str_eq(p, "/etc/hosts");
    free(p);
}
END_TEST

Suite *unit_suite(void)
{
    log_configure(true, false); /* the refusals log; only errors show */
    Suite *s = suite_create("files");
    TCase *tc = check_case(s, "files", 0, CHECK_TESTS(
        make_dirs_makes_parents_with_the_mode, make_dirs_refuses_a_file_in_the_way,
        exists_tells_present_absent_and_unknown, join_puts_one_slash));
    tcase_add_checked_fixture(tc, setup, teardown);
    return s;
}
