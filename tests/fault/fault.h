/*
 * fault.h — call-site fault injection for tests/fault/test_fault.c.
 *
 * The test binary is linked against the ordinary libffb.a objects with
 * `-Wl,--wrap=NAME` for every OS or allocator entry point below, so each
 * call the library makes to NAME goes to __wrap_NAME here. While armed, the
 * wrappers count the calls made by one set of threads (the main thread, or
 * every other thread: the in-process server's loop) and make the Nth fail
 * (transient) or the Nth and every later one (persistent), with the errno
 * and return value the real function uses for failure. Disarmed, they are
 * the real functions.
 */
#ifndef FFB_TEST_FAULT_H
#define FFB_TEST_FAULT_H

#include <stdbool.h>

enum fi_scope { FI_MAIN = 0, FI_OTHER = 1 };

/* Arm: fail the `n`th counted call (1-based); persistent: and all later. */
void fi_arm(enum fi_scope scope, int n, bool persistent);
/* Disarm; returns how many calls were counted while armed. */
int fi_disarm(void);
/* Count (and fail) only io_uring_* calls / everything else. */
void fi_only_uring(bool on);
void fi_skip_uring(bool on);
/* Calls counted so far / failures injected so far in this arming. */
int fi_count(void);
int fi_failed(void);
/* Name of the function made to fail at the Nth call ("" if not reached). */
const char *fi_what(void);

#endif
