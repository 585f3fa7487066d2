/*
 * futex_rtt.c — the raw futex wake round trip between two processes.
 *
 * Measures: a client process on CLIENT_CPU and an echo process on
 * SERVER_CPU share one 32-bit word of a memfd mapping (shared futex, not
 * FUTEX_PRIVATE). The client stores 2i+1, calls FUTEX_WAKE, and sleeps in
 * FUTEX_WAIT until the word is 2i+2; the echo side sleeps in FUTEX_WAIT
 * until the word is 2i+1, stores 2i+2 and calls FUTEX_WAKE. Neither side
 * spins, so one iteration is two wakes and (usually) two sleeps: the
 * reference for "waking costs no more than a raw futex round trip".
 * The fraction of waits that really slept (rather than returning EAGAIN
 * because the value had already changed) is reported as `slept_frac`.
 *
 * Checks: each side verifies every value it reads is the one it waits for
 * or the one it wrote; anything else fails the run (checked=false, exit 1).
 *
 * Usage: futex_rtt [iterations] [name]   (name: default futex_rtt)
 */
#include <linux/futex.h>
#include <sys/syscall.h>

#include "probe_common.h"
#include "ffb_barrier.h"

#define STOP 0xFFFFFFFFu

static long futex(uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

/* Sleep while *w == seen. Returns 1 if it slept and was woken, 0 if the
 * value had already changed (EAGAIN) or a signal interrupted. */
static int wait_while(uint32_t *w, uint32_t seen)
{
	return futex(w, FUTEX_WAIT, seen) == 0;
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
				return 1;
			wait_while(w, v);
		}
		ffb_store_release(w, expect + 1);
		futex(w, FUTEX_WAKE, 1);
		expect += 2;
	}
}

int main(int argc, char **argv)
{
	size_t iters = arg_iters(argc, argv, 200000);
	size_t warm = iters / 10 + 100;
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
	size_t waits = 0, slept = 0;
	uint32_t seq = 0;
	uint64_t start = 0;
	for (size_t i = 0; i < warm + iters && ok; i++) {
		if (i == warm)
			start = mono_ns(), waits = slept = 0;
		uint32_t ping = seq + 1, pong = seq + 2;
		uint64_t t0 = tsc_now();
		ffb_store_release(w, ping);
		futex(w, FUTEX_WAKE, 1);
		uint32_t v;
		while ((v = ffb_load_acquire(w)) != pong) {
			if (v != ping) {
				ok = 0;
				break;
			}
			waits++;
			slept += (size_t)wait_while(w, ping);
		}
		uint64_t t1 = tsc_now();
		if (i >= warm)
			lat[i - warm] = tsc_to_ns(t1 - t0);
		seq = pong;
	}
	uint64_t elapsed = mono_ns() - start;
	ffb_store_release(w, STOP);
	futex(w, FUTEX_WAKE, 1);
	if (reap(pid) != 0)
		ok = 0;

	struct stats s = stats_of(lat, iters);
	char extra[64];
	snprintf(extra, sizeof(extra), ",\"slept_frac\":%.3f", waits ? (double)slept / (double)iters : 0.0);
	emit_json(argc > 2 ? argv[2] : "futex_rtt", "futex", "limit", 4, "echo process CPU0, client process CPU1 (fork, shared futex)",
		  &s, (double)iters * 1e9 / (double)elapsed, iters, ok, extra);
	return ok ? 0 : 1;
}
