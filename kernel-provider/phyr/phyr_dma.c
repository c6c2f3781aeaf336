// SPDX-License-Identifier: GPL-2.0
/*
 * phyr: the streaming DMA mapper.
 *
 * The importer maps a slice for its own device and receives the DMA address
 * of every device block through a callback, in order, while the mapping is
 * made: nothing between the physical runs and the device page table holds
 * the addresses.
 *
 * With a translating IOMMU (dma_iova_try_alloc() succeeds) the slice gets
 * one IOVA range.  The range is reserved with room to place the slice so
 * that dma_addr ≡ hint->iova (mod hint->pgsz) (phyr_iova_place()), every
 * run is linked back to back with dma_iova_link(), the IOTLB is synced
 * once, and the blocks are walked over the single contiguous DMA extent.
 *
 * Without one, each run is mapped on its own with dma_map_phys(); the DMA
 * addresses are then whatever the platform gives (the physical ones under
 * dma-direct), the page size is bounded by their contiguity, and a block
 * the DMA layout cannot express fails the mapping.  This mode keeps one
 * (addr, len) pair per run to unmap later, and counts it as scratch.
 *
 * P2P MMIO (a peer's BAR, no struct page) is mapped by its PCI P2PDMA map
 * type (phyr_dma_p2p_type()): through the host bridge it is mapped as RAM
 * is, with %DMA_ATTR_MMIO; through a common switch the device uses the
 * bus addresses and nothing is mapped (the IOMMU never sees them); a pair
 * that cannot do P2P is refused.  Decrypted (CC-shared) memory mapped run
 * by run carries %DMA_ATTR_CC_SHARED in a confidential guest (dma-direct
 * bounces it there); elsewhere all memory is shared and the attribute
 * would only make the DMA API refuse, and an IOVA link ignores it.
 */
#include <linux/cc_platform.h>
#include <linux/error-injection.h>
#include <linux/dma-mapping.h>
#include <linux/pci-p2pdma.h>
#include <linux/export.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <phyr/phyr.h>
#include <phyr/phyr_dma.h>

static void phyr_dma_iova_teardown(struct phyr_dma_map *map)
{
	struct phyr_dma_stats *st = &map->stats;

	if (!map->use_iova)
		return;
	if (!map->linked) {
		dma_iova_free(map->dev, &map->state);
	} else if (!map->iova_first &&
		   map->linked == dma_iova_size(&map->state)) {
		/* the link covers the reservation: the one-call teardown */
		dma_iova_destroy(map->dev, &map->state, map->linked, map->dir,
				 map->attrs);
		st->syncs++;
	} else {
		/*
		 * dma_iova_destroy() would unmap from the reservation's start
		 * and free only what it unmapped: unlink exactly what was
		 * linked, then free the whole reservation.
		 */
		dma_iova_unlink(map->dev, &map->state, map->iova_first,
				map->linked, map->dir, map->attrs);
		dma_iova_free(map->dev, &map->state);
		st->syncs++;
	}
	map->linked = 0;
	map->use_iova = false;
}

static void phyr_dma_direct_teardown(struct phyr_dma_map *map)
{
	u32 i;

	for (i = 0; i < map->nr_dma_runs && !map->bus_addr; i++)
		dma_unmap_phys(map->dev, map->dma_runs[i].paddr,
			       map->dma_runs[i].len, map->dir,
			       map->attrs | (map->cc_shared ?
					     DMA_ATTR_CC_SHARED : 0));
	kvfree(map->dma_runs);
	map->dma_runs = NULL;
	map->nr_dma_runs = 0;
}

/**
 * phyr_dma_granule_run - the IOVA granules a piece of a slice occupies
 * @it: the piece
 * @slice: its slice
 * @phys: output: first byte to link, granule-aligned
 * @len: output: bytes to link, a whole number of granules
 *
 * Runs are linked back to back, so only the first may start and only the
 * last may end inside a granule; both are widened to whole granules, which
 * the IOMMU maps either way (and which keeps dma_iova_link() from bouncing
 * a partial granule through swiotlb for the MR's lifetime).
 *
 * Return: 0; -EINVAL for a run boundary inside a granule.
 */
int phyr_dma_granule_run(const struct phyr_iter *it,
			 const struct phyr_slice *slice, phys_addr_t *phys,
			 u64 *len)
{
	const u64 gmask = PHYR_IOVA_GRANULE - 1;
	bool first = !it->offset, last = it->offset + it->len == slice->len;
	u64 start = it->paddr, end = it->paddr + it->len;

	if ((!first && (start & gmask)) || (!last && (end & gmask)))
		return -EINVAL;
	start &= ~gmask;
	end = ALIGN(end, PHYR_IOVA_GRANULE);
	*phys = start;
	*len = end - start;
	return 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_dma_granule_run, "PHYR");

/* Reserve IOVA so that the slice can be placed as the hint asks. */
static int phyr_dma_iova_reserve(struct phyr_dma_map *map,
				 const struct phyr_slice *slice, u64 pgoff,
				 const struct phyr_dma_hint *hint)
{
	struct phyr_dma_stats *st = &map->stats;
	u64 iova = hint->place_pgsz ? hint->place_iova : hint->iova;
	u64 pgsz = max(max(hint->pgsz, hint->place_pgsz), PHYR_IOVA_GRANULE);
	struct phyr_iova_place pl;
	u64 span;
	int ret;

	/* the placement arithmetic assumes the IOMMU's granule is ours */
	if (dma_get_merge_boundary(map->dev) != PHYR_IOVA_GRANULE - 1)
		return hint->one_range ? -EOPNOTSUPP : 1;
	ret = phyr_iova_place(iova, pgoff, slice->len, pgsz, &pl);
	if (ret)
		return ret;
	if (pl.reserve > SIZE_MAX / 2)
		return -EOVERFLOW;
	/*
	 * No IOVA path: no translating IOMMU, or its IOVA space is full.  In
	 * the second case mapping run by run would only fail later, at a
	 * block the runs' own addresses cannot express: say what happened.
	 */
	if (!dma_iova_try_alloc(map->dev, &map->state, 0, pl.reserve))
		return hint->one_range ? -ENOSPC : 1;
	map->use_iova = true;
	if (!(map->state.addr & (pgsz - 1))) {
		map->iova_first = pl.lead;
		st->iova_reserved = pl.reserve;
		st->iova_wasted = pl.waste;
		return 0;
	}

	/*
	 * The allocator did not align the reservation to its size (it does
	 * today).  Reserve a full page size more and place the slice inside.
	 */
	dma_iova_free(map->dev, &map->state);
	span = pl.reserve - pl.waste;
	if (check_add_overflow(span, pgsz, &pl.reserve))
		return -EOVERFLOW;
	if (!dma_iova_try_alloc(map->dev, &map->state, 0, pl.reserve)) {
		map->use_iova = false;
		return hint->one_range ? -ENOSPC : 1;
	}
	map->iova_first = (iova - pgoff - map->state.addr) & (pgsz - 1);
	st->iova_reserved = pl.reserve;
	st->iova_wasted = pl.reserve - span;
	st->iova_realigned = 1;
	return 0;
}

static int phyr_dma_map_direct(struct phyr_dma_map *map,
			       const struct phyr_slice *slice)
{
	struct phyr_dma_stats *st = &map->stats;
	struct phyr_iter it;
	dma_addr_t addr;
	u32 nr;
	bool more;
	int ret;

	nr = phyr_slice_nr_runs(slice);
	map->dma_runs = kvmalloc_array(nr, sizeof(*map->dma_runs),
				       GFP_KERNEL_ACCOUNT);
	if (!map->dma_runs)
		return -ENOMEM;
	st->scratch_bytes = (u64)nr * sizeof(*map->dma_runs);

	for (more = phyr_iter_start(&it, slice); more;
	     more = phyr_iter_next(&it)) {
		if (map->bus_addr) {
			/* the switch routes it: no mapping, no IOMMU */
			addr = pci_p2pdma_bus_addr_map(it.meta->provider, it.paddr);
		} else {
			addr = dma_map_phys(map->dev, it.paddr, it.len, map->dir,
					    map->attrs | (map->cc_shared ?
						DMA_ATTR_CC_SHARED : 0));
			ret = dma_mapping_error(map->dev, addr);
			if (ret)
				goto err;
		}
		map->dma_runs[map->nr_dma_runs].paddr = addr;
		map->dma_runs[map->nr_dma_runs].len = it.len;
		map->nr_dma_runs++;
		st->runs_linked += !map->bus_addr;
	}
	map->dma_first = map->dma_runs[0].paddr;
	return 0;

err:
	phyr_dma_direct_teardown(map);
	return ret;
}

/* Map through one IOVA range, or per run when there is no IOVA path. */
static int phyr_dma_map_iova(struct phyr_dma_map *map,
			     const struct phyr_slice *slice, u64 pgoff,
			     const struct phyr_dma_hint *hint)
{
	struct phyr_dma_stats *st = &map->stats;
	u64 len, phase = 1ULL << 62;
	struct phyr_iter it;
	phys_addr_t phys;
	bool more;
	int ret;

	if (map->bus_addr)
		return phyr_dma_map_direct(map, slice);
	ret = phyr_dma_iova_reserve(map, slice, pgoff, hint);
	if (ret > 0)
		return phyr_dma_map_direct(map, slice);
	if (ret)
		return ret;

	for (more = phyr_iter_start(&it, slice); more;
	     more = phyr_iter_next(&it)) {
		ret = phyr_dma_granule_run(&it, slice, &phys, &len);
		if (ret)
			goto err;
		ret = dma_iova_link(map->dev, &map->state, phys,
				    map->iova_first + map->linked, len, map->dir,
				    map->attrs);
		if (ret)
			goto err;
		/* no larger than the run, as phyr_slice_phase() */
		phase |= ((map->state.addr + map->iova_first + map->linked) ^
			  phys) | phyr_pow2_floor(it.phyr->runs[it.run].len);
		map->linked += len;
		st->runs_linked++;
	}
	st->iova_phase = phase & -phase;
	ret = dma_iova_sync(map->dev, &map->state, map->iova_first, map->linked);
	if (ret)
		goto err;
	st->syncs++;

	map->dma_first = map->state.addr + map->iova_first + pgoff;
	map->one_run.paddr = map->dma_first;
	map->one_run.len = slice->len;
	return 0;

err:
	phyr_dma_iova_teardown(map);
	return ret;
}

/**
 * phyr_dma_map_runs - the DMA extents of a mapping
 * @map: a mapping phyr_dma_map() returned 0 for
 * @nr: output: how many
 *
 * Through an IOVA range the slice is one extent; mapped run by run, one
 * extent per physical run of the slice, in order.  Either way the first
 * extent starts at the slice's first byte and the lengths add up to the
 * slice's.
 *
 * Return: the extents, valid until phyr_dma_unmap().
 */
const struct phys_vec *phyr_dma_map_runs(const struct phyr_dma_map *map,
					 u32 *nr)
{
	if (map->use_iova) {
		*nr = 1;
		return &map->one_run;
	}
	*nr = map->nr_dma_runs;
	return map->dma_runs;
}
EXPORT_SYMBOL_NS_GPL(phyr_dma_map_runs, "PHYR");

/* Walk the DMA layout in device blocks and hand each to the importer. */
static int phyr_dma_emit(struct phyr_dma_map *map,
			 const struct phyr_dma_hint *hint,
			 phyr_dma_emit_fn emit, void *ctx)
{
	struct phyr_seg seg = { .meta = { .kind = PHYR_MEM_RAM } };
	struct phyr dma_layout = { .segs = &seg, .nr_segs = 1 };
	struct phyr_block_iter bi;
	struct phyr_slice s;
	bool more;
	int ret;

	/* read only: the block iterator takes a phyr, whose runs are not const */
	dma_layout.runs = (struct phys_vec *)phyr_dma_map_runs(map,
							       &dma_layout.nr_runs);
	dma_layout.len = map->len;
	s.phyr = &dma_layout;
	s.offset = 0;
	s.len = map->len;

	for (more = phyr_block_iter_start(&bi, &s, hint->pgsz, hint->iova);
	     more; more = phyr_block_iter_next(&bi)) {
		ret = emit(ctx, bi.index, bi.addr);
		if (ret)
			return ret;
		map->stats.blocks++;
	}
	return bi.error ? -EINVAL : 0;
}

/**
 * phyr_dma_map - map a slice for a device and stream its device blocks
 * @map: caller-owned mapping state, filled here; pass to phyr_dma_unmap()
 * @dev: the device that will do the DMA
 * @slice: the memory: CPU RAM, or the P2P MMIO of one provider
 * @hint: the device page size and the address the device will use for the
 *	slice's first byte: DMA addresses are placed so that
 *	dma_addr ≡ @hint->iova (mod @hint->pgsz) when an IOMMU translates
 * @dir: DMA direction
 * @attrs: DMA attributes, as for dma_map_phys()
 * @emit: called once per @hint->pgsz block, in order, with the block's
 *	index and the DMA address of its first byte (the first block may
 *	start before the slice); a non-zero return aborts the mapping.
 *	NULL maps without emitting: the caller reads the DMA extents with
 *	phyr_dma_map_runs() (an sg_table builder, a measurement)
 * @ctx: passed to @emit
 *
 * Context: process context, may sleep.
 * Return: 0 with everything mapped and every block emitted; otherwise
 * nothing stays mapped and: -EOPNOTSUPP for memory behind a private
 * interconnect, -EREMOTEIO for P2P MMIO @dev cannot reach, -EINVAL for a
 * layout the page size cannot describe (or that mixes encryption states,
 * RAM and MMIO, or two providers), -ENOSPC for no IOVA range to be had
 * with @hint->one_range, -ENOMEM, -EOVERFLOW, or what @emit or the DMA
 * API returned.
 */
int phyr_dma_map(struct phyr_dma_map *map, struct device *dev,
		 const struct phyr_slice *slice,
		 const struct phyr_dma_hint *hint, enum dma_data_direction dir,
		 unsigned long attrs, phyr_dma_emit_fn emit, void *ctx)
{
	struct phyr_iter it;
	u64 pgoff, t0, t1;
	int ret;

	memset(map, 0, sizeof(*map));
	map->dev = dev;
	map->dir = dir;
	map->attrs = attrs;
	map->len = slice->len;

	if (!hint->pgsz || (hint->pgsz & (hint->pgsz - 1)) ||
	    hint->pgsz > (1ULL << 62) || !slice->len)
		return -EINVAL;
	ret = phyr_dma_p2p_type(dev, slice);
	if (ret < 0)
		return ret;
	if (ret == PHYR_P2P_BUS_ADDR)
		map->bus_addr = true;
	else if (ret == PHYR_P2P_HOST_BRIDGE)
		map->attrs |= DMA_ATTR_MMIO;

	phyr_iter_start(&it, slice);
	map->cc_shared = it.meta->cc == PHYR_CC_DECRYPTED &&
			 cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT);
	pgoff = it.paddr & (PHYR_IOVA_GRANULE - 1);
	if ((hint->iova & (PHYR_IOVA_GRANULE - 1)) != pgoff)
		return -EINVAL;
	if (hint->place_pgsz &&
	    ((hint->place_pgsz & (hint->place_pgsz - 1)) ||
	     hint->place_pgsz < hint->pgsz || hint->place_pgsz > (1ULL << 62) ||
	     ((hint->place_iova ^ hint->iova) & (hint->pgsz - 1))))
		return -EINVAL;

	t0 = ktime_get_ns();
	ret = phyr_dma_map_iova(map, slice, pgoff, hint);
	if (ret)
		return ret;
	t1 = ktime_get_ns();
	map->stats.map_ns = t1 - t0;

	ret = emit ? phyr_dma_emit(map, hint, emit, ctx) : 0;
	map->stats.emit_ns = ktime_get_ns() - t1;
	if (ret) {
		phyr_dma_unmap(map);
		return ret;
	}
	return 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_dma_map, "PHYR");
ALLOW_ERROR_INJECTION(phyr_dma_map, ERRNO);

/**
 * phyr_dma_unmap - undo phyr_dma_map()
 * @map: a mapping phyr_dma_map() returned 0 for
 *
 * The device must no longer use any of the addresses.
 */
void phyr_dma_unmap(struct phyr_dma_map *map)
{
	if (map->use_iova)
		phyr_dma_iova_teardown(map);
	else
		phyr_dma_direct_teardown(map);
}
EXPORT_SYMBOL_NS_GPL(phyr_dma_unmap, "PHYR");
