/*
 * uring.c — the io_uring helpers every server thread uses (liburing):
 * getting an SQE, arming polls and futex waits, cancelling, reaping
 * completions, and probing the kernel for FUTEX_WAIT.
 *
 * Debian's liburing 2.3 predates the futex helpers, so the FUTEX_WAIT SQE
 * is filled by hand (its layout is the kernel's: io_uring/futex.c).
 */
#include "server_internal.h"

#define IORING_OP_FUTEX_WAIT_ 51 /* kernel 6.7 */
#define FUTEX2_SIZE_U32_ 0x02
#define FUTEX_BITSET_MATCH_ANY_ 0xffffffffull

int ffb__uring_init(struct io_uring *ring)
{
	return io_uring_queue_init(FFB__URING_ENTRIES, ring, 0);
}

struct io_uring_sqe *ffb__sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	while (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

/* Poll fd for events; `pending` (may be NULL) counts the session's ops. */
void ffb__arm_poll(struct io_uring *ring, struct ffb__op *op, int *pending, int fd, unsigned events)
{
	struct io_uring_sqe *sqe = ffb__sqe(ring);
	io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data(sqe, op);
	op->armed = true;
	if (pending)
		(*pending)++;
}

void ffb__arm_futex_wait(struct io_uring *ring, struct ffb__op *op, int *pending, uint32_t *word, uint32_t val)
{
	struct io_uring_sqe *sqe = ffb__sqe(ring);
	/* K1: the kernel re-checks *word == val atomically with FUTEX_WAKE;
	 * shared (not private) futex: the client maps the same memfd page. */
	io_uring_prep_rw(IORING_OP_FUTEX_WAIT_, sqe, FUTEX2_SIZE_U32_, word, 0, val);
	sqe->rw_flags = 0;
	sqe->addr3 = FUTEX_BITSET_MATCH_ANY_;
	io_uring_sqe_set_data(sqe, op);
	op->armed = true;
	if (pending)
		(*pending)++;
}

/* Hand every completion waiting on ring to fn; returns how many. */
unsigned ffb__reap(struct io_uring *ring, void (*fn)(void *ctx, struct io_uring_cqe *cqe), void *ctx)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(ring, head, cqe)
	{
		fn(ctx, cqe);
		n++;
	}
	io_uring_cq_advance(ring, n);
	return n;
}

/* Ask the kernel to end op early; its completion still arrives. */
void ffb__cancel_op(struct io_uring *ring, struct ffb__op *op)
{
	if (!op->armed)
		return;
	struct io_uring_sqe *sqe = ffb__sqe(ring);
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, 0);
}

bool ffb__uring_has_futex(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	if (!p)
		return false;
	bool ok = io_uring_opcode_supported(p, IORING_OP_FUTEX_WAIT_);
	io_uring_free_probe(p);
	return ok;
}
