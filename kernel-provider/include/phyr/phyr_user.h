/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phyr - user memory pinned into a phyr, for RDMA drivers (kernel only)
 *
 * What ib_umem_get() does for an sg_table, for a phyr: pin a user range
 * long-term, count it against the process's RLIMIT_MEMLOCK in pinned_vm,
 * and describe its pages as a phyr (physically adjacent pages merge, so
 * THP-backed memory comes out as 2 MiB runs), ready for phyr_dma_map().
 * Exported in the "PHYR" symbol namespace.
 */
#ifndef _PHYR_PHYR_USER_H
#define _PHYR_PHYR_USER_H

#include <phyr/phyr.h>

struct mm_struct;

/**
 * struct phyr_user - a pinned user range
 * @phyr: its pages, from the first page of the range
 * @mm: the process's mm, held (mmgrab) while pinned
 * @npages: pages pinned and counted in @mm's pinned_vm
 * @writable: pinned for writing (pages are dirtied at unpin)
 * @scratch_bytes: memory the pinning allocated beyond the pages (the
 *	phyr's arrays and the batch of page pointers)
 */
struct phyr_user {
	struct phyr phyr;
	struct mm_struct *mm;
	u64 npages;
	bool writable;
	u64 scratch_bytes;
};

int phyr_user_pin(struct phyr_user *pu, u64 start, u64 length, bool writable);
void phyr_user_unpin(struct phyr_user *pu);

#endif /* _PHYR_PHYR_USER_H */
