// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma verbs layer: on-demand paging (IBV_ACCESS_ON_DEMAND).
 *
 * An ODP MR pins nothing.  ib_core's ODP umem tracks the range with an mmu
 * interval notifier; its hmm_dma_map reserves the whole range's IOVA at
 * registration (the two-step DMA API, as the phyr mapper uses it) and links
 * pages into it one by one as they are faulted.  The MTT starts with every
 * leaf absent.  When the engine meets an absent leaf, or a read-only one it
 * must write, it raises a page fault (phyrdma_hw.page_fault): the handler
 * faults the pages in with hmm_range_fault(), maps each and writes its DMA
 * address straight into the leaf -- the streaming step of the other paths,
 * page by page -- and the engine retries.  When the mm takes pages away the
 * notifier zaps their leaves, waits until no engine access can still be
 * using them, and only then unmaps them.
 *
 * Lock order: umem_mutex, then the device's access fence (an SRCU domain
 * the engine holds only while it moves bytes, never across a fault).
 *
 * Not supported: implicit ODP (the whole address space as one MR) and ODP
 * on dma-buf MRs (a dma-buf importer has invalidate_mappings for that).
 */
#include <linux/hmm.h>
#include <linux/hmm-dma.h>
#include <linux/pci-p2pdma.h>
#include <rdma/ib_umem_odp.h>
#include <rdma/ib_verbs.h>

#include "phyrdma.h"

/* What the device's engine can do on an on-demand MR, per transport. */
void phyrdma_odp_caps(struct ib_device_attr *attr)
{
	if (!IS_ENABLED(CONFIG_INFINIBAND_ON_DEMAND_PAGING))
		return;
	attr->kernel_cap_flags |= IBK_ON_DEMAND_PAGING;
	attr->odp_caps.general_caps = IB_ODP_SUPPORT;
	attr->odp_caps.per_transport_caps.rc_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_WRITE | IB_ODP_SUPPORT_READ |
		IB_ODP_SUPPORT_ATOMIC | IB_ODP_SUPPORT_SRQ_RECV |
		IB_ODP_SUPPORT_FLUSH | IB_ODP_SUPPORT_ATOMIC_WRITE;
	attr->odp_caps.per_transport_caps.uc_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_WRITE | IB_ODP_SUPPORT_SRQ_RECV;
	attr->odp_caps.per_transport_caps.ud_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_SRQ_RECV;
}

/* MTT leaf (and pfn_list index) of user address @va. */
static u64 phyrdma_odp_index(struct ib_umem_odp *odp, u64 va)
{
	return (va - ib_umem_start(odp)) >> odp->page_shift;
}

static bool phyrdma_odp_invalidate(struct mmu_interval_notifier *mni,
				   const struct mmu_notifier_range *range,
				   unsigned long cur_seq)
{
	struct ib_umem_odp *odp = container_of(mni, struct ib_umem_odp, notifier);
	struct phyrdma_mr *mr;
	u64 start, end;

	if (!mmu_notifier_range_blockable(range))
		return false;

	mutex_lock(&odp->umem_mutex);
	mmu_interval_set_seq(mni, cur_seq);
	mr = odp->private;
	start = max_t(u64, range->start, ib_umem_start(odp));
	end = min_t(u64, range->end, ib_umem_end(odp));
	if (mr && start < end) {
		/* the device lets go of the pages before they are unmapped */
		phyrdma_hw_mtt_zap(&mr->dev->hw, &mr->mtt,
				   phyrdma_odp_index(odp, start),
				   (end - start) >> odp->page_shift);
		ib_umem_odp_unmap_dma_pages(odp, start, end);
	}
	mutex_unlock(&odp->umem_mutex);
	return true;
}

static const struct mmu_interval_notifier_ops phyrdma_odp_ops = {
	.invalidate = phyrdma_odp_invalidate,
};

/*
 * Make [@va, @va + @len) of @mr's process present and write its leaves.
 * @fault: fault pages in (else only the pages already present are mapped).
 */
static int phyrdma_odp_map(struct phyrdma_mr *mr, u64 va, u64 len, bool write,
			   bool fault)
{
	struct ib_umem_odp *odp = mr->odp;
	struct device *dma_dev = mr->dev->hw.dma_dev;
	struct pci_p2pdma_map_state p2p = {};
	u64 access, first, i;
	int np, ret = 0;

	if (write && !odp->umem.writable)
		return -EACCES;
	/* a writable MR asks for writable pages at once: one fault, not two */
	access = odp->umem.writable ? HMM_PFN_WRITE : 0;
	np = ib_umem_odp_map_dma_and_lock(odp, va, len, access, fault);
	if (np < 0)
		return np;
	first = phyrdma_odp_index(odp, ALIGN_DOWN(va, 1UL << odp->page_shift));
	for (i = first; i < first + np; i++) {
		unsigned long pfn = odp->map.pfn_list[i];
		dma_addr_t dma;

		if (!(pfn & HMM_PFN_VALID))
			continue;
		if (!(pfn & HMM_PFN_DMA_MAPPED))
			odp->npages++;
		dma = hmm_dma_map_pfn(dma_dev, &odp->map, i, &p2p);
		if (dma_mapping_error(dma_dev, dma)) {
			ret = -EFAULT;
			break;
		}
		phyrdma_hw_mtt_set_odp(&mr->mtt, i, dma, pfn & HMM_PFN_WRITE);
	}
	mutex_unlock(&odp->umem_mutex);
	return ret;
}

/* The device's page fault on @odp_priv (the MR), in MR addresses. */
static int phyrdma_odp_page_fault(void *odp_priv, u64 iova, u64 len, bool write)
{
	struct phyrdma_mr *mr = odp_priv;

	return phyrdma_odp_map(mr, mr->user_start + (iova - mr->user_iova), len,
			       write, true);
}

void phyrdma_odp_init(struct phyrdma_dev *dev)
{
	dev->hw.page_fault = phyrdma_odp_page_fault;
}

/**
 * phyrdma_odp_reg - register user memory on demand
 * @mr: the new MR, with its user range, iova and access filled in
 *
 * Return: 0 with @mr's ODP umem and absent MTT ready for phyrdma_mr_enable();
 * an errno from ib_umem_odp_get() or the MTT allocation.
 */
int phyrdma_odp_reg(struct phyrdma_mr *mr)
{
	struct phyrdma_dev *dev = mr->dev;
	struct ib_umem_odp *odp;
	int ret;

	if (!IS_ENABLED(CONFIG_INFINIBAND_ON_DEMAND_PAGING))
		return -EOPNOTSUPP;

	odp = ib_umem_odp_get(&dev->ibdev, mr->user_start, mr->user_length,
			      mr->access, &phyrdma_odp_ops);
	if (IS_ERR(odp))
		return PTR_ERR(odp);
	mr->odp = odp;
	mr->path = PHYRDMA_PATH_ODP;
	mr->page_shift = odp->page_shift;
	ret = phyrdma_hw_mtt_alloc(&dev->hw, ib_umem_odp_num_pages(odp), &mr->mtt);
	if (ret) {
		ib_umem_odp_release(odp);
		mr->odp = NULL;
		return ret;
	}
	if (dma_use_iova(&odp->map.state))
		mr->report.iova_bytes = dma_iova_size(&odp->map.state);
	mutex_lock(&odp->umem_mutex);
	odp->private = mr;
	mutex_unlock(&odp->umem_mutex);
	return 0;
}

/* Stop tracking @mr's range: before its MTT goes (the notifier writes it). */
void phyrdma_odp_release(struct phyrdma_mr *mr)
{
	if (!mr->odp)
		return;
	ib_umem_odp_release(mr->odp);
	mr->odp = NULL;
}

struct phyrdma_odp_advice {
	const struct phyrdma_hw_mr_entry *entry;
	struct ib_sge *sge;
	enum ib_uverbs_advise_mr_advice advice;
	u32 pdn;
	int ret;
};

/* Called with the MR held in place by the device layer. */
static void phyrdma_odp_advise_one(void *priv, void *arg)
{
	struct phyrdma_odp_advice *a = arg;
	struct phyrdma_mr *mr = priv;
	u64 end;

	/* a window's entry has no MR behind it */
	if (!mr || a->entry->kind != PHYRDMA_HW_KEY_MR || !mr->odp ||
	    a->entry->params.pdn != a->pdn) {
		a->ret = -EINVAL;
		return;
	}
	if (check_add_overflow(a->sge->addr, (u64)a->sge->length, &end) ||
	    a->sge->addr < mr->user_iova || end > mr->user_iova + mr->user_length) {
		a->ret = -EINVAL;
		return;
	}
	if (a->advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE &&
	    !mr->odp->umem.writable) {
		a->ret = -EPERM;
		return;
	}
	a->ret = phyrdma_odp_map(mr, mr->user_start + (a->sge->addr - mr->user_iova),
				 a->sge->length,
				 a->advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				 a->advice != IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT);
}

/**
 * phyrdma_advise_mr - ibv_advise_mr(): prefetch ranges of on-demand MRs
 * @ibpd: the PD every MR named in @sg_list must belong to
 * @advice: IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH, _PREFETCH_WRITE (map the
 *	pages writable) or _PREFETCH_NO_FAULT (map only the pages already
 *	present); any other: -EOPNOTSUPP
 * @flags: IB_UVERBS_ADVISE_MR_FLAG_FLUSH or not, see below
 * @sg_list: the ranges, each an lkey, an address and a length; empty ones
 *	are skipped
 * @num_sge: entries in @sg_list
 * @attrs: the uverbs call's attributes; unused
 *
 * Every advice is carried out before the call returns.
 *
 * Return: with IB_UVERBS_ADVISE_MR_FLAG_FLUSH, 0 or the first error
 * (-EINVAL for an lkey that is not an on-demand MR of @ibpd or a range
 * outside it, -EPERM to prefetch a read-only MR for writing, -EFAULT for
 * memory that cannot be faulted in); without it the advice is best effort
 * and its errors are not reported, as the verb defines: 0, or -EOPNOTSUPP
 * for an unknown @advice.
 */
int phyrdma_advise_mr(struct ib_pd *ibpd, enum ib_uverbs_advise_mr_advice advice,
		      u32 flags, struct ib_sge *sg_list, u32 num_sge,
		      struct uverbs_attr_bundle *attrs)
{
	struct phyrdma_dev *dev = to_pdev(ibpd->device);
	struct phyrdma_odp_advice a = {
		.advice = advice,
		.pdn = to_ppd(ibpd)->pdn,
	};
	struct phyrdma_hw_mr_entry entry;
	u32 i;

	if (advice != IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH &&
	    advice != IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE &&
	    advice != IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT)
		return -EOPNOTSUPP;

	for (i = 0; i < num_sge; i++) {
		if (!sg_list[i].length)
			continue;
		a.entry = &entry;
		a.sge = &sg_list[i];
		a.ret = 0;
		if (phyrdma_hw_mr_query(&dev->hw, sg_list[i].lkey, &entry,
					phyrdma_odp_advise_one, &a))
			a.ret = -EINVAL;
		if (a.ret && (flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH))
			return a.ret;
	}
	return 0;
}
