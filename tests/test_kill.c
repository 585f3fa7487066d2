/*
 * test_kill.c — cross-process death, with real processes.
 *
 * A client process SIGKILLed in the middle of a call must not disturb the
 * server or its other clients, and the server must give back everything
 * the dead session had (its fds and its arena mapping) within two seconds.
 * A server SIGKILLed under a client with calls in flight must end every
 * one of them exactly once with PEER_GONE within a second; a server
 * stopped gracefully (SIGTERM) must end them with its goodbye, CLOSED,
 * after answering what it had already taken.
 *
 * The slow callback (300 ms) writes a byte to a pipe every process
 * inherits when it starts, so the test knows a call is in progress.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

#include "client_internal.h"
#include "testutil.h"

#define SEC 1000000000ll
#define MS 1000000ull
#define SLOW_MS 300

static int started[2]; /* the slow callback writes a byte to started[1] */

static ffb_status cb_slow(ffb_call *call, void *ctx)
{
	(void)ctx;
	char b = 's';
	if (write(started[1], &b, 1) != 1)
		return FFB_ERR_SYSTEM;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = SLOW_MS * 1000000l};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
	return ffb_call_len(call) ? ffb_call_reply_input(call, ffb_call_len(call)) : FFB_OK;
}

static void setup(ffb_server *s)
{
	ffb_server_register(s, "test.slow", cb_slow, NULL, NULL);
}

/* Wait up to `ms` for the slow callback to start; true if it did. */
static bool slow_call_started(int ms)
{
	struct pollfd p = {.fd = started[0], .events = POLLIN};
	if (poll(&p, 1, ms) != 1)
		return false;
	char b;
	return read(started[0], &b, 1) == 1;
}

/* Throw away start bytes of calls we did not wait for. */
static void drain_started(void)
{
	char buf[64];
	while (read(started[0], buf, sizeof(buf)) > 0) {
	}
}

static ffb_client *connect_ok(const struct test_server *ts)
{
	ffb_client *c = NULL;
	assert_int_equal(ffb_client_connect(ts->path, NULL, &c), FFB_OK);
	return c;
}

static void fill(uint8_t *p, uint32_t n, uint32_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 29u + i * 13u + (i >> 8));
}

/* One echo round trip of n bytes, every byte checked. */
static void echo_ok(ffb_client *c, uint32_t n, uint32_t seed)
{
	ffb_handle h;
	uint8_t *d;
	assert_int_equal(ffb_client_alloc(c, n, &h), FFB_OK);
	assert_int_equal(ffb_client_data(c, h, (void **)&d, NULL), FFB_OK);
	fill(d, n, seed);
	ffb_result r;
	assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, h, n, 5 * SEC, &r), FFB_OK);
	assert_int_equal(r.handle.id, h.id);
	assert_int_equal(r.len, n);
	uint8_t want[4096];
	fill(want, n, seed);
	assert_memory_equal(d, want, n);
	assert_int_equal(ffb_client_free(c, h), FFB_OK);
}

/* The server's fd and arena-mapping counts once they hold still for 50 ms. */
static void settled_counts(pid_t pid, int *fds, int *maps)
{
	int same = 0, lf = -1, lm = -1;
	for (int i = 0; i < 400 && same < 10; i++) {
		int f = count_fds(pid), m = count_arena_maps(pid);
		same = f == lf && m == lm ? same + 1 : 0;
		lf = f;
		lm = m;
		usleep(5000);
	}
	*fds = lf;
	*maps = lm;
}

static bool counts_are(pid_t pid, int fds, int maps)
{
	return count_fds(pid) == fds && count_arena_maps(pid) == maps;
}

/* ---- (a) a client process dies mid-call -------------------------------- */

/* In the child: connect, call test.slow, wait forever. Never returns. */
static void child_calls_slow(const char *path)
{
	ffb_client *c;
	ffb_handle h;
	ffb_result r;
	if (ffb_client_connect(path, NULL, &c) != FFB_OK || ffb_client_alloc(c, 64, &h) != FFB_OK)
		_exit(2);
	ffb_client_invoke(c, "test.slow", h, 64, -1, &r);
	_exit(3);
}

static void killed_client_mid_call_frees_its_session_and_spares_others(void **state)
{
	(void)state;
	struct test_server ts;
	test_server_start(&ts, setup);
	ffb_client *by = connect_ok(&ts);
	echo_ok(by, 100, 1);
	int fds0, maps0;
	settled_counts(ts.pid, &fds0, &maps0);
	assert_int_equal(maps0, 1); /* the bystander's arena */

	uint64_t worst = 0;
	for (int round = 0; round < 20; round++) {
		pid_t child = fork();
		assert_true(child >= 0);
		if (child == 0)
			child_calls_slow(ts.path);
		assert_true(slow_call_started(3000));
		assert_true(count_arena_maps(ts.pid) == 2); /* the child's session is there */
		uint64_t t0 = test_now_ns();
		assert_int_equal(kill(child, SIGKILL), 0);
		int status;
		assert_int_equal(waitpid(child, &status, 0), child);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

		echo_ok(by, 1 + (uint32_t)round * 100, (uint32_t)round);
		assert_true(WAIT_UNTIL(counts_are(ts.pid, fds0, maps0), 2000));
		uint64_t took = test_now_ns() - t0;
		assert_true(took < 2000 * MS);
		if (took > worst)
			worst = took;
		assert_true(test_server_alive(&ts));
	}
	if (getenv("FFB_TEST_LOG"))
		fprintf(stderr, "dead client's session gone after at most %llu ms\n",
			(unsigned long long)(worst / MS));
	echo_ok(by, 4000, 99);
	ffb_client_close(by);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

/* ---- (b) the server dies with calls in flight -------------------------- */

struct sync_call {
	ffb_client *c;
	uint32_t fn;
	ffb_status st;
	ffb_result r;
	uint64_t done_ns;
};

static void *sync_call_thread(void *arg)
{
	struct sync_call *s = arg;
	s->st = ffb_client_call(s->c, s->fn, (ffb_handle){0}, 0, -1, &s->r);
	s->done_ns = test_now_ns();
	return NULL;
}

/* Collect completions until `want` arrived or `ms` passed. */
static uint32_t collect(ffb_client *c, struct ffb_completion *out, uint32_t want, int ms, uint64_t *last_ns)
{
	uint32_t got = 0;
	uint64_t end = test_now_ns() + (uint64_t)ms * MS;
	while (got < want && test_now_ns() < end) {
		uint32_t n = 0;
		ffb_status st = ffb_client_poll(c, out + got, want - got, &n, 50 * (int64_t)MS);
		got += n;
		if (n)
			*last_ns = test_now_ns();
		if (st != FFB_OK && st != FFB_ERR_TIMEOUT && st != FFB_ERR_WOULD_BLOCK)
			break;
	}
	return got;
}

/* Every id in ids[] appears exactly once in done[], with status `want`. */
static void each_once_with(const uint64_t *ids, uint32_t n, const struct ffb_completion *done, uint32_t ndone,
			   ffb_status want)
{
	assert_int_equal(ndone, n);
	for (uint32_t i = 0; i < n; i++) {
		int seen = 0;
		for (uint32_t k = 0; k < ndone; k++)
			if (done[k].call_id == ids[i]) {
				seen++;
				assert_int_equal(done[k].result.status, want);
			}
		assert_int_equal(seen, 1);
	}
}

static void killed_server_ends_every_pending_call_once_with_peer_gone(void **state)
{
	(void)state;
	struct test_server ts;
	test_server_start(&ts, setup);
	ffb_client *c = connect_ok(&ts);
	ffb_client *c2 = connect_ok(&ts);
	struct ffb_client_options spin;
	ffb_client_options_init(&spin);
	spin.wait_mode = FFB_WAIT_SPIN;
	ffb_client *c3 = NULL;
	assert_int_equal(ffb_client_connect(ts.path, &spin, &c3), FFB_OK);
	uint32_t slow;
	assert_int_equal(ffb_client_resolve(c, "test.slow", &slow), FFB_OK);
	echo_ok(c, 100, 2);

	enum { N = 4 };
	uint64_t ids[N];
	ffb_handle in[N];
	for (int i = 0; i < N; i++) {
		assert_int_equal(ffb_client_alloc(c, 32, &in[i]), FFB_OK);
		assert_int_equal(ffb_client_submit(c, slow, in[i], 32, &ids[i]), FFB_OK);
	}
	assert_int_equal(ffb_client_flush(c), FFB_OK);
	assert_true(slow_call_started(3000)); /* the first is running */
	/* a parked and a spinning synchronous caller, queued behind them */
	struct sync_call sc = {.c = c2, .fn = slow}, ss = {.c = c3, .fn = slow};
	pthread_t t, t3;
	assert_int_equal(pthread_create(&t, NULL, sync_call_thread, &sc), 0);
	assert_int_equal(pthread_create(&t3, NULL, sync_call_thread, &ss), 0);
	usleep(20000);

	uint64_t t0 = test_now_ns(), last = t0; /* before the kill: a waiter may see it first */
	assert_int_equal(kill(ts.pid, SIGKILL), 0);
	struct ffb_completion done[N + 2];
	uint32_t n = collect(c, done, N, 2000, &last);
	each_once_with(ids, N, done, n, FFB_ERR_PEER_GONE);
	assert_true(last - t0 < 1000 * MS);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(pthread_join(t3, NULL), 0);
	assert_int_equal(sc.st, FFB_ERR_PEER_GONE);
	assert_true(sc.done_ns - t0 < 1000 * MS);
	assert_int_equal(ss.st, FFB_ERR_PEER_GONE);
	assert_true(ss.done_ns - t0 < 1000 * MS);
	if (getenv("FFB_TEST_LOG"))
		fprintf(stderr, "server death seen after %llu ms (async), %llu ms (sync parked), %llu ms (sync spinning)\n",
			(unsigned long long)((last - t0) / MS), (unsigned long long)((sc.done_ns - t0) / MS),
			(unsigned long long)((ss.done_ns - t0) / MS));

	/* nothing more completes, and the session stays dead */
	uint32_t more = 0;
	assert_true(ffb_client_poll(c, done, N + 2, &more, 100 * (int64_t)MS) != FFB_OK || more == 0);
	assert_int_equal(more, 0);
	ffb_result r;
	assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, SEC, &r), FFB_ERR_PEER_GONE);
	ffb_client_close(c);
	ffb_client_close(c2);
	ffb_client_close(c3);
	int status = test_server_stop(&ts, SIGKILL);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	drain_started();
}

/* An answer the server published before it died is a real answer: it is
 * delivered (bytes intact), and only the call still running gets
 * PEER_GONE. */
static void answers_published_before_the_server_died_are_delivered(void **state)
{
	(void)state;
	struct test_server ts;
	test_server_start(&ts, setup);
	ffb_client *c = connect_ok(&ts);
	uint32_t slow;
	assert_int_equal(ffb_client_resolve(c, "test.slow", &slow), FFB_OK);
	ffb_handle a;
	uint8_t *d;
	assert_int_equal(ffb_client_alloc(c, 200, &a), FFB_OK);
	assert_int_equal(ffb_client_data(c, a, (void **)&d, NULL), FFB_OK);
	fill(d, 200, 5);
	uint32_t tail0 = __atomic_load_n(&c->resp.ctl->p_tail, __ATOMIC_ACQUIRE);
	uint64_t ida, ids;
	assert_int_equal(ffb_client_submit(c, FFB_FN_ECHO, a, 200, &ida), FFB_OK);
	assert_int_equal(ffb_client_flush(c), FFB_OK);
	/* published, but not consumed: we do not poll */
	assert_true(WAIT_UNTIL(__atomic_load_n(&c->resp.ctl->p_tail, __ATOMIC_ACQUIRE) != tail0, 2000));
	assert_int_equal(ffb_client_submit(c, slow, (ffb_handle){0}, 0, &ids), FFB_OK);
	assert_int_equal(ffb_client_flush(c), FFB_OK);
	assert_true(slow_call_started(3000));
	assert_int_equal(kill(ts.pid, SIGKILL), 0);

	uint64_t last = 0;
	struct ffb_completion done[4];
	uint32_t n = collect(c, done, 2, 2000, &last);
	assert_int_equal(n, 2);
	for (uint32_t i = 0; i < n; i++) {
		if (done[i].call_id == ida) {
			assert_int_equal(done[i].result.status, FFB_OK);
			assert_int_equal(done[i].result.handle.id, a.id);
			assert_int_equal(done[i].result.len, 200);
		} else {
			assert_true(done[i].call_id == ids);
			assert_int_equal(done[i].result.status, FFB_ERR_PEER_GONE);
		}
	}
	assert_true(done[0].call_id != done[1].call_id);
	uint8_t want[200];
	fill(want, 200, 5);
	assert_memory_equal(d, want, 200);
	assert_int_equal(ffb_client_free(c, a), FFB_OK);
	ffb_client_close(c);
	test_server_stop(&ts, SIGKILL);
}

/* A client killed with calls still queued in its request ring (the server
 * busy with someone else's slow call): the server may still run them into
 * the dead session's arena, then takes the session apart; nothing leaks and
 * the others carry on. */
static void killed_client_with_queued_calls_is_cleaned_up(void **state)
{
	(void)state;
	struct test_server ts;
	test_server_start(&ts, setup);
	ffb_client *by = connect_ok(&ts);
	uint32_t slow;
	assert_int_equal(ffb_client_resolve(by, "test.slow", &slow), FFB_OK);
	echo_ok(by, 100, 6);
	int fds0, maps0;
	settled_counts(ts.pid, &fds0, &maps0);
	for (int round = 0; round < 5; round++) {
		int ready[2], connected[2];
		assert_int_equal(pipe(ready), 0);
		assert_int_equal(pipe(connected), 0);
		pid_t child = fork();
		assert_true(child >= 0);
		if (child == 0) {
			ffb_client *c;
			if (ffb_client_connect(ts.path, NULL, &c) != FFB_OK)
				_exit(2);
			if (write(connected[1], "c", 1) != 1)
				_exit(6);
			char x;
			if (read(ready[0], &x, 1) != 1) /* wait until the server is busy */
				_exit(3);
			for (int i = 0; i < 20; i++) {
				ffb_handle h;
				uint64_t id;
				if (ffb_client_alloc(c, 64, &h) || ffb_client_submit(c, FFB_FN_ECHO, h, 64, &id))
					_exit(4);
			}
			ffb_client_flush(c);
			pause();
			_exit(5);
		}
		char x;
		assert_int_equal(read(connected[0], &x, 1), 1); /* its session exists */
		close(connected[0]);
		close(connected[1]);
		uint64_t id;
		assert_int_equal(ffb_client_submit(by, slow, (ffb_handle){0}, 0, &id), FFB_OK);
		assert_int_equal(ffb_client_flush(by), FFB_OK);
		assert_true(slow_call_started(3000));
		assert_int_equal(write(ready[1], "go", 1), 1);
		usleep(50000); /* the child queues its calls */
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		close(ready[0]);
		close(ready[1]);
		struct ffb_completion done[2];
		uint64_t last = 0;
		assert_int_equal(collect(by, done, 1, 3000, &last), 1);
		assert_true(done[0].call_id == id);
		assert_int_equal(done[0].result.status, FFB_OK);
		echo_ok(by, 500, 7 + (uint32_t)round);
		assert_true(WAIT_UNTIL(counts_are(ts.pid, fds0, maps0), 2000));
		assert_true(test_server_alive(&ts));
	}
	ffb_client_close(by);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

/* ---- (c) the server stops gracefully ----------------------------------- */

/* Reap a server we already sent SIGTERM: wait for it to exit on its own
 * rather than signal it again (a second SIGTERM can land after
 * ffb_server_destroy, in testutil's handler; see the report). Returns its
 * wait status; SIGKILLs it if it does not exit within 3 s. */
static int reap_stopped(struct test_server *ts)
{
	int status = 0;
	if (!WAIT_UNTIL(waitpid(ts->pid, &status, WNOHANG) == ts->pid, 3000))
		return test_server_stop(ts, SIGKILL);
	ts->pid = 0;
	test_server_stop(ts, 0); /* removes the socket and its directory */
	return status;
}

/* Calls the server never took: it is frozen (SIGSTOP) while parked, the
 * calls are published, then SIGTERM and SIGCONT. The signal handler runs
 * before the loop can look at the ring again, so the loop stops with the
 * calls still in it: each must end once with the goodbye's CLOSED. */
static void stopped_server_ends_untaken_calls_once_with_closed(void **state)
{
	(void)state;
	struct test_server ts;
	test_server_start(&ts, setup);
	ffb_client *c = connect_ok(&ts);
	echo_ok(c, 100, 3);
	assert_true(WAIT_UNTIL(proc_state(ts.pid) == 'S', 2000)); /* parked */
	usleep(20000);
	assert_int_equal(proc_state(ts.pid), 'S');
	assert_int_equal(kill(ts.pid, SIGSTOP), 0);
	assert_true(WAIT_UNTIL(proc_state(ts.pid) == 'T', 2000));

	enum { N = 5 };
	uint64_t ids[N];
	for (int i = 0; i < N; i++) {
		ffb_handle h;
		assert_int_equal(ffb_client_alloc(c, 16, &h), FFB_OK);
		assert_int_equal(ffb_client_submit(c, FFB_FN_ECHO, h, 16, &ids[i]), FFB_OK);
	}
	assert_int_equal(ffb_client_flush(c), FFB_OK);
	assert_int_equal(kill(ts.pid, SIGTERM), 0);
	assert_int_equal(kill(ts.pid, SIGCONT), 0);

	uint64_t last = 0;
	struct ffb_completion done[N + 2];
	uint32_t n = collect(c, done, N, 3000, &last);
	each_once_with(ids, N, done, n, FFB_ERR_CLOSED);
	uint32_t more = 0;
	assert_true(ffb_client_poll(c, done, N + 2, &more, 100 * (int64_t)MS) != FFB_OK || more == 0);
	assert_int_equal(more, 0);
	ffb_result r;
	assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, SEC, &r), FFB_ERR_CLOSED);
	ffb_client_close(c);
	assert_int_equal(reap_stopped(&ts), 0); /* it exited 0 on its own */
}

/* A call already running when SIGTERM arrives gets its real answer (the
 * loop finishes what it took); the session then ends with CLOSED. */
static void stopped_server_answers_the_call_in_progress_then_says_closed(void **state)
{
	(void)state;
	struct test_server ts;
	test_server_start(&ts, setup);
	ffb_client *c = connect_ok(&ts);
	uint32_t slow;
	assert_int_equal(ffb_client_resolve(c, "test.slow", &slow), FFB_OK);
	ffb_handle h;
	uint8_t *d;
	assert_int_equal(ffb_client_alloc(c, 48, &h), FFB_OK);
	assert_int_equal(ffb_client_data(c, h, (void **)&d, NULL), FFB_OK);
	fill(d, 48, 4);
	uint64_t id;
	assert_int_equal(ffb_client_submit(c, slow, h, 48, &id), FFB_OK);
	assert_int_equal(ffb_client_flush(c), FFB_OK);
	assert_true(slow_call_started(3000));
	assert_int_equal(kill(ts.pid, SIGTERM), 0);

	uint64_t last = 0;
	struct ffb_completion done[2];
	uint32_t n = collect(c, done, 1, 3000, &last);
	assert_int_equal(n, 1);
	assert_true(done[0].call_id == id);
	assert_int_equal(done[0].result.status, FFB_OK);
	assert_int_equal(done[0].result.handle.id, h.id);
	uint8_t want[48];
	fill(want, 48, 4);
	assert_memory_equal(d, want, 48);
	ffb_result r;
	assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, 3 * SEC, &r), FFB_ERR_CLOSED);
	ffb_client_close(c);
	assert_int_equal(reap_stopped(&ts), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(started, O_CLOEXEC) != 0)
		return 1;
	/* the read end never blocks the test; the server child keeps both */
	fcntl(started[0], F_SETFL, O_NONBLOCK);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(killed_client_mid_call_frees_its_session_and_spares_others),
		cmocka_unit_test(killed_client_with_queued_calls_is_cleaned_up),
		cmocka_unit_test(killed_server_ends_every_pending_call_once_with_peer_gone),
		cmocka_unit_test(answers_published_before_the_server_died_are_delivered),
		cmocka_unit_test(stopped_server_ends_untaken_calls_once_with_closed),
		cmocka_unit_test(stopped_server_answers_the_call_in_progress_then_says_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
