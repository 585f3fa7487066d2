/*
 * server.c — the server object and its one io_uring event loop.
 *
 * The loop busy-polls every active session's request ring for spin_ns
 * after the last work, then parks: it sets each ring's needs_wakeup flag
 * (C3), re-checks, and sleeps in io_uring_wait_cqe on everything at once —
 * accepts, handshakes, peer hang-ups and pidfds, each session's doorbell
 * (a FUTEX_WAIT op on the request ring's p_tail where the kernel has it,
 * probed at create time; else an eventfd poll), and a timer when a
 * handshake deadline or a blocked session needs one.
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

#define IORING_OP_FUTEX_WAIT_ 51
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

struct io_uring_sqe *ffb__server_sqe(struct ffb_server *srv)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&srv->ring);
	while (!sqe) {
		io_uring_submit(&srv->ring);
		sqe = io_uring_get_sqe(&srv->ring);
	}
	return sqe;
}

void ffb__arm_poll(struct ffb_server *srv, struct ffb__op *op, int fd, unsigned events)
{
	struct io_uring_sqe *sqe = ffb__server_sqe(srv);
	io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data(sqe, op);
	op->armed = true;
	if (op->s)
		op->s->ops_pending++;
}

static void arm_accept(struct ffb_server *srv)
{
	struct io_uring_sqe *sqe = ffb__server_sqe(srv);
	io_uring_prep_accept(sqe, srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	io_uring_sqe_set_data(sqe, &srv->op_accept);
	srv->op_accept.armed = true;
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
	s->notify_fd = -1;
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
	if (io_uring_queue_init(URING_ENTRIES, &s->ring, 0) < 0) {
		ffb__registry_destroy(s->reg);
		s->reg = NULL;
		goto fail;
	}
	s->futex_ok = o->use_futex_doorbell && probe_futex(&s->ring);
	s->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->notify_fd < 0)
		goto fail_ring;
	s->op_accept.kind = FFB__OP_ACCEPT;
	s->op_notify.kind = FFB__OP_NOTIFY;
	if (ffb__registry_add(s->reg, "ffi.echo", 8, ffb__builtin_echo, NULL, true, NULL) ||
	    ffb__registry_add(s->reg, "ffi.version", 11, ffb__builtin_version, NULL, true, NULL))
		goto fail_ring;
	*out = s;
	return FFB_OK;
fail_ring:
	io_uring_queue_exit(&s->ring);
	ffb__registry_destroy(s->reg);
	s->reg = NULL;
fail:
	if (s->notify_fd >= 0)
		close(s->notify_fd);
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
	uint64_t *src = (uint64_t *)&s->stats, *dst = (uint64_t *)out;
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	return FFB_OK;
}

ffb_status ffb_server_stop(ffb_server *s)
{
	if (!s)
		return FFB_ERR_NULL_POINTER;
	__atomic_store_n(&s->stop_flag, 1, __ATOMIC_RELEASE);
	uint64_t one = 1;
	ssize_t n = write(s->notify_fd, &one, sizeof(one)); /* async-signal-safe */
	(void)n;
	return FFB_OK;
}

static void take_adopted(struct ffb_server *srv)
{
	int fds[16];
	unsigned n;
	pthread_mutex_lock(&srv->adopt_lock);
	n = srv->n_adopt;
	memcpy(fds, srv->adopt_fds, n * sizeof(int));
	srv->n_adopt = 0;
	pthread_mutex_unlock(&srv->adopt_lock);
	for (unsigned i = 0; i < n; i++)
		ffb__session_accept(srv, fds[i], false);
}

static void on_completion(struct ffb_server *srv, struct io_uring_cqe *cqe)
{
	struct ffb__op *op = io_uring_cqe_get_data(cqe);
	if (!op)
		return; /* a cancel request's own completion */
	int res = cqe->res;
	switch (op->kind) {
	case FFB__OP_ACCEPT:
		op->armed = false;
		if (res >= 0)
			ffb__session_accept(srv, res, true);
		else if (res != -EAGAIN && res != -EINTR && res != -ECANCELED)
			ffb__log(FFB_LOG_WARN, "accept: %s", strerror(-res));
		if (!__atomic_load_n(&srv->stop_flag, __ATOMIC_ACQUIRE))
			arm_accept(srv);
		return;
	case FFB__OP_NOTIFY:
		op->armed = false;
		if (read(srv->notify_fd, &srv->notify_buf, sizeof(srv->notify_buf)) < 0 && errno != EAGAIN)
			ffb__log(FFB_LOG_WARN, "notify read: %s", strerror(errno));
		take_adopted(srv);
		if (!__atomic_load_n(&srv->stop_flag, __ATOMIC_ACQUIRE))
			ffb__arm_poll(srv, &srv->op_notify, srv->notify_fd, POLLIN);
		return;
	default:
		break;
	}
	struct ffb__session *s = op->s;
	if (!ffb__session_op_done(op))
		return;
	switch (op->kind) {
	case FFB__OP_SOCK:
		ffb__session_on_sock(s, res < 0 ? POLLERR : res);
		break;
	case FFB__OP_PIDFD:
		ffb__session_close(s, FFB_OK); /* the client process exited */
		break;
	case FFB__OP_BELL:
		if (!srv->futex_ok)
			ffb__bell_drain(s->server_bell);
		break;
	case FFB__OP_RING:
		if (s->ring_again) {
			s->ring_again = false;
			ffb__session_ring_client(s);
		}
		break;
	}
}

static unsigned reap(struct ffb_server *srv)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&srv->ring, head, cqe)
	{
		on_completion(srv, cqe);
		n++;
	}
	io_uring_cq_advance(&srv->ring, n);
	return n;
}

static bool service_all(struct ffb_server *srv)
{
	bool did = false;
	struct ffb__session *s = srv->sessions, *next;
	for (; s; s = next) {
		next = s->next; /* service may close s */
		did |= ffb__session_service(s);
	}
	return did;
}

static void end_park(struct ffb_server *srv)
{
	for (struct ffb__session *s = srv->sessions; s; s = s->next)
		if (s->state == FFB__ACTIVE)
			ffb_ring_cons_end_park(&s->req);
}

/* Announce sleep on every ring (C3), arm doorbells, and wait for any
 * completion or the nearest timer. Returns early if work appeared. */
static void park(struct ffb_server *srv)
{
	bool timer = false, handshaking = false;
	struct ffb__session *s = srv->sessions, *next;
	for (; s; s = next) {
		next = s->next;
		if (s->state == FFB__HANDSHAKE)
			handshaking = true;
		if (s->state != FFB__ACTIVE)
			continue;
		if (s->blocked) {
			timer = true; /* waiting for the client to make room */
			continue;
		}
		uint32_t sleep_on;
		int r = ffb_ring_cons_prepare_park(&s->req, &sleep_on);
		if (r == FFB_RING_CORRUPT) {
			FFB__STAT_ADD(srv->stats.protocol_errors, 1);
			ffb__session_close(s, FFB_ERR_PROTOCOL);
			continue;
		}
		if (r == 0) {
			end_park(srv);
			return;
		}
		ffb__session_arm_bell(s, sleep_on);
	}
	FFB__STAT_ADD(srv->stats.parks, 1);
	struct io_uring_cqe *cqe;
	if (timer || handshaking) {
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = timer ? 1000000 : 100000000};
		io_uring_submit_and_wait_timeout(&srv->ring, &cqe, 1, &ts, NULL);
	} else {
		io_uring_submit_and_wait(&srv->ring, 1);
	}
	end_park(srv);
}

static void close_all(struct ffb_server *srv)
{
	while (srv->sessions)
		ffb__session_close(srv->sessions, FFB_ERR_CLOSED);
	if (srv->op_accept.armed) {
		struct io_uring_sqe *sqe = ffb__server_sqe(srv);
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&srv->op_accept, 0);
		io_uring_sqe_set_data64(sqe, 0);
	}
	if (srv->op_notify.armed) {
		struct io_uring_sqe *sqe = ffb__server_sqe(srv);
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&srv->op_notify, 0);
		io_uring_sqe_set_data64(sqe, 0);
	}
	/* Wait out every op that still references a session or the server. */
	while (srv->zombies || srv->op_accept.armed || srv->op_notify.armed) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {.tv_sec = 1};
		if (io_uring_submit_and_wait_timeout(&srv->ring, &cqe, 1, &ts, NULL) == -ETIME)
			break;
		reap(srv);
	}
}

ffb_status ffb_server_run(ffb_server *srv)
{
	if (!srv)
		return FFB_ERR_NULL_POINTER;
	if (__atomic_exchange_n(&srv->running, true, __ATOMIC_ACQ_REL))
		return FFB_ERR_BUSY;
	if (srv->listen_fd >= 0 && !srv->op_accept.armed)
		arm_accept(srv);
	if (!srv->op_notify.armed)
		ffb__arm_poll(srv, &srv->op_notify, srv->notify_fd, POLLIN);
	take_adopted(srv);
	uint64_t idle_since = 0; /* 0: busy */
	unsigned busy = 0, idle = 0;
	while (!__atomic_load_n(&srv->stop_flag, __ATOMIC_ACQUIRE)) {
		/* Hot path: rings only. io_uring and the clock are looked at
		 * when idle, and every 256th busy pass so a loaded server still
		 * accepts and notices hang-ups. */
		if (service_all(srv)) {
			idle_since = 0;
			if (++busy & 255)
				continue;
		}
		if (io_uring_sq_ready(&srv->ring))
			io_uring_submit(&srv->ring);
		if (reap(srv)) {
			idle_since = 0;
			continue;
		}
		if (++idle & 7) { /* the clock every 8th idle pass */
			ffb_cpu_relax();
			continue;
		}
		uint64_t now = ffb__now_ns();
		if ((idle & 1023) == 0)
			ffb__session_expire_handshakes(srv, now);
		if (!idle_since)
			idle_since = now;
		if (now - idle_since < srv->opts.spin_ns)
			continue;
		park(srv);
		reap(srv);
		ffb__session_expire_handshakes(srv, ffb__now_ns());
		idle_since = 0;
	}
	close_all(srv);
	__atomic_store_n(&srv->running, false, __ATOMIC_RELEASE);
	return FFB_OK;
}

static void *loop_thread(void *arg)
{
	ffb_server_run(arg);
	return NULL;
}

ffb_status ffb_server_start(ffb_server *s)
{
	if (!s)
		return FFB_ERR_NULL_POINTER;
	if (s->thread_started)
		return FFB_ERR_BUSY;
	if (pthread_create(&s->thread, NULL, loop_thread, s) != 0)
		return FFB_ERR_SYSTEM;
	s->thread_started = true;
	return FFB_OK;
}

void ffb_server_destroy(ffb_server *s)
{
	if (!s)
		return;
	ffb_server_stop(s);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	else if (s->sessions)
		close_all(s);
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
	close(s->notify_fd);
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
	if (write(s->notify_fd, &one, sizeof(one)) < 0) {
		/* the loop still picks the fd up at its next notify or start */
	}
	return ffb__client_handshake(sv[1], o, out);
}
