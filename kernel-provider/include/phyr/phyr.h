/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phyr - physical range lists
 *
 * A phyr describes memory by its physical addresses: an ordered list of
 * runs, each a physically contiguous (paddr, len) extent, plus metadata that
 * tells an importer how it may reach the memory.
 *
 * Encoding
 * --------
 * Runs are struct phys_vec, 16 bytes on 64-bit: the address and a length
 * that may exceed 4 GiB.  Metadata (struct phyr_meta, 16 bytes) is not kept
 * per run but per *segment*: a maximal sequence of consecutive runs with
 * identical metadata.  segs[i] holds the metadata and the index of the
 * segment's first run; segment i covers runs [segs[i].first_run,
 * segs[i + 1].first_run).  A buffer whose memory is all alike (the common
 * case) therefore costs 16 bytes per run plus one 24-byte segment, against
 * 32 bytes per entry for a scatterlist that still has no room for the
 * metadata and needs a struct page that P2P MMIO does not have.
 *
 * The builder merges a run into the previous one when it continues it
 * physically and has the same metadata, so a physically contiguous buffer
 * is one run however it was appended.
 *
 * Slices and iterators
 * --------------------
 * A struct phyr_slice names a byte range of a phyr without copying it.
 * Iterators are caller-owned, separate from the data they walk, and expose
 * documented output fields: struct phyr_iter walks a slice run by run,
 * struct phyr_block_iter walks it in device blocks of one page size.
 * Conversion to an sg_table for legacy importers, and the streaming DMA
 * mapper, come with the exporter and the MR path.
 *
 * The pure logic in this header (builder, iterators, slicing, validation,
 * page-size selection) also builds in userspace against the compat header
 * of the host unit tests; kernel-only parts are under __KERNEL__.
 */
#ifndef _PHYR_PHYR_H
#define _PHYR_PHYR_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/gfp_types.h>
struct p2pdma_provider;
#endif

/**
 * enum phyr_mem_kind - what kind of memory a run is
 * @PHYR_MEM_RAM: CPU memory with a struct page for every page
 * @PHYR_MEM_P2P_MMIO: a PCI BAR of another device; no struct page, reached
 *	through the segment's p2pdma provider
 * @PHYR_MEM_PRIVATE: memory behind a private interconnect that only the
 *	exporter's own driver knows how to reach; common code refuses it
 */
enum phyr_mem_kind {
	PHYR_MEM_RAM = 0,
	PHYR_MEM_P2P_MMIO = 1,
	PHYR_MEM_PRIVATE = 2,
};

/* How the CPU side maps the memory; a device must not snoop-mismatch it. */
enum phyr_cache {
	PHYR_CACHE_WB = 0,
	PHYR_CACHE_WC = 1,
	PHYR_CACHE_UC = 2,
};

/*
 * Confidential-computing state: private (encrypted) memory is reachable
 * only by devices the guest trusts; shared (decrypted) memory by any.
 */
enum phyr_cc {
	PHYR_CC_ENCRYPTED = 0,
	PHYR_CC_DECRYPTED = 1,
};

/**
 * struct phyr_meta - metadata shared by the runs of one segment
 * @kind: enum phyr_mem_kind
 * @cache: enum phyr_cache
 * @cc: enum phyr_cc
 * @reserved: must be zero
 * @provider: the P2P provider of %PHYR_MEM_P2P_MMIO memory, else NULL
 */
struct phyr_meta {
	u8 kind;
	u8 cache;
	u8 cc;
	u8 reserved[5];
	struct p2pdma_provider *provider;
};

struct phyr_seg {
	struct phyr_meta meta;
	u32 first_run;
};

/**
 * struct phyr - a physical range list
 * @runs: @nr_runs runs, in the order the bytes appear in the buffer
 * @segs: @nr_segs metadata segments, see the encoding note above
 * @nr_runs: runs in use
 * @max_runs: runs @runs has room for; phyr_append() grows it
 * @nr_segs: segments in use
 * @max_segs: segments @segs has room for; phyr_append() grows it
 * @len: total length in bytes, the sum of the run lengths
 *
 * Built with phyr_append(), released with phyr_free().  The owner of the
 * struct owns both arrays.
 */
struct phyr {
	struct phys_vec *runs;
	struct phyr_seg *segs;
	u32 nr_runs;
	u32 max_runs;
	u32 nr_segs;
	u32 max_segs;
	u64 len;
};

/**
 * struct phyr_slice - a byte range of a phyr, by reference
 * @phyr: the list; must outlive the slice
 * @offset: first byte of the slice within @phyr
 * @len: length of the slice, at least 1
 */
struct phyr_slice {
	const struct phyr *phyr;
	u64 offset;
	u64 len;
};

/**
 * struct phyr_iter - walks a slice one run at a time
 * @paddr: output: physical address of the current piece
 * @len: output: its length (the run, clipped to the slice)
 * @offset: output: offset of the piece within the slice
 * @meta: output: metadata of the piece
 *
 * The remaining fields are private to the iterator.
 */
struct phyr_iter {
	phys_addr_t paddr;
	u64 len;
	u64 offset;
	const struct phyr_meta *meta;

	/* private: */
	const struct phyr *phyr;
	u32 run;
	u32 seg;
	u64 remaining;
};

/**
 * struct phyr_block_iter - walks a slice in device blocks of one page size
 * @addr: output: physical address of the current block's first byte; the
 *	first block may begin before the slice (see phyr_block_iter_start())
 * @index: output: index of the block, 0 for the first
 * @error: set when the slice's layout cannot be described with this page
 *	size (a block would not be physically contiguous); iteration stops
 *
 * The remaining fields are private to the iterator.
 */
struct phyr_block_iter {
	phys_addr_t addr;
	u64 index;
	bool error;

	/* private: */
	struct phyr_iter run;
	u64 pgsz;
	u64 pos;	/* device address of the next block start */
	u64 end;	/* device address one past the slice */
	u64 run_va;	/* device address of run.paddr */
};

/**
 * struct phyr_pgsz_req - what the page-size policy must honour
 * @pgsz_bitmap: page sizes the device supports, one bit per power of two
 * @iova: the device (user) virtual address of the slice's first byte
 * @translating: DMA goes through a translating IOMMU, so the mapper lays
 *	out DMA addresses itself; otherwise they are the physical addresses
 * @max_iova_waste: translating only: most IOVA bytes the mapper may reserve
 *	beyond the slice to reach the page size's alignment
 *
 * With @translating the slice's inner run boundaries must fall on IOVA
 * granules, and @iova must agree with the first byte's physical address
 * within the granule; otherwise no page size is possible.
 */
struct phyr_pgsz_req {
	u64 pgsz_bitmap;
	u64 iova;
	bool translating;
	u64 max_iova_waste;
};

/**
 * struct phyr_pgsz - the policy's choice
 * @pgsz: the page size, a single bit of the request's bitmap
 * @nr_blocks: device page-table entries the slice needs at @pgsz
 * @iova_waste: translating only: IOVA bytes the mapper will reserve beyond
 *	the granules the slice touches (see phyr_iova_place())
 */
struct phyr_pgsz {
	u64 pgsz;
	u64 nr_blocks;
	u64 iova_waste;
};

/**
 * struct phyr_iova_place - where the mapper puts a slice in IOVA space
 * @lead: bytes of the reservation before the slice's first granule
 * @reserve: bytes of IOVA to reserve
 * @waste: bytes reserved beyond the granules the slice touches
 */
struct phyr_iova_place {
	u64 lead;
	u64 reserve;
	u64 waste;
};

/* IOVA granule the policy assumes for the IOMMU (the CPU page size). */
#define PHYR_IOVA_GRANULE	4096ULL

void phyr_init(struct phyr *phyr);
int phyr_append(struct phyr *phyr, phys_addr_t paddr, u64 len,
		const struct phyr_meta *meta, gfp_t gfp);
void phyr_free(struct phyr *phyr);
int phyr_validate(const struct phyr *phyr);

int phyr_slice_init(struct phyr_slice *slice, const struct phyr *phyr,
		    u64 offset, u64 len);
int phyr_slice_check_meta(const struct phyr_slice *slice);

bool phyr_iter_start(struct phyr_iter *it, const struct phyr_slice *slice);
bool phyr_iter_next(struct phyr_iter *it);
u32 phyr_slice_nr_runs(const struct phyr_slice *slice);

bool phyr_block_iter_start(struct phyr_block_iter *it,
			   const struct phyr_slice *slice, u64 pgsz, u64 iova);
bool phyr_block_iter_next(struct phyr_block_iter *it);

u64 phyr_nr_blocks(u64 iova, u64 len, u64 pgsz);
int phyr_iova_place(u64 iova, u64 pgoff, u64 len, u64 pgsz,
		    struct phyr_iova_place *out);
int phyr_best_pgsz(const struct phyr_slice *slice,
		   const struct phyr_pgsz_req *req, struct phyr_pgsz *out);
u64 phyr_slice_phase(const struct phyr_slice *slice, u64 first);

/* The largest power of two no larger than @x (at least 1), or 2^62. */
static inline u64 phyr_pow2_floor(u64 x)
{
	int b = 63;

	if (!x)
		return 1;
	while (!(x >> b))
		b--;
	return b >= 62 ? 1ULL << 62 : 1ULL << b;
}

#endif /* _PHYR_PHYR_H */
