/*
 * control.c — the server's control thread: everything but the rings.
 *
 * It sleeps in io_uring on the listening socket, the notify eventfd
 * (stop, in-process adopts, mail from the dispatchers), each session's
 * socket and pidfd, and a timer until the next handshake deadline. It
 * admits or refuses clients (session.c), hands finished handshakes to a
 * dispatcher, and closes sessions: on a hang-up, a dead peer, a cut a
 * dispatcher asked for, or stop. It never spins: what it costs is paid
 * only when something happens on a socket. And it never waits on a
 * client: every socket call is non-blocking, and no fd a client sent is
 * ever installed here (session.c), so no close of ours can block.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "server_internal.h"

static void arm_accept(struct ffb_server *srv)
{
	struct io_uring_sqe *sqe = ffb__sqe(&srv->ring);
	io_uring_prep_accept(sqe, srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	io_uring_sqe_set_data(sqe, &srv->op_accept);
	srv->op_accept.armed = true;
}

static void take_adopted(struct ffb_server *srv)
{
	int fds[16];
	unsigned n;
	pthread_mutex_lock(&srv->adopt_lock);
	n = srv->n_adopt;
	memcpy(fds, srv->adopt_fds, n * sizeof(int));
	srv->n_adopt = 0;
	pthread_mutex_unlock(&srv->adopt_lock);
	for (unsigned i = 0; i < n; i++)
		ffb__session_accept(srv, fds[i], false);
}

/* Mail from the dispatchers: cut a session (FAILED), free one (DETACHED). */
static void take_mail(struct ffb_server *srv)
{
	struct ffb__session *s = ffb__mail_take(&srv->inbox), *next;
	for (; s; s = next) {
		next = s->got_next[FFB__TO_CONTROL];
		uint8_t got = s->got[FFB__TO_CONTROL];
		if (got & FFB__MAIL_FAILED)
			ffb__session_close(s, FFB_ERR_PROTOCOL);
		if (got & FFB__MAIL_DETACHED)
			ffb__session_detached(s);
	}
}

static void on_completion(void *ctx, struct io_uring_cqe *cqe)
{
	struct ffb_server *srv = ctx;
	struct ffb__op *op = io_uring_cqe_get_data(cqe);
	if (!op)
		return; /* a cancel request's own completion */
	int res = cqe->res;
	bool stopping = __atomic_load_n(&srv->stop_flag, __ATOMIC_ACQUIRE);
	switch (op->kind) {
	case FFB__OP_ACCEPT:
		op->armed = false;
		if (res >= 0)
			ffb__session_accept(srv, res, true);
		else if (res != -EAGAIN && res != -EINTR && res != -ECANCELED)
			ffb__log(FFB_LOG_WARN, "accept: %s", strerror(-res));
		if (!stopping)
			arm_accept(srv);
		return;
	case FFB__OP_NOTIFY:
		op->armed = false;
		if (read(srv->inbox.fd, &srv->notify_buf, sizeof(srv->notify_buf)) < 0 && errno != EAGAIN)
			ffb__log(FFB_LOG_WARN, "notify read: %s", strerror(errno));
		take_adopted(srv);
		take_mail(srv);
		if (!stopping || !ffb__list_empty(&srv->handshakes) || !ffb__list_empty(&srv->sessions) ||
		    !ffb__list_empty(&srv->zombies))
			ffb__arm_poll(&srv->ring, &srv->op_notify, NULL, srv->inbox.fd, POLLIN);
		return;
	default:
		break;
	}
	struct ffb__session *s = op->s;
	if (!ffb__session_op_done(op))
		return;
	if (op->kind == FFB__OP_SOCK)
		ffb__session_on_sock(s, res < 0 ? POLLERR : res);
	else /* FFB__OP_PIDFD: the client process exited */
		ffb__session_close(s, FFB_OK);
}

static unsigned reap(struct ffb_server *srv)
{
	return ffb__reap(&srv->ring, on_completion, srv);
}

/* Stop: every session gets a goodbye (CLOSED), no more accepts. */
static void close_all(struct ffb_server *srv)
{
	ffb__session_close_all(srv);
	ffb__cancel_op(&srv->ring, &srv->op_accept);
}

void ffb__control_run(struct ffb_server *srv)
{
	if (srv->listen_fd >= 0 && !srv->op_accept.armed)
		arm_accept(srv);
	if (!srv->op_notify.armed)
		ffb__arm_poll(&srv->ring, &srv->op_notify, NULL, srv->inbox.fd, POLLIN);
	take_adopted(srv);
	bool closed_all = false;
	uint64_t stop_deadline = 0;
	for (;;) {
		take_mail(srv);
		uint64_t now = ffb__now_ns();
		uint64_t next = ffb__session_expire_handshakes(srv, now);
		if (__atomic_load_n(&srv->stop_flag, __ATOMIC_ACQUIRE) && !closed_all) {
			close_all(srv);
			closed_all = true;
			stop_deadline = ffb__now_ns() + 5000000000ull;
		}
		if (closed_all && ffb__now_ns() > stop_deadline) {
			/* Kept calls nobody finishes, or a kernel that lost a
			 * cancel: leak the server, do not hang. */
			ffb__log(FFB_LOG_WARN, "stop: sessions still waiting for their calls or ops after 5 s: "
					       "leaving them (and the server's memory) behind");
			srv->leaked = true;
			break;
		}
		if (closed_all && ffb__list_empty(&srv->handshakes) && ffb__list_empty(&srv->sessions) &&
		    ffb__list_empty(&srv->zombies)) {
			ffb__cancel_op(&srv->ring, &srv->op_notify);
			if (!srv->op_accept.armed && !srv->op_notify.armed)
				break;
		}
		if (closed_all && (!next || next > now + 100000000ull))
			next = now + 100000000ull; /* look at the stop deadline */
		struct io_uring_cqe *cqe;
		if (next) {
			uint64_t wait = next > now ? next - now : 0;
			struct __kernel_timespec ts = {.tv_sec = (long long)(wait / 1000000000ull),
						       .tv_nsec = (long long)(wait % 1000000000ull)};
			io_uring_submit_and_wait_timeout(&srv->ring, &cqe, 1, &ts, NULL);
		} else {
			io_uring_submit_and_wait(&srv->ring, 1);
		}
		reap(srv);
	}
	/* Every session is freed: the dispatchers may go. */
	__atomic_store_n(&srv->control_done, 1, __ATOMIC_RELEASE);
	uint64_t one = 1;
	for (uint32_t i = 0; i < srv->ndisp; i++)
		if (write(srv->disp[i].inbox.fd, &one, sizeof(one)) < 0) {
			/* full counter: the dispatcher is being woken anyway */
		}
}
