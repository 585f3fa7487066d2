/*
 * list.h — the one intrusive doubly-linked list of libffb (in the manner
 * of the kernel's list_head): a circular list through a head sentinel,
 * links embedded in the objects, no allocation. Every list of sessions
 * and of calls in the server is one of these; a link belongs to one list
 * at a time and is unlinked (pointing at itself) otherwise.
 */
#ifndef FFB_LIST_H
#define FFB_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct ffb__list {
	struct ffb__list *next, *prev;
};

#define FFB__CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* An empty list, or an unlinked link. */
static inline void ffb__list_init(struct ffb__list *l)
{
	l->next = l->prev = l;
}

static inline bool ffb__list_empty(const struct ffb__list *l)
{
	return l->next == l;
}

/* Append link at the tail of head (a link is on one list at a time). */
static inline void ffb__list_add_tail(struct ffb__list *head, struct ffb__list *link)
{
	link->prev = head->prev;
	link->next = head;
	head->prev->next = link;
	head->prev = link;
}

/* Unlink link from whatever list it is on; it is unlinked afterwards. */
static inline void ffb__list_del(struct ffb__list *link)
{
	link->prev->next = link->next;
	link->next->prev = link->prev;
	ffb__list_init(link);
}

/* Iterate over the links of head; `pos` may be unlinked in the body
 * (`tmp` holds the next one). */
#define FFB__LIST_FOR_EACH_SAFE(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif /* FFB_LIST_H */
