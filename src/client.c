/*
 * client.c — the C client's session: connect and handshake (every received
 * fd checked before mmap, the superblock validated after), the client
 * heap it owns, the server blocks it holds, and closing (the server's
 * calls to its handlers: client_serve.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "client_internal.h"

void ffb_client_options_init(struct ffb_client_options *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = 5000;
	o->spin_ns = 50000;
	o->wait_mode = FFB_WAIT_PARK;
}

/* An eventfd is an anonymous inode named "anon_inode:[eventfd]". */
static bool is_eventfd(int fd)
{
	char path[64], target[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* The largest server hello read whole: twice this version's, so that a
 * longer hello of another version still shows its magic and version. */
union hello_buf {
	struct ffb_server_hello h;
	char raw[2 * sizeof(struct ffb_server_hello)];
};

/* PROTOCOL.md §2.3, rules H1-H9, in that order (tests/vectors/
 * superblock.txt is the shared table of what each rule refuses). */
/* Milliseconds left until deadline_ns (CLOCK_MONOTONIC), rounded up. */
static int ms_left(uint64_t deadline_ns)
{
	uint64_t now = ffb__now_ns();
	if (now >= deadline_ns)
		return 0;
	uint64_t ms = (deadline_ns - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static ffb_status recv_hello(int sock, uint64_t deadline_ns, struct ffb_server_hello *out, int *fds, unsigned *nfds)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	int rc;
	do
		rc = poll(&p, 1, ms_left(deadline_ns));
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return FFB_ERR_TIMEOUT;
	if (rc < 0)
		return FFB_ERR_SYSTEM;
	union hello_buf buf;
	size_t len = sizeof(buf);
	ffb_status st = ffb__recv_msg(sock, &buf, &len, fds, nfds, MSG_DONTWAIT); /* H1, H2 */
	if (st)
		return st;
	const struct ffb_server_hello *h = &buf.h;
	if (len < offsetof(struct ffb_server_hello, arena_size))
		return FFB_ERR_PROTOCOL; /* H3 */
	if (h->magic != FFB_SERVER_HELLO_MAGIC || h->layout_version != FFB_LAYOUT_VERSION)
		return FFB_ERR_VERSION_MISMATCH; /* H4 */
	if (len != sizeof(*h))
		return FFB_ERR_PROTOCOL; /* H5 */
	if (h->status != FFB_OK) /* H6 */
		return h->status > 0 && h->status <= FFB_ERR_UNKNOWN ? (ffb_status)h->status : FFB_ERR_UNKNOWN;
	*out = *h;
	unsigned want = (h->flags & FFB_HELLO_FUTEX_DOORBELL) ? 2 : 3;
	if (h->nfds != want || *nfds != want)
		return FFB_ERR_BAD_FD; /* H7 */
	if (h->arena_size < FFB_REGION_ALIGN || h->arena_size > FFB_MAX_ARENA_SIZE)
		return FFB_ERR_PROTOCOL; /* H8 */
	/* H9, before any mmap: type, exact seals, size (no SIGBUS by
	 * truncation); the bells are eventfds. */
	st = ffb__arena_check_fd(fds[FFB_FD_ARENA], h->arena_size);
	if (!st && (!is_eventfd(fds[FFB_FD_CLIENT_BELL]) || (want == 3 && !is_eventfd(fds[FFB_FD_SERVER_BELL]))))
		st = FFB_ERR_BAD_FD;
	return st;
}

static ffb_status setup(ffb_client *c, const struct ffb_server_hello *h, int arena_fd)
{
	void *base = mmap(NULL, h->arena_size, PROT_READ | PROT_WRITE, MAP_SHARED, arena_fd, 0);
	if (base == MAP_FAILED)
		return FFB_ERR_SYSTEM;
	c->base = base;
	memcpy(&c->sb, base, sizeof(c->sb)); /* H1; never read from the arena again */
	ffb_status st = ffb__superblock_validate(&c->sb, h);
	if (st) {
		munmap(base, h->arena_size);
		c->base = NULL;
		return st;
	}
	c->futex = (c->sb.flags & FFB_SB_FUTEX_DOORBELL) != 0;
	st = ffb__heap_init_owner(&c->own, &c->sb.heaps[0], c->base, c->sb.arena_size, c->sb.arena_tag,
				  FFB_HEAP_CLIENT);
	if (!st)
		st = ffb__heap_init_view(&c->peer, &c->sb.heaps[1], c->base, c->sb.arena_size, c->sb.arena_tag,
					 FFB_HEAP_SERVER, true);
	if (st)
		return st;
	if (ffb_ring_prod_attach(&c->req, c->base + c->sb.req_ring_offset, c->sb.req_ring_entries) ||
	    ffb_ring_cons_attach(&c->resp, c->base + c->sb.resp_ring_offset, c->sb.resp_ring_entries))
		return FFB_ERR_PROTOCOL;
	c->nslots = c->sb.max_inflight;
	c->slots = calloc(c->nslots, sizeof(*c->slots));
	c->free_slots = malloc(c->nslots * sizeof(uint32_t));
	c->done_q = malloc(c->nslots * sizeof(uint32_t));
	c->cancels = malloc(c->nslots * sizeof(uint64_t));
	if (!c->slots || !c->free_slots || !c->done_q || !c->cancels)
		return FFB_ERR_SYSTEM;
	for (uint32_t i = 0; i < c->nslots; i++)
		c->free_slots[i] = c->nslots - 1 - i;
	c->free_top = c->nslots;
	return FFB_OK;
}

static uint64_t deadline_of_connect(const struct ffb_client_options *o)
{
	return ffb__now_ns() + (uint64_t)o->connect_timeout_ms * 1000000ull;
}

/* The handshake on a connected socket (owned from here on), by deadline_ns. */
static ffb_status handshake_until(int sock, const struct ffb_client_options *o, uint64_t deadline_ns, ffb_client **out)
{
	int fds[FFB_MAX_HELLO_FDS] = {-1, -1, -1};
	unsigned nfds = 0;
	struct ffb_client_hello hello = {.magic = FFB_CLIENT_HELLO_MAGIC, .layout_version = FFB_LAYOUT_VERSION};
	ffb_status st = ffb__send_msg(sock, &hello, sizeof(hello), NULL, 0);
	struct ffb_server_hello h;
	/* A server that refuses us may have answered and hung up before our
	 * hello arrived: its answer is still queued, read it. */
	if (!st || st == FFB_ERR_PEER_GONE)
		st = recv_hello(sock, deadline_ns, &h, fds, &nfds);
	ffb_client *c = NULL;
	if (!st) {
		c = calloc(1, sizeof(*c));
		st = c ? FFB_OK : FFB_ERR_SYSTEM;
	}
	if (!st) {
		c->sock = sock;
		c->client_bell = fds[FFB_FD_CLIENT_BELL];
		c->server_bell = nfds == 3 ? fds[FFB_FD_SERVER_BELL] : -1;
		c->opts = *o;
		st = setup(c, &h, fds[FFB_FD_ARENA]);
		close(fds[FFB_FD_ARENA]); /* the mapping keeps the arena */
		if (!st) {
			*out = c;
			return FFB_OK;
		}
		c->client_bell = c->server_bell = c->sock = -1;
		ffb_client_close(c);
		fds[FFB_FD_ARENA] = -1;
	}
	ffb__close_fds(fds, nfds);
	close(sock);
	return st;
}

ffb_status ffb__client_handshake(int sock, const struct ffb_client_options *o, ffb_client **out)
{
	struct ffb_client_options def;
	if (!o) {
		ffb_client_options_init(&def);
		o = &def;
	}
	return handshake_until(sock, o, deadline_of_connect(o), out);
}

/* connect() within the deadline: a blocking Unix connect waits while the
 * server's listen backlog is full, up to SO_SNDTIMEO, and then fails with
 * EAGAIN. 0, or an errno. */
static int connect_until(int fd, const struct sockaddr_un *addr, uint64_t deadline_ns)
{
	for (;;) {
		uint64_t now = ffb__now_ns();
		if (now >= deadline_ns)
			return EAGAIN;
		uint64_t us = (deadline_ns - now + 999) / 1000;
		struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
			return errno;
		if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
			break;
		if (errno != EINTR)
			return errno;
	}
	struct timeval none = {0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none)); /* the handshake never blocks on a send */
	return 0;
}

ffb_status ffb_client_connect(const char *path, const struct ffb_client_options *o, ffb_client **out)
{
	if (!path || !out)
		return FFB_ERR_NULL_POINTER;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return FFB_ERR_INVALID_ARGUMENT;
	strcpy(addr.sun_path, path);
	struct ffb_client_options def;
	if (!o) {
		ffb_client_options_init(&def);
		o = &def;
	}
	uint64_t deadline = deadline_of_connect(o); /* one deadline: connect() and the handshake */
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return FFB_ERR_SYSTEM;
	int err = connect_until(fd, &addr, deadline);
	if (err) {
		close(fd);
		errno = err;
		return err == EAGAIN || err == EINPROGRESS ? FFB_ERR_TIMEOUT : FFB_ERR_SYSTEM;
	}
	return handshake_until(fd, o, deadline, out);
}

void ffb_client_close(ffb_client *c)
{
	if (!c)
		return;
	if (c->base)
		munmap(c->base, c->sb.arena_size);
	ffb__heap_destroy(&c->own);
	ffb__heap_destroy(&c->peer);
	int fds[3] = {c->sock, c->client_bell, c->server_bell};
	ffb__close_fds(fds, 3);
	free(c->slots);
	free(c->free_slots);
	free(c->done_q);
	free(c->cancels);
	free(c->releases);
	ffb__client_served_free(c);
	free(c);
}

ffb_status ffb_client_alloc(ffb_client *c, uint32_t size, ffb_handle *out)
{
	if (!c || !out)
		return FFB_ERR_NULL_POINTER;
	return ffb__heap_alloc(&c->own, size, &out->id);
}

ffb_status ffb__client_reserve_release(ffb_client *c)
{
	if (c->nrel < c->relcap)
		return FFB_OK;
	uint32_t cap = c->relcap ? c->relcap * 2 : 64;
	uint64_t *r = realloc(c->releases, cap * sizeof(*r));
	if (!r)
		return FFB_ERR_SYSTEM;
	c->releases = r;
	c->relcap = cap;
	return FFB_OK;
}

void ffb__client_queue_release(ffb_client *c, uint64_t handle)
{
	c->releases[c->nrel++] = handle;
}

ffb_status ffb_client_free(ffb_client *c, ffb_handle h)
{
	if (!c)
		return FFB_ERR_NULL_POINTER;
	if (FFB_HANDLE_HEAP(h.id) == FFB_HEAP_SERVER && FFB_HANDLE_TAG(h.id) == c->sb.arena_tag) {
		/* Room for the RELEASE first: a failure leaves the block held,
		 * so the caller can free it again later. */
		ffb_status st = ffb__heap_unhold(&c->peer, h.id, false);
		if (!st && !c->dead)
			st = ffb__client_reserve_release(c);
		if (st)
			return st;
		ffb__heap_unhold(&c->peer, h.id, true);
		/* Batched: sent with the next flush (a dead session drops it). */
		if (!c->dead)
			ffb__client_queue_release(c, h.id);
		return FFB_OK;
	}
	return ffb__heap_free(&c->own, h.id, FFB__BLOCK_OWNED);
}

ffb_status ffb_client_data(ffb_client *c, ffb_handle h, void **data, uint32_t *capacity)
{
	if (!c || !data)
		return FFB_ERR_NULL_POINTER;
	if (FFB_HANDLE_HEAP(h.id) == FFB_HEAP_SERVER && FFB_HANDLE_TAG(h.id) == c->sb.arena_tag) {
		ffb_status st = ffb__heap_unhold(&c->peer, h.id, false);
		if (st)
			return st;
		uint32_t k = FFB_HANDLE_CLASS(h.id), i = FFB_HANDLE_INDEX(h.id);
		*data = ffb__heap_at(&c->peer, k, i);
		if (capacity)
			*capacity = c->peer.cls[k].block_size;
		return FFB_OK;
	}
	return ffb__heap_lookup(&c->own, h.id, FFB__BLOCK_OWNED, data, capacity);
}

ffb_status ffb_client_stats(ffb_client *c, struct ffb_client_stats *out)
{
	if (!c || !out)
		return FFB_ERR_NULL_POINTER;
	*out = c->stats;
	out->pending = c->nslots - c->free_top;
	return FFB_OK;
}

const struct ffb_superblock *ffb_client_superblock(const ffb_client *c)
{
	return c ? &c->sb : NULL;
}
