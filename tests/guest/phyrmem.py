# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Userspace side of the phyr_ram exporter and of the phyrdma oracle.

Struct layouts follow kernel-provider/include/uapi/phyr/phyr_ram.h and
kernel-provider/include/testing/phyrdma-oracle.h.
"""
import fcntl
import mmap
import os
import struct

PAGE = 4096
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

CONTIGUOUS = 1 << 0
SHUFFLE = 1 << 1
LABEL_PRIVATE = 1 << 8
LABEL_CC_SPLIT = 1 << 9

MEM_RAM, MEM_P2P, MEM_PRIVATE = 0, 1, 2

PATH_PHYR, PATH_LEGACY = 1, 2
SRC_USER, SRC_DMABUF = 1, 2


def ioc(direction, typ, nr, size):
    """_IOC(): an ioctl number from its direction, type, number and size."""
    return direction << 30 | size << 16 | ord(typ) << 8 | nr


IOC_W, IOC_R = _W, _R = 1, 2
_CREATE = struct.Struct('=QIIiI')
_LAYOUT = struct.Struct('=iIQ')
_RUN = struct.Struct('=QQII')
PHYR_RAM_IOC_CREATE = ioc(_W | _R, 'p', 0, _CREATE.size)
PHYR_RAM_IOC_LAYOUT = ioc(_W | _R, 'p', 1, _LAYOUT.size)

_QUERY = struct.Struct('=8I13Q')
_COPY = struct.Struct('=IIQQQ')
_TRANSLATE = struct.Struct('=IIQQQ')
_FLOOR = struct.Struct('=iI6Q')
ORACLE_QUERY = ioc(_W | _R, 'R', 0, _QUERY.size)
ORACLE_COPY = ioc(_W, 'R', 1, _COPY.size)
ORACLE_TRANSLATE = ioc(_W | _R, 'R', 2, _TRANSLATE.size)
ORACLE_LINK_FLOOR = ioc(_W | _R, 'R', 3, _FLOOR.size)

FROM_MR, TO_MR = 0, 1


def ram_create(size, order=0, flags=0):
    """A new dma-buf from /dev/phyr_ram; returns its fd."""
    buf = bytearray(_CREATE.pack(size, order, flags, -1, 0))
    fd = os.open('/dev/phyr_ram', os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, PHYR_RAM_IOC_CREATE, buf)
    finally:
        os.close(fd)
    return _CREATE.unpack(buf)[3]


_HEAP_ALLOC = struct.Struct('=QIIQ')
DMA_HEAP_IOCTL_ALLOC = ioc(_W | _R, 'H', 0, _HEAP_ALLOC.size)


def heap_alloc(length, heap='/dev/phyr_ram', fd_flags=os.O_RDWR | os.O_CLOEXEC,
               heap_flags=0, fd=0):
    """DMA_HEAP_IOCTL_ALLOC on @heap (phyr_ram answers it too); the fd."""
    buf = bytearray(_HEAP_ALLOC.pack(length, fd, fd_flags, heap_flags))
    h = os.open(heap, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(h, DMA_HEAP_IOCTL_ALLOC, buf)
    finally:
        os.close(h)
    return _HEAP_ALLOC.unpack(buf)[1]


def ram_layout(dmabuf_fd):
    """The buffer's phyr: a list of (paddr, len, kind, cc)."""
    fd = os.open('/dev/phyr_ram', os.O_RDWR | os.O_CLOEXEC)
    try:
        hdr = bytearray(_LAYOUT.pack(dmabuf_fd, 0, 0))
        fcntl.ioctl(fd, PHYR_RAM_IOC_LAYOUT, hdr)
        n = _LAYOUT.unpack(hdr)[1]
        runs = bytearray(_RUN.size * n)
        addr = ctypes_addr(runs)
        hdr = bytearray(_LAYOUT.pack(dmabuf_fd, n, addr))
        fcntl.ioctl(fd, PHYR_RAM_IOC_LAYOUT, hdr)
    finally:
        os.close(fd)
    return [_RUN.unpack_from(runs, i * _RUN.size) for i in range(n)]


def ctypes_addr(buf):
    import ctypes
    return ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))


def map_dmabuf(fd, size):
    return mmap.mmap(fd, size, mmap.MAP_SHARED,
                     mmap.PROT_READ | mmap.PROT_WRITE)


class Oracle:
    """The device engine's view of MRs, through debugfs."""

    FIELDS = ('key', 'pdn', 'access', 'page_shift', 'levels', 'path',
              'source', 'reserved', 'iova', 'length', 'root', 'mtt_entries',
              'mtt_pages', 'iova_bytes', 'iova_waste', 'scratch_bytes',
              'runs', 'syncs', 'dma_first', 'map_ns', 'emit_ns')

    def __init__(self, debugfs_dir):
        self.fd = os.open(f'{debugfs_dir}/oracle', os.O_RDWR | os.O_CLOEXEC)

    def close(self):
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def query(self, key):
        buf = bytearray(_QUERY.size)
        struct.pack_into('=I', buf, 0, key)
        fcntl.ioctl(self.fd, ORACLE_QUERY, buf)
        q = dict(zip(self.FIELDS, _QUERY.unpack(buf)))
        q['page_size'] = 1 << q['page_shift']
        return q

    def read(self, key, va, length):
        out = bytearray(length)
        fcntl.ioctl(self.fd, ORACLE_COPY, bytearray(_COPY.pack(
            key, FROM_MR, va, length, ctypes_addr(out) if length else 0)))
        return bytes(out)

    def write(self, key, va, data):
        data = bytearray(data)
        fcntl.ioctl(self.fd, ORACLE_COPY, bytearray(_COPY.pack(
            key, TO_MR, va, len(data), ctypes_addr(data) if data else 0)))

    def translate(self, key, va):
        buf = bytearray(_TRANSLATE.pack(key, 0, va, 0, 0))
        fcntl.ioctl(self.fd, ORACLE_TRANSLATE, buf)
        _, _, _, dma, phys = _TRANSLATE.unpack(buf)
        return dma, phys

    def link_floor(self, dmabuf_fd, offset, length):
        buf = bytearray(_FLOOR.pack(dmabuf_fd, 0, offset, length, 0, 0, 0, 0))
        fcntl.ioctl(self.fd, ORACLE_LINK_FLOOR, buf)
        v = _FLOOR.unpack(buf)
        return dict(runs=v[4], link_ns=v[5], destroy_ns=v[6], iova_bytes=v[7])


# ---- phyr_mmio: dma-bufs of a "GPU" BAR (uapi/phyr/phyr_mmio.h) ----------

MMIO_REVERSE = 1 << 0
MMIO_CC_SHARED = 1 << 1
_MCREATE = struct.Struct('=QQIiQ')
_MREVOKE = struct.Struct('=iI')
_MINFO = struct.Struct('=5QiI')
PHYR_MMIO_IOC_CREATE = ioc(_W | _R, 'q', 0, _MCREATE.size)
PHYR_MMIO_IOC_REVOKE = ioc(_W, 'q', 1, _MREVOKE.size)
PHYR_MMIO_IOC_INFO = ioc(_W | _R, 'q', 2, _MINFO.size)
IVSHMEM = (0x1af4, 0x1110)


def gpus():
    """/dev nodes of the GPUs phyr_mmio has bound, with their PCI address."""
    out = []
    root = '/sys/bus/pci/drivers/phyr_mmio'
    if not os.path.isdir(root):
        return out
    for addr in sorted(os.listdir(root)):
        misc = f'{root}/{addr}/misc'
        if os.path.isdir(misc):
            for name in os.listdir(misc):
                out.append((f'/dev/{name}', addr))
    return out


class Gpu:
    """One GPU of phyr_mmio: its allocator, revocation and BAR."""

    def __init__(self, node, pci):
        self.node, self.pci = node, pci
        self.fd = os.open(node, os.O_RDWR | os.O_CLOEXEC)
        with open(f'/sys/bus/pci/devices/{pci}/resource') as f:
            start, end, _ = (int(x, 16) for x in f.read().splitlines()[2].split())
        self.bar_phys, self.bar_len = start, end - start + 1

    def close(self):
        os.close(self.fd)

    def create(self, size, chunk=0, flags=0):
        buf = bytearray(_MCREATE.pack(size, chunk, flags, -1, 0))
        fcntl.ioctl(self.fd, PHYR_MMIO_IOC_CREATE, buf)
        return _MCREATE.unpack(buf)[3]

    def revoke(self, fd, on=True):
        fcntl.ioctl(self.fd, PHYR_MMIO_IOC_REVOKE,
                    bytearray(_MREVOKE.pack(fd, 1 if on else 0)))

    def info(self, fd=-1):
        buf = bytearray(_MINFO.pack(0, 0, 0, 0, 0, fd, 0))
        fcntl.ioctl(self.fd, PHYR_MMIO_IOC_INFO, buf)
        v = _MINFO.unpack(buf)
        return dict(bar_size=v[0], free=v[1], buffers=v[2], revokes=v[3],
                    offset=v[4])
