# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""pyverbs binding of the phyrdma direct verbs (phyrdv.h, phyrdv(7)).

    from pyverbs.providers.phyrdma import phyrdv

    phyrdv.query_dma(ctx)                       -> dict
    phyrdv.query_iova_ranges(ctx)               -> ([(start, last)], generation)
    phyrdv.advise_dmabuf(ctx, fd, offset, len)  -> dict
    mr = phyrdv.PhyrdvDmaBufMR(pd, length, access, fd, offset=0, iova=0,
                               flags=0, ...)    (mr.iova: the MR's iova)
    phyrdv.query_mr(mr)                         -> dict (any pyverbs MR)

Errors raise PyverbsRDMAError with the errno of the call.
"""

#cython: language_level=3

import errno
import logging

from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from pyverbs.base import PyverbsRDMAErrno
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.device cimport Context
from pyverbs.mr cimport DmaBufMR, MR
from pyverbs.pd cimport PD
cimport pyverbs.providers.phyrdma.libphyrdv as dv


IOMMU_NONE = dv.PHYRDV_IOMMU_NONE
IOMMU_IDENTITY = dv.PHYRDV_IOMMU_IDENTITY
IOMMU_TRANSLATING = dv.PHYRDV_IOMMU_TRANSLATING
DMA_P2P = dv.PHYRDV_DMA_P2P
DMA_CC_GUEST = dv.PHYRDV_DMA_CC_GUEST
MEM_RAM = dv.PHYRDV_MEM_RAM
MEM_P2P_MMIO = dv.PHYRDV_MEM_P2P_MMIO
MEM_ENCRYPTED = dv.PHYRDV_MEM_ENCRYPTED
MEM_DECRYPTED = dv.PHYRDV_MEM_DECRYPTED
P2P_NONE = dv.PHYRDV_P2P_NONE
P2P_NOT_SUPPORTED = dv.PHYRDV_P2P_NOT_SUPPORTED
P2P_BUS_ADDR = dv.PHYRDV_P2P_BUS_ADDR
P2P_HOST_BRIDGE = dv.PHYRDV_P2P_HOST_BRIDGE
ADVICE_PHYR = dv.PHYRDV_ADVICE_PHYR
ADVICE_LAYOUT = dv.PHYRDV_ADVICE_LAYOUT
ADVICE_SHARED = dv.PHYRDV_ADVICE_SHARED
REG_MR_REQUIRE_PHYR = dv.PHYRDV_REG_MR_REQUIRE_PHYR
REG_MR_FORCE_LEGACY = dv.PHYRDV_REG_MR_FORCE_LEGACY
REG_MR_CHOOSE_IOVA = dv.PHYRDV_REG_MR_CHOOSE_IOVA
REG_MR_MAX_IOVA_WASTE = dv.PHYRDV_REG_MR_MAX_IOVA_WASTE
REG_MR_PREFER_IOMMU = dv.PHYRDV_REG_MR_PREFER_IOMMU
MR_PATH_PHYR = dv.PHYRDV_MR_PATH_PHYR
MR_PATH_LEGACY = dv.PHYRDV_MR_PATH_LEGACY
MR_PATH_ODP = dv.PHYRDV_MR_PATH_ODP
MR_REVOCABLE = dv.PHYRDV_MR_REVOCABLE
MR_REVOKED = dv.PHYRDV_MR_REVOKED
MR_ON_DEMAND = dv.PHYRDV_MR_ON_DEMAND
MR_DMABUF = dv.PHYRDV_MR_DMABUF
MR_SHARED = dv.PHYRDV_MR_SHARED


def _check(int ret, what):
    if ret:
        raise PyverbsRDMAError(f'{what} failed', ret)


def is_supported(Context ctx not None):
    """True if the context's device takes the phyrdma direct verbs."""
    return dv.phyrdv_is_supported(ctx.context.device)


def query_dma(Context ctx not None):
    """The device's DMA constraints (phyrdv_query_dma(3))."""
    cdef dv.phyrdv_dma_attr a
    _check(dv.phyrdv_query_dma(ctx.context, &a, sizeof(a)), 'phyrdv_query_dma')
    return {'iommu_mode': a.iommu_mode, 'generation': a.generation,
            'page_size_cap': a.page_size_cap,
            'iommu_page_sizes': a.iommu_page_sizes,
            'max_mr_size': a.max_mr_size, 'max_iova_waste': a.max_iova_waste,
            'num_iova_ranges': a.num_iova_ranges, 'flags': a.flags}


def query_iova_ranges(Context ctx not None, uint32_t max_ranges=64):
    """The usable IOVA ranges and their generation."""
    cdef dv.phyrdv_iova_range *r = NULL
    cdef uint32_t n = 0, gen = 0, i
    if max_ranges:
        r = <dv.phyrdv_iova_range *>calloc(max_ranges, sizeof(r[0]))
        if r == NULL:
            raise MemoryError()
    try:
        _check(dv.phyrdv_query_iova_ranges(ctx.context, r, max_ranges, &n,
                                           &gen), 'phyrdv_query_iova_ranges')
        return [(r[i].start, r[i].last) for i in range(min(n, max_ranges))], gen
    finally:
        free(r)


def advise_dmabuf(Context ctx not None, int fd, uint64_t offset, size_t length):
    """Advice on registering a range of a dma-buf (phyrdv_advise_dmabuf(3))."""
    cdef dv.phyrdv_dmabuf_advice a
    _check(dv.phyrdv_advise_dmabuf(ctx.context, fd, offset, length, &a,
                                   sizeof(a)), 'phyrdv_advise_dmabuf')
    return {'flags': a.flags, 'mem_kinds': a.mem_kinds,
            'p2p_type': a.p2p_type, 'iova_align': a.iova_align,
            'iova_offset': a.iova_offset, 'page_size': a.page_size,
            'mtt_entries': a.mtt_entries, 'iova_bytes': a.iova_bytes,
            'iommu_page_size': a.iommu_page_size, 'runs': a.runs}


def query_mr(MR mr not None):
    """The layout of any MR of this process (phyrdv_query_mr(3))."""
    cdef dv.phyrdv_mr_attr a
    if mr.mr == NULL:
        raise PyverbsRDMAError('phyrdv_query_mr: the MR is closed', errno.EBADF)
    _check(dv.phyrdv_query_mr(mr.mr, &a, sizeof(a)), 'phyrdv_query_mr')
    return {'path': a.path, 'flags': a.flags, 'mem_kinds': a.mem_kinds,
            'p2p_type': a.p2p_type, 'mtt_levels': a.mtt_levels,
            'iova': a.iova, 'length': a.length, 'page_size': a.page_size,
            'mtt_entries': a.mtt_entries, 'mtt_pages': a.mtt_pages,
            'iova_bytes': a.iova_bytes, 'iova_waste': a.iova_waste,
            'iommu_page_size': a.iommu_page_size, 'runs': a.runs,
            'iotlb_syncs': a.iotlb_syncs, 'scratch_bytes': a.scratch_bytes,
            'kernel_bytes': a.kernel_bytes}


cdef class PhyrdvDmaBufMR(DmaBufMR):
    """A dma-buf MR registered with hints (phyrdv_reg_dmabuf_mr(3))."""
    cdef readonly uint64_t iova

    def __init__(self, PD pd not None, length, access, int fd, offset=0,
                 iova=0, flags=0, min_page_shift=0, max_page_shift=0,
                 mem_allowed=0, mem_required=0, max_iova_waste=0):
        cdef dv.phyrdv_reg_mr_attr attr
        self.logger = logging.getLogger(self.__class__.__name__)
        attr.comp_mask = 0
        attr.flags = flags
        attr.min_page_shift = min_page_shift
        attr.max_page_shift = max_page_shift
        attr.reserved[0] = 0
        attr.reserved[1] = 0
        attr.mem_allowed = mem_allowed
        attr.mem_required = mem_required
        attr.max_iova_waste = max_iova_waste
        attr.iova = 0
        self.mr = dv.phyrdv_reg_dmabuf_mr(pd.pd, offset, length, iova, fd,
                                          access, &attr, sizeof(attr))
        if self.mr == NULL:
            raise PyverbsRDMAErrno(
                f'Failed to register a phyrdv dma-buf MR. length: {length}, '
                f'access flags: {access}, hint flags: {flags}')
        self.iova = attr.iova
        self.pd = pd
        self.dmabuf = fd
        self.offset = offset
        pd.add_ref(self)

    def query(self):
        return query_mr(self)
