/*
 * client_serve.c — the server's calls to the C client (PROTOCOL.md §5.8):
 * the handler table (names to generation-tagged function ids), LOOKUPs
 * answered from it, CALLs taken into the table of served calls and run on
 * the client's own thread inside its waits, CANCEL and CREDIT applied to
 * them, RELEASEs of the blocks answers and items gave the server, and the
 * queue of answers and items for the request ring (FIFO: a stream's items
 * go before its end). Every entry is read once from shared memory (the
 * drain's copy), validated, then used; a violation ends the session with
 * PROTOCOL, as a bad RESULT does.
 */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

#define MSG_MAX 4096u
#define SLOT_RETIRED 0xffffu /* a handler slot whose generation is used up */

/* ---- the handler table --------------------------------------------------- */

static ffb_status name_check(const char *name, size_t *len)
{
	*len = strlen(name);
	if (*len == 0 || *len > FFB_MAX_NAME_LEN)
		return FFB_ERR_INVALID_ARGUMENT;
	if (!ffb__utf8_valid((const uint8_t *)name, *len))
		return FFB_ERR_INVALID_UTF8;
	return FFB_OK;
}

/* Linear: the server looks a name up once per session and caches its id. */
static struct handler *handler_named(ffb_client *c, const char *name, size_t len)
{
	for (uint32_t i = 0; i < c->nhandlers; i++) {
		struct handler *h = &c->handlers[i];
		if (h->used && h->len == len && memcmp(h->name, name, len) == 0)
			return h;
	}
	return NULL;
}

static uint32_t handler_id(const ffb_client *c, const struct handler *h)
{
	return h->gen << 16 | (uint32_t)(h - c->handlers);
}

static const struct handler *handler_by_id(const ffb_client *c, uint32_t fn)
{
	uint32_t k = fn & 0xffffu;
	if (k >= c->nhandlers || !c->handlers[k].used || c->handlers[k].gen != fn >> 16)
		return NULL;
	return &c->handlers[k];
}

ffb_status ffb_client_register_flags(ffb_client *c, const char *name, ffb_client_handler_fn fn, void *ctx,
				     uint32_t flags)
{
	if (!c || !name || !fn)
		return FFB_ERR_NULL_POINTER;
	if (flags & ~(uint32_t)FFB_HANDLER_STREAM)
		return FFB_ERR_INVALID_ARGUMENT;
	size_t len;
	ffb_status st = name_check(name, &len);
	if (st)
		return st;
	if (!c->served) {
		c->served = calloc(FFB__MAX_SERVED, sizeof(*c->served));
		if (!c->served)
			return FFB_ERR_SYSTEM;
	}
	struct handler *h = handler_named(c, name, len);
	if (h && h->gen == SLOT_RETIRED) {
		h->used = false; /* its generations are used up: a new slot */
		h = NULL;
	}
	for (uint32_t i = 0; !h && i < c->nhandlers; i++)
		if (!c->handlers[i].used && c->handlers[i].gen < SLOT_RETIRED)
			h = &c->handlers[i];
	if (!h) {
		if (c->nhandlers == FFB_MAX_FUNCTIONS)
			return FFB_ERR_ARENA_FULL;
		struct handler *t = realloc(c->handlers, (c->nhandlers + 1) * sizeof(*t));
		if (!t)
			return FFB_ERR_SYSTEM;
		c->handlers = t;
		h = &t[c->nhandlers++];
		memset(h, 0, sizeof(*h));
	}
	h->gen++; /* never 0, at most SLOT_RETIRED */
	h->used = true;
	h->stream = flags & FFB_HANDLER_STREAM;
	h->len = (uint8_t)len;
	memcpy(h->name, name, len);
	h->fn = fn;
	h->ctx = ctx;
	return FFB_OK;
}

ffb_status ffb_client_register(ffb_client *c, const char *name, ffb_client_handler_fn fn, void *ctx)
{
	return ffb_client_register_flags(c, name, fn, ctx, FFB_HANDLER_ONCE);
}

ffb_status ffb_client_unregister(ffb_client *c, const char *name)
{
	if (!c || !name)
		return FFB_ERR_NULL_POINTER;
	struct handler *h = handler_named(c, name, strlen(name));
	if (!h)
		return FFB_ERR_NOT_FOUND;
	h->used = false;
	h->fn = NULL;
	h->ctx = NULL;
	return FFB_OK;
}

/* ---- the queue of entries to send ---------------------------------------- */

static void out_push(ffb_client *c, uint64_t id, uint64_t handle, uint32_t len, uint32_t kind, uint32_t fn)
{
	if (c->out_n == c->out_cap) {
		uint32_t cap = c->out_cap ? c->out_cap * 2 : 64;
		struct ffb_ring_entry *q = malloc(cap * sizeof(*q));
		if (!q) {
			/* An answer that cannot be kept would leave the server's
			 * call hanging: the session cannot go on. */
			ffb__client_fail_all(c, FFB_ERR_SYSTEM);
			return;
		}
		for (uint32_t i = 0; i < c->out_n; i++)
			q[i] = c->outq[(c->out_rd + i) & (c->out_cap - 1)];
		free(c->outq);
		c->outq = q;
		c->out_cap = cap;
		c->out_rd = 0;
	}
	c->outq[(c->out_rd + c->out_n) & (c->out_cap - 1)] =
		(struct ffb_ring_entry){.call_id = id, .handle = handle, .len = len, .kind = kind, .fn_or_status = fn};
	c->out_n++;
}

bool ffb__client_push_out(ffb_client *c)
{
	while (c->out_n) {
		int room = ffb_ring_prod_free(&c->req, 1);
		if (room == FFB_RING_CORRUPT)
			return false;
		if (room == 0)
			return true; /* the rest go with a later flush */
		ffb_ring_prod_push(&c->req, &c->outq[c->out_rd]);
		c->out_rd = (c->out_rd + 1) & (c->out_cap - 1);
		c->out_n--;
	}
	return true;
}

/* ---- entries from the server ---------------------------------------------- */

/* The bytes of a block the server sent with a call: none (0, len 0), or
 * a server-heap block with len within it. */
static bool server_block(const ffb_client *c, uint64_t h, uint32_t len, const void **data, uint32_t *cap)
{
	*data = NULL;
	*cap = 0;
	if (h == 0)
		return len == 0;
	uint32_t k, i;
	if (ffb__heap_check(&c->peer, h, &k, &i) != FFB_OK || len > c->peer.cls[k].block_size)
		return false;
	*data = ffb__heap_at(&c->peer, k, i);
	*cap = c->peer.cls[k].block_size;
	return true;
}

static struct ffb_request *served_find(ffb_client *c, uint64_t id)
{
	if (!c->served)
		return NULL;
	struct ffb_request *r = &c->served[FFB_CALL_SLOT(id) % FFB__MAX_SERVED];
	if (r->state != SV_FREE && r->id == id)
		return r;
	for (uint32_t i = 0; i < FFB__MAX_SERVED; i++)
		if (c->served[i].state != SV_FREE && c->served[i].id == id)
			return &c->served[i];
	return NULL;
}

/* A free record, the one at the id's slot if it can (the server's ids
 * are its slots: then served_find is one compare). */
static struct ffb_request *served_new(ffb_client *c, uint64_t id)
{
	if (!c->served || c->served_active == FFB__MAX_SERVED)
		return NULL;
	struct ffb_request *r = &c->served[FFB_CALL_SLOT(id) % FFB__MAX_SERVED];
	for (uint32_t i = 0; r->state != SV_FREE && i < FFB__MAX_SERVED; i++)
		r = &c->served[i];
	c->served_active++;
	return r;
}

static void served_release(ffb_client *c, struct ffb_request *r)
{
	r->state = SV_FREE;
	r->id = 0;
	c->served_active--;
}

/* Give back the server's input block of a call: a notification's with a
 * RELEASE, any other's implicitly with its answer. */
static void give_back_input(ffb_client *c, uint64_t h, bool notify)
{
	if (!h)
		return;
	if (notify && !c->dead) {
		/* Without room to queue its RELEASE, the block stays held until
		 * the session ends: lost to this session, never to another. */
		if (ffb__client_reserve_release(c) == FFB_OK && ffb__heap_unhold(&c->peer, h, true) == FFB_OK)
			ffb__client_queue_release(c, h);
		return;
	}
	ffb__heap_unhold(&c->peer, h, true);
}

static void take_lookup(ffb_client *c, const struct ffb_ring_entry *e)
{
	const void *data;
	uint32_t cap;
	if (FFB_CALL_KIND(e->call_id) != FFB_ID_ONCE || e->handle == 0 || e->len == 0 || e->len > FFB_MAX_NAME_LEN ||
	    !server_block(c, e->handle, e->len, &data, &cap)) {
		ffb__client_fail_protocol(c);
		return;
	}
	char name[FFB_MAX_NAME_LEN];
	memcpy(name, data, e->len); /* read once: the server may write it meanwhile */
	ffb_status st = FFB_ERR_NOT_FOUND;
	uint32_t fn = 0;
	const struct handler *h;
	if (!ffb__utf8_valid((const uint8_t *)name, e->len) || memchr(name, 0, e->len)) {
		st = FFB_ERR_INVALID_UTF8;
	} else if ((h = handler_named(c, name, e->len)) != NULL) {
		st = FFB_OK;
		fn = handler_id(c, h);
	}
	/* The name block goes back with the answer; every error is bare. */
	out_push(c, e->call_id, 0, fn, FFB_KIND_RESULT, (uint32_t)st);
}

static void take_call(ffb_client *c, const struct ffb_ring_entry *e)
{
	const void *data;
	uint32_t cap, kind = FFB_CALL_KIND(e->call_id);
	if (!server_block(c, e->handle, e->len, &data, &cap) ||
	    (e->handle && ffb__heap_hold(&c->peer, e->handle) != FFB_OK)) {
		ffb__client_fail_protocol(c); /* a bad block, or one it gave us already */
		return;
	}
	const struct handler *h = handler_by_id(c, e->fn_or_status);
	if (h && h->stream != (kind == FFB_ID_STREAM))
		h = NULL; /* a stream handler called plainly, or the other way round */
	struct ffb_request *r = h ? served_new(c, e->call_id) : NULL;
	if (!r) {
		give_back_input(c, e->handle, kind == FFB_ID_NOTIFY);
		if (kind != FFB_ID_NOTIFY) /* no function of that id: bare (§7) */
			out_push(c, e->call_id, 0, 0, FFB_KIND_RESULT,
				 (uint32_t)(h ? FFB_ERR_TOO_MANY_CALLS : FFB_ERR_NOT_FOUND));
		return;
	}
	*r = (struct ffb_request){.c = c,
				  .id = e->call_id,
				  .in_handle = e->handle,
				  .in_len = e->len,
				  .in_cap = cap,
				  .in_data = data,
				  .credit = kind == FFB_ID_STREAM ? FFB_STREAM_INITIAL_CREDIT : 0,
				  .state = SV_QUEUED,
				  .fn = h->fn,
				  .ctx = h->ctx};
	c->served_q[(c->sq_rd + c->sq_n) % FFB__MAX_SERVED] = (uint32_t)(r - c->served);
	c->sq_n++;
}

static void take_release(ffb_client *c, const struct ffb_ring_entry *e)
{
	/* Only a block an answer or an item gave may come back: never one
	 * lent with a call of ours that is still pending. */
	if (e->call_id != 0 || e->len != 0 || e->fn_or_status != 0 ||
	    ffb__heap_free(&c->own, e->handle, FFB__BLOCK_GIVEN) != FFB_OK)
		ffb__client_fail_protocol(c);
}

void ffb__client_served_entry(ffb_client *c, const struct ffb_ring_entry *e)
{
	if (c->dead)
		return; /* answers would go nowhere */
	if (e->kind == FFB_KIND_RELEASE) {
		take_release(c, e);
		return;
	}
	if (!FFB_CALL_ID_VALID(e->call_id) || FFB_CALL_DIR(e->call_id) != FFB_ID_FROM_SERVER) {
		/* Names no call of the server's: dropped and counted, as an
		 * entry of a kind the client does not take (§5.3). */
		c->stats.dropped_responses++;
		return;
	}
	struct ffb_request *r;
	switch (e->kind) {
	case FFB_KIND_LOOKUP:
		take_lookup(c, e);
		break;
	case FFB_KIND_CALL:
		take_call(c, e);
		break;
	case FFB_KIND_CANCEL:
		if (e->handle || e->len || e->fn_or_status) {
			ffb__client_fail_protocol(c);
			return;
		}
		if ((r = served_find(c, e->call_id)) != NULL)
			r->cancelled = true; /* one that is over: ignored */
		break;
	case FFB_KIND_CREDIT:
		if (FFB_CALL_KIND(e->call_id) != FFB_ID_STREAM || e->handle || e->fn_or_status || e->len == 0 ||
		    e->len > FFB_MAX_CREDIT) {
			ffb__client_fail_protocol(c);
			return;
		}
		if ((r = served_find(c, e->call_id)) != NULL)
			r->credit = r->credit > UINT32_MAX - e->len ? UINT32_MAX : r->credit + e->len;
		break;
	default:
		ffb__client_fail_protocol(c);
	}
}

/* ---- running handlers ---------------------------------------------------- */

static void drop_block(ffb_client *c, const struct ffb_request *r, uint64_t h)
{
	if (h && h != r->in_handle)
		ffb__heap_free(&c->own, h, FFB__BLOCK_OWNED);
}

static void set_error_text(ffb_request *r, const char *msg);

/* Answer r with the handler's status and what it set, then free r. */
static void finish(ffb_client *c, struct ffb_request *r, ffb_status st)
{
	bool notify = FFB_CALL_KIND(r->id) == FFB_ID_NOTIFY;
	if (st < FFB_OK || st > FFB_ERR_UNKNOWN)
		st = FFB_ERR_UNKNOWN; /* a server passes only the table's codes on */
	if (st == FFB_ERR_NOT_FOUND && !r->msg && !notify && !c->dead)
		set_error_text(r, "not found (the handler's own answer)"); /* never a bare one (§7) */
	uint64_t h = r->reply;
	uint32_t n = r->reply_len;
	if (st != FFB_OK) {
		drop_block(c, r, h);
		h = r->msg;
		n = r->msg_len;
	} else {
		drop_block(c, r, r->msg);
	}
	if (notify || c->dead) {
		drop_block(c, r, h);
		give_back_input(c, r->in_handle, notify);
	} else {
		if (h && h != r->in_handle) /* the server's until its RELEASE */
			ffb__heap_transition(&c->own, h, FFB__BLOCK_OWNED, FFB__BLOCK_GIVEN);
		give_back_input(c, r->in_handle, false);
		out_push(c, r->id, h, n, FFB_KIND_RESULT, (uint32_t)st);
		c->stats.served_calls++;
	}
	served_release(c, r);
}

void ffb__client_run_served(ffb_client *c)
{
	if (c->serve_depth >= FFB__SERVE_DEPTH || c->sq_n == 0)
		return;
	c->serve_depth++;
	while (c->sq_n && !c->dead) {
		struct ffb_request *r = &c->served[c->served_q[c->sq_rd]];
		c->sq_rd = (c->sq_rd + 1) % FFB__MAX_SERVED;
		c->sq_n--;
		r->state = SV_RUNNING;
		/* A call cancelled while it waited is answered without running. */
		ffb_status st = r->cancelled ? FFB_ERR_CANCELLED : r->fn(r, r->ctx);
		finish(c, r, st);
		c->served_runs++;
	}
	c->serve_depth--;
	if (!c->dead)
		ffb_client_flush(c);
}

void ffb__client_served_end(ffb_client *c)
{
	c->out_n = 0;
	if (!c->served)
		return;
	for (uint32_t i = 0; i < FFB__MAX_SERVED; i++) {
		struct ffb_request *r = &c->served[i];
		if (r->state == SV_QUEUED) {
			give_back_input(c, r->in_handle, false);
			served_release(c, r);
		} else if (r->state == SV_RUNNING) {
			r->cancelled = true; /* finish() drops its answer */
		}
	}
	c->sq_n = 0;
}

void ffb__client_served_free(ffb_client *c)
{
	free(c->handlers);
	free(c->served);
	free(c->outq);
}

static bool ran_since(ffb_client *c, uint32_t before)
{
	return (uint32_t)c->served_runs != before;
}

ffb_status ffb_client_serve(ffb_client *c, int64_t timeout_ns)
{
	if (!c)
		return FFB_ERR_NULL_POINTER;
	if (c->dead)
		return c->dead;
	uint32_t before = (uint32_t)c->served_runs;
	ffb_client_flush(c);
	ffb__client_drain(c);
	ffb__client_run_served(c);
	if (ran_since(c, before))
		return FFB_OK;
	if (c->dead)
		return c->dead;
	if (timeout_ns == 0)
		return FFB_ERR_WOULD_BLOCK;
	uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : ffb__now_ns() + (uint64_t)timeout_ns;
	return ffb__client_wait(c, ran_since, before, deadline);
}

/* ---- inside a handler ---------------------------------------------------- */

const void *ffb_request_data(const ffb_request *r)
{
	return r && r->in_len ? r->in_data : NULL;
}

uint32_t ffb_request_len(const ffb_request *r)
{
	return r ? r->in_len : 0;
}

int ffb_request_is_stream(const ffb_request *r)
{
	return r && FFB_CALL_KIND(r->id) == FFB_ID_STREAM;
}

int ffb_request_cancelled(const ffb_request *r)
{
	return r && (r->cancelled || r->c->dead);
}

ffb_client *ffb_request_client(const ffb_request *r)
{
	return r ? r->c : NULL;
}

static ffb_status usable(const ffb_request *r)
{
	if (!r)
		return FFB_ERR_NULL_POINTER;
	return r->state == SV_RUNNING ? FFB_OK : FFB_ERR_INVALID_ARGUMENT;
}

ffb_status ffb_request_reply_alloc(ffb_request *r, uint32_t len, void **data)
{
	ffb_status st = usable(r);
	if (st)
		return st;
	if (!data)
		return FFB_ERR_NULL_POINTER;
	uint64_t h;
	st = ffb__heap_alloc(&r->c->own, len, &h);
	if (st)
		return st;
	drop_block(r->c, r, r->reply);
	r->reply = h;
	r->reply_len = len;
	return ffb__heap_lookup(&r->c->own, h, FFB__BLOCK_OWNED, data, NULL);
}

ffb_status ffb_request_reply_bytes(ffb_request *r, const void *data, uint32_t len)
{
	ffb_status st = usable(r);
	if (st)
		return st;
	if (!data && len)
		return FFB_ERR_NULL_POINTER;
	if (len == 0) { /* an empty reply: no block */
		drop_block(r->c, r, r->reply);
		r->reply = 0;
		r->reply_len = 0;
		return FFB_OK;
	}
	void *dst;
	st = ffb_request_reply_alloc(r, len, &dst);
	if (!st)
		memcpy(dst, data, len);
	return st;
}

ffb_status ffb_request_reply_input(ffb_request *r, uint32_t len)
{
	ffb_status st = usable(r);
	if (st)
		return st;
	if (!r->in_handle || len > r->in_cap)
		return FFB_ERR_INVALID_ARGUMENT;
	drop_block(r->c, r, r->reply);
	r->reply = r->in_handle;
	r->reply_len = len;
	return FFB_OK;
}

static void set_error_text(ffb_request *r, const char *msg)
{
	size_t n = strnlen(msg, MSG_MAX);
	uint64_t h = 0;
	void *dst;
	if (n && ffb__heap_alloc(&r->c->own, (uint32_t)n, &h) == FFB_OK) {
		ffb__heap_lookup(&r->c->own, h, FFB__BLOCK_OWNED, &dst, NULL);
		memcpy(dst, msg, n);
	}
	drop_block(r->c, r, r->msg);
	r->msg = h;
	r->msg_len = h ? (uint32_t)n : 0;
}

ffb_status ffb_request_set_error(ffb_request *r, const char *msg)
{
	ffb_status st = usable(r);
	if (st)
		return st;
	if (!msg)
		return FFB_ERR_NULL_POINTER;
	set_error_text(r, msg);
	return r->msg || !msg[0] ? FFB_OK : FFB_ERR_ARENA_FULL;
}

uint32_t ffb_request_credit(const ffb_request *r)
{
	return r ? r->credit : 0;
}

static bool credit_or_cancel(ffb_client *c, uint32_t i)
{
	const struct ffb_request *r = &c->served[i];
	return r->credit > 0 || r->cancelled;
}

ffb_status ffb_request_item(ffb_request *r, const void *data, uint32_t len, int64_t timeout_ns)
{
	ffb_status st = usable(r);
	if (st)
		return st;
	if (!data && len)
		return FFB_ERR_NULL_POINTER;
	ffb_client *c = r->c;
	if (FFB_CALL_KIND(r->id) != FFB_ID_STREAM)
		return FFB_ERR_INVALID_ARGUMENT;
	if (c->dead)
		return c->dead;
	if (r->credit == 0 && !r->cancelled) {
		uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : ffb__now_ns() + (uint64_t)timeout_ns;
		ffb_client_flush(c); /* items already queued reach the server first */
		st = ffb__client_wait(c, credit_or_cancel, (uint32_t)(r - c->served), deadline);
		if (st)
			return st;
	}
	if (r->cancelled)
		return FFB_ERR_CANCELLED;
	uint64_t h = 0;
	if (len) {
		void *dst;
		st = ffb__heap_alloc(&c->own, len, &h);
		if (st)
			return st;
		ffb__heap_lookup(&c->own, h, FFB__BLOCK_OWNED, &dst, NULL);
		memcpy(dst, data, len);
		ffb__heap_transition(&c->own, h, FFB__BLOCK_OWNED, FFB__BLOCK_GIVEN);
	}
	r->credit--;
	out_push(c, r->id, h, len, FFB_KIND_ITEM, 0);
	return ffb_client_flush(c);
}
