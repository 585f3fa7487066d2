/*
 * raw_client.h — a real C client (handshake, mapping, bells) whose rings
 * the test then drives by hand: it writes request entries itself and
 * reads the response ring itself, so it can play any part of the
 * protocol -- answer the server's calls, break the rules on purpose.
 * Once a test reads the response ring raw it must not call the client's
 * own call functions until that ring is drained (they would take its
 * entries).
 */
#ifndef FFB_TEST_RAW_CLIENT_H
#define FFB_TEST_RAW_CLIENT_H

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "client_internal.h"
#include "testutil.h"

/* What the client's own wake_server does: FUTEX_WAKE on the request
 * ring's tail, or a write to the server bell. */
static inline void raw_wake(ffb_client *c)
{
	if (c->futex) {
		syscall(SYS_futex, &c->req.ctl->p_tail, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	} else {
		uint64_t one = 1;
		assert_int_equal(write(c->server_bell, &one, sizeof(one)), sizeof(one));
	}
}

/* Push raw entries through the client's producer view and publish. */
static inline void raw_push(ffb_client *c, const struct ffb_ring_entry *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		assert_true(ffb_ring_prod_free(&c->req, 1) > 0);
		ffb_ring_prod_push(&c->req, &e[i]);
	}
	assert_int_equal(ffb_client_flush(c), FFB_OK);
	raw_wake(c); /* a second, unconditional wake: harmless (K1) */
}

static inline void raw_push1(ffb_client *c, uint64_t call_id, uint64_t handle, uint32_t len, uint32_t kind,
			     uint32_t fn_or_status)
{
	struct ffb_ring_entry e = {.call_id = call_id, .handle = handle, .len = len, .kind = kind,
				   .fn_or_status = fn_or_status};
	raw_push(c, &e, 1);
}

/* Pop one entry off the response ring; false if none comes in `ms`. */
static inline bool raw_pop(ffb_client *c, struct ffb_ring_entry *e, int ms)
{
	if (!WAIT_UNTIL(ffb_ring_cons_ready(&c->resp) > 0, ms))
		return false;
	ffb_ring_cons_pop(&c->resp, e);
	ffb_ring_cons_release(&c->resp);
	return true;
}

/* A block of the client's holding n bytes of p. */
static inline uint64_t raw_block(ffb_client *c, const void *p, uint32_t n)
{
	ffb_handle h;
	void *data;
	assert_int_equal(ffb_client_alloc(c, n ? n : 1, &h), FFB_OK);
	assert_int_equal(ffb_client_data(c, h, &data, NULL), FFB_OK);
	memcpy(data, p, n);
	return h.id;
}

/* The bytes of a block of either heap (the test trusts its server). */
static inline const void *raw_bytes(ffb_client *c, uint64_t handle)
{
	uint32_t k = 0, i = 0;
	struct ffb__heap *heap = FFB_HANDLE_HEAP(handle) == FFB_HEAP_SERVER ? &c->peer : &c->own;
	assert_int_equal(ffb__heap_check(heap, handle, &k, &i), FFB_OK);
	return ffb__heap_at(heap, k, i);
}

#endif /* FFB_TEST_RAW_CLIENT_H */
