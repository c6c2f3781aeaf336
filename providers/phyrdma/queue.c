// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libphyrdma: completion queues, queue pairs and address handles.
 *
 * The fast path runs on rings the kernel mapped into the process (formats
 * in phyrdma-abi.h): posting writes WQEs and publishes the producer index,
 * polling reads CQEs and publishes the consumer index, and neither makes
 * a system call.  The send doorbell is a driver method, rung only when
 * the device reported its send queue idle.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <infiniband/cmd_ioctl.h>

#include "phyrdma.h"

/* ---- rings -------------------------------------------------------------- */

static int phyrdma_ring_map(struct phyrdma_ring *ring, int cmd_fd,
			    uint64_t offset, uint64_t length,
			    uint32_t log_entries, uint32_t log_stride)
{
	void *va;

	va = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, cmd_fd,
		  offset);
	if (va == MAP_FAILED)
		return errno;
	ring->va = va;
	ring->length = length;
	ring->hdr = va;
	ring->entries = 1U << log_entries;
	ring->log_stride = log_stride;
	ring->index = 0;
	return 0;
}

static void phyrdma_ring_unmap(struct phyrdma_ring *ring)
{
	if (ring->va)
		munmap(ring->va, ring->length);
	ring->va = NULL;
}

static inline void *phyrdma_ring_slot(struct phyrdma_ring *ring, uint32_t index)
{
	return (uint8_t *)ring->va + PHYRDMA_RING_HDR_SIZE +
	       ((size_t)(index & (ring->entries - 1)) << ring->log_stride);
}

static inline uint32_t phyrdma_load_acquire(uint32_t *p)
{
	return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_acquire);
}

static inline void phyrdma_store_release(uint32_t *p, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)p, v, memory_order_release);
}

/* ---- completion queues -------------------------------------------------- */

struct ibv_cq *phyrdma_create_cq(struct ibv_context *context, int cqe,
				 struct ibv_comp_channel *channel,
				 int comp_vector)
{
	struct uphyrdma_create_cq cmd = {};
	struct uphyrdma_create_cq_resp resp = {};
	struct phyrdma_cq *cq;
	int ret;

	cq = calloc(1, sizeof(*cq));
	if (!cq) {
		errno = ENOMEM;
		return NULL;
	}
	ret = ibv_cmd_create_cq(context, cqe, channel, comp_vector,
				&cq->vcq.cq, &cmd.ibv_cmd, sizeof(cmd),
				&resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;
	ret = phyrdma_ring_map(&cq->ring, context->cmd_fd, resp.mmap_offset,
			       resp.mmap_length, resp.log_entries,
			       __builtin_ctz(PHYRDMA_CQE_SIZE));
	if (ret)
		goto err_destroy;
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
	cq->cqn = resp.cqn;
	return &cq->vcq.cq;

err_destroy:
	ibv_cmd_destroy_cq(&cq->vcq.cq);
err_free:
	free(cq);
	errno = ret;
	return NULL;
}

int phyrdma_destroy_cq(struct ibv_cq *ibcq)
{
	struct phyrdma_cq *cq = to_pcq(ibcq);
	int ret;

	ret = ibv_cmd_destroy_cq(ibcq);
	if (ret)
		return ret;
	phyrdma_ring_unmap(&cq->ring);
	pthread_spin_destroy(&cq->lock);
	free(cq);
	return 0;
}

static void phyrdma_cqe_to_wc(const struct phyrdma_cqe *cqe, struct ibv_wc *wc)
{
	wc->wr_id = cqe->wr_id;
	wc->status = cqe->status;
	wc->opcode = cqe->opcode;
	wc->vendor_err = cqe->vendor_err;
	wc->byte_len = cqe->byte_len;
	wc->qp_num = cqe->qp_num;
	wc->src_qp = cqe->src_qp;
	wc->wc_flags = 0;
	wc->imm_data = 0;
	if (cqe->flags & PHYRDMA_CQE_IMM) {
		wc->wc_flags |= IBV_WC_WITH_IMM;
		wc->imm_data = cqe->imm_data;
	}
	if (cqe->flags & PHYRDMA_CQE_INV) {
		wc->wc_flags |= IBV_WC_WITH_INV;
		wc->invalidated_rkey = cqe->imm_data;
	}
	if (cqe->flags & PHYRDMA_CQE_GRH)
		wc->wc_flags |= IBV_WC_GRH;
	wc->pkey_index = cqe->pkey_index;
	wc->slid = 0;
	wc->sl = 0;
	wc->dlid_path_bits = 0;
}

int phyrdma_poll_cq(struct ibv_cq *ibcq, int num_entries, struct ibv_wc *wc)
{
	struct phyrdma_cq *cq = to_pcq(ibcq);
	struct phyrdma_ring *ring = &cq->ring;
	uint32_t prod;
	int n = 0;

	pthread_spin_lock(&cq->lock);
	prod = phyrdma_load_acquire(&ring->hdr->producer);
	while (n < num_entries && ring->index != prod) {
		phyrdma_cqe_to_wc(phyrdma_ring_slot(ring, ring->index), &wc[n]);
		ring->index++;
		n++;
	}
	if (n)
		phyrdma_store_release(&ring->hdr->consumer, ring->index);
	pthread_spin_unlock(&cq->lock);
	return n;
}

int phyrdma_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct phyrdma_cq *cq = to_pcq(ibcq);
	struct uphyrdma_resize_cq cmd = {};
	struct uphyrdma_resize_cq_resp resp = {};
	struct phyrdma_ring ring;
	int ret;

	/* nobody polls while the ring moves */
	pthread_spin_lock(&cq->lock);
	ret = ibv_cmd_resize_cq(ibcq, cqe, &cmd.ibv_cmd, sizeof(cmd),
				&resp.ibv_resp, sizeof(resp));
	if (ret)
		goto out;
	ret = phyrdma_ring_map(&ring, ibcq->context->cmd_fd, resp.mmap_offset,
			       resp.mmap_length, resp.log_entries,
			       __builtin_ctz(PHYRDMA_CQE_SIZE));
	if (ret)
		goto out;
	phyrdma_ring_unmap(&cq->ring);
	cq->ring = ring;
out:
	pthread_spin_unlock(&cq->lock);
	return ret;
}

int phyrdma_req_notify_cq(struct ibv_cq *ibcq, int solicited_only)
{
	return ibv_cmd_req_notify_cq(ibcq, solicited_only);
}

/* ---- queue pairs -------------------------------------------------------- */

struct ibv_qp *phyrdma_create_qp_ex(struct ibv_context *context,
				    struct ibv_qp_init_attr_ex *attr)
{
	struct uphyrdma_create_qp cmd = {};
	struct uphyrdma_create_qp_resp resp = {};
	struct phyrdma_qp *qp;
	int ret;

	/* no creation flag is supported; asking for none is fine */
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) && !attr->create_flags)
		attr->comp_mask &= ~IBV_QP_INIT_ATTR_CREATE_FLAGS;
	if (attr->comp_mask & ~(IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) ||
	    !(attr->comp_mask & IBV_QP_INIT_ATTR_PD)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	qp = calloc(1, sizeof(*qp));
	if (!qp) {
		errno = ENOMEM;
		return NULL;
	}
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) &&
	    !phyrdma_send_ops_supported(attr->send_ops_flags)) {
		ret = EOPNOTSUPP;
		goto err_free;
	}
	ret = ibv_cmd_create_qp_ex(context, &qp->vqp, attr, &cmd.ibv_cmd,
				   sizeof(cmd), &resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;
	/* after the command, which sets up the verbs_qp it is given */
	phyrdma_qp_set_ex(qp, attr);
	ret = phyrdma_ring_map(&qp->sq, context->cmd_fd,
			       resp.sq_mmap_offset, resp.sq_mmap_length,
			       resp.sq_log_entries, resp.sq_log_stride);
	if (ret)
		goto err_destroy;
	ret = phyrdma_ring_map(&qp->rq, context->cmd_fd,
			       resp.rq_mmap_offset, resp.rq_mmap_length,
			       resp.rq_log_entries, resp.rq_log_stride);
	if (ret)
		goto err_unmap;
	pthread_spin_init(&qp->sq_lock, PTHREAD_PROCESS_PRIVATE);
	pthread_spin_init(&qp->rq_lock, PTHREAD_PROCESS_PRIVATE);
	qp->type = attr->qp_type;
	qp->max_send_sge = attr->cap.max_send_sge;
	qp->max_recv_sge = attr->cap.max_recv_sge;
	qp->max_inline = resp.max_inline;
	qp->state = IBV_QPS_RESET;
	return &qp->vqp.qp;

err_unmap:
	phyrdma_ring_unmap(&qp->sq);
err_destroy:
	ibv_cmd_destroy_qp(&qp->vqp.qp);
err_free:
	free(qp);
	errno = ret;
	return NULL;
}

struct ibv_qp *phyrdma_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	struct ibv_qp_init_attr_ex ex = {
		.qp_context = attr->qp_context,
		.send_cq = attr->send_cq,
		.recv_cq = attr->recv_cq,
		.srq = attr->srq,
		.cap = attr->cap,
		.qp_type = attr->qp_type,
		.sq_sig_all = attr->sq_sig_all,
		.comp_mask = IBV_QP_INIT_ATTR_PD,
		.pd = pd,
	};
	struct ibv_qp *qp = phyrdma_create_qp_ex(pd->context, &ex);

	if (qp)
		attr->cap = ex.cap;
	return qp;
}

int phyrdma_destroy_qp(struct ibv_qp *ibqp)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	int ret;

	ret = ibv_cmd_destroy_qp(ibqp);
	if (ret)
		return ret;
	phyrdma_ring_unmap(&qp->rq);
	phyrdma_ring_unmap(&qp->sq);
	pthread_spin_destroy(&qp->sq_lock);
	pthread_spin_destroy(&qp->rq_lock);
	free(qp);
	return 0;
}

/*
 * Drop the completions of QP @qpn that are still in @cq, keeping the order
 * of the others: a QP moved to RESET leaves nothing behind (as the IBTA
 * allows, and as applications that recycle QPs expect).  Only slots the
 * device already published are touched; it may go on producing beyond.
 */
static void phyrdma_cq_clean(struct ibv_cq *ibcq, uint32_t qpn)
{
	struct phyrdma_cq *cq;
	struct phyrdma_ring *ring;
	uint32_t prod, i, nfreed = 0;
	struct phyrdma_cqe *cqe;

	if (!ibcq)
		return;
	cq = to_pcq(ibcq);
	ring = &cq->ring;
	pthread_spin_lock(&cq->lock);
	prod = phyrdma_load_acquire(&ring->hdr->producer);
	for (i = prod; i-- != ring->index;) {
		cqe = phyrdma_ring_slot(ring, i);
		if (cqe->qp_num == qpn)
			nfreed++;
		else if (nfreed)
			memcpy(phyrdma_ring_slot(ring, i + nfreed), cqe, sizeof(*cqe));
	}
	if (nfreed) {
		ring->index += nfreed;
		phyrdma_store_release(&ring->hdr->consumer, ring->index);
	}
	pthread_spin_unlock(&cq->lock);
}

int phyrdma_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		      int attr_mask)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	struct ibv_modify_qp cmd = {};
	int ret;

	ret = ibv_cmd_modify_qp(ibqp, attr, attr_mask, &cmd, sizeof(cmd));
	if (ret)
		return ret;
	if (attr_mask & IBV_QP_STATE) {
		pthread_spin_lock(&qp->sq_lock);
		pthread_spin_lock(&qp->rq_lock);
		qp->state = attr->qp_state;
		/* the device emptied both queues: start again at zero */
		if (attr->qp_state == IBV_QPS_RESET) {
			qp->sq.index = 0;
			qp->rq.index = 0;
		}
		pthread_spin_unlock(&qp->rq_lock);
		pthread_spin_unlock(&qp->sq_lock);
		if (attr->qp_state == IBV_QPS_RESET) {
			phyrdma_cq_clean(ibqp->send_cq, ibqp->qp_num);
			if (ibqp->recv_cq != ibqp->send_cq)
				phyrdma_cq_clean(ibqp->recv_cq, ibqp->qp_num);
		}
	}
	return 0;
}

int phyrdma_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		     int attr_mask, struct ibv_qp_init_attr *init_attr)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	struct ibv_query_qp cmd;
	int ret;

	ret = ibv_cmd_query_qp(ibqp, attr, attr_mask, init_attr, &cmd,
			       sizeof(cmd));
	if (!ret)
		qp->state = attr->qp_state;
	return ret;
}

static int phyrdma_doorbell(struct phyrdma_qp *qp)
{
	DECLARE_COMMAND_BUFFER(cmd, UVERBS_OBJECT_QP, PHYRDMA_METHOD_QP_DOORBELL, 1);

	fill_attr_in_obj(cmd, PHYRDMA_ATTR_QP_DOORBELL_HANDLE, qp->vqp.qp.handle);
	return execute_ioctl(qp->vqp.qp.context, cmd);
}

/*
 * Publish the send queue's producer index; ring the doorbell only if the
 * device went idle (the full fence pairs with the device's, see
 * struct phyrdma_ring_hdr).
 */
int phyrdma_sq_publish(struct phyrdma_qp *qp)
{
	phyrdma_store_release(&qp->sq.hdr->producer, qp->sq.index);
	atomic_thread_fence(memory_order_seq_cst);
	if (phyrdma_load_acquire(&qp->sq.hdr->flags) & PHYRDMA_SQ_ENGINE_IDLE)
		return phyrdma_doorbell(qp);
	return 0;
}

static int phyrdma_wr_opcode(enum ibv_qp_type type, enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_SEND:
		return PHYRDMA_WR_SEND;
	case IBV_WR_SEND_WITH_IMM:
		return PHYRDMA_WR_SEND_WITH_IMM;
	case IBV_WR_RDMA_WRITE:
		return type == IBV_QPT_UD ? -1 : PHYRDMA_WR_RDMA_WRITE;
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		return type == IBV_QPT_UD ? -1 : PHYRDMA_WR_RDMA_WRITE_WITH_IMM;
	case IBV_WR_RDMA_READ:
		return type == IBV_QPT_RC ? PHYRDMA_WR_RDMA_READ : -1;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		return type == IBV_QPT_RC ? PHYRDMA_WR_ATOMIC_CMP_AND_SWP : -1;
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		return type == IBV_QPT_RC ? PHYRDMA_WR_ATOMIC_FETCH_AND_ADD : -1;
	case IBV_WR_SEND_WITH_INV:
		return type == IBV_QPT_UD ? -1 : PHYRDMA_WR_SEND_WITH_INV;
	case IBV_WR_LOCAL_INV:
		return type == IBV_QPT_UD ? -1 : PHYRDMA_WR_LOCAL_INV;
	case IBV_WR_BIND_MW:
		return type == IBV_QPT_UD ? -1 : PHYRDMA_WR_BIND_MW;
	default:
		return -1;
	}
}

void phyrdma_fill_bind(struct phyrdma_send_wqe *wqe, uint32_t mw_key,
		       uint32_t new_rkey, const struct ibv_mw_bind_info *info)
{
	wqe->bind.mw_key = mw_key;
	wqe->bind.new_rkey = new_rkey;
	wqe->bind.mr_lkey = info->length && info->mr ? info->mr->lkey : 0;
	wqe->bind.access = info->mw_access_flags;
	wqe->bind.addr = info->addr;
	wqe->bind.length = info->length;
}

/* Room for one more WQE, and where it goes; NULL if the queue is full. */
struct phyrdma_send_wqe *phyrdma_sq_next(struct phyrdma_qp *qp)
{
	struct phyrdma_send_wqe *wqe;

	if (qp->sq.index - phyrdma_load_acquire(&qp->sq.hdr->consumer) >=
	    qp->sq.entries)
		return NULL;
	wqe = phyrdma_ring_slot(&qp->sq, qp->sq.index);
	memset(wqe, 0, sizeof(*wqe));
	return wqe;
}

bool phyrdma_qp_can_send(struct phyrdma_qp *qp)
{
	return qp->state == IBV_QPS_RTS || qp->state == IBV_QPS_SQD ||
	       qp->state == IBV_QPS_SQE || qp->state == IBV_QPS_ERR;
}

static int phyrdma_build_wqe(struct phyrdma_qp *qp, struct ibv_send_wr *wr,
			     struct phyrdma_send_wqe *wqe)
{
	struct phyrdma_sge *sge = (struct phyrdma_sge *)(wqe + 1);
	int op = phyrdma_wr_opcode(qp->type, wr->opcode);
	uint32_t total = 0;
	int i;

	if (op < 0)
		return EINVAL;
	wqe->wr_id = wr->wr_id;
	wqe->opcode = op;
	wqe->flags = (wr->send_flags & IBV_SEND_SIGNALED ? PHYRDMA_WQE_SIGNALED : 0) |
		     (wr->send_flags & IBV_SEND_SOLICITED ? PHYRDMA_WQE_SOLICITED : 0) |
		     (wr->send_flags & IBV_SEND_FENCE ? PHYRDMA_WQE_FENCE : 0);
	if (op == PHYRDMA_WR_SEND_WITH_IMM || op == PHYRDMA_WR_RDMA_WRITE_WITH_IMM)
		wqe->imm_data = wr->imm_data;
	if (op == PHYRDMA_WR_SEND_WITH_INV || op == PHYRDMA_WR_LOCAL_INV)
		wqe->imm_data = wr->invalidate_rkey;
	if (op == PHYRDMA_WR_BIND_MW) {
		if (!wr->bind_mw.mw || wr->bind_mw.mw->type != IBV_MW_TYPE_2)
			return EINVAL;
		phyrdma_fill_bind(wqe, wr->bind_mw.mw->rkey, wr->bind_mw.rkey,
				  &wr->bind_mw.bind_info);
		return 0;
	}
	if (op == PHYRDMA_WR_LOCAL_INV)
		return 0;
	switch (op) {
	case PHYRDMA_WR_RDMA_WRITE:
	case PHYRDMA_WR_RDMA_WRITE_WITH_IMM:
	case PHYRDMA_WR_RDMA_READ:
		wqe->rdma.remote_addr = wr->wr.rdma.remote_addr;
		wqe->rdma.rkey = wr->wr.rdma.rkey;
		break;
	case PHYRDMA_WR_ATOMIC_CMP_AND_SWP:
	case PHYRDMA_WR_ATOMIC_FETCH_AND_ADD:
		wqe->rdma.remote_addr = wr->wr.atomic.remote_addr;
		wqe->rdma.rkey = wr->wr.atomic.rkey;
		wqe->rdma.compare_add = wr->wr.atomic.compare_add;
		wqe->rdma.swap = wr->wr.atomic.swap;
		break;
	}
	if (qp->type == IBV_QPT_UD) {
		if (!wr->wr.ud.ah)
			return EINVAL;
		wqe->ud.remote_qpn = wr->wr.ud.remote_qpn;
		wqe->ud.remote_qkey = wr->wr.ud.remote_qkey;
		wqe->ud.av = to_pah(wr->wr.ud.ah)->av;
	}
	if (wr->send_flags & IBV_SEND_INLINE) {
		if (op == PHYRDMA_WR_RDMA_READ || op >= PHYRDMA_WR_ATOMIC_CMP_AND_SWP)
			return EINVAL;
		wqe->flags |= PHYRDMA_WQE_INLINE;
		for (i = 0; i < wr->num_sge; i++) {
			if (wr->sg_list[i].length > qp->max_inline - total)
				return EINVAL;
			memcpy((uint8_t *)sge + total,
			       (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			total += wr->sg_list[i].length;
		}
		wqe->inline_len = total;
		return 0;
	}
	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->max_send_sge)
		return EINVAL;
	wqe->num_sge = wr->num_sge;
	for (i = 0; i < wr->num_sge; i++) {
		sge[i].addr = wr->sg_list[i].addr;
		sge[i].length = wr->sg_list[i].length;
		sge[i].lkey = wr->sg_list[i].lkey;
	}
	return 0;
}

int phyrdma_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		      struct ibv_send_wr **bad_wr)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	struct phyrdma_send_wqe *wqe;
	int ret = 0, posted = 0;

	pthread_spin_lock(&qp->sq_lock);
	if (!phyrdma_qp_can_send(qp)) {
		ret = EINVAL;
		goto out;
	}
	for (; wr; wr = wr->next) {
		wqe = phyrdma_sq_next(qp);
		if (!wqe) {
			ret = ENOMEM;
			break;
		}
		ret = phyrdma_build_wqe(qp, wr, wqe);
		if (ret)
			break;
		qp->sq.index++;
		posted++;
	}
	if (posted) {
		int dret = phyrdma_sq_publish(qp);

		if (!ret)
			ret = dret;
	}
out:
	if (ret)
		*bad_wr = wr;
	pthread_spin_unlock(&qp->sq_lock);
	return ret;
}

/* Write receive WRs into a receive ring (a QP's or an SRQ's), locked. */
static int phyrdma_ring_post_recv(struct phyrdma_ring *ring, uint32_t max_sge,
				  struct ibv_recv_wr *wr,
				  struct ibv_recv_wr **bad_wr)
{
	struct phyrdma_recv_wqe *rwqe;
	struct phyrdma_sge *sge;
	int i, ret = 0;

	for (; wr; wr = wr->next) {
		if (ring->index - phyrdma_load_acquire(&ring->hdr->consumer) >=
		    ring->entries) {
			ret = ENOMEM;
			break;
		}
		if (wr->num_sge < 0 || (uint32_t)wr->num_sge > max_sge) {
			ret = EINVAL;
			break;
		}
		rwqe = phyrdma_ring_slot(ring, ring->index);
		rwqe->wr_id = wr->wr_id;
		rwqe->num_sge = wr->num_sge;
		rwqe->reserved = 0;
		sge = (struct phyrdma_sge *)(rwqe + 1);
		for (i = 0; i < wr->num_sge; i++) {
			sge[i].addr = wr->sg_list[i].addr;
			sge[i].length = wr->sg_list[i].length;
			sge[i].lkey = wr->sg_list[i].lkey;
		}
		ring->index++;
	}
	phyrdma_store_release(&ring->hdr->producer, ring->index);
	if (ret)
		*bad_wr = wr;
	return ret;
}

int phyrdma_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	int ret;

	pthread_spin_lock(&qp->rq_lock);
	if (qp->state == IBV_QPS_RESET || qp->vqp.qp.srq) {
		*bad_wr = wr;
		ret = EINVAL;
	} else {
		ret = phyrdma_ring_post_recv(&qp->rq, qp->max_recv_sge, wr, bad_wr);
	}
	pthread_spin_unlock(&qp->rq_lock);
	/*
	 * A QP in error flushes receives posted to it once the doorbell says
	 * there are some (the fence pairs with the device's, see struct
	 * phyrdma_ring_hdr).
	 */
	atomic_thread_fence(memory_order_seq_cst);
	/* the WRs are posted: a doorbell that fails finds no device to flush */
	if (phyrdma_load_acquire(&qp->rq.hdr->flags) & PHYRDMA_RQ_FLUSH)
		(void)phyrdma_doorbell(qp);
	return ret;
}

/* ---- shared receive queues ---------------------------------------------- */

struct ibv_srq *phyrdma_create_srq(struct ibv_pd *pd,
				   struct ibv_srq_init_attr *attr)
{
	struct uphyrdma_create_srq cmd = {};
	struct uphyrdma_create_srq_resp resp = {};
	struct phyrdma_srq *srq;
	int ret;

	srq = calloc(1, sizeof(*srq));
	if (!srq) {
		errno = ENOMEM;
		return NULL;
	}
	ret = ibv_cmd_create_srq(pd, &srq->vsrq.srq, attr, &cmd.ibv_cmd,
				 sizeof(cmd), &resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;
	ret = phyrdma_ring_map(&srq->ring, pd->context->cmd_fd,
			       resp.mmap_offset, resp.mmap_length,
			       resp.log_entries, resp.log_stride);
	if (ret) {
		ibv_cmd_destroy_srq(&srq->vsrq.srq);
		goto err_free;
	}
	pthread_spin_init(&srq->lock, PTHREAD_PROCESS_PRIVATE);
	srq->max_sge = attr->attr.max_sge;
	return &srq->vsrq.srq;

err_free:
	free(srq);
	errno = ret;
	return NULL;
}

int phyrdma_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr,
		       int mask)
{
	struct ibv_modify_srq cmd;

	return ibv_cmd_modify_srq(ibsrq, attr, mask, &cmd, sizeof(cmd));
}

int phyrdma_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr)
{
	struct ibv_query_srq cmd;

	return ibv_cmd_query_srq(ibsrq, attr, &cmd, sizeof(cmd));
}

int phyrdma_destroy_srq(struct ibv_srq *ibsrq)
{
	struct phyrdma_srq *srq = to_psrq(ibsrq);
	int ret;

	ret = ibv_cmd_destroy_srq(ibsrq);
	if (ret)
		return ret;
	phyrdma_ring_unmap(&srq->ring);
	pthread_spin_destroy(&srq->lock);
	free(srq);
	return 0;
}

int phyrdma_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
			  struct ibv_recv_wr **bad_wr)
{
	struct phyrdma_srq *srq = to_psrq(ibsrq);
	int ret;

	pthread_spin_lock(&srq->lock);
	ret = phyrdma_ring_post_recv(&srq->ring, srq->max_sge, wr, bad_wr);
	pthread_spin_unlock(&srq->lock);
	return ret;
}

/* ---- memory windows ------------------------------------------------------ */

struct ibv_mw *phyrdma_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type)
{
	struct ib_uverbs_alloc_mw_resp resp;
	struct ibv_alloc_mw cmd;
	struct ibv_mw *mw;
	int ret;

	mw = calloc(1, sizeof(*mw));
	if (!mw) {
		errno = ENOMEM;
		return NULL;
	}
	ret = ibv_cmd_alloc_mw(pd, type, mw, &cmd, sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(mw);
		errno = ret;
		return NULL;
	}
	return mw;
}

int phyrdma_dealloc_mw(struct ibv_mw *mw)
{
	int ret = ibv_cmd_dealloc_mw(mw);

	if (!ret)
		free(mw);
	return ret;
}

/*
 * Type 1 windows: a bind WQE with the window's next rkey; the new rkey is
 * the window's from now on, as for every provider.
 */
int phyrdma_bind_mw(struct ibv_qp *ibqp, struct ibv_mw *mw,
		    struct ibv_mw_bind *bind)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	struct phyrdma_send_wqe *wqe;
	uint32_t rkey;
	int ret;

	if (!mw || mw->type != IBV_MW_TYPE_1 || mw->pd != ibqp->pd ||
	    (bind->bind_info.length && (!bind->bind_info.mr ||
					bind->bind_info.mr->pd != ibqp->pd)))
		return EINVAL;
	pthread_spin_lock(&qp->sq_lock);
	if (!phyrdma_qp_can_send(qp)) {
		ret = EINVAL;
		goto out;
	}
	wqe = phyrdma_sq_next(qp);
	if (!wqe) {
		ret = ENOMEM;
		goto out;
	}
	rkey = ibv_inc_rkey(mw->rkey);
	wqe->wr_id = bind->wr_id;
	wqe->opcode = PHYRDMA_WR_BIND_MW;
	wqe->flags = bind->send_flags & IBV_SEND_SIGNALED ? PHYRDMA_WQE_SIGNALED : 0;
	phyrdma_fill_bind(wqe, mw->rkey, rkey, &bind->bind_info);
	qp->sq.index++;
	ret = phyrdma_sq_publish(qp);
	if (!ret)
		mw->rkey = rkey;
out:
	pthread_spin_unlock(&qp->sq_lock);
	return ret;
}

/* ---- address handles ---------------------------------------------------- */

struct ibv_ah *phyrdma_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct ib_uverbs_create_ah_resp resp = {};
	struct phyrdma_ah *ah;
	int ret;

	/* RoCE: every address carries a GRH */
	if (!attr->is_global) {
		errno = EINVAL;
		return NULL;
	}
	ah = calloc(1, sizeof(*ah));
	if (!ah) {
		errno = ENOMEM;
		return NULL;
	}
	ret = ibv_cmd_create_ah(pd, &ah->ibah, attr, &resp, sizeof(resp));
	if (ret) {
		free(ah);
		errno = ret;
		return NULL;
	}
	memcpy(ah->av.dgid, attr->grh.dgid.raw, sizeof(ah->av.dgid));
	ah->av.flow_label = attr->grh.flow_label;
	ah->av.sgid_index = attr->grh.sgid_index;
	ah->av.hop_limit = attr->grh.hop_limit;
	ah->av.traffic_class = attr->grh.traffic_class;
	return &ah->ibah;
}

int phyrdma_destroy_ah(struct ibv_ah *ibah)
{
	int ret;

	ret = ibv_cmd_destroy_ah(ibah);
	if (ret)
		return ret;
	free(to_pah(ibah));
	return 0;
}
