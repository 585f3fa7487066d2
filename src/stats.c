/*
 * stats.c — the server's figures: the counters every thread keeps in its
 * own block (summed here), each dispatcher's per-function counts and
 * latency histograms, and the answer to a stats request (PROTOCOL.md
 * §2.5), which the control thread sends on a connection that never
 * becomes a session.
 *
 * Writers are single threads with relaxed stores (FFB__STAT_ADD,
 * ffb__stat_call); every read here is a relaxed load, so a snapshot is
 * consistent per counter, not across counters.
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

#define NCOUNTERS (sizeof(struct ffb_server_stats) / sizeof(uint64_t))

ffb_status ffb_server_stats(ffb_server *s, struct ffb_server_stats *out)
{
	if (!s || !out)
		return FFB_ERR_NULL_POINTER;
	/* Each thread counts in its own block: sum them. */
	uint64_t *dst = (uint64_t *)out;
	for (size_t i = 0; i < NCOUNTERS; i++) {
		dst[i] = __atomic_load_n(&((uint64_t *)&s->stats)[i], __ATOMIC_RELAXED);
		for (uint32_t d = 0; d < s->ndisp; d++)
			dst[i] += __atomic_load_n(&((uint64_t *)&s->disp[d].stats)[i], __ATOMIC_RELAXED);
	}
	/* Relaxed: a gauge, read on its own. */
	out->pool_busy = __atomic_load_n(&s->pool.busy, __ATOMIC_RELAXED);
	out->uptime_ns = ffb__now_ns() - s->created_ns;
	return FFB_OK;
}

ffb_status ffb_server_fn_stats(ffb_server *s, struct ffb_stats_fn *out, uint32_t max, uint32_t *n,
			       uint32_t *total)
{
	if (!s || !n || (max && !out))
		return FFB_ERR_NULL_POINTER;
	uint32_t all = ffb__registry_list(s->reg, out, max);
	*n = all < max ? all : max;
	if (total)
		*total = all;
	for (uint32_t k = 0; k < *n; k++) {
		struct ffb_stats_fn *f = &out[k];
		uint32_t i = FFB_FN_SLOT(f->fn_id), gen = FFB_FN_GEN(f->fn_id);
		for (uint32_t d = 0; d < s->ndisp; d++) {
			const struct ffb__fn_count *c = &s->disp[d].fn_counts[i];
			if (__atomic_load_n(&c->gen, __ATOMIC_RELAXED) != gen)
				continue; /* this dispatcher never answered the current tenant */
			f->calls += __atomic_load_n(&c->calls, __ATOMIC_RELAXED);
			f->errors += __atomic_load_n(&c->errors, __ATOMIC_RELAXED);
			for (uint32_t b = 0; b < FFB_STATS_LAT_BUCKETS; b++)
				f->latency[b] += __atomic_load_n(&c->latency[b], __ATOMIC_RELAXED);
		}
	}
	return FFB_OK;
}

uint64_t ffb_stats_quantile_ns(const uint64_t latency[FFB_STATS_LAT_BUCKETS], double q)
{
	uint64_t total = 0;
	for (uint32_t b = 0; b < FFB_STATS_LAT_BUCKETS; b++)
		total += latency[b];
	if (!total)
		return 0;
	/* The smallest bucket holding the ceil(q * total)-th call. */
	double want = q * (double)total;
	uint64_t rank = (uint64_t)want + ((double)(uint64_t)want < want), seen = 0;
	if (rank == 0)
		rank = 1;
	for (uint32_t b = 0; b < FFB_STATS_LAT_BUCKETS; b++) {
		seen += latency[b];
		if (seen >= rank)
			return b ? 1ull << b : 1; /* upper bound of [2^(b-1), 2^b) */
	}
	return 1ull << (FFB_STATS_LAT_BUCKETS - 1);
}

void ffb__stats_answer(struct ffb__session *s, ffb_status why)
{
	struct ffb_server *srv = s->srv;
	size_t cap = sizeof(struct ffb_stats_reply) + NCOUNTERS * sizeof(uint64_t) +
		     FFB_STATS_MAX_FUNCTIONS * sizeof(struct ffb_stats_fn);
	_Static_assert(sizeof(struct ffb_stats_reply) + NCOUNTERS * sizeof(uint64_t) +
			       FFB_STATS_MAX_FUNCTIONS * sizeof(struct ffb_stats_fn) <= FFB_STATS_MAX_REPLY,
		       "a stats reply fits a reader's buffer");
	char *buf = why ? NULL : malloc(cap);
	struct ffb_stats_reply h = {.magic = FFB_STATS_REPLY_MAGIC, .layout_version = FFB_LAYOUT_VERSION,
				    .status = why ? why : (buf ? FFB_OK : FFB_ERR_SYSTEM)};
	if (h.status) {
		/* Non-blocking, like every send of ours: a client that does not read loses it. */
		ffb__send_msg(s->sock, &h, sizeof(h), NULL, 0);
		FFB__STAT_ADD(srv->stats.stats_refused, 1);
		ffb__log(FFB_LOG_INFO, "refused a stats request: %s", ffb_status_name(h.status));
		return;
	}
	FFB__STAT_ADD(srv->stats.stats_requests, 1); /* before the snapshot: it counts itself */
	struct ffb_server_stats st;
	ffb_server_stats(srv, &st);
	struct ffb_stats_fn *fns = (struct ffb_stats_fn *)(buf + sizeof(h) + sizeof(st));
	ffb_server_fn_stats(srv, fns, FFB_STATS_MAX_FUNCTIONS, &h.nfuncs, &h.funcs_total);
	h.ncounters = (uint32_t)NCOUNTERS;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &st, sizeof(st));
	ffb__send_msg(s->sock, buf, sizeof(h) + sizeof(st) + h.nfuncs * sizeof(*fns), NULL, 0);
	free(buf);
}
