/*
 * test_stat.c — the stats request and `ffb stat` against a real `ffb
 * serve` ($FFB_BIN): the counters it reports, through the C API and the
 * tool's --json, are exactly the calls this test made, per function and
 * per status; a malformed stats request and one from a uid the server does
 * not allow are refused, and neither touches the session that is open.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "testutil.h"

static char dir[64], path[128];
static pid_t server_pid;

static const char *ffb_bin(void)
{
	const char *b = getenv("FFB_BIN");
	return b && *b ? b : "build/ffb";
}

static int start(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/ffb-stat-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/s", dir);
	server_pid = fork();
	if (server_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(ffb_bin(), "ffb", "serve", "--socket", path, "--quiet", "--workers", "2", (char *)NULL);
		_exit(127);
	}
	/* Ready once it answers a stats request. */
	struct ffb_server_stats st;
	for (int i = 0; i < 500; i++) {
		if (ffb_stats_query(path, 1000, &st, NULL, 0, NULL, NULL) == FFB_OK)
			return 0;
		usleep(10000);
	}
	return -1;
}

static int stop(void **state)
{
	(void)state;
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	unlink(path);
	rmdir(dir);
	return 0;
}

static ffb_status call(ffb_client *c, const char *name, const void *in, uint32_t len, ffb_result *r)
{
	ffb_handle h = {0};
	void *p;
	if (len) {
		assert_int_equal(ffb_client_alloc(c, len, &h), FFB_OK);
		assert_int_equal(ffb_client_data(c, h, &p, NULL), FFB_OK);
		memcpy(p, in, len);
	}
	ffb_status st = ffb_client_invoke(c, name, h, len, 5000000000ll, r);
	if (r->handle.id && r->handle.id != h.id)
		ffb_client_free(c, r->handle);
	if (h.id)
		ffb_client_free(c, h);
	return st;
}

static const struct ffb_stats_fn *fn_named(const struct ffb_stats_fn *fns, uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (fns[i].name_len == strlen(name) && !memcmp(fns[i].name, name, fns[i].name_len))
			return &fns[i];
	return NULL;
}

/* Load from a second session while stats are read. */
static volatile int load_stop;
static uint64_t load_calls;

static void *load(void *arg)
{
	(void)arg;
	ffb_client *c;
	assert_int_equal(ffb_client_connect(path, NULL, &c), FFB_OK);
	char buf[64] = {1};
	ffb_result r;
	while (!load_stop) {
		assert_int_equal(call(c, "demo.echo", buf, sizeof(buf), &r), FFB_OK);
		load_calls++;
	}
	ffb_client_close(c);
	return NULL;
}

static char *run_tool(const char *args)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s stat --socket %s %s", ffb_bin(), path, args);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	static char out[65536];
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	assert_int_equal(pclose(f), 0);
	return out;
}

static void expect_in(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("want %s in:\n%s", needle, hay);
}

enum { N_ECHO = 1000, N_FAIL = 7, N_SLEEP = 5, N_MISSING = 3 };

static void test_counters_match_the_calls_made(void **state)
{
	(void)state;
	/* Under load first: the reads answer while calls run, and only grow. */
	pthread_t t;
	load_stop = 0;
	load_calls = 0;
	assert_int_equal(pthread_create(&t, NULL, load, NULL), 0);
	uint64_t last = 0;
	for (int i = 0; i < 20; i++) {
		struct ffb_server_stats st;
		assert_int_equal(ffb_stats_query(path, 1000, &st, NULL, 0, NULL, NULL), FFB_OK);
		assert_true(st.calls >= last);
		last = st.calls;
		usleep(2000);
	}
	expect_in(run_tool("--json"), "\"name\":\"demo.echo\"");
	load_stop = 1;
	pthread_join(t, NULL);
	assert_true(load_calls > 0);

	ffb_client *c;
	assert_int_equal(ffb_client_connect(path, NULL, &c), FFB_OK);
	char buf[64] = {0};
	ffb_result r;
	for (int i = 0; i < N_ECHO; i++)
		assert_int_equal(call(c, "ffi.echo", buf, sizeof(buf), &r), FFB_OK);
	for (int i = 0; i < N_FAIL; i++)
		assert_int_equal(call(c, "demo.fail", buf, 4, &r), FFB_ERR_INVALID_ARGUMENT);
	uint32_t zero_ms = 0;
	for (int i = 0; i < N_SLEEP; i++) /* pooled: answered through the dispatcher's post stack */
		assert_int_equal(call(c, "demo.sleep", &zero_ms, 4, &r), FFB_OK);
	for (int i = 0; i < N_MISSING; i++) /* an id no function has: NOT_FOUND from the runtime */
		assert_int_equal(ffb_client_call(c, FFB_FN_MAKE(1, 4000), (ffb_handle){0}, 0, 5000000000ll, &r),
				 FFB_ERR_NOT_FOUND);

	struct ffb_server_stats st;
	struct ffb_stats_fn fns[FFB_STATS_MAX_FUNCTIONS];
	uint32_t n, total;
	assert_int_equal(ffb_stats_query(path, 1000, &st, fns, FFB_STATS_MAX_FUNCTIONS, &n, &total), FFB_OK);
	uint64_t made = load_calls + N_ECHO + N_FAIL + N_SLEEP + N_MISSING;
	assert_int_equal(st.calls, made);
	assert_int_equal(st.results[FFB_OK], load_calls + N_ECHO + N_SLEEP);
	assert_int_equal(st.results[FFB_ERR_INVALID_ARGUMENT], N_FAIL);
	assert_int_equal(st.results[FFB_ERR_NOT_FOUND], N_MISSING);
	assert_int_equal(st.sessions_active, 1);
	assert_int_equal(st.sessions_total, 2);
	assert_int_equal(st.sessions_cut, 0);
	assert_int_equal(st.calls_in_flight, 0);
	assert_int_equal(st.pooled_calls, load_calls + N_SLEEP); /* demo.echo is pooled too */
	assert_int_equal(st.pool_waiting, 0);
	assert_true(st.stats_requests >= 22);
	assert_int_equal(n, total);
	const struct ffb_stats_fn *echo = fn_named(fns, n, "ffi.echo"), *fail = fn_named(fns, n, "demo.fail"),
				  *slp = fn_named(fns, n, "demo.sleep"), *de = fn_named(fns, n, "demo.echo");
	assert_non_null(echo);
	assert_non_null(fail);
	assert_non_null(slp);
	assert_non_null(de);
	assert_int_equal(echo->calls, N_ECHO);
	assert_int_equal(echo->errors, 0);
	assert_int_equal(fail->calls, N_FAIL);
	assert_int_equal(fail->errors, N_FAIL);
	assert_int_equal(slp->calls, N_SLEEP);
	assert_int_equal(de->calls, load_calls);
	/* Every call of a callback is in its latency histogram; a built-in's
	 * calls are counted, not timed (it takes nanoseconds). */
	uint64_t in_echo = 0, in_fail = 0, in_sleep = 0;
	for (uint32_t b = 0; b < FFB_STATS_LAT_BUCKETS; b++) {
		in_echo += echo->latency[b];
		in_fail += fail->latency[b];
		in_sleep += slp->latency[b];
	}
	assert_int_equal(in_echo, 0);
	assert_int_equal(in_fail, N_FAIL);
	assert_int_equal(in_sleep, N_SLEEP);
	assert_true(ffb_stats_quantile_ns(fail->latency, 0.5) > 0);
	assert_true(ffb_stats_quantile_ns(fail->latency, 0.5) <= ffb_stats_quantile_ns(fail->latency, 0.99));

	/* The tool says the same. */
	char want[256];
	const char *js = run_tool("--json");
	snprintf(want, sizeof(want), "\"calls\":%llu,", (unsigned long long)made);
	expect_in(js, want);
	expect_in(js, "\"sessions\":{\"active\":1,\"handshaking\":0,\"total\":2,\"refused\":0,\"cut\":0}");
	snprintf(want, sizeof(want), "\"results\":{\"OK\":%llu,\"NOT_FOUND\":%d,\"INVALID_ARGUMENT\":%d}",
		 (unsigned long long)(load_calls + N_ECHO + N_SLEEP), N_MISSING, N_FAIL);
	expect_in(js, want);
	snprintf(want, sizeof(want), "\"name\":\"ffi.echo\",\"calls\":%d,\"errors\":0,", N_ECHO);
	expect_in(js, want);
	snprintf(want, sizeof(want), "\"name\":\"demo.fail\",\"calls\":%d,\"errors\":%d,", N_FAIL, N_FAIL);
	expect_in(js, want);
	snprintf(want, sizeof(want), "\"name\":\"demo.echo\",\"calls\":%llu,", (unsigned long long)load_calls);
	expect_in(js, want);
	const char *txt = run_tool("");
	expect_in(txt, "sessions  active 1");
	expect_in(txt, "ffi.echo");

	/* Still one session, and it still works: asking changed nothing. */
	assert_int_equal(call(c, "ffi.echo", buf, sizeof(buf), &r), FFB_OK);
	ffb_client_close(c);
}

/* A raw stats request of len bytes (first 8: the stats magic); the reply's status,
 * or -1 if the server closed without one. */
static int raw_request(const void *msg, size_t len)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strcpy(a.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(send(fd, msg, len, 0), (ssize_t)len);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 2000), 1);
	char buf[FFB_STATS_MAX_REPLY];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n <= 0)
		return -1;
	struct ffb_stats_reply h;
	assert_true(n == (ssize_t)sizeof(h)); /* a refusal is the header alone */
	memcpy(&h, buf, sizeof(h));
	assert_true(h.magic == FFB_STATS_REPLY_MAGIC);
	return h.status;
}

static void test_malformed_requests_are_refused_and_touch_no_session(void **state)
{
	(void)state;
	ffb_client *c;
	assert_int_equal(ffb_client_connect(path, NULL, &c), FFB_OK);
	struct ffb_server_stats before, after;
	assert_int_equal(ffb_stats_query(path, 1000, &before, NULL, 0, NULL, NULL), FFB_OK);

	char msg[64] = {0};
	struct ffb_client_hello h = {.magic = FFB_STATS_HELLO_MAGIC, .layout_version = FFB_LAYOUT_VERSION};
	memcpy(msg, &h, sizeof(h));
	assert_int_equal(raw_request(msg, 40), FFB_ERR_PROTOCOL);   /* too long */
	assert_int_equal(raw_request(msg, 12), FFB_ERR_PROTOCOL);   /* too short */
	h.flags = 1;
	assert_int_equal(raw_request(&h, sizeof(h)), FFB_ERR_VERSION_MISMATCH);
	h.flags = 0;
	h.layout_version = FFB_LAYOUT_VERSION + 1;
	assert_int_equal(raw_request(&h, sizeof(h)), FFB_ERR_VERSION_MISMATCH);
	assert_int_equal(raw_request(msg, 4), -1); /* not even a magic: closed, as a short hello */

	assert_int_equal(ffb_stats_query(path, 1000, &after, NULL, 0, NULL, NULL), FFB_OK);
	assert_int_equal(after.stats_refused - before.stats_refused, 4);
	assert_int_equal(after.sessions_refused, before.sessions_refused);
	assert_int_equal(after.sessions_cut, before.sessions_cut);
	assert_int_equal(after.sessions_active, before.sessions_active);
	assert_int_equal(after.protocol_errors, before.protocol_errors);
	char buf[64] = {0};
	ffb_result r;
	assert_int_equal(call(c, "ffi.echo", buf, sizeof(buf), &r), FFB_OK);
	ffb_client_close(c);
}

static void test_refused_uid_gets_permission_denied(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* needs another uid to ask from */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chmod(path, 0777), 0);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		struct ffb_server_stats st;
		_exit(ffb_stats_query(path, 1000, &st, NULL, 0, NULL, NULL) == FFB_ERR_PERMISSION_DENIED ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	chmod(dir, 0700);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	struct ffb_server_stats st;
	assert_int_equal(ffb_stats_query(path, 1000, &st, NULL, 0, NULL, NULL), FFB_OK);
	assert_int_equal(st.sessions_refused, 0); /* a refused stats request is no refused session */
}

/* A stats request waits in the pre-hello pool like any connection: with
 * room for two, two silent connections of our uid and a stats request
 * make the oldest go, and the reply sees the one left waiting. */
static void test_a_stats_request_takes_a_place_in_the_pre_hello_pool(void **state)
{
	(void)state;
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.max_handshakes = 2;
	o.max_handshakes_per_uid = 2;
	struct test_server ts;
	test_server_start_opts(&ts, NULL, &o);
	int silent[2];
	for (int i = 0; i < 2; i++) {
		silent[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		strcpy(a.sun_path, ts.path);
		assert_int_equal(connect(silent[i], (struct sockaddr *)&a, sizeof(a)), 0);
	}
	struct ffb_server_stats st;
	for (int i = 0; i < 200; i++) { /* until the server has accepted both */
		assert_int_equal(ffb_stats_query(ts.path, 1000, &st, NULL, 0, NULL, NULL), FFB_OK);
		if (st.handshakes_dropped + st.sessions_handshaking >= 2)
			break;
		usleep(5000);
	}
	assert_int_equal(ffb_stats_query(ts.path, 1000, &st, NULL, 0, NULL, NULL), FFB_OK);
	assert_true(st.handshakes_dropped >= 1);
	assert_int_equal(st.sessions_handshaking, 1);
	assert_int_equal(st.sessions_total, 0);
	struct pollfd p = {.fd = silent[0], .events = POLLIN};
	assert_int_equal(poll(&p, 1, 2000), 1); /* the oldest was closed */
	char b;
	assert_int_equal(recv(silent[0], &b, 1, MSG_DONTWAIT), 0);
	close(silent[0]);
	close(silent[1]);
	test_server_stop(&ts, SIGTERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_match_the_calls_made),
		cmocka_unit_test(test_malformed_requests_are_refused_and_touch_no_session),
		cmocka_unit_test(test_refused_uid_gets_permission_denied),
		cmocka_unit_test(test_a_stats_request_takes_a_place_in_the_pre_hello_pool),
	};
	return cmocka_run_group_tests(tests, start, stop);
}
