# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""pyverbs binding of the phyrdma direct verbs (phyrdv.h, phyrdv(7)).

    from pyverbs.providers.phyrdma import phyrdv

    phyrdv.is_supported(ctx)                    -> bool
    phyrdv.query_dma(ctx)                       -> dict
    phyrdv.query_iova_ranges(ctx, max_ranges=64)
        -> ([(start, last)], num_ranges, generation)
           (the first max_ranges ranges; num_ranges: how many there are)
    phyrdv.advise_dmabuf(ctx, fd, offset, len)  -> dict
    mr = phyrdv.PhyrdvDmaBufMR(pd, length, access, fd, offset=0, iova=0,
                               **hints)         (a range of a dma-buf)
    mr = phyrdv.PhyrdvMR(pd, length, access, address=None, iova=None,
                         **hints)               (process memory)
        address None: the MR allocates its buffer and frees it on close,
        as pyverbs' MR does (mr.buf); iova None: the buffer's address
    hints: flags=0 (REG_MR_*), min_page_shift=0, max_page_shift=0,
           mem_allowed=0, mem_required=0 (MEM_*), max_iova_waste=0
    mr.iova                                     the MR's iova (the driver's
                                                with REG_MR_CHOOSE_IOVA)
    mr.query()                                  -> dict, as query_mr(mr)
    phyrdv.query_mr(mr)                         -> dict (any pyverbs MR)

A dict holds the fields of the C struct (comp_mask among them) but its
reserved ones.  The binding passes the size of the structs of the phyrdv.h
it was built with.  Errors raise PyverbsRDMAError with the errno of the
call (error_code).
"""

#cython: language_level=3

import errno
import logging

from libc.errno cimport errno as c_errno
from libc.stdint cimport uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from pyverbs.pyverbs_error import PyverbsError, PyverbsRDMAError
from pyverbs.device cimport Context
from pyverbs.mr cimport DmaBufMR, MR
from pyverbs.pd cimport PD
cimport pyverbs.libibverbs_enums as e
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
    return {'comp_mask': a.comp_mask, 'iommu_mode': a.iommu_mode,
            'generation': a.generation, 'page_size_cap': a.page_size_cap,
            'iommu_page_sizes': a.iommu_page_sizes,
            'max_mr_size': a.max_mr_size, 'max_iova_waste': a.max_iova_waste,
            'num_iova_ranges': a.num_iova_ranges, 'flags': a.flags}


def query_iova_ranges(Context ctx not None, uint32_t max_ranges=64):
    """The first max_ranges usable IOVA ranges, how many there are, and
    their generation (phyrdv_query_iova_ranges(3))."""
    cdef dv.phyrdv_iova_range *r = NULL
    cdef uint32_t n = 0, gen = 0, i
    if max_ranges:
        r = <dv.phyrdv_iova_range *>calloc(max_ranges, sizeof(r[0]))
        if r == NULL:
            raise MemoryError()
    try:
        _check(dv.phyrdv_query_iova_ranges(ctx.context, r, max_ranges, &n,
                                           &gen), 'phyrdv_query_iova_ranges')
        return ([(r[i].start, r[i].last) for i in range(min(n, max_ranges))],
                n, gen)
    finally:
        free(r)


def advise_dmabuf(Context ctx not None, int fd, uint64_t offset, size_t length):
    """Advice on registering a range of a dma-buf (phyrdv_advise_dmabuf(3))."""
    cdef dv.phyrdv_dmabuf_advice a
    _check(dv.phyrdv_advise_dmabuf(ctx.context, fd, offset, length, &a,
                                   sizeof(a)), 'phyrdv_advise_dmabuf')
    return {'comp_mask': a.comp_mask, 'flags': a.flags,
            'mem_kinds': a.mem_kinds, 'p2p_type': a.p2p_type,
            'iova_align': a.iova_align, 'iova_offset': a.iova_offset,
            'page_size': a.page_size, 'mtt_entries': a.mtt_entries,
            'iova_bytes': a.iova_bytes, 'iommu_page_size': a.iommu_page_size,
            'runs': a.runs}


def query_mr(MR mr not None):
    """The layout of any MR of this process (phyrdv_query_mr(3))."""
    cdef dv.phyrdv_mr_attr a
    if mr.mr == NULL:
        raise PyverbsRDMAError('phyrdv_query_mr: the MR is closed', errno.EBADF)
    _check(dv.phyrdv_query_mr(mr.mr, &a, sizeof(a)), 'phyrdv_query_mr')
    return {'comp_mask': a.comp_mask, 'path': a.path, 'flags': a.flags,
            'mem_kinds': a.mem_kinds, 'p2p_type': a.p2p_type,
            'mtt_levels': a.mtt_levels, 'iova': a.iova, 'length': a.length,
            'page_size': a.page_size, 'mtt_entries': a.mtt_entries,
            'mtt_pages': a.mtt_pages, 'iova_bytes': a.iova_bytes,
            'iova_waste': a.iova_waste, 'iommu_page_size': a.iommu_page_size,
            'runs': a.runs, 'iotlb_syncs': a.iotlb_syncs,
            'scratch_bytes': a.scratch_bytes, 'kernel_bytes': a.kernel_bytes}


cdef _hints(dv.phyrdv_reg_mr_attr *attr, flags, min_page_shift,
            max_page_shift, mem_allowed, mem_required, max_iova_waste):
    """The registration hints in @attr, everything else zero."""
    memset(attr, 0, sizeof(attr[0]))
    attr.flags = flags
    attr.min_page_shift = min_page_shift
    attr.max_page_shift = max_page_shift
    attr.mem_allowed = mem_allowed
    attr.mem_required = mem_required
    attr.max_iova_waste = max_iova_waste


cdef class PhyrdvDmaBufMR(DmaBufMR):
    """A dma-buf MR registered with hints (phyrdv_reg_dmabuf_mr(3))."""
    cdef readonly uint64_t iova

    def __init__(self, PD pd not None, length, access, int fd, offset=0,
                 iova=0, flags=0, min_page_shift=0, max_page_shift=0,
                 mem_allowed=0, mem_required=0, max_iova_waste=0):
        """
        Register @length bytes at @offset of the dma-buf @fd.
        :param pd: A PD object
        :param length: Length in bytes
        :param access: Access flags, see ibv_access_flags enum
        :param fd: The dma-buf's fd (the MR does not close it)
        :param offset: Byte offset from the beginning of the dma-buf
        :param iova: The MR's iova (with REG_MR_CHOOSE_IOVA: its page
                     offset only; the driver's choice is mr.iova)
        :param flags, min_page_shift, max_page_shift, mem_allowed,
               mem_required, max_iova_waste: the hints of
               struct phyrdv_reg_mr_attr
        """
        cdef dv.phyrdv_reg_mr_attr attr
        cdef int err
        self.logger = logging.getLogger(self.__class__.__name__)
        _hints(&attr, flags, min_page_shift, max_page_shift, mem_allowed,
               mem_required, max_iova_waste)
        self.mr = dv.phyrdv_reg_dmabuf_mr(pd.pd, offset, length, iova, fd,
                                          access, &attr, sizeof(attr))
        if self.mr == NULL:
            err = c_errno
            raise PyverbsRDMAError(
                f'Failed to register a phyrdv dma-buf MR. length: {length}, '
                f'access flags: {access}, hint flags: {flags}', err)
        self.iova = attr.iova
        self.pd = pd
        self.dmabuf = fd
        self.offset = offset
        pd.add_ref(self)

    def query(self):
        """The MR's layout, as query_mr()."""
        return query_mr(self)


cdef class PhyrdvMR(MR):
    """Process memory registered with hints (phyrdv_reg_mr(3))."""
    cdef readonly uint64_t iova

    def __init__(self, PD pd not None, length, access, address=None,
                 iova=None, flags=0, min_page_shift=0, max_page_shift=0,
                 mem_allowed=0, mem_required=0, max_iova_waste=0):
        """
        Register @length bytes of process memory: a buffer the MR allocates
        (and frees when it is closed), as pyverbs' MR does, or the caller's
        memory at @address.
        :param pd: A PD object
        :param length: Length in bytes
        :param access: Access flags, see ibv_access_flags enum
                       (IBV_ACCESS_HUGETLB: allocate huge pages, as MR does)
        :param address: The memory to register (Optional); the MR
                        allocates a buffer if it is not given
        :param iova: The MR's iova (Optional): the buffer's address if not
                     given; with REG_MR_CHOOSE_IOVA its page offset only,
                     the driver's choice is mr.iova
        :param flags, min_page_shift, max_page_shift, mem_allowed,
               mem_required, max_iova_waste: the hints of
               struct phyrdv_reg_mr_attr
        """
        cdef dv.phyrdv_reg_mr_attr attr
        cdef int mmap_len = 0
        cdef int err
        self.logger = logging.getLogger(self.__class__.__name__)
        _hints(&attr, flags, min_page_shift, max_page_shift, mem_allowed,
               mem_required, max_iova_waste)
        self.is_huge = True if access & e.IBV_ACCESS_HUGETLB else False
        self.is_user_addr = False
        self.mmap_length = 0
        if address:
            self.is_user_addr = True
            # as MR does: through uintptr_t, which holds any pointer
            self.buf = <void *><uintptr_t>address
        elif length > 0:
            self._allocate_buffer(<size_t>length, self.is_huge, &mmap_len)
            if self.buf == NULL:
                raise PyverbsError(f'Failed to allocate MR buffer of size '
                                   f'{length}')
            self.mmap_length = mmap_len
        if iova is None:
            iova = <uintptr_t>self.buf
        self.mr = dv.phyrdv_reg_mr(pd.pd, self.buf, length, iova, access,
                                   &attr, sizeof(attr))
        if self.mr == NULL:
            err = c_errno
            if not self.is_user_addr:
                self._free_buffer(self.is_huge, self.mmap_length)
            self.buf = NULL
            raise PyverbsRDMAError(
                f'Failed to register a phyrdv MR. length: {length}, '
                f'access flags: {access}, hint flags: {flags}', err)
        self.iova = attr.iova
        self.pd = pd
        pd.add_ref(self)
        self.logger.debug(f'Registered phyrdv ibv_mr. Length: {length}, '
                          f'access flags {access}, hint flags {flags}')

    def query(self):
        """The MR's layout, as query_mr()."""
        return query_mr(self)
