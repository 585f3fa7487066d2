/*
 * test_echo.c — calls across processes through a real server (a forked
 * child on a real Unix socket and memfd): zero-copy echo from 0 B to
 * 16 MiB with every byte checked, named invocation, NOT_FOUND, error
 * messages, pipelining, timeouts with late answers reclaimed, the eventfd
 * doorbell fallback, park mode, and the in-process pair.
 */
#include <sys/stat.h>

#include "client_internal.h"
#include "testutil.h"

static ffb_status cb_upper(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t n = ffb_call_len(call);
	const char *in = ffb_call_data(call);
	char *out;
	ffb_status st = ffb_call_reply_alloc(call, n, (void **)&out);
	for (uint32_t i = 0; !st && i < n; i++)
		out[i] = (char)((in[i] >= 'a' && in[i] <= 'z') ? in[i] - 32 : in[i]);
	return st;
}

/* Answers NOT_FOUND of its own (a key it does not have), counting runs. */
static int missing_runs;
static ffb_status cb_missing(ffb_call *c, void *ctx)
{
	(void)c;
	(void)ctx;
	missing_runs++;
	return FFB_ERR_NOT_FOUND;
}

static ffb_status demo_missing_runs(ffb_call *c, void *ctx)
{
	(void)ctx;
	uint32_t n = (uint32_t)missing_runs;
	return ffb_call_reply_bytes(c, &n, sizeof(n));
}

static ffb_status cb_fail(ffb_call *call, void *ctx)
{
	(void)ctx;
	ffb_call_set_error(call, "bad input: \xff is not UTF-8");
	return FFB_ERR_SERIALIZATION;
}

static ffb_status cb_sleep(ffb_call *call, void *ctx)
{
	(void)ctx;
	usleep(200000);
	return ffb_call_reply_input(call, ffb_call_len(call));
}

static void setup(ffb_server *s)
{
	ffb_server_register(s, "test.upper", cb_upper, NULL, NULL);
	ffb_server_register(s, "test.fail", cb_fail, NULL, NULL);
	ffb_server_register(s, "test.missing", cb_missing, NULL, NULL);
	ffb_server_register(s, "test.missing_runs", demo_missing_runs, NULL, NULL);
	ffb_server_register(s, "test.sleep", cb_sleep, NULL, NULL);
}

static struct test_server server;

static int start(void **state)
{
	(void)state;
	test_server_start(&server, setup);
	return 0;
}

static int stop(void **state)
{
	(void)state;
	assert_int_equal(test_server_stop(&server, SIGTERM), 0);
	return 0;
}

static ffb_client *connect_ok(uint32_t mode)
{
	struct ffb_client_options o;
	ffb_client_options_init(&o);
	o.wait_mode = mode;
	ffb_client *c = NULL;
	assert_int_equal(ffb_client_connect(server.path, &o, &c), FFB_OK);
	return c;
}

static void echo_sizes(ffb_client *c)
{
	static const uint32_t sizes[] = {0, 1, 63, 64, 65, 1000, 4096, 65536, 1 << 20, 4 << 20, 16 << 20};
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t n = sizes[s];
		ffb_handle h = {0};
		unsigned char *p = NULL;
		if (n) {
			assert_int_equal(ffb_client_alloc(c, n, &h), FFB_OK);
			assert_int_equal(ffb_client_data(c, h, (void **)&p, NULL), FFB_OK);
			for (uint32_t i = 0; i < n; i++)
				p[i] = (unsigned char)(i * 7 + s);
		}
		ffb_result r;
		assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, h, n, 5000000000ll, &r), FFB_OK);
		assert_int_equal(r.status, FFB_OK);
		assert_int_equal(r.len, n);
		assert_true(r.handle.id == h.id); /* zero copy: the same block came back */
		for (uint32_t i = 0; i < n; i++)
			if (p[i] != (unsigned char)(i * 7 + s))
				fail_msg("size %u: byte %u changed", n, i);
		if (n)
			assert_int_equal(ffb_client_free(c, h), FFB_OK);
	}
}

static void echo_0b_to_16mib_zero_copy(void **state)
{
	(void)state;
	ffb_client *c = connect_ok(FFB_WAIT_PARK);
	echo_sizes(c);
	ffb_client_close(c);
}

static void echo_in_spin_mode(void **state)
{
	(void)state;
	ffb_client *c = connect_ok(FFB_WAIT_SPIN);
	echo_sizes(c);
	ffb_client_close(c);
}

static void named_invocation_returns_server_block(void **state)
{
	(void)state;
	ffb_client *c = connect_ok(FFB_WAIT_PARK);
	ffb_handle h;
	char *p;
	assert_int_equal(ffb_client_alloc(c, 5, &h), FFB_OK);
	ffb_client_data(c, h, (void **)&p, NULL);
	memcpy(p, "hello", 5);
	ffb_result r;
	assert_int_equal(ffb_client_invoke(c, "test.upper", h, 5, -1, &r), FFB_OK);
	assert_int_equal(FFB_HANDLE_HEAP(r.handle.id), FFB_HEAP_SERVER);
	char *out;
	assert_int_equal(ffb_client_data(c, r.handle, (void **)&out, NULL), FFB_OK);
	assert_memory_equal(out, "HELLO", 5);
	assert_memory_equal(p, "hello", 5); /* our input block is ours again */
	assert_int_equal(ffb_client_free(c, r.handle), FFB_OK);
	assert_int_equal(ffb_client_free(c, r.handle), FFB_ERR_DOUBLE_FREE); /* caught locally */
	assert_int_equal(ffb_client_data(c, r.handle, (void **)&out, NULL), FFB_ERR_DOUBLE_FREE);
	/* the released block is recycled by the server: many more calls work */
	for (int i = 0; i < 20000; i++) {
		assert_int_equal(ffb_client_invoke(c, "test.upper", h, 5, -1, &r), FFB_OK);
		assert_int_equal(ffb_client_free(c, r.handle), FFB_OK);
	}
	uint32_t id;
	assert_int_equal(ffb_client_resolve(c, "ffi.echo", &id), FFB_OK);
	assert_int_equal(id, FFB_FN_ECHO);
	assert_int_equal(ffb_client_invoke(c, "ffi.version", (ffb_handle){0}, 0, -1, &r), FFB_OK);
	ffb_client_data(c, r.handle, (void **)&out, NULL);
	assert_int_equal(r.len, strlen(FFB_VERSION_STRING));
	assert_memory_equal(out, FFB_VERSION_STRING, r.len);
	ffb_client_free(c, r.handle);
	ffb_client_free(c, h);
	ffb_client_close(c);
}

static void unknown_name_is_not_found_and_errors_carry_messages(void **state)
{
	(void)state;
	ffb_client *c = connect_ok(FFB_WAIT_PARK);
	ffb_result r;
	uint32_t id;
	assert_int_equal(ffb_client_resolve(c, "no.such.handler", &id), FFB_ERR_NOT_FOUND);
	assert_int_equal(ffb_client_invoke(c, "no.such.handler", (ffb_handle){0}, 0, -1, &r), FFB_ERR_NOT_FOUND);
	assert_int_equal(r.status, FFB_ERR_NOT_FOUND);
	assert_int_equal(ffb_client_resolve(c, "bad\xff", &id), FFB_ERR_INVALID_UTF8);
	/* a stale or made-up function id answers NOT_FOUND, the session lives */
	assert_int_equal(ffb_client_call(c, FFB_FN_MAKE(77, 1234), (ffb_handle){0}, 0, -1, &r), FFB_ERR_NOT_FOUND);
	/* a function's own NOT_FOUND carries a message and is not retried
	 * (PROTOCOL.md §7): it ran once */
	assert_int_equal(ffb_client_invoke(c, "test.missing", (ffb_handle){0}, 0, -1, &r), FFB_ERR_NOT_FOUND);
	assert_int_not_equal(r.handle.id, 0);
	ffb_client_free(c, r.handle);
	uint32_t *runs;
	assert_int_equal(ffb_client_invoke(c, "test.missing_runs", (ffb_handle){0}, 0, -1, &r), FFB_OK);
	ffb_client_data(c, r.handle, (void **)&runs, NULL);
	assert_int_equal(*runs, 1);
	ffb_client_free(c, r.handle);
	assert_int_equal(ffb_client_invoke(c, "test.fail", (ffb_handle){0}, 0, -1, &r), FFB_ERR_SERIALIZATION);
	assert_int_not_equal(r.handle.id, 0);
	char *msg;
	ffb_client_data(c, r.handle, (void **)&msg, NULL);
	const char want[] = "bad input: ? is not UTF-8";
	assert_int_equal(r.len, strlen(want));
	assert_memory_equal(msg, want, r.len);
	ffb_client_free(c, r.handle);
	assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, -1, &r), FFB_OK);
	ffb_client_close(c);
}

static void pipelined_calls_complete_once_each(void **state)
{
	(void)state;
	ffb_client *c = connect_ok(FFB_WAIT_PARK);
	enum { DEPTH = 64, TOTAL = 100000 };
	ffb_handle h[DEPTH];
	uint64_t ids[DEPTH];
	for (int i = 0; i < DEPTH; i++) {
		uint64_t *p;
		assert_int_equal(ffb_client_alloc(c, 64, &h[i]), FFB_OK);
		ffb_client_data(c, h[i], (void **)&p, NULL);
		*p = (uint64_t)i;
	}
	int submitted = 0, completed = 0, inflight = 0;
	int free_idx[DEPTH], nfree = DEPTH;
	for (int i = 0; i < DEPTH; i++)
		free_idx[i] = i;
	while (completed < TOTAL) {
		while (nfree && submitted < TOTAL) {
			int k = free_idx[--nfree];
			assert_int_equal(ffb_client_submit(c, FFB_FN_ECHO, h[k], 64, &ids[k]), FFB_OK);
			submitted++;
			inflight++;
		}
		struct ffb_completion done[DEPTH];
		uint32_t n;
		assert_int_equal(ffb_client_poll(c, done, DEPTH, &n, -1), FFB_OK);
		for (uint32_t j = 0; j < n; j++) {
			int k = -1;
			for (int x = 0; x < DEPTH; x++)
				if (h[x].id == done[j].result.handle.id)
					k = x;
			assert_true(k >= 0);
			assert_int_equal(done[j].call_id, ids[k]); /* delivered to its own call */
			assert_int_equal(done[j].result.status, FFB_OK);
			uint64_t *p;
			assert_int_equal(ffb_client_data(c, h[k], (void **)&p, NULL), FFB_OK);
			assert_int_equal(*p, (uint64_t)k);
			free_idx[nfree++] = k;
			completed++;
			inflight--;
		}
	}
	struct ffb_completion x;
	uint32_t n;
	assert_int_equal(ffb_client_poll(c, &x, 1, &n, 0), FFB_ERR_WOULD_BLOCK);
	struct ffb_client_stats st;
	ffb_client_stats(c, &st);
	assert_int_equal(st.dropped_responses, 0);
	ffb_client_close(c);
}

static void in_flight_cap_is_enforced(void **state)
{
	(void)state;
	ffb_client *c = connect_ok(FFB_WAIT_PARK);
	uint32_t cap = ffb_client_superblock(c)->max_inflight;
	uint64_t id;
	uint32_t i;
	for (i = 0; i < cap; i++)
		assert_int_equal(ffb_client_submit(c, FFB_FN_ECHO, (ffb_handle){0}, 0, &id), FFB_OK);
	assert_int_equal(ffb_client_submit(c, FFB_FN_ECHO, (ffb_handle){0}, 0, &id), FFB_ERR_TOO_MANY_CALLS);
	uint32_t got = 0;
	while (got < cap) {
		struct ffb_completion done[64];
		uint32_t n;
		assert_int_equal(ffb_client_poll(c, done, 64, &n, -1), FFB_OK);
		got += n;
	}
	ffb_client_close(c);
}

static void timeout_then_late_answer_is_reclaimed(void **state)
{
	(void)state;
	ffb_client *c = connect_ok(FFB_WAIT_PARK);
	ffb_handle h;
	assert_int_equal(ffb_client_alloc(c, 64, &h), FFB_OK);
	uint32_t free_before = ffb__heap_free_blocks(&c->own, 0);
	ffb_result r;
	uint64_t t0 = test_now_ns();
	assert_int_equal(ffb_client_invoke(c, "test.sleep", h, 64, 20000000, &r), FFB_ERR_TIMEOUT);
	assert_true(test_now_ns() - t0 < 150000000ull);
	assert_int_equal(ffb_client_free(c, h), FFB_ERR_BUSY); /* given up with the call */
	/* the late answer arrives during the next call and is dropped */
	assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, -1, &r), FFB_OK);
	struct ffb_client_stats st;
	ffb_client_stats(c, &st);
	assert_int_equal(st.dropped_responses, 1);
	assert_int_equal(st.pending, 0);
	assert_int_equal(ffb__heap_free_blocks(&c->own, 0), free_before + 1); /* block reclaimed */
	assert_int_equal(ffb_client_free(c, h), FFB_ERR_DOUBLE_FREE);
	ffb_client_close(c);
}

static void eventfd_doorbell_fallback_works(void **state)
{
	(void)state;
	struct test_server ts;
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.use_futex_doorbell = 0;
	o.spin_ns = 0; /* park at once: every call needs the doorbell */
	test_server_start_opts(&ts, setup, &o);
	ffb_client *c;
	assert_int_equal(ffb_client_connect(ts.path, NULL, &c), FFB_OK);
	assert_int_equal(ffb_client_superblock(c)->flags & FFB_SB_FUTEX_DOORBELL, 0);
	for (int i = 0; i < 2000; i++) {
		ffb_result r;
		assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, -1, &r), FFB_OK);
	}
	ffb_client_close(c);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

static void futex_doorbell_with_parking_server(void **state)
{
	(void)state;
	struct test_server ts;
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.spin_ns = 0;
	test_server_start_opts(&ts, setup, &o);
	ffb_client *c;
	assert_int_equal(ffb_client_connect(ts.path, NULL, &c), FFB_OK);
	for (int i = 0; i < 2000; i++) {
		ffb_result r;
		assert_int_equal(ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, -1, &r), FFB_OK);
		if (i % 500 == 0)
			usleep(20000); /* let the server fall asleep */
	}
	ffb_client_close(c);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

static void inproc_pair_echoes(void **state)
{
	(void)state;
	ffb_server *s;
	assert_int_equal(ffb_server_create(NULL, &s), FFB_OK);
	setup(s);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	ffb_client *c;
	assert_int_equal(ffb_server_connect_inproc(s, NULL, &c), FFB_OK);
	echo_sizes(c);
	ffb_handle h;
	char *p;
	ffb_client_alloc(c, 3, &h);
	ffb_client_data(c, h, (void **)&p, NULL);
	memcpy(p, "abc", 3);
	ffb_result r;
	assert_int_equal(ffb_client_invoke(c, "test.upper", h, 3, -1, &r), FFB_OK);
	ffb_client_data(c, r.handle, (void **)&p, NULL);
	assert_memory_equal(p, "ABC", 3);
	ffb_client_free(c, r.handle);
	ffb_client_free(c, h);
	struct ffb_server_stats st;
	ffb_server_stats(s, &st);
	assert_true(st.calls >= 12);
	assert_int_equal(st.sessions_active, 1);
	ffb_client_close(c);
	ffb_server_destroy(s);
}

static void refused_when_session_cap_reached(void **state)
{
	(void)state;
	struct test_server ts;
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.max_sessions = 2;
	test_server_start_opts(&ts, NULL, &o);
	ffb_client *a, *b, *x;
	assert_int_equal(ffb_client_connect(ts.path, NULL, &a), FFB_OK);
	assert_int_equal(ffb_client_connect(ts.path, NULL, &b), FFB_OK);
	for (int i = 0; i < 10; i++) /* refusals neither take nor free a slot */
		assert_int_equal(ffb_client_connect(ts.path, NULL, &x), FFB_ERR_TOO_MANY_SESSIONS);
	ffb_client_close(a);
	/* the slot frees once the server sees the hang-up */
	assert_true(WAIT_UNTIL(ffb_client_connect(ts.path, NULL, &x) == FFB_OK, 2000));
	ffb_client_close(x);
	ffb_client_close(b);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

/* Connect from a child running as `uid`; returns the child's status code. */
static int connect_as(const char *path, uid_t uid)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(uid) != 0 || setuid(uid) != 0)
			_exit(100);
		ffb_client *c = NULL;
		ffb_status st = ffb_client_connect(path, NULL, &c);
		if (st == FFB_OK) {
			ffb_result r;
			st = ffb_client_call(c, FFB_FN_ECHO, (ffb_handle){0}, 0, -1, &r);
			ffb_client_close(c);
		}
		_exit(st);
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void other_uid_is_refused_unless_allowed(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* needs root to become another uid; CI runs as root */
	const uid_t nobody = 65534;
	struct test_server ts;
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.socket_mode = 0666; /* let the file system admit it: SO_PEERCRED decides */
	test_server_start_opts(&ts, NULL, &o);
	assert_int_equal(chmod(ts.dir, 0755), 0);
	assert_int_equal(connect_as(ts.path, nobody), FFB_ERR_PERMISSION_DENIED);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);

	o.allowed_uids = &nobody;
	o.n_allowed_uids = 1;
	test_server_start_opts(&ts, NULL, &o);
	assert_int_equal(chmod(ts.dir, 0755), 0);
	assert_int_equal(connect_as(ts.path, nobody), FFB_OK);
	assert_int_equal(connect_as(ts.path, 65533), FFB_ERR_PERMISSION_DENIED);
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
}

static void socket_file_is_private_by_default(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(server.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(S_ISSOCK(st.st_mode));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(echo_0b_to_16mib_zero_copy),
		cmocka_unit_test(echo_in_spin_mode),
		cmocka_unit_test(named_invocation_returns_server_block),
		cmocka_unit_test(unknown_name_is_not_found_and_errors_carry_messages),
		cmocka_unit_test(pipelined_calls_complete_once_each),
		cmocka_unit_test(in_flight_cap_is_enforced),
		cmocka_unit_test(timeout_then_late_answer_is_reclaimed),
		cmocka_unit_test(eventfd_doorbell_fallback_works),
		cmocka_unit_test(futex_doorbell_with_parking_server),
		cmocka_unit_test(inproc_pair_echoes),
		cmocka_unit_test(refused_when_session_cap_reached),
		cmocka_unit_test(other_uid_is_refused_unless_allowed),
		cmocka_unit_test(socket_file_is_private_by_default),
	};
	return cmocka_run_group_tests(tests, start, stop);
}
