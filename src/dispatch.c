/*
 * dispatch.c — the server's hot path (here "dispatch" serves requests;
 * the Go client's dispatch.go routes responses): drain one session's
 * request ring, validate every entry (read once, PROTOCOL.md §5), run
 * inline callbacks, hand pooled ones to the workers, push results, and
 * ring the client's bell only when it asked. And the other half of a
 * kept call's life: publish its answer when it is finished.
 *
 * A violation fails the session closed (the dispatcher stops serving it,
 * the control thread says goodbye PROTOCOL and disconnects) and touches
 * nothing else. A full response ring is not a violation by itself:
 * the session waits (`blocked`) until the client consumes: its
 * dispatcher looks again when the client publishes a request, and on a
 * timer that backs off from 1 ms to BLOCKED_MAX_NS while it stays full,
 * so a client that stopped consuming costs a few wake-ups a second. A kept call
 * holds one response slot back (`reserved`) from the moment it is taken,
 * so its answer always finds room, whenever it comes.
 *
 * Fairness: a session's pass ends after BATCH entries or once its inline
 * callbacks used inline_budget_ns; an inline callback over that budget is
 * counted and logged; pooled calls wait in their session's list and are
 * handed to free workers round-robin over the sessions.
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

#define BATCH 64 /* entries (or calls) per session per pass */
#define BLOCKED_MIN_NS 1000000ull    /* first look again at a full response ring after 1 ms */
#define BLOCKED_MAX_NS 128000000ull  /* then doubling, up to this */

static void violation(struct ffb__session *s, const char *what)
{
	FFB__STAT_ADD(s->disp->stats.protocol_errors, 1);
	ffb__log(FFB_LOG_WARN, "session %llu: protocol violation: %s", (unsigned long long)s->id, what);
	ffb__dispatcher_fail(s);
}

/* Resolve a request's input block: 0/0, or a client block with len <= its
 * size. False on a violation. */
static bool input_block(struct ffb__session *s, uint64_t handle, uint32_t len, ffb_call *call)
{
	if (handle == 0) {
		call->in_data = NULL;
		call->in_capacity = 0;
		return len == 0;
	}
	uint32_t k, i;
	if (ffb__heap_check(&s->client_heap, handle, &k, &i) != FFB_OK)
		return false;
	call->in_capacity = s->client_heap.cls[k].block_size;
	if (len > call->in_capacity)
		return false;
	call->in_data = ffb__heap_at(&s->client_heap, k, i);
	call->in_handle = handle;
	return true;
}

static void push_result(struct ffb__session *s, uint64_t call_id, ffb_status st, uint64_t handle, uint32_t len)
{
	struct ffb_ring_entry r = {.call_id = call_id,
				   .handle = handle,
				   .len = len,
				   .kind = FFB_KIND_RESULT,
				   .fn_or_status = (uint32_t)st};
	ffb_ring_prod_push(&s->resp, &r);
}

/* A finished call as the wire says it: server blocks go OWNED -> LENT,
 * an error's message is copied into a new block. */
static struct ffb_vec_call wire_result(struct ffb__session *s, ffb_call *call, ffb_status st)
{
	uint64_t handle = call->reply_handle;
	uint32_t len = call->reply_len;
	bool server_block = handle && handle != call->in_handle;
	if (st == FFB_OK && !server_block)
		return (struct ffb_vec_call){handle, len, FFB_OK}; /* the fast path: nothing to move */
	if (st != FFB_OK) {
		if (server_block)
			ffb__sheap_free(s, handle, FFB__BLOCK_OWNED);
		handle = 0;
		len = 0;
		server_block = false;
		if (call->error_msg) {
			void *dst;
			uint32_t n = (uint32_t)strlen(call->error_msg);
			if (ffb__sheap_alloc(s, n, &handle, &dst) == FFB_OK) {
				memcpy(dst, call->error_msg, n);
				len = n;
				server_block = true;
			}
		}
	}
	if (server_block)
		ffb__sheap_lend(s, handle);
	return (struct ffb_vec_call){handle, len, (uint32_t)st};
}

void ffb__session_mark_dirty(struct ffb__session *s)
{
	if (s->dirty)
		return;
	s->dirty = true;
	s->dirty_next = s->disp->dirty;
	s->disp->dirty = s;
}

/* Track a kept call on its session until it is answered. */
static void keep(struct ffb__session *s, ffb_call *k)
{
	ffb__list_add_tail(&s->calls, &k->link);
	FFB__STAT_ADD(s->disp->stats.calls_in_flight, 1);
}

/* The RESULT of kept call c (its slot is held back): at once, or, for a
 * stream with items still waiting for the ring, behind them. */
static void push_kept_result(struct ffb__session *s, const ffb_call *c, const struct ffb_vec_call *r)
{
	struct ffb_ring_entry e = {.call_id = c->call_id, .handle = r->handle, .len = r->len,
				   .kind = FFB_KIND_RESULT, .fn_or_status = r->fn_or_status};
	if (c->stream && s->out_n && ffb__out_push(s, &e, NULL, true))
		return;
	ffb_ring_prod_push(&s->resp, &e);
	s->reserved--;
}

/* The input block of a call that gets no RESULT (a notification) goes
 * back with a RELEASE. */
static void release_input(struct ffb__session *s, uint64_t handle)
{
	struct ffb_ring_entry e = {.handle = handle, .kind = FFB_KIND_RELEASE};
	if (handle && !s->cut)
		ffb__out_push(s, &e, NULL, false);
}

/* Publish the answer of kept call c (finished, or cancelled before it
 * reached a worker) and free it. Dispatcher only. */
static void answer(struct ffb__session *s, ffb_call *c)
{
	struct ffb__dispatcher *d = s->disp;
	ffb__list_del(&c->link);
	FFB__STAT_ADD(d->stats.calls_in_flight, (uint64_t)-1);
	ffb__stat_call(d, c->fn_id, (uint32_t)c->status, c->ran, ffb__ticks() - c->t0);
	if (c->deferred)
		FFB__STAT_ADD(d->stats.deferred_calls, 1);
	struct ffb__vcall *v = c->vec;
	if (!s->cut && c->notify) {
		wire_result(s, c, FFB_ERR_CANCELLED); /* frees what it had set: nobody reads it */
		release_input(s, c->in_handle);
	} else if (!s->cut) {
		/* A call cancelled because the session is going (stop, or the
		 * client hung up) tells the client so, not that it cancelled. */
		ffb_status st = c->status == FFB_ERR_CANCELLED && s->serving == FFB__DETACHING ? FFB_ERR_CLOSED : c->status;
		struct ffb_vec_call r = wire_result(s, c, st);
		if (v)
			v->rec[c->rec] = r; /* B1: before the CALLV's RESULT (S1) */
		else
			push_kept_result(s, c, &r);
	}
	if (v && --v->remaining == 0) {
		if (!s->cut) {
			push_result(s, v->call_id, FFB_OK, v->handle, v->len);
			s->reserved--;
		}
		free(v);
	}
	ffb__session_mark_dirty(s); /* even when cut: its last answer may let it detach */
	free(c);
}

/* Publish what answer() pushed, ring the clients that sleep, and let go
 * of sessions that were waiting only for their calls. */
void ffb__dispatch_publish(struct ffb__dispatcher *d)
{
	struct ffb__session *s = d->dirty, *next;
	d->dirty = NULL;
	for (; s; s = next) {
		next = s->dirty_next;
		s->dirty = false;
		if (s->out_n && !s->cut)
			ffb__out_flush(s);
		if (!s->cut && ffb_ring_prod_publish(&s->resp))
			ffb__session_ring_client(s);
		ffb__dispatcher_maybe_detached(s); /* may free s: last */
	}
}

void ffb__dispatch_posts(struct ffb__dispatcher *d)
{
	/* A2: everything on the stack before our reads of it; pairs with A1 */
	struct ffb__post *p = __atomic_exchange_n(&d->posts, NULL, __ATOMIC_ACQUIRE), *fifo = NULL, *next;
	if (!p)
		return;
	for (; p; p = next) { /* the stack is last-in first-out: one producer's posts in its order */
		next = p->next;
		p->next = fifo;
		fifo = p;
	}
	for (p = fifo; p; p = next) {
		next = p->next;
		switch (p->type) {
		case FFB__POST_ANSWER: answer(p->s, FFB__CONTAINER_OF(p, ffb_call, post)); break;
		case FFB__POST_ITEM: ffb__stream_item(p); break;
		case FFB__POST_SCALL:
			FFB__STAT_ADD(d->stats.server_calls, 1);
			ffb__scall_post(p);
			break;
		default: ffb__scall_ctl(p); break;
		}
	}
	ffb__dispatch_publish(d);
}

void ffb__dispatch_feed_pool(struct ffb__dispatcher *d)
{
	struct ffb__pool *p = &d->srv->pool;
	while (!ffb__list_empty(&d->wanting)) {
		if (!ffb__pool_reserve(p)) {
			/* A5: say we starve before the last try; pairs with A6 (pool.c) */
			__atomic_store_n(&d->starved, 1, __ATOMIC_SEQ_CST);
			if (!ffb__pool_reserve(p))
				return; /* the next free worker wakes us */
		}
		struct ffb__session *s = FFB__CONTAINER_OF(d->wanting.next, struct ffb__session, want_link);
		ffb_call *c = FFB__CONTAINER_OF(s->waiting.next, ffb_call, wait_link);
		ffb__list_del(&c->wait_link);
		ffb__list_del(&s->want_link);
		FFB__STAT_ADD(d->stats.pool_waiting, (uint64_t)-1);
		if (!ffb__list_empty(&s->waiting)) /* round-robin: its next call after the others' */
			ffb__list_add_tail(&d->wanting, &s->want_link);
		ffb__pool_submit(p, &c->job);
	}
	__atomic_store_n(&d->starved, 0, __ATOMIC_RELAXED);
}

static void wait_for_worker(struct ffb__session *s, ffb_call *k)
{
	ffb__list_add_tail(&s->waiting, &k->wait_link);
	if (ffb__list_empty(&s->want_link))
		ffb__list_add_tail(&s->disp->wanting, &s->want_link);
	FFB__STAT_ADD(s->disp->stats.pooled_calls, 1);
	FFB__STAT_ADD(s->disp->stats.pool_waiting, 1);
}

static void cancel_call(struct ffb__session *s, ffb_call *c)
{
	if (!ffb__list_empty(&c->wait_link)) { /* no worker has it yet: answer it now */
		ffb__list_del(&c->wait_link);
		FFB__STAT_ADD(s->disp->stats.pool_waiting, (uint64_t)-1);
		if (ffb__list_empty(&s->waiting))
			ffb__list_del(&s->want_link);
		__atomic_store_n(&c->cancelled, 1, __ATOMIC_RELAXED);
		c->status = FFB_ERR_CANCELLED;
		answer(s, c);
		return;
	}
	ffb__call_cancel(c);
}

void ffb__session_cancel_calls(struct ffb__session *s)
{
	struct ffb__list *pos, *tmp;
	FFB__LIST_FOR_EACH_SAFE(pos, tmp, &s->calls)
	cancel_call(s, FFB__CONTAINER_OF(pos, ffb_call, link));
}

enum started { STARTED_BAD, STARTED_DONE, STARTED_KEPT };

/* A stream call is always kept (its items and its end go through the
 * post stack in order): run its callback on the heap call, inline or on
 * the pool; one that returns without keeping it has ended the stream. */
static enum started start_stream(struct ffb__session *s, const ffb_call *call, ffb_call **kept)
{
	ffb_call *k = ffb__call_keep(call);
	if (!k)
		return STARTED_BAD;
	k->stream = true;
	k->credit = FFB_STREAM_INITIAL_CREDIT;
	if (!k->t0)
		k->t0 = ffb__ticks(); /* its latency is taken when it ends */
	keep(s, k);
	*kept = k;
	ffb_status st = ffb__registry_invoke_inside(s->srv->reg, k->fn_id, k, NULL);
	if (st == FFB__POOLED)
		wait_for_worker(s, k);
	else if (st == FFB__NO_FUNCTION) {
		k->ran = false;
		ffb__call_finish(k, FFB_ERR_NOT_FOUND);
	}
	else if (!k->deferred) /* k is freed only by us, later: safe to look */
		ffb_call_finish(k, st);
	return STARTED_KEPT;
}

/* An inline call (or a CALLV's inline records, one function) that took
 * `ticks`: counted and logged once per function past the inline budget. */
static void note_budget(struct ffb__session *s, uint32_t fn, uint64_t ticks)
{
	if (ticks <= s->srv->budget_ticks)
		return;
	FFB__STAT_ADD(s->disp->stats.slow_inline_calls, 1);
	ffb__registry_note_slow(s->srv->reg, fn, ffb__ns_from_ticks(ticks));
}

/* Start call fn on input (handle, len) of a CALL or of record `rec` of a
 * CALLV: run it inline (its result in *out), or keep it (*kept: pooled,
 * deferred by its callback, or a stream). *now is the tick the call
 * starts at; a timed call reads the clock when it ends (the inline budget
 * and its latency in the stats) and sets *now to it. An untimed one (a
 * record of a CALLV timed as a whole) leaves both to its caller and sets
 * *ran: whether a function ran. STARTED_BAD: a bad input handle or
 * length. A notification's result is dropped here (*out holds only its
 * status). */
static enum started start_call(struct ffb__session *s, uint64_t call_id, uint32_t rec, uint32_t fn,
			       uint64_t handle, uint32_t len, uint64_t *now, bool timed, bool *ran,
			       struct ffb_vec_call *out, ffb_call **kept)
{
	ffb_call call;
	call.session = s;
	call.fn_id = fn;
	call.in_handle = 0;
	call.in_len = len;
	call.reply_handle = 0;
	call.reply_len = 0;
	call.error_msg = NULL;
	call.call_id = call_id;
	call.vec = NULL;
	call.rec = rec;
	call.kept = false;
	call.deferred = false;
	call.stream = false;
	call.notify = FFB_CALL_KIND(call_id) == FFB_ID_NOTIFY;
	call.credit = 0;
	call.moved_to = NULL;
	call.ran = true;
	call.t0 = *now;
	if (!input_block(s, handle, len, &call))
		return STARTED_BAD;
	if (FFB_CALL_KIND(call_id) == FFB_ID_STREAM)
		return start_stream(s, &call, kept);
	struct ffb_server *srv = s->srv;
	/* call.t0 is *now (0: not read yet in this batch); a deferring
	 * callback's copy carries the tick it started at */
	ffb_status st = ffb__registry_invoke_inside(srv->reg, fn, &call, timed ? &call.t0 : NULL);
	uint64_t t0 = timed ? call.t0 : 0; /* 0: not timed (a built-in, or a CALLV's record) */
	if (st == FFB__NO_FUNCTION) {
		st = FFB_ERR_NOT_FOUND; /* with no message: the client may look again */
		call.ran = false;
	}
	else if (st == FFB_ERR_NOT_FOUND && !call.moved_to && !call.error_msg)
		ffb_call_set_error(&call, FFB__OWN_NOT_FOUND);
	if (st == FFB__POOLED) {
		if (!call.t0)
			call.t0 = ffb__ticks(); /* its latency is taken when it is answered */
		ffb_call *k = ffb__call_keep(&call);
		if (!k) {
			*out = (struct ffb_vec_call){0, 0, FFB_ERR_SYSTEM};
			return STARTED_DONE;
		}
		keep(s, k);
		wait_for_worker(s, k);
		*kept = k;
		return STARTED_KEPT;
	}
	uint64_t end = 0;
	if (timed && t0) { /* not a built-in: timed */
		end = ffb__ticks();
		note_budget(s, fn, end - t0);
		*now = end;
	}
	*ran = call.ran;
	if (call.moved_to) { /* its callback kept it */
		keep(s, call.moved_to);
		*kept = call.moved_to;
		return STARTED_KEPT;
	}
	if (call.notify) {
		if (call.reply_handle && call.reply_handle != call.in_handle)
			ffb__sheap_free(s, call.reply_handle, FFB__BLOCK_OWNED);
		*out = (struct ffb_vec_call){0, 0, (uint32_t)st};
	} else {
		*out = wire_result(s, &call, st);
	}
	if (timed)
		ffb__stat_call(s->disp, fn, out->fn_or_status, call.ran, t0 ? end - t0 : FFB__UNTIMED);
	return STARTED_DONE;
}

static bool do_call(struct ffb__session *s, const struct ffb_ring_entry *e, uint64_t *now)
{
	struct ffb_vec_call r;
	ffb_call *k;
	if (!FFB_CALL_ID_VALID(e->call_id) || FFB_CALL_DIR(e->call_id) != FFB_ID_FROM_CLIENT)
		return false;
	bool notify = FFB_CALL_KIND(e->call_id) == FFB_ID_NOTIFY, ran;
	switch (start_call(s, e->call_id, 0, e->fn_or_status, e->handle, e->len, now, true, &ran, &r, &k)) {
	case STARTED_BAD: return false;
	case STARTED_KEPT:
		if (!notify)
			s->reserved++;
		return true;
	case STARTED_DONE: break;
	}
	if (notify)
		release_input(s, e->handle);
	else
		push_result(s, e->call_id, (ffb_status)r.fn_or_status, r.handle, r.len);
	return true;
}

/* A plain call id of the client's: what CALLV, LOOKUP, CANCEL and CREDIT
 * name. */
static bool client_id(uint64_t id, uint32_t kind)
{
	return FFB_CALL_ID_VALID(id) && FFB_CALL_DIR(id) == FFB_ID_FROM_CLIENT && FFB_CALL_KIND(id) == kind;
}

/* A block is lent to one call at a time (PROTOCOL.md §5.4): no two
 * records of a CALLV may name the same block (whatever the generations
 * say: the server cannot see them), and none the vector block. Its blocks
 * go into a small open-addressing table by (class, index); each CALLV
 * marks its entries with a number of its own, so nothing is cleared. */
static void lent_begin(struct ffb__dispatcher *d)
{
	if (++d->lent_gen == 0) {
		memset(d->lent_mark, 0, sizeof(d->lent_mark));
		d->lent_gen = 1;
	}
}

/* False if the CALLV lends this client block already. */
static bool lent_once(struct ffb__dispatcher *d, uint64_t handle)
{
	uint32_t key = (uint32_t)(handle & ((1ull << FFB_HANDLE_HEAP_SHIFT) - 1)) + 1; /* class, index */
	uint32_t i = (key * 0x9E3779B1u) >> 25; /* 7 bits: FFB__LENT_SLOTS */
	while (d->lent_mark[i] == d->lent_gen) {
		if (d->lent_key[i] == key)
			return false;
		i = (i + 1) & (FFB__LENT_SLOTS - 1);
	}
	d->lent_mark[i] = d->lent_gen;
	d->lent_key[i] = key;
	return true;
}

/* A CALLV: the calls of the vector block in (handle, len), each result
 * written over its request; then one RESULT naming the vector block (zero
 * copy) -- at once, or when its last kept record is answered. Inline
 * records run here, in order; pooled ones go to the workers, so the entry
 * holds the dispatcher no longer than its inline records take. Each
 * request is read once (R1) before use. */
static bool do_callv(struct ffb__session *s, const struct ffb_ring_entry *e, uint32_t *ncalls, uint64_t *now)
{
	ffb_call vec = {0};
	uint32_t n = e->len / FFB_VEC_CALL_SIZE;
	if (!client_id(e->call_id, FFB_ID_ONCE) || e->fn_or_status != 0 || e->handle == 0 || n == 0 || n > FFB_MAX_VEC_CALLS ||
	    e->len % FFB_VEC_CALL_SIZE || !input_block(s, e->handle, e->len, &vec))
		return false;
	struct ffb_vec_call *v = (struct ffb_vec_call *)vec.in_data;
	for (uint32_t i = 0; i < n; i += 64 / FFB_VEC_CALL_SIZE) /* the client wrote them: overlap the misses */
		ffb_prefetch_write(&v[i]);
	struct ffb__vcall *agg = malloc(sizeof(*agg));
	if (!agg) {
		for (uint32_t i = 0; i < n; i++)
			v[i] = (struct ffb_vec_call){0, 0, FFB_ERR_SYSTEM};
		push_result(s, e->call_id, FFB_OK, e->handle, e->len);
		return true;
	}
	*agg = (struct ffb__vcall){.call_id = e->call_id, .handle = e->handle, .len = e->len, .rec = v};
	struct ffb__dispatcher *d = s->disp;
	lent_begin(d);
	lent_once(d, e->handle);
	bool ok = true;
	/* One clock read for the vector's inline records, not one each (a
	 * read costs tens of ns on some VMs: as much as a record's call). They
	 * share the vector's time in the stats; one over the inline budget is
	 * the function's if it was the only one, else the next vectors are
	 * timed record by record to find which (time_records). */
	bool timed = d->time_records > 0;
	if (timed)
		d->time_records--;
	if (!timed && !*now)
		*now = ffb__ticks();
	uint64_t start = *now;
	struct {
		uint32_t fn, status;
		bool ran;
	} done[FFB_MAX_VEC_CALLS]; /* the inline records, from our private copies */
	uint32_t ndone = 0;
	bool one_fn = true;
	for (uint32_t i = 0; i < n && ok; i++) {
		struct ffb_vec_call rq = {FFB_READ_ONCE(v[i].handle), FFB_READ_ONCE(v[i].len),
					  FFB_READ_ONCE(v[i].fn_or_status)};
		struct ffb_vec_call r;
		ffb_call *k;
		bool ran;
		if (rq.handle && (FFB_HANDLE_HEAP(rq.handle) != FFB_HEAP_CLIENT || !lent_once(d, rq.handle))) {
			ok = false; /* lent twice (or not a client block: input_block would say so too) */
			break;
		}
		switch (start_call(s, e->call_id, i, rq.fn_or_status, rq.handle, rq.len, now, timed, &ran, &r, &k)) {
		case STARTED_BAD: ok = false; break;
		case STARTED_KEPT:
			k->vec = agg;
			agg->remaining++;
			break;
		case STARTED_DONE:
			v[i] = r;
			one_fn = one_fn && (ndone == 0 || rq.fn_or_status == done[0].fn);
			done[ndone++] = (typeof(done[0])){rq.fn_or_status, r.fn_or_status, ran};
			break;
		}
	}
	if (!timed && ndone) {
		uint64_t end = ffb__ticks(), each = (end - start) / ndone;
		*now = end;
		if (end - start > s->srv->budget_ticks) {
			if (one_fn)
				note_budget(s, done[0].fn, end - start);
			else
				d->time_records = 8;
		}
		for (uint32_t i = 0; i < ndone; i++)
			ffb__stat_call(d, done[i].fn, done[i].status, done[i].ran, each);
	}
	*ncalls += n;
	if (agg->remaining) {
		s->reserved++; /* the RESULT waits for the kept records */
		return ok;
	}
	free(agg);
	if (ok)
		push_result(s, e->call_id, FFB_OK, e->handle, e->len);
	return ok;
}

static bool do_lookup(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	ffb_call call = {0};
	if (!client_id(e->call_id, FFB_ID_ONCE) || e->handle == 0 || e->len == 0 || e->len > FFB_MAX_NAME_LEN ||
	    !input_block(s, e->handle, e->len, &call))
		return false;
	/* R1: copy the name out once; the client may rewrite it meanwhile. */
	char name[FFB_MAX_NAME_LEN + 1];
	memcpy(name, call.in_data, e->len);
	name[e->len] = 0;
	uint32_t id = 0;
	ffb_status st = ffb__registry_find(s->srv->reg, name, e->len, &id);
	push_result(s, e->call_id, st, 0, st == FFB_OK ? id : 0); /* OK: the id in len */
	return true;
}

static bool do_release(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	if (e->call_id || e->len || e->fn_or_status)
		return false;
	/* Only a block we lent and the client still holds may come back. */
	return ffb__sheap_free(s, e->handle, FFB__BLOCK_LENT) == FFB_OK;
}

/* CANCEL: the client gave up on a call. Only this session's kept calls
 * are looked at; an unknown or finished id is harmless. */
static bool do_cancel(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	if (!FFB_CALL_ID_VALID(e->call_id) || FFB_CALL_DIR(e->call_id) != FFB_ID_FROM_CLIENT || e->handle || e->len ||
	    e->fn_or_status)
		return false;
	FFB__STAT_ADD(s->disp->stats.cancels, 1);
	struct ffb__list *pos, *tmp;
	FFB__LIST_FOR_EACH_SAFE(pos, tmp, &s->calls)
	{
		ffb_call *c = FFB__CONTAINER_OF(pos, ffb_call, link);
		if (c->call_id == e->call_id)
			cancel_call(s, c);
	}
	return true;
}

/* CREDIT: the client's stream call may get `len` more items. One for a
 * stream that is over is harmless. */
static bool do_credit(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	if (!client_id(e->call_id, FFB_ID_STREAM) || e->handle || e->fn_or_status || e->len == 0 ||
	    e->len > FFB_MAX_CREDIT)
		return false;
	ffb_call *c = ffb__session_find_call(s, e->call_id);
	if (c && c->stream)
		ffb__call_credit(c, e->len);
	return true;
}

/* An answer (RESULT, ITEM) the client sends to one of the server's calls. */
static bool do_answer(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	if (FFB_CALL_DIR(e->call_id) != FFB_ID_FROM_SERVER)
		return false; /* a RESULT or ITEM for the client's own call: only the server sends those */
	return e->kind == FFB_KIND_RESULT ? ffb__scall_result(s, e) : ffb__scall_item(s, e);
}

/* The session found its response ring too full to take what is ready:
 * when to look again. Retries are at multiples of their interval, so
 * every session blocked as long shares its dispatcher's wake-ups. */
static void set_blocked(struct ffb__session *s)
{
	uint64_t now = ffb__now_ns();
	if (!s->blocked)
		s->backoff_ns = BLOCKED_MIN_NS;
	else if (now < s->retry_at)
		return;
	else if (s->backoff_ns < BLOCKED_MAX_NS)
		s->backoff_ns *= 2;
	s->blocked = true;
	s->retry_at = (now / s->backoff_ns + 1) * s->backoff_ns;
}

bool ffb__session_has_room(struct ffb__session *s)
{
	int free_slots = ffb_ring_prod_free(&s->resp, s->reserved + 1);
	return free_slots == FFB_RING_CORRUPT || free_slots > (int)s->reserved;
}

/* Serve up to BATCH requests: as many as are ready and have room for
 * their result (each request has at most one; kept calls hold theirs
 * back), so the loop checks neither ring again per entry. */
bool ffb__session_service(struct ffb__session *s)
{
	int ready = ffb_ring_cons_ready(&s->req); /* a bad tail is found at park */
	if (ready == 0)
		return false;
	/* After ready()'s acquire of the stamps: a request the client made
	 * after it saw the session closed is never served. */
	if (__atomic_load_n(&s->closing, __ATOMIC_ACQUIRE))
		return false;
	int free_slots = ffb_ring_prod_free(&s->resp, (uint32_t)ready + s->reserved);
	if (free_slots == FFB_RING_CORRUPT) {
		violation(s, "response ring head out of range");
		return true;
	}
	int room = free_slots - (int)s->reserved;
	if (room < 0)
		room = 0; /* a client that moved its head back: it only stalls itself */
	uint32_t n = (uint32_t)(ready < room ? ready : room);
	if (n > BATCH)
		n = BATCH;
	if (room < ready && room < BATCH) { /* full before the batch is done */
		if (n)
			s->blocked = false; /* the client made room: start the back-off again */
		set_blocked(s);
	} else {
		s->blocked = false;
	}
	if (n == 0)
		return false;
	ffb_ring_cons_prefetch_batch(&s->req);
	if (n > 1) /* a lone call's client is polling the first free slot: leave it be */
		ffb_ring_prod_prefetch_batch(&s->resp);
	bool ok = true;
	uint32_t done = 0, calls = 0;
	ffb__registry_enter(&s->disp->reader); /* the batch's inline callbacks run inside */
	/* The clock is read lazily: a batch of built-in calls reads none.
	 * `start` is the first tick read, the batch's budget counted from it. */
	uint64_t start = 0, now = 0, budget = s->srv->budget_ticks;
	while (done < n && ok && calls < BATCH && (!start || now - start <= budget)) { /* a CALLV counts its calls */
		struct ffb_ring_entry e;
		ffb_ring_cons_pop(&s->req, &e);
		/* The slot goes back before its result can be seen (S1 orders
		 * the head store first): a client that has every answer never
		 * finds its request ring still full. */
		ffb_ring_cons_release(&s->req);
		done++;
		switch (e.kind) {
		case FFB_KIND_CALL:
			ok = do_call(s, &e, &now);
			calls += ok;
			break;
		case FFB_KIND_CALLV: ok = do_callv(s, &e, &calls, &now); break;
		case FFB_KIND_LOOKUP: ok = do_lookup(s, &e); break;
		case FFB_KIND_RELEASE: ok = do_release(s, &e); break;
		case FFB_KIND_CANCEL: ok = do_cancel(s, &e); break;
		case FFB_KIND_CREDIT: ok = do_credit(s, &e); break;
		case FFB_KIND_RESULT:
		case FFB_KIND_ITEM: ok = do_answer(s, &e); break;
		default: ok = false;
		}
		if (!start)
			start = now;
	}
	ffb__registry_leave(&s->disp->reader);
	FFB__STAT_ADD(s->disp->stats.calls, calls);
	if (!ok) {
		violation(s, "bad request entry");
		return true;
	}
	if (ffb_ring_prod_publish(&s->resp))
		ffb__session_ring_client(s);
	if (!ffb__list_empty(&s->disp->wanting))
		ffb__dispatch_feed_pool(s->disp);
	return true;
}
