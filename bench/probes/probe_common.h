/*
 * probe_common.h — what every limit probe shares: CPU pinning, a
 * calibrated TSC clock, a shared (memfd) mapping two forked processes see,
 * percentile statistics, and the one JSON line per measurement that
 * bench/run.sh collects. Header-only so each probe stays one file.
 *
 * JSON fields (the contract with bench/report.py): name, transport, group,
 * payload_bytes, placement, p50_ns, p99_ns, p999_ns, mean_ns, ops_per_s,
 * iterations, checked, plus probe-specific extras.
 */
#ifndef PROBE_COMMON_H
#define PROBE_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVER_CPU 0 /* server / producer / "ping" side */
#define CLIENT_CPU 1 /* client / consumer / "pong" side */

static inline void die(const char *what)
{
	fprintf(stderr, "probe: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Pin the calling thread (and what it forks later) to one CPU. */
static inline void pin_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("sched_setaffinity");
}

static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- TSC clock, calibrated against CLOCK_MONOTONIC ------------------- */

static double tsc_ns_per_tick;
static double tsc_overhead_ns; /* cost of one back-to-back tsc_now() pair */

static inline uint64_t tsc_now(void)
{
	uint32_t lo, hi;
	/* lfence keeps rdtsc from running ahead of earlier loads (the spin
	 * that just saw the peer's store). */
	__asm__ __volatile__("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

/* Measure ticks per ns over ~50 ms. The host advertises constant_tsc and
 * nonstop_tsc; the result is printed so a drifting clock is visible. */
static inline void tsc_calibrate(void)
{
	uint64_t n0 = mono_ns(), t0 = tsc_now();
	while (mono_ns() - n0 < 50000000ull)
		;
	uint64_t n1 = mono_ns(), t1 = tsc_now();
	tsc_ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 10000; i++) {
		uint64_t a = tsc_now(), b = tsc_now();
		if (b - a < best)
			best = b - a;
	}
	tsc_overhead_ns = (double)best * tsc_ns_per_tick;
}

static inline double tsc_to_ns(uint64_t ticks)
{
	return (double)ticks * tsc_ns_per_tick;
}

/* ---- shared memory between forked processes --------------------------- */

/* A zeroed memfd mapping, MAP_SHARED, so a fork()ed child shares it the
 * way two ffi-bridge peers share an arena. */
static inline void *shared_map(size_t size)
{
	int fd = memfd_create("ffb-probe", MFD_CLOEXEC);
	if (fd < 0)
		die("memfd_create");
	if (ftruncate(fd, (off_t)size) != 0)
		die("ftruncate");
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	close(fd);
	return p;
}

/* Wait for a forked child; its exit status is its verdict (0 = checked). */
static inline int reap(pid_t pid)
{
	int st = 0;
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- statistics -------------------------------------------------------- */

struct stats {
	double p50, p99, p999, mean, min, max;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sorts v in place; nearest-rank percentiles. */
static inline struct stats stats_of(double *v, size_t n)
{
	struct stats s = {0};
	if (n == 0)
		return s;
	qsort(v, n, sizeof(*v), cmp_double);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	s.mean = sum / (double)n;
	s.min = v[0];
	s.max = v[n - 1];
	s.p50 = v[(size_t)(0.50 * (double)(n - 1))];
	s.p99 = v[(size_t)(0.99 * (double)(n - 1))];
	s.p999 = v[(size_t)(0.999 * (double)(n - 1))];
	return s;
}

/* One measurement as one JSON line on stdout. `extra` is either "" or
 * a string of additional `,"key":value` members. */
static inline void emit_json(const char *name, const char *transport, const char *group, size_t payload,
			     const char *placement, const struct stats *s, double ops_per_s, size_t iters,
			     int checked, const char *extra)
{
	printf("{\"name\":\"%s\",\"transport\":\"%s\",\"group\":\"%s\",\"payload_bytes\":%zu,"
	       "\"placement\":\"%s\",\"p50_ns\":%.1f,\"p99_ns\":%.1f,\"p999_ns\":%.1f,"
	       "\"mean_ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,\"ops_per_s\":%.1f,"
	       "\"iterations\":%zu,\"checked\":%s,\"clock\":\"tsc %.4f ns/tick\",\"timer_overhead_ns\":%.1f%s}\n",
	       name, transport, group, payload, placement, s->p50, s->p99, s->p999, s->mean, s->min, s->max,
	       ops_per_s, iters, checked ? "true" : "false", tsc_ns_per_tick, tsc_overhead_ns, extra);
	fflush(stdout);
}

/* Iteration count from argv[1] (default `def`). */
static inline size_t arg_iters(int argc, char **argv, size_t def)
{
	if (argc > 1) {
		long v = strtol(argv[1], NULL, 10);
		if (v > 0)
			return (size_t)v;
	}
	return def;
}

#endif /* PROBE_COMMON_H */
