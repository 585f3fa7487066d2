/*
 * ffb_barrier.h — the named memory-ordering primitives of ffi-bridge.
 *
 * Every access to a word another thread or process can see goes through
 * one of these, so `grep` over this vocabulary audits the protocol. The
 * rules they implement, with their tags (P1, C1, ...), are in
 * ring/ORDERING.md. Built on the GCC/Clang __atomic builtins, which the C11
 * memory model defines and ThreadSanitizer understands.
 */
#ifndef FFB_BARRIER_H
#define FFB_BARRIER_H

#include <stdint.h>

/* R1: a single relaxed load of a shared word; the result is a local that
 * is validated before use and never re-read. Orders nothing. */
#define FFB_READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* A single relaxed store of a shared word. Orders nothing. */
#define FFB_WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* Acquire load (C1, P2): later reads are not hoisted above it. */
static inline uint32_t ffb_load_acquire(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Release store (P1, C2): earlier reads and writes are not sunk below it. */
static inline void ffb_store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Full fence (P3, C3): orders an earlier store before a later load — the
 * one reordering x86 allows, and the one the wake-up protocol forbids. */
static inline void ffb_smp_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Spin-wait hint: lets the sibling hyperthread run; no ordering. */
static inline void ffb_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* Cache hints for lines the peer's core touched last; no ordering, no
 * access (a prefetch never faults and reads nothing into the program).
 * Write intent fetches the line exclusive, so the later store does not
 * wait for ownership. x86's PREFETCHW is a NOP on cores without it; GCC
 * only emits it when told the target has it, so it is spelled out. */
static inline void ffb_prefetch_read(const void *p)
{
	__builtin_prefetch(p, 0, 3);
}

static inline void ffb_prefetch_write(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

#endif /* FFB_BARRIER_H */
