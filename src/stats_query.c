/*
 * stats_query.c — the client side of a stats request (PROTOCOL.md §2.5):
 * connect, send the stats hello, read the one reply, close. No session,
 * no arena; what `ffb stat` and tests use.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

/* Check and copy a reply of len bytes. */
static ffb_status parse_reply(const char *buf, size_t len, struct ffb_server_stats *out, struct ffb_stats_fn *fns,
			      uint32_t max, uint32_t *nfns, uint32_t *total)
{
	struct ffb_stats_reply h = {0};
	if (len < 16)
		return FFB_ERR_PROTOCOL;
	memcpy(&h, buf, len < sizeof(h) ? len : sizeof(h));
	if (h.magic == FFB_SERVER_HELLO_MAGIC) /* a server that knows no stats request: a hello's refusal */
		return h.status > 0 && h.status < 100 ? (ffb_status)h.status : FFB_ERR_VERSION_MISMATCH;
	if (h.magic != FFB_STATS_REPLY_MAGIC || h.layout_version != FFB_LAYOUT_VERSION)
		return FFB_ERR_VERSION_MISMATCH;
	if (h.status)
		return h.status > 0 && h.status < 100 ? (ffb_status)h.status : FFB_ERR_UNKNOWN;
	if (len < sizeof(h) || h.nfuncs > FFB_STATS_MAX_FUNCTIONS || h.ncounters > FFB_STATS_MAX_REPLY / 8 ||
	    len != sizeof(h) + (size_t)h.ncounters * 8 + (size_t)h.nfuncs * sizeof(struct ffb_stats_fn))
		return FFB_ERR_PROTOCOL;
	const char *p = buf + sizeof(h);
	size_t ours = sizeof(*out) / 8, n = h.ncounters < ours ? h.ncounters : ours;
	memset(out, 0, sizeof(*out));
	memcpy(out, p, n * 8); /* counters we do not know are skipped; missing ones stay 0 */
	p += (size_t)h.ncounters * 8;
	uint32_t k = 0;
	for (; k < h.nfuncs; k++) {
		struct ffb_stats_fn f;
		memcpy(&f, p + k * sizeof(f), sizeof(f));
		if (f.name_len > FFB_STATS_NAME_LEN)
			return FFB_ERR_PROTOCOL;
		if (k < max)
			fns[k] = f;
	}
	if (nfns)
		*nfns = k < max ? k : max;
	if (total)
		*total = h.funcs_total;
	return FFB_OK;
}

ffb_status ffb_stats_query(const char *socket_path, int timeout_ms, struct ffb_server_stats *out,
			   struct ffb_stats_fn *fns, uint32_t max, uint32_t *nfns, uint32_t *total)
{
	if (!socket_path || !out || (max && !fns))
		return FFB_ERR_NULL_POINTER;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return FFB_ERR_INVALID_ARGUMENT;
	strcpy(addr.sun_path, socket_path);
	if (timeout_ms <= 0)
		timeout_ms = 1000;
	uint64_t deadline = ffb__now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return FFB_ERR_SYSTEM;
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* a full backlog: connect waits this long */
	ffb_status st = FFB_OK;
	if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) != 0) {
		st = errno == EAGAIN || errno == EINPROGRESS ? FFB_ERR_TIMEOUT
		     : errno == ENOENT || errno == ECONNREFUSED ? FFB_ERR_PEER_GONE
		     : errno == EACCES ? FFB_ERR_PERMISSION_DENIED : FFB_ERR_SYSTEM;
		close(fd);
		return st;
	}
	struct ffb_client_hello req = {.magic = FFB_STATS_HELLO_MAGIC, .layout_version = FFB_LAYOUT_VERSION};
	st = ffb__send_msg(fd, &req, sizeof(req), NULL, 0);
	char *buf = st ? NULL : malloc(FFB_STATS_MAX_REPLY);
	if (!st && !buf)
		st = FFB_ERR_SYSTEM;
	while (!st) {
		uint64_t now = ffb__now_ns();
		if (now >= deadline) {
			st = FFB_ERR_TIMEOUT;
			break;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)((deadline - now + 999999) / 1000000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			st = r == 0 ? FFB_ERR_TIMEOUT : FFB_ERR_SYSTEM;
			break;
		}
		size_t len = FFB_STATS_MAX_REPLY;
		st = ffb__recv_plain(fd, buf, &len, MSG_DONTWAIT);
		if (st == FFB_ERR_WOULD_BLOCK) {
			st = FFB_OK;
			continue;
		}
		if (st == FFB_OK)
			st = parse_reply(buf, len, out, fns, max, nfns, total);
		else if (st == FFB_ERR_BAD_FD)
			st = FFB_ERR_PROTOCOL; /* a reply carries no fds */
		break;
	}
	free(buf);
	close(fd);
	return st;
}
