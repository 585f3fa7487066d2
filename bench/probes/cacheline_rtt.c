/*
 * cacheline_rtt.c — the cache-line round trip between two processes.
 *
 * Measures: a client process on CLIENT_CPU and an echo process on
 * SERVER_CPU share one 64-byte line of a memfd mapping. The client stores
 * the odd value 2i+1 (release) and spins until it reads 2i+2; the echo
 * side spins until it reads 2i+1 and answers 2i+2. One iteration = one
 * round trip = the line moving to the echo core and back, timed with the
 * calibrated TSC on the client. This is the floor for "a 64 B echo round
 * trip within 2x of the cache-line RTT".
 *
 * Checks: each side verifies every value it reads is either the one it is
 * waiting for or the one it wrote itself; anything else (a lost or
 * reordered store) fails the run (checked=false, exit 1). The echo side
 * reports its own verdict by exit status.
 *
 * Usage: cacheline_rtt [iterations] [pause|nopause] [name]
 *   pause   spin with ffb_cpu_relax() as the ring's wait loops do (default)
 *   nopause spin on the bare load (the hardware floor)
 *   name    the measurement's name (default cacheline_rtt[_nopause]), e.g.
 *           to take a reference right before the measurement it anchors
 */
#include "probe_common.h"
#include "ffb_barrier.h"

#define STOP 0xFFFFFFFFu

static int spin_pause = 1;

static inline void relax(void)
{
	if (spin_pause)
		ffb_cpu_relax();
}

static int echo_side(uint32_t *w)
{
	uint32_t expect = 1;
	for (;;) {
		uint32_t v;
		while ((v = ffb_load_acquire(w)) != expect) {
			if (v == STOP)
				return 0;
			if (v != expect - 1)
				return 1; /* neither our answer nor the next ping */
			relax();
		}
		ffb_store_release(w, expect + 1);
		expect += 2;
	}
}

#include "cacheline_slices.h"

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "slices") == 0)
		return run_slices();
	size_t iters = arg_iters(argc, argv, 1000000);
	if (argc > 2 && strcmp(argv[2], "nopause") == 0)
		spin_pause = 0;
	size_t warm = iters / 10 + 1000;
	uint32_t *w = shared_map(4096);

	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		pin_cpu(SERVER_CPU);
		_exit(echo_side(w));
	}
	pin_cpu(CLIENT_CPU);
	tsc_calibrate();

	double *lat = malloc(iters * sizeof(double));
	if (!lat)
		die("malloc");
	int ok = 1;
	uint32_t seq = 0;
	uint64_t start = 0;
	for (size_t i = 0; i < warm + iters && ok; i++) {
		if (i == warm)
			start = mono_ns();
		uint32_t ping = seq + 1, pong = seq + 2;
		uint64_t t0 = tsc_now();
		ffb_store_release(w, ping);
		uint32_t v;
		while ((v = ffb_load_acquire(w)) != pong) {
			if (v != ping) {
				ok = 0;
				break;
			}
			relax();
		}
		uint64_t t1 = tsc_now();
		if (i >= warm)
			lat[i - warm] = tsc_to_ns(t1 - t0);
		seq = pong;
	}
	uint64_t elapsed = mono_ns() - start;
	ffb_store_release(w, STOP);
	if (reap(pid) != 0)
		ok = 0;

	struct stats s = stats_of(lat, iters);
	const char *name = argc > 3 ? argv[3] : spin_pause ? "cacheline_rtt" : "cacheline_rtt_nopause";
	emit_json(name, "cacheline", "limit", 64,
		  "echo process CPU0, client process CPU1 (fork, memfd MAP_SHARED)", &s,
		  (double)iters * 1e9 / (double)elapsed, iters, ok, "");
	return ok ? 0 : 1;
}
