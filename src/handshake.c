/*
 * handshake.c — one SEQPACKET message with file descriptors, each way.
 *
 * The handshake is the only traffic on a session's socket besides the
 * goodbye. Receiving is defensive: close-on-exec fds, a truncated control
 * message is an error, and every fd that did arrive is closed on any
 * failure so a hostile peer cannot leak fds into us. Where no fd belongs
 * (all the server ever reads, and a goodbye) the message is read without
 * a control buffer: the kernel drops whatever fds it carried, and none of
 * them is ever installed, so none is closed (and flushed) by us.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

ffb_status ffb__send_msg(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FFB_MAX_HELLO_FDS)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds > FFB_MAX_HELLO_FDS)
		return FFB_ERR_INVALID_ARGUMENT;
	if (nfds) {
		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE || errno == ECONNRESET ? FFB_ERR_PEER_GONE : FFB_ERR_SYSTEM;
	return (size_t)n == len ? FFB_OK : FFB_ERR_SYSTEM;
}

void ffb__close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

ffb_status ffb__recv_msg(int sock, void *buf, size_t *len, int *fds, unsigned *nfds, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FFB_MAX_HELLO_FDS)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = {.iov_base = buf, .iov_len = *len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	msg.msg_control = ctrl.buf;
	msg.msg_controllen = sizeof(ctrl.buf);
	*nfds = 0;
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? FFB_ERR_WOULD_BLOCK
		       : errno == ECONNRESET ? FFB_ERR_PEER_GONE : FFB_ERR_SYSTEM;
	/* Collect every fd first, so that any failure below closes them all. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < FFB_MAX_HELLO_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (msg.msg_flags & MSG_CTRUNC) {
		ffb__close_fds(fds, *nfds);
		*nfds = 0;
		return FFB_ERR_BAD_FD;
	}
	if (n == 0 && *nfds == 0)
		return FFB_ERR_PEER_GONE;
	if (msg.msg_flags & MSG_TRUNC) {
		ffb__close_fds(fds, *nfds);
		*nfds = 0;
		return FFB_ERR_PROTOCOL;
	}
	*len = (size_t)n;
	return FFB_OK;
}

ffb_status ffb__recv_plain(int sock, void *buf, size_t *len, int flags)
{
	struct iovec iov = {.iov_base = buf, .iov_len = *len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1}; /* no msg_control: fds are dropped */
	ssize_t n;
	do
		n = recvmsg(sock, &msg, flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? FFB_ERR_WOULD_BLOCK
		       : errno == ECONNRESET ? FFB_ERR_PEER_GONE : FFB_ERR_SYSTEM;
	if (msg.msg_flags & MSG_CTRUNC)
		return FFB_ERR_BAD_FD; /* it carried fds (or credentials) */
	if (n == 0)
		return FFB_ERR_PEER_GONE;
	if (msg.msg_flags & MSG_TRUNC)
		return FFB_ERR_PROTOCOL;
	*len = (size_t)n;
	return FFB_OK;
}
