/*
 * ffb.c — the ffb command: `serve` (a server with the built-ins and a few
 * demo callbacks), `ping` (an echo benchmark that verifies its payload and
 * prints round-trip percentiles), `stat` (a running server's figures,
 * stat.c) and `version`.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "ffb.h"
#include "stat.h"

static ffb_server *g_server;

static void on_signal(int sig)
{
	(void)sig;
	if (g_server)
		ffb_server_stop(g_server);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int pin_cpu(int cpu)
{
	if (cpu < 0)
		return 0;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		fprintf(stderr, "ffb: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
		return -1;
	}
	return 0;
}

static void serve_usage(FILE *f)
{
	fprintf(f, "usage: ffb serve --socket PATH [--spin-us N] [--max-sessions N] [--workers N]\n"
		   "                 [--dispatchers N] [--worker-spin-us N] [--cpu N] [--eventfd] [--quiet]\n"
		   "With FFB_LISTEN_FD set (ffb.Start does) it serves that inherited socket and\n"
		   "needs no --socket; with FFB_PARENT_PID set it exits when that parent is gone.\n"
		   "Serves the built-ins ffi.echo and ffi.version and these demo callbacks\n"
		   "(u32 = 4 bytes little-endian):\n");
	for (const struct demo_callback *d = demo_callbacks; d->name; d++)
		fprintf(f, "  %-13s %-6s %s\n", d->name, d->flags & FFB_CB_POOL ? "pool" : "inline", d->help);
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {{"socket", required_argument, 0, 's'},
					     {"spin-us", required_argument, 0, 'p'},
					     {"max-sessions", required_argument, 0, 'm'},
					     {"workers", required_argument, 0, 'w'},
					     {"dispatchers", required_argument, 0, 'd'},
					     {"worker-spin-us", required_argument, 0, 'W'},
					     {"cpu", required_argument, 0, 'c'},
					     {"eventfd", no_argument, 0, 'e'},
					     {"quiet", no_argument, 0, 'q'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	const char *path = NULL;
	int cpu = -1, quiet = 0;
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	int c;
	while ((c = getopt_long(argc, argv, "s:p:m:w:d:W:c:eqh", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'p': o.spin_ns = (uint32_t)strtoul(optarg, NULL, 10) * 1000u; break;
		case 'm': o.max_sessions = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'w': o.workers = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'd': o.dispatchers = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'W': o.worker_spin_ns = (uint32_t)strtoul(optarg, NULL, 10) * 1000u; break;
		case 'c': cpu = atoi(optarg); break;
		case 'e': o.use_futex_doorbell = 0; break;
		case 'q': quiet = 1; break;
		case 'h': serve_usage(stdout); return 0;
		default: serve_usage(stderr); return 2;
		}
	}
	/* A launcher (ffb.Start) passes a listening socket: no --socket. */
	if (!path && !getenv("FFB_LISTEN_FD")) {
		serve_usage(stderr);
		return 2;
	}
	if (pin_cpu(cpu))
		return 1;
	int inherited = 0;
	ffb_status st = ffb_server_create(&o, &g_server);
	const char *where = "create";
	char env_where[96];
	const char *lfd = getenv("FFB_LISTEN_FD"), *ppid = getenv("FFB_PARENT_PID");
	snprintf(env_where, sizeof(env_where), "FFB_LISTEN_FD=%.16s FFB_PARENT_PID=%.16s", lfd ? lfd : "(unset)",
		 ppid ? ppid : "(unset)");
	if (!st) {
		where = env_where;
		st = ffb_server_listen_env(g_server, &inherited);
		if (st == FFB_ERR_BAD_FD)
			where = "FFB_LISTEN_FD is not a listening Unix SOCK_SEQPACKET socket";
		else if (st == FFB_ERR_PEER_GONE)
			where = "FFB_PARENT_PID: the parent is gone, not serving";
	}
	if (!st && inherited) {
		path = "FFB_LISTEN_FD";
	} else if (!st) {
		where = path;
		st = ffb_server_listen(g_server, path);
	}
	if (!st) {
		where = "register";
		st = demo_register(g_server);
	}
	if (st) {
		fprintf(stderr, "ffb serve: %s: %s (%s)\n", where, ffb_strerror(st), strerror(errno));
		ffb_server_destroy(g_server);
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	printf("ready: ffb %s serving %s (doorbell: %s, cpu %d, %u dispatchers, %u workers)\n", ffb_version(), path,
	       ffb_server_uses_futex(g_server) ? "io_uring futex" : "eventfd", cpu, o.dispatchers, o.workers);
	fflush(stdout);
	st = ffb_server_run(g_server);
	struct ffb_server_stats s;
	ffb_server_stats(g_server, &s);
	if (!quiet)
		printf("ffb serve: stopped: %llu sessions, %llu calls, %llu refused, %llu cut, %llu parks\n",
		       (unsigned long long)s.sessions_total, (unsigned long long)s.calls,
		       (unsigned long long)s.sessions_refused, (unsigned long long)s.sessions_cut,
		       (unsigned long long)s.parks);
	ffb_server_destroy(g_server);
	return st ? 1 : 0;
}

/* ---- ping --------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void fill_pattern(unsigned char *p, uint32_t n, uint32_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31u + seed);
}

/* Stamp the iteration number at the start, middle and end of the payload. */
static void stamp(unsigned char *p, uint32_t n, uint64_t v)
{
	if (n < 8)
		return;
	memcpy(p, &v, 8);
	memcpy(p + n / 2 - (n / 2) % 8, &v, 8);
	memcpy(p + n - 8, &v, 8);
}

static int stamp_ok(const unsigned char *p, uint32_t n, uint64_t v)
{
	if (n < 8)
		return 1;
	return !memcmp(p, &v, 8) && !memcmp(p + n / 2 - (n / 2) % 8, &v, 8) && !memcmp(p + n - 8, &v, 8);
}

static void ping_usage(FILE *f)
{
	fprintf(f, "usage: ffb ping --socket PATH [--size N] [--count K] [--mode spin|park] [--cpu N]\n"
		   "                [--warmup K] [--fn NAME]\n"
		   "Calls an echo (--fn: ffi.echo, the default, or demo.echo) K times (100000) with\n"
		   "N bytes (64) after K warm-up calls (1000), verifying every answer, and prints the\n"
		   "round trip's p50/p90/p99/p99.9 in ns and calls/s. spin: never sleep; park: sleep\n"
		   "on the doorbell (the wake-up path). --cpu pins the client.\n");
}

static int cmd_ping(int argc, char **argv)
{
	static const struct option opts[] = {{"socket", required_argument, 0, 's'},
					     {"size", required_argument, 0, 'n'},
					     {"count", required_argument, 0, 'k'},
					     {"mode", required_argument, 0, 'm'},
					     {"cpu", required_argument, 0, 'c'},
					     {"warmup", required_argument, 0, 'w'},
					     {"fn", required_argument, 0, 'f'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	const char *path = NULL, *mode = "spin", *fn_name = "ffi.echo";
	uint32_t size = 64;
	uint64_t count = 100000, warmup = 1000;
	int cpu = -1, c;
	while ((c = getopt_long(argc, argv, "s:n:k:m:c:w:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'n': size = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'k': count = strtoull(optarg, NULL, 10); break;
		case 'm': mode = optarg; break;
		case 'c': cpu = atoi(optarg); break;
		case 'w': warmup = strtoull(optarg, NULL, 10); break;
		case 'f': fn_name = optarg; break;
		case 'h': ping_usage(stdout); return 0;
		default: ping_usage(stderr); return 2;
		}
	}
	if (!path || count == 0 || (strcmp(mode, "spin") && strcmp(mode, "park"))) {
		ping_usage(stderr);
		return 2;
	}
	if (pin_cpu(cpu))
		return 1;
	struct ffb_client_options o;
	ffb_client_options_init(&o);
	o.wait_mode = strcmp(mode, "spin") ? FFB_WAIT_PARK : FFB_WAIT_SPIN;
	if (o.wait_mode == FFB_WAIT_PARK)
		o.spin_ns = 0; /* park mode measures the wake-up path */
	ffb_client *cl;
	ffb_status st = ffb_client_connect(path, &o, &cl);
	if (st) {
		fprintf(stderr, "ffb ping: connect %s: %s\n", path, ffb_strerror(st));
		return 1;
	}
	uint32_t fn_id;
	if ((st = ffb_client_resolve(cl, fn_name, &fn_id))) {
		fprintf(stderr, "ffb ping: resolve %s: %s\n", fn_name, ffb_strerror(st));
		ffb_client_close(cl);
		return 1;
	}
	ffb_handle h;
	unsigned char *buf;
	if ((st = ffb_client_alloc(cl, size, &h)) || (st = ffb_client_data(cl, h, (void **)&buf, NULL))) {
		fprintf(stderr, "ffb ping: alloc %u: %s\n", size, ffb_strerror(st));
		ffb_client_close(cl);
		return 1;
	}
	/* ref: what the payload must hold; compared whole on some calls. */
	unsigned char *ref = malloc(size ? size : 1);
	uint64_t *lat = malloc(sizeof(uint64_t) * count);
	if (!ref || !lat)
		return 1;
	fill_pattern(buf, size, 7);
	fill_pattern(ref, size, 7);
	uint64_t same = 0, full_checks = 0, bad = 0;
	uint64_t t_start = 0;
	for (uint64_t i = 0; i < warmup + count; i++) {
		if (i == warmup)
			t_start = now_ns();
		stamp(buf, size, i);
		ffb_result r;
		uint64_t t0 = now_ns();
		st = ffb_client_call(cl, fn_id, h, size, 5000000000ll, &r);
		uint64_t t1 = now_ns();
		if (st) {
			fprintf(stderr, "ffb ping: call %llu: %s\n", (unsigned long long)i, ffb_strerror(st));
			ffb_client_close(cl);
			return 1;
		}
		if (i >= warmup)
			lat[i - warmup] = t1 - t0;
		same += r.handle.id == h.id && r.len == size;
		unsigned char *back;
		if (ffb_client_data(cl, r.handle.id ? r.handle : h, (void **)&back, NULL) || !stamp_ok(back, size, i)) {
			bad++;
			continue;
		}
		/* The whole payload: first, last and every 1024th call. */
		if (i == 0 || i == warmup + count - 1 || (i & 1023) == 0) {
			stamp(ref, size, i);
			full_checks++;
			bad += memcmp(back, ref, size) != 0;
		}
	}
	uint64_t elapsed = now_ns() - t_start;
	qsort(lat, count, sizeof(uint64_t), cmp_u64);
	struct ffb_client_stats cs;
	ffb_client_stats(cl, &cs);
	char human[32];
	if (size >= (1u << 20) && size % (1u << 20) == 0)
		snprintf(human, sizeof(human), " (%u MiB)", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(human, sizeof(human), " (%u KiB)", size >> 10);
	else
		human[0] = 0;
	printf("ffb ping: %s fn=%s size=%u B%s count=%llu (+%llu warm-up) mode=%s cpu=%d\n", path, fn_name, size,
	       human, (unsigned long long)count, (unsigned long long)warmup, mode, cpu);
	printf("echo: same handle back on %llu of %llu calls (%s), payload stamps verified on every call, full "
	       "payload on %llu calls, %llu mismatches\n",
	       (unsigned long long)same, (unsigned long long)(warmup + count),
	       same == warmup + count ? "zero copy" : "COPIED", (unsigned long long)full_checks,
	       (unsigned long long)bad);
	printf("timed: the %llu calls after the warm-up\n", (unsigned long long)count);
	printf("round trip ns: p50=%llu p90=%llu p99=%llu p99.9=%llu max=%llu\n", (unsigned long long)lat[count / 2],
	       (unsigned long long)lat[count * 90 / 100], (unsigned long long)lat[count * 99 / 100],
	       (unsigned long long)lat[count * 999 / 1000], (unsigned long long)lat[count - 1]);
	printf("throughput: %.0f calls/s; client parks: %llu\n", (double)count * 1e9 / (double)elapsed,
	       (unsigned long long)cs.parks);
	free(lat);
	free(ref);
	ffb_client_free(cl, h);
	ffb_client_close(cl);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		FILE *f = argc < 2 ? stderr : stdout;
		fprintf(f, "usage: ffb COMMAND [options]   (ffb COMMAND --help for its options)\n"
			   "  serve    a server with the built-ins and the demo callbacks\n"
			   "  ping     an echo benchmark that checks every answer\n"
			   "  stat     a running server's figures, without a session (--watch, --json)\n"
			   "  version  the library's version and layout version\n");
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "version")) {
		printf("ffb %s (layout version %u)\n", ffb_version(), FFB_LAYOUT_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ping"))
		return cmd_ping(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stat"))
		return cmd_stat(argc - 1, argv + 1);
	fprintf(stderr, "ffb: unknown command '%s'\n", argv[1]);
	return 2;
}
