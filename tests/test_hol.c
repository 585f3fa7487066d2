/*
 * test_hol.c — no head-of-line blocking: one session's slow pooled calls
 * (50 ms each, one at a time, and a CALLV of 8 of them) leave another
 * session's 64-byte echo p99 where it is.
 *
 * A victim client in this process (CPU 1) measures verified echo round
 * trips on its server; an abuser process calls a 50 ms pooled callback
 * in a loop. As in tests/torture/caps.c, the abuse's own CPU cost is
 * separated from the server's fault by a twin server in the same run:
 * rounds alternate between the abuser on the victim's server ("own") and
 * on a twin ("twin"), and the victim's p99 under "own" must be under
 * 2x its p99 under "twin" + 10 us. Before pooled callbacks existed, the
 * first condition cost the victim the full 50 ms at p99.
 *
 * FFB_TEST_LOG=1 prints the figures.
 */
#include <sched.h>

#include "client_internal.h"
#include "testutil.h"

#define SEC 1000000000ll
#define ROUNDS 8
#define CALLS_PER_ROUND 7500
#define PACE_NS 20000      /* 20 us between victim calls: a round spans 150 ms of abuse */
#define ROUND_NS 1000000000 /* but a round that stalls stops after 1 s */

static struct test_server ts, twin;

static void pin_to(int cpu)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static ffb_status cb_sleep_ms(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t ms = 0;
	if (ffb_call_len(call) >= 4)
		memcpy(&ms, ffb_call_data(call), 4);
	usleep(ms * 1000u);
	return ffb_call_reply_input(call, ffb_call_len(call));
}

static void setup(ffb_server *s)
{
	pin_to(0); /* before run: its threads inherit it */
	ffb_server_register_flags(s, "t.sleep", cb_sleep_ms, NULL, FFB_CB_POOL, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t p99_of(uint64_t *lat, uint32_t n)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	return lat[n - 1 - n / 100];
}

/* Up to n verified 64-byte echo round trips into lat (returns how many:
 * fewer if ROUND_NS ran out), PACE_NS apart (busy
 * waits, so the server stays in its spin window): the calls span a
 * stretch of the abuse, so a server that stalls behind a slow call
 * delays a share of them, instead of a burst of thousands slipping
 * through between two slow calls. */
static uint32_t measure(ffb_client *c, uint32_t n, uint64_t *lat)
{
	uint64_t end = test_now_ns() + ROUND_NS;
	ffb_handle h;
	uint8_t *d;
	assert_int_equal(ffb_client_alloc(c, 64, &h), FFB_OK);
	assert_int_equal(ffb_client_data(c, h, (void **)&d, NULL), FFB_OK);
	uint32_t i = 0;
	for (; i < n && test_now_ns() < end; i++) {
		memcpy(d, &i, sizeof(i));
		memset(d + 4, (int)(i & 0xff), 60);
		ffb_result r;
		for (uint64_t until = test_now_ns() + PACE_NS; test_now_ns() < until;)
			ffb_cpu_relax();
		uint64_t t0 = test_now_ns();
		assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, h, 64, 5 * SEC, &r), FFB_OK);
		lat[i] = test_now_ns() - t0;
		uint32_t got;
		memcpy(&got, d, sizeof(got));
		assert_int_equal(got, i);
		assert_int_equal(r.handle.id, h.id);
		assert_int_equal(d[63], i & 0xff);
	}
	assert_int_equal(ffb_client_free(c, h), FFB_OK);
	return i;
}

/* Abuser, one call at a time: t.sleep(50) forever. */
static void abuse_calls(const char *path)
{
	ffb_client *c;
	ffb_handle h;
	void *p;
	uint32_t ms = 50;
	if (ffb_client_connect(path, NULL, &c) || ffb_client_alloc(c, 4, &h) || ffb_client_data(c, h, &p, NULL))
		_exit(2);
	memcpy(p, &ms, 4);
	for (;;) {
		ffb_result r;
		if (ffb_client_invoke(c, "t.sleep", h, 4, 5 * SEC, &r) != FFB_OK)
			_exit(3);
	}
}

/* Abuser, vectors: a CALLV of 8 t.sleep(50) records forever (built by
 * hand: the C client sends no CALLV). */
static void abuse_callv(const char *path)
{
	ffb_client *c;
	uint32_t fn, ms = 50;
	if (ffb_client_connect(path, NULL, &c) || ffb_client_resolve(c, "t.sleep", &fn))
		_exit(2);
	ffb_handle in[8], vec;
	struct ffb_vec_call *rec;
	for (int i = 0; i < 8; i++) {
		void *p;
		if (ffb_client_alloc(c, 4, &in[i]) || ffb_client_data(c, in[i], &p, NULL))
			_exit(2);
		memcpy(p, &ms, 4);
	}
	if (ffb_client_alloc(c, 8 * FFB_VEC_CALL_SIZE, &vec) || ffb_client_data(c, vec, (void **)&rec, NULL))
		_exit(2);
	for (uint64_t id = 1;; id++) {
		for (int i = 0; i < 8; i++)
			rec[i] = (struct ffb_vec_call){in[i].id, 4, fn};
		struct ffb_ring_entry e = {.call_id = id << 32 | 1, .handle = vec.id, .len = 8 * FFB_VEC_CALL_SIZE,
					   .kind = FFB_KIND_CALLV};
		while (ffb_ring_prod_free(&c->req, 1) < 1)
			usleep(100);
		ffb_ring_prod_push(&c->req, &e);
		ffb_client_flush(c);
		for (;;) { /* the one RESULT, straight off the ring */
			if (ffb_ring_cons_ready(&c->resp) > 0) {
				struct ffb_ring_entry r;
				ffb_ring_cons_pop(&c->resp, &r);
				ffb_ring_cons_release(&c->resp);
				if (r.call_id != e.call_id || r.fn_or_status != FFB_OK)
					_exit(4);
				break;
			}
			usleep(200);
		}
		for (int i = 0; i < 8; i++)
			if (rec[i].fn_or_status != FFB_OK || rec[i].handle != in[i].id)
				_exit(5);
	}
}

static pid_t spawn(void (*fn)(const char *), const char *path)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin_to(0);
		fn(path);
		_exit(0);
	}
	usleep(100000); /* its first slow call is under way */
	return pid;
}

static void reap(pid_t pid)
{
	int status = 0;
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* it ran until killed */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

static void victim_p99_stays_put(void (*abuser)(const char *), const char *what)
{
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	test_server_start_opts(&ts, setup, &o);
	test_server_start_opts(&twin, setup, &o);
	pin_to(1);
	ffb_client *v;
	assert_int_equal(ffb_client_connect(ts.path, NULL, &v), FFB_OK);
	uint32_t n = ROUNDS * CALLS_PER_ROUND;
	uint64_t *alone = calloc(n, sizeof(uint64_t)), *own = calloc(n, sizeof(uint64_t)),
		 *other = calloc(n, sizeof(uint64_t));
	assert_true(alone && own && other);
	measure(v, CALLS_PER_ROUND, alone); /* warm-up */
	uint32_t na = measure(v, CALLS_PER_ROUND, alone), no = 0, nt = 0;
	for (int r = 0; r < ROUNDS; r++) {
		pid_t a = spawn(abuser, ts.path);
		no += measure(v, CALLS_PER_ROUND, own + no);
		reap(a);
		a = spawn(abuser, twin.path);
		nt += measure(v, CALLS_PER_ROUND, other + nt);
		reap(a);
	}
	uint64_t a99 = p99_of(alone, na), o99 = p99_of(own, no), t99 = p99_of(other, nt);
	free(alone);
	free(own);
	free(other);
	if (getenv("FFB_TEST_LOG"))
		fprintf(stderr,
			"hol (%s): victim echo p99 alone %.2f us, abuser on its server %.2f us (%u calls), on a twin "
			"%.2f us (%u calls)\n",
			what, a99 / 1e3, o99 / 1e3, no, t99 / 1e3, nt);
	ffb_client_close(v);
	assert_int_equal(test_server_stop(&twin, SIGTERM), 0);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
	if (o99 >= 2 * t99 + 10000)
		fail_msg("%s: victim p99 %.2f us with the abuser on its server vs %.2f us on a twin: want < 2x + 10 us",
			 what, o99 / 1e3, t99 / 1e3);
}

static void slow_pooled_calls_of_one_session_spare_another_sessions_p99(void **state)
{
	(void)state;
	victim_p99_stays_put(abuse_calls, "50 ms calls");
}

static void a_callv_of_eight_slow_records_spares_another_sessions_p99(void **state)
{
	(void)state;
	victim_p99_stays_put(abuse_callv, "CALLV of 8 x 50 ms");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(slow_pooled_calls_of_one_session_spare_another_sessions_p99),
		cmocka_unit_test(a_callv_of_eight_slow_records_spares_another_sessions_p99),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
