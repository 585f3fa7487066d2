/*
 * cacheline_slices.h — the `slices` mode of cacheline_rtt: the cache-line
 * round trip measured in short slices on demand, for a harness that
 * interleaves them with the figure they anchor (A/B/A/B on the same two
 * CPUs, the ratio taken per slice pair).
 *
 * Protocol: the harness writes a slice length in ms as one line on
 * stdin; the probe answers one JSON line on stdout. Per phase the client
 * resets the shared word, wakes the echo process with one byte on a pipe
 * ('p' pause, 'n' nopause), ping-pongs until the phase's deadline,
 * stores STOP and waits for the echo side's acknowledgement byte. Between
 * phases the echo process blocks in read(2): nothing spins while the
 * harness measures something else. Latencies go into a 1-ns histogram
 * (0..65535 ns, one overflow bucket), so percentiles cost no sort.
 * Included by cacheline_rtt.c only (uses its echo_side and spin_pause).
 */
#ifndef CACHELINE_SLICES_H
#define CACHELINE_SLICES_H

#include <limits.h>

#define HIST_NS 65536

struct hist {
	uint64_t count[HIST_NS + 1];
	uint64_t n;
};

static void hist_add(struct hist *h, double ns)
{
	size_t b = ns < 0 ? 0 : ns >= HIST_NS ? HIST_NS : (size_t)ns;
	h->count[b]++;
	h->n++;
}

/* Nearest-rank percentile q of the histogram, in ns. */
static double hist_at(const struct hist *h, double q)
{
	if (h->n == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)(h->n - 1));
	uint64_t seen = 0;
	for (size_t b = 0; b <= HIST_NS; b++) {
		seen += h->count[b];
		if (seen > rank)
			return (double)b;
	}
	return HIST_NS;
}

/* The echo process: one phase per byte read from `go`, acknowledged
 * with one byte on `ack`. Exit status 0 when the pipe closes cleanly. */
static int slices_echo(uint32_t *w, int go, int ack)
{
	char c;
	while (read(go, &c, 1) == 1) {
		spin_pause = c == 'p';
		if (echo_side(w) != 0)
			return 1;
		if (write(ack, "k", 1) != 1)
			return 2;
	}
	return 0;
}

/* One phase of `ms` ms: ping-pong until the TSC deadline; every round
 * trip into h. Returns 0, or 1 on a wrong value. */
static int slices_phase(uint32_t *w, int go, int ack, char mode, double ms, struct hist *h)
{
	spin_pause = mode == 'p';
	ffb_store_release(w, 0);
	if (write(go, &mode, 1) != 1)
		die("write");
	uint64_t start = tsc_now();
	uint64_t end = start + (uint64_t)(ms * 1e6 / tsc_ns_per_tick);
	uint32_t seq = 0;
	int ok = 1;
	size_t i = 0;
	for (;; i++) {
		if ((i & 255) == 0 && tsc_now() > end)
			break;
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
		if (!ok)
			break;
		uint64_t t1 = tsc_now();
		if (i >= 200) /* the first round trips after a sleep are cold */
			hist_add(h, tsc_to_ns(t1 - t0));
		seq = pong;
	}
	ffb_store_release(w, STOP);
	char c;
	if (read(ack, &c, 1) != 1)
		die("read ack");
	return ok ? 0 : 1;
}

static int run_slices(void)
{
	int go[2], ack[2];
	if (pipe(go) != 0 || pipe(ack) != 0)
		die("pipe");
	uint32_t *w = shared_map(4096);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(go[1]);
		close(ack[0]);
		pin_cpu(SERVER_CPU);
		_exit(slices_echo(w, go[0], ack[1]));
	}
	close(go[0]);
	close(ack[1]);
	pin_cpu(CLIENT_CPU);
	tsc_calibrate();
	static struct hist hp, hn;
	char line[64];
	int ok = 1;
	for (unsigned slice = 1; ok && fgets(line, sizeof line, stdin); slice++) {
		double ms = strtod(line, NULL);
		if (line[0] == 'q' || ms <= 0)
			break;
		memset(&hp, 0, sizeof hp);
		memset(&hn, 0, sizeof hn);
		if (slices_phase(w, go[1], ack[0], 'p', ms * 0.9, &hp) != 0 ||
		    slices_phase(w, go[1], ack[0], 'n', ms * 0.1, &hn) != 0)
			ok = 0;
		printf("{\"slice\":%u,\"p50_ns\":%.1f,\"p90_ns\":%.1f,\"p99_ns\":%.1f,\"iterations\":%llu,"
		       "\"nopause_p50_ns\":%.1f,\"nopause_iterations\":%llu,\"checked\":%s}\n",
		       slice, hist_at(&hp, 0.50), hist_at(&hp, 0.90), hist_at(&hp, 0.99), (unsigned long long)hp.n,
		       hist_at(&hn, 0.50), (unsigned long long)hn.n, ok ? "true" : "false");
		fflush(stdout);
	}
	close(go[1]);
	if (reap(pid) != 0)
		ok = 0;
	return ok ? 0 : 1;
}

#endif /* CACHELINE_SLICES_H */
