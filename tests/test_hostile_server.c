/*
 * test_hostile_server.c — a hostile server against the C client.
 *
 * An in-process fake server (a valid handshake over a socketpair, then
 * direct writes to the response ring; tests/fake_server.h) answers with
 * forged and duplicate call ids, handles the call did not lend or that
 * are out of range, corrupt ring indices, goodbyes and garbage on the
 * socket, and a server bell made blocking and full. The client must never
 * deliver a result to the wrong call, must count what it drops, must fail
 * with PROTOCOL where the ring itself is corrupt, must not block in a
 * write of a bell the peer controls, and must not crash. (Hostile clients
 * against a real server: test_hostile_client.c.)
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "client_internal.h"
#include "fake_server.h"
#include "hostile.h"

/* A valid handshake from an in-process fake server whose rings' indices
 * start at `start`, with the eventfd doorbell `server_bell` (taken over)
 * or, at -1, the futex doorbell: its hello is queued before the client's
 * handshake runs, so no thread is needed. */
static void fake_start_at(struct fake_conn *f, uint32_t ring, uint32_t start, int server_bell)
{
	struct ffb_server_options o;
	small_options(&o, ring);
	const char *failed = fake_conn_open(f, &o, server_bell, start);
	if (failed)
		fail_msg("%s", failed);
}

static void fake_start(struct fake_conn *f, uint32_t ring)
{
	fake_start_at(f, ring, 0, -1);
}

/* Take one request off the ring (the client must have flushed it). */
static struct ffb_ring_entry fake_take(struct fake_conn *f)
{
	assert_true(ffb_ring_cons_ready(&f->req) > 0);
	struct ffb_ring_entry e;
	ffb_ring_cons_pop(&f->req, &e);
	ffb_ring_cons_release(&f->req);
	return e;
}

static void fake_answer(struct fake_conn *f, uint64_t call_id, uint32_t kind, int32_t status, uint64_t handle,
			uint32_t len)
{
	assert_true(ffb_ring_prod_free(&f->resp, 1) > 0);
	struct ffb_ring_entry r = {.call_id = call_id, .handle = handle, .len = len, .kind = kind,
				   .fn_or_status = (uint32_t)status};
	ffb_ring_prod_push(&f->resp, &r);
}

static void fake_publish(struct fake_conn *f)
{
	ffb_ring_prod_publish(&f->resp);
	uint64_t one = 1;
	assert_int_equal(write(f->bell, &one, sizeof(one)), sizeof(one));
}

/* Submit an async echo of `in` (len n) and flush; the fake takes it. */
static uint64_t submit_taken(struct fake_conn *f, ffb_handle in, uint32_t n, struct ffb_ring_entry *taken)
{
	uint64_t id;
	assert_int_equal(ffb_client_submit(f->c, FFB_FN_ECHO, in, n, &id), FFB_OK);
	assert_int_equal(ffb_client_flush(f->c), FFB_OK);
	*taken = fake_take(f);
	assert_true(taken->call_id == id);
	return id;
}

static ffb_handle block_with(ffb_client *c, uint32_t size, uint32_t seed)
{
	ffb_handle h;
	void *d;
	assert_int_equal(ffb_client_alloc(c, size, &h), FFB_OK);
	assert_int_equal(ffb_client_data(c, h, &d, NULL), FFB_OK);
	fill(d, size, seed);
	return h;
}

static uint32_t poll_all(ffb_client *c, struct ffb_completion *out, uint32_t max, int64_t timeout_ns)
{
	uint32_t n = 0, total = 0;
	while (total < max) {
		ffb_status st = ffb_client_poll(c, out + total, max - total, &n, timeout_ns);
		if (st != FFB_OK || n == 0)
			break;
		total += n;
	}
	return total;
}

static uint64_t dropped(ffb_client *c)
{
	struct ffb_client_stats s;
	assert_int_equal(ffb_client_stats(c, &s), FFB_OK);
	return s.dropped_responses;
}

static uint64_t proto_errors(ffb_client *c)
{
	struct ffb_client_stats s;
	assert_int_equal(ffb_client_stats(c, &s), FFB_OK);
	return s.protocol_errors;
}

static void forged_call_ids_are_dropped_never_delivered(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_start(&f, 16);
	ffb_handle a = block_with(f.c, 40, 21);
	struct ffb_ring_entry t;
	uint64_t id = submit_taken(&f, a, 40, &t);
	uint32_t slot = FFB_CALL_SLOT(id), gen = FFB_CALL_GEN(id);
	const uint64_t forged[] = {
		((uint64_t)gen << 32) | (slot + 1),       /* a slot not pending */
		((uint64_t)(gen + 1) << 32) | slot,       /* next generation */
		((uint64_t)(gen - 1) << 32) | slot,       /* previous generation */
		((uint64_t)gen << 32) | 16,               /* slot == max_inflight */
		((uint64_t)gen << 32) | UINT32_MAX,       /* slot far out of range */
		0,
		UINT64_MAX,
	};
	size_t nf = sizeof(forged) / sizeof(forged[0]);
	for (size_t i = 0; i < nf; i++)
		fake_answer(&f, forged[i], FFB_KIND_RESULT, FFB_ERR_PANIC, 0, 0);
	/* the right id in an entry that is not a RESULT */
	fake_answer(&f, id, FFB_KIND_CALL, FFB_ERR_PANIC, 0, 0);
	fake_answer(&f, id, 0, FFB_ERR_PANIC, 0, 0);
	fake_publish(&f);

	struct ffb_completion done[8];
	uint32_t n;
	assert_int_equal(ffb_client_poll(f.c, done, 8, &n, 0), FFB_ERR_WOULD_BLOCK);
	assert_int_equal(n, 0);
	assert_int_equal(dropped(f.c), nf + 2);

	fake_answer(&f, id, FFB_KIND_RESULT, FFB_OK, a.id, 40);
	fake_publish(&f);
	assert_int_equal(poll_all(f.c, done, 8, SEC), 1);
	assert_true(done[0].call_id == id);
	assert_int_equal(done[0].result.status, FFB_OK);
	assert_int_equal(done[0].result.handle.id, a.id);
	assert_int_equal(done[0].result.len, 40);
	void *d;
	assert_int_equal(ffb_client_data(f.c, a, &d, NULL), FFB_OK);
	assert_true(check(d, 40, 21));
	assert_int_equal(ffb_client_free(f.c, a), FFB_OK); /* OWNED again, not lent */
	assert_int_equal(proto_errors(f.c), 0);
	fake_conn_close(&f);
}

static void duplicate_and_late_results_are_dropped(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_start(&f, 8);
	struct ffb_ring_entry t;
	ffb_handle a = block_with(f.c, 16, 22);
	uint64_t x = submit_taken(&f, a, 16, &t);
	fake_answer(&f, x, FFB_KIND_RESULT, FFB_OK, a.id, 16);
	fake_answer(&f, x, FFB_KIND_RESULT, FFB_ERR_PANIC, 0, 0); /* duplicate, same batch */
	fake_publish(&f);
	struct ffb_completion done[8];
	assert_int_equal(poll_all(f.c, done, 8, SEC), 1);
	assert_true(done[0].call_id == x);
	assert_int_equal(done[0].result.status, FFB_OK);
	assert_int_equal(dropped(f.c), 1);

	/* duplicate after the slot was freed */
	fake_answer(&f, x, FFB_KIND_RESULT, FFB_ERR_PANIC, 0, 0);
	fake_publish(&f);
	uint32_t n;
	assert_int_equal(ffb_client_poll(f.c, done, 8, &n, 0), FFB_ERR_WOULD_BLOCK);
	assert_int_equal(dropped(f.c), 2);

	/* the slot is reused by a new call: x's late answer must not reach it */
	uint64_t y = submit_taken(&f, a, 16, &t);
	assert_int_equal(FFB_CALL_SLOT(y), FFB_CALL_SLOT(x));
	assert_true(y != x);
	fake_answer(&f, x, FFB_KIND_RESULT, FFB_ERR_PANIC, 0, 0);
	fake_publish(&f);
	assert_int_equal(ffb_client_poll(f.c, done, 8, &n, 0), FFB_ERR_WOULD_BLOCK);
	assert_int_equal(dropped(f.c), 3);
	assert_int_equal(ffb_client_free(f.c, a), FFB_ERR_BUSY); /* still lent to y */
	fake_answer(&f, y, FFB_KIND_RESULT, FFB_OK, a.id, 3);
	fake_publish(&f);
	assert_int_equal(poll_all(f.c, done, 8, SEC), 1);
	assert_true(done[0].call_id == y);
	assert_int_equal(done[0].result.len, 3);
	assert_int_equal(ffb_client_free(f.c, a), FFB_OK);
	fake_conn_close(&f);
}

static void client_handle_not_lent_is_refused(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_start(&f, 8);
	struct ffb_ring_entry t;
	ffb_handle a = block_with(f.c, 16, 23); /* lent to x */
	ffb_handle b = block_with(f.c, 16, 24); /* never lent */
	ffb_handle c = block_with(f.c, 16, 25); /* lent to y */
	uint64_t x = submit_taken(&f, a, 16, &t);
	uint64_t y = submit_taken(&f, c, 16, &t);

	fake_answer(&f, x, FFB_KIND_RESULT, FFB_OK, b.id, 16); /* not x's */
	fake_publish(&f);
	struct ffb_completion done[8];
	assert_int_equal(poll_all(f.c, done, 8, SEC), 1);
	assert_true(done[0].call_id == x);
	assert_int_equal(done[0].result.status, FFB_ERR_PROTOCOL);
	assert_int_equal(done[0].result.handle.id, 0);
	assert_int_equal(proto_errors(f.c), 1);
	void *d;
	assert_int_equal(ffb_client_data(f.c, b, &d, NULL), FFB_OK);
	assert_true(check(d, 16, 24));
	assert_int_equal(ffb_client_free(f.c, a), FFB_OK); /* x gave a back */

	/* y's own block named in an answer to another call */
	uint64_t z = submit_taken(&f, b, 16, &t);
	fake_answer(&f, z, FFB_KIND_RESULT, FFB_OK, c.id, 16);
	fake_publish(&f);
	assert_int_equal(poll_all(f.c, done, 8, SEC), 1);
	assert_true(done[0].call_id == z);
	assert_int_equal(done[0].result.status, FFB_ERR_PROTOCOL);
	assert_int_equal(ffb_client_free(f.c, c), FFB_ERR_BUSY); /* still y's */

	/* the lent block with a len over its size */
	fake_answer(&f, y, FFB_KIND_RESULT, FFB_OK, c.id, 65);
	fake_publish(&f);
	assert_int_equal(poll_all(f.c, done, 8, SEC), 1);
	assert_true(done[0].call_id == y);
	assert_int_equal(done[0].result.status, FFB_ERR_PROTOCOL);
	assert_int_equal(ffb_client_free(f.c, c), FFB_OK);
	assert_int_equal(ffb_client_free(f.c, b), FFB_OK);
	assert_int_equal(proto_errors(f.c), 3);
	fake_conn_close(&f);
}

static void server_handle_out_of_range_is_refused(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_start(&f, 8);
	const struct ffb_heap_desc *sh = &f.sb.heaps[1];
	uint32_t tag = f.sb.arena_tag;
	const uint64_t bad[] = {
		FFB_HANDLE_MAKE(5, tag, FFB_HEAP_SERVER, 0, sh->classes[0].count), /* index == count */
		FFB_HANDLE_MAKE(5, tag, FFB_HEAP_SERVER, 0, FFB_MAX_BLOCKS - 1),
		FFB_HANDLE_MAKE(5, tag, FFB_HEAP_SERVER, sh->nclasses, 0),          /* class == nclasses */
		FFB_HANDLE_MAKE(5, tag, FFB_HEAP_SERVER, 9, 0),                     /* class of 0 blocks */
		FFB_HANDLE_MAKE(5, tag ^ 0x80, FFB_HEAP_SERVER, 0, 0),              /* another arena */
		FFB_HANDLE_MAKE(0, tag, FFB_HEAP_SERVER, 0, 0),                     /* generation 0 */
		FFB_HANDLE_MAKE(5, tag, 3, 0, 0),                                   /* no such heap */
		FFB_HANDLE_MAKE(5, tag, 0, 0, 0),
	};
	size_t nb = sizeof(bad) / sizeof(bad[0]);
	struct ffb_completion done[8];
	struct ffb_ring_entry t;
	for (size_t i = 0; i < nb; i++) {
		uint64_t id = submit_taken(&f, (ffb_handle){0}, 0, &t);
		fake_answer(&f, id, FFB_KIND_RESULT, FFB_OK, bad[i], 1);
		fake_publish(&f);
		assert_int_equal(poll_all(f.c, done, 8, SEC), 1);
		assert_true(done[0].call_id == id);
		assert_int_equal(done[0].result.status, FFB_ERR_PROTOCOL);
		assert_int_equal(done[0].result.handle.id, 0);
	}
	/* control: a valid server block is delivered and held ... */
	uint64_t good = FFB_HANDLE_MAKE(5, tag, FFB_HEAP_SERVER, 1, 2);
	uint64_t id = submit_taken(&f, (ffb_handle){0}, 0, &t);
	fake_answer(&f, id, FFB_KIND_RESULT, FFB_OK, good, 256);
	/* ... the same block handed out again while held is refused ... */
	uint64_t id2 = submit_taken(&f, (ffb_handle){0}, 0, &t);
	fake_answer(&f, id2, FFB_KIND_RESULT, FFB_OK, good, 1);
	/* ... as is a len over the block, and a len without a handle */
	uint64_t id3 = submit_taken(&f, (ffb_handle){0}, 0, &t);
	fake_answer(&f, id3, FFB_KIND_RESULT, FFB_OK, FFB_HANDLE_MAKE(5, tag, FFB_HEAP_SERVER, 0, 0), 65);
	uint64_t id4 = submit_taken(&f, (ffb_handle){0}, 0, &t);
	fake_answer(&f, id4, FFB_KIND_RESULT, FFB_OK, 0, 5);
	fake_publish(&f);
	assert_int_equal(poll_all(f.c, done, 8, SEC), 4);
	for (int i = 0; i < 4; i++) {
		if (done[i].call_id == id) {
			assert_int_equal(done[i].result.status, FFB_OK);
			assert_int_equal(done[i].result.handle.id, good);
		} else {
			assert_true(done[i].call_id == id2 || done[i].call_id == id3 || done[i].call_id == id4);
			assert_int_equal(done[i].result.status, FFB_ERR_PROTOCOL);
		}
	}
	assert_int_equal(proto_errors(f.c), nb + 3);
	/* the held block goes back with a RELEASE the fake can see */
	assert_int_equal(ffb_client_free(f.c, (ffb_handle){good}), FFB_OK);
	assert_int_equal(ffb_client_free(f.c, (ffb_handle){good}), FFB_ERR_DOUBLE_FREE);
	assert_int_equal(ffb_client_flush(f.c), FFB_OK);
	struct ffb_ring_entry rel = fake_take(&f);
	assert_int_equal(rel.kind, FFB_KIND_RELEASE);
	assert_true(rel.handle == good);
	assert_true(ffb_ring_cons_ready(&f.req) == 0);
	fake_conn_close(&f);
}

static void corrupt_response_tail_fails_every_pending_call_with_protocol(void **state)
{
	(void)state;
	/* Further ahead or behind than the ring holds (the client may run
	 * up to a ring ahead of the tail on entry stamps). */
	const uint32_t jumps[] = {1, 0x80000000u, 0};
	for (size_t j = 0; j < sizeof(jumps) / sizeof(jumps[0]); j++) {
		struct fake_conn f;
		fake_start(&f, 8);
		uint32_t jump = j == 0 ? f.resp.size + 1 : j == 2 ? -(f.resp.size + 1) : jumps[j];
		struct ffb_ring_entry t;
		uint64_t ids[3];
		for (int i = 0; i < 3; i++)
			ids[i] = submit_taken(&f, (ffb_handle){0}, 0, &t);
		uint32_t head = __atomic_load_n(&f.resp.ctl->c_head, __ATOMIC_ACQUIRE);
		__atomic_store_n(&f.resp.ctl->p_tail, head + jump, __ATOMIC_RELEASE);
		uint64_t one = 1;
		assert_int_equal(write(f.bell, &one, sizeof(one)), sizeof(one));
		struct ffb_completion done[8];
		assert_int_equal(poll_all(f.c, done, 8, SEC), 3);
		for (int i = 0; i < 3; i++) {
			assert_true(done[i].call_id == ids[0] || done[i].call_id == ids[1] || done[i].call_id == ids[2]);
			assert_int_equal(done[i].result.status, FFB_ERR_PROTOCOL);
		}
		assert_true(done[0].call_id != done[1].call_id && done[1].call_id != done[2].call_id &&
			    done[0].call_id != done[2].call_id);
		ffb_result r;
		assert_int_equal(ffb_client_call(f.c, FFB_FN_ECHO, (ffb_handle){0}, 0, SEC, &r), FFB_ERR_PROTOCOL);
		uint64_t id;
		assert_int_equal(ffb_client_submit(f.c, FFB_FN_ECHO, (ffb_handle){0}, 0, &id), FFB_ERR_PROTOCOL);
		assert_int_equal(ffb_client_flush(f.c), FFB_ERR_PROTOCOL);
		assert_true(proto_errors(f.c) >= 1);
		fake_conn_close(&f);
	}
}

static void corrupt_request_head_is_protocol_on_next_submit(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_start(&f, 8);
	struct ffb_ring_entry t;
	for (int i = 0; i < 8; i++) {
		uint64_t id = submit_taken(&f, (ffb_handle){0}, 0, &t);
		fake_answer(&f, id, FFB_KIND_RESULT, FFB_OK, 0, 0);
	}
	fake_publish(&f);
	struct ffb_completion done[8];
	assert_int_equal(poll_all(f.c, done, 8, SEC), 8);
	/* the consumer index the client trusts is now ahead of its tail */
	uint32_t tail = __atomic_load_n(&f.req.ctl->p_tail, __ATOMIC_ACQUIRE);
	__atomic_store_n(&f.req.ctl->c_head, tail + 1, __ATOMIC_RELEASE);
	uint64_t id;
	assert_int_equal(ffb_client_submit(f.c, FFB_FN_ECHO, (ffb_handle){0}, 0, &id), FFB_ERR_PROTOCOL);
	assert_int_equal(proto_errors(f.c), 1);
	fake_conn_close(&f);
}

static void goodbye_and_garbage_on_socket_end_pending_calls(void **state)
{
	(void)state;
	for (int v = 0; v < 4; v++) {
		int fds_before = count_fds(0);
		struct fake_conn f;
		fake_start(&f, 8);
		struct ffb_ring_entry t;
		uint64_t ids[2];
		for (int i = 0; i < 2; i++)
			ids[i] = submit_taken(&f, (ffb_handle){0}, 0, &t);
		struct ffb_goodbye bye = {.magic = FFB_GOODBYE_MAGIC, .status = FFB_ERR_PROTOCOL};
		ffb_status want = FFB_ERR_PROTOCOL;
		int efd[3] = {eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC)};
		unsigned nfds = 0;
		switch (v) {
		case 0: break;                                        /* a real goodbye */
		case 1: bye.status = FFB_ERR_CLOSED; want = FFB_ERR_CLOSED; break;
		case 2: bye.magic ^= 1; break;                        /* garbage: PROTOCOL */
		case 3: bye.status = 0; nfds = 3; break;              /* bogus status, with fds */
		}
		assert_int_equal(ffb__send_msg(f.sock, &bye, sizeof(bye), efd, nfds), FFB_OK);
		for (int i = 0; i < 3; i++)
			close(efd[i]);
		struct ffb_completion done[8];
		assert_int_equal(poll_all(f.c, done, 8, SEC), 2);
		for (int i = 0; i < 2; i++) {
			assert_true(done[i].call_id == ids[0] || done[i].call_id == ids[1]);
			assert_int_equal(done[i].result.status, want);
		}
		assert_true(done[0].call_id != done[1].call_id);
		fake_conn_close(&f);
		assert_int_equal(count_fds(0), fds_before);
		assert_int_equal(count_arena_maps(0), 0);
	}
}

/* FAILS against the current src/ (reported bug): check_sock() treats the
 * PROTOCOL that ffb__recv_msg() returns for a truncated message as a dead
 * peer. A server sending a message longer than a goodbye broke the
 * protocol; pending calls must end with PROTOCOL, not PEER_GONE. */
static void long_message_from_server_ends_pending_calls_with_protocol(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_start(&f, 8);
	struct ffb_ring_entry t;
	uint64_t id = submit_taken(&f, (ffb_handle){0}, 0, &t);
	char junk[64];
	memset(junk, 'j', sizeof(junk));
	assert_int_equal(send(f.sock, junk, sizeof(junk), MSG_NOSIGNAL), sizeof(junk));
	struct ffb_completion done[2];
	uint32_t n = poll_all(f.c, done, 2, SEC);
	ffb_status st = n == 1 ? done[0].result.status : FFB_ERR_UNKNOWN;
	fake_conn_close(&f);
	assert_int_equal(n, 1);
	assert_true(done[0].call_id == id);
	assert_int_equal(st, FFB_ERR_PROTOCOL);
}

/* Random RESULT entries: whatever is delivered went to the call whose id
 * the entry carried, each call completes at most once, and a reply the
 * call could not have been given is turned into PROTOCOL. */
static void random_results_never_reach_the_wrong_call(void **state)
{
	(void)state;
	rng_state = 0xD1B54A32D192ED03ull;
	unsigned n_match = 0, n_refused = 0, n_held = 0, n_dead = 0;
	int fds_before = count_fds(0);
	uint64_t t0 = test_now_ns();
	for (int round = 0; round < 200; round++) {
		struct fake_conn f;
		fake_start(&f, 8);
		uint32_t tag = f.sb.arena_tag;
		for (int step = 0; step < 20 && !f.c->dead; step++) {
			/* up to 4 calls pending, remembered by id */
			uint64_t pend[8];
			unsigned np = 0;
			struct ffb_ring_entry t;
			unsigned want = 1 + (unsigned)(rnd() % 4);
			for (unsigned i = 0; i < want && !f.c->dead; i++)
				pend[np++] = submit_taken(&f, (ffb_handle){0}, 0, &t);
			/* random answers: ids near the real ones, random handles */
			struct ffb_ring_entry sent[8];
			/* now and then a corrupt tail instead of answers: found when
			 * the client finds nothing stamped and goes to park */
			bool corrupt = rnd() % 20 == 0;
			unsigned ns = corrupt ? 0 : 1 + (unsigned)(rnd() % 8);
			for (unsigned i = 0; i < ns; i++) {
				uint64_t id = np ? pend[rnd() % np] : rnd();
				switch (rnd() % 4) {
				case 0: id ^= 1ull << (rnd() % 64); break;
				case 1: id = rnd(); break;
				default: break;
				}
				uint64_t h = 0;
				switch (rnd() % 4) {
				case 0: h = FFB_HANDLE_MAKE(1 + rnd() % 3, tag, FFB_HEAP_SERVER, rnd() % 3, rnd() % 3); break;
				case 1: h = rnd(); break;
				case 2: h = FFB_HANDLE_MAKE(rnd(), rnd(), rnd(), rnd(), rnd()); break;
				default: break;
				}
				sent[i] = (struct ffb_ring_entry){.call_id = id, .handle = h,
								  .len = (uint32_t)(rnd() % 3 ? rnd() % 80 : rnd()),
								  .kind = rnd() % 5 ? FFB_KIND_RESULT : (uint32_t)rnd(),
								  .fn_or_status = (uint32_t)(rnd() % 30)};
				if (ffb_ring_prod_free(&f.resp, 1) <= 0)
					break;
				ffb_ring_prod_push(&f.resp, &sent[i]);
			}
			if (corrupt)
				__atomic_store_n(&f.resp.ctl->p_tail, f.resp.tail + 9 + (uint32_t)(rnd() % 0x7ffffff0u),
						 __ATOMIC_RELEASE);
			else
				ffb_ring_prod_publish(&f.resp);
			uint64_t one = 1;
			(void)!write(f.bell, &one, sizeof(one));

			struct ffb_completion done[16];
			uint32_t n = 0;
			ffb_status st = ffb_client_poll(f.c, done, 16, &n, corrupt ? SEC : 0);
			assert_true(!corrupt || f.c->dead == FFB_ERR_PROTOCOL);
			assert_true(st == FFB_OK || st == FFB_ERR_WOULD_BLOCK);
			for (uint32_t i = 0; i < n; i++) {
				bool was_pending = false;
				for (unsigned k = 0; k < np; k++)
					if (pend[k] == done[i].call_id) {
						was_pending = true;
						pend[k] = 0; /* at most once */
					}
				assert_true(was_pending);
				const ffb_result *r = &done[i].result;
				bool matches = false;
				for (unsigned k = 0; k < ns; k++)
					if (sent[k].call_id == done[i].call_id && sent[k].kind == FFB_KIND_RESULT &&
					    (int32_t)sent[k].fn_or_status == (int32_t)r->status && sent[k].handle == r->handle.id &&
					    sent[k].len == r->len)
						matches = true;
				assert_true(matches || (r->status == FFB_ERR_PROTOCOL && r->handle.id == 0));
				n_match += matches;
				n_refused += !matches;
				n_held += r->handle.id != 0;
				if (r->handle.id)
					assert_int_equal(ffb_client_free(f.c, r->handle), FFB_OK);
			}
			/* whatever is still pending: the fake answers it properly */
			for (unsigned k = 0; k < np && !f.c->dead; k++)
				if (pend[k] && ffb_ring_prod_free(&f.resp, 1) > 0)
					fake_answer(&f, pend[k], FFB_KIND_RESULT, FFB_OK, 0, 0);
			if (!f.c->dead)
				fake_publish(&f);
			uint32_t left = poll_all(f.c, done, 16, 0);
			for (uint32_t i = 0; i < left; i++) {
				bool was_pending = false;
				for (unsigned k = 0; k < np; k++)
					if (pend[k] == done[i].call_id) {
						was_pending = true;
						pend[k] = 0;
					}
				assert_true(was_pending);
			}
			/* drain releases the client queued, so the ring has room */
			while (!f.c->dead && ffb_ring_cons_ready(&f.req) > 0)
				(void)fake_take(&f);
		}
		n_dead += f.c->dead != 0;
		fake_conn_close(&f);
	}
	if (getenv("FFB_TEST_LOG"))
		fprintf(stderr, "random results: %u delivered as sent (%u with a server block), %u refused, %u sessions failed\n",
			n_match, n_held, n_refused, n_dead);
	assert_true(n_match > 0 && n_refused > 0 && n_held > 0 && n_dead > 0);
	assert_int_equal(count_fds(0), fds_before);
	assert_int_equal(count_arena_maps(0), 0);
	assert_true(test_now_ns() - t0 < 20 * 1000000000ull);
}

/* Ring indices that cross UINT32_MAX: every answer still reaches its
 * call, one at a time and in full-ring batches. */
static void ring_indices_crossing_u32_wrap_deliver_correctly(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_start_at(&f, 8, UINT32_MAX - 5, -1);
	assert_true(f.c->req.tail == UINT32_MAX - 5 && f.c->resp.head == UINT32_MAX - 5);
	struct ffb_completion done[8];
	struct ffb_ring_entry t;
	for (uint32_t i = 0; i < 12; i++) {
		ffb_handle a = block_with(f.c, 8 + i, 30 + i);
		uint64_t id = submit_taken(&f, a, 8 + i, &t);
		fake_answer(&f, id, FFB_KIND_RESULT, FFB_OK, a.id, 8 + i);
		fake_publish(&f);
		assert_int_equal(poll_all(f.c, done, 8, SEC), 1);
		assert_true(done[0].call_id == id);
		assert_int_equal(done[0].result.len, 8 + i);
		void *d;
		assert_int_equal(ffb_client_data(f.c, a, &d, NULL), FFB_OK);
		assert_true(check(d, 8 + i, 30 + i));
		assert_int_equal(ffb_client_free(f.c, a), FFB_OK);
	}
	for (int round = 0; round < 3; round++) {
		uint64_t ids[8];
		for (int i = 0; i < 8; i++)
			assert_int_equal(ffb_client_submit(f.c, FFB_FN_ECHO, (ffb_handle){0}, 0, &ids[i]), FFB_OK);
		assert_int_equal(ffb_client_flush(f.c), FFB_OK);
		for (int i = 0; i < 8; i++) {
			t = fake_take(&f);
			assert_true(t.call_id == ids[i]);
			/* answered in reverse, each with its own status (and stamp) */
			uint32_t at = f.resp.tail + 7 - i;
			f.resp.slots[at & f.resp.mask] = (struct ffb_ring_entry){
				.call_id = t.call_id, .kind = FFB_KIND_RESULT, .fn_or_status = 30 + i, .seq = at + 1};
		}
		f.resp.tail += 8;
		fake_publish(&f);
		assert_int_equal(poll_all(f.c, done, 8, SEC), 8);
		for (int k = 0; k < 8; k++)
			for (int i = 0; i < 8; i++)
				if (done[k].call_id == ids[i])
					assert_int_equal(done[k].result.status, 30 + i);
	}
	assert_true(f.c->resp.head < 100); /* it did wrap */
	assert_int_equal(dropped(f.c) + proto_errors(f.c), 0);
	fake_conn_close(&f);
}

/* FAILS before issue 17: the completion FIFO was indexed with
 * `counter % max_inflight`, which jumps at the counter's 2^32 wrap unless
 * max_inflight is a power of two: two completions shared a slot, one was
 * delivered twice and the other never. A server may announce any
 * max_inflight up to its response ring (3 here, on a ring of 8). */
static void completion_fifo_of_any_inflight_cap_crosses_the_counter_wrap(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_max_inflight = 3;
	fake_start(&f, 8);
	fake_max_inflight = 0;
	assert_int_equal(f.c->nslots, 3);
	f.c->done_head = f.c->done_tail = UINT32_MAX - 7; /* the counters, as after 2^32 - 7 completions */
	struct ffb_completion done[3];
	for (uint32_t round = 0; round < 8; round++) {
		uint64_t ids[3];
		for (int i = 0; i < 3; i++)
			assert_int_equal(ffb_client_submit(f.c, FFB_FN_ECHO, (ffb_handle){0}, 0, &ids[i]), FFB_OK);
		assert_int_equal(ffb_client_flush(f.c), FFB_OK);
		for (int i = 0; i < 3; i++) {
			struct ffb_ring_entry t = fake_take(&f);
			fake_answer(&f, t.call_id, FFB_KIND_RESULT, (int32_t)(40 + round * 3 + (uint32_t)i), 0, 0);
		}
		fake_publish(&f);
		assert_int_equal(poll_all(f.c, done, 3, SEC), 3);
		for (int k = 0; k < 3; k++) { /* in order, each once, each with its own status */
			assert_true(done[k].call_id == ids[k]);
			assert_int_equal(done[k].result.status, 40 + round * 3 + (uint32_t)k);
		}
	}
	assert_true(f.c->done_tail < 100); /* it did wrap */
	fake_conn_close(&f);
}

/* FAILS against the current src/ (reported bug): client_call.c
 * wake_server() writes the received server bell with a plain write(2), so
 * the call blocks forever whatever its timeout.
 *
 * The bells are shared open file descriptions: the peer chose their flags.
 * A server bell handed over in blocking mode with its counter at the
 * maximum must not hang the client's write in wake_server(): a call with a
 * 300 ms timeout has to come back (TIMEOUT), not block forever. The call
 * runs in a child process so a hang is caught and killed. */
static void blocking_full_server_bell_cannot_hang_a_call(void **state)
{
	(void)state;
	int sb = eventfd(0, EFD_CLOEXEC); /* blocking */
	assert_true(sb >= 0);
	uint64_t max = 0xfffffffffffffffeull; /* one more write would block */
	assert_int_equal(write(sb, &max, sizeof(max)), sizeof(max));
	struct fake_conn f;
	fake_start_at(&f, 8, 0, sb);
	assert_false(f.c->futex);
	/* the fake server "is parked": it asks to be woken */
	__atomic_store_n(&f.req.ctl->c_needs_wakeup, 1u, __ATOMIC_SEQ_CST);

	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		ffb_result r;
		ffb_status st = ffb_client_call(f.c, FFB_FN_ECHO, (ffb_handle){0}, 0, 300 * 1000000ll, &r);
		_exit(st == FFB_ERR_TIMEOUT ? 0 : 10 + (int)st);
	}
	int status = 0;
	bool exited = WAIT_UNTIL(waitpid(child, &status, WNOHANG) == child, 3000);
	if (!exited) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	fake_conn_close(&f);
	assert_true(exited); /* the client hung in write(server_bell) */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest against_client[] = {
		cmocka_unit_test(forged_call_ids_are_dropped_never_delivered),
		cmocka_unit_test(duplicate_and_late_results_are_dropped),
		cmocka_unit_test(client_handle_not_lent_is_refused),
		cmocka_unit_test(server_handle_out_of_range_is_refused),
		cmocka_unit_test(corrupt_response_tail_fails_every_pending_call_with_protocol),
		cmocka_unit_test(corrupt_request_head_is_protocol_on_next_submit),
		cmocka_unit_test(goodbye_and_garbage_on_socket_end_pending_calls),
		cmocka_unit_test(long_message_from_server_ends_pending_calls_with_protocol),
		cmocka_unit_test(ring_indices_crossing_u32_wrap_deliver_correctly),
		cmocka_unit_test(completion_fifo_of_any_inflight_cap_crosses_the_counter_wrap),
		cmocka_unit_test(blocking_full_server_bell_cannot_hang_a_call),
		cmocka_unit_test(random_results_never_reach_the_wrong_call),
	};
	return cmocka_run_group_tests_name("hostile server vs C client", against_client, NULL, NULL);
}
