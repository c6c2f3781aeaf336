// SPDX-License-Identifier: GPL-2.0
/*
 * phyr: choosing the device page size for a slice.
 *
 * A device page table maps the MR's virtual range in blocks of one page
 * size P.  Each block is described by the DMA address of its first byte,
 * which must be P-aligned, so P is usable only if for every byte
 * dma_addr ≡ iova (mod P) and the DMA addresses are contiguous inside each
 * P-aligned window of the virtual range.
 *
 * Without a translating IOMMU the DMA addresses are the physical ones and
 * the layout decides: this is the rule mainline applies to umems
 * (ib_umem_find_best_pgsz()), and for the same layout we choose the same
 * size — the largest that passes, no larger than the smallest supported
 * size whose one aligned block covers the whole range.
 *
 * With a translating IOMMU the mapper lays the slice out contiguously in
 * IOVA space and places it so that dma_addr ≡ iova (mod P) holds for any P.
 * The only price is IOVA: to reach the placement the mapper may reserve
 * IOVA the slice does not use, at most P - granule bytes, exactly what
 * phyr_iova_place() computes for this iova and length.  So we take the P
 * with the fewest blocks whose waste stays within the caller's cap, the
 * smaller P on a tie.
 */
#ifdef __KERNEL__
#include <linux/bitops.h>
#include <linux/errno.h>
#include <linux/export.h>
#include <linux/minmax.h>
#include <linux/overflow.h>
#endif
#include <phyr/phyr.h>

/**
 * phyr_nr_blocks - page-table entries for a virtual range
 * @iova: first byte of the range
 * @len: its length, at least 1
 * @pgsz: the page size, a power of two no larger than 2^62
 *
 * Return: the number of @pgsz-aligned windows that [@iova, @iova + @len)
 * touches.
 */
u64 phyr_nr_blocks(u64 iova, u64 len, u64 pgsz)
{
	u64 head = iova & (pgsz - 1);

	/* split so that nothing overflows even for lengths near 2^64 */
	return len / pgsz + (head + len % pgsz + pgsz - 1) / pgsz;
}
EXPORT_SYMBOL_NS_GPL(phyr_nr_blocks, "PHYR");

/* Supported sizes above the smallest one that covers [va, last] in a block. */
static u64 phyr_pgsz_beyond_cover(u64 bitmap, u64 va, u64 last)
{
	unsigned int bits = fls64(va ^ last);

	return bits >= 64 ? 0 : bitmap & ~((1ULL << bits) - 1);
}

static u64 phyr_pgsz_direct(const struct phyr_slice *slice,
			    const struct phyr_pgsz_req *req, u64 last)
{
	u64 bitmap = req->pgsz_bitmap;
	u64 mask, va = req->iova;
	struct phyr_iter it;
	bool more;

	/*
	 * mask collects every address bit that must be zero in P's offset
	 * bits: where a DMA address and its virtual address differ, and the
	 * virtual address of every inner boundary between pieces.
	 */
	mask = phyr_pgsz_beyond_cover(bitmap, va, last);
	for (more = phyr_iter_start(&it, slice); more; ) {
		mask |= it.paddr ^ va;
		va += it.len;
		more = phyr_iter_next(&it);
		if (more)
			mask |= va;
	}
	if (mask)
		bitmap &= GENMASK_ULL(__ffs64(mask), 0);
	return bitmap ? 1ULL << (fls64(bitmap) - 1) : 0;
}

/**
 * phyr_slice_phase - how far a slice's physical layout follows an address
 * @slice: the memory, from phyr_slice_init()
 * @first: the address of the slice's first byte in the caller's space (a
 *	dma-buf offset, or a process's virtual address)
 *
 * Return: the largest power of two P, at most 2^62, such that every byte
 * of @slice lies at a physical address congruent to its address modulo
 * P, and no larger than any run of the slice (whole, as in the phyr).
 * At an iova congruent to that address modulo P the DMA
 * addresses can agree with both the iova (device pages) and the physical
 * addresses (IOMMU pages) up to P; this is the advice the verbs extension
 * gives.  P reveals how the buffer is aligned, no address.
 */
u64 phyr_slice_phase(const struct phyr_slice *slice, u64 first)
{
	struct phyr_iter it;
	u64 mask = 1ULL << 62;
	bool more;

	/*
	 * A run can hold pages no larger than itself: its length bounds what
	 * its alignment says, so the answer tells no address bit beyond the
	 * contiguity the caller's own memory has.
	 */
	for (more = phyr_iter_start(&it, slice); more;
	     more = phyr_iter_next(&it))
		mask |= (it.paddr ^ (first + it.offset)) |
			phyr_pow2_floor(it.phyr->runs[it.run].len);
	return mask & -mask;
}
EXPORT_SYMBOL_NS_GPL(phyr_slice_phase, "PHYR");

/**
 * phyr_iova_place - where the mapper puts a slice in IOVA space
 * @iova: the device (user) virtual address of the slice's first byte
 * @pgoff: offset of the first byte within its IOVA granule; a translating
 *	IOMMU keeps it, so it must equal @iova's offset in the granule
 * @len: the slice's length, at least 1
 * @pgsz: the device page size to honour, a power of two no smaller than
 *	the granule
 * @out: the placement
 *
 * The mapper reserves @out->reserve bytes of IOVA and links the slice's
 * first granule @out->lead bytes into the reservation, so that the DMA
 * address of the first byte is ≡ @iova (mod @pgsz) provided the
 * reservation starts @pgsz-aligned.  The IOVA allocator aligns a
 * reservation to the power of two at or above its size, so a reservation
 * of at least @pgsz bytes starts @pgsz-aligned; the mapper checks it and
 * falls back to placing inside a larger reservation if not.
 *
 * Return: 0; -EINVAL if @pgoff and @iova disagree within the granule or
 * @pgsz is below the granule; -EOVERFLOW if the sizes overflow.
 */
int phyr_iova_place(u64 iova, u64 pgoff, u64 len, u64 pgsz,
		    struct phyr_iova_place *out)
{
	const u64 g = PHYR_IOVA_GRANULE;
	u64 span;

	if (pgsz < g || (pgsz & (pgsz - 1)) || pgoff >= g ||
	    (iova & (g - 1)) != pgoff || !len)
		return -EINVAL;
	if (check_add_overflow(pgoff, len, &span) ||
	    check_add_overflow(span, g - 1, &span))
		return -EOVERFLOW;
	span &= ~(g - 1);
	out->lead = (iova & (pgsz - 1)) - pgoff;
	if (check_add_overflow(out->lead, span, &out->reserve))
		return -EOVERFLOW;
	out->reserve = max(out->reserve, pgsz);
	out->waste = out->reserve - span;
	return 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_iova_place, "PHYR");

/*
 * The mapper links the runs back to back, so every inner boundary must
 * fall on an IOVA granule: a run may begin mid-granule only if it is the
 * first, and end mid-granule only if it is the last.
 */
static int phyr_pgsz_check_granules(const struct phyr_slice *slice,
				    u64 *pgoff)
{
	const u64 gmask = PHYR_IOVA_GRANULE - 1;
	struct phyr_iter it;
	bool more = phyr_iter_start(&it, slice);
	u64 end;

	*pgoff = it.paddr & gmask;
	while (more) {
		end = it.paddr + it.len;
		more = phyr_iter_next(&it);
		if (more && ((end | it.paddr) & gmask))
			return -EINVAL;
	}
	return 0;
}

static u64 phyr_pgsz_translated(const struct phyr_slice *slice,
				const struct phyr_pgsz_req *req, u64 pgoff,
				u64 *waste)
{
	u64 bitmap = req->pgsz_bitmap, best = 0, best_blocks = 0;
	struct phyr_iova_place place;
	u64 pgsz, blocks;

	while (bitmap) {
		pgsz = 1ULL << __ffs64(bitmap);
		bitmap &= bitmap - 1;
		if (pgsz > (1ULL << 62))
			break;
		if (phyr_iova_place(req->iova, pgoff, slice->len, pgsz, &place))
			continue;
		if (place.waste > req->max_iova_waste)
			continue;
		blocks = phyr_nr_blocks(req->iova, slice->len, pgsz);
		/* ascending sizes: a tie keeps the smaller one */
		if (!best || blocks < best_blocks) {
			best = pgsz;
			best_blocks = blocks;
			*waste = place.waste;
		}
	}
	return best;
}

/**
 * phyr_best_pgsz - choose the device page size for a slice
 * @slice: the memory, from phyr_slice_init()
 * @req: the device's page sizes, the virtual address and the IOMMU mode
 * @out: the choice
 *
 * Return: 0 with @out filled; -EINVAL if no supported size can describe
 * the slice (or the bitmap is empty); -EOVERFLOW if the virtual range
 * wraps.
 */
int phyr_best_pgsz(const struct phyr_slice *slice,
		   const struct phyr_pgsz_req *req, struct phyr_pgsz *out)
{
	u64 last, pgsz, pgoff, waste = 0;
	int ret;

	if (!req->pgsz_bitmap || !slice->len)
		return -EINVAL;
	if (check_add_overflow(req->iova, slice->len - 1, &last))
		return -EOVERFLOW;

	if (req->translating) {
		ret = phyr_pgsz_check_granules(slice, &pgoff);
		if (ret)
			return ret;
		pgsz = phyr_pgsz_translated(slice, req, pgoff, &waste);
	} else {
		pgsz = phyr_pgsz_direct(slice, req, last);
	}
	if (!pgsz)
		return -EINVAL;

	out->pgsz = pgsz;
	out->nr_blocks = phyr_nr_blocks(req->iova, slice->len, pgsz);
	out->iova_waste = waste;
	return 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_best_pgsz, "PHYR");
