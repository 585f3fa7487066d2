/*
 * ffb_ring.h — the SPSC ring fast path, header-only.
 *
 * A ring lives in the shared arena (struct ffb_ring_ctl followed by
 * power-of-two ffb_ring_entry slots); each side keeps a private view of it:
 * struct ffb_ring_prod for the one producer, struct ffb_ring_cons for the
 * one consumer. A view is used by one thread at a time. Private copies of
 * the peer's index (cached_head / cached_tail) keep the hot path off the
 * peer's cache line; batches publish once. Each entry also carries its
 * own publication stamp (seq), so a consumer polling an empty ring sees a
 * lone entry with the one cache-line miss of that entry instead of two
 * (tail, then entry). Every value read from the peer is bounds-checked: a
 * violation returns FFB_RING_CORRUPT and the caller fails the session
 * closed. Ordering tags refer to ring/ORDERING.md.
 */
#ifndef FFB_RING_H
#define FFB_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "ffb_barrier.h"
#include "../include/ffb_layout.h"

/* Prefetch distance of push and pop, in entries. A ring line was last
 * touched by the peer's core, so each new line is a cross-core miss;
 * asking for the line this far ahead overlaps those misses instead of
 * paying them one after another between per-entry work. A prefetch is a
 * hint: it reads or validates nothing, and it only names slots this side
 * owns (unread entries for the consumer, free slots for the producer). */
#define FFB_RING_LOOKAHEAD 16u
/* Entries share a 64-byte line in groups of 64 / FFB_RING_ENTRY_SIZE. */
#define FFB_RING_LINE_MASK (64u / FFB_RING_ENTRY_SIZE - 1u)
/* ready() counts at most this many stamped entries per call. */
#define FFB_RING_SCAN 64u

/* Returned by the index readers when the peer's index is out of bounds. */
#define FFB_RING_CORRUPT (-1)

struct ffb_ring_prod {
	struct ffb_ring_ctl *ctl;
	struct ffb_ring_entry *slots;
	uint32_t mask;
	uint32_t size;
	uint32_t tail;          /* private, authoritative (R2) */
	uint32_t cached_head;   /* last validated c_head */
	uint32_t published;     /* last tail stored to p_tail */
};

struct ffb_ring_cons {
	struct ffb_ring_ctl *ctl;
	struct ffb_ring_entry *slots;
	uint32_t mask;
	uint32_t size;
	uint32_t head;          /* private, authoritative (R2) */
	uint32_t cached_tail;   /* last validated p_tail */
	uint32_t published;     /* last head stored to c_head */
};

/* Attach a producer view to a ring whose control block is at `ctl` and
 * whose `size` (a power of two) slots follow it. Starts from the current
 * shared indices (read once and validated): returns 0, or FFB_RING_CORRUPT
 * if they are inconsistent. */
static inline int ffb_ring_prod_attach(struct ffb_ring_prod *p, void *ctl, uint32_t size)
{
	p->ctl = (struct ffb_ring_ctl *)ctl;
	p->slots = (struct ffb_ring_entry *)((char *)ctl + FFB_RING_CTL_SIZE);
	p->size = size;
	p->mask = size - 1;
	p->tail = FFB_READ_ONCE(p->ctl->p_tail);
	/* P2: slots below c_head are free before we reuse them; pairs with C2 */
	p->cached_head = ffb_load_acquire(&p->ctl->c_head);
	p->published = p->tail;
	return (uint32_t)(p->tail - p->cached_head) > size ? FFB_RING_CORRUPT : 0;
}

/* Attach a consumer view; see ffb_ring_prod_attach. */
static inline int ffb_ring_cons_attach(struct ffb_ring_cons *c, void *ctl, uint32_t size)
{
	c->ctl = (struct ffb_ring_ctl *)ctl;
	c->slots = (struct ffb_ring_entry *)((char *)ctl + FFB_RING_CTL_SIZE);
	c->size = size;
	c->mask = size - 1;
	c->head = FFB_READ_ONCE(c->ctl->c_head);
	/* C1: entries below p_tail are written; pairs with P1 */
	c->cached_tail = ffb_load_acquire(&c->ctl->p_tail);
	c->published = c->head;
	return (uint32_t)(c->cached_tail - c->head) > size ? FFB_RING_CORRUPT : 0;
}

/* Producer: number of free slots, at least `want` if the ring has them
 * (re-reads c_head only when the cached value shows fewer). Returns the
 * count (0 = full) or FFB_RING_CORRUPT. Never blocks.
 *
 * Before it re-reads c_head it stores the tail (P1) if entries were pushed
 * since the last publish: the consumer takes entries by their stamps and
 * at its next park cuts a tail more than a ring behind its head, so the
 * tail must never fall that far behind what is stamped (PROTOCOL.md §5.2,
 * "the producer's duty"). Slots freed by this re-read are the only way
 * past `size` pushes, so each ring's worth of pushes stores the tail at
 * least once. It does not count as a publish: publish() still stores,
 * fences and reads c_needs_wakeup (P3), so no wake-up is lost. */
static inline int ffb_ring_prod_free(struct ffb_ring_prod *p, uint32_t want)
{
	uint32_t free_slots = p->size - (p->tail - p->cached_head);
	if (free_slots >= want)
		return (int)free_slots;
	if (p->tail != p->published)
		/* P1: entries stamped before the tail; pairs with C1 */
		ffb_store_release(&p->ctl->p_tail, p->tail);
	/* P2: the consumer finished with slots below head; pairs with C2 */
	uint32_t head = ffb_load_acquire(&p->ctl->c_head);
	if ((uint32_t)(p->tail - head) > p->size)
		return FFB_RING_CORRUPT;
	p->cached_head = head;
	return (int)(p->size - (p->tail - head));
}

/* Producer, at the start of a batch: prefetch for writing the lines of
 * the first FFB_RING_LOOKAHEAD free slots (push's lookahead covers the
 * rest). */
static inline void ffb_ring_prod_prefetch_batch(const struct ffb_ring_prod *p)
{
	uint32_t n = p->size - (p->tail - p->cached_head);
	if (n > FFB_RING_LOOKAHEAD)
		n = FFB_RING_LOOKAHEAD;
	for (uint32_t i = 0; i < n; i += FFB_RING_LINE_MASK + 1)
		ffb_prefetch_write(&p->slots[(p->tail + i) & p->mask]);
}

/* Producer: append one entry. The caller has seen ffb_ring_prod_free() > 0
 * since the last push. The consumer may see it as soon as it is stamped
 * (S1); publish makes it and the rest of the batch visible through the
 * tail and rings the doorbell. */
static inline void ffb_ring_prod_push(struct ffb_ring_prod *p, const struct ffb_ring_entry *e)
{
	uint32_t ahead = p->tail + FFB_RING_LOOKAHEAD;
	if ((p->tail & FFB_RING_LINE_MASK) == 0 && (uint32_t)(ahead - p->cached_head) < p->size)
		ffb_prefetch_write(&p->slots[ahead & p->mask]);
	/* Field by field: a whole-struct copy is done with wide loads of the
	 * caller's narrower stores, which cannot be forwarded and so wait for
	 * the store buffer to drain -- behind earlier ring stores that may be
	 * waiting for their line to come from the peer's core. e->seq is
	 * ignored: the ring stamps the entry. */
	struct ffb_ring_entry *s = &p->slots[p->tail & p->mask];
	s->call_id = e->call_id;
	s->handle = e->handle;
	s->len = e->len;
	s->kind = e->kind;
	s->fn_or_status = e->fn_or_status;
	p->tail++;
	/* S1: the entry's fields before its stamp; pairs with S2 */
	ffb_store_release(&s->seq, p->tail);
}

/* Producer: make every pushed entry visible. Returns true when the
 * consumer asked to be woken (then the caller rings its doorbell). */
static inline bool ffb_ring_prod_publish(struct ffb_ring_prod *p)
{
	if (p->tail == p->published)
		return false;
	/* P1: entries and payloads before the tail; pairs with C1 */
	ffb_store_release(&p->ctl->p_tail, p->tail);
	p->published = p->tail;
	/* P3: tail store before the needs_wakeup load; pairs with C3 */
	ffb_smp_mb();
	return FFB_READ_ONCE(p->ctl->c_needs_wakeup) != 0;
}

/* Consumer: classify a p_tail value read from the peer. The consumer may
 * have taken stamped entries the tail does not cover yet, so a tail up to
 * `size` behind head is as valid as one up to `size` ahead. Returns the
 * entries the tail publishes beyond head (0 when behind), or
 * FFB_RING_CORRUPT. */
static inline int ffb_ring_cons_tail_ahead(const struct ffb_ring_cons *c, uint32_t tail)
{
	uint32_t ahead = tail - c->head;
	if (ahead <= c->size)
		return (int)ahead;
	return (uint32_t)(c->head - tail) <= c->size ? 0 : FFB_RING_CORRUPT;
}

/* Consumer: true when the entry at head carries its stamp. */
static inline bool ffb_ring_cons_stamped(const struct ffb_ring_cons *c)
{
	/* S2: the stamp before the entry's fields; pairs with S1 */
	return ffb_load_acquire(&c->slots[c->head & c->mask].seq) == c->head + 1u;
}

/* Consumer: number of entries ready, counted by their stamps (S2) from
 * head, at most FFB_RING_SCAN. The tail is not read here: a consumer
 * polling the tail keeps its line shared, so every publish by the
 * producer would wait (P3's fence) for the line to come back -- on the
 * path of the producer's next poll; prepare_park checks the tail. Never
 * blocks, never fails. */
static inline int ffb_ring_cons_ready(struct ffb_ring_cons *c)
{
	uint32_t ready = c->cached_tail - c->head;
	if (ready)
		return (int)ready;
	uint32_t limit = c->size < FFB_RING_SCAN ? c->size : FFB_RING_SCAN;
	while (ready < limit &&
	       /* S2: the stamp before the entry's fields; pairs with S1 */
	       ffb_load_acquire(&c->slots[(c->head + ready) & c->mask].seq) == c->head + ready + 1u)
		ready++;
	c->cached_tail = c->head + ready;
	return (int)ready;
}

/* Consumer, at the start of a batch: prefetch the lines of the first
 * FFB_RING_LOOKAHEAD ready entries (pop's lookahead covers the rest). */
static inline void ffb_ring_cons_prefetch_batch(const struct ffb_ring_cons *c)
{
	uint32_t n = c->cached_tail - c->head;
	if (n > FFB_RING_LOOKAHEAD)
		n = FFB_RING_LOOKAHEAD;
	for (uint32_t i = 0; i < n; i += FFB_RING_LINE_MASK + 1)
		ffb_prefetch_read(&c->slots[(c->head + i) & c->mask]);
}

/* Consumer: copy the next entry out, each field read once (R1). The caller
 * has seen ffb_ring_cons_ready() > 0. The slot is not freed until
 * ffb_ring_cons_release(). */
static inline void ffb_ring_cons_pop(struct ffb_ring_cons *c, struct ffb_ring_entry *out)
{
	struct ffb_ring_entry *s = &c->slots[c->head & c->mask];
	uint32_t ahead = c->head + FFB_RING_LOOKAHEAD;
	if ((c->head & FFB_RING_LINE_MASK) == 0 && (uint32_t)(c->cached_tail - ahead) - 1u < c->size)
		ffb_prefetch_read(&c->slots[ahead & c->mask]);
	out->call_id = FFB_READ_ONCE(s->call_id);
	out->handle = FFB_READ_ONCE(s->handle);
	out->len = FFB_READ_ONCE(s->len);
	out->kind = FFB_READ_ONCE(s->kind);
	out->fn_or_status = FFB_READ_ONCE(s->fn_or_status);
	out->seq = c->head + 1u; /* the stamp ready() found */
	c->head++;
}

/* Consumer: hand every popped slot back to the producer. */
static inline void ffb_ring_cons_release(struct ffb_ring_cons *c)
{
	if (c->head == c->published)
		return;
	/* C2: our entry reads before the head store; pairs with P2 */
	ffb_store_release(&c->ctl->c_head, c->head);
	c->published = c->head;
}

/* Consumer: announce that we are about to sleep. Returns 1 and the tail
 * value to sleep on (`*sleep_on`) when the ring is still empty, 0 when an
 * entry arrived meanwhile (the flag is cleared again and the caller
 * consumes instead), FFB_RING_CORRUPT on a tail out of range or one that
 * publishes an entry without its stamp. The caller has consumed
 * everything ready() reported. */
static inline int ffb_ring_cons_prepare_park(struct ffb_ring_cons *c, uint32_t *sleep_on)
{
	FFB_WRITE_ONCE(c->ctl->c_needs_wakeup, 1u);
	/* C3: needs_wakeup store before the tail and stamp re-loads; pairs with P3 */
	ffb_smp_mb();
	/* C1: entries below tail are written and stamped; pairs with P1 */
	uint32_t tail = ffb_load_acquire(&c->ctl->p_tail);
	int ahead = ffb_ring_cons_tail_ahead(c, tail);
	bool stamped = ffb_ring_cons_stamped(c);
	if (ahead == FFB_RING_CORRUPT || (ahead > 0 && !stamped))
		return FFB_RING_CORRUPT; /* a tail over entries never stamped */
	if (stamped) {
		FFB_WRITE_ONCE(c->ctl->c_needs_wakeup, 0u);
		return 0;
	}
	*sleep_on = tail;
	return 1;
}

/* Consumer that cannot take the entries that are ready (what it would
 * produce from them has no room): ask to be woken when the producer
 * publishes again. Returns 1 and the tail to sleep on, or
 * FFB_RING_CORRUPT as prepare_park does. The caller re-checks whatever
 * held it back after this (C3 orders the flag before that re-check). */
static inline int ffb_ring_cons_prepare_wait_more(struct ffb_ring_cons *c, uint32_t *sleep_on)
{
	FFB_WRITE_ONCE(c->ctl->c_needs_wakeup, 1u);
	/* C3: needs_wakeup store before the tail re-load; pairs with P3 */
	ffb_smp_mb();
	/* C1: entries below tail are written and stamped; pairs with P1 */
	uint32_t tail = ffb_load_acquire(&c->ctl->p_tail);
	int ahead = ffb_ring_cons_tail_ahead(c, tail);
	if (ahead == FFB_RING_CORRUPT || (ahead > 0 && !ffb_ring_cons_stamped(c)))
		return FFB_RING_CORRUPT;
	*sleep_on = tail;
	return 1;
}

/* Consumer: back from sleep (or giving up on it); stop asking for wakes.
 * A relaxed store: a stale 1 costs the producer one spurious wake. */
static inline void ffb_ring_cons_end_park(struct ffb_ring_cons *c)
{
	FFB_WRITE_ONCE(c->ctl->c_needs_wakeup, 0u);
}

#endif /* FFB_RING_H */
