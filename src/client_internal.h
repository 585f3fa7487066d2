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
};

/* client.c */
/* Make room for one RELEASE (SYSTEM on ENOMEM); then queue it (cannot fail). */
ffb_status ffb__client_reserve_release(ffb_client *c);
void ffb__client_queue_release(ffb_client *c, uint64_t handle);

/* client_call.c */
void ffb__client_drain(ffb_client *c);
/* The session is over: every call still waiting completes once with `why`. */
void ffb__client_fail_all(ffb_client *c, ffb_status why);

#endif /* FFB_CLIENT_INTERNAL_H */
