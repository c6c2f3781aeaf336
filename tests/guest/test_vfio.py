# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""VFIO's dma-buf: a real P2P exporter nobody here wrote.

The second GPU is handed to vfio-pci; VFIO_DEVICE_FEATURE_DMA_BUF exports a
range of its BAR 2.  VFIO accepts only importers that handle peer-to-peer
memory and can be revoked, so a plain pinned importer (mainline's
ib_umem_dmabuf_get_pinned()) could not register it at all; phyrdma's legacy
path (the revocable pinned umem) does.  VFIO is not a phyr exporter, so the
phyr path refuses it cleanly (EOPNOTSUPP) and registration falls back.
Data is checked through VFIO's own region mmap of the BAR, and VFIO revokes
the buffer when memory decoding is turned off, and for good when the
device is closed (ivshmem has no function reset).

VFIO needs a translating IOMMU in this kernel (no iommufd, no no-IOMMU
mode), so the IOMMU-off lane has nothing to run here.
"""
import ctypes
import errno
import fcntl
import mmap
import os
import struct
import time
import unittest

import phyrmem as pm
from phyrmem import MiB, PAGE
from phyrdma_base import counters, debugfs_dir, read, run
from test_mr import MrTestBase

# <linux/vfio.h>
VFIO_TYPE, VFIO_BASE = ord(';'), 100


def vfio_io(n):
    return VFIO_TYPE << 8 | (VFIO_BASE + n)


VFIO_GET_API_VERSION = vfio_io(0)
VFIO_SET_IOMMU = vfio_io(2)
VFIO_GROUP_GET_STATUS = vfio_io(3)
VFIO_GROUP_SET_CONTAINER = vfio_io(4)
VFIO_GROUP_GET_DEVICE_FD = vfio_io(6)
VFIO_DEVICE_GET_REGION_INFO = vfio_io(8)
VFIO_DEVICE_FEATURE = vfio_io(17)
VFIO_TYPE1v2_IOMMU = 3
VFIO_GROUP_FLAGS_VIABLE = 1
VFIO_DEVICE_FEATURE_GET = 1 << 16
VFIO_DEVICE_FEATURE_DMA_BUF = 11
VFIO_PCI_BAR2_REGION_INDEX = 2
VFIO_PCI_CONFIG_REGION_INDEX = 7
PCI_COMMAND, PCI_COMMAND_MEMORY = 0x04, 0x02
ALL_ACCESS = 1 | 2 | 4
KiB = 1024

# VFIO maps its dma-bufs with the dma-buf core's dma_buf_phys_vec_to_sgt(),
# which in 7.2 links every range at IOVA offset 0 and whose
# dma_buf_free_sgt() frees no scatterlist.  The debug kernel carries the
# fixes (tools/guest/kernel-patches/0002-*, 0003-*); Debian's 7.2.13 does
# not, and there the tests assert the bugs, so that they say so the day
# the stock kernel is fixed.
KERNEL_HAS_DMABUF_FIXES = os.uname().release.endswith('-phyrdma-debug')
KMEMLEAK = '/sys/kernel/debug/kmemleak'
# what sg_alloc_table() allocates for a table of one entry: one struct
# scatterlist (page_link, offset, length, dma_address, dma_length, dma_flags)
SCATTERLIST_SIZE = 32


def kmalloc_objects(size):
    """Objects in use in the kmalloc caches of SIZE bytes (every copy of
    them: random and accounted kmalloc caches are several)."""
    n = 0
    with open('/proc/slabinfo') as f:
        for line in f:
            w = line.split()
            if w[0].startswith('kmalloc') and w[3] == str(size):
                n += int(w[1])
    return n


def iommu_translating():
    return read(f'{debugfs_dir("phyrdma0")}/iommu') == 'translating'


class VfioGpu:
    """The second GPU, moved from phyr_mmio to vfio-pci, and back on close."""

    def __init__(self, pci):
        self.pci = pci
        dev = f'/sys/bus/pci/devices/{pci}'
        self._write('/sys/bus/pci/drivers/phyr_mmio/unbind', pci)
        self._write(f'{dev}/driver_override', 'vfio-pci')
        r = run('modprobe', 'vfio-pci')
        if r.returncode:
            raise RuntimeError(f'modprobe vfio-pci: {r.stderr}')
        self._write('/sys/bus/pci/drivers_probe', pci)
        group = os.path.basename(os.readlink(f'{dev}/iommu_group'))
        self.container = os.open('/dev/vfio/vfio', os.O_RDWR | os.O_CLOEXEC)
        self.group = os.open(f'/dev/vfio/{group}', os.O_RDWR | os.O_CLOEXEC)
        status = bytearray(struct.pack('=II', 8, 0))
        fcntl.ioctl(self.group, VFIO_GROUP_GET_STATUS, status)
        if not struct.unpack('=II', status)[1] & VFIO_GROUP_FLAGS_VIABLE:
            raise RuntimeError(f'IOMMU group {group} is not viable')
        fcntl.ioctl(self.group, VFIO_GROUP_SET_CONTAINER,
                    struct.pack('=i', self.container))
        fcntl.ioctl(self.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)
        name = ctypes.create_string_buffer(pci.encode())
        self.dev = fcntl.ioctl(self.group, VFIO_GROUP_GET_DEVICE_FD, name)
        self.bar_off, self.bar_size = self.region(VFIO_PCI_BAR2_REGION_INDEX)
        self.cfg_off, _ = self.region(VFIO_PCI_CONFIG_REGION_INDEX)

    @staticmethod
    def _write(path, value):
        with open(path, 'w') as f:
            f.write(value)

    def region(self, index):
        # struct vfio_region_info { argsz, flags, index, cap_offset, size, offset }
        info = bytearray(struct.pack('=IIIIQQ', 32, 0, index, 0, 0, 0))
        fcntl.ioctl(self.dev, VFIO_DEVICE_GET_REGION_INFO, info)
        _, _, _, _, size, offset = struct.unpack('=IIIIQQ', info)
        return offset, size

    def map_bar(self, length):
        return mmap.mmap(self.dev, length, mmap.MAP_SHARED,
                         mmap.PROT_READ | mmap.PROT_WRITE,
                         offset=self.bar_off)

    def dma_buf(self, ranges):
        """VFIO_DEVICE_FEATURE_DMA_BUF of (offset, length) ranges of BAR 2."""
        data = struct.pack('=IIII', VFIO_PCI_BAR2_REGION_INDEX,
                           os.O_RDWR | os.O_CLOEXEC, 0, len(ranges))
        data += b''.join(struct.pack('=QQ', o, n) for o, n in ranges)
        feat = bytearray(struct.pack('=II', 8 + len(data),
                                     VFIO_DEVICE_FEATURE_GET |
                                     VFIO_DEVICE_FEATURE_DMA_BUF) + data)
        return fcntl.ioctl(self.dev, VFIO_DEVICE_FEATURE, feat)

    def memory(self, on):
        """Memory decoding on or off, through VFIO's config region."""
        cmd = struct.unpack('<H', os.pread(self.dev, 2,
                                           self.cfg_off + PCI_COMMAND))[0]
        cmd = cmd | PCI_COMMAND_MEMORY if on else cmd & ~PCI_COMMAND_MEMORY
        os.pwrite(self.dev, struct.pack('<H', cmd), self.cfg_off + PCI_COMMAND)

    def close_device(self):
        os.close(self.dev)
        self.dev = None

    def close(self):
        for fd in (self.dev, self.group, self.container):
            if fd is not None:
                os.close(fd)
        dev = f'/sys/bus/pci/devices/{self.pci}'
        self._write(f'{dev}/driver/unbind', self.pci)
        self._write(f'{dev}/driver_override', '\n')
        self._write('/sys/bus/pci/drivers_probe', self.pci)


@unittest.skipUnless(iommu_translating(), 'VFIO needs a translating IOMMU here')
class VfioDmabufTest(MrTestBase):
    def setUp(self):
        super().setUp()
        gpus = pm.gpus()
        # two, and the big-BAR lane's third (tools/vm --big-bar)
        self.assertIn(len(gpus), (2, 3), 'every GPU bound to phyr_mmio')
        self.vfio = VfioGpu(gpus[1][1])
        self.addCleanup(self.rebound, gpus[1][1])
        self.addCleanup(self.vfio.close)
        self.stats0 = counters(self.dev_name)

    def rebound(self, pci):
        self.assertIn(pci, [addr for _, addr in pm.gpus()],
                      'the GPU went back to phyr_mmio')

    def stat(self, name):
        return counters(self.dev_name)[name] - self.stats0[name]

    def test_register_check_and_revoke(self):
        """Legacy registration of VFIO's dma-buf, every byte checked through
        VFIO's region mmap both ways, then revocation by turning memory
        decoding off: the MR is dead, its IOVA released, dereg clean."""
        size = 2 * MiB
        bar = self.vfio.map_bar(4 * MiB)
        self.addCleanup(bar.close)
        bar[MiB:MiB + size] = os.urandom(size)
        fd = self.vfio.dma_buf([(MiB, size)])
        self.addCleanup(os.close, fd)

        # not a phyr exporter: the phyr path's floor says so
        with self.assertRaises(OSError) as cm:
            self.oracle.link_floor(fd, 0, size)
        self.assertEqual(cm.exception.errno, errno.EOPNOTSUPP)

        mr = self.pd.reg_dmabuf_mr(0, size, 0x10000000, fd, ALL_ACCESS)
        q = self.oracle.query(mr.lkey)
        self.assertEqual(q['path'], pm.PATH_LEGACY)
        self.assertEqual(q['mtt_entries'], 1 if q['page_size'] >= size else
                         size // q['page_size'])
        self.assertEqual(self.oracle.read(mr.lkey, 0x10000000, size),
                         bytes(bar[MiB:MiB + size]))
        data = os.urandom(size)
        self.oracle.write(mr.lkey, 0x10000000, data)
        self.assertEqual(bytes(bar[MiB:MiB + size]), data)

        self.vfio.memory(False)
        with self.assertRaises(OSError) as cm:
            self.oracle.read(mr.lkey, 0x10000000, 4)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertEqual(counters(self.dev_name)['iova_bytes'], 0)
        self.assertEqual(self.stat('revokes'), 1)
        # memory back on: VFIO restores the buffer, the MR stays dead
        self.vfio.memory(True)
        with self.assertRaises(OSError):
            self.oracle.read(mr.lkey, 0x10000000, 4)
        mr.close()
        # a new registration of the restored buffer works
        with self.pd.reg_dmabuf_mr(0, size, 0, fd, ALL_ACCESS) as mr2:
            self.assertEqual(self.oracle.read(mr2.lkey, 0, 16), data[:16])

    def test_device_close_revokes_for_good(self):
        """Closing the VFIO device revokes its dma-bufs for good (ivshmem
        has no function reset, VFIO_DEVICE_RESET says EINVAL): the MR is
        dead, and the buffer, still open, refuses new registrations."""
        fd = self.vfio.dma_buf([(0, MiB)])
        self.addCleanup(os.close, fd)
        mr = self.pd.reg_dmabuf_mr(0, MiB, 0, fd, ALL_ACCESS)
        self.oracle.read(mr.lkey, 0, 4)
        self.vfio.close_device()
        with self.assertRaises(OSError) as cm:
            self.oracle.read(mr.lkey, 0, 4)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        with self.assertRaises(OSError) as cm:
            self.pd.reg_dmabuf_mr(0, MiB, 0, fd, ALL_ACCESS)
        self.assertEqual(cm.exception.errno, errno.ENODEV)
        mr.close()
        self.assertEqual(self.stat('revokes'), 1)

    def test_ranges_back_to_back(self):
        """Three ranges of the BAR, out of order, in one dma-buf, registered
        on the legacy path.  7.2's dma_buf_phys_vec_to_sgt() links each at
        IOVA offset 0, so the second link finds the first there and the
        map fails (EADDRINUSE); the fixed kernel links them back to back
        and every byte of the MR is the BAR's at the right place."""
        ranges = [(3 * MiB, MiB), (0, 64 * KiB), (MiB + 64 * KiB, 128 * KiB)]
        size = sum(n for _, n in ranges)
        bar = self.vfio.map_bar(4 * MiB)
        self.addCleanup(bar.close)
        bar[:] = os.urandom(4 * MiB)
        fd = self.vfio.dma_buf(ranges)
        self.addCleanup(os.close, fd)
        if not KERNEL_HAS_DMABUF_FIXES:
            with self.assertRaises(OSError) as cm:
                self.pd.reg_dmabuf_mr(0, size, 0, fd, ALL_ACCESS)
            self.assertEqual(cm.exception.errno, errno.EADDRINUSE)
            self.assertEqual(counters(self.dev_name)['iova_bytes'], 0)
            return
        want = b''.join(bytes(bar[o:o + n]) for o, n in ranges)
        with self.pd.reg_dmabuf_mr(0, size, 0x40000000, fd, ALL_ACCESS) as mr:
            self.assertEqual(self.oracle.query(mr.lkey)['path'], pm.PATH_LEGACY)
            self.assertEqual(self.oracle.read(mr.lkey, 0x40000000, size), want)
            data = os.urandom(size)
            self.oracle.write(mr.lkey, 0x40000000, data)
            at = 0
            for o, n in ranges:
                self.assertEqual(bytes(bar[o:o + n]), data[at:at + n], o)
                at += n

    def test_unmap_frees_the_table(self):
        """Each registration maps the buffer and each deregistration unmaps
        it.  7.2's dma_buf_free_sgt() hands sg_free_table() a table whose
        orig_nents dma_buf_phys_vec_to_sgt() set to 0, so the one-entry
        scatterlist of every map stays allocated: on the stock kernel the
        kmalloc objects of its size grow by one per registration.  On the
        fixed (debug) kernel, where KASAN's quarantine keeps freed objects
        counted, kmemleak is the witness: nothing allocated by
        dma_buf_phys_vec_to_sgt() is left unreferenced."""
        fd = self.vfio.dma_buf([(0, 64 * KiB)])
        self.addCleanup(os.close, fd)
        n = 64 if KERNEL_HAS_DMABUF_FIXES else 2048
        self.pd.reg_dmabuf_mr(0, 64 * KiB, 0, fd, ALL_ACCESS).close()
        before = kmalloc_objects(SCATTERLIST_SIZE)
        for _ in range(n):
            self.pd.reg_dmabuf_mr(0, 64 * KiB, 0, fd, ALL_ACCESS).close()
        grown = kmalloc_objects(SCATTERLIST_SIZE) - before
        if not KERNEL_HAS_DMABUF_FIXES:
            self.assertGreaterEqual(grown, n * 3 // 4,
                                    'the stock kernel frees the table now')
            return
        self.assertTrue(os.access(KMEMLEAK, os.W_OK), 'kmemleak on the debug kernel')
        time.sleep(6)        # kmemleak reports no object younger than 5 s
        for _ in range(2):
            with open(KMEMLEAK, 'w') as f:
                f.write('scan')
        with open(KMEMLEAK) as f:
            report = f.read()
        self.assertNotIn('dma_buf_phys_vec_to_sgt', report)


@unittest.skipUnless(iommu_translating(), 'VFIO needs a translating IOMMU here')
class VfioTrafficTest(MrTestBase):
    """RDMA into and out of VFIO's dma-buf: GPU-direct through a foreign
    exporter, then revocation."""

    def setUp(self):
        super().setUp()
        gpus = pm.gpus()
        self.vfio = VfioGpu(gpus[1][1])
        self.addCleanup(self.vfio.close)

    def test_rdma_write_and_read(self):
        from pyverbs.mr import DmaBufMR
        from test_datapath import ALL, OPC, WC, WR, Endpoint, pattern
        size = 2 * MiB
        bar = self.vfio.map_bar(size)
        self.addCleanup(bar.close)
        fd = self.vfio.dma_buf([(0, size)])
        self.addCleanup(os.close, fd)
        # closed before tearDown, which checks that nothing is left
        x, y, mr = Endpoint('phyrdma1'), Endpoint('phyrdma0'), None
        try:
            x.connect(y)
            y.connect(x)
            src = x.buf(size, 'user')
            mr = DmaBufMR(y.pd, size, ALL, dmabuf=fd, offset=0)
            self.assertEqual(self.oracle.query(mr.lkey)['path'],
                             pm.PATH_LEGACY)

            n = 3 * PAGE + 77
            data = pattern(n, 9)
            src.write(data, 0)
            x.post(WR.IBV_WR_RDMA_WRITE, [src.sge(0, n)], rkey=mr.rkey,
                   raddr=MiB - 100)
            self.assertEqual(x.poll()[0].status, WC.IBV_WC_SUCCESS)
            self.assertEqual(bytes(bar[MiB - 100:MiB - 100 + n]), data)
            bar[0:n] = pattern(n, 10)
            x.post(WR.IBV_WR_RDMA_READ, [src.sge(MiB, n)], rkey=mr.rkey,
                   raddr=0)
            wc = x.poll()[0]
            self.assertEqual(wc.status, WC.IBV_WC_SUCCESS)
            self.assertEqual(wc.opcode, OPC.IBV_WC_RDMA_READ)
            self.assertEqual(src.read(n, MiB), pattern(n, 10))

            # VFIO turns memory decoding off: the next write finds no key
            self.vfio.memory(False)
            x.post(WR.IBV_WR_RDMA_WRITE, [src.sge(0, n)], rkey=mr.rkey,
                   raddr=0)
            self.assertEqual(x.poll()[0].status, WC.IBV_WC_REM_ACCESS_ERR)
            self.vfio.memory(True)
        finally:
            if mr is not None:
                mr.close()
            x.close()
            y.close()
