/*
 * registry.c — named callbacks and their generation-tagged function ids.
 *
 * A fixed table of FFB_MAX_FUNCTIONS slots guarded by one writer-preferring
 * rwlock in private memory (never in the arena). Dispatch holds the read
 * lock across a batch of calls (enter/leave), so unregister (write lock)
 * returns only when no callback of it runs and none can start again.
 * A slot's generation goes up each time it is reused; one that would wrap
 * is retired, so an old id never names a new callback.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct slot {
	uint16_t gen;           /* generation of the current or last tenant */
	bool used;
	bool retired;
	bool builtin;
	ffb_callback_fn fn;
	void *ctx;
	uint32_t name_len;
	char name[FFB_MAX_NAME_LEN + 1];
};

struct ffb__registry {
	pthread_rwlock_t lock;
	struct slot slots[FFB_MAX_FUNCTIONS];
};

/* Set while a thread runs a callback: unregister from inside one would
 * wait for itself. */
static __thread int in_callback;

ffb_status ffb__registry_create(struct ffb__registry **out)
{
	struct ffb__registry *r = calloc(1, sizeof(*r));
	if (!r)
		return FFB_ERR_SYSTEM;
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	int rc = pthread_rwlock_init(&r->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc) {
		free(r);
		return FFB_ERR_SYSTEM;
	}
	*out = r;
	return FFB_OK;
}

void ffb__registry_destroy(struct ffb__registry *r)
{
	if (!r)
		return;
	pthread_rwlock_destroy(&r->lock);
	free(r);
}

static ffb_status check_name(const char *name, size_t len)
{
	if (!name)
		return FFB_ERR_NULL_POINTER;
	if (len == 0 || len > FFB_MAX_NAME_LEN)
		return FFB_ERR_INVALID_ARGUMENT;
	if (!ffb__utf8_valid((const uint8_t *)name, len) || memchr(name, 0, len))
		return FFB_ERR_INVALID_UTF8;
	return FFB_OK;
}

/* Caller holds the lock (either mode). Linear scan: names are resolved
 * once per client and cached; the hot path goes by id. */
static int find_slot(const struct ffb__registry *r, const char *name, size_t len)
{
	for (int i = 0; i < (int)FFB_MAX_FUNCTIONS; i++) {
		const struct slot *s = &r->slots[i];
		if (s->used && s->name_len == len && memcmp(s->name, name, len) == 0)
			return i;
	}
	return -1;
}

ffb_status ffb__registry_add(struct ffb__registry *r, const char *name, size_t name_len, ffb_callback_fn fn,
			     void *ctx, bool builtin, uint32_t *id_out)
{
	ffb_status st = check_name(name, name_len);
	if (st)
		return st;
	if (!fn)
		return FFB_ERR_NULL_POINTER;
	if (in_callback)
		return FFB_ERR_INVALID_ARGUMENT;
	pthread_rwlock_wrlock(&r->lock);
	if (find_slot(r, name, name_len) >= 0) {
		pthread_rwlock_unlock(&r->lock);
		return FFB_ERR_ALREADY_EXISTS;
	}
	for (uint32_t i = 0; i < FFB_MAX_FUNCTIONS; i++) {
		struct slot *s = &r->slots[i];
		if (s->used || s->retired)
			continue;
		s->gen++;
		s->used = true;
		s->builtin = builtin;
		s->fn = fn;
		s->ctx = ctx;
		s->name_len = (uint32_t)name_len;
		memcpy(s->name, name, name_len);
		s->name[name_len] = 0;
		if (id_out)
			*id_out = FFB_FN_MAKE(s->gen, i);
		pthread_rwlock_unlock(&r->lock);
		return FFB_OK;
	}
	pthread_rwlock_unlock(&r->lock);
	return FFB_ERR_ARENA_FULL;
}

ffb_status ffb__registry_remove(struct ffb__registry *r, const char *name, size_t name_len)
{
	ffb_status st = check_name(name, name_len);
	if (st)
		return st;
	if (in_callback)
		return FFB_ERR_INVALID_ARGUMENT;
	pthread_rwlock_wrlock(&r->lock);
	int i = find_slot(r, name, name_len);
	if (i < 0 || r->slots[i].builtin) {
		pthread_rwlock_unlock(&r->lock);
		return i < 0 ? FFB_ERR_NOT_FOUND : FFB_ERR_INVALID_ARGUMENT;
	}
	struct slot *s = &r->slots[i];
	s->used = false;
	s->fn = NULL;
	s->ctx = NULL;
	if (s->gen == UINT16_MAX)
		s->retired = true; /* the next tenant's id would wrap to a used one */
	pthread_rwlock_unlock(&r->lock);
	return FFB_OK;
}

void ffb__registry_enter(struct ffb__registry *r)
{
	pthread_rwlock_rdlock(&r->lock);
}

void ffb__registry_leave(struct ffb__registry *r)
{
	pthread_rwlock_unlock(&r->lock);
}

ffb_status ffb__registry_find_held(struct ffb__registry *r, const char *name, size_t name_len, uint32_t *id_out)
{
	ffb_status st = check_name(name, name_len);
	if (st)
		return st;
	int i = find_slot(r, name, name_len);
	if (i < 0)
		return FFB_ERR_NOT_FOUND;
	if (id_out)
		*id_out = FFB_FN_MAKE(r->slots[i].gen, (uint32_t)i);
	return FFB_OK;
}

ffb_status ffb__registry_invoke_held(struct ffb__registry *r, uint32_t id, ffb_call *call)
{
	uint32_t i = FFB_FN_SLOT(id), gen = FFB_FN_GEN(id);
	if (i >= FFB_MAX_FUNCTIONS || gen == 0)
		return FFB_ERR_NOT_FOUND;
	const struct slot *s = &r->slots[i];
	if (!s->used || s->gen != gen)
		return FFB_ERR_NOT_FOUND;
	in_callback++;
	ffb_status st = s->fn(call, s->ctx);
	in_callback--;
	return st;
}

ffb_status ffb__registry_find(struct ffb__registry *r, const char *name, size_t name_len, uint32_t *id_out)
{
	ffb__registry_enter(r);
	ffb_status st = ffb__registry_find_held(r, name, name_len, id_out);
	ffb__registry_leave(r);
	return st;
}

ffb_status ffb__registry_invoke(struct ffb__registry *r, uint32_t id, ffb_call *call)
{
	ffb__registry_enter(r);
	ffb_status st = ffb__registry_invoke_held(r, id, call);
	ffb__registry_leave(r);
	return st;
}
