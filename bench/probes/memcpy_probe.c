/*
 * memcpy_probe.c — what copying a payload costs, for scale.
 *
 * Measures: memcpy of one payload (64 B ... 16 MiB) between two private,
 * 64-byte-aligned buffers in one process pinned to CLIENT_CPU, timed per
 * call with the calibrated TSC. Source and destination are reused, so for
 * sizes that fit the caches this is the hot-cache copy cost — the cost a
 * transport that copies the payload pays at least once per direction.
 *
 * Checks: before every copy the source gets an iteration stamp in its
 * first, middle and last 8 bytes, and after it the destination must hold
 * those stamps; every 64th copy (untimed) and the last one are compared
 * in full with memcmp. A mismatch fails the run (checked=false, exit 1).
 *
 * Usage: memcpy_probe [iterations-for-64B] [size ...]
 *   default sizes 64 4096 65536 1048576 16777216; larger sizes run
 *   proportionally fewer iterations (at least 200).
 */
#include "probe_common.h"

static void stamp(unsigned char *p, size_t n, uint64_t v)
{
	memcpy(p, &v, 8);
	memcpy(p + (n / 2 & ~(size_t)7), &v, 8);
	memcpy(p + n - 8, &v, 8);
}

static int stamped(const unsigned char *p, size_t n, uint64_t v)
{
	uint64_t a, b, c;
	memcpy(&a, p, 8);
	memcpy(&b, p + (n / 2 & ~(size_t)7), 8);
	memcpy(&c, p + n - 8, 8);
	return a == v && b == v && c == v;
}

static int run(size_t size, size_t base_iters)
{
	size_t iters = base_iters * 64 / (size > 64 ? size : 64);
	if (iters < 200)
		iters = 200;
	unsigned char *src = aligned_alloc(64, size), *dst = aligned_alloc(64, size);
	double *lat = malloc(iters * sizeof(double));
	if (!src || !dst || !lat)
		die("alloc");
	for (size_t i = 0; i < size; i++)
		src[i] = (unsigned char)(i * 131 + 7);
	memset(dst, 0, size);

	int ok = 1;
	size_t warm = iters / 10 + 5;
	uint64_t start = 0, busy = 0;
	for (size_t i = 0; i < warm + iters && ok; i++) {
		if (i == warm)
			start = mono_ns(), busy = 0;
		stamp(src, size, i + 1);
		uint64_t t0 = tsc_now();
		memcpy(dst, src, size);
		__asm__ __volatile__("" ::: "memory"); /* the copy is not elided */
		uint64_t t1 = tsc_now();
		busy += t1 - t0;
		if (i >= warm)
			lat[i - warm] = tsc_to_ns(t1 - t0);
		if (!stamped(dst, size, i + 1))
			ok = 0;
		if ((i % 64 == 0 || i == warm + iters - 1) && memcmp(dst, src, size) != 0)
			ok = 0;
	}
	(void)start;
	struct stats s = stats_of(lat, iters);
	char name[64];
	snprintf(name, sizeof(name), "memcpy_%zu", size);
	/* ops/s from time inside memcpy only: the checks are not the copy */
	emit_json(name, "memcpy", "limit", size, "one process CPU1 (hot cache, private buffers)", &s,
		  (double)iters * 1e9 / tsc_to_ns(busy), iters, ok, "");
	free(src);
	free(dst);
	free(lat);
	return ok;
}

int main(int argc, char **argv)
{
	size_t base = arg_iters(argc, argv, 1000000);
	static const size_t def_sizes[] = {64, 4096, 65536, 1048576, 16777216};
	pin_cpu(CLIENT_CPU);
	tsc_calibrate();
	int ok = 1;
	if (argc > 2) {
		for (int i = 2; i < argc; i++)
			ok &= run(strtoul(argv[i], NULL, 10), base);
	} else {
		for (size_t i = 0; i < sizeof(def_sizes) / sizeof(def_sizes[0]); i++)
			ok &= run(def_sizes[i], base);
	}
	return ok ? 0 : 1;
}
