// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma verbs layer: completion queues.
 *
 * A CQ is one ring of struct phyrdma_cqe that the device produces into.
 * A process polls it where it mapped it, without a system call; a kernel
 * consumer polls it here.  Arming goes through the kernel either way,
 * since the device's arm state is not in the ring.
 */
#include <linux/log2.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>

#include "phyrdma.h"

static void phyrdma_cq_comp(struct phyrdma_hw_cq *hwcq)
{
	struct phyrdma_cq *cq = hwcq->priv;

	if (cq->ibcq.comp_handler)
		cq->ibcq.comp_handler(&cq->ibcq, cq->ibcq.cq_context);
}

static void phyrdma_cq_event(struct phyrdma_hw_cq *hwcq,
			     enum phyrdma_hw_cq_event hwev)
{
	struct phyrdma_cq *cq = hwcq->priv;
	struct ib_event ev = {
		.device = cq->ibcq.device,
		.element.cq = &cq->ibcq,
		.event = IB_EVENT_CQ_ERR,
	};

	if (cq->ibcq.event_handler)
		cq->ibcq.event_handler(&ev, cq->ibcq.cq_context);
}

int phyrdma_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		      struct uverbs_attr_bundle *attrs)
{
	struct ib_udata *udata = attrs ? &attrs->driver_udata : NULL;
	struct phyrdma_dev *dev = to_pdev(ibcq->device);
	struct phyrdma_create_cq_resp resp = {};
	struct phyrdma_create_cq_req req = {};
	struct phyrdma_cq *cq = to_pcq(ibcq);
	struct phyrdma_ucontext *uctx = NULL;
	u32 entries;
	size_t bytes;
	u64 offset;
	int ret;

	if (attr->flags)
		return -EOPNOTSUPP;
	if (!attr->cqe || attr->cqe > PHYRDMA_MAX_CQE)
		return -EINVAL;
	if (attr->comp_vector >= ibcq->device->num_comp_vectors)
		return -EINVAL;
	if (udata) {
		ret = phyrdma_udata_in(udata, req);
		if (ret)
			return ret;
		uctx = rdma_udata_to_drv_context(udata, struct phyrdma_ucontext,
						 ibucontext);
	}

	entries = roundup_pow_of_two(attr->cqe);
	bytes = PAGE_ALIGN(PHYRDMA_RING_HDR_SIZE + (size_t)entries * PHYRDMA_CQE_SIZE);
	ret = phyrdma_charge(uctx, bytes);
	if (ret)
		return ret;
	if (uctx && atomic_inc_return(&uctx->cqs) > dev->hw.caps.max_cq) {
		ret = -ENOMEM;
		goto err_uncharge;
	}

	spin_lock_init(&cq->poll_lock);
	cq->uctx = uctx;
	cq->hw.comp = phyrdma_cq_comp;
	cq->hw.event = phyrdma_cq_event;
	cq->hw.priv = cq;
	ret = phyrdma_hw_cq_create(&dev->hw, entries, &cq->hw);
	if (ret)
		goto err_uncharge;

	if (udata) {
		ret = phyrdma_ring_expose(dev, uctx, &cq->hw.ring, &cq->mmap,
					  &offset);
		if (ret)
			goto err_destroy;
		resp.cqn = cq->hw.cqn;
		resp.mmap_offset = offset;
		resp.mmap_length = cq->hw.ring.size;
		resp.log_entries = cq->hw.ring.log_entries;
		ret = ib_respond_udata(udata, resp);
		if (ret)
			goto err_destroy;
	}
	ibcq->cqe = entries;
	phyrdma_count(dev, PHYRDMA_CNT_CQS, 1);
	return 0;

err_destroy:
	phyrdma_hw_cq_destroy(&cq->hw);
	bytes -= phyrdma_ring_unexpose(cq->mmap, bytes);
err_uncharge:
	if (uctx)
		atomic_dec(&uctx->cqs);
	phyrdma_uncharge(uctx, bytes);
	return ret;
}

int phyrdma_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata)
{
	struct phyrdma_cq *cq = to_pcq(ibcq);
	size_t bytes = cq->hw.ring.size;

	phyrdma_hw_cq_destroy(&cq->hw);
	bytes -= phyrdma_ring_unexpose(cq->mmap, bytes);
	phyrdma_uncharge(cq->uctx, bytes);
	if (cq->uctx)
		atomic_dec(&cq->uctx->cqs);
	phyrdma_count(to_pdev(ibcq->device), PHYRDMA_CNT_CQS, -1);
	return 0;
}

/*
 * A process's CQ moves to a new ring and a new mapping; the provider maps
 * it again from the response.  The old ring goes with its mapping.
 */
int phyrdma_resize_user_cq(struct ib_cq *ibcq, unsigned int cqe,
			   struct ib_udata *udata)
{
	struct phyrdma_dev *dev = to_pdev(ibcq->device);
	struct phyrdma_create_cq_resp resp = {};
	struct phyrdma_create_cq_req req = {};
	struct phyrdma_cq *cq = to_pcq(ibcq);
	struct rdma_user_mmap_entry *mmap;
	struct phyrdma_hw_ring ring;
	u32 entries;
	size_t bytes;
	u64 offset;
	int ret;

	if (!cq->uctx)
		return -EOPNOTSUPP;
	ret = phyrdma_udata_in(udata, req);
	if (ret)
		return ret;
	if (!cqe || cqe > PHYRDMA_MAX_CQE)
		return -EINVAL;
	entries = roundup_pow_of_two(cqe);
	bytes = PAGE_ALIGN(PHYRDMA_RING_HDR_SIZE + (size_t)entries * PHYRDMA_CQE_SIZE);
	ret = phyrdma_charge(cq->uctx, bytes);
	if (ret)
		return ret;
	ret = phyrdma_hw_ring_alloc(&dev->hw, entries, PHYRDMA_CQE_SIZE, &ring);
	if (ret)
		goto err_uncharge;
	ret = phyrdma_ring_expose(dev, cq->uctx, &ring, &mmap, &offset);
	if (ret)
		goto err_free;
	ret = phyrdma_hw_cq_resize(&cq->hw, &ring);
	if (ret) {
		/* the new ring goes with its mapping */
		rdma_user_mmap_entry_remove(mmap);
		return ret;
	}
	/* @ring is the old one now, which its mapping frees */
	rdma_user_mmap_entry_remove(cq->mmap);
	cq->mmap = mmap;
	resp.cqn = cq->hw.cqn;
	resp.mmap_offset = offset;
	resp.mmap_length = cq->hw.ring.size;
	resp.log_entries = cq->hw.ring.log_entries;
	ibcq->cqe = entries;
	return ib_respond_udata(udata, resp);

err_free:
	phyrdma_hw_ring_free(&dev->hw, &ring);
err_uncharge:
	phyrdma_uncharge(cq->uctx, bytes);
	return ret;
}

static void phyrdma_cqe_to_wc(struct phyrdma_dev *dev,
			      const struct phyrdma_cqe *cqe, struct ib_wc *wc)
{
	struct phyrdma_hw_qp *hwqp;

	memset(wc, 0, sizeof(*wc));
	wc->wr_id = cqe->wr_id;
	wc->status = cqe->status;
	wc->opcode = cqe->opcode;
	wc->vendor_err = cqe->vendor_err;
	wc->byte_len = cqe->byte_len;
	wc->src_qp = cqe->src_qp;
	wc->pkey_index = cqe->pkey_index;
	wc->port_num = PHYRDMA_PORT;
	hwqp = xa_load(&dev->hw.qps, cqe->qp_num);
	wc->qp = hwqp ? &container_of(hwqp, struct phyrdma_qp, hw)->ibqp : NULL;
	if (cqe->flags & PHYRDMA_CQE_IMM) {
		wc->wc_flags |= IB_WC_WITH_IMM;
		wc->ex.imm_data = (__force __be32)cqe->imm_data;
	}
	if (cqe->flags & PHYRDMA_CQE_INV) {
		wc->wc_flags |= IB_WC_WITH_INVALIDATE;
		wc->ex.invalidate_rkey = cqe->imm_data;
	}
	if (cqe->flags & PHYRDMA_CQE_GRH) {
		wc->wc_flags |= IB_WC_GRH | IB_WC_WITH_NETWORK_HDR_TYPE |
				IB_WC_WITH_SMAC;
		wc->network_hdr_type = cqe->network_hdr == PHYRDMA_CQE_NET_IPV4 ?
				       RDMA_NETWORK_IPV4 : RDMA_NETWORK_IPV6;
		memcpy(wc->smac, cqe->smac, ETH_ALEN);
	}
}

/* Kernel consumers' polling; processes poll their mapping of the ring. */
int phyrdma_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc)
{
	struct phyrdma_cq *cq = to_pcq(ibcq);
	struct phyrdma_ring_hdr *hdr = phyrdma_hw_ring_hdr(&cq->hw.ring);
	struct phyrdma_dev *dev = to_pdev(ibcq->device);
	unsigned long flags;
	u32 cons, prod;
	int n = 0;

	spin_lock_irqsave(&cq->poll_lock, flags);
	cons = hdr->consumer;
	/* pairs with the device's release of the producer: the CQEs are written */
	prod = smp_load_acquire(&hdr->producer);
	while (n < num_entries && cons != prod) {
		phyrdma_cqe_to_wc(dev, phyrdma_hw_ring_entry(&cq->hw.ring, cons),
				  &wc[n]);
		cons++;
		n++;
	}
	/* the CQEs are read before the device may write over them */
	smp_store_release(&hdr->consumer, cons);
	spin_unlock_irqrestore(&cq->poll_lock, flags);
	return n;
}

int phyrdma_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags)
{
	struct phyrdma_cq *cq = to_pcq(ibcq);
	u8 how = (flags & IB_CQ_SOLICITED_MASK) == IB_CQ_SOLICITED ?
		 PHYRDMA_HW_ARM_SOLICITED : PHYRDMA_HW_ARM_NEXT;
	int pending = phyrdma_hw_cq_arm(&cq->hw, how);

	return (flags & IB_CQ_REPORT_MISSED_EVENTS) && pending ? 1 : 0;
}

/*
 * Drop the completions of QP @qpn still in a kernel consumer's CQ, keeping
 * the others' order (see the provider's twin for processes' CQs).
 */
void phyrdma_cq_clean(struct phyrdma_cq *cq, u32 qpn)
{
	struct phyrdma_ring_hdr *hdr = phyrdma_hw_ring_hdr(&cq->hw.ring);
	struct phyrdma_cqe *cqe;
	u32 cons, prod, i, nfreed = 0;
	unsigned long flags;

	spin_lock_irqsave(&cq->poll_lock, flags);
	cons = hdr->consumer;
	/* pairs with the device's release of the producer: the CQEs are written */
	prod = smp_load_acquire(&hdr->producer);
	for (i = prod; i-- != cons;) {
		cqe = phyrdma_hw_ring_entry(&cq->hw.ring, i);
		if (cqe->qp_num == qpn)
			nfreed++;
		else if (nfreed)
			memcpy(phyrdma_hw_ring_entry(&cq->hw.ring, i + nfreed), cqe,
			       sizeof(*cqe));
	}
	if (nfreed)
		/* the CQEs moved before the device may write over the freed */
		smp_store_release(&hdr->consumer, cons + nfreed);
	spin_unlock_irqrestore(&cq->poll_lock, flags);
}
