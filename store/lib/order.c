/*
 * order.c — indices by weight, heaviest first (order.h). Owns nothing
 * beyond the scratch array of one call.
 */
#include "order.h"

#include <stdlib.h>

#include "buf.h"
#include "banned.h"

struct wi {
	uint64_t w;
	size_t i;
};

static int cmp_wi(const void *a, const void *b)
{
	const struct wi *x = a, *y = b;
	if (x->w != y->w)
		return x->w > y->w ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

void order_heaviest_first(const uint64_t *w, size_t n, size_t *idx_r)
{
	struct wi *o = mf_calloc(n ? n : 1, sizeof *o);
	for (size_t i = 0; i < n; i++)
		o[i] = (struct wi){ .w = w[i], .i = i };
	qsort(o, n, sizeof *o, cmp_wi);
	for (size_t k = 0; k < n; k++)
		idx_r[k] = o[k].i;
	free(o);
}
