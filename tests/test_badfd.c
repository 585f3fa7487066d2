/*
 * test_badfd.c — the C client's handshake against a FAKE server that lies.
 *
 * A thread plays the server on one end of a socketpair: it reads the real
 * client's hello, checks it, and answers with a crafted ffb_server_hello
 * and crafted fds (SCM_RIGHTS): unsealed or wrongly sealed memfds, wrong
 * sizes, pipes and O_TMPFILE files where memfds and eventfds belong, too
 * many fds, bad magic and versions, corrupt superblocks, refusals, or
 * silence. The client side is ffb__client_handshake(), the same code
 * ffb_client_connect() runs. Every case asserts the exact ffb_status, that
 * the process has exactly the fds it had before (every received fd
 * closed) and that no arena mapping is left behind.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "internal.h"
#include "testutil.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define GOOD_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW)
#define SESSION_ID 0x1234u
#define ARENA_TAG 0x5Au
#define MAX_SEND_FDS 16

/* What the fake server sends, and what it saw. */
struct fake {
	int sock;
	bool answer;                    /* false: read the hello, never answer */
	bool hang_up;                   /* with !answer: close at once instead of waiting */
	struct ffb_server_hello hello;
	size_t hello_len;               /* bytes of `hello` sent */
	int fds[MAX_SEND_FDS];          /* sent, then closed by the fake */
	unsigned nfds;
	bool client_hello_ok;           /* the client's hello was well-formed */
};

/* ---- building blocks of a (possibly crafted) session -------------------- */

static void small_options(struct ffb_server_options *o)
{
	static const uint32_t counts[FFB_NUM_CLASSES] = {16, 8, 4, 2, 1, 1, 0, 0, 0, 0};
	ffb_server_options_init(o);
	o->ring_entries = 8;
	memcpy(o->class_counts, counts, sizeof(counts));
}

static void valid_superblock(struct ffb_superblock *sb, uint32_t flags)
{
	struct ffb_server_options o;
	small_options(&o);
	assert_int_equal(ffb__layout_compute(&o, SESSION_ID, ARENA_TAG, flags, sb), FFB_OK);
}

static struct ffb_server_hello hello_for(const struct ffb_superblock *sb, uint32_t nfds)
{
	return (struct ffb_server_hello){.magic = FFB_SERVER_HELLO_MAGIC,
					 .layout_version = FFB_LAYOUT_VERSION,
					 .status = FFB_OK,
					 .arena_size = sb->arena_size,
					 .flags = sb->flags,
					 .nfds = nfds,
					 .session_id = sb->session_id,
					 .max_inflight = sb->max_inflight};
}

/* A memfd named like a real arena holding *sb, `size` bytes, with exactly
 * `seals` (0: none). Never mapped, so F_SEAL_WRITE can be added. */
static int arena_memfd(const struct ffb_superblock *sb, uint64_t size, int seals)
{
	int fd = memfd_create("ffb-session", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(pwrite(fd, sb, sizeof(*sb), 0), (ssize_t)sizeof(*sb));
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* A correctly created and sealed arena (ffb__arena_create), with `corrupt`
 * applied to the live superblock through the mapping after sealing (seals
 * do not forbid writes), then unmapped. */
typedef void (*corrupt_fn)(struct ffb_superblock *sb, char *base);

static int sealed_arena(const struct ffb_superblock *sb, corrupt_fn corrupt)
{
	int fd = -1;
	char *base = NULL;
	assert_int_equal(ffb__arena_create(sb, &fd, &base), FFB_OK);
	if (corrupt)
		corrupt((struct ffb_superblock *)base, base);
	assert_int_equal(munmap(base, sb->arena_size), 0);
	return fd;
}

static int new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(fd >= 0);
	return fd;
}

/* An unlinked regular file (O_TMPFILE; mkstemp + unlink where the file
 * system lacks it). */
static int tmpfile_fd(void)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char path[256];
		snprintf(path, sizeof(path), "%s/ffb-badfd-XXXXXX", dir);
		fd = mkostemp(path, O_CLOEXEC);
		assert_true(fd >= 0);
		unlink(path);
	}
	assert_int_equal(ftruncate(fd, 4096), 0);
	return fd;
}

/* The read end of a fresh pipe (the write end is closed). */
static int pipe_end(void)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	return p[0];
}

/* The standard valid answer: sealed arena + client bell with the futex
 * doorbell, or + server bell without it. */
static void fake_valid(struct fake *f, uint32_t flags, corrupt_fn corrupt)
{
	struct ffb_superblock sb;
	valid_superblock(&sb, flags);
	f->nfds = (flags & FFB_HELLO_FUTEX_DOORBELL) ? 2 : 3;
	f->hello = hello_for(&sb, f->nfds);
	f->fds[0] = sealed_arena(&sb, corrupt);
	f->fds[1] = new_eventfd();
	if (f->nfds == 3)
		f->fds[2] = new_eventfd();
}

/* ---- the fake server thread --------------------------------------------- */

static void send_with_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_SEND_FDS)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	if (n != (ssize_t)len)
		fprintf(stderr, "fake server: sendmsg: %s\n", strerror(errno));
}

/* Wait up to `ms` for the peer to send or hang up. */
static void wait_readable(int sock, int ms)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	(void)poll(&p, 1, ms);
}

static void *fake_server(void *arg)
{
	struct fake *f = arg;
	struct ffb_client_hello ch;
	wait_readable(f->sock, 5000);
	ssize_t n = recv(f->sock, &ch, sizeof(ch), MSG_DONTWAIT);
	f->client_hello_ok = n == (ssize_t)sizeof(ch) && ch.magic == FFB_CLIENT_HELLO_MAGIC &&
			     ch.layout_version == FFB_LAYOUT_VERSION && ch.flags == 0;
	if (f->answer)
		send_with_fds(f->sock, &f->hello, f->hello_len, f->fds, f->nfds);
	/* Our copies go now: only the client's copies could leak. */
	for (unsigned i = 0; i < f->nfds; i++)
		close(f->fds[i]);
	if (!f->answer && !f->hang_up)
		wait_readable(f->sock, 5000); /* until the client gives up and closes */
	close(f->sock);
	return NULL;
}

typedef void (*build_fn)(struct fake *f);

/* Run one handshake against a fake built by `build` (called after the
 * baseline fd count, so every fd it makes is accounted for). Asserts the
 * well-formed client hello, no fd leak and no arena mapping; returns the
 * handshake's status and, if asked, how long it took. */
static ffb_status run_fake(build_fn build, uint64_t *elapsed_ns)
{
	assert_int_equal(count_arena_maps(0), 0);
	int before = count_fds(0);
	struct fake f = {.answer = true, .hello_len = sizeof(struct ffb_server_hello)};
	build(&f);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	f.sock = sv[0];
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fake_server, &f), 0);

	struct ffb_client_options o;
	ffb_client_options_init(&o);
	o.connect_timeout_ms = 200;
	ffb_client *c = NULL;
	uint64_t t0 = test_now_ns();
	ffb_status st = ffb__client_handshake(sv[1], &o, &c);
	if (elapsed_ns)
		*elapsed_ns = test_now_ns() - t0;
	if (st == FFB_OK)
		ffb_client_close(c); /* a wrongly accepted arena must not leak either */
	assert_int_equal(pthread_join(t, NULL), 0);

	assert_true(f.client_hello_ok);
	assert_int_equal(count_fds(0), before);
	assert_int_equal(count_arena_maps(0), 0);
	return st;
}

/* ---- positive controls: the fake itself is correct ---------------------- */

static void build_valid_futex(struct fake *f)
{
	fake_valid(f, FFB_HELLO_FUTEX_DOORBELL, NULL);
}

static void build_valid_eventfd(struct fake *f)
{
	fake_valid(f, 0, NULL);
}

static void valid_fake_handshake_succeeds_and_close_leaks_nothing(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_valid_futex, NULL), FFB_OK);
	assert_int_equal(run_fake(build_valid_eventfd, NULL), FFB_OK);
}

/* ---- the arena fd ------------------------------------------------------- */

static int g_seals;     /* seal set for build_sealed */
static int64_t g_delta; /* fd size - hello size for build_sized */

static void build_sealed(struct fake *f)
{
	struct ffb_superblock sb;
	valid_superblock(&sb, FFB_HELLO_FUTEX_DOORBELL);
	f->nfds = 2;
	f->hello = hello_for(&sb, 2);
	f->fds[0] = arena_memfd(&sb, sb.arena_size, g_seals);
	f->fds[1] = new_eventfd();
}

static void unsealed_memfd_is_bad_fd(void **state)
{
	(void)state;
	g_seals = 0;
	assert_int_equal(run_fake(build_sealed, NULL), FFB_ERR_BAD_FD);
}

static void memfd_missing_seal_grow_is_bad_fd(void **state)
{
	(void)state;
	g_seals = F_SEAL_SEAL | F_SEAL_SHRINK;
	assert_int_equal(run_fake(build_sealed, NULL), FFB_ERR_BAD_FD);
}

static void memfd_with_extra_seal_write_is_bad_fd(void **state)
{
	(void)state;
	g_seals = GOOD_SEALS | F_SEAL_WRITE;
	assert_int_equal(run_fake(build_sealed, NULL), FFB_ERR_BAD_FD);
}

/* Every other near miss of the exact set 0x7, and 0x7 itself as control. */
static void arena_seals_must_be_exactly_seal_shrink_grow(void **state)
{
	(void)state;
	static const int wrong[] = {
		F_SEAL_SEAL,
		F_SEAL_SHRINK | F_SEAL_GROW,         /* missing SEAL: could be resealed */
		F_SEAL_SEAL | F_SEAL_GROW,           /* missing SHRINK: SIGBUS by truncation */
		GOOD_SEALS | F_SEAL_FUTURE_WRITE,
		GOOD_SEALS | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE,
	};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		g_seals = wrong[i];
		assert_int_equal(run_fake(build_sealed, NULL), FFB_ERR_BAD_FD);
	}
	g_seals = GOOD_SEALS;
	assert_int_equal(run_fake(build_sealed, NULL), FFB_OK);
}

static void build_sized(struct fake *f)
{
	struct ffb_superblock sb;
	valid_superblock(&sb, FFB_HELLO_FUTEX_DOORBELL);
	f->nfds = 2;
	f->hello = hello_for(&sb, 2);
	f->fds[0] = arena_memfd(&sb, (uint64_t)((int64_t)sb.arena_size + g_delta), GOOD_SEALS);
	f->fds[1] = new_eventfd();
}

static void arena_size_differing_from_hello_is_bad_fd(void **state)
{
	(void)state;
	static const int64_t deltas[] = {-4096, -1, 1, 4096};
	for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		g_delta = deltas[i];
		assert_int_equal(run_fake(build_sized, NULL), FFB_ERR_BAD_FD);
	}
	g_delta = 0;
	assert_int_equal(run_fake(build_sized, NULL), FFB_OK);
}

static void build_pipe_arena(struct fake *f)
{
	build_valid_futex(f);
	close(f->fds[0]);
	f->fds[0] = pipe_end();
}

static void pipe_as_arena_is_bad_fd(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_pipe_arena, NULL), FFB_ERR_BAD_FD);
}

static void build_tmpfile_arena(struct fake *f)
{
	build_valid_futex(f);
	close(f->fds[0]);
	f->fds[0] = tmpfile_fd();
	f->hello.arena_size = 4096; /* size matches: only the type/seals are wrong */
}

static void regular_tmpfile_as_arena_is_bad_fd(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_tmpfile_arena, NULL), FFB_ERR_BAD_FD);
}

/* ---- the bells ---------------------------------------------------------- */

static void build_tmpfile_client_bell(struct fake *f)
{
	build_valid_futex(f);
	close(f->fds[1]);
	f->fds[1] = tmpfile_fd();
}

static void build_memfd_client_bell(struct fake *f)
{
	build_valid_futex(f);
	close(f->fds[1]);
	f->fds[1] = memfd_create("not-a-bell", MFD_CLOEXEC);
	assert_true(f->fds[1] >= 0);
}

static void build_pipe_client_bell(struct fake *f)
{
	build_valid_futex(f);
	close(f->fds[1]);
	f->fds[1] = pipe_end();
}

static void build_pipe_server_bell(struct fake *f)
{
	build_valid_eventfd(f);
	close(f->fds[2]);
	f->fds[2] = pipe_end();
}

/* The sealed arena sent twice: a valid memfd is still no bell. */
static void build_arena_as_client_bell(struct fake *f)
{
	build_valid_futex(f);
	close(f->fds[1]);
	f->fds[1] = dup(f->fds[0]);
	assert_true(f->fds[1] >= 0);
}

static void tmpfile_as_client_bell_is_bad_fd(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_tmpfile_client_bell, NULL), FFB_ERR_BAD_FD);
}

static void unsealed_memfd_as_client_bell_is_bad_fd(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_memfd_client_bell, NULL), FFB_ERR_BAD_FD);
	assert_int_equal(run_fake(build_arena_as_client_bell, NULL), FFB_ERR_BAD_FD);
}

static void pipe_as_client_bell_is_bad_fd(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_pipe_client_bell, NULL), FFB_ERR_BAD_FD);
}

static void pipe_as_server_bell_is_bad_fd(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_pipe_server_bell, NULL), FFB_ERR_BAD_FD);
}

/* ---- fd counts ---------------------------------------------------------- */

static void build_futex_flag_three_fds(struct fake *f)
{
	build_valid_eventfd(f); /* 3 fds */
	f->hello.flags = FFB_HELLO_FUTEX_DOORBELL; /* ... but the flag says 2 */
}

static void build_eventfd_flag_two_fds(struct fake *f)
{
	build_valid_futex(f); /* 2 fds, FUTEX flag */
	f->hello.flags = 0;   /* ... but without it 3 are due */
	f->hello.nfds = 2;
}

static void build_nfds_field_lies(struct fake *f)
{
	build_valid_futex(f);
	f->hello.nfds = 3; /* 2 attached */
}

static void build_no_fds(struct fake *f)
{
	build_valid_futex(f);
	close(f->fds[0]);
	close(f->fds[1]);
	f->nfds = 0;
}

static void fd_count_not_matching_flags_and_nfds_is_bad_fd(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_futex_flag_three_fds, NULL), FFB_ERR_BAD_FD);
	assert_int_equal(run_fake(build_eventfd_flag_two_fds, NULL), FFB_ERR_BAD_FD);
	assert_int_equal(run_fake(build_nfds_field_lies, NULL), FFB_ERR_BAD_FD);
	assert_int_equal(run_fake(build_no_fds, NULL), FFB_ERR_BAD_FD);
}

static unsigned g_extra_fds;

/* A valid eventfd-doorbell answer plus g_extra_fds more eventfds. */
static void build_too_many_fds(struct fake *f)
{
	build_valid_eventfd(f);
	f->hello.nfds = 3 + g_extra_fds;
	for (unsigned i = 0; i < g_extra_fds; i++)
		f->fds[f->nfds++] = new_eventfd();
}

static void four_fds_are_bad_fd_and_all_are_closed(void **state)
{
	(void)state;
	g_extra_fds = 1; /* 4 fds fit the client's control buffer exactly */
	assert_int_equal(run_fake(build_too_many_fds, NULL), FFB_ERR_BAD_FD);
}

static void truncated_control_message_is_bad_fd_and_all_are_closed(void **state)
{
	(void)state;
	g_extra_fds = 2; /* 5 fds: MSG_CTRUNC, the kernel installs what fits */
	assert_int_equal(run_fake(build_too_many_fds, NULL), FFB_ERR_BAD_FD);
	g_extra_fds = MAX_SEND_FDS - 3;
	assert_int_equal(run_fake(build_too_many_fds, NULL), FFB_ERR_BAD_FD);
}

/* ---- the hello ---------------------------------------------------------- */

static void build_bad_magic(struct fake *f)
{
	build_valid_futex(f); /* fds attached: they must be closed too */
	f->hello.magic ^= 1;
}

static void build_client_magic(struct fake *f)
{
	build_valid_futex(f);
	f->hello.magic = FFB_CLIENT_HELLO_MAGIC;
}

static uint32_t g_version;

static void build_bad_version(struct fake *f)
{
	build_valid_futex(f);
	f->hello.layout_version = g_version;
}

static void wrong_hello_magic_is_version_mismatch(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_bad_magic, NULL), FFB_ERR_VERSION_MISMATCH);
	assert_int_equal(run_fake(build_client_magic, NULL), FFB_ERR_VERSION_MISMATCH);
}

static void wrong_hello_version_is_version_mismatch(void **state)
{
	(void)state;
	static const uint32_t versions[] = {0, FFB_LAYOUT_VERSION + 1, UINT32_MAX};
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		g_version = versions[i];
		assert_int_equal(run_fake(build_bad_version, NULL), FFB_ERR_VERSION_MISMATCH);
	}
}

static size_t g_len;

static void build_short_hello(struct fake *f)
{
	build_valid_futex(f);
	f->hello_len = g_len;
}

static void short_hello_is_rejected(void **state)
{
	(void)state;
	g_len = 15; /* not even magic + version */
	assert_int_equal(run_fake(build_short_hello, NULL), FFB_ERR_VERSION_MISMATCH);
	g_len = sizeof(struct ffb_server_hello) - 1;
	assert_int_equal(run_fake(build_short_hello, NULL), FFB_ERR_PROTOCOL);
}

static int32_t g_refusal;

static void build_refusal(struct fake *f)
{
	f->hello = (struct ffb_server_hello){.magic = FFB_SERVER_HELLO_MAGIC,
					     .layout_version = FFB_LAYOUT_VERSION,
					     .status = g_refusal};
	f->nfds = 0;
}

static void refusal_hello_returns_its_status(void **state)
{
	(void)state;
	g_refusal = FFB_ERR_TOO_MANY_SESSIONS;
	assert_int_equal(run_fake(build_refusal, NULL), FFB_ERR_TOO_MANY_SESSIONS);
	g_refusal = FFB_ERR_PERMISSION_DENIED;
	assert_int_equal(run_fake(build_refusal, NULL), FFB_ERR_PERMISSION_DENIED);
	g_refusal = -1; /* outside the table */
	assert_int_equal(run_fake(build_refusal, NULL), FFB_ERR_UNKNOWN);
	g_refusal = FFB_ERR_UNKNOWN + 1;
	assert_int_equal(run_fake(build_refusal, NULL), FFB_ERR_UNKNOWN);
}

static void build_refusal_with_fds(struct fake *f)
{
	build_valid_futex(f);
	f->hello.status = FFB_ERR_TOO_MANY_SESSIONS;
}

static void refusal_hello_with_fds_closes_them(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_refusal_with_fds, NULL), FFB_ERR_TOO_MANY_SESSIONS);
}

static void build_silent(struct fake *f)
{
	f->answer = false;
}

static void silent_server_times_out_within_connect_timeout(void **state)
{
	(void)state;
	uint64_t ns;
	assert_int_equal(run_fake(build_silent, &ns), FFB_ERR_TIMEOUT);
	assert_true(ns >= 190000000ull);  /* connect_timeout_ms = 200 */
	assert_true(ns < 700000000ull);
}

static void build_hang_up(struct fake *f)
{
	f->answer = false;
	f->hang_up = true;
}

static void server_hanging_up_without_answer_is_peer_gone(void **state)
{
	(void)state;
	uint64_t ns;
	assert_int_equal(run_fake(build_hang_up, &ns), FFB_ERR_PEER_GONE);
	assert_true(ns < 190000000ull); /* at once, not after the timeout */
}

/* ---- the superblock ----------------------------------------------------- */

static void sb_bad_magic(struct ffb_superblock *sb, char *base)
{
	(void)base;
	sb->magic = FFB_SERVER_HELLO_MAGIC;
}

static void sb_bad_version(struct ffb_superblock *sb, char *base)
{
	(void)base;
	sb->layout_version = FFB_LAYOUT_VERSION + 1;
}

static void build_sb_bad_magic(struct fake *f)
{
	fake_valid(f, FFB_HELLO_FUTEX_DOORBELL, sb_bad_magic);
}

static void build_sb_bad_version(struct fake *f)
{
	fake_valid(f, FFB_HELLO_FUTEX_DOORBELL, sb_bad_version);
}

static void superblock_with_wrong_magic_is_version_mismatch(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_sb_bad_magic, NULL), FFB_ERR_VERSION_MISMATCH);
	assert_int_equal(run_fake(build_sb_bad_version, NULL), FFB_ERR_VERSION_MISMATCH);
}

/* Class 1 of the client heap starts on class 0's first block. */
static void sb_classes_overlap(struct ffb_superblock *sb, char *base)
{
	(void)base;
	sb->heaps[0].classes[1].offset = sb->heaps[0].classes[0].offset;
}

/* The server heap's class 0 lies on the client heap's class 0 (both heap
 * ranges widened so each class is inside its own heap). */
static void sb_heaps_overlap(struct ffb_superblock *sb, char *base)
{
	(void)base;
	sb->heaps[1].size += sb->heaps[1].offset - sb->heaps[0].offset;
	sb->heaps[1].offset = sb->heaps[0].offset;
	sb->heaps[1].classes[0].offset = sb->heaps[0].classes[0].offset;
}

/* A class on top of the request ring. */
static void sb_class_on_ring(struct ffb_superblock *sb, char *base)
{
	(void)base;
	sb->heaps[0].size += sb->heaps[0].offset - sb->req_ring_offset;
	sb->heaps[0].offset = sb->req_ring_offset;
	sb->heaps[0].classes[0].offset = sb->req_ring_offset;
}

static void build_classes_overlap(struct fake *f)
{
	fake_valid(f, FFB_HELLO_FUTEX_DOORBELL, sb_classes_overlap);
}

static void build_heaps_overlap(struct fake *f)
{
	fake_valid(f, FFB_HELLO_FUTEX_DOORBELL, sb_heaps_overlap);
}

static void build_class_on_ring(struct fake *f)
{
	fake_valid(f, FFB_HELLO_FUTEX_DOORBELL, sb_class_on_ring);
}

static void superblock_with_overlapping_regions_is_protocol(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_classes_overlap, NULL), FFB_ERR_PROTOCOL);
	assert_int_equal(run_fake(build_heaps_overlap, NULL), FFB_ERR_PROTOCOL);
	assert_int_equal(run_fake(build_class_on_ring, NULL), FFB_ERR_PROTOCOL);
}

static uint64_t g_ring_off;
static bool g_ring_is_resp;

static void sb_ring_at(struct ffb_superblock *sb, char *base)
{
	(void)base;
	if (g_ring_is_resp)
		sb->resp_ring_offset = g_ring_off;
	else
		sb->req_ring_offset = g_ring_off;
}

static void build_ring_at(struct fake *f)
{
	fake_valid(f, FFB_HELLO_FUTEX_DOORBELL, sb_ring_at);
}

static void superblock_with_ring_outside_the_arena_is_protocol(void **state)
{
	(void)state;
	struct ffb_superblock sb;
	valid_superblock(&sb, FFB_HELLO_FUTEX_DOORBELL);
	const uint64_t offs[] = {
		sb.arena_size,                         /* starts exactly at the end */
		sb.arena_size + FFB_REGION_ALIGN,      /* past the end */
		UINT64_MAX & ~(uint64_t)(FFB_REGION_ALIGN - 1), /* offset + size overflows */
		0,                                     /* on the superblock */
	};
	for (int resp = 0; resp < 2; resp++) {
		g_ring_is_resp = resp;
		for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			g_ring_off = offs[i];
			assert_int_equal(run_fake(build_ring_at, NULL), FFB_ERR_PROTOCOL);
		}
	}
}

/* The response ring's indices are already inconsistent at handshake time. */
static void sb_resp_tail_ahead(struct ffb_superblock *sb, char *base)
{
	struct ffb_ring_ctl *ctl = (struct ffb_ring_ctl *)(base + sb->resp_ring_offset);
	ctl->p_tail = sb->resp_ring_entries + 1;
}

static void sb_req_head_ahead(struct ffb_superblock *sb, char *base)
{
	struct ffb_ring_ctl *ctl = (struct ffb_ring_ctl *)(base + sb->req_ring_offset);
	ctl->c_head = 1; /* head past tail 0: tail - head wraps */
}

static void build_resp_tail_ahead(struct fake *f)
{
	fake_valid(f, FFB_HELLO_FUTEX_DOORBELL, sb_resp_tail_ahead);
}

static void build_req_head_ahead(struct fake *f)
{
	fake_valid(f, FFB_HELLO_FUTEX_DOORBELL, sb_req_head_ahead);
}

static void ring_indices_corrupt_at_handshake_is_protocol(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_resp_tail_ahead, NULL), FFB_ERR_PROTOCOL);
	assert_int_equal(run_fake(build_req_head_ahead, NULL), FFB_ERR_PROTOCOL);
}

static void sb_hello_disagrees(struct ffb_superblock *sb, char *base)
{
	(void)base;
	sb->session_id++;
}

static void build_sb_hello_disagrees(struct fake *f)
{
	fake_valid(f, FFB_HELLO_FUTEX_DOORBELL, sb_hello_disagrees);
}

static void superblock_disagreeing_with_hello_is_protocol(void **state)
{
	(void)state;
	assert_int_equal(run_fake(build_sb_hello_disagrees, NULL), FFB_ERR_PROTOCOL);
}

static void log_to_stderr(void *ctx, int level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "ffb[%d]: %s\n", level, msg);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (getenv("FFB_TEST_LOG")) /* see why each handshake was refused */
		ffb_set_log(log_to_stderr, NULL, FFB_LOG_DEBUG);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_fake_handshake_succeeds_and_close_leaks_nothing),
		cmocka_unit_test(unsealed_memfd_is_bad_fd),
		cmocka_unit_test(memfd_missing_seal_grow_is_bad_fd),
		cmocka_unit_test(memfd_with_extra_seal_write_is_bad_fd),
		cmocka_unit_test(arena_seals_must_be_exactly_seal_shrink_grow),
		cmocka_unit_test(arena_size_differing_from_hello_is_bad_fd),
		cmocka_unit_test(pipe_as_arena_is_bad_fd),
		cmocka_unit_test(regular_tmpfile_as_arena_is_bad_fd),
		cmocka_unit_test(tmpfile_as_client_bell_is_bad_fd),
		cmocka_unit_test(unsealed_memfd_as_client_bell_is_bad_fd),
		cmocka_unit_test(pipe_as_client_bell_is_bad_fd),
		cmocka_unit_test(pipe_as_server_bell_is_bad_fd),
		cmocka_unit_test(fd_count_not_matching_flags_and_nfds_is_bad_fd),
		cmocka_unit_test(four_fds_are_bad_fd_and_all_are_closed),
		cmocka_unit_test(truncated_control_message_is_bad_fd_and_all_are_closed),
		cmocka_unit_test(wrong_hello_magic_is_version_mismatch),
		cmocka_unit_test(wrong_hello_version_is_version_mismatch),
		cmocka_unit_test(short_hello_is_rejected),
		cmocka_unit_test(refusal_hello_returns_its_status),
		cmocka_unit_test(refusal_hello_with_fds_closes_them),
		cmocka_unit_test(silent_server_times_out_within_connect_timeout),
		cmocka_unit_test(server_hanging_up_without_answer_is_peer_gone),
		cmocka_unit_test(superblock_with_wrong_magic_is_version_mismatch),
		cmocka_unit_test(superblock_with_overlapping_regions_is_protocol),
		cmocka_unit_test(superblock_with_ring_outside_the_arena_is_protocol),
		cmocka_unit_test(ring_indices_corrupt_at_handshake_is_protocol),
		cmocka_unit_test(superblock_disagreeing_with_hello_is_protocol),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
