/*
 * test_fault.c — fault injection into libffb: the Nth call to an OS or
 * allocator function (memfd_create, ftruncate, fcntl, mmap, sendmsg, recvmsg,
 * malloc, calloc, realloc, strdup, eventfd, socket, socketpair, connect,
 * bind, listen, getsockopt, pthread_create, io_uring_queue_init and the
 * io_uring_enter wrappers) fails, once (transient) or from then on
 * (persistent), for N = 1, 2, ... until the path makes fewer than N such
 * calls. Each public call must return a clean error (or succeed) without
 * crashing or hanging; afterwards the process's fds and arena mappings are
 * back to their baseline and, in ASan builds, LeakSanitizer finds nothing.
 * A failure inside the server's io_uring loop must only cost that client:
 * the next client is served. See fault.h for the mechanism.
 */
#include <sys/stat.h>

#include "fault.h"
#include "testutil.h"

/* LeakSanitizer's on-demand check, present only in ASan builds. */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void leak_check(const char *where, int n, bool persistent)
{
	if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check())
		fail_msg("LeakSanitizer: leak after %s, N=%d %s", where, n, persistent ? "persistent" : "transient");
}

struct baseline {
	int fds, maps;
};

static struct baseline snap(void)
{
	return (struct baseline){count_fds(0), count_arena_maps(0)};
}

static void back_to(struct baseline b, const char *where, int n, bool persistent)
{
	if (!WAIT_UNTIL(count_fds(0) == b.fds && count_arena_maps(0) == b.maps, 3000))
		fail_msg("%s N=%d %s: fds %d (baseline %d), arena maps %d (baseline %d)", where, n,
			 persistent ? "persistent" : "transient", count_fds(0), b.fds, count_arena_maps(0), b.maps);
}

/* Figures for tests/RELIABILITY.md: points exercised and outcomes. */
struct tally {
	const char *name;
	int points[2];  /* fault points reached: transient, persistent */
	int errors[2];  /* runs that returned an error */
	char seen[512]; /* distinct functions failed */
};

static void tally_add(struct tally *t, bool persistent, bool err, const char *what)
{
	t->points[persistent]++;
	t->errors[persistent] += err;
	if (*what && !strstr(t->seen, what)) {
		size_t l = strlen(t->seen);
		snprintf(t->seen + l, sizeof(t->seen) - l, "%s%s", l ? " " : "", what);
	}
}

static void tally_print(const struct tally *t)
{
	printf("[fault] %-22s points %3d transient (%3d errors) %3d persistent (%3d errors); failed: %s\n", t->name,
	       t->points[0], t->errors[0], t->points[1], t->errors[1], t->seen);
	fflush(stdout);
}

/* A core bug found here and reported: printed once per kind; fatal only
 * with FFB_FAULT_STRICT=1 (so the suite stays a gate for everything else). */
static void known_bug(const char *what, int n, bool persistent)
{
	static char said[1024];
	/* Strict unless FFB_FAULT_STRICT=0: the findings are fixed in the core. */
	if (!getenv("FFB_FAULT_STRICT") || atoi(getenv("FFB_FAULT_STRICT")))
		fail_msg("core bug: %s (N=%d %s, %s failed)", what, n, persistent ? "persistent" : "transient",
			 fi_what());
	if (strstr(said, what))
		return;
	snprintf(said + strlen(said), sizeof(said) - strlen(said), "%s;", what);
	printf("[fault] KNOWN CORE BUG: %s (first at N=%d %s, %s failed)\n", what, n,
	       persistent ? "persistent" : "transient", fi_what());
	fflush(stdout);
}

/* A clean error: a status from the table, never OK with garbage. */
static void assert_clean(ffb_status st)
{
	assert_true(st == FFB_OK || (st > 0 && st <= FFB_ERR_BUSY));
}

#define MAX_N 400

/* ---- server object: create, listen, start, destroy (main thread) ------- */

static void test_server_lifecycle_fails_cleanly(void **state)
{
	(void)state;
	char dir[] = "/tmp/ffb-fault-XXXXXX", path[108];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	struct tally t = {.name = "server create/listen/start/destroy"};
	for (int persistent = 0; persistent < 2; persistent++) {
		for (int n = 1; n <= MAX_N; n++) {
			struct baseline b = snap();
			alarm(30);
			fi_arm(FI_MAIN, n, persistent);
			ffb_server *s = NULL;
			ffb_status st = ffb_server_create(NULL, &s);
			assert_clean(st);
			if (st == FFB_OK) {
				assert_non_null(s);
				st = ffb_server_listen(s, path);
				assert_clean(st);
				if (st == FFB_OK) {
					struct stat sb;
					assert_int_equal(lstat(path, &sb), 0);
					st = ffb_server_start(s);
					assert_clean(st);
				}
				ffb_server_destroy(s);
			}
			int seen = fi_disarm();
			alarm(0);
			if (access(path, F_OK) == 0) {
				/* Core finding (reported): ffb_server_listen does not
				 * unlink the file its bind() created when chmod() or
				 * listen() then fails. FFB_FAULT_STRICT=1 fails on it. */
				char what[96];
				snprintf(what, sizeof(what), "server listen: socket file left behind when %s fails",
					 fi_what());
				unlink(path);
				known_bug(what, n, persistent);
			}
			back_to(b, "server lifecycle", n, persistent);
			leak_check("server lifecycle", n, persistent);
			if (seen < n)
				break;
			tally_add(&t, persistent, st != FFB_OK, fi_what());
		}
	}
	rmdir(dir);
	tally_print(&t);
}

/* ---- in-process pair: everything the main thread does -------------------
 * connect_inproc (socketpair + client handshake), resolve, calls, a server
 * reply freed (release queue), close; the loop thread is not injected. */

static void pair_session(ffb_server *s, ffb_status *first_err)
{
	struct ffb_client_options o;
	ffb_client_options_init(&o);
	o.connect_timeout_ms = 2000;
	ffb_client *c = NULL;
	ffb_status st = ffb_server_connect_inproc(s, &o, &c);
	assert_clean(st);
	if (st) {
		*first_err = st;
		return;
	}
	ffb_handle h;
	st = ffb_client_alloc(c, 64, &h);
	assert_clean(st);
	if (!st) {
		void *p;
		assert_int_equal(ffb_client_data(c, h, &p, NULL), FFB_OK);
		memcpy(p, "fault", 5);
		ffb_result r;
		st = ffb_client_invoke(c, "ffi.echo", h, 5, 2000000000ll, &r);
		assert_clean(st);
		if (!st && r.status == FFB_OK)
			assert_int_equal(r.handle.id, h.id);
		ffb_client_free(c, h);
	}
	ffb_result v;
	ffb_status st2 = ffb_client_invoke(c, "ffi.version", (ffb_handle){0}, 0, 2000000000ll, &v);
	assert_clean(st2);
	if (!st2 && v.handle.id) {
		ffb_status fst = ffb_client_free(c, v.handle);
		assert_clean(fst);
		/* A failed free (no room to queue the RELEASE) must leave the
		 * block held, so the caller can free it again later. */
		void *still;
		if (fst == FFB_ERR_SYSTEM && ffb_client_data(c, v.handle, &still, NULL) != FFB_OK)
			known_bug("client free: a failed release-queue realloc forgets the server block", 0, false);
	}
	assert_clean(ffb_client_flush(c));
	*first_err = st ? st : st2;
	ffb_client_close(c);
}

static void inproc_client(bool futex)
{
	struct ffb_server_options so;
	ffb_server_options_init(&so);
	so.use_futex_doorbell = futex;
	ffb_server *s;
	assert_int_equal(ffb_server_create(&so, &s), FFB_OK);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	struct tally t = {.name = futex ? "inproc connect+calls" : "inproc, eventfd bells"};
	for (int persistent = 0; persistent < 2; persistent++) {
		for (int n = 1; n <= MAX_N; n++) {
			struct baseline b = snap();
			alarm(30);
			fi_arm(FI_MAIN, n, persistent);
			ffb_status err = FFB_OK;
			pair_session(s, &err);
			int seen = fi_disarm();
			alarm(0);
			back_to(b, "inproc client", n, persistent);
			/* the server lost nothing: a clean session still works */
			ffb_status ok = FFB_OK;
			pair_session(s, &ok);
			assert_int_equal(ok, FFB_OK);
			back_to(b, "inproc client (after)", n, persistent);
			leak_check("inproc client", n, persistent);
			if (seen < n)
				break;
			tally_add(&t, persistent, err != FFB_OK, fi_what());
		}
	}
	struct ffb_server_stats ss;
	ffb_server_stats(s, &ss);
	assert_int_equal(ss.sessions_cut, 0);
	ffb_server_destroy(s);
	tally_print(&t);
}

static void test_inproc_client_fails_cleanly(void **state)
{
	(void)state;
	inproc_client(true);
}

/* The eventfd doorbell: two bells per session, the client rings the
 * server's (bell.c) when the loop parked. */
static void test_inproc_client_eventfd_doorbell_fails_cleanly(void **state)
{
	(void)state;
	inproc_client(false);
}

/* ---- a real client against a forked server ------------------------------ */

static void client_session(const char *path, ffb_status *first_err)
{
	struct ffb_client_options o;
	ffb_client_options_init(&o);
	o.connect_timeout_ms = 2000;
	ffb_client *c = NULL;
	ffb_status st = ffb_client_connect(path, &o, &c);
	assert_clean(st);
	if (st) {
		*first_err = st;
		return;
	}
	ffb_handle h;
	st = ffb_client_alloc(c, 4096, &h);
	if (!st) {
		ffb_result r;
		st = ffb_client_invoke(c, "ffi.echo", h, 100, 2000000000ll, &r);
		assert_clean(st);
		ffb_client_free(c, h);
	}
	ffb_result v;
	ffb_status st2 = ffb_client_invoke(c, "ffi.version", (ffb_handle){0}, 0, 2000000000ll, &v);
	assert_clean(st2);
	if (!st2 && v.handle.id)
		assert_clean(ffb_client_free(c, v.handle));
	/* pipelined: submit + poll */
	uint32_t echo;
	if (!ffb_client_resolve(c, "ffi.echo", &echo)) {
		uint64_t id;
		if (!ffb_client_submit(c, echo, (ffb_handle){0}, 0, &id)) {
			struct ffb_completion done;
			uint32_t got = 0;
			assert_clean(ffb_client_poll(c, &done, 1, &got, 2000000000ll));
		}
	}
	*first_err = st ? st : st2;
	ffb_client_close(c);
}

/* With FFB_FAULT_EXEC_SERVER=path/to/ffb the server is `ffb serve`, exec'd:
 * under valgrind (which does not follow exec by default) only this client
 * process is checked, and the server parks in io_uring_enter natively —
 * valgrind 3.19 holds its lock and blocks signals across that syscall, so
 * a valgrinded server could not even be stopped by SIGTERM. */
static void server_start_exec(struct test_server *ts, const char *bin)
{
	strcpy(ts->dir, "/tmp/ffb-fault-XXXXXX");
	assert_non_null(mkdtemp(ts->dir));
	snprintf(ts->path, sizeof(ts->path), "%s/s.sock", ts->dir);
	int out[2];
	assert_int_equal(pipe(out), 0);
	ts->pid = fork();
	assert_true(ts->pid >= 0);
	if (ts->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execl(bin, bin, "serve", "--socket", ts->path, "--quiet", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char line[256];
	FILE *f = fdopen(out[0], "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_true(strncmp(line, "ready", 5) == 0);
	fclose(f);
}

static void test_client_fails_cleanly(void **state)
{
	(void)state;
	struct test_server ts;
	const char *bin = getenv("FFB_FAULT_EXEC_SERVER");
	if (bin && *bin)
		server_start_exec(&ts, bin);
	else
		test_server_start(&ts, NULL);
	struct tally t = {.name = "client connect+calls"};
	/* The child closes its end of the ready pipe after we were told to
	 * go: take the baseline once its fd count stopped moving. */
	int srv_fds = -1;
	for (int prev = -2; srv_fds != prev; usleep(50000))
		prev = srv_fds, srv_fds = count_fds(ts.pid);
	int srv_maps = count_arena_maps(ts.pid);
	for (int persistent = 0; persistent < 2; persistent++) {
		for (int n = 1; n <= MAX_N; n++) {
			struct baseline b = snap();
			alarm(30);
			fi_arm(FI_MAIN, n, persistent);
			ffb_status err = FFB_OK;
			client_session(ts.path, &err);
			int seen = fi_disarm();
			alarm(0);
			back_to(b, "client", n, persistent);
			if (!WAIT_UNTIL(count_fds(ts.pid) == srv_fds && count_arena_maps(ts.pid) == srv_maps, 3000))
				fail_msg("client N=%d: server keeps %d fds (baseline %d), %d arena maps (baseline %d)", n,
					 count_fds(ts.pid), srv_fds, count_arena_maps(ts.pid), srv_maps);
			assert_true(test_server_alive(&ts));
			ffb_status ok = FFB_OK;
			client_session(ts.path, &ok);
			assert_int_equal(ok, FFB_OK);
			leak_check("client", n, persistent);
			if (seen < n)
				break;
			tally_add(&t, persistent, err != FFB_OK, fi_what());
		}
	}
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
	tally_print(&t);
}

/* ---- inside the server loop: only that client is refused ----------------- */

static void server_side(bool uring, bool futex, struct tally *t)
{
	char dir[] = "/tmp/ffb-fault-XXXXXX", path[108];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	struct ffb_server_options so;
	ffb_server_options_init(&so);
	so.use_futex_doorbell = futex;
	ffb_server *s;
	assert_int_equal(ffb_server_create(&so, &s), FFB_OK);
	assert_int_equal(ffb_server_listen(s, path), FFB_OK);
	assert_int_equal(ffb_server_start(s), FFB_OK);
	struct baseline b = snap();
	/* One clean session first: the loop's one-time allocations are done. */
	ffb_status ok = FFB_OK;
	client_session(path, &ok);
	assert_int_equal(ok, FFB_OK);
	back_to(b, "server loop, clean session", 0, false);
	for (int persistent = 0; persistent < 2; persistent++) {
		/* A persistently failing io_uring_enter stops the loop from
		 * seeing anything: nothing to check but recovery, and the count
		 * of calls is unbounded (the loop spins): transient only. */
		if (uring && persistent)
			break;
		for (int n = 1; n <= (uring ? 12 : MAX_N); n++) {
			alarm(60);
			fi_arm(FI_OTHER, n, persistent);
			ffb_status err = FFB_OK;
			client_session(path, &err);
			/* let the loop finish with that session while still armed */
			struct ffb_server_stats ss;
			WAIT_UNTIL((ffb_server_stats(s, &ss), ss.sessions_active == 0), 2000);
			usleep(2000);
			int seen = fi_disarm();
			client_session(path, &ok);
			alarm(0);
			if (ok != FFB_OK)
				fail_msg("server-side N=%d %s (%s failed): the next client got %s", n,
					 persistent ? "persistent" : "transient", fi_what(), ffb_status_name(ok));
			back_to(b, uring ? "server loop io_uring" : "server loop", n, persistent);
			leak_check("server loop", n, persistent);
			if (seen < n)
				break;
			tally_add(t, persistent, err != FFB_OK, fi_what());
		}
	}
	ffb_server_destroy(s);
	rmdir(dir);
}

static void test_server_loop_fault_refuses_only_that_client(void **state)
{
	(void)state;
	struct tally t = {.name = "server loop (sessions)"};
	fi_skip_uring(true);
	server_side(false, true, &t);
	tally_print(&t);
	struct tally e = {.name = "server loop, eventfd bells"};
	server_side(false, false, &e);
	fi_skip_uring(false);
	tally_print(&e);
	struct tally u = {.name = "server loop (io_uring)"};
	fi_only_uring(true);
	server_side(true, true, &u);
	fi_only_uring(false);
	tally_print(&u);
}

/* ---- a refused session must not free an admitted slot ------------------
 * Found here: ffb__session_close marked the session DEAD before testing
 * `s->state == FFB__HANDSHAKE` to pick the counter to decrement, so a
 * refusal decremented nsessions: the max_sessions cap then admitted one
 * client too many, and the uint32 counter wrapped once the admitted
 * clients left (every later client refused). Fixed in src/ (9ca3858). */
static void test_refused_session_keeps_the_cap(void **state)
{
	(void)state;
	struct ffb_server_options so;
	ffb_server_options_init(&so);
	so.max_sessions = 1;
	struct test_server ts;
	test_server_start_opts(&ts, NULL, &so);
	struct ffb_client_options o;
	ffb_client_options_init(&o);
	o.connect_timeout_ms = 2000;
	ffb_client *a = NULL, *b = NULL, *c = NULL;
	assert_int_equal(ffb_client_connect(ts.path, &o, &a), FFB_OK);
	assert_int_equal(ffb_client_connect(ts.path, &o, &b), FFB_ERR_TOO_MANY_SESSIONS);
	usleep(100000); /* the server drops the refused session */
	ffb_status st = ffb_client_connect(ts.path, &o, &c);
	ffb_client_close(c);
	ffb_client_close(a);
	usleep(100000);
	ffb_client *d = NULL;
	ffb_status st2 = ffb_client_connect(ts.path, &o, &d);
	ffb_client_close(d);
	test_server_stop(&ts, SIGTERM);
	assert_int_equal(st, FFB_ERR_TOO_MANY_SESSIONS); /* cap of 1 with A still connected */
	assert_int_equal(st2, FFB_OK);                     /* everyone left: room again */
}

/* usage: test_fault [SUBSTRING...] — only the tests whose name contains one
 * of the substrings (valgrind runs the ones without an in-process server
 * thread: see tests/RELIABILITY.md). */
int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest all[] = {
		cmocka_unit_test(test_server_lifecycle_fails_cleanly),
		cmocka_unit_test(test_inproc_client_fails_cleanly),
		cmocka_unit_test(test_inproc_client_eventfd_doorbell_fails_cleanly),
		cmocka_unit_test(test_client_fails_cleanly),
		cmocka_unit_test(test_server_loop_fault_refuses_only_that_client),
		cmocka_unit_test(test_refused_session_keeps_the_cap),
	};
	struct CMUnitTest tests[sizeof(all) / sizeof(all[0])];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		bool pick = argc < 2;
		for (int a = 1; a < argc && !pick; a++)
			pick = strstr(all[i].name, argv[a]) != NULL;
		if (pick)
			tests[n++] = all[i];
	}
	return _cmocka_run_group_tests("test_fault", tests, n, NULL, NULL);
}
