/*
 * arena.c — the session arena: layout, memfd creation and sealing, and the
 * receiver's checks (fd before mmap, superblock after).
 *
 * The server lays the arena out (superblock, two rings, the client heap,
 * the server heap), writes the superblock, and seals the memfd so neither
 * side can shrink it under the other (no SIGBUS by truncation). The client
 * trusts nothing it receives: the fd's type, seals and size are checked
 * before mmap, and every offset of the superblock after (PROTOCOL.md §2–3).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW)
_Static_assert(REQUIRED_SEALS == FFB_ARENA_SEALS, "FFB_ARENA_SEALS names the seals of fcntl.h");

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t ring_bytes(uint32_t entries)
{
	return FFB_RING_CTL_SIZE + (uint64_t)entries * FFB_RING_ENTRY_SIZE;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t layout_heap(struct ffb_heap_desc *hd, uint64_t off, const uint32_t *counts)
{
	hd->offset = off;
	hd->nclasses = FFB_NUM_CLASSES;
	for (uint32_t k = 0; k < FFB_NUM_CLASSES; k++) {
		hd->classes[k].offset = off;
		hd->classes[k].block_size = FFB_CLASS_BLOCK_SIZE(k);
		hd->classes[k].count = counts[k];
		off = align_up(off + (uint64_t)counts[k] * FFB_CLASS_BLOCK_SIZE(k), FFB_REGION_ALIGN);
	}
	hd->size = off - hd->offset;
	return off;
}

ffb_status ffb__layout_compute(const struct ffb_server_options *o, uint64_t session_id, uint32_t tag,
			       uint32_t flags, struct ffb_superblock *sb)
{
	uint32_t n = o->ring_entries;
	if (!is_pow2(n) || n < FFB_MIN_RING_ENTRIES || n > FFB_MAX_RING_ENTRIES)
		return FFB_ERR_INVALID_ARGUMENT;
	for (uint32_t k = 0; k < FFB_NUM_CLASSES; k++)
		if (o->class_counts[k] > FFB_MAX_BLOCKS)
			return FFB_ERR_INVALID_ARGUMENT;

	memset(sb, 0, sizeof(*sb));
	sb->magic = FFB_ARENA_MAGIC;
	sb->layout_version = FFB_LAYOUT_VERSION;
	sb->superblock_size = FFB_SUPERBLOCK_SIZE;
	sb->flags = flags;
	sb->max_inflight = n;
	sb->session_id = session_id;
	sb->arena_tag = tag;
	sb->req_ring_entries = n;
	sb->resp_ring_entries = n;

	uint64_t off = FFB_REGION_ALIGN; /* page 0: superblock */
	sb->req_ring_offset = off;
	off = align_up(off + ring_bytes(n), FFB_REGION_ALIGN);
	sb->resp_ring_offset = off;
	off = align_up(off + ring_bytes(n), FFB_REGION_ALIGN);
	off = layout_heap(&sb->heaps[0], off, o->class_counts);
	off = layout_heap(&sb->heaps[1], off, o->class_counts);
	sb->arena_size = off;
	if (off > o->max_arena_size || off > FFB_MAX_ARENA_SIZE)
		return FFB_ERR_INVALID_ARGUMENT;
	return FFB_OK;
}

ffb_status ffb__arena_create(const struct ffb_superblock *sb, int *fd_out, char **base_out)
{
	int fd = memfd_create("ffb-session", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return FFB_ERR_SYSTEM;
	if (ftruncate(fd, (off_t)sb->arena_size) != 0)
		goto fail;
	void *base = mmap(NULL, sb->arena_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto fail;
	/* H1: the superblock (and zeroed ring control blocks) are written
	 * before the seal and the sendmsg that hands the fd over. */
	memcpy(base, sb, sizeof(*sb));
	if (fcntl(fd, F_ADD_SEALS, REQUIRED_SEALS) != 0) {
		munmap(base, sb->arena_size);
		goto fail;
	}
	*fd_out = fd;
	*base_out = base;
	return FFB_OK;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return FFB_ERR_SYSTEM;
}

ffb_status ffb__arena_check_fd(int fd, uint64_t expected_size)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		ffb__log(FFB_LOG_WARN, "arena fd is not a regular file");
		return FFB_ERR_BAD_FD;
	}
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals != REQUIRED_SEALS) {
		ffb__log(FFB_LOG_WARN, "arena fd seals are 0x%x, want 0x%x", seals, REQUIRED_SEALS);
		return FFB_ERR_BAD_FD;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size != expected_size) {
		ffb__log(FFB_LOG_WARN, "arena fd size %lld, hello says %llu", (long long)st.st_size,
			 (unsigned long long)expected_size);
		return FFB_ERR_BAD_FD;
	}
	return FFB_OK;
}

struct range {
	uint64_t lo, hi; /* [lo, hi) */
};

/* Append [off, off+len) if it is inside the arena without overflow. */
static bool add_range(struct range *r, unsigned *n, uint64_t off, uint64_t len, uint64_t arena_size)
{
	if (off > arena_size || len > arena_size - off)
		return false;
	r[*n].lo = off;
	r[*n].hi = off + len;
	(*n)++;
	return true;
}

static bool check_heap(const struct ffb_heap_desc *hd, uint64_t arena_size, struct range *r, unsigned *n)
{
	if (hd->nclasses > FFB_NUM_CLASSES)
		return false;
	if (hd->offset > arena_size || hd->size > arena_size - hd->offset)
		return false;
	for (uint32_t k = 0; k < hd->nclasses; k++) {
		const struct ffb_class_desc *c = &hd->classes[k];
		if (c->block_size != FFB_CLASS_BLOCK_SIZE(k) || c->count > FFB_MAX_BLOCKS || c->offset % 64)
			return false;
		uint64_t bytes = (uint64_t)c->count * c->block_size; /* <= 2^18 * 2^24: no overflow */
		if (c->offset < hd->offset || c->offset - hd->offset > hd->size ||
		    bytes > hd->size - (c->offset - hd->offset))
			return false;
		if (bytes && !add_range(r, n, c->offset, bytes, arena_size))
			return false;
	}
	return true;
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* PROTOCOL.md §3.1, rules S1-S12, in that order (tests/vectors/
 * superblock.txt is the shared table of what each rule refuses). */
ffb_status ffb__superblock_validate(const struct ffb_superblock *sb, const struct ffb_server_hello *hello)
{
	if (sb->magic != FFB_ARENA_MAGIC || sb->layout_version != FFB_LAYOUT_VERSION)
		return FFB_ERR_VERSION_MISMATCH;
	if (sb->superblock_size != FFB_SUPERBLOCK_SIZE || sb->arena_size != hello->arena_size ||
	    sb->arena_size < FFB_REGION_ALIGN || sb->arena_size > FFB_MAX_ARENA_SIZE ||
	    sb->flags != hello->flags || sb->session_id != hello->session_id || sb->session_id == 0 ||
	    sb->max_inflight != hello->max_inflight)
		return FFB_ERR_PROTOCOL;
	if (sb->arena_tag == 0 || sb->arena_tag > 0xFF)
		return FFB_ERR_PROTOCOL;
	uint32_t rq = sb->req_ring_entries, rs = sb->resp_ring_entries;
	if (!is_pow2(rq) || !is_pow2(rs) || rq < FFB_MIN_RING_ENTRIES || rs < FFB_MIN_RING_ENTRIES ||
	    rq > FFB_MAX_RING_ENTRIES || rs > FFB_MAX_RING_ENTRIES)
		return FFB_ERR_PROTOCOL;
	if (sb->max_inflight == 0 || sb->max_inflight > rs)
		return FFB_ERR_PROTOCOL;
	if (sb->req_ring_offset % FFB_REGION_ALIGN || sb->resp_ring_offset % FFB_REGION_ALIGN)
		return FFB_ERR_PROTOCOL;

	/* The superblock's whole page is its region: nothing else starts
	 * below FFB_REGION_ALIGN. */
	struct range r[3 + 2 * FFB_NUM_CLASSES];
	unsigned n = 0;
	if (!add_range(r, &n, 0, FFB_REGION_ALIGN, sb->arena_size) ||
	    !add_range(r, &n, sb->req_ring_offset, ring_bytes(rq), sb->arena_size) ||
	    !add_range(r, &n, sb->resp_ring_offset, ring_bytes(rs), sb->arena_size) ||
	    !check_heap(&sb->heaps[0], sb->arena_size, r, &n) ||
	    !check_heap(&sb->heaps[1], sb->arena_size, r, &n))
		return FFB_ERR_PROTOCOL;
	qsort(r, n, sizeof(r[0]), cmp_range);
	for (unsigned i = 1; i < n; i++)
		if (r[i].lo < r[i - 1].hi)
			return FFB_ERR_PROTOCOL;
	return FFB_OK;
}
