/*
 * maildir_int.h — internals shared by the files of the Maildir driver
 * (maildir_store.c: the ops and the open folder; maildir_folder.c: folder
 * paths, identity, create/delete/rename/list; maildir_deliver.c: delivery
 * and group commit). Not for use outside store/maildir.
 *
 * State: one store has at most one open folder (boxfd >= 0). Pending
 * deliveries belong to the open folder: they are committed (flush) before
 * another folder is opened or the store is closed, so every pending entry
 * refers to boxfd.
 */
#ifndef MF_MAILDIR_INT_H
#define MF_MAILDIR_INT_H

#include "maildir/maildir_keywords.h"
#include "maildir/maildir_scan.h"
#include "maildir/maildir_store.h"
#include "maildir/maildir_watch.h"

#define MAILDIR_ID_FILE ".mailferry-id"

struct maildir_pending {
	char *tmp;  /* name in tmp/ */
	char *dest; /* "cur/<name>" or "new/<name>" */
	char *key;
	store_append_cb *cb;
	void *cb_ctx;
};

struct maildir_overflow {
	char *key;
	struct flagset kws;
};

struct md_store {
	struct store base;
	char *root;      /* as given */
	char *root_real; /* realpath(root) */
	char *inbox_path; /* configured INBOX path, or NULL */
	enum maildir_layout layout;
	int do_fsync;
	int delete_nonempty;
	char host[256];
	unsigned long counter;

	/* the open folder */
	char *box;
	int boxfd;
	int read_only;
	char ident[64];
	struct maildir_keywords *kw;
	struct maildir_scan scan;
	int scanned;      /* scan holds a listing of this folder */
	int scan_part;    /* ... only what a filtered listing listed: a key not in
			   * it is found by reading every name once (find_ent) */
	/* names the caller guessed from its journal (maildir_store_hint), used
	 * instead of a listing while they keep hitting */
	struct maildir_scan hints;
	int hints_sorted;
	int hints_off;      /* a guess was wrong: the folder is listed instead */
	struct maildir_watch *watch; /* folders written, for maildir_store_clean */
	int wslot;        /* the open folder's watch slot, -1 none */
	struct maildir_overflow *ovf;
	size_t novf;
	struct maildir_pending *pend;
	size_t npend;
	int dirty_cur, dirty_new;
	int abandoned;    /* a forked child's copy: the watches are the parent's */
	unsigned long list_stats, list_reads; /* maildir_store_list_stats */
	unsigned long dir_scans; /* maildir_store_dir_scans */
};

/* maildir_folder.c */
/* Absolute path of mailbox name; *configured_r = 1 when it is the
 * configured inbox_path (allowed outside the root). */
int maildir_folder_path(struct md_store *s, const char *name, struct buf *path,
			int *configured_r, struct err *e);
/* Open an existing folder directory, checking it lies below the root. */
int maildir_folder_open(struct md_store *s, const char *name, int *fd_r, struct err *e);
/* Make sure the folder exists (creating the directories, maildirfolder
 * and the id file). *created_r (may be NULL) = 1 when it did not exist. */
int maildir_folder_ensure(struct md_store *s, const char *name, int *created_r,
			  struct err *e);
/* Read (or create once, unless read_only) the folder id: "md:<hex>". */
int maildir_folder_ident(struct md_store *s, int fd, int read_only, char out[64],
			 struct err *e);
int maildir_folder_list(struct store *st, struct store_box **boxes_r, size_t *n_r,
			struct err *e);
int maildir_folder_create(struct store *st, const char *name, struct err *e);
int maildir_folder_delete(struct store *st, const char *name, struct err *e);
int maildir_folder_rename(struct store *st, const char *from, const char *to,
			  struct err *e);

/* maildir_store.c */
/* Flush and close the open folder. */
int maildir_store_close_box(struct md_store *s, struct err *e);
void maildir_store_ovf_add(struct md_store *s, const char *key, const char *kw);
int maildir_store_fsync_dir(struct md_store *s, int fd, const char *sub, struct err *e);

/* maildir_deliver.c */
int maildir_deliver_begin(struct store *st, const struct flagset *flags, int64_t idate,
			  uint64_t size, struct store_writer **w_r, struct err *e);
int maildir_deliver_write(struct store_writer *w, const void *data, size_t n, struct err *e);
int maildir_deliver_end(struct store_writer *w, int ok, store_append_cb *cb, void *cb_ctx,
			struct err *e);
int maildir_deliver_flush(struct store *st, struct err *e);

#endif
