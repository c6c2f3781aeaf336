# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The verbs extension through libibverbs' generic verbs: rdma-core 65 with
libibverbs/patches, run by tools/libibverbs-lane (LD_LIBRARY_PATH names the
patched library; the stock one stays everyone else's).

The same checks as test_ext.py, through ibv_query_dma_attr(),
ibv_query_iova_ranges(), ibv_query_dmabuf_layout(), ibv_reg_mr_ex() with
IBV_REG_MR_MASK_LAYOUT_HINTS and ibv_query_mr_layout(), each answer held
against the oracle, and every new verb answering EOPNOTSUPP on rxe0.
"""
import ctypes
import errno
import os
import subprocess
import unittest

import phyrmem as pm
from phyrmem import MiB, PAGE
from rawverbs import Pd, Mr, _lib
from rdma_netlink import rdma_statistic

# Nothing here imports pyverbs: the stock pyverbs is built for the stock
# library's private ABI, which the lane's library does not have.
DEV = 'phyrdma0'
KEEP = '/sys/module/phyrdma/parameters/import_keep_ms'


def debugfs_dir(ibdev):
    pci = os.path.basename(os.readlink(f'/sys/class/infiniband/{ibdev}/device'))
    return f'/sys/kernel/debug/phyrdma/{pci}'


counters = rdma_statistic


class MrTestBase(unittest.TestCase):
    """What test_mr's base does, without pyverbs."""

    def setUp(self):
        # no import kept after its last MR: the counters are checked at
        # the end of each test
        with open(KEEP) as f:
            self.keep = f.read().strip()
        with open(KEEP, 'w') as f:
            f.write('0')
        with open(f'{debugfs_dir(DEV)}/iommu') as f:
            self.translating = f.read().strip() == 'translating'
        self.oracle = pm.Oracle(debugfs_dir(DEV))
        self.pd = Pd(DEV)

    def tearDown(self):
        self.pd.close()
        self.oracle.close()
        with open(KEEP, 'w') as f:
            f.write(self.keep)
        c = counters(DEV)
        for name in ('mrs', 'dmabuf_attachments', 'mtt_entries',
                     'iova_bytes'):
            self.assertEqual(c[name], 0, f'counter {name} after the test')

LW = 1
MASK_IOVA, MASK_ADDR, MASK_FD, MASK_FD_OFFSET, MASK_LAYOUT_HINTS = \
    1, 2, 4, 8, 64
HINT_REQUIRE_PHYS, HINT_FORCE_SGT, HINT_CHOOSE_IOVA = 1, 2, 4
LAYOUT_PHYS_RANGES, LAYOUT_ADVICE = 1, 2
MR_PHYS_RANGES, MR_REVOCABLE = 1, 2
MEM_RAM, MEM_P2P_MMIO = 1, 2


class DmaAttr(ctypes.Structure):
    _fields_ = [('comp_mask', ctypes.c_uint64), ('iommu_mode', ctypes.c_uint32),
                ('generation', ctypes.c_uint32),
                ('page_size_cap', ctypes.c_uint64),
                ('iommu_page_sizes', ctypes.c_uint64),
                ('max_mr_size', ctypes.c_uint64),
                ('num_iova_ranges', ctypes.c_uint32),
                ('reserved', ctypes.c_uint32)]


class IovaRange(ctypes.Structure):
    _fields_ = [('start', ctypes.c_uint64), ('last', ctypes.c_uint64)]


class DmabufLayout(ctypes.Structure):
    _fields_ = [('comp_mask', ctypes.c_uint64), ('flags', ctypes.c_uint32),
                ('mem_kinds', ctypes.c_uint32)] + [
        (n, ctypes.c_uint64) for n in ('iova_align', 'iova_offset',
                                       'page_size', 'num_entries',
                                       'iommu_page_size')]


class Hints(ctypes.Structure):
    _fields_ = [('comp_mask', ctypes.c_uint64), ('flags', ctypes.c_uint32),
                ('min_page_shift', ctypes.c_uint8),
                ('max_page_shift', ctypes.c_uint8),
                ('reserved', ctypes.c_uint16),
                ('mem_allowed', ctypes.c_uint32),
                ('mem_required', ctypes.c_uint32),
                ('max_iova_waste', ctypes.c_uint64),
                ('iova', ctypes.c_uint64)]


class MrInitAttr(ctypes.Structure):
    _fields_ = [('length', ctypes.c_size_t), ('access', ctypes.c_int),
                ('comp_mask', ctypes.c_uint64), ('iova', ctypes.c_uint64),
                ('addr', ctypes.c_void_p), ('fd', ctypes.c_int),
                ('fd_offset', ctypes.c_uint64), ('dmah', ctypes.c_void_p),
                ('buf', ctypes.c_void_p),
                ('layout_hints', ctypes.POINTER(Hints))]


class MrLayout(ctypes.Structure):
    _fields_ = [('comp_mask', ctypes.c_uint64), ('flags', ctypes.c_uint32),
                ('mem_kinds', ctypes.c_uint32)] + [
        (n, ctypes.c_uint64) for n in ('iova', 'length', 'page_size',
                                       'num_entries', 'iova_bytes',
                                       'iova_waste', 'iommu_page_size')]


def _bind():
    for name, args in (
            ('ibv_query_dma_attr', [ctypes.c_void_p, ctypes.c_void_p,
                                    ctypes.c_size_t]),
            ('ibv_query_iova_ranges', [ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_uint32,
                                       ctypes.POINTER(ctypes.c_uint32),
                                       ctypes.POINTER(ctypes.c_uint32)]),
            ('ibv_query_dmabuf_layout', [ctypes.c_void_p, ctypes.c_int,
                                         ctypes.c_uint64, ctypes.c_size_t,
                                         ctypes.c_void_p, ctypes.c_size_t]),
            ('ibv_query_mr_layout', [ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_size_t])):
        fn = getattr(_lib, name)
        fn.argtypes = args
        fn.restype = ctypes.c_int
    _lib.ibv_reg_mr_ex.argtypes = [ctypes.c_void_p, ctypes.POINTER(MrInitAttr)]
    _lib.ibv_reg_mr_ex.restype = _lib.ibv_reg_mr_iova2.restype


class GenericVerbsTest(MrTestBase):
    @classmethod
    def setUpClass(cls):
        # the lane's library, not the stock one: the verbs must be there
        assert os.environ.get('PHYRDMA_GENERIC_LIB'), \
            'run by tools/libibverbs-lane'
        _bind()

    def ram(self, size, order=0, flags=0):
        fd = pm.ram_create(size, order, flags)
        self.addCleanup(os.close, fd)
        return fd

    def dma_attr(self, ctx):
        a = DmaAttr()
        ret = _lib.ibv_query_dma_attr(ctx, ctypes.byref(a), ctypes.sizeof(a))
        if ret:
            raise OSError(ret, os.strerror(ret))
        return a

    def advise(self, ctx, fd, off, length):
        lay = DmabufLayout()
        ret = _lib.ibv_query_dmabuf_layout(ctx, fd, off, length,
                                           ctypes.byref(lay),
                                           ctypes.sizeof(lay))
        if ret:
            raise OSError(ret, os.strerror(ret))
        return lay

    def reg(self, pd, fd, size, iova, hints=None):
        attr = MrInitAttr(length=size, access=LW, iova=iova, fd=fd,
                          fd_offset=0,
                          comp_mask=MASK_IOVA | MASK_FD | MASK_FD_OFFSET)
        if hints is not None:
            attr.comp_mask |= MASK_LAYOUT_HINTS
            attr.layout_hints = ctypes.pointer(hints)
        ptr = _lib.ibv_reg_mr_ex(pd.pd, ctypes.byref(attr))
        if not ptr:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return Mr(ptr)

    def layout(self, mr):
        lay = MrLayout()
        ret = _lib.ibv_query_mr_layout(mr._ptr, ctypes.byref(lay),
                                       ctypes.sizeof(lay))
        if ret:
            raise OSError(ret, os.strerror(ret))
        return lay

    def test_dma_attr_and_ranges(self):
        a = self.dma_attr(self.pd.ctx)
        self.assertEqual(a.iommu_mode, 2 if self.translating else 0)
        self.assertEqual(a.page_size_cap, sum(1 << s for s in range(12, 40)))
        arr = (IovaRange * 16)()
        n, gen = ctypes.c_uint32(), ctypes.c_uint32()
        self.assertEqual(_lib.ibv_query_iova_ranges(
            self.pd.ctx, arr, 16, ctypes.byref(n), ctypes.byref(gen)), 0)
        self.assertEqual(n.value, a.num_iova_ranges)
        self.assertEqual(gen.value, a.generation)
        msi = 0xfee00000
        inside = any(arr[i].start <= msi <= arr[i].last for i in range(n.value))
        self.assertEqual(inside, not self.translating)

    def test_advice_hints_and_layout(self):
        size = 16 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        adv = self.advise(self.pd.ctx, fd, 0, size)
        self.assertEqual(adv.flags, LAYOUT_PHYS_RANGES | LAYOUT_ADVICE)
        self.assertEqual(adv.mem_kinds, MEM_RAM)
        hints = Hints(flags=HINT_CHOOSE_IOVA | HINT_REQUIRE_PHYS)
        with self.reg(self.pd, fd, size, 0, hints) as mr:
            self.assertEqual(hints.iova, adv.iova_align + adv.iova_offset)
            lay = self.layout(mr)
            q = self.oracle.query(mr.lkey)
            self.assertEqual(lay.iova, hints.iova)
            self.assertEqual(lay.page_size, q['page_size'])
            self.assertEqual(lay.page_size, adv.page_size)
            self.assertEqual(lay.num_entries, q['mtt_entries'])
            self.assertEqual(lay.num_entries, adv.num_entries)
            self.assertEqual(lay.iommu_page_size, adv.iommu_page_size)
            self.assertEqual(lay.flags, MR_PHYS_RANGES | MR_REVOCABLE)
        with self.reg(self.pd, fd, size, 0x1000,
                      Hints(flags=HINT_FORCE_SGT, max_page_shift=12)) as mr:
            lay = self.layout(mr)
            self.assertEqual(lay.flags & MR_PHYS_RANGES, 0)
            self.assertEqual(lay.page_size, PAGE)
        # a hint that cannot be met, and contradictory ones
        for h, err in ((Hints(mem_allowed=MEM_P2P_MMIO), errno.EMEDIUMTYPE),
                       (Hints(flags=HINT_REQUIRE_PHYS | HINT_FORCE_SGT),
                        errno.EINVAL),
                       (Hints(comp_mask=1), errno.EOPNOTSUPP),
                       (Hints(reserved=1), errno.EINVAL)):
            with self.assertRaises(OSError) as cm:
                self.reg(self.pd, fd, size, 0, h)
            self.assertEqual(cm.exception.errno, err)
        # plain ibv_reg_mr_ex, no hints: the provider's default
        with self.reg(self.pd, fd, size, 0) as mr:
            self.assertTrue(self.layout(mr).flags & MR_PHYS_RANGES)

    def test_rxe_says_eopnotsupp(self):
        if not os.path.exists('/sys/class/infiniband/rxe0'):
            subprocess.run(['/phyrdma/tools/guest/rxe-up'], check=True,
                           capture_output=True, timeout=60)
            self.addCleanup(subprocess.run, ['rdma', 'link', 'delete', 'rxe0'],
                            capture_output=True, timeout=60)
        with Pd('rxe0') as pd:
            a = DmaAttr()
            self.assertEqual(_lib.ibv_query_dma_attr(
                pd.ctx, ctypes.byref(a), ctypes.sizeof(a)), errno.EOPNOTSUPP)
            lay = DmabufLayout()
            self.assertEqual(_lib.ibv_query_dmabuf_layout(
                pd.ctx, 0, 0, PAGE, ctypes.byref(lay), ctypes.sizeof(lay)),
                errno.EOPNOTSUPP)
