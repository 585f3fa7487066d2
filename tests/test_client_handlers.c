/*
 * test_client_handlers.c — the C client's handlers (ffb_client_register,
 * PROTOCOL.md §5.8), against a server in this process (both ends in one
 * process: TSan sees them) serving the demo callbacks of `ffb serve` that
 * call back into the calling session (demo.back, demo.tell,
 * demo.sum_stream, demo.pingback):
 *
 * - a handler's reply, zero-copy reply, error message and own NOT_FOUND
 *   reach the server's caller; an unknown name, an unregistered handler
 *   and a handler of the other kind answer NOT_FOUND; a name registered
 *   again is found under its new id;
 * - a handler may call the server through the client it serves (nesting);
 * - a notification runs its handler and gives its block back;
 * - a stream handler's items reach the server in order, paced by credit,
 *   and a stream the server grants no more credit stops at 16 items;
 * - a server call cancelled while its handler runs is seen as cancelled;
 * - 10^5 reverse calls (or as many as fit 3 s) one after the other, every
 *   answer checked by the server, every reply block given back; prints
 *   the round trip's percentiles;
 * - across processes (a forked server, not under TSan, which cannot follow
 *   a fork of a threaded process): the same calls and a stream, then the
 *   server killed while a handler runs: the handler's answer goes nowhere
 *   harmlessly and the client's call and its serve end PEER_GONE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "testutil.h"

#define SEC 1000000000ll

static ffb_server *srv;
static ffb_client *cl;

static int setup(void **state)
{
	(void)state;
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.workers = 2;
	assert_int_equal(ffb_server_create(&o, &srv), FFB_OK);
	assert_int_equal(demo_register(srv), FFB_OK);
	assert_int_equal(ffb_server_start(srv), FFB_OK);
	assert_int_equal(ffb_server_connect_inproc(srv, NULL, &cl), FFB_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ffb_client_close(cl);
	ffb_server_destroy(srv);
	return 0;
}

/* ---- handlers ------------------------------------------------------------ */

static ffb_status h_upper(ffb_request *r, void *ctx)
{
	(void)ctx;
	uint32_t n = ffb_request_len(r);
	char *out;
	ffb_status st = ffb_request_reply_alloc(r, n, (void **)&out);
	if (st)
		return st;
	memcpy(out, ffb_request_data(r), n);
	for (uint32_t i = 0; i < n; i++)
		if (out[i] >= 'a' && out[i] <= 'z')
			out[i] = (char)(out[i] - 'a' + 'A');
	return FFB_OK;
}

static ffb_status h_echo(ffb_request *r, void *ctx)
{
	(void)ctx;
	return ffb_request_reply_input(r, ffb_request_len(r));
}

static ffb_status h_fail(ffb_request *r, void *ctx)
{
	(void)ctx;
	ffb_request_reply_bytes(r, "dropped", 7); /* an error's reply is not sent */
	ffb_request_set_error(r, "t.fail: on purpose");
	return FFB_ERR_INVALID_ARGUMENT;
}

static ffb_status h_own_not_found(ffb_request *r, void *ctx)
{
	(void)r;
	(*(int *)ctx)++;
	return FFB_ERR_NOT_FOUND;
}

static ffb_status h_copy(ffb_request *r, void *ctx)
{
	(void)ctx;
	return ffb_request_reply_bytes(r, ffb_request_data(r), ffb_request_len(r));
}

/* Calls the server back from inside a handler. */
static ffb_status h_nest(ffb_request *r, void *ctx)
{
	(void)ctx;
	ffb_client *c = ffb_request_client(r);
	uint32_t n = ffb_request_len(r);
	ffb_handle in;
	void *data;
	assert_int_equal(ffb_client_alloc(c, n, &in), FFB_OK);
	assert_int_equal(ffb_client_data(c, in, &data, NULL), FFB_OK);
	memcpy(data, ffb_request_data(r), n);
	ffb_result res;
	ffb_status st = ffb_client_invoke(c, "demo.upper", in, n, 3 * SEC, &res);
	if (st == FFB_OK) {
		assert_int_equal(ffb_client_data(c, res.handle, &data, NULL), FFB_OK);
		st = ffb_request_reply_bytes(r, data, res.len);
	}
	if (res.handle.id)
		ffb_client_free(c, res.handle);
	ffb_client_free(c, in);
	return st;
}

struct notes {
	int n;
	char last[64];
};

static ffb_status h_note(ffb_request *r, void *ctx)
{
	struct notes *t = ctx;
	uint32_t n = ffb_request_len(r) < 63 ? ffb_request_len(r) : 63;
	memcpy(t->last, ffb_request_data(r), n);
	t->last[n] = 0;
	t->n++;
	return FFB_OK;
}

struct streamer {
	uint64_t items;   /* to send */
	uint64_t sent;
	uint32_t min_credit_seen;
	ffb_status last;
};

static ffb_status h_stream(ffb_request *r, void *ctx)
{
	struct streamer *s = ctx;
	assert_true(ffb_request_is_stream(r));
	s->sent = 0;
	s->min_credit_seen = UINT32_MAX;
	for (uint64_t i = 0; i < s->items; i++) {
		uint32_t credit = ffb_request_credit(r);
		if (credit < s->min_credit_seen)
			s->min_credit_seen = credit;
		uint64_t v = i + 1;
		s->last = ffb_request_item(r, &v, sizeof(v), SEC / 5);
		if (s->last)
			return s->last;
		s->sent++;
	}
	return FFB_OK;
}

static uint64_t outer_id;
static int waits_seen;

/* Waits for the server to cancel it; cancels the outer call itself. */
static ffb_status h_wait(ffb_request *r, void *ctx)
{
	(void)ctx;
	ffb_client *c = ffb_request_client(r);
	assert_int_equal(ffb_client_cancel(c, outer_id), FFB_OK);
	uint64_t until = test_now_ns() + 3 * (uint64_t)SEC;
	while (!ffb_request_cancelled(r) && test_now_ns() < until)
		ffb_client_serve(c, SEC / 1000);
	waits_seen += ffb_request_cancelled(r);
	return FFB_ERR_CANCELLED;
}

/* ---- helpers ------------------------------------------------------------- */

/* Call `name` with `in` (a string); the answer's bytes into out (NUL-ended). */
static ffb_status call_str(const char *name, const char *in, char *out, uint32_t cap)
{
	uint32_t n = (uint32_t)strlen(in);
	ffb_handle h = {0};
	void *data;
	if (n) {
		assert_int_equal(ffb_client_alloc(cl, n, &h), FFB_OK);
		assert_int_equal(ffb_client_data(cl, h, &data, NULL), FFB_OK);
		memcpy(data, in, n);
	}
	ffb_result r;
	ffb_status st = ffb_client_invoke(cl, name, h, n, 5 * SEC, &r);
	out[0] = 0;
	if (r.handle.id) {
		assert_int_equal(ffb_client_data(cl, r.handle, &data, NULL), FFB_OK);
		uint32_t k = r.len < cap - 1 ? r.len : cap - 1;
		memcpy(out, data, k);
		out[k] = 0;
		if (r.handle.id != h.id)
			ffb_client_free(cl, r.handle);
	}
	if (h.id)
		ffb_client_free(cl, h);
	return st;
}

/* ---- tests --------------------------------------------------------------- */

static void handler_answers_reach_the_server(void **state)
{
	(void)state;
	int own = 0;
	assert_int_equal(ffb_client_register(cl, "t.upper", h_upper, NULL), FFB_OK);
	assert_int_equal(ffb_client_register(cl, "t.echo", h_echo, NULL), FFB_OK);
	assert_int_equal(ffb_client_register(cl, "t.fail", h_fail, NULL), FFB_OK);
	assert_int_equal(ffb_client_register(cl, "t.own_nf", h_own_not_found, &own), FFB_OK);
	char out[256];
	for (int i = 0; i < 3; i++) { /* the second time by the server's cached id */
		assert_int_equal(call_str("demo.back", "t.upper\nhello, world", out, sizeof(out)), FFB_OK);
		assert_string_equal(out, "HELLO, WORLD");
	}
	assert_int_equal(call_str("demo.back", "t.echo\nzero copy", out, sizeof(out)), FFB_OK);
	assert_string_equal(out, "zero copy");
	assert_int_equal(call_str("demo.back", "t.fail\nx", out, sizeof(out)), FFB_ERR_INVALID_ARGUMENT);
	assert_string_equal(out, "t.fail: on purpose");
	/* Its own NOT_FOUND carries a message: the server does not call again. */
	assert_int_equal(call_str("demo.back", "t.own_nf\nx", out, sizeof(out)), FFB_ERR_NOT_FOUND);
	assert_string_equal(out, "not found (the handler's own answer)");
	assert_int_equal(own, 1);
	struct ffb_client_stats st;
	assert_int_equal(ffb_client_stats(cl, &st), FFB_OK);
	assert_int_equal(st.served_calls, 6);
	assert_int_equal(st.protocol_errors, 0);
}

static void unknown_and_unregistered_names_are_not_found(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(call_str("demo.back", "t.nobody\nx", out, sizeof(out)), FFB_ERR_NOT_FOUND);
	assert_int_equal(ffb_client_register(cl, "t.gone", h_copy, NULL), FFB_OK);
	assert_int_equal(call_str("demo.back", "t.gone\nabc", out, sizeof(out)), FFB_OK);
	assert_string_equal(out, "abc");
	assert_int_equal(ffb_client_unregister(cl, "t.gone"), FFB_OK);
	assert_int_equal(ffb_client_unregister(cl, "t.gone"), FFB_ERR_NOT_FOUND);
	/* The server's cached id answers a bare NOT_FOUND, it looks the
	 * name up again: not there. */
	assert_int_equal(call_str("demo.back", "t.gone\nabc", out, sizeof(out)), FFB_ERR_NOT_FOUND);
	/* Registered again: a new id, found by that second look-up. */
	assert_int_equal(ffb_client_register(cl, "t.gone", h_upper, NULL), FFB_OK);
	assert_int_equal(call_str("demo.back", "t.gone\nabc", out, sizeof(out)), FFB_OK);
	assert_string_equal(out, "ABC");
	/* A plain handler called as a stream. */
	assert_int_equal(call_str("demo.sum_stream", "t.gone", out, sizeof(out)), FFB_ERR_NOT_FOUND);
	assert_int_equal(ffb_client_register(cl, "", h_copy, NULL), FFB_ERR_INVALID_ARGUMENT);
	assert_int_equal(ffb_client_register(cl, "bad\xff", h_copy, NULL), FFB_ERR_INVALID_UTF8);
	assert_int_equal(ffb_client_register_flags(cl, "t.x", h_copy, NULL, 2), FFB_ERR_INVALID_ARGUMENT);
}

static void a_handler_calls_the_server_back(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(ffb_client_register(cl, "t.nest", h_nest, NULL), FFB_OK);
	assert_int_equal(call_str("demo.back", "t.nest\nnested", out, sizeof(out)), FFB_OK);
	assert_string_equal(out, "NESTED");
}

static void a_notification_runs_its_handler(void **state)
{
	(void)state;
	struct notes t = {0};
	char out[64];
	assert_int_equal(ffb_client_register(cl, "t.note", h_note, &t), FFB_OK);
	for (int i = 0; i < 1000; i++) /* each input block comes back: 1000 > a class */
		assert_int_equal(call_str("demo.tell", "t.note\nnoted", out, sizeof(out)), FFB_OK);
	uint64_t until = test_now_ns() + 3 * (uint64_t)SEC;
	while (t.n < 1000 && test_now_ns() < until)
		ffb_client_serve(cl, SEC / 100);
	assert_int_equal(t.n, 1000);
	assert_int_equal(ffb_client_serve(cl, 0), FFB_ERR_WOULD_BLOCK);
	assert_string_equal(t.last, "noted");
}

static void stream_items_are_paced_by_credit(void **state)
{
	(void)state;
	struct streamer s = {.items = 1000};
	uint64_t out[2];
	assert_int_equal(ffb_client_register_flags(cl, "t.stream", h_stream, &s, FFB_HANDLER_STREAM), FFB_OK);
	char buf[64];
	ffb_handle h;
	void *data;
	assert_int_equal(ffb_client_alloc(cl, 8, &h), FFB_OK);
	assert_int_equal(ffb_client_data(cl, h, &data, NULL), FFB_OK);
	memcpy(data, "t.stream", 8);
	ffb_result r;
	assert_int_equal(ffb_client_invoke(cl, "demo.sum_stream", h, 8, 5 * SEC, &r), FFB_OK);
	assert_int_equal(r.len, sizeof(out));
	assert_int_equal(ffb_client_data(cl, r.handle, &data, NULL), FFB_OK);
	memcpy(out, data, sizeof(out));
	ffb_client_free(cl, r.handle);
	ffb_client_free(cl, h);
	assert_int_equal(s.sent, 1000);
	assert_int_equal(out[0], 1000);
	uint64_t sum = 0; /* of the items' bytes, as demo.sum_stream adds them */
	for (uint64_t v = 1; v <= 1000; v++)
		for (int b = 0; b < 8; b++)
			sum += (v >> (8 * b)) & 0xff;
	assert_int_equal(out[1], sum);

	/* No credit past the first 16: the 17th item waits, times out. */
	s.items = 100;
	assert_int_equal(call_str("demo.sum_stream", "t.stream\nstall", buf, sizeof(buf)), FFB_ERR_TIMEOUT);
	assert_int_equal(s.sent, FFB_STREAM_INITIAL_CREDIT);
	assert_int_equal(s.last, FFB_ERR_TIMEOUT);
	/* A plain call of a stream handler. */
	assert_int_equal(call_str("demo.back", "t.stream\nx", buf, sizeof(buf)), FFB_ERR_NOT_FOUND);
}

static void a_cancelled_call_is_seen_by_its_handler(void **state)
{
	(void)state;
	assert_int_equal(ffb_client_register(cl, "t.wait", h_wait, NULL), FFB_OK);
	const char *in = "t.wait\nx";
	uint32_t n = (uint32_t)strlen(in), fn;
	ffb_handle h;
	void *data;
	assert_int_equal(ffb_client_alloc(cl, n, &h), FFB_OK);
	assert_int_equal(ffb_client_data(cl, h, &data, NULL), FFB_OK);
	memcpy(data, in, n);
	assert_int_equal(ffb_client_resolve(cl, "demo.back", &fn), FFB_OK);
	assert_int_equal(ffb_client_submit(cl, fn, h, n, &outer_id), FFB_OK);
	struct ffb_completion done;
	uint32_t got = 0;
	assert_int_equal(ffb_client_poll(cl, &done, 1, &got, 5 * SEC), FFB_OK);
	assert_int_equal(got, 1);
	assert_int_equal(done.call_id, outer_id);
	assert_int_equal(done.result.status, FFB_ERR_CANCELLED);
	assert_int_equal(waits_seen, 1);
	if (done.result.handle.id && done.result.handle.id != h.id)
		ffb_client_free(cl, done.result.handle);
	ffb_client_free(cl, h);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void many_reverse_calls(void **state)
{
	(void)state;
	assert_int_equal(ffb_client_register(cl, "t.ping", h_copy, NULL), FFB_OK);
	enum { CHUNK = 10000, TOTAL = 100000 };
	uint64_t *all = malloc(TOTAL * sizeof(uint64_t));
	assert_non_null(all);
	uint32_t done = 0;
	uint64_t t0 = test_now_ns();
	struct ffb_client_stats before, after;
	assert_int_equal(ffb_client_stats(cl, &before), FFB_OK);
	while (done < TOTAL && test_now_ns() - t0 < 3 * (uint64_t)SEC) {
		uint8_t in[4 + 6];
		uint32_t k = CHUNK;
		memcpy(in, &k, 4);
		memcpy(in + 4, "t.ping", 6);
		ffb_handle h;
		void *data;
		assert_int_equal(ffb_client_alloc(cl, sizeof(in), &h), FFB_OK);
		assert_int_equal(ffb_client_data(cl, h, &data, NULL), FFB_OK);
		memcpy(data, in, sizeof(in));
		ffb_result r;
		assert_int_equal(ffb_client_invoke(cl, "demo.pingback", h, sizeof(in), 60 * SEC, &r), FFB_OK);
		assert_int_equal(r.len, CHUNK * sizeof(uint64_t));
		assert_int_equal(ffb_client_data(cl, r.handle, &data, NULL), FFB_OK);
		memcpy(all + done, data, r.len);
		ffb_client_free(cl, r.handle);
		ffb_client_free(cl, h);
		done += CHUNK;
	}
	uint64_t el = test_now_ns() - t0;
	assert_int_equal(ffb_client_stats(cl, &after), FFB_OK);
	assert_int_equal(after.served_calls - before.served_calls, done);
	assert_int_equal(after.protocol_errors, 0);
	qsort(all, done, sizeof(uint64_t), cmp_u64);
	printf("# C client reverse calls (in-process, 64 B, one at a time): %u in %.2f s, round trip p50 %.1f us, "
	       "p99 %.1f us\n",
	       done, (double)el / 1e9, (double)all[done / 2] / 1e3, (double)all[done * 99 / 100] / 1e3);
	free(all);
}

/* ---- across processes ---------------------------------------------------- */

#ifndef __SANITIZE_THREAD__
static struct test_server forked;

static void serve_demo(ffb_server *s)
{
	assert_int_equal(demo_register(s), FFB_OK);
}

static ffb_status h_kill_server(ffb_request *r, void *ctx)
{
	(void)ctx;
	kill(forked.pid, SIGKILL);
	return ffb_request_reply_bytes(r, "too late", 8);
}

static void across_processes_and_a_killed_server(void **state)
{
	(void)state;
	test_server_start(&forked, serve_demo);
	ffb_client *local = cl;
	assert_int_equal(ffb_client_connect(forked.path, NULL, &cl), FFB_OK);
	assert_int_equal(ffb_client_register(cl, "t.upper", h_upper, NULL), FFB_OK);
	char out[64];
	assert_int_equal(call_str("demo.back", "t.upper\nacross", out, sizeof(out)), FFB_OK);
	assert_string_equal(out, "ACROSS");
	struct streamer s = {.items = 300};
	assert_int_equal(ffb_client_register_flags(cl, "t.stream", h_stream, &s, FFB_HANDLER_STREAM), FFB_OK);
	assert_int_equal(call_str("demo.sum_stream", "t.stream", out, sizeof(out)), FFB_OK);
	assert_int_equal(s.sent, 300);
	assert_int_equal(ffb_client_register(cl, "t.kill", h_kill_server, NULL), FFB_OK);
	assert_int_equal(call_str("demo.back", "t.kill\nx", out, sizeof(out)), FFB_ERR_PEER_GONE);
	assert_int_equal(ffb_client_serve(cl, SEC / 10), FFB_ERR_PEER_GONE);
	ffb_client_close(cl);
	cl = local;
	test_server_stop(&forked, SIGKILL);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handler_answers_reach_the_server),
		cmocka_unit_test(unknown_and_unregistered_names_are_not_found),
		cmocka_unit_test(a_handler_calls_the_server_back),
		cmocka_unit_test(a_notification_runs_its_handler),
		cmocka_unit_test(stream_items_are_paced_by_credit),
		cmocka_unit_test(a_cancelled_call_is_seen_by_its_handler),
		cmocka_unit_test(many_reverse_calls),
#ifndef __SANITIZE_THREAD__
		cmocka_unit_test(across_processes_and_a_killed_server),
#endif
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
