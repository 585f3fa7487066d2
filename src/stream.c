/*
 * stream.c — a session's outgoing queue, and stream calls from the
 * client: items and credit.
 *
 * Entries the server sends that are not the answer to a request it just
 * took -- stream ITEMs, its own CALLs, LOOKUPs, CANCELs and CREDITs to
 * the client, RELEASEs of client blocks -- wait in the session's outgoing
 * queue (FIFO, dispatcher only) until the response ring has room beyond
 * the slots kept calls hold back (`reserved`). A stream's final RESULT
 * joins the queue behind its items, so it never overtakes them.
 *
 * A stream callback sends items with ffb_call_item from any thread: each
 * takes one unit of the client's credit, is copied into a server block
 * and posted to the dispatcher, which queues it. The items a session may
 * have waiting for the ring are bounded (the ring's size), so a client
 * that grants credit without end cannot make the server queue without
 * end: past that bound the producer is told WOULD_BLOCK as if it had no
 * credit, and its credit callback fires when the queue drains.
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

struct ffb__item_post {
	struct ffb__post post;
	ffb_call *call;
	uint64_t handle;        /* server block (OWNED) or 0 */
	uint32_t len;
};

int ffb_call_is_stream(const ffb_call *c)
{
	return c && c->stream;
}

/* Items of c waiting anywhere short of the ring, against this bound. */
static uint32_t waiting_bound(const ffb_call *c)
{
	return c->session->sb.resp_ring_entries;
}

uint32_t ffb_call_credit(const ffb_call *c)
{
	if (!c || !c->stream)
		return 0;
	uint32_t credit = __atomic_load_n(&c->credit, __ATOMIC_ACQUIRE);
	uint32_t waiting = __atomic_load_n(&c->items_out, __ATOMIC_ACQUIRE), bound = waiting_bound(c);
	uint32_t room = waiting >= bound ? 0 : bound - waiting;
	return credit < room ? credit : room;
}

/* Dispatcher: item (handle, len) of stream call c goes into the outgoing
 * queue, or is dropped if nobody wants it any more. */
static void queue_item(struct ffb__session *s, ffb_call *c, uint64_t handle, uint32_t len)
{
	struct ffb_ring_entry e = {.call_id = c->call_id, .handle = handle, .len = len, .kind = FFB_KIND_ITEM};
	bool queued = false;
	FFB__STAT_ADD(s->disp->stats.stream_items, 1);
	if (!s->cut && !ffb_call_cancelled(c)) {
		if (handle)
			ffb__sheap_lend(s, handle); /* the client's until it RELEASEs it */
		queued = ffb__out_push(s, &e, c, false);
		if (!queued && handle)
			ffb__sheap_free(s, handle, FFB__BLOCK_LENT);
	} else if (handle) {
		ffb__sheap_free(s, handle, FFB__BLOCK_OWNED); /* nobody wants it any more */
	}
	if (!queued)
		__atomic_fetch_sub(&c->items_out, 1, __ATOMIC_ACQ_REL);
	ffb__session_mark_dirty(s);
}

ffb_status ffb_call_item(ffb_call *c, const void *data, uint32_t len)
{
	if (!c)
		return FFB_ERR_NULL_POINTER;
	if (!c->stream || !c->kept)
		return FFB_ERR_INVALID_ARGUMENT;
	if (len && !data)
		return FFB_ERR_NULL_POINTER;
	if (ffb_call_cancelled(c))
		return FFB_ERR_CANCELLED;
	if (__atomic_load_n(&c->items_out, __ATOMIC_ACQUIRE) >= waiting_bound(c))
		return FFB_ERR_WOULD_BLOCK;
	uint32_t credit = __atomic_load_n(&c->credit, __ATOMIC_ACQUIRE);
	do
		if (credit == 0)
			return FFB_ERR_WOULD_BLOCK;
	while (!__atomic_compare_exchange_n(&c->credit, &credit, credit - 1, true, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE));
	/* On the session's dispatcher (a credit callback) the item is queued
	 * in place -- unless items posted from another thread are still on
	 * their way (it would overtake them); from elsewhere it is posted. */
	bool here = ffb__this_dispatcher() == c->session->disp && !__atomic_load_n(&c->items_posted, __ATOMIC_ACQUIRE);
	struct ffb__item_post *p = here ? NULL : malloc(sizeof(*p));
	uint64_t handle = 0;
	ffb_status st = here || p ? FFB_OK : FFB_ERR_SYSTEM;
	if (!st && len) {
		void *dst;
		st = ffb__sheap_alloc(c->session, len, &handle, &dst);
		if (!st)
			memcpy(dst, data, len);
	}
	if (st) {
		free(p);
		__atomic_fetch_add(&c->credit, 1, __ATOMIC_ACQ_REL); /* not spent */
		return st;
	}
	__atomic_fetch_add(&c->items_out, 1, __ATOMIC_ACQ_REL);
	if (here) {
		queue_item(c->session, c, handle, len);
		return FFB_OK;
	}
	*p = (struct ffb__item_post){.post = {.s = c->session, .type = FFB__POST_ITEM}, .call = c, .handle = handle, .len = len};
	__atomic_fetch_add(&c->items_posted, 1, __ATOMIC_ACQ_REL);
	ffb__post(c->session->disp, &p->post);
	return FFB_OK;
}

/* ---- the outgoing queue ------------------------------------------------- */

bool ffb__out_push(struct ffb__session *s, const struct ffb_ring_entry *e, ffb_call *item_of, bool reserved)
{
	if (s->serving != FFB__SERVING) { /* the queue was dropped: only a held slot is used */
		if (reserved && !s->cut) {
			ffb_ring_prod_push(&s->resp, e);
			s->reserved--;
		}
		return !item_of; /* an item was not queued: its producer's count goes back */
	}
	if (s->out_n == s->out_cap) {
		uint32_t cap = s->out_cap ? s->out_cap * 2 : 64;
		struct ffb__out *q = malloc(cap * sizeof(*q));
		if (!q)
			return false;
		for (uint32_t i = 0; i < s->out_n; i++) /* unwrap into the new ring */
			q[i] = s->outq[(s->out_head + i) % s->out_cap];
		free(s->outq);
		s->outq = q;
		s->out_head = 0;
		s->out_cap = cap;
	}
	s->outq[(s->out_head + s->out_n) % s->out_cap] = (struct ffb__out){.e = *e, .item_of = item_of, .reserved = reserved};
	s->out_n++;
	return true;
}

bool ffb__out_flush(struct ffb__session *s)
{
	bool pushed = false, items = false;
	while (s->out_n) {
		struct ffb__out *o = &s->outq[s->out_head];
		int free_slots = ffb_ring_prod_free(&s->resp, s->reserved + 1);
		if (free_slots == FFB_RING_CORRUPT) {
			ffb__dispatcher_fail(s);
			return pushed;
		}
		/* A stream's RESULT has its slot held back; the rest need one
		 * beyond the held ones. */
		if (o->reserved ? free_slots < 1 : free_slots <= (int)s->reserved)
			break;
		ffb_ring_prod_push(&s->resp, &o->e);
		if (o->reserved)
			s->reserved--;
		if (o->item_of) {
			__atomic_fetch_sub(&o->item_of->items_out, 1, __ATOMIC_ACQ_REL);
			items = true;
		}
		s->out_head = (s->out_head + 1) % s->out_cap;
		s->out_n--;
		pushed = true;
	}
	if (items) /* the queue drained: a producer held back by its bound may go on */
		for (struct ffb__list *l = s->calls.next; l != &s->calls; l = l->next) {
			ffb_call *c = FFB__CONTAINER_OF(l, ffb_call, link);
			if (c->stream)
				ffb__call_nudge(c);
		}
	return pushed;
}

void ffb__out_drop(struct ffb__session *s)
{
	for (; s->out_n; s->out_n--) {
		struct ffb__out *o = &s->outq[s->out_head];
		if (o->item_of)
			__atomic_fetch_sub(&o->item_of->items_out, 1, __ATOMIC_ACQ_REL);
		s->out_head = (s->out_head + 1) % s->out_cap;
	}
	free(s->outq);
	s->outq = NULL;
	s->out_cap = s->out_head = 0;
}

/* ---- on the dispatcher -------------------------------------------------- */

void ffb__stream_item(struct ffb__post *post)
{
	struct ffb__item_post *p = FFB__CONTAINER_OF(post, struct ffb__item_post, post);
	queue_item(post->s, p->call, p->handle, p->len);
	__atomic_fetch_sub(&p->call->items_posted, 1, __ATOMIC_ACQ_REL);
	free(p);
}

ffb_call *ffb__session_find_call(struct ffb__session *s, uint64_t call_id)
{
	for (struct ffb__list *l = s->calls.next; l != &s->calls; l = l->next) {
		ffb_call *c = FFB__CONTAINER_OF(l, ffb_call, link);
		if (c->call_id == call_id && !c->vec)
			return c;
	}
	return NULL;
}
