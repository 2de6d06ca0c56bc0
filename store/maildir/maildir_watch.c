/*
 * maildir_watch.c — inotify watches that tell a folder changed only by
 * this store (maildir_watch.h). Owns one inotify descriptor and, per
 * folder, its two watch descriptors and the event counts: events expected
 * from our own operations and events read. Linux only; elsewhere every
 * folder is reported unclean and callers list it instead.
 */
#include "maildir/maildir_watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"

#ifdef __linux__
#include <sys/inotify.h>
#endif

#include "lib/banned.h"

struct folder {
	char *box;
	int wd[2];             /* cur/, new/ */
	unsigned long own;     /* events our operations caused */
	unsigned long seen;    /* events read */
	int broken;
};

/* Own events counted since the queue was last read: past this, read it
 * (a bulk delivery would otherwise overflow the kernel's queue, 16384 by
 * default, and leave every folder unclean). */
#define DRAIN_EVERY 4096

struct maildir_watch {
	int fd;                /* inotify instance, -1 when unavailable */
	int broken;            /* every folder is unclean (overflow...) */
	unsigned long undrained;
	struct folder *v;
	size_t n;
};

struct maildir_watch *maildir_watch_new(void)
{
	struct maildir_watch *w = mf_calloc(1, sizeof *w);
#ifdef __linux__
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
#else
	w->fd = -1;
#endif
	return w;
}

/* Remove every watch and never answer clean again. Closing an inotify
 * descriptor that still holds watches waits for the kernel to retire them
 * (an RCU grace period: 5-20 ms measured, at the end of every run);
 * removing them first lets the kernel retire them in the background. */
void maildir_watch_stop(struct maildir_watch *w)
{
	if (!w || w->fd < 0)
		return;
	w->broken = 1;
#ifdef __linux__
	for (size_t i = 0; i < w->n; i++)
		for (int k = 0; k < 2; k++)
			if (w->v[i].wd[k] >= 0) {
				(void)inotify_rm_watch(w->fd, w->v[i].wd[k]);
				w->v[i].wd[k] = -1;
			}
#endif
}

void maildir_watch_free(struct maildir_watch **wp)
{
	struct maildir_watch *w = *wp;
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].box);
	free(w->v);
	free(w);
	*wp = NULL;
}

static int find(const struct maildir_watch *w, const char *box)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->v[i].box, box) == 0)
			return (int)i;
	return -1;
}

int maildir_watch_add(struct maildir_watch *w, const char *box, int dirfd)
{
	if (!w || w->fd < 0 || w->broken)
		return -1;
	int slot = find(w, box);
	if (slot >= 0)
		return w->v[slot].broken ? -1 : slot;
#ifdef __linux__
	static const char *const sub[2] = { "cur", "new" };
	struct folder f = { .box = mf_strdup(box), .wd = { -1, -1 } };
	for (int i = 0; i < 2 && !f.broken; i++) {
		/* by the open descriptor, not by path: the watch is on the
		 * directories this store writes to, whatever the path meets */
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d/%s", dirfd, sub[i]);
		f.wd[i] = inotify_add_watch(w->fd, path, IN_CREATE | IN_DELETE | IN_MOVED_FROM |
					    IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
					    IN_ONLYDIR | IN_DONT_FOLLOW);
		f.broken = f.wd[i] < 0;
	}
	w->v = mf_reallocarray(w->v, w->n + 1, sizeof *w->v);
	w->v[w->n++] = f;
	return f.broken ? -1 : (int)w->n - 1;
#else
	(void)dirfd;
	return -1;
#endif
}

static void drain(struct maildir_watch *w);

void maildir_watch_own(struct maildir_watch *w, int slot, unsigned n)
{
	if (!w || slot < 0 || (size_t)slot >= w->n)
		return;
	w->v[slot].own += n;
	if ((w->undrained += n) >= DRAIN_EVERY)
		drain(w);
}

void maildir_watch_distrust(struct maildir_watch *w)
{
	if (w)
		w->broken = 1;
}

#ifdef __linux__
static struct folder *by_wd(struct maildir_watch *w, int wd)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].wd[0] == wd || w->v[i].wd[1] == wd)
			return &w->v[i];
	return NULL;
}

/* Read every queued event (non-blocking) into the folders' counts. */
static void drain(struct maildir_watch *w)
{
	char b[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	w->undrained = 0;
	for (;;) {
		ssize_t r = read(w->fd, b, sizeof b);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0 && errno != EAGAIN)
				w->broken = 1;
			return;
		}
		for (char *p = b; p < b + r;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof *ev + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				w->broken = 1;
				continue;
			}
			struct folder *f = by_wd(w, ev->wd);
			if (!f)
				continue; /* a folder whose watch failed halfway */
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT))
				f->broken = 1;
			else
				f->seen++;
		}
	}
}
#endif

#ifndef __linux__
static void drain(struct maildir_watch *w)
{
	w->undrained = 0;
}
#endif

int maildir_watch_clean(struct maildir_watch *w, const char *box)
{
	if (!w || w->fd < 0)
		return 0;
	drain(w);
	int slot = find(w, box);
	if (w->broken || slot < 0)
		return 0;
	const struct folder *f = &w->v[slot];
	return !f->broken && f->seen == f->own;
}
