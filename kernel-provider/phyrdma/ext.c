// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma verbs layer: the verbs extension.
 *
 * What an application can ask of the device beyond the core verbs, all of
 * it about how memory is laid out for DMA (docs/verbs-extension.md):
 *
 * - QUERY_DMA, a driver method of the device object: the device's DMA
 *   constraints (IOMMU mode and page sizes, usable IOVA ranges, the MR
 *   limits) and a generation that changes with the IOMMU domain;
 * - DMABUF_ADVISE, another: how a range of a dma-buf would be registered,
 *   and at which iova the device and the IOMMU both keep large pages;
 * - hints, a driver attribute of the core REG_MR and REG_DMABUF_MR
 *   methods, read by mr.c, and the iova the driver chose when asked to;
 * - MR_QUERY, a driver method of the MR object: an MR's layout.
 *
 * Every struct follows the ABI rules of phyrdma-abi.h.  No DMA or physical
 * address leaves the kernel here: layouts are sizes, counts and kinds.
 *
 * The same layouts reach the rdma tool through stats.c.
 */
#include <linux/dma-mapping.h>
#include <linux/iommu.h>
#include <linux/cc_platform.h>
#include <rdma/uverbs_ioctl.h>
#include <rdma/uverbs_std_types.h>

#include "phyrdma.h"

#define UVERBS_MODULE_NAME phyrdma_ext
#include <rdma/uverbs_named_ioctl.h>

/* the ABI's numbering is the P2PDMA map type's, as phyr_dma.h names it */
static_assert((int)PHYRDMA_P2P_NONE == (int)PHYR_P2P_NONE);
static_assert((int)PHYRDMA_P2P_NOT_SUPPORTED == (int)PHYR_P2P_NOT_SUPPORTED);
static_assert((int)PHYRDMA_P2P_BUS_ADDR == (int)PHYR_P2P_BUS_ADDR);
static_assert((int)PHYRDMA_P2P_HOST_BRIDGE == (int)PHYR_P2P_HOST_BRIDGE);

/* ---- hints on a registration ------------------------------------------ */

#define PHYRDMA_HINT_FLAGS (PHYRDMA_HINT_REQUIRE_PHYR | \
			    PHYRDMA_HINT_FORCE_LEGACY | \
			    PHYRDMA_HINT_CHOOSE_IOVA | \
			    PHYRDMA_HINT_MAX_IOVA_WASTE | \
			    PHYRDMA_HINT_PREFER_IOMMU)
#define PHYRDMA_MEM_KINDS (PHYRDMA_MEM_RAM | PHYRDMA_MEM_P2P_MMIO | \
			   PHYRDMA_MEM_ENCRYPTED | PHYRDMA_MEM_DECRYPTED)

/**
 * phyrdma_hints_get - read a registration's hints
 * @attrs: the method's bundle, or NULL (no hints: the defaults)
 * @h: output; all zero without the attribute
 *
 * Return: 0; -EOPNOTSUPP for unknown flags, kinds or comp_mask bits;
 * -EINVAL for non-zero reserved fields, contradictory flags or page-size
 * bounds the device cannot have (outside its sizes, or min above max).
 */
int phyrdma_hints_get(struct uverbs_attr_bundle *attrs,
		      struct phyrdma_reg_mr_hints *h)
{
	struct phyrdma_dev *dev;
	u64 cap;
	int ret;

	memset(h, 0, sizeof(*h));
	if (!attrs || !uverbs_attr_is_valid(attrs, PHYRDMA_ATTR_REG_MR_HINTS))
		return 0;
	ret = uverbs_copy_from_or_zero(h, attrs, PHYRDMA_ATTR_REG_MR_HINTS);
	if (ret)
		return ret;
	if (h->comp_mask || (h->flags & ~PHYRDMA_HINT_FLAGS) ||
	    ((h->mem_allowed | h->mem_required) & ~PHYRDMA_MEM_KINDS))
		return -EOPNOTSUPP;
	if (h->reserved0[0] || h->reserved0[1] || h->reserved1)
		return -EINVAL;
	if ((h->flags & PHYRDMA_HINT_REQUIRE_PHYR) &&
	    (h->flags & PHYRDMA_HINT_FORCE_LEGACY))
		return -EINVAL;
	/* what must be there must be allowed */
	if (h->mem_allowed && (h->mem_required & ~h->mem_allowed))
		return -EINVAL;
	if (!(h->flags & PHYRDMA_HINT_MAX_IOVA_WASTE) && h->max_iova_waste)
		return -EINVAL;
	/* a chosen iova the caller is not told would be an MR it cannot use */
	if ((h->flags & PHYRDMA_HINT_CHOOSE_IOVA) &&
	    !uverbs_attr_is_valid(attrs, PHYRDMA_ATTR_REG_MR_RESP_IOVA))
		return -EINVAL;
	dev = to_pdev(attrs->context->device);
	cap = dev->hw.caps.page_size_cap;
	if ((h->min_page_shift && (h->min_page_shift > 63 ||
				   h->min_page_shift > __fls(cap))) ||
	    (h->max_page_shift && (h->max_page_shift > 63 ||
				   h->max_page_shift < __ffs(cap))) ||
	    (h->min_page_shift && h->max_page_shift &&
	     h->min_page_shift > h->max_page_shift))
		return -EINVAL;
	return 0;
}

/**
 * phyrdma_hints_put_iova - tell the caller the iova the driver chose
 * @attrs: the method's bundle
 * @h: the hints phyrdma_hints_get() read
 * @iova: the MR's iova
 *
 * Return: 0, or -EFAULT.
 */
int phyrdma_hints_put_iova(struct uverbs_attr_bundle *attrs,
			   const struct phyrdma_reg_mr_hints *h, u64 iova)
{
	int ret;

	if (!(h->flags & PHYRDMA_HINT_CHOOSE_IOVA))
		return 0;
	ret = uverbs_copy_to(attrs, PHYRDMA_ATTR_REG_MR_RESP_IOVA, &iova,
			     sizeof(iova));
	return IS_UVERBS_COPY_ERR(ret) ? ret : 0;
}

/* ---- the device's DMA constraints ------------------------------------- */

#define PHYRDMA_MAX_IOVA_RANGES 32

/* Remove [start, last] from the @n ranges of @r (room for @max). */
static u32 phyrdma_ranges_cut(struct phyrdma_iova_range *r, u32 n, u32 max,
			      u64 start, u64 last)
{
	u32 i;

	for (i = 0; i < n; i++) {
		if (last < r[i].start || start > r[i].last)
			continue;
		if (start > r[i].start && last < r[i].last) {
			/* a hole: split in two, or keep the lower part only */
			if (n == max) {
				r[i].last = start - 1;
				continue;
			}
			memmove(&r[i + 2], &r[i + 1], (n - i - 1) * sizeof(*r));
			r[i + 1].start = last + 1;
			r[i + 1].last = r[i].last;
			r[i].last = start - 1;
			n++;
			i++;
		} else if (start <= r[i].start && last >= r[i].last) {
			memmove(&r[i], &r[i + 1], (n - i - 1) * sizeof(*r));
			n--;
			i--;
		} else if (start <= r[i].start) {
			r[i].start = last + 1;
		} else {
			r[i].last = start - 1;
		}
	}
	return n;
}

/*
 * The IOVA the device's DMA can use: what its DMA mask reaches, within the
 * domain's aperture, less the domain's reserved regions (MSI windows,
 * firmware-owned ranges).  Without a translating IOMMU, what the mask
 * reaches.
 */
static u32 phyrdma_iova_ranges(struct phyrdma_dev *dev,
			       struct phyrdma_iova_range *r)
{
	struct device *dma_dev = dev->hw.dma_dev;
	struct iommu_domain *domain = dev->hw.domain;
	struct iommu_resv_region *rr;
	LIST_HEAD(resv);
	u32 n = 1;

	r[0].start = 0;
	r[0].last = dma_get_mask(dma_dev);
	if (dev->hw.iommu_mode != PHYRDMA_IOMMU_TRANSLATING || !domain)
		return n;
	if (domain->geometry.force_aperture) {
		r[0].start = max_t(u64, r[0].start,
				   domain->geometry.aperture_start);
		r[0].last = min_t(u64, r[0].last,
				  domain->geometry.aperture_end);
		if (r[0].start > r[0].last)
			return 0;
	}
	iommu_get_resv_regions(dma_dev, &resv);
	list_for_each_entry(rr, &resv, list)
		if (rr->length)
			n = phyrdma_ranges_cut(r, n, PHYRDMA_MAX_IOVA_RANGES,
					       rr->start,
					       rr->start + rr->length - 1);
	iommu_put_resv_regions(dma_dev, &resv);
	return n;
}

static int UVERBS_HANDLER(PHYRDMA_METHOD_QUERY_DMA)(struct uverbs_attr_bundle *attrs)
{
	struct phyrdma_dma_attr out = {};
	struct phyrdma_iova_range *r;
	struct ib_ucontext *uctx;
	struct phyrdma_dev *dev;
	size_t room;
	int ret;

	uctx = ib_uverbs_get_ucontext(attrs);
	if (IS_ERR(uctx))
		return PTR_ERR(uctx);
	dev = to_pdev(uctx->device);

	r = kcalloc(PHYRDMA_MAX_IOVA_RANGES, sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	out.num_iova_ranges = phyrdma_iova_ranges(dev, r);
	out.iommu_mode = dev->hw.iommu_mode;
	out.page_size_cap = dev->hw.caps.page_size_cap;
	if (dev->hw.iommu_mode == PHYRDMA_IOMMU_TRANSLATING && dev->hw.domain)
		out.iommu_page_sizes = dev->hw.domain->pgsize_bitmap;
	out.max_mr_size = PHYRDMA_HW_MAX_MR_SIZE;
	out.max_iova_waste = phyrdma_mr_default_iova_waste();
	out.generation = dev->dma_generation;
	out.flags = PHYRDMA_DMA_P2P |
		    (cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT) ?
		     PHYRDMA_DMA_CC_GUEST : 0);

	if (uverbs_attr_is_valid(attrs, PHYRDMA_ATTR_QUERY_DMA_IOVA_RANGES)) {
		room = uverbs_attr_get_len(attrs,
					   PHYRDMA_ATTR_QUERY_DMA_IOVA_RANGES);
		room = min_t(size_t, room / sizeof(*r), out.num_iova_ranges);
		ret = uverbs_copy_to(attrs, PHYRDMA_ATTR_QUERY_DMA_IOVA_RANGES,
				     r, room * sizeof(*r));
		if (ret)
			goto out;
	}
	ret = uverbs_copy_to_struct_or_zero(attrs, PHYRDMA_ATTR_QUERY_DMA_RESP,
					    &out, sizeof(out));
out:
	kfree(r);
	return ret;
}

/* ---- advice on a dma-buf ---------------------------------------------- */

static int UVERBS_HANDLER(PHYRDMA_METHOD_DMABUF_ADVISE)(struct uverbs_attr_bundle *attrs)
{
	struct phyrdma_dmabuf_advise_req req;
	struct phyrdma_dmabuf_advice out = {};
	struct ib_ucontext *uctx;
	int fd, ret;

	uctx = ib_uverbs_get_ucontext(attrs);
	if (IS_ERR(uctx))
		return PTR_ERR(uctx);
	ret = uverbs_copy_from(&fd, attrs, PHYRDMA_ATTR_DMABUF_ADVISE_FD);
	if (ret)
		return ret;
	ret = uverbs_copy_from_or_zero(&req, attrs,
				       PHYRDMA_ATTR_DMABUF_ADVISE_REQ);
	if (ret)
		return ret;
	if (req.comp_mask)
		return -EOPNOTSUPP;
	if (req.reserved)
		return -EINVAL;
	ret = phyrdma_mr_advise_dmabuf(to_pdev(uctx->device), fd, req.offset,
				       req.length, &out);
	if (ret)
		return ret;
	return uverbs_copy_to_struct_or_zero(attrs,
					     PHYRDMA_ATTR_DMABUF_ADVISE_RESP,
					     &out, sizeof(out));
}

/* ---- an MR's layout ---------------------------------------------------- */

static int UVERBS_HANDLER(PHYRDMA_METHOD_MR_QUERY)(struct uverbs_attr_bundle *attrs)
{
	struct ib_mr *ibmr = uverbs_attr_get_obj(attrs,
						 PHYRDMA_ATTR_MR_QUERY_HANDLE);
	struct phyrdma_mr_layout out = {};

	if (IS_ERR(ibmr))
		return PTR_ERR(ibmr);
	phyrdma_mr_layout(ibmr, &out);
	return uverbs_copy_to_struct_or_zero(attrs, PHYRDMA_ATTR_MR_QUERY_RESP,
					     &out, sizeof(out));
}

DECLARE_UVERBS_NAMED_METHOD(PHYRDMA_METHOD_QUERY_DMA,
			    UVERBS_ATTR_PTR_OUT(PHYRDMA_ATTR_QUERY_DMA_RESP,
						UVERBS_ATTR_STRUCT(struct phyrdma_dma_attr,
								   comp_mask),
						UA_MANDATORY),
			    UVERBS_ATTR_PTR_OUT(PHYRDMA_ATTR_QUERY_DMA_IOVA_RANGES,
						UVERBS_ATTR_MIN_SIZE(0), UA_OPTIONAL));

DECLARE_UVERBS_NAMED_METHOD(PHYRDMA_METHOD_DMABUF_ADVISE,
			    UVERBS_ATTR_PTR_IN(PHYRDMA_ATTR_DMABUF_ADVISE_FD,
					       UVERBS_ATTR_TYPE(s32), UA_MANDATORY),
			    UVERBS_ATTR_PTR_IN(PHYRDMA_ATTR_DMABUF_ADVISE_REQ,
					       UVERBS_ATTR_STRUCT(struct phyrdma_dmabuf_advise_req,
								  length),
					       UA_MANDATORY),
			    UVERBS_ATTR_PTR_OUT(PHYRDMA_ATTR_DMABUF_ADVISE_RESP,
						UVERBS_ATTR_STRUCT(struct phyrdma_dmabuf_advice,
								   comp_mask),
						UA_MANDATORY));

ADD_UVERBS_METHODS(phyrdma_device_methods, UVERBS_OBJECT_DEVICE,
		   &UVERBS_METHOD(PHYRDMA_METHOD_QUERY_DMA),
		   &UVERBS_METHOD(PHYRDMA_METHOD_DMABUF_ADVISE));

DECLARE_UVERBS_NAMED_METHOD(PHYRDMA_METHOD_MR_QUERY,
			    UVERBS_ATTR_IDR(PHYRDMA_ATTR_MR_QUERY_HANDLE, UVERBS_OBJECT_MR,
					    UVERBS_ACCESS_READ, UA_MANDATORY),
			    UVERBS_ATTR_PTR_OUT(PHYRDMA_ATTR_MR_QUERY_RESP,
						UVERBS_ATTR_STRUCT(struct phyrdma_mr_layout,
								   comp_mask),
						UA_MANDATORY));

ADD_UVERBS_METHODS(phyrdma_mr_methods, UVERBS_OBJECT_MR,
		   &UVERBS_METHOD(PHYRDMA_METHOD_MR_QUERY));

ADD_UVERBS_ATTRIBUTES_SIMPLE(phyrdma_reg_mr_attrs, UVERBS_OBJECT_MR,
			     UVERBS_METHOD_REG_MR,
			     UVERBS_ATTR_PTR_IN(PHYRDMA_ATTR_REG_MR_HINTS,
						UVERBS_ATTR_STRUCT(struct phyrdma_reg_mr_hints,
								   flags),
						UA_OPTIONAL),
			     UVERBS_ATTR_PTR_OUT(PHYRDMA_ATTR_REG_MR_RESP_IOVA,
						 UVERBS_ATTR_TYPE(u64), UA_OPTIONAL));

ADD_UVERBS_ATTRIBUTES_SIMPLE(phyrdma_reg_dmabuf_mr_attrs, UVERBS_OBJECT_MR,
			     UVERBS_METHOD_REG_DMABUF_MR,
			     UVERBS_ATTR_PTR_IN(PHYRDMA_ATTR_REG_MR_HINTS,
						UVERBS_ATTR_STRUCT(struct phyrdma_reg_mr_hints,
								   flags),
						UA_OPTIONAL),
			     UVERBS_ATTR_PTR_OUT(PHYRDMA_ATTR_REG_MR_RESP_IOVA,
						 UVERBS_ATTR_TYPE(u64), UA_OPTIONAL));

const struct uapi_definition phyrdma_ext_uapi_defs[] = {
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_DEVICE, &phyrdma_device_methods),
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_MR, &phyrdma_mr_methods),
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_MR, &phyrdma_reg_mr_attrs),
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_MR, &phyrdma_reg_dmabuf_mr_attrs),
	{},
};
