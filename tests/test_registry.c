/*
 * test_registry.c — named callbacks: name validation, duplicates,
 * built-ins, generation-tagged ids that go stale on unregister and never
 * come back, unregister waiting out a running callback, and concurrent
 * register/unregister/lookup/invoke from several threads.
 */
#include <pthread.h>

#include "internal.h"
#include "testutil.h"

static ffb_status cb_count(ffb_call *call, void *ctx)
{
	(void)call;
	__atomic_fetch_add((int *)ctx, 1, __ATOMIC_RELAXED);
	return FFB_OK;
}

static void names_are_validated(void **state)
{
	(void)state;
	struct ffb__registry *r;
	assert_int_equal(ffb__registry_create(&r), FFB_OK);
	int n = 0;
	char longname[FFB_MAX_NAME_LEN + 2];
	memset(longname, 'a', sizeof(longname));
	assert_int_equal(ffb__registry_add(r, "", 0, cb_count, &n, false, NULL), FFB_ERR_INVALID_ARGUMENT);
	assert_int_equal(ffb__registry_add(r, longname, FFB_MAX_NAME_LEN + 1, cb_count, &n, false, NULL),
			 FFB_ERR_INVALID_ARGUMENT);
	assert_int_equal(ffb__registry_add(r, longname, FFB_MAX_NAME_LEN, cb_count, &n, false, NULL), FFB_OK);
	assert_int_equal(ffb__registry_add(r, "bad\xff", 4, cb_count, &n, false, NULL), FFB_ERR_INVALID_UTF8);
	assert_int_equal(ffb__registry_add(r, "\xc0\x80", 2, cb_count, &n, false, NULL), FFB_ERR_INVALID_UTF8);
	assert_int_equal(ffb__registry_add(r, "nul\0x", 5, cb_count, &n, false, NULL), FFB_ERR_INVALID_UTF8);
	assert_int_equal(ffb__registry_add(r, "café.größe", strlen("café.größe"), cb_count, &n, false, NULL),
			 FFB_OK);
	assert_int_equal(ffb__registry_add(r, "x", 1, NULL, &n, false, NULL), FFB_ERR_NULL_POINTER);
	ffb__registry_destroy(r);
}

static void duplicate_and_builtin_rules(void **state)
{
	(void)state;
	ffb_server *s;
	assert_int_equal(ffb_server_create(NULL, &s), FFB_OK);
	int n = 0;
	uint32_t id;
	assert_int_equal(ffb_server_lookup(s, "ffi.echo", &id), FFB_OK);
	assert_int_equal(id, FFB_FN_ECHO);
	assert_int_equal(ffb_server_lookup(s, "ffi.version", &id), FFB_OK);
	assert_int_equal(id, FFB_FN_VERSION);
	assert_int_equal(ffb_server_unregister(s, "ffi.echo"), FFB_ERR_INVALID_ARGUMENT);
	assert_int_equal(ffb_server_register(s, "ffi.echo", cb_count, &n, NULL), FFB_ERR_ALREADY_EXISTS);
	assert_int_equal(ffb_server_register(s, "my.handler", cb_count, &n, &id), FFB_OK);
	assert_int_equal(ffb_server_register(s, "my.handler", cb_count, &n, NULL), FFB_ERR_ALREADY_EXISTS);
	assert_int_equal(ffb_server_unregister(s, "no.such"), FFB_ERR_NOT_FOUND);
	assert_int_equal(ffb_server_lookup(s, "no.such", &id), FFB_ERR_NOT_FOUND);
	ffb_server_destroy(s);
}

static void unregistered_id_goes_stale_and_is_never_reused(void **state)
{
	(void)state;
	struct ffb__registry *r;
	assert_int_equal(ffb__registry_create(&r), FFB_OK);
	int n = 0;
	uint32_t first, again;
	assert_int_equal(ffb__registry_add(r, "a", 1, cb_count, &n, false, &first), FFB_OK);
	ffb_call call = {0};
	assert_int_equal(ffb__registry_invoke(r, first, &call, true), FFB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ffb__registry_remove(r, "a", 1), FFB_OK);
	assert_int_equal(ffb__registry_invoke(r, first, &call, true), FFB__NO_FUNCTION);
	assert_int_equal(ffb__registry_add(r, "b", 1, cb_count, &n, false, &again), FFB_OK);
	assert_int_equal(FFB_FN_SLOT(again), FFB_FN_SLOT(first)); /* same slot... */
	assert_int_not_equal(again, first);                     /* ...new generation */
	assert_int_equal(ffb__registry_invoke(r, first, &call, true), FFB__NO_FUNCTION);
	assert_int_equal(ffb__registry_invoke(r, again, &call, true), FFB_OK);
	assert_int_equal(ffb__registry_invoke(r, 0, &call, true), FFB__NO_FUNCTION);
	assert_int_equal(ffb__registry_invoke(r, FFB_FN_MAKE(1, FFB_MAX_FUNCTIONS), &call, true), FFB__NO_FUNCTION);
	/* churn a slot to its last generation: it retires instead of wrapping */
	for (int i = 0; i < 70000; i++) {
		uint32_t id;
		if (ffb__registry_add(r, "c", 1, cb_count, &n, false, &id) != FFB_OK)
			fail();
		assert_int_equal(ffb__registry_remove(r, "c", 1), FFB_OK);
		assert_int_not_equal(FFB_FN_GEN(id), 0);
	}
	ffb__registry_destroy(r);
}

/* ---- unregister waits for a running callback --------------------------- */

struct slow {
	int entered, finished;
};

static ffb_status cb_slow(ffb_call *call, void *ctx)
{
	(void)call;
	struct slow *s = ctx;
	__atomic_store_n(&s->entered, 1, __ATOMIC_RELEASE);
	usleep(100000);
	__atomic_store_n(&s->finished, 1, __ATOMIC_RELEASE);
	return FFB_OK;
}

struct invoke_arg {
	struct ffb__registry *r;
	uint32_t id;
};

static void *invoke_thread(void *arg)
{
	struct invoke_arg *a = arg;
	ffb_call call = {0};
	ffb__registry_invoke(a->r, a->id, &call, true);
	return NULL;
}

static void unregister_returns_only_after_running_callback_finished(void **state)
{
	(void)state;
	struct ffb__registry *r;
	assert_int_equal(ffb__registry_create(&r), FFB_OK);
	struct slow s = {0};
	struct invoke_arg a = {.r = r};
	assert_int_equal(ffb__registry_add(r, "slow", 4, cb_slow, &s, false, &a.id), FFB_OK);
	pthread_t t;
	pthread_create(&t, NULL, invoke_thread, &a);
	assert_true(WAIT_UNTIL(__atomic_load_n(&s.entered, __ATOMIC_ACQUIRE), 2000));
	assert_int_equal(ffb__registry_remove(r, "slow", 4), FFB_OK);
	assert_int_equal(__atomic_load_n(&s.finished, __ATOMIC_ACQUIRE), 1);
	pthread_join(t, NULL);
	ffb__registry_destroy(r);
}

static ffb_status cb_unregister_self(ffb_call *call, void *ctx)
{
	(void)call;
	return ffb__registry_remove(ctx, "self", 4);
}

static void callback_cannot_unregister_and_deadlock(void **state)
{
	(void)state;
	struct ffb__registry *r;
	assert_int_equal(ffb__registry_create(&r), FFB_OK);
	uint32_t id;
	assert_int_equal(ffb__registry_add(r, "self", 4, cb_unregister_self, r, false, &id), FFB_OK);
	ffb_call call = {0};
	assert_int_equal(ffb__registry_invoke(r, id, &call, true), FFB_ERR_INVALID_ARGUMENT);
	ffb__registry_destroy(r);
}

/* ---- concurrency ----------------------------------------------------- */

#define THREADS 4
#define ROUNDS 3000

struct conc {
	struct ffb__registry *r;
	int calls[THREADS];
	int index;
	int errors;
};

static void *churn_thread(void *arg)
{
	struct conc *c = arg;
	int me = __atomic_fetch_add(&c->index, 1, __ATOMIC_RELAXED);
	char name[32];
	snprintf(name, sizeof(name), "churn.%d", me);
	for (int i = 0; i < ROUNDS; i++) {
		uint32_t id, found;
		if (ffb__registry_add(c->r, name, strlen(name), cb_count, &c->calls[me], false, &id) != FFB_OK ||
		    ffb__registry_find(c->r, name, strlen(name), &found) != FFB_OK || found != id) {
			__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		ffb_call call = {0};
		if (ffb__registry_invoke(c->r, id, &call, true) != FFB_OK)
			__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
		if (ffb__registry_remove(c->r, name, strlen(name)) != FFB_OK ||
		    ffb__registry_invoke(c->r, id, &call, true) != FFB__NO_FUNCTION)
			__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *lookup_thread(void *arg)
{
	struct conc *c = arg;
	for (int i = 0; i < ROUNDS * 4; i++) {
		uint32_t id;
		char name[32];
		snprintf(name, sizeof(name), "churn.%d", i % THREADS);
		/* Whatever it finds must be a live or freshly stale id, never a crash. */
		if (ffb__registry_find(c->r, name, strlen(name), &id) == FFB_OK) {
			ffb_call call = {0};
			ffb_status st = ffb__registry_invoke(c->r, id, &call, true);
			if (st != FFB_OK && st != FFB__NO_FUNCTION)
				__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void concurrent_register_unregister_lookup(void **state)
{
	(void)state;
	struct conc c = {0};
	assert_int_equal(ffb__registry_create(&c.r), FFB_OK);
	pthread_t t[THREADS + 2];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, churn_thread, &c);
	for (int i = THREADS; i < THREADS + 2; i++)
		pthread_create(&t[i], NULL, lookup_thread, &c);
	for (int i = 0; i < THREADS + 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(c.errors, 0);
	int total = 0;
	for (int i = 0; i < THREADS; i++)
		total += c.calls[i];
	assert_true(total >= THREADS * ROUNDS); /* every churn invoke ran its own callback */
	ffb__registry_destroy(c.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_are_validated),
		cmocka_unit_test(duplicate_and_builtin_rules),
		cmocka_unit_test(unregistered_id_goes_stale_and_is_never_reused),
		cmocka_unit_test(unregister_returns_only_after_running_callback_finished),
		cmocka_unit_test(callback_cannot_unregister_and_deadlock),
		cmocka_unit_test(concurrent_register_unregister_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
