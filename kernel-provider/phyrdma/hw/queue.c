// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma device layer: rings and the queues built on them, completion
 * queues and shared receive queues.
 *
 * A ring is memory mapped for the device's DMA: the owner (a process
 * through mmap, or a kernel consumer) reaches it through the CPU, the
 * device through its DMA address only, translated by the IOMMU like every
 * other access it makes.  The platform is DMA-coherent (x86), so no cache
 * maintenance is needed between the two.  The device keeps its own copy
 * of the indices it produces and validates every index the owner writes.
 */
#include <linux/error-injection.h>
#include <linux/dma-mapping.h>
#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "hw.h"
#include "engine.h"

/**
 * phyrdma_hw_dma_rw - the device reads or writes memory at a DMA address
 * @hw: the device
 * @dma: where
 * @buf: kernel buffer
 * @len: bytes
 * @write: the device writes @buf to @dma (else reads into @buf)
 *
 * Return: 0, or -EFAULT if the IOMMU has no mapping for part of the range.
 */
int phyrdma_hw_dma_rw(struct phyrdma_hw *hw, dma_addr_t dma, void *buf,
		      size_t len, bool write)
{
	phys_addr_t phys;
	size_t chunk;
	void *p;

	while (len) {
		phys = phyrdma_hw_dma_to_phys(hw, dma);
		if ((!phys && hw->domain) || !pfn_valid(PHYS_PFN(phys)))
			return -EFAULT;
		chunk = min_t(size_t, len, PAGE_SIZE - offset_in_page(dma));
		chunk = min_t(size_t, chunk, PAGE_SIZE - offset_in_page(phys));
		p = kmap_local_pfn(PHYS_PFN(phys));
		if (write)
			memcpy(p + offset_in_page(phys), buf, chunk);
		else
			memcpy(buf, p + offset_in_page(phys), chunk);
		kunmap_local(p);
		dma += chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}

/* Undo what phyrdma_hw_ring_alloc() got, however far it got. */
static void phyrdma_hw_ring_release(struct phyrdma_hw_ring *ring)
{
	size_t i;

	if (ring->va)
		vunmap(ring->va);
	/* the page array is zeroed: the pages allocated come first */
	for (i = 0; ring->pages && i < ring->size >> PAGE_SHIFT; i++) {
		if (!ring->pages[i])
			break;
		put_page(ring->pages[i]);
	}
	kvfree(ring->page_dma);
	kvfree(ring->pages);
	ring->va = NULL;
	ring->pages = NULL;
	ring->page_dma = NULL;
}

/**
 * phyrdma_hw_ring_alloc - allocate a ring, charged to the calling process
 * @hw: the device
 * @entries: a power of two
 * @stride: bytes per entry, a power of two, at most PAGE_SIZE
 * @ring: filled
 *
 * The ring is order-0 pages (a process maps them page by page, each page
 * held by its mapping), virtually contiguous for the CPU and described to
 * the device by a page list, as real NICs describe deep queues: no ring
 * needs physically contiguous memory, so a queue may be as deep as the
 * hardware limits of struct ib_device_attr say.
 *
 * Return: 0; -E2BIG beyond %PHYRDMA_MAX_RING_BYTES; -ENOMEM.
 */
/* noinline: a fail_function point for every caller, this file's included */
noinline int phyrdma_hw_ring_alloc(struct phyrdma_hw *hw, u32 entries,
				   u32 stride, struct phyrdma_hw_ring *ring)
{
	struct sg_dma_page_iter it;
	u32 nr_pages, i;

	memset(ring, 0, sizeof(*ring));
	ring->log_entries = ilog2(entries);
	ring->log_stride = ilog2(stride);
	ring->size = PAGE_ALIGN(PHYRDMA_RING_HDR_SIZE + (size_t)entries * stride);
	if (ring->size > PHYRDMA_MAX_RING_BYTES || stride > PAGE_SIZE)
		return -E2BIG;
	nr_pages = ring->size >> PAGE_SHIFT;
	ring->pages = kvcalloc(nr_pages, sizeof(*ring->pages), GFP_KERNEL_ACCOUNT);
	ring->page_dma = kvcalloc(nr_pages, sizeof(*ring->page_dma),
				  GFP_KERNEL_ACCOUNT);
	if (!ring->pages || !ring->page_dma)
		goto err;
	for (i = 0; i < nr_pages; i++) {
		ring->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO |
					    __GFP_NOWARN);
		if (!ring->pages[i])
			goto err;
	}
	ring->va = vmap(ring->pages, nr_pages, VM_MAP, PAGE_KERNEL);
	if (!ring->va)
		goto err;
	if (sg_alloc_table_from_pages(&ring->sgt, ring->pages, nr_pages, 0,
				      ring->size, GFP_KERNEL_ACCOUNT))
		goto err;
	/* coherent or nothing: a bounced ring would part the two views */
	if (dma_map_sgtable(hw->dma_dev, &ring->sgt, DMA_BIDIRECTIONAL,
			    DMA_ATTR_REQUIRE_COHERENT)) {
		sg_free_table(&ring->sgt);
		goto err;
	}
	i = 0;
	for_each_sgtable_dma_page(&ring->sgt, &it, 0)
		ring->page_dma[i++] = sg_page_iter_dma_address(&it);
	atomic64_add(ring->size, &hw->queue_bytes);
	return 0;

err:
	phyrdma_hw_ring_release(ring);
	return -ENOMEM;
}
ALLOW_ERROR_INJECTION(phyrdma_hw_ring_alloc, ERRNO);

/*
 * Pages a process still maps stay allocated until it unmaps them (each
 * mapping holds its page); the device loses them here.
 */
void phyrdma_hw_ring_free(struct phyrdma_hw *hw, struct phyrdma_hw_ring *ring)
{
	if (!ring->va || ring->external)
		return;
	dma_unmap_sgtable(hw->dma_dev, &ring->sgt, DMA_BIDIRECTIONAL,
			  DMA_ATTR_REQUIRE_COHERENT);
	sg_free_table(&ring->sgt);
	phyrdma_hw_ring_release(ring);
	atomic64_sub(ring->size, &hw->queue_bytes);
}

/*
 * The device reaches byte @off of @ring through its page list, one page at
 * a time.
 */
static int phyrdma_hw_ring_io(struct phyrdma_hw *hw,
			      const struct phyrdma_hw_ring *ring, size_t off,
			      void *buf, size_t len, bool write)
{
	size_t chunk;
	int ret;

	if (off >= ring->size || len > ring->size - off)
		return -EFAULT;
	while (len) {
		chunk = min_t(size_t, len, PAGE_SIZE - offset_in_page(off));
		ret = phyrdma_hw_dma_rw(hw, ring->page_dma[off >> PAGE_SHIFT] +
					offset_in_page(off), buf, chunk, write);
		if (ret)
			return ret;
		off += chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}

/* The device's accesses to a ring header word. */
static int phyrdma_hw_ring_read_u32(struct phyrdma_hw *hw,
				    const struct phyrdma_hw_ring *ring,
				    size_t off, u32 *val)
{
	int ret = phyrdma_hw_ring_io(hw, ring, off, val, sizeof(*val), false);

	/* the device acts on what it read only after reading it */
	dma_rmb();
	return ret;
}

static int phyrdma_hw_ring_write_u32(struct phyrdma_hw *hw,
				     const struct phyrdma_hw_ring *ring,
				     size_t off, u32 val)
{
	/* entries written before the index that publishes them */
	dma_wmb();
	return phyrdma_hw_ring_io(hw, ring, off, &val, sizeof(val), true);
}

int phyrdma_hw_ring_get_producer(struct phyrdma_hw *hw,
				 const struct phyrdma_hw_ring *ring, u32 *val)
{
	return phyrdma_hw_ring_read_u32(hw, ring,
					offsetof(struct phyrdma_ring_hdr, producer), val);
}

int phyrdma_hw_ring_set_consumer(struct phyrdma_hw *hw,
				 const struct phyrdma_hw_ring *ring, u32 val)
{
	return phyrdma_hw_ring_write_u32(hw, ring,
					 offsetof(struct phyrdma_ring_hdr, consumer), val);
}

int phyrdma_hw_ring_get_flags(struct phyrdma_hw *hw,
			      const struct phyrdma_hw_ring *ring, u32 *val)
{
	return phyrdma_hw_ring_read_u32(hw, ring,
					offsetof(struct phyrdma_ring_hdr, flags), val);
}

int phyrdma_hw_ring_set_flags(struct phyrdma_hw *hw,
			      const struct phyrdma_hw_ring *ring, u32 val)
{
	return phyrdma_hw_ring_write_u32(hw, ring,
					 offsetof(struct phyrdma_ring_hdr, flags), val);
}

/* The device reads or writes entry @index of @ring. */
int phyrdma_hw_ring_rw(struct phyrdma_hw *hw, const struct phyrdma_hw_ring *ring,
		       u32 index, void *buf, size_t len, bool write)
{
	size_t off = PHYRDMA_RING_HDR_SIZE +
		     ((size_t)(index & ((1U << ring->log_entries) - 1)) << ring->log_stride);

	return phyrdma_hw_ring_io(hw, ring, off, buf,
				  min_t(size_t, len, 1U << ring->log_stride), write);
}

/**
 * phyrdma_hw_cq_create - set up a completion queue
 * @hw: the device
 * @entries: a power of two, at most %PHYRDMA_MAX_CQE
 * @cq: the caller's, with @comp, @event and @priv set
 *
 * Return: 0, -ENOSPC when the device has no CQ number left, -ENOMEM.
 */
int phyrdma_hw_cq_create(struct phyrdma_hw *hw, u32 entries,
			 struct phyrdma_hw_cq *cq)
{
	int ret;

	ret = ida_alloc_max(&hw->cq_ida, hw->caps.max_cq - 1, GFP_KERNEL);
	if (ret < 0)
		return ret == -ENOSPC ? -ENOSPC : ret;
	cq->cqn = ret;
	cq->hw = hw;
	spin_lock_init(&cq->lock);
	cq->producer = 0;
	cq->armed = 0;
	cq->error = false;
	ret = phyrdma_hw_ring_alloc(hw, entries, PHYRDMA_CQE_SIZE, &cq->ring);
	if (ret) {
		ida_free(&hw->cq_ida, cq->cqn);
		return ret;
	}
	return 0;
}

/* No QP may use @cq any more. */
void phyrdma_hw_cq_destroy(struct phyrdma_hw_cq *cq)
{
	phyrdma_hw_ring_free(cq->hw, &cq->ring);
	ida_free(&cq->hw->cq_ida, cq->cqn);
}

int phyrdma_hw_cq_arm(struct phyrdma_hw_cq *cq, u8 how)
{
	u32 cons = 0;
	unsigned long flags;
	int pending;

	spin_lock_irqsave(&cq->lock, flags);
	/* a solicited-only request does not weaken a pending next request */
	if (how == PHYRDMA_HW_ARM_NEXT || !cq->armed)
		cq->armed = how;
	phyrdma_hw_ring_read_u32(cq->hw, &cq->ring,
				 offsetof(struct phyrdma_ring_hdr, consumer), &cons);
	pending = cons != cq->producer;
	spin_unlock_irqrestore(&cq->lock, flags);
	return pending;
}

/**
 * phyrdma_hw_cq_push - the device writes a completion
 * @cq: the CQ
 * @cqe: the completion
 * @solicited: the message asked for a solicited event
 *
 * Return: 0; -ENOSPC if the CQ is full: it is then in error (overrun) and
 * its owner got PHYRDMA_HW_CQ_EV_OVERRUN.
 */
int phyrdma_hw_cq_push(struct phyrdma_hw_cq *cq, const struct phyrdma_cqe *cqe,
		       bool solicited)
{
	struct phyrdma_hw *hw = cq->hw;
	bool notify = false, overrun = false;
	unsigned long flags;
	u32 cons = 0;
	int ret = 0;

	spin_lock_irqsave(&cq->lock, flags);
	if (cq->error) {
		ret = -ENOSPC;
		goto out;
	}
	ret = phyrdma_hw_ring_read_u32(hw, &cq->ring,
				       offsetof(struct phyrdma_ring_hdr, consumer), &cons);
	/* an owner's consumer index ahead of the producer counts as full */
	if (ret || cq->producer - cons >= (1U << cq->ring.log_entries)) {
		cq->error = true;
		overrun = true;
		phyrdma_hw_ring_set_flags(hw, &cq->ring, PHYRDMA_CQ_OVERRUN);
		ret = -ENOSPC;
		goto out;
	}
	phyrdma_hw_ring_rw(hw, &cq->ring, cq->producer, (void *)cqe,
			   sizeof(*cqe), true);
	cq->producer++;
	phyrdma_hw_ring_write_u32(hw, &cq->ring,
				  offsetof(struct phyrdma_ring_hdr, producer),
				  cq->producer);
	atomic64_inc(&hw->stats.cqes);
	if (cq->armed == PHYRDMA_HW_ARM_NEXT ||
	    (cq->armed == PHYRDMA_HW_ARM_SOLICITED &&
	     (solicited || cqe->status != 0))) {
		cq->armed = 0;
		notify = true;
	}
out:
	spin_unlock_irqrestore(&cq->lock, flags);
	if (overrun && cq->event)
		cq->event(cq, PHYRDMA_HW_CQ_EV_OVERRUN);
	if (notify && cq->comp) {
		local_bh_disable();
		cq->comp(cq);
		local_bh_enable();
	}
	return ret;
}

/**
 * phyrdma_hw_cq_resize - move a CQ to a new ring
 * @cq: the CQ
 * @ring: the new ring, allocated by the caller; on success it holds the
 *	old one, which the caller frees
 *
 * The completions not yet consumed move to the start of the new ring, in
 * order.  The owner must not poll meanwhile.
 *
 * Return: 0; -EINVAL if they do not fit.
 */
int phyrdma_hw_cq_resize(struct phyrdma_hw_cq *cq, struct phyrdma_hw_ring *ring)
{
	struct phyrdma_hw_ring old;
	struct phyrdma_cqe cqe;
	unsigned long flags;
	u32 cons = 0, n, i;

	spin_lock_irqsave(&cq->lock, flags);
	phyrdma_hw_ring_read_u32(cq->hw, &cq->ring,
				 offsetof(struct phyrdma_ring_hdr, consumer), &cons);
	n = cq->producer - cons;
	if (n > (1U << ring->log_entries) || n > (1U << cq->ring.log_entries)) {
		spin_unlock_irqrestore(&cq->lock, flags);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		phyrdma_hw_ring_rw(cq->hw, &cq->ring, cons + i, &cqe, sizeof(cqe), false);
		phyrdma_hw_ring_rw(cq->hw, ring, i, &cqe, sizeof(cqe), true);
	}
	phyrdma_hw_ring_write_u32(cq->hw, ring,
				  offsetof(struct phyrdma_ring_hdr, producer), n);
	old = cq->ring;
	cq->ring = *ring;
	cq->producer = n;
	*ring = old;
	spin_unlock_irqrestore(&cq->lock, flags);
	return 0;
}

/* ---- shared receive queues --------------------------------------------- */

/**
 * phyrdma_hw_srq_create - give an SRQ its ring and number
 * @hw: the device
 * @srq: the caller's, with @rq.pdn, @rq.kernel, @rq.max_sge, @event and
 *	@priv set
 * @entries: a power of two
 *
 * Return: 0; -ENOSPC without a free SRQ number; -ENOMEM.
 */
int phyrdma_hw_srq_create(struct phyrdma_hw *hw, struct phyrdma_hw_srq *srq,
			  u32 entries)
{
	u32 stride = phyrdma_hw_recv_stride(srq->rq.max_sge);
	int ret;

	ret = ida_alloc_max(&hw->srq_ida, hw->caps.max_qp - 1, GFP_KERNEL);
	if (ret < 0)
		return ret;
	srq->srqn = ret;
	srq->hw = hw;
	srq->limit = 0;
	mutex_init(&srq->rq.mutex);
	srq->rq.cons = 0;
	srq->rq.srq = srq;
	ret = phyrdma_hw_ring_alloc(hw, entries, stride, &srq->rq.ring);
	if (ret)
		goto err_ida;
	srq->rq.buf = kzalloc(stride, GFP_KERNEL_ACCOUNT);
	if (!srq->rq.buf) {
		ret = -ENOMEM;
		goto err_ring;
	}
	return 0;

err_ring:
	phyrdma_hw_ring_free(hw, &srq->rq.ring);
err_ida:
	ida_free(&hw->srq_ida, srq->srqn);
	mutex_destroy(&srq->rq.mutex);
	return ret;
}

/* No QP uses @srq any more. */
void phyrdma_hw_srq_destroy(struct phyrdma_hw_srq *srq)
{
	kfree(srq->rq.buf);
	phyrdma_hw_ring_free(srq->hw, &srq->rq.ring);
	ida_free(&srq->hw->srq_ida, srq->srqn);
	mutex_destroy(&srq->rq.mutex);
}

void phyrdma_hw_srq_arm(struct phyrdma_hw_srq *srq, u32 limit)
{
	WRITE_ONCE(srq->limit, limit);
}

/* WQEs posted and not yet consumed. */
u32 phyrdma_hw_srq_outstanding(struct phyrdma_hw_srq *srq)
{
	u32 prod = 0, n;

	mutex_lock(&srq->rq.mutex);
	phyrdma_hw_ring_get_producer(srq->hw, &srq->rq.ring, &prod);
	n = prod - srq->rq.cons;
	mutex_unlock(&srq->rq.mutex);
	return n;
}
