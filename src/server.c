/*
 * server.c — the server object: options, create, listen, register, run,
 * stop, destroy, stats, post.
 *
 * Running a server starts its threads (server_internal.h): the control
 * thread (control.c), the dispatchers (dispatcher.c; the first is the
 * thread that called ffb_server_run, or one ffb_server_start made) and
 * the workers of the pool (pool.c). Inline callbacks run on the
 * dispatchers, pooled ones on the workers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server_internal.h"

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
	o->handshake_timeout_ms = 1000;
	o->use_futex_doorbell = 1;
	o->dispatchers = 1;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o->workers = cpus > 0 ? (uint32_t)cpus : 1;
	o->worker_spin_ns = 20000;
	o->inline_budget_ns = 200000;
	o->max_handshakes = 256;
	o->max_handshakes_per_uid = 64;
}

/* Free what create made; every part may be missing (a failed create). */
static void server_free(struct ffb_server *s)
{
	for (uint32_t i = 0; i < s->ndisp; i++)
		ffb__dispatcher_destroy(&s->disp[i]);
	free(s->disp);
	ffb__pool_destroy(&s->pool);
	ffb__mailbox_destroy(&s->inbox);
	if (s->ring.ring_fd > 0)
		io_uring_queue_exit(&s->ring);
	ffb__registry_destroy(s->reg);
	pthread_mutex_destroy(&s->adopt_lock);
	pthread_mutex_destroy(&s->handles_lock);
	free(s->path);
	free(s->uids);
	free(s->hs_uids);
	free(s);
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
	if (st || o->max_sessions == 0 || o->dispatchers == 0 || o->dispatchers > 64 || o->workers > 1024 ||
	    o->max_handshakes == 0 || o->max_handshakes_per_uid == 0 || o->max_handshakes_per_uid > o->max_handshakes)
		return FFB_ERR_INVALID_ARGUMENT;
	if (o->n_allowed_uids && !o->allowed_uids)
		return FFB_ERR_NULL_POINTER;

	/* The pool's counters sit on their own cache-line pairs: the struct
	 * needs its declared alignment, which calloc does not give. */
	struct ffb_server *s = NULL;
	if (posix_memalign((void **)&s, _Alignof(struct ffb_server), sizeof(*s)))
		return FFB_ERR_SYSTEM;
	memset(s, 0, sizeof(*s));
	s->opts = *o;
	s->listen_fd = -1;
	s->inbox.fd = -1;
	s->ring.ring_fd = -1;
	ffb__list_init(&s->handshakes);
	ffb__list_init(&s->sessions);
	ffb__list_init(&s->zombies);
	ffb__list_init(&s->handles);
	pthread_mutex_init(&s->handles_lock, NULL);
	pthread_mutex_init(&s->adopt_lock, NULL);
	s->budget_ticks = ffb__ticks_from_ns(o->inline_budget_ns);
	s->ns_per_tick_q32 = ffb__ns_from_ticks(1ull << 32);
	s->created_ns = ffb__now_ns();
	st = FFB_ERR_SYSTEM;
	if (o->n_allowed_uids) {
		s->uids = malloc(sizeof(uid_t) * o->n_allowed_uids);
		if (!s->uids)
			goto fail;
		memcpy(s->uids, o->allowed_uids, sizeof(uid_t) * o->n_allowed_uids);
	}
	s->opts.allowed_uids = s->uids;
	s->hs_uids = calloc(o->max_handshakes, sizeof(*s->hs_uids));
	if (!s->hs_uids)
		goto fail;
	if (ffb__registry_create(&s->reg) || ffb__uring_init(&s->ring) < 0)
		goto fail;
	if (ffb__mailbox_init(&s->inbox, FFB__TO_CONTROL) < 0)
		goto fail;
	s->disp = calloc(o->dispatchers, sizeof(*s->disp));
	if (!s->disp)
		goto fail;
	for (; s->ndisp < o->dispatchers; s->ndisp++)
		if (ffb__dispatcher_init(&s->disp[s->ndisp], s) < 0)
			goto fail;
	s->futex_ok = o->use_futex_doorbell && ffb__uring_has_futex(&s->disp[0].ring);
	if (ffb__pool_init(&s->pool, s, o->workers, o->worker_spin_ns))
		goto fail;
	s->op_accept.kind = FFB__OP_ACCEPT;
	s->op_notify.kind = FFB__OP_NOTIFY;
	if (ffb__registry_add(s->reg, "ffi.echo", 8, ffb__builtin_echo, NULL, FFB__REG_BUILTIN, NULL) ||
	    ffb__registry_add(s->reg, "ffi.version", 11, ffb__builtin_version, NULL, FFB__REG_BUILTIN, NULL))
		goto fail;
	*out = s;
	return FFB_OK;
fail:
	server_free(s);
	return st;
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
	/* From here on the file exists: every failure removes it again.
	 * Every connection inherits the listener's SO_PASSRIGHTS, so no
	 * client can send us an fd, not even before its accept. */
	ffb__refuse_fds(fd);
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

ffb_status ffb_server_listen_fd(ffb_server *s, int fd)
{
	if (!s)
		return FFB_ERR_NULL_POINTER;
	if (fd < 0 || s->listen_fd >= 0)
		return FFB_ERR_INVALID_ARGUMENT;
	int domain = 0, type = 0, accepting = 0;
	socklen_t len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
		return FFB_ERR_BAD_FD; /* errno EBADF or ENOTSOCK */
	len = sizeof(int);
	if (domain != AF_UNIX || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) {
		errno = EPROTOTYPE;
		return FFB_ERR_BAD_FD;
	}
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) {
		errno = EINVAL;
		return FFB_ERR_BAD_FD;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		return FFB_ERR_SYSTEM;
	/* Connections accepted later inherit it (see ffb_server_listen). */
	ffb__refuse_fds(fd);
	s->listen_fd = fd;
	return FFB_OK;
}

/* Parse a non-negative decimal int; -1 if `v` is not one. */
static long parse_env_int(const char *v)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 0 || n > INT32_MAX)
		return -1;
	return n;
}

ffb_status ffb_server_listen_env(ffb_server *s, int *used)
{
	if (!s)
		return FFB_ERR_NULL_POINTER;
	if (used)
		*used = 0;
	const char *ppid = getenv("FFB_PARENT_PID");
	if (ppid) {
		long want = parse_env_int(ppid);
		unsetenv("FFB_PARENT_PID");
		if (want <= 0) {
			errno = EINVAL;
			return FFB_ERR_INVALID_ARGUMENT;
		}
		/* A launcher's own death signal (Go's Pdeathsig) wins. */
		int sig = 0;
		if (prctl(PR_GET_PDEATHSIG, &sig) == 0 && sig == 0 && prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
			return FFB_ERR_SYSTEM;
		/* Checked after the death signal is armed: a parent that died
		 * before (between its fork and here) shows as a new ppid. A
		 * new ppid with the launcher still alive is a wrapper in
		 * between (sh -c, cargo run), whose death signals us. */
		if (getppid() != (pid_t)want && kill((pid_t)want, 0) != 0 && errno == ESRCH)
			return FFB_ERR_PEER_GONE;
	}
	const char *v = getenv("FFB_LISTEN_FD");
	if (!v)
		return FFB_OK;
	long fd = parse_env_int(v);
	unsetenv("FFB_LISTEN_FD");
	if (fd < 0) {
		errno = EINVAL;
		return FFB_ERR_INVALID_ARGUMENT;
	}
	ffb_status st = ffb_server_listen_fd(s, (int)fd);
	if (st == FFB_OK && used)
		*used = 1;
	return st;
}

ffb_status ffb_server_register(ffb_server *s, const char *name, ffb_callback_fn fn, void *ctx, uint32_t *fn_id)
{
	return ffb_server_register_flags(s, name, fn, ctx, FFB_CB_INLINE, fn_id);
}

ffb_status ffb_server_register_flags(ffb_server *s, const char *name, ffb_callback_fn fn, void *ctx,
				     uint32_t flags, uint32_t *fn_id)
{
	if (!s || !name)
		return FFB_ERR_NULL_POINTER;
	if ((flags & ~(uint32_t)FFB_CB_POOL) || ((flags & FFB_CB_POOL) && s->pool.nworkers == 0))
		return FFB_ERR_INVALID_ARGUMENT;
	return ffb__registry_add(s->reg, name, strlen(name), fn, ctx, flags, fn_id);
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

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83 /* Linux 6.16, asm-generic */
#endif

bool ffb__test_keep_passrights;

bool ffb__refuse_fds(int fd)
{
	if (ffb__test_keep_passrights)
		return false;
	int off = 0;
	return setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof(off)) == 0; /* ENOPROTOOPT before 6.16 */
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

/* Tell dispatchers that will get no control thread to go. */
static void release_dispatchers(struct ffb_server *srv)
{
	__atomic_store_n(&srv->control_done, 1, __ATOMIC_RELEASE);
	uint64_t one = 1;
	for (uint32_t i = 0; i < srv->ndisp; i++)
		if (write(srv->disp[i].inbox.fd, &one, sizeof(one)) < 0) {
			/* full counter: it is being woken anyway */
		}
}

/* Start the workers, the dispatchers from `first` on, and control. */
static ffb_status start_threads(struct ffb_server *srv, uint32_t first)
{
	__atomic_store_n(&srv->control_done, 0, __ATOMIC_RELAXED);
	if (ffb__pool_start(&srv->pool))
		return FFB_ERR_SYSTEM;
	uint32_t i = first;
	for (; i < srv->ndisp; i++) {
		if (pthread_create(&srv->disp[i].thread, NULL, dispatcher_thread, &srv->disp[i]) != 0)
			break;
		srv->disp[i].thread_started = true;
	}
	if (i == srv->ndisp && pthread_create(&srv->thread, NULL, control_thread, srv) == 0) {
		srv->thread_started = true;
		return FFB_OK;
	}
	release_dispatchers(srv);
	for (uint32_t j = first; j < i; j++) {
		pthread_join(srv->disp[j].thread, NULL);
		srv->disp[j].thread_started = false;
	}
	ffb__pool_stop(&srv->pool);
	return FFB_ERR_SYSTEM;
}

/* Join what start_threads started (control first: it ends last but for
 * the dispatchers, which wait for it), then the workers. */
static void join_threads(struct ffb_server *srv)
{
	if (srv->thread_started) {
		pthread_join(srv->thread, NULL);
		srv->thread_started = false;
	}
	for (uint32_t i = 0; i < srv->ndisp; i++)
		if (srv->disp[i].thread_started) {
			pthread_join(srv->disp[i].thread, NULL);
			srv->disp[i].thread_started = false;
		}
	ffb__pool_stop(&srv->pool);
}

ffb_status ffb_server_run(ffb_server *srv)
{
	if (!srv)
		return FFB_ERR_NULL_POINTER;
	if (__atomic_exchange_n(&srv->running, true, __ATOMIC_ACQ_REL))
		return FFB_ERR_BUSY;
	if (start_threads(srv, 1)) {
		__atomic_store_n(&srv->running, false, __ATOMIC_RELEASE);
		return FFB_ERR_SYSTEM;
	}
	ffb__dispatcher_run(&srv->disp[0]);
	join_threads(srv);
	__atomic_store_n(&srv->running, false, __ATOMIC_RELEASE);
	return FFB_OK;
}

ffb_status ffb_server_start(ffb_server *s)
{
	if (!s)
		return FFB_ERR_NULL_POINTER;
	if (__atomic_exchange_n(&s->running, true, __ATOMIC_ACQ_REL))
		return FFB_ERR_BUSY;
	if (start_threads(s, 0)) {
		__atomic_store_n(&s->running, false, __ATOMIC_RELEASE);
		return FFB_ERR_SYSTEM;
	}
	s->started = true;
	return FFB_OK;
}

void ffb_server_destroy(ffb_server *s)
{
	if (!s)
		return;
	ffb_server_stop(s);
	if (s->started) {
		join_threads(s);
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
	if (s->leaked) {
		/* Sessions with unfinished kept calls still point at us. */
		ffb__log(FFB_LOG_WARN, "destroy: sessions were left behind at stop; the server's memory stays");
		return;
	}
	server_free(s);
}

struct posted {
	struct ffb__job job;
	void (*fn)(void *ctx);
	void *ctx;
};

static void run_posted(struct ffb__job *job)
{
	struct posted *p = FFB__CONTAINER_OF(job, struct posted, job);
	p->fn(p->ctx);
	free(p);
}

ffb_status ffb_server_post(ffb_server *s, void (*fn)(void *ctx), void *ctx)
{
	if (!s || !fn)
		return FFB_ERR_NULL_POINTER;
	if (s->pool.nworkers == 0)
		return FFB_ERR_INVALID_ARGUMENT;
	struct posted *p = malloc(sizeof(*p));
	if (!p)
		return FFB_ERR_SYSTEM;
	p->job.run = run_posted;
	p->fn = fn;
	p->ctx = ctx;
	ffb__pool_post(&s->pool, &p->job);
	return FFB_OK;
}

ffb_status ffb_server_connect_inproc(ffb_server *s, const struct ffb_client_options *o, ffb_client **out)
{
	if (!s || !out)
		return FFB_ERR_NULL_POINTER;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return FFB_ERR_SYSTEM;
	ffb__refuse_fds(sv[0]);
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
