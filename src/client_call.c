/*
 * client_call.c — calls from the C client: submit, flush, the resolve
 * registry of pending calls (generation-tagged call ids), delivery of
 * results, waiting (spin, then park on the client bell), and the end of
 * the session for every call still pending (peer gone, goodbye, a
 * violation). A result is delivered to the call whose id it carries or to no
 * one: a late, duplicate or forged id is dropped and counted. Entries
 * about the server's calls go to client_serve.c, and the waits here run
 * the handlers of those calls.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"

#define SOCK_CHECK_NS 1000000ull /* look for a dead server at least every ms */

static void wake_server(ffb_client *c)
{
	if (c->futex) {
		/* K1: shared futex on the request ring's tail word. */
		syscall(SYS_futex, &c->req.ctl->p_tail, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	} else {
		ffb__bell_ring(c->server_bell);
	}
}

/* The async completion FIFO. max_inflight need not be a power of two, so
 * the positions wrap at nslots by themselves: `counter % nslots` would
 * jump at the counter's 2^32 wrap. Never more than nslots are queued:
 * one per pending slot. */
static void done_push(ffb_client *c, uint32_t slot)
{
	c->done_q[c->done_wr] = slot;
	if (++c->done_wr == c->nslots)
		c->done_wr = 0;
	c->done_tail++;
}

static uint32_t done_pop(ffb_client *c)
{
	uint32_t slot = c->done_q[c->done_rd];
	if (++c->done_rd == c->nslots)
		c->done_rd = 0;
	c->done_head++;
	return slot;
}

/* The session is over: every call still waiting completes once with `why`. */
void ffb__client_fail_all(ffb_client *c, ffb_status why)
{
	if (c->dead)
		return;
	c->dead = why; /* first: a corrupt ring found by the drain ends here */
	ffb__client_drain(c); /* answers already in the ring are real answers */
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct pending *p = &c->slots[i];
		if (p->state == P_ABANDONED) {
			p->state = P_FREE;
			c->free_slots[c->free_top++] = i;
		} else if (p->state == P_WAITING) {
			p->result = (ffb_result){.status = why};
			p->state = P_DONE;
			if (p->async)
				done_push(c, i);
		}
	}
	c->nrel = 0;
	c->ncancel = 0;
	ffb__client_served_end(c);
}

void ffb__client_fail_protocol(ffb_client *c)
{
	c->stats.protocol_errors++;
	ffb__client_fail_all(c, FFB_ERR_PROTOCOL);
}

static void fail_protocol(ffb_client *c)
{
	ffb__client_fail_protocol(c);
}

ffb_status ffb_client_flush(ffb_client *c)
{
	if (!c)
		return FFB_ERR_NULL_POINTER;
	if (c->dead)
		return c->dead;
	if (!ffb__client_push_out(c)) { /* answers to the server's calls first, in order */
		fail_protocol(c);
		return c->dead;
	}
	while (c->ncancel) {
		int room = ffb_ring_prod_free(&c->req, 1);
		if (room == FFB_RING_CORRUPT) {
			fail_protocol(c);
			return c->dead;
		}
		if (room == 0)
			break; /* the rest go with a later flush */
		struct ffb_ring_entry e = {.call_id = c->cancels[--c->ncancel], .kind = FFB_KIND_CANCEL};
		ffb_ring_prod_push(&c->req, &e);
	}
	while (c->nrel) {
		int room = ffb_ring_prod_free(&c->req, 1);
		if (room == FFB_RING_CORRUPT) {
			fail_protocol(c);
			return c->dead;
		}
		if (room == 0)
			break; /* the rest go with a later flush */
		struct ffb_ring_entry e = {.handle = c->releases[--c->nrel], .kind = FFB_KIND_RELEASE};
		ffb_ring_prod_push(&c->req, &e);
	}
	if (ffb_ring_prod_publish(&c->req))
		wake_server(c);
	return FFB_OK;
}

static void free_slot(ffb_client *c, uint32_t i)
{
	c->slots[i].state = P_FREE;
	c->free_slots[c->free_top++] = i;
}

/* Check a RESULT's reply handle against what this call may get back. */
static bool reply_ok(ffb_client *c, const struct pending *p, const struct ffb_ring_entry *e)
{
	if (p->lookup && e->fn_or_status == FFB_OK)
		return e->handle == 0 && e->len != 0; /* len is the function id, never 0 */
	if (e->handle == 0)
		return e->len == 0;
	if (e->handle == p->in_handle)
		return e->len <= c->own.cls[FFB_HANDLE_CLASS(e->handle)].block_size;
	uint32_t k, i;
	if (ffb__heap_check(&c->peer, e->handle, &k, &i) != FFB_OK || e->len > c->peer.cls[k].block_size)
		return false;
	return ffb__heap_hold(&c->peer, e->handle) == FFB_OK;
}

static void deliver(ffb_client *c, const struct ffb_ring_entry *e)
{
	uint32_t i = FFB_CALL_SLOT(e->call_id);
	struct pending *p = i < c->nslots ? &c->slots[i] : NULL;
	/* The whole id must be the pending call's: slot, generation, and our
	 * direction and kind bits (PROTOCOL.md §8). */
	if (e->kind != FFB_KIND_RESULT || !p || e->call_id != FFB_CALL_MAKE(p->gen, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, i) ||
	    (p->state != P_WAITING && p->state != P_ABANDONED)) {
		c->stats.dropped_responses++;
		return;
	}
	ffb_result r = {.status = (ffb_status)e->fn_or_status, .len = e->len, .handle = {e->handle}};
	p->fn_id = 0;
	if (p->lookup && r.status == FFB_OK) {
		p->fn_id = e->len;
		r.len = 0;
	}
	if (!reply_ok(c, p, e)) {
		c->stats.protocol_errors++;
		r = (ffb_result){.status = FFB_ERR_PROTOCOL};
	}
	/* B1: the lent block is ours again (the reply may be that block). */
	if (p->in_handle)
		ffb__heap_transition(&c->own, p->in_handle, FFB__BLOCK_LENT, FFB__BLOCK_OWNED);
	if (p->state == P_ABANDONED) {
		/* Its caller gave up: reclaim what the late answer brought. */
		/* Without room to queue its RELEASE, the block stays held until
		 * the session ends: lost to this session, never to another. */
		if (r.handle.id && r.handle.id != p->in_handle && ffb__client_reserve_release(c) == FFB_OK &&
		    ffb__heap_unhold(&c->peer, r.handle.id, true) == FFB_OK)
			ffb__client_queue_release(c, r.handle.id);
		if (p->in_handle)
			ffb__heap_free(&c->own, p->in_handle, FFB__BLOCK_OWNED);
		free_slot(c, i);
		c->stats.dropped_responses++;
		return;
	}
	p->result = r;
	p->state = P_DONE;
	if (p->async)
		done_push(c, i);
}

void ffb__client_drain(ffb_client *c)
{
	struct ffb_ring_entry batch[64];
	for (;;) {
		int n = ffb_ring_cons_ready(&c->resp); /* a bad tail is found at park */
		if (n == 0) {
			if (c->out_n && !c->dead) /* answers to LOOKUPs and unknown ids go now */
				ffb_client_flush(c);
			return;
		}
		unsigned k = n < 64 ? (unsigned)n : 64;
		for (unsigned j = 0; j < k; j++)
			ffb_ring_cons_pop(&c->resp, &batch[j]);
		/* Free the slots before a delivered call's id can be reused. */
		ffb_ring_cons_release(&c->resp);
		for (unsigned j = 0; j < k; j++) {
			switch (batch[j].kind) {
			case FFB_KIND_CALL:
			case FFB_KIND_LOOKUP:
			case FFB_KIND_CANCEL:
			case FFB_KIND_CREDIT:
			case FFB_KIND_RELEASE:
				ffb__client_served_entry(c, &batch[j]);
				break;
			default:
				deliver(c, &batch[j]);
			}
		}
	}
}

/* Is the server still there? Reads a goodbye or an EOF off the socket. */
static void check_sock(ffb_client *c)
{
	struct ffb_goodbye bye;
	size_t len = sizeof(bye);
	int fds[FFB_MAX_HELLO_FDS];
	unsigned nfds = 0;
	ffb_status st = ffb__recv_msg(c->sock, &bye, &len, fds, &nfds, MSG_DONTWAIT);
	ffb__close_fds(fds, nfds);
	if (st == FFB_ERR_WOULD_BLOCK)
		return;
	if (st == FFB_ERR_PEER_GONE) {
		/* A reset is reported before queued messages: a goodbye the
		 * server sent before it hung up may still be there. */
		len = sizeof(bye);
		st = ffb__recv_msg(c->sock, &bye, &len, fds, &nfds, MSG_DONTWAIT);
		ffb__close_fds(fds, nfds);
		if (st != FFB_OK)
			st = FFB_ERR_PEER_GONE;
	}
	if (st == FFB_OK && len == sizeof(bye) && bye.magic == FFB_GOODBYE_MAGIC && bye.status > 0 &&
	    bye.status <= FFB_ERR_UNKNOWN)
		ffb__client_fail_all(c, (ffb_status)bye.status);
	else if (st == FFB_OK || st == FFB_ERR_PROTOCOL || st == FFB_ERR_BAD_FD)
		fail_protocol(c); /* not a goodbye: oversized, truncated or with fds */
	else
		ffb__client_fail_all(c, FFB_ERR_PEER_GONE);
}

/* Look for a dead server if the last look is SOCK_CHECK_NS old. True if
 * it looked. */
static bool sock_check_due(ffb_client *c, uint64_t now)
{
	if (now < c->next_sock_check)
		return false;
	c->next_sock_check = now + SOCK_CHECK_NS;
	check_sock(c);
	return true;
}

typedef ffb__done_fn done_fn;

static bool slot_done(ffb_client *c, uint32_t i)
{
	return c->slots[i].state == P_DONE;
}

static bool any_async_done(ffb_client *c, uint32_t unused)
{
	(void)unused;
	return c->done_head != c->done_tail;
}

/* Sleep on the client bell and the socket until woken or `deadline`. */
static void park(ffb_client *c, uint64_t deadline)
{
	uint32_t sleep_on;
	int r = ffb_ring_cons_prepare_park(&c->resp, &sleep_on);
	if (r == FFB_RING_CORRUPT) {
		fail_protocol(c);
		return;
	}
	if (r == 0)
		return;
	c->stats.parks++;
	struct pollfd p[2] = {{.fd = c->client_bell, .events = POLLIN}, {.fd = c->sock, .events = POLLIN}};
	struct timespec ts, *until = NULL; /* ppoll: a 200 us timeout is not a whole millisecond */
	if (deadline != UINT64_MAX) {
		uint64_t now = ffb__now_ns(), left = now >= deadline ? 0 : deadline - now;
		ts = (struct timespec){.tv_sec = (time_t)(left / 1000000000ull), .tv_nsec = (long)(left % 1000000000ull)};
		until = &ts;
	}
	if (ppoll(p, 2, until, NULL) > 0) {
		if (p[0].revents & POLLIN)
			ffb__bell_drain(c->client_bell);
		if (p[1].revents)
			check_sock(c);
	}
	ffb_ring_cons_end_park(&c->resp);
}

static ffb_status wait_for(ffb_client *c, done_fn done, uint32_t arg, uint64_t deadline)
{
	uint64_t spin_until = 0;
	for (unsigned pass = 0;; pass++) {
		ffb__client_drain(c);
		if (done(c, arg))
			return FFB_OK;
		if (c->dead)
			return c->dead;
		if (c->sq_n && c->serve_depth < FFB__SERVE_DEPTH) {
			ffb__client_run_served(c); /* the server's calls run while we wait */
			continue;
		}
		if (pass & 7) { /* the clock every 8th pass: keep the spin tight */
			ffb_cpu_relax();
			continue;
		}
		uint64_t now = ffb__now_ns();
		if (now >= deadline)
			return FFB_ERR_TIMEOUT;
		if (sock_check_due(c, now))
			continue;
		if (!spin_until)
			spin_until = now + c->opts.spin_ns;
		if (c->opts.wait_mode == FFB_WAIT_SPIN || now < spin_until)
			continue;
		park(c, deadline);
	}
}

ffb_status ffb__client_wait(ffb_client *c, done_fn done, uint32_t arg, uint64_t deadline)
{
	return wait_for(c, done, arg, deadline);
}

static uint64_t deadline_of(int64_t timeout_ns)
{
	return timeout_ns < 0 ? UINT64_MAX : ffb__now_ns() + (uint64_t)timeout_ns;
}

/* Queue one CALL or LOOKUP; returns the slot. */
static ffb_status submit(ffb_client *c, uint32_t kind, uint32_t fn, ffb_handle in, uint32_t len, bool async,
			 uint32_t *slot_out)
{
	if (c->dead)
		return c->dead;
	if (in.id) {
		/* One owner check: lend the block now, give it back on failure. */
		ffb_status st = ffb__heap_transition(&c->own, in.id, FFB__BLOCK_OWNED, FFB__BLOCK_LENT);
		if (st)
			return st;
	} else if (len) {
		return FFB_ERR_INVALID_ARGUMENT;
	}
	ffb_status st = FFB_OK;
	int room = 0;
	if (in.id && len > c->own.cls[FFB_HANDLE_CLASS(in.id)].block_size)
		st = FFB_ERR_INVALID_ARGUMENT;
	else if (c->free_top == 0)
		st = FFB_ERR_TOO_MANY_CALLS;
	else if ((room = ffb_ring_prod_free(&c->req, 1)) == FFB_RING_CORRUPT)
		st = FFB_ERR_PROTOCOL;
	else if (room == 0)
		st = FFB_ERR_RING_FULL;
	if (st) {
		if (in.id)
			ffb__heap_transition(&c->own, in.id, FFB__BLOCK_LENT, FFB__BLOCK_OWNED);
		if (st == FFB_ERR_PROTOCOL) {
			fail_protocol(c);
			return c->dead;
		}
		return st;
	}
	uint32_t i = c->free_slots[--c->free_top];
	struct pending *p = &c->slots[i];
	p->gen = p->gen + 1 ? p->gen + 1 : 1;
	p->state = P_WAITING;
	p->async = async;
	p->lookup = kind == FFB_KIND_LOOKUP;
	p->in_handle = in.id;
	struct ffb_ring_entry e = {.call_id = FFB_CALL_MAKE(p->gen, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, i),
				   .handle = in.id,
				   .len = len,
				   .kind = kind,
				   .fn_or_status = fn};
	ffb_ring_prod_push(&c->req, &e);
	c->stats.calls++;
	if (async)
		c->async_pending++;
	*slot_out = i;
	return FFB_OK;
}

/* Submit, waiting for ring space while the server catches up. */
static ffb_status submit_waiting(ffb_client *c, uint32_t kind, uint32_t fn, ffb_handle in, uint32_t len,
				 uint64_t deadline, uint32_t *slot)
{
	for (;;) {
		ffb_status st = submit(c, kind, fn, in, len, false, slot);
		if (st != FFB_ERR_RING_FULL)
			return st;
		ffb_client_flush(c);
		ffb__client_drain(c);
		uint64_t now = ffb__now_ns();
		if (now >= deadline)
			return FFB_ERR_TIMEOUT;
		sock_check_due(c, now);
		ffb_cpu_relax();
	}
}

/* Submit synchronously and wait; the result (or TIMEOUT/PEER_GONE) in *out. */
static ffb_status call_sync(ffb_client *c, uint32_t kind, uint32_t fn, ffb_handle in, uint32_t len,
			    int64_t timeout_ns, ffb_result *out, uint32_t *fn_id)
{
	uint32_t i;
	uint64_t deadline = deadline_of(timeout_ns);
	ffb_status st = submit_waiting(c, kind, fn, in, len, deadline, &i);
	if (st) {
		*out = (ffb_result){.status = st};
		return st;
	}
	st = ffb_client_flush(c);
	if (!st)
		st = wait_for(c, slot_done, i, deadline);
	if (st) {
		if (c->slots[i].state == P_WAITING) {
			c->slots[i].state = P_ABANDONED; /* its late answer is reclaimed */
			if (st == FFB_ERR_TIMEOUT) /* tell the server we gave up */
				ffb_client_cancel(c, FFB_CALL_MAKE(c->slots[i].gen, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, i));
		}
		*out = (ffb_result){.status = st};
		return st;
	}
	*out = c->slots[i].result;
	if (fn_id)
		*fn_id = c->slots[i].fn_id;
	free_slot(c, i);
	return out->status;
}

ffb_status ffb_client_call(ffb_client *c, uint32_t fn_id, ffb_handle in, uint32_t len, int64_t timeout_ns,
			   ffb_result *out)
{
	if (!c || !out)
		return FFB_ERR_NULL_POINTER;
	return call_sync(c, FFB_KIND_CALL, fn_id, in, len, timeout_ns, out, NULL);
}

static struct name_cache_entry *cache_find(ffb_client *c, const char *name, size_t len)
{
	for (uint32_t i = 0; i < FFB__NAME_CACHE; i++)
		if (c->cache[i].len == len && memcmp(c->cache[i].name, name, len) == 0)
			return &c->cache[i];
	return NULL;
}

ffb_status ffb_client_resolve(ffb_client *c, const char *name, uint32_t *fn_id)
{
	if (!c || !name || !fn_id)
		return FFB_ERR_NULL_POINTER;
	size_t len = strlen(name);
	if (len == 0 || len > FFB_MAX_NAME_LEN)
		return FFB_ERR_INVALID_ARGUMENT;
	if (!ffb__utf8_valid((const uint8_t *)name, len))
		return FFB_ERR_INVALID_UTF8;
	struct name_cache_entry *e = cache_find(c, name, len);
	if (e) {
		*fn_id = e->id;
		return FFB_OK;
	}
	ffb_handle h;
	void *data;
	ffb_status st = ffb_client_alloc(c, (uint32_t)len, &h);
	if (st)
		return st;
	ffb_client_data(c, h, &data, NULL);
	memcpy(data, name, len);
	ffb_result r;
	uint32_t id = 0;
	st = call_sync(c, FFB_KIND_LOOKUP, 0, h, (uint32_t)len, (int64_t)c->opts.connect_timeout_ms * 1000000,
		       &r, &id);
	if (st != FFB_ERR_TIMEOUT && st != FFB_ERR_PEER_GONE && !c->dead)
		ffb_client_free(c, h);
	if (st)
		return st;
	e = &c->cache[c->cache_next++ % FFB__NAME_CACHE];
	e->len = (uint32_t)len;
	e->id = id;
	memcpy(e->name, name, len);
	*fn_id = id;
	return FFB_OK;
}

ffb_status ffb_client_invoke(ffb_client *c, const char *name, ffb_handle in, uint32_t len, int64_t timeout_ns,
			     ffb_result *out)
{
	if (!c || !name || !out)
		return FFB_ERR_NULL_POINTER;
	for (int attempt = 0;; attempt++) {
		uint32_t id;
		ffb_status st = ffb_client_resolve(c, name, &id);
		if (st) {
			*out = (ffb_result){.status = st};
			return st;
		}
		st = ffb_client_call(c, id, in, len, timeout_ns, out);
		/* NOT_FOUND with a message is the function's own answer; with
		 * none, no function has that id (PROTOCOL.md §7). */
		if (st != FFB_ERR_NOT_FOUND || out->handle.id || attempt == 1)
			return st;
		/* The name may have been re-registered under a new id. */
		struct name_cache_entry *e = cache_find(c, name, strlen(name));
		if (e)
			e->len = 0;
		if (out->handle.id)
			ffb_client_free(c, out->handle);
	}
}

ffb_status ffb_client_submit(ffb_client *c, uint32_t fn_id, ffb_handle in, uint32_t len, uint64_t *call_id)
{
	if (!c || !call_id)
		return FFB_ERR_NULL_POINTER;
	uint32_t i;
	ffb_status st = submit(c, FFB_KIND_CALL, fn_id, in, len, true, &i);
	if (!st)
		*call_id = FFB_CALL_MAKE(c->slots[i].gen, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, i);
	return st;
}

ffb_status ffb_client_cancel(ffb_client *c, uint64_t call_id)
{
	if (!c)
		return FFB_ERR_NULL_POINTER;
	if (c->dead)
		return c->dead;
	uint32_t i = FFB_CALL_SLOT(call_id);
	const struct pending *p = i < c->nslots ? &c->slots[i] : NULL;
	if (!p || call_id != FFB_CALL_MAKE(p->gen, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, i) ||
	    (p->state != P_WAITING && p->state != P_ABANDONED))
		return FFB_ERR_NOT_FOUND;
	for (uint32_t k = 0; k < c->ncancel; k++)
		if (c->cancels[k] == call_id)
			return FFB_OK; /* already asked */
	if (c->ncancel == c->nslots)
		return FFB_ERR_RING_FULL; /* cannot happen: one per pending slot */
	c->cancels[c->ncancel++] = call_id;
	return ffb_client_flush(c);
}

ffb_status ffb_client_poll(ffb_client *c, struct ffb_completion *out, uint32_t max, uint32_t *n, int64_t timeout_ns)
{
	if (!c || !out || !n)
		return FFB_ERR_NULL_POINTER;
	*n = 0;
	if (!c->dead)
		ffb_client_flush(c);
	ffb__client_drain(c);
	ffb__client_run_served(c);
	if (c->done_head == c->done_tail) {
		if (c->async_pending == 0)
			return FFB_ERR_WOULD_BLOCK;
		if (timeout_ns == 0)
			return FFB_ERR_WOULD_BLOCK;
		ffb_status st = wait_for(c, any_async_done, 0, deadline_of(timeout_ns));
		if (st && c->done_head == c->done_tail)
			return st;
	}
	while (*n < max && c->done_head != c->done_tail) {
		uint32_t i = done_pop(c);
		out[*n].call_id = FFB_CALL_MAKE(c->slots[i].gen, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, i);
		out[*n].result = c->slots[i].result;
		free_slot(c, i);
		c->async_pending--;
		(*n)++;
	}
	return FFB_OK;
}
