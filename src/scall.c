/*
 * scall.c — the server's calls to its clients' handlers (PROTOCOL.md
 * §5.8): session handles, the calls' registry, name resolution, answers,
 * stream items, timeouts, cancels.
 *
 * An ffb_session handle is a counted reference any thread may hold; it
 * points at its session while the session is served and at nothing once
 * the dispatcher let go of it, so a handle never reaches freed memory.
 * A call is posted to the session's dispatcher (the one producer of the
 * response ring) with a copy of its input in a server block; the
 * dispatcher keeps it in the session's table of calls to the client
 * (generation-tagged slots: a stale, duplicated, forged or wrong-kind
 * answer names no pending call and is dropped and counted), resolves its
 * name with a LOOKUP of its own (cached per session), sends the CALL,
 * and runs the caller's callbacks with the answer and each stream item.
 * A client block an answer brings is the server's until it sends it back
 * with a RELEASE, right after the callback.
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

enum { SC_FREE = 0, SC_RESOLVING, SC_SENT, SC_ABANDONED };

struct ffb__scall_post {
	struct ffb__post post;
	uint8_t kind;           /* FFB_ID_ONCE, _STREAM, _NOTIFY */
	uint8_t name_len;
	char name[FFB_MAX_NAME_LEN + 1];
	uint64_t handle;        /* the input, a server block (OWNED) or 0 */
	uint32_t len;
	uint64_t deadline_ns;   /* 0: none */
	uint64_t ticket;
	ffb_answer_fn done;
	ffb_item_fn item;
	void *ctx;
};

struct ffb__ctl_post {
	struct ffb__post post;
	uint64_t ticket;
	uint32_t n;
};

/* ---- handles ------------------------------------------------------------ */

ffb_session *ffb__handle_new(struct ffb__session *s)
{
	ffb_session *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->refs = 1; /* the session's own */
	h->s = NULL; /* until a dispatcher serves it: ffb__handle_attach */
	h->srv = s->srv;
	h->id = s->id;
	h->gone = FFB_ERR_PEER_GONE;
	pthread_mutex_init(&h->lock, NULL);
	ffb__list_init(&h->link);
	return h;
}

void ffb__handle_attach(struct ffb__session *s)
{
	ffb_session *h = s->handle;
	if (!h)
		return;
	/* The client has its hello before a dispatcher adopts the session:
	 * only now may a call be posted to s (s->disp is set, and the
	 * dispatcher serves it), so only now is the handle listed. */
	pthread_mutex_lock(&h->lock);
	h->s = s;
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_lock(&h->srv->handles_lock);
	ffb__list_add_tail(&h->srv->handles, &h->link);
	pthread_mutex_unlock(&h->srv->handles_lock);
}

void ffb__handle_detach(struct ffb__session *s, ffb_status gone)
{
	ffb_session *h = s->handle;
	if (!h)
		return;
	pthread_mutex_lock(&h->srv->handles_lock);
	ffb__list_del(&h->link);
	pthread_mutex_unlock(&h->srv->handles_lock);
	pthread_mutex_lock(&h->lock);
	h->s = NULL; /* no post for s starts after this */
	h->gone = gone;
	pthread_mutex_unlock(&h->lock);
}

ffb_session *ffb_session_ref(ffb_session *h)
{
	if (h)
		__atomic_fetch_add(&h->refs, 1, __ATOMIC_RELAXED);
	return h;
}

void ffb_session_unref(ffb_session *h)
{
	if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

uint64_t ffb_session_id(const ffb_session *h)
{
	return h ? h->id : 0;
}

ffb_session *ffb_call_session_ref(const ffb_call *c)
{
	return c && c->session ? ffb_session_ref(c->session->handle) : NULL;
}

ffb_status ffb_server_sessions(ffb_server *srv, ffb_session **out, uint32_t max, uint32_t *n)
{
	if (!srv || !n || (max && !out))
		return FFB_ERR_NULL_POINTER;
	*n = 0;
	pthread_mutex_lock(&srv->handles_lock);
	for (struct ffb__list *l = srv->handles.next; l != &srv->handles && *n < max; l = l->next)
		out[(*n)++] = ffb_session_ref(FFB__CONTAINER_OF(l, ffb_session, link));
	pthread_mutex_unlock(&srv->handles_lock);
	return FFB_OK;
}

/* Run fn on h's session under the handle's lock (so the dispatcher cannot
 * let go of it meanwhile); h->gone if it is over. */
static ffb_status with_session(ffb_session *h, ffb_status (*fn)(struct ffb__session *s, void *arg), void *arg)
{
	if (!h)
		return FFB_ERR_NULL_POINTER;
	pthread_mutex_lock(&h->lock);
	ffb_status st = h->s ? fn(h->s, arg) : h->gone;
	pthread_mutex_unlock(&h->lock);
	return st;
}

/* A post its own dispatcher makes, run once the handle's lock is let go
 * (run_here): its callbacks may call the session again. */
static __thread struct ffb__post *post_here;

/* Post p for s: counted, so the dispatcher lets go of s only after it.
 * On s's own dispatcher thread (a callback of that session, an answer
 * callback) it is done in place instead: nothing to hand over, no
 * wake-up, and s cannot go meanwhile (only this thread lets go of it). */
static void post_for(struct ffb__session *s, struct ffb__post *p)
{
	p->s = s;
	__atomic_fetch_add(&s->posted, 1, __ATOMIC_ACQ_REL);
	if (ffb__this_dispatcher() == s->disp)
		post_here = p;
	else
		ffb__post(s->disp, p);
}

static void run_here(void)
{
	struct ffb__post *p = post_here;
	post_here = NULL;
	if (!p)
		return;
	if (p->type == FFB__POST_SCALL) {
		FFB__STAT_ADD(p->s->disp->stats.server_calls, 1);
		ffb__scall_post(p);
	} else {
		ffb__scall_ctl(p);
	}
}

/* ---- posting a call ----------------------------------------------------- */

struct call_args {
	struct ffb__scall_post *p;
	const void *data;
	uint64_t *id;
};

static ffb_status post_call(struct ffb__session *s, void *arg)
{
	struct call_args *a = arg;
	struct ffb__scall_post *p = a->p;
	if (p->len) {
		void *dst;
		ffb_status st = ffb__sheap_alloc(s, p->len, &p->handle, &dst);
		if (st)
			return st;
		memcpy(dst, a->data, p->len);
	}
	p->ticket = __atomic_add_fetch(&s->handle->tickets, 1, __ATOMIC_RELAXED);
	if (a->id)
		*a->id = p->ticket;
	post_for(s, &p->post);
	return FFB_OK;
}

static ffb_status session_call(ffb_session *h, uint8_t kind, const char *name, const void *data, uint32_t len,
			       int64_t timeout_ns, ffb_item_fn item, ffb_answer_fn done, void *ctx, uint64_t *id)
{
	if (!h || !name || (len && !data) || (kind != FFB_ID_NOTIFY && !done) || (kind == FFB_ID_STREAM && !item))
		return FFB_ERR_NULL_POINTER;
	size_t n = strlen(name);
	if (n == 0 || n > FFB_MAX_NAME_LEN || !ffb__utf8_valid((const uint8_t *)name, n))
		return FFB_ERR_INVALID_ARGUMENT;
	struct ffb__scall_post *p = calloc(1, sizeof(*p));
	if (!p)
		return FFB_ERR_SYSTEM;
	*p = (struct ffb__scall_post){.post = {.type = FFB__POST_SCALL},
				      .kind = kind,
				      .name_len = (uint8_t)n,
				      .len = len,
				      .deadline_ns = timeout_ns < 0 ? 0 : ffb__now_ns() + (uint64_t)timeout_ns,
				      .done = done,
				      .item = item,
				      .ctx = ctx};
	memcpy(p->name, name, n);
	struct call_args a = {p, data, id};
	ffb_status st = with_session(h, post_call, &a);
	if (st)
		free(p);
	run_here();
	return st;
}

ffb_status ffb_session_call(ffb_session *h, const char *name, const void *data, uint32_t len, int64_t timeout_ns,
			    ffb_answer_fn done, void *ctx, uint64_t *id)
{
	return session_call(h, FFB_ID_ONCE, name, data, len, timeout_ns, NULL, done, ctx, id);
}

ffb_status ffb_session_stream(ffb_session *h, const char *name, const void *data, uint32_t len, int64_t timeout_ns,
			      ffb_item_fn item, ffb_answer_fn done, void *ctx, uint64_t *id)
{
	return session_call(h, FFB_ID_STREAM, name, data, len, timeout_ns, item, done, ctx, id);
}

ffb_status ffb_session_notify(ffb_session *h, const char *name, const void *data, uint32_t len)
{
	return session_call(h, FFB_ID_NOTIFY, name, data, len, -1, NULL, NULL, NULL, NULL);
}

static ffb_status post_ctl(struct ffb__session *s, void *arg)
{
	post_for(s, arg);
	return FFB_OK;
}

static ffb_status session_ctl(ffb_session *h, uint8_t type, uint64_t ticket, uint32_t n)
{
	struct ffb__ctl_post *p = malloc(sizeof(*p));
	if (!p)
		return FFB_ERR_SYSTEM;
	*p = (struct ffb__ctl_post){.post = {.type = type}, .ticket = ticket, .n = n};
	ffb_status st = with_session(h, post_ctl, &p->post);
	if (st)
		free(p);
	run_here();
	return st;
}

ffb_status ffb_session_cancel(ffb_session *h, uint64_t id)
{
	return session_ctl(h, FFB__POST_SCANCEL, id, 0);
}

ffb_status ffb_session_credit(ffb_session *h, uint64_t id, uint32_t n)
{
	if (n == 0 || n > FFB_MAX_CREDIT)
		return FFB_ERR_INVALID_ARGUMENT;
	return session_ctl(h, FFB__POST_SCREDIT, id, n);
}

/* ---- the registry of calls to the client (dispatcher only) ------------- */

ffb_status ffb__scalls_init(struct ffb__session *s)
{
	s->scalls = calloc(FFB__MAX_SCALLS, sizeof(*s->scalls));
	return s->scalls ? FFB_OK : FFB_ERR_SYSTEM;
}

static struct ffb__scall *scall_new(struct ffb__session *s)
{
	for (uint32_t i = 0; i < FFB__MAX_SCALLS; i++) {
		uint32_t k = (s->scall_next + i) % FFB__MAX_SCALLS;
		struct ffb__scall *c = &s->scalls[k];
		if (c->state != SC_FREE)
			continue;
		s->scall_next = k + 1;
		uint32_t gen = c->gen + 1 ? c->gen + 1 : 1; /* never 0 */
		memset(c, 0, sizeof(*c));
		c->gen = gen;
		c->slot = k;
		return c;
	}
	return NULL;
}

static uint64_t scall_id(const struct ffb__scall *c)
{
	return FFB_CALL_MAKE(c->gen, FFB_ID_FROM_SERVER, c->lookup ? FFB_ID_ONCE : c->kind, c->slot);
}

static void out(struct ffb__session *s, uint64_t call_id, uint64_t handle, uint32_t len, uint32_t kind, uint32_t fn)
{
	struct ffb_ring_entry e = {.call_id = call_id, .handle = handle, .len = len, .kind = kind, .fn_or_status = fn};
	if (!ffb__out_push(s, &e, NULL, false))
		ffb__log(FFB_LOG_ERROR, "session %llu: out of memory for an entry to the client",
			 (unsigned long long)s->id);
	ffb__session_mark_dirty(s);
}

/* Give a client block the server holds back to the client. */
static void release_client_block(struct ffb__session *s, uint64_t handle)
{
	if (ffb__heap_unhold(&s->client_heap, handle, true) == FFB_OK && !s->cut)
		out(s, 0, handle, 0, FFB_KIND_RELEASE, 0);
}

/* Free the call's slot and its input block; an abandoned one stays until
 * its answer (or the session) ends it. */
static void scall_free(struct ffb__session *s, struct ffb__scall *c)
{
	if (c->in_handle)
		ffb__sheap_free(s, c->in_handle, c->state == SC_RESOLVING ? FFB__BLOCK_OWNED : FFB__BLOCK_LENT);
	c->in_handle = 0;
	c->state = SC_FREE;
}

/* End the call for its caller with `st` (and no bytes). */
static void scall_end(struct ffb__session *s, struct ffb__scall *c, ffb_status st)
{
	if (c->done)
		c->done(c->ctx, st, NULL, 0);
	c->done = NULL;
	if (c->state == SC_SENT && st != FFB_ERR_PEER_GONE && st != FFB_ERR_CLOSED && !s->cut) {
		out(s, scall_id(c), 0, 0, FFB_KIND_CANCEL, 0); /* tell its handler */
		c->state = SC_ABANDONED;                         /* its late answer reclaims */
		return;
	}
	scall_free(s, c);
}

static int cache_find(const struct ffb__session *s, const char *name, uint32_t len)
{
	for (int i = 0; i < FFB__NAME_CACHE; i++)
		if (s->names[i].len == len && memcmp(s->names[i].name, name, len) == 0)
			return i;
	return -1;
}

static void send_call(struct ffb__session *s, struct ffb__scall *c)
{
	c->state = SC_SENT;
	out(s, scall_id(c), c->in_handle, c->in_len, FFB_KIND_CALL, c->fn);
	if (c->kind == FFB_ID_NOTIFY) { /* no answer: the client RELEASEs the input */
		c->in_handle = 0;
		c->state = SC_FREE;
	}
}

/* The call's name is known (or not): send it, or end it. */
static void resolved(struct ffb__session *s, struct ffb__scall *c, ffb_status st, uint32_t fn)
{
	if (st) {
		scall_end(s, c, st);
		return;
	}
	c->fn = fn;
	if (c->in_handle)
		ffb__sheap_lend(s, c->in_handle); /* the client's until it answers */
	send_call(s, c);
}

/* Resolve c's name: from the cache, else with a LOOKUP (one per name). */
static void resolve(struct ffb__session *s, struct ffb__scall *c)
{
	int i = cache_find(s, c->name, c->name_len);
	if (i >= 0) {
		resolved(s, c, FFB_OK, s->names[i].fn);
		return;
	}
	c->state = SC_RESOLVING;
	for (uint32_t k = 0; k < FFB__MAX_SCALLS; k++) {
		const struct ffb__scall *l = &s->scalls[k];
		if (l->state == SC_SENT && l->lookup && l->name_len == c->name_len &&
		    memcmp(l->name, c->name, c->name_len) == 0)
			return; /* its answer resolves us too */
	}
	struct ffb__scall *l = scall_new(s);
	void *dst;
	uint64_t name_block;
	if (!l || ffb__sheap_alloc(s, c->name_len, &name_block, &dst)) {
		if (l)
			l->state = SC_FREE;
		scall_end(s, c, l ? FFB_ERR_ARENA_FULL : FFB_ERR_TOO_MANY_CALLS);
		return;
	}
	memcpy(dst, c->name, c->name_len);
	ffb__sheap_lend(s, name_block);
	l->lookup = true;
	l->name_len = c->name_len;
	memcpy(l->name, c->name, c->name_len);
	l->in_handle = name_block;
	l->in_len = c->name_len;
	l->state = SC_SENT;
	out(s, scall_id(l), name_block, c->name_len, FFB_KIND_LOOKUP, 0);
}

void ffb__scall_post(struct ffb__post *post)
{
	struct ffb__scall_post *p = FFB__CONTAINER_OF(post, struct ffb__scall_post, post);
	struct ffb__session *s = post->s;
	struct ffb__scall *c = s->serving == FFB__SERVING ? scall_new(s) : NULL;
	if (!c) {
		if (p->handle)
			ffb__sheap_free(s, p->handle, FFB__BLOCK_OWNED);
		if (p->done)
			p->done(p->ctx, s->serving == FFB__SERVING ? FFB_ERR_TOO_MANY_CALLS : s->handle->gone, NULL, 0);
	} else {
		c->kind = p->kind;
		c->ticket = p->ticket;
		c->in_handle = p->handle;
		c->in_len = p->len;
		c->deadline_ns = p->deadline_ns;
		c->done = p->done;
		c->item = p->item;
		c->ctx = p->ctx;
		c->name_len = p->name_len;
		memcpy(c->name, p->name, p->name_len);
		c->credit_left = FFB_STREAM_INITIAL_CREDIT;
		c->state = SC_RESOLVING;
		if (p->deadline_ns) {
			if (!s->scall_deadlines || p->deadline_ns < s->scall_due)
				s->scall_due = p->deadline_ns;
			s->scall_deadlines = true;
		}
		resolve(s, c);
	}
	__atomic_fetch_sub(&s->posted, 1, __ATOMIC_ACQ_REL);
	free(p);
}

static struct ffb__scall *by_ticket(struct ffb__session *s, uint64_t ticket)
{
	for (uint32_t k = 0; k < FFB__MAX_SCALLS; k++) {
		struct ffb__scall *c = &s->scalls[k];
		if ((c->state == SC_SENT || c->state == SC_RESOLVING) && !c->lookup && c->ticket == ticket)
			return c;
	}
	return NULL;
}

void ffb__scall_ctl(struct ffb__post *post)
{
	struct ffb__ctl_post *p = FFB__CONTAINER_OF(post, struct ffb__ctl_post, post);
	struct ffb__session *s = post->s;
	struct ffb__scall *c = s->serving == FFB__SERVING ? by_ticket(s, p->ticket) : NULL;
	if (c && post->type == FFB__POST_SCANCEL) {
		scall_end(s, c, FFB_ERR_CANCELLED);
	} else if (c && c->kind == FFB_ID_STREAM && c->state == SC_SENT) {
		c->credit_left = c->credit_left > UINT32_MAX - p->n ? UINT32_MAX : c->credit_left + p->n;
		out(s, scall_id(c), 0, p->n, FFB_KIND_CREDIT, 0);
	}
	__atomic_fetch_sub(&s->posted, 1, __ATOMIC_ACQ_REL);
	free(p);
}

/* ---- answers from the client (request ring) ----------------------------- */

/* The pending call an answer's id names, or NULL (dropped and counted). */
static struct ffb__scall *named(struct ffb__session *s, uint64_t id)
{
	uint32_t k = FFB_CALL_SLOT(id);
	if (!FFB_CALL_ID_VALID(id) || FFB_CALL_DIR(id) != FFB_ID_FROM_SERVER || k >= FFB__MAX_SCALLS)
		return NULL;
	struct ffb__scall *c = &s->scalls[k];
	if ((c->state != SC_SENT && c->state != SC_ABANDONED) || c->gen != FFB_CALL_GEN(id) || scall_id(c) != id)
		return NULL;
	return c;
}

/* A block an answer names: 0, our input (zero copy), or a client block
 * the server now holds. The bytes, or false on a handle that breaks the
 * rules (then nothing is held). */
static bool answer_bytes(struct ffb__session *s, const struct ffb__scall *c, uint64_t handle, uint32_t len,
			 bool may_be_input, const void **data)
{
	*data = NULL;
	if (handle == 0)
		return len == 0;
	uint32_t k, i;
	if (may_be_input && handle == c->in_handle && c->in_handle) {
		if (ffb__heap_check(&s->server_heap, handle, &k, &i) || len > s->server_heap.cls[k].block_size)
			return false;
		*data = ffb__heap_at(&s->server_heap, k, i);
		return true;
	}
	if (ffb__heap_check(&s->client_heap, handle, &k, &i) || len > s->client_heap.cls[k].block_size ||
	    ffb__heap_hold(&s->client_heap, handle) != FFB_OK)
		return false;
	*data = ffb__heap_at(&s->client_heap, k, i);
	return true;
}

static void dropped(struct ffb__session *s, uint64_t handle)
{
	FFB__STAT_ADD(s->disp->stats.answers_dropped, 1);
	uint32_t k, i;
	/* A client block it brought goes back, unless the server holds it
	 * already (then the answer was a forgery of a held one). */
	if (handle && ffb__heap_check(&s->client_heap, handle, &k, &i) == FFB_OK &&
	    ffb__heap_hold(&s->client_heap, handle) == FFB_OK)
		release_client_block(s, handle);
}

static void lookup_answered(struct ffb__session *s, struct ffb__scall *l, ffb_status st, uint32_t fn)
{
	if (st == FFB_OK && fn != 0) {
		int i = cache_find(s, l->name, l->name_len);
		if (i < 0)
			i = (int)(s->name_next++ % FFB__NAME_CACHE);
		s->names[i].len = l->name_len;
		memcpy(s->names[i].name, l->name, l->name_len);
		s->names[i].fn = fn;
	} else if (st == FFB_OK) {
		st = FFB_ERR_PROTOCOL;
	}
	char name[FFB_MAX_NAME_LEN];
	uint8_t n = l->name_len;
	memcpy(name, l->name, n);
	scall_free(s, l);
	for (uint32_t k = 0; k < FFB__MAX_SCALLS; k++) {
		struct ffb__scall *c = &s->scalls[k];
		if (c->state == SC_RESOLVING && !c->lookup && c->name_len == n && memcmp(c->name, name, n) == 0)
			resolved(s, c, st, fn);
	}
}

bool ffb__scall_result(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	struct ffb__scall *c = named(s, e->call_id);
	if (!c) {
		dropped(s, e->handle);
		return true;
	}
	ffb_status st = (ffb_status)e->fn_or_status;
	if (c->lookup) {
		if (e->handle) {
			dropped(s, e->handle);
			st = FFB_ERR_PROTOCOL;
		}
		lookup_answered(s, c, st, st == FFB_OK ? e->len : 0);
		return true;
	}
	const void *data;
	if (!answer_bytes(s, c, e->handle, e->len, true, &data)) {
		FFB__STAT_ADD(s->disp->stats.protocol_errors, 1);
		st = FFB_ERR_PROTOCOL;
		data = NULL;
	}
	if (c->state == SC_SENT) {
		if (st == FFB_ERR_NOT_FOUND && !data && !c->retried) { /* no handler of that id (§7): it may be registered anew */
			int i = cache_find(s, c->name, c->name_len);
			if (i >= 0)
				s->names[i].len = 0;
			c->retried = true;
			if (data && e->handle != c->in_handle)
				release_client_block(s, e->handle);
			ffb__sheap_transition(s, c->in_handle, FFB__BLOCK_LENT, FFB__BLOCK_OWNED);
			c->state = SC_RESOLVING;
			resolve(s, c);
			return true;
		}
		if (c->done)
			c->done(c->ctx, st, data, data ? e->len : 0);
	}
	if (data && e->handle != c->in_handle)
		release_client_block(s, e->handle);
	scall_free(s, c);
	return true;
}

bool ffb__scall_item(struct ffb__session *s, const struct ffb_ring_entry *e)
{
	struct ffb__scall *c = named(s, e->call_id);
	if (!c || c->kind != FFB_ID_STREAM) {
		dropped(s, e->handle);
		return true;
	}
	if (c->credit_left == 0)
		return false; /* more items than it was allowed: a violation */
	c->credit_left--;
	const void *data;
	if (!answer_bytes(s, c, e->handle, e->len, false, &data))
		return false;
	if (c->state == SC_SENT)
		c->item(c->ctx, data, data ? e->len : 0);
	if (data)
		release_client_block(s, e->handle);
	return true;
}

/* ---- time and the end of the session ----------------------------------- */

uint64_t ffb__scall_expire(struct ffb__session *s, uint64_t now)
{
	uint64_t next = 0;
	if (!s->scall_deadlines)
		return 0;
	if (now < s->scall_due)
		return s->scall_due; /* the first deadline is not yet: no scan */
	bool any = false;
	for (uint32_t k = 0; k < FFB__MAX_SCALLS; k++) {
		struct ffb__scall *c = &s->scalls[k];
		if ((c->state != SC_SENT && c->state != SC_RESOLVING) || !c->deadline_ns || c->lookup)
			continue;
		if (now >= c->deadline_ns) {
			scall_end(s, c, FFB_ERR_TIMEOUT);
			continue;
		}
		any = true;
		if (!next || c->deadline_ns < next)
			next = c->deadline_ns;
	}
	s->scall_deadlines = any;
	s->scall_due = next;
	return next;
}

void ffb__scalls_end(struct ffb__session *s, ffb_status why)
{
	if (!s->scalls)
		return;
	for (uint32_t k = 0; k < FFB__MAX_SCALLS; k++) {
		struct ffb__scall *c = &s->scalls[k];
		if (c->state == SC_FREE)
			continue;
		if (c->done && c->state != SC_ABANDONED && !c->lookup)
			c->done(c->ctx, why, NULL, 0);
		c->done = NULL;
		c->state = SC_FREE; /* its blocks go with the session's heaps */
	}
}

void ffb__scalls_destroy(struct ffb__session *s)
{
	free(s->scalls);
	s->scalls = NULL;
}
