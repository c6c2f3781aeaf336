# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Helpers shared by the phyrdma guest tests.

The tests compare what applications see through unmodified libibverbs and
pyverbs with what the driver counts (read as "rdma statistic" reads it,
over RDMA netlink), with what the device declares in its debugfs test hooks
(/sys/kernel/debug/phyrdma/<pci address>/) and with what the kernel says
independently in sysfs.
"""
import errno
import os
import subprocess
import time
import unittest

from pyverbs.device import Context

from rdma_netlink import rdma_statistic

PCI_VENDOR = 0x1234
PCI_DEVICE = 0x11e8
SYSFS_IB = '/sys/class/infiniband'
DEBUGFS = '/sys/kernel/debug/phyrdma'


def read(path):
    with open(path) as f:
        return f.read().strip()


def read_kv(path):
    """Parse a debugfs file of 'name value' lines into a dict of ints/strings."""
    out = {}
    for line in read(path).splitlines():
        name, value = line.split(None, 1)
        try:
            out[name] = int(value, 0)
        except ValueError:
            out[name] = value
    return out


def pci_address(ibdev):
    return os.path.basename(os.readlink(f'{SYSFS_IB}/{ibdev}/device'))


def phyrdma_devices():
    """Names of the ib_devices whose parent is an edu PCI function."""
    names = []
    if not os.path.isdir(SYSFS_IB):
        return names
    for name in sorted(os.listdir(SYSFS_IB)):
        dev = f'{SYSFS_IB}/{name}/device'
        if not os.path.exists(f'{dev}/vendor'):
            continue
        if (int(read(f'{dev}/vendor'), 16) == PCI_VENDOR and
                int(read(f'{dev}/device'), 16) == PCI_DEVICE):
            names.append(name)
    return names


def debugfs_dir(ibdev):
    return f'{DEBUGFS}/{pci_address(ibdev)}'


def counters(ibdev):
    """Everything phyrdma counts on @ibdev: the objects it holds for
    userspace (zero when nothing is registered) and the work done since
    load, from "rdma statistic"."""
    return rdma_statistic(ibdev)


def drop_kept_imports(timeout=5):
    """Have phyrdma release the imports it keeps after their last MR
    (import_keep_ms): a cache, not a leak, before a leak check.  The reaper
    looks every 100 ms and releases them once the keep time is 0."""
    param = '/sys/module/phyrdma/parameters/import_keep_ms'
    if not os.path.exists(param):
        return
    old = read(param)
    with open(param, 'w') as f:
        f.write('0')
    try:
        deadline = time.monotonic() + timeout
        while any(counters(d).get('imports_kept', 0)
                  for d in phyrdma_devices()):
            if time.monotonic() > deadline:
                raise AssertionError('kept imports not released')
            time.sleep(0.02)
    finally:
        with open(param, 'w') as f:
            f.write(old)


def caps(ibdev):
    return read_kv(f'{debugfs_dir(ibdev)}/caps')


def run(*cmd, timeout=120):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def reload_phyrdma(expect_devices=2, timeout=30):
    """Make sure phyrdma is loaded and all its devices are registered."""
    if not os.path.isdir('/sys/module/phyrdma'):
        r = run('modprobe', 'phyrdma')
        if r.returncode:
            raise RuntimeError(f'modprobe phyrdma: {r.stderr}')
    deadline = time.monotonic() + timeout
    while len(phyrdma_devices()) < expect_devices:
        if time.monotonic() > deadline:
            raise RuntimeError('phyrdma devices did not come back')
        time.sleep(0.1)
    net_up()


def net_up():
    """Every port's netdev up with its address (tools/guest/net-up)."""
    here = os.path.dirname(os.path.abspath(__file__))
    r = run(os.path.join(here, '..', '..', 'tools', 'guest', 'net-up'))
    if r.returncode:
        raise RuntimeError(f'net-up: {r.stderr}')


def port_ip(ibdev):
    """The IPv4 address tools/guest/net-up gives @ibdev's port."""
    return f'10.77.0.{int(ibdev[len("phyrdma"):]) + 1}'


def ipv4_gid_index(ctx, port=1):
    """Index of the port's IPv4-mapped RoCE v2 GID."""
    for i in range(16):
        try:
            gid = ctx.query_gid(port, i)
        except Exception:
            continue
        if str(gid).startswith('0000:0000:0000:0000:0000:ffff:'):
            return i
    raise RuntimeError('no IPv4 GID')


class PhyrdmaTestCase(unittest.TestCase):
    """Base class: one open context on the device under test."""

    dev_name = os.environ.get('PHYRDMA_DEV', 'phyrdma0')

    def setUp(self):
        reload_phyrdma()
        self.assertIn(self.dev_name, phyrdma_devices())
        self.record_baseline()
        self.ctx = Context(name=self.dev_name)

    def record_baseline(self):
        """Objects the kernel itself holds (ib_core's MAD QP, CQ and PD)."""
        self.baseline = {d: counters(d) for d in phyrdma_devices()}

    def tearDown(self):
        self.ctx.close()

    def assert_counters(self, ibdev=None, **expected):
        """Counters, beyond what the kernel held when the test started."""
        dev = ibdev or self.dev_name
        drop_kept_imports()
        got = counters(dev)
        base = self.baseline.get(dev, {})
        for name, value in expected.items():
            self.assertEqual(got[name] - base.get(name, 0), value, f'counter {name}')

    def assertRaisesErrno(self, err, func, *args):
        """func(*args) must fail with errno err (pyverbs error_code)."""
        from pyverbs.pyverbs_error import PyverbsRDMAError
        with self.assertRaises(PyverbsRDMAError) as cm:
            func(*args)
        self.assertEqual(abs(cm.exception.error_code), err,
                         f'expected {errno.errorcode[err]}, got {cm.exception}')
