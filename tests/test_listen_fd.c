/*
 * test_listen_fd.c — a server on a socket somebody else made: what
 * ffb_server_listen_fd refuses (and leaves open), what it adopts (made
 * non-blocking and close-on-exec, closed at destroy, no file unlinked),
 * and ffb_server_listen_env's contract: FFB_LISTEN_FD used and unset,
 * an FFB_PARENT_PID that is gone refused with PEER_GONE, one alive that
 * is not the parent (a wrapper in between) accepted.
 */
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "testutil.h"

/* A bound Unix socket of `type` (at `path`, or an abstract autobind
 * name), listening if asked. */
static int make_socket(int type, bool listening, const char *path)
{
	int fd = socket(AF_UNIX, type, 0);
	assert_true(fd >= 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	socklen_t len = sizeof(sa_family_t); /* no path: autobind, abstract */
	if (path) {
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
		len = sizeof(a);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
	if (listening)
		assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void refuses_what_is_not_a_listening_seqpacket_socket_and_leaves_it_open(void **state)
{
	(void)state;
	ffb_server *s;
	assert_int_equal(ffb_server_create(NULL, &s), FFB_OK);
	int p[2];
	assert_int_equal(pipe(p), 0);
	errno = 0;
	assert_int_equal(ffb_server_listen_fd(s, p[0]), FFB_ERR_BAD_FD);
	assert_int_equal(errno, ENOTSOCK);
	assert_true(fd_open(p[0]));
	close(p[0]);
	close(p[1]);

	int stream = make_socket(SOCK_STREAM, true, NULL);
	errno = 0;
	assert_int_equal(ffb_server_listen_fd(s, stream), FFB_ERR_BAD_FD);
	assert_int_equal(errno, EPROTOTYPE);
	assert_true(fd_open(stream));
	close(stream);

	int idle = make_socket(SOCK_SEQPACKET, false, NULL);
	errno = 0;
	assert_int_equal(ffb_server_listen_fd(s, idle), FFB_ERR_BAD_FD);
	assert_int_equal(errno, EINVAL);
	assert_true(fd_open(idle));
	close(idle);

	assert_int_equal(ffb_server_listen_fd(s, idle), FFB_ERR_BAD_FD); /* closed: EBADF */
	assert_int_equal(ffb_server_listen_fd(s, -1), FFB_ERR_INVALID_ARGUMENT);
	assert_int_equal(ffb_server_listen_fd(NULL, 0), FFB_ERR_NULL_POINTER);
	ffb_server_destroy(s);
}

static void adopts_a_listening_socket_serves_it_and_closes_it_at_destroy(void **state)
{
	(void)state;
	char dir[] = "/tmp/ffb-lfd-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	int fd = make_socket(SOCK_SEQPACKET, true, path);

	ffb_server *s;
	assert_int_equal(ffb_server_create(NULL, &s), FFB_OK);
	assert_int_equal(ffb_server_listen_fd(s, fd), FFB_OK);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(ffb_server_listen_fd(s, fd), FFB_ERR_INVALID_ARGUMENT); /* once */
	assert_int_equal(ffb_server_start(s), FFB_OK);

	ffb_client *c;
	assert_int_equal(ffb_client_connect(path, NULL, &c), FFB_OK);
	uint32_t id;
	assert_int_equal(ffb_client_resolve(c, "ffi.echo", &id), FFB_OK);
	ffb_client_close(c);

	ffb_server_destroy(s);
	assert_false(fd_open(fd));
	assert_int_equal(access(path, F_OK), 0); /* the launcher's file, not ours */
	unlink(path);
	rmdir(dir);
}

static void listen_env_uses_and_unsets_the_variables(void **state)
{
	(void)state;
	ffb_server *s;
	assert_int_equal(ffb_server_create(NULL, &s), FFB_OK);
	int used = 7;
	unsetenv("FFB_LISTEN_FD");
	unsetenv("FFB_PARENT_PID");
	assert_int_equal(ffb_server_listen_env(s, &used), FFB_OK);
	assert_int_equal(used, 0);

	int fd = make_socket(SOCK_SEQPACKET, true, NULL);
	char v[16];
	snprintf(v, sizeof(v), "%d", fd);
	setenv("FFB_LISTEN_FD", v, 1);
	snprintf(v, sizeof(v), "%d", (int)getppid());
	setenv("FFB_PARENT_PID", v, 1);
	assert_int_equal(ffb_server_listen_env(s, &used), FFB_OK);
	assert_int_equal(used, 1);
	assert_null(getenv("FFB_LISTEN_FD"));
	assert_null(getenv("FFB_PARENT_PID"));
	prctl(PR_SET_PDEATHSIG, 0); /* the test runner keeps no death signal */
	ffb_server_destroy(s);
	assert_false(fd_open(fd));

	assert_int_equal(ffb_server_create(NULL, &s), FFB_OK);
	setenv("FFB_LISTEN_FD", "not-a-number", 1);
	assert_int_equal(ffb_server_listen_env(s, &used), FFB_ERR_INVALID_ARGUMENT);
	assert_null(getenv("FFB_LISTEN_FD"));
	ffb_server_destroy(s);
}

static void listen_env_refuses_when_the_launcher_is_gone(void **state)
{
	(void)state;
	ffb_server *s;
	assert_int_equal(ffb_server_create(NULL, &s), FFB_OK);
	int fd = make_socket(SOCK_SEQPACKET, true, NULL);
	char v[16];
	snprintf(v, sizeof(v), "%d", fd);
	setenv("FFB_LISTEN_FD", v, 1);
	pid_t dead = fork(); /* a launcher that is gone */
	if (dead == 0)
		_exit(0);
	assert_true(dead > 0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	snprintf(v, sizeof(v), "%d", (int)dead);
	setenv("FFB_PARENT_PID", v, 1);
	int used = 7;
	assert_int_equal(ffb_server_listen_env(s, &used), FFB_ERR_PEER_GONE);
	assert_int_equal(used, 0);
	assert_null(getenv("FFB_PARENT_PID"));
	prctl(PR_SET_PDEATHSIG, 0);
	assert_true(fd_open(fd)); /* not taken: the caller exits */
	close(fd);
	unsetenv("FFB_LISTEN_FD");

	/* Alive but not the parent: a wrapper between (sh -c) is fine. */
	snprintf(v, sizeof(v), "%d", (int)getpid());
	setenv("FFB_PARENT_PID", v, 1);
	assert_int_equal(ffb_server_listen_env(s, &used), FFB_OK);
	assert_int_equal(used, 0);
	prctl(PR_SET_PDEATHSIG, 0);
	ffb_server_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refuses_what_is_not_a_listening_seqpacket_socket_and_leaves_it_open),
		cmocka_unit_test(adopts_a_listening_socket_serves_it_and_closes_it_at_destroy),
		cmocka_unit_test(listen_env_uses_and_unsets_the_variables),
		cmocka_unit_test(listen_env_refuses_when_the_launcher_is_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
