/*
 * order.h — an order of indices by weight, heaviest first, for the places
 * that hand out work so that the big items start (or are shared) first:
 * the mailbox pairs queued for the workers, the STATUS pass shared over two
 * connections.
 */
#ifndef MF_ORDER_H
#define MF_ORDER_H

#include <stddef.h>
#include <stdint.h>

/* idx_r[0..n) = 0..n-1 sorted by w[] descending; equal weights keep their
 * index order. */
void order_heaviest_first(const uint64_t *w, size_t n, size_t *idx_r);

#endif
