/*
 * backpressure.c — the C client under backpressure: several threads, each
 * with its own session to one real server (a forked child), keep their
 * in-flight cap full of sequence-numbered calls (ffi.echo and a copying
 * callback that replies in a new server block), with 2% of payloads over
 * 1 MiB so the big size classes run out (ARENA_FULL from alloc: collect,
 * then retry; from the server's reply allocation: retry the call). Every
 * payload is a byte pattern keyed on thread and sequence number; every
 * reply is checked; each sequence number must be answered exactly once.
 * Counted: lost, duplicated, misdelivered — all must be 0.
 *
 * FFB_BACKPRESSURE_CALLS: calls in total (default 10^6). Run by
 * tests/torture/run.sh.
 */
#include <pthread.h>

#include "client_internal.h"
#include "testutil.h"

#define SEC 1000000000ll
#define THREADS 4

static struct test_server ts;

static ffb_status cb_copy(ffb_call *call, void *ctx)
{
	(void)ctx;
	return ffb_call_reply_bytes(call, ffb_call_data(call), ffb_call_len(call));
}

static void setup(ffb_server *s)
{
	ffb_server_register(s, "test.copy", cb_copy, NULL, NULL);
}

static uint8_t pat(uint64_t key, uint32_t i)
{
	uint64_t x = key * 0x9E3779B97F4A7C15ull + (uint64_t)i * 0xBF58476D1CE4E5B9ull;
	return (uint8_t)(x >> 56) ^ (uint8_t)i;
}

/* Pattern positions: the first 64 KiB, then 8 bytes of every 4 KiB. */
static uint32_t next_pos(uint32_t i)
{
	i++;
	return i < 65536 || i % 4096 < 8 ? i : (i / 4096 + 1) * 4096;
}

static void fill(uint8_t *p, uint32_t n, uint64_t key)
{
	memcpy(p, &key, 8);
	for (uint32_t i = 8; i < n; i = next_pos(i))
		p[i] = pat(key, i);
}

static bool check(const uint8_t *p, uint32_t n, uint64_t key)
{
	if (n < 8 || memcmp(p, &key, 8) != 0)
		return false;
	for (uint32_t i = 8; i < n; i = next_pos(i))
		if (p[i] != pat(key, i))
			return false;
	return true;
}

static uint32_t size_of(uint64_t seq)
{
	uint64_t r = (seq * 2654435761u) % 1024;
	if (r < 20)
		return (1u << 20) + (uint32_t)r * (64u << 10);
	if (r < 200)
		return 1000 + (uint32_t)r;
	return 16 + (uint32_t)(r % 48);
}

struct worker {
	int t;
	uint64_t calls;
	uint64_t ok, lost, dup, misdelivered, arena_full, reply_full;
	char err[256];
};

struct inflight {
	uint64_t seq;
	ffb_handle in;
	uint32_t len;
	bool used;
};

static void *run(void *arg)
{
	struct worker *w = arg;
	ffb_client *c;
	if (ffb_client_connect(ts.path, NULL, &c) != FFB_OK) {
		snprintf(w->err, sizeof(w->err), "connect failed");
		return NULL;
	}
	uint32_t copy;
	if (ffb_client_resolve(c, "test.copy", &copy) != FFB_OK) {
		snprintf(w->err, sizeof(w->err), "resolve failed");
		ffb_client_close(c);
		return NULL;
	}
	uint8_t *answered = calloc(w->calls, 1);
	uint32_t nslots = c->nslots;
	struct inflight *fl = calloc(nslots, sizeof(*fl));
	uint64_t *retry = malloc(sizeof(uint64_t) * 4096);
	uint32_t nretry = 0, out = 0;
	uint64_t next = 0;
	struct ffb_completion done[64];
	while (next < w->calls || nretry || out) {
		/* submit until the cap, the ring or the arena says stop */
		while (next < w->calls || nretry) {
			uint64_t seq = nretry ? retry[nretry - 1] : next;
			uint64_t key = (uint64_t)w->t << 40 | seq;
			uint32_t n = size_of(seq);
			ffb_handle h;
			ffb_status st = ffb_client_alloc(c, n, &h);
			if (st == FFB_ERR_ARENA_FULL) {
				w->arena_full++;
				break;
			}
			uint8_t *d;
			ffb_client_data(c, h, (void **)&d, NULL);
			fill(d, n, key);
			uint64_t id;
			st = ffb_client_submit(c, seq % 3 == 1 ? copy : FFB_FN_ECHO, h, n, &id);
			if (st == FFB_ERR_TOO_MANY_CALLS || st == FFB_ERR_RING_FULL) {
				ffb_client_free(c, h);
				break;
			}
			if (st) {
				snprintf(w->err, sizeof(w->err), "submit: %s", ffb_status_name(st));
				goto out;
			}
			fl[FFB_CALL_SLOT(id)] = (struct inflight){.seq = seq, .in = h, .len = n, .used = true};
			out++;
			if (nretry)
				nretry--;
			else
				next++;
		}
		uint32_t k = 0;
		ffb_status st = ffb_client_poll(c, done, 64, &k, 5 * SEC);
		if (st && st != FFB_ERR_WOULD_BLOCK) {
			snprintf(w->err, sizeof(w->err), "poll: %s with %u out", ffb_status_name(st), out);
			goto out;
		}
		for (uint32_t i = 0; i < k; i++) {
			uint32_t slot = FFB_CALL_SLOT(done[i].call_id);
			struct inflight *f = slot < nslots ? &fl[slot] : NULL;
			if (!f || !f->used) {
				w->misdelivered++;
				continue;
			}
			f->used = false;
			out--;
			ffb_result r = done[i].result;
			uint64_t key = (uint64_t)w->t << 40 | f->seq;
			if (r.status == FFB_ERR_ARENA_FULL) { /* the server's heap was full */
				w->reply_full++;
				if (r.handle.id)
					ffb_client_free(c, r.handle);
				ffb_client_free(c, f->in);
				if (nretry < 4096)
					retry[nretry++] = f->seq;
				continue;
			}
			uint8_t *d = NULL;
			if (r.status || ffb_client_data(c, r.handle, (void **)&d, NULL) || r.len != f->len ||
			    !check(d, r.len, key)) {
				w->misdelivered++;
			} else if (answered[f->seq]++) {
				w->dup++;
			} else {
				w->ok++;
			}
			if (r.handle.id && r.handle.id != f->in.id)
				ffb_client_free(c, r.handle);
			ffb_client_free(c, f->in);
		}
	}
	for (uint64_t s = 0; s < w->calls; s++)
		w->lost += !answered[s];
out:
	free(answered);
	free(fl);
	free(retry);
	ffb_client_close(c);
	return NULL;
}

static void no_call_lost_duplicated_or_misdelivered(void **state)
{
	(void)state;
	uint64_t total = 1000000;
	const char *e = getenv("FFB_BACKPRESSURE_CALLS");
	if (e && strtoull(e, NULL, 10) > 0)
		total = strtoull(e, NULL, 10);
	test_server_start(&ts, setup);
	struct worker w[THREADS] = {0};
	pthread_t th[THREADS];
	uint64_t t0 = test_now_ns();
	for (int i = 0; i < THREADS; i++) {
		w[i].t = i;
		w[i].calls = total / THREADS;
		assert_int_equal(pthread_create(&th[i], NULL, run, &w[i]), 0);
	}
	uint64_t ok = 0, lost = 0, dup = 0, mis = 0, af = 0, rf = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		if (w[i].err[0])
			fail_msg("thread %d: %s", i, w[i].err);
		ok += w[i].ok, lost += w[i].lost, dup += w[i].dup, mis += w[i].misdelivered;
		af += w[i].arena_full, rf += w[i].reply_full;
	}
	double s = (double)(test_now_ns() - t0) / 1e9;
	fprintf(stderr,
		"C backpressure: %llu calls from %d sessions in %.1f s (%.0f/s): %llu verified, lost %llu, "
		"duplicated %llu, misdelivered %llu; ARENA_FULL: %llu alloc, %llu server reply\n",
		(unsigned long long)(total / THREADS * THREADS), THREADS, s, (double)total / s, (unsigned long long)ok,
		(unsigned long long)lost, (unsigned long long)dup, (unsigned long long)mis, (unsigned long long)af,
		(unsigned long long)rf);
	assert_true(test_server_alive(&ts));
	assert_int_equal(test_server_stop(&ts, SIGTERM), 0);
	assert_int_equal(lost, 0);
	assert_int_equal(dup, 0);
	assert_int_equal(mis, 0);
	assert_int_equal(ok, total / THREADS * THREADS);
	assert_true(af > 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_call_lost_duplicated_or_misdelivered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
