/*
 * clock.c — a cheap tick count for timing callbacks on the hot path.
 *
 * A dispatcher times every inline callback (its fairness budget), so the
 * clock must cost far less than a call: on x86 with an invariant TSC
 * (constant_tsc and nonstop_tsc) that is RDTSC, about 10 ns where
 * clock_gettime is 25; elsewhere it is CLOCK_MONOTONIC. The TSC rate is
 * measured once against CLOCK_MONOTONIC (a 2 ms busy wait, the first time
 * it is needed).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool use_tsc;
static double ticks_per_ns = 1.0;

#if defined(__x86_64__) || defined(__i386__)
static bool tsc_invariant(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return false;
	char line[4096];
	bool constant = false, nonstop = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		constant = strstr(line, " constant_tsc") != NULL;
		nonstop = strstr(line, " nonstop_tsc") != NULL;
		break;
	}
	fclose(f);
	return constant && nonstop;
}
#endif

static void calibrate(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (!tsc_invariant())
		return;
	uint64_t n0 = ffb__now_ns(), t0 = __rdtsc(), n1, t1;
	do {
		n1 = ffb__now_ns();
		t1 = __rdtsc();
	} while (n1 - n0 < 2000000);
	if (t1 <= t0)
		return;
	ticks_per_ns = (double)(t1 - t0) / (double)(n1 - n0);
	__atomic_store_n(&use_tsc, true, __ATOMIC_RELEASE);
#endif
}

uint64_t ffb__ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (__builtin_expect(__atomic_load_n(&use_tsc, __ATOMIC_RELAXED), 1))
		return __rdtsc();
#endif
	return ffb__now_ns();
}

uint64_t ffb__ticks_from_ns(uint64_t ns)
{
	pthread_once(&once, calibrate);
	return (uint64_t)((double)ns * ticks_per_ns);
}

uint64_t ffb__ns_from_ticks(uint64_t ticks)
{
	pthread_once(&once, calibrate);
	return (uint64_t)((double)ticks / ticks_per_ns);
}
