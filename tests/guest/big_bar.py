# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A GPU BAR of 256 GiB (tools/vm --big-bar=256G: sparse, host memory only
where touched) registered whole as one MR, on both paths.  Run by name in
that lane only: tests/run-guest big_bar.

The phyr path gives the whole BAR one or two device entries at any iova:
the import is placed by the BAR's physical phase and a key carries a page
offset into its table.  The legacy path gets one entry only at an iova
congruent to its DMA address; at a 4 KiB-aligned one it needs 4 KiB pages,
64 Mi entries and half a GiB of table, which phyrdma-bench scale measures
and this lane does not repeat.
"""
import mmap
import os
import random

import phyrmem as pm
from phyrmem import GiB, MiB, PAGE
from phyrdma_base import counters
from test_p2p import ALL_ACCESS, P2pBase

BIG = 256 * GiB


class CpuWindows:
    """What the CPU reads at byte ranges of a dma-buf, each through a
    mapping of just the pages that hold it."""

    def __init__(self, fd):
        self.fd = fd

    def __getitem__(self, r):
        start = r.start or 0
        first = start - start % PAGE
        length = -(-(r.stop - first) // PAGE) * PAGE
        with mmap.mmap(self.fd, length, mmap.MAP_SHARED,
                       mmap.PROT_READ | mmap.PROT_WRITE,
                       offset=first) as m:
            return m[start - first:r.stop - first]


class BigBarTest(P2pBase):
    SHARE = True

    def pick_gpu(self, nodes):
        """The GPU with the largest BAR (the lane's third)."""
        gpus = [pm.Gpu(*n) for n in nodes]
        big = max(gpus, key=lambda g: g.bar_len)
        for g in gpus:
            if g is not big:
                g.close()
        return big

    def setUp(self):
        super().setUp()
        self.assertEqual(self.gpu.bar_len, BIG, 'a lane for --big-bar=256G')

    def big_buffer(self):
        """The whole BAR as one buffer, not mapped by the CPU: the exporter
        maps a mapping's every page at mmap() (phyr_dmabuf_mmap()), and
        256 GiB of 4 KiB PTEs is 512 MiB of page tables."""
        fd = self.gpu.create(BIG, 0, 0)
        self.addCleanup(os.close, fd)
        return fd, CpuWindows(fd)

    def check_bytes(self, key, iova, cpu, phys):
        """Bytes the device writes land where the CPU sees them, across a
        page boundary and at both ends, and read back the same."""
        for off in (0, 100 * GiB + PAGE - 7, BIG // 2 + 12345, BIG - 64):
            with self.subTest(offset=hex(off)):
                data = os.urandom(64)
                self.oracle.write(key, iova + off, data)
                self.assertEqual(cpu[off:off + 64], data)
                self.assertEqual(self.oracle.read(key, iova + off, 64), data)
                dma, where = self.oracle.translate(key, iova + off)
                self.assertEqual(where, phys + off)
                if not self.p2p_translating:
                    self.assertEqual(dma, phys + off)

    def test_whole_bar_is_one_mr_of_two_entries_at_most(self):
        """256 GiB in one range: at a 256 GiB-aligned and a 4 KiB-aligned
        iova the phyr path has at most two device entries, and every byte
        tried is where it should be."""
        fd, cpu = self.big_buffer()
        phys = self.gpu.bar_phys + self.gpu.info(fd)['offset']
        for iova in (BIG, 0x7f0000001000):
            with self.subTest(iova=hex(iova)):
                with self.pd.reg_dmabuf_mr(0, BIG, iova, fd, ALL_ACCESS) as mr:
                    q = self.oracle.query(mr.lkey)
                    self.assertEqual(q['path'], pm.PATH_PHYR)
                    self.assertLessEqual(q['mtt_entries'], 2)
                    self.assertGreaterEqual(q['page_size'], BIG // 2)
                    self.assertEqual(q['iova_bytes'],
                                     BIG if self.p2p_translating else 0)
                    self.check_bytes(mr.lkey, iova, cpu, phys)

    def test_slices_are_keys(self):
        """64 MiB slices at random offsets of the 256 GiB buffer share its
        one table; each reaches its own bytes and no others."""
        fd, cpu = self.big_buffer()
        phys = self.gpu.bar_phys + self.gpu.info(fd)['offset']
        rng = random.Random(21)
        mrs = []
        with self.pd.reg_dmabuf_mr(0, BIG, BIG, fd, ALL_ACCESS) as whole:
            pages = counters(self.dev_name)['mtt_pages']
            for _ in range(8):
                off = rng.randrange(0, (BIG - 64 * MiB) // PAGE) * PAGE
                iova = rng.randrange(1, 1 << 30) * PAGE
                mr = self.pd.reg_dmabuf_mr(off, 64 * MiB, iova, fd, ALL_ACCESS)
                mrs.append(mr)
                self.addCleanup(mr.close)
                q = self.oracle.query(mr.lkey)
                self.assertLessEqual(q['mtt_entries'], 2)
                data = os.urandom(32)
                self.oracle.write(mr.lkey, iova + 64 * MiB - 32, data)
                self.assertEqual(cpu[off + 64 * MiB - 32:off + 64 * MiB], data)
                _, where = self.oracle.translate(mr.lkey, iova)
                self.assertEqual(where, phys + off)
                with self.assertRaises(OSError):
                    self.oracle.read(mr.lkey, iova + 64 * MiB, 1)
            self.assertEqual(counters(self.dev_name)['mtt_pages'], pages)
            self.assertEqual(self.oracle.read(whole.lkey, BIG, 8), bytes(cpu[:8]))
        for mr in mrs:
            mr.close()

    def test_legacy_whole_bar_at_its_phase(self):
        """The legacy path takes the whole BAR too, and at an iova
        congruent to its DMA address it also needs one entry."""
        fd, cpu = self.big_buffer()
        phys = self.gpu.bar_phys + self.gpu.info(fd)['offset']
        self.set_legacy(True)
        self.addCleanup(self.set_legacy, False)
        with self.pd.reg_dmabuf_mr(0, BIG, BIG, fd, ALL_ACCESS) as mr:
            q = self.oracle.query(mr.lkey)
            self.assertEqual(q['path'], pm.PATH_LEGACY)
            self.assertLessEqual(q['mtt_entries'], 2)
            self.check_bytes(mr.lkey, BIG, cpu, phys)
