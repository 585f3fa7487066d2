/*
 * test_badfd.c — the C client's handshake against a FAKE server that lies.
 *
 * A thread plays the server on one end of a socketpair: it reads the real
 * client's hello, checks it, and answers with a crafted ffb_server_hello
 * and crafted fds (SCM_RIGHTS): unsealed or wrongly sealed memfds, wrong
 * sizes, pipes and O_TMPFILE files where memfds and eventfds belong, too
 * many fds, bad magic and versions, corrupt superblocks, refusals, or
 * silence -- and every row of the shared table of bad superblocks and
 * hellos, tests/vectors/superblock.txt, which the Go client runs too. The
 * client side is ffb__client_handshake(), the same code
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
#include "zfields.h"

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
	union {
		struct ffb_server_hello hello;
		char hello_bytes[256];  /* a hello longer than this version's */
	};
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

/* ---- the shared table: tests/vectors/superblock.txt ---------------------- */

/* One session as the table describes it: superblock, hello, message facts. */
struct vsession {
	union {
		struct ffb_superblock sb;
		unsigned char sb_bytes[sizeof(struct ffb_superblock)];
	};
	union {
		struct ffb_server_hello hello;
		unsigned char hello_bytes[256];
	};
	uint64_t len, nfds; /* msg.len, msg.fds */
};

/* The bytes of FIELD in s, and their width; NULL for an unknown field. */
static unsigned char *vfield(struct vsession *s, const char *field, unsigned *size)
{
	if (strcmp(field, "msg.len") == 0 || strcmp(field, "msg.fds") == 0) {
		*size = 8;
		return (unsigned char *)(field[4] == 'l' ? &s->len : &s->nfds);
	}
	const char *strct = NULL, *path = NULL;
	unsigned char *base = NULL;
	if (strncmp(field, "sb.", 3) == 0)
		strct = "ffb_superblock", path = field + 3, base = s->sb_bytes;
	else if (strncmp(field, "hello.", 6) == 0)
		strct = "ffb_server_hello", path = field + 6, base = s->hello_bytes;
	for (size_t i = 0; strct && i < sizeof(zfields) / sizeof(zfields[0]); i++)
		if (strcmp(zfields[i].strct, strct) == 0 && strcmp(zfields[i].path, path) == 0) {
			*size = zfields[i].size;
			return base + zfields[i].off;
		}
	return NULL;
}

static uint64_t vget(const unsigned char *p, unsigned size)
{
	uint64_t v = 0;
	memcpy(&v, p, size); /* little-endian host */
	return v;
}

static void vset(unsigned char *p, unsigned size, uint64_t v)
{
	memcpy(p, &v, size);
}

static uint64_t vnumber(const char *text)
{
	if (strcmp(text, "LAYOUT_VERSION") == 0)
		return FFB_LAYOUT_VERSION;
	char *end;
	uint64_t v = text[0] == '-' ? (uint64_t)strtoll(text, &end, 0) : strtoull(text, &end, 0);
	if (*end)
		fail_msg("vectors: bad number %s", text);
	return v;
}

/* FIELD=VALUE, FIELD+=DELTA or FIELD=@FIELD. */
static void vapply(struct vsession *s, char *mut)
{
	char *eq = strchr(mut, '=');
	if (!eq)
		fail_msg("vectors: bad mutation %s", mut);
	bool add = eq > mut && eq[-1] == '+';
	*(add ? eq - 1 : eq) = 0;
	unsigned size, from_size;
	unsigned char *p = vfield(s, mut, &size);
	if (!p)
		fail_msg("vectors: unknown field %s", mut);
	uint64_t v;
	if (eq[1] == '@') {
		const unsigned char *q = vfield(s, eq + 2, &from_size);
		if (!q)
			fail_msg("vectors: unknown field %s", eq + 2);
		v = vget(q, from_size);
	} else {
		v = vnumber(eq + 1);
	}
	vset(p, size, add ? vget(p, size) + v : v);
}

static ffb_status vstatus(const char *name)
{
	for (unsigned i = 0; i < ffb__status_count; i++)
		if (strcmp(ffb__status_table[i].name, name) == 0)
			return (ffb_status)ffb__status_table[i].code;
	fail_msg("vectors: unknown status %s", name);
	return FFB_ERR_UNKNOWN;
}

static struct vsession g_vs;     /* the row being run */
static uint64_t g_vbase_size;    /* the base arena's size: the memfd's */

static void build_vector(struct fake *f)
{
	int fds[3] = {arena_memfd(&g_vs.sb, g_vbase_size, GOOD_SEALS), new_eventfd(), new_eventfd()};
	memcpy(f->hello_bytes, g_vs.hello_bytes, sizeof(f->hello_bytes));
	f->hello_len = g_vs.len;
	assert_true(g_vs.len <= sizeof(f->hello_bytes) && g_vs.nfds <= 3);
	f->nfds = (unsigned)g_vs.nfds;
	for (unsigned i = 0; i < 3; i++) {
		if (i < f->nfds)
			f->fds[i] = fds[i];
		else
			close(fds[i]);
	}
}

static void shared_vectors_get_their_codes(void **state)
{
	(void)state;
	FILE *in = fopen("tests/vectors/superblock.txt", "r");
	if (!in)
		fail_msg("tests/vectors/superblock.txt: run from the repository root");
	struct vsession base = {0};
	char line[512];
	unsigned rows = 0, failed = 0;
	while (fgets(line, sizeof(line), in)) {
		char *save, *kind = strtok_r(line, " \t\n", &save);
		if (!kind || kind[0] == '#')
			continue;
		if (strcmp(kind, "base") == 0) {
			char *field = strtok_r(NULL, " \t\n", &save), *value = strtok_r(NULL, " \t\n", &save);
			char mut[256];
			snprintf(mut, sizeof(mut), "%s=%s", field, value ? value : "");
			vapply(&base, mut);
			g_vbase_size = base.sb.arena_size;
			continue;
		}
		assert_string_equal(kind, "row");
		const char *name = strtok_r(NULL, " \t\n", &save);
		ffb_status want = vstatus(strtok_r(NULL, " \t\n", &save));
		g_vs = base;
		for (char *mut; (mut = strtok_r(NULL, " \t\n", &save));)
			vapply(&g_vs, mut);
		ffb_status got = run_fake(build_vector, NULL);
		ffb_status alone = want;
		if (strncmp(name, "sb-", 3) == 0)
			alone = ffb__superblock_validate(&g_vs.sb, &g_vs.hello);
		if (got != want || alone != want) {
			fprintf(stderr, "row %s: handshake %s, superblock check %s, want %s\n", name, ffb_status_name(got),
				ffb_status_name(alone), ffb_status_name(want));
			failed++;
		}
		rows++;
	}
	fclose(in);
	assert_true(rows >= 40);
	assert_int_equal(failed, 0);
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
		cmocka_unit_test(four_fds_are_bad_fd_and_all_are_closed),
		cmocka_unit_test(truncated_control_message_is_bad_fd_and_all_are_closed),
		cmocka_unit_test(silent_server_times_out_within_connect_timeout),
		cmocka_unit_test(server_hanging_up_without_answer_is_peer_gone),
		cmocka_unit_test(ring_indices_corrupt_at_handshake_is_protocol),
		cmocka_unit_test(shared_vectors_get_their_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
