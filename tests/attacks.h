/*
 * attacks.h — what the socket-side attacks share (test_socket_side.c,
 * tests/torture/sockattack.c): a flood of sockets that never say hello,
 * and the CPU time of every thread of a process.
 */
#ifndef FFB_TEST_ATTACKS_H
#define FFB_TEST_ATTACKS_H

#include <dirent.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* In a child: n (at most 512) sockets connected to path that never say
 * hello; each one the server hangs up on reconnects at once (a full
 * backlog: again the next round). Runs until killed. */
static inline void __attribute__((noreturn)) silent_flood(const char *path, int n)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	struct pollfd p[512];
	for (int i = 0; i < n; i++)
		p[i].fd = -1;
	for (;;) {
		for (int i = 0; i < n; i++) {
			if (p[i].fd >= 0)
				continue;
			int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
				close(fd);
				fd = -1;
			}
			p[i] = (struct pollfd){.fd = fd, .events = POLLIN};
		}
		if (poll(p, (nfds_t)n, 5) > 0)
			for (int i = 0; i < n; i++)
				if (p[i].fd >= 0 && p[i].revents) {
					close(p[i].fd);
					p[i].fd = -1;
				}
	}
}

/* CPU time of every thread of `pid`, in ns (schedstat's first field). */
static inline uint64_t cpu_ns(pid_t pid)
{
	char p[320];
	snprintf(p, sizeof(p), "/proc/%d/task", (int)pid);
	DIR *d = opendir(p);
	uint64_t sum = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
		FILE *f = fopen(p, "r");
		unsigned long long ns = 0;
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return sum;
}

#endif /* FFB_TEST_ATTACKS_H */
