/*
 * plan_fmt.c — plans as text (plan_format() and friends in plan.h), for
 * --dry-run and for test failure messages. Owns nothing.
 */
#include "plan.h"

#include <inttypes.h>
#include <string.h>

#include "lib/banned.h"

const char *plan_op_name(enum plan_op op)
{
	switch (op) {
	case PLAN_COPY:
		return "copy";
	case PLAN_FLAGS:
		return "flags";
	case PLAN_MARK_DELETED:
		return "mark-deleted";
	case PLAN_EXPUNGE:
		return "expunge";
	case PLAN_PAIR:
		return "pair";
	case PLAN_REKEY:
		return "rekey";
	case PLAN_BASE:
		return "base";
	case PLAN_UNPAIR:
		return "unpair";
	case PLAN_SKIP:
		return "skip";
	}
	return "?";
}

const char *plan_box_op_name(enum plan_box_op op)
{
	switch (op) {
	case PBOX_SYNC:
		return "sync";
	case PBOX_CREATE:
		return "create";
	case PBOX_DELETE:
		return "delete";
	case PBOX_RENAME:
		return "rename";
	case PBOX_FORGET:
		return "forget";
	case PBOX_SKIP:
		return "skip";
	}
	return "?";
}

static const char *side_name(enum plan_side s)
{
	return s == SIDE_REMOTE ? "remote" : "local";
}

static int add_flags(struct buf *out, const char *label, const struct flagset *f)
{
	if (!f->sys && !f->nkw)
		return 0;
	if (buf_addf(out, " %s(", label) < 0 || flagset_format(f, out) < 0)
		return -1;
	return buf_addch(out, ')');
}

/* One action as one line, e.g.
 *   copy remote:17 -> local flags(\Seen) 2048 bytes */
int plan_action_format(const struct plan_action *a, struct buf *out)
{
	const char *k = a->key ? a->key : "-";
	int r = 0;
	switch (a->op) {
	case PLAN_COPY:
		r = buf_addf(out, "copy %s:%s -> %s", side_name(!a->side), k,
			     side_name(a->side));
		if (!r)
			r = add_flags(out, "flags", &a->flags);
		if (!r)
			r = buf_addf(out, " %" PRIu64 " bytes", a->size);
		break;
	case PLAN_SKIP:
		r = buf_addf(out, "skip %s:%s (not copied to %s)", side_name(!a->side), k,
			     side_name(a->side));
		break;
	case PLAN_FLAGS:
		r = buf_addf(out, "flags %s:%s", side_name(a->side), k);
		if (!r)
			r = add_flags(out, "+", &a->add);
		if (!r)
			r = add_flags(out, "-", &a->del);
		break;
	case PLAN_MARK_DELETED:
	case PLAN_EXPUNGE:
		r = buf_addf(out, "%s %s:%s%s", plan_op_name(a->op), side_name(a->side), k,
			     a->op == PLAN_EXPUNGE && a->keep_pair ? " (pair kept)" : "");
		break;
	case PLAN_PAIR:
	case PLAN_REKEY:
	case PLAN_BASE:
	case PLAN_UNPAIR:
		r = buf_addf(out, "%s remote:%s local:%s", plan_op_name(a->op),
			     a->rkey ? a->rkey : "-", a->lkey ? a->lkey : "-");
		if (!r && a->pair_id)
			r = buf_addf(out, " pair %" PRId64, a->pair_id);
		if (!r && a->op != PLAN_UNPAIR && a->op != PLAN_REKEY)
			r = add_flags(out, "base", &a->flags);
		break;
	}
	if (!r && a->reason)
		r = buf_addf(out, ": %s", a->reason);
	return r;
}

int plan_format(const struct plan *p, const char *box, int verbose, struct buf *out)
{
	const struct plan_counts *k = &p->counts;
	const char *name = box ? box : "mailbox";
	if (p->alert)
		return buf_addf(out, "%s: %s\n", name, p->alert);
	if (buf_addf(out, "%s: %zu to local, %zu to remote, %zu flag changes, "
		     "%zu marked deleted, %zu expunged, %zu skipped", name,
		     k->copy[SIDE_LOCAL], k->copy[SIDE_REMOTE],
		     k->flags[SIDE_LOCAL] + k->flags[SIDE_REMOTE],
		     k->mark_deleted[SIDE_LOCAL] + k->mark_deleted[SIDE_REMOTE],
		     k->expunge[SIDE_LOCAL] + k->expunge[SIDE_REMOTE], k->skipped) < 0)
		return -1;
	if (k->paired && buf_addf(out, ", %zu paired by fingerprint", k->paired) < 0)
		return -1;
	if (k->rekeyed && buf_addf(out, ", %zu re-paired", k->rekeyed) < 0)
		return -1;
	if (buf_addch(out, '\n') < 0)
		return -1;
	for (size_t i = 0; verbose && i < p->n; i++)
		if (buf_addstr(out, "  ") < 0 || plan_action_format(&p->v[i], out) < 0 ||
		    buf_addch(out, '\n') < 0)
			return -1;
	return 0;
}

int plan_boxes_format(const struct plan_boxes *p, struct buf *out)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_box_action *a = &p->v[i];
		const char *name = a->side == SIDE_REMOTE ? a->rname : a->lname;
		int r;
		if (a->op == PBOX_RENAME)
			r = buf_addf(out, "rename %s '%s' -> '%s'", side_name(a->side),
				     a->from ? a->from : "", name ? name : "");
		else if (a->op == PBOX_SYNC || a->op == PBOX_FORGET)
			r = buf_addf(out, "%s '%s'", plan_box_op_name(a->op),
				     a->rname ? a->rname : "");
		else
			r = buf_addf(out, "%s %s '%s'", plan_box_op_name(a->op),
				     side_name(a->side), name ? name : "");
		if (!r && a->reason)
			r = buf_addf(out, ": %s", a->reason);
		if (r < 0 || buf_addch(out, '\n') < 0)
			return -1;
	}
	return 0;
}
