/*
 * fuzz_server_session.c — libFuzzer target: a hostile client against a
 * real server session, in this process.
 *
 * One server runs on its own thread for the whole run, with one healthy
 * in-process client, the bystander. Every input gets a fresh hostile
 * in-process client and is read as a list of operations on it: request
 * entries pushed through its producer view (32 raw bytes, or built field by
 * field from handles it holds, forged ones and the session's tag), the
 * control words of both rings overwritten (absolute, or relative to their
 * value), publishes, wake-ups, legitimate calls, frees of the server blocks
 * it holds (batched RELEASEs), bytes on its socket, and verified echoes of
 * the bystander in between. Properties, each an abort() that libFuzzer
 * reports with the input:
 *
 *  - every echo of the bystander comes back within 2 s with its bytes
 *    unchanged: the server neither crashed nor hung, and never let one
 *    session disturb another (nor cut the bystander);
 *  - a hostile session the server cut (sessions_cut went up) answers the
 *    hostile client's next call with PROTOCOL, the goodbye's status, and
 *    nothing else; at most that one session is cut;
 *  - the hostile client never sees PEER_GONE: the server is alive and
 *    only ever hangs up with a goodbye;
 *  - once the hostile client closes, the server is back to one active
 *    session and this process to its baseline fds and arena mappings;
 *    ASan, UBSan and LeakSanitizer watch everything else.
 *
 * Op 0xFF pushes a row of the shared table of hostile entries
 * (tests/hostile_entries.h, which test_hostile_client.c runs too); an
 * input that is exactly one such op (two bytes) must get the row's
 * verdict: the session cut, or not. FFB_FUZZ_WRITE_SEEDS=DIR writes one
 * such input per row into DIR and exits (mk/fuzz.sh adds them to the
 * seeds of every run).
 *
 * Nothing spins (spin_ns 0 on the server and on both clients): on two
 * cores a spinning side only takes CPU from the ones with work, and every
 * wait then goes through the doorbells, whose paths are the ones a
 * hostile client can disturb. With spinning the target ran 440-530
 * inputs a second late in a long run; see tests/RELIABILITY.md.
 *
 * FFB_FUZZ_EVENTFD=1 runs the server with its eventfd doorbell instead of
 * the futex one; FFB_FUZZ_VERBOSE=1 says what became of each hostile
 * session and turns the library's log on; FFB_FUZZ_LENIENT=1 allows a
 * bug fixed since (known_peer_gone below).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "../hostile_entries.h"
#include "client_internal.h"
#include "fuzzutil.h"

#define RING 16u
#define MS 1000000ll
#define SEC (1000 * MS)
#define MAX_OPS 64
#define MAX_CALLS 8          /* legitimate hostile calls per input */
#define HOSTILE_CALL_NS (MS / 2) /* an answer after it is a late one (dropped): as good */
#define PROBE_NS (2 * MS)    /* the last call of a session the server did not cut */

#define die(...) die_("fuzz_server_session", __VA_ARGS__)

static ffb_server *srv;
static ffb_client *by; /* the bystander */
static uint32_t by_seed;
static int base_maps;
static bool verbose; /* FFB_FUZZ_VERBOSE=1: what became of each hostile session */
static bool strict;  /* unless FFB_FUZZ_LENIENT=1: no allowance for the old bug below */

/* ---- the bystander ------------------------------------------------------- */

static void by_echo(uint32_t n)
{
	ffb_handle h;
	void *d;
	if (ffb_client_alloc(by, n, &h) != FFB_OK || ffb_client_data(by, h, &d, NULL) != FFB_OK)
		die("bystander cannot allocate %u bytes", n);
	uint32_t seed = ++by_seed;
	fill(d, n, seed);
	ffb_result r;
	ffb_status st = ffb_client_call(by, FFB_FN_ECHO, h, n, 2 * SEC, &r);
	if (st != FFB_OK || r.handle.id != h.id || r.len != n)
		die("bystander echo of %u bytes: %s (len %u)", n, ffb_status_name(st), r.len);
	if (!check(d, n, seed))
		die("bystander echo of %u bytes came back changed", n);
	if (ffb_client_free(by, h) != FFB_OK)
		die("bystander cannot free its block");
}

static uint64_t hidden_goodbyes, hidden_unsent;

static void teardown(void)
{
	if (hidden_goodbyes)
		fprintf(stderr,
			"fuzz_server_session: %llu goodbyes hidden by ECONNRESET (allowed: FFB_FUZZ_LENIENT), %llu of them "
			"with nothing sent on the socket\n",
			(unsigned long long)hidden_goodbyes, (unsigned long long)hidden_unsent);
	ffb_client_close(by);
	ffb_server_destroy(srv);
}

static void log_to_stderr(void *ctx, int level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "ffb[%d]: %s\n", level, msg);
}

static ffb_client *connect_inproc(void)
{
	struct ffb_client_options co;
	ffb_client_options_init(&co);
	co.connect_timeout_ms = 2000;
	co.spin_ns = 0;
	ffb_client *c = NULL;
	ffb_status st = ffb_server_connect_inproc(srv, &co, &c);
	if (st != FFB_OK)
		die("in-process connect: %s", ffb_status_name(st));
	return c;
}

static uint64_t sessions_cut(void)
{
	struct ffb_server_stats st;
	ffb_server_stats(srv, &st);
	return st.sessions_cut;
}

static uint64_t sessions_active(void)
{
	struct ffb_server_stats st;
	ffb_server_stats(srv, &st);
	return st.sessions_active;
}

#define OP_TABLE_ROW 0xFFu

/* One seed per row of the hostile table: op 0xFF, the row's index. */
static void write_seeds(const char *dir)
{
	for (size_t i = 0; i < HOSTILE_ENTRIES; i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/row-%s", dir, hostile_entries[i].name);
		FILE *f = fopen(path, "wb");
		if (!f)
			die("cannot write %s", path);
		fputc((int)OP_TABLE_ROW, f);
		fputc((int)i, f);
		fclose(f);
	}
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *seeds = getenv("FFB_FUZZ_WRITE_SEEDS");
	if (seeds)
		write_seeds(seeds);
	signal(SIGPIPE, SIG_IGN);
	static const uint32_t counts[FFB_NUM_CLASSES] = {32, 8, 4, 2, 1, 0, 0, 0, 0, 0};
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	o.ring_entries = RING;
	memcpy(o.class_counts, counts, sizeof(counts));
	o.max_sessions = 1024;
	o.spin_ns = 0;
	o.worker_spin_ns = 0;
	const char *ev = getenv("FFB_FUZZ_EVENTFD");
	o.use_futex_doorbell = !(ev && *ev == '1');
	verbose = getenv("FFB_FUZZ_VERBOSE") != NULL;
	strict = getenv("FFB_FUZZ_LENIENT") == NULL;
	if (verbose)
		ffb_set_log(log_to_stderr, NULL, FFB_LOG_INFO);
	if (ffb_server_create(&o, &srv) != FFB_OK || ffb_server_start(srv) != FFB_OK)
		die("cannot start the server");
	by = connect_inproc();
	by_echo(100);
	atexit(teardown);
	/* The baseline once it holds still (the server closes its copy of a
	 * new session's memfd a moment after the client has it). */
	int same = 0, lf = -1, lm = -1;
	for (int i = 0; i < 400 && same < 10; i++) {
		int f = count_fds(), m = count_arena_maps();
		same = f == lf && m == lm ? same + 1 : 0;
		lf = f;
		lm = m;
		usleep(2000);
	}
	base_maps = lm;
	if (count_arena_maps_proc() != base_maps)
		die("%d arena mappings counted, %d in /proc/self/maps", base_maps, count_arena_maps_proc());
	return 0;
}

/* ---- the hostile client -------------------------------------------------- */

struct hostile {
	ffb_client *c;
	uint32_t tag;
	uint64_t own[8];  /* client blocks it allocated */
	unsigned nown;
	uint64_t held[8]; /* server blocks replies gave it */
	unsigned nheld;
	unsigned calls;
	bool sent_bytes;
};

/* A bug this target found (tests/fuzz/crashes/fuzz_server_session/, fixed
 * in f091da5): when the server cut a session whose socket still held a
 * message the client sent, its close reset the connection, and the
 * client's next recv returned ECONNRESET ahead of the goodbye queued
 * before it: PEER_GONE instead of PROTOCOL. FFB_FUZZ_LENIENT=1 allows
 * exactly that case again — a PROTOCOL goodbye still on the socket after
 * the client gave up — for fuzzing a build without the fix; it is counted
 * in hidden_goodbyes. */
static bool known_peer_gone(const struct hostile *h, ffb_status st)
{
	if (st != FFB_ERR_PEER_GONE || strict)
		return false;
	struct ffb_goodbye bye = {0};
	ssize_t n = recv(h->c->sock, &bye, sizeof(bye), MSG_DONTWAIT | MSG_PEEK);
	bool hidden = n == (ssize_t)sizeof(bye) && bye.magic == FFB_GOODBYE_MAGIC && bye.status == FFB_ERR_PROTOCOL;
	hidden_goodbyes += hidden;
	hidden_unsent += hidden && !h->sent_bytes;
	return hidden;
}

static void wake(struct hostile *h)
{
	if (h->c->futex) {
		syscall(SYS_futex, &h->c->req.ctl->p_tail, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	} else {
		uint64_t one = 1;
		(void)!write(h->c->server_bell, &one, sizeof(one));
	}
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

static void keep(uint64_t *list, unsigned *n, uint64_t h)
{
	if (*n < 8)
		list[(*n)++] = h;
}

static uint64_t pick_handle(struct fz *f, struct hostile *h)
{
	uint8_t sel = fz_u8(f);
	switch (sel % 7) {
	case 0: return 0;
	case 1: return h->nown ? h->own[fz_u8(f) % h->nown] : 0;
	case 2: return h->nheld ? h->held[fz_u8(f) % h->nheld] : 0;
	case 3: { /* plausible: the session's tag, fields from the input */
		uint8_t b = fz_u8(f);
		uint32_t gen = 1u + fz_u8(f);
		uint32_t idx = fz_u8(f) % 40u;
		return FFB_HANDLE_MAKE(gen, h->tag, b & 3u, (b >> 2) & 0xFu, idx);
	}
	case 4: { /* a real one with one bit off */
		uint64_t base = h->nheld && (sel & 0x80) ? h->held[0] : h->nown ? h->own[0] : 0;
		return base ^ (1ull << (fz_u8(f) % 64));
	}
	default: return fz_u64(f);
	}
}

static uint32_t pick_len(struct fz *f)
{
	uint8_t sel = fz_u8(f);
	switch (sel % 5) {
	case 0: return 0;
	case 1: return fz_u8(f);
	case 2: { /* a block size, or one over it */
		uint32_t k = fz_u8(f) % 6;
		return FFB_CLASS_BLOCK_SIZE(k) + (sel >> 7);
	}
	case 3: return 1 + fz_u8(f) % FFB_MAX_NAME_LEN;
	default: return fz_u32(f);
	}
}

static uint64_t pick_call_id(struct fz *f, struct hostile *h)
{
	uint8_t sel = fz_u8(f);
	switch (sel % 5) {
	case 0: return 0;
	case 1: return next_call_id(h->c); /* collides with its next real call */
	case 2: { /* a plausible id of either side, of any kind (layout 4) */
		uint8_t b = fz_u8(f);
		return FFB_CALL_MAKE(1 + fz_u8(f), b & 1 ? FFB_ID_FROM_SERVER : FFB_ID_FROM_CLIENT, (b >> 1) % 4, fz_u8(f));
	}
	case 3: return next_call_id(h->c) + ((uint64_t)fz_u8(f) << 32);
	default: return fz_u64(f);
	}
}

static uint32_t pick_fn(struct fz *f)
{
	uint8_t sel = fz_u8(f);
	switch (sel % 4) {
	case 0: return FFB_FN_ECHO;
	case 1: return FFB_FN_VERSION;
	case 2: return 0;
	default: return fz_u32(f);
	}
}

static void push(struct hostile *h, const struct ffb_ring_entry *e)
{
	if (ffb_ring_prod_free(&h->c->req, 1) > 0)
		ffb_ring_prod_push(&h->c->req, e);
}

static uint32_t *word(struct hostile *h, unsigned which)
{
	struct ffb_ring_ctl *ring = which < 3 ? h->c->req.ctl : h->c->resp.ctl;
	switch (which % 3) {
	case 0: return &ring->p_tail;
	case 1: return &ring->c_head;
	default: return &ring->c_needs_wakeup;
	}
}

/* A server block a reply gave us is ours to keep and free later. */
static void took_reply(struct hostile *h, const ffb_result *r, uint64_t in)
{
	if (r->handle.id && r->handle.id != in && FFB_HANDLE_HEAP(r->handle.id) == FFB_HEAP_SERVER)
		keep(h->held, &h->nheld, r->handle.id);
}

static void hostile_call(struct fz *f, struct hostile *h)
{
	uint8_t sel = fz_u8(f);
	if (h->calls++ >= MAX_CALLS)
		return;
	ffb_handle in = {0};
	uint32_t len = 0;
	uint32_t fn = sel & 1 ? FFB_FN_VERSION : FFB_FN_ECHO;
	if (sel & 2) {
		len = 1 + fz_u8(f) * 4u;
		if (ffb_client_alloc(h->c, len, &in) != FFB_OK) {
			in.id = 0;
			len = 0;
		} else {
			keep(h->own, &h->nown, in.id);
		}
	}
	if (sel & 4) {
		uint64_t id;
		if (ffb_client_submit(h->c, fn, in, len, &id) == FFB_OK) {
			struct ffb_completion done[8];
			uint32_t n = 0;
			ffb_client_poll(h->c, done, 8, &n, 0);
			for (uint32_t i = 0; i < n; i++)
				took_reply(h, &done[i].result, in.id);
		}
		return;
	}
	ffb_result r;
	ffb_status st = ffb_client_call(h->c, fn, in, len, HOSTILE_CALL_NS, &r);
	if (st == FFB_ERR_PEER_GONE && !known_peer_gone(h, st))
		die("a hostile call saw PEER_GONE from a live server, no goodbye left on the socket");
	took_reply(h, &r, in.id);
}

static bool one_row; /* the input is one table row: its verdict is checked */

/* A row of the hostile table, pushed and published. A row that needs a
 * server block waits for ffi.version's answer no longer than a hostile
 * call (an earlier op may have broken the session), unless its verdict
 * is to be checked. */
static void push_row(struct fz *f, struct hostile *h)
{
	struct ffb_ring_entry e;
	if (hostile_entry_build(h->c, &hostile_entries[fz_u8(f) % HOSTILE_ENTRIES], one_row ? 2 * SEC : HOSTILE_CALL_NS,
				&e)) {
		push(h, &e);
		if (ffb_ring_prod_publish(&h->c->req))
			wake(h);
	}
}

static void run_op(struct fz *f, struct hostile *h)
{
	uint8_t op = fz_u8(f);
	if (op == OP_TABLE_ROW) {
		push_row(f, h);
		return;
	}
	if (verbose)
		fprintf(stderr, "op %u\n", op % 11u);
	switch (op % 11) {
	case 0: { /* 32 raw bytes as one entry */
		struct ffb_ring_entry e;
		fz_bytes(f, &e, sizeof(e));
		push(h, &e);
		break;
	}
	case 1:
	case 2: { /* an entry built field by field */
		struct ffb_ring_entry e;
		uint8_t k = fz_u8(f);
		e.kind = k < 250 ? 1u + k % 8u : fz_u32(f); /* CALL LOOKUP RELEASE RESULT CALLV CANCEL ITEM CREDIT */
		e.call_id = pick_call_id(f, h);
		e.handle = pick_handle(f, h);
		e.len = pick_len(f);
		e.fn_or_status = pick_fn(f);
		push(h, &e);
		break;
	}
	case 3: /* publish, waking the server only if it asked */
		if (ffb_ring_prod_publish(&h->c->req))
			wake(h);
		break;
	case 4:
		wake(h);
		break;
	case 5: { /* a control word of either ring */
		uint8_t sel = fz_u8(f);
		uint32_t *w = word(h, sel % 6);
		uint32_t v = sel & 0x80 ? fz_u32(f) : __atomic_load_n(w, __ATOMIC_ACQUIRE) + (uint32_t)(int8_t)fz_u8(f);
		__atomic_store_n(w, v, __ATOMIC_RELEASE);
		break;
	}
	case 6:
	case 7:
		hostile_call(f, h);
		break;
	case 8: { /* free a server block: a RELEASE goes with the next flush */
		uint8_t i = fz_u8(f);
		if (h->nheld) {
			i %= h->nheld;
			ffb_client_free(h->c, (ffb_handle){h->held[i]});
			h->held[i] = h->held[--h->nheld];
		}
		break;
	}
	case 9:
		by_echo(1 + fz_u8(f) * 16u);
		break;
	case 10: { /* a message where none belongs */
		uint8_t n = fz_u8(f) % 80;
		uint8_t buf[80];
		fz_bytes(f, buf, n);
		if (!h->sent_bytes && n)
			h->sent_bytes = send(h->c->sock, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) > 0;
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	struct hostile h = {0};
	uint64_t cut0 = sessions_cut();
	/* Per input: libFuzzer itself opens fds now and then (the pipes to
	 * its symbolizer when it names a new function); the last input's
	 * session is gone by now. */
	int base_fds = count_fds();
	h.c = connect_inproc();
	h.tag = ffb_client_superblock(h.c)->arena_tag;
	one_row = size == 2 && data[0] == OP_TABLE_ROW;

	for (int i = 0; i < MAX_OPS && fz_more(&f); i++)
		run_op(&f, &h);

	/* Two bystander echoes: the server has serviced the hostile ring
	 * after its last publish (the second echo's pass comes after the
	 * pass that answered the first, which saw every earlier store). */
	by_echo(64);
	by_echo(64);
	int outq = 0;
	if (!h.sent_bytes && ioctl(h.c->sock, SIOCOUTQ, &outq) == 0 && outq > 0)
		die("%d bytes the hostile client never sent wait on its socket for the server", outq);
	uint64_t cut = sessions_cut() - cut0;
	if (cut > 1)
		die("%llu sessions cut for one hostile client", (unsigned long long)cut);
	/* An input that is exactly one table row gets the row's verdict. */
	const struct hostile_entry *row = size == 2 && data[0] == OP_TABLE_ROW
						  ? &hostile_entries[data[1] % HOSTILE_ENTRIES] : NULL;
	bool must_cut = row && row->verdict == FFB_ERR_PROTOCOL;
	/* What the server answered before it cut: consumed now, so no
	 * answer to a forged entry can meet the probe's call id. */
	ffb__client_drain(h.c);
	ffb_result r;
	ffb_status st = ffb_client_call(h.c, FFB_FN_ECHO, (ffb_handle){0}, 0, cut || row ? 2 * SEC : PROBE_NS, &r);
	if (row && (must_cut ? st != FFB_ERR_PROTOCOL : cut || st != FFB_OK))
		die("table row %s: the probe call answered %s (%s cut), its verdict is %s", row->name, ffb_status_name(st),
		    cut ? "counted" : "not counted", ffb_status_name(row->verdict));
	if (cut && st != FFB_ERR_PROTOCOL && !known_peer_gone(&h, st))
		die("a session the server cut answered %s, not PROTOCOL", ffb_status_name(st));
	if (st == FFB_ERR_PEER_GONE && !known_peer_gone(&h, st))
		die("the hostile client saw PEER_GONE from a live server, no goodbye left on the socket");
	if (verbose)
		fprintf(stderr, "hostile session: %s, last call %s\n", cut ? "cut" : "not cut", ffb_status_name(st));
	ffb_client_close(h.c);

	if (!FUZZ_WAIT_UNTIL(sessions_active() == 1, 2000))
		die("the server still has %llu sessions after the hostile client left",
		    (unsigned long long)sessions_active());
	if (!FUZZ_WAIT_UNTIL(count_fds() == base_fds, 2000) && (dump_fds(), 1))
		die("%d fds open, %d before the hostile client", count_fds(), base_fds);
	if (!FUZZ_WAIT_UNTIL(count_arena_maps() == base_maps, 2000))
		die("%d arena mappings, %d before the hostile client", count_arena_maps(), base_maps);
	static unsigned inputs;
	if (++inputs % 64 == 0 && count_arena_maps_proc() != base_maps) /* what the kernel says, now and then */
		die("%d arena mappings in /proc/self/maps, %d before the hostile client", count_arena_maps_proc(), base_maps);
	return 0;
}
