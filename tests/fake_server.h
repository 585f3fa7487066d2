/*
 * fake_server.h — the server half of a session done by hand, for tests
 * that play a hostile server against the real C client (test_hostile_server.c,
 * fuzz/fuzz_client_results.c).
 *
 * fake_conn_open builds an arena with the real layout code, starts both
 * rings' free-running indices at `start` with every slot stamped as of
 * the lap before (a zero stamp would read as published at index
 * UINT32_MAX), queues a valid hello with the fds, and runs the client's
 * handshake against it in this thread. The caller then owns the server
 * end: the socket, the client's bell, the rings' server-side views.
 */
#ifndef FFB_FAKE_SERVER_H
#define FFB_FAKE_SERVER_H

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_internal.h"

struct fake_conn {
	int sock, bell, server_bell; /* server_bell: -1 with the futex doorbell */
	char *base;
	struct ffb_superblock sb;
	struct ffb_ring_cons req;
	struct ffb_ring_prod resp;
	ffb_client *c;
};

/* Not 0: the max_inflight the next fake_conn_open announces instead of
 * the ring's size (the C server's is always a power of two; the protocol
 * allows any value up to the response ring's entries). */
static uint32_t fake_max_inflight;

/* server_bell: an eventfd to send as the server's bell (taken over), or
 * -1 for the futex doorbell. NULL on success, else the step that failed. */
static inline const char *fake_conn_open(struct fake_conn *f, const struct ffb_server_options *o,
					 int server_bell, uint32_t start)
{
	uint32_t flags = server_bell >= 0 ? 0 : FFB_SB_FUTEX_DOORBELL;
	f->server_bell = server_bell;
	int memfd;
	if (ffb__layout_compute(o, 99, 0x42, flags, &f->sb) != FFB_OK)
		return "fake layout";
	if (fake_max_inflight)
		f->sb.max_inflight = fake_max_inflight;
	if (ffb__arena_create(&f->sb, &memfd, &f->base) != FFB_OK)
		return "fake arena";
	uint64_t rings[2] = {f->sb.req_ring_offset, f->sb.resp_ring_offset};
	uint32_t sizes[2] = {f->sb.req_ring_entries, f->sb.resp_ring_entries};
	for (int i = 0; i < 2; i++) {
		struct ffb_ring_ctl *ctl = (struct ffb_ring_ctl *)(f->base + rings[i]);
		struct ffb_ring_entry *slots = (struct ffb_ring_entry *)((char *)ctl + FFB_RING_CTL_SIZE);
		ctl->p_tail = ctl->c_head = start;
		for (uint32_t k = 0; k < sizes[i]; k++) {
			uint32_t idx = start + k;
			slots[idx & (sizes[i] - 1)].seq = idx + 1 - sizes[i];
		}
	}
	f->bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int sv[2];
	if (f->bell < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return "fake fds";
	struct ffb_server_hello h = {.magic = FFB_SERVER_HELLO_MAGIC,
				     .layout_version = FFB_LAYOUT_VERSION,
				     .arena_size = f->sb.arena_size,
				     .flags = flags,
				     .nfds = flags ? 2 : 3,
				     .session_id = 99,
				     .max_inflight = f->sb.max_inflight};
	int fds[3] = {memfd, f->bell, f->server_bell};
	ffb_status st = ffb__send_msg(sv[0], &h, sizeof(h), fds, h.nfds);
	close(memfd);
	f->sock = sv[0];
	if (st != FFB_OK)
		return "fake hello";
	struct ffb_client_options co;
	ffb_client_options_init(&co);
	co.connect_timeout_ms = 1000;
	if (ffb__client_handshake(sv[1], &co, &f->c) != FFB_OK)
		return "client handshake with the fake";
	struct ffb_client_hello ch;
	if (recv(f->sock, &ch, sizeof(ch), MSG_DONTWAIT) != (ssize_t)sizeof(ch) || ch.magic != FFB_CLIENT_HELLO_MAGIC)
		return "client hello";
	if (ffb_ring_cons_attach(&f->req, f->base + f->sb.req_ring_offset, f->sb.req_ring_entries) != 0 ||
	    ffb_ring_prod_attach(&f->resp, f->base + f->sb.resp_ring_offset, f->sb.resp_ring_entries) != 0)
		return "fake ring views";
	return NULL;
}

/* Close the client, then everything of the server end. */
static inline void fake_conn_close(struct fake_conn *f)
{
	ffb_client_close(f->c);
	munmap(f->base, f->sb.arena_size);
	close(f->bell);
	if (f->server_bell >= 0)
		close(f->server_bell);
	if (f->sock >= 0) /* -1: the fake already hung up */
		close(f->sock);
}

#endif /* FFB_FAKE_SERVER_H */
