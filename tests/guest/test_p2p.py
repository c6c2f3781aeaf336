# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""GPU-direct without struct page: P2P MMIO dma-bufs of a "GPU" BAR.

phyr_mmio hands out dma-bufs of an ivshmem function's BAR 2.  They are
registered on the phyr path (the phyr names the BAR's P2P provider) and on
the legacy path (an sg_table of DMA addresses only); every byte the device
reaches through the MR is checked against the BAR as the CPU sees it
through an mmap of the dma-buf.  Revocation makes an MR dead in the device
before its mapping goes, on both paths, with registrations and traffic in
flight.

The topology comes from the runner (phyrdma_topology= on the kernel command
line): root puts the GPUs beside the phyrdma functions on the root complex
(THRU_HOST_BRIDGE: through the IOMMU), switch below one PCIe switch
(BUS_ADDR: bus addresses, the IOMMU not involved).  A platform whose host
bridge does no peer-to-peer is p2p_isolated.py's.
"""
import errno
import mmap
import os
import subprocess
import threading
import time
import unittest

import phyrmem as pm
from phyrmem import KiB, MiB, PAGE
from phyrdma_base import counters
from rawverbs import Pd
from test_mr import MrTestBase, nr_blocks, translated_pgsz, mainline_pgsz

LW, RW, RR = 1, 2, 4
ALL_ACCESS = LW | RW | RR


def topology():
    with open('/proc/cmdline') as f:
        for word in f.read().split():
            if word.startswith('phyrdma_topology='):
                return word.split('=', 1)[1]
    return 'root'


class P2pBase(MrTestBase):
    def setUp(self):
        super().setUp()
        self.topo = topology()
        nodes = pm.gpus()
        self.assertGreaterEqual(len(nodes), 1, 'phyr_mmio bound no GPU')
        self.gpu = self.pick_gpu(nodes)
        self.addCleanup(self.gpu.close)
        # cleanups run last-in first-out: this one after every buffer's
        self.addCleanup(self.no_buffers_left)
        # bus addresses below a switch: no IOVA, whatever the IOMMU does
        self.p2p_translating = self.translating and self.topo != 'switch'
        self.stats0 = counters(self.dev_name)

    def pick_gpu(self, nodes):
        """The GPU the test allocates from: the first."""
        return pm.Gpu(*nodes[0])

    def no_buffers_left(self):
        self.assertEqual(self.gpu.info()['buffers'], 0, 'GPU buffers left')

    def stat(self, name):
        return counters(self.dev_name)[name] - self.stats0[name]

    def buffer(self, size, chunk=0, flags=0):
        fd = self.gpu.create(size, chunk, flags)
        self.addCleanup(os.close, fd)
        cpu = pm.map_dmabuf(fd, size)
        self.addCleanup(cpu.close)
        return fd, cpu


class P2pRegistrationTest(P2pBase):
    def expect_p2p_layout(self, q, iova, length, phys, path):
        """The page size the rules give for one physical run of the BAR."""
        self.assertEqual(q['path'], path)
        span = -(-(iova % PAGE + length) // PAGE) * PAGE
        cap = min(self.cap, span)
        if path == pm.PATH_PHYR and self.p2p_translating:
            want = translated_pgsz(iova, length, cap)
        elif path == pm.PATH_LEGACY and self.p2p_translating:
            self.assertEqual(q['runs'], 1, 'legacy mapping not one IOVA range')
            want = mainline_pgsz([(q['dma_first'], length)], iova, length)
        else:
            want = mainline_pgsz([(phys, length)], iova, length)
        self.assertEqual(q['page_size'], want,
                         f'page size {q["page_size"]:#x}, rules say {want:#x}')
        self.assertEqual(q['mtt_entries'], nr_blocks(iova, length, want))
        if not self.p2p_translating:
            # the device gets the BAR's own (bus = CPU here) addresses
            self.assertEqual(q['dma_first'], phys)
            self.assertEqual(q['iova_bytes'], 0)

    def test_both_paths_aligned_and_not(self):
        """A 4 MiB BAR buffer at 2 MiB- and 4 KiB-aligned iovas, both paths;
        every byte checked through the oracle against the CPU's view."""
        size = 4 * MiB
        fd, cpu = self.buffer(size)
        cpu[:] = os.urandom(size)
        offset = self.gpu.info(fd)['offset']
        self.assertEqual(offset % (4 * MiB), 0, 'the allocator aligns to size')
        phys = self.gpu.bar_phys + offset
        for legacy in (False, True):
            for iova in (64 * MiB, 64 * MiB + PAGE):
                with self.subTest(legacy=legacy, iova=hex(iova)):
                    self.set_legacy(legacy)
                    with self.pd.reg_dmabuf_mr(0, size, iova, fd, ALL_ACCESS) as mr:
                        q = self.oracle.query(mr.lkey)
                        self.expect_p2p_layout(
                            q, iova, size, phys,
                            pm.PATH_LEGACY if legacy else pm.PATH_PHYR)
                        self.verify_content(mr.lkey, iova, size, cpu, q,
                                            [(phys, size)])
        self.set_legacy(False)
        self.assertEqual(self.stat('reg_p2p'), 4)

    def test_scattered_chunks(self):
        """64 KiB chunks in reverse order: one run each, every block right."""
        size = MiB
        fd, cpu = self.buffer(size, 64 * KiB, pm.MMIO_REVERSE)
        cpu[:] = os.urandom(size)
        for legacy in (False, True):
            with self.subTest(legacy=legacy):
                self.set_legacy(legacy)
                iova = 2 * MiB
                with self.pd.reg_dmabuf_mr(0, size, iova, fd, ALL_ACCESS) as mr:
                    q = self.oracle.query(mr.lkey)
                    if not self.p2p_translating:
                        self.assertLessEqual(q['page_size'], 64 * KiB)
                    elif not legacy:
                        self.assertEqual(q['runs'], 16)
                    self.assertEqual(q['mtt_entries'],
                                     nr_blocks(iova, size, q['page_size']))
                    self.assertEqual(self.oracle.read(mr.lkey, iova, size),
                                     bytes(cpu))
                    data = os.urandom(size)
                    self.oracle.write(mr.lkey, iova, data)
                    self.assertEqual(bytes(cpu), data)
        self.set_legacy(False)

    def test_slice_and_cc_shared(self):
        """A slice of the buffer, and memory labelled decrypted (a guest
        without memory encryption shares all memory: no attribute needed)."""
        fd, cpu = self.buffer(2 * MiB, 0, pm.MMIO_CC_SHARED)
        cpu[:] = os.urandom(2 * MiB)
        with self.pd.reg_dmabuf_mr(MiB + PAGE, 3 * PAGE, 0x7000, fd,
                                   ALL_ACCESS) as mr:
            self.assertEqual(self.oracle.read(mr.lkey, 0x7000, 3 * PAGE),
                             bytes(cpu[MiB + PAGE:MiB + 4 * PAGE]))

    def test_exporter_refusals(self):
        """Bad requests to the exporter, and importers it cannot serve."""
        for size, chunk, flags in ((0, 0, 0), (PAGE + 1, 0, 0),
                                   (2 * MiB, 3 * PAGE, 0), (MiB, 2 * MiB, 0),
                                   (MiB, 0, 1 << 7),
                                   (self.gpu.bar_len * 2, 0, 0)):
            with self.subTest(size=size, chunk=chunk, flags=flags):
                with self.assertRaises(OSError) as cm:
                    self.gpu.create(size, chunk, flags)
                self.assertEqual(cm.exception.errno, errno.EINVAL)
        # another exporter's buffer is not ours to revoke
        ram = pm.ram_create(MiB)
        self.addCleanup(os.close, ram)
        with self.assertRaises(OSError) as cm:
            self.gpu.revoke(ram)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        # copy-on-write mappings of raw PFNs are refused
        fd, _ = self.buffer(MiB)
        with self.assertRaises(OSError) as cm:
            mmap.mmap(fd, MiB, mmap.MAP_PRIVATE, mmap.PROT_READ)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        # a full BAR says ENOSPC
        big = self.gpu.create(self.gpu.info()['free'], 64 * KiB)
        self.addCleanup(os.close, big)
        with self.assertRaises(OSError) as cm:
            self.gpu.create(PAGE)
        self.assertEqual(cm.exception.errno, errno.ENOSPC)


class RevokeTest(P2pBase):
    def test_revoke_kills_the_mr_first(self):
        """After a revoke the key is invalid for the device (the oracle finds
        no MR), the IOVA is released, CPU mappings fault; dereg is clean;
        after a restore the buffer registers again."""
        size = 2 * MiB
        fd, cpu = self.buffer(size)
        cpu[:PAGE] = b'\xa5' * PAGE
        for legacy in (False, True):
            with self.subTest(legacy=legacy):
                self.set_legacy(legacy)
                mr = self.pd.reg_dmabuf_mr(0, size, 0, fd, ALL_ACCESS)
                key = mr.lkey
                self.assertEqual(self.oracle.read(key, 0, 4), b'\xa5' * 4)
                before = counters(self.dev_name)
                self.gpu.revoke(fd)
                with self.assertRaises(OSError) as cm:
                    self.oracle.read(key, 0, 4)
                self.assertEqual(cm.exception.errno, errno.ENOENT)
                after = counters(self.dev_name)
                self.assertEqual(after['iova_bytes'], 0, 'IOVA kept after revoke')
                self.assertEqual(after['mrs'], before['mrs'], 'the MR stays until dereg')
                # new registrations of a revoked buffer are refused
                with self.assertRaises(OSError) as cm:
                    self.pd.reg_dmabuf_mr(0, PAGE, 0, fd, ALL_ACCESS)
                self.assertEqual(cm.exception.errno, errno.ENODEV)
                mr.close()
                self.gpu.revoke(fd, False)
        self.set_legacy(False)
        self.assertEqual(self.stat('revokes'), 2)
        # the old CPU mapping is gone for good; a new one works
        cpu2 = pm.map_dmabuf(fd, size)
        self.addCleanup(cpu2.close)
        self.assertEqual(bytes(cpu2[:4]), b'\xa5' * 4)

    def test_revoked_key_stays_taken(self):
        """A revoked MR keeps its key until dereg: 600 registrations after
        the revoke (more than the 256 key variants of one slot) never hand
        the revoked key to a new MR, which a peer's stale rkey would reach."""
        fd, _ = self.buffer(MiB)
        mr = self.pd.reg_dmabuf_mr(0, MiB, 0, fd, ALL_ACCESS)
        key = mr.lkey
        self.gpu.revoke(fd)
        anon = mmap.mmap(-1, PAGE)
        self.addCleanup(anon.close)
        addr = pm.ctypes_addr(anon)
        for _ in range(600):
            with self.pd.reg_mr(addr, PAGE, addr, LW) as other:
                self.assertNotEqual(other.lkey, key, 'a revoked key reused')
        with self.assertRaises(OSError):
            self.oracle.read(key, 0, 1)
        mr.close()
        self.gpu.revoke(fd, False)

    def test_revoke_cycles(self):
        """1000 cycles of register, revoke, dereg, restore, alternating the
        paths: every revoke kills a live MR, and nothing leaks."""
        fd, cpu = self.buffer(MiB)
        start = time.monotonic()
        for i in range(1000):
            self.set_legacy(i % 2)
            mr = self.pd.reg_dmabuf_mr(0, MiB, 0, fd, ALL_ACCESS)
            self.gpu.revoke(fd)
            if i % 100 == 0:
                with self.assertRaises(OSError):
                    self.oracle.read(mr.lkey, 0, 1)
            mr.close()
            self.gpu.revoke(fd, False)
        elapsed = time.monotonic() - start
        self.set_legacy(False)
        print(f'\n  1000 register-revoke-dereg cycles in {elapsed:.1f} s',
              flush=True)
        self.assertEqual(self.stat('revokes'), 1000)

    def test_revoke_races_registration(self):
        """Revoke and restore in a loop while another thread registers,
        reads through the device and deregisters on both paths: each
        registration succeeds whole or fails cleanly (ENODEV), each read
        sees the data or no key, and nothing leaks."""
        fd, cpu = self.buffer(MiB)
        cpu[:4] = b'\x5a' * 4
        stop = threading.Event()
        outcome = {'ok': 0, 'refused': 0, 'read': 0, 'dead': 0, 'other': []}

        def register():
            pd = Pd(self.dev_name)
            try:
                while not stop.is_set():
                    try:
                        with pd.reg_dmabuf_mr(0, MiB, 0, fd, ALL_ACCESS) as mr:
                            outcome['ok'] += 1
                            try:
                                got = self.oracle.read(mr.lkey, 0, 4)
                                if got != b'\x5a' * 4:
                                    outcome['other'].append(got)
                                outcome['read'] += 1
                            except OSError as e:
                                if e.errno != errno.ENOENT:
                                    outcome['other'].append(e.errno)
                                outcome['dead'] += 1
                    except OSError as e:
                        if e.errno == errno.ENODEV:
                            outcome['refused'] += 1
                        else:
                            outcome['other'].append(e.errno)
            finally:
                pd.close()

        t = threading.Thread(target=register)
        t.start()
        try:
            for i in range(1000):
                self.gpu.revoke(fd)
                time.sleep(0.0005)
                self.gpu.revoke(fd, False)
                time.sleep(0.0005)
        finally:
            stop.set()
            t.join()
        print(f'\n  registrations: {outcome["ok"]} whole ({outcome["read"]} '
              f'read, {outcome["dead"]} revoked under the read), '
              f'{outcome["refused"]} refused', flush=True)
        self.assertEqual(outcome['other'], [])
        self.assertGreater(outcome['ok'], 0)


class SharedRevokeTest(RevokeTest):
    """The revoke tests again, with MRs as keys over one import per GPU
    buffer: the exporter's revoke reaches the import, which kills its
    keys before its mapping goes."""
    SHARE = True


class BindTest(unittest.TestCase):
    """phyr_mmio takes only the PCI functions its devices= parameter names."""

    ROOT = '/sys/bus/pci/drivers/phyr_mmio'

    @staticmethod
    def ivshmem():
        out = []
        for d in sorted(os.listdir('/sys/bus/pci/devices')):
            p = f'/sys/bus/pci/devices/{d}'
            with open(f'{p}/vendor') as v, open(f'{p}/device') as i:
                if (v.read().strip(), i.read().strip()) == ('0x1af4', '0x1110'):
                    out.append(d)
        return out

    def bound(self):
        return sorted(d for d in os.listdir(self.ROOT) if ':' in d)

    def reload(self, *params):
        r = subprocess.run(['rmmod', 'phyr_mmio'], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(['modprobe', 'phyr_mmio', *params], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_only_named_functions(self):
        gpus = self.ivshmem()
        # two, and a third in the big-BAR lane (tools/vm --big-bar)
        self.assertIn(len(gpus), (2, 3))
        self.assertEqual(self.bound(), gpus, 'the runner names every GPU')
        try:
            self.reload()
            self.assertEqual(self.bound(), [], 'bound a function not named')
            self.reload(f'devices={gpus[1]}')
            self.assertEqual(self.bound(), [gpus[1]])
            self.reload('devices=0000:00:1f.7,' + gpus[0])
            self.assertEqual(self.bound(), [gpus[0]])
        finally:
            self.reload('devices=' + ','.join(gpus))
        self.assertEqual(self.bound(), gpus)
