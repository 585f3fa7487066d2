/*
 * status.c — the status table's names, the log sink, and small utilities
 * every file uses (UTF-8 validation, monotonic clock, randomness).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

struct status_name {
	int code;
	const char *name;
	const char *text;
};

static const struct status_name table[] = {
	{FFB_OK, "OK", "success"},
	{FFB_ERR_NULL_POINTER, "NULL_POINTER", "a required pointer was NULL"},
	{FFB_ERR_BUFFER_TOO_SMALL, "BUFFER_TOO_SMALL", "buffer too small"},
	{FFB_ERR_INVALID_UTF8, "INVALID_UTF8", "invalid UTF-8"},
	{FFB_ERR_SERIALIZATION, "SERIALIZATION", "serialization failed"},
	{FFB_ERR_PANIC, "PANIC", "callback panicked"},
	{FFB_ERR_TIMEOUT, "TIMEOUT", "timed out"},
	{FFB_ERR_NOT_FOUND, "NOT_FOUND", "not found"},
	{FFB_ERR_LOCK_POISONED, "LOCK_POISONED", "lock poisoned"},
	{FFB_ERR_STALE_HANDLE, "STALE_HANDLE", "stale handle"},
	{FFB_ERR_DOUBLE_FREE, "DOUBLE_FREE", "block already freed"},
	{FFB_ERR_INVALID_HANDLE, "INVALID_HANDLE", "invalid handle"},
	{FFB_ERR_FOREIGN_HANDLE, "FOREIGN_HANDLE", "handle from another arena"},
	{FFB_ERR_ARENA_FULL, "ARENA_FULL", "arena full"},
	{FFB_ERR_RING_FULL, "RING_FULL", "ring full"},
	{FFB_ERR_PEER_GONE, "PEER_GONE", "peer gone"},
	{FFB_ERR_VERSION_MISMATCH, "VERSION_MISMATCH", "protocol version mismatch"},
	{FFB_ERR_PERMISSION_DENIED, "PERMISSION_DENIED", "permission denied"},
	{FFB_ERR_INVALID_ARGUMENT, "INVALID_ARGUMENT", "invalid argument"},
	{FFB_ERR_PROTOCOL, "PROTOCOL", "protocol violation"},
	{FFB_ERR_TOO_MANY_SESSIONS, "TOO_MANY_SESSIONS", "too many sessions"},
	{FFB_ERR_TOO_MANY_CALLS, "TOO_MANY_CALLS", "too many calls in flight"},
	{FFB_ERR_BAD_FD, "BAD_FD", "bad file descriptor from peer"},
	{FFB_ERR_SYSTEM, "SYSTEM", "system call failed"},
	{FFB_ERR_ALREADY_EXISTS, "ALREADY_EXISTS", "already exists"},
	{FFB_ERR_CLOSED, "CLOSED", "closed"},
	{FFB_ERR_WOULD_BLOCK, "WOULD_BLOCK", "would block"},
	{FFB_ERR_BUSY, "BUSY", "block is lent to the peer"},
	{FFB_ERR_CANCELLED, "CANCELLED", "the caller cancelled the call"},
	{FFB_ERR_UNKNOWN, "UNKNOWN", "unknown error"},
};

static const struct status_name *find(int status)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].code == status)
			return &table[i];
	return NULL;
}

const char *ffb_strerror(int status)
{
	const struct status_name *e = find(status);
	return e ? e->text : "unknown status";
}

const char *ffb_status_name(int status)
{
	const struct status_name *e = find(status);
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
