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
import time
import unittest

import phyrmem as pm
from phyrmem import MiB, PAGE
from phyrdma_base import PhyrdmaTestCase, counters, debugfs_dir, drop_kept_imports
from phyrdma_base import read as pm_read
from rawverbs import Pd

SHARE = '/sys/module/phyrdma/parameters/share_imports'

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

    def test_heap_alloc(self):
        """DMA_HEAP_IOCTL_ALLOC on /dev/phyr_ram: a page-rounded buffer of
        large folios, mmapable, its fd flags as asked; the dma-heap core's
        refusals."""
        fd = pm.heap_alloc(3 * MiB + 1)
        try:
            self.assertEqual(os.fstat(fd).st_size, 3 * MiB + PAGE)
            self.assertTrue(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
            runs = pm.ram_layout(fd)
            self.assertEqual(sum(r[1] for r in runs), 3 * MiB + PAGE)
            # folios of up to 2 MiB where memory gives them
            self.assertGreater(max(r[1] for r in runs), PAGE)
            m = mmap.mmap(fd, 3 * MiB + PAGE)
            m[-1:] = b'x'
            self.assertEqual(m[-1:], b'x')
            m.close()
        finally:
            os.close(fd)
        fd = pm.heap_alloc(PAGE, fd_flags=os.O_RDWR)
        self.assertFalse(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
        os.close(fd)
        for kw in ({'length': 0}, {'length': 1 << 62}, {'fd_flags': os.O_NONBLOCK},
                   {'heap_flags': 1}, {'fd': 3}):
            with self.subTest(**kw):
                args = dict({'length': PAGE}, **kw)
                before = open_fds()
                with self.assertRaises(OSError) as cm:
                    pm.heap_alloc(**args)
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                self.assertEqual(open_fds(), before)

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


def run_unprivileged(code, pass_fds=(), memlock=256 << 10, timeout=300):
    """Run @code as nobody with RLIMIT_MEMLOCK @memlock; return its stdout."""
    import subprocess
    import sys
    import textwrap
    here = os.path.dirname(os.path.abspath(__file__))
    prologue = textwrap.dedent(f'''
        import errno, os, resource, sys
        sys.path.insert(0, {here!r})
        resource.setrlimit(resource.RLIMIT_MEMLOCK, ({memlock}, {memlock}))
        os.setgid(65534)
        os.setuid(65534)
        ''')
    child = subprocess.run([sys.executable, '-c', prologue + textwrap.dedent(code)],
                           capture_output=True, text=True, timeout=timeout,
                           pass_fds=pass_fds)
    if child.returncode:
        raise AssertionError(f'child failed: {child.stderr}')
    return child.stdout.split()


class ChargeTest(PhyrdmaTestCase):
    """What an unprivileged user's MRs and windows make the kernel hold
    counts against his RLIMIT_MEMLOCK: he gets ENOMEM, not the machine."""

    def tearDown(self):
        super().tearDown()
        drop_kept_imports()
        c = counters(self.dev_name)
        for name in ('mrs', 'mws', 'mtt_pages', 'dmabuf_attachments'):
            self.assertEqual(c[name], 0, f'counter {name} after the test')

    def test_dmabuf_mrs_are_charged(self):
        """One 4 KiB dma-buf registered again and again (the attack:
        nothing of the caller's is pinned, yet each MR holds an MTT page)."""
        fd = pm.ram_create(PAGE, 0)
        self.addCleanup(os.close, fd)
        out = run_unprivileged(f'''
            from rawverbs import Pd
            with Pd({self.dev_name!r}) as pd:
                mrs = []
                try:
                    while len(mrs) < 100000:
                        mrs.append(pd.reg_dmabuf_mr(0, 4096, 0, {fd}, 1))
                except OSError as ex:
                    print(len(mrs), ex.errno)
                for mr in mrs[-8:]:
                    mr.close()
                del mrs[-8:]
                # what went freed its charge: the same again fits
                for i in range(8):
                    mrs.append(pd.reg_dmabuf_mr(0, 4096, 0, {fd}, 1))
                print('again ok')
                for mr in mrs:
                    mr.close()
            ''', pass_fds=(fd,))
        n, err = int(out[0]), int(out[1])
        self.assertEqual(err, errno.ENOMEM)
        # an MTT page and the MR's state each: well under 64 in 256 KiB
        self.assertGreater(n, 8)
        self.assertLess(n, 64)
        self.assertEqual(out[2:], ['again', 'ok'])

    def test_windows_are_charged(self):
        out = run_unprivileged(f'''
            from pyverbs.device import Context
            from pyverbs.pd import PD
            from pyverbs.mr import MW
            from pyverbs.pyverbs_error import PyverbsRDMAError
            import pyverbs.libibverbs_enums as e
            ctx = Context(name={self.dev_name!r})
            pd = PD(ctx)
            mws = []
            try:
                while len(mws) < 100000:
                    mws.append(MW(pd, e.ibv_mw_type.IBV_MW_TYPE_2))
            except PyverbsRDMAError as ex:
                print(len(mws), ex.error_code)
            for mw in mws:
                mw.close()
            pd.close()
            ctx.close()
            ''', memlock=64 << 10)
        n, err = int(out[0]), int(out[1])
        self.assertEqual(err, errno.ENOMEM)
        self.assertGreater(n, 16)
        self.assertLess(n, (64 << 10) // 64)

    def test_root_is_not_charged(self):
        """CAP_IPC_LOCK exempts, as it does for pinning."""
        fd = pm.ram_create(PAGE, 0)
        self.addCleanup(os.close, fd)
        with Pd(self.dev_name) as pd:
            mrs = [pd.reg_dmabuf_mr(0, PAGE, 0, fd, LW) for _ in range(200)]
            for mr in mrs:
                mr.close()


class IovaTest(PhyrdmaTestCase):
    """The device's IOVA space is shared by every user of the device."""

    def setUp(self):
        super().setUp()
        iommu = pm_read(f'{debugfs_dir(self.dev_name)}/iommu')
        if iommu != 'translating':
            self.skipTest('IOVA exists only behind a translating IOMMU')
        self.oracle = pm.Oracle(debugfs_dir(self.dev_name))
        self.addCleanup(self.oracle.close)

    def share(self, on):
        """Each MR mapping its own slice (the mapper's bounds are tested
        here) or keys over one import per buffer."""
        with open(SHARE, 'w') as f:
            f.write('1' if on else '0')
        self.addCleanup(self.share_reset)

    @staticmethod
    def share_reset():
        with open(SHARE, 'w') as f:
            f.write('1')

    def test_keys_share_the_import_iova(self):
        """1024 MRs over one 1 GiB buffer (1 TiB registered) are keys over
        one import: the IOVA of one buffer, where MRs mapping their own
        slice run out of IOVA space below."""
        size = 1 << 30
        fd = pm.ram_create(size, 9)
        self.addCleanup(os.close, fd)
        with Pd(self.dev_name) as pd:
            mrs = []
            try:
                for _ in range(1024):
                    mrs.append(pd.reg_dmabuf_mr(0, size, 0, fd, LW))
                c = counters(self.dev_name)
                self.assertEqual(c['dmabuf_imports'], 1)
                self.assertLessEqual(c['iova_bytes'], size + 2 * MiB)
            finally:
                for mr in mrs:
                    mr.close()

    def test_small_mr_spends_little_iova(self):
        """An 8 KiB MR across a 1 MiB boundary would reach a 2 MiB page by
        reserving 2 MiB of IOVA; it may spend no more than its own span."""
        self.share(False)
        fd = pm.ram_create(2 * MiB, 0)
        self.addCleanup(os.close, fd)
        with Pd(self.dev_name) as pd:
            with pd.reg_dmabuf_mr(0, 2 * PAGE, 0xff000, fd, LW) as mr:
                q = self.oracle.query(mr.lkey)
                self.assertLessEqual(q['iova_bytes'], 4 * PAGE, q)
                self.assertLessEqual(q['iova_waste'], 2 * PAGE, q)

    def test_exhaustion_is_enospc(self):
        """With the IOVA space full the mapper says so, instead of mapping
        run by run with a page size meant for one range (EINVAL)."""
        self.share(False)
        size = 1 << 30
        fd = pm.ram_create(size, 9)
        self.addCleanup(os.close, fd)
        with Pd(self.dev_name) as pd:
            mrs = []
            try:
                while len(mrs) < 4096:
                    mrs.append(pd.reg_dmabuf_mr(0, size, 0, fd, LW))
                self.fail('4 TiB of IOVA registered')
            except OSError as ex:
                self.assertEqual(ex.errno, errno.ENOSPC, f'after {len(mrs)} MRs')
            finally:
                self.assertGreater(len(mrs), 0)
                last = mrs.pop()
                last.close()
                # the space came back
                mrs.append(pd.reg_dmabuf_mr(0, size, 0, fd, LW))
                for mr in mrs:
                    mr.close()


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


def get_context(ibdev, req, resp_len, fd=None):
    """GET_CONTEXT with @req as the driver request (None: no attribute) on
    a new file of @ibdev's uverbs node, or on @fd; returns the driver
    response bytes."""
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
    if fd is not None:
        fcntl.ioctl(fd, RDMA_VERBS_IOCTL, buf)
        return out.raw[:resp_len]
    fd = os.open(uverbs_path(ibdev), os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, RDMA_VERBS_IOCTL, buf)
    finally:
        os.close(fd)
    return out.raw[:resp_len]


def task_structs():
    """Active objects of the task_struct slab cache, after a shrink, which
    also takes back what KASAN's quarantine holds of it."""
    try:
        with open('/sys/kernel/slab/task_struct/shrink', 'w') as f:
            f.write('1')
    except FileNotFoundError:
        pass
    with open('/proc/slabinfo') as f:
        for line in f:
            w = line.split()
            if w[0] == 'task_struct':
                return int(w[1])
    raise AssertionError('no task_struct cache in /proc/slabinfo')


# ib_uverbs' ioctl GET_CONTEXT forgets, when ib_init_ucontext() fails, the
# reference on the calling task that the new context's restrack entry holds
# (tools/guest/kernel-patches/0001-*).  The debug kernel carries our fix;
# Debian's 7.2.13 does not.
KERNEL_HAS_CONTEXT_FIX = os.uname().release.endswith('-phyrdma-debug')


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

    def test_failed_get_context_keeps_no_task(self):
        """A GET_CONTEXT that fails, as any user can make it fail (twice on
        one file; a driver request phyrdma refuses), leaves no reference
        on the caller: 64 unprivileged processes that each do both and
        exit leave no task_struct behind.  (Found by kmemleak in the debug
        lane: the main test process, which runs the failing calls above,
        outlived its exit.)  On Debian's kernel, which lacks the fix, the
        test asserts the leak instead, so that it says so the day the
        stock kernel is fixed."""
        n = 64
        path = uverbs_path(self.dev_name)
        bad = b'\x01' + bytes(7)     # comp_mask: EOPNOTSUPP from phyrdma
        before = task_structs()
        pids = []
        for _ in range(n):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                    fd = os.open(path, os.O_RDWR)
                    get_context(None, bytes(8), UCONTEXT_RESP.size, fd=fd)
                    try:
                        get_context(None, bytes(8), UCONTEXT_RESP.size, fd=fd)
                    except OSError as err:
                        code = 0 if err.errno == errno.EINVAL else 2
                    try:
                        get_context(self.dev_name, bad, UCONTEXT_RESP.size)
                        code = 3
                    except OSError as err:
                        if err.errno != errno.EOPNOTSUPP:
                            code = 4
                finally:
                    os._exit(code)
            pids.append(pid)
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
        self.assertEqual(codes, [0] * n)
        # an exited task is freed after an RCU grace period
        deadline = time.monotonic() + 10
        while True:
            grown = task_structs() - before
            if grown < n // 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        print(f'\n  {n} processes, {grown:+d} task_structs', flush=True)
        if KERNEL_HAS_CONTEXT_FIX:
            self.assertLess(grown, n // 2, f'{grown} task_structs outlived '
                            f'{n} processes whose GET_CONTEXT failed')
        else:
            self.assertGreaterEqual(grown, n // 2, 'this kernel no longer '
                                    'leaks the task of a failed GET_CONTEXT: '
                                    'it has the fix; mark it so')
        self.assert_counters(ucontexts=1)


class ExposureTest(PhyrdmaTestCase):
    """What an unprivileged process can open and read (the security review
    of docs/design.md): device nodes, debugfs, module parameters, the
    exporter's layout, and `rdma res`."""

    def test_device_node_modes(self):
        # uverbs is every user's, as on any RDMA host; phyr_ram is root's
        st = os.stat(uverbs_path(self.dev_name))
        self.assertEqual(st.st_mode & 0o777, 0o666)
        st = os.stat('/dev/phyr_ram')
        self.assertEqual((st.st_uid, st.st_mode & 0o077), (0, 0), oct(st.st_mode))
        out = run_unprivileged('''
            try:
                os.open('/dev/phyr_ram', os.O_RDWR)
                print('opened')
            except OSError as e:
                print(errno.errorcode[e.errno])
            ''')
        self.assertEqual(out, ['EACCES'])

    def test_debugfs_is_root_only(self):
        d = debugfs_dir(self.dev_name)
        for name in os.listdir(d):
            st = os.stat(f'{d}/{name}')
            self.assertEqual(st.st_mode & 0o077, 0, f'{name}: {oct(st.st_mode)}')
        out = run_unprivileged(f'''
            for name in ('caps', 'oracle'):
                try:
                    open({d!r} + '/' + name).close()
                    print('opened')
                except OSError as e:
                    print(errno.errorcode[e.errno])
            ''')
        self.assertEqual(out, ['EACCES', 'EACCES'])

    def test_module_parameters_not_writable_by_users(self):
        for mod in ('phyrdma', 'phyr_ram', 'phyr'):
            d = f'/sys/module/{mod}/parameters'
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                st = os.stat(f'{d}/{name}')
                self.assertEqual(st.st_mode & 0o022, 0, f'{mod}.{name}')

    def test_layout_needs_cap_sys_admin(self):
        """A dma-buf's physical layout is refused to a process without
        CAP_SYS_ADMIN even when it holds both fds (passed to it)."""
        ram = os.open('/dev/phyr_ram', os.O_RDWR)
        self.addCleanup(os.close, ram)
        fd = pm.ram_create(MiB)
        self.addCleanup(os.close, fd)
        self.assertGreater(len(pm.ram_layout(fd)), 0)
        out = run_unprivileged(f'''
            import fcntl, struct
            import phyrmem as pm
            req = bytearray(struct.pack('=iIQ', {fd}, 0, 0))
            try:
                fcntl.ioctl({ram}, pm.ioc(3, 'p', 1, len(req)), req)
                print('allowed')
            except OSError as e:
                print(errno.errorcode[e.errno])
            ''', pass_fds=(ram, fd))
        self.assertEqual(out, ['EPERM'])

    def test_rdma_res_hides_keys_from_users(self):
        """`rdma res show mr` names an MR to every user, its keys only to an
        administrator, and never a DMA or physical address."""
        import json
        import subprocess
        from pyverbs.mr import MR
        from pyverbs.pd import PD
        pd = PD(self.ctx)
        self.addCleanup(pd.close)
        mr = MR(pd, MiB, LW)
        self.addCleanup(mr.close)
        cmd = ['rdma', '-j', '-dd', 'res', 'show', 'mr', 'dev', self.dev_name]
        root = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                         check=True).stdout)
        mine = [m for m in root if int(m.get('lkey', '-1'), 16) == mr.lkey]
        self.assertEqual(len(mine), 1, root)
        out = run_unprivileged(f'''
            import subprocess
            print(subprocess.run({cmd!r}, capture_output=True, text=True).stdout.replace(' ', ''))
            ''')
        user = json.loads(''.join(out))
        self.assertTrue(any(m.get('mrlen') == MiB for m in user), user)
        for m in user:
            for key in m:
                self.assertNotIn(key, ('lkey', 'rkey', 'iova', 'dma', 'paddr'), m)


if __name__ == '__main__':
    unittest.main()
