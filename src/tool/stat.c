/*
 * stat.c — `ffb stat --socket PATH [--watch [SECONDS]] [--json]`: asks the
 * server for its counters with a stats request (PROTOCOL.md §2.5, no
 * session, no arena) and prints them as text or as one JSON object per
 * poll. With --watch, rates and latency quantiles are of the interval
 * since the previous poll; without, of the server's whole life.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ffb.h"
#include "stat.h"

struct sample {
	struct ffb_server_stats st;
	struct ffb_stats_fn fns[FFB_STATS_MAX_FUNCTIONS];
	uint32_t n, total;
	uint64_t at_ns; /* our CLOCK_MONOTONIC when it arrived */
};

static volatile sig_atomic_t g_stop;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void stat_usage(FILE *f)
{
	fprintf(f, "usage: ffb stat --socket PATH [--watch [SECONDS]] [--json] [--timeout-ms N]\n"
		   "Shows a running server's figures without opening a session: sessions (active,\n"
		   "handshaking, refused, cut), calls in total and per function with calls/s, answers\n"
		   "per status code, calls in flight, per-function latency p50/p99 (log2 buckets of\n"
		   "ns, an upper bound), dispatcher parks and wake-ups, the worker pool's queue.\n"
		   "  --watch [S]   poll every S seconds (default 1) until interrupted; rates and\n"
		   "                quantiles are then of each interval\n"
		   "  --json        one JSON object per poll, one per line\n"
		   "Exit status: 0, 1 if the server cannot be asked (refused, gone), 2 on usage.\n");
}

/* Names of the scalar counters of struct ffb_server_stats, for JSON. */
#define C(f) {#f, offsetof(struct ffb_server_stats, f)}
static const struct {
	const char *name;
	size_t off;
} counters[] = {C(sessions_active), C(sessions_total), C(sessions_refused), C(sessions_cut), C(calls),
		C(protocol_errors), C(wakeups_sent), C(parks), C(pooled_calls), C(deferred_calls),
		C(calls_in_flight), C(cancels), C(slow_inline_calls), C(server_calls), C(stream_items),
		C(answers_dropped), C(handshakes_dropped), C(sessions_handshaking), C(stats_requests),
		C(stats_refused), C(pool_waiting), C(pool_busy), C(uptime_ns)};
#undef C

static uint64_t counter(const struct ffb_server_stats *s, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)s + off, sizeof(v));
	return v;
}

/* The previous poll's entry of function id, or NULL. */
static const struct ffb_stats_fn *prev_fn(const struct sample *prev, uint32_t id)
{
	for (uint32_t i = 0; prev && i < prev->n; i++)
		if (prev->fns[i].fn_id == id)
			return &prev->fns[i];
	return NULL;
}

/* f minus its previous figures (a function new since then: all of f). */
static struct ffb_stats_fn fn_delta(const struct ffb_stats_fn *f, const struct sample *prev)
{
	struct ffb_stats_fn d = *f;
	const struct ffb_stats_fn *p = prev_fn(prev, f->fn_id);
	if (!p || p->calls > f->calls)
		return d;
	d.calls -= p->calls;
	d.errors -= p->errors;
	for (uint32_t b = 0; b < FFB_STATS_LAT_BUCKETS; b++)
		d.latency[b] -= p->latency[b];
	return d;
}

static void fmt_ns(char *buf, size_t n, uint64_t ns)
{
	if (ns == 0)
		snprintf(buf, n, "-");
	else if (ns < 1000)
		snprintf(buf, n, "%lluns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, n, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, n, "%.1fms", (double)ns / 1e6);
	else
		snprintf(buf, n, "%.1fs", (double)ns / 1e9);
}

static void json_str(const uint8_t *s, uint32_t len)
{
	putchar('"');
	for (uint32_t i = 0; i < len; i++) {
		uint8_t c = s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* interval_ns: the time the rates are over. */
static void print_json(const struct sample *cur, const struct sample *prev, uint64_t interval_ns,
		       uint64_t uptime_ns)
{
	const struct ffb_server_stats *s = &cur->st;
	double secs = (double)interval_ns / 1e9;
	uint64_t calls = s->calls - (prev ? prev->st.calls : 0);
	printf("{\"uptime_ns\":%llu,\"interval_ns\":%llu,", (unsigned long long)uptime_ns,
	       (unsigned long long)interval_ns);
	printf("\"sessions\":{\"active\":%llu,\"handshaking\":%llu,\"total\":%llu,\"refused\":%llu,\"cut\":%llu},",
	       (unsigned long long)s->sessions_active, (unsigned long long)s->sessions_handshaking,
	       (unsigned long long)s->sessions_total, (unsigned long long)s->sessions_refused,
	       (unsigned long long)s->sessions_cut);
	printf("\"calls\":%llu,\"calls_per_s\":%.1f,\"in_flight\":%llu,\"parks\":%llu,\"wakeups\":%llu,",
	       (unsigned long long)s->calls, secs > 0 ? (double)calls / secs : 0.0,
	       (unsigned long long)s->calls_in_flight, (unsigned long long)s->parks,
	       (unsigned long long)s->wakeups_sent);
	printf("\"pool\":{\"waiting\":%llu,\"busy\":%llu},", (unsigned long long)s->pool_waiting,
	       (unsigned long long)s->pool_busy);
	printf("\"results\":{");
	for (uint32_t c = 0, first = 1; c < FFB_STATS_STATUS_SLOTS; c++) {
		if (!s->results[c])
			continue;
		printf("%s\"%s\":%llu", first ? "" : ",", ffb_status_name(c == FFB_STATS_STATUS_SLOTS - 1 ? FFB_ERR_UNKNOWN : (int)c),
		       (unsigned long long)s->results[c]);
		first = 0;
	}
	printf("},\"counters\":{");
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		printf("%s\"%s\":%llu", i ? "," : "", counters[i].name, (unsigned long long)counter(s, counters[i].off));
	printf("},\"functions_total\":%u,\"functions\":[", cur->total);
	for (uint32_t i = 0; i < cur->n; i++) {
		const struct ffb_stats_fn *f = &cur->fns[i];
		struct ffb_stats_fn d = fn_delta(f, prev);
		printf("%s{\"id\":%u,\"name\":", i ? "," : "", f->fn_id);
		json_str(f->name, f->name_len);
		printf(",\"calls\":%llu,\"errors\":%llu,\"calls_per_s\":%.1f,\"p50_ns\":%llu,\"p99_ns\":%llu}",
		       (unsigned long long)f->calls, (unsigned long long)f->errors,
		       secs > 0 ? (double)d.calls / secs : 0.0,
		       (unsigned long long)ffb_stats_quantile_ns(d.latency, 0.50),
		       (unsigned long long)ffb_stats_quantile_ns(d.latency, 0.99));
	}
	printf("]}\n");
}

static void print_text(const char *path, const struct sample *cur, const struct sample *prev,
		       uint64_t interval_ns, uint64_t uptime_ns)
{
	const struct ffb_server_stats *s = &cur->st;
	double secs = (double)interval_ns / 1e9;
	uint64_t calls = s->calls - (prev ? prev->st.calls : 0);
	printf("ffb stat %s  up %.1fs%s\n", path, (double)uptime_ns / 1e9, prev ? "  (rates: last interval)" : "");
	printf("sessions  active %llu  handshaking %llu  total %llu  refused %llu  cut %llu\n",
	       (unsigned long long)s->sessions_active, (unsigned long long)s->sessions_handshaking,
	       (unsigned long long)s->sessions_total, (unsigned long long)s->sessions_refused,
	       (unsigned long long)s->sessions_cut);
	printf("calls     %llu  %.1f/s  in flight %llu  pooled %llu  deferred %llu  cancels %llu\n",
	       (unsigned long long)s->calls, secs > 0 ? (double)calls / secs : 0.0,
	       (unsigned long long)s->calls_in_flight, (unsigned long long)s->pooled_calls,
	       (unsigned long long)s->deferred_calls, (unsigned long long)s->cancels);
	printf("loop      parks %llu  wake-ups %llu  pool waiting %llu  busy %llu\n", (unsigned long long)s->parks,
	       (unsigned long long)s->wakeups_sent, (unsigned long long)s->pool_waiting,
	       (unsigned long long)s->pool_busy);
	printf("answers  ");
	for (uint32_t c = 0; c < FFB_STATS_STATUS_SLOTS; c++)
		if (s->results[c])
			printf(" %s %llu", ffb_status_name(c == FFB_STATS_STATUS_SLOTS - 1 ? FFB_ERR_UNKNOWN : (int)c),
			       (unsigned long long)s->results[c]);
	printf("\n%-32s %12s %10s %8s %8s %8s\n", "function", "calls", "calls/s", "errors", "p50", "p99");
	uint32_t idle = 0;
	for (uint32_t i = 0; i < cur->n; i++) {
		const struct ffb_stats_fn *f = &cur->fns[i];
		if (!f->calls) { /* --json lists them all */
			idle++;
			continue;
		}
		struct ffb_stats_fn d = fn_delta(f, prev);
		char p50[16], p99[16];
		fmt_ns(p50, sizeof(p50), ffb_stats_quantile_ns(d.latency, 0.50));
		fmt_ns(p99, sizeof(p99), ffb_stats_quantile_ns(d.latency, 0.99));
		printf("%-32.*s %12llu %10.1f %8llu %8s %8s\n", (int)f->name_len, (const char *)f->name, (unsigned long long)f->calls,
		       secs > 0 ? (double)d.calls / secs : 0.0, (unsigned long long)f->errors, p50, p99);
	}
	if (idle)
		printf("(%u more functions, no calls yet)\n", idle);
	if (cur->total > cur->n)
		printf("(%u more functions not in the reply)\n", cur->total - cur->n);
	fflush(stdout);
}

static void on_int(int sig)
{
	(void)sig;
	g_stop = 1;
}

int cmd_stat(int argc, char **argv)
{
	static const struct option opts[] = {{"socket", required_argument, 0, 's'},
					     {"watch", optional_argument, 0, 'w'},
					     {"json", no_argument, 0, 'j'},
					     {"timeout-ms", required_argument, 0, 't'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	const char *path = NULL;
	double watch = 0;
	int json = 0, timeout_ms = 1000, c;
	while ((c = getopt_long(argc, argv, "s:w::jt:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'w':
			if (!optarg && optind < argc && argv[optind][0] != '-')
				optarg = argv[optind++]; /* --watch 2 as well as --watch=2 */
			watch = optarg ? strtod(optarg, NULL) : 1.0;
			if (watch <= 0) {
				stat_usage(stderr);
				return 2;
			}
			break;
		case 'j': json = 1; break;
		case 't': timeout_ms = atoi(optarg); break;
		case 'h': stat_usage(stdout); return 0;
		default: stat_usage(stderr); return 2;
		}
	}
	if (!path || optind != argc) {
		stat_usage(stderr);
		return 2;
	}
	signal(SIGINT, on_int);
	signal(SIGTERM, on_int);
	struct sample *cur = calloc(1, sizeof(*cur)), *prev = calloc(1, sizeof(*prev));
	if (!cur || !prev)
		return 1;
	bool have_prev = false;
	for (;;) {
		ffb_status st = ffb_stats_query(path, timeout_ms, &cur->st, cur->fns, FFB_STATS_MAX_FUNCTIONS, &cur->n,
						&cur->total);
		cur->at_ns = mono_ns();
		if (st) {
			fprintf(stderr, "ffb stat: %s: %s (%s)\n", path, ffb_strerror(st), ffb_status_name(st));
			free(cur);
			free(prev);
			return 1;
		}
		uint64_t uptime = cur->st.uptime_ns;
		uint64_t interval = have_prev ? cur->at_ns - prev->at_ns : uptime;
		if (json)
			print_json(cur, have_prev ? prev : NULL, interval, uptime);
		else
			print_text(path, cur, have_prev ? prev : NULL, interval, uptime);
		fflush(stdout);
		if (watch <= 0 || g_stop)
			break;
		struct sample *t = prev;
		prev = cur;
		cur = t;
		have_prev = true;
		struct timespec ts = {.tv_sec = (time_t)watch, .tv_nsec = (long)((watch - (double)(time_t)watch) * 1e9)};
		while (nanosleep(&ts, &ts) != 0 && !g_stop)
			;
		if (g_stop)
			break;
		if (!json)
			printf("\n");
	}
	free(cur);
	free(prev);
	return 0;
}
