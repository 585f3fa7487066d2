/*
 * heap.c — size-class heaps and generation-tagged handles.
 *
 * The owner of a heap (the client for the client heap, the server for the
 * server heap) keeps, in private memory, a generation and a state per
 * block plus a free stack per class; nothing of it is in the arena, so a
 * peer cannot corrupt it. The other side derives a block's address from
 * the handle and its private copy of the geometry, and on the client also
 * records which server blocks it holds, so a double release is caught
 * before it is sent. See PROTOCOL.md §4.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static ffb_status init_common(struct ffb__heap *h, const struct ffb_heap_desc *d, char *base,
			      uint64_t arena_size, uint32_t tag, uint32_t heap_no)
{
	memset(h, 0, sizeof(*h));
	if (d->nclasses > FFB_NUM_CLASSES)
		return FFB_ERR_INVALID_ARGUMENT;
	h->base = base;
	h->arena_size = arena_size;
	h->tag = tag;
	h->heap_no = heap_no;
	h->nclasses = d->nclasses;
	for (uint32_t k = 0; k < d->nclasses; k++) {
		h->cls[k].offset = d->classes[k].offset;
		h->cls[k].block_size = d->classes[k].block_size;
		h->cls[k].count = d->classes[k].count;
	}
	return FFB_OK;
}

ffb_status ffb__heap_init_owner(struct ffb__heap *h, const struct ffb_heap_desc *d, char *base,
				uint64_t arena_size, uint32_t tag, uint32_t heap_no)
{
	ffb_status st = init_common(h, d, base, arena_size, tag, heap_no);
	if (st)
		return st;
	h->owner = true;
	/* Random start (so another arena's handles are unlikely to match even
	 * before the tag check), in the lower half so a block has >= 2^31
	 * lives before it retires. */
	uint32_t first_gen = ((uint32_t)ffb__random_u64() & 0x7FFFFFFFu) | 1u;
	for (uint32_t k = 0; k < h->nclasses; k++) {
		struct ffb__class *c = &h->cls[k];
		size_t n = c->count ? c->count : 1;
		c->gen = malloc(n * sizeof(*c->gen));
		c->state = calloc(n, sizeof(*c->state));
		c->free_stack = malloc(n * sizeof(*c->free_stack));
		if (!c->gen || !c->state || !c->free_stack) {
			ffb__heap_destroy(h);
			return FFB_ERR_SYSTEM;
		}
		/* Stack popped from the top: push in reverse so block 0 goes first. */
		for (uint32_t i = 0; i < c->count; i++) {
			c->gen[i] = first_gen;
			c->free_stack[i] = c->count - 1 - i;
		}
		c->free_top = c->count;
	}
	return FFB_OK;
}

ffb_status ffb__heap_init_view(struct ffb__heap *h, const struct ffb_heap_desc *d, char *base,
			       uint64_t arena_size, uint32_t tag, uint32_t heap_no, bool with_holdings)
{
	ffb_status st = init_common(h, d, base, arena_size, tag, heap_no);
	if (st || !with_holdings)
		return st;
	for (uint32_t k = 0; k < h->nclasses; k++) {
		h->cls[k].held = calloc(h->cls[k].count ? h->cls[k].count : 1, sizeof(uint32_t));
		if (!h->cls[k].held) {
			ffb__heap_destroy(h);
			return FFB_ERR_SYSTEM;
		}
	}
	return FFB_OK;
}

void ffb__heap_destroy(struct ffb__heap *h)
{
	for (uint32_t k = 0; k < FFB_MAX_CLASSES; k++) {
		free(h->cls[k].gen);
		free(h->cls[k].state);
		free(h->cls[k].free_stack);
		free(h->cls[k].held);
		h->cls[k].gen = NULL;
		h->cls[k].state = NULL;
		h->cls[k].free_stack = NULL;
		h->cls[k].held = NULL;
	}
}

ffb_status ffb__heap_alloc(struct ffb__heap *h, uint32_t size, uint64_t *out)
{
	for (uint32_t k = 0; k < h->nclasses; k++) {
		struct ffb__class *c = &h->cls[k];
		if (c->block_size < size || c->free_top == 0)
			continue;
		uint32_t i = c->free_stack[--c->free_top];
		c->state[i] = FFB__BLOCK_OWNED;
		*out = FFB_HANDLE_MAKE(c->gen[i], h->tag, h->heap_no, k, i);
		return FFB_OK;
	}
	if (h->nclasses == 0 || size > h->cls[h->nclasses - 1].block_size)
		return FFB_ERR_BUFFER_TOO_SMALL;
	return FFB_ERR_ARENA_FULL;
}

/* Owner-side identity check: geometry, generation, then state. */
static ffb_status owner_check(const struct ffb__heap *h, uint64_t handle, uint8_t want, uint32_t *cls,
			      uint32_t *idx)
{
	ffb_status st = ffb__heap_check(h, handle, cls, idx);
	if (st)
		return st;
	const struct ffb__class *c = &h->cls[*cls];
	uint32_t g = FFB_HANDLE_GEN(handle), cur = c->gen[*idx];
	uint8_t state = c->state[*idx];
	if (g != cur) {
		/* The handle of the block's previous life, block now free (or
		 * retired after its last life): a second free. */
		if ((state == FFB__BLOCK_FREE && g + 1 == cur) ||
		    (state == FFB__BLOCK_RETIRED && g == UINT32_MAX))
			return FFB_ERR_DOUBLE_FREE;
		return FFB_ERR_STALE_HANDLE;
	}
	if (state == FFB__BLOCK_FREE)
		return FFB_ERR_STALE_HANDLE; /* handle forged with the next generation */
	if (state != want)
		return FFB_ERR_BUSY;
	return FFB_OK;
}

ffb_status ffb__heap_lookup(const struct ffb__heap *h, uint64_t handle, uint8_t want, void **data,
			    uint32_t *capacity)
{
	uint32_t k, i;
	ffb_status st = owner_check(h, handle, want, &k, &i);
	if (st)
		return st;
	if (data)
		*data = ffb__heap_at(h, k, i);
	if (capacity)
		*capacity = h->cls[k].block_size;
	return FFB_OK;
}

ffb_status ffb__heap_transition(struct ffb__heap *h, uint64_t handle, uint8_t from, uint8_t to)
{
	uint32_t k, i;
	ffb_status st = owner_check(h, handle, from, &k, &i);
	if (st)
		return st;
	h->cls[k].state[i] = to;
	return FFB_OK;
}

ffb_status ffb__heap_free(struct ffb__heap *h, uint64_t handle, uint8_t from)
{
	uint32_t k, i;
	ffb_status st = owner_check(h, handle, from, &k, &i);
	if (st)
		return st;
	struct ffb__class *c = &h->cls[k];
	uint32_t next = c->gen[i] + 1;
	if (next == 0) {
		/* Never wrap: a wrapped generation would make old handles valid. */
		c->gen[i] = 0;
		c->state[i] = FFB__BLOCK_RETIRED;
		return FFB_OK;
	}
	c->gen[i] = next;
	c->state[i] = FFB__BLOCK_FREE;
	c->free_stack[c->free_top++] = i;
	return FFB_OK;
}

ffb_status ffb__heap_hold(struct ffb__heap *h, uint64_t handle)
{
	uint32_t k, i;
	ffb_status st = ffb__heap_check(h, handle, &k, &i);
	if (st)
		return st;
	if (h->cls[k].held[i] != 0)
		return FFB_ERR_PROTOCOL;
	h->cls[k].held[i] = FFB_HANDLE_GEN(handle);
	return FFB_OK;
}

ffb_status ffb__heap_unhold(struct ffb__heap *h, uint64_t handle, bool remove)
{
	uint32_t k, i;
	ffb_status st = ffb__heap_check(h, handle, &k, &i);
	if (st)
		return st;
	uint32_t held = h->cls[k].held[i];
	if (held == 0)
		return FFB_ERR_DOUBLE_FREE;
	if (held != FFB_HANDLE_GEN(handle))
		return FFB_ERR_STALE_HANDLE;
	if (remove)
		h->cls[k].held[i] = 0;
	return FFB_OK;
}

void ffb__heap_set_generation(struct ffb__heap *h, uint32_t cls, uint32_t idx, uint32_t gen)
{
	h->cls[cls].gen[idx] = gen;
}

uint32_t ffb__heap_free_blocks(const struct ffb__heap *h, uint32_t cls)
{
	return h->cls[cls].free_top;
}
