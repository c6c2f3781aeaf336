/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * phyr_mmio: a dma-buf exporter of device memory behind a PCI BAR.
 *
 * phyr_mmio binds the guest's "GPUs" (ivshmem functions, whose BAR 2 is
 * device memory) and hands out dma-bufs of BAR ranges.  Their phyr is
 * P2P MMIO: no struct page anywhere, each run reached through the
 * function's P2P provider, mapped write-combined by the CPU.  Importers
 * that speak phyr get it; others get an sg_table of DMA addresses if they
 * accept peer-to-peer memory.  A buffer can be mmap()ed (shared mappings
 * only) to fill and check it from userspace.
 *
 * Like VFIO when memory decoding is turned off, the exporter can revoke a
 * buffer: every importer is told to stop using it and every CPU mapping of
 * it faults (SIGBUS) until it is restored.  An importer's mapping made
 * before a revoke is never valid again; it maps anew after the restore.
 *
 * Each GPU is a character device /dev/phyr_mmio<N> (root only, as a GPU
 * driver's allocator is for its own users).
 */
#ifndef _UAPI_PHYR_MMIO_H
#define _UAPI_PHYR_MMIO_H

#include <linux/ioctl.h>
#include <linux/types.h>

enum phyr_mmio_flags {
	/*
	 * Take the buffer's chunks in reverse order of their BAR offsets, so
	 * no two neighbours are contiguous: one run per chunk.
	 */
	PHYR_MMIO_REVERSE = 1 << 0,
	/* label the buffer's memory as decrypted (CC-shared) */
	PHYR_MMIO_CC_SHARED = 1 << 1,
};

/**
 * struct phyr_mmio_create - PHYR_MMIO_IOC_CREATE
 * @size: bytes; a multiple of @chunk
 * @chunk: the buffer is made of separately allocated BAR ranges of this
 *	size, a power of two from 4 KiB; 0 means one range of @size
 * @flags: enum phyr_mmio_flags
 * @fd: output: the dma-buf, O_RDWR | O_CLOEXEC
 * @reserved: must be zero
 */
struct phyr_mmio_create {
	__aligned_u64 size;
	__aligned_u64 chunk;
	__u32 flags;
	__s32 fd;
	__aligned_u64 reserved;
};

/**
 * struct phyr_mmio_revoke - PHYR_MMIO_IOC_REVOKE
 * @fd: a dma-buf of this exporter
 * @revoke: 1 to revoke, 0 to restore
 */
struct phyr_mmio_revoke {
	__s32 fd;
	__u32 revoke;
};

/**
 * struct phyr_mmio_info - PHYR_MMIO_IOC_INFO
 * @bar_size: bytes of device memory the GPU has
 * @free: bytes not in any buffer
 * @buffers: live buffers
 * @revokes: revocations done since load
 * @offset: in: @fd, a dma-buf of this GPU, or -1; out: offset of the
 *	buffer's first byte in the BAR (CAP_SYS_ADMIN, else ~0)
 * @fd: see @offset
 * @reserved: must be zero
 */
struct phyr_mmio_info {
	__aligned_u64 bar_size;
	__aligned_u64 free;
	__aligned_u64 buffers;
	__aligned_u64 revokes;
	__aligned_u64 offset;
	__s32 fd;
	__u32 reserved;
};

#define PHYR_MMIO_IOC_MAGIC	'q'
#define PHYR_MMIO_IOC_CREATE	_IOWR(PHYR_MMIO_IOC_MAGIC, 0x00, struct phyr_mmio_create)
#define PHYR_MMIO_IOC_REVOKE	_IOW(PHYR_MMIO_IOC_MAGIC, 0x01, struct phyr_mmio_revoke)
#define PHYR_MMIO_IOC_INFO	_IOWR(PHYR_MMIO_IOC_MAGIC, 0x02, struct phyr_mmio_info)

#endif /* _UAPI_PHYR_MMIO_H */
