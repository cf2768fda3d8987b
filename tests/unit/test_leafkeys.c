/* Unit tests for leafkeys: the shared leaf keys, the RSA one made by a
 * background thread, and the handshakes that wait for it. */
#include "check_main.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "leafkeys.h"
#include "log.h"
#include "scratch.h"

/* What the background thread's ready() calls saw. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls;
    bool key_was_ready;   /* leafkeys_ready(RSA) from inside ready() */
    leafkeys *ks;
} wake;

static void wake_init(wake *w, leafkeys *ks)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->calls = 0;
    w->key_was_ready = false;
    w->ks = ks;
}

static void on_ready(void *arg)
{
    wake *w = arg;
    pthread_mutex_lock(&w->lock);
    w->calls++;
    w->key_was_ready = leafkeys_ready(w->ks, CA_KEY_RSA2048) != NULL;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Waits (a deadline, not a measure) for a first call of on_ready. */
static int wait_calls(wake *w)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&w->lock);
    while (w->calls == 0 && pthread_cond_timedwait(&w->cond, &w->lock, &deadline) == 0)
        ;
    int calls = w->calls;
    pthread_mutex_unlock(&w->lock);
    return calls;
}

static void hold(void)
{
    scratch_make("test_leafkeys");
    ck_assert_int_eq(setenv("TLSPEEK_TEST_HOLD_LEAF_KEY", scratch_path("go"), 1), 0);
}

static void release(void)
{
    int fd = open(scratch_path("go"), O_WRONLY | O_CREAT, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static int key_type(const leafkey *k)
{
    return EVP_PKEY_get_base_id(k->key);
}

START_TEST(ec_alone_makes_rsa_only_when_asked)
{
    leafkeys *ks = leafkeys_new(CA_KEY_EC_P256, false);
    ck_assert_ptr_nonnull(ks);
    const leafkey *ec = leafkeys_ready(ks, CA_KEY_EC_P256);
    ck_assert_ptr_nonnull(ec);
    ck_assert_int_eq(key_type(ec), EVP_PKEY_EC);
    ck_assert_ptr_nonnull(ec->pub);
    /* Nothing makes it in the background: nobody waits, get makes it. */
    ck_assert_ptr_null(leafkeys_ready(ks, CA_KEY_RSA2048));
    wake w;
    wake_init(&w, ks);
    ck_assert(!leafkeys_wait(ks, CA_KEY_RSA2048, on_ready, &w));
    const leafkey *rsa = leafkeys_get(ks, CA_KEY_RSA2048);
    ck_assert_ptr_nonnull(rsa);
    ck_assert_int_eq(key_type(rsa), EVP_PKEY_RSA);
    ck_assert_ptr_eq(leafkeys_ready(ks, CA_KEY_RSA2048), rsa);
    ck_assert_ptr_eq(leafkeys_get(ks, CA_KEY_EC_P256), ec);
    ck_assert_int_eq(w.calls, 0);
    leafkeys_free(ks);
}
END_TEST

START_TEST(forced_rsa_is_ready_at_once)
{
    leafkeys *ks = leafkeys_new(CA_KEY_RSA2048, true);
    ck_assert_ptr_nonnull(ks);
    const leafkey *rsa = leafkeys_ready(ks, CA_KEY_RSA2048);
    ck_assert_ptr_nonnull(rsa);
    ck_assert_int_eq(key_type(rsa), EVP_PKEY_RSA);
    ck_assert_ptr_null(leafkeys_ready(ks, CA_KEY_EC_P256));
    leafkeys_free(ks);
}
END_TEST

START_TEST(background_rsa_wakes_its_waiter_once_made)
{
    hold();
    leafkeys *ks = leafkeys_new(CA_KEY_EC_P256, true);
    ck_assert_ptr_nonnull(ks);
    ck_assert_ptr_null(leafkeys_ready(ks, CA_KEY_RSA2048));
    wake w;
    wake_init(&w, ks);
    ck_assert(leafkeys_wait(ks, CA_KEY_RSA2048, on_ready, &w));
    ck_assert_int_eq(w.calls, 0);
    release();
    ck_assert_int_eq(wait_calls(&w), 1);
    ck_assert(w.key_was_ready); /* published before the waiter is told */
    const leafkey *rsa = leafkeys_ready(ks, CA_KEY_RSA2048);
    ck_assert_ptr_nonnull(rsa);
    ck_assert_int_eq(key_type(rsa), EVP_PKEY_RSA);
    ck_assert_ptr_eq(leafkeys_get(ks, CA_KEY_RSA2048), rsa);
    /* Made: nobody waits any more. */
    ck_assert(!leafkeys_wait(ks, CA_KEY_RSA2048, on_ready, &w));
    leafkeys_free(ks);
    ck_assert_int_eq(w.calls, 1);
    scratch_remove();
}
END_TEST

START_TEST(cancelled_waiter_is_not_woken)
{
    hold();
    leafkeys *ks = leafkeys_new(CA_KEY_EC_P256, true);
    wake gone, stays;
    wake_init(&gone, ks);
    wake_init(&stays, ks);
    ck_assert(leafkeys_wait(ks, CA_KEY_RSA2048, on_ready, &gone));
    ck_assert(leafkeys_wait(ks, CA_KEY_RSA2048, on_ready, &stays));
    leafkeys_cancel(ks, &gone);
    release();
    /* get waits for the background rather than making a second key. */
    const leafkey *rsa = leafkeys_get(ks, CA_KEY_RSA2048);
    ck_assert_ptr_nonnull(rsa);
    ck_assert_int_eq(wait_calls(&stays), 1);
    ck_assert_int_eq(gone.calls, 0);
    ck_assert_ptr_eq(leafkeys_ready(ks, CA_KEY_RSA2048), rsa);
    leafkeys_free(ks);
    scratch_remove();
}
END_TEST

START_TEST(free_abandons_the_making)
{
    /* Held: freeing stops the thread, which never makes the key. */
    hold();
    leafkeys *ks = leafkeys_new(CA_KEY_EC_P256, true);
    wake w;
    wake_init(&w, ks);
    ck_assert(leafkeys_wait(ks, CA_KEY_RSA2048, on_ready, &w));
    leafkeys_cancel(ks, &w);
    leafkeys_free(ks);
    ck_assert_int_eq(w.calls, 0);
    scratch_remove();
    /* Not held: freed at once, mid-generation or after. */
    ck_assert_int_eq(unsetenv("TLSPEEK_TEST_HOLD_LEAF_KEY"), 0);
    for (int i = 0; i < 3; i++)
        leafkeys_free(leafkeys_new(CA_KEY_EC_P256, true));
    leafkeys_free(NULL);
}
END_TEST

Suite *unit_suite(void)
{
    log_configure(true, false);
    Suite *s = suite_create("leafkeys");
    check_case(s, "keys", 0, CHECK_TESTS(
        ec_alone_makes_rsa_only_when_asked, forced_rsa_is_ready_at_once,
        background_rsa_wakes_its_waiter_once_made, cancelled_waiter_is_not_woken,
        free_abandons_the_making));
    return s;
}
