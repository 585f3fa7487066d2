/*
 * stallfs.h — a FUSE file system that holds every FLUSH, for tests of
 * what a client can do with an fd it sends (test_socket_side.c,
 * tests/torture/sockattack.c).
 *
 * stallfs_start() forks a daemon (libfuse3, multi-threaded) that mounts
 * one file, DIR/f, on DIR. A close(2) of an fd of that file sends FLUSH;
 * the daemon writes the caller's pid (the thread's id, as FUSE reports
 * it) to the report pipe and answers only when stallfs_release() is
 * called or hold_ms pass. stallfs_stop() releases, ends the daemon and
 * unmounts. Without libfuse3 (FFB_HAVE_FUSE3 unset) or without a usable
 * /dev/fuse, stallfs_start() says why and returns false.
 */
#ifndef FFB_STALLFS_H
#define FFB_STALLFS_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct stallfs {
	pid_t pid;
	char dir[64];
	char file[80];
	int release_w; /* closing it answers every held FLUSH */
	int report_r;  /* pid_t of each FLUSH's caller */
};

#ifdef FFB_HAVE_FUSE3
#define FUSE_USE_VERSION 31
#include <fuse.h>

static int stallfs_release_r = -1, stallfs_report_w = -1, stallfs_hold_ms;

static int stallfs_getattr(const char *p, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(p, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(p, "/f") == 0) {
		st->st_mode = S_IFREG | 0666;
		st->st_nlink = 1;
		st->st_size = 4096;
		return 0;
	}
	return -ENOENT;
}

static int stallfs_open(const char *p, struct fuse_file_info *fi)
{
	(void)fi;
	return strcmp(p, "/f") == 0 ? 0 : -ENOENT;
}

static int stallfs_read(const char *p, char *buf, size_t n, off_t off, struct fuse_file_info *fi)
{
	(void)p;
	(void)fi;
	if (off >= 4096)
		return 0;
	if (n > (size_t)(4096 - off))
		n = (size_t)(4096 - off);
	memset(buf, 'x', n);
	return (int)n;
}

static int stallfs_flush(const char *p, struct fuse_file_info *fi)
{
	(void)p;
	(void)fi;
	pid_t who = fuse_get_context()->pid;
	if (write(stallfs_report_w, &who, sizeof(who)) != sizeof(who))
		return 0;
	struct pollfd pf = {.fd = stallfs_release_r, .events = POLLIN};
	poll(&pf, 1, stallfs_hold_ms); /* readable (EOF) once released */
	return 0;
}

static const struct fuse_operations stallfs_ops = {
	.getattr = stallfs_getattr,
	.open = stallfs_open,
	.read = stallfs_read,
	.flush = stallfs_flush,
};

static void stallfs_daemon(const char *dir)
{
	char *argv[] = {"stallfs", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse *f = fuse_new(&args, &stallfs_ops, sizeof(stallfs_ops), NULL);
	if (!f || fuse_mount(f, dir) != 0)
		_exit(2);
	if (fuse_set_signal_handlers(fuse_get_session(f)) != 0)
		_exit(3);
	fuse_loop_mt(f, 0);
	fuse_unmount(f);
	_exit(0);
}
#endif

/* Mount a stalling file system on a new directory; false (and why, on
 * stderr) if this machine cannot. */
static inline bool stallfs_start(struct stallfs *fs, int hold_ms)
{
	memset(fs, 0, sizeof(*fs));
	fs->pid = -1;
	fs->release_w = fs->report_r = -1;
#ifndef FFB_HAVE_FUSE3
	(void)hold_ms;
	fprintf(stderr, "stallfs: built without libfuse3 (install libfuse3-dev): FUSE case not run\n");
	return false;
#else
	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		fprintf(stderr, "stallfs: /dev/fuse: %s: FUSE case not run\n", strerror(errno));
		return false;
	}
	strcpy(fs->dir, "/tmp/ffb-stallfs-XXXXXX");
	if (!mkdtemp(fs->dir))
		return false;
	snprintf(fs->file, sizeof(fs->file), "%s/f", fs->dir);
	int rel[2], rep[2];
	if (pipe2(rel, O_CLOEXEC) != 0)
		return false;
	if (pipe2(rep, O_CLOEXEC | O_NONBLOCK) != 0) {
		close(rel[0]);
		close(rel[1]);
		return false;
	}
	fs->pid = fork();
	if (fs->pid == 0) {
		close(rel[1]);
		close(rep[0]);
		stallfs_release_r = rel[0];
		stallfs_report_w = rep[1];
		stallfs_hold_ms = hold_ms;
		stallfs_daemon(fs->dir);
	}
	close(rel[0]);
	close(rep[1]);
	fs->release_w = rel[1];
	fs->report_r = rep[0];
	/* Mounted once the file is there (the directory itself is empty). */
	for (int i = 0; i < 500; i++) {
		struct stat st;
		if (stat(fs->file, &st) == 0 && S_ISREG(st.st_mode))
			return true;
		int status;
		if (waitpid(fs->pid, &status, WNOHANG) == fs->pid) {
			fprintf(stderr, "stallfs: the daemon could not mount (exit %d): FUSE case not run\n",
				WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			fs->pid = -1;
			close(fs->release_w);
			close(fs->report_r);
			rmdir(fs->dir);
			return false;
		}
		usleep(10000);
	}
	fprintf(stderr, "stallfs: the mount did not appear: FUSE case not run\n");
	kill(fs->pid, SIGKILL);
	waitpid(fs->pid, NULL, 0);
	fs->pid = -1;
	umount2(fs->dir, MNT_DETACH);
	rmdir(fs->dir);
	return false;
#endif
}

/* The caller of the next FLUSH the daemon saw, or 0 if none is queued. */
static inline pid_t stallfs_next_flush(struct stallfs *fs)
{
	pid_t who = 0;
	if (read(fs->report_r, &who, sizeof(who)) != sizeof(who))
		return 0;
	return who;
}

/* Answer every FLUSH held and every later one at once. */
static inline void stallfs_release(struct stallfs *fs)
{
	if (fs->release_w >= 0)
		close(fs->release_w);
	fs->release_w = -1;
}

static inline void stallfs_stop(struct stallfs *fs)
{
	if (fs->pid <= 0)
		return;
	stallfs_release(fs);
	kill(fs->pid, SIGTERM);
	bool reaped = false;
	for (int i = 0; i < 200 && !reaped; i++) {
		reaped = waitpid(fs->pid, NULL, WNOHANG) == fs->pid;
		if (!reaped)
			usleep(10000);
	}
	if (!reaped) {
		kill(fs->pid, SIGKILL);
		waitpid(fs->pid, NULL, 0);
	}
	umount2(fs->dir, MNT_DETACH);
	rmdir(fs->dir);
	close(fs->report_r);
	fs->pid = -1;
}

#endif /* FFB_STALLFS_H */
