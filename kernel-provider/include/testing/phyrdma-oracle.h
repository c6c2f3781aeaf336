/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The phyrdma correctness oracle: ioctls on the root-only debugfs file
 * /sys/kernel/debug/phyrdma/<pci address>/oracle.
 *
 * A debugging and test interface, not an ABI: it may change with the
 * driver, which is why it lives here and not under include/uapi (only the
 * driver, the guest tests and the benchmark include it).  It shows an MR
 * as the device sees it and moves bytes through it exactly as the device
 * engine does (key, bounds and rights, MTT walk by DMA, IOMMU
 * translation).
 */
#ifndef PHYRDMA_TESTING_ORACLE_H
#define PHYRDMA_TESTING_ORACLE_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* struct phyrdma_oracle_query.path */
enum {
	PHYRDMA_ORACLE_PATH_PHYR = 1,
	PHYRDMA_ORACLE_PATH_LEGACY = 2,
	PHYRDMA_ORACLE_PATH_ODP = 3,	/* on demand: leaves appear as pages fault */
};

/* struct phyrdma_oracle_query.source */
enum {
	PHYRDMA_ORACLE_SRC_USER = 1,
	PHYRDMA_ORACLE_SRC_DMABUF = 2,
};

struct phyrdma_oracle_query {
	__u32 key;		/* in */
	__u32 pdn;
	__u32 access;		/* PHYRDMA_HW_ACCESS_* bits */
	__u32 page_shift;
	__u32 levels;
	__u32 path;
	__u32 source;
	__u32 reserved;
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 root;	/* DMA address of the MTT root */
	__aligned_u64 mtt_entries;
	__aligned_u64 mtt_pages;
	__aligned_u64 iova_bytes;
	__aligned_u64 iova_waste;
	__aligned_u64 scratch_bytes;
	__aligned_u64 runs;
	__aligned_u64 syncs;
	__aligned_u64 dma_first;
	/*
	 * Phyr path: time the mapper spent reserving, linking and syncing
	 * (what the link floor measures, the same way), and streaming the
	 * blocks into the MTT.
	 */
	__aligned_u64 map_ns;
	__aligned_u64 emit_ns;
};

enum {
	PHYRDMA_ORACLE_FROM_MR = 0,	/* the device reads the MR */
	PHYRDMA_ORACLE_TO_MR = 1,	/* the device writes the MR */
};

struct phyrdma_oracle_copy {
	__u32 key;
	__u32 dir;
	__aligned_u64 va;	/* in the MR's address space */
	__aligned_u64 len;
	__aligned_u64 uaddr;	/* the caller's buffer */
};

struct phyrdma_oracle_translate {
	__u32 key;
	__u32 reserved;
	__aligned_u64 va;
	__aligned_u64 dma;	/* out: what the MTT gives */
	__aligned_u64 phys;	/* out: where the IOMMU sends it */
};

/*
 * The floor of the phyr path: the mapper's map phase alone over a
 * phyr-speaking dma-buf's range (reserve IOVA, dma_iova_link() every run,
 * sync), then its unmap, with no device page table and nothing emitted.
 */
struct phyrdma_oracle_link_floor {
	__s32 fd;
	__u32 reserved;
	__aligned_u64 offset;
	__aligned_u64 len;
	__aligned_u64 runs;	/* out */
	__aligned_u64 link_ns;	/* out: alloc + link + sync */
	__aligned_u64 destroy_ns; /* out */
	__aligned_u64 iova_bytes; /* out */
};

#define PHYRDMA_ORACLE_MAGIC	'R'
#define PHYRDMA_ORACLE_QUERY	_IOWR(PHYRDMA_ORACLE_MAGIC, 0, struct phyrdma_oracle_query)
#define PHYRDMA_ORACLE_COPY	_IOW(PHYRDMA_ORACLE_MAGIC, 1, struct phyrdma_oracle_copy)
#define PHYRDMA_ORACLE_TRANSLATE _IOWR(PHYRDMA_ORACLE_MAGIC, 2, struct phyrdma_oracle_translate)
#define PHYRDMA_ORACLE_LINK_FLOOR _IOWR(PHYRDMA_ORACLE_MAGIC, 3, struct phyrdma_oracle_link_floor)

#endif /* PHYRDMA_TESTING_ORACLE_H */
