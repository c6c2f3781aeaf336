# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Import once, key many: one import per (device, dma-buf), shared by every
MR over it (kernel-provider/phyr/phyr_import.c).

The first registration of a buffer attaches, pins, maps the whole buffer
and streams it into one MTT; every later one over any slice is a key into
that MTT at the slice's place.  Checked here: the counters say one import
however many keys; each key reaches its own slice and nothing else, with
its own rights; the exporter's revoke kills every key at once; the import
goes with its last key; registrations, deregistrations and revokes race
across threads and processes; and a buffer that cannot be imported whole
registers slice by slice.
"""
import errno
import multiprocessing
import os
import random
import time

from pyverbs.pd import PD
from pyverbs.providers.phyrdma import phyrdv as pv

import phyrmem as pm
from phyrmem import KiB, MiB, PAGE
from phyrdma_base import counters, debugfs_dir
from rawverbs import Pd
from test_mr import LW, MrTestBase

ALL_ACCESS = LW | 2 | 4


class ImportBase(MrTestBase):
    SHARE = True

    def setUp(self):
        super().setUp()
        self.stats0 = self.stats()

    def stats(self):
        return counters(self.dev_name)

    def stat(self, name):
        return self.stats()[name] - self.stats0[name]

    def ram(self, size, order=9, flags=0):
        fd = pm.ram_create(size, order, flags)
        self.addCleanup(os.close, fd)
        cpu = pm.map_dmabuf(fd, size)
        self.addCleanup(cpu.close)
        cpu[:] = os.urandom(size)
        return fd, cpu


class ImportTest(ImportBase):
    def test_many_keys_one_import(self):
        """256 keys of 64 KiB at random offsets and iovas over one 64 MiB
        buffer: one import, one attachment, one MTT; every key reads its
        own slice; every key has the same page size, at any iova."""
        size = 64 * MiB
        fd, cpu = self.ram(size, 9, pm.SHUFFLE)
        rng = random.Random(21)
        mrs = []
        try:
            first = self.pd.reg_dmabuf_mr(0, PAGE, 0, fd, LW)
            mrs.append((first, 0, 0, PAGE))
            c1 = counters(self.dev_name)
            self.assertEqual((c1['dmabuf_imports'], c1['dmabuf_attachments']),
                             (1, 1))
            for i in range(255):
                off = rng.randrange(0, size - 64 * KiB)
                iova = rng.randrange(1, 1 << 40) * PAGE + off % PAGE
                mrs.append((self.pd.reg_dmabuf_mr(off, 64 * KiB, iova, fd, LW),
                            off, iova, 64 * KiB))
            c = counters(self.dev_name)
            self.assertEqual(c['mrs'], 256)
            self.assertEqual(c['dmabuf_imports'], 1)
            self.assertEqual(c['dmabuf_attachments'], 1)
            # no key adds an MTT entry or IOVA of its own
            self.assertEqual(c['mtt_entries'], c1['mtt_entries'])
            self.assertEqual(c['iova_bytes'], c1['iova_bytes'])
            # every one a key over the import; one import made
            self.assertEqual(self.stat('reg_shared'), 256)
            self.assertEqual(self.stat('imports_made'), 1)
            sizes = set()
            for mr, off, iova, ln in mrs[::7]:
                q = self.oracle.query(mr.lkey)
                sizes.add((q['page_size'], q['mtt_entries']))
                self.assertEqual(self.oracle.read(mr.lkey, iova, ln),
                                 bytes(cpu[off:off + ln]), f'key at +{off:#x}')
                self.oracle.write(mr.lkey, iova + ln - 1, b'\x5a')
                self.assertEqual(cpu[off + ln - 1], 0x5a)
            self.assertEqual(len(sizes), 1, f'page sizes differ: {sizes}')
            if self.translating:
                self.assertEqual(sizes, {(64 * MiB, 1)})
            else:
                self.assertEqual(sizes, {(2 * MiB, 32)})
        finally:
            for mr, *_ in mrs:
                mr.close()
        c = counters(self.dev_name)
        self.assertEqual((c['dmabuf_imports'], c['mtt_entries'],
                          c['iova_bytes']), (0, 0, 0))

    def test_large_pages_at_any_iova(self):
        """The case the project exists for, without the application's help:
        a 4 KiB-aligned iova over 2 MiB folios keeps the device's large
        pages and the IOMMU's, where a mapping of the slice alone loses
        one or the other."""
        size = 16 * MiB
        fd, cpu = self.ram(size, 9, pm.SHUFFLE)
        off, length, iova = 2 * MiB, 8 * MiB, 0x7f0000001000
        pd = PD(self.ctx)   # the verbs extension's calls take pyverbs' PD
        self.addCleanup(pd.close)
        self.set_share(False)
        with pv.PhyrdvDmaBufMR(pd, length, LW, fd, offset=off,
                               iova=iova) as mr:
            alone = mr.query()
        self.set_share(True)
        with pv.PhyrdvDmaBufMR(pd, length, LW, fd, offset=off,
                               iova=iova) as mr:
            lay = mr.query()
            self.assertTrue(lay['flags'] & pv.MR_SHARED)
            self.assertEqual(self.oracle.read(mr.lkey, iova, length),
                             bytes(cpu[off:off + length]))
        print(f'\n  8 MiB at iova {iova:#x}: alone {alone["page_size"] // KiB} KiB '
              f'pages x {alone["mtt_entries"]}, IOMMU '
              f'{alone["iommu_page_size"] // KiB} KiB; shared '
              f'{lay["page_size"] // KiB} KiB x {lay["mtt_entries"]}, IOMMU '
              f'{lay["iommu_page_size"] // KiB} KiB', flush=True)
        if self.translating:
            self.assertEqual(alone['iommu_page_size'], PAGE)
            self.assertEqual(lay['iommu_page_size'], 2 * MiB)
            self.assertEqual((lay['page_size'], lay['mtt_entries']),
                             (16 * MiB, 1))
        else:
            self.assertEqual(alone['page_size'], PAGE)
            self.assertEqual((lay['page_size'], lay['mtt_entries']),
                             (2 * MiB, 8))

    def test_keys_check_their_own_bounds_and_rights(self):
        """Two keys over one import: each reaches its own slice only, with
        its own rights, however large the shared blocks are."""
        size = 8 * MiB
        fd, cpu = self.ram(size, 9)
        a = self.pd.reg_dmabuf_mr(MiB, MiB, 0x10000000, fd, LW)
        b = self.pd.reg_dmabuf_mr(4 * MiB, 2 * MiB, 0x20000000, fd, 0)
        with a, b:
            self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 1)
            for key, base, ln in ((a.lkey, 0x10000000, MiB),
                                  (b.lkey, 0x20000000, 2 * MiB)):
                for va, n in ((base - 1, 1), (base - 1, 2), (base + ln - 1, 2),
                              (base + ln, 1), ((1 << 64) - 1, 1)):
                    with self.assertRaises(OSError, msg=f'{va:#x}+{n}') as cm:
                        self.oracle.read(key, va, n)
                    self.assertEqual(cm.exception.errno, errno.ERANGE)
            self.assertEqual(self.oracle.read(b.lkey, 0x20000000, 8),
                             bytes(cpu[4 * MiB:4 * MiB + 8]))
            with self.assertRaises(OSError) as cm:
                self.oracle.write(b.lkey, 0x20000000, b'x')
            self.assertEqual(cm.exception.errno, errno.EACCES)
            self.oracle.write(a.lkey, 0x10000000, b'y')
            self.assertEqual(cpu[MiB], ord('y'))

    def test_import_goes_with_its_last_key(self):
        """Nothing is cached past the last key: the buffer is detached and
        unpinned, and the next registration makes a new import."""
        fd, _ = self.ram(4 * MiB)
        for _ in range(3):
            with self.pd.reg_dmabuf_mr(0, MiB, 0, fd, LW):
                with self.pd.reg_dmabuf_mr(MiB, MiB, 0, fd, LW):
                    self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 1)
            c = counters(self.dev_name)
            self.assertEqual((c['dmabuf_imports'], c['dmabuf_attachments']),
                             (0, 0))
        self.assertEqual(self.stat('reg_shared'), 6)
        self.assertEqual(self.stat('imports_made'), 3)

    def test_imports_per_buffer_and_device(self):
        """Two buffers, two imports; the other device imports on its own."""
        fd1, _ = self.ram(2 * MiB)
        fd2, _ = self.ram(2 * MiB)
        devs = [d for d in os.listdir('/sys/class/infiniband')
                if d.startswith('phyrdma') and d != self.dev_name]
        self.assertTrue(devs, 'one phyrdma device only')
        with Pd(devs[0]) as pd2:
            with self.pd.reg_dmabuf_mr(0, MiB, 0, fd1, LW), \
                    self.pd.reg_dmabuf_mr(0, MiB, 0, fd2, LW), \
                    self.pd.reg_dmabuf_mr(MiB, MiB, 0, fd1, LW), \
                    pd2.reg_dmabuf_mr(0, MiB, 0, fd1, LW):
                self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 2)
                self.assertEqual(counters(devs[0])['dmabuf_imports'], 1)
            self.assertEqual(counters(devs[0])['dmabuf_imports'], 0)

    def test_pds_share_an_import_not_keys(self):
        """Keys of two PDs over one import each carry their own PD."""
        fd, _ = self.ram(2 * MiB)
        with Pd(self.dev_name) as pd2:
            a = self.pd.reg_dmabuf_mr(0, MiB, 0, fd, LW)
            b = pd2.reg_dmabuf_mr(0, MiB, 0, fd, LW)
            with a, b:
                qa, qb = self.oracle.query(a.lkey), self.oracle.query(b.lkey)
                self.assertNotEqual(qa['pdn'], qb['pdn'])
                self.assertEqual(qa['root'], qb['root'], 'not one table')
                self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 1)

    def test_unimportable_buffer_registers_by_slice(self):
        """A buffer whose second half no device maps (a private
        interconnect's memory, or mixed encryption) cannot be imported
        whole: its first half registers alone, its second is refused as
        before."""
        pd = PD(self.ctx)   # the verbs extension's calls take pyverbs' PD
        self.addCleanup(pd.close)
        for flags, err in ((pm.LABEL_PRIVATE, errno.EOPNOTSUPP),
                           (pm.LABEL_CC_SPLIT, errno.EINVAL)):
            with self.subTest(flags=flags):
                fd = pm.ram_create(4 * MiB, 9, flags)
                self.addCleanup(os.close, fd)
                before = self.stat('import_fallbacks')
                with pv.PhyrdvDmaBufMR(pd, 2 * MiB, LW, fd) as mr:
                    lay = mr.query()
                    self.assertEqual(lay['path'], pv.MR_PATH_PHYR)
                    self.assertFalse(lay['flags'] & pv.MR_SHARED)
                self.assertEqual(self.stat('import_fallbacks'), before + 1)
                self.assertErrno(err, self.pd.reg_dmabuf_mr, 0, 4 * MiB, 0,
                                 fd, LW)
                self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 0)

    def test_threads_register_and_deregister(self):
        """Threads register, read and deregister keys over one buffer at
        once; every read sees the buffer, and the import comes and goes."""
        import threading
        size = 16 * MiB
        fd, cpu = self.ram(size, 4, pm.SHUFFLE)
        want = bytes(cpu)
        errors = []

        def worker(n):
            rng = random.Random(n)
            try:
                with Pd(self.dev_name) as pd, \
                        pm.Oracle(debugfs_dir(self.dev_name)) as o:
                    for _ in range(40):
                        off = rng.randrange(0, size - 64 * KiB) & ~(PAGE - 1)
                        iova = rng.randrange(1, 1 << 30) * PAGE
                        with pd.reg_dmabuf_mr(off, 64 * KiB, iova, fd, LW) as mr:
                            if o.read(mr.lkey, iova, 64 * KiB) != \
                                    want[off:off + 64 * KiB]:
                                errors.append(f'thread {n} at +{off:#x}')
            except Exception as ex:  # reported below
                errors.append(f'thread {n}: {ex!r}')

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(self.stat('reg_phyr'), 160)
        self.assertGreater(self.stat('reg_shared'), 0)


def _child_register(dev_name, fd, size, seconds, out):
    """A process of its own: register, read and deregister keys over the
    inherited buffer until told to stop; count the outcomes."""
    res = {'ok': 0, 'refused': 0, 'dead': 0, 'bad': []}
    rng = random.Random(os.getpid())
    end = time.monotonic() + seconds
    try:
        with Pd(dev_name) as pd, pm.Oracle(debugfs_dir(dev_name)) as o:
            while time.monotonic() < end:
                off = rng.randrange(0, size // PAGE) * PAGE
                ln = min(size - off, 64 * KiB)
                try:
                    with pd.reg_dmabuf_mr(off, ln, 0x10000 + off, fd,
                                          ALL_ACCESS) as mr:
                        res['ok'] += 1
                        try:
                            if o.read(mr.lkey, 0x10000 + off, 4) != \
                                    bytes([off // PAGE & 0xff]) * 4:
                                res['bad'].append('content')
                        except OSError as e:
                            if e.errno != errno.ENOENT:
                                res['bad'].append(f'read {e.errno}')
                            res['dead'] += 1
                except OSError as e:
                    if e.errno == errno.ENODEV:
                        res['refused'] += 1
                    else:
                        res['bad'].append(f'reg {e.errno}')
    except Exception as ex:  # reported by the parent
        res['bad'].append(repr(ex))
    out.put(res)


class SharedRevokeTest(ImportBase):
    def setUp(self):
        super().setUp()
        nodes = pm.gpus()
        self.assertGreaterEqual(len(nodes), 1, 'phyr_mmio bound no GPU')
        self.gpu = pm.Gpu(*nodes[0])
        self.addCleanup(self.gpu.close)

    def gpu_buffer(self, size):
        fd = self.gpu.create(size)
        self.addCleanup(os.close, fd)
        cpu = pm.map_dmabuf(fd, size)
        self.addCleanup(cpu.close)
        return fd, cpu

    def test_revoke_kills_every_key(self):
        """64 keys over one GPU buffer: one revoke kills them all before
        the mapping goes; the keys stay taken until deregistered; after a
        restore the buffer is imported anew."""
        size = 4 * MiB
        fd, cpu = self.gpu_buffer(size)
        cpu[:PAGE] = b'\xc3' * PAGE
        mrs = [self.pd.reg_dmabuf_mr(i * 64 * KiB, 64 * KiB, i * 64 * KiB, fd,
                                     ALL_ACCESS) for i in range(64)]
        try:
            self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 1)
            self.assertEqual(self.oracle.read(mrs[0].lkey, 0, 4), b'\xc3' * 4)
            t = time.monotonic()
            self.gpu.revoke(fd)
            elapsed = time.monotonic() - t
            print(f'\n  revoke of 64 keys over one import: {elapsed * 1e3:.1f} ms',
                  flush=True)
            for i, mr in enumerate(mrs):
                with self.assertRaises(OSError) as cm:
                    self.oracle.read(mr.lkey, i * 64 * KiB, 1)
                self.assertEqual(cm.exception.errno, errno.ENOENT)
            c = counters(self.dev_name)
            self.assertEqual((c['mrs'], c['iova_bytes']), (64, 0))
            self.assertEqual(self.stat('revokes'), 64)
            with self.assertRaises(OSError) as cm:
                self.pd.reg_dmabuf_mr(0, PAGE, 0, fd, ALL_ACCESS)
            self.assertEqual(cm.exception.errno, errno.ENODEV)
        finally:
            for mr in mrs:
                mr.close()
        self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 0)
        self.gpu.revoke(fd, False)
        with self.pd.reg_dmabuf_mr(0, PAGE, 0, fd, ALL_ACCESS) as mr:
            self.assertEqual(self.oracle.read(mr.lkey, 0, 4), b'\xc3' * 4)

    def test_revoke_races_processes(self):
        """Three processes register, read and deregister keys over one GPU
        buffer while this one revokes and restores it: every registration
        is whole or refused (ENODEV), every read sees the data or no key,
        and nothing leaks."""
        size = MiB
        fd, cpu = self.gpu_buffer(size)
        for p in range(size // PAGE):
            cpu[p * PAGE:p * PAGE + 4] = bytes([p & 0xff]) * 4
        ctx = multiprocessing.get_context('fork')
        out = ctx.Queue()
        kids = [ctx.Process(target=_child_register,
                            args=(self.dev_name, fd, size, 8, out))
                for _ in range(3)]
        for k in kids:
            k.start()
        end = time.monotonic() + 8
        cycles = 0
        while time.monotonic() < end:
            self.gpu.revoke(fd)
            time.sleep(0.002)
            self.gpu.revoke(fd, False)
            time.sleep(0.005)
            cycles += 1
        results = [out.get(timeout=120) for _ in kids]
        for k in kids:
            k.join(timeout=60)
            self.assertEqual(k.exitcode, 0)
        total = {n: sum(r[n] for r in results) for n in ('ok', 'refused', 'dead')}
        print(f'\n  {cycles} revokes; registrations {total["ok"]} whole '
              f'({total["dead"]} revoked under the read), '
              f'{total["refused"]} refused', flush=True)
        self.assertEqual([b for r in results for b in r['bad']], [])
        self.assertGreater(total['ok'], 0)
        c = counters(self.dev_name)
        self.assertEqual((c['mrs'], c['dmabuf_imports']), (0, 0))


class KeepTest(ImportBase):
    """An import outlives its last key for a while, for the next
    registration of the same buffer, but never its buffer's other holders,
    and never past import_keep_ms."""
    KEEP_MS = 1000

    def wait_imports(self, want, seconds=5):
        end = time.monotonic() + seconds
        while counters(self.dev_name)['dmabuf_imports'] != want:
            self.assertLess(time.monotonic(), end,
                            f'dmabuf_imports not {want} after {seconds} s')
            time.sleep(0.02)

    def test_register_deregister_reuses_the_import(self):
        """Register and deregister slices one at a time: the first makes
        the import, the other 199 find it kept (no attach, pin or map)."""
        fd, cpu = self.ram(32 * MiB, 9, pm.SHUFFLE)
        rng = random.Random(7)
        made = self.stat('imports_made')
        for i in range(200):
            off = rng.randrange(0, 32 * MiB - 64 * KiB) & ~(PAGE - 1)
            with self.pd.reg_dmabuf_mr(off, 64 * KiB, off, fd, LW) as mr:
                if i % 50 == 0:
                    self.assertEqual(self.oracle.read(mr.lkey, off, 64),
                                     bytes(cpu[off:off + 64]))
        self.assertEqual(self.stat('imports_made') - made, 1)
        self.assertEqual(self.stat('imports_reused'), 199)
        self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 1)
        self.set_param('import_keep_ms', 0)
        self.wait_imports(0)

    def test_kept_import_expires(self):
        """Kept no longer than import_keep_ms (and the reaper's period)."""
        self.set_param('import_keep_ms', 300)
        fd, _ = self.ram(2 * MiB)
        self.pd.reg_dmabuf_mr(0, MiB, 0, fd, LW).close()
        t = time.monotonic()
        self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 1)
        self.wait_imports(0)
        self.assertLess(time.monotonic() - t, 2)
        self.assertGreaterEqual(self.stat('imports_released'), 1)

    def test_closed_buffer_is_not_kept_alive(self):
        """The application closes the buffer (fd and mapping) after its
        last MR: the import lets it go at the reaper's next look, not at
        the end of import_keep_ms."""
        self.set_param('import_keep_ms', 60000)
        fd = pm.ram_create(2 * MiB, 9)
        mr = self.pd.reg_dmabuf_mr(0, MiB, 0, fd, LW)
        mr.close()
        self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 1)
        os.close(fd)
        self.wait_imports(0, 2)
        # and a buffer closed while its MR lives is released with the MR
        fd = pm.ram_create(2 * MiB, 9)
        mr = self.pd.reg_dmabuf_mr(0, MiB, 0, fd, LW)
        os.close(fd)
        mr.close()
        self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 0)

    def test_cache_is_bounded(self):
        """At most import_cache_max imports are kept; the oldest go first."""
        self.set_param('import_cache_max', 4)
        self.addCleanup(self.set_param, 'import_cache_max', 16)
        fds = [self.ram(2 * MiB)[0] for _ in range(10)]
        for fd in fds:
            self.pd.reg_dmabuf_mr(0, MiB, 0, fd, LW).close()
        self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 4)
        reused = self.stat('imports_reused')
        self.pd.reg_dmabuf_mr(0, MiB, 0, fds[-1], LW).close()
        self.assertEqual(self.stat('imports_reused'), reused + 1)
        self.pd.reg_dmabuf_mr(0, MiB, 0, fds[0], LW).close()
        self.assertEqual(self.stat('imports_reused'), reused + 1)
        self.set_param('import_keep_ms', 0)
        self.wait_imports(0)

    def test_revoke_releases_a_kept_import(self):
        """A revoke of a kept import's buffer releases it at once."""
        nodes = pm.gpus()
        self.assertGreaterEqual(len(nodes), 1, 'phyr_mmio bound no GPU')
        gpu = pm.Gpu(*nodes[0])
        self.addCleanup(gpu.close)
        self.set_param('import_keep_ms', 60000)
        fd = gpu.create(MiB)
        self.addCleanup(os.close, fd)
        self.pd.reg_dmabuf_mr(0, MiB, 0, fd, ALL_ACCESS).close()
        self.assertEqual(counters(self.dev_name)['dmabuf_imports'], 1)
        gpu.revoke(fd)
        self.wait_imports(0, 2)
        with self.assertRaises(OSError) as cm:
            self.pd.reg_dmabuf_mr(0, MiB, 0, fd, ALL_ACCESS)
        self.assertEqual(cm.exception.errno, errno.ENODEV)
        gpu.revoke(fd, False)
        self.pd.reg_dmabuf_mr(0, MiB, 0, fd, ALL_ACCESS).close()
        self.set_param('import_keep_ms', 0)
        self.wait_imports(0)
