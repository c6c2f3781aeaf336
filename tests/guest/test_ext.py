# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The verbs extension (phyrdv.h): the device's DMA constraints, advice on
a dma-buf, registration with hints, an MR's layout, and the rdma tool.

Every layout the extension reports is checked against the oracle's view of
the same MR (which only root can read), so the extension cannot report one
layout while the device uses another.

The calls go through the pyverbs binding (pyverbs.providers.phyrdma.phyrdv)
on pyverbs' Context, PD and MR objects, as an application makes them; the
size rules of the structs, which need attribute sizes the binding never
passes, are phyrdma-phyrdv-abi's (tests/guest/phyrdv_abi.c).
"""
import errno
import json
import os
import subprocess

from pyverbs.device import Context
import pyverbs.libibverbs_enums as e
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.providers.phyrdma import phyrdv as pv
from pyverbs.pyverbs_error import PyverbsRDMAError

import phyrmem as pm
from phyrmem import MiB, PAGE
from test_mr import MrTestBase
from test_p2p import topology

LW, RW, RR = 1, 2, 4
KiB = 1024
GiB = 1024 * MiB
CHANGE_ACCESS = e.ibv_rereg_mr_flags.IBV_REREG_MR_CHANGE_ACCESS


class ExtBase(MrTestBase):
    """self.ctx (PhyrdmaTestCase's pyverbs Context of the device) and
    self.vpd, a pyverbs PD on it, take the extension's calls; self.pd (the
    rawverbs PD of MrTestBase) stays for the rest."""

    def setUp(self):
        super().setUp()
        self.vpd = PD(self.ctx)

    def tearDown(self):
        # with any MR a failed test left, before the counters are checked
        self.vpd.close()
        super().tearDown()

    def ram(self, size, order=0, flags=0):
        fd = pm.ram_create(size, order, flags)
        self.addCleanup(os.close, fd)
        return fd

    def user_buffer(self, size):
        """Process memory of its own mapping; its address."""
        import mmap
        buf = mmap.mmap(-1, size)
        self.addCleanup(buf.close)
        return pm.ctypes_addr(buf)

    def same_as_oracle(self, mr, lay):
        """The layout the extension reports is the device's."""
        q = self.oracle.query(mr.lkey)
        self.assertEqual(lay['path'], q['path'])
        self.assertEqual(lay['page_size'], q['page_size'])
        self.assertEqual(lay['mtt_entries'], q['mtt_entries'])
        self.assertEqual(lay['mtt_levels'], q['levels'])
        self.assertEqual(lay['mtt_pages'], q['mtt_pages'])
        self.assertEqual(lay['iova_waste'], q['iova_waste'])
        self.assertEqual(lay['scratch_bytes'], q['scratch_bytes'])
        self.assertEqual(lay['iova'], q['iova'])
        self.assertEqual(lay['length'], q['length'])
        self.assertEqual(lay['iova_bytes'], q['iova_bytes'])
        self.assertEqual(lay['runs'], q['runs'])
        return q

    def res_show_mr(self, lkey):
        """The MR's entry in "rdma res show mr -dd"."""
        out = subprocess.run(['rdma', '-j', '-dd', 'res', 'show', 'mr',
                              'dev', self.dev_name],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        m = [m for m in json.loads(out.stdout)
             if int(m.get('lkey', '-1'), 16) == lkey]
        self.assertEqual(len(m), 1, out.stdout)
        return m[0]


class QueryDmaTest(ExtBase):
    def test_constraints(self):
        a = pv.query_dma(self.ctx)
        mode = {'none': pv.IOMMU_NONE, 'identity': pv.IOMMU_IDENTITY,
                'translating': pv.IOMMU_TRANSLATING}[self.iommu]
        self.assertEqual(a['iommu_mode'], mode)
        # 4 KiB to 1 GiB, every power of two (docs/design.md)
        self.assertEqual(a['page_size_cap'], sum(1 << s for s in range(12, 40)))
        if self.translating:
            self.assertTrue(a['iommu_page_sizes'] & PAGE)
        else:
            self.assertEqual(a['iommu_page_sizes'], 0)
        self.assertEqual(a['max_mr_size'], 1 << 40)
        self.assertEqual(a['max_iova_waste'], self.cap)
        self.assertTrue(a['flags'] & pv.DMA_P2P)
        self.assertFalse(a['flags'] & pv.DMA_CC_GUEST)
        # the generation is the device's, the same on every query
        self.assertEqual(pv.query_dma(self.ctx)['generation'],
                         a['generation'])

    def test_iova_ranges(self):
        a = pv.query_dma(self.ctx)
        ranges, n, gen = pv.query_iova_ranges(self.ctx)
        self.assertEqual(n, a['num_iova_ranges'])
        self.assertEqual(gen, a['generation'])
        self.assertGreaterEqual(n, 1)
        for (s, l), (s2, _) in zip(ranges, ranges[1:]):
            self.assertLess(l, s2, 'ranges not sorted and disjoint')
        for s, l in ranges:
            self.assertLessEqual(s, l)
        if self.translating:
            # the x86 MSI window is reserved in every DMA domain
            msi = 0xfee00000
            self.assertFalse(any(s <= msi <= l for s, l in ranges),
                             'MSI window reported usable')
            self.assertGreaterEqual(n, 2)
        else:
            self.assertEqual(ranges, [(0, (1 << 64) - 1)])
        # room for fewer: the first ones, and the total
        few, n2, _ = pv.query_iova_ranges(self.ctx, 1)
        self.assertEqual(few, ranges[:1])
        self.assertEqual(n2, n)
        none, n3, _ = pv.query_iova_ranges(self.ctx, 0)
        self.assertEqual((none, n3), ([], n))

    # The struct's size rules (short: EINVAL; longer: ours filled, the rest
    # zeroed) are HintTest.test_abi_rules's: query_dma_short, query_dma_long.


class AdviceTest(ExtBase):
    def test_phyr_buffer_of_2m_folios(self):
        """Scattered 2 MiB folios: register at an iova ≡ offset (mod 2 MiB
        or more) and both the device and the IOMMU keep 2 MiB pages."""
        size = 64 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        adv = pv.advise_dmabuf(self.ctx, fd, 0, size)
        self.assertEqual(adv['flags'], pv.ADVICE_PHYR | pv.ADVICE_LAYOUT)
        self.assertEqual(adv['mem_kinds'], pv.MEM_RAM)
        self.assertEqual(adv['p2p_type'], pv.P2P_NONE)
        self.assertEqual(adv['iova_offset'], 0)
        self.assertGreaterEqual(adv['iova_align'], 2 * MiB)
        self.assertEqual(adv['runs'], len(pm.ram_layout(fd)))
        iova = adv['iova_align'] + adv['iova_offset']
        with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, iova=iova) as mr:
            lay = mr.query()
            self.same_as_oracle(mr, lay)
            self.assertEqual(lay['page_size'], adv['page_size'])
            self.assertEqual(lay['mtt_entries'], adv['mtt_entries'])
            self.assertEqual(lay['iova_bytes'], adv['iova_bytes'])
            self.assertEqual(lay['iommu_page_size'], adv['iommu_page_size'])
            if self.translating:
                self.assertEqual(lay['iommu_page_size'], 2 * MiB)
                # one IOVA range: 64 MiB pages for the device
                self.assertEqual(lay['page_size'], 64 * MiB)
            else:
                self.assertEqual(lay['page_size'], 2 * MiB)
        # the iova a 4 KiB-aligned application would pick costs the IOMMU
        # its large pages (docs/performance.md)
        if self.translating:
            with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, iova=0x1000) as mr:
                self.assertEqual(mr.query()['iommu_page_size'], PAGE)

    def test_offset_within_buffer(self):
        size = 16 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        off = 2 * MiB + 3 * PAGE
        adv = pv.advise_dmabuf(self.ctx, fd, off, 4 * MiB)
        self.assertEqual(adv['iova_offset'], off % (2 * MiB))
        iova = adv['iova_align'] * 5 + adv['iova_offset']
        with pv.PhyrdvDmaBufMR(self.vpd, 4 * MiB, LW, fd, offset=off,
                               iova=iova) as mr:
            lay = mr.query()
            self.same_as_oracle(mr, lay)
            self.assertEqual(lay['page_size'], adv['page_size'])
            self.assertEqual(lay['mtt_entries'], adv['mtt_entries'])

    def test_foreign_exporter_has_no_layout(self):
        size = 2 * MiB
        memfd = os.memfd_create('phyrdv', os.MFD_ALLOW_SEALING)
        self.addCleanup(os.close, memfd)
        os.ftruncate(memfd, size)
        import fcntl
        import struct
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, 0x0002)
        req = bytearray(struct.pack('=IIQQ', memfd, 0x01, 0, size))
        dev = os.open('/dev/udmabuf', os.O_RDWR)
        try:
            fd = fcntl.ioctl(dev, pm.ioc(pm.IOC_W, 'u', 0x42, len(req)), req)
        finally:
            os.close(dev)
        self.addCleanup(os.close, fd)
        adv = pv.advise_dmabuf(self.ctx, fd, 0, size)
        self.assertEqual(adv['flags'], 0)
        self.assertEqual(adv['iova_align'], 0)
        # a foreign exporter asked to take the phyr path
        with self.assertRaises(PyverbsRDMAError) as cm:
            pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd,
                              flags=pv.REG_MR_REQUIRE_PHYR)
        self.assertEqual(cm.exception.error_code, errno.ENOPROTOOPT)
        with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd,
                               flags=pv.REG_MR_CHOOSE_IOVA) as mr:
            lay = mr.query()
            self.same_as_oracle(mr, lay)
            self.assertEqual(lay['path'], pv.MR_PATH_LEGACY)
            self.assertEqual(lay['iova'], mr.iova)
            self.assertEqual(mr.iova % PAGE, 0)

    def test_bad_requests(self):
        fd = self.ram(4 * MiB)
        for off, length, err in ((0, 0, errno.EINVAL),
                                 (0, 8 * MiB, errno.EINVAL),
                                 (4 * MiB, PAGE, errno.EINVAL),
                                 (2**64 - PAGE, 2 * PAGE, errno.EINVAL)):
            with self.assertRaises(PyverbsRDMAError, msg=(off, length)) as cm:
                pv.advise_dmabuf(self.ctx, fd, off, length)
            self.assertEqual(cm.exception.error_code, err)
        with self.assertRaises(PyverbsRDMAError) as cm:
            pv.advise_dmabuf(self.ctx, 0, 0, PAGE)  # not a dma-buf
        self.assertIn(cm.exception.error_code, (errno.EBADF, errno.EINVAL))
        # an 8-byte struct (EINVAL) is HintTest.test_abi_rules's
        # advise_dmabuf_short


class SharedAdviceTest(ExtBase):
    """With shared imports (the driver's default) the advice and the layout
    of a registration without hints are the buffer's import's."""
    SHARE = True

    def test_advice_is_the_imports(self):
        """A slice of scattered 2 MiB folios: at any iova the key gets the
        page size of the whole buffer's import, and (with an IOMMU) 2 MiB
        IOMMU pages; what the advice says is what the key gets."""
        size = 64 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        off, length = 2 * MiB + 3 * PAGE + 0x10, 4 * MiB
        adv = pv.advise_dmabuf(self.ctx, fd, off, length)
        self.assertEqual(adv['flags'], pv.ADVICE_PHYR | pv.ADVICE_LAYOUT |
                         pv.ADVICE_SHARED)
        self.assertEqual((adv['iova_align'], adv['iova_offset']),
                         (PAGE, off % PAGE))
        if self.translating:
            self.assertEqual(adv['page_size'], 64 * MiB)
            self.assertEqual(adv['iommu_page_size'], 2 * MiB)
        else:
            self.assertEqual(adv['page_size'], 2 * MiB)
        for iova in (off % PAGE, 0x7f0000001000 + off % PAGE,
                     0x7f0000200000 + off % (2 * MiB)):
            with pv.PhyrdvDmaBufMR(self.vpd, length, LW, fd, offset=off,
                                   iova=iova) as mr:
                lay = mr.query()
                self.same_as_oracle(mr, lay)
                self.assertEqual(lay['flags'], pv.MR_DMABUF | pv.MR_REVOCABLE |
                                 pv.MR_SHARED)
                for k in ('page_size', 'mtt_entries', 'iova_bytes',
                          'iommu_page_size'):
                    self.assertEqual(lay[k], adv[k], f'{k} at iova {iova:#x}')
                got = self.oracle.read(mr.lkey, iova, length)
                self.assertEqual(len(got), length)

    def test_layout_hints_map_their_own(self):
        """A registration with a layout hint is not a key over the import;
        one that leaves the iova to the driver is, at the advised iova."""
        fd = self.ram(8 * MiB, 9)
        for hints in ({'flags': pv.REG_MR_MAX_IOVA_WASTE, 'max_iova_waste': 0},
                      {'flags': pv.REG_MR_PREFER_IOMMU},
                      {'max_page_shift': 21}):
            with pv.PhyrdvDmaBufMR(self.vpd, 4 * MiB, LW, fd, **hints) as mr:
                self.assertFalse(mr.query()['flags'] & pv.MR_SHARED, hints)
        adv = pv.advise_dmabuf(self.ctx, fd, 0x3000, MiB)
        with pv.PhyrdvDmaBufMR(self.vpd, MiB, LW, fd, offset=0x3000,
                               flags=pv.REG_MR_CHOOSE_IOVA) as mr:
            lay = mr.query()
            self.assertTrue(lay['flags'] & pv.MR_SHARED)
            self.assertEqual(mr.iova, adv['iova_align'] + adv['iova_offset'])
            self.assertEqual(lay['page_size'], adv['page_size'])
        with pv.PhyrdvDmaBufMR(self.vpd, 4 * MiB, LW, fd,
                               flags=pv.REG_MR_REQUIRE_PHYR) as mr:
            self.assertTrue(mr.query()['flags'] & pv.MR_SHARED)

    def test_res_show_shared(self):
        fd = self.ram(4 * MiB, 9)
        with pv.PhyrdvDmaBufMR(self.vpd, 2 * MiB, LW, fd) as mr:
            m = self.res_show_mr(mr.lkey)
            self.assertEqual(m['drv_shared'], 1)
            self.assertEqual(m['drv_page_size'], mr.query()['page_size'])


class HintTest(ExtBase):
    # the cases of phyrdma-phyrdv-abi (tests/guest/phyrdv_abi.c), each of
    # which must print "ok NAME"
    ABI_CASES = ('query_dma_short', 'query_dma_long', 'advise_dmabuf_short',
                 'reg_unknown_flag', 'reg_comp_mask', 'reg_unknown_mem_kind',
                 'reg_short', 'reg_reserved', 'reg_long_zero_tail',
                 'reg_long_nonzero_tail', 'query_mr_short', 'query_mr_long')

    def test_choose_iova(self):
        size = 8 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        adv = pv.advise_dmabuf(self.ctx, fd, 0, size)
        with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd,
                               flags=pv.REG_MR_CHOOSE_IOVA) as mr:
            self.assertEqual(mr.iova, adv['iova_align'] + adv['iova_offset'])
            lay = mr.query()
            self.assertEqual(lay['iova'], mr.iova)
            self.same_as_oracle(mr, lay)
            self.assertEqual(lay['page_size'], adv['page_size'])
            # the device answers at the chosen iova
            self.oracle.write(mr.lkey, mr.iova + size - 4, b'abcd')
            self.assertEqual(self.oracle.read(mr.lkey, mr.iova + size - 4, 4),
                             b'abcd')

    def test_choose_iova_user_memory(self):
        size = 4 * MiB
        addr = self.user_buffer(size)
        with pv.PhyrdvMR(self.vpd, size, LW, address=addr, iova=addr,
                         flags=pv.REG_MR_CHOOSE_IOVA) as mr:
            self.assertEqual(mr.buf, addr)
            self.assertEqual(mr.iova % PAGE, addr % PAGE)
            lay = mr.query()
            self.assertEqual(lay['iova'], mr.iova)
            self.same_as_oracle(mr, lay)

    def test_force_legacy_and_require_phyr(self):
        size = 4 * MiB
        fd = self.ram(size, 9)
        with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd,
                               flags=pv.REG_MR_FORCE_LEGACY) as mr:
            self.assertEqual(mr.query()['path'], pv.MR_PATH_LEGACY)
        # the module parameter is a default a hint overrides
        self.set_legacy(True)
        with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd,
                               flags=pv.REG_MR_REQUIRE_PHYR) as mr:
            self.assertEqual(mr.query()['path'], pv.MR_PATH_PHYR)
        self.set_legacy(False)
        with self.assertRaises(PyverbsRDMAError) as cm:
            pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd,
                              flags=pv.REG_MR_REQUIRE_PHYR |
                              pv.REG_MR_FORCE_LEGACY)
        self.assertEqual(cm.exception.error_code, errno.EINVAL)

    def test_page_size_bounds(self):
        size = 4 * MiB
        fd = self.ram(size, 9)
        for path in (0, pv.REG_MR_FORCE_LEGACY):
            with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, flags=path,
                                   max_page_shift=12) as mr:
                lay = mr.query()
                self.assertEqual(lay['page_size'], PAGE)
                self.assertEqual(lay['mtt_entries'], size // PAGE)
            with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, flags=path,
                                   min_page_shift=21,
                                   max_page_shift=21) as mr:
                self.assertEqual(mr.query()['page_size'], 2 * MiB)
        # 4 KiB pages in random order cannot be described by 2 MiB blocks
        # without an IOMMU to lay them out
        scattered = self.ram(size, 0, pm.SHUFFLE)
        if self.translating:
            with pv.PhyrdvDmaBufMR(self.vpd, size, LW, scattered,
                                   min_page_shift=21) as mr:
                self.assertGreaterEqual(mr.query()['page_size'], 2 * MiB)
        else:
            with self.assertRaises(PyverbsRDMAError) as cm:
                pv.PhyrdvDmaBufMR(self.vpd, size, LW, scattered,
                                  min_page_shift=21)
            self.assertEqual(cm.exception.error_code, errno.ERANGE)
        for kw in ({'min_page_shift': 40}, {'max_page_shift': 11},
                   {'min_page_shift': 21, 'max_page_shift': 20}):
            with self.assertRaises(PyverbsRDMAError, msg=kw) as cm:
                pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, **kw)
            self.assertEqual(cm.exception.error_code, errno.EINVAL, kw)

    def test_max_iova_waste(self):
        size = 8 * MiB
        fd = self.ram(size, 9)
        with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, iova=0x1000,
                               flags=pv.REG_MR_MAX_IOVA_WASTE,
                               max_iova_waste=0) as mr:
            lay = mr.query()
            self.same_as_oracle(mr, lay)
            self.assertEqual(lay['iova_waste'], 0)
            if self.translating:
                self.assertEqual(lay['page_size'], PAGE)
        with self.assertRaises(PyverbsRDMAError) as cm:
            pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, max_iova_waste=PAGE)
        self.assertEqual(cm.exception.error_code, errno.EINVAL)

    def test_prefer_iommu(self):
        """A 4 KiB-aligned iova over 2 MiB folios: by default the device
        keeps 2 MiB pages and the IOMMU falls to 4 KiB; preferring the
        IOMMU keeps its 2 MiB pages and gives the device 4 KiB ones."""
        size = 8 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, iova=0x1000) as mr:
            dflt = mr.query()
        with pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, iova=0x1000,
                               flags=pv.REG_MR_PREFER_IOMMU) as mr:
            pref = mr.query()
            self.same_as_oracle(mr, pref)
            self.oracle.write(mr.lkey, 0x1000 + size - 8, b'12345678')
            self.assertEqual(self.oracle.read(mr.lkey, 0x1000 + size - 8, 8),
                             b'12345678')
        if self.translating:
            self.assertEqual(dflt['iommu_page_size'], PAGE)
            self.assertGreaterEqual(dflt['page_size'], 2 * MiB)
            self.assertEqual(pref['iommu_page_size'], 2 * MiB)
            self.assertEqual(pref['page_size'], PAGE)
        else:
            self.assertEqual(pref['page_size'], dflt['page_size'])

    def test_memory_kinds(self):
        fd = self.ram(2 * MiB)
        with pv.PhyrdvDmaBufMR(self.vpd, 2 * MiB, LW, fd,
                               mem_allowed=pv.MEM_RAM) as mr:
            self.assertEqual(mr.query()['mem_kinds'], pv.MEM_RAM)
        for kw in ({'mem_allowed': pv.MEM_P2P_MMIO},
                   {'mem_required': pv.MEM_ENCRYPTED},
                   {'mem_required': pv.MEM_DECRYPTED},
                   {'mem_required': pv.MEM_P2P_MMIO}):
            with self.assertRaises(PyverbsRDMAError, msg=kw) as cm:
                pv.PhyrdvDmaBufMR(self.vpd, 2 * MiB, LW, fd, **kw)
            self.assertEqual(cm.exception.error_code, errno.EMEDIUMTYPE, kw)
            # an exporter's table with entries says nothing sure of its
            # memory: the legacy path refuses to guess
            with self.assertRaises(PyverbsRDMAError, msg=kw) as cm:
                pv.PhyrdvDmaBufMR(self.vpd, 2 * MiB, LW, fd,
                                  flags=pv.REG_MR_FORCE_LEGACY, **kw)
            self.assertEqual(cm.exception.error_code, errno.EOPNOTSUPP, kw)
        # pinned user memory on the legacy path is RAM, surely
        addr = self.user_buffer(2 * MiB)
        with self.assertRaises(PyverbsRDMAError) as cm:
            pv.PhyrdvMR(self.vpd, 2 * MiB, LW, address=addr,
                        flags=pv.REG_MR_FORCE_LEGACY,
                        mem_allowed=pv.MEM_P2P_MMIO)
        self.assertEqual(cm.exception.error_code, errno.EMEDIUMTYPE)
        with self.assertRaises(PyverbsRDMAError) as cm:
            pv.PhyrdvDmaBufMR(self.vpd, 2 * MiB, LW, fd,
                              mem_allowed=pv.MEM_RAM,
                              mem_required=pv.MEM_P2P_MMIO)
        self.assertEqual(cm.exception.error_code, errno.EINVAL)

    def test_abi_rules(self):
        """The size rules of every struct of the extension (phyrdv(7),
        VERSIONING), which need raw attribute sizes: short ones EINVAL,
        longer output ones zero-padded, longer input ones zero past the
        library's or EOPNOTSUPP, unknown flags, memory kinds and comp_mask
        bits EOPNOTSUPP, non-zero reserved bytes EINVAL."""
        out = subprocess.run(['phyrdma-phyrdv-abi', self.dev_name,
                              '/dev/phyr_ram'],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        lines = out.stdout.splitlines()
        for name in self.ABI_CASES:
            self.assertIn(f'ok {name}', lines, out.stdout)
        # nothing ran that is not listed here
        ran = [ln for ln in lines if ln.startswith(('ok ', 'FAIL '))]
        self.assertEqual(len(ran), len(self.ABI_CASES), out.stdout)
        self.assertIn(f'phyrdv-abi: {len(self.ABI_CASES)} passed, 0 failed',
                      lines)

    def test_rereg_of_hinted_mr_is_refused(self):
        """rereg carries no hints: it refuses rather than drop them."""
        addr = self.user_buffer(2 * MiB)
        with pv.PhyrdvMR(self.vpd, 2 * MiB, LW, address=addr,
                         max_page_shift=12) as mr:
            with self.assertRaises(PyverbsRDMAError) as cm:
                mr.rereg(CHANGE_ACCESS, self.vpd, 0, 0, LW | RW)
            self.assertEqual(cm.exception.error_code, errno.EOPNOTSUPP)
            self.assertEqual(mr.query()['page_size'], PAGE)
        # without hints, rereg works as before
        with pv.PhyrdvMR(self.vpd, 2 * MiB, LW, address=addr) as mr:
            mr.rereg(CHANGE_ACCESS, self.vpd, 0, 0, LW | RW)

    def test_on_demand_takes_no_layout_hints(self):
        addr = self.user_buffer(2 * MiB)
        odp = 1 << 6
        with self.assertRaises(PyverbsRDMAError) as cm:
            pv.PhyrdvMR(self.vpd, 2 * MiB, LW | odp, address=addr,
                        flags=pv.REG_MR_CHOOSE_IOVA)
        self.assertEqual(cm.exception.error_code, errno.EINVAL)
        with pv.PhyrdvMR(self.vpd, 2 * MiB, LW | odp, address=addr) as mr:
            lay = mr.query()
            self.assertEqual(lay['path'], pv.MR_PATH_ODP)
            self.assertTrue(lay['flags'] & pv.MR_ON_DEMAND)


class MrQueryTest(ExtBase):
    def test_revoked_gpu_buffer(self):
        nodes = pm.gpus()
        self.assertGreaterEqual(len(nodes), 1)
        gpu = pm.Gpu(*nodes[0])
        self.addCleanup(gpu.close)
        fd = gpu.create(4 * MiB)
        self.addCleanup(os.close, fd)
        adv = pv.advise_dmabuf(self.ctx, fd, 0, 4 * MiB)
        self.assertEqual(adv['mem_kinds'], pv.MEM_P2P_MMIO)
        want = {'root': pv.P2P_HOST_BRIDGE, 'switch': pv.P2P_BUS_ADDR}
        self.assertEqual(adv['p2p_type'], want[topology()])
        with pv.PhyrdvDmaBufMR(self.vpd, 4 * MiB, LW, fd) as mr:
            lay = mr.query()
            self.assertEqual(lay['flags'], pv.MR_DMABUF | pv.MR_REVOCABLE)
            self.assertEqual(lay['mem_kinds'], pv.MEM_P2P_MMIO)
            self.assertEqual(lay['p2p_type'], adv['p2p_type'])
            gpu.revoke(fd)
            lay = mr.query()
            self.assertTrue(lay['flags'] & pv.MR_REVOKED)
            gpu.revoke(fd, False)
        # refusing P2P MMIO, on both paths
        for path in (0, pv.REG_MR_FORCE_LEGACY):
            with self.assertRaises(PyverbsRDMAError) as cm:
                pv.PhyrdvDmaBufMR(self.vpd, 4 * MiB, LW, fd, flags=path,
                                  mem_allowed=pv.MEM_RAM)
            self.assertEqual(cm.exception.error_code, errno.EMEDIUMTYPE)

    # The struct's size rules (short: EINVAL; longer: ours filled, the rest
    # zeroed) are HintTest.test_abi_rules's: query_mr_short, query_mr_long.

    def test_unprivileged_owner(self):
        """An unprivileged process queries its own MRs; nothing it gets
        is an address (the struct has none but its own iova)."""
        code = r'''
import os, sys
os.setgid(65534); os.setuid(65534)
from pyverbs.device import Context
from pyverbs.pd import PD
from pyverbs.providers.phyrdma import phyrdv as pv
ctx = Context(name=sys.argv[1])
pd = PD(ctx)
mr = pv.PhyrdvMR(pd, 1 << 16, 1, iova=0x10000)
lay = mr.query()
print(lay['path'], lay['page_size'], lay['iova'], pv.query_dma(ctx)['iommu_mode'])
mr.close(); pd.close(); ctx.close()
'''
        out = subprocess.run(['python3', '-c', code, self.dev_name],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        path, pgsz, iova, mode = map(int, out.stdout.split())
        self.assertIn(path, (pv.MR_PATH_PHYR, pv.MR_PATH_LEGACY))
        self.assertEqual(iova, 0x10000)


class RdmaToolTest(ExtBase):
    def test_res_show_mr(self):
        fd = self.ram(4 * MiB, 9)
        with pv.PhyrdvDmaBufMR(self.vpd, 4 * MiB, LW, fd) as mr:
            lay = mr.query()
            m = self.res_show_mr(mr.lkey)
            self.assertEqual(m['drv_path'], 'phyr')
            self.assertEqual(m['drv_memory'], 'ram')
            self.assertEqual(m['drv_page_size'], lay['page_size'])
            self.assertEqual(m['drv_mtt_entries'], lay['mtt_entries'])
            self.assertEqual(m['drv_iova_bytes'], lay['iova_bytes'])
            self.assertEqual(m['drv_revoked'], 0)
            # no address of any kind among the driver's attributes
            self.assertFalse([k for k in m if 'dma' in k or 'phys' in k])
            self.assertEqual(int(m['mrlen']), 4 * MiB)

    def test_statistic(self):
        def stats():
            out = subprocess.run(['rdma', '-j', 'statistic', 'show', 'link',
                                  f'{self.dev_name}/1'],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            return json.loads(out.stdout)[0]
        before = stats()
        fd = self.ram(2 * MiB)
        with pv.PhyrdvDmaBufMR(self.vpd, 2 * MiB, LW, fd):
            during = stats()
        self.assertEqual(during['reg_phyr'], before['reg_phyr'] + 1)
        self.assertEqual(during['mrs'], before['mrs'] + 1)


class OtherDeviceTest(ExtBase):
    def test_rxe_says_eopnotsupp(self):
        """On any other device every call fails cleanly."""
        if not os.path.exists('/sys/class/infiniband/rxe0'):
            subprocess.run(['/phyrdma/tools/guest/rxe-up'], check=True,
                           capture_output=True, timeout=60)
            self.addCleanup(subprocess.run, ['rdma', 'link', 'delete', 'rxe0'],
                            capture_output=True, timeout=60)
        with Context(name='rxe0') as ctx:
            self.assertFalse(pv.is_supported(ctx))
            self.assertTrue(pv.is_supported(self.ctx))
            pd = PD(ctx)
            mr = MR(pd, PAGE, LW)
            for call in (lambda: pv.query_dma(ctx),
                         lambda: pv.query_iova_ranges(ctx),
                         lambda: pv.advise_dmabuf(ctx, 0, 0, PAGE),
                         lambda: pv.PhyrdvDmaBufMR(pd, PAGE, LW, 0),
                         lambda: pv.PhyrdvMR(pd, PAGE, LW),
                         lambda: pv.query_mr(mr)):
                with self.assertRaises(PyverbsRDMAError) as cm:
                    call()
                self.assertEqual(cm.exception.error_code, errno.EOPNOTSUPP)


class PyverbsBindingTest(ExtBase):
    """The binding against what other interfaces say of the same device and
    MRs (ibv_query_device, another context, the rdma tool, the oracle),
    on pyverbs' own MRs too, and the buffers and failures of its own."""

    def test_binding(self):
        size = 8 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        self.assertTrue(pv.is_supported(self.ctx))
        a = pv.query_dma(self.ctx)
        # no optional field is defined: none is valid
        self.assertEqual(a['comp_mask'], 0)
        # what the verbs say of the same device
        attr = self.ctx.query_device()
        self.assertEqual(a['page_size_cap'], attr.page_size_cap)
        self.assertEqual(a['max_mr_size'], attr.max_mr_size)
        # another context of the same device: the same answers
        with Context(name=self.dev_name) as ctx:
            self.assertEqual(pv.query_dma(ctx), a)
            self.assertEqual(pv.query_iova_ranges(ctx),
                             pv.query_iova_ranges(self.ctx))
        adv = pv.advise_dmabuf(self.ctx, fd, 0, size)
        self.assertEqual(adv['comp_mask'], 0)
        self.assertEqual(adv['flags'], pv.ADVICE_PHYR | pv.ADVICE_LAYOUT)

        mr = pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd,
                               flags=pv.REG_MR_CHOOSE_IOVA)
        self.assertEqual(mr.iova, adv['iova_align'] + adv['iova_offset'])
        self.assertEqual((mr.dmabuf, mr.offset, mr.length), (fd, 0, size))
        lay = mr.query()
        self.assertEqual(lay, pv.query_mr(mr))
        self.assertEqual(lay['comp_mask'], 0)
        self.assertEqual(lay['iova'], mr.iova)
        self.assertEqual(lay['length'], size)
        self.assertEqual(lay['page_size'], adv['page_size'])
        self.assertEqual(lay['path'], pv.MR_PATH_PHYR)
        self.assertEqual(lay['flags'], pv.MR_DMABUF | pv.MR_REVOCABLE)
        self.same_as_oracle(mr, lay)
        # the rdma tool's view of the same MR
        m = self.res_show_mr(mr.lkey)
        self.assertEqual(m['drv_path'], 'phyr')
        self.assertEqual(m['drv_page_size'], lay['page_size'])
        self.assertEqual(m['drv_mtt_entries'], lay['mtt_entries'])
        self.assertEqual(m['drv_iova_bytes'], lay['iova_bytes'])
        self.assertEqual(int(m['mrlen']), size)
        mr.close()
        with self.assertRaises(PyverbsRDMAError) as cm:
            pv.query_mr(mr)
        self.assertEqual(cm.exception.error_code, errno.EBADF)
        # bad hints: errors with their errno
        with self.assertRaises(PyverbsRDMAError) as cm:
            pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, flags=1 << 20)
        self.assertEqual(cm.exception.error_code, errno.EOPNOTSUPP)
        with self.assertRaises(PyverbsRDMAError) as cm:
            pv.PhyrdvDmaBufMR(self.vpd, size, LW, fd, min_page_shift=21,
                              max_page_shift=20)
        self.assertEqual(cm.exception.error_code, errno.EINVAL)

        # query_mr() of pyverbs' own MR
        with MR(self.vpd, 2 * MiB, LW) as plain:
            lay = pv.query_mr(plain)
            self.assertEqual((lay['iova'], lay['length']),
                             (plain.buf, 2 * MiB))
            self.assertIn(lay['path'], (pv.MR_PATH_PHYR, pv.MR_PATH_LEGACY))
            self.same_as_oracle(plain, lay)
        # a PhyrdvMR's own buffer: page-aligned, registered at its address,
        # and what the CPU writes there is what the device reads
        with pv.PhyrdvMR(self.vpd, 2 * MiB, LW) as own:
            self.assertTrue(own.buf)
            self.assertEqual(own.buf % PAGE, 0)
            self.assertEqual(own.iova, own.buf)
            lay = own.query()
            self.assertEqual((lay['iova'], lay['length']), (own.buf, 2 * MiB))
            self.same_as_oracle(own, lay)
            own.write(b'phyrdv!!', 8, 2 * MiB - 8)
            self.assertEqual(self.oracle.read(own.lkey, own.buf + 2 * MiB - 8,
                                              8), b'phyrdv!!')
        # ... or at the iova asked for, with a bound on its pages
        with pv.PhyrdvMR(self.vpd, 2 * MiB, LW, iova=0x7f0000000000,
                         max_page_shift=12) as own:
            self.assertEqual(own.iova, 0x7f0000000000)
            lay = own.query()
            self.assertEqual((lay['iova'], lay['page_size']),
                             (0x7f0000000000, PAGE))
            self.same_as_oracle(own, lay)


class ManPageTest(ExtBase):
    PAGES = ('phyrdv.7', 'phyrdv_is_supported.3', 'phyrdv_query_dma.3',
             'phyrdv_advise_dmabuf.3', 'phyrdv_reg_dmabuf_mr.3',
             'phyrdv_query_mr.3')

    def test_pages_render(self):
        """Every public function has a page man finds and groff renders
        without a warning."""
        env = dict(os.environ, MANWIDTH='80', MAN_KEEP_STDERR='1',
                   MANROFFOPT='-ww')
        for page in self.PAGES:
            name, sec = page.rsplit('.', 1)
            out = subprocess.run(['man', '-P', 'cat', sec, name],
                                 capture_output=True, text=True, env=env,
                                 timeout=60)
            self.assertEqual(out.returncode, 0, f'{page}: {out.stderr}')
            self.assertEqual(out.stderr.strip(), '', page)
            self.assertIn('NAME', out.stdout, page)
            self.assertIn(name, out.stdout, page)
            # nothing of the markdown left over
            self.assertNotIn('**', out.stdout, page)
            self.assertNotIn('```', out.stdout, page)
        # each function is named in the SYNOPSIS of a page
        text = ''.join(subprocess.run(['man', '-P', 'cat', '3', p.split('.')[0]],
                                      capture_output=True, text=True,
                                      env=env).stdout
                       for p in self.PAGES if p.endswith('.3'))
        for fn in ('phyrdv_is_supported', 'phyrdv_query_dma',
                   'phyrdv_query_iova_ranges', 'phyrdv_advise_dmabuf',
                   'phyrdv_reg_dmabuf_mr', 'phyrdv_reg_mr', 'phyrdv_query_mr'):
            self.assertIn(fn + '(', text, fn)
