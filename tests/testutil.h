/*
 * testutil.h — helpers shared by the C test binaries: a real server in a
 * forked child process on a socket in a fresh temporary directory, fd and
 * mapping counters for leak checks, and a deadline helper.
 */
#ifndef FFB_TESTUTIL_H
#define FFB_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ffb.h"

struct test_server {
	pid_t pid;
	char dir[64];
	char path[108];
};

typedef void (*test_server_setup_fn)(ffb_server *s);

static ffb_server *testutil_child_server;

static void testutil_on_term(int sig)
{
	(void)sig;
	if (testutil_child_server)
		ffb_server_stop(testutil_child_server);
}

/* Fork a child that serves on a new socket with the built-ins plus what
 * `setup` registers (may be NULL); returns once it listens. */
static inline void test_server_start_opts(struct test_server *ts, test_server_setup_fn setup,
					  const struct ffb_server_options *o)
{
	strcpy(ts->dir, "/tmp/ffb-test-XXXXXX");
	assert_non_null(mkdtemp(ts->dir));
	snprintf(ts->path, sizeof(ts->path), "%s/s.sock", ts->dir);
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	ts->pid = fork();
	assert_true(ts->pid >= 0);
	if (ts->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no server behind */
		close(ready[0]);
		struct sigaction sa = {.sa_handler = testutil_on_term};
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		if (ffb_server_create(o, &testutil_child_server) ||
		    ffb_server_listen(testutil_child_server, ts->path))
			_exit(3);
		if (setup)
			setup(testutil_child_server);
		if (write(ready[1], "r", 1) != 1)
			_exit(4);
		close(ready[1]);
		ffb_server_run(testutil_child_server);
		/* No stop from a late SIGTERM once the server is being freed. */
		sigset_t term;
		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		sigprocmask(SIG_BLOCK, &term, NULL);
		ffb_server *srv = testutil_child_server;
		testutil_child_server = NULL;
		ffb_server_destroy(srv);
		_exit(0);
	}
	close(ready[1]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
}

static inline void test_server_start(struct test_server *ts, test_server_setup_fn setup)
{
	test_server_start_opts(ts, setup, NULL);
}

/* SIGTERM (graceful) or SIGKILL the server; reap it; remove its dir.
 * Returns the child's wait status. */
static inline int test_server_stop(struct test_server *ts, int sig)
{
	int status = 0;
	if (ts->pid > 0) {
		kill(ts->pid, sig);
		waitpid(ts->pid, &status, 0);
		ts->pid = 0;
	}
	unlink(ts->path);
	rmdir(ts->dir);
	return status;
}

/* Whether the server process is still alive (not exited). */
static inline int test_server_alive(const struct test_server *ts)
{
	int status;
	return waitpid(ts->pid, &status, WNOHANG) == 0;
}

/* Number of open fds of process `pid` (0 = self). */
static inline int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), pid ? "/proc/%d/fd" : "/proc/self/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - (pid ? 0 : 1); /* minus the DIR's own fd */
}

/* Number of mappings of a memfd arena ("/memfd:ffb-session") in `pid`. */
static inline int count_arena_maps(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), pid ? "/proc/%d/maps" : "/proc/self/maps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int n = 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:ffb-session"))
			n++;
	fclose(f);
	return n;
}

/* The scheduler state letter of process `pid` (R, S, T, Z, ...), '?' if
 * unknown. */
static inline char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static inline uint64_t test_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Poll `cond` until true or `ms` elapse; returns its last value. */
#define WAIT_UNTIL(cond, ms)                                                          \
	({                                                                            \
		uint64_t _end = test_now_ns() + (uint64_t)(ms) * 1000000ull;          \
		int _ok;                                                              \
		while (!(_ok = (cond)) && test_now_ns() < _end)                       \
			usleep(1000);                                                 \
		_ok;                                                                  \
	})

#endif /* FFB_TESTUTIL_H */
