# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Discovery and device/port queries through unmodified libibverbs."""
import os
import struct
import unittest

from pyverbs.device import Context, get_device_list
from pyverbs.pyverbs_error import PyverbsError
import pyverbs.libibverbs_enums as e

from phyrdma_base import (ipv4_gid_index, port_ip, PhyrdmaTestCase, SYSFS_IB, caps,
                          counters, debugfs_dir, pci_address, phyrdma_devices,
                          read, reload_phyrdma, run)


def be64(raw):
    """libibverbs keeps GUIDs in network order inside a host integer."""
    return int.from_bytes(struct.pack('<Q', raw), 'big')


class DiscoveryTest(unittest.TestCase):
    def setUp(self):
        reload_phyrdma()

    def test_two_devices_enumerate(self):
        names = phyrdma_devices()
        self.assertEqual(names, ['phyrdma0', 'phyrdma1'])
        listed = {d.name.decode() for d in get_device_list()}
        self.assertTrue(set(names) <= listed, listed)
        guids = {read(f'{SYSFS_IB}/{n}/node_guid') for n in names}
        self.assertEqual(len(guids), 2, 'node GUIDs must differ')
        self.assertEqual(len({pci_address(n) for n in names}), 2)

    def test_provider_opens_every_device(self):
        for name in phyrdma_devices():
            with Context(name=name) as ctx:
                self.assertEqual(ctx.query_device().phys_port_cnt, 1)

    def test_ibv_devinfo_shows_device(self):
        r = run('ibv_devinfo', '-d', 'phyrdma0')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('hca_id:\tphyrdma0', r.stdout)
        self.assertIn('PORT_ACTIVE', r.stdout)
        self.assertIn('InfiniBand', r.stdout)

    def test_parent_is_the_pci_function(self):
        for name in phyrdma_devices():
            dev = os.path.realpath(f'{SYSFS_IB}/{name}/device')
            self.assertEqual(os.path.basename(os.readlink(f'{dev}/driver')), 'phyrdma')
            self.assertEqual(read(f'{dev}/vendor'), '0x1234')
            self.assertEqual(read(f'{dev}/device'), '0x11e8')


class QueryDeviceTest(PhyrdmaTestCase):
    def test_attributes_match_driver(self):
        attr = self.ctx.query_device()
        c = caps(self.dev_name)
        self.assertEqual(attr.vendor_id, c['vendor_id'])
        self.assertEqual(attr.vendor_part_id, c['vendor_part_id'])
        self.assertEqual(attr.hw_ver, c['hw_ver'])
        self.assertEqual(attr.page_size_cap, c['page_size_cap'])
        self.assertEqual(attr.max_pd, c['max_pd'])
        self.assertEqual(be64(attr.node_guid), c['node_guid'])
        self.assertEqual(be64(attr.sys_image_guid), c['node_guid'])
        fw = c['fw_ver']
        self.assertEqual(attr.fw_version, f'{fw >> 32}.{(fw >> 16) & 0xffff}')
        self.assertEqual(attr.phys_port_cnt, 1)

    def test_page_sizes_4k_to_1g(self):
        cap = self.ctx.query_device().page_size_cap
        self.assertEqual(cap, sum(1 << s for s in range(12, 40)))

    def test_no_promises_beyond_implementation(self):
        # What exists is claimed with the device's limits; what does not
        # (XRC, implicit ODP) is not.
        attr = self.ctx.query_device()
        c = caps(self.dev_name)
        self.assertEqual(attr.max_mr, c['max_mr'])
        self.assertEqual(attr.max_mr_size, c['max_mr_size'])
        self.assertGreaterEqual(attr.max_mr_size, 16 << 30)
        self.assertEqual(attr.max_cq, c['max_cq'])
        self.assertEqual(attr.max_qp, c['max_qp'])
        self.assertGreater(attr.max_qp_wr, 0)
        self.assertGreater(attr.max_srq, 0)
        self.assertEqual(attr.max_mcast_grp, c['max_mcg'])
        self.assertEqual(attr.max_mcast_qp_attach, c['mcg_qps'])
        ex = self.ctx.query_device_ex()
        # ODP of explicit ranges only (test_odp checks the per-transport bits)
        self.assertEqual(ex.odp_caps.general_caps,
                         e.ibv_odp_general_caps.IBV_ODP_SUPPORT)

    def test_query_device_ex(self):
        attr = self.ctx.query_device_ex()
        self.assertEqual(attr.orig_attr.vendor_id, caps(self.dev_name)['vendor_id'])

    def test_sysfs_agrees(self):
        c = caps(self.dev_name)
        guid = read(f'{SYSFS_IB}/{self.dev_name}/node_guid').replace(':', '')
        self.assertEqual(int(guid, 16), c['node_guid'])
        fw = c['fw_ver']
        self.assertEqual(read(f'{SYSFS_IB}/{self.dev_name}/fw_ver'),
                         f'{fw >> 32}.{(fw >> 16) & 0xffff}')


class QueryPortTest(PhyrdmaTestCase):
    def test_port_attributes(self):
        """A RoCE v2 port on the device's own netdev (docs/design.md)."""
        port = self.ctx.query_port(1)
        c = caps(self.dev_name)
        self.assertEqual(port.state, e.ibv_port_state.IBV_PORT_ACTIVE)
        self.assertEqual(port.phys_state, 5)  # LinkUp
        self.assertEqual(port.link_layer, e.IBV_LINK_LAYER_ETHERNET)
        self.assertEqual(port.max_mtu, e.ibv_mtu.IBV_MTU_4096)
        self.assertEqual(port.active_mtu, e.ibv_mtu.IBV_MTU_4096)
        self.assertEqual(port.lid, 0)
        self.assertEqual(port.gid_tbl_len, 16)
        self.assertEqual(port.pkey_tbl_len, 1)
        self.assertEqual(port.max_msg_sz, c['max_msg_sz'])
        ndev = os.listdir(f'/sys/class/infiniband/{self.dev_name}/device/net')
        self.assertEqual(ndev, [c['netdev']])

    def test_gids_are_the_netdev_addresses(self):
        """GID 0 from the netdev's MAC, then its IPv4 address (RoCE v2)."""
        c = caps(self.dev_name)
        mac = read(f'/sys/class/net/{c["netdev"]}/address').split(':')
        eui = [int(x, 16) for x in mac]
        eui = [eui[0] ^ 2] + eui[1:3] + [0xff, 0xfe] + eui[3:]
        want = 'fe80:0000:0000:0000:' + ':'.join(
            f'{eui[i]:02x}{eui[i + 1]:02x}' for i in range(0, 8, 2))
        self.assertEqual(str(self.ctx.query_gid(1, 0)), want)
        ip = port_ip(self.dev_name).split('.')
        v4 = '0000:0000:0000:0000:0000:ffff:' + \
            f'{int(ip[0]):02x}{int(ip[1]):02x}:{int(ip[2]):02x}{int(ip[3]):02x}'
        self.assertEqual(str(self.ctx.query_gid(1, ipv4_gid_index(self.ctx))), v4)
        self.assertEqual(read(f'/sys/class/infiniband/{self.dev_name}/ports/1/'
                              f'gid_attrs/types/{ipv4_gid_index(self.ctx)}'), 'RoCE v2')

    def test_macs_differ_between_devices(self):
        macs = {read(f'/sys/class/net/{caps(n)["netdev"]}/address')
                for n in phyrdma_devices()}
        self.assertEqual(len(macs), len(phyrdma_devices()))

    def test_pkey(self):
        self.assertEqual(self.ctx.query_pkey(1, 0), 0xffff)

    def test_out_of_range_queries_fail(self):
        with self.assertRaises(PyverbsError):
            self.ctx.query_gid(1, 16)
        with self.assertRaises(PyverbsError):
            self.ctx.query_pkey(1, 1)
        with self.assertRaises(PyverbsError):
            self.ctx.query_port(2)


class IommuStatusTest(unittest.TestCase):
    """The driver's IOMMU report must match the domain the kernel attached."""

    def setUp(self):
        reload_phyrdma()

    def test_matches_iommu_group_type(self):
        for name in phyrdma_devices():
            pci = f'/sys/bus/pci/devices/{pci_address(name)}'
            reported = read(f'{debugfs_dir(name)}/iommu')
            if not os.path.exists(f'{pci}/iommu_group'):
                self.assertEqual(reported, 'none')
                continue
            gtype = read(f'{pci}/iommu_group/type')
            expected = {'DMA': 'translating', 'DMA-FQ': 'translating',
                        'identity': 'identity'}.get(gtype, 'none')
            self.assertEqual(reported, expected, f'group type {gtype}')

    def test_matches_kernel_command_line(self):
        on = 'intel_iommu=on' in read('/proc/cmdline').split()
        for name in phyrdma_devices():
            self.assertEqual(read(f'{debugfs_dir(name)}/iommu'),
                             'translating' if on else 'none')


class ObservabilityTest(PhyrdmaTestCase):
    """What phyrdma counts is in one place, "rdma statistic"; debugfs
    holds only the test hooks (docs/design.md, "Observability")."""

    def test_rdma_tool_shows_every_counter(self):
        import json
        import subprocess
        from pyverbs.pd import PD
        out = subprocess.run(['rdma', '-j', 'statistic', 'show', 'link',
                              f'{self.dev_name}/1'],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        tool = {k: v for k, v in json.loads(out.stdout)[0].items()
                if k not in ('ifindex', 'ifname', 'port')}
        before = counters(self.dev_name)
        self.assertEqual(set(tool), set(before))
        # the gauges, the registrations, the importer's and the engine's
        self.assertLessEqual({'pds', 'mrs', 'mtt_pages', 'queue_bytes',
                              'reg_phyr', 'runs_linked', 'imports_made',
                              'import_revokes', 'wqes', 'page_faults'},
                             set(tool))
        with PD(self.ctx):
            self.assertEqual(counters(self.dev_name)['pds'],
                             before['pds'] + 1)
        # sysfs shows the same names, device-wide
        hw = os.listdir(f'{SYSFS_IB}/{self.dev_name}/hw_counters')
        self.assertEqual(set(hw) - {'lifespan'}, set(tool))

    def test_debugfs_holds_only_test_hooks(self):
        self.assertEqual(sorted(os.listdir(debugfs_dir(self.dev_name))),
                         ['caps', 'iommu', 'oracle'])
