// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma verbs layer: shared receive queues.
 *
 * An SRQ is one receive ring the device consumes on behalf of every QP
 * attached to it; its receive lkeys belong to the SRQ's PD.  Arming a
 * limit asks for one IB_EVENT_SRQ_LIMIT_REACHED when fewer WQEs remain.
 */
#include <linux/log2.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>

#include "phyrdma.h"

static void phyrdma_srq_event(struct phyrdma_hw_srq *hwsrq,
			      enum phyrdma_hw_srq_event hwev)
{
	struct phyrdma_srq *srq = hwsrq->priv;
	struct ib_event ev = {
		.device = srq->ibsrq.device,
		.element.srq = &srq->ibsrq,
		.event = IB_EVENT_SRQ_LIMIT_REACHED,
	};

	if (srq->ibsrq.event_handler)
		srq->ibsrq.event_handler(&ev, srq->ibsrq.srq_context);
}

int phyrdma_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		       struct ib_udata *udata)
{
	struct phyrdma_dev *dev = to_pdev(ibsrq->device);
	struct phyrdma_create_srq_resp resp = {};
	struct phyrdma_create_srq_req req = {};
	struct phyrdma_srq *srq = to_psrq(ibsrq);
	struct phyrdma_ucontext *uctx = NULL;
	struct ib_srq_attr *attr = &init->attr;
	u32 entries, stride;
	size_t bytes;
	u64 offset;
	int ret;

	if (init->srq_type != IB_SRQT_BASIC)
		return -EOPNOTSUPP;
	if (!attr->max_wr || attr->max_wr > PHYRDMA_MAX_QP_WR ||
	    attr->max_sge > PHYRDMA_MAX_SGE)
		return -EINVAL;
	if (udata) {
		ret = phyrdma_udata_in(udata, req);
		if (ret)
			return ret;
		uctx = rdma_udata_to_drv_context(udata, struct phyrdma_ucontext,
						 ibucontext);
	}
	entries = roundup_pow_of_two(attr->max_wr);
	stride = phyrdma_hw_recv_stride(attr->max_sge);
	bytes = PAGE_ALIGN(PHYRDMA_RING_HDR_SIZE + (size_t)entries * stride);
	ret = phyrdma_charge(uctx, bytes);
	if (ret)
		return ret;

	spin_lock_init(&srq->lock);
	srq->uctx = uctx;
	srq->max_wr = entries;
	srq->hw.rq.pdn = to_ppd(ibsrq->pd)->pdn;
	srq->hw.rq.kernel = !udata;
	srq->hw.rq.max_sge = min_t(u32, PHYRDMA_MAX_SGE,
				   (stride - PHYRDMA_RECV_WQE_HDR) /
				   sizeof(struct phyrdma_sge));
	srq->hw.event = phyrdma_srq_event;
	srq->hw.priv = srq;
	ret = phyrdma_hw_srq_create(&dev->hw, &srq->hw, entries);
	if (ret)
		goto err_uncharge;
	attr->max_wr = entries;
	attr->max_sge = srq->hw.rq.max_sge;
	if (attr->srq_limit)
		phyrdma_hw_srq_arm(&srq->hw, attr->srq_limit);

	if (udata) {
		ret = phyrdma_ring_expose(dev, uctx, &srq->hw.rq.ring, &srq->mmap,
					  &offset);
		if (ret)
			goto err_destroy;
		resp.srqn = srq->hw.srqn;
		resp.mmap_offset = offset;
		resp.mmap_length = srq->hw.rq.ring.size;
		resp.log_entries = srq->hw.rq.ring.log_entries;
		resp.log_stride = srq->hw.rq.ring.log_stride;
		ret = ib_respond_udata(udata, resp);
		if (ret)
			goto err_destroy;
	}
	phyrdma_count(dev, PHYRDMA_CNT_SRQS, 1);
	return 0;

err_destroy:
	phyrdma_hw_srq_destroy(&srq->hw);
	bytes -= phyrdma_ring_unexpose(srq->mmap, bytes);
err_uncharge:
	phyrdma_uncharge(uctx, bytes);
	return ret;
}

int phyrdma_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		       enum ib_srq_attr_mask mask, struct ib_udata *udata)
{
	struct phyrdma_srq *srq = to_psrq(ibsrq);
	int ret;

	ret = ib_no_udata_io(udata);
	if (ret)
		return ret;
	/* the ring is allocated once: it cannot be resized */
	if (mask & ~IB_SRQ_LIMIT)
		return -EOPNOTSUPP;
	if (attr->srq_limit >= srq->max_wr)
		return -EINVAL;
	phyrdma_hw_srq_arm(&srq->hw, attr->srq_limit);
	return 0;
}

int phyrdma_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr)
{
	struct phyrdma_srq *srq = to_psrq(ibsrq);

	attr->max_wr = srq->max_wr;
	attr->max_sge = srq->hw.rq.max_sge;
	attr->srq_limit = READ_ONCE(srq->hw.limit);
	return 0;
}

int phyrdma_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata)
{
	struct phyrdma_srq *srq = to_psrq(ibsrq);
	size_t bytes = srq->hw.rq.ring.size;

	phyrdma_hw_srq_destroy(&srq->hw);
	bytes -= phyrdma_ring_unexpose(srq->mmap, bytes);
	phyrdma_uncharge(srq->uctx, bytes);
	phyrdma_count(to_pdev(ibsrq->device), PHYRDMA_CNT_SRQS, -1);
	return 0;
}

int phyrdma_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
			  const struct ib_recv_wr **bad_wr)
{
	struct phyrdma_srq *srq = to_psrq(ibsrq);
	unsigned long flags;
	int ret;

	if (srq->uctx) {
		*bad_wr = wr;
		return -EINVAL;
	}
	spin_lock_irqsave(&srq->lock, flags);
	ret = phyrdma_ring_post_recv(&srq->hw.rq.ring, &srq->prod,
				     srq->hw.rq.max_sge, wr, bad_wr);
	spin_unlock_irqrestore(&srq->lock, flags);
	return ret;
}
