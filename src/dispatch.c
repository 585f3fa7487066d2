/*
 * dispatch.c — the server's hot path: drain one session's request ring,
 * validate every entry (read once, PROTOCOL.md §5), run callbacks, push
 * results, and ring the client's bell only when it asked.
 *
 * A violation fails the session closed (goodbye PROTOCOL, disconnect) and
 * touches nothing else. A full response ring is not a violation by itself:
 * the session waits (`blocked`) until the client consumes.
 */
#include <string.h>

#include "server_internal.h"

#define BATCH 64 /* entries per session per pass: fairness between sessions */

static void violation(struct ffb__session *s, const char *what)
{
	FFB__STAT_ADD(s->srv->stats.protocol_errors, 1);
	ffb__log(FFB_LOG_WARN, "session %llu: protocol violation: %s", (unsigned long long)s->id, what);
	ffb__session_close(s, FFB_ERR_PROTOCOL);
}

/* Resolve a request's input block: 0/0, or a client block with len <= its
 * size. False on a violation. */
static bool input_block(struct ffb__session *s, const struct ffb_ring_entry *e, ffb_call *call)
{
	if (e->handle == 0) {
		call->in_data = NULL;
		call->in_capacity = 0;
		return e->len == 0;
	}
	uint32_t k, i;
	if (ffb__heap_check(&s->client_heap, e->handle, &k, &i) != FFB_OK)
		return false;
	call->in_capacity = s->client_heap.cls[k].block_size;
	if (e->len > call->in_capacity)
		return false;
	call->in_data = ffb__heap_at(&s->client_heap, k, i);
	call->in_handle = e->handle;
	return true;
}

static void push_result(struct ffb__session *s, uint64_t call_id, ffb_status st, uint64_t handle, uint32_t len,
			uint32_t aux)
{
	struct ffb_ring_entry r = {.call_id = call_id,
				   .handle = handle,
				   .len = len,
				   .kind = FFB_KIND_RESULT,
				   .fn_or_status = (uint32_t)st,
				   .aux = aux};
	ffb_ring_prod_push(&s->resp, &r);
}

/* Turn a finished callback into a RESULT; server blocks go OWNED -> LENT. */
static void finish_call(struct ffb__session *s, uint64_t call_id, ffb_call *call, ffb_status st)
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
	push_result(s, call_id, st, handle, len, 0);
}

static bool do_call(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	ffb_call call;
	call.session = s;
	call.fn_id = e->fn_or_status;
	call.in_handle = 0;
	call.in_len = e->len;
	call.reply_handle = 0;
	call.reply_len = 0;
	call.error_msg = NULL;
	if (e->call_id == 0 || !input_block(s, e, &call))
		return false;
	ffb_status st = ffb__registry_invoke_held(s->srv->reg, call.fn_id, &call);
	if (st == FFB_OK && (call.reply_handle == 0 || call.reply_handle == call.in_handle))
		push_result(s, e->call_id, FFB_OK, call.reply_handle, call.reply_len, 0); /* no server block */
	else
		finish_call(s, e->call_id, &call, st);
	return true;
}

static bool do_lookup(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	ffb_call call = {0};
	if (e->call_id == 0 || e->handle == 0 || e->len == 0 || e->len > FFB_MAX_NAME_LEN ||
	    !input_block(s, e, &call))
		return false;
	/* R1: copy the name out once; the client may rewrite it meanwhile. */
	char name[FFB_MAX_NAME_LEN + 1];
	memcpy(name, call.in_data, e->len);
	name[e->len] = 0;
	uint32_t id = 0;
	ffb_status st = ffb__registry_find_held(s->srv->reg, name, e->len, &id);
	push_result(s, e->call_id, st, 0, 0, st == FFB_OK ? id : 0);
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
	if (s->state != FFB__ACTIVE)
		return false;
	int ready = ffb_ring_cons_ready(&s->req);
	if (ready == 0)
		return false;
	if (ready == FFB_RING_CORRUPT) {
		violation(s, "request ring tail out of range");
		return true;
	}
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
	ffb_ring_prod_prefetch_batch(&s->resp);
	bool ok = true;
	uint32_t done = 0, calls = 0;
	ffb__registry_enter(s->srv->reg); /* once per batch, not per call */
	while (done < n && ok) {
		struct ffb_ring_entry e;
		ffb_ring_cons_pop(&s->req, &e);
		done++;
		ok = e.aux == 0;
		if (!ok)
			break;
		switch (e.kind) {
		case FFB_KIND_CALL:
			ok = do_call(s, &e);
			calls += ok;
			break;
		case FFB_KIND_LOOKUP: ok = do_lookup(s, &e); break;
		case FFB_KIND_RELEASE: ok = do_release(s, &e); break;
		default: ok = false;
		}
	}
	ffb__registry_leave(s->srv->reg);
	FFB__STAT_ADD(s->srv->stats.calls, calls);
	if (!ok) {
		violation(s, "bad request entry");
		return true;
	}
	ffb_ring_cons_release(&s->req);
	if (ffb_ring_prod_publish(&s->resp))
		ffb__session_ring_client(s);
	return true;
}
