// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma device layer: the engine, which executes work requests.
 *
 * There are no packets.  The worker of the requesting QP executes each WQE
 * to its end, on both sides: it resolves its local SGEs through its own MR
 * table, finds the responder QP on the fabric (fabric.c), checks it as the
 * responder's hardware would (state, connection, access rights, its R_Key
 * and PD), moves the bytes, and writes the completions of both sides.
 *
 * Every byte goes through an MR table entry, its MTT and the IOMMU of the
 * device that owns the memory (phyrdma_hw_mr_locate()), so a wrong MTT
 * entry moves the wrong bytes.  Kernel QPs may use the local DMA lkey:
 * their SGE addresses are DMA addresses, translated by the IOMMU alone.
 *
 * Locking: a worker holds no lock of its own QP while it works on the
 * responder; it takes the responder's receive queue mutex (receive WQE,
 * data, receive completion: one message at a time, in order), then CQ
 * spinlocks one at a time.  No path holds two QPs' locks, so no order
 * between QPs is needed.
 * MR entries and responder QPs are held by reference while used; their
 * owners wait for the references to go before freeing them.
 */
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/jiffies.h>
#include <linux/log2.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <net/ip.h>
#include <net/ipv6.h>

#include "hw.h"
#include "engine.h"

/* How many WQEs one run of a worker executes before yielding. */
#define PHYRDMA_HW_BUDGET	64
/* ... and a doorbell, in the caller's context */
#define PHYRDMA_HW_INLINE_BUDGET	16

/* ---- scatter/gather through MRs ---------------------------------------- */

/*
 * One piece of a message: @len bytes at @addr of the MR @mr, or (with @mr
 * NULL, kernel QPs only) at DMA address @addr.
 */
struct phyrdma_hw_seg {
	struct phyrdma_hw_mr_entry *mr;
	u64 addr;
	u64 len;
};

struct phyrdma_hw_sgl {
	struct phyrdma_hw *hw;
	u32 n;
	u64 total;
	struct phyrdma_hw_seg seg[PHYRDMA_MAX_SGE];
};

struct phyrdma_hw_cursor {
	const struct phyrdma_hw_sgl *sgl;
	u32 i;
	u64 off;
	bool write;		/* the device writes through it */
	struct phyrdma_hw_mtt_cache mtt;
	/* after -EAGAIN from a piece: the page fault to resolve */
	const struct phyrdma_hw_mr_entry *fault_mr;
	u64 fault_va;
	u64 fault_len;
};

static void phyrdma_hw_sgl_release(struct phyrdma_hw_sgl *sgl)
{
	u32 i;

	for (i = 0; i < sgl->n; i++)
		if (sgl->seg[i].mr)
			phyrdma_hw_mr_put(sgl->seg[i].mr);
	sgl->n = 0;
}

/*
 * Resolve a local SGE list against @qp's PD as the device does before it
 * touches memory.  @need: access the device needs (LOCAL_WRITE to write).
 */
static int phyrdma_hw_sgl_local(struct phyrdma_hw *hw, u32 pdn, bool kernel,
				const struct phyrdma_sge *sge, u32 n, u32 need,
				struct phyrdma_hw_sgl *sgl)
{
	struct phyrdma_hw_mr_entry *mr;
	u32 i;

	sgl->hw = hw;
	sgl->n = 0;
	sgl->total = 0;
	for (i = 0; i < n; i++) {
		if (!sge[i].length)
			continue;
		mr = NULL;
		if (sge[i].lkey == PHYRDMA_HW_LOCAL_DMA_LKEY) {
			if (!kernel)
				goto prot;
		} else {
			mr = phyrdma_hw_mr_get(hw, sge[i].lkey);
			if (!mr)
				goto prot;
			/* a window is a remote key only */
			if (mr->kind != PHYRDMA_HW_KEY_MR || mr->params.pdn != pdn ||
			    phyrdma_hw_mr_check(mr, sge[i].addr, sge[i].length, need)) {
				phyrdma_hw_mr_put(mr);
				goto prot;
			}
		}
		sgl->seg[sgl->n].mr = mr;
		sgl->seg[sgl->n].addr = sge[i].addr;
		sgl->seg[sgl->n].len = sge[i].length;
		sgl->n++;
		sgl->total += sge[i].length;
	}
	return PHYRDMA_WC_SUCCESS;
prot:
	phyrdma_hw_sgl_release(sgl);
	return PHYRDMA_WC_LOC_PROT_ERR;
}

/*
 * A remote range: @rkey on the responder, which must be in its PD, for
 * the access @need, which the responder QP must allow as well.
 */
static int phyrdma_hw_sgl_remote(struct phyrdma_hw_qp *resp, u32 rkey,
				 u64 addr, u64 len, u32 need,
				 struct phyrdma_hw_sgl *sgl)
{
	struct phyrdma_hw_mr_entry *mr;

	sgl->hw = resp->hw;
	sgl->n = 0;
	sgl->total = 0;
	if (!len)
		return 0;
	if ((resp->attr.access & need) != need)
		return -EACCES;
	mr = phyrdma_hw_mr_get(resp->hw, rkey);
	if (!mr)
		return -ENOENT;
	if (mr->params.pdn != resp->pdn || phyrdma_hw_mr_check(mr, addr, len, need)) {
		phyrdma_hw_mr_put(mr);
		return -EACCES;
	}
	sgl->seg[0].mr = mr;
	sgl->seg[0].addr = addr;
	sgl->seg[0].len = len;
	sgl->n = 1;
	sgl->total = len;
	return 0;
}

/*
 * Where the cursor is in memory (RAM at *@phys, or a peer's BAR at *@io),
 * and how many bytes from there (at most @max) are contiguous in the
 * device block, the IOMMU page and the CPU page.  -EAGAIN is a page fault
 * on an on-demand MR, recorded in @c for phyrdma_hw_cursor_fault(): @span
 * bytes from the cursor are about to be moved, and the fault asks for as
 * many of them as its segment holds.
 * Called inside an access (phyrdma_hw_access_begin()).
 */
static int phyrdma_hw_cursor_piece(struct phyrdma_hw_cursor *c, u64 max,
				   u64 span, phys_addr_t *phys, void __iomem **io,
				   u64 *len)
{
	const struct phyrdma_hw_seg *seg;
	struct phyrdma_hw *hw = c->sgl->hw;
	dma_addr_t dma;
	u64 addr, n;
	int ret;

	while (c->i < c->sgl->n && c->off == c->sgl->seg[c->i].len) {
		c->i++;
		c->off = 0;
	}
	if (c->i >= c->sgl->n)
		return -EINVAL;
	seg = &c->sgl->seg[c->i];
	addr = seg->addr + c->off;
	n = seg->len - c->off;
	if (seg->mr) {
		ret = phyrdma_hw_mr_locate(hw, seg->mr, addr, c->write, &c->mtt,
					   &dma, phys, io);
		if (ret == -EAGAIN) {
			c->fault_mr = seg->mr;
			c->fault_va = addr;
			c->fault_len = min3(n, span, (u64)PHYRDMA_HW_FAULT_MAX);
		}
		if (ret)
			return ret;
		n = min(n, phyrdma_hw_mr_block_left(seg->mr, addr));
	} else {
		dma = addr;
		ret = phyrdma_hw_route(hw, dma, phys, io);
		if (ret)
			return ret;
	}
	n = min_t(u64, n, PAGE_SIZE - offset_in_page(dma));
	n = min_t(u64, n, PAGE_SIZE - offset_in_page(*phys));
	*len = min(n, max);
	return 0;
}

/* Resolve the page fault a piece met (outside any access). */
static int phyrdma_hw_cursor_fault(const struct phyrdma_hw_cursor *c)
{
	return phyrdma_hw_mr_fault(c->sgl->hw, c->fault_mr, c->fault_va,
				   c->fault_len, c->write);
}

static void phyrdma_hw_cursor_advance(struct phyrdma_hw_cursor *c, u64 n)
{
	c->off += n;
}

/*
 * Copy @len bytes from @src (an sgl, or the kernel buffer @buf) to @dst,
 * up to %PHYRDMA_HW_ACCESS_BYTES in one access: none of it sleeps, and a
 * page fault ends the access.  Return: 0, or the errno of the piece that
 * failed (phyrdma_hw_mr_locate()), with *@at_src (if not NULL) telling
 * whether it was the source's; what moved before it stays moved.
 */
static int phyrdma_hw_copy(const struct phyrdma_hw_sgl *src, const void *buf,
			   struct phyrdma_hw_cursor *dc, u64 len, bool *at_src)
{
	struct phyrdma_hw_cursor sc = { .sgl = src }, *fc;
	unsigned int faults = 0;
	void __iomem *sio = NULL, *dio;
	phys_addr_t sp = 0, dp;
	u64 sn, dn, n, moved;
	const void *s;
	void *d;
	int ret, idx;

	dc->write = true;
	while (len) {
		moved = 0;
		idx = phyrdma_hw_access_begin();
		do {
			fc = dc;
			ret = phyrdma_hw_cursor_piece(dc, len, len, &dp, &dio,
						      &dn);
			if (ret)
				break;
			n = dn;
			if (src) {
				fc = &sc;
				ret = phyrdma_hw_cursor_piece(&sc, dn, len, &sp,
							      &sio, &sn);
				if (ret)
					break;
				n = sn;
			}
			/* RAM through a temporary mapping, a BAR through its own */
			d = dio ? NULL : kmap_local_pfn(PHYS_PFN(dp)) +
					 offset_in_page(dp);
			if (src) {
				s = sio ? NULL : kmap_local_pfn(PHYS_PFN(sp)) +
						 offset_in_page(sp);
				phyrdma_hw_move(d, dio, s, sio, n);
				if (s)
					kunmap_local(s);
				phyrdma_hw_cursor_advance(&sc, n);
			} else {
				phyrdma_hw_move(d, dio, buf, NULL, n);
				buf += n;
			}
			if (d)
				kunmap_local(d);
			phyrdma_hw_cursor_advance(dc, n);
			len -= n;
			moved += n;
		} while (len && moved < PHYRDMA_HW_ACCESS_BYTES);
		phyrdma_hw_access_end(idx);
		if (moved)
			faults = 0;
		if (ret == -EAGAIN && ++faults <= PHYRDMA_HW_FAULT_RETRIES)
			ret = phyrdma_hw_cursor_fault(fc);
		if (ret) {
			if (at_src)
				*at_src = fc == &sc;
			return ret;
		}
		cond_resched();
	}
	return 0;
}

/*
 * An 8-byte atomic access at the start of @c: compare-and-swap, fetch-and-add
 * or ATOMIC WRITE as @wqe says, in one access; *@old is the value before.
 */
static int phyrdma_hw_atomic_access(struct phyrdma_hw_cursor *c,
				    const struct phyrdma_send_wqe *wqe, u64 *old)
{
	unsigned int faults = 0;
	void __iomem *io;
	phys_addr_t phys;
	int ret, idx;
	u64 n;
	void *p;

	c->write = true;
	for (;;) {
		idx = phyrdma_hw_access_begin();
		ret = phyrdma_hw_cursor_piece(c, sizeof(u64), sizeof(u64), &phys,
					      &io, &n);
		if (!ret && n != sizeof(u64))
			ret = -EFAULT;
		/*
		 * A peer's BAR completes no PCIe AtomicOps (Unsupported
		 * Request); ATOMIC WRITE is one 8-byte posted write, which it
		 * takes.
		 */
		if (!ret && io) {
			if (wqe->opcode == PHYRDMA_WR_ATOMIC_WRITE) {
				*old = 0;
				writeq(wqe->rdma.compare_add, io);
			} else {
				ret = -EOPNOTSUPP;
			}
		} else if (!ret) {
			p = kmap_local_pfn(PHYS_PFN(phys)) + offset_in_page(phys);
			if (wqe->opcode == PHYRDMA_WR_ATOMIC_CMP_AND_SWP) {
				*old = cmpxchg64((u64 *)p, wqe->rdma.compare_add,
						 wqe->rdma.swap);
			} else if (wqe->opcode == PHYRDMA_WR_ATOMIC_FETCH_AND_ADD) {
				*old = atomic64_fetch_add(wqe->rdma.compare_add,
							  (atomic64_t *)p);
			} else {
				*old = 0;
				WRITE_ONCE(*(u64 *)p, wqe->rdma.compare_add);
			}
			kunmap_local(p);
		}
		phyrdma_hw_access_end(idx);
		if (ret != -EAGAIN || ++faults > PHYRDMA_HW_FAULT_RETRIES)
			return ret;
		ret = phyrdma_hw_cursor_fault(c);
		if (ret)
			return ret;
	}
}

/* ---- execution ---------------------------------------------------------- */

/* IBTA RNR NAK timer values, in microseconds. */
static const u32 phyrdma_rnr_usec[32] = {
	655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960,
	1280, 1920, 2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720,
	40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520,
};

struct phyrdma_hw_exec {
	struct phyrdma_send_wqe *wqe;
	struct phyrdma_cqe cqe;
	unsigned long delay;	/* with -EAGAIN: retry the WQE after this */
};

/* The responder did not answer: retry after the ACK timeout, or give up. */
static int phyrdma_hw_no_response(struct phyrdma_hw_qp *qp,
				  struct phyrdma_hw_exec *x)
{
	u64 usec;

	if (qp->type != PHYRDMA_HW_QPT_RC) {
		/* unreliable: the message is lost and nobody knows */
		return PHYRDMA_WC_SUCCESS;
	}
	atomic64_inc(&qp->hw->stats.timeouts);
	if (qp->retries++ >= qp->attr.retry_cnt)
		return PHYRDMA_WC_RETRY_EXC_ERR;
	/* 4.096 us * 2^timeout; 0 means infinite, capped like the rest */
	usec = qp->attr.timeout ? (4096ULL << min_t(u32, qp->attr.timeout, 31)) / 1000 :
				  USEC_PER_SEC;
	x->delay = usecs_to_jiffies(min_t(u64, usec, USEC_PER_SEC));
	return -EAGAIN;
}

/*
 * The responder @resp had no receive WQE: an RNR NAK.  The requester waits
 * the time the NAK carries, the responder's own min_rnr_timer, and retries
 * as its rnr_retry allows.
 */
static int phyrdma_hw_rnr(struct phyrdma_hw_qp *qp, struct phyrdma_hw_qp *resp,
			  struct phyrdma_hw_exec *x)
{
	u8 timer = READ_ONCE(resp->attr.min_rnr_timer) & 31;

	if (qp->type != PHYRDMA_HW_QPT_RC)
		return PHYRDMA_WC_SUCCESS;
	atomic64_inc(&qp->hw->stats.rnr_retries);
	/* rnr_retry 7 retries for ever */
	if (qp->attr.rnr_retry != 7 && qp->retries++ >= qp->attr.rnr_retry)
		return PHYRDMA_WC_RNR_RETRY_EXC_ERR;
	x->delay = usecs_to_jiffies(phyrdma_rnr_usec[timer]);
	return -EAGAIN;
}

static bool phyrdma_hw_qp_receives(int state)
{
	return state == PHYRDMA_HW_QPS_RTR || state == PHYRDMA_HW_QPS_RTS ||
	       state == PHYRDMA_HW_QPS_SQD || state == PHYRDMA_HW_QPS_SQE;
}

/* The connected peer of an RC/UC QP, held, if it would answer. */
static struct phyrdma_hw_qp *phyrdma_hw_peer(struct phyrdma_hw_qp *qp)
{
	struct phyrdma_hw_qp *peer;

	peer = phyrdma_fabric_find_qp(qp->attr.av.dgid, qp->attr.dest_qpn);
	if (!peer)
		return NULL;
	if (peer->type != qp->type || peer->attr.dest_qpn != qp->qpn ||
	    !phyrdma_hw_qp_receives(READ_ONCE(peer->state))) {
		phyrdma_hw_qp_put(peer);
		return NULL;
	}
	return peer;
}

/* Take the next receive WQE of @rq; called with its mutex held. */
static int phyrdma_hw_rq_peek(struct phyrdma_hw *hw, struct phyrdma_hw_rq *rq,
			      struct phyrdma_recv_wqe **rwqe)
{
	u32 prod;

	if (phyrdma_hw_ring_get_producer(hw, &rq->ring, &prod))
		return -EFAULT;
	if (prod - rq->cons > (1U << rq->ring.log_entries))
		return -EFAULT;
	if (prod == rq->cons)
		return -EAGAIN;
	if (phyrdma_hw_ring_rw(hw, &rq->ring, rq->cons, rq->buf,
			       1U << rq->ring.log_stride, false))
		return -EFAULT;
	*rwqe = rq->buf;
	if ((*rwqe)->num_sge > rq->max_sge)
		return -EINVAL;
	return 0;
}

static void phyrdma_hw_rq_pop(struct phyrdma_hw *hw, struct phyrdma_hw_rq *rq)
{
	struct phyrdma_hw_srq *srq = rq->srq;
	u32 prod;

	rq->cons++;
	phyrdma_hw_ring_set_consumer(hw, &rq->ring, rq->cons);
	/* an armed SRQ reports when it runs low, once */
	if (srq && READ_ONCE(srq->limit) &&
	    !phyrdma_hw_ring_get_producer(hw, &rq->ring, &prod) &&
	    prod - rq->cons < READ_ONCE(srq->limit)) {
		WRITE_ONCE(srq->limit, 0);
		if (srq->event)
			srq->event(srq, PHYRDMA_HW_SRQ_EV_LIMIT);
	}
}

/* A responder's receive completion, from its receive WQE. */
static void phyrdma_hw_recv_cqe(struct phyrdma_hw_qp *resp,
				const struct phyrdma_recv_wqe *rwqe,
				struct phyrdma_cqe *cqe, int status)
{
	memset(cqe, 0, sizeof(*cqe));
	cqe->wr_id = rwqe->wr_id;
	cqe->status = status;
	cqe->opcode = PHYRDMA_WC_RECV;
	cqe->qp_num = resp->qpn;
}

/*
 * Complete a receive WQE; one in error moves @resp to error after its
 * completion is written, with the event @ev (0 for none).
 */
static void phyrdma_hw_push_recv(struct phyrdma_hw_qp *resp,
				 const struct phyrdma_cqe *cqe, bool solicited,
				 enum phyrdma_hw_qp_event ev)
{
	phyrdma_hw_rq_pop(resp->hw, resp->recv);
	if (phyrdma_hw_cq_push(resp->rcq, cqe, solicited))
		phyrdma_hw_qp_error(resp, PHYRDMA_HW_QP_EV_FATAL);
	else if (cqe->status)
		phyrdma_hw_qp_error(resp, ev);
}

/*
 * The 40 bytes in front of a UD message: the RoCE v2 network header, an
 * IPv4 header in the last 20 bytes for IPv4 addresses, else an IPv6 one.
 */
static u8 phyrdma_hw_build_grh(u8 *grh, const u8 *sgid, const u8 *dgid,
			       const struct phyrdma_av *av, u32 len)
{
	memset(grh, 0, 40);
	if (ipv6_addr_v4mapped((const struct in6_addr *)sgid)) {
		struct iphdr *ip = (struct iphdr *)(grh + 20);

		ip->version = 4;
		ip->ihl = 5;
		ip->tos = av->traffic_class;
		ip->tot_len = htons(min_t(u32, len + 20 + 8 + 12 + 4, 0xffff));
		ip->ttl = av->hop_limit ?: 64;
		ip->protocol = IPPROTO_UDP;
		memcpy(&ip->saddr, sgid + 12, 4);
		memcpy(&ip->daddr, dgid + 12, 4);
		ip->check = ip_fast_csum((u8 *)ip, ip->ihl);
		return PHYRDMA_CQE_NET_IPV4;
	}
	{
		struct ipv6hdr *ip6 = (struct ipv6hdr *)grh;

		*(__be32 *)ip6 = htonl(6U << 28 | (u32)av->traffic_class << 20 |
				       (av->flow_label & 0xfffff));
		ip6->payload_len = htons(min_t(u32, len + 8 + 12 + 4, 0xffff));
		ip6->nexthdr = IPPROTO_UDP;
		ip6->hop_limit = av->hop_limit ?: 64;
		memcpy(&ip6->saddr, sgid, 16);
		memcpy(&ip6->daddr, dgid, 16);
	}
	return PHYRDMA_CQE_NET_IPV6;
}

/*
 * Did a copy of a SEND or a WRITE with immediate (@ret, @at_src from
 * phyrdma_hw_copy()) fail because the requester's own MR, the source, was
 * revoked under it?  Then the message ends at the requester, as one whose
 * requester stops in the middle: a local protection error for it, and the
 * responder's receive stays posted for the next message (the bytes already
 * placed in its buffer mean nothing, as a partial message's do).
 */
static bool phyrdma_hw_requester_revoked(int ret, bool at_src)
{
	return ret == -EKEYREVOKED && at_src;
}

/*
 * Deliver a UD message from @qp to @resp (held), as the responder's
 * hardware would: a datagram it cannot take (wrong type or Q_Key, not
 * receiving, no receive WQE) is dropped and counted, never an error of the
 * sender (but a message whose source the sender lost under it, which ends
 * at the sender).
 */
static int phyrdma_hw_ud_deliver(struct phyrdma_hw_qp *qp,
				 const struct phyrdma_send_wqe *wqe,
				 struct phyrdma_hw_qp *resp, u32 qkey,
				 const u8 *sgid, const struct phyrdma_hw_sgl *src,
				 const void *ibuf, u64 len)
{
	struct phyrdma_recv_wqe *rwqe;
	struct phyrdma_hw_cursor dc;
	struct phyrdma_hw_sgl dst;
	struct phyrdma_cqe rcqe;
	bool at_src = false;
	u8 grh[40];
	int ret, st;

	if (resp->type != qp->type || resp->attr.qkey != qkey ||
	    !phyrdma_hw_qp_receives(READ_ONCE(resp->state)))
		goto dropped;

	mutex_lock(&resp->recv->mutex);
	ret = phyrdma_hw_rq_peek(resp->hw, resp->recv, &rwqe);
	if (ret) {
		mutex_unlock(&resp->recv->mutex);
		if (ret != -EAGAIN)
			phyrdma_hw_qp_error(resp, PHYRDMA_HW_QP_EV_FATAL);
		goto dropped;
	}
	phyrdma_hw_recv_cqe(resp, rwqe, &rcqe, PHYRDMA_WC_SUCCESS);
	st = phyrdma_hw_sgl_local(resp->hw, resp->recv->pdn, resp->recv->kernel,
				  (struct phyrdma_sge *)(rwqe + 1),
				  rwqe->num_sge, PHYRDMA_HW_ACCESS_LOCAL_WRITE, &dst);
	if (st) {
		rcqe.status = st;
	} else if (dst.total < len + sizeof(grh)) {
		rcqe.status = PHYRDMA_WC_LOC_LEN_ERR;
	} else {
		rcqe.network_hdr = phyrdma_hw_build_grh(grh, sgid, wqe->ud.av.dgid,
							&wqe->ud.av, len);
		dc.sgl = &dst;
		dc.i = 0;
		dc.off = 0;
		ret = phyrdma_hw_copy(NULL, grh, &dc, sizeof(grh), NULL);
		if (!ret)
			ret = phyrdma_hw_copy(src, ibuf, &dc, len, &at_src);
		if (phyrdma_hw_requester_revoked(ret, at_src)) {
			/* never sent: the receive stays posted */
			phyrdma_hw_sgl_release(&dst);
			mutex_unlock(&resp->recv->mutex);
			return PHYRDMA_WC_LOC_PROT_ERR;
		}
		if (ret)
			rcqe.status = PHYRDMA_WC_LOC_PROT_ERR;
		rcqe.byte_len = len + sizeof(grh);
		rcqe.flags = PHYRDMA_CQE_GRH;
		rcqe.src_qp = qp->qpn;
		memcpy(rcqe.smac, qp->hw->mac, 6);
		if (wqe->opcode == PHYRDMA_WR_SEND_WITH_IMM) {
			rcqe.flags |= PHYRDMA_CQE_IMM;
			rcqe.imm_data = wqe->imm_data;
		}
	}
	phyrdma_hw_sgl_release(&dst);
	phyrdma_hw_push_recv(resp, &rcqe, wqe->flags & PHYRDMA_WQE_SOLICITED, 0);
	mutex_unlock(&resp->recv->mutex);
	return PHYRDMA_WC_SUCCESS;

dropped:
	atomic64_inc(&qp->hw->stats.ud_dropped);
	return PHYRDMA_WC_SUCCESS;
}

static int phyrdma_hw_exec_ud(struct phyrdma_hw_qp *qp,
			      struct phyrdma_hw_exec *x,
			      const struct phyrdma_hw_sgl *src, const void *ibuf,
			      u64 len)
{
	const struct phyrdma_send_wqe *wqe = x->wqe;
	const u8 *dgid = wqe->ud.av.dgid;
	struct phyrdma_hw_qp *resp;
	u8 sgid[16];
	u64 pos = 0;
	u32 qkey;
	int st;

	if (len > PHYRDMA_HW_UD_MTU)
		return PHYRDMA_WC_LOC_LEN_ERR;
	if (!phyrdma_hw_get_gid(qp->hw, wqe->ud.av.sgid_index, sgid))
		return PHYRDMA_WC_LOC_QP_OP_ERR;
	/* a qkey with its top bit set means the QP's own */
	qkey = wqe->ud.remote_qkey & 0x80000000 ? qp->attr.qkey : wqe->ud.remote_qkey;

	if (wqe->ud.remote_qpn == PHYRDMA_HW_MCAST_QPN) {
		if (!phyrdma_hw_gid_is_multicast(dgid))
			goto dropped;
		/* one copy for each member: the sender sees one completion */
		while ((resp = phyrdma_fabric_next_member(dgid, &pos))) {
			st = phyrdma_hw_ud_deliver(qp, wqe, resp, qkey, sgid,
						   src, ibuf, len);
			phyrdma_hw_qp_put(resp);
			/* the members after the revoke get nothing */
			if (st)
				return st;
		}
		return PHYRDMA_WC_SUCCESS;
	}

	resp = phyrdma_fabric_find_qp(dgid, wqe->ud.remote_qpn);
	if (!resp)
		goto dropped;
	st = phyrdma_hw_ud_deliver(qp, wqe, resp, qkey, sgid, src, ibuf, len);
	phyrdma_hw_qp_put(resp);
	return st;

dropped:
	atomic64_inc(&qp->hw->stats.ud_dropped);
	return PHYRDMA_WC_SUCCESS;
}

/* Which end of a copy is the memory an rkey names at the responder. */
enum phyrdma_hw_rkey_end {
	PHYRDMA_HW_RKEY_NONE,	/* SEND: the responder's receive buffers */
	PHYRDMA_HW_RKEY_SRC,	/* RDMA READ */
	PHYRDMA_HW_RKEY_DST,	/* RDMA WRITE */
};

/*
 * The requester's completion status of a copy that failed (@ret from
 * phyrdma_hw_copy(), @at_src which end).  An MR revoked under the copy
 * meets the message as its next packet would meet an invalid key: on the
 * requester's own side a local protection error, on the rkey's side a
 * remote access error, at a receive buffer a remote operational error.
 * Any other failure (a fault in the memory behind a valid key) is the
 * requester's for a READ, whose own memory takes the data, and the
 * responder's otherwise.
 */
static int phyrdma_hw_copy_status(int ret, bool at_src,
				  enum phyrdma_hw_rkey_end rkey)
{
	bool requester = at_src != (rkey == PHYRDMA_HW_RKEY_SRC);

	if (!ret)
		return PHYRDMA_WC_SUCCESS;
	if (ret == -EKEYREVOKED) {
		if (requester)
			return PHYRDMA_WC_LOC_PROT_ERR;
		return rkey == PHYRDMA_HW_RKEY_NONE ? PHYRDMA_WC_REM_OP_ERR :
						      PHYRDMA_WC_REM_ACCESS_ERR;
	}
	return rkey == PHYRDMA_HW_RKEY_SRC ? PHYRDMA_WC_LOC_PROT_ERR :
					     PHYRDMA_WC_REM_OP_ERR;
}

/*
 * RDMA WRITE with immediate: the data goes to the rkey @wdst, the receive
 * only completes.  Returns the requester's status; *@drop says the message
 * is dropped and the receive stays posted.
 */
static int phyrdma_hw_recv_write_imm(struct phyrdma_hw_qp *qp,
				     const struct phyrdma_hw_sgl *src,
				     const void *ibuf, u64 len,
				     const struct phyrdma_hw_sgl *wdst,
				     struct phyrdma_cqe *rcqe,
				     enum phyrdma_hw_qp_event *ev, bool *drop)
{
	struct phyrdma_hw_cursor dc = { .sgl = wdst };
	bool at_src = false;
	int ret, st;

	ret = phyrdma_hw_copy(src, ibuf, &dc, len, &at_src);
	rcqe->opcode = PHYRDMA_WC_RECV_RDMA_WITH_IMM;
	*drop = phyrdma_hw_requester_revoked(ret, at_src);
	if (*drop)
		return PHYRDMA_WC_LOC_PROT_ERR;
	if (!ret)
		return PHYRDMA_WC_SUCCESS;
	st = phyrdma_hw_copy_status(ret, at_src, PHYRDMA_HW_RKEY_DST);
	/*
	 * The rkey revoked halfway.  A UC responder drops the message, as it
	 * does one whose rkey fails at the first packet: the receive stays
	 * posted for the next.  An RC responder completes the receive in
	 * error and raises an access violation, as a plain WRITE does.
	 */
	if (st == PHYRDMA_WC_REM_ACCESS_ERR && qp->type != PHYRDMA_HW_QPT_RC) {
		*drop = true;
		return PHYRDMA_WC_SUCCESS;
	}
	rcqe->status = PHYRDMA_WC_LOC_PROT_ERR;
	if (st == PHYRDMA_WC_REM_ACCESS_ERR)
		*ev = PHYRDMA_HW_QP_EV_ACCESS_ERR;
	return st;
}

/*
 * SEND: the data goes to the receive @rwqe's scatter list.  Returns the
 * requester's status; *@drop as above.
 */
static int phyrdma_hw_recv_send(struct phyrdma_hw_qp *resp,
				struct phyrdma_recv_wqe *rwqe,
				const struct phyrdma_hw_sgl *src,
				const void *ibuf, u64 len,
				struct phyrdma_cqe *rcqe, bool *drop)
{
	struct phyrdma_hw_cursor dc = {};
	struct phyrdma_hw_sgl dst;
	int ret, st = PHYRDMA_WC_SUCCESS;
	bool at_src = false;

	ret = phyrdma_hw_sgl_local(resp->hw, resp->recv->pdn,
				   resp->recv->kernel,
				   (struct phyrdma_sge *)(rwqe + 1),
				   rwqe->num_sge, PHYRDMA_HW_ACCESS_LOCAL_WRITE,
				   &dst);
	if (ret) {
		rcqe->status = ret;
		st = PHYRDMA_WC_REM_OP_ERR;
	} else if (dst.total < len) {
		rcqe->status = PHYRDMA_WC_LOC_LEN_ERR;
		st = PHYRDMA_WC_REM_INV_REQ_ERR;
	} else {
		dc.sgl = &dst;
		ret = phyrdma_hw_copy(src, ibuf, &dc, len, &at_src);
		*drop = phyrdma_hw_requester_revoked(ret, at_src);
		if (*drop) {
			st = PHYRDMA_WC_LOC_PROT_ERR;
		} else if (ret) {
			rcqe->status = PHYRDMA_WC_LOC_PROT_ERR;
			st = phyrdma_hw_copy_status(ret, at_src,
						    PHYRDMA_HW_RKEY_NONE);
		}
	}
	phyrdma_hw_sgl_release(&dst);
	return st;
}

/* SEND, SEND_WITH_IMM and RDMA_WRITE_WITH_IMM consume a receive WQE. */
static int phyrdma_hw_exec_recv_side(struct phyrdma_hw_qp *qp,
				     struct phyrdma_hw_qp *resp,
				     struct phyrdma_hw_exec *x,
				     const struct phyrdma_hw_sgl *src,
				     const void *ibuf, u64 len,
				     const struct phyrdma_hw_sgl *wdst)
{
	const struct phyrdma_send_wqe *wqe = x->wqe;
	bool with_imm = wqe->opcode == PHYRDMA_WR_SEND_WITH_IMM ||
			wqe->opcode == PHYRDMA_WR_RDMA_WRITE_WITH_IMM;
	struct phyrdma_recv_wqe *rwqe;
	enum phyrdma_hw_qp_event ev = 0;
	struct phyrdma_cqe rcqe;
	bool drop = false;
	int ret, st;

	mutex_lock(&resp->recv->mutex);
	ret = phyrdma_hw_rq_peek(resp->hw, resp->recv, &rwqe);
	if (ret) {
		mutex_unlock(&resp->recv->mutex);
		if (ret == -EAGAIN)
			return phyrdma_hw_rnr(qp, resp, x);
		phyrdma_hw_qp_error(resp, PHYRDMA_HW_QP_EV_FATAL);
		return qp->type == PHYRDMA_HW_QPT_RC ? PHYRDMA_WC_REM_OP_ERR :
						       PHYRDMA_WC_SUCCESS;
	}
	phyrdma_hw_recv_cqe(resp, rwqe, &rcqe, PHYRDMA_WC_SUCCESS);
	if (wdst)
		st = phyrdma_hw_recv_write_imm(qp, src, ibuf, len, wdst, &rcqe,
					       &ev, &drop);
	else
		st = phyrdma_hw_recv_send(resp, rwqe, src, ibuf, len, &rcqe,
					  &drop);
	if (drop) {
		mutex_unlock(&resp->recv->mutex);
		return st;
	}
	rcqe.byte_len = len;
	rcqe.src_qp = qp->qpn;
	if (with_imm) {
		rcqe.flags |= PHYRDMA_CQE_IMM;
		rcqe.imm_data = wqe->imm_data;
	}
	if (wqe->opcode == PHYRDMA_WR_SEND_WITH_INV && !rcqe.status) {
		/* the responder invalidates a type 2 window of its own PD */
		if (phyrdma_hw_mw_invalidate(resp->hw, resp->pdn, wqe->imm_data)) {
			rcqe.status = PHYRDMA_WC_REM_INV_REQ_ERR;
			st = PHYRDMA_WC_REM_OP_ERR;
		} else {
			rcqe.flags |= PHYRDMA_CQE_INV;
			rcqe.imm_data = wqe->imm_data;
		}
	}
	if (rcqe.status)
		rcqe.byte_len = 0;
	phyrdma_hw_push_recv(resp, &rcqe, wqe->flags & PHYRDMA_WQE_SOLICITED, ev);
	mutex_unlock(&resp->recv->mutex);
	/* an unreliable requester learns nothing of the responder's trouble */
	return qp->type == PHYRDMA_HW_QPT_RC ? st : PHYRDMA_WC_SUCCESS;
}

/* A remote access violation: the RC responder goes to error. */
static int phyrdma_hw_remote_access(struct phyrdma_hw_qp *qp,
				    struct phyrdma_hw_qp *resp)
{
	if (qp->type != PHYRDMA_HW_QPT_RC)
		return PHYRDMA_WC_SUCCESS;
	phyrdma_hw_qp_error(resp, PHYRDMA_HW_QP_EV_ACCESS_ERR);
	return PHYRDMA_WC_REM_ACCESS_ERR;
}

static int phyrdma_hw_exec_atomic(struct phyrdma_hw_qp *qp,
				  struct phyrdma_hw_qp *resp,
				  struct phyrdma_hw_exec *x,
				  struct phyrdma_hw_sgl *local)
{
	const struct phyrdma_send_wqe *wqe = x->wqe;
	struct phyrdma_hw_cursor rc, lc = { .sgl = local };
	struct phyrdma_hw_sgl rem;
	u64 old;
	int ret;

	if (local->total != sizeof(u64))
		return PHYRDMA_WC_LOC_LEN_ERR;
	if (wqe->rdma.remote_addr & 7) {
		phyrdma_hw_qp_error(resp, PHYRDMA_HW_QP_EV_REQ_ERR);
		return PHYRDMA_WC_REM_INV_REQ_ERR;
	}
	if (phyrdma_hw_sgl_remote(resp, wqe->rdma.rkey, wqe->rdma.remote_addr,
				  sizeof(u64), PHYRDMA_HW_ACCESS_REMOTE_ATOMIC, &rem))
		return phyrdma_hw_remote_access(qp, resp);
	rc = (struct phyrdma_hw_cursor){ .sgl = &rem };
	ret = phyrdma_hw_atomic_access(&rc, wqe, &old);
	phyrdma_hw_sgl_release(&rem);
	/* revoked since the lookup: the key is gone */
	if (ret == -EKEYREVOKED)
		return phyrdma_hw_remote_access(qp, resp);
	if (ret) {
		phyrdma_hw_qp_error(resp, PHYRDMA_HW_QP_EV_FATAL);
		return PHYRDMA_WC_REM_OP_ERR;
	}
	return phyrdma_hw_copy(NULL, &old, &lc, sizeof(old), NULL) ?
	       PHYRDMA_WC_LOC_PROT_ERR : PHYRDMA_WC_SUCCESS;
}

/*
 * ATOMIC WRITE stores 8 bytes at once; FLUSH makes a range (or the whole
 * MR) visible at the placement type asked for.  The device's memory is
 * coherent RAM: a FLUSH has nothing to write back once the writes before
 * it are done, which they are (one worker per QP, in order).
 */
static int phyrdma_hw_exec_placement(struct phyrdma_hw_qp *qp,
				     struct phyrdma_hw_qp *resp,
				     struct phyrdma_hw_exec *x)
{
	const struct phyrdma_send_wqe *wqe = x->wqe;
	struct phyrdma_hw_cursor rc;
	struct phyrdma_hw_sgl rem;
	u32 type = (wqe->rdma.swap >> 8) & 3, need = 0;
	u64 addr = wqe->rdma.remote_addr, len, old;
	struct phyrdma_hw_mr_entry *mr;
	int ret;

	if (wqe->opcode == PHYRDMA_WR_ATOMIC_WRITE) {
		if (addr & 7) {
			phyrdma_hw_qp_error(resp, PHYRDMA_HW_QP_EV_REQ_ERR);
			return PHYRDMA_WC_REM_INV_REQ_ERR;
		}
		if (phyrdma_hw_sgl_remote(resp, wqe->rdma.rkey, addr, sizeof(u64),
					  PHYRDMA_HW_ACCESS_REMOTE_WRITE, &rem))
			return phyrdma_hw_remote_access(qp, resp);
		rc = (struct phyrdma_hw_cursor){ .sgl = &rem };
		ret = phyrdma_hw_atomic_access(&rc, wqe, &old);
		phyrdma_hw_sgl_release(&rem);
		if (ret == -EKEYREVOKED)
			return phyrdma_hw_remote_access(qp, resp);
		return ret ? PHYRDMA_WC_REM_OP_ERR : PHYRDMA_WC_SUCCESS;
	}

	if (!type || (type & ~(PHYRDMA_FLUSH_GLOBAL | PHYRDMA_FLUSH_PERSISTENT)))
		return PHYRDMA_WC_LOC_QP_OP_ERR;
	if (type & PHYRDMA_FLUSH_GLOBAL)
		need |= PHYRDMA_HW_ACCESS_FLUSH_GLOBAL;
	if (type & PHYRDMA_FLUSH_PERSISTENT)
		need |= PHYRDMA_HW_ACCESS_FLUSH_PERSISTENT;
	if ((resp->attr.access & need) != need)
		return phyrdma_hw_remote_access(qp, resp);
	mr = phyrdma_hw_mr_get(resp->hw, wqe->rdma.rkey);
	if (!mr)
		return phyrdma_hw_remote_access(qp, resp);
	if ((wqe->rdma.swap & 0xff) == PHYRDMA_FLUSH_LEVEL_MR) {
		addr = mr->params.iova;
		len = mr->params.length;
	} else {
		len = wqe->rdma.compare_add;
	}
	ret = mr->params.pdn != resp->pdn || phyrdma_hw_mr_check(mr, addr, len, need);
	phyrdma_hw_mr_put(mr);
	if (ret)
		return phyrdma_hw_remote_access(qp, resp);
	/*
	 * The writes before the FLUSH (this worker's, in order) are visible
	 * before its completion is: nothing is left to write back in RAM.
	 */
	smp_mb();
	return PHYRDMA_WC_SUCCESS;
}

static bool phyrdma_hw_opcode_ok(u8 type, u8 opcode)
{
	switch (opcode) {
	case PHYRDMA_WR_SEND:
	case PHYRDMA_WR_SEND_WITH_IMM:
		return true;
	case PHYRDMA_WR_SEND_WITH_INV:
	case PHYRDMA_WR_BIND_MW:
	case PHYRDMA_WR_LOCAL_INV:
		return type == PHYRDMA_HW_QPT_RC || type == PHYRDMA_HW_QPT_UC;
	case PHYRDMA_WR_RDMA_WRITE:
	case PHYRDMA_WR_RDMA_WRITE_WITH_IMM:
		return type == PHYRDMA_HW_QPT_RC || type == PHYRDMA_HW_QPT_UC;
	case PHYRDMA_WR_RDMA_READ:
	case PHYRDMA_WR_ATOMIC_CMP_AND_SWP:
	case PHYRDMA_WR_ATOMIC_FETCH_AND_ADD:
	case PHYRDMA_WR_ATOMIC_WRITE:
	case PHYRDMA_WR_FLUSH:
		return type == PHYRDMA_HW_QPT_RC;
	}
	return false;
}

static const u8 phyrdma_wc_opcode_of[PHYRDMA_WR_MAX] = {
	[PHYRDMA_WR_SEND] = PHYRDMA_WC_SEND,
	[PHYRDMA_WR_SEND_WITH_IMM] = PHYRDMA_WC_SEND,
	[PHYRDMA_WR_SEND_WITH_INV] = PHYRDMA_WC_SEND,
	[PHYRDMA_WR_RDMA_WRITE] = PHYRDMA_WC_RDMA_WRITE,
	[PHYRDMA_WR_RDMA_WRITE_WITH_IMM] = PHYRDMA_WC_RDMA_WRITE,
	[PHYRDMA_WR_RDMA_READ] = PHYRDMA_WC_RDMA_READ,
	[PHYRDMA_WR_ATOMIC_CMP_AND_SWP] = PHYRDMA_WC_COMP_SWAP,
	[PHYRDMA_WR_ATOMIC_FETCH_AND_ADD] = PHYRDMA_WC_FETCH_ADD,
	[PHYRDMA_WR_ATOMIC_WRITE] = PHYRDMA_WC_ATOMIC_WRITE,
	[PHYRDMA_WR_FLUSH] = PHYRDMA_WC_FLUSH,
	[PHYRDMA_WR_BIND_MW] = PHYRDMA_WC_BIND_MW,
	[PHYRDMA_WR_LOCAL_INV] = PHYRDMA_WC_LOCAL_INV,
};

/*
 * Gather the requester's side of a message: the data inline in the WQE
 * (*@ibuf), or the memory its SGEs name, looked up and held in @local,
 * which the caller releases.  Returns PHYRDMA_WC_SUCCESS with *@len set,
 * or the completion status of a bad WQE (nothing held then).
 */
static int phyrdma_hw_exec_gather(struct phyrdma_hw_qp *qp,
				  const struct phyrdma_send_wqe *wqe,
				  struct phyrdma_hw_sgl *local,
				  const void **ibuf, u64 *len)
{
	const struct phyrdma_sge *sge = (const struct phyrdma_sge *)(wqe + 1);
	u32 cap = (1U << qp->sq.log_stride) - PHYRDMA_SEND_WQE_HDR;
	u32 need = 0;
	int st;

	if (wqe->flags & PHYRDMA_WQE_INLINE) {
		if (wqe->inline_len > min(cap, qp->max_inline) ||
		    wqe->opcode == PHYRDMA_WR_RDMA_READ ||
		    wqe->opcode >= PHYRDMA_WR_ATOMIC_CMP_AND_SWP)
			return PHYRDMA_WC_LOC_QP_OP_ERR;
		*ibuf = sge;
		*len = wqe->inline_len;
		local->n = 0;
		local->total = *len;
		return PHYRDMA_WC_SUCCESS;
	}
	if (wqe->num_sge > qp->max_send_sge ||
	    wqe->num_sge * sizeof(*sge) > cap)
		return PHYRDMA_WC_LOC_QP_OP_ERR;
	/* the requester's memory takes the data of a READ or an atomic */
	if (wqe->opcode == PHYRDMA_WR_RDMA_READ ||
	    wqe->opcode == PHYRDMA_WR_ATOMIC_CMP_AND_SWP ||
	    wqe->opcode == PHYRDMA_WR_ATOMIC_FETCH_AND_ADD)
		need = PHYRDMA_HW_ACCESS_LOCAL_WRITE;
	st = phyrdma_hw_sgl_local(qp->hw, qp->pdn, qp->kernel, sge,
				  wqe->num_sge, need, local);
	if (st)
		return st;
	*ibuf = NULL;
	*len = local->total;
	return PHYRDMA_WC_SUCCESS;
}

/* RDMA WRITE, with or without immediate: into the memory @rkey names. */
static int phyrdma_hw_exec_write(struct phyrdma_hw_qp *qp,
				 struct phyrdma_hw_qp *resp,
				 struct phyrdma_hw_exec *x,
				 const struct phyrdma_hw_sgl *src,
				 const void *ibuf, u64 len)
{
	const struct phyrdma_send_wqe *wqe = x->wqe;
	struct phyrdma_hw_cursor dc = {};
	struct phyrdma_hw_sgl rem;
	bool at_src = false;
	int st, ret;

	if (phyrdma_hw_sgl_remote(resp, wqe->rdma.rkey, wqe->rdma.remote_addr,
				  len, PHYRDMA_HW_ACCESS_REMOTE_WRITE, &rem))
		return phyrdma_hw_remote_access(qp, resp);
	if (wqe->opcode == PHYRDMA_WR_RDMA_WRITE_WITH_IMM) {
		st = phyrdma_hw_exec_recv_side(qp, resp, x, src, ibuf, len, &rem);
	} else {
		dc.sgl = &rem;
		ret = phyrdma_hw_copy(src, ibuf, &dc, len, &at_src);
		st = phyrdma_hw_copy_status(ret, at_src, PHYRDMA_HW_RKEY_DST);
		if (st == PHYRDMA_WC_REM_ACCESS_ERR)
			st = phyrdma_hw_remote_access(qp, resp);
	}
	phyrdma_hw_sgl_release(&rem);
	return st;
}

/* RDMA READ: from the memory the rkey names into the requester's @local. */
static int phyrdma_hw_exec_read(struct phyrdma_hw_qp *qp,
				struct phyrdma_hw_qp *resp,
				const struct phyrdma_send_wqe *wqe,
				struct phyrdma_hw_sgl *local, u64 len)
{
	struct phyrdma_hw_cursor dc = { .sgl = local };
	struct phyrdma_hw_sgl rem;
	bool at_src = false;
	int st, ret;

	if (phyrdma_hw_sgl_remote(resp, wqe->rdma.rkey, wqe->rdma.remote_addr,
				  len, PHYRDMA_HW_ACCESS_REMOTE_READ, &rem))
		return phyrdma_hw_remote_access(qp, resp);
	ret = phyrdma_hw_copy(&rem, NULL, &dc, len, &at_src);
	st = phyrdma_hw_copy_status(ret, at_src, PHYRDMA_HW_RKEY_SRC);
	if (st == PHYRDMA_WC_REM_ACCESS_ERR)
		st = phyrdma_hw_remote_access(qp, resp);
	phyrdma_hw_sgl_release(&rem);
	return st;
}

/*
 * A connected QP's message with a local side (SEND, RDMA WRITE and READ,
 * compare-and-swap and fetch-and-add), at the QP it is connected to.
 */
static int phyrdma_hw_exec_connected(struct phyrdma_hw_qp *qp,
				     struct phyrdma_hw_exec *x,
				     struct phyrdma_hw_sgl *local,
				     const void *ibuf, u64 len)
{
	const struct phyrdma_hw_sgl *src = ibuf ? NULL : local;
	struct phyrdma_hw_qp *resp;
	int st;

	resp = phyrdma_hw_peer(qp);
	if (!resp)
		return phyrdma_hw_no_response(qp, x);
	switch (x->wqe->opcode) {
	case PHYRDMA_WR_SEND:
	case PHYRDMA_WR_SEND_WITH_IMM:
	case PHYRDMA_WR_SEND_WITH_INV:
		st = phyrdma_hw_exec_recv_side(qp, resp, x, src, ibuf, len, NULL);
		break;
	case PHYRDMA_WR_RDMA_WRITE:
	case PHYRDMA_WR_RDMA_WRITE_WITH_IMM:
		st = phyrdma_hw_exec_write(qp, resp, x, src, ibuf, len);
		break;
	case PHYRDMA_WR_RDMA_READ:
		st = phyrdma_hw_exec_read(qp, resp, x->wqe, local, len);
		break;
	default:
		st = phyrdma_hw_exec_atomic(qp, resp, x, local);
		break;
	}
	phyrdma_hw_qp_put(resp);
	return st;
}

/*
 * Execute the WQE at the head of the send queue.  Returns a completion
 * status, or -EAGAIN to run it again after x->delay.
 */
static int phyrdma_hw_execute(struct phyrdma_hw_qp *qp, struct phyrdma_hw_exec *x)
{
	struct phyrdma_send_wqe *wqe = x->wqe;
	struct phyrdma_hw_sgl local;
	struct phyrdma_hw_qp *resp;
	const void *ibuf;
	u64 len;
	int st;

	if (wqe->opcode >= PHYRDMA_WR_MAX || !phyrdma_hw_opcode_ok(qp->type, wqe->opcode))
		return PHYRDMA_WC_LOC_QP_OP_ERR;
	x->cqe.opcode = phyrdma_wc_opcode_of[wqe->opcode];
	if (wqe->opcode == PHYRDMA_WR_BIND_MW)
		return phyrdma_hw_mw_bind(qp->hw, qp->pdn, wqe);
	if (wqe->opcode == PHYRDMA_WR_LOCAL_INV)
		return phyrdma_hw_mw_invalidate(qp->hw, qp->pdn, wqe->imm_data) ?
		       PHYRDMA_WC_LOC_PROT_ERR : PHYRDMA_WC_SUCCESS;
	if (wqe->opcode >= PHYRDMA_WR_ATOMIC_WRITE) {
		/* no local memory: the value or the range is in the WQE */
		resp = phyrdma_hw_peer(qp);
		if (!resp)
			return phyrdma_hw_no_response(qp, x);
		st = phyrdma_hw_exec_placement(qp, resp, x);
		phyrdma_hw_qp_put(resp);
		return st;
	}

	st = phyrdma_hw_exec_gather(qp, wqe, &local, &ibuf, &len);
	if (st)
		return st;
	if (len > qp->hw->caps.max_msg_sz)
		st = PHYRDMA_WC_LOC_LEN_ERR;
	else if (qp->type == PHYRDMA_HW_QPT_UD || qp->type == PHYRDMA_HW_QPT_GSI)
		st = phyrdma_hw_exec_ud(qp, x, ibuf ? NULL : &local, ibuf, len);
	else
		st = phyrdma_hw_exec_connected(qp, x, &local, ibuf, len);
	phyrdma_hw_sgl_release(&local);
	if (st == PHYRDMA_WC_SUCCESS) {
		x->cqe.byte_len = wqe->opcode == PHYRDMA_WR_RDMA_READ ? len : 0;
		if (wqe->opcode == PHYRDMA_WR_ATOMIC_CMP_AND_SWP ||
		    wqe->opcode == PHYRDMA_WR_ATOMIC_FETCH_AND_ADD)
			x->cqe.byte_len = sizeof(u64);
		atomic64_add(len, &qp->hw->stats.bytes);
	}
	return st;
}

/*
 * Complete every WQE of both queues of a QP in error with WR_FLUSH_ERR.
 * Return: true if send WQEs are left that could not be flushed (the send CQ
 * is in error or the ring unreadable): running again would not move.
 */
static bool phyrdma_hw_flush(struct phyrdma_hw_qp *qp)
{
	struct phyrdma_send_wqe *wqe = qp->wqe_buf;
	struct phyrdma_recv_wqe *rwqe;
	struct phyrdma_cqe cqe;
	bool stuck = false;
	u32 prod;

	if (!phyrdma_hw_ring_get_producer(qp->hw, &qp->sq, &prod) &&
	    prod - qp->sq_cons <= (1U << qp->sq.log_entries)) {
		while (qp->sq_cons != prod) {
			stuck = true;
			if (phyrdma_hw_ring_rw(qp->hw, &qp->sq, qp->sq_cons, wqe,
					       sizeof(*wqe), false))
				break;
			memset(&cqe, 0, sizeof(cqe));
			cqe.wr_id = wqe->wr_id;
			cqe.status = PHYRDMA_WC_WR_FLUSH_ERR;
			cqe.opcode = wqe->opcode < PHYRDMA_WR_MAX ?
				     phyrdma_wc_opcode_of[wqe->opcode] : 0;
			cqe.qp_num = qp->qpn;
			if (phyrdma_hw_cq_push(qp->scq, &cqe, false))
				break;
			qp->sq_cons++;
			stuck = false;
		}
		phyrdma_hw_ring_set_consumer(qp->hw, &qp->sq, qp->sq_cons);
	}

	/* a shared receive queue's WQEs belong to no QP: they stay */
	if (qp->recv != &qp->rq)
		return stuck;
	/* from now on a receive posted to the QP rings the doorbell */
	phyrdma_hw_ring_set_flags(qp->hw, &qp->rq.ring, PHYRDMA_RQ_FLUSH);
	/*
	 * Pairs with the poster's barrier between its producer index and
	 * the flag (struct phyrdma_ring_hdr): it rings, and the run that
	 * starts flushes its WQE, or the producer read below sees it.
	 */
	smp_mb();
	mutex_lock(&qp->rq.mutex);
	while (!phyrdma_hw_rq_peek(qp->hw, &qp->rq, &rwqe)) {
		phyrdma_hw_recv_cqe(qp, rwqe, &cqe, PHYRDMA_WC_WR_FLUSH_ERR);
		if (phyrdma_hw_cq_push(qp->rcq, &cqe, false))
			break;
		phyrdma_hw_rq_pop(qp->hw, &qp->rq);
	}
	mutex_unlock(&qp->rq.mutex);
	return stuck;
}

static void phyrdma_hw_sq_idle(struct phyrdma_hw_qp *qp, bool idle)
{
	phyrdma_hw_ring_set_flags(qp->hw, &qp->sq, idle ? PHYRDMA_SQ_ENGINE_IDLE : 0);
}

/*
 * The device reading and executing the send queue, at most @budget WQEs.
 * Called with @qp->exec held.  Return: true if WQEs remain for another run.
 */
static bool phyrdma_hw_qp_run(struct phyrdma_hw_qp *qp, int budget)
{
	struct phyrdma_hw_exec x = { .wqe = qp->wqe_buf };
	u32 entries = 1U << qp->sq.log_entries;
	bool signaled;
	u32 prod;
	int st;

	phyrdma_hw_sq_idle(qp, false);
	for (;;) {
		int state = READ_ONCE(qp->state);

		if (state == PHYRDMA_HW_QPS_ERR) {
			/* a CQ in error takes no flush completion: stuck */
			if (phyrdma_hw_flush(qp)) {
				phyrdma_hw_sq_idle(qp, true);
				return false;
			}
			/*
			 * idle, then look once more, as below: a WQE published
			 * after the flush read the producer is flushed next
			 */
			phyrdma_hw_sq_idle(qp, true);
			/* the flag stored before the producer is read again */
			smp_mb();
			if (phyrdma_hw_ring_get_producer(qp->hw, &qp->sq, &prod) ||
			    prod == qp->sq_cons || prod - qp->sq_cons > entries)
				return false;
			phyrdma_hw_sq_idle(qp, false);
			continue;
		}
		if (state != PHYRDMA_HW_QPS_RTS)
			break;
		if (phyrdma_hw_ring_get_producer(qp->hw, &qp->sq, &prod) ||
		    prod - qp->sq_cons > entries) {
			/* the owner corrupted its queue */
			phyrdma_hw_qp_error(qp, PHYRDMA_HW_QP_EV_FATAL);
			continue;
		}
		if (prod == qp->sq_cons) {
			/* idle, then look once more: see phyrdma_ring_hdr */
			phyrdma_hw_sq_idle(qp, true);
			/*
			 * the flag stored before the producer is read, against
			 * the provider's producer store before its flag read
			 */
			smp_mb();
			if (phyrdma_hw_ring_get_producer(qp->hw, &qp->sq, &prod) ||
			    prod == qp->sq_cons)
				return false;
			phyrdma_hw_sq_idle(qp, false);
			continue;
		}
		if (!budget--)
			return true;
		if (phyrdma_hw_ring_rw(qp->hw, &qp->sq, qp->sq_cons, qp->wqe_buf,
				       1U << qp->sq.log_stride, false)) {
			phyrdma_hw_qp_error(qp, PHYRDMA_HW_QP_EV_FATAL);
			continue;
		}
		memset(&x.cqe, 0, sizeof(x.cqe));
		x.cqe.wr_id = x.wqe->wr_id;
		x.cqe.qp_num = qp->qpn;
		st = phyrdma_hw_execute(qp, &x);
		if (st == -EAGAIN) {
			/* the head WQE runs again later; doorbells are not lost */
			mod_delayed_work(qp->hw->wq, &qp->work, max(x.delay, 1UL));
			return false;
		}
		atomic64_inc(&qp->hw->stats.wqes);
		qp->retries = 0;
		x.cqe.status = st;
		signaled = qp->sig_all || (x.wqe->flags & PHYRDMA_WQE_SIGNALED);
		qp->sq_cons++;
		phyrdma_hw_ring_set_consumer(qp->hw, &qp->sq, qp->sq_cons);
		if ((signaled || st) && phyrdma_hw_cq_push(qp->scq, &x.cqe, false)) {
			phyrdma_hw_qp_error(qp, PHYRDMA_HW_QP_EV_FATAL);
			continue;
		}
		if (st)
			phyrdma_hw_qp_error(qp, 0);
	}
	phyrdma_hw_sq_idle(qp, true);
	return false;
}

/* The send queue's worker. */
void phyrdma_hw_qp_work(struct work_struct *work)
{
	struct phyrdma_hw_qp *qp = container_of(to_delayed_work(work),
						struct phyrdma_hw_qp, work);
	bool more;

	mutex_lock(&qp->exec);
	more = phyrdma_hw_qp_run(qp, PHYRDMA_HW_BUDGET);
	mutex_unlock(&qp->exec);
	if (more)
		mod_delayed_work(qp->hw->wq, &qp->work, 0);
}

/**
 * phyrdma_hw_qp_doorbell_sync - a doorbell rung from process context
 * @qp: the QP
 *
 * The device starts on the send queue in the caller's context, as a NIC
 * starts on a doorbell without waiting for a scheduler: up to
 * %PHYRDMA_HW_INLINE_BUDGET WQEs, the rest (and anything that must wait)
 * on the worker.  If the worker is busy with the queue, it takes the new
 * WQEs itself.
 */
void phyrdma_hw_qp_doorbell_sync(struct phyrdma_hw_qp *qp)
{
	bool more = true;

	atomic64_inc(&qp->hw->stats.doorbells);
	if (!delayed_work_pending(&qp->work) && mutex_trylock(&qp->exec)) {
		more = phyrdma_hw_qp_run(qp, PHYRDMA_HW_INLINE_BUDGET);
		mutex_unlock(&qp->exec);
	}
	if (more)
		mod_delayed_work(qp->hw->wq, &qp->work, 0);
}

int phyrdma_hw_engine_init(struct phyrdma_hw *hw)
{
	xa_init_flags(&hw->qps, XA_FLAGS_ALLOC);
	ida_init(&hw->cq_ida);
	ida_init(&hw->srq_ida);
	spin_lock_init(&hw->gid_lock);
	spin_lock_init(&hw->mcg_lock);
	INIT_LIST_HEAD(&hw->fabric_node);
	hw->mcgs = kcalloc(PHYRDMA_HW_MAX_MCG, sizeof(*hw->mcgs), GFP_KERNEL);
	if (!hw->mcgs)
		return -ENOMEM;
	hw->wq = alloc_workqueue("phyrdma_engine/%s", WQ_UNBOUND, 0,
				 dev_name(hw->dma_dev));
	if (!hw->wq) {
		kfree(hw->mcgs);
		return -ENOMEM;
	}
	return 0;
}

void phyrdma_hw_engine_fini(struct phyrdma_hw *hw)
{
	u32 i;

	if (!xa_empty(&hw->qps))
		dev_err(hw->dma_dev, "phyrdma leak: QPs still in the QP table\n");
	xa_destroy(&hw->qps);
	if (!ida_is_empty(&hw->cq_ida))
		dev_err(hw->dma_dev, "phyrdma leak: CQ numbers still allocated\n");
	ida_destroy(&hw->cq_ida);
	if (!ida_is_empty(&hw->srq_ida))
		dev_err(hw->dma_dev, "phyrdma leak: SRQ numbers still allocated\n");
	ida_destroy(&hw->srq_ida);
	if (atomic64_read(&hw->queue_bytes))
		dev_err(hw->dma_dev, "phyrdma leak: %lld bytes of queues\n",
			atomic64_read(&hw->queue_bytes));
	destroy_workqueue(hw->wq);
	for (i = 0; i < PHYRDMA_HW_MAX_MCG; i++)
		if (hw->mcgs[i].nr_qps)
			dev_err(hw->dma_dev, "phyrdma leak: QPs still in multicast group %u\n", i);
	kfree(hw->mcgs);
}
