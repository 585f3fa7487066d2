/*
 * demo.h — the demo callbacks of `ffb serve` (demo.c).
 */
#ifndef FFB_TOOL_DEMO_H
#define FFB_TOOL_DEMO_H

#include <stdbool.h>

#include "ffb.h"

struct demo_callback {
	const char *name;
	ffb_callback_fn fn;
	uint32_t flags; /* FFB_CB_INLINE or FFB_CB_POOL */
	const char *help;
};

/* Every demo callback, ended by a NULL name. */
extern const struct demo_callback demo_callbacks[];

/* Register them all on s. */
ffb_status demo_register(ffb_server *s);

#endif /* FFB_TOOL_DEMO_H */
