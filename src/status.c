/*
 * status.c — lookups in the status table (src/zstatus.c, generated from
 * include/ffb_status.h), the log sink, and small utilities every file
 * uses (UTF-8 validation, monotonic clock, randomness).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

static const struct ffb__status_text *find(int status)
{
	for (unsigned i = 0; i < ffb__status_count; i++)
		if (ffb__status_table[i].code == status)
			return &ffb__status_table[i];
	return NULL;
}

const char *ffb_strerror(int status)
{
	const struct ffb__status_text *e = find(status);
	return e ? e->text : "unknown status";
}

const char *ffb_status_name(int status)
{
	const struct ffb__status_text *e = find(status);
	return e ? e->name : "UNKNOWN";
}

const char *ffb_version(void)
{
	return FFB_VERSION_STRING;
}

static ffb_log_fn log_fn;
static void *log_ctx;
static int log_max = FFB_LOG_WARN;

void ffb_set_log(ffb_log_fn fn, void *ctx, int max_level)
{
	log_fn = fn;
	log_ctx = ctx;
	log_max = max_level;
}

void ffb__log(int level, const char *fmt, ...)
{
	if (!log_fn || level > log_max)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_fn(log_ctx, level, buf);
}

bool ffb__utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t extra;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			extra = 1, cp = c & 0x1F, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			extra = 2, cp = c & 0x0F, min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			extra = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= extra)
			return false;
		for (size_t k = 1; k <= extra; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += extra + 1;
	}
	return true;
}

uint64_t ffb__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ffb__random_u64(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		/* No entropy yet: uniqueness, not secrecy, is what we need. */
		v = ffb__now_ns() * 0x9E3779B97F4A7C15ull;
	}
	return v;
}
