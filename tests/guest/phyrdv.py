# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The direct verbs of the verbs extension (phyrdv.h), through ctypes
against the installed libphyrdma.so.1, on the contexts and PDs of
rawverbs (which keeps every argument under the test's control: raw
pointers, short attribute sizes, PDs of other processes), where the
Cython binding (pyverbs.providers.phyrdma.phyrdv) cannot go.  The enum
values come from that binding; the structures' layouts are still written
here as well as in phyrdv.h.
"""
import ctypes
import os

from pyverbs.providers.phyrdma import phyrdv as _dv
from rawverbs import Mr, _lib as _ibv

_lib = ctypes.CDLL('libphyrdma.so.1', use_errno=True)

# The extension's enum values, from the Cython binding (which takes them
# from phyrdv.h): never retyped here.

IOMMU_NONE, IOMMU_IDENTITY, IOMMU_TRANSLATING = \
    _dv.IOMMU_NONE, _dv.IOMMU_IDENTITY, _dv.IOMMU_TRANSLATING
DMA_P2P, DMA_CC_GUEST = _dv.DMA_P2P, _dv.DMA_CC_GUEST
MEM_RAM, MEM_P2P_MMIO, MEM_ENCRYPTED, MEM_DECRYPTED = \
    _dv.MEM_RAM, _dv.MEM_P2P_MMIO, _dv.MEM_ENCRYPTED, _dv.MEM_DECRYPTED
P2P_NONE, P2P_NOT_SUPPORTED, P2P_BUS_ADDR, P2P_HOST_BRIDGE = \
    _dv.P2P_NONE, _dv.P2P_NOT_SUPPORTED, _dv.P2P_BUS_ADDR, _dv.P2P_HOST_BRIDGE
ADVICE_PHYR, ADVICE_LAYOUT, ADVICE_SHARED = \
    _dv.ADVICE_PHYR, _dv.ADVICE_LAYOUT, _dv.ADVICE_SHARED
REQUIRE_PHYR, FORCE_LEGACY, CHOOSE_IOVA, MAX_IOVA_WASTE, PREFER_IOMMU = \
    _dv.REG_MR_REQUIRE_PHYR, _dv.REG_MR_FORCE_LEGACY, _dv.REG_MR_CHOOSE_IOVA, \
    _dv.REG_MR_MAX_IOVA_WASTE, _dv.REG_MR_PREFER_IOMMU
PATH_PHYR, PATH_LEGACY, PATH_ODP = \
    _dv.MR_PATH_PHYR, _dv.MR_PATH_LEGACY, _dv.MR_PATH_ODP
MR_REVOCABLE, MR_REVOKED, MR_ON_DEMAND, MR_DMABUF, MR_SHARED = \
    _dv.MR_REVOCABLE, _dv.MR_REVOKED, _dv.MR_ON_DEMAND, _dv.MR_DMABUF, \
    _dv.MR_SHARED


class _Struct(ctypes.Structure):
    def as_dict(self):
        return {name: getattr(self, name) for name, _ in self._fields_}


class DmaAttr(_Struct):
    _fields_ = [('comp_mask', ctypes.c_uint64), ('iommu_mode', ctypes.c_uint32),
                ('generation', ctypes.c_uint32),
                ('page_size_cap', ctypes.c_uint64),
                ('iommu_page_sizes', ctypes.c_uint64),
                ('max_mr_size', ctypes.c_uint64),
                ('max_iova_waste', ctypes.c_uint64),
                ('num_iova_ranges', ctypes.c_uint32),
                ('flags', ctypes.c_uint32)]


class IovaRange(_Struct):
    _fields_ = [('start', ctypes.c_uint64), ('last', ctypes.c_uint64)]


class Advice(_Struct):
    _fields_ = [('comp_mask', ctypes.c_uint64), ('flags', ctypes.c_uint32),
                ('mem_kinds', ctypes.c_uint32), ('p2p_type', ctypes.c_uint32),
                ('reserved', ctypes.c_uint32),
                ('iova_align', ctypes.c_uint64),
                ('iova_offset', ctypes.c_uint64),
                ('page_size', ctypes.c_uint64),
                ('mtt_entries', ctypes.c_uint64),
                ('iova_bytes', ctypes.c_uint64),
                ('iommu_page_size', ctypes.c_uint64),
                ('runs', ctypes.c_uint64)]


class RegAttr(_Struct):
    _fields_ = [('comp_mask', ctypes.c_uint64), ('flags', ctypes.c_uint32),
                ('min_page_shift', ctypes.c_uint8),
                ('max_page_shift', ctypes.c_uint8),
                ('reserved', ctypes.c_uint8 * 2),
                ('mem_allowed', ctypes.c_uint32),
                ('mem_required', ctypes.c_uint32),
                ('max_iova_waste', ctypes.c_uint64),
                ('iova', ctypes.c_uint64)]


class MrAttr(_Struct):
    _fields_ = [('comp_mask', ctypes.c_uint64), ('path', ctypes.c_uint32),
                ('flags', ctypes.c_uint32), ('mem_kinds', ctypes.c_uint32),
                ('p2p_type', ctypes.c_uint32), ('mtt_levels', ctypes.c_uint32),
                ('reserved', ctypes.c_uint32)] + [
        (n, ctypes.c_uint64) for n in (
            'iova', 'length', 'page_size', 'mtt_entries', 'mtt_pages',
            'iova_bytes', 'iova_waste', 'iommu_page_size', 'runs',
            'iotlb_syncs', 'scratch_bytes', 'kernel_bytes')]


_lib.phyrdv_is_supported.restype = ctypes.c_bool
_lib.phyrdv_is_supported.argtypes = [ctypes.c_void_p]
for _f in ('phyrdv_query_dma', 'phyrdv_advise_dmabuf', 'phyrdv_query_mr',
           'phyrdv_query_iova_ranges'):
    getattr(_lib, _f).restype = ctypes.c_int
_lib.phyrdv_query_dma.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                  ctypes.c_uint32]
_lib.phyrdv_query_iova_ranges.argtypes = [
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32,
    ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32)]
_lib.phyrdv_advise_dmabuf.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                      ctypes.c_uint64, ctypes.c_size_t,
                                      ctypes.c_void_p, ctypes.c_uint32]
_lib.phyrdv_reg_dmabuf_mr.restype = ctypes.c_void_p
_lib.phyrdv_reg_dmabuf_mr.argtypes = [ctypes.c_void_p, ctypes.c_uint64,
                                      ctypes.c_size_t, ctypes.c_uint64,
                                      ctypes.c_int, ctypes.c_int,
                                      ctypes.c_void_p, ctypes.c_uint32]
_lib.phyrdv_reg_mr.restype = ctypes.c_void_p
_lib.phyrdv_reg_mr.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_size_t, ctypes.c_uint64, ctypes.c_int,
                               ctypes.c_void_p, ctypes.c_uint32]
_lib.phyrdv_query_mr.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_uint32]


def _raise(ret, what):
    if ret:
        raise OSError(ret, f'{what}: {os.strerror(ret)}')


def _buf(obj, inlen):
    """A buffer of inlen bytes holding obj (zero-padded or cut)."""
    raw = (ctypes.c_uint8 * max(inlen, 1))()
    ctypes.memmove(raw, ctypes.byref(obj), min(inlen, ctypes.sizeof(obj)))
    return raw


def _back(raw, cls, inlen):
    obj = cls()
    ctypes.memmove(ctypes.byref(obj), raw, min(inlen, ctypes.sizeof(cls)))
    return obj


def is_supported(ctx):
    """For a rawverbs context: its ibv_device is phyrdma's."""
    dev = ctypes.c_void_p.from_address(ctx).value  # ibv_context.device
    return _lib.phyrdv_is_supported(dev)


def query_dma(ctx, inlen=None):
    inlen = ctypes.sizeof(DmaAttr) if inlen is None else inlen
    raw = _buf(DmaAttr(), inlen)
    _raise(_lib.phyrdv_query_dma(ctx, raw, inlen), 'phyrdv_query_dma')
    return _back(raw, DmaAttr, inlen).as_dict()


def query_iova_ranges(ctx, max_ranges=32):
    arr = (IovaRange * max(max_ranges, 1))()
    num, gen = ctypes.c_uint32(), ctypes.c_uint32()
    _raise(_lib.phyrdv_query_iova_ranges(ctx, arr if max_ranges else None,
                                         max_ranges, ctypes.byref(num),
                                         ctypes.byref(gen)),
           'phyrdv_query_iova_ranges')
    n = min(num.value, max_ranges)
    return [(arr[i].start, arr[i].last) for i in range(n)], num.value, gen.value


def advise_dmabuf(ctx, fd, offset, length, inlen=None):
    inlen = ctypes.sizeof(Advice) if inlen is None else inlen
    raw = _buf(Advice(), inlen)
    _raise(_lib.phyrdv_advise_dmabuf(ctx, fd, offset, length, raw, inlen),
           'phyrdv_advise_dmabuf')
    return _back(raw, Advice, inlen).as_dict()


def reg_attr(**kw):
    a = RegAttr()
    for k, v in kw.items():
        setattr(a, k, v)
    return a


class ExtMr(Mr):
    """An MR from a direct verb; iova is the one the driver gave it."""

    def __init__(self, ptr, iova):
        super().__init__(ctypes.cast(ptr, _ibv.ibv_reg_mr_iova2.restype))
        self.iova = iova
        self.raw = ptr

    def query(self, inlen=None):
        inlen = ctypes.sizeof(MrAttr) if inlen is None else inlen
        raw = _buf(MrAttr(), inlen)
        _raise(_lib.phyrdv_query_mr(self.raw, raw, inlen), 'phyrdv_query_mr')
        return _back(raw, MrAttr, inlen).as_dict()


def _reg(fn, args, attr, inlen, what):
    raw = None
    if attr is not None:
        inlen = ctypes.sizeof(RegAttr) if inlen is None else inlen
        raw = _buf(attr, inlen)
    ptr = fn(*args, raw, inlen or 0)
    if not ptr:
        err = ctypes.get_errno()
        raise OSError(err, f'{what}: {os.strerror(err)}')
    iova = _back(raw, RegAttr, inlen).iova if raw is not None else args[-3]
    return ExtMr(ptr, iova)


def reg_dmabuf_mr(pd, offset, length, iova, fd, access, attr=None, inlen=None):
    return _reg(_lib.phyrdv_reg_dmabuf_mr,
                (pd.pd, offset, length, iova, fd, access), attr, inlen,
                'phyrdv_reg_dmabuf_mr')


def reg_mr(pd, addr, length, iova, access, attr=None, inlen=None):
    raw = None
    if attr is not None:
        inlen = ctypes.sizeof(RegAttr) if inlen is None else inlen
        raw = _buf(attr, inlen)
    ptr = _lib.phyrdv_reg_mr(pd.pd, addr, length, iova, access, raw,
                             inlen or 0)
    if not ptr:
        err = ctypes.get_errno()
        raise OSError(err, f'phyrdv_reg_mr: {os.strerror(err)}')
    got = _back(raw, RegAttr, inlen).iova if raw is not None else iova
    return ExtMr(ptr, got)
