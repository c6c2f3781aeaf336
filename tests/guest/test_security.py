# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Holes found by trying the interfaces as an attacker would, each closed.

Every test here is the regression test of one finding: what a caller got
wrong, or what an unprivileged process could see or do, and the answer the
kernel gives now.
"""
import ctypes
import errno
import fcntl
import mmap
import os
import struct
import unittest

import phyrmem as pm
from phyrmem import MiB, PAGE
from phyrdma_base import PhyrdmaTestCase, counters, debugfs_dir
from rawverbs import Pd

LW = 1  # IBV_ACCESS_LOCAL_WRITE


def open_fds():
    return set(os.listdir('/proc/self/fd'))


class ExporterTest(unittest.TestCase):
    """phyr_ram's ioctls and mmap."""

    def test_create_efault_leaves_no_fd(self):
        """A request the kernel can read but not write back: EFAULT, and
        no dma-buf fd behind the caller's back."""
        # the request in a page the kernel may read but not write
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                              ctypes.c_int, ctypes.c_int, ctypes.c_long]
        ro = libc.mmap(None, PAGE, mmap.PROT_READ | mmap.PROT_WRITE,
                       mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        self.assertNotEqual(ro, ctypes.c_void_p(-1).value)
        self.addCleanup(libc.munmap, ctypes.c_void_p(ro), PAGE)
        ctypes.memmove(ro, pm._CREATE.pack(2 * MiB, 0, 0, -1, 0),
                       pm._CREATE.size)
        self.assertEqual(libc.mprotect(ctypes.c_void_p(ro), PAGE,
                                       mmap.PROT_READ), 0)
        before = open_fds()
        dev = os.open('/dev/phyr_ram', os.O_RDWR | os.O_CLOEXEC)
        try:
            libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
            rc = libc.ioctl(dev, pm.PHYR_RAM_IOC_CREATE, ctypes.c_void_p(ro))
            err = ctypes.get_errno()
        finally:
            os.close(dev)
        self.assertEqual((rc, err), (-1, errno.EFAULT))
        self.assertEqual(open_fds(), before, 'a dma-buf fd was left installed')

    def test_private_mapping_refused(self):
        """A copy-on-write mapping would put a PFN in /proc/self/maps; it is
        refused alike for a one-run and a many-run buffer."""
        for order, flags in ((0, pm.CONTIGUOUS), (0, pm.SHUFFLE), (9, 0)):
            fd = pm.ram_create(2 * MiB, order, flags)
            try:
                for prot in (mmap.PROT_READ, mmap.PROT_READ | mmap.PROT_WRITE):
                    with self.assertRaises(OSError) as cm:
                        mmap.mmap(fd, 2 * MiB, mmap.MAP_PRIVATE, prot)
                    self.assertEqual(cm.exception.errno, errno.EINVAL,
                                     f'order {order} flags {flags:#x}')
                # a shared mapping works, and /proc/self/maps shows offset 0
                m = pm.map_dmabuf(fd, 2 * MiB)
                addr = pm.ctypes_addr(m)
                with open('/proc/self/maps') as f:
                    line = next(l for l in f if int(l.split('-')[0], 16) == addr)
                self.assertEqual(int(line.split()[2], 16), 0, line)
                m.close()
            finally:
                os.close(fd)

    def test_contiguous_ignores_order(self):
        """phyr_ram.h: one contiguous allocation ignores order."""
        fd = pm.ram_create(2 * MiB, 11, pm.CONTIGUOUS)
        os.close(fd)
        # without CONTIGUOUS the order still counts
        with self.assertRaises(OSError) as cm:
            pm.ram_create(2 * MiB, 64, 0)
        self.assertEqual(cm.exception.errno, errno.EINVAL)


class OracleTest(PhyrdmaTestCase):
    """The debugfs oracle refuses a bad request whole."""

    def setUp(self):
        super().setUp()
        self.oracle = pm.Oracle(debugfs_dir(self.dev_name))
        self.addCleanup(self.oracle.close)
        self.pd = Pd(self.dev_name)
        self.addCleanup(self.pd.close)

    def test_copy_checks_the_whole_range_first(self):
        fd = pm.ram_create(2 * MiB, 9)
        self.addCleanup(os.close, fd)
        cpu = pm.map_dmabuf(fd, 2 * MiB)
        self.addCleanup(cpu.close)
        iova = 0x40000000
        with self.pd.reg_dmabuf_mr(0, 2 * MiB, iova, fd, LW) as mr:
            with self.assertRaises(OSError) as cm:
                self.oracle.write(mr.lkey, iova, b'\xab' * (3 * MiB))
            self.assertEqual(cm.exception.errno, errno.ERANGE)
            self.assertEqual(cpu[:16], bytes(16), 'a refused copy wrote')
            self.assertEqual(cpu[2 * MiB - 16:], bytes(16))
            key = mr.lkey
        # no MR behind the key: ENOENT even for nothing to move
        with self.assertRaises(OSError) as cm:
            self.oracle.read(key, iova, 0)
        self.assertEqual(cm.exception.errno, errno.ENOENT)

    def test_reserved_fields(self):
        fd = pm.ram_create(2 * MiB, 0)
        self.addCleanup(os.close, fd)
        buf = bytearray(pm._FLOOR.pack(fd, 1, 0, 2 * MiB, 0, 0, 0, 0))
        with self.assertRaises(OSError) as cm:
            fcntl.ioctl(self.oracle.fd, pm.ORACLE_LINK_FLOOR, buf)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with self.pd.reg_dmabuf_mr(0, 2 * MiB, 0, fd, LW) as mr:
            buf = bytearray(pm._TRANSLATE.pack(mr.lkey, 1, 0, 0, 0))
            with self.assertRaises(OSError) as cm:
                fcntl.ioctl(self.oracle.fd, pm.ORACLE_TRANSLATE, buf)
            self.assertEqual(cm.exception.errno, errno.EINVAL)
            self.oracle.translate(mr.lkey, 0)


# ---- uverbs ioctl, by hand: GET_CONTEXT with the driver data we choose ----

def _ioc(direction, typ, nr, size):
    return direction << 30 | size << 16 | typ << 8 | nr


_HDR = struct.Struct('=HHHHQII')
_ATTR = struct.Struct('=HHHHQ')
RDMA_VERBS_IOCTL = _ioc(3, 0x1b, 1, _HDR.size)
UVERBS_OBJECT_DEVICE = 0
UVERBS_METHOD_GET_CONTEXT = 3
UVERBS_ATTR_UHW_IN, UVERBS_ATTR_UHW_OUT = 1 << 12, (1 << 12) + 1
UCONTEXT_RESP = struct.Struct('=IIQ')  # comp_mask, iommu_mode, page_size_cap


def uverbs_path(ibdev):
    d = f'/sys/class/infiniband/{ibdev}/device/infiniband_verbs'
    return '/dev/infiniband/' + os.listdir(d)[0]


def get_context(ibdev, req, resp_len):
    """GET_CONTEXT with @req as the driver request (None: no attribute);
    returns the driver response bytes."""
    out = ctypes.create_string_buffer(max(resp_len, 1))
    attrs = []
    keep = []
    if req is not None:
        if len(req) <= 8:
            data = int.from_bytes(req.ljust(8, b'\0'), 'little')
        else:
            b = ctypes.create_string_buffer(req, len(req))
            keep.append(b)
            data = ctypes.addressof(b)
        attrs.append(_ATTR.pack(UVERBS_ATTR_UHW_IN, len(req), 0, 0, data))
    attrs.append(_ATTR.pack(UVERBS_ATTR_UHW_OUT, resp_len, 0, 0,
                            ctypes.addressof(out)))
    hdr = _HDR.pack(_HDR.size + _ATTR.size * len(attrs), UVERBS_OBJECT_DEVICE,
                    UVERBS_METHOD_GET_CONTEXT, len(attrs), 0, 0, 0)
    buf = bytearray(hdr + b''.join(attrs))
    fd = os.open(uverbs_path(ibdev), os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, RDMA_VERBS_IOCTL, buf)
    finally:
        os.close(fd)
    return out.raw[:resp_len]


class AbiTest(PhyrdmaTestCase):
    """phyrdma-abi.h: both sides copy min(their size, the other's)."""

    def test_get_context_short_and_absent_request(self):
        full = get_context(self.dev_name, bytes(8), UCONTEXT_RESP.size)
        _, mode, cap = UCONTEXT_RESP.unpack(full)
        self.assertIn(mode, (0, 1, 2))
        self.assertTrue(cap & PAGE)
        self.assertEqual(get_context(self.dev_name, None, UCONTEXT_RESP.size), full)
        self.assertEqual(get_context(self.dev_name, bytes(4), UCONTEXT_RESP.size), full)
        # a longer request is fine if the part this kernel does not know is 0
        self.assertEqual(get_context(self.dev_name, bytes(16), UCONTEXT_RESP.size), full)
        # a short response buffer gets the first bytes
        self.assertEqual(get_context(self.dev_name, bytes(8), 8), full[:8])
        for req, err in ((b'\x01' + bytes(7), errno.EOPNOTSUPP),  # comp_mask
                         (bytes(4) + b'\x01' + bytes(3), errno.EINVAL),  # reserved
                         (bytes(8) + b'\x01' + bytes(7), errno.EOPNOTSUPP)):  # unknown tail
            with self.assertRaises(OSError) as cm:
                get_context(self.dev_name, req, UCONTEXT_RESP.size)
            self.assertEqual(cm.exception.errno, err, req)
        # every context went with its file: only the test's own is left
        self.assert_counters(ucontexts=1)


if __name__ == '__main__':
    unittest.main()
