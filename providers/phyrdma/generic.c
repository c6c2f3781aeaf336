// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libphyrdma: the verbs extension as libibverbs' generic verbs.
 *
 * Built only against an rdma-core tree with the patch series of
 * libibverbs/patches (ibv_query_dma_attr(), ibv_query_dmabuf_layout(),
 * ibv_query_mr_layout(), IBV_REG_MR_MASK_LAYOUT_HINTS): the provider side
 * of those verbs, on top of the same driver methods the direct verbs use.
 * The generic structs say the same things in the words of a generic API:
 * "physical ranges" for the phyr path, "entries" for MTT entries.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "phyrdma.h"
#include "phyrdv.h"

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

int phyrdma_query_dma_attr(struct ibv_context *context,
			   struct ibv_dma_attr *attr, size_t attr_size,
			   struct ibv_iova_range *ranges, uint32_t max_ranges)
{
	struct phyrdv_iova_range *r = NULL;
	struct phyrdv_dma_attr da;
	struct ibv_dma_attr a = {};
	uint32_t n = 0, gen, i;
	int ret;

	ret = phyrdv_query_dma(context, &da, sizeof(da));
	if (ret)
		return ret;
	if (max_ranges) {
		r = calloc(max_ranges, sizeof(*r));
		if (!r)
			return ENOMEM;
		ret = phyrdv_query_iova_ranges(context, r, max_ranges, &n, &gen);
		if (ret) {
			free(r);
			return ret;
		}
		for (i = 0; i < max_ranges && i < n; i++) {
			ranges[i].start = r[i].start;
			ranges[i].last = r[i].last;
		}
		free(r);
		/* the ranges and the attributes must describe one domain */
		if (gen != da.generation)
			return EAGAIN;
	}
	a.iommu_mode = da.iommu_mode;
	a.generation = da.generation;
	a.page_size_cap = da.page_size_cap;
	a.iommu_page_sizes = da.iommu_page_sizes;
	a.max_mr_size = da.max_mr_size;
	a.num_iova_ranges = da.num_iova_ranges;
	memset(attr, 0, attr_size);
	memcpy(attr, &a, min_size(attr_size, sizeof(a)));
	return 0;
}

int phyrdma_query_dmabuf_layout(struct ibv_context *context, int fd,
				uint64_t offset, size_t length,
				struct ibv_dmabuf_layout *layout,
				size_t layout_size)
{
	struct ibv_dmabuf_layout l = {};
	struct phyrdv_dmabuf_advice adv;
	int ret;

	ret = phyrdv_advise_dmabuf(context, fd, offset, length, &adv,
				   sizeof(adv));
	if (ret)
		return ret;
	l.flags = (adv.flags & PHYRDV_ADVICE_PHYR ?
		   IBV_DMABUF_LAYOUT_PHYS_RANGES : 0) |
		  (adv.flags & PHYRDV_ADVICE_LAYOUT ?
		   IBV_DMABUF_LAYOUT_ADVICE : 0);
	l.mem_kinds = adv.mem_kinds;	/* the same bits */
	l.iova_align = adv.iova_align;
	l.iova_offset = adv.iova_offset;
	l.page_size = adv.page_size;
	l.num_entries = adv.mtt_entries;
	l.iommu_page_size = adv.iommu_page_size;
	memset(layout, 0, layout_size);
	memcpy(layout, &l, min_size(layout_size, sizeof(l)));
	return 0;
}

int phyrdma_query_mr_layout(struct ibv_mr *mr, struct ibv_mr_layout *layout,
			    size_t layout_size)
{
	struct ibv_mr_layout l = {};
	struct phyrdv_mr_attr m;
	int ret;

	ret = phyrdv_query_mr(mr, &m, sizeof(m));
	if (ret)
		return ret;
	l.flags = (m.path == PHYRDV_MR_PATH_PHYR ? IBV_MR_LAYOUT_PHYS_RANGES : 0) |
		  (m.flags & PHYRDV_MR_REVOCABLE ? IBV_MR_LAYOUT_REVOCABLE : 0) |
		  (m.flags & PHYRDV_MR_REVOKED ? IBV_MR_LAYOUT_REVOKED : 0) |
		  (m.flags & PHYRDV_MR_ON_DEMAND ? IBV_MR_LAYOUT_ON_DEMAND : 0);
	l.mem_kinds = m.mem_kinds;
	l.iova = m.iova;
	l.length = m.length;
	l.page_size = m.page_size;
	l.num_entries = m.mtt_entries;
	l.iova_bytes = m.iova_bytes;
	l.iova_waste = m.iova_waste;
	l.iommu_page_size = m.iommu_page_size;
	memset(layout, 0, layout_size);
	memcpy(layout, &l, min_size(layout_size, sizeof(l)));
	return 0;
}

/*
 * ibv_reg_mr_ex(): libibverbs has checked the masks it knows and copied
 * the fields they name; fork protection and the MR's common fields are
 * its own.  The generic hints are the direct verbs' bit for bit.
 */
struct ibv_mr *phyrdma_reg_mr_ex(struct ibv_pd *pd,
				 struct ibv_mr_init_attr *in)
{
	const uint64_t known = IBV_REG_MR_MASK_IOVA | IBV_REG_MR_MASK_ADDR |
			       IBV_REG_MR_MASK_FD | IBV_REG_MR_MASK_FD_OFFSET |
			       IBV_REG_MR_MASK_LAYOUT_HINTS;
	struct phyrdv_reg_mr_attr attr = {}, *ap = NULL;
	struct ibv_mr_layout_hints *h = NULL;
	uint64_t iova;
	struct ibv_mr *mr;

	if (in->comp_mask & ~known) {
		errno = EOPNOTSUPP;	/* a DMA handle, a buffer handle */
		return NULL;
	}
	if (in->comp_mask & IBV_REG_MR_MASK_LAYOUT_HINTS) {
		h = in->layout_hints;
		if (h->comp_mask) {
			errno = EOPNOTSUPP;
			return NULL;
		}
		if (h->reserved) {
			errno = EINVAL;
			return NULL;
		}
		attr.flags = h->flags;
		attr.min_page_shift = h->min_page_shift;
		attr.max_page_shift = h->max_page_shift;
		attr.mem_allowed = h->mem_allowed;
		attr.mem_required = h->mem_required;
		attr.max_iova_waste = h->max_iova_waste;
		ap = &attr;
	}
	if (in->comp_mask & IBV_REG_MR_MASK_FD) {
		if (!(in->comp_mask & IBV_REG_MR_MASK_FD_OFFSET) ||
		    !(in->comp_mask & IBV_REG_MR_MASK_IOVA) ||
		    (in->comp_mask & IBV_REG_MR_MASK_ADDR)) {
			errno = EINVAL;
			return NULL;
		}
		mr = phyrdv_reg_dmabuf_mr(pd, in->fd_offset, in->length,
					  in->iova, in->fd, in->access, ap,
					  sizeof(attr));
	} else {
		if (!(in->comp_mask & IBV_REG_MR_MASK_ADDR)) {
			errno = EINVAL;
			return NULL;
		}
		iova = in->comp_mask & IBV_REG_MR_MASK_IOVA ?
		       in->iova : (uintptr_t)in->addr;
		mr = phyrdma_reg_mr_hinted(pd, in->addr, in->length, iova,
					   in->access, ap, sizeof(attr), false);
	}
	if (mr && h)
		h->iova = attr.iova;
	return mr;
}
