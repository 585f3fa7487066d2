/*
 * dispatcher.c — a dispatcher thread: the rings of the sessions the
 * control thread handed it, the answers of their kept calls, and nothing
 * else.
 *
 * The loop busy-polls every session's request ring (dispatch.c serves
 * one) and its answer stack for spin_ns after the last work, then parks:
 * it says so (`parked`, for finishers of kept calls), sets each ring's
 * needs_wakeup flag (C3), re-checks, and sleeps in io_uring on every
 * session's doorbell (a FUTEX_WAIT op on the request ring's p_tail where
 * the kernel has it, else an eventfd poll), its inbox eventfd (mail, and
 * answers), and, while a session waits for room in its response ring, a
 * timer that backs off (dispatch.c) -- that session's doorbell still
 * wakes it when the client publishes a request. A wake-up that finds
 * nothing to do parks again at once, without the spin.
 *
 * A session is the dispatcher's from ADOPT until it says DETACHED: after
 * a DETACH (or its own cut, FAILED) it cancels the session's ops and
 * kept calls and waits for the ops' completions (the kernel still holds
 * them) and for every kept call to be answered first.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "server_internal.h"

int ffb__dispatcher_init(struct ffb__dispatcher *d, struct ffb_server *srv)
{
	memset(d, 0, sizeof(*d));
	d->srv = srv;
	d->inbox.fd = -1;
	d->fn_counts = calloc(FFB_MAX_FUNCTIONS, sizeof(*d->fn_counts)); /* untouched pages cost nothing */
	if (!d->fn_counts)
		return -1;
	ffb__list_init(&d->sessions);
	ffb__list_init(&d->zombies);
	ffb__list_init(&d->wanting);
	if (ffb__uring_init(&d->ring) < 0) {
		free(d->fn_counts);
		return -1;
	}
	if (ffb__mailbox_init(&d->inbox, FFB__TO_DISPATCHER) < 0) {
		io_uring_queue_exit(&d->ring);
		free(d->fn_counts);
		return -1;
	}
	ffb__registry_add_reader(srv->reg, &d->reader);
	d->op_inbox.kind = FFB__OP_INBOX;
	return 0;
}

void ffb__dispatcher_destroy(struct ffb__dispatcher *d)
{
	if (!d->srv)
		return;
	ffb__registry_remove_reader(d->srv->reg, &d->reader);
	io_uring_queue_exit(&d->ring);
	ffb__mailbox_destroy(&d->inbox);
	free(d->fn_counts);
	d->srv = NULL;
}

void ffb__dispatcher_wake(struct ffb__dispatcher *d)
{
	/* A3: called after the push; pairs with A4 in park(). The first waker
	 * clears the flag, so one write wakes it. */
	if (!__atomic_load_n(&d->parked, __ATOMIC_SEQ_CST) || !__atomic_exchange_n(&d->parked, 0, __ATOMIC_SEQ_CST))
		return;
	uint64_t one = 1;
	if (write(d->inbox.fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so it is being woken anyway */
	}
}

void ffb__dispatcher_maybe_detached(struct ffb__session *s)
{
	/* A dirty session is still on the publish list: that pass lets go of
	 * it; a post for it still on the stack must find it. */
	if (s->serving != FFB__DETACHING || s->d_ops_pending || !ffb__list_empty(&s->calls) || s->dirty ||
	    __atomic_load_n(&s->posted, __ATOMIC_ACQUIRE))
		return;
	/* The kernel is done with every op of s and every call is answered:
	 * hand it back to control (which may free it at once). */
	ffb__list_del(&s->d_link);
	ffb__mail(&s->srv->inbox, s, FFB__MAIL_DETACHED);
}

/* Stop serving s: off the list, its ops and calls cancelled. */
static void stop_serving(struct ffb__dispatcher *d, struct ffb__session *s, int why)
{
	ffb__list_del(&s->d_link);
	s->serving = why;
	if (why == FFB__FAILED)
		s->cut = true;
	ffb__cancel_op(&d->ring, &s->op_bell);
	ffb__cancel_op(&d->ring, &s->op_ring);
	ffb__list_add_tail(&d->zombies, &s->d_link);
	/* Calls through its handle get this from now on, and ours to the
	 * client end with it. */
	ffb_status gone = __atomic_load_n(&d->srv->stop_flag, __ATOMIC_RELAXED) ? FFB_ERR_CLOSED : FFB_ERR_PEER_GONE;
	ffb__handle_detach(s, gone);
	ffb__scalls_end(s, gone);
	ffb__session_cancel_calls(s);
	/* What waits for ring room goes now if it fits, or not at all: a
	 * detaching client may never read it. */
	if (!s->cut)
		ffb__out_flush(s);
	ffb__out_drop(s);
	ffb__dispatcher_maybe_detached(s);
}

void ffb__dispatcher_fail(struct ffb__session *s)
{
	if (s->serving != FFB__SERVING)
		return;
	stop_serving(s->disp, s, FFB__FAILED);
	ffb__mail(&s->srv->inbox, s, FFB__MAIL_FAILED);
}

static void take_mail(struct ffb__dispatcher *d)
{
	struct ffb__session *s = ffb__mail_take(&d->inbox), *next;
	for (; s; s = next) {
		next = s->got_next[FFB__TO_DISPATCHER];
		uint8_t got = s->got[FFB__TO_DISPATCHER];
		if (got & FFB__MAIL_ADOPT) {
			s->serving = FFB__SERVING;
			ffb__list_add_tail(&d->sessions, &s->d_link);
			ffb__handle_attach(s);
		}
		if (got & FFB__MAIL_DETACH)
			stop_serving(d, s, FFB__DETACHING);
	}
}

static void arm_inbox(struct ffb__dispatcher *d)
{
	ffb__arm_poll(&d->ring, &d->op_inbox, NULL, d->inbox.fd, POLLIN);
}

static void arm_bell(struct ffb__dispatcher *d, struct ffb__session *s, uint32_t sleep_on)
{
	if (s->op_bell.armed)
		return; /* still queued in the kernel: it will see the next wake */
	if (d->srv->futex_ok)
		ffb__arm_futex_wait(&d->ring, &s->op_bell, &s->d_ops_pending, &s->req.ctl->p_tail, sleep_on);
	else
		ffb__arm_poll(&d->ring, &s->op_bell, &s->d_ops_pending, s->server_bell, POLLIN);
}

/* Wake a parked client. Through io_uring, not write(2): the bell's file
 * description is shared, and a client that cleared its O_NONBLOCK and
 * filled the counter would block a plain write — and with it every
 * session. With O_NONBLOCK intact io_uring writes inline; otherwise the
 * write waits in an io-wq worker until the session is detached. A wake
 * asked for while a write is in flight is sent when it completes (no
 * loss). */
void ffb__session_ring_client(struct ffb__session *s)
{
	if (s->op_ring.armed) {
		s->ring_again = true;
		return;
	}
	struct ffb__dispatcher *d = s->disp;
	struct io_uring_sqe *sqe = ffb__sqe(&d->ring);
	io_uring_prep_write(sqe, s->client_bell, &s->ring_one, sizeof(s->ring_one), 0);
	io_uring_sqe_set_data(sqe, &s->op_ring);
	s->op_ring.armed = true;
	s->d_ops_pending++;
	io_uring_submit(&d->ring); /* now: the client is asleep */
	FFB__STAT_ADD(d->stats.wakeups_sent, 1);
}

static void on_completion(void *ctx, struct io_uring_cqe *cqe)
{
	struct ffb__dispatcher *d = ctx;
	struct ffb__op *op = io_uring_cqe_get_data(cqe);
	if (!op)
		return; /* a cancel request's own completion */
	op->armed = false;
	if (op->kind == FFB__OP_INBOX) {
		if (read(d->inbox.fd, &d->inbox_buf, sizeof(d->inbox_buf)) < 0) {
			/* EAGAIN: the flag already told us */
		}
		take_mail(d);
		ffb__dispatch_posts(d);
		if (d->dirty)
			ffb__dispatch_publish(d);
		if (!__atomic_load_n(&d->srv->control_done, __ATOMIC_ACQUIRE))
			arm_inbox(d);
		return;
	}
	struct ffb__session *s = op->s;
	s->d_ops_pending--;
	if (s->serving != FFB__SERVING) {
		ffb__dispatcher_maybe_detached(s);
		return;
	}
	if (op->kind == FFB__OP_BELL) {
		if (!d->srv->futex_ok)
			ffb__bell_drain(s->server_bell);
	} else if (s->ring_again) { /* FFB__OP_RING */
		s->ring_again = false;
		ffb__session_ring_client(s);
	}
}

static unsigned reap(struct ffb__dispatcher *d)
{
	return ffb__reap(&d->ring, on_completion, d);
}

static bool service_all(struct ffb__dispatcher *d)
{
	bool did = false;
	struct ffb__list *pos, *tmp;
	FFB__LIST_FOR_EACH_SAFE(pos, tmp, &d->sessions) /* service may fail a session */
	did |= ffb__session_service(FFB__CONTAINER_OF(pos, struct ffb__session, d_link));
	return did;
}

static bool posts_waiting(struct ffb__dispatcher *d)
{
	return __atomic_load_n(&d->posts, __ATOMIC_SEQ_CST) != NULL;
}

static void end_park(struct ffb__dispatcher *d)
{
	__atomic_store_n(&d->parked, 0, __ATOMIC_RELAXED);
	struct ffb__list *pos;
	for (pos = d->sessions.next; pos != &d->sessions; pos = pos->next)
		ffb_ring_cons_end_park(&FFB__CONTAINER_OF(pos, struct ffb__session, d_link)->req);
}

/* End the calls to clients that are past their deadline; the next
 * deadline of any (0: none). */
static uint64_t expire(struct ffb__dispatcher *d, uint64_t now)
{
	uint64_t next = 0;
	struct ffb__list *pos, *tmp;
	FFB__LIST_FOR_EACH_SAFE(pos, tmp, &d->sessions)
	{
		struct ffb__session *s = FFB__CONTAINER_OF(pos, struct ffb__session, d_link);
		uint64_t t = ffb__scall_expire(s, now);
		if (t && (!next || t < next))
			next = t;
	}
	if (d->dirty)
		ffb__dispatch_publish(d);
	return next;
}

/* Announce sleep to finishers and on every ring (C3), arm doorbells, and
 * wait for any completion, the retry timer or the next deadline of a call
 * to a client. Returns early if work appeared. */
static void park(struct ffb__dispatcher *d, uint64_t deadline)
{
	/* A4: parked = 1 before the look at the answer stack; pairs with A3 */
	__atomic_store_n(&d->parked, 1, __ATOMIC_SEQ_CST);
	if (posts_waiting(d)) {
		end_park(d);
		return;
	}
	uint64_t retry_at = UINT64_MAX;
	struct ffb__list *pos, *tmp;
	FFB__LIST_FOR_EACH_SAFE(pos, tmp, &d->sessions)
	{
		struct ffb__session *s = FFB__CONTAINER_OF(pos, struct ffb__session, d_link);
		if (__atomic_load_n(&s->closing, __ATOMIC_RELAXED))
			continue; /* taken no more: its DETACH mail wakes us */
		if (s->out_n && !s->blocked) {
			/* entries wait in its outgoing queue for the client to
			 * consume: look again in a millisecond */
			uint64_t t = ffb__now_ns() + 1000000;
			if (t < retry_at)
				retry_at = t;
		}
		uint32_t sleep_on;
		int r;
		if (s->blocked) {
			/* Waiting for the client to consume: a publish of its
			 * wakes us, and the timer; the re-check after the flag
			 * (C3) catches room made meanwhile. */
			r = ffb_ring_cons_prepare_wait_more(&s->req, &sleep_on);
			if (r == 1 && ffb__session_has_room(s))
				r = 0;
			if (s->retry_at < retry_at)
				retry_at = s->retry_at;
		} else {
			r = ffb_ring_cons_prepare_park(&s->req, &sleep_on);
		}
		if (r == FFB_RING_CORRUPT) {
			FFB__STAT_ADD(d->stats.protocol_errors, 1);
			ffb__dispatcher_fail(s);
			continue;
		}
		if (r == 0) {
			end_park(d);
			return;
		}
		arm_bell(d, s, sleep_on);
	}
	if (ffb__mail_waiting(&d->inbox)) {
		end_park(d);
		return;
	}
	FFB__STAT_ADD(d->stats.parks, 1);
	struct io_uring_cqe *cqe;
	if (deadline && deadline < retry_at)
		retry_at = deadline; /* a call to a client times out then */
	if (retry_at != UINT64_MAX) {
		uint64_t now = ffb__now_ns();
		uint64_t wait = retry_at > now ? retry_at - now : 1;
		struct __kernel_timespec ts = {.tv_sec = (long long)(wait / 1000000000ull),
					       .tv_nsec = (long long)(wait % 1000000000ull)};
		io_uring_submit_and_wait_timeout(&d->ring, &cqe, 1, &ts, NULL);
	} else {
		io_uring_submit_and_wait(&d->ring, 1);
	}
	end_park(d);
}

static __thread struct ffb__dispatcher *running_here;

struct ffb__dispatcher *ffb__this_dispatcher(void)
{
	return running_here;
}

void ffb__dispatcher_run(struct ffb__dispatcher *d)
{
	running_here = d;
	if (!d->op_inbox.armed)
		arm_inbox(d);
	uint64_t idle_since = 0; /* 0: busy */
	unsigned busy = 0, idle = 0;
	bool woke = false; /* back from a park: no spin before the next if nothing is to do */
	while (!__atomic_load_n(&d->srv->control_done, __ATOMIC_ACQUIRE)) {
		/* Hot path: rings only. Mail, io_uring and the clock are
		 * looked at when idle, and every 256th busy pass so a loaded
		 * dispatcher still takes new sessions and lets go of old.
		 * Once stop is asked, nothing more is taken off a ring: the
		 * calls waiting there end CLOSED (control says goodbye); kept
		 * calls are still answered. */
		bool stopping = __atomic_load_n(&d->srv->stop_flag, __ATOMIC_RELAXED);
		bool did = !stopping && service_all(d);
		if (posts_waiting(d)) {
			ffb__dispatch_posts(d);
			did = true;
		}
		if (d->dirty)
			ffb__dispatch_publish(d);
		if (!ffb__list_empty(&d->wanting))
			ffb__dispatch_feed_pool(d);
		if (did) {
			idle_since = 0;
			woke = false;
			if (++busy & 255)
				continue;
		}
		if (ffb__mail_waiting(&d->inbox)) {
			take_mail(d);
			continue;
		}
		if (io_uring_sq_ready(&d->ring))
			io_uring_submit(&d->ring);
		if (reap(d)) {
			idle_since = 0;
			continue;
		}
		if (!woke && ++idle & 7) { /* the clock every 8th idle pass */
			ffb_cpu_relax();
			continue;
		}
		uint64_t now = ffb__now_ns();
		uint64_t deadline = expire(d, now);
		if (!idle_since)
			idle_since = now;
		if (!woke && now - idle_since < d->srv->opts.spin_ns)
			continue;
		park(d, deadline);
		reap(d);
		idle_since = 0;
		woke = true;
	}
	/* Control freed every session, so every one was detached. */
	ffb__cancel_op(&d->ring, &d->op_inbox);
	while (d->op_inbox.armed) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {.tv_sec = 1};
		if (io_uring_submit_and_wait_timeout(&d->ring, &cqe, 1, &ts, NULL) == -ETIME)
			break;
		reap(d);
	}
}
