/*
 * bell.c — ringing and draining the eventfd doorbells.
 *
 * A bell is one file description shared by both processes, so its flags
 * are the peer's to change: a hostile peer can clear O_NONBLOCK under us.
 * Reads ask for non-blocking per call (RWF_NOWAIT), which no fcntl on the
 * other side can take away. Eventfd writes do not support RWF_NOWAIT, so
 * the server rings through io_uring (session.c: a blocked write waits in
 * an io-wq worker, never in the loop); the client re-asserts O_NONBLOCK
 * and checks for room first, which only a server racing it on purpose
 * could defeat — and then only that server's own client waits.
 */
#include <fcntl.h>
#include <poll.h>
#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

bool ffb__bell_ring(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	/* POLLOUT: the counter has room for our 1. None: it is already ringing. */
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
		return false;
	uint64_t one = 1;
	ssize_t n;
	do
		n = write(fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(one);
}

void ffb__bell_drain(int fd)
{
	uint64_t v;
	struct iovec iov = {.iov_base = &v, .iov_len = sizeof(v)};
	ssize_t n;
	do
		n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
	while (n < 0 && errno == EINTR);
}
