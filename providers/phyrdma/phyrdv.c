// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libphyrdma: the direct verbs of the verbs extension (phyrdv.h).
 *
 * Each call is one ioctl: a driver method of the device or MR object, or
 * the core REG_MR / REG_DMABUF_MR method with the driver's hint attributes
 * linked in.  The kernel's structs (phyrdma-abi.h) stay private; the
 * public ones are copied field by field, so either can grow on its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "phyrdma.h"
#include "phyrdv.h"

/* Is @fld within the first @inlen bytes of the caller's struct @type? */
#define PHYRDV_FIELD_AVAIL(type, fld, inlen) \
	(offsetof(type, fld) + sizeof(((type *)0)->fld) <= (inlen))

static size_t phyrdv_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Bytes of an input struct past ours, from a newer caller, must be zero. */
static bool phyrdv_tail_clear(const void *attr, size_t ours, uint32_t inlen)
{
	const uint8_t *p = attr;
	size_t i;

	for (i = ours; i < inlen; i++)
		if (p[i])
			return false;
	return true;
}

bool phyrdv_is_supported(struct ibv_device *device)
{
	return phyrdma_is_dev(device);
}

static int phyrdv_query_dma_raw(struct ibv_context *context,
				struct phyrdma_dma_attr *out,
				struct phyrdma_iova_range *ranges,
				uint32_t max_ranges)
{
	DECLARE_COMMAND_BUFFER(cmd, UVERBS_OBJECT_DEVICE,
			       PHYRDMA_METHOD_QUERY_DMA, 2);

	if (!phyrdma_is_dev(context->device))
		return EOPNOTSUPP;
	fill_attr_out(cmd, PHYRDMA_ATTR_QUERY_DMA_RESP, out, sizeof(*out));
	/* an attribute's length is 16 bits */
	if (max_ranges > UINT16_MAX / sizeof(*ranges))
		max_ranges = UINT16_MAX / sizeof(*ranges);
	if (ranges && max_ranges)
		fill_attr_out(cmd, PHYRDMA_ATTR_QUERY_DMA_IOVA_RANGES, ranges,
			      (size_t)max_ranges * sizeof(*ranges));
	return execute_ioctl(context, cmd);
}

int phyrdv_query_dma(struct ibv_context *context, struct phyrdv_dma_attr *attr,
		     uint32_t inlen)
{
	struct phyrdma_dma_attr out = {};
	struct phyrdv_dma_attr a = {};
	int ret;

	if (!phyrdma_is_dev(context->device))
		return EOPNOTSUPP;
	if (!PHYRDV_FIELD_AVAIL(struct phyrdv_dma_attr, flags, inlen))
		return EINVAL;
	ret = phyrdv_query_dma_raw(context, &out, NULL, 0);
	if (ret)
		return ret;
	a.iommu_mode = out.iommu_mode;
	a.generation = out.generation;
	a.page_size_cap = out.page_size_cap;
	a.iommu_page_sizes = out.iommu_page_sizes;
	a.max_mr_size = out.max_mr_size;
	a.max_iova_waste = out.max_iova_waste;
	a.num_iova_ranges = out.num_iova_ranges;
	a.flags = out.flags;
	memset(attr, 0, inlen);
	memcpy(attr, &a, phyrdv_min(inlen, sizeof(a)));
	return 0;
}

int phyrdv_query_iova_ranges(struct ibv_context *context,
			     struct phyrdv_iova_range *ranges,
			     uint32_t max_ranges, uint32_t *num_ranges,
			     uint32_t *generation)
{
	struct phyrdma_dma_attr out = {};
	struct phyrdma_iova_range *r = NULL;
	uint32_t i;
	int ret;

	if (!phyrdma_is_dev(context->device))
		return EOPNOTSUPP;
	if (max_ranges && !ranges)
		return EINVAL;
	if (max_ranges) {
		r = calloc(max_ranges, sizeof(*r));
		if (!r)
			return ENOMEM;
	}
	ret = phyrdv_query_dma_raw(context, &out, r, max_ranges);
	if (!ret) {
		for (i = 0; i < max_ranges && i < out.num_iova_ranges; i++) {
			ranges[i].start = r[i].start;
			ranges[i].last = r[i].last;
		}
		if (num_ranges)
			*num_ranges = out.num_iova_ranges;
		if (generation)
			*generation = out.generation;
	}
	free(r);
	return ret;
}

int phyrdv_advise_dmabuf(struct ibv_context *context, int fd, uint64_t offset,
			 size_t length, struct phyrdv_dmabuf_advice *advice,
			 uint32_t inlen)
{
	DECLARE_COMMAND_BUFFER(cmd, UVERBS_OBJECT_DEVICE,
			       PHYRDMA_METHOD_DMABUF_ADVISE, 3);
	struct phyrdma_dmabuf_advise_req req = {
		.offset = offset,
		.length = length,
	};
	struct phyrdma_dmabuf_advice out = {};
	struct phyrdv_dmabuf_advice a = {};
	int ret;

	if (!phyrdma_is_dev(context->device))
		return EOPNOTSUPP;
	if (!PHYRDV_FIELD_AVAIL(struct phyrdv_dmabuf_advice, runs, inlen))
		return EINVAL;
	fill_attr_in_uint32(cmd, PHYRDMA_ATTR_DMABUF_ADVISE_FD, fd);
	fill_attr_in_ptr(cmd, PHYRDMA_ATTR_DMABUF_ADVISE_REQ, &req);
	fill_attr_out_ptr(cmd, PHYRDMA_ATTR_DMABUF_ADVISE_RESP, &out);
	ret = execute_ioctl(context, cmd);
	if (ret)
		return ret;
	a.flags = out.flags;
	a.mem_kinds = out.mem_kinds;
	a.p2p_type = out.p2p_type;
	a.iova_align = out.iova_align;
	a.iova_offset = out.iova_offset;
	a.page_size = out.page_size;
	a.mtt_entries = out.mtt_entries;
	a.iova_bytes = out.iova_bytes;
	a.iommu_page_size = out.iommu_page_size;
	a.runs = out.runs;
	memset(advice, 0, inlen);
	memcpy(advice, &a, phyrdv_min(inlen, sizeof(a)));
	return 0;
}

/* The caller's hints as the kernel reads them; EINVAL/EOPNOTSUPP if bad. */
static int phyrdv_hints(const struct phyrdv_reg_mr_attr *attr, uint32_t inlen,
			struct phyrdma_reg_mr_hints *h)
{
	struct phyrdv_reg_mr_attr a = {};

	memset(h, 0, sizeof(*h));
	if (!attr)
		return 0;
	if (!PHYRDV_FIELD_AVAIL(struct phyrdv_reg_mr_attr, iova, inlen))
		return EINVAL;
	if (!phyrdv_tail_clear(attr, sizeof(a), inlen))
		return EOPNOTSUPP;
	memcpy(&a, attr, phyrdv_min(inlen, sizeof(a)));
	if (a.comp_mask)
		return EOPNOTSUPP;
	if (a.reserved[0] || a.reserved[1])
		return EINVAL;
	/* the flags and kinds are the kernel's, bit for bit: it checks them */
	h->flags = a.flags;
	h->min_page_shift = a.min_page_shift;
	h->max_page_shift = a.max_page_shift;
	h->mem_allowed = a.mem_allowed;
	h->mem_required = a.mem_required;
	h->max_iova_waste = a.max_iova_waste;
	return 0;
}

/*
 * What both registrations check and allocate first: a phyrdma PD, the
 * caller's hints in the kernel's form, the MR.  NULL with errno set.
 */
static struct verbs_mr *phyrdv_reg_prepare(struct ibv_pd *pd,
					   const struct phyrdv_reg_mr_attr *attr,
					   uint32_t inlen,
					   struct phyrdma_reg_mr_hints *h)
{
	struct verbs_mr *vmr;
	int ret;

	if (!phyrdma_is_dev(pd->context->device)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	ret = phyrdv_hints(attr, inlen, h);
	if (ret) {
		errno = ret;
		return NULL;
	}
	vmr = calloc(1, sizeof(*vmr));
	if (!vmr)
		errno = ENOMEM;
	return vmr;
}

struct ibv_mr *phyrdv_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset,
				    size_t length, uint64_t iova, int fd,
				    int access, struct phyrdv_reg_mr_attr *attr,
				    uint32_t inlen)
{
	DECLARE_COMMAND_BUFFER(driver, UVERBS_OBJECT_MR,
			       UVERBS_METHOD_REG_DMABUF_MR, 2);
	struct phyrdma_reg_mr_hints h;
	struct verbs_mr *vmr;
	uint64_t got = iova;
	int ret;

	vmr = phyrdv_reg_prepare(pd, attr, inlen, &h);
	if (!vmr)
		return NULL;
	fill_attr_in_ptr(driver, PHYRDMA_ATTR_REG_MR_HINTS, &h);
	if (h.flags & PHYRDMA_HINT_CHOOSE_IOVA)
		fill_attr_out_ptr(driver, PHYRDMA_ATTR_REG_MR_RESP_IOVA, &got);
	ret = ibv_cmd_reg_dmabuf_mr(pd, offset, length, iova, fd, access, vmr,
				    driver);
	if (ret) {
		free(vmr);
		errno = ret;
		return NULL;
	}
	if (attr)
		attr->iova = got;
	return &vmr->ibv_mr;
}

/*
 * @dontfork: keep the pages out of fork()ed children, as ibv_reg_mr() does;
 * ibv_reg_mr_ex() (the generic verb) has done it already.
 */
struct ibv_mr *phyrdma_reg_mr_hinted(struct ibv_pd *pd, void *addr,
				     size_t length, uint64_t iova, int access,
				     struct phyrdv_reg_mr_attr *attr,
				     uint32_t inlen, bool dontfork)
{
	DECLARE_COMMAND_BUFFER(cmd, UVERBS_OBJECT_MR, UVERBS_METHOD_REG_MR, 10);
	struct phyrdma_reg_mr_hints h;
	struct ib_uverbs_attr *handle;
	uint32_t lkey, rkey;
	struct verbs_mr *vmr;
	uint64_t got = iova;
	int ret;

	vmr = phyrdv_reg_prepare(pd, attr, inlen, &h);
	if (!vmr)
		return NULL;
	/* as ibv_reg_mr() does: pinned pages stay out of fork()ed children */
	dontfork = dontfork && !(access & IBV_ACCESS_ON_DEMAND);
	if (dontfork && ibv_dontfork_range(addr, length)) {
		free(vmr);
		return NULL;
	}
	if (!(verbs_get_device(pd->context->device)->core_support &
	      IB_UVERBS_CORE_SUPPORT_OPTIONAL_MR_ACCESS))
		access &= ~IBV_ACCESS_OPTIONAL_RANGE;
	handle = fill_attr_out_obj(cmd, UVERBS_ATTR_REG_MR_HANDLE);
	fill_attr_out_ptr(cmd, UVERBS_ATTR_REG_MR_RESP_LKEY, &lkey);
	fill_attr_out_ptr(cmd, UVERBS_ATTR_REG_MR_RESP_RKEY, &rkey);
	fill_attr_in_obj(cmd, UVERBS_ATTR_REG_MR_PD_HANDLE, pd->handle);
	fill_attr_in_uint64(cmd, UVERBS_ATTR_REG_MR_ADDR, (uintptr_t)addr);
	fill_attr_in_uint64(cmd, UVERBS_ATTR_REG_MR_LENGTH, length);
	fill_attr_in_uint64(cmd, UVERBS_ATTR_REG_MR_IOVA, iova);
	fill_attr_in_uint32(cmd, UVERBS_ATTR_REG_MR_ACCESS_FLAGS, access);
	fill_attr_in_ptr(cmd, PHYRDMA_ATTR_REG_MR_HINTS, &h);
	if (h.flags & PHYRDMA_HINT_CHOOSE_IOVA)
		fill_attr_out_ptr(cmd, PHYRDMA_ATTR_REG_MR_RESP_IOVA, &got);
	ret = execute_ioctl(pd->context, cmd);
	if (ret) {
		if (dontfork)
			ibv_dofork_range(addr, length);
		free(vmr);
		errno = ret;
		return NULL;
	}
	vmr->ibv_mr.handle = read_attr_obj(UVERBS_ATTR_REG_MR_HANDLE, handle);
	vmr->access = access;
	vmr->ibv_mr.context = pd->context;
	vmr->ibv_mr.lkey = lkey;
	vmr->ibv_mr.rkey = rkey;
	vmr->ibv_mr.pd = pd;
	vmr->ibv_mr.addr = addr;
	vmr->ibv_mr.length = length;
	vmr->mr_type = IBV_MR_TYPE_MR;
	if (attr)
		attr->iova = got;
	return &vmr->ibv_mr;
}

struct ibv_mr *phyrdv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			     uint64_t iova, int access,
			     struct phyrdv_reg_mr_attr *attr, uint32_t inlen)
{
	return phyrdma_reg_mr_hinted(pd, addr, length, iova, access, attr,
				     inlen, true);
}

int phyrdv_query_mr(struct ibv_mr *mr, struct phyrdv_mr_attr *attr,
		    uint32_t inlen)
{
	DECLARE_COMMAND_BUFFER(cmd, UVERBS_OBJECT_MR, PHYRDMA_METHOD_MR_QUERY,
			       2);
	struct phyrdma_mr_layout out = {};
	struct phyrdv_mr_attr a = {};
	int ret;

	if (!phyrdma_is_dev(mr->context->device))
		return EOPNOTSUPP;
	if (!PHYRDV_FIELD_AVAIL(struct phyrdv_mr_attr, kernel_bytes, inlen))
		return EINVAL;
	fill_attr_in_obj(cmd, PHYRDMA_ATTR_MR_QUERY_HANDLE, mr->handle);
	fill_attr_out_ptr(cmd, PHYRDMA_ATTR_MR_QUERY_RESP, &out);
	ret = execute_ioctl(mr->context, cmd);
	if (ret)
		return ret;
	a.path = out.path;
	a.flags = out.flags;
	a.mem_kinds = out.mem_kinds;
	a.p2p_type = out.p2p_type;
	a.mtt_levels = out.mtt_levels;
	a.iova = out.iova;
	a.length = out.length;
	a.page_size = out.page_size;
	a.mtt_entries = out.mtt_entries;
	a.mtt_pages = out.mtt_pages;
	a.iova_bytes = out.iova_bytes;
	a.iova_waste = out.iova_waste;
	a.iommu_page_size = out.iommu_page_size;
	a.runs = out.runs;
	a.iotlb_syncs = out.iotlb_syncs;
	a.scratch_bytes = out.scratch_bytes;
	a.kernel_bytes = out.kernel_bytes;
	memset(attr, 0, inlen);
	memcpy(attr, &a, phyrdv_min(inlen, sizeof(a)));
	return 0;
}
