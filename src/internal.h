/*
 * internal.h — cross-file internals of libffb (never installed).
 *
 * Names here are ffb__*: the heaps and their handle checks, the arena
 * (memfd, layout, validation), the callback registry, the handshake
 * messages, and the small utilities every file uses. The public contract
 * is include/ffb.h; the bytes are include/ffb_layout.h.
 */
#ifndef FFB_INTERNAL_H
#define FFB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ffb.h"
#include "ffb_ring.h"
#include "list.h"

/* ---- diagnostics (status.c) ------------------------------------------- */

/* The status table, generated from include/ffb_status.h (src/zstatus.c,
 * `make gen`): every code with its stable name and English text. */
struct ffb__status_text {
	int code;
	const char *name;
	const char *text;
};
extern const struct ffb__status_text ffb__status_table[];
extern const unsigned ffb__status_count;

void ffb__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool ffb__utf8_valid(const uint8_t *s, size_t n);
uint64_t ffb__now_ns(void);   /* CLOCK_MONOTONIC */
/* A cheap monotonic tick count for timing callbacks (the TSC where it is
 * constant, else ffb__now_ns), and the ticks in `ns` (clock.c). */
uint64_t ffb__ticks(void);
uint64_t ffb__ticks_from_ns(uint64_t ns);
uint64_t ffb__ns_from_ticks(uint64_t ticks);
uint64_t ffb__random_u64(void);

/* ---- heaps and handles (heap.c) --------------------------------------- */

enum ffb__block_state {
	FFB__BLOCK_FREE = 0,
	FFB__BLOCK_OWNED = 1,   /* held by its owner's user */
	FFB__BLOCK_LENT = 2,    /* held by the peer until it gives it back */
	FFB__BLOCK_RETIRED = 3, /* generation exhausted; never reused */
	FFB__BLOCK_GIVEN = 4    /* client heap: an answer's or item's block the
				 * server holds until its RELEASE (§5.8) */
};

struct ffb__class {
	uint64_t offset;        /* arena offset of block 0 */
	uint32_t block_size;
	uint32_t count;
	/* owner only: */
	uint32_t *gen;          /* current generation of each block */
	uint8_t *state;         /* enum ffb__block_state */
	uint32_t *free_stack;
	uint32_t free_top;
	/* non-owner with holdings only: generation held, 0 = not held */
	uint32_t *held;
};

/* One heap as one side sees it: the owner has the allocator tables, the
 * other side only the geometry (and, on the client, what it holds). */
struct ffb__heap {
	char *base;             /* start of this process's arena mapping */
	uint64_t arena_size;
	uint32_t heap_no;       /* FFB_HEAP_CLIENT or FFB_HEAP_SERVER */
	uint32_t tag;           /* arena tag carried in handles */
	uint32_t nclasses;
	bool owner;
	struct ffb__class cls[FFB_MAX_CLASSES];
};

/* Build the owner's view of a heap (allocator tables in private memory).
 * Generations start at a random non-zero value. SYSTEM on ENOMEM. */
ffb_status ffb__heap_init_owner(struct ffb__heap *h, const struct ffb_heap_desc *d, char *base,
				uint64_t arena_size, uint32_t tag, uint32_t heap_no);
/* Build a non-owner's view; with_holdings adds the table of held blocks. */
ffb_status ffb__heap_init_view(struct ffb__heap *h, const struct ffb_heap_desc *d, char *base,
			       uint64_t arena_size, uint32_t tag, uint32_t heap_no, bool with_holdings);
void ffb__heap_destroy(struct ffb__heap *h);

/* Geometry check any side can do: INVALID_HANDLE (0, wrong heap, class or
 * index out of range), FOREIGN_HANDLE (another arena's tag). */
static inline ffb_status ffb__heap_check(const struct ffb__heap *h, uint64_t handle, uint32_t *cls, uint32_t *idx)
{
	if (handle == 0 || FFB_HANDLE_GEN(handle) == 0)
		return FFB_ERR_INVALID_HANDLE;
	if (FFB_HANDLE_TAG(handle) != h->tag)
		return FFB_ERR_FOREIGN_HANDLE;
	uint32_t k = FFB_HANDLE_CLASS(handle), i = FFB_HANDLE_INDEX(handle);
	if (FFB_HANDLE_HEAP(handle) != h->heap_no || k >= h->nclasses || i >= h->cls[k].count)
		return FFB_ERR_INVALID_HANDLE;
	*cls = k;
	*idx = i;
	return FFB_OK;
}

/* Unchecked: address of block idx of class cls. */
static inline char *ffb__heap_at(const struct ffb__heap *h, uint32_t cls, uint32_t idx)
{
	return h->base + h->cls[cls].offset + (uint64_t)idx * h->cls[cls].block_size;
}

/* Owner: allocate a block of >= size bytes (the smallest class with a free
 * block), state OWNED. ARENA_FULL, BUFFER_TOO_SMALL. */
ffb_status ffb__heap_alloc(struct ffb__heap *h, uint32_t size, uint64_t *out);

/* Owner: checked lookup of a block in state `want` (OWNED or LENT).
 * STALE_HANDLE, DOUBLE_FREE (block free, handle of its last life), BUSY
 * (state differs), plus the geometry errors. */
ffb_status ffb__heap_lookup(const struct ffb__heap *h, uint64_t handle, uint8_t want, void **data,
			    uint32_t *capacity);

/* Owner: move a block between states after the same checks as lookup. */
ffb_status ffb__heap_transition(struct ffb__heap *h, uint64_t handle, uint8_t from, uint8_t to);

/* Owner: free a block in state `from`; its generation moves on (a block
 * whose generation would wrap is retired). */
ffb_status ffb__heap_free(struct ffb__heap *h, uint64_t handle, uint8_t from);

/* Non-owner with holdings: record/forget a block the peer gave us.
 * hold: PROTOCOL if the block is already held. unhold: STALE_HANDLE /
 * DOUBLE_FREE if we do not hold that generation. */
ffb_status ffb__heap_hold(struct ffb__heap *h, uint64_t handle);
ffb_status ffb__heap_unhold(struct ffb__heap *h, uint64_t handle, bool remove);

/* Test hook: force a block's generation (to test retirement near wrap). */
void ffb__heap_set_generation(struct ffb__heap *h, uint32_t cls, uint32_t idx, uint32_t gen);
uint32_t ffb__heap_free_blocks(const struct ffb__heap *h, uint32_t cls);

/* ---- arena (arena.c) -------------------------------------------------- */

/* Lay out an arena for the given options into *sb (all fields). Returns
 * INVALID_ARGUMENT if it exceeds max_arena_size or counts are out of
 * range. */
ffb_status ffb__layout_compute(const struct ffb_server_options *o, uint64_t session_id, uint32_t tag,
			       uint32_t flags, struct ffb_superblock *sb);

/* Create, size, map and seal a memfd holding *sb. */
ffb_status ffb__arena_create(const struct ffb_superblock *sb, int *fd_out, char **base_out);

/* Receiver checks on a received fd, before any mmap: regular file, exact
 * seals, size. BAD_FD otherwise. */
ffb_status ffb__arena_check_fd(int fd, uint64_t expected_size);

/* Validate a private copy of a superblock against the hello and the
 * geometry rules of PROTOCOL.md §3. VERSION_MISMATCH or PROTOCOL. */
ffb_status ffb__superblock_validate(const struct ffb_superblock *sb, const struct ffb_server_hello *hello);

/* ---- registry (registry.c) -------------------------------------------- */

struct ffb__registry;

/* Registration flags: FFB_CB_* from ffb.h, plus this one for the built-ins. */
#define FFB__REG_BUILTIN 0x80000000u

ffb_status ffb__registry_create(struct ffb__registry **out);
void ffb__registry_destroy(struct ffb__registry *r);
ffb_status ffb__registry_add(struct ffb__registry *r, const char *name, size_t name_len, ffb_callback_fn fn,
			     void *ctx, uint32_t flags, uint32_t *id_out);
/* Remove `name`; returns once no call of it runs (it waits for them). */
ffb_status ffb__registry_remove(struct ffb__registry *r, const char *name, size_t name_len);
ffb_status ffb__registry_find(struct ffb__registry *r, const char *name, size_t name_len, uint32_t *id_out);

/* Run the callback registered under `id`, holding it registered while it
 * runs (unregister waits for it): NOT_FOUND if the id is unknown or stale;
 * otherwise the callback's status. Any thread, no lock: one atomic count
 * on the callback's slot. On a dispatcher (!on_worker) a pooled callback
 * is not run: FFB__POOLED says it belongs to the pool. */
#define FFB__POOLED ((ffb_status)-1)
/* ffb__registry_invoke: no live function of that id (nothing ran). The
 * caller answers NOT_FOUND with no message: the client may look the name
 * up again (a function's own NOT_FOUND carries a message, PROTOCOL.md §7). */
#define FFB__NO_FUNCTION ((ffb_status)-2)
ffb_status ffb__registry_invoke(struct ffb__registry *r, uint32_t id, ffb_call *call, bool on_worker);

/* A thread that runs many inline callbacks in a row (a dispatcher) counts
 * none of them on their slots: it marks the stretch in which it may run
 * them instead (enter ... leave; its seq is odd inside), and unregister
 * waits for every reader that is inside to leave. So a call costs no
 * atomic read-modify-write, and a stretch one store each way. */
struct ffb__reg_reader {
	uint64_t seq; /* atomic; written by its thread only */
};
void ffb__registry_add_reader(struct ffb__registry *r, struct ffb__reg_reader *rd);
void ffb__registry_remove_reader(struct ffb__registry *r, struct ffb__reg_reader *rd);
/* R1: the store that says "inside" is ordered before the loads of the
 * slots (seq_cst store); pairs with R2 in ffb__registry_remove. */
static inline void ffb__registry_enter(struct ffb__reg_reader *rd)
{
	__atomic_store_n(&rd->seq, rd->seq + 1, __ATOMIC_SEQ_CST);
}
/* R1 (release): the stretch's uses of fn and ctx before an unregister
 * that sees it left. */
static inline void ffb__registry_leave(struct ffb__reg_reader *rd)
{
	__atomic_store_n(&rd->seq, rd->seq + 1, __ATOMIC_RELEASE);
}
/* ffb__registry_invoke on a dispatcher (!on_worker), inside its reader's
 * stretch: the same answers, no count on the slot. clock (if not NULL) is
 * the call's start tick: read just before its callback runs if it holds
 * 0; set to 0 for a built-in, which is not timed (it takes nanoseconds). */
ffb_status ffb__registry_invoke_inside(struct ffb__registry *r, uint32_t id, ffb_call *call, uint64_t *clock);

/* An inline callback ran `ns` past its budget: log it once per
 * registration, with its name. */
/* Fill up to max entries (fn_id, name; counts zeroed) with the
 * registered functions, lowest slot first; returns how many there are.
 * Takes the lock. */
uint32_t ffb__registry_list(struct ffb__registry *r, struct ffb_stats_fn *out, uint32_t max);
void ffb__registry_note_slow(struct ffb__registry *r, uint32_t id, uint64_t ns);

/* ---- handshake messages (handshake.c) --------------------------------- */

/* Send one SEQPACKET message with up to FFB_MAX_HELLO_FDS fds, without
 * blocking. SYSTEM on failure (errno kept). */
ffb_status ffb__send_msg(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);

/* Receive one message and its fds (MSG_CMSG_CLOEXEC). BAD_FD on
 * MSG_CTRUNC or a malformed control message (all received fds closed),
 * PEER_GONE on EOF, SYSTEM otherwise. *len in/out. */
ffb_status ffb__recv_msg(int sock, void *buf, size_t *len, int *fds, unsigned *nfds, int flags);

/* Receive one message where no fd belongs: without a control buffer, so
 * the kernel drops any fds it carries without installing them (no close,
 * no flush on our thread). BAD_FD if it carried any (MSG_CTRUNC),
 * PROTOCOL if longer than *len, PEER_GONE on EOF, WOULD_BLOCK, SYSTEM.
 * *len in/out. */
ffb_status ffb__recv_plain(int sock, void *buf, size_t *len, int flags);

void ffb__close_fds(int *fds, unsigned n);

/* ---- doorbells (bell.c) ----------------------------------------------- */

/* Client side: add 1 to the server's eventfd without blocking (see
 * bell.c for the limits). True if the write went in. */
bool ffb__bell_ring(int fd);
/* Reset an eventfd to 0 without blocking. */
void ffb__bell_drain(int fd);

/* ---- client (client.c) ------------------------------------------------ */

/* Run the client half of the handshake on a connected socket (which it
 * then owns, also on failure). */
ffb_status ffb__client_handshake(int sock, const struct ffb_client_options *o, ffb_client **out);

/* ---- server side of a call (call.c, defer.c) ---------------------------- */

struct ffb__session;
struct ffb__vcall;

/* A unit of work for the server's worker pool: a pooled call, or a
 * function posted with ffb_server_post. */
struct ffb__job {
	void (*run)(struct ffb__job *job);
	struct ffb__job *next;  /* the posted list */
};

/* What a dispatcher's post stack carries (any thread pushes, the
 * dispatcher takes them all): a finished kept call, a stream item, a
 * call to a client, a cancel or credit for one (defer.c, stream.c,
 * scall.c). */
enum ffb__post_type {
	FFB__POST_ANSWER = 1, /* a kept ffb_call, finished */
	FFB__POST_ITEM,       /* struct ffb__item_post */
	FFB__POST_SCALL,      /* struct ffb__scall_post */
	FFB__POST_SCANCEL,    /* struct ffb__ctl_post */
	FFB__POST_SCREDIT     /* struct ffb__ctl_post */
};

struct ffb__post {
	struct ffb__post *next;
	struct ffb__session *s;
	uint8_t type;
};

/* A callback one side of a kept call arms and the dispatcher fires (on a
 * cancel, or credit): never after the call is finished (defer.c). */
struct ffb__notify {
	int state;              /* atomic: enum in defer.c */
	void (*fn)(void *ctx);
	void *ctx;
};

/* One call as its callback sees it. An inline call lives on the
 * dispatcher's stack for the length of its callback; a kept call (pooled,
 * taken with ffb_call_defer, or a stream) is a heap copy that lives until
 * its answer is published (defer.c). */
struct ffb_call {
	struct ffb__session *session;
	uint32_t fn_id;
	uint64_t in_handle;
	char *in_data;
	uint32_t in_len;
	uint32_t in_capacity;
	uint64_t reply_handle;  /* 0, in_handle, or a server block (OWNED) */
	uint32_t reply_len;
	const char *error_msg;  /* set by ffb_call_set_error; points into msg_buf */
	uint64_t call_id;       /* the request's call id (a CALLV record: the CALLV's) */
	struct ffb__vcall *vec; /* a CALLV record's vector, else NULL */
	uint32_t rec;           /* a CALLV record's index */
	bool kept;              /* a heap call */
	bool deferred;          /* its callback took it with ffb_call_defer */
	bool stream;            /* the caller asked for a stream (answers: items, then one) */
	bool notify;            /* the caller wants no answer at all */
	bool ran;               /* its function exists (counted in its figures, stats.c) */
	uint64_t t0;            /* ffb__ticks() when the dispatcher took it */
	struct ffb_call *moved_to; /* a stack call that was deferred: its heap copy */
	ffb_status status;      /* the answer (ffb_call_finish) */
	int cancelled;          /* atomic: the caller cancelled */
	bool cancel_armed;      /* ffb_call_on_cancel was used */
	uint32_t credit;        /* atomic: stream items the caller allows */
	uint32_t items_out;     /* stream items sent, not yet on the ring (atomic) */
	uint32_t items_posted;  /* of those, posted by another thread and not yet queued (atomic) */
	struct ffb__notify on_cancel, on_credit;
	struct ffb__job job;    /* a pooled call's place in the pool queue */
	struct ffb__post post;  /* FFB__POST_ANSWER on its dispatcher's stack */
	struct ffb__list link;        /* session->calls (dispatcher) */
	struct ffb__list wait_link;   /* session->waiting (dispatcher) */
	char msg_buf[512];
};

/* Built-ins registered by every server. */
ffb_status ffb__builtin_echo(ffb_call *call, void *ctx);
ffb_status ffb__builtin_version(ffb_call *call, void *ctx);

#endif /* FFB_INTERNAL_H */
