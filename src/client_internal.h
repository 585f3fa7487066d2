/*
 * client_internal.h — the client object, shared by the session
 * (client.c: connect, handshake, the heaps and held server blocks, close)
 * and the calls (client_call.c: submit, completions, waiting, and ending
 * every pending call when the session ends).
 */
#ifndef FFB_CLIENT_INTERNAL_H
#define FFB_CLIENT_INTERNAL_H

#include "internal.h"

enum pending_state { P_FREE = 0, P_WAITING, P_DONE, P_ABANDONED };

/* One slot of the resolve registry: a call between submit and delivery. */
struct pending {
	uint32_t gen;          /* call id generation; never 0 once used */
	uint8_t state;         /* enum pending_state */
	bool async;            /* collected by ffb_client_poll, not a waiter */
	bool lookup;           /* a LOOKUP: an OK result names a function id */
	uint64_t in_handle;    /* client block lent with the call, or 0 */
	ffb_result result;
	uint32_t fn_id;        /* the id a LOOKUP answered */
};

struct name_cache_entry {
	uint32_t len;
	uint32_t id;
	char name[FFB_MAX_NAME_LEN + 1];
};

#define FFB__NAME_CACHE 64

/* The server's calls this client runs at once (as the Go client); past
 * it a call is answered TOO_MANY_CALLS. */
#define FFB__MAX_SERVED 256u
/* Handlers nested in the waits of other handlers' calls, at most. */
#define FFB__SERVE_DEPTH 16u

enum served_state { SV_FREE = 0, SV_QUEUED, SV_RUNNING };

/* A registered handler; its function id is gen << 16 | slot. */
struct handler {
	uint32_t gen;          /* never 0 once used; a slot at 0xffff is retired */
	bool used, stream;
	uint8_t len;
	ffb_client_handler_fn fn;
	void *ctx;
	char name[FFB_MAX_NAME_LEN + 1];
};

/* One call of the server's, from its CALL until its answer. */
struct ffb_request {
	ffb_client *c;
	uint64_t id;           /* the server's call id (kind once, stream, notify) */
	uint64_t in_handle;    /* the server's block we hold, or 0 */
	uint32_t in_len, in_cap;
	const void *in_data;
	uint32_t credit;       /* streams: items the server still takes */
	uint8_t state;         /* enum served_state */
	bool cancelled;
	uint64_t reply;        /* a client block (OWNED) or the input, or 0 */
	uint32_t reply_len;
	uint64_t msg;          /* a client block holding the error message, or 0 */
	uint32_t msg_len;
	ffb_client_handler_fn fn;
	void *ctx;
};

struct ffb_client {
	int sock, client_bell, server_bell;
	char *base;
	struct ffb_superblock sb;    /* private, validated copy */
	bool futex;                  /* wake the server with FUTEX_WAKE */
	struct ffb_client_options opts;
	struct ffb_ring_prod req;
	struct ffb_ring_cons resp;
	struct ffb__heap own;        /* client heap: ours */
	struct ffb__heap peer;       /* server heap: geometry + what we hold */
	struct pending *slots;
	uint32_t nslots;
	uint32_t *free_slots, free_top;
	uint32_t *done_q;            /* async completions, FIFO of nslots slots */
	uint32_t done_rd, done_wr;   /* its positions, < nslots (which need not be a power of two) */
	uint32_t done_head, done_tail; /* free-running counts of completions taken and put */
	uint32_t async_pending;      /* async calls not yet collected */
	uint64_t *releases;          /* server blocks to give back */
	uint32_t nrel, relcap;
	uint64_t *cancels;           /* call ids to send CANCEL for (at most nslots) */
	uint32_t ncancel;
	ffb_status dead;             /* 0 while the session lives */
	uint64_t next_sock_check;
	struct name_cache_entry cache[FFB__NAME_CACHE];
	uint32_t cache_next;
	struct ffb_client_stats stats;
	/* handlers (client_serve.c) */
	struct handler *handlers;
	uint32_t nhandlers;
	struct ffb_request *served;  /* FFB__MAX_SERVED, allocated at the first register */
	uint32_t served_q[FFB__MAX_SERVED]; /* queued calls, FIFO */
	uint32_t sq_rd, sq_n;
	uint32_t served_active;
	uint32_t serve_depth;
	uint64_t served_runs;        /* handlers run so far */
	struct ffb_ring_entry *outq; /* answers and items to send, FIFO */
	uint32_t out_rd, out_n, out_cap; /* out_cap a power of two */
};

/* client.c */
/* Make room for one RELEASE (SYSTEM on ENOMEM); then queue it (cannot fail). */
ffb_status ffb__client_reserve_release(ffb_client *c);
void ffb__client_queue_release(ffb_client *c, uint64_t handle);

/* client_call.c */
void ffb__client_drain(ffb_client *c);
typedef bool (*ffb__done_fn)(ffb_client *c, uint32_t arg);
/* Drain, run handlers and wait (spin, then park) until done(c, arg) or
 * `deadline` (TIMEOUT) or the session's end (its status). */
ffb_status ffb__client_wait(ffb_client *c, ffb__done_fn done, uint32_t arg, uint64_t deadline);
void ffb__client_fail_protocol(ffb_client *c);

/* client_serve.c */
/* An entry about one of the server's calls (LOOKUP, CALL, CANCEL,
 * CREDIT), or a RELEASE: validated once, then queued or applied. */
void ffb__client_served_entry(ffb_client *c, const struct ffb_ring_entry *e);
/* Run queued handlers (none past FFB__SERVE_DEPTH or on a dead session). */
void ffb__client_run_served(ffb_client *c);
/* Push queued answers while the request ring has room; false on a
 * corrupt ring. */
bool ffb__client_push_out(ffb_client *c);
/* The session is over: drop what waits to be sent, cancel every call. */
void ffb__client_served_end(ffb_client *c);
void ffb__client_served_free(ffb_client *c);
/* The session is over: every call still waiting completes once with `why`. */
void ffb__client_fail_all(ffb_client *c, ffb_status why);

#endif /* FFB_CLIENT_INTERNAL_H */
