# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Fault injection at every failure point (the debug kernel's lane).

For each operation that allocates or maps, phyrdma-fault-sweep runs it with
the Nth allocation of the calling task failing (the kernel's fail-nth, with
failslab and fail_page_alloc reaching sleeping allocations too), for
N = 1, 2, ... until it succeeds without meeting a failure.  Every failing N
must give a clean errno, and afterwards every counter is back where it was;
the runner fails the run on any splat and, on the debug kernel, on any
kmemleak report.  The stock kernel has no fault injection: there these
tests are skipped, and `make check-debug` runs them.

DMA-API debugging keeps its own books with GFP_ATOMIC allocations made on
the caller's stack (the active-cacheline radix tree, more debug entries).
A failure injected there is no failure of ours, and dma-debug answers it by
switching itself off for the rest of the boot ("cacheline tracking ENOMEM,
dma-debug disabled"), which would blind every later test.  So the sweep
rejects, through the stack-trace filter of failslab and fail_page_alloc,
any allocation with dma-debug's code on its stack, and every sweep checks
that dma-debug is still on afterwards.
"""
import errno
import functools
import os
import subprocess
import unittest

from phyrdma_base import (PhyrdmaTestCase, counters, debugfs_dir,
                          drop_kept_imports, pci_address, phyrdma_devices,
                          reload_phyrdma)

FAIL_NTH = '/proc/thread-self/fail-nth'
DEBUGFS = '/sys/kernel/debug'
PARAM = '/sys/module/phyrdma/parameters'
# what a failed allocation may legitimately surface as
CLEAN = {errno.ENOMEM, errno.ENOSPC, errno.EAGAIN}
SETTINGS = {
    'failslab/ignore-gfp-wait': 'N',
    'failslab/verbose': '0',
    'fail_page_alloc/ignore-gfp-wait': 'N',
    'fail_page_alloc/ignore-gfp-highmem': 'N',
    'fail_page_alloc/min-order': '0',
    'fail_page_alloc/verbose': '0',
}
DMA_API_DISABLED = f'{DEBUGFS}/dma-api/disabled'
# functions of kernel/dma/debug.c that span the code allocating on the
# caller's stack: the entry pool's refill up to the entry insertion, and the
# streaming map entry point in case that insertion is inlined into it
DMA_DEBUG_SYMS = ('dma_debug_create_entries', 'add_dma_entry', 'debug_dma_map_phys')
COUNTERS = ('ucontexts', 'pds', 'mrs', 'mws', 'cqs', 'qps', 'srqs', 'ahs',
            'dmabuf_attachments', 'pinned_pages', 'mtt_entries', 'iova_bytes',
            'mtt_pages')


def write(path, value):
    with open(path, 'w') as f:
        f.write(value)


def read(path):
    with open(path) as f:
        return f.read().strip()


class identity_domain:
    """@ibdev's PCI function in an identity IOMMU domain for the block (its
    DMA untranslated, the mapper on its direct path), then back in the
    domain it had.  The driver is unbound for each switch, as the IOMMU
    core requires: the test's own context on the device is closed first.
    Skips where the device is not translated to begin with or shares its
    group."""

    def __init__(self, test, ibdev):
        self.test = test
        self.pci = pci_address(ibdev)
        self.ibdev = ibdev
        self.group = os.path.realpath(f'/sys/bus/pci/devices/{self.pci}/iommu_group')

    def switch(self, kind):
        write('/sys/bus/pci/drivers/phyrdma/unbind', self.pci)
        try:
            write(f'{self.group}/type', kind)
        finally:
            write('/sys/bus/pci/drivers/phyrdma/bind', self.pci)
            reload_phyrdma()

    def __enter__(self):
        if not os.path.isdir(self.group):
            self.test.skipTest('no IOMMU: the direct path is the only one')
        if len(os.listdir(f'{self.group}/devices')) != 1:
            self.test.skipTest('the device shares its IOMMU group')
        self.kind = read(f'{self.group}/type')
        if self.kind not in ('DMA', 'DMA-FQ'):
            self.test.skipTest(f'the group is {self.kind}, not translated')
        self.test.ctx.close()
        self.switch('identity')
        try:
            self.test.assertEqual(read(f'{debugfs_dir(self.ibdev)}/iommu'),
                                  'identity')
        except BaseException:
            self.switch(self.kind)
            raise
        return self

    def __exit__(self, *exc):
        self.switch(self.kind)
        self.test.assertEqual(read(f'{debugfs_dir(self.ibdev)}/iommu'),
                              'translating')
        return False


@functools.cache
def text_range(names):
    """[start, end) of the kernel text from the lowest of the named
    functions to the end of the highest, from /proc/kallsyms; None if the
    kernel has none of them.  Read once a run: the kernel's own text does
    not move."""
    syms = []
    with open('/proc/kallsyms') as f:
        for line in f:
            addr, kind, name = line.split()[:3]
            if kind in 'tT':
                syms.append((int(addr, 16), name))
    syms.sort()
    found = [i for i, (_, name) in enumerate(syms) if name in names]
    if not found:
        return None
    start = syms[found[0]][0]
    end = syms[found[-1] + 1][0]
    if start == 0:
        raise RuntimeError('/proc/kallsyms hides addresses (kptr_restrict)')
    return start, end


@unittest.skipUnless(os.path.exists(FAIL_NTH),
                     'no fault injection in this kernel (the debug lane has it)')
class FaultSweepTest(PhyrdmaTestCase):
    points = {}

    def setUp(self):
        super().setUp()
        self.saved = {}
        settings = dict(SETTINGS)
        span = text_range(DMA_DEBUG_SYMS) if os.path.exists(DMA_API_DISABLED) else None
        if span:
            # the most the kernel keeps; the depth from should_fail to
            # add_dma_entry through slab and the page allocator is about 15
            for attr in ('failslab', 'fail_page_alloc'):
                settings[f'{attr}/stacktrace-depth'] = '32'
                settings[f'{attr}/reject-start'] = hex(span[0])
                settings[f'{attr}/reject-end'] = hex(span[1])
        self.addCleanup(self.restore)
        for name, value in settings.items():
            path = f'{DEBUGFS}/{name}'
            self.saved[path] = read(path)
            write(path, value)

    def restore(self):
        for path, value in self.saved.items():
            write(path, value)

    def sweep(self, op, legacy=False, allow_none=False, tag=''):
        before = {d: counters(d) for d in phyrdma_devices()}
        write(f'{PARAM}/legacy', '1' if legacy else '0')
        try:
            r = subprocess.run(['phyrdma-fault-sweep', '-d', self.dev_name, op],
                               capture_output=True, text=True, timeout=3000)
        finally:
            write(f'{PARAM}/legacy', '0')
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout[-2000:])
        if os.path.exists(DMA_API_DISABLED):
            self.assertEqual(read(DMA_API_DISABLED), 'N',
                             f'{op}: DMA-API debugging switched itself off')
        lines = r.stdout.split('\n')
        points = int(lines[-2].split('=')[1])
        if not allow_none:
            self.assertGreater(points, 0, f'{op}: no allocation met')
        for line in lines[:-2]:
            result = line.split('result=')[1]
            if result != 'ok':
                # libibverbs reads the device list from sysfs first: a
                # failure there is "no such device" to the caller
                clean = CLEAN | ({errno.ENOENT, errno.ENODEV} if op == 'ctx' else set())
                # an AH and RTR resolve the destination through the
                # network stack, whose allocations fail as ENOBUFS
                if op in ('ah', 'modify_qp'):
                    clean |= {errno.ENOBUFS}
                self.assertIn(int(result.split('=')[1]), clean, f'{op}: {line}')
        drop_kept_imports()
        for d in phyrdma_devices():
            c = counters(d)
            for name in COUNTERS:
                if name in c:
                    self.assertEqual(c[name], before[d][name],
                                     f'{op}: counter {name} after the sweep')
        FaultSweepTest.points[op + ('-legacy' if legacy else '') + tag] = points
        return points

    def test_alloc_ucontext(self):
        self.sweep('ctx')

    def test_alloc_pd(self):
        self.sweep('pd')

    def test_reg_mr(self):
        self.sweep('reg_mr')

    def test_reg_mr_odp(self):
        self.sweep('reg_odp')

    def test_reg_dmabuf_mr_phyr(self):
        self.sweep('dmabuf')

    def test_reg_dmabuf_mr_legacy(self):
        self.sweep('dmabuf', legacy=True)

    def test_reg_dmabuf_mr_phyr_direct(self):
        """The mapper's direct path, where the device's DMA is untranslated
        as with the IOMMU off, in a guest whose IOMMU is on: the device's
        group is switched to an identity domain for the sweep, so that one
        debug-kernel boot sweeps both of the mapper's paths."""
        with identity_domain(self, self.dev_name):
            self.sweep('dmabuf', tag='-direct')

    def test_exporter_create(self):
        self.sweep('ram_create')

    def test_reg_dmabuf_mr_p2p_phyr(self):
        self.sweep('dmabuf_p2p')

    def test_reg_dmabuf_mr_p2p_legacy(self):
        self.sweep('dmabuf_p2p', legacy=True)

    def test_mmio_exporter_create(self):
        self.sweep('mmio_create')

    def test_revoke(self):
        # a revoke allocates nothing in phyrdma: the sweep shows it meets
        # no failure point or only clean ones, and leaves nothing behind
        self.sweep('revoke', allow_none=True)

    def test_create_cq(self):
        self.sweep('cq')

    def test_create_qp(self):
        self.sweep('qp')

    def test_modify_qp(self):
        self.sweep('modify_qp')

    def test_create_srq(self):
        self.sweep('srq')

    def test_alloc_mw(self):
        self.sweep('mw')

    def test_create_ah(self):
        self.sweep('ah')

    @classmethod
    def tearDownClass(cls):
        if cls.points:
            print('fault points: ' + ' '.join(f'{k}={v}' for k, v in
                                              sorted(cls.points.items())) +
                  f' (total {sum(cls.points.values())})', flush=True)


FAIL_FUNCTION = f'{DEBUGFS}/fail_function'


@unittest.skipUnless(os.path.isdir(FAIL_FUNCTION),
                     'no fail_function in this kernel (the debug lane has it)')
class FailFunctionTest(PhyrdmaTestCase):
    """Failures no allocation stands for, injected with fail_function at the
    functions our modules mark ALLOW_ERROR_INJECTION: the IOVA reservation
    of the streaming mapper, the device's MTT and its rings.  Each gives
    the caller that errno, leaves every counter where it was, and the same
    call then succeeds."""

    def inject(self, func, err, call):
        from pyverbs.pyverbs_error import PyverbsRDMAError
        before = {d: counters(d) for d in phyrdma_devices()}
        write(f'{FAIL_FUNCTION}/inject', func)
        try:
            # an unsigned 64-bit value: -err in two's complement, in hex
            write(f'{FAIL_FUNCTION}/{func}/retval', hex((1 << 64) - err))
            write(f'{FAIL_FUNCTION}/task-filter', 'N')
            write(f'{FAIL_FUNCTION}/probability', '100')
            write(f'{FAIL_FUNCTION}/interval', '1')
            write(f'{FAIL_FUNCTION}/times', '1')
            write(f'{FAIL_FUNCTION}/verbose', '0')
            with self.assertRaises(PyverbsRDMAError) as cm:
                call().close()
            self.assertEqual(cm.exception.error_code, err, func)
        finally:
            write(f'{FAIL_FUNCTION}/inject', '\n')
        drop_kept_imports()
        for d in phyrdma_devices():
            c = counters(d)
            for name in COUNTERS:
                if name in c:
                    self.assertEqual(c[name], before[d][name], f'{func}: {name}')
        call().close()

    def test_mapper_iova_exhausted(self):
        from pyverbs.mr import MR
        from pyverbs.pd import PD
        pd = PD(self.ctx)
        self.addCleanup(pd.close)
        self.inject('phyr_dma_map', errno.ENOSPC, lambda: MR(pd, 1 << 20, 1))

    def test_mtt_allocation(self):
        from pyverbs.mr import MR
        from pyverbs.pd import PD
        pd = PD(self.ctx)
        self.addCleanup(pd.close)
        self.inject('phyrdma_hw_mtt_alloc', errno.ENOMEM, lambda: MR(pd, 1 << 20, 1))

    def test_import_refused(self):
        """A dma-buf's import fails for good (the exporter revoked it):
        the registration fails with that errno, nothing is left."""
        import phyrmem as pm
        from pyverbs.mr import DmaBufMR
        from pyverbs.pd import PD
        pd = PD(self.ctx)
        self.addCleanup(pd.close)
        fd = pm.ram_create(2 << 20, 9)
        self.addCleanup(os.close, fd)
        self.inject('phyr_import_get_locked', errno.ENODEV,
                    lambda: DmaBufMR(pd, 1 << 20, 1, dmabuf=fd))

    def test_import_without_iova_falls_back(self):
        """No IOVA for the whole buffer: the slice is mapped on its own."""
        import phyrmem as pm
        from pyverbs.mr import DmaBufMR
        from pyverbs.pd import PD
        pd = PD(self.ctx)
        self.addCleanup(pd.close)
        fd = pm.ram_create(2 << 20, 9)
        self.addCleanup(os.close, fd)
        before = counters(self.dev_name)['import_fallbacks']
        write(f'{FAIL_FUNCTION}/inject', 'phyr_import_get_locked')
        try:
            write(f'{FAIL_FUNCTION}/phyr_import_get_locked/retval',
                  hex((1 << 64) - errno.ENOSPC))
            write(f'{FAIL_FUNCTION}/task-filter', 'N')
            write(f'{FAIL_FUNCTION}/probability', '100')
            write(f'{FAIL_FUNCTION}/interval', '1')
            write(f'{FAIL_FUNCTION}/times', '1')
            write(f'{FAIL_FUNCTION}/verbose', '0')
            DmaBufMR(pd, 1 << 20, 1, dmabuf=fd).close()
        finally:
            write(f'{FAIL_FUNCTION}/inject', '\n')
        after = counters(self.dev_name)['import_fallbacks']
        self.assertEqual(after, before + 1)

    def test_ring_allocation(self):
        from pyverbs.cq import CQ
        self.inject('phyrdma_hw_ring_alloc', errno.ENOMEM, lambda: CQ(self.ctx, 16))


if __name__ == '__main__':
    unittest.main()
