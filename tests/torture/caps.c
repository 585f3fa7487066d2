/*
 * caps.c — the per-server session cap and the per-session in-flight
 * cap hold under abuse, and the abuse does not move another client's
 * latency much.
 *
 * A real server (a forked child, max_sessions 8) serves a victim client
 * in this process. The victim measures the p99 of 64-byte verified echo
 * round trips, alone; then again while two abuser processes run: a
 * flooder that holds every session it can get and keeps connecting (each
 * extra connect must be refused with TOO_MANY_SESSIONS, and the server
 * must never hold more arenas than the cap), and a hammer that keeps its
 * session's in-flight cap full of pipelined calls (TOO_MANY_CALLS at the
 * cap, never more accepted).
 *
 * What the server owes the victim is that the abuse costs it no more than
 * the same abuse costs it when aimed elsewhere: on a machine with few
 * cores the abusers also take CPU from the victim, and no server can give
 * that back. So, in one run, rounds alternate between the flood aimed at
 * the victim's server ("own") and the same flood aimed at a twin server
 * ("twin"), the hammer on the victim's server in both; each condition's
 * latencies are pooled over its rounds. The servers and the abusers share
 * CPU 0 and the victim has CPU 1, so the abuse always gets CPU, as much
 * in either condition. The victim's p99 under "own" must be < 1.5x its
 * p99 under "twin" + 0.25 us. A server that refused connects on its
 * dispatch thread failed this (p99 2-80x the twin's); tests/RELIABILITY.md,
 * "Caps".
 *
 * FFB_TEST_LOG=1 prints the figures; FFB_CAPS_CALLS sets the victim's
 * calls per condition (default 400000, over FFB_CAPS_ROUNDS rounds, 4).
 * Built and run by tests/torture/run.sh (`make torture`), not by `make
 * test`: the p99 bound needs a machine that is not also running
 * benchmarks. (It found the refused-connect slot leak fixed in
 * src/session.c.)
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>

#include "client_internal.h"
#include "testutil.h"

#define SEC 1000000000ll
#define US 1000ull
#define MAX_SESSIONS 8

static struct test_server ts, twin;
static const char *flood_path; /* the flooder's target: ts or twin */
static long flood_rate = 20000;  /* connects per second */

/* Placement: the servers and the abusers share CPU 0, the victim has
 * CPU 1. The abuse then always gets CPU, as much in either condition, and
 * takes it from the victim's server (not from the victim). */
static void pin_to(int cpu)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	assert_int_equal(sched_setaffinity(0, sizeof(set), &set), 0);
}

static void pin_server(ffb_server *srv)
{
	(void)srv;
	pin_to(0); /* before run: its threads inherit it */
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* n verified echo round trips, their latencies (ns) into lat. */
static void measure(ffb_client *c, uint32_t n, uint64_t *lat)
{
	ffb_handle h;
	uint8_t *d;
	assert_int_equal(ffb_client_alloc(c, 64, &h), FFB_OK);
	assert_int_equal(ffb_client_data(c, h, (void **)&d, NULL), FFB_OK);
	for (uint32_t i = 0; i < n; i++) {
		memcpy(d, &i, sizeof(i));
		memset(d + 4, (int)(i & 0xff), 60);
		ffb_result r;
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
}

/* Sort lat[0..n) and take its p50 and p99. */
static void percentiles(uint64_t *lat, uint32_t n, uint64_t *p50, uint64_t *p99)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	*p50 = lat[n / 2];
	*p99 = lat[n - 1 - n / 100];
}

/* Flooder child: take every session the server gives, keep knocking.
 * Reports on `out`: one 'r' per refusal with TOO_MANY_SESSIONS, 'x' for
 * any other outcome over the cap. */
static void flooder(int out)
{
	static ffb_client *held[64] __attribute__((unused)); /* kept open: the sessions stay taken */
	int n = 0;
	struct ffb_client_options o;
	ffb_client_options_init(&o);
	o.connect_timeout_ms = 2000;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	long gap = 1000000000l / flood_rate;
	for (;;) {
		/* paced: one connect per gap, on an absolute schedule */
		next.tv_nsec += gap;
		if (next.tv_nsec >= 1000000000l) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000l;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		ffb_client *c = NULL;
		ffb_status st = ffb_client_connect(flood_path, &o, &c);
		if (st == FFB_OK) {
			if (n < 64)
				held[n++] = c;
			else
				ffb_client_close(c);
			continue;
		}
		char b = st == FFB_ERR_TOO_MANY_SESSIONS ? 'r' : 'x';
		if (write(out, &b, 1) != 1)
			_exit(0);
	}
}

/* Hammer child: keep the in-flight cap full. Reports 'c' each time the
 * client refuses a call at the cap and 'x' if more than the cap were
 * accepted. */
static void hammer(int out)
{
	ffb_client *c;
	if (ffb_client_connect(ts.path, NULL, &c) != FFB_OK)
		_exit(2);
	uint32_t cap = c->sb.max_inflight, out_n = 0;
	static ffb_handle lent[65536];
	for (uint64_t round = 0;; round++) {
		for (;;) {
			ffb_handle h;
			uint64_t id;
			if (ffb_client_alloc(c, 64, &h))
				break;
			ffb_status st = ffb_client_submit(c, FFB_FN_ECHO, h, 64, &id);
			if (st) {
				ffb_client_free(c, h);
				if (st == FFB_ERR_TOO_MANY_CALLS && (round & 1023) == 0 && write(out, "c", 1) != 1)
					_exit(0);
				break;
			}
			lent[FFB_CALL_SLOT(id) & 65535] = h;
			if (++out_n > cap && write(out, "x", 1) != 1)
				_exit(0);
		}
		struct ffb_completion done[64];
		uint32_t n = 0;
		ffb_client_poll(c, done, 64, &n, SEC);
		for (uint32_t i = 0; i < n; i++) {
			ffb_client_free(c, lent[FFB_CALL_SLOT(done[i].call_id) & 65535]);
			out_n--;
		}
	}
}

static pid_t spawn(void (*fn)(int), int *rd)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		pin_to(0);
		fn(p[1]);
		_exit(0);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	*rd = p[0];
	return pid;
}

static void tally(int fd, unsigned *r, unsigned *c, unsigned *x)
{
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			*(buf[i] == 'r' ? r : buf[i] == 'c' ? c : x) += 1;
}

struct abuse {
	unsigned refused, capped, bad; /* flooder refusals, hammer at its cap, wrong outcomes */
	int maps_max;                  /* most arenas the victim's server held */
	uint64_t ns;                   /* time the abusers ran */
};

/* One round: the hammer on the victim's server, the flooder on `target`;
 * once both are at their caps, n victim calls into lat. */
static void abused_round(ffb_client *v, const char *target, uint32_t n, uint64_t *lat, struct abuse *a)
{
	flood_path = target;
	uint64_t t0 = test_now_ns();
	int frd, hrd;
	pid_t hp = spawn(hammer, &hrd);
	pid_t fp = spawn(flooder, &frd);
	unsigned refused = 0, capped = 0;
	/* wait until the flooder holds every free session and is refused */
	assert_true(WAIT_UNTIL((tally(frd, &refused, &capped, &a->bad), refused > 10), 5000));
	assert_true(WAIT_UNTIL((tally(hrd, &refused, &capped, &a->bad), capped > 0), 5000));
	int maps = count_arena_maps(ts.pid);
	measure(v, n, lat);
	int after = count_arena_maps(ts.pid);
	tally(frd, &refused, &capped, &a->bad);
	tally(hrd, &refused, &capped, &a->bad);
	kill(fp, SIGKILL);
	kill(hp, SIGKILL);
	waitpid(fp, NULL, 0);
	waitpid(hp, NULL, 0);
	a->ns += test_now_ns() - t0;
	close(frd);
	close(hrd);
	a->refused += refused;
	a->capped += capped;
	a->maps_max = maps > a->maps_max ? maps : a->maps_max;
	a->maps_max = after > a->maps_max ? after : a->maps_max;
	/* the abusers' sessions are gone before the next round */
	assert_true(WAIT_UNTIL(count_arena_maps(ts.pid) == 1, 3000));
	if (target == twin.path)
		assert_true(WAIT_UNTIL(count_arena_maps(twin.pid) == 0, 3000));
}

static void caps_hold_and_spare_another_clients_p99(void **state)
{
	(void)state;
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.max_sessions = MAX_SESSIONS;
	test_server_start_opts(&ts, pin_server, &o);
	test_server_start_opts(&twin, pin_server, &o);
	pin_to(1);
	ffb_client *v = NULL;
	assert_int_equal(ffb_client_connect(ts.path, NULL, &v), FFB_OK);
	uint32_t n = 400000, rounds = 4;
	const char *e = getenv("FFB_CAPS_CALLS"), *r = getenv("FFB_CAPS_ROUNDS"), *f = getenv("FFB_CAPS_FLOOD_RATE");
	if (f && atol(f) > 0)
		flood_rate = atol(f);
	if (r && atoi(r) > 0)
		rounds = (uint32_t)atoi(r);
	if (e && atoi(e) > 100 * (int)rounds)
		n = (uint32_t)atoi(e);
	uint32_t per = n / rounds;
	n = per * rounds;
	uint64_t *alone = calloc(n, sizeof(uint64_t)), *own = calloc(n, sizeof(uint64_t)),
		 *elsewhere = calloc(n, sizeof(uint64_t));
	assert_true(alone && own && elsewhere);
	measure(v, n / 4, alone); /* warm-up */
	measure(v, n, alone);

	struct abuse a_own = {0}, a_twin = {0};
	for (uint32_t i = 0; i < rounds; i++) {
		abused_round(v, ts.path, per, own + i * per, &a_own);
		abused_round(v, twin.path, per, elsewhere + i * per, &a_twin);
	}
	uint64_t a50, a99, o50, o99, t50, t99;
	percentiles(alone, n, &a50, &a99);
	percentiles(own, n, &o50, &o99);
	percentiles(elsewhere, n, &t50, &t99);
	free(alone);
	free(own);
	free(elsewhere);

	if (getenv("FFB_TEST_LOG"))
		fprintf(stderr,
			"caps: victim echo p50/p99: alone %.2f/%.2f us; flood on its server %.2f/%.2f us (%u refused, "
			"%.0f/s); flood on a twin %.2f/%.2f us (%u refused, %.0f/s); hammer at its in-flight cap %u+ "
			"times; server arenas max %d (cap %d); %u rounds of %u calls\n",
			a50 / 1e3, a99 / 1e3, o50 / 1e3, o99 / 1e3, a_own.refused, a_own.refused * 1e9 / a_own.ns,
			t50 / 1e3, t99 / 1e3, a_twin.refused, a_twin.refused * 1e9 / a_twin.ns,
			a_own.capped + a_twin.capped, a_own.maps_max, MAX_SESSIONS, rounds, per);
	assert_int_equal(a_own.bad + a_twin.bad, 0);
	if (a_own.maps_max > MAX_SESSIONS)
		fail_msg("the server held %d session arenas with max_sessions %d", a_own.maps_max, MAX_SESSIONS);
	assert_true(test_server_alive(&ts));
	assert_true(test_server_alive(&twin));
	if (2 * o99 >= 3 * t99 + 500)
		fail_msg("victim p99 %.2f us with the flood on its server vs %.2f us with it on a twin: want < 1.5x + 0.25 us",
			 o99 / 1e3, t99 / 1e3);
	/* the victim carries on */
	ffb_result res;
	assert_int_equal(ffb_client_call(v, FFB_FN_ECHO, (ffb_handle){0}, 0, 5 * SEC, &res), FFB_OK);
	ffb_client_close(v);
	assert_int_equal(test_server_stop(&twin, SIGTERM), 0);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

/* The cap in its simplest form: with max_sessions 2 and both taken, every
 * further connect is refused; once they close, new clients get in. */
static void refused_connects_neither_raise_nor_lock_the_cap(void **state)
{
	(void)state;
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.max_sessions = 2;
	test_server_start_opts(&ts, NULL, &o);
	ffb_client *a = NULL, *b = NULL, *c = NULL;
	assert_int_equal(ffb_client_connect(ts.path, NULL, &a), FFB_OK);
	assert_int_equal(ffb_client_connect(ts.path, NULL, &b), FFB_OK);
	int admitted = 0;
	for (int i = 0; i < 10; i++) {
		ffb_status st = ffb_client_connect(ts.path, NULL, &c);
		if (st == FFB_OK) {
			admitted++;
			ffb_client_close(c);
		} else {
			assert_int_equal(st, FFB_ERR_TOO_MANY_SESSIONS);
		}
	}
	ffb_client_close(a);
	ffb_client_close(b);
	assert_true(WAIT_UNTIL(count_arena_maps(ts.pid) == 0, 3000));
	ffb_status again = ffb_client_connect(ts.path, NULL, &c);
	if (again == FFB_OK)
		ffb_client_close(c);
	test_server_stop(&ts, SIGTERM);
	if (admitted || again != FFB_OK)
		fail_msg("%d of 10 connects over a full cap of 2 were admitted; after every session closed, a "
			 "new connect got %s (want 0 and OK)",
			 admitted, ffb_status_name(again));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refused_connects_neither_raise_nor_lock_the_cap),
		cmocka_unit_test(caps_hold_and_spare_another_clients_p99),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
