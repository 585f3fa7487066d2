/*
 * call.c — what a callback sees of one call (ffb_call_*), the session's
 * server heap behind its lock, and the two built-ins every server
 * registers, ffi.echo and ffi.version.
 *
 * A reply is the input block itself (zero copy), a new server-heap block,
 * or nothing. A server block allocated here stays OWNED by the server
 * until the session hands it to the client with the result (then LENT).
 * Callbacks run on dispatchers and workers, and a kept call's holder on
 * any thread, so the server heap (private allocator tables) is used
 * under the session's heap_lock.
 */
#include <string.h>

#include "server_internal.h"

ffb_status ffb__sheap_alloc(struct ffb__session *s, uint32_t len, uint64_t *handle, void **data)
{
	pthread_mutex_lock(&s->heap_lock);
	ffb_status st = ffb__heap_alloc(&s->server_heap, len, handle);
	pthread_mutex_unlock(&s->heap_lock);
	if (st == FFB_OK)
		*data = ffb__heap_at(&s->server_heap, FFB_HANDLE_CLASS(*handle), FFB_HANDLE_INDEX(*handle));
	return st;
}

ffb_status ffb__sheap_free(struct ffb__session *s, uint64_t handle, uint8_t from)
{
	pthread_mutex_lock(&s->heap_lock);
	ffb_status st = ffb__heap_free(&s->server_heap, handle, from);
	pthread_mutex_unlock(&s->heap_lock);
	return st;
}

ffb_status ffb__sheap_transition(struct ffb__session *s, uint64_t handle, uint8_t from, uint8_t to)
{
	pthread_mutex_lock(&s->heap_lock);
	ffb_status st = ffb__heap_transition(&s->server_heap, handle, from, to);
	pthread_mutex_unlock(&s->heap_lock);
	return st;
}

ffb_status ffb__sheap_lend(struct ffb__session *s, uint64_t handle)
{
	return ffb__sheap_transition(s, handle, FFB__BLOCK_OWNED, FFB__BLOCK_LENT);
}

void *ffb_call_data(const ffb_call *c)
{
	return c ? c->in_data : NULL;
}

uint32_t ffb_call_len(const ffb_call *c)
{
	return c ? c->in_len : 0;
}

uint32_t ffb_call_capacity(const ffb_call *c)
{
	return c ? c->in_capacity : 0;
}

uint32_t ffb_call_function(const ffb_call *c)
{
	return c ? c->fn_id : 0;
}

uint64_t ffb_call_session(const ffb_call *c)
{
	return c && c->session ? c->session->id : 0;
}

/* Give back a server block allocated by an earlier reply_alloc. */
static void drop_reply(ffb_call *c)
{
	if (c->reply_handle && c->reply_handle != c->in_handle)
		ffb__sheap_free(c->session, c->reply_handle, FFB__BLOCK_OWNED);
	c->reply_handle = 0;
	c->reply_len = 0;
}

ffb_status ffb_call_reply_input(ffb_call *c, uint32_t len)
{
	if (!c)
		return FFB_ERR_NULL_POINTER;
	if (!c->in_handle || len > c->in_capacity)
		return FFB_ERR_INVALID_ARGUMENT;
	drop_reply(c);
	c->reply_handle = c->in_handle;
	c->reply_len = len;
	return FFB_OK;
}

ffb_status ffb_call_reply_alloc(ffb_call *c, uint32_t len, void **data)
{
	if (!c || !data)
		return FFB_ERR_NULL_POINTER;
	drop_reply(c);
	uint64_t handle;
	ffb_status st = ffb__sheap_alloc(c->session, len, &handle, data);
	if (st)
		return st;
	c->reply_handle = handle;
	c->reply_len = len;
	return FFB_OK;
}

ffb_status ffb_call_reply_truncate(ffb_call *c, uint32_t len)
{
	if (!c)
		return FFB_ERR_NULL_POINTER;
	if (len > c->reply_len)
		return FFB_ERR_INVALID_ARGUMENT;
	c->reply_len = len;
	return FFB_OK;
}

ffb_status ffb_call_reply_bytes(ffb_call *c, const void *data, uint32_t len)
{
	void *dst;
	if (len && !data)
		return FFB_ERR_NULL_POINTER;
	ffb_status st = ffb_call_reply_alloc(c, len, &dst);
	if (st == FFB_OK && len)
		memcpy(dst, data, len);
	return st;
}

/* Length of the UTF-8 sequence a lead byte announces, 0 if none. */
static size_t utf8_seq_len(unsigned char c)
{
	return c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
}

ffb_status ffb_call_set_error(ffb_call *c, const char *msg)
{
	if (!c || !msg)
		return FFB_ERR_NULL_POINTER;
	size_t n = strnlen(msg, sizeof(c->msg_buf) - 1);
	memcpy(c->msg_buf, msg, n);
	c->msg_buf[n] = 0;
	/* The client is promised UTF-8: replace every byte that does not
	 * start a valid sequence (including one cut by truncation). */
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq_len((unsigned char)c->msg_buf[i]);
		if (k && i + k <= n && ffb__utf8_valid((const uint8_t *)c->msg_buf + i, k))
			i += k;
		else
			c->msg_buf[i++] = '?';
	}
	c->error_msg = c->msg_buf;
	return FFB_OK;
}

ffb_status ffb__builtin_echo(ffb_call *call, void *ctx)
{
	(void)ctx;
	if (!call->in_handle)
		return FFB_OK; /* empty in, empty out */
	return ffb_call_reply_input(call, call->in_len);
}

ffb_status ffb__builtin_version(ffb_call *call, void *ctx)
{
	(void)ctx;
	const char *v = ffb_version();
	return ffb_call_reply_bytes(call, v, (uint32_t)strlen(v));
}
