/*
 * server_internal.h — the server object and its sessions.
 *
 * A server runs two threads. The control thread (control.c) owns the
 * listening socket and every session's socket and pidfd: it admits or
 * refuses clients, runs handshakes, notices peers that die, says goodbye
 * and frees sessions. The dispatcher thread (dispatcher.c) owns the rings
 * of the sessions handed to it: it serves requests (dispatch.c), parks on
 * their doorbells and wakes their clients. So a flood of connects costs
 * the dispatcher nothing, and the hot path never makes a socket call.
 *
 * The two meet only in the mailboxes (mailbox.c). A session's fields are
 * split by owner below; the handshake's writes reach the dispatcher
 * through the mailbox lock, like every message after it.
 */
#ifndef FFB_SERVER_INTERNAL_H
#define FFB_SERVER_INTERNAL_H

#include <liburing.h>
#include <sys/socket.h>

#include "internal.h"

/* What an io_uring completion is about: user_data points at one of these. */
enum ffb__op_kind {
	FFB__OP_ACCEPT = 1, /* control: listening socket accepted a client */
	FFB__OP_NOTIFY,     /* control: stop, inproc adopt, or mail */
	FFB__OP_SOCK,       /* control: session socket readable/hung up */
	FFB__OP_PIDFD,      /* control: session peer process exited */
	FFB__OP_INBOX,      /* dispatcher: mail from the control thread */
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
	FFB__MAIL_DETACH = 2,   /* to dispatcher: stop serving, cancel ops, say DETACHED */
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

struct ffb__session {
	/* Set by the control thread before the handover; then read-only. */
	struct ffb_server *srv;
	uint64_t id;
	int client_bell, server_bell;
	char *base;
	struct ffb_superblock sb;     /* private copy: never read back from the arena */
	struct ffb__heap client_heap; /* geometry only: the client owns it */

	/* Control thread only. */
	struct ffb__session *next, *prev; /* srv->sessions or srv->zombies */
	int state;
	ffb_status refuse;            /* not 0: answer the hello with this, hang up */
	int sock, pidfd;
	uint64_t deadline_ns;         /* handshake deadline */
	bool awaiting_detached;       /* handed over, DETACH sent, no DETACHED yet */
	ffb_status goodbye;           /* closing: the status to say goodbye with */
	int ops_pending;              /* control io_uring ops still referencing us */
	struct ffb__op op_sock, op_pidfd;

	/* Dispatcher thread only (after ADOPT, until it sends DETACHED). */
	struct ffb__session *d_next, *d_prev; /* d->sessions or d->zombies */
	int serving;                  /* enum ffb__serving */
	struct ffb_ring_cons req;
	struct ffb_ring_prod resp;
	struct ffb__heap server_heap; /* ours: allocator tables */
	bool blocked;                 /* response ring full: retry on a timer */
	bool ring_again;              /* a wake was asked while a ring was in flight */
	uint64_t ring_one;            /* the 1 written to the client bell */
	int d_ops_pending;            /* dispatcher io_uring ops still referencing us */
	struct ffb__op op_bell, op_ring;

	/* Mail (mailbox.c): mail_* under the mailbox's lock, got_* the reader's. */
	struct ffb__session *mail_next[2], *got_next[2];
	uint8_t mail[2], got[2];
	bool mail_linked[2];
};

/* The dispatcher thread: the rings of the sessions it was handed. */
struct ffb__dispatcher {
	struct ffb_server *srv;
	struct io_uring ring;
	struct ffb__mailbox inbox;    /* ADOPT, DETACH */
	struct ffb__op op_inbox;
	uint64_t inbox_buf;
	struct ffb__session *sessions; /* serving */
	struct ffb__session *zombies;  /* failed or detaching, ops in flight */
	pthread_t thread;
	struct ffb_server_stats stats; /* calls, protocol_errors, wakeups_sent, parks */
};

struct ffb_server {
	struct ffb_server_options opts;
	uid_t *uids;
	struct ffb__registry *reg;
	bool futex_ok;
	char *path;
	int stop_flag;                /* atomic */
	bool running;                 /* atomic */
	int control_done;             /* atomic: the control thread has freed every session */

	/* the control thread */
	struct io_uring ring;
	int listen_fd;
	struct ffb__mailbox inbox;    /* FAILED, DETACHED; its fd is the notify eventfd */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t adopt_lock;
	int adopt_fds[16];
	unsigned n_adopt;
	struct ffb__session *sessions; /* handshaking and active */
	struct ffb__session *zombies;  /* closed, waiting for ops or DETACHED */
	uint32_t nsessions;            /* admitted: counts against max_sessions */
	uint32_t nrefusing;            /* refused, waiting to read the hello */
	uint64_t next_session_id;
	uint64_t notify_buf;
	struct ffb__op op_accept, op_notify;
	struct ffb_server_stats stats; /* sessions_*, protocol_errors of handshakes */

	struct ffb__dispatcher disp;
};

/* Single-writer counter bump: a relaxed load and store, no locked op on
 * the hot path; readers on other threads use relaxed loads. Each thread
 * has its own stats block (ffb_server_stats sums them). */
#define FFB__STAT_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)

/* server.c */
struct io_uring_sqe *ffb__sqe(struct io_uring *ring);
void ffb__arm_poll(struct io_uring *ring, struct ffb__op *op, int *pending, int fd, unsigned events);
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
void ffb__session_expire_handshakes(struct ffb_server *srv, uint64_t now);

/* dispatcher.c (dispatcher thread) */
int ffb__dispatcher_init(struct ffb__dispatcher *d, struct ffb_server *srv);
void ffb__dispatcher_destroy(struct ffb__dispatcher *d);
void ffb__dispatcher_run(struct ffb__dispatcher *d);
/* The rings of s broke the protocol: stop serving it, tell control. */
void ffb__dispatcher_fail(struct ffb__session *s);
void ffb__session_ring_client(struct ffb__session *s);

/* dispatch.c: drain a session's request ring; true if it did anything. */
bool ffb__session_service(struct ffb__session *s);

#endif /* FFB_SERVER_INTERNAL_H */
