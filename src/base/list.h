/* Intrusive doubly-linked lists: an element can sit on a list without any allocation. */
#ifndef PGR_LIST_H
#define PGR_LIST_H

#include <stddef.h>
#include <stdbool.h>

struct list {
	struct list *next, *prev;
};

#define LIST_INIT(name) \
	{ \
		&(name), &(name) \
	}
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

/* Make an empty list (or a detached element). */
static inline void list_init(struct list *l)
{
	l->next = l->prev = l;
}

/* True when the list has no elements (or the element is on no list). */
static inline bool list_empty(const struct list *l)
{
	return l->next == l;
}

/* Append item at the tail of head. */
static inline void list_append(struct list *head, struct list *item)
{
	item->prev = head->prev;
	item->next = head;
	head->prev->next = item;
	head->prev = item;
}

/* Insert item at the front of head. */
static inline void list_prepend(struct list *head, struct list *item)
{
	item->next = head->next;
	item->prev = head;
	head->next->prev = item;
	head->next = item;
}

/* Unlink item from whatever list it is on and leave it detached; safe to call twice. */
static inline void list_del(struct list *item)
{
	item->prev->next = item->next;
	item->next->prev = item->prev;
	item->next = item->prev = item;
}

/* Remove and return the first element, or NULL when empty. */
static inline struct list *list_pop(struct list *head)
{
	struct list *first = head->next;
	if (first == head)
		return NULL;
	list_del(first);
	return first;
}

#endif
