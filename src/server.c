/*
 * server.c — the server object: create, listen, register, run, stop,
 * destroy; and the io_uring helpers both of its threads use.
 *
 * Running a server starts its two threads (server_internal.h): the
 * control thread (control.c) and the dispatcher (dispatcher.c), which is
 * the thread that called ffb_server_run, or one ffb_server_start made.
 * Callbacks run on the dispatcher.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server_internal.h"

#define IORING_OP_FUTEX_WAIT_ 51 /* liburing 2.3 predates the helper */
#define URING_ENTRIES 256

static const uint32_t default_class_counts[FFB_NUM_CLASSES] = {
	4096, 2048, 1024, 512, 128, 64, 16, 8, 4, 2, /* 64 B ... 16 MiB: ~70 MiB a heap */
};

void ffb_server_options_init(struct ffb_server_options *o)
{
	memset(o, 0, sizeof(*o));
	o->max_sessions = 64;
	o->ring_entries = 256;
	memcpy(o->class_counts, default_class_counts, sizeof(default_class_counts));
	o->max_arena_size = 1ull << 30;
	o->socket_mode = 0600;
	o->spin_ns = 50000;
	o->handshake_timeout_ms = 2000;
	o->use_futex_doorbell = 1;
}

struct io_uring_sqe *ffb__sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	while (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

/* Poll fd for events; `pending` (may be NULL) counts the session's ops. */
void ffb__arm_poll(struct io_uring *ring, struct ffb__op *op, int *pending, int fd, unsigned events)
{
	struct io_uring_sqe *sqe = ffb__sqe(ring);
	io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data(sqe, op);
	op->armed = true;
	if (pending)
		(*pending)++;
}

/* Hand every completion waiting on ring to fn; returns how many. */
unsigned ffb__reap(struct io_uring *ring, void (*fn)(void *ctx, struct io_uring_cqe *cqe), void *ctx)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(ring, head, cqe)
	{
		fn(ctx, cqe);
		n++;
	}
	io_uring_cq_advance(ring, n);
	return n;
}

/* Ask the kernel to end op early; its completion still arrives. */
void ffb__cancel_op(struct io_uring *ring, struct ffb__op *op)
{
	if (!op->armed)
		return;
	struct io_uring_sqe *sqe = ffb__sqe(ring);
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, 0);
}

static bool probe_futex(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	if (!p)
		return false;
	bool ok = io_uring_opcode_supported(p, IORING_OP_FUTEX_WAIT_);
	io_uring_free_probe(p);
	return ok;
}

ffb_status ffb_server_create(const struct ffb_server_options *o, ffb_server **out)
{
	if (!out)
		return FFB_ERR_NULL_POINTER;
	struct ffb_server_options def;
	if (!o) {
		ffb_server_options_init(&def);
		o = &def;
	}
	struct ffb_superblock probe_sb;
	ffb_status st = ffb__layout_compute(o, 1, 1, 0, &probe_sb);
	if (st || o->max_sessions == 0)
		return FFB_ERR_INVALID_ARGUMENT;
	if (o->n_allowed_uids && !o->allowed_uids)
		return FFB_ERR_NULL_POINTER;

	struct ffb_server *s = calloc(1, sizeof(*s));
	if (!s)
		return FFB_ERR_SYSTEM;
	s->opts = *o;
	s->listen_fd = -1;
	s->inbox.fd = -1;
	pthread_mutex_init(&s->adopt_lock, NULL);
	if (o->n_allowed_uids) {
		s->uids = malloc(sizeof(uid_t) * o->n_allowed_uids);
		if (!s->uids)
			goto fail;
		memcpy(s->uids, o->allowed_uids, sizeof(uid_t) * o->n_allowed_uids);
	}
	s->opts.allowed_uids = s->uids;
	if (ffb__registry_create(&s->reg))
		goto fail;
	if (io_uring_queue_init(URING_ENTRIES, &s->ring, 0) < 0)
		goto fail_reg;
	if (ffb__dispatcher_init(&s->disp, s) < 0)
		goto fail_ring;
	s->futex_ok = o->use_futex_doorbell && probe_futex(&s->disp.ring);
	if (ffb__mailbox_init(&s->inbox, FFB__TO_CONTROL) < 0)
		goto fail_disp;
	s->op_accept.kind = FFB__OP_ACCEPT;
	s->op_notify.kind = FFB__OP_NOTIFY;
	if (ffb__registry_add(s->reg, "ffi.echo", 8, ffb__builtin_echo, NULL, true, NULL) ||
	    ffb__registry_add(s->reg, "ffi.version", 11, ffb__builtin_version, NULL, true, NULL))
		goto fail_inbox;
	*out = s;
	return FFB_OK;
fail_inbox:
	ffb__mailbox_destroy(&s->inbox);
fail_disp:
	ffb__dispatcher_destroy(&s->disp);
fail_ring:
	io_uring_queue_exit(&s->ring);
fail_reg:
	ffb__registry_destroy(s->reg);
fail:
	pthread_mutex_destroy(&s->adopt_lock);
	free(s->uids);
	free(s);
	return FFB_ERR_SYSTEM;
}

int ffb_server_uses_futex(const ffb_server *s)
{
	return s && s->futex_ok;
}

ffb_status ffb_server_listen(ffb_server *s, const char *path)
{
	if (!s || !path)
		return FFB_ERR_NULL_POINTER;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path) || s->listen_fd >= 0)
		return FFB_ERR_INVALID_ARGUMENT;
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return FFB_ERR_SYSTEM;
	/* Replace a stale socket file, but never steal a live server's. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0;
		if (probe >= 0)
			close(probe);
		if (live) {
			close(fd);
			errno = EADDRINUSE;
			return FFB_ERR_SYSTEM;
		}
		unlink(path);
	}
	/* Create the file with the configured mode, not the umask's. */
	mode_t old = umask(0777 & ~s->opts.socket_mode);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return FFB_ERR_SYSTEM;
	}
	/* From here on the file exists: every failure removes it again. */
	char *copy = NULL;
	if (chmod(path, s->opts.socket_mode) != 0 || listen(fd, 128) != 0 || !(copy = strdup(path))) {
		int saved = errno;
		unlink(path);
		close(fd);
		errno = saved;
		return FFB_ERR_SYSTEM;
	}
	s->path = copy;
	s->listen_fd = fd;
	return FFB_OK;
}

ffb_status ffb_server_register(ffb_server *s, const char *name, ffb_callback_fn fn, void *ctx, uint32_t *fn_id)
{
	if (!s || !name)
		return FFB_ERR_NULL_POINTER;
	return ffb__registry_add(s->reg, name, strlen(name), fn, ctx, false, fn_id);
}

ffb_status ffb_server_unregister(ffb_server *s, const char *name)
{
	if (!s || !name)
		return FFB_ERR_NULL_POINTER;
	return ffb__registry_remove(s->reg, name, strlen(name));
}

ffb_status ffb_server_lookup(ffb_server *s, const char *name, uint32_t *fn_id)
{
	if (!s || !name)
		return FFB_ERR_NULL_POINTER;
	return ffb__registry_find(s->reg, name, strlen(name), fn_id);
}

ffb_status ffb_server_stats(ffb_server *s, struct ffb_server_stats *out)
{
	if (!s || !out)
		return FFB_ERR_NULL_POINTER;
	/* Each thread counts in its own block: sum them. */
	uint64_t *ctl = (uint64_t *)&s->stats, *disp = (uint64_t *)&s->disp.stats, *dst = (uint64_t *)out;
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&ctl[i], __ATOMIC_RELAXED) + __atomic_load_n(&disp[i], __ATOMIC_RELAXED);
	return FFB_OK;
}

ffb_status ffb_server_stop(ffb_server *s)
{
	if (!s)
		return FFB_ERR_NULL_POINTER;
	__atomic_store_n(&s->stop_flag, 1, __ATOMIC_RELEASE);
	uint64_t one = 1;
	ssize_t n = write(s->inbox.fd, &one, sizeof(one)); /* async-signal-safe */
	(void)n;
	return FFB_OK;
}

static void *control_thread(void *arg)
{
	ffb__control_run(arg);
	return NULL;
}

static void *dispatcher_thread(void *arg)
{
	ffb__dispatcher_run(arg);
	return NULL;
}

/* Tell a dispatcher that will get no control thread to go. */
static void release_dispatcher(struct ffb_server *srv)
{
	__atomic_store_n(&srv->control_done, 1, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(srv->disp.inbox.fd, &one, sizeof(one)) < 0) {
		/* full counter: it is being woken anyway */
	}
}

ffb_status ffb_server_run(ffb_server *srv)
{
	if (!srv)
		return FFB_ERR_NULL_POINTER;
	if (__atomic_exchange_n(&srv->running, true, __ATOMIC_ACQ_REL))
		return FFB_ERR_BUSY;
	__atomic_store_n(&srv->control_done, 0, __ATOMIC_RELAXED);
	pthread_t control;
	if (pthread_create(&control, NULL, control_thread, srv) != 0) {
		__atomic_store_n(&srv->running, false, __ATOMIC_RELEASE);
		return FFB_ERR_SYSTEM;
	}
	ffb__dispatcher_run(&srv->disp);
	pthread_join(control, NULL);
	__atomic_store_n(&srv->running, false, __ATOMIC_RELEASE);
	return FFB_OK;
}

ffb_status ffb_server_start(ffb_server *s)
{
	if (!s)
		return FFB_ERR_NULL_POINTER;
	if (__atomic_exchange_n(&s->running, true, __ATOMIC_ACQ_REL))
		return FFB_ERR_BUSY;
	__atomic_store_n(&s->control_done, 0, __ATOMIC_RELAXED);
	if (pthread_create(&s->disp.thread, NULL, dispatcher_thread, &s->disp) != 0)
		goto fail;
	if (pthread_create(&s->thread, NULL, control_thread, s) != 0) {
		release_dispatcher(s);
		pthread_join(s->disp.thread, NULL);
		goto fail;
	}
	s->thread_started = true;
	return FFB_OK;
fail:
	__atomic_store_n(&s->running, false, __ATOMIC_RELEASE);
	return FFB_ERR_SYSTEM;
}

void ffb_server_destroy(ffb_server *s)
{
	if (!s)
		return;
	ffb_server_stop(s);
	if (s->thread_started) {
		pthread_join(s->thread, NULL);
		pthread_join(s->disp.thread, NULL);
		__atomic_store_n(&s->running, false, __ATOMIC_RELEASE);
	}
	pthread_mutex_lock(&s->adopt_lock);
	for (unsigned i = 0; i < s->n_adopt; i++)
		close(s->adopt_fds[i]);
	s->n_adopt = 0;
	pthread_mutex_unlock(&s->adopt_lock);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		if (s->path)
			unlink(s->path);
	}
	io_uring_queue_exit(&s->ring);
	ffb__dispatcher_destroy(&s->disp);
	ffb__mailbox_destroy(&s->inbox);
	ffb__registry_destroy(s->reg);
	pthread_mutex_destroy(&s->adopt_lock);
	free(s->path);
	free(s->uids);
	free(s);
}

ffb_status ffb_server_connect_inproc(ffb_server *s, const struct ffb_client_options *o, ffb_client **out)
{
	if (!s || !out)
		return FFB_ERR_NULL_POINTER;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return FFB_ERR_SYSTEM;
	pthread_mutex_lock(&s->adopt_lock);
	bool room = s->n_adopt < sizeof(s->adopt_fds) / sizeof(s->adopt_fds[0]);
	if (room)
		s->adopt_fds[s->n_adopt++] = sv[0];
	pthread_mutex_unlock(&s->adopt_lock);
	if (!room) {
		close(sv[0]);
		close(sv[1]);
		return FFB_ERR_BUSY;
	}
	uint64_t one = 1;
	if (write(s->inbox.fd, &one, sizeof(one)) < 0) {
		/* the loop still picks the fd up at its next notify or start */
	}
	return ffb__client_handshake(sv[1], o, out);
}
