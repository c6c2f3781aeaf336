# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The verbs extension (phyrdv.h): the device's DMA constraints, advice on
a dma-buf, registration with hints, an MR's layout, and the rdma tool.

Every layout the extension reports is checked against the oracle's view of
the same MR (which only root can read), so the extension cannot report one
layout while the device uses another.
"""
import ctypes
import errno
import json
import os
import subprocess

import phyrdv as dv
import phyrmem as pm
from phyrmem import MiB, PAGE
from phyrdma_base import debugfs_dir, read
from test_mr import MrTestBase
from test_p2p import topology

LW, RW, RR = 1, 2, 4
KiB = 1024
GiB = 1024 * MiB


class ExtBase(MrTestBase):
    def ram(self, size, order=0, flags=0):
        fd = pm.ram_create(size, order, flags)
        self.addCleanup(os.close, fd)
        return fd

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


class QueryDmaTest(ExtBase):
    def test_constraints(self):
        a = dv.query_dma(self.pd.ctx)
        mode = {'none': dv.IOMMU_NONE, 'identity': dv.IOMMU_IDENTITY,
                'translating': dv.IOMMU_TRANSLATING}[self.iommu]
        self.assertEqual(a['iommu_mode'], mode)
        # 4 KiB to 1 GiB, every power of two (docs/design.md)
        self.assertEqual(a['page_size_cap'], sum(1 << s for s in range(12, 40)))
        if self.translating:
            self.assertTrue(a['iommu_page_sizes'] & PAGE)
        else:
            self.assertEqual(a['iommu_page_sizes'], 0)
        self.assertEqual(a['max_mr_size'], 1 << 40)
        self.assertEqual(a['max_iova_waste'], self.cap)
        self.assertTrue(a['flags'] & dv.DMA_P2P)
        self.assertFalse(a['flags'] & dv.DMA_CC_GUEST)
        # the generation is the device's, the same on every query
        self.assertEqual(dv.query_dma(self.pd.ctx)['generation'],
                         a['generation'])

    def test_iova_ranges(self):
        a = dv.query_dma(self.pd.ctx)
        ranges, n, gen = dv.query_iova_ranges(self.pd.ctx)
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
        few, n2, _ = dv.query_iova_ranges(self.pd.ctx, 1)
        self.assertEqual(few, ranges[:1])
        self.assertEqual(n2, n)
        none, n3, _ = dv.query_iova_ranges(self.pd.ctx, 0)
        self.assertEqual((none, n3), ([], n))

    def test_inlen(self):
        full = ctypes.sizeof(dv.DmaAttr)
        with self.assertRaises(OSError) as cm:
            dv.query_dma(self.pd.ctx, full - 4)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        # a newer caller's longer struct: ours filled, the rest zeroed
        a = dv.query_dma(self.pd.ctx, full + 64)
        self.assertEqual(a, dv.query_dma(self.pd.ctx))


class AdviceTest(ExtBase):
    def test_phyr_buffer_of_2m_folios(self):
        """Scattered 2 MiB folios: register at an iova ≡ offset (mod 2 MiB
        or more) and both the device and the IOMMU keep 2 MiB pages."""
        size = 64 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        adv = dv.advise_dmabuf(self.pd.ctx, fd, 0, size)
        self.assertEqual(adv['flags'], dv.ADVICE_PHYR | dv.ADVICE_LAYOUT)
        self.assertEqual(adv['mem_kinds'], dv.MEM_RAM)
        self.assertEqual(adv['p2p_type'], dv.P2P_NONE)
        self.assertEqual(adv['iova_offset'], 0)
        self.assertGreaterEqual(adv['iova_align'], 2 * MiB)
        self.assertEqual(adv['runs'], len(pm.ram_layout(fd)))
        iova = adv['iova_align'] + adv['iova_offset']
        with dv.reg_dmabuf_mr(self.pd, 0, size, iova, fd, LW) as mr:
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
            with dv.reg_dmabuf_mr(self.pd, 0, size, 0x1000, fd, LW) as mr:
                self.assertEqual(mr.query()['iommu_page_size'], PAGE)

    def test_offset_within_buffer(self):
        size = 16 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        off = 2 * MiB + 3 * PAGE
        adv = dv.advise_dmabuf(self.pd.ctx, fd, off, 4 * MiB)
        self.assertEqual(adv['iova_offset'], off % (2 * MiB))
        iova = adv['iova_align'] * 5 + adv['iova_offset']
        with dv.reg_dmabuf_mr(self.pd, off, 4 * MiB, iova, fd, LW) as mr:
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
        adv = dv.advise_dmabuf(self.pd.ctx, fd, 0, size)
        self.assertEqual(adv['flags'], 0)
        self.assertEqual(adv['iova_align'], 0)
        # a foreign exporter asked to take the phyr path
        with self.assertRaises(OSError) as cm:
            dv.reg_dmabuf_mr(self.pd, 0, size, 0, fd, LW,
                             dv.reg_attr(flags=dv.REQUIRE_PHYR))
        self.assertEqual(cm.exception.errno, errno.ENOPROTOOPT)
        with dv.reg_dmabuf_mr(self.pd, 0, size, 0, fd, LW,
                              dv.reg_attr(flags=dv.CHOOSE_IOVA)) as mr:
            lay = mr.query()
            self.same_as_oracle(mr, lay)
            self.assertEqual(lay['path'], dv.PATH_LEGACY)
            self.assertEqual(lay['iova'], mr.iova)
            self.assertEqual(mr.iova % PAGE, 0)

    def test_bad_requests(self):
        fd = self.ram(4 * MiB)
        for off, length, err in ((0, 0, errno.EINVAL),
                                 (0, 8 * MiB, errno.EINVAL),
                                 (4 * MiB, PAGE, errno.EINVAL),
                                 (2**64 - PAGE, 2 * PAGE, errno.EINVAL)):
            with self.assertRaises(OSError, msg=(off, length)) as cm:
                dv.advise_dmabuf(self.pd.ctx, fd, off, length)
            self.assertEqual(cm.exception.errno, err)
        with self.assertRaises(OSError) as cm:
            dv.advise_dmabuf(self.pd.ctx, 0, 0, PAGE)  # not a dma-buf
        self.assertIn(cm.exception.errno, (errno.EBADF, errno.EINVAL))
        with self.assertRaises(OSError) as cm:
            dv.advise_dmabuf(self.pd.ctx, fd, 0, PAGE, 8)
        self.assertEqual(cm.exception.errno, errno.EINVAL)


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
        adv = dv.advise_dmabuf(self.pd.ctx, fd, off, length)
        self.assertEqual(adv['flags'], dv.ADVICE_PHYR | dv.ADVICE_LAYOUT |
                         dv.ADVICE_SHARED)
        self.assertEqual((adv['iova_align'], adv['iova_offset']),
                         (PAGE, off % PAGE))
        if self.translating:
            self.assertEqual(adv['page_size'], 64 * MiB)
            self.assertEqual(adv['iommu_page_size'], 2 * MiB)
        else:
            self.assertEqual(adv['page_size'], 2 * MiB)
        for iova in (off % PAGE, 0x7f0000001000 + off % PAGE,
                     0x7f0000200000 + off % (2 * MiB)):
            with dv.reg_dmabuf_mr(self.pd, off, length, iova, fd, LW) as mr:
                lay = mr.query()
                self.same_as_oracle(mr, lay)
                self.assertEqual(lay['flags'], dv.MR_DMABUF | dv.MR_REVOCABLE |
                                 dv.MR_SHARED)
                for k in ('page_size', 'mtt_entries', 'iova_bytes',
                          'iommu_page_size'):
                    self.assertEqual(lay[k], adv[k], f'{k} at iova {iova:#x}')
                got = self.oracle.read(mr.lkey, iova, length)
                self.assertEqual(len(got), length)

    def test_layout_hints_map_their_own(self):
        """A registration with a layout hint is not a key over the import;
        one that leaves the iova to the driver is, at the advised iova."""
        fd = self.ram(8 * MiB, 9)
        for attr in (dv.reg_attr(flags=dv.MAX_IOVA_WASTE, max_iova_waste=0),
                     dv.reg_attr(flags=dv.PREFER_IOMMU),
                     dv.reg_attr(max_page_shift=21)):
            with dv.reg_dmabuf_mr(self.pd, 0, 4 * MiB, 0, fd, LW, attr) as mr:
                self.assertFalse(mr.query()['flags'] & dv.MR_SHARED)
        adv = dv.advise_dmabuf(self.pd.ctx, fd, 0x3000, MiB)
        with dv.reg_dmabuf_mr(self.pd, 0x3000, MiB, 0, fd, LW,
                              dv.reg_attr(flags=dv.CHOOSE_IOVA)) as mr:
            lay = mr.query()
            self.assertTrue(lay['flags'] & dv.MR_SHARED)
            self.assertEqual(mr.iova, adv['iova_align'] + adv['iova_offset'])
            self.assertEqual(lay['page_size'], adv['page_size'])
        with dv.reg_dmabuf_mr(self.pd, 0, 4 * MiB, 0, fd, LW,
                              dv.reg_attr(flags=dv.REQUIRE_PHYR)) as mr:
            self.assertTrue(mr.query()['flags'] & dv.MR_SHARED)

    def test_res_show_shared(self):
        fd = self.ram(4 * MiB, 9)
        with dv.reg_dmabuf_mr(self.pd, 0, 2 * MiB, 0, fd, LW) as mr:
            out = subprocess.run(['rdma', '-j', '-dd', 'res', 'show', 'mr',
                                  'dev', self.dev_name],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            m = [m for m in json.loads(out.stdout)
                 if int(m.get('lkey', '-1'), 16) == mr.lkey]
            self.assertEqual(len(m), 1, out.stdout)
            self.assertEqual(m[0]['drv_shared'], 1)
            self.assertEqual(m[0]['drv_page_size'], mr.query()['page_size'])


class HintTest(ExtBase):
    def test_choose_iova(self):
        size = 8 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        adv = dv.advise_dmabuf(self.pd.ctx, fd, 0, size)
        attr = dv.reg_attr(flags=dv.CHOOSE_IOVA)
        with dv.reg_dmabuf_mr(self.pd, 0, size, 0x1000 * 0, fd, LW, attr) as mr:
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
        import mmap
        size = 4 * MiB
        buf = mmap.mmap(-1, size)
        self.addCleanup(buf.close)
        addr = pm.ctypes_addr(buf)
        attr = dv.reg_attr(flags=dv.CHOOSE_IOVA)
        with dv.reg_mr(self.pd, addr, size, addr, LW, attr) as mr:
            self.assertEqual(mr.iova % PAGE, addr % PAGE)
            lay = mr.query()
            self.assertEqual(lay['iova'], mr.iova)
            self.same_as_oracle(mr, lay)

    def test_force_legacy_and_require_phyr(self):
        size = 4 * MiB
        fd = self.ram(size, 9)
        with dv.reg_dmabuf_mr(self.pd, 0, size, 0, fd, LW,
                              dv.reg_attr(flags=dv.FORCE_LEGACY)) as mr:
            self.assertEqual(mr.query()['path'], dv.PATH_LEGACY)
        # the module parameter is a default a hint overrides
        self.set_legacy(True)
        with dv.reg_dmabuf_mr(self.pd, 0, size, 0, fd, LW,
                              dv.reg_attr(flags=dv.REQUIRE_PHYR)) as mr:
            self.assertEqual(mr.query()['path'], dv.PATH_PHYR)
        self.set_legacy(False)
        with self.assertRaises(OSError) as cm:
            dv.reg_dmabuf_mr(self.pd, 0, size, 0, fd, LW,
                             dv.reg_attr(flags=dv.REQUIRE_PHYR |
                                         dv.FORCE_LEGACY))
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_page_size_bounds(self):
        size = 4 * MiB
        fd = self.ram(size, 9)
        for path in (0, dv.FORCE_LEGACY):
            with dv.reg_dmabuf_mr(self.pd, 0, size, 0, fd, LW,
                                  dv.reg_attr(flags=path,
                                              max_page_shift=12)) as mr:
                lay = mr.query()
                self.assertEqual(lay['page_size'], PAGE)
                self.assertEqual(lay['mtt_entries'], size // PAGE)
            with dv.reg_dmabuf_mr(self.pd, 0, size, 0, fd, LW,
                                  dv.reg_attr(flags=path, min_page_shift=21,
                                              max_page_shift=21)) as mr:
                self.assertEqual(mr.query()['page_size'], 2 * MiB)
        # 4 KiB pages in random order cannot be described by 2 MiB blocks
        # without an IOMMU to lay them out
        scattered = self.ram(size, 0, pm.SHUFFLE)
        attr = dv.reg_attr(min_page_shift=21)
        if self.translating:
            with dv.reg_dmabuf_mr(self.pd, 0, size, 0, scattered, LW,
                                  attr) as mr:
                self.assertGreaterEqual(mr.query()['page_size'], 2 * MiB)
        else:
            with self.assertRaises(OSError) as cm:
                dv.reg_dmabuf_mr(self.pd, 0, size, 0, scattered, LW, attr)
            self.assertEqual(cm.exception.errno, errno.ERANGE)
        for kw in ({'min_page_shift': 40}, {'max_page_shift': 11},
                   {'min_page_shift': 21, 'max_page_shift': 20}):
            with self.assertRaises(OSError, msg=kw) as cm:
                dv.reg_dmabuf_mr(self.pd, 0, size, 0, fd, LW,
                                 dv.reg_attr(**kw))
            self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_max_iova_waste(self):
        size = 8 * MiB
        fd = self.ram(size, 9)
        attr = dv.reg_attr(flags=dv.MAX_IOVA_WASTE, max_iova_waste=0)
        with dv.reg_dmabuf_mr(self.pd, 0, size, 0x1000, fd, LW, attr) as mr:
            lay = mr.query()
            self.same_as_oracle(mr, lay)
            self.assertEqual(lay['iova_waste'], 0)
            if self.translating:
                self.assertEqual(lay['page_size'], PAGE)
        with self.assertRaises(OSError) as cm:
            dv.reg_dmabuf_mr(self.pd, 0, size, 0, fd, LW,
                             dv.reg_attr(max_iova_waste=PAGE))
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_prefer_iommu(self):
        """A 4 KiB-aligned iova over 2 MiB folios: by default the device
        keeps 2 MiB pages and the IOMMU falls to 4 KiB; preferring the
        IOMMU keeps its 2 MiB pages and gives the device 4 KiB ones."""
        size = 8 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        with dv.reg_dmabuf_mr(self.pd, 0, size, 0x1000, fd, LW) as mr:
            dflt = mr.query()
        with dv.reg_dmabuf_mr(self.pd, 0, size, 0x1000, fd, LW,
                              dv.reg_attr(flags=dv.PREFER_IOMMU)) as mr:
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
        with dv.reg_dmabuf_mr(self.pd, 0, 2 * MiB, 0, fd, LW,
                              dv.reg_attr(mem_allowed=dv.MEM_RAM)) as mr:
            self.assertEqual(mr.query()['mem_kinds'], dv.MEM_RAM)
        for kw in ({'mem_allowed': dv.MEM_P2P_MMIO},
                   {'mem_required': dv.MEM_ENCRYPTED},
                   {'mem_required': dv.MEM_DECRYPTED},
                   {'mem_required': dv.MEM_P2P_MMIO}):
            with self.assertRaises(OSError, msg=kw) as cm:
                dv.reg_dmabuf_mr(self.pd, 0, 2 * MiB, 0, fd, LW,
                                 dv.reg_attr(**kw))
            self.assertEqual(cm.exception.errno, errno.EMEDIUMTYPE)
            # an exporter's table with entries says nothing sure of its
            # memory: the legacy path refuses to guess
            with self.assertRaises(OSError, msg=kw) as cm:
                dv.reg_dmabuf_mr(self.pd, 0, 2 * MiB, 0, fd, LW,
                                 dv.reg_attr(flags=dv.FORCE_LEGACY, **kw))
            self.assertEqual(cm.exception.errno, errno.EOPNOTSUPP)
        # pinned user memory on the legacy path is RAM, surely
        import mmap
        buf = mmap.mmap(-1, 2 * MiB)
        self.addCleanup(buf.close)
        addr = pm.ctypes_addr(buf)
        with self.assertRaises(OSError) as cm:
            dv.reg_mr(self.pd, addr, 2 * MiB, addr, LW,
                      dv.reg_attr(flags=dv.FORCE_LEGACY,
                                  mem_allowed=dv.MEM_P2P_MMIO))
        self.assertEqual(cm.exception.errno, errno.EMEDIUMTYPE)
        with self.assertRaises(OSError) as cm:
            dv.reg_dmabuf_mr(self.pd, 0, 2 * MiB, 0, fd, LW,
                             dv.reg_attr(mem_allowed=dv.MEM_RAM,
                                         mem_required=dv.MEM_P2P_MMIO))
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_abi_rules(self):
        fd = self.ram(2 * MiB)
        full = ctypes.sizeof(dv.RegAttr)
        cases = [
            (dv.reg_attr(flags=1 << 20), full, errno.EOPNOTSUPP),
            (dv.reg_attr(comp_mask=1), full, errno.EOPNOTSUPP),
            (dv.reg_attr(mem_allowed=1 << 9), full, errno.EOPNOTSUPP),
            (dv.reg_attr(), full - 8, errno.EINVAL),
        ]
        bad = dv.reg_attr()
        bad.reserved[0] = 1
        cases.append((bad, full, errno.EINVAL))
        for attr, inlen, err in cases:
            with self.assertRaises(OSError, msg=attr.as_dict()) as cm:
                dv.reg_dmabuf_mr(self.pd, 0, 2 * MiB, 0, fd, LW, attr, inlen)
            self.assertEqual(cm.exception.errno, err)
        # a longer struct from a newer caller: zeroes past ours are fine,
        # anything else is a request this library cannot honour
        raw = (ctypes.c_uint8 * (full + 16))()
        ctypes.memmove(raw, ctypes.byref(dv.reg_attr()), full)
        mr = dv._lib.phyrdv_reg_dmabuf_mr(self.pd.pd, 0, 2 * MiB, 0, fd, LW,
                                          raw, full + 16)
        self.assertTrue(mr)
        dv.ExtMr(mr, 0).close()
        raw[full + 3] = 1
        self.assertFalse(dv._lib.phyrdv_reg_dmabuf_mr(self.pd.pd, 0, 2 * MiB,
                                                      0, fd, LW, raw,
                                                      full + 16))
        self.assertEqual(ctypes.get_errno(), errno.EOPNOTSUPP)

    def test_rereg_of_hinted_mr_is_refused(self):
        """rereg carries no hints: it refuses rather than drop them."""
        import mmap
        from rawverbs import _lib as ibv
        buf = mmap.mmap(-1, 2 * MiB)
        self.addCleanup(buf.close)
        addr = pm.ctypes_addr(buf)
        ibv.ibv_rereg_mr.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                     ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_size_t, ctypes.c_int]
        with dv.reg_mr(self.pd, addr, 2 * MiB, addr, LW,
                       dv.reg_attr(max_page_shift=12)) as mr:
            ctypes.set_errno(0)
            ret = ibv.ibv_rereg_mr(mr.raw, 4, None, None, 0, LW | RW)
            self.assertNotEqual(ret, 0)
            self.assertEqual(ctypes.get_errno(), errno.EOPNOTSUPP)
            self.assertEqual(mr.query()['page_size'], PAGE)
        # without hints, rereg works as before
        with dv.reg_mr(self.pd, addr, 2 * MiB, addr, LW) as mr:
            self.assertEqual(ibv.ibv_rereg_mr(mr.raw, 4, None, None, 0,
                                              LW | RW), 0)

    def test_on_demand_takes_no_layout_hints(self):
        import mmap
        buf = mmap.mmap(-1, 2 * MiB)
        self.addCleanup(buf.close)
        addr = pm.ctypes_addr(buf)
        odp = 1 << 6
        with self.assertRaises(OSError) as cm:
            dv.reg_mr(self.pd, addr, 2 * MiB, addr, LW | odp,
                      dv.reg_attr(flags=dv.CHOOSE_IOVA))
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with dv.reg_mr(self.pd, addr, 2 * MiB, addr, LW | odp,
                       dv.reg_attr()) as mr:
            lay = mr.query()
            self.assertEqual(lay['path'], dv.PATH_ODP)
            self.assertTrue(lay['flags'] & dv.MR_ON_DEMAND)


class MrQueryTest(ExtBase):
    def test_revoked_gpu_buffer(self):
        nodes = pm.gpus()
        self.assertGreaterEqual(len(nodes), 1)
        gpu = pm.Gpu(*nodes[0])
        self.addCleanup(gpu.close)
        fd = gpu.create(4 * MiB)
        self.addCleanup(os.close, fd)
        adv = dv.advise_dmabuf(self.pd.ctx, fd, 0, 4 * MiB)
        self.assertEqual(adv['mem_kinds'], dv.MEM_P2P_MMIO)
        want = {'root': dv.P2P_HOST_BRIDGE, 'switch': dv.P2P_BUS_ADDR}
        self.assertEqual(adv['p2p_type'], want[topology()])
        with dv.reg_dmabuf_mr(self.pd, 0, 4 * MiB, 0, fd, LW) as mr:
            lay = mr.query()
            self.assertEqual(lay['flags'], dv.MR_DMABUF | dv.MR_REVOCABLE)
            self.assertEqual(lay['mem_kinds'], dv.MEM_P2P_MMIO)
            self.assertEqual(lay['p2p_type'], adv['p2p_type'])
            gpu.revoke(fd)
            lay = mr.query()
            self.assertTrue(lay['flags'] & dv.MR_REVOKED)
            gpu.revoke(fd, False)
        # refusing P2P MMIO, on both paths
        for path in (0, dv.FORCE_LEGACY):
            with self.assertRaises(OSError) as cm:
                dv.reg_dmabuf_mr(self.pd, 0, 4 * MiB, 0, fd, LW,
                                 dv.reg_attr(flags=path,
                                             mem_allowed=dv.MEM_RAM))
            self.assertEqual(cm.exception.errno, errno.EMEDIUMTYPE)

    def test_inlen(self):
        fd = self.ram(2 * MiB)
        with dv.reg_dmabuf_mr(self.pd, 0, 2 * MiB, 0, fd, LW) as mr:
            full = ctypes.sizeof(dv.MrAttr)
            with self.assertRaises(OSError) as cm:
                mr.query(full - 8)
            self.assertEqual(cm.exception.errno, errno.EINVAL)
            self.assertEqual(mr.query(full + 32), mr.query())

    def test_unprivileged_owner(self):
        """An unprivileged process queries its own MRs; nothing it gets
        is an address (the struct has none but its own iova)."""
        code = r'''
import os, sys, mmap
sys.path.insert(0, '/phyrdma/tests/guest')
os.setgid(65534); os.setuid(65534)
import phyrdv as dv, phyrmem as pm
from rawverbs import Pd
pd = Pd(sys.argv[1])
buf = mmap.mmap(-1, 1 << 16)
addr = pm.ctypes_addr(buf)
mr = dv.reg_mr(pd, addr, 1 << 16, 0x10000, 1)
lay = mr.query()
print(lay['path'], lay['page_size'], lay['iova'], dv.query_dma(pd.ctx)['iommu_mode'])
mr.close(); pd.close()
'''
        out = subprocess.run(['python3', '-c', code, self.dev_name],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        path, pgsz, iova, mode = map(int, out.stdout.split())
        self.assertIn(path, (dv.PATH_PHYR, dv.PATH_LEGACY))
        self.assertEqual(iova, 0x10000)


class RdmaToolTest(ExtBase):
    def test_res_show_mr(self):
        fd = self.ram(4 * MiB, 9)
        with dv.reg_dmabuf_mr(self.pd, 0, 4 * MiB, 0, fd, LW) as mr:
            lay = mr.query()
            out = subprocess.run(['rdma', '-j', '-dd', 'res', 'show', 'mr',
                                  'dev', self.dev_name],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            mrs = [m for m in json.loads(out.stdout)
                   if int(m.get('lkey', '-1'), 16) == mr.lkey]
            self.assertEqual(len(mrs), 1, out.stdout)
            m = mrs[0]
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
        with dv.reg_dmabuf_mr(self.pd, 0, 2 * MiB, 0, fd, LW):
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
        from rawverbs import Pd
        with Pd('rxe0') as pd:
            self.assertFalse(dv.is_supported(pd.ctx))
            self.assertTrue(dv.is_supported(self.pd.ctx))
            for call in (lambda: dv.query_dma(pd.ctx),
                         lambda: dv.query_iova_ranges(pd.ctx),
                         lambda: dv.advise_dmabuf(pd.ctx, 0, 0, PAGE),
                         lambda: dv.reg_dmabuf_mr(pd, 0, PAGE, 0, 0, LW)):
                with self.assertRaises(OSError) as cm:
                    call()
                self.assertEqual(cm.exception.errno, errno.EOPNOTSUPP)


class PyverbsBindingTest(ExtBase):
    """The pyverbs binding (pyverbs.providers.phyrdma.phyrdv) on pyverbs'
    own Context, PD and MR objects, against the same calls through ctypes."""

    def test_binding(self):
        from pyverbs.device import Context
        from pyverbs.pd import PD
        from pyverbs.pyverbs_error import PyverbsRDMAError
        from pyverbs.providers.phyrdma import phyrdv as pv
        size = 8 * MiB
        fd = self.ram(size, 9, pm.SHUFFLE)
        with Context(name=self.dev_name) as ctx:
            self.assertTrue(pv.is_supported(ctx))
            want = dv.query_dma(self.pd.ctx)
            del want['comp_mask']
            got = pv.query_dma(ctx)
            # another context of the same device: the same answer
            self.assertEqual(got, want)
            ranges, gen = pv.query_iova_ranges(ctx)
            self.assertEqual((ranges, gen), dv.query_iova_ranges(self.pd.ctx)[::2])
            adv = pv.advise_dmabuf(ctx, fd, 0, size)
            self.assertEqual(adv['flags'], pv.ADVICE_PHYR | pv.ADVICE_LAYOUT)
            with PD(ctx) as pd:
                mr = pv.PhyrdvDmaBufMR(pd, size, LW, fd,
                                       flags=pv.REG_MR_CHOOSE_IOVA)
                self.assertEqual(mr.iova,
                                 adv['iova_align'] + adv['iova_offset'])
                lay = mr.query()
                self.assertEqual(lay, pv.query_mr(mr))
                self.assertEqual(lay['page_size'], adv['page_size'])
                self.assertEqual(lay['path'], pv.MR_PATH_PHYR)
                self.same_as_oracle(mr, lay)
                mr.close()
                with self.assertRaises(PyverbsRDMAError) as cm:
                    pv.PhyrdvDmaBufMR(pd, size, LW, fd, flags=1 << 20)
                self.assertEqual(cm.exception.error_code, errno.EOPNOTSUPP)
                with self.assertRaises(PyverbsRDMAError) as cm:
                    pv.PhyrdvDmaBufMR(pd, size, LW, fd, min_page_shift=21,
                                      max_page_shift=20)
                self.assertEqual(cm.exception.error_code, errno.EINVAL)


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
