# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Memory registration: the phyr path and the legacy path.

Every MR is checked three ways:
  * its layout (path, page size, MTT entries) against an independent
    statement of the page-size rules, computed here from the buffer's
    physical layout (phyr_ram's layout ioctl, /proc/self/pagemap) or, for
    the legacy path behind an IOMMU, from the DMA address the exporter got;
  * its content, through the oracle, which reads and writes the MR exactly
    as the device engine does (MTT walk by DMA, IOMMU translation), against
    what the CPU sees through the buffer's mmap;
  * the driver's counters, which must all be back to zero afterwards.
"""
import ctypes
import errno
import fcntl
import mmap
import os
import struct
import unittest

from pyverbs.mr import MR, DmaBufMR
from pyverbs.pd import PD

import phyrmem as pm
from phyrmem import KiB, MiB, GiB, PAGE
from phyrdma_base import PhyrdmaTestCase, counters, debugfs_dir, read, run
from rawverbs import Pd

DEV_PGSZ = [1 << s for s in range(12, 40)]
# enum ibv_access_flags (ABI values)
LW = 1              # IBV_ACCESS_LOCAL_WRITE
REMOTE_WRITE = 2    # IBV_ACCESS_REMOTE_WRITE
MW_BIND = 16        # IBV_ACCESS_MW_BIND
RW = pm.IOC_W | pm.IOC_R
PARAM = '/sys/module/phyrdma/parameters'


def nr_blocks(iova, length, pgsz):
    return ((iova + length - 1) // pgsz) - (iova // pgsz) + 1


def mainline_pgsz(runs, va, length):
    """ib_umem_find_best_pgsz()'s rule, stated from its documentation:
    the largest supported P with dma ≡ va (mod P) for every piece and every
    inner piece boundary P-aligned in va, no larger than needed to cover
    the range in one block.  runs: (dma, len) pieces of exactly the MR."""
    mask = 0
    cover = ((va + length - 1) ^ va).bit_length()
    sizes = [p for p in DEV_PGSZ if p.bit_length() - 1 <= cover]
    v = va
    for i, (dma, ln) in enumerate(runs):
        mask |= dma ^ v
        v += ln
        if i != len(runs) - 1:
            mask |= v
    if mask:
        low = (mask & -mask)
        sizes = [p for p in sizes if p <= low]
    return max(sizes) if sizes else 0


def translated_pgsz(iova, length, cap):
    """The phyr policy behind a translating IOMMU: fewest blocks among the
    sizes whose IOVA placement wastes no more than cap, smaller on a tie."""
    pgoff = iova % PAGE
    span = -(-(pgoff + length) // PAGE) * PAGE
    best = None
    for p in DEV_PGSZ:
        lead = iova % p - pgoff
        waste = max(p, lead + span) - span
        if waste > cap:
            continue
        n = nr_blocks(iova, length, p)
        if best is None or n < best[1]:
            best = (p, n)
    return best[0]


def slice_runs(layout, offset, length):
    """The (paddr, len) pieces of [offset, offset + length) of a layout."""
    out, pos = [], 0
    for paddr, ln, *_ in layout:
        lo, hi = max(pos, offset), min(pos + ln, offset + length)
        if lo < hi:
            out.append((paddr + lo - pos, hi - lo))
        pos += ln
    merged = []
    for pa, ln in out:
        if merged and merged[-1][0] + merged[-1][1] == pa:
            merged[-1] = (merged[-1][0], merged[-1][1] + ln)
        else:
            merged.append((pa, ln))
    return merged


def user_layout(addr, length):
    """Physical pieces of user memory, from /proc/self/pagemap (root)."""
    first = addr // PAGE
    n = (addr + length - 1) // PAGE - first + 1
    with open('/proc/self/pagemap', 'rb') as f:
        f.seek(first * 8)
        raw = f.read(n * 8)
    pfns = [struct.unpack_from('=Q', raw, i * 8)[0] & ((1 << 55) - 1)
            for i in range(n)]
    layout = [(pfn * PAGE, PAGE) for pfn in pfns]
    return slice_runs(layout, addr % PAGE, length)


def pattern(n):
    """Content unique per page, so a wrong MTT entry shows."""
    return os.urandom(n)


class MrTestBase(PhyrdmaTestCase):
    # dma-buf MRs as keys over one import per buffer (the driver's default)
    # or each mapping its own slice; the layout rules below are the latter's
    SHARE = False
    # imports are not kept after their last key, so that the counters are
    # back to zero at the end of each test (test_import.KeepTest keeps)
    KEEP_MS = 0

    def setUp(self):
        super().setUp()
        self.set_legacy(False)
        self.set_share(self.SHARE)
        self.set_param('import_keep_ms', self.KEEP_MS)
        self.iommu = read(f'{debugfs_dir(self.dev_name)}/iommu')
        self.translating = self.iommu == 'translating'
        self.cap = int(read(f'{PARAM}/max_iova_waste'))
        self.oracle = pm.Oracle(debugfs_dir(self.dev_name))
        self.pd = Pd(self.dev_name)

    def tearDown(self):
        self.pd.close()
        self.oracle.close()
        self.set_legacy(False)
        self.set_share(True)
        self.set_param('import_keep_ms', 1000)
        super().tearDown()
        c = counters(self.dev_name)
        for name in ('mrs', 'dmabuf_attachments', 'pinned_pages',
                     'mtt_entries', 'iova_bytes', 'mtt_pages',
                     'dmabuf_imports'):
            self.assertEqual(c[name], 0, f'counter {name} after the test')

    @staticmethod
    def set_legacy(on):
        with open(f'{PARAM}/legacy', 'w') as f:
            f.write('1' if on else '0')

    def assertErrno(self, err, func, *args):
        with self.assertRaises(OSError) as cm:
            func(*args).close()
        self.assertEqual(cm.exception.errno, err,
                         f'expected {errno.errorcode[err]}, got {cm.exception}')

    @staticmethod
    def set_param(name, value):
        with open(f'{PARAM}/{name}', 'w') as f:
            f.write(str(value))

    @staticmethod
    def set_share(on):
        with open(f'{PARAM}/share_imports', 'w') as f:
            f.write('1' if on else '0')

    def expect_shared_layout(self, q, size, runs, offset):
        """A key over its buffer's import: the import's page size for the
        whole buffer, whatever the key's iova.  Returns the buffer address
        (iova - offset) block boundaries are counted from."""
        self.assertEqual(q['path'], pm.PATH_PHYR)
        p = q['page_size']
        # where the buffer's first byte is in its first block: DMA
        # addresses agree with table addresses modulo the page, and behind
        # a translating IOMMU the import's IOVA starts a block
        lead = 0 if self.translating else runs[0][0] % p
        # the table covers the whole buffer and no more
        self.assertEqual(q['mtt_entries'], nr_blocks(lead, size, p))
        if self.translating:
            # the import's first byte is placed at an address aligned to
            # the buffer's power-of-two cover: the policy at that iova
            cover = 1 << (size - 1).bit_length()
            span = -(-size // PAGE) * PAGE
            self.assertEqual(p, translated_pgsz(cover, size,
                                                min(self.cap, span)))
            self.assertEqual(q['dma_first'] % p, offset % p)
        else:
            # every run's physical address agrees with its buffer offset
            # modulo the page: the table holds physical blocks
            pos = 0
            for pa, ln in runs:
                self.assertEqual((pa - pos) % p, runs[0][0] % p,
                                 f'run at +{pos:#x} out of phase with {p:#x}')
                if pos:
                    # an inner run boundary falls on a block boundary
                    self.assertEqual((lead + pos) % p, 0)
                pos += ln
        return q['iova'] - offset - lead

    def expect_layout(self, q, iova, length, phys_runs, path):
        """Page size and MTT entries the rules predict for this MR."""
        self.assertEqual(q['path'], path)
        # an MR spends no more IOVA on alignment than its own pages span
        span = -(-(iova % PAGE + length) // PAGE) * PAGE
        cap = min(self.cap, span)
        if path == pm.PATH_PHYR and self.translating:
            want = translated_pgsz(iova, length, cap)
        elif path == pm.PATH_LEGACY and self.translating:
            # the exporter's mapping: with a large segment size the IOMMU
            # gives one contiguous range
            self.assertEqual(q['runs'], 1, 'legacy mapping not merged')
            want = mainline_pgsz([(q['dma_first'], length)], iova, length)
        else:
            want = mainline_pgsz(phys_runs, iova, length)
        self.assertEqual(q['page_size'], want,
                         f'page size {q["page_size"]:#x}, rules say {want:#x}')
        self.assertEqual(q['mtt_entries'], nr_blocks(iova, length, want))
        if path == pm.PATH_PHYR and self.translating:
            self.assertLessEqual(q['iova_waste'], cap)
            # the placement the device needs: dma ≡ iova (mod P)
            self.assertEqual(q['dma_first'] % want, iova % want)

    def probe_points(self, iova, length, pgsz, phys_runs, base=None):
        """First and last bytes, both sides of every block and run boundary
        (blocks counted from base, the iova's own alignment by default)."""
        pts = {0, length - 1}
        if base is None:
            base = 0
        b = base + ((iova - base) // pgsz + 1) * pgsz
        while b < iova + length and len(pts) < 600:
            pts |= {b - iova - 1, b - iova}
            b += pgsz
        pos = 0
        for _, ln in phys_runs[:-1]:
            pos += ln
            pts |= {pos - 1, pos}
        return sorted(p for p in pts if 0 <= p < length)

    def verify_content(self, key, iova, length, cpu, q, phys_runs, base=None):
        """Oracle reads see what the CPU wrote, and the reverse."""
        pts = self.probe_points(iova, length, q['page_size'], phys_runs, base)
        for p in pts:
            n = min(3, length - p)
            self.assertEqual(self.oracle.read(key, iova + p, n),
                             bytes(cpu[p:p + n]), f'read at +{p:#x}')
        # every byte, so every block boundary, as the device reads it
        self.assertEqual(self.oracle.read(key, iova, length), bytes(cpu[:length]))
        for i, p in enumerate(pts[:64]):
            self.oracle.write(key, iova + p, bytes([(i * 7) & 0xff]))
            self.assertEqual(cpu[p], (i * 7) & 0xff, f'write at +{p:#x}')


class DmabufMrTest(MrTestBase):
    def ram(self, size, order, flags):
        fd = pm.ram_create(size, order, flags)
        self.addCleanup(os.close, fd)
        cpu = pm.map_dmabuf(fd, size)
        self.addCleanup(cpu.close)
        cpu[:] = pattern(size)
        return fd, cpu, pm.ram_layout(fd)

    def check_dmabuf(self, fd, cpu, layout, offset, length, iova, path):
        mr = self.pd.reg_dmabuf_mr(offset, length, iova, fd, LW)
        with mr:
            q = self.oracle.query(mr.lkey)
            self.assertEqual(q['source'], pm.SRC_DMABUF)
            self.assertEqual((q['iova'], q['length']), (iova, length))
            runs = slice_runs(layout, offset, length)
            base = None
            if self.SHARE and path == pm.PATH_PHYR:
                size = sum(r[1] for r in layout)
                base = self.expect_shared_layout(
                    q, size, slice_runs(layout, 0, size), offset)
            else:
                self.expect_layout(q, iova, length, runs, path)
            view = memoryview(cpu)[offset:offset + length]
            self.verify_content(mr.lkey, iova, length, view, q, runs, base)
        return q

    def test_layouts_both_paths(self):
        """Orders 0/4/9, as allocated, shuffled and contiguous; offsets
        0, mid and unaligned; iovas 2 MiB-aligned and 4 KiB-aligned."""
        size = 8 * MiB
        cases = [(0, 0), (0, pm.SHUFFLE), (4, pm.SHUFFLE), (9, 0),
                 (9, pm.SHUFFLE), (0, pm.CONTIGUOUS)]
        for order, flags in cases:
            fd, cpu, layout = self.ram(size, order, flags)
            for offset, length in ((0, size), (2 * MiB + 64 * KiB, 4 * MiB),
                                   (0x1234, 3 * MiB + 5)):
                for iova_base in (0x7f0000200000, 0x7f0000001000):
                    iova = iova_base + offset % PAGE
                    for legacy in (False, True):
                        with self.subTest(order=order, flags=flags,
                                          offset=offset, iova=hex(iova),
                                          legacy=legacy):
                            self.set_legacy(legacy)
                            self.check_dmabuf(
                                fd, cpu, layout, offset, length, iova,
                                pm.PATH_LEGACY if legacy else pm.PATH_PHYR)
                self.set_legacy(False)

    def test_large_page_for_aligned_iova(self):
        """With an IOMMU the phyr path reaches 2 MiB pages on 4 KiB-scattered
        memory; the legacy path on the same buffer does what the IOVA the
        exporter got allows."""
        size = 16 * MiB
        fd, cpu, layout = self.ram(size, 0, pm.SHUFFLE)
        q = self.check_dmabuf(fd, cpu, layout, 0, size, 0x7f0000201000,
                              pm.PATH_PHYR)
        if self.translating:
            self.assertEqual(q['page_size'], 2 * MiB)
            self.assertEqual(q['mtt_entries'], 9)
            self.assertEqual(q['runs'], len(layout))
            self.assertEqual(q['syncs'], 1)
            self.assertEqual(q['scratch_bytes'], 0)
        else:
            self.assertEqual(q['page_size'], mainline_pgsz(
                slice_runs(layout, 0, size), 0x7f0000201000, size))

    def test_same_pages_in_many_mrs(self):
        """One buffer registered 24 times at once on each path: an MR may
        share its pages with any number of others.  The mappings are
        coherent-only (DMA_ATTR_REQUIRE_COHERENT), so the debug kernel's
        DMA-API checks count no overlapping cacheline as a leak (more than
        7 overlapping mappings of a cacheline is a WARN otherwise, which
        the runner fails the run on)."""
        fd, cpu, _ = self.ram(64 * 1024, 0, 0)
        for legacy in (False, True):
            with self.subTest(legacy=legacy):
                self.set_legacy(legacy)
                mrs = [self.pd.reg_dmabuf_mr(0, 64 * 1024, 0, fd, LW)
                       for _ in range(24)]
                try:
                    for mr in (mrs[0], mrs[-1]):
                        self.assertEqual(self.oracle.query(mr.lkey)['path'],
                                         pm.PATH_LEGACY if legacy else pm.PATH_PHYR)
                        self.assertEqual(self.oracle.read(mr.lkey, 0, 64 * 1024),
                                         bytes(cpu))
                finally:
                    for mr in mrs:
                        mr.close()
                    self.set_legacy(False)

    def test_pyverbs_dmabuf_mr(self):
        """Unmodified pyverbs DmaBufMR (iova = offset) on our exporter."""
        size = 4 * MiB
        fd, cpu, layout = self.ram(size, 9, 0)
        pd = PD(self.ctx)
        mr = DmaBufMR(pd, 2 * MiB, LW, dmabuf=fd, offset=MiB)
        q = self.oracle.query(mr.lkey)
        self.assertEqual(q['path'], pm.PATH_PHYR)
        self.assertEqual(self.oracle.read(mr.lkey, MiB, 2 * MiB),
                         bytes(cpu[MiB:3 * MiB]))
        mr.close()
        pd.close()

    def test_concurrent_registration(self):
        """Threads register, read through the oracle and deregister on one
        buffer at once, on both paths; every read sees the buffer."""
        import threading
        size = 4 * MiB
        fd, cpu, layout = self.ram(size, 4, pm.SHUFFLE)
        want = bytes(cpu[:size])
        errors = []

        def worker(n):
            try:
                with Pd(self.dev_name) as pd, \
                        pm.Oracle(debugfs_dir(self.dev_name)) as o:
                    for i in range(12):
                        off = ((n * 13 + i) % 16) * 64 * KiB
                        iova = 0x7f0000200000 + n * GiB + off
                        with pd.reg_dmabuf_mr(off, MiB, iova, fd, LW) as mr:
                            if o.read(mr.lkey, iova, MiB) != want[off:off + MiB]:
                                errors.append(f'thread {n} pass {i}')
            except Exception as ex:  # reported below, in the main thread
                errors.append(f'thread {n}: {ex!r}')

        import time
        before = counters(self.dev_name)
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        legacy = False
        while any(t.is_alive() for t in threads):
            legacy = not legacy
            self.set_legacy(legacy)
            time.sleep(0.002)
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        after = counters(self.dev_name)
        self.assertEqual(after['reg_phyr'] + after['reg_legacy'] -
                         before['reg_phyr'] - before['reg_legacy'], 48)

    def test_mtt_multi_level(self):
        """A 4 KiB-page MR past 512 entries needs a two-level MTT."""
        size = 4 * MiB
        fd, cpu, layout = self.ram(size, 0, pm.SHUFFLE)
        old = self.cap
        with open(f'{PARAM}/max_iova_waste', 'w') as f:
            f.write('0')
        try:
            self.cap = 0
            q = self.check_dmabuf(fd, cpu, layout, 0, size, 0x7f0000001000,
                                  pm.PATH_PHYR)
        finally:
            with open(f'{PARAM}/max_iova_waste', 'w') as f:
                f.write(str(old))
            self.cap = old
        if q['page_size'] == PAGE:
            self.assertEqual(q['mtt_entries'], 1024)
            self.assertEqual(q['levels'], 2)
            self.assertEqual(q['mtt_pages'], 3)

    def foreign_check(self, fd, size, exp_name, cpu=None):
        """Register a foreign exporter's buffer (legacy path) and check it
        through cpu, by default the dma-buf's own mapping, filled here."""
        self.addCleanup(os.close, fd)
        if cpu is None:
            cpu = pm.map_dmabuf(fd, size)
            self.addCleanup(cpu.close)
            cpu[:] = pattern(size)
        for offset, length, iova in ((0, size, 0x7f0000200000),
                                     (PAGE, size - 2 * PAGE, 0x7f0000001000)):
            with self.subTest(exporter=exp_name, offset=offset):
                mr = self.pd.reg_dmabuf_mr(offset, length, iova, fd, LW)
                with mr:
                    q = self.oracle.query(mr.lkey)
                    self.assertEqual(q['path'], pm.PATH_LEGACY)
                    view = memoryview(cpu)[offset:offset + length]
                    self.verify_content(mr.lkey, iova, length, view, q, [])

    def test_udmabuf(self):
        size = 4 * MiB
        memfd = os.memfd_create('phyrdma-test', os.MFD_ALLOW_SEALING)
        self.addCleanup(os.close, memfd)
        os.ftruncate(memfd, size)
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, 0x0002)  # F_SEAL_SHRINK
        req = bytearray(struct.pack('=IIQQ', memfd, 0x01, 0, size))  # CLOEXEC
        dev = os.open('/dev/udmabuf', os.O_RDWR)
        try:
            fd = fcntl.ioctl(dev, pm.ioc(pm.IOC_W, 'u', 0x42, len(req)), req)
        finally:
            os.close(dev)
        cpu = mmap.mmap(memfd, size, mmap.MAP_SHARED,
                        mmap.PROT_READ | mmap.PROT_WRITE)
        self.addCleanup(cpu.close)
        cpu[:] = pattern(size)
        self.foreign_check(fd, size, 'udmabuf', cpu)

    def test_dma_heap_system(self):
        size = 4 * MiB
        # struct dma_heap_allocation_data: len, fd, fd_flags, heap_flags
        req = bytearray(struct.pack('=QIIQ', size, 0, os.O_RDWR | os.O_CLOEXEC, 0))
        heap = os.open('/dev/dma_heap/system', os.O_RDONLY)
        try:
            fcntl.ioctl(heap, pm.ioc(RW, 'H', 0x0, len(req)), req)
        finally:
            os.close(heap)
        self.foreign_check(struct.unpack('=QIIQ', req)[1], size, 'system heap')

    def test_vgem(self):
        self.assertEqual(run('modprobe', 'vgem').returncode, 0)
        dri = None
        for name in sorted(os.listdir('/dev/dri')):
            if not name.startswith('card'):
                continue
            f = os.open(f'/dev/dri/{name}', os.O_RDWR | os.O_CLOEXEC)
            # DRM_IOCTL_VERSION, asking for the driver name only
            drv = ctypes.create_string_buffer(32)
            ver = bytearray(struct.pack('=iiiiQQQQQQ', 0, 0, 0, 0, 32,
                                        ctypes.addressof(drv), 0, 0, 0, 0))
            fcntl.ioctl(f, pm.ioc(RW, 'd', 0x00, len(ver)), ver)
            if drv.value == b'vgem':
                dri = f
                break
            os.close(f)
        self.assertIsNotNone(dri, 'no vgem card')
        self.addCleanup(os.close, dri)
        size = 4 * MiB
        # DRM_IOCTL_MODE_CREATE_DUMB: height, width, bpp, flags -> handle, pitch, size
        dumb = bytearray(struct.pack('=IIIIIIQ', size // 4096, 1024, 32, 0, 0, 0, 0))
        fcntl.ioctl(dri, pm.ioc(RW, 'd', 0xB2, len(dumb)), dumb)
        handle = struct.unpack('=IIIIIIQ', dumb)[4]
        prime = bytearray(struct.pack('=IIi', handle, os.O_RDWR | os.O_CLOEXEC, -1))
        fcntl.ioctl(dri, pm.ioc(RW, 'd', 0x2D, len(prime)), prime)
        self.foreign_check(struct.unpack('=IIi', prime)[2], size, 'vgem')


class UserMrTest(MrTestBase):
    def anon(self, size, huge=False):
        # over-allocate to place the buffer on a 2 MiB boundary for THP
        raw = mmap.mmap(-1, size + 2 * MiB, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.addCleanup(raw.close)
        base = ctypes.addressof(ctypes.c_char.from_buffer(raw))
        skip = (-base) % (2 * MiB)
        if huge:
            raw.madvise(mmap.MADV_HUGEPAGE, skip, size)
        view = memoryview(raw)[skip:skip + size]
        self.addCleanup(view.release)
        view[:] = pattern(size)
        return base + skip, view

    def check_user(self, addr, view, offset, length, iova):
        for legacy in (False, True):
            with self.subTest(offset=offset, iova=hex(iova), legacy=legacy):
                self.set_legacy(legacy)
                mr = self.pd.reg_mr(addr + offset, length, iova, LW)
                with mr:
                    q = self.oracle.query(mr.lkey)
                    self.assertEqual(q['source'], pm.SRC_USER)
                    runs = user_layout(addr + offset, length)
                    self.expect_layout(q, iova, length, runs,
                                       pm.PATH_LEGACY if legacy else pm.PATH_PHYR)
                    self.verify_content(mr.lkey, iova, length,
                                        view[offset:offset + length], q, runs)
        self.set_legacy(False)

    def test_user_memory(self):
        addr, view = self.anon(8 * MiB)
        self.check_user(addr, view, 0, 8 * MiB, addr)
        self.check_user(addr, view, 0x1010, 3 * MiB, 0x7f0000201010)

    def test_user_memory_thp(self):
        addr, view = self.anon(8 * MiB, huge=True)
        self.check_user(addr, view, 0, 8 * MiB, addr)
        self.check_user(addr, view, 2 * MiB, 4 * MiB, 0x7f0000200000)

    def test_pyverbs_mr(self):
        pd = PD(self.ctx)
        mr = MR(pd, 2 * MiB, LW)
        mr.write(b'phyrdma' * 100, 700)
        q = self.oracle.query(mr.lkey)
        self.assertEqual(q['path'], pm.PATH_PHYR)
        self.assertEqual(self.oracle.read(mr.lkey, mr.buf, 700), b'phyrdma' * 100)
        mr.close()
        pd.close()

    def test_memlock_limit(self):
        """An unprivileged process may not pin beyond RLIMIT_MEMLOCK."""
        import subprocess
        import sys
        import textwrap
        here = os.path.dirname(os.path.abspath(__file__))
        child = subprocess.run([sys.executable, '-c', textwrap.dedent(f'''
            import mmap, os, resource, sys, ctypes
            sys.path.insert(0, {here!r})
            from rawverbs import Pd
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (1 << 20, 1 << 20))
            os.setgid(65534)
            os.setuid(65534)
            buf = mmap.mmap(-1, 4 << 20)
            base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
            with Pd({self.dev_name!r}) as pd:
                try:
                    pd.reg_mr(base, 4 << 20, base, 1).close()
                    print('registered')
                except OSError as ex:
                    print('errno', ex.errno)
                pd.reg_mr(base, 512 << 10, base, 1).close()
                print('small ok')
            ''')], capture_output=True, text=True, timeout=60)
        self.assertEqual(child.returncode, 0, child.stderr)
        self.assertEqual(child.stdout.split('\n')[:2],
                         [f'errno {errno.ENOMEM}', 'small ok'])
        self.assertEqual(counters(self.dev_name)['pinned_pages'], 0)

    def test_pinned_accounting(self):
        addr, view = self.anon(4 * MiB)
        with self.pd.reg_mr(addr, 4 * MiB, addr, LW):
            self.assertEqual(counters(self.dev_name)['pinned_pages'], 1024)


class BadInputTest(MrTestBase):
    """Each refusal with its documented errno, and no splat (the runner
    fails the run on any)."""

    def test_dmabuf_bad_input(self):
        size = 2 * MiB
        fd = pm.ram_create(size, 0)
        self.addCleanup(os.close, fd)
        closed = pm.ram_create(PAGE, 0)
        os.close(closed)
        notbuf = os.open('/dev/null', os.O_RDONLY)
        self.addCleanup(os.close, notbuf)
        iova = 0x7f0000000000
        for legacy in (False, True):
            self.set_legacy(legacy)
            reg = self.pd.reg_dmabuf_mr
            with self.subTest(legacy=legacy):
                self.assertErrno(errno.EBADF, reg, 0, size, iova, -1, LW)
                self.assertErrno(errno.EBADF, reg, 0, size, iova, closed, LW)
                self.assertErrno(errno.EINVAL, reg, 0, size, iova, notbuf, LW)
                self.assertErrno(errno.EINVAL, reg, 0, 0, iova, fd, LW)
                self.assertErrno(errno.EOVERFLOW, reg, (1 << 64) - PAGE,
                                 2 * PAGE, iova, fd, LW)
                self.assertErrno(errno.EINVAL, reg, PAGE, size, iova, fd, LW)
                self.assertErrno(errno.EOVERFLOW, reg, 0, size,
                                 (1 << 64) - PAGE, fd, LW)
                # ending exactly at 2^64 is a wrap too
                self.assertErrno(errno.EOVERFLOW, reg, 0, PAGE,
                                 (1 << 64) - PAGE, fd, LW)
                self.assertErrno(errno.EINVAL, reg, 0, PAGE, iova + 8, fd, LW)
                self.assertErrno(errno.EINVAL, reg, 0, PAGE, iova, fd,
                                 REMOTE_WRITE)
        self.set_legacy(False)

    def test_unsupported_access(self):
        fd = pm.ram_create(PAGE, 0)
        self.addCleanup(os.close, fd)
        # ib_uverbs refuses the MW-bind flag for dma-bufs (windows bind to
        # user memory MRs); the driver takes it for user memory
        self.assertErrno(errno.EINVAL, self.pd.reg_dmabuf_mr, 0, PAGE, 0,
                         fd, LW | MW_BIND)
        addr = mmap.mmap(-1, PAGE)
        self.addCleanup(addr.close)
        base = ctypes.addressof(ctypes.c_char.from_buffer(addr))
        self.pd.reg_mr(base, PAGE, base, LW | MW_BIND).close()

    def test_metadata_refusals(self):
        for flags, err in ((pm.LABEL_PRIVATE, errno.EOPNOTSUPP),
                           (pm.LABEL_CC_SPLIT, errno.EINVAL)):
            fd = pm.ram_create(4 * MiB, 9, flags)
            self.addCleanup(os.close, fd)
            kinds = {(r[2], r[3]) for r in pm.ram_layout(fd)}
            self.assertEqual(len(kinds), 2)
            for legacy in (False, True):
                with self.subTest(flags=flags, legacy=legacy):
                    self.set_legacy(legacy)
                    self.assertErrno(err, self.pd.reg_dmabuf_mr, 0, 4 * MiB,
                                     0, fd, LW)
                    if legacy:
                        # the exporter maps the whole buffer for a legacy
                        # importer and cannot tell it what the labels mean
                        self.assertErrno(err, self.pd.reg_dmabuf_mr, 0,
                                         2 * MiB, 0, fd, LW)
                    else:
                        # a phyr importer takes the plain first half
                        self.pd.reg_dmabuf_mr(0, 2 * MiB, 0, fd, LW).close()
        self.set_legacy(False)

    def test_user_bad_input(self):
        buf = mmap.mmap(-1, 2 * PAGE)
        self.addCleanup(buf.close)
        base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        reg = self.pd.reg_mr
        self.assertErrno(errno.EINVAL, reg, base, 0, base, LW)
        self.assertErrno(errno.EINVAL, reg, base, PAGE, base + 8, LW)
        self.assertErrno(errno.EOVERFLOW, reg, base, 2 * PAGE,
                         (1 << 64) - PAGE, LW)
        # an address with no memory behind it
        self.assertErrno(errno.EFAULT, reg, 0x1000, PAGE, 0x1000, LW)

    def test_oracle_refusals(self):
        fd = pm.ram_create(2 * MiB, 9)
        self.addCleanup(os.close, fd)
        ro = self.pd.reg_dmabuf_mr(0, 2 * MiB, 0x10000000, fd, 0)
        with ro:
            k = ro.lkey
            self.assertEqual(len(self.oracle.read(k, 0x10000000, 16)), 16)
            for va, n in ((0x10000000 - 1, 2), (0x10000000 + 2 * MiB - 1, 2)):
                with self.assertRaises(OSError) as cm:
                    self.oracle.read(k, va, n)
                self.assertEqual(cm.exception.errno, errno.ERANGE)
            with self.assertRaises(OSError) as cm:
                self.oracle.write(k, 0x10000000, b'x')
            self.assertEqual(cm.exception.errno, errno.EACCES)
        with self.assertRaises(OSError) as cm:
            self.oracle.query(k)
        self.assertEqual(cm.exception.errno, errno.ENOENT)


class SharedDmabufMrTest(DmabufMrTest):
    """Every dma-buf MR test again, with MRs as keys over one import per
    buffer: content through the oracle at every block boundary, and the
    import's layout in place of each slice's."""
    SHARE = True

    def test_large_page_for_aligned_iova(self):
        """Over 4 KiB-scattered memory a key gets the import's page: with
        an IOMMU the whole 16 MiB buffer is one block at any iova."""
        size = 16 * MiB
        fd, cpu, layout = self.ram(size, 0, pm.SHUFFLE)
        for iova in (0x7f0000201000, 0x7f0000200000, 0x5000):
            q = self.check_dmabuf(fd, cpu, layout, 0, size, iova,
                                  pm.PATH_PHYR)
            if self.translating:
                self.assertEqual((q['page_size'], q['mtt_entries']),
                                 (16 * MiB, 1))
            else:
                self.assertEqual(q['page_size'], PAGE)


if __name__ == '__main__':
    unittest.main()
