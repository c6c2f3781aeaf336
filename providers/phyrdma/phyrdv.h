/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * phyrdv: phyrdma direct verbs, the verbs extension for dma-buf layout.
 *
 * An application learns the device's DMA constraints, asks where to
 * register a dma-buf so that the device and the IOMMU both keep their
 * large pages, registers with hints, and reads back the layout its MR got.
 * See phyrdv(7).
 *
 * Every struct is versioned by its size: callers pass sizeof() of the
 * struct they were built with as @inlen, and a newer library fills or reads
 * only what that size holds.  comp_mask says which optional fields are
 * valid.  On a device other than phyrdma every call fails with EOPNOTSUPP.
 */
#ifndef __PHYRDV_H__
#define __PHYRDV_H__

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

bool phyrdv_is_supported(struct ibv_device *device);

enum phyrdv_iommu_mode {
	PHYRDV_IOMMU_NONE = 0,		/* DMA addresses are physical */
	PHYRDV_IOMMU_IDENTITY = 1,	/* a passthrough domain: the same */
	PHYRDV_IOMMU_TRANSLATING = 2,	/* DMA addresses are IOVAs */
};

enum phyrdv_dma_flags {
	PHYRDV_DMA_P2P = 1 << 0,	/* P2P MMIO can be registered */
	PHYRDV_DMA_CC_GUEST = 1 << 1,	/* a confidential guest */
};

struct phyrdv_dma_attr {
	uint64_t comp_mask;
	uint32_t iommu_mode;		/* enum phyrdv_iommu_mode */
	uint32_t generation;		/* changes with the IOMMU domain */
	uint64_t page_size_cap;		/* device page sizes, one bit each */
	uint64_t iommu_page_sizes;	/* 0 without a translating IOMMU */
	uint64_t max_mr_size;
	uint64_t max_iova_waste;	/* the system-wide default */
	uint32_t num_iova_ranges;
	uint32_t flags;			/* enum phyrdv_dma_flags */
};

struct phyrdv_iova_range {
	uint64_t start;
	uint64_t last;			/* inclusive */
};

int phyrdv_query_dma(struct ibv_context *context, struct phyrdv_dma_attr *attr,
		     uint32_t inlen);
int phyrdv_query_iova_ranges(struct ibv_context *context,
			     struct phyrdv_iova_range *ranges,
			     uint32_t max_ranges, uint32_t *num_ranges,
			     uint32_t *generation);

enum phyrdv_mem_kind {
	PHYRDV_MEM_RAM = 1 << 0,
	PHYRDV_MEM_P2P_MMIO = 1 << 1,
	PHYRDV_MEM_ENCRYPTED = 1 << 2,	/* a confidential guest's private memory */
	PHYRDV_MEM_DECRYPTED = 1 << 3,	/* ... shared with the host */
};

enum phyrdv_p2p_type {
	PHYRDV_P2P_NONE = 0,
	PHYRDV_P2P_NOT_SUPPORTED = 1,
	PHYRDV_P2P_BUS_ADDR = 2,
	PHYRDV_P2P_HOST_BRIDGE = 3,
};

enum phyrdv_advice_flags {
	PHYRDV_ADVICE_PHYR = 1 << 0,	/* the exporter speaks phyr */
	PHYRDV_ADVICE_LAYOUT = 1 << 1,	/* the layout fields are valid */
	PHYRDV_ADVICE_SHARED = 1 << 2,	/* ... and are the buffer's import's */
};

struct phyrdv_dmabuf_advice {
	uint64_t comp_mask;
	uint32_t flags;			/* enum phyrdv_advice_flags */
	uint32_t mem_kinds;		/* enum phyrdv_mem_kind bits */
	uint32_t p2p_type;		/* enum phyrdv_p2p_type */
	uint32_t reserved;
	/* register at an iova with iova % iova_align == iova_offset ... */
	uint64_t iova_align;
	uint64_t iova_offset;
	/* ... and get this */
	uint64_t page_size;
	uint64_t mtt_entries;
	uint64_t iova_bytes;
	uint64_t iommu_page_size;
	uint64_t runs;
};

int phyrdv_advise_dmabuf(struct ibv_context *context, int fd, uint64_t offset,
			 size_t length, struct phyrdv_dmabuf_advice *advice,
			 uint32_t inlen);

enum phyrdv_reg_mr_flags {
	PHYRDV_REG_MR_REQUIRE_PHYR = 1 << 0,
	PHYRDV_REG_MR_FORCE_LEGACY = 1 << 1,
	PHYRDV_REG_MR_CHOOSE_IOVA = 1 << 2,
	PHYRDV_REG_MR_MAX_IOVA_WASTE = 1 << 3,
	PHYRDV_REG_MR_PREFER_IOMMU = 1 << 4,
};

struct phyrdv_reg_mr_attr {
	uint64_t comp_mask;
	uint32_t flags;			/* enum phyrdv_reg_mr_flags */
	uint8_t min_page_shift;		/* 0: no bound */
	uint8_t max_page_shift;		/* 0: no bound */
	uint8_t reserved[2];
	uint32_t mem_allowed;		/* enum phyrdv_mem_kind; 0: any */
	uint32_t mem_required;
	uint64_t max_iova_waste;	/* with PHYRDV_REG_MR_MAX_IOVA_WASTE */
	uint64_t iova;			/* out: the MR's iova */
};

struct ibv_mr *phyrdv_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset,
				    size_t length, uint64_t iova, int fd,
				    int access, struct phyrdv_reg_mr_attr *attr,
				    uint32_t inlen);
struct ibv_mr *phyrdv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			     uint64_t iova, int access,
			     struct phyrdv_reg_mr_attr *attr, uint32_t inlen);

enum phyrdv_mr_path {
	PHYRDV_MR_PATH_PHYR = 1,
	PHYRDV_MR_PATH_LEGACY = 2,
	PHYRDV_MR_PATH_ODP = 3,
};

enum phyrdv_mr_flags {
	PHYRDV_MR_REVOCABLE = 1 << 0,
	PHYRDV_MR_REVOKED = 1 << 1,
	PHYRDV_MR_ON_DEMAND = 1 << 2,
	PHYRDV_MR_DMABUF = 1 << 3,
	PHYRDV_MR_SHARED = 1 << 4,
};

struct phyrdv_mr_attr {
	uint64_t comp_mask;
	uint32_t path;			/* enum phyrdv_mr_path */
	uint32_t flags;			/* enum phyrdv_mr_flags */
	uint32_t mem_kinds;		/* enum phyrdv_mem_kind bits */
	uint32_t p2p_type;		/* enum phyrdv_p2p_type */
	uint32_t mtt_levels;
	uint32_t reserved;
	uint64_t iova;
	uint64_t length;
	uint64_t page_size;
	uint64_t mtt_entries;
	uint64_t mtt_pages;
	uint64_t iova_bytes;
	uint64_t iova_waste;
	uint64_t iommu_page_size;
	uint64_t runs;
	uint64_t iotlb_syncs;
	uint64_t scratch_bytes;
	uint64_t kernel_bytes;
};

int phyrdv_query_mr(struct ibv_mr *mr, struct phyrdv_mr_attr *attr,
		    uint32_t inlen);

#ifdef __cplusplus
}
#endif

#endif /* __PHYRDV_H__ */
