// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma verbs layer: queue pairs, address handles and the doorbell.
 *
 * A QP is two rings the device reads (send and receive WQEs, formats in
 * phyrdma-abi.h) and a context the device holds (struct phyrdma_hw_qp).
 * A process writes its rings where it mapped them and rings the send
 * doorbell through PHYRDMA_METHOD_QP_DOORBELL, only when the device said
 * it went idle; kernel consumers post through post_send/post_recv here,
 * into the same rings.  The state machine and the attribute rules are
 * the IBTA's, through ib_modify_qp_is_ok().
 */
#include <linux/log2.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>

#define UVERBS_MODULE_NAME phyrdma
#include <rdma/uverbs_named_ioctl.h>
#include <rdma/uverbs_std_types.h>

#include "phyrdma.h"

static void phyrdma_qp_event(struct phyrdma_hw_qp *hwqp,
			     enum phyrdma_hw_qp_event hwev)
{
	struct phyrdma_qp *qp = hwqp->priv;
	struct ib_event ev = {
		.device = qp->ibqp.device,
		.element.qp = &qp->ibqp,
	};

	switch (hwev) {
	case PHYRDMA_HW_QP_EV_REQ_ERR:
		ev.event = IB_EVENT_QP_REQ_ERR;
		break;
	case PHYRDMA_HW_QP_EV_ACCESS_ERR:
		ev.event = IB_EVENT_QP_ACCESS_ERR;
		break;
	case PHYRDMA_HW_QP_EV_LAST_WQE:
		if (!qp->ibqp.srq)
			return;
		ev.event = IB_EVENT_QP_LAST_WQE_REACHED;
		break;
	default:
		ev.event = IB_EVENT_QP_FATAL;
		break;
	}
	if (qp->ibqp.event_handler)
		qp->ibqp.event_handler(&ev, qp->ibqp.qp_context);
}

static int phyrdma_hw_qp_type(enum ib_qp_type type)
{
	switch (type) {
	case IB_QPT_RC:
		return PHYRDMA_HW_QPT_RC;
	case IB_QPT_UC:
		return PHYRDMA_HW_QPT_UC;
	case IB_QPT_UD:
		return PHYRDMA_HW_QPT_UD;
	case IB_QPT_GSI:
		return PHYRDMA_HW_QPT_GSI;
	default:
		return -EOPNOTSUPP;
	}
}

static size_t phyrdma_qp_bytes(u32 sq_entries, u32 sq_stride, u32 rq_entries,
			       u32 rq_stride)
{
	return PAGE_ALIGN(PHYRDMA_RING_HDR_SIZE + (size_t)sq_entries * sq_stride) +
	       PAGE_ALIGN(PHYRDMA_RING_HDR_SIZE + (size_t)rq_entries * rq_stride);
}

/* What a QP may ask for at creation, checked before anything is taken. */
static int phyrdma_qp_check_init(const struct ib_qp_init_attr *init,
				 const struct ib_udata *udata, int type)
{
	const struct ib_qp_cap *cap = &init->cap;

	if (init->create_flags)
		return -EOPNOTSUPP;
	if (type == PHYRDMA_HW_QPT_GSI && udata)
		return -EINVAL;
	if (cap->max_send_wr > PHYRDMA_MAX_QP_WR ||
	    cap->max_recv_wr > PHYRDMA_MAX_QP_WR ||
	    cap->max_send_sge > PHYRDMA_MAX_SGE ||
	    cap->max_recv_sge > PHYRDMA_MAX_SGE ||
	    cap->max_inline_data > PHYRDMA_MAX_INLINE)
		return -EINVAL;
	return 0;
}

/* The device QP's settings, from @init and the strides that hold it. */
static void phyrdma_qp_init_hw(struct phyrdma_qp *qp,
			       const struct ib_qp_init_attr *init, int type,
			       bool kernel, u32 sq_stride, u32 rq_stride)
{
	qp->hw.type = type;
	qp->hw.pdn = to_ppd(qp->ibqp.pd)->pdn;
	qp->hw.kernel = kernel;
	/* what the strides really hold: at least what was asked */
	qp->hw.max_send_sge = min_t(u32, PHYRDMA_MAX_SGE,
				    (sq_stride - PHYRDMA_SEND_WQE_HDR) /
				    sizeof(struct phyrdma_sge));
	qp->hw.max_inline = min_t(u32, PHYRDMA_MAX_INLINE,
				  sq_stride - PHYRDMA_SEND_WQE_HDR);
	qp->hw.rq.max_sge = min_t(u32, PHYRDMA_MAX_SGE,
				  (rq_stride - PHYRDMA_RECV_WQE_HDR) /
				  sizeof(struct phyrdma_sge));
	qp->hw.recv = init->srq ? &to_psrq(init->srq)->hw.rq : NULL;
	qp->hw.sig_all = init->sq_sig_type == IB_SIGNAL_ALL_WR;
	qp->hw.scq = &to_pcq(init->send_cq)->hw;
	qp->hw.rcq = &to_pcq(init->recv_cq)->hw;
	qp->hw.event = phyrdma_qp_event;
	qp->hw.priv = qp;
}

/* Tell the creator what the QP got (at least what it asked for). */
static void phyrdma_qp_report_cap(struct phyrdma_qp *qp,
				  struct ib_qp_init_attr *init,
				  u32 sq_entries, u32 rq_entries)
{
	struct ib_qp_cap *cap = &init->cap;

	cap->max_send_wr = sq_entries;
	cap->max_recv_wr = rq_entries;
	cap->max_send_sge = qp->hw.max_send_sge;
	cap->max_recv_sge = qp->hw.rq.max_sge;
	if (init->srq) {
		/* receives come from the SRQ: the QP's own queue is unused */
		cap->max_recv_wr = 0;
		cap->max_recv_sge = 0;
	}
	cap->max_inline_data = qp->hw.max_inline;
	qp->cap = *cap;
}

/*
 * A user QP's rings, exposed to its process, and the response that says
 * where they are.  On failure the caller unexposes whatever was exposed.
 */
static int phyrdma_qp_expose(struct phyrdma_dev *dev,
			     struct phyrdma_ucontext *uctx,
			     struct phyrdma_qp *qp, struct ib_udata *udata)
{
	struct phyrdma_create_qp_resp resp = {};
	u64 sq_off, rq_off;
	int ret;

	ret = phyrdma_ring_expose(dev, uctx, &qp->hw.sq, &qp->sq_mmap, &sq_off);
	if (ret)
		return ret;
	ret = phyrdma_ring_expose(dev, uctx, &qp->hw.rq.ring, &qp->rq_mmap,
				  &rq_off);
	if (ret)
		return ret;
	resp.qpn = qp->hw.qpn;
	resp.sq_mmap_offset = sq_off;
	resp.sq_mmap_length = qp->hw.sq.size;
	resp.rq_mmap_offset = rq_off;
	resp.rq_mmap_length = qp->hw.rq.ring.size;
	resp.sq_log_entries = qp->hw.sq.log_entries;
	resp.sq_log_stride = qp->hw.sq.log_stride;
	resp.rq_log_entries = qp->hw.rq.ring.log_entries;
	resp.rq_log_stride = qp->hw.rq.ring.log_stride;
	resp.max_inline = qp->hw.max_inline;
	return ib_respond_udata(udata, resp);
}

int phyrdma_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		      struct ib_udata *udata)
{
	struct phyrdma_dev *dev = to_pdev(ibqp->device);
	struct phyrdma_create_qp_req req = {};
	struct phyrdma_qp *qp = to_pqp(ibqp);
	struct phyrdma_ucontext *uctx = NULL;
	struct ib_qp_cap *cap = &init->cap;
	u32 sq_entries, rq_entries, sq_stride, rq_stride;
	size_t bytes;
	int type, ret;

	type = phyrdma_hw_qp_type(init->qp_type);
	if (type < 0)
		return type;
	ret = phyrdma_qp_check_init(init, udata, type);
	if (ret)
		return ret;
	if (udata) {
		ret = phyrdma_udata_in(udata, req);
		if (ret)
			return ret;
		uctx = rdma_udata_to_drv_context(udata, struct phyrdma_ucontext,
						 ibucontext);
	}

	sq_entries = roundup_pow_of_two(max(cap->max_send_wr, 1U));
	rq_entries = init->srq ? 1 : roundup_pow_of_two(max(cap->max_recv_wr, 1U));
	sq_stride = phyrdma_hw_send_stride(cap->max_send_sge, cap->max_inline_data);
	rq_stride = phyrdma_hw_recv_stride(cap->max_recv_sge);
	bytes = phyrdma_qp_bytes(sq_entries, sq_stride, rq_entries, rq_stride);
	ret = phyrdma_charge(uctx, bytes);
	if (ret)
		return ret;
	if (uctx && atomic_inc_return(&uctx->qps) > dev->hw.caps.max_qp) {
		ret = -ENOMEM;
		goto err_uncharge;
	}

	mutex_init(&qp->mutex);
	spin_lock_init(&qp->sq_lock);
	spin_lock_init(&qp->rq_lock);
	qp->uctx = uctx;
	qp->sq_sig_type = init->sq_sig_type;
	phyrdma_qp_init_hw(qp, init, type, !udata, sq_stride, rq_stride);
	ret = phyrdma_hw_qp_create(&dev->hw, &qp->hw, sq_entries, rq_entries);
	if (ret)
		goto err_count;
	ibqp->qp_num = qp->hw.qpn;
	phyrdma_qp_report_cap(qp, init, sq_entries, rq_entries);
	qp->attr.qp_state = IB_QPS_RESET;
	qp->attr.port_num = PHYRDMA_PORT;
	qp->attr.path_mtu = IB_MTU_1024;

	if (udata) {
		ret = phyrdma_qp_expose(dev, uctx, qp, udata);
		if (ret)
			goto err_destroy;
	}
	phyrdma_count(dev, PHYRDMA_CNT_QPS, 1);
	return 0;

err_destroy:
	phyrdma_hw_qp_destroy(&qp->hw);
	bytes -= phyrdma_ring_unexpose(qp->sq_mmap, qp->hw.sq.size);
	bytes -= phyrdma_ring_unexpose(qp->rq_mmap, qp->hw.rq.ring.size);
err_count:
	if (uctx)
		atomic_dec(&uctx->qps);
err_uncharge:
	phyrdma_uncharge(uctx, bytes);
	return ret;
}

/*
 * Multicast: only UD QPs join groups, and only multicast GIDs name one.
 * The LID means nothing on a RoCE port.  uverbs detaches a user QP's groups
 * before destroying it; a kernel consumer's are dropped at destroy.
 */
static int phyrdma_mcast_check(struct ib_qp *ibqp, const union ib_gid *gid)
{
	if (ibqp->qp_type != IB_QPT_UD)
		return -EINVAL;
	if (!rdma_is_multicast_addr((struct in6_addr *)gid->raw))
		return -EINVAL;
	return 0;
}

int phyrdma_attach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid)
{
	struct phyrdma_dev *dev = to_pdev(ibqp->device);
	int ret;

	ret = phyrdma_mcast_check(ibqp, gid);
	if (ret)
		return ret;
	ret = phyrdma_hw_mcast_attach(&dev->hw, gid->raw, ibqp->qp_num);
	if (ret < 0)
		return ret;
	if (ret)
		phyrdma_count(dev, PHYRDMA_CNT_MCAST, 1);
	return 0;
}

int phyrdma_detach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid)
{
	struct phyrdma_dev *dev = to_pdev(ibqp->device);
	int ret;

	ret = phyrdma_mcast_check(ibqp, gid);
	if (ret)
		return ret;
	ret = phyrdma_hw_mcast_detach(&dev->hw, gid->raw, ibqp->qp_num);
	if (ret)
		return ret;
	phyrdma_count(dev, PHYRDMA_CNT_MCAST, -1);
	return 0;
}

int phyrdma_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	struct phyrdma_dev *dev = to_pdev(ibqp->device);
	size_t bytes = qp->hw.sq.size + qp->hw.rq.ring.size;

	phyrdma_count(dev, PHYRDMA_CNT_MCAST,
		      -(long)phyrdma_hw_mcast_detach_all(&dev->hw, ibqp->qp_num));
	phyrdma_hw_qp_destroy(&qp->hw);
	bytes -= phyrdma_ring_unexpose(qp->sq_mmap, qp->hw.sq.size);
	bytes -= phyrdma_ring_unexpose(qp->rq_mmap, qp->hw.rq.ring.size);
	phyrdma_uncharge(qp->uctx, bytes);
	if (qp->uctx)
		atomic_dec(&qp->uctx->qps);
	rdma_destroy_ah_attr(&qp->attr.ah_attr);
	mutex_destroy(&qp->mutex);
	phyrdma_count(to_pdev(ibqp->device), PHYRDMA_CNT_QPS, -1);
	return 0;
}

static u32 phyrdma_hw_qp_access(int flags)
{
	return (flags & IB_ACCESS_REMOTE_READ ? PHYRDMA_HW_ACCESS_REMOTE_READ : 0) |
	       (flags & IB_ACCESS_REMOTE_WRITE ? PHYRDMA_HW_ACCESS_REMOTE_WRITE : 0) |
	       (flags & IB_ACCESS_REMOTE_ATOMIC ? PHYRDMA_HW_ACCESS_REMOTE_ATOMIC : 0) |
	       (flags & IB_ACCESS_FLUSH_GLOBAL ? PHYRDMA_HW_ACCESS_FLUSH_GLOBAL : 0) |
	       (flags & IB_ACCESS_FLUSH_PERSISTENT ? PHYRDMA_HW_ACCESS_FLUSH_PERSISTENT : 0);
}

/* An address vector from RoCE attributes: a GRH is mandatory. */
static int phyrdma_av_from_attr(const struct rdma_ah_attr *ah,
				struct phyrdma_av *av)
{
	const struct ib_global_route *grh;

	if (ah->type != RDMA_AH_ATTR_TYPE_ROCE ||
	    !(rdma_ah_get_ah_flags(ah) & IB_AH_GRH))
		return -EINVAL;
	if (rdma_ah_get_port_num(ah) != PHYRDMA_PORT)
		return -EINVAL;
	grh = rdma_ah_read_grh(ah);
	if (grh->sgid_index >= PHYRDMA_HW_GID_TBL_LEN)
		return -EINVAL;
	memset(av, 0, sizeof(*av));
	memcpy(av->dgid, grh->dgid.raw, sizeof(av->dgid));
	av->flow_label = grh->flow_label;
	av->sgid_index = grh->sgid_index;
	av->hop_limit = grh->hop_limit;
	av->traffic_class = grh->traffic_class;
	return 0;
}

/* What query_qp reports of the attributes @mask sets. */
static void phyrdma_qp_keep_attrs(struct phyrdma_qp *qp,
				  const struct ib_qp_attr *attr, int mask)
{
	if (mask & IB_QP_DEST_QPN)
		qp->attr.dest_qp_num = attr->dest_qp_num;
	if (mask & IB_QP_QKEY)
		qp->attr.qkey = attr->qkey;
	if (mask & IB_QP_ACCESS_FLAGS)
		qp->attr.qp_access_flags = attr->qp_access_flags;
	if (mask & IB_QP_TIMEOUT)
		qp->attr.timeout = attr->timeout;
	if (mask & IB_QP_RETRY_CNT)
		qp->attr.retry_cnt = attr->retry_cnt;
	if (mask & IB_QP_RNR_RETRY)
		qp->attr.rnr_retry = attr->rnr_retry;
	if (mask & IB_QP_MIN_RNR_TIMER)
		qp->attr.min_rnr_timer = attr->min_rnr_timer;
	if (mask & IB_QP_PATH_MTU)
		qp->attr.path_mtu = attr->path_mtu;
	if (mask & IB_QP_SQ_PSN)
		qp->attr.sq_psn = attr->sq_psn;
	if (mask & IB_QP_RQ_PSN)
		qp->attr.rq_psn = attr->rq_psn;
	if (mask & IB_QP_MAX_QP_RD_ATOMIC)
		qp->attr.max_rd_atomic = attr->max_rd_atomic;
	if (mask & IB_QP_MAX_DEST_RD_ATOMIC)
		qp->attr.max_dest_rd_atomic = attr->max_dest_rd_atomic;
	if (mask & IB_QP_PKEY_INDEX)
		qp->attr.pkey_index = attr->pkey_index;
	if (mask & IB_QP_EN_SQD_ASYNC_NOTIFY)
		qp->attr.en_sqd_async_notify = attr->en_sqd_async_notify;
}

/* The values of the attributes @mask sets are within what the device takes. */
static bool phyrdma_qp_attrs_ok(const struct ib_qp_attr *attr, int mask)
{
	if ((mask & IB_QP_PORT) && attr->port_num != PHYRDMA_PORT)
		return false;
	if ((mask & IB_QP_PKEY_INDEX) && attr->pkey_index != 0)
		return false;
	if ((mask & IB_QP_PATH_MTU) &&
	    (attr->path_mtu < IB_MTU_256 || attr->path_mtu > IB_MTU_4096))
		return false;
	if ((mask & IB_QP_MAX_QP_RD_ATOMIC) &&
	    attr->max_rd_atomic > PHYRDMA_HW_MAX_RD_ATOMIC)
		return false;
	if ((mask & IB_QP_MAX_DEST_RD_ATOMIC) &&
	    attr->max_dest_rd_atomic > PHYRDMA_HW_MAX_RD_ATOMIC)
		return false;
	if ((mask & IB_QP_RETRY_CNT) && attr->retry_cnt > 7)
		return false;
	if ((mask & IB_QP_RNR_RETRY) && attr->rnr_retry > 7)
		return false;
	if ((mask & IB_QP_MIN_RNR_TIMER) && attr->min_rnr_timer > 31)
		return false;
	if ((mask & IB_QP_TIMEOUT) && attr->timeout > 31)
		return false;
	if ((mask & IB_QP_ACCESS_FLAGS) &&
	    (attr->qp_access_flags & ~(IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_READ |
				       IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_ATOMIC |
				       IB_ACCESS_FLUSH_GLOBAL |
				       IB_ACCESS_FLUSH_PERSISTENT |
				       /* an MR's flag, meaningless on a QP */
				       IB_ACCESS_ON_DEMAND)))
		return false;
	return true;
}

/* The device QP's attributes: @hw as it was, with those @mask sets. */
static int phyrdma_qp_hw_attrs(const struct ib_qp_attr *attr, int mask,
			       struct phyrdma_hw_qp_attr *hw)
{
	int ret;

	if (mask & IB_QP_AV) {
		ret = phyrdma_av_from_attr(&attr->ah_attr, &hw->av);
		if (ret)
			return ret;
	}
	if (mask & IB_QP_DEST_QPN)
		hw->dest_qpn = attr->dest_qp_num;
	if (mask & IB_QP_QKEY)
		hw->qkey = attr->qkey;
	if (mask & IB_QP_ACCESS_FLAGS)
		hw->access = phyrdma_hw_qp_access(attr->qp_access_flags);
	if (mask & IB_QP_TIMEOUT)
		hw->timeout = attr->timeout;
	if (mask & IB_QP_RETRY_CNT)
		hw->retry_cnt = attr->retry_cnt;
	if (mask & IB_QP_RNR_RETRY)
		hw->rnr_retry = attr->rnr_retry;
	if (mask & IB_QP_MIN_RNR_TIMER)
		hw->min_rnr_timer = attr->min_rnr_timer;
	if (mask & IB_QP_PATH_MTU)
		hw->path_mtu = ib_mtu_enum_to_int(attr->path_mtu);
	if (mask & IB_QP_SQ_PSN)
		hw->sq_psn = attr->sq_psn;
	if (mask & IB_QP_RQ_PSN)
		hw->rq_psn = attr->rq_psn;
	if (mask & IB_QP_MAX_QP_RD_ATOMIC)
		hw->max_rd_atomic = attr->max_rd_atomic;
	if (mask & IB_QP_MAX_DEST_RD_ATOMIC)
		hw->max_dest_rd_atomic = attr->max_dest_rd_atomic;
	return 0;
}

/* A QP going to RESET starts its rings over. */
static void phyrdma_qp_reset_rings(struct phyrdma_qp *qp)
{
	spin_lock_irq(&qp->sq_lock);
	qp->sq_prod = 0;
	spin_unlock_irq(&qp->sq_lock);
	spin_lock_irq(&qp->rq_lock);
	qp->rq_prod = 0;
	spin_unlock_irq(&qp->rq_lock);
}

int phyrdma_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		      struct ib_udata *udata)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	struct phyrdma_hw_qp_attr hwattr;
	enum ib_qp_state cur, new;
	int ret;

	ret = ib_no_udata_io(udata);
	if (ret)
		return ret;
	if (mask & ~IB_QP_ATTR_STANDARD_BITS)
		return -EOPNOTSUPP;
	if (mask & (IB_QP_ALT_PATH | IB_QP_PATH_MIG_STATE))
		return -EOPNOTSUPP;

	mutex_lock(&qp->mutex);
	cur = (mask & IB_QP_CUR_STATE) ? attr->cur_qp_state :
					 READ_ONCE(qp->hw.state);
	new = (mask & IB_QP_STATE) ? attr->qp_state : cur;
	ret = -EINVAL;
	if (!ib_modify_qp_is_ok(cur, new, ibqp->qp_type, mask) ||
	    !phyrdma_qp_attrs_ok(attr, mask))
		goto out;
	hwattr = qp->hw.attr;
	ret = phyrdma_qp_hw_attrs(attr, mask, &hwattr);
	if (ret)
		goto out;

	/* remember what query_qp reports */
	if (mask & IB_QP_AV)
		rdma_replace_ah_attr(&qp->attr.ah_attr, &attr->ah_attr);
	phyrdma_qp_keep_attrs(qp, attr, mask);
	qp->attr.qp_state = new;

	if (new == IB_QPS_RESET)
		phyrdma_qp_reset_rings(qp);
	ret = phyrdma_hw_qp_modify(&qp->hw, new, &hwattr);
	/* a process's CQs are cleaned by its provider, which polls them */
	if (!ret && new == IB_QPS_RESET && !qp->uctx) {
		phyrdma_cq_clean(to_pcq(ibqp->send_cq), ibqp->qp_num);
		if (ibqp->recv_cq != ibqp->send_cq)
			phyrdma_cq_clean(to_pcq(ibqp->recv_cq), ibqp->qp_num);
	}
out:
	mutex_unlock(&qp->mutex);
	return ret;
}

int phyrdma_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		     struct ib_qp_init_attr *init)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);

	mutex_lock(&qp->mutex);
	*attr = qp->attr;
	/* the caller gets no reference: the index says which GID */
	attr->ah_attr.grh.sgid_attr = NULL;
	attr->qp_state = READ_ONCE(qp->hw.state);
	attr->cur_qp_state = attr->qp_state;
	attr->cap = qp->cap;
	attr->sq_draining = 0;
	mutex_unlock(&qp->mutex);

	memset(init, 0, sizeof(*init));
	init->qp_type = ibqp->qp_type;
	init->send_cq = ibqp->send_cq;
	init->recv_cq = ibqp->recv_cq;
	init->cap = qp->cap;
	init->sq_sig_type = qp->sq_sig_type;
	init->srq = ibqp->srq;
	init->port_num = PHYRDMA_PORT;
	return 0;
}

/* ---- kernel consumers' posting ----------------------------------------- */

static int phyrdma_wr_opcode(enum ib_wr_opcode op)
{
	switch (op) {
	case IB_WR_SEND:
		return PHYRDMA_WR_SEND;
	case IB_WR_SEND_WITH_IMM:
		return PHYRDMA_WR_SEND_WITH_IMM;
	case IB_WR_RDMA_WRITE:
		return PHYRDMA_WR_RDMA_WRITE;
	case IB_WR_RDMA_WRITE_WITH_IMM:
		return PHYRDMA_WR_RDMA_WRITE_WITH_IMM;
	case IB_WR_RDMA_READ:
		return PHYRDMA_WR_RDMA_READ;
	case IB_WR_ATOMIC_CMP_AND_SWP:
		return PHYRDMA_WR_ATOMIC_CMP_AND_SWP;
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		return PHYRDMA_WR_ATOMIC_FETCH_AND_ADD;
	case IB_WR_SEND_WITH_INV:
		return PHYRDMA_WR_SEND_WITH_INV;
	case IB_WR_LOCAL_INV:
		return PHYRDMA_WR_LOCAL_INV;
	default:
		return -EINVAL;
	}
}

static int phyrdma_build_send_wqe(struct phyrdma_qp *qp,
				  const struct ib_send_wr *wr,
				  struct phyrdma_send_wqe *wqe)
{
	struct phyrdma_sge *sge = (struct phyrdma_sge *)(wqe + 1);
	int op = phyrdma_wr_opcode(wr->opcode);
	u32 total = 0;
	int i;

	if (op < 0)
		return op;
	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr->wr_id;
	wqe->opcode = op;
	wqe->flags = (wr->send_flags & IB_SEND_SIGNALED ? PHYRDMA_WQE_SIGNALED : 0) |
		     (wr->send_flags & IB_SEND_SOLICITED ? PHYRDMA_WQE_SOLICITED : 0) |
		     (wr->send_flags & IB_SEND_FENCE ? PHYRDMA_WQE_FENCE : 0);
	if (op == PHYRDMA_WR_SEND_WITH_IMM || op == PHYRDMA_WR_RDMA_WRITE_WITH_IMM)
		wqe->imm_data = (__force u32)wr->ex.imm_data;
	if (op == PHYRDMA_WR_SEND_WITH_INV || op == PHYRDMA_WR_LOCAL_INV)
		wqe->imm_data = wr->ex.invalidate_rkey;

	switch (op) {
	case PHYRDMA_WR_RDMA_WRITE:
	case PHYRDMA_WR_RDMA_WRITE_WITH_IMM:
	case PHYRDMA_WR_RDMA_READ:
		wqe->rdma.remote_addr = rdma_wr(wr)->remote_addr;
		wqe->rdma.rkey = rdma_wr(wr)->rkey;
		break;
	case PHYRDMA_WR_ATOMIC_CMP_AND_SWP:
	case PHYRDMA_WR_ATOMIC_FETCH_AND_ADD:
		wqe->rdma.remote_addr = atomic_wr(wr)->remote_addr;
		wqe->rdma.rkey = atomic_wr(wr)->rkey;
		wqe->rdma.compare_add = atomic_wr(wr)->compare_add;
		wqe->rdma.swap = atomic_wr(wr)->swap;
		break;
	}
	if (qp->hw.type == PHYRDMA_HW_QPT_UD || qp->hw.type == PHYRDMA_HW_QPT_GSI) {
		if (!ud_wr(wr)->ah)
			return -EINVAL;
		wqe->ud.remote_qpn = ud_wr(wr)->remote_qpn;
		wqe->ud.remote_qkey = ud_wr(wr)->remote_qkey;
		wqe->ud.av = to_pah(ud_wr(wr)->ah)->av;
	}

	if (wr->send_flags & IB_SEND_INLINE) {
		wqe->flags |= PHYRDMA_WQE_INLINE;
		for (i = 0; i < wr->num_sge; i++) {
			if (wr->sg_list[i].length > qp->hw.max_inline - total)
				return -EINVAL;
			/* kernel inline SGEs are CPU addresses */
			memcpy((u8 *)sge + total,
			       (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			total += wr->sg_list[i].length;
		}
		wqe->inline_len = total;
		return 0;
	}
	if (wr->num_sge > qp->hw.max_send_sge)
		return -EINVAL;
	wqe->num_sge = wr->num_sge;
	for (i = 0; i < wr->num_sge; i++) {
		sge[i].addr = wr->sg_list[i].addr;
		sge[i].length = wr->sg_list[i].length;
		sge[i].lkey = wr->sg_list[i].lkey;
	}
	return 0;
}

int phyrdma_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		      const struct ib_send_wr **bad_wr)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	struct phyrdma_ring_hdr *hdr = phyrdma_hw_ring_hdr(&qp->hw.sq);
	u32 entries = 1U << qp->hw.sq.log_entries;
	unsigned long flags;
	int state, ret = 0;

	/* a process posts through its own mapping of the ring */
	if (qp->uctx) {
		*bad_wr = wr;
		return -EINVAL;
	}
	spin_lock_irqsave(&qp->sq_lock, flags);
	state = READ_ONCE(qp->hw.state);
	if (state < IB_QPS_RTS && state != IB_QPS_ERR) {
		ret = -EINVAL;
		goto out;
	}
	for (; wr; wr = wr->next) {
		if (qp->sq_prod - READ_ONCE(hdr->consumer) >= entries) {
			ret = -ENOMEM;
			break;
		}
		ret = phyrdma_build_send_wqe(qp, wr,
					     phyrdma_hw_ring_entry(&qp->hw.sq, qp->sq_prod));
		if (ret)
			break;
		qp->sq_prod++;
	}
	/* the WQEs are written before the device sees them */
	smp_store_release(&hdr->producer, qp->sq_prod);
out:
	spin_unlock_irqrestore(&qp->sq_lock, flags);
	if (ret)
		*bad_wr = wr;
	phyrdma_hw_qp_doorbell(&qp->hw);
	return ret;
}

/**
 * phyrdma_ring_post_recv - write kernel receive WRs into a receive ring
 * @ring: a QP's receive queue or an SRQ
 * @prod: the poster's producer index, advanced for each WR written
 * @max_sge: SGEs a WQE may carry
 * @wr: the WRs
 * @bad_wr: the first WR not posted, on error
 *
 * Called with the poster's lock held.
 *
 * Return: 0; -ENOMEM when the ring is full; -EINVAL for too many SGEs.
 */
int phyrdma_ring_post_recv(struct phyrdma_hw_ring *ring, u32 *prod, u32 max_sge,
			   const struct ib_recv_wr *wr,
			   const struct ib_recv_wr **bad_wr)
{
	struct phyrdma_ring_hdr *hdr = phyrdma_hw_ring_hdr(ring);
	u32 entries = 1U << ring->log_entries;
	struct phyrdma_recv_wqe *rwqe;
	struct phyrdma_sge *sge;
	int i, ret = 0;

	for (; wr; wr = wr->next) {
		if (*prod - READ_ONCE(hdr->consumer) >= entries) {
			ret = -ENOMEM;
			break;
		}
		if (wr->num_sge > max_sge) {
			ret = -EINVAL;
			break;
		}
		rwqe = phyrdma_hw_ring_entry(ring, *prod);
		rwqe->wr_id = wr->wr_id;
		rwqe->num_sge = wr->num_sge;
		rwqe->reserved = 0;
		sge = (struct phyrdma_sge *)(rwqe + 1);
		for (i = 0; i < wr->num_sge; i++) {
			sge[i].addr = wr->sg_list[i].addr;
			sge[i].length = wr->sg_list[i].length;
			sge[i].lkey = wr->sg_list[i].lkey;
		}
		(*prod)++;
	}
	/* the WQEs are written before the device sees them */
	smp_store_release(&hdr->producer, *prod);
	if (ret)
		*bad_wr = wr;
	return ret;
}

int phyrdma_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		      const struct ib_recv_wr **bad_wr)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	unsigned long flags;
	int ret;

	if (qp->uctx || qp->hw.recv != &qp->hw.rq) {
		*bad_wr = wr;
		return -EINVAL;
	}
	spin_lock_irqsave(&qp->rq_lock, flags);
	if (READ_ONCE(qp->hw.state) == IB_QPS_RESET) {
		*bad_wr = wr;
		ret = -EINVAL;
	} else {
		ret = phyrdma_ring_post_recv(&qp->hw.rq.ring, &qp->rq_prod,
					     qp->hw.rq.max_sge, wr, bad_wr);
	}
	spin_unlock_irqrestore(&qp->rq_lock, flags);
	/*
	 * A QP in error flushes what was posted (ib_drain_rq() waits on it);
	 * pairs with the smp_mb() in phyrdma_hw_flush().
	 */
	smp_mb();
	if (READ_ONCE(phyrdma_hw_ring_hdr(&qp->hw.rq.ring)->flags) & PHYRDMA_RQ_FLUSH)
		phyrdma_hw_qp_doorbell(&qp->hw);
	return ret;
}

/* ---- address handles ---------------------------------------------------- */

int phyrdma_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
		      struct ib_udata *udata)
{
	struct phyrdma_ah *ah = to_pah(ibah);
	int ret;

	if (udata) {
		ret = ib_no_udata_io(udata);
		if (ret)
			return ret;
	}
	ret = phyrdma_av_from_attr(init->ah_attr, &ah->av);
	if (ret)
		return ret;
	phyrdma_count(to_pdev(ibah->device), PHYRDMA_CNT_AHS, 1);
	return 0;
}

int phyrdma_query_ah(struct ib_ah *ibah, struct rdma_ah_attr *attr)
{
	struct phyrdma_ah *ah = to_pah(ibah);

	memset(attr, 0, sizeof(*attr));
	attr->type = RDMA_AH_ATTR_TYPE_ROCE;
	rdma_ah_set_port_num(attr, PHYRDMA_PORT);
	rdma_ah_set_grh(attr, (union ib_gid *)ah->av.dgid, ah->av.flow_label,
			ah->av.sgid_index, ah->av.hop_limit, ah->av.traffic_class);
	return 0;
}

int phyrdma_destroy_ah(struct ib_ah *ibah, u32 flags)
{
	phyrdma_count(to_pdev(ibah->device), PHYRDMA_CNT_AHS, -1);
	return 0;
}

/* ---- the doorbell ------------------------------------------------------- */

static int UVERBS_HANDLER(PHYRDMA_METHOD_QP_DOORBELL)(struct uverbs_attr_bundle *attrs)
{
	struct ib_qp *ibqp = uverbs_attr_get_obj(attrs,
						 PHYRDMA_ATTR_QP_DOORBELL_HANDLE);

	if (IS_ERR(ibqp))
		return PTR_ERR(ibqp);
	phyrdma_hw_qp_doorbell_sync(&to_pqp(ibqp)->hw);
	return 0;
}

DECLARE_UVERBS_NAMED_METHOD(PHYRDMA_METHOD_QP_DOORBELL,
			    UVERBS_ATTR_IDR(PHYRDMA_ATTR_QP_DOORBELL_HANDLE,
					    UVERBS_OBJECT_QP,
					    UVERBS_ACCESS_READ, UA_MANDATORY));

ADD_UVERBS_METHODS(phyrdma_qp_methods, UVERBS_OBJECT_QP,
		   &UVERBS_METHOD(PHYRDMA_METHOD_QP_DOORBELL));

const struct uapi_definition phyrdma_uapi_defs[] = {
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_QP, &phyrdma_qp_methods),
	UAPI_DEF_CHAIN(phyrdma_ext_uapi_defs),
	{},
};
