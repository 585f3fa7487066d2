/*
 * ffb.h — the public C API of libffb, the ffi-bridge core.
 *
 * A server registers named callbacks and serves sessions over a Unix
 * socket; each session is one sealed memfd arena holding two SPSC rings and
 * two heaps. A client maps the arena, allocates request buffers from the
 * client heap, and invokes callbacks by name without a syscall per call.
 * Buffers are named by generation-tagged handles (ffb_handle), never by
 * pointers that cross the boundary. Every function returns an ffb_status
 * from ffb_status.h unless it says otherwise; none of them aborts on bad
 * input.
 *
 * Threads: an ffb_server may be used from any thread (registration is
 * thread-safe). A running server has a control thread for the socket
 * side (accepts, handshakes, refusals, hang-ups), so no flood of connects
 * delays a call; `dispatchers` threads that serve the rings (each session
 * belongs to one of them, chosen at admission, so every ring keeps one
 * producer and one consumer) and run the *inline* callbacks; and a pool
 * of `workers` threads that run the *pooled* callbacks. Where a callback
 * runs is declared when it is registered (ffb_server_register_flags):
 * inline for callbacks that take microseconds and never block (the
 * built-ins), the pool for anything else, so a slow callback delays no
 * other session. Any callback may keep its call (ffb_call_defer) and
 * answer it later from any thread (ffb_call_finish). An ffb_client is
 * used by one thread at a time (it owns the producer end of the request
 * ring and the consumer end of the response ring); its handlers run on
 * that thread, inside its calls (ffb_client_register).
 */
#ifndef FFB_H
#define FFB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ffb_layout.h"
#include "ffb_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FFB_VERSION_MAJOR 0
#define FFB_VERSION_MINOR 1
#define FFB_VERSION_PATCH 0
#define FFB_VERSION_STRING "0.1.0"

/* The library's version string (static). Any thread. */
const char *ffb_version(void);

/* A buffer in a session arena: 0 is never a valid handle. Handles are only
 * meaningful in the arena that issued them. */
typedef struct ffb_handle {
	uint64_t id;
} ffb_handle;

typedef struct ffb_server ffb_server;
typedef struct ffb_client ffb_client;
typedef struct ffb_call ffb_call;
typedef struct ffb_session ffb_session;

/* ---- diagnostics ------------------------------------------------------ */

enum ffb_log_level { FFB_LOG_ERROR = 0, FFB_LOG_WARN = 1, FFB_LOG_INFO = 2, FFB_LOG_DEBUG = 3 };
typedef void (*ffb_log_fn)(void *ctx, int level, const char *msg);

/* Install the one process-wide log sink (NULL: silent, the default). Call
 * before creating servers or clients. Diagnostics only: no behaviour
 * depends on it. */
void ffb_set_log(ffb_log_fn fn, void *ctx, int max_level);

/* ---- server ----------------------------------------------------------- */

/* A callback: reads its input with ffb_call_data/len, answers with one of
 * ffb_call_reply_* (or nothing: an empty reply), and returns FFB_OK or an
 * error code (optionally with ffb_call_set_error for a message). An
 * inline callback runs on a dispatcher thread and must not block (it
 * delays every session of that dispatcher while it runs; one that runs
 * past inline_budget_ns is counted in slow_inline_calls and logged once);
 * a pooled one runs on a worker and may take as long as it likes. A
 * callback must not unregister callbacks. It may keep its call instead of
 * answering (ffb_call_defer); then its return value is ignored. */
typedef ffb_status (*ffb_callback_fn)(ffb_call *call, void *ctx);

/* Where a callback runs (ffb_server_register_flags). */
enum ffb_callback_flags {
	FFB_CB_INLINE = 0, /* on the dispatcher thread of the calling session */
	FFB_CB_POOL = 1    /* on a worker of the server's pool */
};

struct ffb_server_options {
	uint32_t max_sessions;          /* per-server cap (default 64) */
	uint32_t ring_entries;          /* slots per ring, power of two (256);
					 * also the per-session in-flight cap */
	uint32_t class_counts[FFB_NUM_CLASSES]; /* blocks per size class and heap */
	uint64_t max_arena_size;        /* per-session cap (default 1 GiB) */
	uint32_t socket_mode;           /* listening socket mode (0600) */
	uint32_t spin_ns;               /* busy-poll before parking (50 us) */
	uint32_t handshake_timeout_ms;  /* drop a client with no hello after (1000) */
	uint32_t n_allowed_uids;        /* 0: only the server's own uid */
	const uid_t *allowed_uids;      /* extra uids allowed, copied */
	int use_futex_doorbell;         /* 1: io_uring FUTEX_WAIT where the
					 * kernel has it (default); 0: eventfd */
	uint32_t dispatchers;           /* dispatcher threads, 1..64 (1) */
	uint32_t workers;               /* pool threads, 0..1024 (online
					 * CPUs); 0: no pool, FFB_CB_POOL
					 * registrations are refused */
	uint32_t worker_spin_ns;        /* a worker's busy-poll before it
					 * sleeps (20 us); not used on a
					 * server with no more CPUs than
					 * dispatchers + 1 (then workers
					 * sleep at once: see pool.c) */
	uint32_t inline_budget_ns;      /* an inline callback that runs longer
					 * is slow (200 us) */
	uint32_t max_handshakes;        /* connections waiting for their hello,
					 * in all (256); they never count
					 * against max_sessions */
	uint32_t max_handshakes_per_uid; /* of those, per peer uid (64): a new
					 * one past either cap evicts the
					 * oldest of its uid (of the uid with
					 * the most, past the total) */
};
/* Fill `o` with the defaults listed above. */
void ffb_server_options_init(struct ffb_server_options *o);

/* Create a server with the built-ins "ffi.echo" and "ffi.version"
 * registered. `o` may be NULL for defaults. Errors: INVALID_ARGUMENT (bad
 * options, arena over the cap, a handshake cap of 0 or a per-uid cap over
 * the total), SYSTEM (io_uring setup). */
ffb_status ffb_server_create(const struct ffb_server_options *o, ffb_server **out);

/* Bind and listen on a Unix SOCK_SEQPACKET socket at `path` with the
 * configured mode. A stale socket file nobody listens on is replaced; a
 * live one is not (SYSTEM, errno EADDRINUSE). Call before run/start. */
ffb_status ffb_server_listen(ffb_server *s, const char *path);

/* Serve on `fd`, an already listening Unix SOCK_SEQPACKET socket (one a
 * parent process bound and passed down; see ffb_server_listen_env). The
 * server makes it non-blocking and close-on-exec, owns it from then on
 * and closes it at destroy; it unlinks no file (it never named one). On
 * an error the fd stays the caller's. Call before run/start. Errors:
 * BAD_FD (not a socket, not AF_UNIX SOCK_SEQPACKET, or not listening:
 * errno ENOTSOCK/EBADF, EPROTOTYPE, EINVAL), INVALID_ARGUMENT (fd < 0 or
 * already listening), SYSTEM (fcntl). */
ffb_status ffb_server_listen_fd(ffb_server *s, int fd);

/* Take what a launcher (the Go package's ffb.Start) passed in the
 * environment. Call once, early, before other threads read the
 * environment (it unsets what it read, so the server's own children
 * inherit neither variable):
 * - FFB_PARENT_PID=<pid>: the launcher's pid. Arms a parent-death signal
 *   (prctl PR_SET_PDEATHSIG, SIGTERM, unless one is set already, e.g.
 *   SIGKILL by the launcher), then checks that getppid() is still <pid>
 *   or, with a wrapper in between (sh -c, cargo run), that <pid> still
 *   exists; if the launcher already died (between its fork and this
 *   call) returns PEER_GONE (errno ESRCH) and the caller should exit.
 * - FFB_LISTEN_FD=<fd>: ffb_server_listen_fd(s, fd); *used (may be NULL)
 *   is set to 1. Unset: OK with *used = 0, and the caller listens on a
 *   path of its own.
 * Errors: PEER_GONE, INVALID_ARGUMENT (a value that is not a decimal
 * number), those of ffb_server_listen_fd, SYSTEM (prctl). */
ffb_status ffb_server_listen_env(ffb_server *s, int *used);

/* Register `name` (UTF-8, 1..FFB_MAX_NAME_LEN bytes) -> fn(ctx). Any
 * thread, also while serving. Returns the function id in *fn_id (may be
 * NULL). Errors: INVALID_UTF8, INVALID_ARGUMENT (length), ALREADY_EXISTS,
 * ARENA_FULL (all FFB_MAX_FUNCTIONS slots used or retired). */
ffb_status ffb_server_register(ffb_server *s, const char *name, ffb_callback_fn fn, void *ctx,
			       uint32_t *fn_id);

/* ffb_server_register with `flags` (enum ffb_callback_flags): FFB_CB_POOL
 * runs fn on the worker pool. Same errors, plus INVALID_ARGUMENT for
 * unknown flags or FFB_CB_POOL on a server without workers.
 * ffb_server_register is this with FFB_CB_INLINE. */
ffb_status ffb_server_register_flags(ffb_server *s, const char *name, ffb_callback_fn fn, void *ctx,
				     uint32_t flags, uint32_t *fn_id);

/* Remove `name`. After it returns, the callback is not running and will
 * not run again (it waits for calls of it that run, on any thread);
 * calls to its old id get NOT_FOUND. Calls it kept with ffb_call_defer
 * may still be answered. Any thread except a callback. Errors:
 * NOT_FOUND, INVALID_ARGUMENT (a built-in or from a callback). */
ffb_status ffb_server_unregister(ffb_server *s, const char *name);

/* Look `name` up: its current function id. Any thread. NOT_FOUND. */
ffb_status ffb_server_lookup(ffb_server *s, const char *name, uint32_t *fn_id);

/* Serve until ffb_server_stop(): the calling thread becomes the first
 * dispatcher, and the control thread, the other dispatchers and the
 * workers are started. Blocks. Returns OK after a stop, BUSY if the
 * server is already running, SYSTEM if a thread cannot be started. */
ffb_status ffb_server_run(ffb_server *s);

/* Serve on new threads (control, dispatchers, workers). Returns at once.
 * BUSY if already running, SYSTEM if a thread cannot be started. */
ffb_status ffb_server_start(ffb_server *s);

/* Ask the server to stop: no request is taken off a ring after this.
 * Every kept call is cancelled (ffb_call_cancelled turns true); a
 * callback already running finishes, and the answers of calls that end
 * now are still sent; a session gets its goodbye (CLOSED) once each of
 * its calls has been answered. Any thread, async-signal-safe; does not
 * wait. */
ffb_status ffb_server_stop(ffb_server *s);

/* Stop, join the server's threads (waiting for running callbacks), close
 * every session and the socket (its file is unlinked), free everything.
 * A session whose kept calls are not finished within 5 s of the stop is
 * left behind with the server's memory (logged), so a late
 * ffb_call_finish stays harmless. NULL is ignored. Not from a callback. */
void ffb_server_destroy(ffb_server *s);

/* Run fn(ctx) once on a worker of the pool, as soon as one is free. Any
 * thread, also a callback; does not block. For work a kept call hands on
 * (an executor's tasks). A job posted while the server does not run waits
 * for the next run; one still queued at destroy is dropped, never run.
 * Errors: INVALID_ARGUMENT (no workers), SYSTEM (out of memory). */
ffb_status ffb_server_post(ffb_server *s, void (*fn)(void *ctx), void *ctx);

struct ffb_server_stats {
	uint64_t sessions_active;
	uint64_t sessions_total;     /* handshakes completed */
	uint64_t sessions_refused;   /* credentials, version, caps */
	uint64_t sessions_cut;       /* closed for a protocol violation */
	uint64_t calls;              /* CALL entries dispatched */
	uint64_t protocol_errors;
	uint64_t wakeups_sent;       /* doorbells rung toward clients */
	uint64_t parks;              /* times a dispatcher went to sleep */
	uint64_t pooled_calls;       /* calls handed to the worker pool */
	uint64_t deferred_calls;     /* calls kept with ffb_call_defer */
	uint64_t calls_in_flight;    /* kept calls not answered yet (now) */
	uint64_t cancels;            /* CANCEL entries received */
	uint64_t slow_inline_calls;  /* inline calls over inline_budget_ns */
	uint64_t server_calls;       /* calls the server made to client handlers */
	uint64_t stream_items;       /* stream items sent to clients */
	uint64_t answers_dropped;    /* client answers naming no pending call */
	uint64_t handshakes_dropped; /* connections closed with no hello read:
				      * timed out or evicted */
	uint64_t sessions_handshaking; /* connections whose hello is not read yet (now) */
	uint64_t stats_requests;     /* stats requests answered (not sessions) */
	uint64_t stats_refused;      /* stats requests refused (credentials, malformed) */
	uint64_t pool_waiting;       /* pooled calls waiting for a free worker (now) */
	uint64_t pool_busy;          /* workers running a pooled call (now) */
	uint64_t uptime_ns;          /* since ffb_server_create */
	uint64_t results[FFB_STATS_STATUS_SLOTS]; /* calls answered, by status code
						   * (results[0]: OK; 31: 31 and up) */
};

/* Snapshot of the counters (relaxed reads: each may be a moment older
 * than another). Any thread. */
ffb_status ffb_server_stats(ffb_server *s, struct ffb_server_stats *out);

/* Per-function figures of the registered functions, lowest slot first:
 * up to `max` entries in out[] (names cut to FFB_STATS_NAME_LEN bytes),
 * the number registered in *total (may exceed max; NULL: not wanted).
 * Calls of a function are counted by the dispatchers when answered;
 * the latency histogram is of ns from request taken to answer pushed
 * (the built-ins, ffi.*, take nanoseconds and are counted, not timed; a
 * CALLV's inline records share their vector's time equally).
 * Any thread; takes the registry's lock briefly. */
ffb_status ffb_server_fn_stats(ffb_server *s, struct ffb_stats_fn *out, uint32_t max, uint32_t *n,
			       uint32_t *total);

/* The q-quantile (0 < q <= 1) of a latency histogram, in ns: the upper
 * bound of the bucket it falls in (0 if the histogram is empty). Pure. */
uint64_t ffb_stats_quantile_ns(const uint64_t latency[FFB_STATS_LAT_BUCKETS], double q);

/* Ask the server at socket_path for its counters without becoming a
 * session (a stats request, PROTOCOL.md §2.5): fills *out, up to `max`
 * function entries in fns (may be NULL with max 0), *nfns of them, and
 * *total with the number registered (either may be NULL). Blocks up to
 * timeout_ms (<= 0: 1000). Any thread. Errors: PEER_GONE (no server, or
 * it closed without an answer: an old server may answer VERSION_MISMATCH),
 * PERMISSION_DENIED, PROTOCOL (a malformed reply), TIMEOUT, SYSTEM. */
ffb_status ffb_stats_query(const char *socket_path, int timeout_ms, struct ffb_server_stats *out,
			   struct ffb_stats_fn *fns, uint32_t max, uint32_t *nfns, uint32_t *total);

/* Whether the loop parks on io_uring FUTEX_WAIT (1) or eventfds (0):
 * decided by probing the kernel at create time. */
int ffb_server_uses_futex(const ffb_server *s);

/* ---- inside a callback -------------------------------------------------
 * An ffb_call is valid during the callback that received it, and, once
 * kept with ffb_call_defer, until ffb_call_finish. One thread at a time
 * may use it.
 *
 * The input bytes (ffb_call_data) are in shared memory that the client
 * process maps too: a hostile client can change them at any moment while
 * you read, even twice in one expression, so copy what you need to
 * validate and validate the copy. ffi-bridge's own clients (C, Go, Rust)
 * never write a block they lent to a call until its answer. The same
 * holds for a reply block from ffb_call_reply_alloc: the client cannot
 * know its handle before the answer, but nothing stops a hostile one
 * from writing anywhere in the arena. */

/* Input bytes, their length and the capacity of the input block (what an
 * in-place reply may use). data is NULL when len and capacity are 0. */
void *ffb_call_data(const ffb_call *c);
uint32_t ffb_call_len(const ffb_call *c);
uint32_t ffb_call_capacity(const ffb_call *c);
uint32_t ffb_call_function(const ffb_call *c);
uint64_t ffb_call_session(const ffb_call *c);

/* Reply with the input block itself, `len` bytes of it (zero copy).
 * INVALID_ARGUMENT if len > capacity or there is no input block. */
ffb_status ffb_call_reply_input(ffb_call *c, uint32_t len);

/* Reply with a new server-heap block of `len` bytes; *data points at it
 * for filling. Replaces an earlier reply. ARENA_FULL, BUFFER_TOO_SMALL
 * (len over the largest class). Any thread (the heap has a lock). */
ffb_status ffb_call_reply_alloc(ffb_call *c, uint32_t len, void **data);

/* Shorten the reply set so far (an input or a new block) to `len` bytes,
 * e.g. after filling a block allocated for the most it could need.
 * INVALID_ARGUMENT if len is more than it has. */
ffb_status ffb_call_reply_truncate(ffb_call *c, uint32_t len);

/* ffb_call_reply_alloc + memcpy. */
ffb_status ffb_call_reply_bytes(ffb_call *c, const void *data, uint32_t len);

/* Attach a UTF-8 message to an error answer (truncated to what fits a
 * block; invalid UTF-8 is replaced). The callback still returns the code. */
ffb_status ffb_call_set_error(ffb_call *c, const char *msg);

/* Keep the call past the callback, to answer it later from any thread
 * with ffb_call_finish, exactly once. Returns the call to keep using --
 * it may be a different pointer: `c` is invalid afterwards -- or NULL
 * (out of memory: answer now instead). Only from inside the callback.
 * The input block stays lent to the call until it is finished. Answers
 * of kept calls may come in any order. */
ffb_call *ffb_call_defer(ffb_call *c);

/* Answer a kept call with `status` and the reply set on it (or the error
 * message); `c` is invalid afterwards. Any thread; does not block. If the
 * session ended meanwhile, the answer goes nowhere, harmlessly. */
void ffb_call_finish(ffb_call *c, ffb_status status);

/* Whether the caller cancelled the call: its client gave up on it (a
 * CANCEL entry: a Go context, a client timeout), the session ended, or
 * the server is stopping. Its answer is not wanted any more; finish it
 * soon (e.g. with FFB_ERR_CANCELLED). Any thread. */
int ffb_call_cancelled(const ffb_call *c);

/* Have fn(ctx) called once when the call is cancelled (at once if it
 * already is), until ffb_call_finish returns: after that, never. fn runs
 * on a dispatcher thread and must not block (wake something, set a
 * flag). At most once per call. INVALID_ARGUMENT if already set. */
ffb_status ffb_call_on_cancel(ffb_call *c, void (*fn)(void *ctx), void *ctx);

/* ---- streams: a call answered with many items --------------------------
 * A client may call a function as a stream (PROTOCOL.md §5.7): the
 * callback then sends items with ffb_call_item, as the client's credit
 * allows, and ends the stream by answering (ffb_call_finish, or by
 * returning): that RESULT comes after every item. A stream call is always
 * kept: an inline stream callback gets a kept call and must answer it
 * with ffb_call_finish (or ffb_call_defer it and return). */

/* Whether the caller asked for a stream. */
int ffb_call_is_stream(const ffb_call *c);

/* Items the caller allows now (its credit, less what waits to be sent).
 * Any thread. */
uint32_t ffb_call_credit(const ffb_call *c);

/* Send one item: a copy of `len` bytes in a new server block. Any thread
 * (one at a time), until ffb_call_finish. Errors: WOULD_BLOCK (no credit:
 * ffb_call_on_credit tells when there is), CANCELLED (the caller gave
 * up), ARENA_FULL / BUFFER_TOO_SMALL (no block: retry after some credit
 * came back), INVALID_ARGUMENT (not a stream call). */
ffb_status ffb_call_item(ffb_call *c, const void *data, uint32_t len);

/* Have fn(ctx) called once, on a dispatcher, when the caller grants
 * credit (at once if there is some) or cancels; call it again for the
 * next time. Never after ffb_call_finish returned. fn must not block. */
ffb_status ffb_call_on_credit(ffb_call *c, void (*fn)(void *ctx), void *ctx);

/* ---- calls from the server to its clients -------------------------------
 * A client may register handlers of its own (Go Client.Handle, C
 * ffb_client_register, Rust Client::register); the server calls them by
 * name, on the session of the client that registered them (PROTOCOL.md
 * §5.8). An ffb_session is a counted reference to a session: valid after
 * the session ended (calls then answer PEER_GONE or CLOSED), freed by the
 * last ffb_session_unref. Answers come to callbacks that run on the
 * session's dispatcher thread and must not block; the bytes they get are
 * valid during the callback only. */

/* The session of a call (a new reference; NULL if c is NULL). Any thread
 * that may use c. */
ffb_session *ffb_call_session_ref(const ffb_call *c);

/* References to the server's active sessions: up to `max` into out[],
 * *n of them. Any thread. */
ffb_status ffb_server_sessions(ffb_server *s, ffb_session **out, uint32_t max, uint32_t *n);

ffb_session *ffb_session_ref(ffb_session *s);
void ffb_session_unref(ffb_session *s);
uint64_t ffb_session_id(const ffb_session *s);

/* The answer to a call the server made: status, and the reply (or the
 * UTF-8 error message when status != OK), valid during the callback. */
typedef void (*ffb_answer_fn)(void *ctx, ffb_status status, const void *data, uint32_t len);

/* One item of a stream the server asked for, valid during the callback.
 * Grant credit for more with ffb_session_credit (the stream starts with
 * FFB_STREAM_INITIAL_CREDIT). */
typedef void (*ffb_item_fn)(void *ctx, const void *data, uint32_t len);

/* Call the client handler `name` of session `s` with a copy of `len`
 * bytes; done(ctx, ...) runs exactly once with its answer, or with
 * TIMEOUT (timeout_ns, < 0: none), NOT_FOUND (no such handler),
 * PEER_GONE (the client went), CLOSED (the server stops), CANCELLED
 * (ffb_session_cancel). *id (may be NULL) names the call for cancel and
 * credit. Any thread, also a callback; does not block. Errors (done is
 * then not called): INVALID_ARGUMENT (name), ARENA_FULL (no block for
 * the input), PEER_GONE, CLOSED, SYSTEM. */
ffb_status ffb_session_call(ffb_session *s, const char *name, const void *data, uint32_t len, int64_t timeout_ns,
			    ffb_answer_fn done, void *ctx, uint64_t *id);

/* ffb_session_call as a stream: item(ctx, ...) for each item, in order,
 * then done(ctx, ...) once with the stream's end. */
ffb_status ffb_session_stream(ffb_session *s, const char *name, const void *data, uint32_t len, int64_t timeout_ns,
			      ffb_item_fn item, ffb_answer_fn done, void *ctx, uint64_t *id);

/* A notification: call `name` with a copy of the bytes, no answer. */
ffb_status ffb_session_notify(ffb_session *s, const char *name, const void *data, uint32_t len);

/* Give up on call `id` of s (its done gets CANCELLED, the client's
 * handler sees its context cancelled); grant a stream call `n` more
 * items. Any thread; harmless for an id that is over. */
ffb_status ffb_session_cancel(ffb_session *s, uint64_t id);
ffb_status ffb_session_credit(ffb_session *s, uint64_t id, uint32_t n);

/* ---- client ----------------------------------------------------------- */

enum ffb_wait_mode {
	FFB_WAIT_PARK = 0, /* spin spin_ns, then sleep on the doorbell */
	FFB_WAIT_SPIN = 1  /* never sleep (lowest latency, burns a core) */
};

struct ffb_client_options {
	uint32_t connect_timeout_ms; /* deadline of connect() and handshake (5000) */
	uint32_t spin_ns;            /* spin before parking (50 us) */
	uint32_t wait_mode;          /* enum ffb_wait_mode */
};

void ffb_client_options_init(struct ffb_client_options *o);

/* Connect to the server at `path`, check the arena fd (memfd, exact seals,
 * size) before mapping it, then the superblock. Errors: SYSTEM (connect),
 * PERMISSION_DENIED, VERSION_MISMATCH, TOO_MANY_SESSIONS, BAD_FD,
 * PROTOCOL, TIMEOUT (also while the server's listen backlog stays full).
 * Blocks up to the connect timeout, connect() included. */
ffb_status ffb_client_connect(const char *path, const struct ffb_client_options *o, ffb_client **out);

/* Close the session: unmap, close fds. Pending calls are abandoned.
 * NULL is ignored. */
void ffb_client_close(ffb_client *c);

/* Allocate a client-heap block of at least `size` bytes (0 gives the
 * smallest class). ARENA_FULL, BUFFER_TOO_SMALL (over 16 MiB). */
ffb_status ffb_client_alloc(ffb_client *c, uint32_t size, ffb_handle *out);

/* Free a block you hold: one you allocated, or a reply the server gave you
 * (sent back with a batched RELEASE entry). STALE_HANDLE, DOUBLE_FREE,
 * INVALID_HANDLE, FOREIGN_HANDLE, BUSY (lent to an in-flight call). */
ffb_status ffb_client_free(ffb_client *c, ffb_handle h);

/* Checked lookup: the bytes of a block you hold and its capacity. Same
 * errors as free. Server reply blocks are readable and writable. */
ffb_status ffb_client_data(ffb_client *c, ffb_handle h, void **data, uint32_t *capacity);

/* Resolve a callback name to its function id (cached after the first
 * time). NOT_FOUND, INVALID_UTF8, INVALID_ARGUMENT, PEER_GONE, TIMEOUT. */
ffb_status ffb_client_resolve(ffb_client *c, const char *name, uint32_t *fn_id);

/* The outcome of a call. status OK: handle/len is the reply (0/0 for an
 * empty one; the input handle itself for a zero-copy reply). Otherwise,
 * if handle is not 0 it holds a UTF-8 error message of len bytes. Any
 * non-zero handle is yours to free. */
typedef struct ffb_result {
	ffb_status status;
	uint32_t len;
	ffb_handle handle;
} ffb_result;

/* Call function `fn_id` with `len` bytes of block `in` (in may be {0} with
 * len 0) and wait up to timeout_ns (< 0: forever). The input block is lent
 * to the server until the answer and is yours again afterwards — except
 * after TIMEOUT, or when the session ended before the answer (PEER_GONE,
 * CLOSED, PROTOCOL): then it is given up (freed when a late answer comes,
 * or with the session; ffb_client_free says BUSY meanwhile). Returns out->status: the callback's
 * status, or the transport's (TIMEOUT, PEER_GONE, PROTOCOL, RING_FULL,
 * TOO_MANY_CALLS, a handle error for `in`). */
ffb_status ffb_client_call(ffb_client *c, uint32_t fn_id, ffb_handle in, uint32_t len, int64_t timeout_ns,
			   ffb_result *out);

/* Resolve `name` (cached) and call it; re-resolves once if the cached id
 * went stale (the name was re-registered). */
ffb_status ffb_client_invoke(ffb_client *c, const char *name, ffb_handle in, uint32_t len, int64_t timeout_ns,
			     ffb_result *out);

/* Pipelining: queue a call without waiting. Returns its call id. Does not
 * ring the server's doorbell until ffb_client_flush (or a poll). Errors:
 * TOO_MANY_CALLS (in-flight cap), RING_FULL, BUSY/STALE_HANDLE (input). */
ffb_status ffb_client_submit(ffb_client *c, uint32_t fn_id, ffb_handle in, uint32_t len, uint64_t *call_id);

/* Tell the server the caller gave up on pending call `call_id` (a CANCEL
 * entry, sent now or with the next flush if the ring is full): its
 * handler sees ffb_call_cancelled. The call still completes once, through
 * ffb_client_poll (often with CANCELLED); a synchronous call that times
 * out is cancelled this way by itself. NOT_FOUND if the id is not
 * pending. */
ffb_status ffb_client_cancel(ffb_client *c, uint64_t call_id);

/* Publish submitted calls and wake the server if it sleeps. */
ffb_status ffb_client_flush(ffb_client *c);

struct ffb_completion {
	uint64_t call_id;
	ffb_result result;
};

/* Collect up to `max` finished calls into out[], waiting up to timeout_ns
 * (0: don't wait; < 0: forever) for the first. *n is how many. Flushes
 * first. When the server is gone, each pending call completes once with
 * status PEER_GONE (or the server's goodbye reason). WOULD_BLOCK when
 * nothing submitted is pending (or none finished and timeout_ns is 0),
 * TIMEOUT when none finished in time. */
ffb_status ffb_client_poll(ffb_client *c, struct ffb_completion *out, uint32_t max, uint32_t *n, int64_t timeout_ns);

struct ffb_client_stats {
	uint64_t calls;
	uint64_t pending;
	uint64_t dropped_responses;  /* late, duplicate or forged call ids */
	uint64_t protocol_errors;
	uint64_t parks;
	uint64_t served_calls;       /* the server's calls handlers answered */
};

ffb_status ffb_client_stats(ffb_client *c, struct ffb_client_stats *out);

/* Layout facts of this session (offsets, sizes); for tests and tools. */
const struct ffb_superblock *ffb_client_superblock(const ffb_client *c);

/* ---- handlers: the server's calls to this client ------------------------
 * A client may register handlers by name (PROTOCOL.md §5.8); the server
 * calls them (ffb_session_call, _stream, _notify). Where they run: the C
 * client has no thread of its own, so a handler runs on the thread that
 * uses the client, inside the client's own calls -- ffb_client_serve,
 * ffb_client_poll, and the waits of ffb_client_call, _invoke, _resolve
 * and ffb_request_item. A call of the server's that comes while that
 * thread waits for an answer of its own is run there and then, so a
 * server callback that calls back into its calling client before it
 * answers (the common nesting) never deadlocks it. A program that
 * registers handlers and otherwise only waits calls ffb_client_serve in a
 * loop; calls that come while no client function runs wait in the ring
 * (the server's timeout applies). Handlers may call the server through
 * the same client (nested calls, up to 16 handlers deep; deeper, a call
 * waits for the outer ones to return) but must not close it. A handler
 * answers once, by returning: OK with the reply set (none: an empty
 * reply), or an error code with an optional message. No handler runs
 * after the session ended. */

typedef struct ffb_request ffb_request;

/* A handler: reads the input (ffb_request_data), sets a reply or sends
 * items, and returns the call's status. Returning NOT_FOUND with no
 * message answers NOT_FOUND with a message ("not found (the handler's own
 * answer)"), so the server does not take it for an unknown id and call
 * again (§7). */
typedef ffb_status (*ffb_client_handler_fn)(ffb_request *r, void *ctx);

/* How a handler is called (ffb_client_register_flags). */
enum ffb_handler_flags {
	FFB_HANDLER_ONCE = 0,  /* answered by one reply (ffb_session_call, _notify) */
	FFB_HANDLER_STREAM = 1 /* answered by items, then the end (ffb_session_stream) */
};

/* Register fn(ctx) as the handler of `name` (UTF-8 without NUL, 1..
 * FFB_MAX_NAME_LEN bytes); registering a name again replaces its handler
 * (under a new id: the server looks it up again). The thread that uses
 * the client, also a handler. Errors: NULL_POINTER, INVALID_ARGUMENT
 * (length), INVALID_UTF8, ARENA_FULL (FFB_MAX_FUNCTIONS names), SYSTEM. */
ffb_status ffb_client_register(ffb_client *c, const char *name, ffb_client_handler_fn fn, void *ctx);

/* ffb_client_register with `flags` (enum ffb_handler_flags): a
 * FFB_HANDLER_STREAM handler answers stream calls only, a plain one plain
 * calls and notifications; the other kind gets NOT_FOUND. Same errors,
 * plus INVALID_ARGUMENT for unknown flags. */
ffb_status ffb_client_register_flags(ffb_client *c, const char *name, ffb_client_handler_fn fn, void *ctx,
				     uint32_t flags);

/* Remove the handler of `name`: the server's next call of its id gets
 * NOT_FOUND; a call of it that runs finishes. NOT_FOUND if none. */
ffb_status ffb_client_unregister(ffb_client *c, const char *name);

/* Run the handlers of the server's calls that came, waiting up to
 * timeout_ns (0: don't wait; < 0: forever) for one if none did. Flushes
 * first. OK once at least one ran, WOULD_BLOCK (timeout 0) or TIMEOUT
 * when none did, or the session's end (PEER_GONE, CLOSED, PROTOCOL). */
ffb_status ffb_client_serve(ffb_client *c, int64_t timeout_ns);

/* ---- inside a handler ----------------------------------------------------
 * An ffb_request is valid while its handler runs, on that thread. Its
 * input is the server's block, in shared memory that the server maps
 * too: copy what you validate, as in a server callback. */

const void *ffb_request_data(const ffb_request *r); /* NULL when len is 0 */
uint32_t ffb_request_len(const ffb_request *r);
int ffb_request_is_stream(const ffb_request *r);
/* Whether the answer is not wanted any more (the server cancelled the
 * call, or the session ended): answer soon, e.g. FFB_ERR_CANCELLED. */
int ffb_request_cancelled(const ffb_request *r);
ffb_client *ffb_request_client(const ffb_request *r);

/* Reply with a new client block of `len` bytes (*data points at it for
 * filling), a copy of `len` bytes, or the server's input block itself
 * (zero copy, len <= its capacity). Each replaces an earlier reply.
 * ARENA_FULL, BUFFER_TOO_SMALL, INVALID_ARGUMENT (no input block, len
 * over it). */
ffb_status ffb_request_reply_alloc(ffb_request *r, uint32_t len, void **data);
ffb_status ffb_request_reply_bytes(ffb_request *r, const void *data, uint32_t len);
ffb_status ffb_request_reply_input(ffb_request *r, uint32_t len);

/* Attach a UTF-8 message (truncated to 4096 bytes) to an error answer;
 * the handler still returns the code. ARENA_FULL (then the code goes
 * alone). */
ffb_status ffb_request_set_error(ffb_request *r, const char *msg);

/* Items the server allows now (a stream's credit). */
uint32_t ffb_request_credit(const ffb_request *r);

/* Send one item of a stream call: a copy of `len` bytes in a new client
 * block. Waits up to timeout_ns (< 0: forever) while the server grants no
 * credit, running other calls' handlers meanwhile. Errors: CANCELLED (the
 * server gave up), TIMEOUT, INVALID_ARGUMENT (not a stream call),
 * ARENA_FULL, BUFFER_TOO_SMALL, the session's end. */
ffb_status ffb_request_item(ffb_request *r, const void *data, uint32_t len, int64_t timeout_ns);

/* ---- in-process pair -------------------------------------------------- */

/* A client connected to `s` through a socketpair inside this process: the
 * same handshake, arena and rings, no listening socket. The server must
 * be running (ffb_server_start) or be run by another thread. */
ffb_status ffb_server_connect_inproc(ffb_server *s, const struct ffb_client_options *o, ffb_client **out);

#ifdef __cplusplus
}
#endif
#endif /* FFB_H */
