// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma device layer: the life of a queue pair (creation, state,
 * error, destruction).  What it does with its work requests is the
 * engine's (engine.c).
 *
 * A QP's state is under its state_lock; the engine reads it without the
 * lock (READ_ONCE) and takes the lock only to move the QP to error.  QPs
 * are held by reference while the engine uses them as responders; their
 * destruction waits for the references to go.
 */
#include <linux/log2.h>
#include <linux/slab.h>

#include "hw.h"
#include "engine.h"

void phyrdma_hw_qp_put(struct phyrdma_hw_qp *qp)
{
	if (refcount_dec_and_test(&qp->ref))
		complete(&qp->freed);
}

struct phyrdma_hw_qp *phyrdma_hw_qp_get(struct phyrdma_hw *hw, u32 qpn)
{
	struct phyrdma_hw_qp *qp;

	xa_lock(&hw->qps);
	qp = xa_load(&hw->qps, qpn);
	if (qp && !refcount_inc_not_zero(&qp->ref))
		qp = NULL;
	xa_unlock(&hw->qps);
	return qp;
}

/* ---- queue pairs -------------------------------------------------------- */

u32 phyrdma_hw_send_stride(u32 max_sge, u32 max_inline)
{
	u32 body = max(max_sge * (u32)sizeof(struct phyrdma_sge), max_inline);

	return roundup_pow_of_two(PHYRDMA_SEND_WQE_HDR + max(body, 16U));
}

u32 phyrdma_hw_recv_stride(u32 max_sge)
{
	return roundup_pow_of_two(PHYRDMA_RECV_WQE_HDR +
				  max(max_sge, 1U) * (u32)sizeof(struct phyrdma_sge));
}

/**
 * phyrdma_hw_qp_create - give a QP its rings and its number
 * @hw: the device
 * @qp: the caller's, with @type, @pdn, @kernel, @max_*, @scq, @rcq,
 *	@sig_all, @event and @priv set
 * @sq_entries: a power of two
 * @rq_entries: a power of two
 *
 * Return: 0; -ENOSPC without a free QP number; -EBUSY if the GSI QP
 * exists already; -ENOMEM.
 */
int phyrdma_hw_qp_create(struct phyrdma_hw *hw, struct phyrdma_hw_qp *qp,
			 u32 sq_entries, u32 rq_entries)
{
	u32 sq_stride = phyrdma_hw_send_stride(qp->max_send_sge, qp->max_inline);
	u32 rq_stride = phyrdma_hw_recv_stride(qp->rq.max_sge);
	u32 qpn;
	int ret;

	qp->hw = hw;
	qp->state = PHYRDMA_HW_QPS_RESET;
	spin_lock_init(&qp->state_lock);
	mutex_init(&qp->rq.mutex);
	mutex_init(&qp->exec);
	qp->rq.pdn = qp->pdn;
	qp->rq.kernel = qp->kernel;
	qp->rq.srq = NULL;
	qp->rq.cons = 0;
	if (!qp->recv)
		qp->recv = &qp->rq;
	refcount_set(&qp->ref, 1);
	init_completion(&qp->freed);
	INIT_DELAYED_WORK(&qp->work, phyrdma_hw_qp_work);
	qp->sq_cons = 0;
	qp->retries = 0;

	ret = phyrdma_hw_ring_alloc(hw, sq_entries, sq_stride, &qp->sq);
	if (ret)
		return ret;
	ret = phyrdma_hw_ring_alloc(hw, rq_entries, rq_stride, &qp->rq.ring);
	if (ret)
		goto err_sq;
	phyrdma_hw_ring_hdr(&qp->sq)->flags = PHYRDMA_SQ_ENGINE_IDLE;
	qp->wqe_buf = kzalloc(sq_stride, GFP_KERNEL_ACCOUNT);
	qp->rq.buf = kzalloc(rq_stride, GFP_KERNEL_ACCOUNT);
	ret = -ENOMEM;
	if (!qp->wqe_buf || !qp->rq.buf)
		goto err_bufs;

	if (qp->type == PHYRDMA_HW_QPT_GSI) {
		ret = xa_insert(&hw->qps, 1, qp, GFP_KERNEL);
		qpn = 1;
	} else {
		ret = xa_alloc(&hw->qps, &qpn, qp,
			       XA_LIMIT(2, hw->caps.max_qp - 1), GFP_KERNEL);
		if (ret == -EBUSY)
			ret = -ENOSPC;
	}
	if (ret)
		goto err_bufs;
	qp->qpn = qpn;
	return 0;

err_bufs:
	kfree(qp->rq.buf);
	kfree(qp->wqe_buf);
	phyrdma_hw_ring_free(hw, &qp->rq.ring);
err_sq:
	phyrdma_hw_ring_free(hw, &qp->sq);
	return ret;
}

/*
 * Tear a QP down.  It leaves the QP table first, so no sender finds it
 * again; every sender still holding it is waited for, then its worker
 * stops.
 */
void phyrdma_hw_qp_destroy(struct phyrdma_hw_qp *qp)
{
	struct phyrdma_hw *hw = qp->hw;

	xa_erase(&hw->qps, qp->qpn);
	spin_lock_bh(&qp->state_lock);
	qp->state = PHYRDMA_HW_QPS_RESET;
	spin_unlock_bh(&qp->state_lock);
	/* senders may still kick the worker (an error they found): first them */
	phyrdma_hw_qp_put(qp);
	wait_for_completion(&qp->freed);
	cancel_delayed_work_sync(&qp->work);
	/* and any doorbell still running the queue */
	mutex_lock(&qp->exec);
	mutex_unlock(&qp->exec);
	mutex_destroy(&qp->exec);
	kfree(qp->rq.buf);
	kfree(qp->wqe_buf);
	phyrdma_hw_ring_free(hw, &qp->rq.ring);
	phyrdma_hw_ring_free(hw, &qp->sq);
	mutex_destroy(&qp->rq.mutex);
}

void phyrdma_hw_qp_doorbell(struct phyrdma_hw_qp *qp)
{
	atomic64_inc(&qp->hw->stats.doorbells);
	mod_delayed_work(qp->hw->wq, &qp->work, 0);
}

/**
 * phyrdma_hw_qp_modify - program a QP context and move it to @new_state
 * @qp: the QP
 * @new_state: enum phyrdma_hw_qp_state; the verbs layer checked the move
 * @attr: the new context, or NULL to keep it
 *
 * Moving to RESET empties both queues; the owner restarts its indices at
 * zero.  Moving to ERR flushes every outstanding WQE.
 *
 * Return: 0.
 */
int phyrdma_hw_qp_modify(struct phyrdma_hw_qp *qp, int new_state,
			 const struct phyrdma_hw_qp_attr *attr)
{
	int old;

	if (new_state == PHYRDMA_HW_QPS_RESET) {
		spin_lock_bh(&qp->state_lock);
		qp->state = PHYRDMA_HW_QPS_RESET;
		spin_unlock_bh(&qp->state_lock);
		cancel_delayed_work_sync(&qp->work);
		mutex_lock(&qp->exec);
		mutex_lock(&qp->rq.mutex);
		qp->sq_cons = 0;
		qp->rq.cons = 0;
		qp->retries = 0;
		memset(qp->sq.va, 0, PHYRDMA_RING_HDR_SIZE);
		memset(qp->rq.ring.va, 0, PHYRDMA_RING_HDR_SIZE);
		phyrdma_hw_ring_hdr(&qp->sq)->flags = PHYRDMA_SQ_ENGINE_IDLE;
		mutex_unlock(&qp->rq.mutex);
		mutex_unlock(&qp->exec);
		if (attr) {
			spin_lock_bh(&qp->state_lock);
			qp->attr = *attr;
			spin_unlock_bh(&qp->state_lock);
		}
		return 0;
	}

	spin_lock_bh(&qp->state_lock);
	old = qp->state;
	if (attr)
		qp->attr = *attr;
	qp->state = new_state;
	spin_unlock_bh(&qp->state_lock);

	if (new_state == PHYRDMA_HW_QPS_ERR ||
	    (new_state == PHYRDMA_HW_QPS_RTS && old != PHYRDMA_HW_QPS_RTS))
		mod_delayed_work(qp->hw->wq, &qp->work, 0);
	return 0;
}

void phyrdma_hw_qp_error(struct phyrdma_hw_qp *qp,
			 enum phyrdma_hw_qp_event ev)
{
	bool was_err;

	spin_lock_bh(&qp->state_lock);
	was_err = qp->state == PHYRDMA_HW_QPS_ERR ||
		  qp->state == PHYRDMA_HW_QPS_RESET;
	if (!was_err)
		qp->state = PHYRDMA_HW_QPS_ERR;
	spin_unlock_bh(&qp->state_lock);
	if (was_err)
		return;
	mod_delayed_work(qp->hw->wq, &qp->work, 0);
	if (ev && qp->event)
		qp->event(qp, ev);
	/* on an SRQ, no receive WQE will be taken for this QP any more */
	if (qp->recv != &qp->rq && qp->event)
		qp->event(qp, PHYRDMA_HW_QP_EV_LAST_WQE);
}
