/*
 * ring_rtt.c — the round trip of one entry over a pair of SPSC rings.
 *
 * Measures: the repo's ring fast path (ring/ffb_ring.h, unchanged) with
 * nothing else: a client process on CLIENT_CPU pushes one request entry
 * and publishes it (P1, P3), then spins on the response ring; an echo
 * process on SERVER_CPU spins on the request ring, pops the entry, pushes
 * it back as a result and publishes. Both release their consumed slots
 * as the real client and server do. One iteration = one round trip, timed
 * with the calibrated TSC on the client. Against cacheline_rtt this is
 * what the ring protocol itself costs; against a real echo it is what
 * the server and client around it cost.
 *
 * Checks: the echo side verifies that each request carries the next
 * sequence number (call_id) and the value derived from it (handle); the
 * client verifies the same of each reply. Any mismatch fails the run
 * (checked=false, exit 1).
 *
 * Usage: ring_rtt [iterations] [name]
 */
#include "probe_common.h"
#include "ffb_ring.h"

#define RING_ENTRIES 256u
#define RING_BYTES (FFB_RING_CTL_SIZE + RING_ENTRIES * FFB_RING_ENTRY_SIZE)
#define STOP_ID UINT64_MAX

static uint64_t handle_of(uint64_t seq)
{
	return seq * 0x9E3779B97F4A7C15ull | 1;
}

/* Spin until one entry is ready, then pop it. */
static void take(struct ffb_ring_cons *c, struct ffb_ring_entry *e)
{
	while (ffb_ring_cons_ready(c) == 0)
		ffb_cpu_relax();
	ffb_ring_cons_pop(c, e);
	ffb_ring_cons_release(c);
}

static void give(struct ffb_ring_prod *p, uint64_t id, uint64_t handle)
{
	while (ffb_ring_prod_free(p, 1) == 0)
		ffb_cpu_relax();
	struct ffb_ring_entry e = {.call_id = id, .handle = handle, .kind = FFB_KIND_RESULT};
	ffb_ring_prod_push(p, &e);
	ffb_ring_prod_publish(p);
}

static int echo_side(char *mem)
{
	struct ffb_ring_cons req;
	struct ffb_ring_prod resp;
	if (ffb_ring_cons_attach(&req, mem, RING_ENTRIES) || ffb_ring_prod_attach(&resp, mem + RING_BYTES, RING_ENTRIES))
		return 1;
	for (uint64_t seq = 0;; seq++) {
		struct ffb_ring_entry e;
		take(&req, &e);
		if (e.call_id == STOP_ID)
			return 0;
		if (e.call_id != seq || e.handle != handle_of(seq))
			return 1;
		give(&resp, e.call_id, e.handle);
	}
}

int main(int argc, char **argv)
{
	size_t iters = arg_iters(argc, argv, 1000000);
	size_t warm = iters / 10;
	char *mem = shared_map(2 * RING_BYTES);

	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		pin_cpu(SERVER_CPU);
		_exit(echo_side(mem));
	}
	pin_cpu(CLIENT_CPU);
	tsc_calibrate();
	struct ffb_ring_prod req;
	struct ffb_ring_cons resp;
	if (ffb_ring_prod_attach(&req, mem, RING_ENTRIES) || ffb_ring_cons_attach(&resp, mem + RING_BYTES, RING_ENTRIES))
		die("attach");

	double *lat = malloc(iters * sizeof(double));
	if (!lat)
		die("malloc");
	int ok = 1;
	uint64_t start = 0;
	for (size_t i = 0; i < warm + iters && ok; i++) {
		if (i == warm)
			start = mono_ns();
		struct ffb_ring_entry e;
		uint64_t t0 = tsc_now();
		give(&req, i, handle_of(i));
		take(&resp, &e);
		uint64_t t1 = tsc_now();
		ok = e.call_id == i && e.handle == handle_of(i);
		if (i >= warm)
			lat[i - warm] = tsc_to_ns(t1 - t0);
	}
	uint64_t elapsed = mono_ns() - start;
	give(&req, STOP_ID, 0);
	if (reap(pid) != 0)
		ok = 0;

	struct stats s = stats_of(lat, iters);
	emit_json(argc > 2 ? argv[2] : "ring_rtt", "ring", "limit", FFB_RING_ENTRY_SIZE,
		  "echo process CPU0, client process CPU1 (fork, memfd MAP_SHARED)", &s,
		  (double)iters * 1e9 / (double)elapsed, iters, ok, "");
	return ok ? 0 : 1;
}
