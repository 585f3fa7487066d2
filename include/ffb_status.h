/*
 * ffb_status.h — the stable error-code table of ffi-bridge.
 *
 * This header is part of the ABI: values are never renumbered or removed,
 * new codes are only appended (before UNKNOWN, in value order). Values 0–8
 * and 99 are the codes inherited from the first ffi-bridge; 9 and up are
 * transport conditions added with the shared-memory protocol.
 *
 * It is the one definition of the table: the doc comment opened with
 * slash-star-star-< after each code is its English text (what
 * ffb_strerror returns), plain text on one line.
 * `make gen` copies names, values and texts into src/zstatus.c, the Go and
 * Rust tables and PROTOCOL.md §10 (mk/gen reads them with clang, which
 * attaches each such comment to its code). A code needs one line here and
 * nothing else.
 */
#ifndef FFB_STATUS_H
#define FFB_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ffb_status {
	FFB_OK                    = 0,  /**< success */
	FFB_ERR_NULL_POINTER      = 1,  /**< a required pointer was NULL */
	FFB_ERR_BUFFER_TOO_SMALL  = 2,  /**< the buffer cannot hold the data */
	FFB_ERR_INVALID_UTF8      = 3,  /**< a name or message is not UTF-8 */
	FFB_ERR_SERIALIZATION     = 4,  /**< JSON (de)serialisation failed */
	FFB_ERR_PANIC             = 5,  /**< a callback panicked; server lives on */
	FFB_ERR_TIMEOUT           = 6,  /**< a deadline passed */
	FFB_ERR_NOT_FOUND         = 7,  /**< no callback of that name or id */
	FFB_ERR_LOCK_POISONED     = 8,  /**< a lock was poisoned by a panic */
	FFB_ERR_STALE_HANDLE      = 9,  /**< handle's generation is not current */
	FFB_ERR_DOUBLE_FREE       = 10, /**< the block was already freed */
	FFB_ERR_INVALID_HANDLE    = 11, /**< forged: fields out of range, or 0 */
	FFB_ERR_FOREIGN_HANDLE    = 12, /**< handle belongs to another arena */
	FFB_ERR_ARENA_FULL        = 13, /**< no free block of the size class */
	FFB_ERR_RING_FULL         = 14, /**< the request ring has no free slot */
	FFB_ERR_PEER_GONE         = 15, /**< the peer process died or closed */
	FFB_ERR_VERSION_MISMATCH  = 16, /**< magic or layout version differs */
	FFB_ERR_PERMISSION_DENIED = 17, /**< peer credentials refused */
	FFB_ERR_INVALID_ARGUMENT  = 18, /**< an argument is out of its range */
	FFB_ERR_PROTOCOL          = 19, /**< the peer broke the protocol */
	FFB_ERR_TOO_MANY_SESSIONS = 20, /**< the server's session cap is hit */
	FFB_ERR_TOO_MANY_CALLS    = 21, /**< the session's in-flight cap is hit */
	FFB_ERR_BAD_FD            = 22, /**< received fd: wrong type/seals/size */
	FFB_ERR_SYSTEM            = 23, /**< an OS call failed (see errno) */
	FFB_ERR_ALREADY_EXISTS    = 24, /**< a callback of that name exists */
	FFB_ERR_CLOSED            = 25, /**< the object is closed/shutting down */
	FFB_ERR_WOULD_BLOCK       = 26, /**< nothing ready; try again */
	FFB_ERR_BUSY              = 27, /**< block is lent to the peer */
	FFB_ERR_CANCELLED         = 28, /**< the caller cancelled the call */
	FFB_ERR_UNKNOWN           = 99  /**< unclassified */
} ffb_status;

/* ffb_strerror: the constant, static English text of `status`, as written
 * above (never NULL; "unknown status" for a value outside the table). Any
 * thread. */
const char *ffb_strerror(int status);

/* ffb_status_name: the stable identifier of `status`, e.g. "NOT_FOUND"
 * ("UNKNOWN" outside the table). Any thread. Bindings build their tables
 * from this. */
const char *ffb_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif /* FFB_STATUS_H */
