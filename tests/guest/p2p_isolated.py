# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""P2P MMIO on a platform that cannot route it (tools/vm --topology=isolated:
a host bridge the kernel does not trust with peer-to-peer).  Run by name in
that lane only: tests/run-guest p2p_isolated.
"""
import errno

from phyrmem import MiB
from test_p2p import ALL_ACCESS, P2pBase, topology


class NotSupportedTest(P2pBase):
    def setUp(self):
        super().setUp()
        self.assertEqual(topology(), 'isolated', 'a lane for --topology=isolated')

    def test_refused_on_both_paths(self):
        """No P2P route: the phyr path says EREMOTEIO, and so does the
        exporter's mapping that the legacy path asks for."""
        fd, _ = self.buffer(MiB)
        with self.assertRaises(OSError) as cm:
            self.pd.reg_dmabuf_mr(0, MiB, 0, fd, ALL_ACCESS)
        self.assertEqual(cm.exception.errno, errno.EREMOTEIO)
        self.set_legacy(True)
        with self.assertRaises(OSError) as cm:
            self.pd.reg_dmabuf_mr(0, MiB, 0, fd, ALL_ACCESS)
        self.assertEqual(cm.exception.errno, errno.EREMOTEIO)
        self.set_legacy(False)
