/*
 * server_internal.h — the server object and its sessions, shared by the
 * event loop (server.c), session setup and teardown (session.c) and
 * request dispatch (dispatch.c).
 */
#ifndef FFB_SERVER_INTERNAL_H
#define FFB_SERVER_INTERNAL_H

#include <liburing.h>
#include <sys/socket.h>

#include "internal.h"

/* What an io_uring completion is about: user_data points at one of these. */
enum ffb__op_kind {
	FFB__OP_ACCEPT = 1, /* listening socket accepted a client */
	FFB__OP_NOTIFY,     /* server eventfd: stop requested or inproc adopt */
	FFB__OP_SOCK,       /* session socket readable/hung up */
	FFB__OP_PIDFD,      /* session peer process exited */
	FFB__OP_BELL,       /* session doorbell: futex wait or eventfd poll */
	FFB__OP_RING        /* write to the client's bell finished */
};

struct ffb__op {
	uint8_t kind;
	bool armed;
	struct ffb__session *s; /* NULL for server-wide ops */
};

enum ffb__session_state { FFB__HANDSHAKE = 0, FFB__ACTIVE, FFB__DEAD };

struct ffb__session {
	struct ffb_server *srv;
	struct ffb__session *next, *prev; /* srv->sessions or srv->zombies */
	uint64_t id;
	int state;
	ffb_status refuse;            /* not 0: answer the hello with this, hang up */
	int sock, pidfd, client_bell, server_bell;
	char *base;
	struct ffb_superblock sb;     /* private copy: never read back from the arena */
	struct ffb_ring_cons req;
	struct ffb_ring_prod resp;
	struct ffb__heap client_heap; /* geometry only: the client owns it */
	struct ffb__heap server_heap; /* ours: allocator tables */
	uint64_t deadline_ns;         /* handshake deadline */
	bool blocked;                 /* response ring full: retry on a timer */
	bool ring_again;              /* a wake was asked while a ring was in flight */
	uint64_t ring_one;            /* the 1 written to the client bell */
	int ops_pending;              /* io_uring ops still referencing us */
	struct ffb__op op_sock, op_pidfd, op_bell, op_ring;
};

struct ffb_server {
	struct ffb_server_options opts;
	uid_t *uids;
	struct ffb__registry *reg;
	struct io_uring ring;
	bool futex_ok;
	int listen_fd;
	char *path;
	int notify_fd;
	int stop_flag;                /* atomic */
	bool running;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t adopt_lock;
	int adopt_fds[16];
	unsigned n_adopt;
	struct ffb__session *sessions; /* handshaking and active */
	struct ffb__session *zombies;  /* closed, waiting for their ops */
	uint32_t nsessions;            /* admitted: counts against max_sessions */
	uint32_t nrefusing;            /* refused, waiting to read the hello */
	uint64_t next_session_id;
	uint64_t notify_buf;
	struct ffb__op op_accept, op_notify;
	struct ffb_server_stats stats; /* written by the loop thread only */
};

/* Single-writer counter bump: a relaxed load and store, no locked op on
 * the hot path; readers on other threads use relaxed loads. */
#define FFB__STAT_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)

/* server.c */
struct io_uring_sqe *ffb__server_sqe(struct ffb_server *srv);
void ffb__arm_poll(struct ffb_server *srv, struct ffb__op *op, int fd, unsigned events);

/* session.c */
void ffb__session_accept(struct ffb_server *srv, int fd, bool check_creds);
void ffb__session_on_sock(struct ffb__session *s, int res);
void ffb__session_close(struct ffb__session *s, ffb_status why);
/* An op of a session completed: true if the session is still alive. */
bool ffb__session_op_done(struct ffb__op *op);
void ffb__session_expire_handshakes(struct ffb_server *srv, uint64_t now);
void ffb__session_arm_bell(struct ffb__session *s, uint32_t sleep_on);
void ffb__session_ring_client(struct ffb__session *s);

/* dispatch.c: drain a session's request ring; true if it did anything. */
bool ffb__session_service(struct ffb__session *s);

#endif /* FFB_SERVER_INTERNAL_H */
