# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# The C declarations of phyrdv.h, for the pyverbs binding.

#cython: language_level=3

from libc.stdint cimport uint8_t, uint32_t, uint64_t
cimport pyverbs.libibverbs as v


cdef extern from 'infiniband/phyrdv.h':

    cdef enum phyrdv_iommu_mode:
        PHYRDV_IOMMU_NONE
        PHYRDV_IOMMU_IDENTITY
        PHYRDV_IOMMU_TRANSLATING

    cdef enum phyrdv_dma_flags:
        PHYRDV_DMA_P2P
        PHYRDV_DMA_CC_GUEST

    cdef enum phyrdv_mem_kind:
        PHYRDV_MEM_RAM
        PHYRDV_MEM_P2P_MMIO
        PHYRDV_MEM_ENCRYPTED
        PHYRDV_MEM_DECRYPTED

    cdef enum phyrdv_p2p_type:
        PHYRDV_P2P_NONE
        PHYRDV_P2P_NOT_SUPPORTED
        PHYRDV_P2P_BUS_ADDR
        PHYRDV_P2P_HOST_BRIDGE

    cdef enum phyrdv_advice_flags:
        PHYRDV_ADVICE_PHYR
        PHYRDV_ADVICE_LAYOUT
        PHYRDV_ADVICE_SHARED

    cdef enum phyrdv_reg_mr_flags:
        PHYRDV_REG_MR_REQUIRE_PHYR
        PHYRDV_REG_MR_FORCE_LEGACY
        PHYRDV_REG_MR_CHOOSE_IOVA
        PHYRDV_REG_MR_MAX_IOVA_WASTE
        PHYRDV_REG_MR_PREFER_IOMMU

    cdef enum phyrdv_mr_path:
        PHYRDV_MR_PATH_PHYR
        PHYRDV_MR_PATH_LEGACY
        PHYRDV_MR_PATH_ODP

    cdef enum phyrdv_mr_flags:
        PHYRDV_MR_REVOCABLE
        PHYRDV_MR_REVOKED
        PHYRDV_MR_ON_DEMAND
        PHYRDV_MR_DMABUF
        PHYRDV_MR_SHARED

    cdef struct phyrdv_dma_attr:
        uint64_t comp_mask
        uint32_t iommu_mode
        uint32_t generation
        uint64_t page_size_cap
        uint64_t iommu_page_sizes
        uint64_t max_mr_size
        uint64_t max_iova_waste
        uint32_t num_iova_ranges
        uint32_t flags

    cdef struct phyrdv_iova_range:
        uint64_t start
        uint64_t last

    cdef struct phyrdv_dmabuf_advice:
        uint64_t comp_mask
        uint32_t flags
        uint32_t mem_kinds
        uint32_t p2p_type
        uint32_t reserved
        uint64_t iova_align
        uint64_t iova_offset
        uint64_t page_size
        uint64_t mtt_entries
        uint64_t iova_bytes
        uint64_t iommu_page_size
        uint64_t runs

    cdef struct phyrdv_reg_mr_attr:
        uint64_t comp_mask
        uint32_t flags
        uint8_t min_page_shift
        uint8_t max_page_shift
        uint8_t reserved[2]
        uint32_t mem_allowed
        uint32_t mem_required
        uint64_t max_iova_waste
        uint64_t iova

    cdef struct phyrdv_mr_attr:
        uint64_t comp_mask
        uint32_t path
        uint32_t flags
        uint32_t mem_kinds
        uint32_t p2p_type
        uint32_t mtt_levels
        uint32_t reserved
        uint64_t iova
        uint64_t length
        uint64_t page_size
        uint64_t mtt_entries
        uint64_t mtt_pages
        uint64_t iova_bytes
        uint64_t iova_waste
        uint64_t iommu_page_size
        uint64_t runs
        uint64_t iotlb_syncs
        uint64_t scratch_bytes
        uint64_t kernel_bytes

    bint phyrdv_is_supported(v.ibv_device *device)
    int phyrdv_query_dma(v.ibv_context *context, phyrdv_dma_attr *attr,
                         uint32_t inlen)
    int phyrdv_query_iova_ranges(v.ibv_context *context,
                                 phyrdv_iova_range *ranges,
                                 uint32_t max_ranges, uint32_t *num_ranges,
                                 uint32_t *generation)
    int phyrdv_advise_dmabuf(v.ibv_context *context, int fd, uint64_t offset,
                             size_t length, phyrdv_dmabuf_advice *advice,
                             uint32_t inlen)
    v.ibv_mr *phyrdv_reg_dmabuf_mr(v.ibv_pd *pd, uint64_t offset,
                                   size_t length, uint64_t iova, int fd,
                                   int access, phyrdv_reg_mr_attr *attr,
                                   uint32_t inlen)
    v.ibv_mr *phyrdv_reg_mr(v.ibv_pd *pd, void *addr, size_t length,
                            uint64_t iova, int access,
                            phyrdv_reg_mr_attr *attr, uint32_t inlen)
    int phyrdv_query_mr(v.ibv_mr *mr, phyrdv_mr_attr *attr, uint32_t inlen)
