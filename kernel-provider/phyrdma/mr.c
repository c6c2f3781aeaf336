// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma verbs layer: memory registration.
 *
 * One mapping path for all memory.  A dma-buf whose exporter speaks phyr
 * is imported once per device by the phyr importer (phyr/phyr_import.c):
 * mapped whole, streamed into one MTT, and every MR over a slice of it is
 * a key into that MTT.  Ordinary user memory is pinned into a phyr
 * (phyr/phyr_user.c), and a dma-buf MR with layout hints maps its own
 * slice: the page-size policy picks the device page size for the slice and
 * the user iova, and the streaming mapper maps it and writes each block's
 * DMA address straight into the MR's own MTT.
 *
 * The legacy path is what mainline drivers do and stays for every other
 * exporter: ib_core's umem (dma_buf_map_attachment(), or pinned pages
 * mapped as an sg_table), ib_umem_find_best_pgsz(), and a walk of the DMA
 * blocks.  The "legacy" module parameter sends every registration down it,
 * so both paths can be compared on the same buffer.
 */
#include <linux/cc_platform.h>
#include <linux/dma-buf.h>
#include <linux/iommu.h>
#include <linux/dma-resv.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_umem_odp.h>
#include <rdma/iter.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>

#include "phyrdma.h"

static bool legacy;
module_param(legacy, bool, 0644);
MODULE_PARM_DESC(legacy, "register every MR through the legacy sg_table path");

static unsigned long max_iova_waste = SZ_2M;
module_param(max_iova_waste, ulong, 0644);
MODULE_PARM_DESC(max_iova_waste,
		 "IOVA bytes an MR may reserve beyond its pages to reach a larger device page size (default 2 MiB; never more than the MR's own pages span)");

static bool share_imports = true;
module_param(share_imports, bool, 0644);
MODULE_PARM_DESC(share_imports,
		 "register dma-buf MRs as keys over one import per buffer and device (default on)");

static unsigned int import_keep_ms = 1000;
module_param(import_keep_ms, uint, 0644);
MODULE_PARM_DESC(import_keep_ms,
		 "keep a dma-buf's import this long after its last MR, while the buffer has other holders, for the next registration (default 1000; 0: never)");

static unsigned int import_cache_max = 16;
module_param(import_cache_max, uint, 0644);
MODULE_PARM_DESC(import_cache_max,
		 "imports kept after their last MR at most, per device (default 16)");

u64 phyrdma_mr_default_iova_waste(void)
{
	return READ_ONCE(max_iova_waste);
}

#define PHYRDMA_MR_ACCESS (IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_READ | \
			   IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_ATOMIC | \
			   IB_ACCESS_FLUSH_GLOBAL | IB_ACCESS_FLUSH_PERSISTENT | \
			   IB_ACCESS_MW_BIND)

static u32 phyrdma_hw_access(int access)
{
	return (access & IB_ACCESS_LOCAL_WRITE ? PHYRDMA_HW_ACCESS_LOCAL_WRITE : 0) |
	       (access & IB_ACCESS_REMOTE_READ ? PHYRDMA_HW_ACCESS_REMOTE_READ : 0) |
	       (access & IB_ACCESS_REMOTE_WRITE ? PHYRDMA_HW_ACCESS_REMOTE_WRITE : 0) |
	       (access & IB_ACCESS_REMOTE_ATOMIC ? PHYRDMA_HW_ACCESS_REMOTE_ATOMIC : 0) |
	       (access & IB_ACCESS_FLUSH_GLOBAL ? PHYRDMA_HW_ACCESS_FLUSH_GLOBAL : 0) |
	       (access & IB_ACCESS_FLUSH_PERSISTENT ? PHYRDMA_HW_ACCESS_FLUSH_PERSISTENT : 0) |
	       (access & IB_ACCESS_MW_BIND ? PHYRDMA_HW_ACCESS_MW_BIND : 0);
}

/* Checks shared by both registration verbs; ib_core has done its own. */
static int phyrdma_mr_check_args(u64 start, u64 length, u64 iova, int access)
{
	u64 end;

	/* optional bits may be ignored; anything else must be understood */
	if (access & ~(PHYRDMA_MR_ACCESS | IB_ACCESS_OPTIONAL))
		return -EOPNOTSUPP;
	if (!length || length > PHYRDMA_HW_MAX_MR_SIZE)
		return -EINVAL;
	if (check_add_overflow(start, length, &end) ||
	    check_add_overflow(iova, length, &end))
		return -EOVERFLOW;
	/* DMA keeps the offset within a page; so must the device address */
	if ((start ^ iova) & ~PAGE_MASK)
		return -EINVAL;
	return 0;
}

static struct phyrdma_mr *phyrdma_mr_new(struct ib_pd *ibpd, int source)
{
	struct phyrdma_mr *mr = kzalloc_obj(*mr, GFP_KERNEL_ACCOUNT);

	if (!mr)
		return NULL;
	mr->dev = to_pdev(ibpd->device);
	mr->source = source;
	/* a process's MR belongs to the context its PD came from */
	if (ibpd->uobject)
		mr->uctx = to_puctx(ibpd->uobject->context);
	return mr;
}

/* The MTT an MR's key reads: its own, or its import's shared one. */
static struct phyrdma_hw_mtt *phyrdma_mr_table(const struct phyrdma_mr *mr)
{
	return mr->import ? mr->import->priv : (struct phyrdma_hw_mtt *)&mr->mtt;
}

/*
 * What an MR makes the kernel hold beyond the pages it maps: its MTT
 * pages, the driver's and the device's state for it, the DMA scratch of
 * its path, and ib_core's per-page state of an on-demand MR (a pfn_list
 * entry per page).  phyrdma_memlock_charge() counts it.
 */
static u64 phyrdma_mr_kernel_bytes(const struct phyrdma_mr *mr)
{
	const struct phyrdma_hw_mtt *mtt = phyrdma_mr_table(mr);
	u64 bytes = (u64)mtt->layout.total_pages * PHYRDMA_MTT_PAGE_SIZE +
		    sizeof(*mr) + sizeof(struct phyrdma_hw_mr_entry) +
		    mr->report.scratch_bytes;

	if (mr->odp)
		bytes += (u64)ib_umem_odp_num_pages(mr->odp) * sizeof(u64);
	return bytes;
}

/* The IOVA cap in force when an import is made is the one it gets. */
static void phyrdma_importer_sync(struct phyrdma_dev *dev)
{
	WRITE_ONCE(dev->importer.max_iova_waste, READ_ONCE(max_iova_waste));
}

static int phyrdma_mr_emit(void *ctx, u64 index, dma_addr_t addr)
{
	struct phyrdma_mr *mr = ctx;

	if (index >= mr->mtt.nr_entries)
		return -EINVAL;
	phyrdma_hw_mtt_set(&mr->mtt, index, addr);
	return 0;
}

static u32 phyrdma_meta_kinds(const struct phyr_meta *meta, bool cc)
{
	u32 kinds = meta->kind == PHYR_MEM_P2P_MMIO ? PHYRDMA_MEM_P2P_MMIO :
		    PHYRDMA_MEM_RAM;

	if (cc)
		kinds |= meta->cc == PHYR_CC_DECRYPTED ? PHYRDMA_MEM_DECRYPTED :
			 PHYRDMA_MEM_ENCRYPTED;
	return kinds;
}

/* The memory kinds of a slice (enum phyrdma_mem_kind bits). */
u32 phyrdma_slice_kinds(const struct phyr_slice *slice)
{
	bool cc = cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT);
	struct phyr_iter it;
	u32 kinds = 0;
	bool more;

	/* one segment: one kind, whatever the slice (a key's registration) */
	if (slice->phyr->nr_segs == 1)
		return phyrdma_meta_kinds(&slice->phyr->segs[0].meta, cc);
	for (more = phyr_iter_start(&it, slice); more;
	     more = phyr_iter_next(&it))
		kinds |= phyrdma_meta_kinds(it.meta, cc);
	return kinds;
}

/* A hint on the memory's kinds: anything else is the wrong medium. */
static int phyrdma_mr_check_kinds(u32 kinds,
				  const struct phyrdma_reg_mr_hints *h)
{
	if (h->mem_allowed && (kinds & ~h->mem_allowed))
		return -EMEDIUMTYPE;
	if ((kinds & h->mem_required) != h->mem_required)
		return -EMEDIUMTYPE;
	return 0;
}

/* The device page sizes a registration may use. */
static u64 phyrdma_mr_pgsz_bitmap(struct phyrdma_dev *dev,
				  const struct phyrdma_reg_mr_hints *h)
{
	u64 bitmap = dev->hw.caps.page_size_cap;

	if (h->min_page_shift)
		bitmap &= GENMASK_ULL(63, h->min_page_shift);
	if (h->max_page_shift)
		bitmap &= GENMASK_ULL(h->max_page_shift, 0);
	return bitmap;
}

/* The largest IOMMU page size the device's domain has, 0 without one. */
static u64 phyrdma_iommu_pgsizes(struct phyrdma_dev *dev)
{
	if (dev->hw.iommu_mode != PHYRDMA_IOMMU_TRANSLATING || !dev->hw.domain)
		return 0;
	return dev->hw.domain->pgsize_bitmap;
}

/**
 * phyrdma_mr_advise - where to register a slice, and what that gets
 * @dev: the device
 * @slice: the memory
 * @first: the address of its first byte in the caller's space (the
 *	dma-buf offset, or the virtual address)
 * @bus_addr: the device reaches it by bus address (no IOMMU in between)
 * @bitmap: the device page sizes allowed
 * @waste_cap: the IOVA the MR may spend on alignment
 * @adv: output, as phyr_advise() gives it for the device's IOMMU
 *
 * Return: what phyr_advise() returns.
 */
int phyrdma_mr_advise(struct phyrdma_dev *dev, const struct phyr_slice *slice,
		      u64 first, bool bus_addr, u64 bitmap, u64 waste_cap,
		      struct phyr_advice *adv)
{
	return phyr_advise(slice, first, bus_addr ? 0 : phyrdma_iommu_pgsizes(dev),
			   bitmap, waste_cap, adv);
}

/*
 * With PHYRDMA_HINT_PREFER_IOMMU, where the device's page size would cost
 * the IOMMU its large pages (an iova out of phase with the memory), keep
 * the IOMMU's: device pages no larger than the iova's phase, and the IOVA
 * placed for the IOMMU's page.  Returns the bitmap to choose from.
 */
static u64 phyrdma_mr_prefer_iommu(struct phyrdma_dev *dev,
				   const struct phyr_slice *slice, u64 first,
				   u64 iova, u64 bitmap, u64 waste_cap,
				   struct phyr_dma_hint *hint)
{
	u64 cover = roundup_pow_of_two(offset_in_page(first) + slice->len);
	u64 q = phyr_pgsz_at_most(phyrdma_iommu_pgsizes(dev),
				     min(phyr_slice_phase(slice, first), cover));
	u64 x = (iova ^ first) | (1ULL << 62);
	u64 px = x & -x;
	struct phyr_iova_place pl;

	if (q <= px)
		return bitmap;		/* no conflict */
	/*
	 * The IOVA the placement costs is bounded as every MR's is: beyond
	 * the cap the preference cannot be met (no size left: ERANGE).
	 */
	if (phyr_iova_place(first & (q - 1), offset_in_page(first), slice->len,
			    q, &pl) || pl.waste > waste_cap)
		return 0;
	hint->place_pgsz = q;
	/* congruent to the memory modulo q, to the iova modulo px */
	hint->place_iova = (first & (q - 1) & ~(px - 1)) | (iova & (px - 1));
	return bitmap & GENMASK_ULL(ilog2(px), 0);
}

/*
 * The phyr path's policy: the memory's kinds against the hints, the iova
 * (the caller's *@iova, or the advised one with CHOOSE_IOVA) and the
 * device page size, into @pgsz and the mapper's @hint.  Returns the P2P
 * type of the memory (>= 0), or an errno.
 */
static int phyrdma_mr_policy(struct phyrdma_mr *mr,
			     const struct phyr_slice *slice, u64 first,
			     u64 *iova, const struct phyrdma_reg_mr_hints *h,
			     struct phyr_dma_hint *hint, struct phyr_pgsz *pgsz)
{
	struct phyrdma_dev *dev = mr->dev;
	/*
	 * An MR may spend at most as much IOVA on reaching a larger page as
	 * its own pages span: IOVA is shared by every user of the device, and
	 * this keeps what one can hold within twice what it registers.
	 */
	u64 span = PAGE_ALIGN(offset_in_page(*iova) + slice->len);
	u64 waste = h->flags & PHYRDMA_HINT_MAX_IOVA_WASTE ?
		    h->max_iova_waste : READ_ONCE(max_iova_waste);
	struct phyr_pgsz_req req = {
		.pgsz_bitmap = phyrdma_mr_pgsz_bitmap(dev, h),
		.translating = dev->hw.iommu_mode == PHYRDMA_IOMMU_TRANSLATING,
		.max_iova_waste = min(waste, span),
	};
	struct phyr_advice adv;
	int ret, p2p;

	/* peers below a common switch are reached by bus address, not IOVA */
	p2p = phyr_dma_p2p_type(dev->hw.dma_dev, slice);
	if (p2p < 0)
		return p2p;
	mr->report.p2p_type = p2p;
	mr->report.mem_kinds = phyrdma_slice_kinds(slice);
	ret = phyrdma_mr_check_kinds(mr->report.mem_kinds, h);
	if (ret)
		return ret;
	if (!req.pgsz_bitmap)
		return -ERANGE;
	if (p2p == PHYR_P2P_BUS_ADDR)
		req.translating = false;
	if (h->flags & PHYRDMA_HINT_CHOOSE_IOVA) {
		ret = phyrdma_mr_advise(dev, slice, first, !req.translating,
					req.pgsz_bitmap, req.max_iova_waste,
					&adv);
		if (ret)
			return ret == -EINVAL ? -ERANGE : ret;
		*iova = adv.iova_align + adv.iova_offset;
	}
	if (req.translating && (h->flags & PHYRDMA_HINT_PREFER_IOMMU))
		req.pgsz_bitmap = phyrdma_mr_prefer_iommu(dev, slice, first,
							  *iova, req.pgsz_bitmap,
							  req.max_iova_waste,
							  hint);
	if (!req.pgsz_bitmap)
		return -ERANGE;
	req.iova = *iova;
	hint->one_range = req.translating;
	ret = phyr_best_pgsz(slice, &req, pgsz);
	/* no size within the caller's bounds describes the memory */
	if (ret == -EINVAL && (h->min_page_shift || h->max_page_shift ||
			       hint->place_pgsz))
		ret = -ERANGE;
	if (ret)
		return ret;
	hint->pgsz = pgsz->pgsz;
	hint->iova = *iova;
	return p2p;
}

/* What the phyr path's mapping gave, in the MR's report and the stats. */
static void phyrdma_mr_report_map(struct phyrdma_mr *mr, int p2p)
{
	const struct phyr_dma_stats *st = &mr->map.stats;
	struct phyrdma_dev *dev = mr->dev;

	mr->report.iova_bytes = st->iova_reserved;
	mr->report.iova_waste = st->iova_wasted;
	mr->report.scratch_bytes += st->scratch_bytes;
	mr->report.runs = st->runs_linked;
	mr->report.syncs = st->syncs;
	mr->report.dma_first = mr->map.dma_first;
	mr->report.map_ns = st->map_ns;
	mr->report.emit_ns = st->emit_ns;
	if (mr->map.use_iova)
		mr->report.iommu_page_size =
			phyr_pgsz_at_most(phyrdma_iommu_pgsizes(dev),
					  st->iova_phase);
	phyrdma_stat(dev, PHYRDMA_STAT_RUNS_LINKED, st->runs_linked);
	phyrdma_stat(dev, PHYRDMA_STAT_SYNCS, st->syncs);
	phyrdma_stat(dev, PHYRDMA_STAT_BLOCKS, st->blocks);
	phyrdma_stat(dev, PHYRDMA_STAT_IOVA_REALIGNED, st->iova_realigned);
	phyrdma_stat(dev, PHYRDMA_STAT_REG_P2P, p2p != PHYR_P2P_NONE);
}

/* The phyr path: policy, MTT, then map and stream into it. */
static int phyrdma_mr_map_phyr(struct phyrdma_mr *mr,
			       const struct phyr_slice *slice, u64 first,
			       u64 *iovap, const struct phyrdma_reg_mr_hints *h)
{
	struct phyrdma_dev *dev = mr->dev;
	struct phyr_dma_hint hint = {};
	struct phyr_pgsz pgsz;
	u64 iova = *iovap;
	int ret, p2p;

	p2p = phyrdma_mr_policy(mr, slice, first, &iova, h, &hint, &pgsz);
	if (p2p < 0)
		return p2p;
	ret = phyrdma_hw_mtt_alloc(&dev->hw, pgsz.nr_blocks, &mr->mtt);
	if (ret)
		return ret;
	/*
	 * An MR is a uAPI promise of continuous coherence between the device
	 * and the CPUs of every process that maps the memory, with no sync
	 * anywhere: like ib_umem, map only where that holds (no bounce
	 * buffer, no cache maintenance).  It also tells DMA-API debugging
	 * that the same cachelines mapped by several MRs at once are meant.
	 */
	ret = phyr_dma_map(&mr->map, dev->hw.dma_dev, slice, &hint,
			   DMA_BIDIRECTIONAL, DMA_ATTR_REQUIRE_COHERENT,
			   phyrdma_mr_emit, mr);
	if (ret)
		goto err_mtt;
	if (mr->map.stats.blocks != pgsz.nr_blocks) {
		ret = -EINVAL;
		goto err_unmap;
	}
	*iovap = iova;
	mr->mapped = true;
	mr->path = PHYRDMA_PATH_PHYR;
	mr->page_shift = __ffs64(pgsz.pgsz);
	phyrdma_mr_report_map(mr, p2p);
	return 0;

err_unmap:
	phyr_dma_unmap(&mr->map);
err_mtt:
	phyrdma_hw_mtt_free(&dev->hw, &mr->mtt);
	return ret;
}

/*
 * The legacy path: ib_core's umem, as mainline drivers use it.  @sgt is the
 * table the addresses came in (the exporter's, for a dma-buf).
 */
static int phyrdma_mr_map_umem(struct phyrdma_mr *mr, struct ib_umem *umem,
			       struct sg_table *sgt, u64 *iovap,
			       const struct phyrdma_reg_mr_hints *h)
{
	u64 bitmap, mask, va, i = 0, n, iova = *iovap;
	struct phyrdma_dev *dev = mr->dev;
	struct ib_block_iter biter;
	struct scatterlist *sg;
	unsigned long pgsz;
	int ret, k;

	/*
	 * What a table says of its memory: a P2P table has DMA addresses
	 * only, no pages (7.2's P2P helper); pinned user pages are RAM.  An
	 * exporter's table with entries says nothing sure (device memory
	 * can come mapped with dma_map_resource()), nor does any table say
	 * the encryption state: a hint on memory kinds cannot be checked
	 * then, and is refused rather than guessed at.
	 */
	if (!sgt->orig_nents)
		mr->report.mem_kinds = PHYRDMA_MEM_P2P_MMIO;
	else if (mr->source == PHYRDMA_MR_SRC_USER)
		mr->report.mem_kinds = PHYRDMA_MEM_RAM;
	if (!mr->report.mem_kinds && (h->mem_allowed || h->mem_required))
		return -EOPNOTSUPP;
	mr->report.dma_first = sg_dma_address(umem->sgt_append.sgt.sgl) +
			       (umem->address & ~PAGE_MASK);
	if (!sgt->orig_nents)
		mr->report.p2p_type =
			phyrdma_hw_bus_routed(&dev->hw, mr->report.dma_first) ?
			PHYR_P2P_BUS_ADDR : PHYR_P2P_HOST_BRIDGE;
	ret = phyrdma_mr_check_kinds(mr->report.mem_kinds, h);
	if (ret)
		return ret;
	bitmap = phyrdma_mr_pgsz_bitmap(dev, h);
	if (!bitmap)
		return -ERANGE;
	if (h->flags & PHYRDMA_HINT_CHOOSE_IOVA) {
		/* the DMA addresses are fixed: follow their phase */
		mask = 1ULL << 62;
		va = umem->address & PAGE_MASK;
		for_each_sg(umem->sgt_append.sgt.sgl, sg,
			    umem->sgt_append.sgt.nents, k) {
			mask |= sg_dma_address(sg) ^ va;
			va += sg_dma_len(sg);
		}
		va = (umem->address & ~PAGE_MASK) + umem->length;
		mask = min(mask & -mask, roundup_pow_of_two(va));
		mask = max_t(u64, phyr_pgsz_at_most(bitmap, mask), PAGE_SIZE);
		iova = mask + (umem->address & (mask - 1));
	}

	pgsz = ib_umem_find_best_pgsz(umem, bitmap, iova);
	if (!pgsz)
		return h->min_page_shift || h->max_page_shift ? -ERANGE : -EINVAL;
	n = ib_umem_num_dma_blocks(umem, pgsz);
	ret = phyrdma_hw_mtt_alloc(&dev->hw, n, &mr->mtt);
	if (ret)
		return ret;
	rdma_umem_for_each_dma_block(umem, &biter, pgsz) {
		if (i >= n)
			break;
		phyrdma_hw_mtt_set(&mr->mtt, i++, rdma_block_iter_dma_address(&biter));
	}
	if (i != n) {
		phyrdma_hw_mtt_free(&dev->hw, &mr->mtt);
		return -EINVAL;
	}
	mr->path = PHYRDMA_PATH_LEGACY;
	mr->page_shift = __ffs(pgsz);
	/* the sg_table is the list of DMA addresses this path carries */
	mr->report.scratch_bytes = (u64)max(sgt->orig_nents, sgt->nents) *
				   sizeof(struct scatterlist);
	mr->report.runs = sgt->nents;
	if (!sgt->orig_nents)
		phyrdma_stat(dev, PHYRDMA_STAT_REG_P2P, 1);
	*iovap = iova;
	/* bus addresses of a peer below a common switch are not IOVA */
	if (dev->hw.iommu_mode == PHYRDMA_IOMMU_TRANSLATING &&
	    !phyrdma_hw_bus_routed(&dev->hw, mr->report.dma_first))
		for_each_sgtable_dma_sg(sgt, sg, k)
			mr->report.iova_bytes += sg_dma_len(sg);
	phyrdma_stat(dev, PHYRDMA_STAT_BLOCKS, n);
	return 0;
}

/* The device stops using the MR: its key leaves the MR table. */
static void phyrdma_mr_stop(struct phyrdma_mr *mr)
{
	if (mr->live)
		phyrdma_hw_mr_disable(&mr->dev->hw, mr->key);
	mr->live = false;
}

/* Release the MR's DMA mapping (the device no longer uses it). */
static void phyrdma_mr_unmap_dma(struct phyrdma_mr *mr)
{
	if (mr->mapped)
		phyr_dma_unmap(&mr->map);
	mr->mapped = false;
	if (mr->iova_counted)
		phyrdma_count(mr->dev, PHYRDMA_CNT_IOVA_BYTES,
			      -(long)mr->report.iova_bytes);
	mr->iova_counted = false;
}

static void phyrdma_mr_unmap(struct phyrdma_mr *mr)
{
	/* the ODP notifier writes the MTT: it stops first */
	phyrdma_odp_release(mr);
	phyrdma_mr_unmap_dma(mr);
	phyrdma_hw_mtt_free(&mr->dev->hw, &mr->mtt);
}

static int phyrdma_mr_enable(struct phyrdma_mr *mr, struct ib_pd *ibpd,
			     u64 iova, u64 length, int access)
{
	struct phyrdma_dev *dev = mr->dev;
	struct phyrdma_hw_mtt *mtt = phyrdma_mr_table(mr);
	struct phyrdma_hw_mr_params params = {
		.pdn = to_ppd(ibpd)->pdn,
		.iova = iova,
		.length = length,
		.access = phyrdma_hw_access(access),
		.page_shift = mr->page_shift,
		/* a table of its own starts in the block of @iova */
		.mtt_offset = mr->import ? mr->mtt_offset :
			      iova & ((1ULL << mr->page_shift) - 1),
		.on_demand = !!mr->odp,
	};
	int ret;

	ret = phyrdma_memlock_charge(mr->uctx, phyrdma_mr_kernel_bytes(mr),
				     &mr->locked_bytes);
	if (ret)
		return ret;
	ret = phyrdma_hw_mr_enable(&dev->hw, &params, mtt, mr, &mr->key);
	if (ret) {
		phyrdma_memlock_uncharge(mr->uctx, mr->locked_bytes);
		return ret;
	}
	mr->live = true;
	mr->ibmr.iova = iova;
	mr->ibmr.length = length;
	mr->ibmr.lkey = mr->key;
	mr->ibmr.rkey = mr->key;
	mr->ibmr.page_size = 1U << min(mr->page_shift, 31U);
	mr->report.page_size = 1ULL << mr->page_shift;
	mr->report.mtt_entries = mtt->nr_entries;
	mr->report.mtt_pages = mtt->layout.total_pages;
	mr->report.mtt_levels = mtt->layout.levels;
	phyrdma_count(dev, PHYRDMA_CNT_MRS, 1);
	phyrdma_count(dev, PHYRDMA_CNT_MTT_ENTRIES, mr->mtt.nr_entries);
	/* a shared import's IOVA is counted once, by the import */
	if (!mr->import) {
		phyrdma_count(dev, PHYRDMA_CNT_IOVA_BYTES, mr->report.iova_bytes);
		mr->iova_counted = true;
	}
	phyrdma_stat(dev, mr->path == PHYRDMA_PATH_PHYR ? PHYRDMA_STAT_REG_PHYR :
		     mr->path == PHYRDMA_PATH_ODP ? PHYRDMA_STAT_REG_ODP :
		     PHYRDMA_STAT_REG_LEGACY, 1);
	return 0;
}

/* ---- dma-buf ---------------------------------------------------------- */

/*
 * Every dma-buf MR can be revoked by its exporter, on both paths: a P2P
 * exporter (VFIO, phyr_mmio) takes its memory back when the device is
 * reset or its memory decoding turned off, and refuses importers that
 * could not let go.
 *
 * A revoke runs under the buffer's reservation lock.  The device stops
 * using the MR first: its key leaves the MR table and the engine's accesses
 * under way are waited for, so a work request names an invalid key from
 * then on and completes in error, and the oracle finds no MR.  Then the
 * DMA mapping and its IOVA go, and the exporter's mapping (the phyr, or
 * the sg_table on the legacy path) is given back.  The MR stays revoked
 * until it is deregistered; its MTT is freed then.  Registration holds the
 * reservation lock from mapping to enabling the key, so a revoke sees
 * either no MR or a whole one.
 */
static void phyrdma_mr_revoked(struct phyrdma_mr *mr)
{
	/* the exporter's revokes are counted, not dereg's own */
	if (!mr->revoked && !READ_ONCE(mr->dying))
		phyrdma_stat(mr->dev, PHYRDMA_STAT_REVOKES, 1);
	/* the key stays taken, invalid, until dereg frees it */
	if (mr->live && !mr->revoked)
		phyrdma_hw_mr_revoke(&mr->dev->hw, mr->key);
	mr->revoked = true;
}

/*
 * The phyr path's invalidate_mappings (and dereg's own revoke).  It may
 * come before registration is done with the attachment: the MR is then
 * marked revoked, and registration refuses to go on.
 */
static void phyrdma_mr_revoke_locked(struct phyrdma_mr *mr)
{
	dma_resv_assert_held(mr->dmabuf->resv);
	phyrdma_mr_revoked(mr);
	phyrdma_mr_unmap_dma(mr);
	if (mr->dphyr)
		phyr_dmabuf_unmap(mr->attach, mr->dphyr);
	mr->dphyr = NULL;
	if (mr->pinned)
		dma_buf_unpin(mr->attach);
	mr->pinned = false;
}

static void phyrdma_mr_invalidate(struct dma_buf_attachment *attach)
{
	phyrdma_mr_revoke_locked(attach->importer_priv);
}

/* The legacy path's revoke: ib_core unmaps and unpins after it. */
static void phyrdma_mr_revoke_umem(void *priv)
{
	struct phyrdma_mr *mr = priv;

	phyrdma_mr_revoked(mr);
	/* ib_core unmaps the table next: its IOVA is no longer held */
	phyrdma_mr_unmap_dma(mr);
}

static const struct dma_buf_attach_ops phyrdma_dmabuf_attach_ops = {
	.allow_peer2peer = true,
	.invalidate_mappings = phyrdma_mr_invalidate,
};

static void phyrdma_mr_release_dmabuf(struct phyrdma_mr *mr)
{
	struct dma_buf *dmabuf = mr->dmabuf;

	dma_resv_lock(dmabuf->resv, NULL);
	phyrdma_mr_revoke_locked(mr);
	dma_resv_unlock(dmabuf->resv);
	dma_buf_detach(dmabuf, mr->attach);
	dma_buf_put(dmabuf);
	phyrdma_count(mr->dev, PHYRDMA_CNT_ATTACHMENTS, -1);
}

/*
 * Attach, pin and get the phyr.  Returns 0 with the reservation lock held,
 * for the caller to map and enable the MR under it; on error it is not.
 */
static int phyrdma_mr_get_dmabuf_phyr(struct phyrdma_mr *mr,
				      struct dma_buf *dmabuf, u64 offset,
				      u64 length, struct phyr_slice *slice)
{
	struct dma_buf_attachment *attach;
	const struct phyr *phyr;
	int ret;

	/* the exporter may invalidate as soon as the attachment is listed */
	mr->dmabuf = dmabuf;
	attach = dma_buf_dynamic_attach(dmabuf, mr->dev->hw.dma_dev,
					&phyrdma_dmabuf_attach_ops, mr);
	if (IS_ERR(attach)) {
		mr->dmabuf = NULL;
		dma_buf_put(dmabuf);
		return PTR_ERR(attach);
	}
	mr->attach = attach;
	phyrdma_count(mr->dev, PHYRDMA_CNT_ATTACHMENTS, 1);

	dma_resv_lock(dmabuf->resv, NULL);
	/* revoked between the attach and the lock */
	ret = mr->revoked ? -ENODEV : dma_buf_pin(attach);
	if (!ret) {
		mr->pinned = true;
		phyr = phyr_dmabuf_map(attach);
		if (IS_ERR(phyr))
			ret = PTR_ERR(phyr);
		else
			mr->dphyr = phyr;
	}
	/* a dynamic importer waits for moves the pin may have started */
	if (!ret && dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_KERNEL,
					  false, MAX_SCHEDULE_TIMEOUT) <= 0)
		ret = -ETIMEDOUT;
	/* a range beyond the buffer is the caller's error, as on mainline */
	if (!ret && phyr_slice_init(slice, mr->dphyr, offset, length))
		ret = -EINVAL;
	if (ret)
		dma_resv_unlock(dmabuf->resv);
	return ret;
}

static void phyrdma_mr_unpin(struct phyrdma_mr *mr);

/* Give back the memory an MR was built on, whichever path built it. */
static void phyrdma_mr_release(struct phyrdma_mr *mr)
{
	if (mr->import) {
		/* the key is dead and off the import's list */
		phyr_import_put(mr->import);
		mr->import = NULL;
	} else if (mr->umem) {
		if (mr->source == PHYRDMA_MR_SRC_DMABUF)
			phyrdma_count(mr->dev, PHYRDMA_CNT_ATTACHMENTS, -1);
		ib_umem_release(mr->umem);
	} else if (mr->dmabuf) {
		phyrdma_mr_release_dmabuf(mr);
	} else if (mr->user.mm) {
		phyrdma_mr_unpin(mr);
	}
}

/* ---- shared imports ------------------------------------------------------ */

/*
 * A dma-buf is imported once per device (kernel-provider/phyr/phyr_import.c):
 * the first MR over it attaches, pins, maps the whole buffer and streams it
 * into one MTT; every MR over a slice of it is then a key into that MTT at
 * the slice's place (struct phyrdma_hw_mr_params.mtt_offset).  The key gets
 * the import's page size whatever its iova, and the import's IOVA keeps
 * the IOMMU's large pages.  A registration with a layout hint (a page-size
 * bound, an IOVA waste cap, an advised iova or a preference for the IOMMU)
 * asks for a mapping of its own and takes the private path below; so does
 * every registration with share_imports off.
 */

/* The import's MTT, and whether its IOVA is in the device's gauge. */
struct phyrdma_import_table {
	struct phyrdma_hw_mtt mtt;
	bool iova_counted;
};

static struct phyrdma_dev *phyrdma_import_dev(const struct phyr_import *imp)
{
	return container_of(imp->importer, struct phyrdma_dev, importer);
}

static int phyrdma_import_table_alloc(struct phyr_import *imp)
{
	struct phyrdma_dev *dev = phyrdma_import_dev(imp);
	struct phyrdma_import_table *t;
	int ret;

	t = kzalloc_obj(*t, GFP_KERNEL_ACCOUNT);
	if (!t)
		return -ENOMEM;
	ret = phyrdma_hw_mtt_alloc(&dev->hw, imp->nr_blocks, &t->mtt);
	if (ret) {
		kfree(t);
		return ret;
	}
	imp->priv = t;
	phyrdma_count(dev, PHYRDMA_CNT_IMPORTS, 1);
	phyrdma_count(dev, PHYRDMA_CNT_ATTACHMENTS, 1);
	phyrdma_count(dev, PHYRDMA_CNT_MTT_ENTRIES, t->mtt.nr_entries);
	return 0;
}

static int phyrdma_import_table_set(void *ctx, u64 index, dma_addr_t addr)
{
	struct phyr_import *imp = ctx;
	struct phyrdma_import_table *t = imp->priv;

	if (index >= t->mtt.nr_entries)
		return -EINVAL;
	phyrdma_hw_mtt_set(&t->mtt, index, addr);
	return 0;
}

/* The import's mapping goes: its IOVA leaves the gauge. */
static void phyrdma_import_uncount_iova(struct phyr_import *imp)
{
	struct phyrdma_import_table *t = imp->priv;

	if (t && t->iova_counted)
		phyrdma_count(phyrdma_import_dev(imp), PHYRDMA_CNT_IOVA_BYTES,
			      -(long)imp->map.stats.iova_reserved);
	if (t)
		t->iova_counted = false;
}

static void phyrdma_import_table_free(struct phyr_import *imp)
{
	struct phyrdma_dev *dev = phyrdma_import_dev(imp);
	struct phyrdma_import_table *t = imp->priv;

	phyrdma_import_uncount_iova(imp);
	phyrdma_count(dev, PHYRDMA_CNT_MTT_ENTRIES, -(long)t->mtt.nr_entries);
	phyrdma_count(dev, PHYRDMA_CNT_ATTACHMENTS, -1);
	phyrdma_count(dev, PHYRDMA_CNT_IMPORTS, -1);
	phyrdma_hw_mtt_free(&dev->hw, &t->mtt);
	kfree(t);
	imp->priv = NULL;
}

/*
 * The exporter takes a shared import back: every key over it dies, with
 * one wait for the engine's accesses under way for all of them.
 */
static void phyrdma_import_revoke(struct phyr_import *imp)
{
	struct phyrdma_dev *dev = phyrdma_import_dev(imp);
	struct phyr_import_key *k;
	struct phyrdma_mr *mr;

	phyr_import_for_each_key(imp, k) {
		mr = container_of(k, struct phyrdma_mr, import_key);
		if (!mr->revoked && !READ_ONCE(mr->dying))
			phyrdma_stat(dev, PHYRDMA_STAT_REVOKES, 1);
		if (mr->live && !mr->revoked)
			phyrdma_hw_mr_revoke_start(&dev->hw, mr->key);
		WRITE_ONCE(mr->revoked, true);
	}
	phyrdma_hw_mr_revoke_wait();
	phyrdma_import_uncount_iova(imp);
}

static const struct phyr_importer_ops phyrdma_importer_ops = {
	.table_alloc = phyrdma_import_table_alloc,
	.table_set = phyrdma_import_table_set,
	.table_free = phyrdma_import_table_free,
	.revoke = phyrdma_import_revoke,
};

/* The device's importer, at probe (after phyrdma_hw_init()). */
int phyrdma_importer_init(struct phyrdma_dev *dev)
{
	struct phyr_importer *imr = &dev->importer;

	imr->dma_dev = dev->hw.dma_dev;
	imr->pgsz_bitmap = dev->hw.caps.page_size_cap;
	imr->iommu_pgsizes = phyrdma_iommu_pgsizes(dev);
	imr->max_iova_waste = READ_ONCE(max_iova_waste);
	/* continuous coherence, as every MR promises (phyrdma_mr_map_phyr()) */
	imr->dma_attrs = DMA_ATTR_REQUIRE_COHERENT;
	imr->keep_ms = &import_keep_ms;
	imr->max_kept = &import_cache_max;
	imr->ops = &phyrdma_importer_ops;
	return phyr_importer_init(imr, pci_name(dev->pdev));
}

/*
 * Hints that ask for a layout of the MR's own, which a shared table is
 * not.  An iova left to the driver is not one: over an import every iova
 * gets the same layout.
 */
static bool phyrdma_mr_can_share(const struct phyrdma_reg_mr_hints *h)
{
	return READ_ONCE(share_imports) &&
	       !(h->flags & (PHYRDMA_HINT_MAX_IOVA_WASTE |
			     PHYRDMA_HINT_PREFER_IOMMU)) &&
	       !h->min_page_shift && !h->max_page_shift;
}

/*
 * Why an import of the whole buffer may fail where a slice of it would
 * not: part of the buffer is memory no device maps (private interconnect,
 * -EOPNOTSUPP; mixed encryption, -EINVAL), or the whole is too big for the
 * IOVA space (-ENOSPC), the MTT (-E2BIG), the page sizes (-ERANGE) or the
 * memory at hand (-ENOMEM).  The slice then registers on the private path.
 * A revoke (-ENODEV), a signal or the exporter's own refusal is final.
 */
static bool phyrdma_mr_import_fallback(int err)
{
	return err == -EOPNOTSUPP || err == -EINVAL || err == -ENOSPC ||
	       err == -E2BIG || err == -ERANGE || err == -ENOMEM;
}

/*
 * A key over the buffer's import.  The import takes a reference of its
 * own on @dmabuf; the caller keeps its.  *@fallback is set when no import
 * could be made of the whole buffer but the slice may be mapped alone.
 */
static int phyrdma_mr_reg_dmabuf_shared(struct phyrdma_mr *mr,
					struct ib_pd *ibpd,
					struct dma_buf *dmabuf, u64 offset,
					u64 length, u64 *iovap, int access,
					const struct phyrdma_reg_mr_hints *h,
					bool *fallback)
{
	/* any iova will do; the one the advice names (PHYRDMA_ADVICE_SHARED) */
	u64 iova = h->flags & PHYRDMA_HINT_CHOOSE_IOVA ?
		   PAGE_SIZE + (offset & ~PAGE_MASK) : *iovap;
	struct phyrdma_dev *dev = mr->dev;
	struct phyrdma_import_table *t;
	struct phyr_import *imp;
	struct phyr_slice slice;
	int ret;

	phyrdma_importer_sync(dev);
	imp = phyr_import_get_locked(&dev->importer, dmabuf);
	if (IS_ERR(imp)) {
		*fallback = phyrdma_mr_import_fallback(PTR_ERR(imp));
		return PTR_ERR(imp);
	}
	mr->import = imp;
	t = imp->priv;
	if (!t->iova_counted) {
		phyrdma_count(dev, PHYRDMA_CNT_IOVA_BYTES,
			      imp->map.stats.iova_reserved);
		t->iova_counted = true;
	}
	ret = phyr_import_slice(imp, offset, length, &slice);
	if (ret)
		goto out;
	mr->report.p2p_type = imp->p2p_type;
	mr->report.mem_kinds = phyrdma_slice_kinds(&slice);
	ret = phyrdma_mr_check_kinds(mr->report.mem_kinds, h);
	if (ret)
		goto out;
	mr->path = PHYRDMA_PATH_PHYR;
	mr->page_shift = __ffs64(imp->pgsz);
	mr->mtt_offset = imp->table_offset + offset;
	/* what the import cost, which this key shares */
	mr->report.iova_bytes = imp->map.stats.iova_reserved;
	mr->report.iova_waste = imp->map.stats.iova_wasted;
	mr->report.runs = imp->map.stats.runs_linked;
	mr->report.dma_first = imp->map.use_iova ?
			       imp->map.dma_first + offset : 0;
	if (imp->map.use_iova)
		mr->report.iommu_page_size =
			phyr_pgsz_at_most(phyrdma_iommu_pgsizes(dev),
					  imp->map.stats.iova_phase);
	ret = phyrdma_mr_enable(mr, ibpd, iova, length, access);
	if (ret)
		goto out;
	*iovap = iova;
	phyr_import_add_key(imp, &mr->import_key);
	mr->keyed = true;
	phyrdma_stat(dev, PHYRDMA_STAT_REG_SHARED, 1);
	phyrdma_stat(dev, PHYRDMA_STAT_REG_P2P, imp->p2p_type != PHYR_P2P_NONE);
out:
	phyr_import_unlock(imp);
	return ret;
}

/* Dereg of a shared key: it dies and leaves the import, which may go. */
static void phyrdma_mr_release_import(struct phyrdma_mr *mr)
{
	struct phyr_import *imp = mr->import;

	dma_resv_lock(imp->dmabuf->resv, NULL);
	if (mr->live && !mr->revoked)
		phyrdma_hw_mr_revoke(&mr->dev->hw, mr->key);
	WRITE_ONCE(mr->revoked, true);
	if (mr->keyed)
		phyr_import_del_key(imp, &mr->import_key);
	mr->keyed = false;
	dma_resv_unlock(imp->dmabuf->resv);
}

/* The phyr path, for exporters that speak phyr. */
static int phyrdma_mr_reg_dmabuf_phyr(struct phyrdma_mr *mr,
				      struct ib_pd *ibpd, struct dma_buf *dmabuf,
				      u64 offset, u64 length, u64 *iova,
				      int access,
				      const struct phyrdma_reg_mr_hints *h)
{
	struct phyr_slice slice;
	int ret;

	ret = phyrdma_mr_get_dmabuf_phyr(mr, dmabuf, offset, length, &slice);
	if (ret)
		return ret;
	ret = phyrdma_mr_map_phyr(mr, &slice, offset, iova, h);
	if (!ret) {
		ret = phyrdma_mr_enable(mr, ibpd, *iova, length, access);
		if (ret)
			phyrdma_mr_unmap(mr);
	}
	/* a failed registration is no MR an exporter's revoke could count */
	if (ret)
		WRITE_ONCE(mr->dying, true);
	dma_resv_unlock(dmabuf->resv);
	return ret;
}

/* The legacy path: ib_core's revocable pinned umem. */
static int phyrdma_mr_reg_dmabuf_umem(struct phyrdma_mr *mr,
				      struct ib_pd *ibpd, u64 offset,
				      u64 length, u64 *iova, int fd, int access,
				      const struct phyrdma_reg_mr_hints *h)
{
	struct phyrdma_dev *dev = mr->dev;
	struct ib_umem_dmabuf *umem;
	int ret;

	/* returns with the reservation lock held */
	umem = ib_umem_dmabuf_get_pinned_revocable_and_lock(&dev->ibdev, offset,
							    length, fd, access);
	if (IS_ERR(umem))
		return PTR_ERR(umem);
	mr->umem = &umem->umem;
	phyrdma_count(dev, PHYRDMA_CNT_ATTACHMENTS, 1);
	ret = phyrdma_mr_map_umem(mr, mr->umem, umem->sgt, iova, h);
	if (!ret) {
		ret = phyrdma_mr_enable(mr, ibpd, *iova, length, access);
		if (ret)
			phyrdma_mr_unmap(mr);
	}
	if (!ret)
		ib_umem_dmabuf_set_revoke_locked(umem,
						 phyrdma_mr_revoke_umem, mr);
	ib_umem_dmabuf_revoke_unlock(umem);
	return ret;
}

struct ib_mr *phyrdma_reg_user_mr_dmabuf(struct ib_pd *ibpd, u64 offset,
					 u64 length, u64 iova, int fd,
					 int access, struct ib_dmah *dmah,
					 struct uverbs_attr_bundle *attrs)
{
	struct phyrdma_reg_mr_hints h;
	bool phyr, use_phyr, fallback = false;
	struct phyrdma_mr *mr;
	struct dma_buf *dmabuf;
	int ret;

	if (dmah)
		return ERR_PTR(-EOPNOTSUPP);
	ret = ib_no_udata_io(&attrs->driver_udata);
	if (ret)
		return ERR_PTR(ret);
	ret = phyrdma_hints_get(attrs, &h);
	if (ret)
		return ERR_PTR(ret);
	/* a dma-buf's pages are the exporter's: no ODP over them */
	if (access & IB_ACCESS_ON_DEMAND)
		return ERR_PTR(-EOPNOTSUPP);
	ret = phyrdma_mr_check_args(offset, length, iova, access);
	if (ret)
		return ERR_PTR(ret);

	mr = phyrdma_mr_new(ibpd, PHYRDMA_MR_SRC_DMABUF);
	if (!mr)
		return ERR_PTR(-ENOMEM);

	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto err_free;
	}
	if (offset + length > dmabuf->size) {
		dma_buf_put(dmabuf);
		ret = -EINVAL;
		goto err_free;
	}

	phyr = phyr_dmabuf_supported(dmabuf);
	if (!phyr && (h.flags & PHYRDMA_HINT_REQUIRE_PHYR)) {
		/* the caller asked for the phyr path or nothing */
		dma_buf_put(dmabuf);
		ret = -ENOPROTOOPT;
		goto err_free;
	}
	use_phyr = phyr && !(h.flags & PHYRDMA_HINT_FORCE_LEGACY) &&
		   ((h.flags & PHYRDMA_HINT_REQUIRE_PHYR) || !READ_ONCE(legacy));
	if (use_phyr && phyrdma_mr_can_share(&h)) {
		ret = phyrdma_mr_reg_dmabuf_shared(mr, ibpd, dmabuf, offset,
						   length, &iova, access, &h,
						   &fallback);
		if (!fallback) {
			dma_buf_put(dmabuf);
			goto done;
		}
		phyrdma_stat(mr->dev, PHYRDMA_STAT_IMPORT_FALLBACKS, 1);
	}
	if (use_phyr) {
		ret = phyrdma_mr_reg_dmabuf_phyr(mr, ibpd, dmabuf, offset,
						 length, &iova, access, &h);
	} else {
		dma_buf_put(dmabuf);
		ret = phyrdma_mr_reg_dmabuf_umem(mr, ibpd, offset, length,
						 &iova, fd, access, &h);
	}
done:
	if (ret)
		goto err_release;
	ret = phyrdma_hints_put_iova(attrs, &h, iova);
	if (ret)
		goto err_dereg;
	return &mr->ibmr;

err_dereg:
	/* the caller cannot be told its iova: the MR must not stay */
	phyrdma_dereg_mr(&mr->ibmr, NULL);
	return ERR_PTR(ret);

err_release:
	WRITE_ONCE(mr->dying, true);
	phyrdma_mr_release(mr);
err_free:
	kfree(mr);
	return ERR_PTR(ret);
}

/**
 * phyrdma_mr_advise_dmabuf - advice on registering a range of a dma-buf
 * @dev: the device
 * @fd: the dma-buf
 * @offset: first byte of the range
 * @length: its length
 * @out: the advice (mem_kinds, p2p_type, flags and the layout fields)
 *
 * Looks at the buffer as a registration would (attached, pinned, its phyr
 * in hand under the reservation lock) and lets it go.  Buffers of other
 * exporters get no layout: only mapping them would tell.
 *
 * Return: 0; -EBADF or -EINVAL for no such dma-buf or a range beyond it;
 * -ENODEV if its exporter revoked it; what phyr_dma_p2p_type() returns.
 */
int phyrdma_mr_advise_dmabuf(struct phyrdma_dev *dev, int fd, u64 offset,
			     u64 length, struct phyrdma_dmabuf_advice *out)
{
	struct phyr_slice slice, whole;
	struct phyr_advice adv;
	struct dma_buf *dmabuf;
	struct phyrdma_mr *mr;
	u64 end;
	int ret, p2p;

	if (!length || length > PHYRDMA_HW_MAX_MR_SIZE ||
	    check_add_overflow(offset, length, &end))
		return -EINVAL;
	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	if (end > dmabuf->size) {
		dma_buf_put(dmabuf);
		return -EINVAL;
	}
	if (!phyr_dmabuf_supported(dmabuf)) {
		dma_buf_put(dmabuf);
		return 0;
	}
	out->flags |= PHYRDMA_ADVICE_PHYR;

	/* an MR that is never enabled: attach, pin, look, give back */
	mr = kzalloc_obj(*mr, GFP_KERNEL_ACCOUNT);
	if (!mr) {
		dma_buf_put(dmabuf);
		return -ENOMEM;
	}
	mr->dev = dev;
	mr->source = PHYRDMA_MR_SRC_DMABUF;
	/* never an MR: an exporter's revoke of it is not counted */
	WRITE_ONCE(mr->dying, true);
	ret = phyrdma_mr_get_dmabuf_phyr(mr, dmabuf, offset, length, &slice);
	if (ret)
		goto out;
	p2p = phyr_dma_p2p_type(dev->hw.dma_dev, &slice);
	if (p2p < 0) {
		ret = p2p;
		goto unlock;
	}
	out->p2p_type = p2p;
	out->mem_kinds = phyrdma_slice_kinds(&slice);
	out->runs = phyr_slice_nr_runs(&slice);
	/* without layout hints the registration is a key over the import */
	if (READ_ONCE(share_imports) &&
	    !phyr_slice_init(&whole, mr->dphyr, 0, mr->dphyr->len)) {
		phyrdma_importer_sync(dev);
		if (!phyr_import_layout(&dev->importer, &whole, p2p, &adv)) {
			out->flags |= PHYRDMA_ADVICE_LAYOUT | PHYRDMA_ADVICE_SHARED;
			out->iova_align = PAGE_SIZE;
			out->iova_offset = offset & ~PAGE_MASK;
			out->page_size = adv.page_size;
			out->mtt_entries = adv.blocks;
			out->iova_bytes = adv.iova_bytes;
			out->iommu_page_size = adv.iommu_page_size;
			goto unlock;
		}
	}
	ret = phyrdma_mr_advise(dev, &slice, offset, p2p == PHYR_P2P_BUS_ADDR,
				dev->hw.caps.page_size_cap,
				READ_ONCE(max_iova_waste), &adv);
	if (ret)
		goto unlock;
	out->flags |= PHYRDMA_ADVICE_LAYOUT;
	out->iova_align = adv.iova_align;
	out->iova_offset = adv.iova_offset;
	out->page_size = adv.page_size;
	out->mtt_entries = adv.blocks;
	out->iova_bytes = adv.iova_bytes;
	out->iommu_page_size = adv.iommu_page_size;
unlock:
	dma_resv_unlock(dmabuf->resv);
out:
	phyrdma_mr_release(mr);
	kfree(mr);
	return ret;
}

/**
 * phyrdma_mr_layout - an MR's layout, as its owner may see it
 * @ibmr: the MR
 * @out: filled; no DMA or physical address
 */
void phyrdma_mr_layout(struct ib_mr *ibmr, struct phyrdma_mr_layout *out)
{
	struct phyrdma_mr *mr = to_pmr(ibmr);

	out->path = mr->path;
	out->flags = (mr->source == PHYRDMA_MR_SRC_DMABUF ?
		      PHYRDMA_MR_DMABUF | PHYRDMA_MR_REVOCABLE : 0) |
		     (READ_ONCE(mr->revoked) ? PHYRDMA_MR_REVOKED : 0) |
		     (mr->odp ? PHYRDMA_MR_ON_DEMAND : 0) |
		     (mr->import ? PHYRDMA_MR_SHARED : 0);
	out->mem_kinds = mr->odp ? PHYRDMA_MEM_RAM : mr->report.mem_kinds;
	out->p2p_type = mr->report.p2p_type;
	out->mtt_levels = mr->report.mtt_levels;
	out->iova = mr->ibmr.iova;
	out->length = mr->ibmr.length;
	out->page_size = mr->report.page_size;
	out->mtt_entries = mr->report.mtt_entries;
	out->mtt_pages = mr->report.mtt_pages;
	out->iova_bytes = mr->report.iova_bytes;
	out->iova_waste = mr->report.iova_waste;
	out->iommu_page_size = mr->report.iommu_page_size;
	out->runs = mr->report.runs;
	out->iotlb_syncs = mr->report.syncs;
	out->scratch_bytes = mr->report.scratch_bytes;
	out->kernel_bytes = mr->locked_bytes;
}

/* ---- ordinary user memory ---------------------------------------------- */

static void phyrdma_mr_unpin(struct phyrdma_mr *mr)
{
	phyrdma_count(mr->dev, PHYRDMA_CNT_PINNED_PAGES,
		      -(long)mr->user.npages);
	phyr_user_unpin(&mr->user);
}

/* Pin [start, start + length) and describe its pages as a phyr. */
static int phyrdma_mr_pin(struct phyrdma_mr *mr, u64 start, u64 length)
{
	int ret = phyr_user_pin(&mr->user, start, length, mr->writable);

	mr->report.scratch_bytes = mr->user.scratch_bytes;
	if (!ret)
		phyrdma_count(mr->dev, PHYRDMA_CNT_PINNED_PAGES,
			      mr->user.npages);
	return ret;
}

/* What registration of process memory refuses before it allocates. */
static int phyrdma_reg_user_check(u64 start, u64 length, u64 iova, int access,
				  const struct phyrdma_reg_mr_hints *h)
{
	/* on demand, nothing is mapped at registration to follow a hint on */
	if ((access & IB_ACCESS_ON_DEMAND) &&
	    (h->flags & (PHYRDMA_HINT_REQUIRE_PHYR | PHYRDMA_HINT_FORCE_LEGACY |
			 PHYRDMA_HINT_CHOOSE_IOVA | PHYRDMA_HINT_PREFER_IOMMU |
			 PHYRDMA_HINT_MAX_IOVA_WASTE) ||
	     h->mem_allowed || h->mem_required || h->min_page_shift ||
	     h->max_page_shift))
		return -EINVAL;
	/* implicit ODP (the whole address space) is not advertised */
	if ((access & IB_ACCESS_ON_DEMAND) && !start && length == U64_MAX)
		return -EOPNOTSUPP;
	return phyrdma_mr_check_args(start, length, iova,
				     access & ~IB_ACCESS_ON_DEMAND);
}

/*
 * Process memory into the device, by one of three paths: on demand (the
 * engine faults pages in), the legacy ib_umem one (forced or chosen), or
 * pinned into a phyr for the mapper.  On success @iova is the MR's.
 */
static int phyrdma_reg_user_map(struct phyrdma_mr *mr, u64 start, u64 length,
				u64 *iova, const struct phyrdma_reg_mr_hints *h)
{
	struct phyr_slice slice;
	int ret;

	if (mr->access & IB_ACCESS_ON_DEMAND)
		return phyrdma_odp_reg(mr);
	if ((READ_ONCE(legacy) || (h->flags & PHYRDMA_HINT_FORCE_LEGACY)) &&
	    !(h->flags & PHYRDMA_HINT_REQUIRE_PHYR)) {
		mr->umem = ib_umem_get_va(&mr->dev->ibdev, start, length,
					  mr->access);
		if (IS_ERR(mr->umem)) {
			ret = PTR_ERR(mr->umem);
			mr->umem = NULL;
			return ret;
		}
		ret = phyrdma_mr_map_umem(mr, mr->umem,
					  &mr->umem->sgt_append.sgt, iova, h);
	} else {
		ret = phyrdma_mr_pin(mr, start, length);
		if (ret)
			return ret;
		ret = phyr_slice_init(&slice, &mr->user.phyr,
				      offset_in_page(start), length);
		if (!ret)
			ret = phyrdma_mr_map_phyr(mr, &slice, start, iova, h);
	}
	if (ret)
		phyrdma_mr_release(mr);
	return ret;
}

struct ib_mr *phyrdma_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
				  u64 iova, int access, struct ib_dmah *dmah,
				  struct ib_udata *udata)
{
	struct phyrdma_reg_mr_hints h;
	struct phyrdma_mr *mr;
	int ret;

	if (dmah)
		return ERR_PTR(-EOPNOTSUPP);
	ret = ib_no_udata_io(udata);
	if (ret)
		return ERR_PTR(ret);
	ret = phyrdma_hints_get(udata ? rdma_udata_to_uverbs_attr_bundle(udata) :
				NULL, &h);
	if (ret)
		return ERR_PTR(ret);
	ret = phyrdma_reg_user_check(start, length, iova, access, &h);
	if (ret)
		return ERR_PTR(ret);

	mr = phyrdma_mr_new(ibpd, PHYRDMA_MR_SRC_USER);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->writable = ib_access_writable(access);
	mr->user_start = start;
	mr->user_length = length;
	mr->user_iova = iova;
	mr->access = access;
	mr->hinted = !!memchr_inv(&h, 0, sizeof(h));

	ret = phyrdma_reg_user_map(mr, start, length, &iova, &h);
	if (ret)
		goto err_free;
	mr->user_iova = iova;
	ret = phyrdma_mr_enable(mr, ibpd, iova, length, access);
	if (ret)
		goto err_unmap;
	if (udata) {
		ret = phyrdma_hints_put_iova(rdma_udata_to_uverbs_attr_bundle(udata),
					     &h, iova);
		if (ret) {
			/* the caller cannot be told its iova: no MR */
			phyrdma_dereg_mr(&mr->ibmr, NULL);
			return ERR_PTR(ret);
		}
	}
	return &mr->ibmr;

err_unmap:
	phyrdma_mr_unmap(mr);
	phyrdma_mr_release(mr);
err_free:
	kfree(mr);
	return ERR_PTR(ret);
}

/*
 * Re-registration builds a new MR from the old one's parameters and the
 * changed ones; ib_core swaps it in and deregisters the old.  The keys stay
 * (see phyrdma_hw_mr_swap()), as applications expect.  dma-buf MRs
 * cannot be re-registered (ib_core has no verb to name a new dma-buf).
 */
struct ib_mr *phyrdma_rereg_user_mr(struct ib_mr *ibmr, int flags, u64 start,
				    u64 length, u64 iova, int access,
				    struct ib_pd *pd, struct ib_udata *udata)
{
	struct phyrdma_mr *mr = to_pmr(ibmr), *nmr;
	struct ib_mr *new;
	int ret;

	if (mr->source != PHYRDMA_MR_SRC_USER)
		return ERR_PTR(-EOPNOTSUPP);
	/* rereg carries no hints: a hinted layout is not silently dropped */
	if (mr->hinted)
		return ERR_PTR(-EOPNOTSUPP);
	if (!(flags & IB_MR_REREG_TRANS)) {
		start = mr->user_start;
		length = mr->user_length;
		iova = mr->user_iova;
	}
	if (!(flags & IB_MR_REREG_ACCESS))
		access = mr->access;
	if (!(flags & IB_MR_REREG_PD))
		pd = ibmr->pd;
	new = phyrdma_reg_user_mr(pd, start, length, iova, access, NULL, udata);
	if (IS_ERR(new))
		return new;
	/*
	 * The new MR takes over the old one's keys, so that peers holding
	 * the rkey keep working; the old MR, deregistered by ib_core next,
	 * leaves with the new one's former key.
	 */
	nmr = to_pmr(new);
	ret = phyrdma_hw_mr_swap(&mr->dev->hw, mr->key, nmr->key);
	if (ret) {
		phyrdma_dereg_mr(new, NULL);
		return ERR_PTR(ret);
	}
	swap(mr->key, nmr->key);
	mr->ibmr.lkey = mr->key;
	mr->ibmr.rkey = mr->key;
	nmr->ibmr.lkey = nmr->key;
	nmr->ibmr.rkey = nmr->key;
	return new;
}

/*
 * Kernel consumers' "all of memory" MR: the local DMA lkey, whose SGE
 * addresses the engine takes as DMA addresses.  No remote key to all of
 * memory is ever handed out.
 */
struct ib_mr *phyrdma_get_dma_mr(struct ib_pd *ibpd, int access)
{
	struct phyrdma_mr *mr;

	if (access & ~IB_ACCESS_LOCAL_WRITE)
		return ERR_PTR(-EOPNOTSUPP);
	mr = phyrdma_mr_new(ibpd, PHYRDMA_MR_SRC_DMA);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->ibmr.lkey = PHYRDMA_HW_LOCAL_DMA_LKEY;
	mr->ibmr.rkey = 0;
	return &mr->ibmr;
}

int phyrdma_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata)
{
	struct phyrdma_mr *mr = to_pmr(ibmr);
	struct phyrdma_dev *dev = mr->dev;

	if (mr->source == PHYRDMA_MR_SRC_DMA) {
		kfree(mr);
		return 0;
	}

	/*
	 * The device stops using the MR before anything under it goes.  A
	 * dma-buf MR revokes itself, serialised with its exporter's revoke.
	 */
	WRITE_ONCE(mr->dying, true);
	if (mr->import) {
		phyrdma_mr_release_import(mr);
	} else if (mr->dmabuf) {
		dma_resv_lock(mr->dmabuf->resv, NULL);
		phyrdma_mr_revoke_locked(mr);
		dma_resv_unlock(mr->dmabuf->resv);
	} else if (mr->umem && mr->source == PHYRDMA_MR_SRC_DMABUF) {
		ib_umem_dmabuf_revoke(to_ib_umem_dmabuf(mr->umem));
	}
	phyrdma_mr_stop(mr);
	phyrdma_count(dev, PHYRDMA_CNT_MRS, -1);
	phyrdma_count(dev, PHYRDMA_CNT_MTT_ENTRIES, -(long)mr->mtt.nr_entries);

	phyrdma_mr_unmap(mr);
	phyrdma_mr_release(mr);
	phyrdma_memlock_uncharge(mr->uctx, mr->locked_bytes);
	kfree(mr);
	return 0;
}

/* Called by the oracle with the MR held in place by the device layer. */
void phyrdma_mr_fill_report(void *priv, void *arg)
{
	struct phyrdma_mr *mr = priv;
	struct phyrdma_mr_report *out = arg;

	*out = mr->report;
	out->path = mr->path;
	out->source = mr->source;
}

/* ---- memory windows ------------------------------------------------------ */

/*
 * A window is a key in the device's MR table that names nothing until a
 * bind WQE points it at a range of an MR (phyrdma_hw_mw_bind()).  Type 1
 * windows are bound with ibv_bind_mw() (the provider posts the WQE) and
 * keep their PD; type 2 windows are bound and invalidated by WRs.
 */
int phyrdma_alloc_mw(struct ib_mw *ibmw, struct ib_udata *udata)
{
	struct phyrdma_dev *dev = to_pdev(ibmw->device);
	u8 kind = ibmw->type == IB_MW_TYPE_1 ? PHYRDMA_HW_KEY_MW1 : PHYRDMA_HW_KEY_MW2;
	struct phyrdma_mw *mw = container_of(ibmw, struct phyrdma_mw, ibmw);
	u32 key;
	int ret;

	ret = ib_no_udata_io(udata);
	if (ret)
		return ret;
	if (ibmw->type != IB_MW_TYPE_1 && ibmw->type != IB_MW_TYPE_2)
		return -EINVAL;
	if (ibmw->pd->uobject)
		mw->uctx = to_puctx(ibmw->pd->uobject->context);
	ret = phyrdma_memlock_charge(mw->uctx, sizeof(*mw) +
				     sizeof(struct phyrdma_hw_mr_entry),
				     &mw->locked_bytes);
	if (ret)
		return ret;
	ret = phyrdma_hw_mw_alloc(&dev->hw, to_ppd(ibmw->pd)->pdn, kind, &key);
	if (ret) {
		phyrdma_memlock_uncharge(mw->uctx, mw->locked_bytes);
		return ret;
	}
	ibmw->rkey = key;
	phyrdma_count(dev, PHYRDMA_CNT_MWS, 1);
	return 0;
}

int phyrdma_dealloc_mw(struct ib_mw *ibmw)
{
	struct phyrdma_dev *dev = to_pdev(ibmw->device);

	struct phyrdma_mw *mw = container_of(ibmw, struct phyrdma_mw, ibmw);

	phyrdma_hw_mw_free(&dev->hw, ibmw->rkey);
	phyrdma_memlock_uncharge(mw->uctx, mw->locked_bytes);
	phyrdma_count(dev, PHYRDMA_CNT_MWS, -1);
	return 0;
}
