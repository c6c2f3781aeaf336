/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phyrdma MTT format and layout arithmetic (pure; also built by the host
 * unit tests).
 *
 * The memory translation table of an MR maps its virtual range in blocks
 * of one page size P.  Entries are 8 bytes, little-endian: the DMA address
 * of a P-aligned block (or of the next table page), bit 0 set when valid.
 * Table pages are 4 KiB and hold 512 entries.  The leaves (level 0) hold
 * one entry per block, in block order; each level above holds one entry
 * per page of the level below, until one page, the root, remains.  Four
 * levels cover 2^36 blocks, 256 TiB of 4 KiB pages.
 */
#ifndef PHYRDMA_HW_MTT_LAYOUT_H
#define PHYRDMA_HW_MTT_LAYOUT_H

#ifdef __KERNEL__
#include <linux/bits.h>
#include <linux/errno.h>
#include <linux/types.h>
#endif

#define PHYRDMA_MTT_PAGE_SIZE		4096u
#define PHYRDMA_MTT_ENTRY_SIZE		8u
#define PHYRDMA_MTT_PER_PAGE_SHIFT	9u
#define PHYRDMA_MTT_PER_PAGE		BIT(PHYRDMA_MTT_PER_PAGE_SHIFT)
#define PHYRDMA_MTT_MAX_LEVELS		4u
#define PHYRDMA_MTT_VALID		1ULL
/* leaf entries only: the device may read the block but not write it */
#define PHYRDMA_MTT_READ_ONLY		2ULL
#define PHYRDMA_MTT_ADDR_MASK		(~0xfffULL)

/**
 * struct phyrdma_mtt_layout - the shape of one MTT
 * @levels: 1 (the root is the only leaf page) to PHYRDMA_MTT_MAX_LEVELS
 * @pages: pages at each level, leaves first; @pages[@levels - 1] is 1
 * @first: index of each level's first page when all pages are numbered
 *	leaves first
 * @total_pages: pages in all levels
 */
struct phyrdma_mtt_layout {
	u32 levels;
	u64 pages[PHYRDMA_MTT_MAX_LEVELS];
	u64 first[PHYRDMA_MTT_MAX_LEVELS];
	u64 total_pages;
};

/**
 * phyrdma_mtt_layout - compute the shape of an MTT
 * @nr_entries: blocks to map, at least 1
 * @l: the layout
 *
 * Return: 0; -EINVAL for no entries; -E2BIG beyond four levels.
 */
static inline int phyrdma_mtt_layout(u64 nr_entries, struct phyrdma_mtt_layout *l)
{
	u64 n = nr_entries;
	u32 k = 0;

	if (!n)
		return -EINVAL;
	l->total_pages = 0;
	for (;;) {
		if (k == PHYRDMA_MTT_MAX_LEVELS)
			return -E2BIG;
		l->pages[k] = (n + PHYRDMA_MTT_PER_PAGE - 1) >>
			      PHYRDMA_MTT_PER_PAGE_SHIFT;
		l->first[k] = l->total_pages;
		l->total_pages += l->pages[k];
		n = l->pages[k++];
		if (n == 1)
			break;
	}
	l->levels = k;
	return 0;
}

/**
 * phyrdma_mtt_slot - where the walk for a block reads at one level
 * @index: the block
 * @level: 0 for the leaf entry, up to the root's level
 * @page: output: the page's index within its level
 *
 * Return: the entry's slot in that page.
 */
static inline u32 phyrdma_mtt_slot(u64 index, u32 level, u64 *page)
{
	u64 at = index >> (PHYRDMA_MTT_PER_PAGE_SHIFT * level);

	*page = at >> PHYRDMA_MTT_PER_PAGE_SHIFT;
	return at & (PHYRDMA_MTT_PER_PAGE - 1);
}

#endif /* PHYRDMA_HW_MTT_LAYOUT_H */
