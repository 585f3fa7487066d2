/*
 * ffb_layout.h — every byte that crosses a process boundary.
 *
 * The session arena (a sealed memfd), the ring control words and entries,
 * the handle and function-id bit layouts, and the handshake messages sent
 * over the Unix socket. PROTOCOL.md explains each field; this header pins
 * them with _Static_assert. It is the one definition of these bytes: Go's
 * and Rust's constants and mirror structs and PROTOCOL.md's tables are
 * generated from it (`make gen`, mk/gen); a field's doc comment (opened
 * with slash-star-star-<) is its note there. All fields are little-endian
 * fixed-width integers; the arena holds offsets only, never pointers.
 * Changing anything here means bumping FFB_LAYOUT_VERSION.
 */
#ifndef FFB_LAYOUT_H
#define FFB_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define FFB_LAYOUT_VERSION 4u

/* ASCII tags read as little-endian u64. */
#define FFB_ARENA_MAGIC        0x414E455241424646ull /* "FFBARENA" */
#define FFB_SERVER_HELLO_MAGIC 0x4F4C4C4548424646ull /* "FFBHELLO" */
#define FFB_CLIENT_HELLO_MAGIC 0x4E45494C43424646ull /* "FFBCLIEN" */
#define FFB_GOODBYE_MAGIC      0x4559424447424646ull /* "FFBGDBYE" */
#define FFB_STATS_HELLO_MAGIC  0x5354415453424646ull /* "FFBSTATS" */
#define FFB_STATS_REPLY_MAGIC  0x594C504553424646ull /* "FFBSREPY" */

/* ---- arena geometry --------------------------------------------------- */

#define FFB_SUPERBLOCK_SIZE    1024u
#define FFB_REGION_ALIGN       4096u   /* rings and class regions start on pages */
#define FFB_MAX_CLASSES        16u     /* 4 bits of class in a handle */
#define FFB_NUM_CLASSES        10u     /* classes in use: 64 B << 2k, k = 0..9 */
#define FFB_MIN_BLOCK_SHIFT    6u      /* smallest block: 64 bytes */
#define FFB_CLASS_SHIFT_STEP   2u      /* each class is 4x the previous */
#define FFB_MAX_BLOCK_SIZE     (1u << 24) /* 16 MiB, class 9 */
#define FFB_MAX_BLOCKS         (1u << 18) /* 18 bits of index in a handle */
#define FFB_MAX_ARENA_SIZE     (1ull << 36) /* 64 GiB: sanity bound for peers */
#define FFB_MIN_RING_ENTRIES   2u
#define FFB_MAX_RING_ENTRIES   65536u

/* block size of class k (k < FFB_NUM_CLASSES) */
#define FFB_CLASS_BLOCK_SIZE(k) (1u << (FFB_MIN_BLOCK_SHIFT + FFB_CLASS_SHIFT_STEP * (k)))

/* Heap numbers as carried in a handle; index into ffb_superblock.heaps is
 * heap - 1. */
#define FFB_HEAP_CLIENT 1u  /* allocated by the client: request payloads */
#define FFB_HEAP_SERVER 2u  /* allocated by the server: reply payloads */

/* One size class of one heap: `count` blocks of `block_size` bytes,
 * contiguous from `offset` (arena-relative). */
struct ffb_class_desc {
	uint64_t offset;
	uint32_t block_size;
	uint32_t count;
};

/* One heap: its byte range and its classes. Classes past `nclasses` are
 * zero. Who may allocate from it is fixed by the heap number, and the
 * allocator state (free lists, generations) is private to that owner. */
struct ffb_heap_desc {
	uint32_t nclasses;
	uint32_t reserved0;
	uint64_t offset;
	uint64_t size;
	uint64_t reserved1;
	struct ffb_class_desc classes[FFB_MAX_CLASSES];
};

/* Superblock flags */
#define FFB_SB_FUTEX_DOORBELL 0x1u /* client wakes the server with FUTEX_WAKE
				    * on the request ring's p_tail; else by
				    * writing the server-doorbell eventfd */
#define FFB_SB_VECTOR_CALLS   0x2u /* the server takes CALLV requests */

/* The superblock at arena offset 0. Written once by the server before the
 * memfd is sealed and sent; the client copies it to private memory,
 * validates it, and never reads it again. */
struct ffb_superblock {
	uint64_t magic;              /**< FFB_ARENA_MAGIC */
	uint32_t layout_version;     /**< FFB_LAYOUT_VERSION */
	uint32_t superblock_size;    /**< FFB_SUPERBLOCK_SIZE */
	uint64_t arena_size;         /**< == memfd size */
	uint32_t flags;              /**< FFB_SB_* */
	uint32_t max_inflight;       /**< calls a client may have outstanding */
	uint64_t session_id;
	uint32_t arena_tag;          /**< 1..255, carried in every handle */
	uint32_t reserved0;
	uint64_t req_ring_offset;    /**< client -> server */
	uint32_t req_ring_entries;
	uint32_t resp_ring_entries;
	uint64_t resp_ring_offset;   /**< server -> client */
	uint64_t reserved1[7];
	struct ffb_heap_desc heaps[2]; /**< [0] client heap, [1] server heap */
	uint64_t reserved2[40];
};

/* ---- rings ------------------------------------------------------------ */

/* Ring control block, at the ring's offset; entries follow at +384.
 * Each word has a cache-line pair (128 bytes: adjacent-line prefetch) of
 * its own: the two sides never write the same pair, and the producer's
 * load of c_needs_wakeup after every publish does not pull in c_head, so
 * the consumer's c_head store stays a local hit instead of waiting for
 * the line ahead of its next entry stamp. Indices are free-running u32,
 * compared by unsigned difference and used `& (entries - 1)`. Ordering
 * rules: ring/ORDERING.md. */
struct ffb_ring_ctl {
	uint32_t p_tail;             /**< producer: next slot to fill; futex word */
	uint32_t p_reserved[31];
	uint32_t c_head;             /**< consumer: next slot to read */
	uint32_t c_reserved[31];
	uint32_t c_needs_wakeup;     /**< consumer: 1 = parked or about to park */
	uint32_t w_reserved[31];
};

#define FFB_RING_CTL_SIZE   384u
#define FFB_RING_ENTRY_SIZE 32u

/* Entry kinds (ffb_ring_entry.kind). Calls go both ways: the client calls
 * the server on the request ring (and the server answers on the response
 * ring); the server calls the client on the response ring (and the
 * client answers on the request ring). A call id's direction bit says
 * whose call an entry is about (FFB_CALL_DIR). "Sender" is the side that
 * produces the ring the entry is on. */
#define FFB_KIND_CALL    1u /* the sender's call of fn `fn_or_status` on (handle,len) */
#define FFB_KIND_LOOKUP  2u /* the sender resolves the UTF-8 name in (handle,len) */
#define FFB_KIND_RELEASE 3u /* gives `handle`, a block of the receiver's heap, back */
#define FFB_KIND_RESULT  4u /* the outcome of the receiver's CALL, LOOKUP or CALLV;
			     * of a stream call: its end, after its ITEMs */
#define FFB_KIND_CALLV   5u /* request ring only: run the vector of calls in (handle,len) */
#define FFB_KIND_CANCEL  6u /* the sender gave up on its call `call_id` */
#define FFB_KIND_ITEM    7u /* one item (handle,len) of the receiver's stream call */
#define FFB_KIND_CREDIT  8u /* the sender's stream call `call_id` may get `len` more items */

/* One ring slot. Requests: call_id chosen by the client (0 for RELEASE),
 * handle/len the payload (handle 0 with len 0 = empty), fn_or_status the
 * function id. Results: call_id echoed, handle/len the reply (or the
 * UTF-8 error message when status != OK), fn_or_status the ffb_status; a
 * LOOKUP answered OK has handle 0 and the function id in len. seq is the
 * entry's ring index + 1, stored last: it publishes this one entry (S1 in
 * ring/ORDERING.md). Unused fields are 0. */
struct ffb_ring_entry {
	uint64_t call_id;
	uint64_t handle;
	uint32_t len;
	uint32_t kind;
	uint32_t fn_or_status;
	uint32_t seq;
};

/* One call of a CALLV: the vector block holds len / FFB_VEC_CALL_SIZE of
 * them (1..FFB_MAX_VEC_CALLS). The server reads each once as a request and
 * overwrites it with that call's result (PROTOCOL.md §5). */
struct ffb_vec_call {
	uint64_t handle;        /**< request: input block or 0; result: reply block or 0 */
	uint32_t len;           /**< request: input length; result: reply length */
	uint32_t fn_or_status;  /**< request: function id; result: ffb_status */
};

#define FFB_VEC_CALL_SIZE  16u
#define FFB_MAX_VEC_CALLS  64u

/* ---- handles ---------------------------------------------------------- */
/*
 *  63            32 31      24 23  22 21   18 17           0
 * +----------------+----------+------+-------+--------------+
 * |   generation   | arena tag| heap | class |    index     |
 * +----------------+----------+------+-------+--------------+
 * generation != 0 always; tag != 0; heap in {1,2}. 0 is never a handle.
 */
#define FFB_HANDLE_INDEX_BITS 18u
#define FFB_HANDLE_CLASS_SHIFT 18u
#define FFB_HANDLE_CLASS_BITS 4u
#define FFB_HANDLE_HEAP_SHIFT 22u
#define FFB_HANDLE_HEAP_BITS 2u
#define FFB_HANDLE_TAG_SHIFT 24u
#define FFB_HANDLE_TAG_BITS 8u
#define FFB_HANDLE_GEN_SHIFT 32u

#define FFB_HANDLE_INDEX(h) ((uint32_t)((h) & ((1u << FFB_HANDLE_INDEX_BITS) - 1)))
#define FFB_HANDLE_CLASS(h) ((uint32_t)(((h) >> FFB_HANDLE_CLASS_SHIFT) & 0xFu))
#define FFB_HANDLE_HEAP(h)  ((uint32_t)(((h) >> FFB_HANDLE_HEAP_SHIFT) & 0x3u))
#define FFB_HANDLE_TAG(h)   ((uint32_t)(((h) >> FFB_HANDLE_TAG_SHIFT) & 0xFFu))
#define FFB_HANDLE_GEN(h)   ((uint32_t)((h) >> FFB_HANDLE_GEN_SHIFT))
#define FFB_HANDLE_MAKE(gen, tag, heap, cls, idx)                     \
	(((uint64_t)(gen) << FFB_HANDLE_GEN_SHIFT) |                  \
	 ((uint64_t)(tag) << FFB_HANDLE_TAG_SHIFT) |                  \
	 ((uint64_t)(heap) << FFB_HANDLE_HEAP_SHIFT) |                \
	 ((uint64_t)(cls) << FFB_HANDLE_CLASS_SHIFT) | (uint64_t)(idx))

/* ---- function ids ----------------------------------------------------- */
/* bits 0..15 registry slot, bits 16..31 generation (never 0). A slot whose
 * generation would wrap is retired. 0 is never a function id. */
#define FFB_FN_SLOT(id) ((uint32_t)(id) & 0xFFFFu)
#define FFB_FN_GEN(id)  ((uint32_t)(id) >> 16)
#define FFB_FN_MAKE(gen, slot) (((uint32_t)(gen) << 16) | (uint32_t)(slot))
#define FFB_MAX_FUNCTIONS 4096u

/* Built-ins, registered first by every server, never unregistered: their
 * ids are fixed so a client may call them without a lookup. */
#define FFB_FN_ECHO    FFB_FN_MAKE(1u, 0u) /* "ffi.echo": replies its input handle */
#define FFB_FN_VERSION FFB_FN_MAKE(1u, 1u) /* "ffi.version": replies a UTF-8 version */
#define FFB_MAX_NAME_LEN 255u              /* bytes of UTF-8 in a callback name */

/* ---- call ids --------------------------------------------------------- */
/*
 *  63            32 31     23 22  21  20 19              0
 * +----------------+---------+---+------+----------------+
 * |   generation   |    0    |dir| kind |  caller's slot |
 * +----------------+---------+---+------+----------------+
 * Chosen by the caller (the side whose CALL it is), echoed verbatim in
 * every answer. dir says whose call it is, kind what answers it gets; a
 * generation is never 0, so 0 is never a call id. An answer whose id does
 * not name a call of the receiver's that is pending with that kind is
 * dropped and counted, never delivered.
 */
#define FFB_CALL_SLOT_BITS  20u
#define FFB_CALL_KIND_SHIFT 20u
#define FFB_CALL_DIR_SHIFT  22u
#define FFB_CALL_ZERO_MASK  0xFF800000u /* bits 23..31: 0 */
#define FFB_ID_ONCE         0u /* answered by one RESULT */
#define FFB_ID_STREAM       1u /* answered by ITEMs (as CREDIT allows), then one RESULT */
#define FFB_ID_NOTIFY       2u /* never answered: the callee keeps nothing of it */
#define FFB_ID_FROM_CLIENT  0u /* the client's call (a CALL on the request ring) */
#define FFB_ID_FROM_SERVER  1u /* the server's call (a CALL on the response ring) */
#define FFB_CALL_SLOT(id)   ((uint32_t)(id) & ((1u << FFB_CALL_SLOT_BITS) - 1))
#define FFB_CALL_KIND(id)   (((uint32_t)(id) >> FFB_CALL_KIND_SHIFT) & 3u)
#define FFB_CALL_DIR(id)    (((uint32_t)(id) >> FFB_CALL_DIR_SHIFT) & 1u)
#define FFB_CALL_GEN(id)    ((uint32_t)((id) >> 32))
#define FFB_CALL_MAKE(gen, dir, kind, slot)                                                       \
	(((uint64_t)(gen) << 32) | ((uint64_t)(dir) << FFB_CALL_DIR_SHIFT) |                      \
	 ((uint64_t)(kind) << FFB_CALL_KIND_SHIFT) | (uint64_t)(slot))
/* Whether `id` can name a call at all: generation and zero bits, kind. */
#define FFB_CALL_ID_VALID(id) \
	(FFB_CALL_GEN(id) != 0 && ((uint32_t)(id) & FFB_CALL_ZERO_MASK) == 0 && FFB_CALL_KIND(id) <= FFB_ID_NOTIFY)
/* Stream flow control: a stream call may get this many items before the
 * caller's first CREDIT, and at most FFB_MAX_CREDIT more per CREDIT. */
#define FFB_STREAM_INITIAL_CREDIT 16u
#define FFB_MAX_CREDIT 65536u

/* ---- handshake (SOCK_SEQPACKET Unix socket) --------------------------- */

/* client -> server, first message after connect */
struct ffb_client_hello {
	uint64_t magic;              /**< FFB_CLIENT_HELLO_MAGIC */
	uint32_t layout_version;     /**< FFB_LAYOUT_VERSION */
	uint32_t flags;              /**< 0; reserved */
	uint64_t reserved[2];
};

/* Server hello flags */
#define FFB_HELLO_FUTEX_DOORBELL FFB_SB_FUTEX_DOORBELL
#define FFB_HELLO_VECTOR_CALLS   FFB_SB_VECTOR_CALLS

/* File descriptors carried with an OK server hello (SCM_RIGHTS), in order */
#define FFB_FD_ARENA          0 /* the sealed memfd */
#define FFB_FD_CLIENT_BELL    1 /* eventfd: server writes it to wake the client */
#define FFB_FD_SERVER_BELL    2 /* eventfd: client writes it to wake the server;
				 * present only without FFB_HELLO_FUTEX_DOORBELL */
#define FFB_MAX_HELLO_FDS     3

/* server -> client, the answer to a client hello. status != 0 (an
 * ffb_status) means refused: no fds are attached and the server closes. */
struct ffb_server_hello {
	uint64_t magic;              /**< FFB_SERVER_HELLO_MAGIC */
	uint32_t layout_version;     /**< FFB_LAYOUT_VERSION */
	int32_t status;              /**< ffb_status */
	uint64_t arena_size;         /**< must equal fstat(memfd).st_size */
	uint32_t flags;              /**< FFB_HELLO_* */
	uint32_t nfds;               /**< fds attached */
	uint64_t session_id;
	uint32_t max_inflight;
	uint32_t reserved0;
	uint64_t reserved[2];
};

/* server -> client, last message before the server closes a session on
 * purpose (protocol violation, shutdown). A bare EOF means the server died. */
struct ffb_goodbye {
	uint64_t magic;              /**< FFB_GOODBYE_MAGIC */
	int32_t status;              /**< why: FFB_ERR_PROTOCOL, FFB_ERR_CLOSED, ... */
	uint32_t reserved;
};

/* ---- stats request (PROTOCOL.md §2.5) ---------------------------------
 * A connection whose first message is an ffb_client_hello with magic
 * FFB_STATS_HELLO_MAGIC asks for the server's counters instead of a
 * session: the server answers with one ffb_stats_reply message and closes.
 * The message is the header, then `ncounters` uint64_t (the fields of
 * struct ffb_server_stats of include/ffb.h, in order; a reader ignores
 * those past the ones it knows, and takes missing ones as 0), then
 * `nfuncs` struct ffb_stats_fn. */
#define FFB_STATS_LAT_BUCKETS  32u  /* latency[b]: calls of [2^(b-1), 2^b) ns; b = 31: >= 2^30 ns */
#define FFB_STATS_STATUS_SLOTS 32u  /* results[code]; codes >= 31 (UNKNOWN) count in 31 */
#define FFB_STATS_MAX_FUNCTIONS 64u /* function entries in one reply, lowest slots first */
#define FFB_STATS_NAME_LEN     48u  /* bytes of a name in a reply; longer ones are cut */
#define FFB_STATS_MAX_REPLY    32768u /* no reply is longer (a reader's buffer) */

struct ffb_stats_reply {
	uint64_t magic;              /**< FFB_STATS_REPLY_MAGIC */
	uint32_t layout_version;     /**< FFB_LAYOUT_VERSION */
	int32_t status;              /**< ffb_status: not 0, refused, nothing follows */
	uint32_t ncounters;          /**< uint64_t counters after this header */
	uint32_t nfuncs;             /**< ffb_stats_fn entries after the counters */
	uint32_t funcs_total;        /**< functions registered (may exceed nfuncs) */
	uint32_t reserved0;
	uint64_t reserved[3];
};

/* One function's figures: calls answered, by how long they took from the
 * dispatcher taking the request to the answer being pushed. */
struct ffb_stats_fn {
	uint32_t fn_id;
	uint32_t name_len;           /**< bytes of name (at most FFB_STATS_NAME_LEN) */
	uint8_t name[FFB_STATS_NAME_LEN]; /**< UTF-8, no NUL (name_len bytes) */
	uint64_t calls;              /**< answered (a cancelled one too) */
	uint64_t errors;             /**< answered with a status other than OK */
	uint64_t latency[FFB_STATS_LAT_BUCKETS]; /**< histogram, log2 of ns */
};

/* The exact seal set a receiver requires on the arena memfd:
 * F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW (Linux's 0x1 | 0x2 | 0x4). */
#define FFB_ARENA_SEALS 0x7u

/* ---- pinned layout ---------------------------------------------------- */
#define FFB__PIN(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), #type "." #field)

_Static_assert(sizeof(struct ffb_class_desc) == 16, "class_desc size");
FFB__PIN(ffb_class_desc, offset, 0);
FFB__PIN(ffb_class_desc, block_size, 8);
FFB__PIN(ffb_class_desc, count, 12);

_Static_assert(sizeof(struct ffb_heap_desc) == 288, "heap_desc size");
FFB__PIN(ffb_heap_desc, nclasses, 0);
FFB__PIN(ffb_heap_desc, offset, 8);
FFB__PIN(ffb_heap_desc, size, 16);
FFB__PIN(ffb_heap_desc, classes, 32);

_Static_assert(sizeof(struct ffb_superblock) == FFB_SUPERBLOCK_SIZE, "superblock size");
FFB__PIN(ffb_superblock, magic, 0);
FFB__PIN(ffb_superblock, layout_version, 8);
FFB__PIN(ffb_superblock, superblock_size, 12);
FFB__PIN(ffb_superblock, arena_size, 16);
FFB__PIN(ffb_superblock, flags, 24);
FFB__PIN(ffb_superblock, max_inflight, 28);
FFB__PIN(ffb_superblock, session_id, 32);
FFB__PIN(ffb_superblock, arena_tag, 40);
FFB__PIN(ffb_superblock, req_ring_offset, 48);
FFB__PIN(ffb_superblock, req_ring_entries, 56);
FFB__PIN(ffb_superblock, resp_ring_entries, 60);
FFB__PIN(ffb_superblock, resp_ring_offset, 64);
FFB__PIN(ffb_superblock, heaps, 128);
FFB__PIN(ffb_superblock, reserved2, 704);

_Static_assert(sizeof(struct ffb_ring_ctl) == FFB_RING_CTL_SIZE, "ring_ctl size");
FFB__PIN(ffb_ring_ctl, p_tail, 0);
FFB__PIN(ffb_ring_ctl, c_head, 128);
FFB__PIN(ffb_ring_ctl, c_needs_wakeup, 256);

_Static_assert(sizeof(struct ffb_ring_entry) == FFB_RING_ENTRY_SIZE, "ring_entry size");
_Static_assert(sizeof(struct ffb_vec_call) == FFB_VEC_CALL_SIZE, "vec_call size");
FFB__PIN(ffb_vec_call, handle, 0);
FFB__PIN(ffb_vec_call, len, 8);
FFB__PIN(ffb_vec_call, fn_or_status, 12);
FFB__PIN(ffb_ring_entry, call_id, 0);
FFB__PIN(ffb_ring_entry, handle, 8);
FFB__PIN(ffb_ring_entry, len, 16);
FFB__PIN(ffb_ring_entry, kind, 20);
FFB__PIN(ffb_ring_entry, fn_or_status, 24);
FFB__PIN(ffb_ring_entry, seq, 28);

_Static_assert(sizeof(struct ffb_client_hello) == 32, "client_hello size");
FFB__PIN(ffb_client_hello, magic, 0);
FFB__PIN(ffb_client_hello, layout_version, 8);
FFB__PIN(ffb_client_hello, flags, 12);

_Static_assert(sizeof(struct ffb_server_hello) == 64, "server_hello size");
FFB__PIN(ffb_server_hello, magic, 0);
FFB__PIN(ffb_server_hello, layout_version, 8);
FFB__PIN(ffb_server_hello, status, 12);
FFB__PIN(ffb_server_hello, arena_size, 16);
FFB__PIN(ffb_server_hello, flags, 24);
FFB__PIN(ffb_server_hello, nfds, 28);
FFB__PIN(ffb_server_hello, session_id, 32);
FFB__PIN(ffb_server_hello, max_inflight, 40);

_Static_assert(sizeof(struct ffb_goodbye) == 16, "goodbye size");
FFB__PIN(ffb_goodbye, magic, 0);
FFB__PIN(ffb_goodbye, status, 8);

_Static_assert(sizeof(struct ffb_stats_reply) == 56, "stats_reply size");
FFB__PIN(ffb_stats_reply, magic, 0);
FFB__PIN(ffb_stats_reply, layout_version, 8);
FFB__PIN(ffb_stats_reply, status, 12);
FFB__PIN(ffb_stats_reply, ncounters, 16);
FFB__PIN(ffb_stats_reply, nfuncs, 20);
FFB__PIN(ffb_stats_reply, funcs_total, 24);

_Static_assert(sizeof(struct ffb_stats_fn) == 328, "stats_fn size");
FFB__PIN(ffb_stats_fn, fn_id, 0);
FFB__PIN(ffb_stats_fn, name_len, 4);
FFB__PIN(ffb_stats_fn, name, 8);
FFB__PIN(ffb_stats_fn, calls, 56);
FFB__PIN(ffb_stats_fn, errors, 64);
FFB__PIN(ffb_stats_fn, latency, 72);

_Static_assert(FFB_CLASS_BLOCK_SIZE(FFB_NUM_CLASSES - 1) == FFB_MAX_BLOCK_SIZE, "class 9 is 16 MiB");
_Static_assert(FFB_FN_ECHO == 0x10000u && FFB_FN_VERSION == 0x10001u, "built-in ids");

#endif /* FFB_LAYOUT_H */
