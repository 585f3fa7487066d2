/*
 * test_arena.c — heaps and handles: the lifecycle of a block and every way
 * a handle can be wrong (stale, double-freed, forged, foreign), generation
 * retirement at the wrap point, a full arena, the sealed memfd, and the
 * stable status table.
 */
#include <fcntl.h>
#include <sys/mman.h>

#include "internal.h"
#include "testutil.h"

struct arena {
	struct ffb_superblock sb;
	int fd;
	char *base;
	struct ffb__heap owner; /* client heap as the client sees it */
	struct ffb__heap view;  /* the same heap as the server sees it */
};

static void arena_open(struct arena *a, uint32_t tag, const uint32_t *counts)
{
	struct ffb_server_options o;
	ffb_server_options_init(&o);
	if (counts)
		memcpy(o.class_counts, counts, sizeof(o.class_counts));
	assert_int_equal(ffb__layout_compute(&o, 1, tag, 0, &a->sb), FFB_OK);
	assert_int_equal(ffb__arena_create(&a->sb, &a->fd, &a->base), FFB_OK);
	assert_int_equal(ffb__heap_init_owner(&a->owner, &a->sb.heaps[0], a->base, a->sb.arena_size, tag,
					      FFB_HEAP_CLIENT),
			 FFB_OK);
	assert_int_equal(ffb__heap_init_view(&a->view, &a->sb.heaps[0], a->base, a->sb.arena_size, tag,
					     FFB_HEAP_CLIENT, false),
			 FFB_OK);
}

static void arena_close(struct arena *a)
{
	ffb__heap_destroy(&a->owner);
	ffb__heap_destroy(&a->view);
	munmap(a->base, a->sb.arena_size);
	close(a->fd);
}

static void alloc_write_lookup_free_roundtrip(void **state)
{
	(void)state;
	struct arena a;
	arena_open(&a, 7, NULL);
	uint64_t h;
	assert_int_equal(ffb__heap_alloc(&a.owner, 1000, &h), FFB_OK);
	assert_int_equal(FFB_HANDLE_HEAP(h), FFB_HEAP_CLIENT);
	assert_int_equal(FFB_HANDLE_CLASS(h), 2); /* 1 KiB class */
	assert_int_equal(FFB_HANDLE_TAG(h), 7);
	assert_int_not_equal(FFB_HANDLE_GEN(h), 0);
	void *p;
	uint32_t cap;
	assert_int_equal(ffb__heap_lookup(&a.owner, h, FFB__BLOCK_OWNED, &p, &cap), FFB_OK);
	assert_int_equal(cap, 1024);
	memset(p, 0xAB, cap);
	/* the non-owner finds the same bytes by arithmetic */
	uint32_t k, i;
	assert_int_equal(ffb__heap_check(&a.view, h, &k, &i), FFB_OK);
	assert_ptr_equal(ffb__heap_at(&a.view, k, i), p);
	assert_int_equal(ffb__heap_free(&a.owner, h, FFB__BLOCK_OWNED), FFB_OK);
	arena_close(&a);
}

static void stale_handle_is_rejected_after_reuse(void **state)
{
	(void)state;
	struct arena a;
	arena_open(&a, 7, NULL);
	uint64_t h1, h2;
	assert_int_equal(ffb__heap_alloc(&a.owner, 64, &h1), FFB_OK);
	assert_int_equal(ffb__heap_free(&a.owner, h1, FFB__BLOCK_OWNED), FFB_OK);
	assert_int_equal(ffb__heap_alloc(&a.owner, 64, &h2), FFB_OK);
	/* same block, next generation */
	assert_int_equal(FFB_HANDLE_INDEX(h1), FFB_HANDLE_INDEX(h2));
	assert_int_equal(FFB_HANDLE_GEN(h2), FFB_HANDLE_GEN(h1) + 1);
	assert_int_equal(ffb__heap_lookup(&a.owner, h1, FFB__BLOCK_OWNED, NULL, NULL), FFB_ERR_STALE_HANDLE);
	assert_int_equal(ffb__heap_free(&a.owner, h1, FFB__BLOCK_OWNED), FFB_ERR_STALE_HANDLE);
	assert_int_equal(ffb__heap_lookup(&a.owner, h2, FFB__BLOCK_OWNED, NULL, NULL), FFB_OK);
	arena_close(&a);
}

static void double_free_is_detected(void **state)
{
	(void)state;
	struct arena a;
	arena_open(&a, 7, NULL);
	uint64_t h;
	assert_int_equal(ffb__heap_alloc(&a.owner, 64, &h), FFB_OK);
	uint32_t before = ffb__heap_free_blocks(&a.owner, 0);
	assert_int_equal(ffb__heap_free(&a.owner, h, FFB__BLOCK_OWNED), FFB_OK);
	assert_int_equal(ffb__heap_free(&a.owner, h, FFB__BLOCK_OWNED), FFB_ERR_DOUBLE_FREE);
	assert_int_equal(ffb__heap_free_blocks(&a.owner, 0), before + 1); /* freed once */
	arena_close(&a);
}

static void forged_handles_are_invalid(void **state)
{
	(void)state;
	struct arena a;
	arena_open(&a, 7, NULL);
	uint64_t h;
	assert_int_equal(ffb__heap_alloc(&a.owner, 64, &h), FFB_OK);
	uint32_t g = FFB_HANDLE_GEN(h);
	uint64_t forged[] = {
		0,                                                           /* null handle */
		FFB_HANDLE_MAKE(0, 7, FFB_HEAP_CLIENT, 0, 0),                /* generation 0 */
		FFB_HANDLE_MAKE(g, 7, FFB_HEAP_SERVER, 0, 0),                /* wrong heap */
		FFB_HANDLE_MAKE(g, 7, 3, 0, 0),                              /* no such heap */
		FFB_HANDLE_MAKE(g, 7, FFB_HEAP_CLIENT, FFB_NUM_CLASSES, 0),  /* class out of range */
		FFB_HANDLE_MAKE(g, 7, FFB_HEAP_CLIENT, 15, 0),
		FFB_HANDLE_MAKE(g, 7, FFB_HEAP_CLIENT, 0, 4096),             /* index == count */
		FFB_HANDLE_MAKE(g, 7, FFB_HEAP_CLIENT, 9, 2),                /* 16 MiB class has 2 */
		FFB_HANDLE_MAKE(g, 7, FFB_HEAP_CLIENT, 0, (1u << 18) - 1),
	};
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		uint32_t k, x;
		assert_int_equal(ffb__heap_check(&a.view, forged[i], &k, &x), FFB_ERR_INVALID_HANDLE);
		assert_int_equal(ffb__heap_lookup(&a.owner, forged[i], FFB__BLOCK_OWNED, NULL, NULL),
				 FFB_ERR_INVALID_HANDLE);
		assert_int_equal(ffb__heap_free(&a.owner, forged[i], FFB__BLOCK_OWNED), FFB_ERR_INVALID_HANDLE);
	}
	/* a handle forged with the next generation of a free block */
	uint64_t free_next = FFB_HANDLE_MAKE(g, 7, FFB_HEAP_CLIENT, 0, 1);
	assert_int_equal(ffb__heap_lookup(&a.owner, free_next, FFB__BLOCK_OWNED, NULL, NULL), FFB_ERR_STALE_HANDLE);
	arena_close(&a);
}

static void foreign_arena_handle_is_rejected(void **state)
{
	(void)state;
	struct arena a, b;
	arena_open(&a, 7, NULL);
	arena_open(&b, 8, NULL);
	uint64_t hb;
	assert_int_equal(ffb__heap_alloc(&b.owner, 64, &hb), FFB_OK);
	assert_int_equal(ffb__heap_lookup(&a.owner, hb, FFB__BLOCK_OWNED, NULL, NULL), FFB_ERR_FOREIGN_HANDLE);
	assert_int_equal(ffb__heap_free(&a.owner, hb, FFB__BLOCK_OWNED), FFB_ERR_FOREIGN_HANDLE);
	uint32_t k, i;
	assert_int_equal(ffb__heap_check(&a.view, hb, &k, &i), FFB_ERR_FOREIGN_HANDLE);
	arena_close(&a);
	arena_close(&b);
}

static void lent_block_cannot_be_freed_or_read(void **state)
{
	(void)state;
	struct arena a;
	arena_open(&a, 7, NULL);
	uint64_t h;
	assert_int_equal(ffb__heap_alloc(&a.owner, 64, &h), FFB_OK);
	assert_int_equal(ffb__heap_transition(&a.owner, h, FFB__BLOCK_OWNED, FFB__BLOCK_LENT), FFB_OK);
	assert_int_equal(ffb__heap_lookup(&a.owner, h, FFB__BLOCK_OWNED, NULL, NULL), FFB_ERR_BUSY);
	assert_int_equal(ffb__heap_free(&a.owner, h, FFB__BLOCK_OWNED), FFB_ERR_BUSY);
	assert_int_equal(ffb__heap_transition(&a.owner, h, FFB__BLOCK_LENT, FFB__BLOCK_OWNED), FFB_OK);
	assert_int_equal(ffb__heap_free(&a.owner, h, FFB__BLOCK_OWNED), FFB_OK);
	arena_close(&a);
}

static void generation_near_max_retires_block(void **state)
{
	(void)state;
	struct arena a;
	arena_open(&a, 7, NULL);
	uint64_t h;
	assert_int_equal(ffb__heap_alloc(&a.owner, 64, &h), FFB_OK);
	uint32_t idx = FFB_HANDLE_INDEX(h);
	assert_int_equal(ffb__heap_free(&a.owner, h, FFB__BLOCK_OWNED), FFB_OK);
	/* Put the block two lives before the wrap point. */
	ffb__heap_set_generation(&a.owner, 0, idx, UINT32_MAX - 1);
	uint32_t free_before = ffb__heap_free_blocks(&a.owner, 0);
	assert_int_equal(ffb__heap_alloc(&a.owner, 64, &h), FFB_OK);
	assert_int_equal(FFB_HANDLE_INDEX(h), idx);
	assert_int_equal(FFB_HANDLE_GEN(h), UINT32_MAX - 1);
	assert_int_equal(ffb__heap_free(&a.owner, h, FFB__BLOCK_OWNED), FFB_OK);
	assert_int_equal(ffb__heap_alloc(&a.owner, 64, &h), FFB_OK);
	assert_int_equal(FFB_HANDLE_GEN(h), UINT32_MAX);
	uint64_t last = h;
	assert_int_equal(ffb__heap_free(&a.owner, h, FFB__BLOCK_OWNED), FFB_OK);
	/* generation would wrap to 0: the block is retired, not reused */
	assert_int_equal(ffb__heap_free_blocks(&a.owner, 0), free_before - 1);
	assert_int_equal(ffb__heap_free(&a.owner, last, FFB__BLOCK_OWNED), FFB_ERR_DOUBLE_FREE);
	assert_int_equal(ffb__heap_lookup(&a.owner, last, FFB__BLOCK_OWNED, NULL, NULL), FFB_ERR_DOUBLE_FREE);
	for (uint32_t n = ffb__heap_free_blocks(&a.owner, 0); n; n--) {
		assert_int_equal(ffb__heap_alloc(&a.owner, 64, &h), FFB_OK);
		assert_int_not_equal(FFB_HANDLE_INDEX(h), idx);
	}
	arena_close(&a);
}

static void full_arena_reports_arena_full_then_recovers(void **state)
{
	(void)state;
	uint32_t counts[FFB_NUM_CLASSES] = {2, 1, 0, 0, 0, 0, 0, 0, 0, 1};
	struct arena a;
	arena_open(&a, 7, counts);
	uint64_t h[4];
	assert_int_equal(ffb__heap_alloc(&a.owner, 10, &h[0]), FFB_OK);
	assert_int_equal(ffb__heap_alloc(&a.owner, 10, &h[1]), FFB_OK);
	/* class 0 empty: a small request spills into the next class with room */
	assert_int_equal(ffb__heap_alloc(&a.owner, 10, &h[2]), FFB_OK);
	assert_int_equal(FFB_HANDLE_CLASS(h[2]), 1);
	assert_int_equal(ffb__heap_alloc(&a.owner, 10, &h[3]), FFB_OK);
	assert_int_equal(FFB_HANDLE_CLASS(h[3]), 9);
	uint64_t x;
	assert_int_equal(ffb__heap_alloc(&a.owner, 10, &x), FFB_ERR_ARENA_FULL);
	assert_int_equal(ffb__heap_alloc(&a.owner, FFB_MAX_BLOCK_SIZE + 1, &x), FFB_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(ffb__heap_free(&a.owner, h[0], FFB__BLOCK_OWNED), FFB_OK);
	assert_int_equal(ffb__heap_alloc(&a.owner, 10, &x), FFB_OK);
	arena_close(&a);
}

static void arena_fd_is_sealed_and_sized(void **state)
{
	(void)state;
	struct arena a;
	arena_open(&a, 7, NULL);
	assert_int_equal(fcntl(a.fd, F_GET_SEALS), F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW);
	assert_int_equal(ffb__arena_check_fd(a.fd, a.sb.arena_size), FFB_OK);
	assert_int_equal(ffb__arena_check_fd(a.fd, a.sb.arena_size + 4096), FFB_ERR_BAD_FD);
	assert_int_not_equal(ftruncate(a.fd, 4096), 0); /* cannot shrink under a peer */
	struct ffb_server_hello h = {.arena_size = a.sb.arena_size,
				     .flags = a.sb.flags,
				     .session_id = a.sb.session_id,
				     .max_inflight = a.sb.max_inflight};
	struct ffb_superblock copy;
	memcpy(&copy, a.base, sizeof(copy));
	assert_int_equal(ffb__superblock_validate(&copy, &h), FFB_OK);
	copy.heaps[1].classes[0].offset = copy.heaps[0].classes[0].offset; /* overlap */
	assert_int_equal(ffb__superblock_validate(&copy, &h), FFB_ERR_PROTOCOL);
	arena_close(&a);
}

static void status_table_is_stable(void **state)
{
	(void)state;
	static const struct {
		int v;
		const char *name;
	} want[] = {{0, "OK"},          {1, "NULL_POINTER"},  {2, "BUFFER_TOO_SMALL"}, {3, "INVALID_UTF8"},
		    {4, "SERIALIZATION"}, {5, "PANIC"},       {6, "TIMEOUT"},          {7, "NOT_FOUND"},
		    {8, "LOCK_POISONED"}, {9, "STALE_HANDLE"}, {10, "DOUBLE_FREE"},    {11, "INVALID_HANDLE"},
		    {12, "FOREIGN_HANDLE"}, {13, "ARENA_FULL"}, {14, "RING_FULL"},     {15, "PEER_GONE"},
		    {16, "VERSION_MISMATCH"}, {17, "PERMISSION_DENIED"}, {18, "INVALID_ARGUMENT"},
		    {19, "PROTOCOL"},     {20, "TOO_MANY_SESSIONS"}, {21, "TOO_MANY_CALLS"}, {22, "BAD_FD"},
		    {23, "SYSTEM"},       {24, "ALREADY_EXISTS"}, {25, "CLOSED"},       {26, "WOULD_BLOCK"},
		    {27, "BUSY"},         {99, "UNKNOWN"}};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_string_equal(ffb_status_name(want[i].v), want[i].name);
		assert_string_not_equal(ffb_strerror(want[i].v), "unknown status");
	}
	assert_int_equal(FFB_ERR_UNKNOWN, 99);
	assert_string_equal(ffb_strerror(12345), "unknown status");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(alloc_write_lookup_free_roundtrip),
		cmocka_unit_test(stale_handle_is_rejected_after_reuse),
		cmocka_unit_test(double_free_is_detected),
		cmocka_unit_test(forged_handles_are_invalid),
		cmocka_unit_test(foreign_arena_handle_is_rejected),
		cmocka_unit_test(lent_block_cannot_be_freed_or_read),
		cmocka_unit_test(generation_near_max_retires_block),
		cmocka_unit_test(full_arena_reports_arena_full_then_recovers),
		cmocka_unit_test(arena_fd_is_sealed_and_sized),
		cmocka_unit_test(status_table_is_stable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
