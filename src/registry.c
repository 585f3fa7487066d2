/*
 * registry.c — named callbacks and their generation-tagged function ids
 * (the server's; the Go client's registry.go is its table of pending
 * calls, something else).
 *
 * A fixed table of FFB_MAX_FUNCTIONS slots in private memory (never in
 * the arena). Writers (register, unregister) take one mutex. Callers take
 * no lock: a call counts itself on its slot (`active`) and then checks the
 * slot still holds its id -- or, on a dispatcher, the thread says once per
 * batch that it is inside (its reader's seq odd, R1) and counts nothing;
 * unregister clears `used` and then waits for `active` to reach 0 and for
 * every reader inside to leave (a store-load pair on both sides, so one of
 * the two always sees the other), so when it returns no call of it runs
 * and none can start. A slow pooled callback therefore holds up its own
 * unregister only, never a dispatcher. A slot's generation goes up each
 * time it is reused; one that would wrap is retired, so an old id never
 * names a new callback.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

struct slot {
	uint32_t gen;           /* atomic: generation of the current or last tenant */
	int used;               /* atomic: a callback is registered here */
	int active;             /* atomic: calls of it running now */
	uint32_t flags;         /* atomic: FFB_CB_* | FFB__REG_BUILTIN; set before used */
	int slow_logged;        /* atomic: its slowness was logged */
	bool retired;
	bool draining;          /* unregister waits for its calls: not free yet (lock) */
	ffb_callback_fn fn;     /* set before used, cleared once no call runs */
	void *ctx;
	uint32_t name_len;
	char name[FFB_MAX_NAME_LEN + 1];
};

#define MAX_READERS 64 /* dispatchers */

struct ffb__registry {
	pthread_mutex_t lock;   /* writers, and name lookups */
	struct ffb__reg_reader *readers[MAX_READERS]; /* under lock */
	uint32_t nreaders;
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
	if (pthread_mutex_init(&r->lock, NULL)) {
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
	pthread_mutex_destroy(&r->lock);
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

/* Caller holds the lock. Linear scan: names are resolved once per client
 * and cached; the hot path goes by id. */
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
			     void *ctx, uint32_t flags, uint32_t *id_out)
{
	ffb_status st = check_name(name, name_len);
	if (st)
		return st;
	if (!fn)
		return FFB_ERR_NULL_POINTER;
	if (in_callback)
		return FFB_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&r->lock);
	if (find_slot(r, name, name_len) >= 0) {
		pthread_mutex_unlock(&r->lock);
		return FFB_ERR_ALREADY_EXISTS;
	}
	for (uint32_t i = 0; i < FFB_MAX_FUNCTIONS; i++) {
		struct slot *s = &r->slots[i];
		if (s->used || s->retired || s->draining)
			continue;
		uint32_t gen = s->gen + 1;
		__atomic_store_n(&s->gen, gen, __ATOMIC_RELAXED);
		__atomic_store_n(&s->flags, flags, __ATOMIC_RELAXED);
		s->fn = fn;
		s->ctx = ctx;
		s->name_len = (uint32_t)name_len;
		memcpy(s->name, name, name_len);
		s->name[name_len] = 0;
		__atomic_store_n(&s->slow_logged, 0, __ATOMIC_RELAXED);
		/* The fields above before `used`: a caller that sees used = 1
		 * (acquire) with its generation sees them. */
		__atomic_store_n(&s->used, 1, __ATOMIC_RELEASE);
		if (id_out)
			*id_out = FFB_FN_MAKE(gen, i);
		pthread_mutex_unlock(&r->lock);
		return FFB_OK;
	}
	pthread_mutex_unlock(&r->lock);
	return FFB_ERR_ARENA_FULL;
}

static void pause_a_little(unsigned spins)
{
	struct timespec ts = {0, spins < 100 ? 10000 : 1000000};
	nanosleep(&ts, NULL);
}

void ffb__registry_add_reader(struct ffb__registry *r, struct ffb__reg_reader *rd)
{
	pthread_mutex_lock(&r->lock);
	if (r->nreaders < MAX_READERS)
		r->readers[r->nreaders++] = rd;
	pthread_mutex_unlock(&r->lock);
}

void ffb__registry_remove_reader(struct ffb__registry *r, struct ffb__reg_reader *rd)
{
	pthread_mutex_lock(&r->lock);
	for (uint32_t k = 0; k < r->nreaders; k++)
		if (r->readers[k] == rd)
			r->readers[k] = r->readers[--r->nreaders];
	pthread_mutex_unlock(&r->lock);
}

ffb_status ffb__registry_remove(struct ffb__registry *r, const char *name, size_t name_len)
{
	ffb_status st = check_name(name, name_len);
	if (st)
		return st;
	if (in_callback)
		return FFB_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&r->lock);
	int i = find_slot(r, name, name_len);
	if (i < 0 || (r->slots[i].flags & FFB__REG_BUILTIN)) {
		pthread_mutex_unlock(&r->lock);
		return i < 0 ? FFB_ERR_NOT_FOUND : FFB_ERR_INVALID_ARGUMENT;
	}
	struct slot *s = &r->slots[i];
	/* U2/R2: no new call starts after this store; one that counted
	 * itself, or a reader that was inside, before it is waited for; pairs
	 * with U1 and R1 */
	__atomic_store_n(&s->used, 0, __ATOMIC_SEQ_CST);
	/* Wait without the lock (a reader inside may look a name up), the
	 * slot kept from a new tenant meanwhile. */
	s->draining = true;
	struct ffb__reg_reader *readers[MAX_READERS];
	uint32_t nreaders = r->nreaders;
	memcpy(readers, r->readers, sizeof(readers[0]) * nreaders);
	pthread_mutex_unlock(&r->lock);
	for (uint32_t k = 0; k < nreaders; k++) {
		uint64_t seq = __atomic_load_n(&readers[k]->seq, __ATOMIC_SEQ_CST);
		for (unsigned spins = 0; (seq & 1) && __atomic_load_n(&readers[k]->seq, __ATOMIC_ACQUIRE) == seq; spins++)
			pause_a_little(spins);
	}
	for (unsigned spins = 0; __atomic_load_n(&s->active, __ATOMIC_SEQ_CST); spins++)
		pause_a_little(spins);
	pthread_mutex_lock(&r->lock);
	s->fn = NULL;
	s->ctx = NULL;
	s->draining = false;
	if (s->gen >= UINT16_MAX)
		s->retired = true; /* the next tenant's id would wrap to a used one */
	pthread_mutex_unlock(&r->lock);
	return FFB_OK;
}

ffb_status ffb__registry_find(struct ffb__registry *r, const char *name, size_t name_len, uint32_t *id_out)
{
	ffb_status st = check_name(name, name_len);
	if (st)
		return st;
	pthread_mutex_lock(&r->lock);
	int i = find_slot(r, name, name_len);
	if (i >= 0 && id_out)
		*id_out = FFB_FN_MAKE(r->slots[i].gen, (uint32_t)i);
	pthread_mutex_unlock(&r->lock);
	return i < 0 ? FFB_ERR_NOT_FOUND : FFB_OK;
}

/* The slot `id` names while it is registered, else NULL. */
static struct slot *live_slot(struct ffb__registry *r, uint32_t id)
{
	uint32_t i = FFB_FN_SLOT(id), gen = FFB_FN_GEN(id);
	if (i >= FFB_MAX_FUNCTIONS || gen == 0)
		return NULL;
	struct slot *s = &r->slots[i];
	if (!__atomic_load_n(&s->used, __ATOMIC_ACQUIRE) || __atomic_load_n(&s->gen, __ATOMIC_RELAXED) != gen)
		return NULL;
	return s;
}

ffb_status ffb__registry_invoke(struct ffb__registry *r, uint32_t id, ffb_call *call, bool on_worker)
{
	uint32_t i = FFB_FN_SLOT(id);
	if (i >= FFB_MAX_FUNCTIONS || FFB_FN_GEN(id) == 0)
		return FFB__NO_FUNCTION;
	struct slot *a = &r->slots[i];
	/* U1: count ourselves before checking `used`; pairs with U2 */
	__atomic_fetch_add(&a->active, 1, __ATOMIC_SEQ_CST);
	struct slot *s = live_slot(r, id);
	ffb_status st = FFB__NO_FUNCTION;
	if (s && !on_worker && (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FFB_CB_POOL)) {
		st = FFB__POOLED;
	} else if (s) {
		in_callback++;
		st = s->fn(call, s->ctx);
		in_callback--;
	}
	/* U1 (release): our use of fn and ctx before unregister sees active drop */
	__atomic_fetch_sub(&a->active, 1, __ATOMIC_RELEASE);
	return st;
}

ffb_status ffb__registry_invoke_inside(struct ffb__registry *r, uint32_t id, ffb_call *call, uint64_t *clock)
{
	struct slot *s = live_slot(r, id);
	if (!s)
		return FFB__NO_FUNCTION;
	uint32_t flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
	if (flags & FFB_CB_POOL)
		return FFB__POOLED;
	if (clock)
		*clock = (flags & FFB__REG_BUILTIN) ? 0 : *clock ? *clock : ffb__ticks();
	in_callback++;
	ffb_status st = s->fn(call, s->ctx);
	in_callback--;
	return st;
}

uint32_t ffb__registry_list(struct ffb__registry *r, struct ffb_stats_fn *out, uint32_t max)
{
	uint32_t n = 0;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < FFB_MAX_FUNCTIONS; i++) {
		const struct slot *s = &r->slots[i];
		if (!s->used)
			continue;
		if (n < max) {
			struct ffb_stats_fn *f = &out[n];
			memset(f, 0, sizeof(*f));
			f->fn_id = FFB_FN_MAKE(s->gen, i);
			f->name_len = s->name_len < FFB_STATS_NAME_LEN ? s->name_len : FFB_STATS_NAME_LEN;
			memcpy(f->name, s->name, f->name_len);
		}
		n++;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

void ffb__registry_note_slow(struct ffb__registry *r, uint32_t id, uint64_t ns)
{
	uint32_t i = FFB_FN_SLOT(id);
	if (i >= FFB_MAX_FUNCTIONS)
		return;
	struct slot *s = &r->slots[i];
	if (__atomic_load_n(&s->slow_logged, __ATOMIC_RELAXED) || __atomic_exchange_n(&s->slow_logged, 1, __ATOMIC_RELAXED))
		return;
	char name[FFB_MAX_NAME_LEN + 1] = "";
	pthread_mutex_lock(&r->lock);
	if (s->used && s->gen == FFB_FN_GEN(id))
		memcpy(name, s->name, s->name_len + 1);
	pthread_mutex_unlock(&r->lock);
	ffb__log(FFB_LOG_WARN,
		 "inline callback \"%s\" ran %llu us, over the inline budget: it delays every session of its "
		 "dispatcher; register it on the pool (FFB_CB_POOL). Logged once.",
		 name, (unsigned long long)(ns / 1000));
}
