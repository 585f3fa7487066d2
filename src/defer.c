/*
 * defer.c — kept calls: a call that outlives the dispatcher's pass that
 * took it off the ring, because it runs on the pool, because its
 * callback kept it (ffb_call_defer) to answer later from any thread, or
 * because it is a stream.
 *
 * A kept call is a heap copy of the call (ffb__call_keep). Whoever holds
 * it may set its reply (or send stream items) and then finishes it,
 * exactly once; the finished call goes onto its dispatcher's post stack
 * (a lock-free MPSC stack: any thread pushes with a CAS, the dispatcher
 * takes them all with one exchange) and the dispatcher, the one producer
 * of the response ring, publishes the answer and frees the call
 * (dispatch.c). The session stays alive while it has kept calls, so a
 * call never outlives its arena.
 *
 * The dispatcher tells the holder about a cancel (a CANCEL entry, the
 * session's end, stop) and about stream credit through callbacks the
 * holder arms (ffb__notify): each fires at most once per arming, never
 * after ffb_call_finish returned -- a small state machine both sides move
 * with CAS, and finish waits for a firing in progress.
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

enum {
	NOTE_IDLE = 0, /* nothing armed */
	NOTE_ARMED,    /* a callback waits for its event */
	NOTE_FIRING,   /* the dispatcher runs it */
	NOTE_REARMED,  /* it runs, and was armed again meanwhile */
	NOTE_CLOSED    /* the call is finished: nothing runs any more */
};

/* The callback this thread runs (note_fire), so that it may arm its note
 * again or finish its call from inside without waiting for itself. */
struct firing {
	struct ffb__notify *n;
	bool closed; /* the callback finished the call: the note may be gone */
};
static __thread struct firing *firing_here;

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
	k->cancelled = 0;
	k->cancel_armed = false;
	k->on_cancel = (struct ffb__notify){0};
	k->on_credit = (struct ffb__notify){0};
	k->items_out = 0;
	k->items_posted = 0;
	k->job.run = ffb__call_run_pooled;
	k->job.next = NULL;
	k->post = (struct ffb__post){.s = c->session, .type = FFB__POST_ANSWER};
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

void ffb__post(struct ffb__dispatcher *d, struct ffb__post *p)
{
	struct ffb__post *head = __atomic_load_n(&d->posts, __ATOMIC_RELAXED);
	do
		p->next = head;
	/* A1: what the post carries before the stack head; pairs with A2.
	 * Seq_cst too: the push before the `parked` load in
	 * ffb__dispatcher_wake (A3, pairs with A4 in park). */
	while (!__atomic_compare_exchange_n(&d->posts, &head, p, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	ffb__dispatcher_wake(d);
}

/* Holder: arm n with fn; if `ready(c)` already holds, run fn now instead.
 * The arming is a seq_cst store before the look at the event, and the
 * dispatcher sets the event before it looks at the state: one of the two
 * sees the other, so an event is never missed. Arming while the callback
 * runs (from inside it, or from the thread it woke) leaves REARMED: the
 * dispatcher looks at the event again once the callback returns. */
static void note_arm(ffb_call *c, struct ffb__notify *n, void (*fn)(void *), void *ctx, bool (*ready)(const ffb_call *))
{
	int s = __atomic_load_n(&n->state, __ATOMIC_ACQUIRE);
	for (;;) {
		if (s == NOTE_FIRING) {
			n->fn = fn; /* the running callback was read before it ran */
			n->ctx = ctx;
			if (__atomic_compare_exchange_n(&n->state, &s, NOTE_REARMED, false, __ATOMIC_SEQ_CST,
							__ATOMIC_ACQUIRE))
				return;
			continue;
		}
		if (s != NOTE_IDLE)
			return; /* armed already, or closed */
		n->fn = fn;
		n->ctx = ctx;
		if (__atomic_compare_exchange_n(&n->state, &s, NOTE_ARMED, false, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
			break;
	}
	s = NOTE_ARMED;
	if (ready(c) && __atomic_compare_exchange_n(&n->state, &s, NOTE_IDLE, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		fn(ctx); /* took it back before the dispatcher did: ours to run */
}

/* Dispatcher: the event of n happened (already set); run its callback if
 * one is armed -- again while it re-arms with its event holding. Events
 * come on the dispatcher only, so none comes between the last look and
 * the return to ARMED. */
static void note_fire(ffb_call *c, struct ffb__notify *n, bool (*ready)(const ffb_call *))
{
	int s = NOTE_ARMED;
	if (!__atomic_compare_exchange_n(&n->state, &s, NOTE_FIRING, false, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
		return;
	for (;;) {
		struct firing f = {.n = n}, *outer = firing_here;
		firing_here = &f;
		n->fn(n->ctx);
		firing_here = outer;
		if (f.closed)
			return; /* finished from inside: c may be gone */
		s = NOTE_FIRING;
		if (__atomic_compare_exchange_n(&n->state, &s, NOTE_IDLE, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return;
		/* REARMED (or CLOSED by a finish on another thread, which waits) */
		if (s == NOTE_REARMED && ready(c)) {
			__atomic_store_n(&n->state, NOTE_FIRING, __ATOMIC_SEQ_CST);
			continue;
		}
		if (s == NOTE_REARMED)
			__atomic_store_n(&n->state, NOTE_ARMED, __ATOMIC_SEQ_CST);
		return;
	}
}

/* Holder, at finish: no callback runs after this returns. A finish from
 * inside the running callback closes at once (note_fire then leaves the
 * note alone); one from elsewhere waits for the callback to end. */
static void note_close(struct ffb__notify *n)
{
	int s = __atomic_load_n(&n->state, __ATOMIC_ACQUIRE);
	for (;;) {
		bool running = s == NOTE_FIRING || s == NOTE_REARMED;
		if (running && !(firing_here && firing_here->n == n)) {
			ffb_cpu_relax(); /* let the running callback end first */
			s = __atomic_load_n(&n->state, __ATOMIC_ACQUIRE);
			continue;
		}
		if (__atomic_compare_exchange_n(&n->state, &s, NOTE_CLOSED, true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			if (running)
				firing_here->closed = true;
			return;
		}
	}
}

void ffb_call_finish(ffb_call *c, ffb_status status)
{
	if (!c)
		return;
	if (!c->kept) {
		ffb__log(FFB_LOG_ERROR, "ffb_call_finish on a call that was not kept (ffb_call_defer): ignored");
		return;
	}
	if (status == FFB_ERR_NOT_FOUND && !c->error_msg)
		ffb_call_set_error(c, FFB__OWN_NOT_FOUND); /* not "no such function": no lookup again */
	ffb__call_finish(c, status);
}

void ffb__call_finish(ffb_call *c, ffb_status status)
{
	note_close(&c->on_cancel);
	note_close(&c->on_credit);
	c->status = status;
	ffb__post(c->session->disp, &c->post);
}

int ffb_call_cancelled(const ffb_call *c)
{
	return c && __atomic_load_n(&c->cancelled, __ATOMIC_ACQUIRE);
}

static bool is_cancelled(const ffb_call *c)
{
	return ffb_call_cancelled(c);
}

ffb_status ffb_call_on_cancel(ffb_call *c, void (*fn)(void *ctx), void *ctx)
{
	if (!c || !fn)
		return FFB_ERR_NULL_POINTER;
	if (!c->kept || c->cancel_armed)
		return FFB_ERR_INVALID_ARGUMENT; /* an inline call is never cancelled while it runs */
	c->cancel_armed = true;
	note_arm(c, &c->on_cancel, fn, ctx, is_cancelled);
	return FFB_OK;
}

static bool credit_or_cancel(const ffb_call *c)
{
	return ffb_call_credit(c) > 0 || ffb_call_cancelled(c);
}

ffb_status ffb_call_on_credit(ffb_call *c, void (*fn)(void *ctx), void *ctx)
{
	if (!c || !fn)
		return FFB_ERR_NULL_POINTER;
	if (!c->kept || !c->stream)
		return FFB_ERR_INVALID_ARGUMENT;
	note_arm(c, &c->on_credit, fn, ctx, credit_or_cancel);
	return FFB_OK;
}

void ffb__call_cancel(ffb_call *c)
{
	/* The flag before the look at the arming (note_fire's seq_cst CAS). */
	__atomic_store_n(&c->cancelled, 1, __ATOMIC_SEQ_CST);
	note_fire(c, &c->on_cancel, is_cancelled);
	note_fire(c, &c->on_credit, credit_or_cancel); /* a producer waiting for credit learns it is over */
}

void ffb__call_credit(ffb_call *c, uint32_t n)
{
	uint32_t old = __atomic_load_n(&c->credit, __ATOMIC_RELAXED), want;
	do /* saturating: a client granting without end gets no wrap */
		want = old > UINT32_MAX - n ? UINT32_MAX : old + n;
	while (!__atomic_compare_exchange_n(&c->credit, &old, want, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	note_fire(c, &c->on_credit, credit_or_cancel);
}

void ffb__call_nudge(ffb_call *c)
{
	note_fire(c, &c->on_credit, credit_or_cancel);
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
	if (st == FFB__NO_FUNCTION) /* unregistered while it waited: not run */
		ffb__call_finish(c, FFB_ERR_NOT_FOUND);
	else
		ffb_call_finish(c, st);
}
