/*
 * sockattack.c — the socket-side attacks of issue 17 against a server
 * binary, with the figures tests/RELIABILITY.md quotes ("Socket side").
 *
 * usage: sockattack fds|silent|stalled SERVER-BINARY
 *
 * It starts `SERVER-BINARY serve --socket DIR/s.sock --quiet` itself (any
 * build of the ffb tool: the old server is measured the same way) and:
 *
 *  fds      mounts a FUSE file system that holds every FLUSH for 120 s
 *           (tests/stallfs.h), sends an fd of its file in a hello, then
 *           makes 10 honest connects, 10 ms apart, and SIGTERMs the server,
 *           all while the file system still holds the FLUSH (if the
 *           server sent one);
 *  silent   keeps 100 sockets that never say hello connected (each one
 *           the server hangs up on reconnects at once) and makes 80 honest
 *           connects, 10 ms apart;
 *  stalled  opens a session that fills its response ring and stops
 *           consuming, and measures the server's CPU over 10 s.
 *
 * An honest connect is a raw one, independent of any client library: a
 * non-blocking connect (tried again while the backlog is full), the
 * hello, and the server's hello with status OK, all within 2 s. It prints
 * how many got in and the p50/p99/max of those that did. The exit status
 * is 1 if the server missed the bar of issue 17: every honest connect in
 * and a stop within 2 s (fds), every honest connect in (silent), under 1%
 * of a core (stalled).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attacks.h"
#include "client_internal.h"
#include "stallfs.h"


static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static char dir[] = "/tmp/ffb-sockattack-XXXXXX", path[108];
static pid_t server;

static void start_server(const char *bin)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	int out[2];
	if (pipe(out) != 0)
		exit(1);
	server = fork();
	if (server == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		execl(bin, bin, "serve", "--socket", path, "--quiet", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char buf[256];
	ssize_t n = read(out[0], buf, sizeof(buf) - 1); /* "ready: ..." */
	if (n <= 0 || strncmp(buf, "ready", 5) != 0) {
		fprintf(stderr, "sockattack: %s did not start\n", bin);
		exit(1);
	}
	close(out[0]);
}

/* SIGTERM: ms until the server exited, -1 if it had not after 10 s. */
static int stop_server(void)
{
	uint64_t t0 = now_ns();
	kill(server, SIGTERM);
	int ms = -1;
	while (now_ns() - t0 < 10000000000ull) {
		if (waitpid(server, NULL, WNOHANG) == server) {
			ms = (int)((now_ns() - t0) / 1000000);
			break;
		}
		usleep(1000);
	}
	if (ms < 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
	}
	unlink(path);
	rmdir(dir);
	return ms;
}

/* One honest connect: us it took, or 0 if it did not get in within 2 s. */
static uint64_t honest_connect(void)
{
	uint64_t t0 = now_ns(), end = t0 + 2000000000ull;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	while (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (errno != EAGAIN || now_ns() > end) {
			close(fd);
			return 0;
		}
		usleep(1000);
	}
	struct ffb_client_hello h = {.magic = FFB_CLIENT_HELLO_MAGIC, .layout_version = FFB_LAYOUT_VERSION};
	struct ffb_server_hello sh = {0};
	struct pollfd p = {.fd = fd, .events = POLLIN};
	bool ok = send(fd, &h, sizeof(h), MSG_NOSIGNAL) == sizeof(h) &&
		  poll(&p, 1, (int)((end - now_ns()) / 1000000)) == 1 &&
		  recv(fd, &sh, sizeof(sh), MSG_DONTWAIT) == sizeof(sh) && sh.status == FFB_OK;
	close(fd); /* with the fds of the hello: closed unread */
	return ok ? (now_ns() - t0) / 1000 : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int honest_connects(const char *what, int n)
{
	uint64_t lat[100];
	int ok = 0;
	for (int i = 0; i < n; i++) {
		uint64_t us = honest_connect();
		if (us)
			lat[ok++] = us;
		usleep(10000);
	}
	qsort(lat, (size_t)ok, sizeof(lat[0]), cmp_u64);
	printf("%s: %d/%d honest connects got in", what, ok, n);
	if (ok)
		printf(", p50 %llu us, p99 %llu us, max %llu us", (unsigned long long)lat[ok / 2],
		       (unsigned long long)lat[ok * 99 / 100 < ok ? ok * 99 / 100 : ok - 1],
		       (unsigned long long)lat[ok - 1]);
	printf("\n");
	return ok;
}

static int attack_fds(void)
{
	struct stallfs fs;
	if (!stallfs_start(&fs, 120000))
		return 2;
	int fd = open(fs.file, O_RDONLY | O_CLOEXEC);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strcpy(a.sun_path, path);
	struct ffb_client_hello h = {.magic = FFB_CLIENT_HELLO_MAGIC, .layout_version = FFB_LAYOUT_VERSION};
	int fds[1] = {fd};
	if (fd < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
		return 1;
	ffb_status st = ffb__send_msg(s, &h, sizeof(h), fds, 1);
	printf("fds: the hello with an fd of the stalling file: %s\n",
	       st == FFB_OK ? "sent" : errno == EPERM ? "refused by the kernel (EPERM)" : strerror(errno));
	usleep(100000);
	uint64_t t0 = now_ns();
	int ok = honest_connects("fds", 10);
	double at = (double)(now_ns() - t0) / 1e9;
	int ms = stop_server();
	if (ms < 0)
		printf("fds: SIGTERM: the server had not stopped after 10 s (SIGKILLed)\n");
	else
		printf("fds: SIGTERM: the server stopped in %d ms\n", ms);
	printf("fds: (SIGTERM %.1f s after the attack, within the 120 s the file system holds a FLUSH)\n", at);
	int flushes = 0;
	while (stallfs_next_flush(&fs))
		flushes++;
	printf("fds: FLUSH requests the file system saw: %d (ours at the end not counted)\n", flushes);
	stallfs_release(&fs);
	close(s);
	close(fd);
	stallfs_stop(&fs);
	return ok == 10 && ms >= 0 && ms < 2000 ? 0 : 1;
}

static int attack_silent(void)
{
	pid_t flood = fork();
	if (flood == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		silent_flood(path, 100);
	}
	usleep(500000);
	int ok = honest_connects("silent", 80);
	kill(flood, SIGKILL);
	waitpid(flood, NULL, 0);
	int ms = stop_server();
	printf("silent: SIGTERM: %s %d ms\n", ms < 0 ? "not stopped after" : "stopped in", ms < 0 ? 10000 : ms);
	return ok == 80 ? 0 : 1;
}

static int attack_stalled(void)
{
	ffb_client *c;
	ffb_status st = ffb_client_connect(path, NULL, &c);
	if (st != FFB_OK) {
		printf("stalled: connect: %s\n", ffb_status_name(st));
		return 1;
	}
	uint32_t cap = c->sb.max_inflight;
	uint64_t id;
	for (uint32_t i = 0; i < cap; i++)
		if ((st = ffb_client_submit(c, FFB_FN_ECHO, (ffb_handle){0}, 0, &id)) != FFB_OK) {
			printf("stalled: submit %u: %s\n", i, ffb_status_name(st));
			return 1;
		}
	ffb_client_flush(c);
	uint64_t end = now_ns() + 2000000000ull;
	while (FFB_READ_ONCE(c->resp.ctl->p_tail) - c->resp.head != cap && now_ns() < end)
		usleep(1000);
	for (int i = 0; i < 8; i++) { /* past the cap, raw: the server cannot take them */
		struct ffb_ring_entry e = {.call_id = 0xdead00000000ull + (uint64_t)i, .kind = FFB_KIND_CALL,
					   .fn_or_status = FFB_FN_ECHO};
		if (ffb_ring_prod_free(&c->req, 1) > 0)
			ffb_ring_prod_push(&c->req, &e);
	}
	ffb_client_flush(c);
	usleep(500000);
	uint64_t t0 = now_ns(), c0 = cpu_ns(server);
	sleep(10);
	uint64_t wall = now_ns() - t0, cpu = cpu_ns(server) - c0;
	printf("stalled: the idle server with a session blocked on its full response ring: %.2f%% of a core over %.1f s\n",
	       100.0 * (double)cpu / (double)wall, (double)wall / 1e9);
	ffb_client_close(c);
	stop_server();
	return cpu * 100 < wall ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: sockattack fds|silent|stalled SERVER-BINARY\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	start_server(argv[2]);
	if (strcmp(argv[1], "fds") == 0)
		return attack_fds();
	if (strcmp(argv[1], "silent") == 0)
		return attack_silent();
	if (strcmp(argv[1], "stalled") == 0)
		return attack_stalled();
	fprintf(stderr, "sockattack: no attack %s\n", argv[1]);
	stop_server();
	return 2;
}
