/*
 * ring_throughput.c — one-way SPSC ring throughput across two processes.
 *
 * Measures: the repo's ring fast path (ring/ffb_ring.h, unchanged) on a
 * 1024-entry ring in a memfd mapping. A producer process on SERVER_CPU
 * pushes N entries in batches of B and publishes once per batch (P1 plus
 * the P3 fence, as a real producer does); a consumer process on CLIENT_CPU
 * drains up to B entries at a time and releases once per drain (C2).
 * Reports entries/s over the whole run and, per chunk of 4096 entries
 * timed on the consumer with the TSC, ns/entry percentiles.
 *
 * Checks: every entry carries its sequence number in call_id and values
 * derived from it in handle and len; the consumer verifies all three for
 * every entry, in order, and that no ring index is ever out of bounds
 * (FFB_RING_CORRUPT). Any mismatch fails the run (checked=false, exit 1).
 *
 * Usage: ring_throughput [entries] [batch]   (batch 1..1024, default 32)
 */
#include "probe_common.h"
#include "ffb_ring.h"

#define RING_ENTRIES 1024u
#define CHUNK 4096u

static uint64_t handle_of(uint64_t seq)
{
	return seq * 0x9E3779B97F4A7C15ull | 1;
}

static int produce(void *ring, uint64_t n, uint32_t batch)
{
	struct ffb_ring_prod p;
	if (ffb_ring_prod_attach(&p, ring, RING_ENTRIES) != 0)
		return 1;
	uint64_t seq = 0;
	while (seq < n) {
		uint32_t want = (n - seq) < batch ? (uint32_t)(n - seq) : batch;
		int free_slots;
		while ((free_slots = ffb_ring_prod_free(&p, want)) < (int)want) {
			if (free_slots < 0)
				return 1;
			ffb_cpu_relax();
		}
		for (uint32_t k = 0; k < want; k++, seq++) {
			struct ffb_ring_entry e = {
				.call_id = seq,
				.handle = handle_of(seq),
				.len = (uint32_t)seq,
				.kind = FFB_KIND_CALL,
			};
			ffb_ring_prod_push(&p, &e);
		}
		ffb_ring_prod_publish(&p);
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = arg_iters(argc, argv, 20000000);
	uint32_t batch = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 32;
	if (batch < 1 || batch > RING_ENTRIES) {
		fprintf(stderr, "batch must be 1..%u\n", RING_ENTRIES);
		return 2;
	}
	void *ring = shared_map(FFB_RING_CTL_SIZE + RING_ENTRIES * FFB_RING_ENTRY_SIZE);

	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		pin_cpu(SERVER_CPU);
		_exit(produce(ring, n, batch));
	}
	pin_cpu(CLIENT_CPU);
	tsc_calibrate();

	struct ffb_ring_cons c;
	int ok = ffb_ring_cons_attach(&c, ring, RING_ENTRIES) == 0;
	size_t nchunks = n / CHUNK;
	double *per_entry = calloc(nchunks + 1, sizeof(double));
	if (!per_entry)
		die("calloc");
	size_t ci = 0;
	uint64_t expect = 0, start = 0, t_chunk = 0;
	while (ok && expect < n) {
		int ready = ffb_ring_cons_ready(&c);
		if (ready == 0) {
			ffb_cpu_relax();
			continue;
		}
		if (expect == 0)
			start = mono_ns(), t_chunk = tsc_now();
		uint32_t take = (uint32_t)ready < batch ? (uint32_t)ready : batch;
		for (uint32_t k = 0; k < take; k++, expect++) {
			struct ffb_ring_entry e;
			ffb_ring_cons_pop(&c, &e);
			if (e.call_id != expect || e.handle != handle_of(expect) || e.len != (uint32_t)expect ||
			    e.kind != FFB_KIND_CALL)
				ok = 0;
			if ((expect + 1) % CHUNK == 0 && ci < nchunks) {
				uint64_t t = tsc_now();
				per_entry[ci++] = tsc_to_ns(t - t_chunk) / CHUNK;
				t_chunk = t;
			}
		}
		ffb_ring_cons_release(&c);
	}
	uint64_t elapsed = mono_ns() - start;
	if (reap(pid) != 0)
		ok = 0;

	/* the first chunk includes start-up; drop it */
	struct stats s = stats_of(per_entry + 1, ci > 1 ? ci - 1 : 0);
	char name[64], extra[96];
	snprintf(name, sizeof(name), "ring_throughput_b%u", batch);
	snprintf(extra, sizeof(extra), ",\"batch\":%u,\"ring_entries\":%u,\"metric\":\"ns_per_entry\"", batch,
		 RING_ENTRIES);
	emit_json(name, "ffb_ring", "limit", FFB_RING_ENTRY_SIZE,
		  "producer process CPU0, consumer process CPU1 (fork, memfd MAP_SHARED)", &s,
		  (double)n * 1e9 / (double)elapsed, (size_t)n, ok, extra);
	return ok ? 0 : 1;
}
