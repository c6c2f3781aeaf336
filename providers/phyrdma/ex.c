// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libphyrdma: the extended verbs: ibv_create_cq_ex() with the
 * ibv_start_poll() family, and ibv_create_qp_ex() with the ibv_wr_*()
 * post-send API.  Both run on the same rings as the classic verbs.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "phyrdma.h"

/* ---- extended CQ -------------------------------------------------------- */

#define PHYRDMA_CQ_WC_FLAGS (IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM | \
			     IBV_WC_EX_WITH_QP_NUM | IBV_WC_EX_WITH_SRC_QP | \
			     IBV_WC_EX_WITH_SLID | IBV_WC_EX_WITH_SL | \
			     IBV_WC_EX_WITH_DLID_PATH_BITS)

static inline struct phyrdma_cq *cqex_to_pcq(struct ibv_cq_ex *cq)
{
	return container_of(cq, struct phyrdma_cq, vcq.cq_ex);
}

static void phyrdma_cqex_fill(struct phyrdma_cq *cq)
{
	cq->vcq.cq_ex.wr_id = cq->cur->wr_id;
	cq->vcq.cq_ex.status = cq->cur->status;
}

/* Take the next CQE, if the device produced one. */
static int phyrdma_cqex_take(struct phyrdma_cq *cq)
{
	struct phyrdma_ring *ring = &cq->ring;
	uint32_t prod;

	prod = atomic_load_explicit((_Atomic uint32_t *)&ring->hdr->producer,
				    memory_order_acquire);
	if (ring->index == prod)
		return ENOENT;
	cq->cur = (struct phyrdma_cqe *)((uint8_t *)ring->va + PHYRDMA_RING_HDR_SIZE +
			((size_t)(ring->index & (ring->entries - 1)) << ring->log_stride));
	ring->index++;
	phyrdma_cqex_fill(cq);
	return 0;
}

static int phyrdma_start_poll(struct ibv_cq_ex *ibcq, struct ibv_poll_cq_attr *attr)
{
	struct phyrdma_cq *cq = cqex_to_pcq(ibcq);
	int ret;

	if (attr->comp_mask)
		return EINVAL;
	pthread_spin_lock(&cq->lock);
	ret = phyrdma_cqex_take(cq);
	if (ret)
		pthread_spin_unlock(&cq->lock);
	return ret;
}

static int phyrdma_next_poll(struct ibv_cq_ex *ibcq)
{
	struct phyrdma_cq *cq = cqex_to_pcq(ibcq);

	/* hand the slots consumed so far back to the device */
	atomic_store_explicit((_Atomic uint32_t *)&cq->ring.hdr->consumer,
			      cq->ring.index, memory_order_release);
	return phyrdma_cqex_take(cq);
}

static void phyrdma_end_poll(struct ibv_cq_ex *ibcq)
{
	struct phyrdma_cq *cq = cqex_to_pcq(ibcq);

	atomic_store_explicit((_Atomic uint32_t *)&cq->ring.hdr->consumer,
			      cq->ring.index, memory_order_release);
	cq->cur = NULL;
	pthread_spin_unlock(&cq->lock);
}

static enum ibv_wc_opcode phyrdma_read_opcode(struct ibv_cq_ex *ibcq)
{
	return cqex_to_pcq(ibcq)->cur->opcode;
}

static uint32_t phyrdma_read_vendor_err(struct ibv_cq_ex *ibcq)
{
	return cqex_to_pcq(ibcq)->cur->vendor_err;
}

static uint32_t phyrdma_read_byte_len(struct ibv_cq_ex *ibcq)
{
	return cqex_to_pcq(ibcq)->cur->byte_len;
}

static __be32 phyrdma_read_imm_data(struct ibv_cq_ex *ibcq)
{
	/* also the invalidated rkey, with IBV_WC_WITH_INV */
	return cqex_to_pcq(ibcq)->cur->imm_data;
}

static uint32_t phyrdma_read_qp_num(struct ibv_cq_ex *ibcq)
{
	return cqex_to_pcq(ibcq)->cur->qp_num;
}

static uint32_t phyrdma_read_src_qp(struct ibv_cq_ex *ibcq)
{
	return cqex_to_pcq(ibcq)->cur->src_qp;
}

static unsigned int phyrdma_read_wc_flags(struct ibv_cq_ex *ibcq)
{
	struct phyrdma_cqe *cqe = cqex_to_pcq(ibcq)->cur;

	return (cqe->flags & PHYRDMA_CQE_IMM ? IBV_WC_WITH_IMM : 0) |
	       (cqe->flags & PHYRDMA_CQE_INV ? IBV_WC_WITH_INV : 0) |
	       (cqe->flags & PHYRDMA_CQE_GRH ? IBV_WC_GRH : 0);
}

static uint32_t phyrdma_read_slid(struct ibv_cq_ex *ibcq)
{
	return 0;	/* RoCE: no LIDs */
}

static uint8_t phyrdma_read_sl(struct ibv_cq_ex *ibcq)
{
	return 0;
}

static uint8_t phyrdma_read_dlid_path_bits(struct ibv_cq_ex *ibcq)
{
	return 0;
}

struct ibv_cq_ex *phyrdma_create_cq_ex(struct ibv_context *context,
				       struct ibv_cq_init_attr_ex *attr)
{
	struct uphyrdma_create_cq_ex cmd = {};
	struct uphyrdma_create_cq_ex_resp resp = {};
	struct phyrdma_cq *cq;
	struct ibv_cq_ex *ex;
	void *va;
	int ret;

	if (attr->comp_mask & ~(IBV_CQ_INIT_ATTR_MASK_FLAGS) ||
	    attr->wc_flags & ~PHYRDMA_CQ_WC_FLAGS || attr->flags) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	cq = calloc(1, sizeof(*cq));
	if (!cq) {
		errno = ENOMEM;
		return NULL;
	}
	ret = ibv_cmd_create_cq_ex(context, attr, NULL, &cq->vcq, &cmd.ibv_cmd,
				   sizeof(cmd), &resp.ibv_resp, sizeof(resp), 0);
	if (ret)
		goto err_free;
	va = mmap(NULL, resp.mmap_length, PROT_READ | PROT_WRITE, MAP_SHARED,
		  context->cmd_fd, resp.mmap_offset);
	if (va == MAP_FAILED) {
		ret = errno;
		ibv_cmd_destroy_cq(&cq->vcq.cq);
		goto err_free;
	}
	cq->ring.va = va;
	cq->ring.length = resp.mmap_length;
	cq->ring.hdr = va;
	cq->ring.entries = 1U << resp.log_entries;
	cq->ring.log_stride = __builtin_ctz(PHYRDMA_CQE_SIZE);
	cq->cqn = resp.cqn;
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);

	ex = &cq->vcq.cq_ex;
	ex->start_poll = phyrdma_start_poll;
	ex->next_poll = phyrdma_next_poll;
	ex->end_poll = phyrdma_end_poll;
	ex->read_opcode = phyrdma_read_opcode;
	ex->read_vendor_err = phyrdma_read_vendor_err;
	ex->read_wc_flags = phyrdma_read_wc_flags;
	if (attr->wc_flags & IBV_WC_EX_WITH_BYTE_LEN)
		ex->read_byte_len = phyrdma_read_byte_len;
	if (attr->wc_flags & IBV_WC_EX_WITH_IMM)
		ex->read_imm_data = phyrdma_read_imm_data;
	if (attr->wc_flags & IBV_WC_EX_WITH_QP_NUM)
		ex->read_qp_num = phyrdma_read_qp_num;
	if (attr->wc_flags & IBV_WC_EX_WITH_SRC_QP)
		ex->read_src_qp = phyrdma_read_src_qp;
	if (attr->wc_flags & IBV_WC_EX_WITH_SLID)
		ex->read_slid = phyrdma_read_slid;
	if (attr->wc_flags & IBV_WC_EX_WITH_SL)
		ex->read_sl = phyrdma_read_sl;
	if (attr->wc_flags & IBV_WC_EX_WITH_DLID_PATH_BITS)
		ex->read_dlid_path_bits = phyrdma_read_dlid_path_bits;
	return ex;

err_free:
	free(cq);
	errno = ret;
	return NULL;
}

/* ---- extended QP: the ibv_wr_*() API ----------------------------------- */

#define PHYRDMA_SEND_OPS (IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM | \
			  IBV_QP_EX_WITH_RDMA_WRITE | \
			  IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM | \
			  IBV_QP_EX_WITH_RDMA_READ | \
			  IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP | \
			  IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD | \
			  IBV_QP_EX_WITH_ATOMIC_WRITE | IBV_QP_EX_WITH_FLUSH | \
			  IBV_QP_EX_WITH_BIND_MW | IBV_QP_EX_WITH_LOCAL_INV | \
			  IBV_QP_EX_WITH_SEND_WITH_INV)

static inline struct phyrdma_qp *qpex_to_pqp(struct ibv_qp_ex *ibqp)
{
	return container_of(ibqp, struct phyrdma_qp, vqp.qp_ex);
}

static void phyrdma_wr_start(struct ibv_qp_ex *ibqp)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);

	pthread_spin_lock(&qp->sq_lock);
	qp->wr_start = qp->sq.index;
	qp->wr_err = phyrdma_qp_can_send(qp) ? 0 : EINVAL;
	qp->cur = NULL;
}

/* Begin a WQE of @opcode for the wr_id and flags the caller set. */
static struct phyrdma_send_wqe *phyrdma_wr_begin(struct phyrdma_qp *qp,
						 uint8_t opcode, bool allowed)
{
	struct ibv_qp_ex *ex = &qp->vqp.qp_ex;
	struct phyrdma_send_wqe *wqe;

	qp->cur = NULL;
	if (qp->wr_err)
		return NULL;
	if (!allowed) {
		qp->wr_err = EINVAL;
		return NULL;
	}
	wqe = phyrdma_sq_next(qp);
	if (!wqe) {
		qp->wr_err = ENOMEM;
		return NULL;
	}
	wqe->wr_id = ex->wr_id;
	wqe->opcode = opcode;
	wqe->flags = (ex->wr_flags & IBV_SEND_SIGNALED ? PHYRDMA_WQE_SIGNALED : 0) |
		     (ex->wr_flags & IBV_SEND_SOLICITED ? PHYRDMA_WQE_SOLICITED : 0) |
		     (ex->wr_flags & IBV_SEND_FENCE ? PHYRDMA_WQE_FENCE : 0);
	qp->sq.index++;
	qp->cur = wqe;
	return wqe;
}

static void phyrdma_wr_send(struct ibv_qp_ex *ibqp)
{
	phyrdma_wr_begin(qpex_to_pqp(ibqp), PHYRDMA_WR_SEND, true);
}

static void phyrdma_wr_send_imm(struct ibv_qp_ex *ibqp, __be32 imm)
{
	struct phyrdma_send_wqe *wqe =
		phyrdma_wr_begin(qpex_to_pqp(ibqp), PHYRDMA_WR_SEND_WITH_IMM, true);

	if (wqe)
		wqe->imm_data = imm;
}

static void phyrdma_wr_rdma(struct ibv_qp_ex *ibqp, uint8_t op, uint32_t rkey,
			    uint64_t raddr, __be32 imm)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);
	bool ok = qp->type == IBV_QPT_RC ||
		  (qp->type == IBV_QPT_UC && op != PHYRDMA_WR_RDMA_READ);
	struct phyrdma_send_wqe *wqe = phyrdma_wr_begin(qp, op, ok);

	if (!wqe)
		return;
	wqe->rdma.rkey = rkey;
	wqe->rdma.remote_addr = raddr;
	wqe->imm_data = imm;
}

static void phyrdma_wr_rdma_write(struct ibv_qp_ex *ibqp, uint32_t rkey,
				  uint64_t raddr)
{
	phyrdma_wr_rdma(ibqp, PHYRDMA_WR_RDMA_WRITE, rkey, raddr, 0);
}

static void phyrdma_wr_rdma_write_imm(struct ibv_qp_ex *ibqp, uint32_t rkey,
				      uint64_t raddr, __be32 imm)
{
	phyrdma_wr_rdma(ibqp, PHYRDMA_WR_RDMA_WRITE_WITH_IMM, rkey, raddr, imm);
}

static void phyrdma_wr_rdma_read(struct ibv_qp_ex *ibqp, uint32_t rkey,
				 uint64_t raddr)
{
	phyrdma_wr_rdma(ibqp, PHYRDMA_WR_RDMA_READ, rkey, raddr, 0);
}

static void phyrdma_wr_atomic(struct ibv_qp_ex *ibqp, uint8_t op, uint32_t rkey,
			      uint64_t raddr, uint64_t compare_add, uint64_t swap)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);
	struct phyrdma_send_wqe *wqe = phyrdma_wr_begin(qp, op, qp->type == IBV_QPT_RC);

	if (!wqe)
		return;
	wqe->rdma.rkey = rkey;
	wqe->rdma.remote_addr = raddr;
	wqe->rdma.compare_add = compare_add;
	wqe->rdma.swap = swap;
}

static void phyrdma_wr_atomic_cmp_swp(struct ibv_qp_ex *ibqp, uint32_t rkey,
				      uint64_t raddr, uint64_t compare,
				      uint64_t swap)
{
	phyrdma_wr_atomic(ibqp, PHYRDMA_WR_ATOMIC_CMP_AND_SWP, rkey, raddr,
			  compare, swap);
}

static void phyrdma_wr_atomic_fetch_add(struct ibv_qp_ex *ibqp, uint32_t rkey,
					uint64_t raddr, uint64_t add)
{
	phyrdma_wr_atomic(ibqp, PHYRDMA_WR_ATOMIC_FETCH_AND_ADD, rkey, raddr,
			  add, 0);
}

static void phyrdma_wr_atomic_write(struct ibv_qp_ex *ibqp, uint32_t rkey,
				    uint64_t raddr, const void *atomic_wr)
{
	uint64_t v;

	memcpy(&v, atomic_wr, sizeof(v));
	phyrdma_wr_atomic(ibqp, PHYRDMA_WR_ATOMIC_WRITE, rkey, raddr, v, 0);
}

static void phyrdma_wr_flush(struct ibv_qp_ex *ibqp, uint32_t rkey,
			     uint64_t raddr, size_t len, uint8_t type,
			     uint8_t level)
{
	phyrdma_wr_atomic(ibqp, PHYRDMA_WR_FLUSH, rkey, raddr, len,
			  (uint64_t)type << 8 | level);
}

static void phyrdma_wr_send_inv(struct ibv_qp_ex *ibqp, uint32_t rkey)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);
	struct phyrdma_send_wqe *wqe =
		phyrdma_wr_begin(qp, PHYRDMA_WR_SEND_WITH_INV, qp->type != IBV_QPT_UD);

	if (wqe)
		wqe->imm_data = rkey;
}

static void phyrdma_wr_local_inv(struct ibv_qp_ex *ibqp, uint32_t rkey)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);
	struct phyrdma_send_wqe *wqe =
		phyrdma_wr_begin(qp, PHYRDMA_WR_LOCAL_INV, qp->type != IBV_QPT_UD);

	if (wqe)
		wqe->imm_data = rkey;
}

static void phyrdma_wr_bind_mw(struct ibv_qp_ex *ibqp, struct ibv_mw *mw,
			       uint32_t rkey, const struct ibv_mw_bind_info *info)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);
	struct phyrdma_send_wqe *wqe =
		phyrdma_wr_begin(qp, PHYRDMA_WR_BIND_MW,
				 qp->type != IBV_QPT_UD && mw && mw->type == IBV_MW_TYPE_2);

	if (wqe)
		phyrdma_fill_bind(wqe, mw->rkey, rkey, info);
}

static void phyrdma_wr_set_ud_addr(struct ibv_qp_ex *ibqp, struct ibv_ah *ah,
				   uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);

	if (!qp->cur)
		return;
	if (qp->type != IBV_QPT_UD || !ah) {
		qp->wr_err = EINVAL;
		return;
	}
	qp->cur->ud.remote_qpn = remote_qpn;
	qp->cur->ud.remote_qkey = remote_qkey;
	qp->cur->ud.av = to_pah(ah)->av;
}

static void phyrdma_wr_set_sge_list(struct ibv_qp_ex *ibqp, size_t num_sge,
				    const struct ibv_sge *sg)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);
	struct phyrdma_sge *sge;
	size_t i;

	if (!qp->cur)
		return;
	if (num_sge > qp->max_send_sge) {
		qp->wr_err = EINVAL;
		return;
	}
	sge = (struct phyrdma_sge *)(qp->cur + 1);
	for (i = 0; i < num_sge; i++) {
		sge[i].addr = sg[i].addr;
		sge[i].length = sg[i].length;
		sge[i].lkey = sg[i].lkey;
	}
	qp->cur->num_sge = num_sge;
}

static void phyrdma_wr_set_sge(struct ibv_qp_ex *ibqp, uint32_t lkey,
			       uint64_t addr, uint32_t length)
{
	struct ibv_sge sge = { .addr = addr, .length = length, .lkey = lkey };

	phyrdma_wr_set_sge_list(ibqp, 1, &sge);
}

static void phyrdma_wr_set_inline_data_list(struct ibv_qp_ex *ibqp,
					    size_t num_buf,
					    const struct ibv_data_buf *buf)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);
	uint32_t total = 0;
	size_t i;

	if (!qp->cur)
		return;
	if (qp->cur->opcode == PHYRDMA_WR_RDMA_READ ||
	    qp->cur->opcode >= PHYRDMA_WR_ATOMIC_CMP_AND_SWP) {
		qp->wr_err = EINVAL;
		return;
	}
	for (i = 0; i < num_buf; i++) {
		if (buf[i].length > qp->max_inline - total) {
			qp->wr_err = EINVAL;
			return;
		}
		memcpy((uint8_t *)(qp->cur + 1) + total, buf[i].addr, buf[i].length);
		total += buf[i].length;
	}
	qp->cur->flags |= PHYRDMA_WQE_INLINE;
	qp->cur->inline_len = total;
}

static void phyrdma_wr_set_inline_data(struct ibv_qp_ex *ibqp, void *addr,
				       size_t length)
{
	struct ibv_data_buf buf = { .addr = addr, .length = length };

	phyrdma_wr_set_inline_data_list(ibqp, 1, &buf);
}

static int phyrdma_wr_complete(struct ibv_qp_ex *ibqp)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);
	int ret = qp->wr_err;

	if (ret)
		qp->sq.index = qp->wr_start;	/* nothing of the batch posted */
	else if (qp->sq.index != qp->wr_start)
		ret = phyrdma_sq_publish(qp);
	qp->cur = NULL;
	pthread_spin_unlock(&qp->sq_lock);
	return ret;
}

static void phyrdma_wr_abort(struct ibv_qp_ex *ibqp)
{
	struct phyrdma_qp *qp = qpex_to_pqp(ibqp);

	qp->sq.index = qp->wr_start;
	qp->cur = NULL;
	pthread_spin_unlock(&qp->sq_lock);
}

bool phyrdma_send_ops_supported(uint64_t flags)
{
	return !(flags & ~PHYRDMA_SEND_OPS);
}

void phyrdma_qp_set_ex(struct phyrdma_qp *qp, struct ibv_qp_init_attr_ex *attr)
{
	struct ibv_qp_ex *ex = &qp->vqp.qp_ex;

	if (!(attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS))
		return;
	qp->vqp.comp_mask |= VERBS_QP_EX;
	ex->wr_start = phyrdma_wr_start;
	ex->wr_complete = phyrdma_wr_complete;
	ex->wr_abort = phyrdma_wr_abort;
	ex->wr_send = phyrdma_wr_send;
	ex->wr_send_imm = phyrdma_wr_send_imm;
	ex->wr_rdma_write = phyrdma_wr_rdma_write;
	ex->wr_rdma_write_imm = phyrdma_wr_rdma_write_imm;
	ex->wr_rdma_read = phyrdma_wr_rdma_read;
	ex->wr_atomic_cmp_swp = phyrdma_wr_atomic_cmp_swp;
	ex->wr_atomic_fetch_add = phyrdma_wr_atomic_fetch_add;
	ex->wr_atomic_write = phyrdma_wr_atomic_write;
	ex->wr_bind_mw = phyrdma_wr_bind_mw;
	ex->wr_local_inv = phyrdma_wr_local_inv;
	ex->wr_send_inv = phyrdma_wr_send_inv;
	ex->wr_flush = phyrdma_wr_flush;
	ex->wr_set_ud_addr = phyrdma_wr_set_ud_addr;
	ex->wr_set_sge = phyrdma_wr_set_sge;
	ex->wr_set_sge_list = phyrdma_wr_set_sge_list;
	ex->wr_set_inline_data = phyrdma_wr_set_inline_data;
	ex->wr_set_inline_data_list = phyrdma_wr_set_inline_data_list;
}
