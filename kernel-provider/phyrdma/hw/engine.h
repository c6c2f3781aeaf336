/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phyrdma device layer, private: what the engine uses of the MR table, of
 * the device's DMA view, of the fabric and of a QP's life.
 */
#ifndef PHYRDMA_HW_ENGINE_H
#define PHYRDMA_HW_ENGINE_H

#include "hw.h"

struct phyrdma_hw_mr_entry *phyrdma_hw_mr_get(struct phyrdma_hw *hw, u32 key);
void phyrdma_hw_mr_put(struct phyrdma_hw_mr_entry *e);
int phyrdma_hw_mr_check(const struct phyrdma_hw_mr_entry *e, u64 va, u64 len,
			u32 need);
/**
 * struct phyrdma_hw_mtt_cache - where the last MTT walk ended
 * @mr: the MR walked, or NULL for an empty cache
 * @page: index of the leaf-table page the walk ended in
 * @phys: where that page is, past the IOMMU
 *
 * The next block in the same leaf-table page (512 blocks) is one entry
 * read away, as a device's MTT cache would have it.  An MR's table pages
 * neither move nor go away while the MR is held, so the cache is good for
 * as long as its user holds @mr; the leaf entries themselves are read
 * afresh every time, since an on-demand MR's change under the engine.
 */
struct phyrdma_hw_mtt_cache {
	const struct phyrdma_hw_mr_entry *mr;
	u64 page;
	phys_addr_t phys;
};

/* Bytes from @va to the end of its MTT block, in the key's table. */
static inline u64 phyrdma_hw_mr_block_left(const struct phyrdma_hw_mr_entry *e,
					   u64 va)
{
	u64 mask = (1ULL << e->params.page_shift) - 1;

	return mask + 1 - ((va - e->params.iova + e->params.mtt_offset) & mask);
}

int phyrdma_hw_mr_locate(struct phyrdma_hw *hw,
			 const struct phyrdma_hw_mr_entry *e, u64 va, bool write,
			 struct phyrdma_hw_mtt_cache *cache, dma_addr_t *dma,
			 phys_addr_t *phys, void __iomem **io);
void __iomem *phyrdma_hw_window_io(struct phyrdma_hw_window *w, u64 off);
int phyrdma_hw_route(struct phyrdma_hw *hw, dma_addr_t dma, phys_addr_t *phys,
		     void __iomem **io);
void phyrdma_hw_move(void *dst, void __iomem *dio, const void *src,
		     const void __iomem *sio, u64 n);
int phyrdma_hw_access_begin(void);
void phyrdma_hw_access_end(int idx);
int phyrdma_hw_mr_fault(struct phyrdma_hw *hw,
			const struct phyrdma_hw_mr_entry *e, u64 va, u64 len,
			bool write);
/*
 * Faults one access may take in a row without moving a byte before it
 * gives up: each is resolved, so more means the pages keep going away.
 */
#define PHYRDMA_HW_FAULT_RETRIES	16
/* the most one access of the engine moves before it lets a grace period by */
#define PHYRDMA_HW_ACCESS_BYTES		SZ_64K
/* the most one fault asks the driver for */
#define PHYRDMA_HW_FAULT_MAX		SZ_2M
phys_addr_t phyrdma_hw_dma_to_phys(struct phyrdma_hw *hw, dma_addr_t dma);
int phyrdma_hw_dma_rw(struct phyrdma_hw *hw, dma_addr_t dma, void *buf,
		      size_t len, bool write);

int phyrdma_hw_ring_get_producer(struct phyrdma_hw *hw,
				 const struct phyrdma_hw_ring *ring, u32 *val);
int phyrdma_hw_ring_set_consumer(struct phyrdma_hw *hw,
				 const struct phyrdma_hw_ring *ring, u32 val);
int phyrdma_hw_ring_get_flags(struct phyrdma_hw *hw,
			      const struct phyrdma_hw_ring *ring, u32 *val);
int phyrdma_hw_ring_set_flags(struct phyrdma_hw *hw,
			      const struct phyrdma_hw_ring *ring, u32 val);
int phyrdma_hw_ring_rw(struct phyrdma_hw *hw, const struct phyrdma_hw_ring *ring,
		       u32 index, void *buf, size_t len, bool write);

int phyrdma_hw_mw_bind(struct phyrdma_hw *hw, u32 qp_pdn,
		       const struct phyrdma_send_wqe *wqe);
int phyrdma_hw_mw_invalidate(struct phyrdma_hw *hw, u32 pdn, u32 rkey);

/* The fabric (fabric.c): addresses, responders, multicast members */
bool phyrdma_hw_get_gid(struct phyrdma_hw *hw, u32 index, u8 *gid);
bool phyrdma_hw_gid_is_multicast(const u8 *gid);
struct phyrdma_hw_qp *phyrdma_fabric_find_qp(const u8 *dgid, u32 qpn);
struct phyrdma_hw_qp *phyrdma_fabric_next_member(const u8 *mgid, u64 *pos);

/* A QP's life (qp.c) and its worker (engine.c) */
struct phyrdma_hw_qp *phyrdma_hw_qp_get(struct phyrdma_hw *hw, u32 qpn);
void phyrdma_hw_qp_put(struct phyrdma_hw_qp *qp);
void phyrdma_hw_qp_error(struct phyrdma_hw_qp *qp, enum phyrdma_hw_qp_event ev);
void phyrdma_hw_qp_work(struct work_struct *work);

#endif /* PHYRDMA_HW_ENGINE_H */
