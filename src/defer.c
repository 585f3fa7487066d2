/*
 * defer.c — kept calls: a call that outlives the dispatcher's pass that
 * took it off the ring, because it runs on the pool or because its
 * callback kept it (ffb_call_defer) to answer later from any thread.
 *
 * A kept call is a heap copy of the call (ffb__call_keep). Whoever holds
 * it may set its reply and then finishes it, exactly once; the finished
 * call goes onto its dispatcher's answer stack (a lock-free MPSC stack:
 * any thread pushes with a CAS, the dispatcher takes them all with one
 * exchange) and the dispatcher, the one producer of the response ring,
 * publishes the answer and frees the call (dispatch.c). The session
 * stays alive while it has kept calls, so a call never outlives its
 * arena.
 *
 * Cancellation (a CANCEL entry, the session's end, stop) is set by the
 * dispatcher; a callback registered with ffb_call_on_cancel runs once,
 * never after ffb_call_finish returned: `cancel` is a small state
 * machine both sides move with CAS.
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

enum {
	CANCEL_NONE = 0,  /* no cancel callback, not cancelled */
	CANCEL_ARMED,     /* a cancel callback is set */
	CANCEL_FIRING,    /* the dispatcher runs the cancel callback */
	CANCEL_DONE,      /* cancelled (and its callback, if any, ran) */
	CANCEL_FINISHED   /* answered: no cancel callback runs any more */
};

/* The call the running pooled callback deferred on this thread, so that
 * its worker never reads the call again afterwards: another thread may
 * have finished (and the dispatcher freed) it by then. */
static __thread ffb_call *deferred_here;

ffb_call *ffb__call_keep(const ffb_call *c)
{
	ffb_call *k = malloc(sizeof(*k));
	if (!k)
		return NULL;
	*k = *c;
	if (c->error_msg)
		k->error_msg = k->msg_buf;
	k->kept = true;
	k->moved_to = NULL;
	k->cancel = CANCEL_NONE;
	k->cancelled = 0;
	k->cancel_fn = NULL;
	k->cancel_ctx = NULL;
	k->job.run = ffb__call_run_pooled;
	k->job.next = NULL;
	ffb__list_init(&k->link);
	ffb__list_init(&k->wait_link);
	return k;
}

ffb_call *ffb_call_defer(ffb_call *c)
{
	if (!c)
		return NULL;
	if (c->moved_to)
		return c->moved_to;
	ffb_call *k = c;
	if (!c->kept) {
		k = ffb__call_keep(c);
		if (!k)
			return NULL;
		c->moved_to = k; /* the dispatcher looks here after the callback */
	}
	k->deferred = true;
	deferred_here = k;
	return k;
}

static void push_answer(struct ffb__dispatcher *d, ffb_call *c)
{
	ffb_call *head = __atomic_load_n(&d->answers, __ATOMIC_RELAXED);
	do
		c->next_answer = head;
	/* A1: the call's answer before the stack head; pairs with A2. Seq_cst
	 * too: the push before the `parked` load in ffb__dispatcher_wake (A3,
	 * pairs with A4 in park). */
	while (!__atomic_compare_exchange_n(&d->answers, &head, c, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	ffb__dispatcher_wake(d);
}

void ffb_call_finish(ffb_call *c, ffb_status status)
{
	if (!c)
		return;
	if (!c->kept) {
		ffb__log(FFB_LOG_ERROR, "ffb_call_finish on a call that was not kept (ffb_call_defer): ignored");
		return;
	}
	int s = __atomic_load_n(&c->cancel, __ATOMIC_ACQUIRE);
	for (;;) {
		if (s == CANCEL_FIRING) { /* its cancel callback runs: let it end first */
			ffb_cpu_relax();
			s = __atomic_load_n(&c->cancel, __ATOMIC_ACQUIRE);
			continue;
		}
		if (__atomic_compare_exchange_n(&c->cancel, &s, CANCEL_FINISHED, true, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
	}
	c->status = status;
	push_answer(c->session->disp, c);
}

int ffb_call_cancelled(const ffb_call *c)
{
	return c && __atomic_load_n(&c->cancelled, __ATOMIC_ACQUIRE);
}

ffb_status ffb_call_on_cancel(ffb_call *c, void (*fn)(void *ctx), void *ctx)
{
	if (!c || !fn)
		return FFB_ERR_NULL_POINTER;
	if (!c->kept || c->cancel_fn)
		return FFB_ERR_INVALID_ARGUMENT; /* an inline call is never cancelled while it runs */
	c->cancel_fn = fn;
	c->cancel_ctx = ctx;
	int s = CANCEL_NONE;
	/* Release: fn and ctx before ARMED (the dispatcher acquires it). */
	if (__atomic_compare_exchange_n(&c->cancel, &s, CANCEL_ARMED, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return FFB_OK;
	if (s == CANCEL_DONE)
		fn(ctx); /* cancelled before we asked */
	return FFB_OK;
}

void ffb__call_cancel(ffb_call *c)
{
	__atomic_store_n(&c->cancelled, 1, __ATOMIC_RELEASE);
	int s = __atomic_load_n(&c->cancel, __ATOMIC_ACQUIRE);
	for (;;) {
		int to = s == CANCEL_NONE ? CANCEL_DONE : s == CANCEL_ARMED ? CANCEL_FIRING : -1;
		if (to < 0)
			return; /* done already, or finished: nothing to fire */
		if (!__atomic_compare_exchange_n(&c->cancel, &s, to, true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		if (to == CANCEL_FIRING) {
			c->cancel_fn(c->cancel_ctx);
			__atomic_store_n(&c->cancel, CANCEL_DONE, __ATOMIC_RELEASE);
		}
		return;
	}
}

void ffb__call_run_pooled(struct ffb__job *job)
{
	ffb_call *c = FFB__CONTAINER_OF(job, ffb_call, job);
	struct ffb_server *srv = c->session->srv;
	ffb_status st = FFB_ERR_CANCELLED; /* cancelled before it started: not run */
	if (!ffb_call_cancelled(c)) {
		deferred_here = NULL;
		st = ffb__registry_invoke(srv->reg, c->fn_id, c, true);
		if (deferred_here == c) { /* kept by its callback: c may be gone already */
			deferred_here = NULL;
			ffb__pool_release(&srv->pool);
			return;
		}
	}
	ffb__pool_release(&srv->pool);
	ffb_call_finish(c, st);
}
