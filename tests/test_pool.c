/*
 * test_pool.c — a server that does real work: pooled callbacks on worker
 * threads, deferred answers from any thread in any order, cancellation
 * (CANCEL entries, client timeouts, session death, stop), several
 * dispatchers, the inline budget, unregister against a running pooled
 * call, and ffb_server_post. In-process pairs where the race detector
 * must see both ends (this binary is in the TSan set); a forked server
 * where a process must die.
 *
 * TSan sees the server's threads (dispatchers, workers, answer stacks)
 * but not the rings: the two ends of an in-process pair map the arena at
 * two addresses, so a release store through one mapping and the acquire
 * load through the other are unrelated to it. What a callback tells the
 * test outside the arena therefore goes through atomics.
 */
#include <pthread.h>
#include <sys/socket.h>

#include "client_internal.h"
#include "testutil.h"

static uint64_t since_ms(uint64_t t0)
{
	return (test_now_ns() - t0) / 1000000;
}

static struct ffb_server_options opts_with(uint32_t workers, uint32_t dispatchers)
{
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.workers = workers;
	o.dispatchers = dispatchers;
	return o;
}

static ffb_server *start_inproc(const struct ffb_server_options *o)
{
	ffb_server *s;
	assert_int_equal(ffb_server_create(o, &s), FFB_OK);
	return s;
}

static ffb_client *inproc_client(ffb_server *s)
{
	ffb_client *c;
	assert_int_equal(ffb_server_connect_inproc(s, NULL, &c), FFB_OK);
	return c;
}

static ffb_handle alloc_u32(ffb_client *c, uint32_t v)
{
	ffb_handle h;
	void *p;
	assert_int_equal(ffb_client_alloc(c, 4, &h), FFB_OK);
	assert_int_equal(ffb_client_data(c, h, &p, NULL), FFB_OK);
	memcpy(p, &v, 4);
	return h;
}

static uint32_t u32_of(const ffb_call *call)
{
	uint32_t v = 0;
	if (ffb_call_len(call) >= 4)
		memcpy(&v, ffb_call_data(call), 4);
	return v;
}

/* ---- where callbacks run ------------------------------------------------ */

static pthread_t inline_thread, pooled_thread;

static ffb_status cb_where_inline(ffb_call *call, void *ctx)
{
	(void)call;
	(void)ctx;
	__atomic_store_n(&inline_thread, pthread_self(), __ATOMIC_RELEASE);
	return FFB_OK;
}

static ffb_status cb_where_pooled(ffb_call *call, void *ctx)
{
	(void)call;
	(void)ctx;
	__atomic_store_n(&pooled_thread, pthread_self(), __ATOMIC_RELEASE);
	return FFB_OK;
}

static void pooled_callback_runs_on_a_worker_not_the_dispatcher(void **state)
{
	(void)state;
	struct ffb_server_options o = opts_with(2, 1);
	ffb_server *s = start_inproc(&o);
	assert_int_equal(ffb_server_register_flags(s, "w.inline", cb_where_inline, NULL, FFB_CB_INLINE, NULL),
			 FFB_OK);
	assert_int_equal(ffb_server_register_flags(s, "w.pooled", cb_where_pooled, NULL, FFB_CB_POOL, NULL), FFB_OK);
	assert_int_equal(ffb_server_register_flags(s, "w.bad", cb_where_pooled, NULL, 0x10, NULL),
			 FFB_ERR_INVALID_ARGUMENT);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	ffb_client *c = inproc_client(s);
	ffb_result r;
	assert_int_equal(ffb_client_invoke(c, "w.inline", (ffb_handle){0}, 0, 2000000000ll, &r), FFB_OK);
	assert_int_equal(ffb_client_invoke(c, "w.pooled", (ffb_handle){0}, 0, 2000000000ll, &r), FFB_OK);
	assert_false(pthread_equal(__atomic_load_n(&inline_thread, __ATOMIC_ACQUIRE),
				   __atomic_load_n(&pooled_thread, __ATOMIC_ACQUIRE)));
	struct ffb_server_stats st;
	assert_int_equal(ffb_server_stats(s, &st), FFB_OK);
	assert_int_equal(st.pooled_calls, 1);
	assert_int_equal(st.calls_in_flight, 0);
	ffb_client_close(c);
	ffb_server_destroy(s);

	/* Without workers a pooled registration is refused. */
	o = opts_with(0, 1);
	s = start_inproc(&o);
	assert_int_equal(ffb_server_register_flags(s, "w.pooled", cb_where_pooled, NULL, FFB_CB_POOL, NULL),
			 FFB_ERR_INVALID_ARGUMENT);
	assert_int_equal(ffb_server_register(s, "w.inline", cb_where_inline, NULL, NULL), FFB_OK);
	ffb_server_destroy(s);
}

/* ---- blocking callbacks run side by side ------------------------------ */

static ffb_status cb_sleep_ms(ffb_call *call, void *ctx)
{
	(void)ctx;
	usleep(u32_of(call) * 1000u);
	return ffb_call_reply_input(call, ffb_call_len(call));
}

static void setup_sleep(ffb_server *s)
{
	ffb_server_register_flags(s, "t.sleep", cb_sleep_ms, NULL, FFB_CB_POOL, NULL);
}

static void sixty_four_sleeping_calls_take_one_sleep_on_sixty_four_workers(void **state)
{
	(void)state;
	struct test_server ts;
	struct ffb_server_options o = opts_with(64, 1);
	test_server_start_opts(&ts, setup_sleep, &o);
	ffb_client *c;
	assert_int_equal(ffb_client_connect(ts.path, NULL, &c), FFB_OK);
	uint32_t fn;
	assert_int_equal(ffb_client_resolve(c, "t.sleep", &fn), FFB_OK);
	ffb_handle in[64];
	uint64_t ids[64];
	for (int i = 0; i < 64; i++)
		in[i] = alloc_u32(c, 10);
	uint64_t t0 = test_now_ns();
	for (int i = 0; i < 64; i++)
		assert_int_equal(ffb_client_submit(c, fn, in[i], 4, &ids[i]), FFB_OK);
	uint32_t got = 0;
	while (got < 64) {
		struct ffb_completion done[64];
		uint32_t n;
		assert_int_equal(ffb_client_poll(c, done, 64, &n, 2000000000ll), FFB_OK);
		for (uint32_t k = 0; k < n; k++)
			assert_int_equal(done[k].result.status, FFB_OK);
		got += n;
	}
	uint64_t ms = since_ms(t0);
	print_message("64 calls of a 10 ms pooled sleep on 64 workers: %llu ms\n", (unsigned long long)ms);
	assert_true(ms < 40); /* one after another would be 640 ms */
	ffb_client_close(c);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

/* ---- deferred answers from other threads, out of order ------------------ */

struct answer_q {
	pthread_mutex_t lock;
	pthread_cond_t more;
	ffb_call *calls[1024];
	unsigned n;
	bool quit;
};

static struct answer_q aq = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

static ffb_status cb_defer(ffb_call *call, void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&aq.lock);
	ffb_call *k = aq.n < 1024 ? ffb_call_defer(call) : NULL;
	if (k) {
		aq.calls[aq.n++] = k;
		pthread_cond_signal(&aq.more);
	}
	pthread_mutex_unlock(&aq.lock);
	return k ? FFB_OK : ffb_call_reply_input(call, ffb_call_len(call));
}

/* Answers kept calls in batches, last in first out, after a shuffle. */
static void *answerer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (;;) {
		ffb_call *batch[64];
		pthread_mutex_lock(&aq.lock);
		while (aq.n == 0 && !aq.quit)
			pthread_cond_wait(&aq.more, &aq.lock);
		if (aq.n == 0) {
			pthread_mutex_unlock(&aq.lock);
			return NULL;
		}
		unsigned n = aq.n < 64 ? aq.n : 64;
		aq.n -= n;
		memcpy(batch, aq.calls + aq.n, n * sizeof(batch[0]));
		pthread_mutex_unlock(&aq.lock);
		for (unsigned i = n; i > 1; i--) {
			unsigned j = (unsigned)rand_r(&seed) % i;
			ffb_call *t = batch[i - 1];
			batch[i - 1] = batch[j];
			batch[j] = t;
		}
		for (unsigned i = 0; i < n; i++) {
			/* Reply with a new block holding the input's tag, so a
			 * misdelivered answer shows. */
			uint32_t tag = u32_of(batch[i]);
			ffb_call_reply_bytes(batch[i], &tag, 4);
			ffb_call_finish(batch[i], FFB_OK);
		}
	}
}

struct caller {
	ffb_server *s;
	uint32_t id;
	uint32_t calls;
	uint32_t ok;
};

/* Pipelines `calls` calls, 48 in flight, each tagged (id << 24 | i). */
static void *caller_main(void *arg)
{
	struct caller *cl = arg;
	ffb_client *c;
	if (ffb_server_connect_inproc(cl->s, NULL, &c))
		return NULL;
	uint32_t fn;
	if (ffb_client_resolve(c, "t.defer", &fn))
		return NULL;
	enum { WINDOW = 48 };
	ffb_handle in[WINDOW];
	uint32_t tag_of_slot[WINDOW];
	uint64_t id_of_slot[WINDOW];
	for (int i = 0; i < WINDOW; i++)
		if (ffb_client_alloc(c, 4, &in[i]))
			return NULL;
	uint32_t sent = 0, inflight = 0;
	bool busy[WINDOW] = {0};
	while (cl->ok < cl->calls) {
		for (int w = 0; w < WINDOW && sent < cl->calls; w++) {
			if (busy[w])
				continue;
			uint32_t tag = cl->id << 24 | sent;
			void *p;
			ffb_client_data(c, in[w], &p, NULL);
			memcpy(p, &tag, 4);
			if (ffb_client_submit(c, fn, in[w], 4, &id_of_slot[w]))
				break;
			tag_of_slot[w] = tag;
			busy[w] = true;
			sent++;
			inflight++;
		}
		struct ffb_completion done[WINDOW];
		uint32_t n;
		if (ffb_client_poll(c, done, WINDOW, &n, 2000000000ll))
			break;
		for (uint32_t k = 0; k < n; k++) {
			int w = 0;
			while (w < WINDOW && !(busy[w] && id_of_slot[w] == done[k].call_id))
				w++;
			if (w == WINDOW || done[k].result.status != FFB_OK)
				return NULL; /* an answer to no call of ours */
			void *p;
			uint32_t got = 0;
			if (ffb_client_data(c, done[k].result.handle, &p, NULL) == FFB_OK)
				memcpy(&got, p, 4);
			ffb_client_free(c, done[k].result.handle);
			if (got != tag_of_slot[w])
				return NULL; /* another call's answer */
			busy[w] = false;
			inflight--;
			cl->ok++;
		}
	}
	ffb_client_close(c);
	return NULL;
}

static void deferred_answers_from_other_threads_out_of_order_reach_their_own_calls(void **state)
{
	(void)state;
	struct ffb_server_options o = opts_with(2, 2);
	ffb_server *s = start_inproc(&o);
	assert_int_equal(ffb_server_register(s, "t.defer", cb_defer, NULL, NULL), FFB_OK);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	aq.quit = false;
	pthread_t ans[2], callers[4];
	for (uintptr_t i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&ans[i], NULL, answerer, (void *)(i + 1)), 0);
	struct caller cl[4];
	for (uint32_t i = 0; i < 4; i++) {
		cl[i] = (struct caller){.s = s, .id = i + 1, .calls = 20000};
		assert_int_equal(pthread_create(&callers[i], NULL, caller_main, &cl[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(callers[i], NULL);
		assert_int_equal(cl[i].ok, cl[i].calls);
	}
	pthread_mutex_lock(&aq.lock);
	aq.quit = true;
	pthread_cond_broadcast(&aq.more);
	pthread_mutex_unlock(&aq.lock);
	for (int i = 0; i < 2; i++)
		pthread_join(ans[i], NULL);
	struct ffb_server_stats st;
	assert_int_equal(ffb_server_stats(s, &st), FFB_OK);
	assert_int_equal(st.deferred_calls, 80000);
	assert_int_equal(st.calls_in_flight, 0);
	ffb_server_destroy(s);
}

/* ---- cancellation ------------------------------------------------------- */

static uint64_t seen_cancels;

/* Pooled: waits up to its u32 ms for its caller to cancel. */
static ffb_status cb_wait(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint64_t end = test_now_ns() + (uint64_t)u32_of(call) * 1000000ull;
	while (test_now_ns() < end) {
		if (ffb_call_cancelled(call)) {
			__atomic_fetch_add(&seen_cancels, 1, __ATOMIC_RELAXED);
			return FFB_ERR_CANCELLED;
		}
		usleep(200);
	}
	return FFB_OK;
}

static ffb_status cb_cancels(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint64_t n = __atomic_load_n(&seen_cancels, __ATOMIC_RELAXED);
	return ffb_call_reply_bytes(call, &n, sizeof(n));
}

static void setup_wait(ffb_server *s)
{
	ffb_server_register_flags(s, "t.wait", cb_wait, NULL, FFB_CB_POOL, NULL);
	ffb_server_register(s, "t.cancels", cb_cancels, NULL, NULL);
}

static uint64_t server_cancels(ffb_client *c)
{
	ffb_result r;
	if (ffb_client_invoke(c, "t.cancels", (ffb_handle){0}, 0, 2000000000ll, &r) || r.len != 8)
		return UINT64_MAX;
	uint64_t n;
	void *p;
	ffb_client_data(c, r.handle, &p, NULL);
	memcpy(&n, p, 8);
	ffb_client_free(c, r.handle);
	return n;
}

/* Write one raw request entry into c's request ring and publish it. */
static void push_raw(ffb_client *c, uint64_t call_id, uint64_t handle, uint32_t len, uint32_t kind, uint32_t fn)
{
	struct ffb_ring_entry e = {.call_id = call_id, .handle = handle, .len = len, .kind = kind, .fn_or_status = fn};
	assert_true(ffb_ring_prod_free(&c->req, 1) > 0);
	ffb_ring_prod_push(&c->req, &e);
	ffb_client_flush(c);
}

static void client_timeout_cancels_the_call_on_the_server(void **state)
{
	(void)state;
	struct test_server ts;
	test_server_start_opts(&ts, setup_wait, NULL);
	ffb_client *c;
	assert_int_equal(ffb_client_connect(ts.path, NULL, &c), FFB_OK);
	ffb_handle h = alloc_u32(c, 5000);
	ffb_result r;
	uint64_t t0 = test_now_ns();
	assert_int_equal(ffb_client_invoke(c, "t.wait", h, 4, 50000000ll, &r), FFB_ERR_TIMEOUT);
	assert_true(WAIT_UNTIL(server_cancels(c) == 1, 2000));
	assert_true(since_ms(t0) < 1000); /* the handler stopped long before its 5 s */
	/* The late answer (CANCELLED) came and freed the given-up input. */
	struct ffb_client_stats cs;
	assert_true(WAIT_UNTIL((ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, 100000000ll, &r),
				ffb_client_stats(c, &cs), cs.pending == 0),
			       2000));
	assert_int_not_equal(ffb_client_free(c, h), FFB_OK);
	ffb_client_close(c);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

static void cancel_reaches_only_its_own_sessions_call(void **state)
{
	(void)state;
	struct test_server ts;
	test_server_start_opts(&ts, setup_wait, NULL);
	ffb_client *a, *b;
	assert_int_equal(ffb_client_connect(ts.path, NULL, &a), FFB_OK);
	assert_int_equal(ffb_client_connect(ts.path, NULL, &b), FFB_OK);
	uint32_t fn;
	assert_int_equal(ffb_client_resolve(a, "t.wait", &fn), FFB_OK);
	uint64_t id;
	assert_int_equal(ffb_client_submit(a, fn, alloc_u32(a, 300), 4, &id), FFB_OK);
	assert_int_equal(ffb_client_flush(a), FFB_OK);
	/* B forges a CANCEL naming A's call id, and one for nothing at all:
	 * both harmless, B stays connected. */
	push_raw(b, id, 0, 0, FFB_KIND_CANCEL, 0);
	push_raw(b, FFB_CALL_MAKE(9u, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, 12345u), 0, 0, FFB_KIND_CANCEL, 0);
	struct ffb_completion done;
	uint32_t n;
	uint64_t t0 = test_now_ns();
	assert_int_equal(ffb_client_poll(a, &done, 1, &n, 3000000000ll), FFB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(done.result.status, FFB_OK); /* ran its full 300 ms */
	assert_true(since_ms(t0) >= 250);
	assert_int_equal(server_cancels(b), 0);
	/* A's own cancel ends its next call at once. */
	assert_int_equal(ffb_client_submit(a, fn, alloc_u32(a, 5000), 4, &id), FFB_OK);
	assert_int_equal(ffb_client_flush(a), FFB_OK);
	usleep(20000);
	t0 = test_now_ns();
	assert_int_equal(ffb_client_cancel(a, id), FFB_OK);
	assert_int_equal(ffb_client_cancel(a, id + 1), FFB_ERR_NOT_FOUND);
	assert_int_equal(ffb_client_poll(a, &done, 1, &n, 3000000000ll), FFB_OK);
	assert_int_equal(done.result.status, FFB_ERR_CANCELLED);
	assert_true(since_ms(t0) < 500);
	assert_int_equal(server_cancels(b), 1);
	ffb_client_close(a);
	ffb_client_close(b);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

/* Reads the goodbye a cut session gets: its calls end with PROTOCOL. */
static void bad_cancel_entries_cut_the_session(void **state)
{
	(void)state;
	struct test_server ts;
	test_server_start_opts(&ts, setup_wait, NULL);
	static const struct {
		uint64_t call_id, handle;
		uint32_t len, fn;
	} bad[] = {{0, 0, 0, 0}, {7, 1, 0, 0}, {7, 0, 4, 0}, {7, 0, 0, 3}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ffb_client *c;
		assert_int_equal(ffb_client_connect(ts.path, NULL, &c), FFB_OK);
		push_raw(c, bad[i].call_id, bad[i].handle, bad[i].len, FFB_KIND_CANCEL, bad[i].fn);
		ffb_result r;
		ffb_status st;
		uint64_t t0 = test_now_ns();
		do
			st = ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, 100000000ll, &r);
		while (st == FFB_OK && since_ms(t0) < 2000);
		assert_int_equal(st, FFB_ERR_PROTOCOL);
		ffb_client_close(c);
	}
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

/* ---- kept calls at the end of a session or of the server --------------- */

static int cancel_fired, finished_after_cancel;

struct held {
	pthread_mutex_t lock;
	ffb_call *calls[16];
	unsigned n;
};

static struct held held = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_cancel_finish(void *ctx)
{
	/* Runs on a dispatcher: must not block; here it only counts. The
	 * holder finishes the call. */
	(void)ctx;
	__atomic_fetch_add(&cancel_fired, 1, __ATOMIC_RELAXED);
}

static ffb_status cb_hold(ffb_call *call, void *ctx)
{
	(void)ctx;
	ffb_call *k = ffb_call_defer(call);
	if (!k)
		return FFB_ERR_SYSTEM;
	assert_int_equal(ffb_call_on_cancel(k, on_cancel_finish, NULL), FFB_OK);
	assert_int_equal(ffb_call_on_cancel(k, on_cancel_finish, NULL), FFB_ERR_INVALID_ARGUMENT);
	pthread_mutex_lock(&held.lock);
	held.calls[held.n++] = k;
	pthread_mutex_unlock(&held.lock);
	return FFB_OK;
}

/* Finishes every held call once it reads cancelled. */
static void *finisher(void *arg)
{
	(void)arg;
	for (int spins = 0; spins < 5000; spins++) {
		pthread_mutex_lock(&held.lock);
		for (unsigned i = 0; i < held.n;)
			if (ffb_call_cancelled(held.calls[i])) {
				ffb_call_finish(held.calls[i], FFB_ERR_CANCELLED);
				held.calls[i] = held.calls[--held.n];
				__atomic_fetch_add(&finished_after_cancel, 1, __ATOMIC_RELAXED);
			} else {
				i++;
			}
		pthread_mutex_unlock(&held.lock);
		if (__atomic_load_n(&finished_after_cancel, __ATOMIC_RELAXED) >= 4)
			return NULL;
		usleep(1000);
	}
	return NULL;
}

static void stop_cancels_kept_calls_and_every_call_ends_once(void **state)
{
	(void)state;
	cancel_fired = finished_after_cancel = 0;
	held.n = 0;
	struct ffb_server_options o = opts_with(2, 1);
	ffb_server *s = start_inproc(&o);
	assert_int_equal(ffb_server_register(s, "t.hold", cb_hold, NULL, NULL), FFB_OK);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	ffb_client *c = inproc_client(s);
	uint32_t fn;
	assert_int_equal(ffb_client_resolve(c, "t.hold", &fn), FFB_OK);
	uint64_t ids[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(ffb_client_submit(c, fn, (ffb_handle){0}, 0, &ids[i]), FFB_OK);
	assert_int_equal(ffb_client_flush(c), FFB_OK);
	assert_true(WAIT_UNTIL((pthread_mutex_lock(&held.lock), held.n == 4 ? (pthread_mutex_unlock(&held.lock), 1)
									     : (pthread_mutex_unlock(&held.lock), 0)),
			       2000));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, finisher, NULL), 0);
	ffb_server_stop(s);
	pthread_join(t, NULL);
	assert_int_equal(__atomic_load_n(&finished_after_cancel, __ATOMIC_RELAXED), 4);
	assert_int_equal(__atomic_load_n(&cancel_fired, __ATOMIC_RELAXED), 4);
	/* Each call ends once, CLOSED: its answer (cancelled by the stop), or the goodbye. */
	uint32_t ended = 0;
	while (ended < 4) {
		struct ffb_completion done[4];
		uint32_t n;
		ffb_status st = ffb_client_poll(c, done, 4, &n, 2000000000ll);
		if (st == FFB_ERR_WOULD_BLOCK)
			break;
		assert_int_equal(st, FFB_OK);
		for (uint32_t k = 0; k < n; k++)
			assert_int_equal(done[k].result.status, FFB_ERR_CLOSED); /* cancelled by the stop */
		ended += n;
	}
	assert_int_equal(ended, 4);
	ffb_client_close(c);
	ffb_server_destroy(s); /* ASan: nothing of the session outlives it */
}

static void setup_sleepy(ffb_server *s)
{
	ffb_server_register_flags(s, "t.sleep", cb_sleep_ms, NULL, FFB_CB_POOL, NULL);
	ffb_server_register(s, "t.hold", cb_hold, NULL, NULL);
}

/* A client process dies with calls on workers: its session is freed once
 * they end, the server goes on. */
static void killed_client_with_calls_on_workers_is_freed_after_they_end(void **state)
{
	(void)state;
	struct test_server ts;
	struct ffb_server_options o = opts_with(4, 1);
	test_server_start_opts(&ts, setup_sleepy, &o);
	usleep(50000);
	int fds0 = count_fds(ts.pid), maps0 = count_arena_maps(ts.pid);
	pid_t child = fork();
	if (child == 0) {
		ffb_client *c;
		uint32_t fn;
		if (ffb_client_connect(ts.path, NULL, &c) || ffb_client_resolve(c, "t.sleep", &fn))
			_exit(2);
		for (int i = 0; i < 8; i++) {
			uint64_t id;
			if (ffb_client_submit(c, fn, alloc_u32(c, 300), 4, &id))
				_exit(3);
		}
		ffb_client_flush(c);
		usleep(50000);
		_exit(0); /* dies with 8 calls running or waiting for a worker */
	}
	int status;
	waitpid(child, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 0);
	ffb_client *c;
	assert_int_equal(ffb_client_connect(ts.path, NULL, &c), FFB_OK);
	ffb_result r;
	assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, 1000000000ll, &r), FFB_OK);
	ffb_client_close(c);
	assert_true(WAIT_UNTIL(count_fds(ts.pid) == fds0 && count_arena_maps(ts.pid) == maps0, 3000));
	assert_true(test_server_alive(&ts));
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

/* ---- several dispatchers ---------------------------------------------- */

static ffb_status cb_thread_id(ffb_call *call, void *ctx)
{
	(void)ctx;
	pthread_t me = pthread_self();
	return ffb_call_reply_bytes(call, &me, sizeof(me));
}

static void sessions_spread_over_the_dispatchers(void **state)
{
	(void)state;
	struct ffb_server_options o = opts_with(1, 2);
	ffb_server *s = start_inproc(&o);
	assert_int_equal(ffb_server_register(s, "t.tid", cb_thread_id, NULL, NULL), FFB_OK);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	ffb_client *c[2];
	pthread_t tid[2];
	for (int i = 0; i < 2; i++) {
		c[i] = inproc_client(s);
		ffb_result r;
		assert_int_equal(ffb_client_invoke(c[i], "t.tid", (ffb_handle){0}, 0, 2000000000ll, &r), FFB_OK);
		void *p;
		assert_int_equal(ffb_client_data(c[i], r.handle, &p, NULL), FFB_OK);
		memcpy(&tid[i], p, sizeof(tid[i]));
		ffb_client_free(c[i], r.handle);
	}
	assert_false(pthread_equal(tid[0], tid[1]));
	for (int i = 0; i < 2; i++)
		ffb_client_close(c[i]);
	ffb_server_destroy(s);
}

/* ---- the inline budget ------------------------------------------------- */

static int slow_logs;

static void count_slow_logs(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level == FFB_LOG_WARN && strstr(msg, "\"t.slow\"") && strstr(msg, "inline budget"))
		__atomic_fetch_add(&slow_logs, 1, __ATOMIC_RELAXED);
}

static ffb_status cb_slow_inline(ffb_call *call, void *ctx)
{
	(void)call;
	(void)ctx;
	usleep(3000);
	return FFB_OK;
}

static void slow_inline_callback_is_counted_and_logged_once(void **state)
{
	(void)state;
	ffb_set_log(count_slow_logs, NULL, FFB_LOG_WARN);
	struct ffb_server_options o = opts_with(1, 1);
	o.inline_budget_ns = 1000000;
	ffb_server *s = start_inproc(&o);
	assert_int_equal(ffb_server_register(s, "t.slow", cb_slow_inline, NULL, NULL), FFB_OK);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	ffb_client *c = inproc_client(s);
	ffb_result r;
	for (int i = 0; i < 3; i++)
		assert_int_equal(ffb_client_invoke(c, "t.slow", (ffb_handle){0}, 0, 2000000000ll, &r), FFB_OK);
	assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, 2000000000ll, &r), FFB_OK);
	struct ffb_server_stats st;
	assert_int_equal(ffb_server_stats(s, &st), FFB_OK);
	assert_int_equal(st.slow_inline_calls, 3);
	assert_int_equal(__atomic_load_n(&slow_logs, __ATOMIC_RELAXED), 1);
	ffb_client_close(c);
	ffb_server_destroy(s);
	ffb_set_log(NULL, NULL, FFB_LOG_WARN);
}

/* ---- unregister and post ----------------------------------------------- */

static int pooled_started, pooled_ended;

static ffb_status cb_long(ffb_call *call, void *ctx)
{
	(void)call;
	(void)ctx;
	__atomic_store_n(&pooled_started, 1, __ATOMIC_RELEASE);
	usleep(100000);
	__atomic_store_n(&pooled_ended, 1, __ATOMIC_RELEASE);
	return FFB_OK;
}

static void unregister_waits_for_a_running_pooled_call(void **state)
{
	(void)state;
	struct ffb_server_options o = opts_with(2, 1);
	ffb_server *s = start_inproc(&o);
	assert_int_equal(ffb_server_register_flags(s, "t.long", cb_long, NULL, FFB_CB_POOL, NULL), FFB_OK);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	ffb_client *c = inproc_client(s);
	uint32_t fn;
	uint64_t id;
	assert_int_equal(ffb_client_resolve(c, "t.long", &fn), FFB_OK);
	assert_int_equal(ffb_client_submit(c, fn, (ffb_handle){0}, 0, &id), FFB_OK);
	assert_int_equal(ffb_client_flush(c), FFB_OK);
	assert_true(WAIT_UNTIL(__atomic_load_n(&pooled_started, __ATOMIC_ACQUIRE), 2000));
	/* The dispatcher is not held up meanwhile. */
	ffb_result r;
	uint64_t t0 = test_now_ns();
	assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, 2000000000ll, &r), FFB_OK);
	assert_true(since_ms(t0) < 50);
	assert_int_equal(ffb_server_unregister(s, "t.long"), FFB_OK);
	assert_true(__atomic_load_n(&pooled_ended, __ATOMIC_ACQUIRE));
	struct ffb_completion done;
	uint32_t n;
	assert_int_equal(ffb_client_poll(c, &done, 1, &n, 2000000000ll), FFB_OK);
	assert_int_equal(done.result.status, FFB_OK);
	assert_int_equal(ffb_client_call(c, fn, (ffb_handle){0}, 0, 2000000000ll, &r), FFB_ERR_NOT_FOUND);
	ffb_client_close(c);
	ffb_server_destroy(s);
}

static int inline_started, inline_ended;

static ffb_status cb_inline_long(ffb_call *call, void *ctx)
{
	(void)call;
	(void)ctx;
	__atomic_store_n(&inline_started, 1, __ATOMIC_RELEASE);
	usleep(100000); /* on the dispatcher, on purpose */
	__atomic_store_n(&inline_ended, 1, __ATOMIC_RELEASE);
	return FFB_OK;
}

/* The dispatcher counts no call on its slot (registry.c, readers): an
 * unregister that comes while an inline callback runs still returns only
 * after it ended, and then no call of it runs. */
static void unregister_waits_for_a_running_inline_call(void **state)
{
	(void)state;
	struct ffb_server_options o = opts_with(1, 1);
	ffb_server *s = start_inproc(&o);
	assert_int_equal(ffb_server_register(s, "t.inline_long", cb_inline_long, NULL, NULL), FFB_OK);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	ffb_client *c = inproc_client(s);
	uint32_t fn;
	uint64_t id;
	assert_int_equal(ffb_client_resolve(c, "t.inline_long", &fn), FFB_OK);
	assert_int_equal(ffb_client_submit(c, fn, (ffb_handle){0}, 0, &id), FFB_OK);
	assert_int_equal(ffb_client_flush(c), FFB_OK);
	assert_true(WAIT_UNTIL(__atomic_load_n(&inline_started, __ATOMIC_ACQUIRE), 2000));
	assert_int_equal(ffb_server_unregister(s, "t.inline_long"), FFB_OK);
	assert_true(__atomic_load_n(&inline_ended, __ATOMIC_ACQUIRE));
	struct ffb_completion done;
	uint32_t n;
	assert_int_equal(ffb_client_poll(c, &done, 1, &n, 2000000000ll), FFB_OK);
	assert_int_equal(done.result.status, FFB_OK);
	ffb_result r;
	assert_int_equal(ffb_client_call(c, fn, (ffb_handle){0}, 0, 2000000000ll, &r), FFB_ERR_NOT_FOUND);
	/* The name is free again, and a new tenant serves. */
	__atomic_store_n(&inline_started, 0, __ATOMIC_RELAXED);
	assert_int_equal(ffb_server_register(s, "t.inline_long", cb_inline_long, NULL, NULL), FFB_OK);
	ffb_client_close(c);
	ffb_server_destroy(s);
}

static int posted_ran;
static pthread_t posted_on;

static void posted(void *ctx)
{
	__atomic_store_n(&posted_on, pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n((int *)ctx, 1, __ATOMIC_RELEASE);
}

static void post_runs_a_function_on_a_worker(void **state)
{
	(void)state;
	struct ffb_server_options o = opts_with(1, 1);
	ffb_server *s = start_inproc(&o);
	assert_int_equal(ffb_server_post(s, posted, &posted_ran), FFB_OK); /* before run: waits */
	assert_int_equal(ffb_server_start(s), FFB_OK);
	assert_true(WAIT_UNTIL(__atomic_load_n(&posted_ran, __ATOMIC_ACQUIRE), 2000));
	assert_false(pthread_equal(__atomic_load_n(&posted_on, __ATOMIC_RELAXED), pthread_self()));
	ffb_server_destroy(s);
	o = opts_with(0, 1);
	s = start_inproc(&o);
	assert_int_equal(ffb_server_post(s, posted, &posted_ran), FFB_ERR_INVALID_ARGUMENT);
	ffb_server_destroy(s);
}

/* ---- stats read while dispatchers count -------------------------------- */

static ffb_status cb_ok(ffb_call *call, void *ctx)
{
	(void)call;
	(void)ctx;
	return FFB_OK;
}

struct stat_load {
	ffb_server *s;
	int done;
};

static void *stat_caller(void *arg)
{
	struct stat_load *l = arg;
	ffb_client *c = inproc_client(l->s);
	ffb_result r;
	for (int i = 0; i < 300; i++) {
		assert_int_equal(ffb_client_invoke(c, "t.inline_ok", (ffb_handle){0}, 0, 5000000000ll, &r), FFB_OK);
		if (i % 3 == 0)
			assert_int_equal(ffb_client_invoke(c, "t.pool_ok", (ffb_handle){0}, 0, 5000000000ll, &r), FFB_OK);
	}
	ffb_client_close(c);
	__atomic_fetch_add(&l->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static uint64_t fn_calls(ffb_server *s, const char *name)
{
	struct ffb_stats_fn fns[FFB_STATS_MAX_FUNCTIONS];
	uint32_t n;
	assert_int_equal(ffb_server_fn_stats(s, fns, FFB_STATS_MAX_FUNCTIONS, &n, NULL), FFB_OK);
	for (uint32_t i = 0; i < n; i++)
		if (fns[i].name_len == strlen(name) && !memcmp(fns[i].name, name, fns[i].name_len))
			return fns[i].calls;
	fail_msg("no function %s", name);
	return 0;
}

/* Each dispatcher counts its own calls with relaxed stores; a reader on
 * another thread sums them racily but safely (TSan), and once the calls
 * are over the sums are exact. */
static void stats_read_while_dispatchers_count_every_call_once(void **state)
{
	(void)state;
	struct ffb_server_options o = opts_with(2, 2);
	ffb_server *s = start_inproc(&o);
	assert_int_equal(ffb_server_register(s, "t.inline_ok", cb_ok, NULL, NULL), FFB_OK);
	assert_int_equal(ffb_server_register_flags(s, "t.pool_ok", cb_ok, NULL, FFB_CB_POOL, NULL), FFB_OK);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	struct stat_load l = {.s = s};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, stat_caller, &l), 0);
	uint64_t last = 0;
	while (__atomic_load_n(&l.done, __ATOMIC_ACQUIRE) < 2) {
		struct ffb_server_stats st;
		assert_int_equal(ffb_server_stats(s, &st), FFB_OK);
		assert_true(st.results[FFB_OK] >= last);
		last = st.results[FFB_OK];
		fn_calls(s, "t.inline_ok");
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	struct ffb_server_stats st;
	assert_int_equal(ffb_server_stats(s, &st), FFB_OK);
	assert_int_equal(fn_calls(s, "t.inline_ok"), 600);
	assert_int_equal(fn_calls(s, "t.pool_ok"), 200);
	assert_int_equal(st.results[FFB_OK], 800);
	assert_int_equal(st.pool_waiting, 0);
	assert_int_equal(st.calls_in_flight, 0);
	ffb_server_destroy(s);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pooled_callback_runs_on_a_worker_not_the_dispatcher),
		cmocka_unit_test(sixty_four_sleeping_calls_take_one_sleep_on_sixty_four_workers),
		cmocka_unit_test(deferred_answers_from_other_threads_out_of_order_reach_their_own_calls),
		cmocka_unit_test(client_timeout_cancels_the_call_on_the_server),
		cmocka_unit_test(cancel_reaches_only_its_own_sessions_call),
		cmocka_unit_test(bad_cancel_entries_cut_the_session),
		cmocka_unit_test(stop_cancels_kept_calls_and_every_call_ends_once),
		cmocka_unit_test(killed_client_with_calls_on_workers_is_freed_after_they_end),
		cmocka_unit_test(sessions_spread_over_the_dispatchers),
		cmocka_unit_test(slow_inline_callback_is_counted_and_logged_once),
		cmocka_unit_test(unregister_waits_for_a_running_pooled_call),
		cmocka_unit_test(unregister_waits_for_a_running_inline_call),
		cmocka_unit_test(post_runs_a_function_on_a_worker),
		cmocka_unit_test(stats_read_while_dispatchers_count_every_call_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
