/*
 * session.c — a server session's life: admission (credentials and caps),
 * the handshake that creates and sends the arena, peer-death detection,
 * and teardown that frees everything the session had.
 *
 * All of it runs on the control thread (control.c). A session is freed
 * only when no io_uring op references it any more: closing cancels its
 * ops and parks it on the zombie list until their completions (even
 * -ECANCELED) have arrived and, if it was handed to a dispatcher, until
 * the dispatcher said DETACHED (after every kept call was answered).
 * Admission spreads sessions over the dispatchers: each goes to the one
 * with the fewest.
 *
 * Nothing here waits on a client: every socket call is non-blocking, and
 * the server never takes an fd from a client (SO_PASSRIGHTS off where the
 * kernel has it, and every read without a control buffer), so no close
 * of ours can wait on a file system the client chose.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server_internal.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* Answer a client we will not serve, then hang up. Called once its hello
 * is read: closing a socket with unread data would make the client see a
 * reset instead of our answer. */
static void send_refusal(struct ffb__session *s, ffb_status why)
{
	struct ffb_server_hello h = {.magic = FFB_SERVER_HELLO_MAGIC,
				     .layout_version = FFB_LAYOUT_VERSION,
				     .status = why};
	ffb__send_msg(s->sock, &h, sizeof(h), NULL, 0);
	FFB__STAT_ADD(s->srv->stats.sessions_refused, 1);
	ffb__log(FFB_LOG_INFO, "refused a client: %s", ffb_status_name(why));
}

static bool uid_allowed(const struct ffb_server *srv, uid_t uid)
{
	if (uid == geteuid())
		return true;
	for (uint32_t i = 0; i < srv->opts.n_allowed_uids; i++)
		if (srv->uids[i] == uid)
			return true;
	return false;
}

static int peer_pidfd(int fd, pid_t pid)
{
	int pidfd = -1;
	socklen_t len = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0)
		return pidfd;
	/* Older kernels: by pid (racy only if the pid was already reused). */
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* ---- the pre-hello pool ------------------------------------------------
 * A connection whose hello has not been read yet costs the server only a
 * socket and a struct, and never a session slot: it waits on
 * srv->handshakes (oldest first) until its hello, its handshake timeout or
 * its eviction. The pool is bounded in total (max_handshakes) and per uid
 * (max_handshakes_per_uid); a new connection that finds its uid's share
 * full evicts that uid's oldest one, and one that finds the pool full
 * evicts the oldest of the uid with the most. So a flood of silent
 * sockets recycles its own places and never locks out another uid, nor a
 * client of its own uid that sends its hello at once. */

static struct ffb__uid_count *uid_count(struct ffb_server *srv, uid_t uid)
{
	for (uint32_t i = 0; i < srv->n_hs_uids; i++)
		if (srv->hs_uids[i].uid == uid)
			return &srv->hs_uids[i];
	return NULL;
}

static void pool_add(struct ffb__session *s)
{
	struct ffb_server *srv = s->srv;
	struct ffb__uid_count *u = uid_count(srv, s->uid);
	if (!u) { /* fewer distinct uids than places: there is room */
		u = &srv->hs_uids[srv->n_hs_uids++];
		*u = (struct ffb__uid_count){.uid = s->uid};
	}
	u->n++;
	srv->nhandshakes++;
	FFB__STAT_ADD(srv->stats.sessions_handshaking, 1);
	s->in_pool = true;
	ffb__list_add_tail(&srv->handshakes, &s->link);
}

/* s leaves the pool (its hello was read, or it is closed). */
static void pool_del(struct ffb__session *s)
{
	struct ffb_server *srv = s->srv;
	struct ffb__uid_count *u = uid_count(srv, s->uid);
	if (--u->n == 0)
		*u = srv->hs_uids[--srv->n_hs_uids];
	srv->nhandshakes--;
	FFB__STAT_ADD(srv->stats.sessions_handshaking, (uint64_t)-1);
	s->in_pool = false;
	ffb__list_del(&s->link);
}

/* Drop the oldest pre-hello connection of `uid`. */
static void evict_oldest(struct ffb_server *srv, uid_t uid)
{
	struct ffb__list *pos;
	for (pos = srv->handshakes.next; pos != &srv->handshakes; pos = pos->next) {
		struct ffb__session *s = FFB__CONTAINER_OF(pos, struct ffb__session, link);
		if (s->uid == uid) {
			FFB__STAT_ADD(srv->stats.handshakes_dropped, 1);
			ffb__session_close(s, FFB_OK);
			return;
		}
	}
}

/* Make a place in the pool for a new connection of `uid`. */
static void pool_make_room(struct ffb_server *srv, uid_t uid)
{
	struct ffb__uid_count *u = uid_count(srv, uid);
	if (u && u->n >= srv->opts.max_handshakes_per_uid) {
		evict_oldest(srv, uid);
		return;
	}
	if (srv->nhandshakes < srv->opts.max_handshakes)
		return;
	struct ffb__uid_count *most = &srv->hs_uids[0];
	for (uint32_t i = 1; i < srv->n_hs_uids; i++)
		if (srv->hs_uids[i].n > most->n)
			most = &srv->hs_uids[i];
	evict_oldest(srv, most->uid);
}

static void on_client_hello(struct ffb__session *s);

void ffb__session_accept(struct ffb_server *srv, int fd, bool check_creds)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (__atomic_load_n(&srv->stop_flag, __ATOMIC_ACQUIRE) ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		close(fd); /* stopping: close_all has run, nobody would close it */
		return;
	}
	ffb__refuse_fds(fd); /* the listener's setting should have come with it; make sure */
	pool_make_room(srv, cred.uid);
	struct ffb__session *s = calloc(1, sizeof(*s));
	if (!s) {
		FFB__STAT_ADD(srv->stats.sessions_refused, 1);
		close(fd);
		return;
	}
	s->refuse = check_creds && !uid_allowed(srv, cred.uid) ? FFB_ERR_PERMISSION_DENIED : FFB_OK;
	s->srv = srv;
	s->sock = fd;
	s->uid = cred.uid;
	s->pid = check_creds ? cred.pid : 0;
	s->pidfd = -1;
	s->client_bell = s->server_bell = -1;
	s->state = FFB__HANDSHAKE;
	s->deadline_ns = ffb__now_ns() + (uint64_t)srv->opts.handshake_timeout_ms * 1000000ull;
	s->op_sock = (struct ffb__op){.kind = FFB__OP_SOCK, .s = s};
	s->op_pidfd = (struct ffb__op){.kind = FFB__OP_PIDFD, .s = s};
	s->op_bell = (struct ffb__op){.kind = FFB__OP_BELL, .s = s};
	s->op_ring = (struct ffb__op){.kind = FFB__OP_RING, .s = s};
	s->ring_one = 1;
	ffb__list_init(&s->d_link);
	ffb__list_init(&s->calls);
	ffb__list_init(&s->waiting);
	ffb__list_init(&s->want_link);
	pthread_mutex_init(&s->heap_lock, NULL);
	pool_add(s);
	on_client_hello(s); /* an honest client's hello is usually here already */
}

/* Create the arena and the bells, send them: HANDSHAKE -> ACTIVE. */
static ffb_status start_session(struct ffb__session *s)
{
	struct ffb_server *srv = s->srv;
	uint32_t tag = (uint32_t)(ffb__random_u64() % 255u) + 1u;
	uint32_t flags = FFB_SB_VECTOR_CALLS | (srv->futex_ok ? FFB_SB_FUTEX_DOORBELL : 0);
	s->id = ++srv->next_session_id;
	if (s->pid)
		s->pidfd = peer_pidfd(s->sock, s->pid);
	ffb_status st = ffb__layout_compute(&srv->opts, s->id, tag, flags, &s->sb);
	if (st)
		return st;
	int memfd = -1;
	st = ffb__arena_create(&s->sb, &memfd, &s->base);
	if (st)
		return st;
	s->client_bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!srv->futex_ok)
		s->server_bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->client_bell < 0 || (!srv->futex_ok && s->server_bell < 0)) {
		close(memfd);
		return FFB_ERR_SYSTEM;
	}
	/* With holdings: the client's blocks its answers to our calls give us. */
	st = ffb__heap_init_view(&s->client_heap, &s->sb.heaps[0], s->base, s->sb.arena_size, tag,
				 FFB_HEAP_CLIENT, true);
	if (!st)
		st = ffb__heap_init_owner(&s->server_heap, &s->sb.heaps[1], s->base, s->sb.arena_size, tag,
					  FFB_HEAP_SERVER);
	if (!st)
		st = ffb__scalls_init(s);
	if (!st && !(s->handle = ffb__handle_new(s)))
		st = FFB_ERR_SYSTEM;
	if (st) {
		close(memfd);
		return st;
	}
	ffb_ring_cons_attach(&s->req, s->base + s->sb.req_ring_offset, s->sb.req_ring_entries);
	ffb_ring_prod_attach(&s->resp, s->base + s->sb.resp_ring_offset, s->sb.resp_ring_entries);

	struct ffb_server_hello h = {.magic = FFB_SERVER_HELLO_MAGIC,
				     .layout_version = FFB_LAYOUT_VERSION,
				     .status = FFB_OK,
				     .arena_size = s->sb.arena_size,
				     .flags = flags,
				     .session_id = s->id,
				     .max_inflight = s->sb.max_inflight};
	int fds[FFB_MAX_HELLO_FDS] = {memfd, s->client_bell, s->server_bell};
	h.nfds = srv->futex_ok ? 2 : 3;
	st = ffb__send_msg(s->sock, &h, sizeof(h), fds, h.nfds);
	close(memfd); /* our mapping keeps the arena; the client has its own fd */
	return st;
}

/* A hello that this version understands: magic, version, and the
 * fields it leaves to later versions all 0 (PROTOCOL.md §2.1). */
static bool hello_ok(const struct ffb_client_hello *h)
{
	return h->magic == FFB_CLIENT_HELLO_MAGIC && h->layout_version == FFB_LAYOUT_VERSION && h->flags == 0 &&
	       h->reserved[0] == 0 && h->reserved[1] == 0;
}

/* A stats request (PROTOCOL.md §2.5): a hello with its own magic. Its
 * status: what the reply says, OK for the counters. */
static ffb_status stats_request_status(const struct ffb__session *s, const struct ffb_client_hello *h, size_t len)
{
	if (s->refuse)
		return s->refuse;
	if (len != sizeof(*h))
		return FFB_ERR_PROTOCOL;
	if (h->layout_version != FFB_LAYOUT_VERSION || h->flags || h->reserved[0] || h->reserved[1])
		return FFB_ERR_VERSION_MISMATCH;
	return FFB_OK;
}

static void on_client_hello(struct ffb__session *s)
{
	/* Room for more than a hello: a stats request of the wrong length
	 * is still known by its magic, and refused as such. */
	union {
		struct ffb_client_hello h;
		char bytes[2 * sizeof(struct ffb_client_hello)];
	} msg;
	struct ffb_client_hello hello;
	size_t len = sizeof(msg);
	ffb_status st = ffb__recv_plain(s->sock, &msg, &len, MSG_DONTWAIT);
	if (st == FFB_ERR_WOULD_BLOCK) {
		ffb__arm_poll(&s->srv->ring, &s->op_sock, &s->ops_pending, s->sock, POLLIN | POLLRDHUP);
		return;
	}
	struct ffb_server *srv = s->srv;
	/* Out of the pool: from here on it is answered or closed at once. */
	pool_del(s);
	ffb__list_add_tail(&srv->sessions, &s->link);
	if (st == FFB_OK && len >= sizeof(uint64_t) && msg.h.magic == FFB_STATS_HELLO_MAGIC) {
		ffb__stats_answer(s, stats_request_status(s, &msg.h, len));
		ffb__session_close(s, FFB_OK);
		return;
	}
	memcpy(&hello, &msg, sizeof(hello));
	if (st != FFB_OK || len != sizeof(hello)) { /* fds (dropped unread), a short or long message, EOF */
		ffb__session_close(s, FFB_OK);
		return;
	}
	ffb_status why = s->refuse;
	if (!why && srv->nsessions >= srv->opts.max_sessions)
		why = FFB_ERR_TOO_MANY_SESSIONS;
	if (!why && !hello_ok(&hello))
		why = FFB_ERR_VERSION_MISMATCH;
	if (why) {
		send_refusal(s, why);
		ffb__session_close(s, FFB_OK);
		return;
	}
	srv->nsessions++;
	s->admitted = true;
	st = start_session(s);
	if (st) {
		ffb__log(FFB_LOG_WARN, "session setup failed: %s", ffb_status_name(st));
		ffb__session_close(s, FFB_OK);
		return;
	}
	s->state = FFB__ACTIVE;
	FFB__STAT_ADD(srv->stats.sessions_total, 1);
	FFB__STAT_ADD(srv->stats.sessions_active, 1);
	ffb__arm_poll(&srv->ring, &s->op_sock, &s->ops_pending, s->sock, POLLIN | POLLRDHUP);
	if (s->pidfd >= 0)
		ffb__arm_poll(&srv->ring, &s->op_pidfd, &s->ops_pending, s->pidfd, POLLIN);
	/* The handshake's writes go with the mail (its lock), to the
	 * dispatcher with the fewest sessions. */
	struct ffb__dispatcher *d = &srv->disp[0];
	for (uint32_t i = 1; i < srv->ndisp; i++)
		if (srv->disp[i].nsessions < d->nsessions)
			d = &srv->disp[i];
	s->disp = d;
	d->nsessions++;
	ffb__mail(&d->inbox, s, FFB__MAIL_ADOPT);
}

void ffb__session_on_sock(struct ffb__session *s, int res)
{
	if (s->state == FFB__HANDSHAKE) {
		on_client_hello(s);
		return;
	}
	if (s->state != FFB__ACTIVE)
		return;
	/* After the handshake a client says nothing: readable means EOF
	 * (the client closed or died) or a message it should not send. */
	char buf[64];
	size_t len = sizeof(buf);
	ffb_status st = ffb__recv_plain(s->sock, buf, &len, MSG_DONTWAIT);
	if (st == FFB_ERR_WOULD_BLOCK && !(res & (POLLHUP | POLLRDHUP | POLLERR))) {
		ffb__arm_poll(&s->srv->ring, &s->op_sock, &s->ops_pending, s->sock, POLLIN | POLLRDHUP);
		return;
	}
	if (st == FFB_OK || st == FFB_ERR_PROTOCOL || st == FFB_ERR_BAD_FD) {
		/* a message (even a truncated one, or fds) where none belongs */
		FFB__STAT_ADD(s->srv->stats.protocol_errors, 1);
		ffb__session_close(s, FFB_ERR_PROTOCOL);
		return;
	}
	ffb__session_close(s, FFB_OK);
}

/* Read and drop whatever the client left on the socket: closing a Unix
 * socket with unread data makes the peer's next read fail with
 * ECONNRESET, which would hide our goodbye. After shutdown() the client
 * cannot add more, so this ends. */
static void drain_socket(int sock)
{
	for (;;) {
		char buf[64];
		size_t len = sizeof(buf);
		ffb_status st = ffb__recv_plain(sock, buf, &len, MSG_DONTWAIT);
		if (st != FFB_OK && st != FFB_ERR_PROTOCOL && st != FFB_ERR_BAD_FD)
			return; /* empty (WOULD_BLOCK), EOF or an error */
	}
}

static void session_free(struct ffb__session *s)
{
	if (s->sock >= 0)
		drain_socket(s->sock);
	if (s->base)
		munmap(s->base, s->sb.arena_size);
	ffb__heap_destroy(&s->client_heap);
	ffb__heap_destroy(&s->server_heap);
	ffb__scalls_destroy(s);
	free(s->outq);
	if (s->handle) {
		ffb__handle_detach(s, FFB_ERR_PEER_GONE); /* a session that never served */
		ffb_session_unref(s->handle);
	}
	int fds[4] = {s->sock, s->pidfd, s->client_bell, s->server_bell};
	ffb__close_fds(fds, 4);
	if (s->admitted) /* the slot is free once the arena is unmapped */
		s->srv->nsessions--;
	if (s->disp)
		s->disp->nsessions--;
	pthread_mutex_destroy(&s->heap_lock);
	free(s);
}

/* The dispatcher is done with s (or never had it): say goodbye, hang up,
 * cancel our ops; free s once their completions are in. */
static void hang_up(struct ffb__session *s, bool in_zombies)
{
	struct ffb_server *srv = s->srv;
	if (s->goodbye) {
		struct ffb_goodbye bye = {.magic = FFB_GOODBYE_MAGIC, .status = s->goodbye};
		ffb__send_msg(s->sock, &bye, sizeof(bye), NULL, 0);
	}
	/* The client sees EOF now, even while our io_uring ops still hold
	 * a reference to the socket. */
	shutdown(s->sock, SHUT_RDWR);
	ffb__cancel_op(&srv->ring, &s->op_sock);
	ffb__cancel_op(&srv->ring, &s->op_pidfd);
	if (s->ops_pending) {
		if (!in_zombies)
			ffb__list_add_tail(&srv->zombies, &s->link);
		return;
	}
	if (in_zombies)
		ffb__list_del(&s->link);
	session_free(s);
}

void ffb__session_close(struct ffb__session *s, ffb_status why)
{
	struct ffb_server *srv = s->srv;
	if (s->state == FFB__DEAD)
		return;
	bool was_active = s->state == FFB__ACTIVE;
	if (was_active) {
		/* Its dispatcher takes no request from now on, even before it
		 * reads the DETACH below; the fence orders the flag before the
		 * counters (a test that saw sessions_cut sees no answer after). */
		__atomic_store_n(&s->closing, 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);
	}
	if (why == FFB_ERR_PROTOCOL)
		FFB__STAT_ADD(srv->stats.sessions_cut, 1);
	if (was_active)
		FFB__STAT_ADD(srv->stats.sessions_active, (uint64_t)-1);
	if (s->in_pool)
		pool_del(s);
	else
		ffb__list_del(&s->link);
	s->state = FFB__DEAD;
	s->goodbye = was_active ? why : FFB_OK;
	if (!was_active) {
		hang_up(s, false);
		return;
	}
	/* The dispatcher has it (or has mail to take it): the goodbye waits
	 * until it stopped serving, so no answer follows the goodbye and a
	 * call it is running still gets its own. */
	s->awaiting_detached = true;
	ffb__list_add_tail(&srv->zombies, &s->link);
	ffb__mail(&s->disp->inbox, s, FFB__MAIL_DETACH);
}

bool ffb__session_op_done(struct ffb__op *op)
{
	struct ffb__session *s = op->s;
	op->armed = false;
	s->ops_pending--;
	if (s->state != FFB__DEAD)
		return true;
	if (s->ops_pending == 0 && !s->awaiting_detached) {
		ffb__list_del(&s->link);
		session_free(s);
	}
	return false;
}

void ffb__session_detached(struct ffb__session *s)
{
	s->awaiting_detached = false;
	hang_up(s, true);
}

uint64_t ffb__session_expire_handshakes(struct ffb_server *srv, uint64_t now)
{
	/* Oldest first, and every connection has the same timeout: the
	 * first that has time left is the next to expire. */
	while (!ffb__list_empty(&srv->handshakes)) {
		struct ffb__session *s = FFB__CONTAINER_OF(srv->handshakes.next, struct ffb__session, link);
		if (now <= s->deadline_ns)
			return s->deadline_ns;
		FFB__STAT_ADD(srv->stats.handshakes_dropped, 1);
		ffb__session_close(s, FFB_OK);
	}
	return 0;
}

void ffb__session_close_all(struct ffb_server *srv)
{
	while (!ffb__list_empty(&srv->handshakes))
		ffb__session_close(FFB__CONTAINER_OF(srv->handshakes.next, struct ffb__session, link), FFB_OK);
	while (!ffb__list_empty(&srv->sessions))
		ffb__session_close(FFB__CONTAINER_OF(srv->sessions.next, struct ffb__session, link), FFB_ERR_CLOSED);
}
