/*
 * fuzzutil.h — what the libFuzzer targets share: a reader that turns the
 * fuzz input into numbers (zeros once it runs out, so every input is a
 * valid program), the verified-payload pattern, the process's fd and
 * arena-mapping counts, a monotonic clock, and die() — a property failure
 * ends in abort(), which libFuzzer reports as a crash with its input.
 *
 * The arena mappings are counted as they are made: mk/fuzz.mk links the
 * targets with --wrap=mmap,munmap, and every shared mapping of an fd (the
 * library makes no other: arenas, on both sides) is kept in a table
 * until it is unmapped whole. Reading /proc/self/maps for that cost a
 * tenth of every input; count_arena_maps_proc() still does it, for the
 * baseline and a cross-check now and then.
 */
#ifndef FFB_FUZZUTIL_H
#define FFB_FUZZUTIL_H

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline bool fz_more(const struct fz *f)
{
	return f->n > 0;
}

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

/* n bytes into dst, zero-filled past the end of the input. */
static inline void fz_bytes(struct fz *f, void *dst, size_t n)
{
	size_t k = n < f->n ? n : f->n;
	memcpy(dst, f->p, k);
	memset((uint8_t *)dst + k, 0, n - k);
	f->p += k;
	f->n -= k;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint8_t b[2];
	fz_bytes(f, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint8_t b[4];
	fz_bytes(f, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t lo = fz_u32(f);
	return lo | (uint64_t)fz_u32(f) << 32;
}

__attribute__((noreturn, format(printf, 2, 3))) static inline void die_(const char *target, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: property violated: ", target);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static inline void fill(uint8_t *p, uint32_t n, uint32_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

static inline bool check(const uint8_t *p, uint32_t n, uint32_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(seed * 131u + i * 7u + (i >> 8)))
			return false;
	return true;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Open fds of this process. */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* List this process's fds on stderr (what a leak check found). */
static inline void dump_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], target[256];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
}

/* Mappings of session arenas ("/memfd:ffb-session") in this process, as
 * the kernel lists them. */
static inline int count_arena_maps_proc(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	int n = 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:ffb-session"))
			n++;
	fclose(f);
	return n;
}

/* The live shared mappings of fds made through mmap (--wrap). */
#define FUZZ_MAX_MAPS 256
static struct {
	void *p;
	size_t n;
} fuzz_maps[FUZZ_MAX_MAPS];
static int fuzz_nmaps, fuzz_maps_lost;
static pthread_mutex_t fuzz_maps_lock = PTHREAD_MUTEX_INITIALIZER;

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = __real_mmap(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED && fd >= 0 && (flags & MAP_SHARED)) {
		pthread_mutex_lock(&fuzz_maps_lock);
		if (fuzz_nmaps < FUZZ_MAX_MAPS)
			fuzz_maps[fuzz_nmaps++] = (__typeof__(fuzz_maps[0])){p, len};
		else
			fuzz_maps_lost++;
		pthread_mutex_unlock(&fuzz_maps_lock);
	}
	return p;
}

int __wrap_munmap(void *addr, size_t len);
int __wrap_munmap(void *addr, size_t len)
{
	int r = __real_munmap(addr, len);
	if (r == 0) {
		pthread_mutex_lock(&fuzz_maps_lock);
		for (int i = 0; i < fuzz_nmaps; i++)
			if (fuzz_maps[i].p == addr && fuzz_maps[i].n == len) {
				fuzz_maps[i] = fuzz_maps[--fuzz_nmaps];
				break;
			}
		pthread_mutex_unlock(&fuzz_maps_lock);
	}
	return r;
}

/* Arena mappings in this process now: those mmap made and munmap did not
 * take whole (-1 if the table overflowed). */
static inline int count_arena_maps(void)
{
	pthread_mutex_lock(&fuzz_maps_lock);
	int n = fuzz_maps_lost ? -1 : fuzz_nmaps;
	pthread_mutex_unlock(&fuzz_maps_lock);
	return n;
}

/* Poll `cond` every 20 us until true or `ms` elapse; its last value. */
#define FUZZ_WAIT_UNTIL(cond, ms)                                             \
	({                                                                    \
		uint64_t _end = now_ns() + (uint64_t)(ms) * 1000000ull;       \
		int _ok;                                                      \
		while (!(_ok = (cond)) && now_ns() < _end)                    \
			usleep(20);                                           \
		_ok;                                                          \
	})

#endif /* FFB_FUZZUTIL_H */
