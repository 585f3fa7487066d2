/*
 * test_hostile_server_calls.c — the C client's side of the server's calls
 * (PROTOCOL.md §5.8) against an in-process fake server that writes the
 * response ring by hand (tests/fake_server.h) and reads every answer off
 * the request ring:
 *
 * - a LOOKUP answers the handler's id, or a bare NOT_FOUND / INVALID_UTF8;
 * - a CALL of an unknown, stale or wrong-kind id answers a bare NOT_FOUND;
 *   a handler's own NOT_FOUND carries a message; the input block goes back
 *   with the answer (a notification's with a RELEASE);
 * - a stream gets 16 items on its initial credit, then as many as each
 *   CREDIT grants, before its end; a CANCEL of a call not yet run answers
 *   CANCELLED without running it;
 * - a RELEASE frees only a block an answer gave, once;
 * - a malformed LOOKUP, CALL, CANCEL, CREDIT or RELEASE ends the session
 *   with PROTOCOL (counted).
 */
#include <sys/socket.h>

#include "client_internal.h"
#include "fake_server.h"
#include "hostile.h"

static void fake_start(struct fake_conn *f)
{
	struct ffb_server_options o;
	small_options(&o, 64);
	const char *failed = fake_conn_open(f, &o, -1, 0);
	if (failed)
		fail_msg("%s", failed);
}

static void send_entry(struct fake_conn *f, uint64_t id, uint32_t kind, uint64_t handle, uint32_t len, uint32_t fn)
{
	assert_true(ffb_ring_prod_free(&f->resp, 1) > 0);
	struct ffb_ring_entry e = {.call_id = id, .handle = handle, .len = len, .kind = kind, .fn_or_status = fn};
	ffb_ring_prod_push(&f->resp, &e);
}

/* Publish what was sent and let the client take it and run its handlers. */
static ffb_status serve(struct fake_conn *f)
{
	ffb_ring_prod_publish(&f->resp);
	return ffb_client_serve(f->c, 0);
}

static bool take(struct fake_conn *f, struct ffb_ring_entry *e)
{
	if (ffb_ring_cons_ready(&f->req) <= 0)
		return false;
	ffb_ring_cons_pop(&f->req, e);
	ffb_ring_cons_release(&f->req);
	return true;
}

static struct ffb_ring_entry take_one(struct fake_conn *f)
{
	struct ffb_ring_entry e;
	assert_true(take(f, &e));
	return e;
}

/* Server block idx of class 0 holding `n` bytes of `s`. */
static uint64_t sblock(struct fake_conn *f, uint32_t idx, const void *s, uint32_t n)
{
	memcpy(ffb__heap_at(&f->c->peer, 0, idx), s, n);
	return FFB_HANDLE_MAKE(1, f->sb.arena_tag, FFB_HEAP_SERVER, 0, idx);
}

static uint64_t sid(uint32_t kind, uint32_t slot)
{
	return FFB_CALL_MAKE(1, FFB_ID_FROM_SERVER, kind, slot);
}

static int runs;

static ffb_status h_upper(ffb_request *r, void *ctx)
{
	(void)ctx;
	runs++;
	char *out;
	uint32_t n = ffb_request_len(r);
	ffb_status st = ffb_request_reply_alloc(r, n, (void **)&out);
	for (uint32_t i = 0; !st && i < n; i++) {
		char ch = ((const char *)ffb_request_data(r))[i];
		out[i] = ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
	}
	return st;
}

static ffb_status h_not_found(ffb_request *r, void *ctx)
{
	(void)r;
	(void)ctx;
	return FFB_ERR_NOT_FOUND;
}

static ffb_status h_stream(ffb_request *r, void *ctx)
{
	uint32_t *sent = ctx;
	for (uint64_t i = 0; i < 100; i++) {
		ffb_status st = ffb_request_item(r, &i, sizeof(i), 20000000);
		if (st)
			return st;
		(*sent)++;
	}
	return FFB_OK;
}

static uint32_t lookup(struct fake_conn *f, const char *name, ffb_status want)
{
	uint32_t n = (uint32_t)strlen(name);
	send_entry(f, sid(FFB_ID_ONCE, 7), FFB_KIND_LOOKUP, sblock(f, 7, name, n), n, 0);
	serve(f);
	struct ffb_ring_entry e = take_one(f);
	assert_int_equal(e.kind, FFB_KIND_RESULT);
	assert_true(e.call_id == sid(FFB_ID_ONCE, 7));
	assert_int_equal(e.fn_or_status, want);
	assert_true(e.handle == 0);
	if (want != FFB_OK)
		assert_int_equal(e.len, 0);
	return e.len;
}

static void lookups_and_calls_are_answered(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_start(&f);
	assert_int_equal(ffb_client_register(f.c, "h.upper", h_upper, NULL), FFB_OK);
	uint32_t fn = lookup(&f, "h.upper", FFB_OK);
	assert_int_not_equal(fn, 0);
	lookup(&f, "h.none", FFB_ERR_NOT_FOUND);
	lookup(&f, "bad\xff", FFB_ERR_INVALID_UTF8);
	send_entry(&f, sid(FFB_ID_ONCE, 7), FFB_KIND_LOOKUP, sblock(&f, 7, "a\0b", 3), 3, 0);
	serve(&f);
	assert_int_equal(take_one(&f).fn_or_status, FFB_ERR_INVALID_UTF8);

	for (int round = 0; round < 2; round++) { /* the same block again: it went back with the answer */
		runs = 0;
		send_entry(&f, sid(FFB_ID_ONCE, 3), FFB_KIND_CALL, sblock(&f, 3, "hello", 5), 5, fn);
		assert_int_equal(serve(&f), FFB_OK);
		assert_int_equal(runs, 1);
		struct ffb_ring_entry e = take_one(&f);
		assert_int_equal(e.kind, FFB_KIND_RESULT);
		assert_true(e.call_id == sid(FFB_ID_ONCE, 3));
		assert_int_equal(e.fn_or_status, FFB_OK);
		assert_int_equal(e.len, 5);
		assert_int_equal(FFB_HANDLE_HEAP(e.handle), FFB_HEAP_CLIENT);
		void *d;
		assert_int_equal(ffb__heap_lookup(&f.c->own, e.handle, FFB__BLOCK_GIVEN, &d, NULL), FFB_OK);
		assert_memory_equal(d, "HELLO", 5);
		/* The server gives the reply block back once; a second time is a violation. */
		send_entry(&f, 0, FFB_KIND_RELEASE, e.handle, 0, 0);
		assert_int_equal(serve(&f), FFB_ERR_WOULD_BLOCK);
		assert_int_not_equal(ffb__heap_lookup(&f.c->own, e.handle, FFB__BLOCK_GIVEN, &d, NULL), FFB_OK);
		if (round == 1) {
			send_entry(&f, 0, FFB_KIND_RELEASE, e.handle, 0, 0);
			assert_int_equal(serve(&f), FFB_ERR_PROTOCOL);
		}
	}
	assert_int_equal(f.c->stats.protocol_errors, 1);
	fake_conn_close(&f);
}

static void unknown_ids_answer_a_bare_not_found(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_start(&f);
	assert_int_equal(ffb_client_register(f.c, "h.upper", h_upper, NULL), FFB_OK);
	assert_int_equal(ffb_client_register(f.c, "h.nf", h_not_found, NULL), FFB_OK);
	uint32_t sent = 0;
	assert_int_equal(ffb_client_register_flags(f.c, "h.stream", h_stream, &sent, FFB_HANDLER_STREAM), FFB_OK);
	uint32_t up = lookup(&f, "h.upper", FFB_OK), nf = lookup(&f, "h.nf", FFB_OK);
	uint32_t st = lookup(&f, "h.stream", FFB_OK);
	assert_int_equal(ffb_client_unregister(f.c, "h.upper"), FFB_OK);
	runs = 0;
	const uint32_t bare[] = {0x12345u, up /* stale */, st /* stream handler called plainly */, 0};
	for (unsigned i = 0; i < 4; i++) {
		uint64_t h = i % 2 ? sblock(&f, 1, "x", 1) : 0;
		send_entry(&f, sid(FFB_ID_ONCE, i), FFB_KIND_CALL, h, h ? 1 : 0, bare[i]);
		serve(&f);
		struct ffb_ring_entry e = take_one(&f);
		assert_int_equal(e.fn_or_status, FFB_ERR_NOT_FOUND);
		assert_true(e.handle == 0 && e.len == 0);
		assert_true(e.call_id == sid(FFB_ID_ONCE, i));
	}
	assert_int_equal(runs, 0);
	/* A plain handler called as a stream: bare too. */
	send_entry(&f, sid(FFB_ID_STREAM, 9), FFB_KIND_CALL, 0, 0, nf);
	serve(&f);
	assert_int_equal(take_one(&f).fn_or_status, FFB_ERR_NOT_FOUND);
	/* The handler's own NOT_FOUND carries a message. */
	send_entry(&f, sid(FFB_ID_ONCE, 5), FFB_KIND_CALL, 0, 0, nf);
	serve(&f);
	struct ffb_ring_entry e = take_one(&f);
	assert_int_equal(e.fn_or_status, FFB_ERR_NOT_FOUND);
	assert_int_not_equal(e.handle, 0);
	void *d;
	assert_int_equal(ffb__heap_lookup(&f.c->own, e.handle, FFB__BLOCK_GIVEN, &d, NULL), FFB_OK);
	assert_memory_equal(d, "not found", 9);
	/* A notification: no answer, its block back with a RELEASE. */
	assert_int_equal(ffb_client_register(f.c, "h.upper", h_upper, NULL), FFB_OK);
	up = lookup(&f, "h.upper", FFB_OK);
	uint64_t nb = sblock(&f, 2, "note", 4);
	send_entry(&f, sid(FFB_ID_NOTIFY, 0), FFB_KIND_CALL, nb, 4, up);
	runs = 0;
	assert_int_equal(serve(&f), FFB_OK);
	assert_int_equal(runs, 1);
	e = take_one(&f);
	assert_int_equal(e.kind, FFB_KIND_RELEASE);
	assert_true(e.handle == nb && e.call_id == 0 && e.len == 0);
	assert_false(take(&f, &e));
	assert_int_equal(f.c->stats.protocol_errors, 0);
	fake_conn_close(&f);
}

static void a_stream_sends_what_its_credit_allows(void **state)
{
	(void)state;
	struct fake_conn f;
	fake_start(&f);
	uint32_t sent = 0;
	assert_int_equal(ffb_client_register_flags(f.c, "h.stream", h_stream, &sent, FFB_HANDLER_STREAM), FFB_OK);
	uint32_t fn = lookup(&f, "h.stream", FFB_OK);
	/* Initial credit only: 16 items, then the 17th waits, times out. */
	send_entry(&f, sid(FFB_ID_STREAM, 1), FFB_KIND_CALL, 0, 0, fn);
	serve(&f);
	assert_int_equal(sent, FFB_STREAM_INITIAL_CREDIT);
	struct ffb_ring_entry e;
	for (uint64_t i = 0; i < FFB_STREAM_INITIAL_CREDIT; i++) {
		e = take_one(&f);
		assert_int_equal(e.kind, FFB_KIND_ITEM);
		assert_true(e.call_id == sid(FFB_ID_STREAM, 1));
		uint64_t v;
		void *d;
		assert_int_equal(ffb__heap_lookup(&f.c->own, e.handle, FFB__BLOCK_GIVEN, &d, NULL), FFB_OK);
		memcpy(&v, d, 8);
		assert_int_equal(v, i);
	}
	e = take_one(&f);
	assert_int_equal(e.kind, FFB_KIND_RESULT);
	assert_int_equal(e.fn_or_status, FFB_ERR_TIMEOUT);
	/* A CREDIT in the same batch as the CALL counts: 16 + 4. */
	sent = 0;
	send_entry(&f, sid(FFB_ID_STREAM, 2), FFB_KIND_CALL, 0, 0, fn);
	send_entry(&f, sid(FFB_ID_STREAM, 2), FFB_KIND_CREDIT, 0, 4, 0);
	serve(&f);
	assert_int_equal(sent, FFB_STREAM_INITIAL_CREDIT + 4);
	unsigned items = 0;
	while (take(&f, &e) && e.kind == FFB_KIND_ITEM)
		items++;
	assert_int_equal(items, FFB_STREAM_INITIAL_CREDIT + 4);
	assert_int_equal(e.kind, FFB_KIND_RESULT);
	/* Cancelled before it ran: CANCELLED, not run. */
	sent = 0;
	send_entry(&f, sid(FFB_ID_STREAM, 3), FFB_KIND_CALL, 0, 0, fn);
	send_entry(&f, sid(FFB_ID_STREAM, 3), FFB_KIND_CANCEL, 0, 0, 0);
	serve(&f);
	e = take_one(&f);
	assert_int_equal(e.kind, FFB_KIND_RESULT);
	assert_int_equal(e.fn_or_status, FFB_ERR_CANCELLED);
	assert_int_equal(sent, 0);
	/* A CANCEL or CREDIT of a call that is over: ignored. */
	send_entry(&f, sid(FFB_ID_STREAM, 3), FFB_KIND_CANCEL, 0, 0, 0);
	send_entry(&f, sid(FFB_ID_STREAM, 3), FFB_KIND_CREDIT, 0, 1, 0);
	assert_int_equal(serve(&f), FFB_ERR_WOULD_BLOCK);
	assert_int_equal(f.c->stats.protocol_errors, 0);
	fake_conn_close(&f);
}

static void malformed_entries_end_the_session(void **state)
{
	(void)state;
	for (int v = 0; v < 10; v++) {
		struct fake_conn f;
		fake_start(&f);
		assert_int_equal(ffb_client_register(f.c, "h.upper", h_upper, NULL), FFB_OK);
		uint32_t fn = lookup(&f, "h.upper", FFB_OK);
		uint64_t b = sblock(&f, 4, "h.upper", 7);
		uint32_t big = FFB_CLASS_BLOCK_SIZE(0) + 1;
		switch (v) {
		case 0: send_entry(&f, sid(FFB_ID_ONCE, 1), FFB_KIND_LOOKUP, b, 0, 0); break;   /* no name */
		case 1: send_entry(&f, sid(FFB_ID_ONCE, 1), FFB_KIND_LOOKUP, 0, 7, 0); break;   /* no block */
		case 2: send_entry(&f, sid(FFB_ID_STREAM, 1), FFB_KIND_LOOKUP, b, 7, 0); break; /* not kind once */
		case 3: send_entry(&f, sid(FFB_ID_ONCE, 1), FFB_KIND_CALL, b, big, fn); break;  /* len over its block */
		case 4: send_entry(&f, sid(FFB_ID_ONCE, 1), FFB_KIND_CALL, 0, 3, fn); break;    /* len, no block */
		case 5: /* one block lent with two calls at once */
			send_entry(&f, sid(FFB_ID_ONCE, 1), FFB_KIND_CALL, b, 7, fn);
			send_entry(&f, sid(FFB_ID_ONCE, 2), FFB_KIND_CALL, b, 7, fn);
			break;
		case 6: send_entry(&f, sid(FFB_ID_STREAM, 1), FFB_KIND_CREDIT, 0, 0, 0); break; /* credit 0 */
		case 7: send_entry(&f, sid(FFB_ID_ONCE, 1), FFB_KIND_CREDIT, 0, 1, 0); break;   /* not a stream */
		case 8: send_entry(&f, sid(FFB_ID_ONCE, 1), FFB_KIND_CANCEL, b, 0, 0); break;   /* a handle */
		case 9: { /* a RELEASE of a block no answer gave */
			ffb_handle mine;
			assert_int_equal(ffb_client_alloc(f.c, 8, &mine), FFB_OK);
			send_entry(&f, 0, FFB_KIND_RELEASE, mine.id, 0, 0);
			break;
		}
		}
		assert_int_equal(serve(&f), FFB_ERR_PROTOCOL);
		assert_int_equal(f.c->stats.protocol_errors, 1);
		fake_conn_close(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookups_and_calls_are_answered),
		cmocka_unit_test(unknown_ids_answer_a_bare_not_found),
		cmocka_unit_test(a_stream_sends_what_its_credit_allows),
		cmocka_unit_test(malformed_entries_end_the_session),
	};
	return cmocka_run_group_tests_name("hostile server's calls vs C client handlers", tests, NULL, NULL);
}
