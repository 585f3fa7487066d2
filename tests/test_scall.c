/*
 * test_scall.c — the server's calls to its clients and streams, against
 * a real server (a forked child serving the demo callbacks of `ffb
 * serve`), with a raw client that plays the handler's side by hand
 * (tests/raw_client.h) and breaks its rules on purpose:
 *
 * - answers with forged, stale, duplicated and wrong-kind ids are dropped
 *   (their blocks come back) and only the true answer is delivered, once;
 * - a late answer to a call its caller cancelled is reclaimed, not
 *   delivered;
 * - a stream whose consumer never grants credit gets exactly its initial
 *   credit, costs the server no CPU, and holds back neither its own
 *   session nor another; its CANCEL ends it;
 * - a client that sends more stream items than it was granted is cut;
 * - a client killed with a call and a stream of the server's pending: both
 *   end PEER_GONE, and the server is back to its fds and mappings.
 */
#include <poll.h>
#include <sys/socket.h>

#include "demo.h"
#include "hostile.h"
#include "raw_client.h"

#define HANDLER_FN 0x00010001u /* the function id the raw client hands out */

static struct test_server server;

static void serve_demo(ffb_server *s)
{
	assert_int_equal(demo_register(s), FFB_OK);
}

static int start(void **state)
{
	(void)state;
	test_server_start(&server, serve_demo);
	return 0;
}

static int stop(void **state)
{
	(void)state;
	assert_int_equal(test_server_stop(&server, SIGTERM), 0);
	return 0;
}

static ffb_client *connect_ok(void)
{
	struct ffb_client_options o;
	ffb_client_options_init(&o);
	o.connect_timeout_ms = 3000;
	ffb_client *c = NULL;
	assert_int_equal(ffb_client_connect(server.path, &o, &c), FFB_OK);
	return c;
}

static uint32_t fn_of(ffb_client *c, const char *name)
{
	uint32_t fn;
	assert_int_equal(ffb_client_resolve(c, name, &fn), FFB_OK);
	return fn;
}

/* A plain call through the library, with its answer's bytes. */
static ffb_status call_bytes(ffb_client *c, const char *name, const void *in, uint32_t n, void *out, uint32_t cap,
			     uint32_t *got)
{
	ffb_handle h = {0};
	if (n)
		h.id = raw_block(c, in, n);
	ffb_result r;
	ffb_status st = ffb_client_invoke(c, name, h, n, 3 * SEC, &r);
	if (st == FFB_OK && r.status == FFB_OK && out) {
		void *data;
		uint32_t len = r.len < cap ? r.len : cap;
		if (r.handle.id) {
			assert_int_equal(ffb_client_data(c, r.handle, &data, NULL), FFB_OK);
			memcpy(out, data, len);
		}
		if (got)
			*got = len;
	}
	if (r.handle.id && r.handle.id != h.id)
		ffb_client_free(c, r.handle);
	if (h.id)
		ffb_client_free(c, h);
	return st ? st : r.status;
}

static void outcomes(ffb_client *c, uint64_t out[32])
{
	uint32_t got = 0;
	assert_int_equal(call_bytes(c, "demo.outcomes", NULL, 0, out, 32 * sizeof(uint64_t), &got), FFB_OK);
	assert_int_equal(got, 32 * sizeof(uint64_t));
}

static void echo_ok(ffb_client *c, uint32_t seed)
{
	uint8_t in[100], out[100];
	uint32_t got = 0;
	fill(in, sizeof(in), seed);
	assert_int_equal(call_bytes(c, "ffi.echo", in, sizeof(in), out, sizeof(out), &got), FFB_OK);
	assert_int_equal(got, sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
}

/* The server's LOOKUP of `name`: answer it with HANDLER_FN. */
static void answer_lookup(ffb_client *c, const char *name)
{
	struct ffb_ring_entry e;
	assert_true(raw_pop(c, &e, 3000));
	assert_int_equal(e.kind, FFB_KIND_LOOKUP);
	assert_int_equal(FFB_CALL_DIR(e.call_id), FFB_ID_FROM_SERVER);
	assert_int_equal(e.len, strlen(name));
	assert_memory_equal(raw_bytes(c, e.handle), name, e.len);
	raw_push1(c, e.call_id, 0, HANDLER_FN, FFB_KIND_RESULT, FFB_OK);
}

/* The server's CALL of our handler: its id; its input must be `want`. */
static uint64_t take_call(ffb_client *c, uint32_t kind, const char *want)
{
	struct ffb_ring_entry e;
	assert_true(raw_pop(c, &e, 3000));
	assert_int_equal(e.kind, FFB_KIND_CALL);
	assert_true(FFB_CALL_ID_VALID(e.call_id));
	assert_int_equal(FFB_CALL_DIR(e.call_id), FFB_ID_FROM_SERVER);
	assert_int_equal(FFB_CALL_KIND(e.call_id), kind);
	assert_int_equal(e.fn_or_status, HANDLER_FN);
	assert_int_equal(e.len, strlen(want));
	if (*want)
		assert_memory_equal(raw_bytes(c, e.handle), want, e.len);
	else
		assert_int_equal(e.handle, 0);
	return e.call_id;
}

/* Collect entries for up to `ms`: RELEASEs of our blocks tick off
 * released[], the RESULT for `mine` is copied to *result. Returns once
 * every block came back and the RESULT came (or the time is up). */
static void collect(ffb_client *c, uint64_t mine, struct ffb_ring_entry *result, bool *got_result,
		    const uint64_t *blocks, bool *released, int n, int ms)
{
	uint64_t end = test_now_ns() + (uint64_t)ms * 1000000u;
	for (;;) {
		bool all = *got_result;
		for (int i = 0; i < n; i++)
			all = all && released[i];
		if (all || test_now_ns() > end)
			return;
		struct ffb_ring_entry e;
		if (!raw_pop(c, &e, 50))
			continue;
		if (e.kind == FFB_KIND_RELEASE) {
			bool known = false;
			for (int i = 0; i < n; i++)
				if (blocks[i] == e.handle) {
					assert_false(released[i]); /* each block comes back once */
					released[i] = known = true;
				}
			assert_true(known);
		} else {
			assert_int_equal(e.kind, FFB_KIND_RESULT);
			assert_int_equal(e.call_id, mine);
			assert_false(*got_result); /* one answer per call */
			*result = e;
			*got_result = true;
		}
	}
}

static void expect_quiet(ffb_client *c, int ms)
{
	struct ffb_ring_entry e;
	if (raw_pop(c, &e, ms))
		fail_msg("an entry nobody asked for: kind %u call id %llx", e.kind, (unsigned long long)e.call_id);
}

/* Answers that name no pending call of the server's are dropped and
 * their blocks come back; the true answer is delivered once. */
static void forged_stale_duplicated_and_wrong_kind_answers_are_dropped(void **state)
{
	(void)state;
	ffb_client *c = connect_ok();
	uint32_t back = fn_of(c, "demo.back");
	uint64_t before[32], after[32];
	outcomes(c, before);

	const uint64_t mine = FFB_CALL_MAKE(7u, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, 3u);
	raw_push1(c, mine, raw_block(c, "h.x\nhello", 9), 9, FFB_KIND_CALL, back);
	answer_lookup(c, "h.x");
	uint64_t x = take_call(c, FFB_ID_ONCE, "hello");

	uint32_t gen = FFB_CALL_GEN(x), slot = FFB_CALL_SLOT(x);
	const struct {
		uint64_t id;
		uint32_t kind;
	} bad[] = {
		{FFB_CALL_MAKE(gen + 1, FFB_ID_FROM_SERVER, FFB_ID_ONCE, slot), FFB_KIND_RESULT},   /* a later generation */
		{FFB_CALL_MAKE(gen - 1 ? gen - 1 : 2, FFB_ID_FROM_SERVER, FFB_ID_ONCE, slot), FFB_KIND_RESULT},
		{FFB_CALL_MAKE(gen, FFB_ID_FROM_SERVER, FFB_ID_ONCE, slot + 1), FFB_KIND_RESULT},   /* another slot */
		{FFB_CALL_MAKE(gen, FFB_ID_FROM_SERVER, FFB_ID_ONCE, 255u), FFB_KIND_RESULT},      /* one never used */
		{FFB_CALL_MAKE(gen, FFB_ID_FROM_SERVER, FFB_ID_STREAM, slot), FFB_KIND_RESULT},     /* the wrong kind */
		{FFB_CALL_MAKE(gen, FFB_ID_FROM_SERVER, FFB_ID_NOTIFY, slot), FFB_KIND_RESULT},
		{x, FFB_KIND_ITEM}, /* an item for a call of kind once */
	};
	enum { NBAD = sizeof(bad) / sizeof(bad[0]) };
	uint64_t blocks[NBAD + 2];
	bool released[NBAD + 2] = {0};
	for (int i = 0; i < NBAD; i++) {
		blocks[i] = raw_block(c, "forged", 6);
		raw_push1(c, bad[i].id, blocks[i], 6, bad[i].kind, FFB_OK);
	}
	blocks[NBAD] = raw_block(c, "answer", 6); /* the true answer */
	raw_push1(c, x, blocks[NBAD], 6, FFB_KIND_RESULT, FFB_OK);
	blocks[NBAD + 1] = raw_block(c, "twice!", 6); /* and its duplicate */
	raw_push1(c, x, blocks[NBAD + 1], 6, FFB_KIND_RESULT, FFB_OK);

	struct ffb_ring_entry r;
	bool got = false;
	collect(c, mine, &r, &got, blocks, released, NBAD + 2, 3000);
	assert_true(got);
	for (int i = 0; i < NBAD + 2; i++)
		if (!released[i])
			fail_msg("block %d of %d never came back", i, NBAD + 2);
	assert_int_equal(r.fn_or_status, FFB_OK);
	assert_int_equal(r.len, 6);
	assert_memory_equal(raw_bytes(c, r.handle), "answer", 6);
	raw_push1(c, 0, r.handle, 0, FFB_KIND_RELEASE, 0);
	expect_quiet(c, 100);

	/* The session serves on; the call ended once, OK. */
	echo_ok(c, 1);
	outcomes(c, after);
	assert_int_equal(after[FFB_OK] - before[FFB_OK], 1);
	assert_int_equal(c->dead, 0);
	ffb_client_close(c);
}

/* The caller cancels: the server tells the handler (CANCEL), the caller
 * gets CANCELLED, and the handler's late answers are reclaimed. */
static void late_answer_to_a_cancelled_call_is_reclaimed(void **state)
{
	(void)state;
	ffb_client *c = connect_ok();
	uint32_t back = fn_of(c, "demo.back");
	uint64_t before[32], after[32];
	outcomes(c, before);

	const uint64_t mine = FFB_CALL_MAKE(9u, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, 4u);
	raw_push1(c, mine, raw_block(c, "h.y\nslow", 8), 8, FFB_KIND_CALL, back);
	answer_lookup(c, "h.y");
	uint64_t x = take_call(c, FFB_ID_ONCE, "slow");
	raw_push1(c, mine, 0, 0, FFB_KIND_CANCEL, 0);

	/* The server's CANCEL of x, and our call's RESULT, in either order. */
	bool cancel_seen = false, result_seen = false;
	for (int i = 0; i < 2; i++) {
		struct ffb_ring_entry e;
		assert_true(raw_pop(c, &e, 3000));
		if (e.kind == FFB_KIND_CANCEL) {
			assert_int_equal(e.call_id, x);
			cancel_seen = true;
		} else {
			assert_int_equal(e.kind, FFB_KIND_RESULT);
			assert_int_equal(e.call_id, mine);
			assert_int_equal(e.fn_or_status, FFB_ERR_CANCELLED);
			result_seen = true;
		}
	}
	assert_true(cancel_seen && result_seen);
	uint64_t blocks[2] = {raw_block(c, "late", 4), raw_block(c, "later", 5)};
	bool released[2] = {0}, got = false;
	raw_push1(c, x, blocks[0], 4, FFB_KIND_RESULT, FFB_OK);
	raw_push1(c, x, blocks[1], 5, FFB_KIND_RESULT, FFB_OK);
	struct ffb_ring_entry r;
	got = true; /* no RESULT may come: collect fails on one */
	collect(c, mine, &r, &got, blocks, released, 2, 3000);
	assert_true(released[0] && released[1]);
	expect_quiet(c, 100);
	echo_ok(c, 2);
	outcomes(c, after);
	assert_int_equal(after[FFB_ERR_CANCELLED] - before[FFB_ERR_CANCELLED], 1);
	assert_int_equal(after[FFB_OK] - before[FFB_OK], 0);
	ffb_client_close(c);
}

static uint64_t cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	assert_non_null(p);
	unsigned long long utime = 0, stime = 0;
	/* fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime), 2);
	return utime + stime;
}

/* A consumer that never grants credit gets 16 items and then nothing; the
 * stalled producer costs no CPU and holds back no one; CANCEL ends it. */
static void stream_without_credit_stalls_only_itself(void **state)
{
	(void)state;
	ffb_client *c = connect_ok(), *by = connect_ok();
	uint32_t count = fn_of(c, "demo.count");
	uint64_t cancels0;
	uint32_t got;
	assert_int_equal(call_bytes(c, "demo.cancels", NULL, 0, &cancels0, 8, &got), FFB_OK);

	const uint64_t mine = FFB_CALL_MAKE(5u, FFB_ID_FROM_CLIENT, FFB_ID_STREAM, 6u);
	uint32_t n = 1000000;
	raw_push1(c, mine, raw_block(c, &n, 4), 4, FFB_KIND_CALL, count);
	uint64_t items[FFB_STREAM_INITIAL_CREDIT];
	for (uint32_t i = 0; i < FFB_STREAM_INITIAL_CREDIT; i++) {
		struct ffb_ring_entry e;
		assert_true(raw_pop(c, &e, 3000));
		assert_int_equal(e.kind, FFB_KIND_ITEM);
		assert_int_equal(e.call_id, mine);
		assert_int_equal(e.len, 8);
		uint64_t v;
		memcpy(&v, raw_bytes(c, e.handle), 8);
		assert_int_equal(v, i);
		items[i] = e.handle;
	}
	/* Stalled: nothing more comes, the server sleeps, others are served. */
	uint64_t t0 = cpu_ticks(server.pid);
	expect_quiet(c, 500);
	uint64_t spent = cpu_ticks(server.pid) - t0;
	if (spent > 5) /* clock ticks (10 ms): a producer that polled would burn 50 */
		fail_msg("the server burned %llu ticks in 500 ms over a stalled stream", (unsigned long long)spent);
	echo_ok(by, 3);
	/* Our own session too: a plain echo, raw, is answered past the stream. */
	const uint64_t echo_id = FFB_CALL_MAKE(5u, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, 7u);
	uint64_t eb = raw_block(c, "ping", 4);
	raw_push1(c, echo_id, eb, 4, FFB_KIND_CALL, FFB_FN_ECHO);
	struct ffb_ring_entry e;
	assert_true(raw_pop(c, &e, 3000));
	assert_int_equal(e.kind, FFB_KIND_RESULT);
	assert_int_equal(e.call_id, echo_id);
	assert_int_equal(e.handle, eb);

	/* The consumer gives up: the producer is stopped, the stream ends. */
	raw_push1(c, mine, 0, 0, FFB_KIND_CANCEL, 0);
	assert_true(raw_pop(c, &e, 3000));
	assert_int_equal(e.kind, FFB_KIND_RESULT);
	assert_int_equal(e.call_id, mine);
	assert_int_equal(e.fn_or_status, FFB_ERR_CANCELLED);
	for (uint32_t i = 0; i < FFB_STREAM_INITIAL_CREDIT; i++)
		raw_push1(c, 0, items[i], 0, FFB_KIND_RELEASE, 0);
	expect_quiet(c, 100);
	uint64_t cancels1;
	assert_int_equal(call_bytes(by, "demo.cancels", NULL, 0, &cancels1, 8, &got), FFB_OK);
	assert_int_equal(cancels1, cancels0 + 1);
	echo_ok(c, 4);
	ffb_client_close(c);
	ffb_client_close(by);
}

/* More items than the server granted cut the session; others go on. */
static void items_beyond_the_credit_cut_the_session(void **state)
{
	(void)state;
	ffb_client *c = connect_ok(), *by = connect_ok();
	uint32_t sum = fn_of(c, "demo.sum_stream");
	const uint64_t mine = FFB_CALL_MAKE(3u, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, 2u);
	raw_push1(c, mine, raw_block(c, "h.s\nstall", 9), 9, FFB_KIND_CALL, sum);
	answer_lookup(c, "h.s");
	uint64_t x = take_call(c, FFB_ID_STREAM, "");
	/* 17 items to a consumer that grants nothing past the first 16. */
	struct ffb_ring_entry e[FFB_STREAM_INITIAL_CREDIT + 1];
	for (uint32_t i = 0; i <= FFB_STREAM_INITIAL_CREDIT; i++)
		e[i] = (struct ffb_ring_entry){.call_id = x, .kind = FFB_KIND_ITEM};
	raw_push(c, e, FFB_STREAM_INITIAL_CREDIT + 1);
	struct pollfd p = {.fd = c->sock, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 3000), 1);
	struct ffb_goodbye bye;
	assert_int_equal(recv(c->sock, &bye, sizeof(bye), MSG_PEEK | MSG_DONTWAIT), sizeof(bye));
	assert_int_equal(bye.magic, FFB_GOODBYE_MAGIC);
	assert_int_equal(bye.status, FFB_ERR_PROTOCOL);
	echo_ok(by, 5);
	ffb_client_close(c);
	ffb_client_close(by);
}

/* A client killed with a call and a stream of the server's pending: both
 * end PEER_GONE for their callers, and nothing of the session is left. */
static void killed_client_ends_the_servers_calls_peer_gone(void **state)
{
	(void)state;
	ffb_client *by = connect_ok();
	echo_ok(by, 6);
	uint64_t before[32], after[32];
	outcomes(by, before);
	int fds0 = count_fds(server.pid), maps0 = count_arena_maps(server.pid);
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		ffb_client *c = connect_ok();
		uint32_t back = fn_of(c, "demo.back"), sum = fn_of(c, "demo.sum_stream");
		raw_push1(c, FFB_CALL_MAKE(1u, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, 1u), raw_block(c, "h.k\nx", 5), 5,
			  FFB_KIND_CALL, back);
		answer_lookup(c, "h.k");
		take_call(c, FFB_ID_ONCE, "x");
		raw_push1(c, FFB_CALL_MAKE(1u, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, 2u), raw_block(c, "h.k", 3), 3,
			  FFB_KIND_CALL, sum);
		uint64_t x = take_call(c, FFB_ID_STREAM, ""); /* the name is cached now */
		raw_push1(c, x, raw_block(c, "i", 1), 1, FFB_KIND_ITEM, 0);
		assert_int_equal(write(ready[1], "k", 1), 1);
		pause(); /* killed here, both calls pending */
		_exit(0);
	}
	close(ready[1]);
	char k;
	assert_int_equal(read(ready[0], &k, 1), 1);
	close(ready[0]);
	usleep(20000); /* let the item reach the server */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_true(WAIT_UNTIL(count_fds(server.pid) == fds0 && count_arena_maps(server.pid) == maps0, 3000));
	outcomes(by, after);
	assert_int_equal(after[FFB_ERR_PEER_GONE] - before[FFB_ERR_PEER_GONE], 2);
	echo_ok(by, 7);
	ffb_client_close(by);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forged_stale_duplicated_and_wrong_kind_answers_are_dropped),
		cmocka_unit_test(late_answer_to_a_cancelled_call_is_reclaimed),
		cmocka_unit_test(stream_without_credit_stalls_only_itself),
		cmocka_unit_test(items_beyond_the_credit_cut_the_session),
		cmocka_unit_test(killed_client_ends_the_servers_calls_peer_gone),
	};
	return cmocka_run_group_tests(tests, start, stop);
}
