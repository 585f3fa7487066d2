/*
 * hostile_entries.h — one table of hostile request entries and what the
 * server must do with each (PROTOCOL.md §5.5): cut the session with a
 * PROTOCOL goodbye, or answer with a RESULT of a given status and go on.
 *
 * Shared by the hostile-client test (tests/test_hostile_client.c runs
 * every row against a real server and checks its verdict) and the server
 * fuzzer (tests/fuzz/fuzz_server_session.c: op 0xFF pushes row n; its
 * seed corpus has one two-byte input per row, written by the target
 * itself with FFB_FUZZ_WRITE_SEEDS=DIR (mk/fuzz.sh does it before every
 * run), and an input that is exactly one row gets the row's verdict
 * checked). A row names the entry's fields; hostile_entry_build makes it
 * real for a connected client (its blocks, its arena's tag).
 */
#ifndef FFB_HOSTILE_ENTRIES_H
#define FFB_HOSTILE_ENTRIES_H

#include <string.h>

#include "client_internal.h"

/* What the entry's handle names before its bits are changed. */
enum hostile_block {
	HB_NONE = 0,     /* handle 0 */
	HB_OWN_64,       /* a client block of class 0 (64 B) the client allocates */
	HB_OWN_256,      /* class 1 */
	HB_OWN_1K,       /* class 2 */
	HB_HELD,         /* a server block the client holds (ffi.version's reply) */
	HB_NEVER_GIVEN,  /* server block 0 of class 0, generation 1: never handed out */
	HB_NEVER_GIVEN3, /* the same in class 3 */
};

/* The value written into the handle's bits [shift, shift + bits). */
enum hostile_value {
	HV_LIT = 0,      /* lit */
	HV_NCLASSES,     /* the client heap's nclasses */
	HV_CLASS0_COUNT, /* the client heap's class 0 count */
	HV_OTHER_TAG,    /* a tag that is not the arena's */
};

struct hostile_entry {
	const char *name;
	uint32_t kind;
	uint64_t call_id;
	uint8_t block;              /* enum hostile_block */
	uint8_t shift, bits, value; /* bits != 0: set handle bits to value (enum hostile_value) */
	uint64_t lit;
	uint32_t len, fn;
	const char *bytes;          /* the block's first bytes (a LOOKUP's name); else all 'a' */
	uint32_t nbytes;
	ffb_status verdict;         /* PROTOCOL: the session is cut; else its RESULT's status */
};

/* A call id of the client's (generation 1, slot 1): what every row uses
 * unless it is about the id. */
#define HE_ID FFB_CALL_MAKE(1u, FFB_ID_FROM_CLIENT, FFB_ID_ONCE, 1u)
#define HE_ID_STREAM FFB_CALL_MAKE(1u, FFB_ID_FROM_CLIENT, FFB_ID_STREAM, 1u)
#define HE_ID_SERVERS FFB_CALL_MAKE(1u, FFB_ID_FROM_SERVER, FFB_ID_ONCE, 1u)

#define HE_GEN FFB_HANDLE_GEN_SHIFT, 32
#define HE_TAG FFB_HANDLE_TAG_SHIFT, FFB_HANDLE_TAG_BITS
#define HE_HEAP FFB_HANDLE_HEAP_SHIFT, FFB_HANDLE_HEAP_BITS
#define HE_CLASS FFB_HANDLE_CLASS_SHIFT, FFB_HANDLE_CLASS_BITS
#define HE_INDEX 0, FFB_HANDLE_INDEX_BITS

static const struct hostile_entry hostile_entries[] = {
	/* kinds */
	{"kind-0", 0, HE_ID, HB_NONE, 0, 0, 0, 0, 0, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"kind-result", FFB_KIND_RESULT, HE_ID, HB_NONE, 0, 0, 0, 0, 0, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"kind-9", 9, HE_ID, HB_NONE, 0, 0, 0, 0, 0, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"kind-item-of-a-client-call", FFB_KIND_ITEM, HE_ID, HB_NONE, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"kind-max", UINT32_MAX, HE_ID, HB_NONE, 0, 0, 0, 0, 0, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	/* CALL with a forged handle */
	{"call-heap-server", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_HEAP, HV_LIT, FFB_HEAP_SERVER, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-heap-0", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_HEAP, HV_LIT, 0, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-heap-3", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_HEAP, HV_LIT, 3, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-class-nclasses", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_CLASS, HV_NCLASSES, 0, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-class-15", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_CLASS, HV_LIT, 15, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-class-no-blocks", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_CLASS, HV_LIT, 9, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-index-count", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_INDEX, HV_CLASS0_COUNT, 0, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-index-max", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_INDEX, HV_LIT, FFB_MAX_BLOCKS - 1, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-other-tag", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_TAG, HV_OTHER_TAG, 0, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-tag-0", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_TAG, HV_LIT, 0, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-generation-0", FFB_KIND_CALL, HE_ID, HB_OWN_64, HE_GEN, HV_LIT, 0, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-id-0", FFB_KIND_CALL, 0, HB_OWN_64, 0, 0, 0, 0, 8, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	/* call ids (PROTOCOL.md §8) */
	{"call-id-generation-0", FFB_KIND_CALL, 1, HB_NONE, 0, 0, 0, 0, 0, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-id-zero-bits", FFB_KIND_CALL, HE_ID | (1u << 23), HB_NONE, 0, 0, 0, 0, 0, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-id-kind-3", FFB_KIND_CALL, HE_ID | (3u << FFB_CALL_KIND_SHIFT), HB_NONE, 0, 0, 0, 0, 0, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-id-of-the-server", FFB_KIND_CALL, HE_ID_SERVERS, HB_NONE, 0, 0, 0, 0, 0, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"lookup-as-a-stream", FFB_KIND_LOOKUP, HE_ID_STREAM, HB_OWN_1K, 0, 0, 0, 0, 8, 0, "ffi.echo", 8, FFB_ERR_PROTOCOL},
	/* CANCEL, CREDIT */
	{"cancel-id-0", FFB_KIND_CANCEL, 0, HB_NONE, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"cancel-with-handle", FFB_KIND_CANCEL, HE_ID, HB_OWN_64, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"cancel-with-len", FFB_KIND_CANCEL, HE_ID, HB_NONE, 0, 0, 0, 0, 4, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"cancel-with-fn", FFB_KIND_CANCEL, HE_ID, HB_NONE, 0, 0, 0, 0, 0, 3, NULL, 0, FFB_ERR_PROTOCOL},
	{"cancel-servers-call", FFB_KIND_CANCEL, HE_ID_SERVERS, HB_NONE, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"credit-0", FFB_KIND_CREDIT, HE_ID_STREAM, HB_NONE, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"credit-over-the-max", FFB_KIND_CREDIT, HE_ID_STREAM, HB_NONE, 0, 0, 0, 0, FFB_MAX_CREDIT + 1, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"credit-for-a-once-call", FFB_KIND_CREDIT, HE_ID, HB_NONE, 0, 0, 0, 0, 4, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"credit-with-handle", FFB_KIND_CREDIT, HE_ID_STREAM, HB_OWN_64, 0, 0, 0, 0, 4, 0, NULL, 0, FFB_ERR_PROTOCOL},
	/* CALL lengths */
	{"call-len-over-64", FFB_KIND_CALL, HE_ID, HB_OWN_64, 0, 0, 0, 0, 65, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-len-over-256", FFB_KIND_CALL, HE_ID, HB_OWN_256, 0, 0, 0, 0, 257, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-len-max", FFB_KIND_CALL, HE_ID, HB_OWN_64, 0, 0, 0, 0, UINT32_MAX, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	{"call-len-without-block", FFB_KIND_CALL, HE_ID, HB_NONE, 0, 0, 0, 0, 1, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	/* RELEASE */
	{"release-never-given", FFB_KIND_RELEASE, 0, HB_NEVER_GIVEN, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"release-never-given-class-3", FFB_KIND_RELEASE, 0, HB_NEVER_GIVEN3, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"release-client-block", FFB_KIND_RELEASE, 0, HB_OWN_64, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"release-0", FFB_KIND_RELEASE, 0, HB_NONE, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"release-with-call-id", FFB_KIND_RELEASE, HE_ID, HB_HELD, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"release-with-len", FFB_KIND_RELEASE, 0, HB_HELD, 0, 0, 0, 0, 1, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"release-with-fn", FFB_KIND_RELEASE, 0, HB_HELD, 0, 0, 0, 0, 0, FFB_FN_ECHO, NULL, 0, FFB_ERR_PROTOCOL},
	/* LOOKUP */
	{"lookup-len-0", FFB_KIND_LOOKUP, HE_ID, HB_OWN_1K, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"lookup-len-256", FFB_KIND_LOOKUP, HE_ID, HB_OWN_1K, 0, 0, 0, 0, FFB_MAX_NAME_LEN + 1, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"lookup-len-max", FFB_KIND_LOOKUP, HE_ID, HB_OWN_1K, 0, 0, 0, 0, UINT32_MAX, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"lookup-no-block", FFB_KIND_LOOKUP, HE_ID, HB_NONE, 0, 0, 0, 0, 5, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"lookup-no-block-len-0", FFB_KIND_LOOKUP, HE_ID, HB_NONE, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_PROTOCOL},
	{"lookup-call-id-0", FFB_KIND_LOOKUP, 0, HB_OWN_1K, 0, 0, 0, 0, 5, 0, NULL, 0, FFB_ERR_PROTOCOL},
	/* legal: answered, the session lives */
	{"call-unknown-function", FFB_KIND_CALL, HE_ID, HB_NONE, 0, 0, 0, 0, 0, FFB_FN_MAKE(7u, 4000u), NULL, 0, FFB_ERR_NOT_FOUND},
	{"call-function-0", FFB_KIND_CALL, HE_ID, HB_NONE, 0, 0, 0, 0, 0, 0, NULL, 0, FFB_ERR_NOT_FOUND},
	{"call-len-is-the-block", FFB_KIND_CALL, HE_ID, HB_OWN_64, 0, 0, 0, 0, 64, FFB_FN_ECHO, NULL, 0, FFB_OK},
	{"lookup-unknown-name", FFB_KIND_LOOKUP, HE_ID, HB_OWN_1K, 0, 0, 0, 0, 1, 0, "x", 1, FFB_ERR_NOT_FOUND},
	{"lookup-name-255-bytes", FFB_KIND_LOOKUP, HE_ID, HB_OWN_1K, 0, 0, 0, 0, FFB_MAX_NAME_LEN, 0, NULL, 0, FFB_ERR_NOT_FOUND},
	{"lookup-builtin", FFB_KIND_LOOKUP, HE_ID, HB_OWN_1K, 0, 0, 0, 0, 8, 0, "ffi.echo", 8, FFB_OK},
	{"lookup-invalid-utf8", FFB_KIND_LOOKUP, HE_ID, HB_OWN_1K, 0, 0, 0, 0, 2, 0, "\xff\xfe", 2, FFB_ERR_INVALID_UTF8},
	{"lookup-embedded-nul", FFB_KIND_LOOKUP, HE_ID, HB_OWN_1K, 0, 0, 0, 0, 3, 0, "a\0b", 3, FFB_ERR_INVALID_UTF8},
};

#define HOSTILE_ENTRIES (sizeof(hostile_entries) / sizeof(hostile_entries[0]))

static inline uint64_t hostile_set_bits(uint64_t h, unsigned shift, unsigned bits, uint64_t v)
{
	uint64_t mask = (bits == 64 ? ~0ull : ((1ull << bits) - 1)) << shift;
	return (h & ~mask) | ((v << shift) & mask);
}

/* Build row r for client c (allocating its blocks; HB_HELD calls
 * ffi.version, waiting up to call_ns). False if a block could not be had
 * (arena full, the session already dead, no answer in time). */
static inline bool hostile_entry_build(ffb_client *c, const struct hostile_entry *r, int64_t call_ns,
				       struct ffb_ring_entry *e)
{
	const struct ffb_superblock *sb = ffb_client_superblock(c);
	uint32_t tag = sb->arena_tag;
	uint64_t h = 0;
	ffb_handle b;
	ffb_result res;
	void *data;
	uint32_t cap = 0;
	switch (r->block) {
	case HB_OWN_64:
	case HB_OWN_256:
	case HB_OWN_1K: {
		static const uint32_t sizes[] = {[HB_OWN_64] = 64, [HB_OWN_256] = 256, [HB_OWN_1K] = 1024};
		if (ffb_client_alloc(c, sizes[r->block], &b) != FFB_OK || ffb_client_data(c, b, &data, &cap) != FFB_OK)
			return false;
		memset(data, 'a', cap);
		memcpy(data, r->bytes ? r->bytes : "", r->bytes ? r->nbytes : 0);
		h = b.id;
		break;
	}
	case HB_HELD:
		if (ffb_client_call(c, FFB_FN_VERSION, (ffb_handle){0}, 0, call_ns, &res) != FFB_OK ||
		    FFB_HANDLE_HEAP(res.handle.id) != FFB_HEAP_SERVER)
			return false;
		h = res.handle.id;
		break;
	case HB_NEVER_GIVEN:
	case HB_NEVER_GIVEN3:
		h = FFB_HANDLE_MAKE(1, tag, FFB_HEAP_SERVER, r->block == HB_NEVER_GIVEN ? 0 : 3, 0);
		break;
	}
	if (r->bits) {
		uint64_t v = r->lit;
		if (r->value == HV_NCLASSES)
			v = sb->heaps[0].nclasses;
		else if (r->value == HV_CLASS0_COUNT)
			v = sb->heaps[0].classes[0].count;
		else if (r->value == HV_OTHER_TAG)
			v = tag == 1 ? 2 : tag ^ 1;
		h = hostile_set_bits(h, r->shift, r->bits, v);
	}
	*e = (struct ffb_ring_entry){.call_id = r->call_id, .handle = h, .len = r->len, .kind = r->kind,
				     .fn_or_status = r->fn};
	return true;
}

#endif /* FFB_HOSTILE_ENTRIES_H */
