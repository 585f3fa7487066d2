/*
 * demo.c — the demo callbacks `ffb serve` registers besides the
 * built-ins: one table of name, where it runs, what it takes and does
 * (`ffb serve --help` prints it). The slow ones run on the worker pool;
 * demo.defer answers from threads of its own, out of order; demo.wait
 * waits for its caller to cancel it.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo.h"

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The first 4 input bytes as a little-endian u32, capped; false if short. */
static bool arg_u32(ffb_call *call, const char *what, uint32_t cap, uint32_t *out)
{
	if (ffb_call_len(call) < 4) {
		char msg[96];
		snprintf(msg, sizeof(msg), "want 4 bytes: %s", what);
		ffb_call_set_error(call, msg);
		return false;
	}
	uint32_t v = le32(ffb_call_data(call));
	*out = v > cap ? cap : v;
	return true;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static ffb_status demo_upper(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t n = ffb_call_len(call);
	const unsigned char *in = ffb_call_data(call);
	unsigned char *out;
	ffb_status st = ffb_call_reply_alloc(call, n, (void **)&out);
	if (st)
		return st;
	for (uint32_t i = 0; i < n; i++)
		out[i] = (unsigned char)toupper(in[i]);
	return FFB_OK;
}

static ffb_status demo_reverse(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t n = ffb_call_len(call);
	const unsigned char *in = ffb_call_data(call);
	unsigned char *out;
	ffb_status st = ffb_call_reply_alloc(call, n, (void **)&out);
	if (st)
		return st;
	for (uint32_t i = 0; i < n; i++)
		out[i] = in[n - 1 - i];
	return FFB_OK;
}

static ffb_status demo_echo(ffb_call *call, void *ctx)
{
	(void)ctx;
	if (!ffb_call_len(call) && !ffb_call_capacity(call))
		return FFB_OK;
	return ffb_call_reply_input(call, ffb_call_len(call));
}

static ffb_status demo_fail(ffb_call *call, void *ctx)
{
	(void)ctx;
	ffb_call_set_error(call, "demo.fail: failing on purpose");
	return FFB_ERR_INVALID_ARGUMENT;
}

static ffb_status demo_sleep(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t ms;
	if (!arg_u32(call, "milliseconds", 1000, &ms))
		return FFB_ERR_INVALID_ARGUMENT;
	sleep_us((uint64_t)ms * 1000);
	return ffb_call_reply_input(call, ffb_call_len(call));
}

/* CPU-bound for the given microseconds: an xorshift chain, its value the
 * answer (8 bytes) so the work cannot be skipped. */
static ffb_status demo_spin(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t us;
	if (!arg_u32(call, "microseconds", 1000000, &us))
		return FFB_ERR_INVALID_ARGUMENT;
	uint64_t x = 88172645463325252ull, end = now_ns() + (uint64_t)us * 1000;
	do
		for (int i = 0; i < 256; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
	while (now_ns() < end);
	return ffb_call_reply_bytes(call, &x, sizeof(x));
}

/* ---- demo.defer: answered later, from other threads, out of order ------ */

#define DEFER_THREADS 2
#define DEFER_BATCH 64

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	ffb_call *calls[4096];
	unsigned n;
	bool started;
} defer_q = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

static void *answerer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (;;) {
		ffb_call *batch[DEFER_BATCH];
		pthread_mutex_lock(&defer_q.lock);
		while (defer_q.n == 0)
			pthread_cond_wait(&defer_q.more, &defer_q.lock);
		unsigned n = defer_q.n < DEFER_BATCH ? defer_q.n : DEFER_BATCH;
		defer_q.n -= n;
		memcpy(batch, defer_q.calls + defer_q.n, n * sizeof(batch[0]));
		pthread_mutex_unlock(&defer_q.lock);
		for (unsigned i = n; i > 1; i--) { /* answer in a shuffled order */
			unsigned j = (unsigned)rand_r(&seed) % i;
			ffb_call *t = batch[i - 1];
			batch[i - 1] = batch[j];
			batch[j] = t;
		}
		for (unsigned i = 0; i < n; i++) {
			ffb_call_reply_input(batch[i], ffb_call_len(batch[i]));
			ffb_call_finish(batch[i], FFB_OK);
		}
	}
	return NULL;
}

static ffb_status demo_defer(ffb_call *call, void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&defer_q.lock);
	bool room = defer_q.n < sizeof(defer_q.calls) / sizeof(defer_q.calls[0]);
	ffb_call *kept = room ? ffb_call_defer(call) : NULL;
	if (kept) {
		defer_q.calls[defer_q.n++] = kept;
		pthread_cond_signal(&defer_q.more);
	}
	pthread_mutex_unlock(&defer_q.lock);
	if (!kept) { /* out of room: answer now, in order */
		return ffb_call_reply_input(call, ffb_call_len(call));
	}
	return FFB_OK;
}

static ffb_status start_answerers(void)
{
	for (uintptr_t i = 0; i < DEFER_THREADS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, answerer, (void *)(i + 1)) != 0)
			return FFB_ERR_SYSTEM;
		pthread_detach(t);
	}
	return FFB_OK;
}

/* ---- demo.wait / demo.cancels: cancellation seen by the handler -------- */

static uint64_t cancels_seen;

static ffb_status demo_wait(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t ms;
	if (!arg_u32(call, "milliseconds", 60000, &ms))
		return FFB_ERR_INVALID_ARGUMENT;
	uint64_t end = now_ns() + (uint64_t)ms * 1000000;
	while (now_ns() < end) {
		if (ffb_call_cancelled(call)) {
			__atomic_fetch_add(&cancels_seen, 1, __ATOMIC_RELAXED);
			return FFB_ERR_CANCELLED;
		}
		sleep_us(100);
	}
	return ffb_call_reply_input(call, ffb_call_len(call));
}

static ffb_status demo_cancels(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint64_t n = __atomic_load_n(&cancels_seen, __ATOMIC_RELAXED);
	return ffb_call_reply_bytes(call, &n, sizeof(n));
}

/* ---- calls back to the client, and streams ----------------------------- */

/* How the calls demo.back and demo.sum_stream made to clients ended, by
 * status (index 31: any other); demo.outcomes answers the table. */
#define OUTCOMES 32
static uint64_t outcomes[OUTCOMES];

static void count_outcome(ffb_status st)
{
	uint32_t i = st >= 0 && st < OUTCOMES - 1 ? (uint32_t)st : OUTCOMES - 1;
	__atomic_fetch_add(&outcomes[i], 1, __ATOMIC_RELAXED);
}

static ffb_status demo_outcomes(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint64_t out[OUTCOMES];
	for (int i = 0; i < OUTCOMES; i++)
		out[i] = __atomic_load_n(&outcomes[i], __ATOMIC_RELAXED);
	return ffb_call_reply_bytes(call, out, sizeof(out));
}

/* "NAME\nPAYLOAD": the name into name[], its length into *k. */
static bool arg_name(ffb_call *call, char name[FFB_MAX_NAME_LEN + 1], uint32_t *k)
{
	uint32_t n = ffb_call_len(call), i = 0;
	const char *in = ffb_call_data(call);
	while (i < n && i < FFB_MAX_NAME_LEN && in[i] != '\n')
		i++;
	memcpy(name, in, i);
	name[i] = 0;
	*k = i;
	if (i == 0 || i == n) {
		ffb_call_set_error(call, "want NAME\nPAYLOAD");
		return false;
	}
	return true;
}

/* demo.back: "NAME\nPAYLOAD" -> the client's handler NAME called with
 * PAYLOAD; its answer (or error) is the answer. Cancelling the call
 * cancels the call to the client's handler. */
struct back {
	ffb_call *call;
	ffb_session *s;
	uint64_t id;
};

static void back_answered(void *ctx, ffb_status st, const void *data, uint32_t len)
{
	struct back *b = ctx;
	count_outcome(st);
	if (st == FFB_OK && len)
		st = ffb_call_reply_bytes(b->call, data, len);
	else if (st != FFB_OK && len) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%.*s", (int)(len < 255 ? len : 255), (const char *)data);
		ffb_call_set_error(b->call, msg);
	}
	ffb_call_finish(b->call, st); /* on_cancel never runs after this */
	ffb_session_unref(b->s);
	free(b);
}

/* On the session's dispatcher, as back_answered is: b is still live. */
static void back_cancelled(void *ctx)
{
	struct back *b = ctx;
	ffb_session_cancel(b->s, b->id);
}

static ffb_status demo_back(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t n = ffb_call_len(call), k;
	char name[FFB_MAX_NAME_LEN + 1];
	if (!arg_name(call, name, &k))
		return FFB_ERR_INVALID_ARGUMENT;
	struct back *b = malloc(sizeof(*b));
	ffb_call *kept = b ? ffb_call_defer(call) : NULL;
	if (!kept) {
		free(b);
		return FFB_ERR_SYSTEM;
	}
	b->call = kept;
	b->s = ffb_call_session_ref(kept);
	ffb_status st = ffb_session_call(b->s, name, ffb_call_data(kept) + k + 1, n - k - 1, 5000000000ll,
					 back_answered, b, &b->id);
	if (st) {
		ffb_call_finish(kept, st);
		ffb_session_unref(b->s);
		free(b);
		return FFB_OK;
	}
	ffb_call_on_cancel(kept, back_cancelled, b);
	return FFB_OK;
}

/* demo.tell: "NAME\nPAYLOAD" -> a notification of the client's handler
 * NAME with PAYLOAD; answers at once. */
static ffb_status demo_tell(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t k;
	char name[FFB_MAX_NAME_LEN + 1];
	if (!arg_name(call, name, &k))
		return FFB_ERR_INVALID_ARGUMENT;
	ffb_session *s = ffb_call_session_ref(call);
	ffb_status st = ffb_session_notify(s, name, ffb_call_data(call) + k + 1, ffb_call_len(call) - k - 1);
	ffb_session_unref(s);
	return st;
}

/* demo.pingback: u32 n, then NAME -> n calls, one after the other, of the
 * client's handler NAME with 64 bytes each, timed from the server's call
 * to its answer callback; answers the n round trips in ns, u64 each,
 * sorted (every answer must be the 64 bytes back, else PROTOCOL). The
 * server's side of the reverse round trip, for `make bench`. */
struct pinger {
	ffb_call *call;
	ffb_session *s;
	char name[FFB_MAX_NAME_LEN + 1];
	uint32_t n, done;
	uint64_t t0;
	uint64_t *rtt;
	uint8_t payload[64];
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void ping_next(struct pinger *p);

static void ping_answered(void *ctx, ffb_status st, const void *data, uint32_t len)
{
	struct pinger *p = ctx;
	uint64_t t = now_ns();
	if (st == FFB_OK && (len != sizeof(p->payload) || memcmp(data, p->payload, len) != 0))
		st = FFB_ERR_PROTOCOL;
	if (st == FFB_OK) {
		p->rtt[p->done++] = t - p->t0;
		if (p->done < p->n) {
			ping_next(p);
			return;
		}
		qsort(p->rtt, p->n, sizeof(uint64_t), cmp_u64);
		st = ffb_call_reply_bytes(p->call, p->rtt, p->n * (uint32_t)sizeof(uint64_t));
	}
	ffb_call_finish(p->call, st);
	ffb_session_unref(p->s);
	free(p->rtt);
	free(p);
}

static void ping_next(struct pinger *p)
{
	p->t0 = now_ns();
	memcpy(p->payload, &p->t0, 8); /* a fresh answer each time: a stale one cannot pass */
	ffb_status st = ffb_session_call(p->s, p->name, p->payload, sizeof(p->payload), 5000000000ll, ping_answered, p, NULL);
	if (st)
		ping_answered(p, st, NULL, 0);
}

static ffb_status demo_pingback(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t n, len = ffb_call_len(call);
	if (!arg_u32(call, "the number of calls, then the handler's name", 100000, &n))
		return FFB_ERR_INVALID_ARGUMENT;
	if (n == 0 || len <= 4 || len - 4 > FFB_MAX_NAME_LEN) {
		ffb_call_set_error(call, "want u32 n > 0, then the handler's name");
		return FFB_ERR_INVALID_ARGUMENT;
	}
	struct pinger *p = calloc(1, sizeof(*p));
	uint64_t *rtt = p ? malloc(n * sizeof(uint64_t)) : NULL;
	ffb_call *kept = rtt ? ffb_call_defer(call) : NULL;
	if (!kept) {
		free(rtt);
		free(p);
		return FFB_ERR_SYSTEM;
	}
	p->call = kept;
	p->s = ffb_call_session_ref(kept);
	p->n = n;
	p->rtt = rtt;
	memcpy(p->name, (const char *)ffb_call_data(kept) + 4, len - 4);
	for (uint32_t i = 0; i < sizeof(p->payload); i++)
		p->payload[i] = (uint8_t)(i * 7 + 1);
	ping_next(p);
	return FFB_OK;
}

/* demo.count: u32 n [, u32 size] -> a stream of n items of size bytes
 * (8 to 65536; 8 if not given), item i the u64 i and then bytes i + k
 * for k = 8, 9, ..., sent as the client's credit allows (from the credit
 * callback: nothing blocks). */
struct counter {
	ffb_call *call;
	uint64_t next, n;
	uint32_t size;
	uint8_t item[];
};

static void count_more(void *ctx)
{
	struct counter *k = ctx;
	while (k->next < k->n) {
		memcpy(k->item, &k->next, sizeof(k->next));
		for (uint32_t j = 8; j < k->size; j++)
			k->item[j] = (uint8_t)(k->next + j);
		ffb_status st = ffb_call_item(k->call, k->item, k->size);
		if (st == FFB_ERR_WOULD_BLOCK || st == FFB_ERR_ARENA_FULL) {
			ffb_call_on_credit(k->call, count_more, k); /* the next credit goes on */
			return;
		}
		if (st) { /* CANCELLED: the consumer went */
			__atomic_fetch_add(&cancels_seen, 1, __ATOMIC_RELAXED);
			ffb_call_finish(k->call, st);
			free(k);
			return;
		}
		k->next++;
	}
	ffb_call_finish(k->call, FFB_OK);
	free(k);
}

static ffb_status demo_count(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t n;
	if (!ffb_call_is_stream(call)) {
		ffb_call_set_error(call, "demo.count: call it as a stream");
		return FFB_ERR_INVALID_ARGUMENT;
	}
	if (!arg_u32(call, "items", UINT32_MAX, &n))
		return FFB_ERR_INVALID_ARGUMENT;
	uint32_t size = 8;
	if (ffb_call_len(call) >= 8)
		size = le32((const unsigned char *)ffb_call_data(call) + 4);
	if (size < 8 || size > 65536) {
		ffb_call_set_error(call, "demo.count: an item is 8 to 65536 bytes");
		return FFB_ERR_INVALID_ARGUMENT;
	}
	struct counter *k = malloc(sizeof(*k) + size);
	ffb_call *kept = k ? ffb_call_defer(call) : NULL;
	if (!kept) {
		free(k);
		return FFB_ERR_SYSTEM;
	}
	*k = (struct counter){.call = kept, .n = n, .size = size};
	count_more(k);
	return FFB_OK;
}

/* demo.sum_stream: "NAME" -> the client's stream handler NAME called; the
 * answer is 16 bytes: how many items came, and the sum of their bytes. */
struct summer {
	ffb_call *call;
	ffb_session *s;
	uint64_t id, items, sum, ungranted;
	bool stall; /* grant nothing beyond the initial credit */
};

static void sum_item(void *ctx, const void *data, uint32_t len)
{
	struct summer *m = ctx;
	m->items++;
	for (uint32_t i = 0; i < len; i++)
		m->sum += ((const unsigned char *)data)[i];
	if (!m->stall && ++m->ungranted >= FFB_STREAM_INITIAL_CREDIT / 2) {
		ffb_session_credit(m->s, m->id, (uint32_t)m->ungranted);
		m->ungranted = 0;
	}
}

static void sum_done(void *ctx, ffb_status st, const void *data, uint32_t len)
{
	(void)data;
	(void)len;
	struct summer *m = ctx;
	count_outcome(st);
	uint64_t out[2] = {m->items, m->sum};
	if (st == FFB_OK)
		st = ffb_call_reply_bytes(m->call, out, sizeof(out));
	ffb_call_finish(m->call, st);
	ffb_session_unref(m->s);
	free(m);
}

/* On the session's dispatcher, as sum_done is: m is still live. */
static void sum_cancelled(void *ctx)
{
	struct summer *m = ctx;
	ffb_session_cancel(m->s, m->id);
}

static ffb_status demo_sum_stream(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t n = ffb_call_len(call);
	const char *in = ffb_call_data(call);
	static const char stall[] = "\nstall";
	bool stalled = n > sizeof(stall) - 1 && memcmp(in + n - (sizeof(stall) - 1), stall, sizeof(stall) - 1) == 0;
	if (stalled)
		n -= sizeof(stall) - 1;
	char name[FFB_MAX_NAME_LEN + 1];
	if (n == 0 || n > FFB_MAX_NAME_LEN) {
		ffb_call_set_error(call, "want the name of a stream handler");
		return FFB_ERR_INVALID_ARGUMENT;
	}
	memcpy(name, in, n);
	name[n] = 0;
	struct summer *m = calloc(1, sizeof(*m));
	ffb_call *kept = m ? ffb_call_defer(call) : NULL;
	if (!kept) {
		free(m);
		return FFB_ERR_SYSTEM;
	}
	m->call = kept;
	m->stall = stalled;
	m->s = ffb_call_session_ref(kept);
	ffb_status st = ffb_session_stream(m->s, name, NULL, 0, -1, sum_item, sum_done, m, &m->id);
	if (st) {
		ffb_session_unref(m->s);
		free(m);
		ffb_call_finish(kept, st);
		return FFB_OK;
	}
	ffb_call_on_cancel(kept, sum_cancelled, m);
	return FFB_OK;
}

const struct demo_callback demo_callbacks[] = {
	{"demo.echo", demo_echo, FFB_CB_POOL, "bytes -> the same block back (ffi.echo, from a worker)"},
	{"demo.upper", demo_upper, FFB_CB_POOL, "bytes -> the bytes in upper case (a new block)"},
	{"demo.reverse", demo_reverse, FFB_CB_POOL, "bytes -> the bytes reversed (a new block)"},
	{"demo.fail", demo_fail, FFB_CB_INLINE, "anything -> INVALID_ARGUMENT with a message"},
	{"demo.sleep", demo_sleep, FFB_CB_POOL, "u32 ms (<= 1000) -> sleeps, echoes its input"},
	{"demo.spin", demo_spin, FFB_CB_POOL, "u32 us -> computes that long, 8 bytes of result"},
	{"demo.defer", demo_defer, FFB_CB_INLINE, "bytes -> echoed later by another thread, out of order"},
	{"demo.wait", demo_wait, FFB_CB_POOL, "u32 ms -> waits; CANCELLED as soon as the caller cancels"},
	{"demo.cancels", demo_cancels, FFB_CB_INLINE, "nothing -> u64: cancellations demo.wait and demo.count saw"},
	{"demo.back", demo_back, FFB_CB_INLINE, "\"NAME\\nBYTES\" -> the client's handler NAME called with BYTES"},
	{"demo.outcomes", demo_outcomes, FFB_CB_INLINE, "nothing -> u64 x 32: demo.back's and demo.sum_stream's calls to clients by how they ended (index: status)"},
	{"demo.tell", demo_tell, FFB_CB_INLINE, "\"NAME\\nBYTES\" -> a notification of the client's handler NAME with BYTES"},
	{"demo.pingback", demo_pingback, FFB_CB_INLINE, "u32 n, NAME -> n timed 64-byte calls of the client's handler NAME: their round trips, u64 ns each, sorted"},
	{"demo.count", demo_count, FFB_CB_INLINE, "u32 n [, u32 size], as a stream -> n items of size bytes: u64 0, 1, ..., then filler (credit-paced)"},
	{"demo.sum_stream", demo_sum_stream, FFB_CB_INLINE, "NAME[\\nstall] -> the client's stream NAME: u64 items, u64 byte sum (stall: no credit past the first 16)"},
	{NULL, NULL, 0, NULL},
};

ffb_status demo_register(ffb_server *s)
{
	ffb_status st = FFB_OK;
	for (const struct demo_callback *d = demo_callbacks; d->name && !st; d++)
		st = ffb_server_register_flags(s, d->name, d->fn, NULL, d->flags, NULL);
	if (!st && !defer_q.started) {
		defer_q.started = true;
		st = start_answerers();
	}
	return st;
}
