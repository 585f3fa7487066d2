/*
 * fault.c — the --wrap wrappers of fault.h. Linked only into the fault
 * test binary (see the Makefile rule for test_fault).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <liburing.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "fault.h"

static int fi_on;               /* armed */
static int fi_scope_;
static int fi_n;
static int fi_persist;
static int fi_seen;
static int fi_nfail;
static const char *fi_name = "";
static pid_t fi_main_tid;
static int fi_uring_only, fi_uring_skip;

void fi_only_uring(bool on)
{
	fi_uring_only = on;
}

void fi_skip_uring(bool on)
{
	fi_uring_skip = on;
}

void fi_arm(enum fi_scope scope, int n, bool persistent)
{
	fi_main_tid = gettid();
	fi_scope_ = scope;
	fi_n = n;
	fi_persist = persistent;
	fi_seen = 0;
	fi_nfail = 0;
	fi_name = "";
	__atomic_store_n(&fi_on, 1, __ATOMIC_SEQ_CST);
}

int fi_disarm(void)
{
	__atomic_store_n(&fi_on, 0, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&fi_seen, __ATOMIC_SEQ_CST);
}

int fi_count(void)
{
	return __atomic_load_n(&fi_seen, __ATOMIC_SEQ_CST);
}

int fi_failed(void)
{
	return __atomic_load_n(&fi_nfail, __ATOMIC_SEQ_CST);
}

const char *fi_what(void)
{
	return fi_name;
}

/* Whether this call (of `what`) is to fail. Only the counted threads touch
 * the counters: one thread in either scope. */
static bool fail(const char *what)
{
	if (!__atomic_load_n(&fi_on, __ATOMIC_SEQ_CST))
		return false;
	bool is_main = gettid() == fi_main_tid;
	if (is_main != (fi_scope_ == FI_MAIN))
		return false;
	bool uring = strncmp(what, "io_uring", 8) == 0;
	if ((fi_uring_only && !uring) || (fi_uring_skip && uring))
		return false;
	int k = __atomic_add_fetch(&fi_seen, 1, __ATOMIC_SEQ_CST);
	if (k < fi_n || (k > fi_n && !fi_persist))
		return false;
	if (k == fi_n)
		fi_name = what;
	__atomic_add_fetch(&fi_nfail, 1, __ATOMIC_SEQ_CST);
	return true;
}

#define REAL(ret, name, ...) ret __real_##name(__VA_ARGS__); ret __wrap_##name(__VA_ARGS__)

REAL(void *, malloc, size_t n)
{
	if (fail("malloc")) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(n);
}

REAL(void *, calloc, size_t n, size_t m)
{
	if (fail("calloc")) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, m);
}

REAL(void *, realloc, void *p, size_t n)
{
	if (fail("realloc")) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_realloc(p, n);
}

REAL(char *, strdup, const char *s)
{
	if (fail("strdup")) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_strdup(s);
}

REAL(int, memfd_create, const char *name, unsigned flags)
{
	if (fail("memfd_create")) {
		errno = EMFILE;
		return -1;
	}
	return __real_memfd_create(name, flags);
}

REAL(int, ftruncate, int fd, off_t len)
{
	if (fail("ftruncate")) {
		errno = ENOSPC;
		return -1;
	}
	return __real_ftruncate(fd, len);
}

/* fcntl is variadic: every cmd libffb uses takes at most one int-sized or
 * pointer argument, passed on as a long. */
int __real_fcntl(int fd, int cmd, ...);
int __wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	if (fail("fcntl")) {
		errno = EBUSY;
		return -1;
	}
	return __real_fcntl(fd, cmd, arg);
}

REAL(void *, mmap, void *a, size_t n, int prot, int flags, int fd, off_t off)
{
	if (fail("mmap")) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return __real_mmap(a, n, prot, flags, fd, off);
}

REAL(ssize_t, sendmsg, int fd, const struct msghdr *m, int flags)
{
	if (fail("sendmsg")) {
		errno = ENOBUFS;
		return -1;
	}
	return __real_sendmsg(fd, m, flags);
}

REAL(ssize_t, recvmsg, int fd, struct msghdr *m, int flags)
{
	if (fail("recvmsg")) {
		errno = ENOMEM;
		return -1;
	}
	return __real_recvmsg(fd, m, flags);
}

REAL(int, eventfd, unsigned v, int flags)
{
	if (fail("eventfd")) {
		errno = EMFILE;
		return -1;
	}
	return __real_eventfd(v, flags);
}

REAL(int, socket, int d, int t, int p)
{
	if (fail("socket")) {
		errno = EMFILE;
		return -1;
	}
	return __real_socket(d, t, p);
}

REAL(int, socketpair, int d, int t, int p, int sv[2])
{
	if (fail("socketpair")) {
		errno = EMFILE;
		return -1;
	}
	return __real_socketpair(d, t, p, sv);
}

REAL(int, connect, int fd, const struct sockaddr *a, socklen_t n)
{
	if (fail("connect")) {
		errno = EAGAIN;
		return -1;
	}
	return __real_connect(fd, a, n);
}

REAL(int, bind, int fd, const struct sockaddr *a, socklen_t n)
{
	if (fail("bind")) {
		errno = EADDRINUSE;
		return -1;
	}
	return __real_bind(fd, a, n);
}

REAL(int, listen, int fd, int backlog)
{
	if (fail("listen")) {
		errno = EADDRINUSE;
		return -1;
	}
	return __real_listen(fd, backlog);
}

REAL(int, getsockopt, int fd, int level, int name, void *v, socklen_t *n)
{
	if (fail("getsockopt")) {
		errno = ENOBUFS;
		return -1;
	}
	return __real_getsockopt(fd, level, name, v, n);
}

REAL(int, pthread_create, pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	if (fail("pthread_create"))
		return EAGAIN;
	return __real_pthread_create(t, a, fn, arg);
}

REAL(int, io_uring_queue_init, unsigned entries, struct io_uring *ring, unsigned flags)
{
	if (fail("io_uring_queue_init"))
		return -ENOMEM;
	return __real_io_uring_queue_init(entries, ring, flags);
}

REAL(int, io_uring_submit, struct io_uring *ring)
{
	if (fail("io_uring_enter(submit)"))
		return -EAGAIN;
	return __real_io_uring_submit(ring);
}

REAL(int, io_uring_submit_and_wait, struct io_uring *ring, unsigned wait_nr)
{
	if (fail("io_uring_enter(submit_and_wait)"))
		return -EINTR;
	return __real_io_uring_submit_and_wait(ring, wait_nr);
}

REAL(int, io_uring_submit_and_wait_timeout, struct io_uring *ring, struct io_uring_cqe **cqe, unsigned wait_nr,
     struct __kernel_timespec *ts, sigset_t *sigmask)
{
	if (fail("io_uring_enter(submit_and_wait_timeout)"))
		return -EINTR;
	return __real_io_uring_submit_and_wait_timeout(ring, cqe, wait_nr, ts, sigmask);
}
