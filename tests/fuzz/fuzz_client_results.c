/*
 * fuzz_client_results.c — libFuzzer target: a hostile server against the
 * C client.
 *
 * Each input starts a fake server in this process, as test_hostile_server.c's
 * does: a valid handshake over a socketpair (the arena built with
 * ffb__layout_compute and ffb__arena_create, the hello queued before the
 * client's handshake runs), then the real C client with calls in flight
 * while the input writes the response ring. The first byte picks the
 * doorbell (futex or eventfd) and whether the rings' free-running indices
 * start just below UINT32_MAX; the rest is a list of operations: submit
 * (with or without an input block), take the requests, answer (RESULT
 * entries built from the ids and handles in play, forged ones, or 32 raw
 * bytes), write any response slot in place, publish, overwrite a control
 * word of either ring, poll, a synchronous call with a 0 or 200 us timeout
 * (only answers staged in advance can reach it), free a reply block,
 * and a goodbye, garbage or EOF on the socket. The fake also sends what a
 * server sends for its own calls to the client's handlers (PROTOCOL.md
 * §5.8): CALLs of the handlers the client registered (or of forged ids),
 * LOOKUPs of their names (written into a server block) or of garbage,
 * CANCELs, CREDITs and RELEASEs of the blocks the client's answers gave,
 * with ids of any kind and direction; the handlers reply in place, with a
 * copy, with an error, or with stream items as credit allows. At the end
 * the fake hangs up. Properties, each an abort() that libFuzzer reports with the input:
 *
 *  - a completion carries the id of a call submitted with ffb_client_submit
 *    and not completed yet: nothing forged, late, duplicated or belonging
 *    to a synchronous call ever comes out of ffb_client_poll;
 *  - a result is exactly a RESULT entry the fake wrote with that call id
 *    (status, handle, len), or a transport failure with no handle:
 *    PROTOCOL (a reply the call could not have been given, a corrupt
 *    ring) or the status the client died with;
 *  - a reply handle is the caller's: readable, len within its block, and
 *    it frees; a client block only if it is the call's own input; the
 *    input block of a call that got a real answer frees too;
 *  - once the fake hangs up, every call still pending completes once;
 *  - a handler runs only for a CALL of its own current id, with its
 *    input's len within the block;
 *  - after the client closes, this process is back to its baseline fds and
 *    has no arena mapped; ASan, UBSan and LeakSanitizer watch the rest.
 */
#include <errno.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "../fake_server.h"
#include "fuzzutil.h"

#define RING 8u
#define MAX_OPS 96
#define MAX_CALLS 128
#define MAX_WRITTEN 256
#define MAX_TAKEN 64
#define MAX_HELD 16
#define US 1000ll
#define MS (1000 * US)

#define die(...) die_("fuzz_client_results", __VA_ARGS__)

enum call_state { C_PENDING = 1, C_DONE, C_ABANDONED };

struct call {
	uint64_t id;
	uint64_t in; /* input block lent with it, or 0 */
	uint8_t state;
};

struct fake {
	struct fake_conn k; /* the session, server end and client */
	struct call calls[MAX_CALLS];
	unsigned ncalls;
	struct ffb_ring_entry taken[MAX_TAKEN]; /* requests the fake took */
	unsigned ntaken;
	struct ffb_ring_entry written[MAX_WRITTEN]; /* every entry put in a response slot */
	unsigned nwritten;
	uint64_t held[MAX_HELD]; /* server blocks delivered to calls, not freed yet */
	unsigned nheld;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* ---- the client's handlers ---------------------------------------------- */

static const char *const handler_names[] = {"f.echo", "f.copy", "f.fail", "f.stream"};
#define NHANDLERS 4u

static void handler_check(ffb_request *r, uint32_t which)
{
	if (ffb_request_len(r) && !ffb_request_data(r))
		die("handler %s: %u bytes of input without data", handler_names[which], ffb_request_len(r));
	if (ffb_request_is_stream(r) != (which == 3))
		die("handler %s run for a call of the other kind", handler_names[which]);
}

static ffb_status h_echo(ffb_request *r, void *ctx)
{
	(void)ctx;
	handler_check(r, 0);
	return ffb_request_reply_input(r, ffb_request_len(r));
}

static ffb_status h_copy(ffb_request *r, void *ctx)
{
	(void)ctx;
	handler_check(r, 1);
	uint8_t tmp[64];
	uint32_t n = ffb_request_len(r) < sizeof(tmp) ? ffb_request_len(r) : (uint32_t)sizeof(tmp);
	if (n)
		memcpy(tmp, ffb_request_data(r), n);
	return ffb_request_reply_bytes(r, tmp, n);
}

static ffb_status h_fail(ffb_request *r, void *ctx)
{
	(void)ctx;
	handler_check(r, 2);
	ffb_request_set_error(r, "f.fail: on purpose");
	return FFB_ERR_INVALID_ARGUMENT;
}

static ffb_status h_stream(ffb_request *r, void *ctx)
{
	(void)ctx;
	handler_check(r, 3);
	for (int i = 0; i < 3; i++) {
		ffb_status st = ffb_request_item(r, "item", 4, 0); /* no credit: TIMEOUT at once */
		if (st)
			return st;
	}
	return FFB_OK;
}

static void register_handlers(ffb_client *c)
{
	static const ffb_client_handler_fn fns[NHANDLERS] = {h_echo, h_copy, h_fail, h_stream};
	for (uint32_t i = 0; i < NHANDLERS; i++)
		if (ffb_client_register_flags(c, handler_names[i], fns[i], NULL, i == 3 ? FFB_HANDLER_STREAM : 0))
			die("cannot register handler %s", handler_names[i]);
}

static void fake_start(struct fake *f, bool eventfd_bell, uint32_t start)
{
	static const uint32_t counts[FFB_NUM_CLASSES] = {16, 4, 2, 1, 0, 0, 0, 0, 0, 0};
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.ring_entries = RING;
	memcpy(o.class_counts, counts, sizeof(counts));
	int bell = eventfd_bell ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
	if (eventfd_bell && bell < 0)
		die("fake server bell: %s", strerror(errno));
	const char *failed = fake_conn_open(&f->k, &o, bell, start);
	if (failed)
		die("%s: %s", failed, strerror(errno));
	f->k.c->opts.spin_ns = 0; /* waits park at once: no spin on two cores (fuzzutil.h) */
	register_handlers(f->k.c);
}

/* ---- bookkeeping and the properties ------------------------------------- */

static struct call *new_call(struct fake *f, uint64_t id, uint64_t in, uint8_t state)
{
	if (f->ncalls == MAX_CALLS)
		return NULL;
	struct call *k = &f->calls[f->ncalls++];
	*k = (struct call){.id = id, .in = in, .state = state};
	return k;
}

/* The call id the client's next call will carry (slot, generation). */
static uint64_t next_call_id(const ffb_client *c)
{
	if (!c->free_top)
		return 0;
	uint32_t i = c->free_slots[c->free_top - 1];
	uint32_t gen = c->slots[i].gen + 1 ? c->slots[i].gen + 1 : 1;
	return (uint64_t)gen << 32 | i;
}

static void check_result(struct fake *f, const struct call *k, const ffb_result *r)
{
	bool sent = false;
	for (unsigned i = 0; i < f->nwritten && !sent; i++) {
		const struct ffb_ring_entry *w = &f->written[i];
		sent = w->kind == FFB_KIND_RESULT && w->call_id == k->id && (int32_t)w->fn_or_status == (int32_t)r->status &&
		       w->handle == r->handle.id && w->len == r->len;
	}
	bool failed = r->handle.id == 0 && r->len == 0 &&
		      (r->status == FFB_ERR_PROTOCOL || (f->k.c->dead && r->status == f->k.c->dead));
	if (!sent && !failed)
		die("call %#llx got status %d handle %#llx len %u: no RESULT with its id said so",
		    (unsigned long long)k->id, (int)r->status, (unsigned long long)r->handle.id, r->len);
	if (r->handle.id) {
		void *d;
		uint32_t cap = 0;
		ffb_status st = ffb_client_data(f->k.c, r->handle, &d, &cap);
		if (st != FFB_OK || r->len > cap)
			die("call %#llx: reply handle %#llx is not the caller's (%s) or len %u is over its block %u",
			    (unsigned long long)k->id, (unsigned long long)r->handle.id, ffb_status_name(st), r->len, cap);
		if (FFB_HANDLE_HEAP(r->handle.id) != FFB_HEAP_SERVER) {
			if (r->handle.id != k->in)
				die("call %#llx got client block %#llx it did not lend", (unsigned long long)k->id,
				    (unsigned long long)r->handle.id);
		} else if (f->nheld < MAX_HELD) {
			f->held[f->nheld++] = r->handle.id;
		} else if ((st = ffb_client_free(f->k.c, r->handle)) != FFB_OK) {
			die("a reply block does not free: %s", ffb_status_name(st));
		}
	}
	if (k->in) {
		/* A call the dying session failed leaves its block lent
		 * (given up with the session); any real answer returns it. */
		ffb_status st = ffb_client_free(f->k.c, (ffb_handle){k->in});
		if (st != FFB_OK && !(failed && f->k.c->dead && st == FFB_ERR_BUSY))
			die("call %#llx finished (%d) but its input block does not free: %s", (unsigned long long)k->id,
			    (int)r->status, ffb_status_name(st));
	}
}

static void check_completions(struct fake *f, const struct ffb_completion *done, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct call *k = NULL;
		for (unsigned j = 0; j < f->ncalls && !k; j++)
			if (f->calls[j].id == done[i].call_id && f->calls[j].state == C_PENDING)
				k = &f->calls[j];
		if (!k)
			die("a completion for call id %#llx, which is not a pending submitted call",
			    (unsigned long long)done[i].call_id);
		k->state = C_DONE;
		check_result(f, k, &done[i].result);
	}
}

static ffb_status poll_once(struct fake *f, int64_t timeout_ns)
{
	struct ffb_completion done[16];
	uint32_t n = 0;
	ffb_status st = ffb_client_poll(f->k.c, done, 16, &n, timeout_ns);
	if (st != FFB_OK && n)
		die("poll returned %s with %u completions", ffb_status_name(st), n);
	check_completions(f, done, n);
	return st;
}

/* ---- what the fake writes ------------------------------------------------ */

static uint64_t pick_id(struct fz *z, struct fake *f)
{
	uint8_t sel = fz_u8(z);
	uint64_t id;
	switch (sel % 6) {
	case 0: id = f->ntaken ? f->taken[fz_u8(z) % f->ntaken].call_id : 0; break;
	case 1: id = f->ncalls ? f->calls[fz_u8(z) % f->ncalls].id : 0; break; /* pending, done or abandoned */
	case 2: id = next_call_id(f->k.c); break;                               /* staged for the next call */
	case 3: id = fz_u8(z); break;
	default: id = fz_u64(z); break;
	}
	if (sel & 0x80)
		id ^= 1ull << (fz_u8(z) % 64);
	return id;
}

static uint64_t pick_handle(struct fz *z, struct fake *f)
{
	uint8_t sel = fz_u8(z);
	switch (sel % 7) {
	case 0: return 0;
	case 1: return f->ntaken ? f->taken[fz_u8(z) % f->ntaken].handle : 0; /* a request's own block */
	case 2: { /* a server block by its fields */
		uint32_t tag = sel & 0x80 ? fz_u8(z) : f->k.sb.arena_tag;
		uint8_t b = fz_u8(z);
		uint32_t gen = 1u + fz_u8(z) % 4u;
		return FFB_HANDLE_MAKE(gen, tag, FFB_HEAP_SERVER, b % 5u, (b >> 3) % 20u);
	}
	case 3: return f->ncalls ? f->calls[fz_u8(z) % f->ncalls].in : 0;     /* some call's block */
	case 4: return f->nwritten ? f->written[fz_u8(z) % f->nwritten].handle : 0; /* given before */
	case 5: return f->nheld ? f->held[fz_u8(z) % f->nheld] : 0;          /* held right now */
	default: return fz_u64(z);
	}
}

static uint32_t pick_len(struct fz *z)
{
	uint8_t sel = fz_u8(z);
	switch (sel % 4) {
	case 0: return 0;
	case 1: return fz_u8(z);
	case 2: return FFB_CLASS_BLOCK_SIZE(fz_u8(z) % 5u) + (sel >> 7);
	default: return fz_u32(z);
	}
}

/* A server block by its fields (of this arena, mostly). */
static uint64_t server_block(struct fz *z, struct fake *f)
{
	uint8_t sel = fz_u8(z), b = fz_u8(z);
	uint32_t tag = sel & 0x80 ? fz_u8(z) : f->k.sb.arena_tag;
	return FFB_HANDLE_MAKE(1u + sel % 4u, tag, FFB_HEAP_SERVER, b % 5u, (b >> 3) % 20u);
}

/* A block the client gave with an answer or an item (for a RELEASE). */
static uint64_t given_block(struct fz *z, struct fake *f)
{
	for (unsigned tries = 0; tries < 4 && f->ntaken; tries++) {
		const struct ffb_ring_entry *t = &f->taken[fz_u8(z) % f->ntaken];
		if ((t->kind == FFB_KIND_RESULT || t->kind == FFB_KIND_ITEM) && t->handle)
			return t->handle;
	}
	return pick_handle(z, f);
}

/* What a server sends about its own calls to the client's handlers. */
static void server_call_entry(struct fz *z, struct fake *f, struct ffb_ring_entry *e, uint8_t k)
{
	static const uint32_t kinds[] = {FFB_KIND_CALL, FFB_KIND_CALL, FFB_KIND_LOOKUP,
					 FFB_KIND_CANCEL, FFB_KIND_CREDIT, FFB_KIND_RELEASE};
	uint8_t s = fz_u8(z);
	e->kind = kinds[k % 6u];
	/* Mostly a server id of a few slots and generations, of any kind
	 * (3 is invalid); now and then the client's direction. */
	e->call_id = FFB_CALL_MAKE(1u + s % 3u, s & 0x80 ? FFB_ID_FROM_CLIENT : FFB_ID_FROM_SERVER, (s >> 2) % 4u,
				   (s >> 4) % 4u);
	uint8_t v = fz_u8(z);
	switch (e->kind) {
	case FFB_KIND_CALL:
		e->handle = v & 1 ? server_block(z, f) : v & 2 ? pick_handle(z, f) : 0;
		e->len = e->handle ? fz_u8(z) % 80u : (v & 4 ? 1 : 0);
		/* A handler's id (slot 0..3 of generation 1), a stale or unknown one. */
		e->fn_or_status = (1u + (v >> 6) % 2u) << 16 | ((v >> 3) % 5u);
		break;
	case FFB_KIND_LOOKUP: {
		e->handle = v & 1 ? pick_handle(z, f) : server_block(z, f);
		const char *name = handler_names[(v >> 1) % NHANDLERS];
		e->len = v & 0x80 ? pick_len(z) : (uint32_t)strlen(name);
		uint32_t cls, idx;
		if (!(v & 0x40) && ffb__heap_check(&f->k.c->peer, e->handle, &cls, &idx) == FFB_OK)
			memcpy(ffb__heap_at(&f->k.c->peer, cls, idx), name, strlen(name));
		break;
	}
	case FFB_KIND_CREDIT:
		e->len = v & 0x80 ? pick_len(z) : 1u + v % 32u;
		break;
	case FFB_KIND_RELEASE:
		if (!(s & 0x40))
			e->call_id = 0;
		e->handle = given_block(z, f);
		break;
	}
	if (v == 0xff) { /* a stray field */
		e->handle ^= fz_u8(z) & 1 ? 0 : 1;
		e->fn_or_status ^= fz_u8(z);
	}
}

static void make_entry(struct fz *z, struct fake *f, struct ffb_ring_entry *e)
{
	if (fz_u8(z) < 32) {
		fz_bytes(z, e, sizeof(*e));
		return;
	}
	uint8_t k = fz_u8(z);
	if (k >= 180 && k < 230) {
		*e = (struct ffb_ring_entry){0};
		server_call_entry(z, f, e, k);
		return;
	}
	e->kind = k < 230 ? FFB_KIND_RESULT : k % 8u;
	e->call_id = pick_id(z, f);
	e->handle = pick_handle(z, f);
	e->len = pick_len(z);
	uint8_t s = fz_u8(z);
	e->fn_or_status = s < 200 ? s % 30u : fz_u32(z);
}

static bool log_written(struct fake *f, const struct ffb_ring_entry *e)
{
	if (f->nwritten == MAX_WRITTEN)
		return false;
	f->written[f->nwritten++] = *e;
	return true;
}

static uint32_t *word(struct fake *f, unsigned which)
{
	struct ffb_ring_ctl *ring = which < 3 ? f->k.req.ctl : f->k.resp.ctl;
	switch (which % 3) {
	case 0: return &ring->p_tail;
	case 1: return &ring->c_head;
	default: return &ring->c_needs_wakeup;
	}
}

/* ---- what the client does ------------------------------------------------ */

static ffb_handle input_block(struct fz *z, struct fake *f, uint8_t sel, uint32_t *len)
{
	ffb_handle in = {0};
	*len = 0;
	if (sel & 0x10) {
		uint32_t n = 1 + fz_u8(z) * 8u;
		if (ffb_client_alloc(f->k.c, n, &in) == FFB_OK)
			*len = sel & 0x20 ? n : 0;
		else
			in.id = 0;
	}
	return in;
}

static void submit(struct fz *z, struct fake *f)
{
	uint8_t sel = fz_u8(z);
	uint32_t len;
	ffb_handle in = input_block(z, f, sel, &len);
	uint32_t fn = sel & 1 ? fz_u32(z) : FFB_FN_ECHO;
	uint64_t id;
	ffb_status st = ffb_client_submit(f->k.c, fn, in, len, &id);
	if (st == FFB_OK && !new_call(f, id, in.id, C_PENDING))
		st = FFB_ERR_UNKNOWN; /* cannot happen: MAX_CALLS > MAX_OPS */
	if (st != FFB_OK && in.id && ffb_client_free(f->k.c, in) != FFB_OK)
		die("a block whose submit failed (%s) does not free", ffb_status_name(st));
	if (sel & 2)
		ffb_client_flush(f->k.c);
}

static void sync_call(struct fz *z, struct fake *f)
{
	uint8_t sel = fz_u8(z);
	uint32_t len;
	ffb_handle in = input_block(z, f, sel, &len);
	uint64_t id = next_call_id(f->k.c);
	ffb_result r;
	ffb_status st = ffb_client_call(f->k.c, FFB_FN_ECHO, in, len, sel & 2 ? 0 : 200 * US, &r);
	if (st != r.status)
		die("ffb_client_call returned %s but its result says %s", ffb_status_name(st), ffb_status_name(r.status));
	/* A status the transport also uses, with no reply: either way the
	 * call is over for its caller (an answer may have carried it too). */
	bool bare = !r.handle.id && !r.len;
	if (bare && (st == FFB_ERR_TIMEOUT || st == FFB_ERR_PEER_GONE)) {
		/* The block is given up; a late answer must go nowhere. */
		new_call(f, id, 0, C_ABANDONED);
		return;
	}
	if (bare && st == FFB_ERR_TOO_MANY_CALLS) {
		ffb_status fst = in.id ? ffb_client_free(f->k.c, in) : FFB_OK;
		if (fst != FFB_OK && !(f->k.c->dead && fst == FFB_ERR_BUSY))
			die("the block of a call refused for TOO_MANY_CALLS does not free: %s", ffb_status_name(fst));
		return;
	}
	struct call *k = new_call(f, id, in.id, C_DONE);
	if (k)
		check_result(f, k, &r);
}

static void socket_op(struct fz *z, struct fake *f)
{
	uint8_t sel = fz_u8(z);
	if (f->k.sock < 0)
		return;
	switch (sel % 4) {
	case 0:
	case 1: { /* a goodbye, any status, maybe with fds */
		struct ffb_goodbye bye = {.magic = FFB_GOODBYE_MAGIC, .status = (int32_t)fz_u32(z)};
		if (sel & 0x80)
			bye.magic ^= 1ull << (fz_u8(z) % 64);
		int efd[2] = {eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC)};
		ffb__send_msg(f->k.sock, &bye, sizeof(bye), efd, sel % 4 == 1 ? 2 : 0);
		close(efd[0]);
		close(efd[1]);
		break;
	}
	case 2: { /* garbage of any length up to 80 */
		uint8_t buf[80];
		uint8_t n = 1 + fz_u8(z) % 80;
		fz_bytes(z, buf, n);
		(void)!send(f->k.sock, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	}
	default: /* hang up */
		close(f->k.sock);
		f->k.sock = -1;
		break;
	}
}

static void run_op(struct fz *z, struct fake *f)
{
	uint8_t op = fz_u8(z);
	switch (op % 12) {
	case 0:
	case 1:
		submit(z, f);
		break;
	case 2: { /* take every published request */
		int ready = ffb_ring_cons_ready(&f->k.req);
		for (int i = 0; i < ready; i++) {
			struct ffb_ring_entry e;
			ffb_ring_cons_pop(&f->k.req, &e);
			if (f->ntaken < MAX_TAKEN)
				f->taken[f->ntaken++] = e;
		}
		if (ready > 0)
			ffb_ring_cons_release(&f->k.req);
		break;
	}
	case 3:
	case 4: { /* answer into the next response slot */
		struct ffb_ring_entry e;
		make_entry(z, f, &e);
		if (ffb_ring_prod_free(&f->k.resp, 1) > 0 && log_written(f, &e))
			ffb_ring_prod_push(&f->k.resp, &e);
		break;
	}
	case 5: { /* write any response slot in place */
		uint8_t slot = fz_u8(z);
		struct ffb_ring_entry e;
		make_entry(z, f, &e);
		if (log_written(f, &e))
			f->k.resp.slots[slot & f->k.resp.mask] = e;
		break;
	}
	case 6: { /* publish, ring the client's bell (always, or if it asked) */
		uint8_t sel = fz_u8(z);
		if (ffb_ring_prod_publish(&f->k.resp) || (sel & 1)) {
			uint64_t one = 1;
			(void)!write(f->k.bell, &one, sizeof(one));
		}
		break;
	}
	case 7: { /* a control word of either ring */
		uint8_t sel = fz_u8(z);
		uint32_t *w = word(f, sel % 6);
		uint32_t v = sel & 0x80 ? fz_u32(z) : __atomic_load_n(w, __ATOMIC_ACQUIRE) + (uint32_t)(int8_t)fz_u8(z);
		__atomic_store_n(w, v, __ATOMIC_RELEASE);
		break;
	}
	case 8:
		poll_once(f, fz_u8(z) & 1 ? 100 * US : 0);
		break;
	case 9:
		sync_call(z, f);
		break;
	case 10: { /* free a reply block */
		uint8_t i = fz_u8(z);
		if (f->nheld) {
			i %= f->nheld;
			ffb_status st = ffb_client_free(f->k.c, (ffb_handle){f->held[i]});
			if (st != FFB_OK)
				die("a held reply block does not free: %s", ffb_status_name(st));
			f->held[i] = f->held[--f->nheld];
		}
		break;
	}
	case 11:
		socket_op(z, f);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z = {data, size};
	struct fake f = {0};
	/* Per input: libFuzzer itself opens fds now and then (the pipes to
	 * its symbolizer when it names a new function). */
	int base_fds = count_fds();
	uint8_t setup = fz_u8(&z);
	fake_start(&f, setup & 1, setup & 2 ? UINT32_MAX - (setup >> 2) : 0);

	for (int i = 0; i < MAX_OPS && fz_more(&z); i++)
		run_op(&z, &f);

	/* The fake hangs up: every call still pending completes once. */
	if (f.k.sock >= 0) {
		close(f.k.sock);
		f.k.sock = -1;
	}
	for (int i = 0; i < MAX_CALLS; i++)
		if (poll_once(&f, 100 * MS) != FFB_OK)
			break;
	for (unsigned j = 0; j < f.ncalls; j++)
		if (f.calls[j].state == C_PENDING)
			die("call %#llx still pending after the server hung up (client dead: %s)",
			    (unsigned long long)f.calls[j].id, ffb_status_name(f.k.c->dead));
	for (unsigned j = 0; j < f.nheld; j++) {
		ffb_status st = ffb_client_free(f.k.c, (ffb_handle){f.held[j]});
		if (st != FFB_OK)
			die("a held reply block does not free at the end: %s", ffb_status_name(st));
	}

	fake_conn_close(&f.k);
	if (count_fds() != base_fds && (dump_fds(), 1))
		die("%d fds open, %d before the input", count_fds(), base_fds);
	if (count_arena_maps() != 0)
		die("%d arena mappings left", count_arena_maps());
	static unsigned inputs;
	if (++inputs % 64 == 0 && count_arena_maps_proc() != 0) /* what the kernel says, now and then */
		die("%d arena mappings left in /proc/self/maps", count_arena_maps_proc());
	return 0;
}
