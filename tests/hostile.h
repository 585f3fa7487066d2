/*
 * hostile.h — what the two hostile-peer tests share: the small server
 * options both use, a reproducible xorshift64* generator, and the
 * verified-payload pattern. test_hostile_client.c plays hostile clients
 * against a real server, test_hostile_server.c a hostile server against
 * the C client.
 */
#ifndef FFB_TEST_HOSTILE_H
#define FFB_TEST_HOSTILE_H

#include "testutil.h"

#define SEC 1000000000ll

static inline void small_options(struct ffb_server_options *o, uint32_t ring)
{
	static const uint32_t counts[FFB_NUM_CLASSES] = {64, 16, 8, 4, 2, 1, 1, 0, 0, 0};
	ffb_server_options_init(o);
	o->ring_entries = ring;
	memcpy(o->class_counts, counts, sizeof(counts));
	o->handshake_timeout_ms = 300;
}

/* xorshift64*: fixed seeds, reproducible runs. */
static uint64_t rng_state;

static inline uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
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

#endif /* FFB_TEST_HOSTILE_H */
