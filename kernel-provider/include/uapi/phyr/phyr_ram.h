/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * phyr_ram: a dma-buf exporter of CPU RAM that speaks phyr.
 *
 * /dev/phyr_ram creates dma-bufs backed by folios of a chosen order, laid
 * out as the allocator gives them, shuffled, or as one physically
 * contiguous allocation.  Importers that speak phyr get the buffer's phyr;
 * others get an sg_table through map_dma_buf.  The buffers can be mmap()ed.
 *
 * /dev/phyr_ram also answers DMA_HEAP_IOCTL_ALLOC (<linux/dma-heap.h>), so
 * a program that allocates from a DMA heap can allocate from it unchanged:
 * such buffers are folios of the largest order up to the module parameter
 * heap_order (default: the PMD order) that memory gives.
 */
#ifndef _UAPI_PHYR_RAM_H
#define _UAPI_PHYR_RAM_H

#include <linux/ioctl.h>
#include <linux/types.h>

enum phyr_ram_flags {
	/* one physically contiguous allocation (order is ignored) */
	PHYR_RAM_CONTIGUOUS = 1 << 0,
	/* put the folios in random order, so neighbours rarely touch */
	PHYR_RAM_SHUFFLE = 1 << 1,
	/*
	 * Test labels: mark the second half of the buffer (from the first
	 * folio at or after size / 2) as behind a private interconnect, or
	 * as decrypted (CC-shared) memory.  They change only what the phyr
	 * says, to exercise importers' refusals.
	 */
	PHYR_RAM_LABEL_PRIVATE = 1 << 8,
	PHYR_RAM_LABEL_CC_SPLIT = 1 << 9,
};

/**
 * struct phyr_ram_create - PHYR_RAM_IOC_CREATE
 * @size: bytes; a multiple of the folio size (PAGE_SIZE << @order)
 * @order: folio order, 0 to the largest the buddy allocator gives
 * @flags: enum phyr_ram_flags
 * @fd: output: the dma-buf, O_RDWR | O_CLOEXEC
 * @reserved: must be zero
 */
struct phyr_ram_create {
	__aligned_u64 size;
	__u32 order;
	__u32 flags;
	__s32 fd;
	__u32 reserved;
};

/**
 * struct phyr_ram_run - one run of a buffer's phyr
 * @paddr: physical address
 * @len: bytes
 * @kind: enum phyr_mem_kind of the run
 * @cc: enum phyr_cc of the run
 */
struct phyr_ram_run {
	__aligned_u64 paddr;
	__aligned_u64 len;
	__u32 kind;
	__u32 cc;
};

/**
 * struct phyr_ram_layout - PHYR_RAM_IOC_LAYOUT (CAP_SYS_ADMIN)
 * @fd: a dma-buf of this exporter
 * @nr_runs: in: room in @runs; out: runs in the buffer's phyr
 * @runs: user pointer to struct phyr_ram_run[@nr_runs]
 */
struct phyr_ram_layout {
	__s32 fd;
	__u32 nr_runs;
	__aligned_u64 runs;
};

#define PHYR_RAM_IOC_MAGIC	'p'
#define PHYR_RAM_IOC_CREATE	_IOWR(PHYR_RAM_IOC_MAGIC, 0x00, struct phyr_ram_create)
#define PHYR_RAM_IOC_LAYOUT	_IOWR(PHYR_RAM_IOC_MAGIC, 0x01, struct phyr_ram_layout)

#endif /* _UAPI_PHYR_RAM_H */
