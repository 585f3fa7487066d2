/*
 * mailbox.c — mail between the server's control and dispatcher threads.
 *
 * A mailbox is a list of sessions with mail bits, under a mutex, plus an
 * eventfd that wakes a parked reader and a flag a spinning reader polls.
 * Nothing is allocated to send (the links live in the session), so
 * sending cannot fail. Mail is rare — a handover, a cut, a goodbye — and
 * never on the call path.
 */
#include <sys/eventfd.h>
#include <unistd.h>

#include "server_internal.h"

int ffb__mailbox_init(struct ffb__mailbox *mb, int dir)
{
	mb->head = mb->tail = NULL;
	mb->pending = 0;
	mb->dir = dir;
	mb->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mb->fd < 0)
		return -1;
	pthread_mutex_init(&mb->lock, NULL);
	return 0;
}

void ffb__mailbox_destroy(struct ffb__mailbox *mb)
{
	if (mb->fd < 0)
		return;
	close(mb->fd);
	mb->fd = -1;
	pthread_mutex_destroy(&mb->lock);
}

void ffb__mail(struct ffb__mailbox *mb, struct ffb__session *s, uint8_t what)
{
	int d = mb->dir;
	pthread_mutex_lock(&mb->lock);
	s->mail[d] |= what;
	if (!s->mail_linked[d]) {
		s->mail_linked[d] = true;
		s->mail_next[d] = NULL;
		if (mb->tail)
			mb->tail->mail_next[d] = s;
		else
			mb->head = s;
		mb->tail = s;
	}
	__atomic_store_n(&mb->pending, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&mb->lock);
	uint64_t one = 1;
	if (write(mb->fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so the reader is being woken anyway */
	}
}

struct ffb__session *ffb__mail_take(struct ffb__mailbox *mb)
{
	int d = mb->dir;
	pthread_mutex_lock(&mb->lock);
	struct ffb__session *first = mb->head;
	for (struct ffb__session *s = first; s; s = s->mail_next[d]) {
		s->got[d] = s->mail[d];
		s->mail[d] = 0;
		s->mail_linked[d] = false;
		s->got_next[d] = s->mail_next[d];
	}
	mb->head = mb->tail = NULL;
	__atomic_store_n(&mb->pending, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&mb->lock);
	return first;
}
