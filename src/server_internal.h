/*
 * server_internal.h — the server object, its threads and its sessions.
 *
 * A running server has three kinds of threads. The control thread
 * (control.c) owns the listening socket and every session's socket and
 * pidfd: it admits or refuses clients, runs handshakes, notices peers that
 * die, says goodbye and frees sessions. Each dispatcher thread
 * (dispatcher.c; `dispatchers` of them, sessions spread over them at
 * admission) owns the rings of the sessions handed to it: it serves
 * requests (dispatch.c), runs inline callbacks, publishes the answers of
 * kept calls, parks on the doorbells and wakes the clients; every ring
 * keeps one producer and one consumer. The workers of the pool (pool.c)
 * run pooled callbacks. So a flood of connects costs a dispatcher
 * nothing, a slow pooled callback delays no other call, and the hot path
 * never makes a socket call.
 *
 * Control and dispatchers meet only in the mailboxes (mailbox.c); a kept
 * call (pooled or deferred: defer.c) goes back to its session's
 * dispatcher through that dispatcher's answer stack. A session's fields
 * are split by owner below; the handshake's writes reach the dispatcher
 * through the mailbox lock, like every message after it.
 */
#ifndef FFB_SERVER_INTERNAL_H
#define FFB_SERVER_INTERNAL_H

#include <liburing.h>
#include <sys/socket.h>

#include "internal.h"
#include "list.h"

/* What an io_uring completion is about: user_data points at one of these. */
enum ffb__op_kind {
	FFB__OP_ACCEPT = 1, /* control: listening socket accepted a client */
	FFB__OP_NOTIFY,     /* control: stop, inproc adopt, or mail */
	FFB__OP_SOCK,       /* control: session socket readable/hung up */
	FFB__OP_PIDFD,      /* control: session peer process exited */
	FFB__OP_INBOX,      /* dispatcher: mail, or answers to publish */
	FFB__OP_BELL,       /* dispatcher: doorbell, futex wait or eventfd poll */
	FFB__OP_RING        /* dispatcher: write to the client's bell finished */
};

struct ffb__op {
	uint8_t kind;
	bool armed;
	struct ffb__session *s; /* NULL for server-wide ops */
};

/* Mail between the threads, one bit per kind, at most one of each kind
 * per session and direction. */
enum {
	FFB__MAIL_ADOPT = 1,    /* to dispatcher: serve this session */
	FFB__MAIL_DETACH = 2,   /* to dispatcher: stop serving, cancel ops and calls, say DETACHED */
	FFB__MAIL_FAILED = 1,   /* to control: the rings broke the protocol, cut it (PROTOCOL) */
	FFB__MAIL_DETACHED = 2, /* to control: the dispatcher is done with it, free it */
};
enum { FFB__TO_DISPATCHER = 0, FFB__TO_CONTROL = 1 };

struct ffb__mailbox {
	pthread_mutex_t lock;
	struct ffb__session *head, *tail; /* linked through mail_next[dir] */
	int pending;                      /* atomic: the list is not empty */
	int fd;                           /* eventfd that wakes the reader */
	int dir;                          /* FFB__TO_DISPATCHER or FFB__TO_CONTROL */
};

enum ffb__session_state { FFB__HANDSHAKE = 0, FFB__ACTIVE, FFB__DEAD };
enum ffb__serving { FFB__SERVING = 1, FFB__FAILED, FFB__DETACHING };

/* A CALLV some of whose records are kept (pooled or deferred): its one
 * RESULT goes out when the last of them is answered. Dispatcher only. */
struct ffb__vcall {
	uint64_t call_id;
	uint64_t handle;              /* the vector block, answered zero copy */
	uint32_t len;
	uint32_t remaining;           /* kept records not answered yet */
	struct ffb_vec_call *rec;     /* the records, in the arena */
};

/* The public handle of a session (ffb_session, scall.c): counted, and
 * pointing at its session only while the session is served. */
struct ffb_session {
	int refs;                     /* atomic */
	pthread_mutex_t lock;         /* guards s and gone */
	struct ffb__session *s;       /* NULL once the dispatcher let go of it */
	ffb_status gone;              /* what a call gets once s is NULL */
	struct ffb_server *srv;
	uint64_t id;
	uint64_t tickets;             /* atomic: names the calls made through it */
	struct ffb__list link;        /* srv->handles while served */
};

/* A call the server makes to its session's client (scall.c). */
#define FFB__MAX_SCALLS 256u
#define FFB__NAME_CACHE 32
struct ffb__scall {
	uint32_t gen, slot;
	uint8_t state;                /* enum in scall.c */
	uint8_t kind;                 /* FFB_ID_ONCE, _STREAM, _NOTIFY */
	bool lookup;                  /* a LOOKUP of `name`, resolving the calls that wait for it */
	bool retried;                 /* re-resolved once after NOT_FOUND */
	uint8_t name_len;
	char name[FFB_MAX_NAME_LEN];
	uint32_t fn;
	uint64_t ticket;              /* the caller's name for it (ffb_session_cancel) */
	uint64_t in_handle;           /* our block lent with it, or 0 */
	uint32_t in_len;
	uint32_t credit_left;         /* stream items the client may still send */
	uint64_t deadline_ns;         /* 0: none */
	ffb_answer_fn done;
	ffb_item_fn item;
	void *ctx;
};

/* An entry waiting for room in the response ring (stream.c). */
struct ffb__out {
	struct ffb_ring_entry e;
	ffb_call *item_of;            /* a stream item: its call */
	bool reserved;                /* a stream's RESULT: its slot is held back */
};

struct ffb__session {
	/* Set by the control thread before the handover; then read-only. */
	struct ffb_server *srv;
	struct ffb__dispatcher *disp; /* the one thread that owns the rings */
	ffb_session *handle;          /* its public handle (holds one of its refs) */
	uint64_t id;
	int client_bell, server_bell;
	char *base;
	struct ffb_superblock sb;     /* private copy: never read back from the arena */
	struct ffb__heap client_heap; /* the client owns it; we know what it gave us */

	/* Set by control when it closes an active session, read by its
	 * dispatcher: take no more requests (DETACH mail follows). */
	int closing;                  /* atomic */

	/* Control thread only. */
	struct ffb__list link;        /* srv->handshakes, srv->sessions or srv->zombies */
	int state;
	bool in_pool;                 /* on srv->handshakes: no hello read yet */
	bool admitted;                /* counts against max_sessions */
	ffb_status refuse;            /* not 0: answer the hello with this, hang up */
	uid_t uid;                    /* SO_PEERCRED at accept */
	pid_t pid;                    /* its pid, for the pidfd (0: in-process, none) */
	int sock, pidfd;
	uint64_t deadline_ns;         /* handshake deadline */
	bool awaiting_detached;       /* handed over, DETACH sent, no DETACHED yet */
	ffb_status goodbye;           /* closing: the status to say goodbye with */
	int ops_pending;              /* control io_uring ops still referencing us */
	struct ffb__op op_sock, op_pidfd;

	/* Dispatcher thread only (after ADOPT, until it sends DETACHED). */
	struct ffb__list d_link;      /* disp->sessions or disp->zombies */
	int serving;                  /* enum ffb__serving */
	bool cut;                     /* its rings broke the protocol: publish nothing more */
	struct ffb_ring_cons req;
	struct ffb_ring_prod resp;
	bool blocked;                 /* response ring full: retry on a timer that backs off */
	uint64_t backoff_ns;          /* while blocked: the retry interval (1 ms, doubling) */
	uint64_t retry_at;            /* while blocked: when to look again (ffb__now_ns) */
	bool ring_again;              /* a wake was asked while a ring was in flight */
	bool dirty;                   /* answers pushed, not yet published */
	uint64_t ring_one;            /* the 1 written to the client bell */
	int d_ops_pending;            /* dispatcher io_uring ops still referencing us */
	struct ffb__op op_bell, op_ring;
	uint32_t reserved;            /* RESULTs owed by kept calls: response slots held back */
	struct ffb__list calls;       /* kept calls (ffb_call.link), answered or not */
	struct ffb__list waiting;     /* pooled calls not handed to a worker yet (wait_link) */
	struct ffb__list want_link;   /* on disp->wanting while `waiting` is not empty */
	struct ffb__session *dirty_next;
	int posted;                   /* atomic: posts for it not taken yet (scall.c) */
	struct ffb__out *outq;        /* entries waiting for ring room (stream.c) */
	uint32_t out_head, out_n, out_cap;
	struct ffb__scall *scalls;    /* FFB__MAX_SCALLS calls to the client */
	uint32_t scall_next;
	bool scall_deadlines;         /* some call to the client has a deadline */
	uint64_t scall_due;           /* none of them passes before this */
	struct {
		uint32_t len, fn;
		char name[FFB_MAX_NAME_LEN];
	} names[FFB__NAME_CACHE];     /* the client's handlers, resolved */
	uint32_t name_next;

	/* The server heap is ours; callbacks on any thread allocate replies
	 * from it, so every use goes through heap_lock (call.c). */
	pthread_mutex_t heap_lock;
	struct ffb__heap server_heap;

	/* Mail (mailbox.c): mail_* under the mailbox's lock, got_* the reader's. */
	struct ffb__session *mail_next[2], *got_next[2];
	uint8_t mail[2], got[2];
	bool mail_linked[2];
};

/* One function's figures on one dispatcher (stats.c reads them). */
struct ffb__fn_count {
	uint32_t gen;                 /* the tenant counted: another one starts from 0 */
	uint64_t calls, errors;
	uint64_t latency[FFB_STATS_LAT_BUCKETS];
};

#define FFB__LENT_SLOTS 128 /* > 2 x (FFB_MAX_VEC_CALLS + 1): open addressing */

/* A dispatcher thread: the rings of the sessions it was handed, and the
 * answers of their kept calls. */
struct ffb__dispatcher {
	struct ffb_server *srv;
	struct io_uring ring;
	struct ffb__mailbox inbox;    /* ADOPT, DETACH; its eventfd also says "answers" */
	struct ffb__op op_inbox;
	uint64_t inbox_buf;
	struct ffb__list sessions;    /* serving */
	struct ffb__list zombies;     /* failed or detaching: ops or calls outstanding */
	struct ffb__list wanting;     /* sessions with pooled calls waiting for a worker */
	struct ffb__post *posts;      /* atomic: answers, items, calls to clients: any thread pushes */
	struct ffb__session *dirty;   /* sessions with answers pushed, not published */
	int parked;                   /* atomic: 1 while it sleeps (or is about to) */
	int starved;                  /* atomic: pooled calls wait for a free worker */
	pthread_t thread;
	bool thread_started;
	uint32_t nsessions;           /* control thread: sessions handed to it */
	struct ffb_server_stats stats;
	struct ffb__reg_reader reader;   /* while it serves a batch (registry.c); among its own fields */
	struct ffb__fn_count *fn_counts; /* FFB_MAX_FUNCTIONS, by slot: only this thread writes */
	/* The blocks one CALLV lends (dispatch.c): keys marked with lent_gen. */
	uint32_t lent_gen;
	uint32_t lent_key[FFB__LENT_SLOTS], lent_mark[FFB__LENT_SLOTS];
	/* CALLVs whose records are timed one by one (dispatch.c): a vector
	 * that ran over the inline budget with several functions in it makes
	 * the next ones find which. Otherwise a vector is timed as a whole. */
	uint32_t time_records;
};

/* The worker pool (pool.c): a bounded lock-free MPMC queue of calls the
 * dispatchers hand over (never more than there are workers: a call is
 * handed over only when a worker is free for it, `busy`), a mutex list of
 * posted jobs, and workers that spin, then sleep on a futex. */
struct ffb__pool_cell {
	uint64_t seq;
	struct ffb__job *job;
};

struct ffb__pool {
	struct ffb_server *srv;
	uint32_t nworkers;
	uint32_t spin_ns;             /* worker_spin_ns */
	uint32_t spin_now;            /* what they spin this run (effective_spin) */
	pthread_t *threads;
	uint32_t nstarted;
	struct ffb__pool_cell *cells;
	uint64_t mask;
	uint64_t enq __attribute__((aligned(128)));
	uint64_t deq __attribute__((aligned(128)));
	uint32_t busy __attribute__((aligned(128))); /* calls handed over and not done */
	uint32_t seq;                 /* futex word: bumped by every wake */
	uint32_t sleepers;
	int stop;
	pthread_mutex_t post_lock;
	struct ffb__job *post_head, *post_tail;
	int nposted;                  /* atomic */
};

/* Pre-hello connections of one uid (session.c). */
struct ffb__uid_count {
	uid_t uid;
	uint32_t n;
};

struct ffb_server {
	struct ffb_server_options opts;
	uid_t *uids;
	struct ffb__registry *reg;
	bool futex_ok;
	char *path;
	int stop_flag;                /* atomic */
	pthread_mutex_t handles_lock;
	struct ffb__list handles;     /* ffb_session handles of sessions being served */
	bool running;                 /* atomic */
	int control_done;             /* atomic: the control thread has freed every session */
	bool leaked;                  /* sessions were never freed: keep everything alive */
	bool started;                 /* by ffb_server_start: destroy joins the threads */
	uint64_t budget_ticks;        /* inline_budget_ns in ffb__ticks() */
	uint64_t ns_per_tick_q32;     /* ffb__ticks() to ns: ns = ticks * this >> 32 */

	/* the control thread */
	struct io_uring ring;
	int listen_fd;
	struct ffb__mailbox inbox;    /* FAILED, DETACHED; its fd is the notify eventfd */
	pthread_t thread;
	bool thread_started;
	uint64_t created_ns;          /* ffb__now_ns() at create */
	pthread_mutex_t adopt_lock;
	int adopt_fds[16];
	unsigned n_adopt;
	struct ffb__list handshakes;  /* no hello read yet, oldest first (the pre-hello pool) */
	struct ffb__list sessions;    /* hello read: answered, active */
	struct ffb__list zombies;     /* closed, waiting for ops or DETACHED */
	uint32_t nsessions;           /* admitted: counts against max_sessions */
	uint32_t nhandshakes;         /* on `handshakes`: at most max_handshakes */
	struct ffb__uid_count *hs_uids; /* per uid on `handshakes` (max_handshakes of them) */
	uint32_t n_hs_uids;
	uint64_t next_session_id;
	uint64_t notify_buf;
	struct ffb__op op_accept, op_notify;
	struct ffb_server_stats stats; /* sessions_*, protocol_errors of handshakes */

	struct ffb__dispatcher *disp; /* opts.dispatchers of them */
	uint32_t ndisp;
	struct ffb__pool pool;
};

/* Single-writer counter bump: a relaxed load and store, no locked op on
 * the hot path; readers on other threads use relaxed loads. Each thread
 * has its own stats block (ffb_server_stats sums them). */
#define FFB__STAT_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)

/* A call of fn ended with status after `ticks` (dispatcher only: its
 * own counters, relaxed stores, no shared cache line). ran: fn named a
 * live function (else only its status is counted). */
/* ffb__stat_call's ticks for a call that was not timed (a built-in):
 * counted, not in the latency histogram. */
#define FFB__UNTIMED UINT64_MAX

static inline void ffb__stat_call(struct ffb__dispatcher *d, uint32_t fn, uint32_t status, bool ran, uint64_t ticks)
{
	uint32_t code = status < FFB_STATS_STATUS_SLOTS ? status : FFB_STATS_STATUS_SLOTS - 1;
	FFB__STAT_ADD(d->stats.results[code], 1);
	uint32_t i = FFB_FN_SLOT(fn);
	if (!ran || i >= FFB_MAX_FUNCTIONS)
		return;
	struct ffb__fn_count *c = &d->fn_counts[i];
	if (__builtin_expect(c->gen != FFB_FN_GEN(fn), 0)) {
		/* A new tenant of the slot: a racing reader may see a mix, then the new counts. */
		__atomic_store_n(&c->calls, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&c->errors, 0, __ATOMIC_RELAXED);
		for (uint32_t b = 0; b < FFB_STATS_LAT_BUCKETS; b++)
			__atomic_store_n(&c->latency[b], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&c->gen, FFB_FN_GEN(fn), __ATOMIC_RELAXED);
	}
	FFB__STAT_ADD(c->calls, 1);
	if (status)
		FFB__STAT_ADD(c->errors, 1);
	if (ticks == FFB__UNTIMED)
		return;
	uint64_t ns = (uint64_t)(((unsigned __int128)ticks * d->srv->ns_per_tick_q32) >> 32);
	uint32_t b = ns ? 64u - (uint32_t)__builtin_clzll(ns) : 0;
	FFB__STAT_ADD(c->latency[b < FFB_STATS_LAT_BUCKETS ? b : FFB_STATS_LAT_BUCKETS - 1], 1);
}

/* stats.c (control thread): answer a stats request on s's socket. */
void ffb__stats_answer(struct ffb__session *s, ffb_status why);

/* uring.c */
#define FFB__URING_ENTRIES 256
int ffb__uring_init(struct io_uring *ring);
bool ffb__uring_has_futex(struct io_uring *ring);
struct io_uring_sqe *ffb__sqe(struct io_uring *ring);
void ffb__arm_poll(struct io_uring *ring, struct ffb__op *op, int *pending, int fd, unsigned events);
void ffb__arm_futex_wait(struct io_uring *ring, struct ffb__op *op, int *pending, uint32_t *word, uint32_t val);
void ffb__cancel_op(struct io_uring *ring, struct ffb__op *op);
unsigned ffb__reap(struct io_uring *ring, void (*fn)(void *ctx, struct io_uring_cqe *cqe), void *ctx);

/* mailbox.c */
int ffb__mailbox_init(struct ffb__mailbox *mb, int dir);
void ffb__mailbox_destroy(struct ffb__mailbox *mb);
void ffb__mail(struct ffb__mailbox *mb, struct ffb__session *s, uint8_t what);
/* Take every session with mail: returns the first, linked through
 * got_next[dir], with its bits in got[dir]. */
struct ffb__session *ffb__mail_take(struct ffb__mailbox *mb);
static inline bool ffb__mail_waiting(struct ffb__mailbox *mb)
{
	return __atomic_load_n(&mb->pending, __ATOMIC_ACQUIRE);
}

/* control.c: the control thread's loop, until stop and every session freed. */
void ffb__control_run(struct ffb_server *srv);

/* session.c (control thread) */
void ffb__session_accept(struct ffb_server *srv, int fd, bool check_creds);
void ffb__session_on_sock(struct ffb__session *s, int res);
void ffb__session_close(struct ffb__session *s, ffb_status why);
/* A control op of a session completed: true if the session is still alive. */
bool ffb__session_op_done(struct ffb__op *op);
/* The dispatcher let go of s: free it once its own ops are done. */
void ffb__session_detached(struct ffb__session *s);
/* Close pre-hello connections past their deadline; returns the next
 * deadline (0: none waits). */
uint64_t ffb__session_expire_handshakes(struct ffb_server *srv, uint64_t now);
/* Stop: every connection closed, active sessions with a CLOSED goodbye. */
void ffb__session_close_all(struct ffb_server *srv);
/* Refuse fds on socket fd (SO_PASSRIGHTS off, where the kernel has it:
 * a client's sendmsg with SCM_RIGHTS then fails). Returns whether the
 * kernel refuses them; otherwise they are dropped unread (ffb__recv_plain). */
bool ffb__refuse_fds(int fd);
/* Tests only: leave SO_PASSRIGHTS alone, to exercise the drop path. */
extern bool ffb__test_keep_passrights;

/* dispatcher.c (dispatcher thread) */
int ffb__dispatcher_init(struct ffb__dispatcher *d, struct ffb_server *srv);
void ffb__dispatcher_destroy(struct ffb__dispatcher *d);
void ffb__dispatcher_run(struct ffb__dispatcher *d);
/* The dispatcher this thread runs, or NULL (not a dispatcher thread). */
struct ffb__dispatcher *ffb__this_dispatcher(void);
/* Wake d if it sleeps (any thread; async-signal-safe). */
void ffb__dispatcher_wake(struct ffb__dispatcher *d);
/* The rings of s broke the protocol: stop serving it, tell control. */
void ffb__dispatcher_fail(struct ffb__session *s);
/* A detaching session with no op, call or publish left: say DETACHED
 * (control may free it at once: touch it no more). */
void ffb__dispatcher_maybe_detached(struct ffb__session *s);
void ffb__session_ring_client(struct ffb__session *s);

/* dispatch.c (dispatcher thread): drain a session's request ring (true
 * if it did anything); publish answers of kept calls; hand waiting
 * pooled calls to free workers; cancel every kept call of a session. */
bool ffb__session_service(struct ffb__session *s);
void ffb__dispatch_posts(struct ffb__dispatcher *d);
/* A blocked session: whether its response ring has room again (or is
 * corrupt: service will say). */
bool ffb__session_has_room(struct ffb__session *s);
void ffb__dispatch_publish(struct ffb__dispatcher *d);
void ffb__dispatch_feed_pool(struct ffb__dispatcher *d);
void ffb__session_cancel_calls(struct ffb__session *s);

/* pool.c */
ffb_status ffb__pool_init(struct ffb__pool *p, struct ffb_server *srv, uint32_t nworkers, uint32_t spin_ns);
ffb_status ffb__pool_start(struct ffb__pool *p);
/* Let the workers go once the queue is empty, and join them. */
void ffb__pool_stop(struct ffb__pool *p);
void ffb__pool_destroy(struct ffb__pool *p);
/* Reserve a worker for one call: false when every worker is taken. */
bool ffb__pool_reserve(struct ffb__pool *p);
/* A reserved call is done (its callback returned): free the worker and
 * wake any dispatcher starved for one. */
void ffb__pool_release(struct ffb__pool *p);
/* Hand a job to the workers under a reservation (cannot fail). */
void ffb__pool_submit(struct ffb__pool *p, struct ffb__job *job);
/* Queue a job without a reservation (ffb_server_post). */
void ffb__pool_post(struct ffb__pool *p, struct ffb__job *job);

/* defer.c: kept calls and the post stack */
/* Push p on d's post stack and wake d (any thread). */
void ffb__post(struct ffb__dispatcher *d, struct ffb__post *p);
/* Dispatcher: the caller granted n more stream items (n may be 0: only
 * tell a producer that waits); fire the call's credit callback. */
/* ffb_call_finish without its rule for NOT_FOUND (the runtime's own
 * "no such function"). */
void ffb__call_finish(ffb_call *c, ffb_status status);
/* The message a function's own NOT_FOUND gets when it set none. */
#define FFB__OWN_NOT_FOUND "not found (the function's own answer)"
void ffb__call_credit(ffb_call *c, uint32_t n);
void ffb__call_nudge(ffb_call *c);
/* A heap copy of the stack call c (pooled or deferred); NULL on ENOMEM. */
ffb_call *ffb__call_keep(const ffb_call *c);
/* Run a pooled call on a worker (its ffb__job). */
void ffb__call_run_pooled(struct ffb__job *job);
/* Dispatcher: the caller cancelled c (CANCEL, session gone, stop). */
void ffb__call_cancel(ffb_call *c);

/* stream.c (dispatcher): the outgoing queue, stream items */
bool ffb__out_push(struct ffb__session *s, const struct ffb_ring_entry *e, ffb_call *item_of, bool reserved);
/* Push what fits in the ring; true if it pushed anything. */
bool ffb__out_flush(struct ffb__session *s);
void ffb__out_drop(struct ffb__session *s);
void ffb__stream_item(struct ffb__post *post);
/* The kept call (not a CALLV record) with this call id, or NULL. */
ffb_call *ffb__session_find_call(struct ffb__session *s, uint64_t call_id);
void ffb__session_mark_dirty(struct ffb__session *s);

/* scall.c: calls to the client */
ffb_session *ffb__handle_new(struct ffb__session *s);
/* Dispatcher, at adoption: s is served; calls may go through its handle,
 * and ffb_server_sessions lists it. */
void ffb__handle_attach(struct ffb__session *s);
/* Dispatcher: s is not served any more; calls through its handle get `gone`. */
void ffb__handle_detach(struct ffb__session *s, ffb_status gone);
ffb_status ffb__scalls_init(struct ffb__session *s);
void ffb__scalls_destroy(struct ffb__session *s);
void ffb__scall_post(struct ffb__post *post);
void ffb__scall_ctl(struct ffb__post *post);
/* A RESULT or ITEM from the client for one of our calls; false on a
 * violation. */
bool ffb__scall_result(struct ffb__session *s, const struct ffb_ring_entry *e);
bool ffb__scall_item(struct ffb__session *s, const struct ffb_ring_entry *e);
/* End calls past their deadline; the next deadline (0: none). */
uint64_t ffb__scall_expire(struct ffb__session *s, uint64_t now);
/* Every call to the client ends with `why` (the session is over). */
void ffb__scalls_end(struct ffb__session *s, ffb_status why);

/* call.c: the session's server heap, under its lock */
ffb_status ffb__sheap_alloc(struct ffb__session *s, uint32_t len, uint64_t *handle, void **data);
ffb_status ffb__sheap_free(struct ffb__session *s, uint64_t handle, uint8_t from);
ffb_status ffb__sheap_lend(struct ffb__session *s, uint64_t handle);
ffb_status ffb__sheap_transition(struct ffb__session *s, uint64_t handle, uint8_t from, uint8_t to);

#endif /* FFB_SERVER_INTERNAL_H */
