/*
 * dispatch.c — the server's hot path: drain one session's request ring,
 * validate every entry (read once, PROTOCOL.md §5), run callbacks, push
 * results, and ring the client's bell only when it asked.
 *
 * A violation fails the session closed (the dispatcher stops serving it,
 * the control thread says goodbye PROTOCOL and disconnects) and touches
 * nothing else. A full response ring is not a violation by itself:
 * the session waits (`blocked`) until the client consumes.
 */
#include <string.h>

#include "server_internal.h"

#define BATCH 64 /* entries (or calls) per session per pass: fairness between sessions */

static void violation(struct ffb__session *s, const char *what)
{
	FFB__STAT_ADD(s->srv->disp.stats.protocol_errors, 1);
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

/* Turn a finished callback into its result; server blocks go OWNED -> LENT. */
static void finish_call(struct ffb__session *s, ffb_call *call, ffb_status st, struct ffb_vec_call *out)
{
	uint64_t handle = call->reply_handle;
	uint32_t len = call->reply_len;
	bool server_block = handle && handle != call->in_handle;
	if (st != FFB_OK) {
		if (server_block)
			ffb__heap_free(&s->server_heap, handle, FFB__BLOCK_OWNED);
		handle = 0;
		len = 0;
		server_block = false;
		if (call->error_msg) {
			void *dst;
			uint32_t n = (uint32_t)strlen(call->error_msg);
			if (ffb__heap_alloc(&s->server_heap, n, &handle) == FFB_OK) {
				ffb__heap_lookup(&s->server_heap, handle, FFB__BLOCK_OWNED, &dst, NULL);
				memcpy(dst, call->error_msg, n);
				len = n;
				server_block = true;
			}
		}
	}
	if (server_block)
		ffb__heap_transition(&s->server_heap, handle, FFB__BLOCK_OWNED, FFB__BLOCK_LENT);
	*out = (struct ffb_vec_call){handle, len, (uint32_t)st};
}

/* Run function fn on input (handle, len) of a CALL or one call of a
 * CALLV: the reply's handle, length and status in *out. False on a
 * violation (a bad input handle or length). */
static bool run_call(struct ffb__session *s, uint32_t fn, uint64_t handle, uint32_t len, struct ffb_vec_call *out)
{
	ffb_call call;
	call.session = s;
	call.fn_id = fn;
	call.in_handle = 0;
	call.in_len = len;
	call.reply_handle = 0;
	call.reply_len = 0;
	call.error_msg = NULL;
	if (!input_block(s, handle, len, &call))
		return false;
	ffb_status st = ffb__registry_invoke_held(s->srv->reg, fn, &call);
	if (st == FFB_OK && (call.reply_handle == 0 || call.reply_handle == call.in_handle))
		*out = (struct ffb_vec_call){call.reply_handle, call.reply_len, FFB_OK}; /* no server block */
	else
		finish_call(s, &call, st, out);
	return true;
}

static bool do_call(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	struct ffb_vec_call r;
	if (e->call_id == 0 || !run_call(s, e->fn_or_status, e->handle, e->len, &r))
		return false;
	push_result(s, e->call_id, (ffb_status)r.fn_or_status, r.handle, r.len);
	return true;
}

/* A CALLV: the calls of the vector block in (handle, len), one after the
 * other, each result written over its request; then one RESULT naming the
 * vector block (zero copy). Each request is read once (R1) before use. */
static bool do_callv(struct ffb__session *s, const struct ffb_ring_entry *e, uint32_t *ncalls)
{
	ffb_call vec = {0};
	uint32_t n = e->len / FFB_VEC_CALL_SIZE;
	if (e->call_id == 0 || e->fn_or_status != 0 || e->handle == 0 || n == 0 || n > FFB_MAX_VEC_CALLS ||
	    e->len % FFB_VEC_CALL_SIZE || !input_block(s, e->handle, e->len, &vec))
		return false;
	struct ffb_vec_call *v = (struct ffb_vec_call *)vec.in_data;
	for (uint32_t i = 0; i < n; i += 64 / FFB_VEC_CALL_SIZE) /* the client wrote them: overlap the misses */
		ffb_prefetch_write(&v[i]);
	for (uint32_t i = 0; i < n; i++) {
		struct ffb_vec_call rq = {FFB_READ_ONCE(v[i].handle), FFB_READ_ONCE(v[i].len),
					  FFB_READ_ONCE(v[i].fn_or_status)};
		struct ffb_vec_call r;
		if (!run_call(s, rq.fn_or_status, rq.handle, rq.len, &r))
			return false;
		v[i] = r;
	}
	*ncalls += n;
	push_result(s, e->call_id, FFB_OK, e->handle, e->len);
	return true;
}

static bool do_lookup(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	ffb_call call = {0};
	if (e->call_id == 0 || e->handle == 0 || e->len == 0 || e->len > FFB_MAX_NAME_LEN ||
	    !input_block(s, e->handle, e->len, &call))
		return false;
	/* R1: copy the name out once; the client may rewrite it meanwhile. */
	char name[FFB_MAX_NAME_LEN + 1];
	memcpy(name, call.in_data, e->len);
	name[e->len] = 0;
	uint32_t id = 0;
	ffb_status st = ffb__registry_find_held(s->srv->reg, name, e->len, &id);
	push_result(s, e->call_id, st, 0, st == FFB_OK ? id : 0); /* OK: the id in len */
	return true;
}

static bool do_release(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	if (e->call_id || e->len || e->fn_or_status)
		return false;
	/* Only a block we lent and the client still holds may come back. */
	return ffb__heap_free(&s->server_heap, e->handle, FFB__BLOCK_LENT) == FFB_OK;
}

/* Serve up to BATCH requests: as many as are ready and have room for
 * their result (each request has at most one), so the loop checks
 * neither ring again per entry. */
bool ffb__session_service(struct ffb__session *s)
{
	int ready = ffb_ring_cons_ready(&s->req); /* a bad tail is found at park */
	if (ready == 0)
		return false;
	int room = ffb_ring_prod_free(&s->resp, (uint32_t)ready);
	if (room == FFB_RING_CORRUPT) {
		violation(s, "response ring head out of range");
		return true;
	}
	uint32_t n = (uint32_t)(ready < room ? ready : room);
	if (n > BATCH)
		n = BATCH;
	s->blocked = room < ready && room < BATCH; /* full before the batch is done */
	if (n == 0)
		return false;
	ffb_ring_cons_prefetch_batch(&s->req);
	if (n > 1) /* a lone call's client is polling the first free slot: leave it be */
		ffb_ring_prod_prefetch_batch(&s->resp);
	bool ok = true;
	uint32_t done = 0, calls = 0;
	ffb__registry_enter(s->srv->reg); /* once per batch, not per call */
	while (done < n && ok && calls < BATCH) { /* a CALLV counts its calls */
		struct ffb_ring_entry e;
		ffb_ring_cons_pop(&s->req, &e);
		/* The slot goes back before its result can be seen (S1 orders
		 * the head store first): a client that has every answer never
		 * finds its request ring still full. */
		ffb_ring_cons_release(&s->req);
		done++;
		switch (e.kind) {
		case FFB_KIND_CALL:
			ok = do_call(s, &e);
			calls += ok;
			break;
		case FFB_KIND_CALLV: ok = do_callv(s, &e, &calls); break;
		case FFB_KIND_LOOKUP: ok = do_lookup(s, &e); break;
		case FFB_KIND_RELEASE: ok = do_release(s, &e); break;
		default: ok = false;
		}
	}
	ffb__registry_leave(s->srv->reg);
	FFB__STAT_ADD(s->srv->disp.stats.calls, calls);
	if (!ok) {
		violation(s, "bad request entry");
		return true;
	}
	if (ffb_ring_prod_publish(&s->resp))
		ffb__session_ring_client(s);
	return true;
}
