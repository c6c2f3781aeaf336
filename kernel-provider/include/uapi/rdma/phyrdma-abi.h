/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB) */
/*
 * phyrdma: driver-private uverbs ABI between phyrdma.ko and libphyrdma.
 *
 * Every request starts with comp_mask; the kernel rejects bits it does not
 * know and non-zero reserved fields.  Responses also start with comp_mask,
 * telling which optional fields the kernel filled.  Both sides copy
 * min(their size, the other side's size), so either may be newer.
 */
#ifndef PHYRDMA_ABI_USER_H
#define PHYRDMA_ABI_USER_H

#include <linux/types.h>

#define PHYRDMA_UVERBS_ABI_VERSION 1

/* How the device reaches memory: what a DMA address means to it. */
enum phyrdma_iommu_mode {
	/* No IOMMU domain: DMA addresses are physical addresses. */
	PHYRDMA_IOMMU_NONE = 0,
	/* An identity (passthrough) domain: same as NONE for the device. */
	PHYRDMA_IOMMU_IDENTITY = 1,
	/* A translating DMA domain: DMA addresses are IOVAs. */
	PHYRDMA_IOMMU_TRANSLATING = 2,
};

struct phyrdma_alloc_ucontext_req {
	__u32 comp_mask;
	__u32 reserved;
};

struct phyrdma_alloc_ucontext_resp {
	__u32 comp_mask;
	/* enum phyrdma_iommu_mode */
	__u32 iommu_mode;
	/* Page sizes the device's page table can use, one bit per size. */
	__aligned_u64 page_size_cap;
};

struct phyrdma_alloc_pd_resp {
	__u32 comp_mask;
	__u32 pdn;
};

#endif /* PHYRDMA_ABI_USER_H */
