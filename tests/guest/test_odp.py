# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""On-demand paging: MRs that pin nothing, faulted in by the engine.

Each test checks the bytes through the process's own mapping and the
device's page-fault and invalidation statistics, so that a test passes only
if the pages really came and went on demand.
"""
import ctypes
import errno
import mmap
import os
import unittest

from pyverbs.mr import MR, DmaBufMR
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.wr import SGE
import pyverbs.libibverbs_enums as e

from phyrdma_base import counters
import phyrmem
import test_datapath as td
from test_datapath import LW, ODP, RR, WC, WR, DatapathBase, UD, pattern

PREFETCH = e._IBV_ADVISE_MR_ADVICE_PREFETCH
PREFETCH_WRITE = e._IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE
FLUSH = e._IBV_ADVISE_MR_FLAG_FLUSH


def stats(dev):
    return counters(dev)


class OdpTest(DatapathBase):
    """Every operation on on-demand memory, and the pages going away."""

    def faults(self, dev):
        return stats(dev)['page_faults']

    def test_caps_advertised(self):
        x, _ = self.pair()
        caps = x.ctx.query_device_ex().odp_caps
        self.assertTrue(caps.general_caps & e.ibv_odp_general_caps.IBV_ODP_SUPPORT)
        self.assertFalse(caps.general_caps &
                         e.ibv_odp_general_caps.IBV_ODP_SUPPORT_IMPLICIT)
        t = e.ibv_odp_transport_cap_bits
        want = (t.IBV_ODP_SUPPORT_SEND | t.IBV_ODP_SUPPORT_RECV |
                t.IBV_ODP_SUPPORT_WRITE | t.IBV_ODP_SUPPORT_READ |
                t.IBV_ODP_SUPPORT_ATOMIC | t.IBV_ODP_SUPPORT_SRQ_RECV)
        self.assertEqual(caps.rc_odp_caps & want, want)
        self.assertTrue(caps.ud_odp_caps & t.IBV_ODP_SUPPORT_SEND)

    def test_qp_access_may_name_on_demand(self):
        """Applications pass their MR's flags to the QP too (rdma-core's
        ODP tests do); ON_DEMAND means nothing there and is accepted."""
        x, y = self.pair(access=td.ALL | ODP)
        src = x.buf(64 * 1024, 'odp')
        dst = y.buf(64 * 1024, 'odp')
        src.write(pattern(4096, 11), 0)
        x.post(WR.IBV_WR_RDMA_WRITE, [src.sge(0, 4096)], rkey=dst.mr.rkey,
               raddr=dst.addr)
        self.assert_wc(x.poll()[0])
        self.assertEqual(dst.read(4096), pattern(4096, 11))

    def test_every_rc_op_across_devices(self):
        before = self.faults('phyrdma0') + self.faults('phyrdma1')
        td.RcOpsTest.run_ops(self, 'phyrdma0', 'phyrdma1', 'odp', 'odp')
        self.assertGreater(self.faults('phyrdma0') + self.faults('phyrdma1'),
                           before, 'nothing was faulted in')
        # nothing is pinned for an on-demand MR
        self.assert_counters('phyrdma0', pinned_pages=0)
        self.assert_counters('phyrdma1', pinned_pages=0)

    def test_odp_with_pinned_memory_within_one_device(self):
        td.RcOpsTest.run_ops(self, 'phyrdma0', 'phyrdma0', 'odp', 'user')

    def test_pages_come_and_go(self):
        """madvise(DONTNEED) takes the pages; the next write faults new ones."""
        x, y = self.pair()
        src = x.buf(64 * 1024, 'user')
        dst = y.buf(4 * phyrmem.MiB, 'odp')
        inv0 = stats('phyrdma1')['invalidations']
        for rnd in range(3):
            data = pattern(3 * phyrmem.PAGE + 17, rnd)
            src.write(data, 0)
            f0 = self.faults('phyrdma1')
            x.post(WR.IBV_WR_RDMA_WRITE, [src.sge(0, len(data))],
                   rkey=dst.mr.rkey, raddr=dst.addr + phyrmem.MiB - 100)
            self.assert_wc(x.poll()[0])
            self.assertEqual(dst.read(len(data), phyrmem.MiB - 100), data)
            self.assertGreater(self.faults('phyrdma1'), f0,
                               f'round {rnd}: the write faulted nothing in')
            dst.anon.madvise(mmap.MADV_DONTNEED, 0, dst.size)
            self.assertEqual(dst.read(len(data), phyrmem.MiB - 100),
                             bytes(len(data)), 'DONTNEED gives zero pages')
            # and the device no longer reaches the old pages
            x.post(WR.IBV_WR_RDMA_READ, [src.sge(0, len(data))],
                   rkey=dst.mr.rkey, raddr=dst.addr + phyrmem.MiB - 100)
            self.assert_wc(x.poll()[0])
            self.assertEqual(src.read(len(data)), bytes(len(data)))
            # that read faulted the pages back in: the next round starts empty
            dst.anon.madvise(mmap.MADV_DONTNEED, 0, dst.size)
        self.assertGreaterEqual(stats('phyrdma1')['invalidations'] - inv0, 6)

    def test_present_pages_take_no_fault(self):
        x, y = self.pair()
        src = x.buf(64 * 1024, 'user')
        dst = y.buf(phyrmem.MiB, 'odp')
        data = pattern(8192, 5)
        src.write(data, 0)
        x.post(WR.IBV_WR_RDMA_WRITE, [src.sge(0, 8192)], rkey=dst.mr.rkey,
               raddr=dst.addr)
        self.assert_wc(x.poll()[0])
        f0 = self.faults('phyrdma1')
        x.post(WR.IBV_WR_RDMA_WRITE, [src.sge(0, 8192)], rkey=dst.mr.rkey,
               raddr=dst.addr)
        self.assert_wc(x.poll()[0])
        self.assertEqual(self.faults('phyrdma1'), f0)
        self.assertEqual(dst.read(8192), data)

    def test_read_only_mr(self):
        """Pages of an MR without write access are mapped read-only."""
        x, y = self.pair()
        dst = x.buf(64 * 1024, 'user')
        src = y.buf(phyrmem.MiB, 'odp', access=RR)
        data = pattern(5000, 6)
        src.write(data, 4000)
        x.post(WR.IBV_WR_RDMA_READ, [dst.sge(0, 5000)], rkey=src.mr.rkey,
               raddr=src.addr + 4000)
        self.assert_wc(x.poll()[0], byte_len=5000)
        self.assertEqual(dst.read(5000), data)
        # and a write to it is still refused by its rights
        x.post(WR.IBV_WR_RDMA_WRITE, [dst.sge(0, 8)], rkey=src.mr.rkey,
               raddr=src.addr)
        self.assert_wc(x.poll()[0], status=WC.IBV_WC_REM_ACCESS_ERR)

    def test_unmapped_memory_is_a_remote_error(self):
        """The process unmaps memory under its MR: the fault fails cleanly."""
        x, y = self.pair()
        src = x.buf(64 * 1024, 'user')
        dst = y.buf(2 * phyrmem.MiB, 'odp')
        # a hole in the middle of the MR: no VMA for its second half
        libc = ctypes.CDLL(None, use_errno=True)
        libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        self.assertEqual(libc.munmap(dst.addr + phyrmem.MiB, phyrmem.MiB), 0)
        x.post(WR.IBV_WR_RDMA_WRITE, [src.sge(0, 4096)], rkey=dst.mr.rkey,
               raddr=dst.addr + phyrmem.MiB + 8192)
        wc = x.poll()[0]
        self.assertNotEqual(wc.status, WC.IBV_WC_SUCCESS)
        self.assertEqual(wc.status, WC.IBV_WC_REM_OP_ERR)

    def test_local_fault_in_send_and_recv(self):
        """Both the gather and the scatter side fault."""
        x, y = self.pair()
        src = x.buf(phyrmem.MiB, 'odp')
        dst = y.buf(phyrmem.MiB, 'odp')
        data = pattern(3 * phyrmem.PAGE, 7)
        src.write(data, 100)
        src.anon.madvise(mmap.MADV_DONTNEED, 0, src.size)
        src.write(data, 100)
        y.post_recv(dst, 200, len(data))
        x.post(WR.IBV_WR_SEND, [src.sge(100, len(data))])
        self.assert_wc(x.poll()[0])
        self.assert_wc(y.poll()[0], byte_len=len(data))
        self.assertEqual(dst.read(len(data), 200), data)

    def test_ud_send_from_odp(self):
        from pyverbs.addr import AH
        x, y = self.pair(qp_type=UD)
        src = x.buf(64 * 1024, 'odp')
        dst = y.buf(64 * 1024, 'user')
        data = pattern(1000, 8)
        src.write(data, 0)
        y.post_recv(dst, 0, 1040)
        ah = AH(x.pd, attr=x.ah_attr(y))
        x.post(WR.IBV_WR_SEND, [src.sge(0, 1000)], ah=ah, rqpn=y.qp.qp_num)
        self.assert_wc(x.poll()[0])
        self.assert_wc(y.poll()[0], byte_len=1040)
        self.assertEqual(dst.read(1000, 40), data)
        ah.close()

    def test_prefetch_then_no_fault(self):
        x, y = self.pair()
        src = x.buf(64 * 1024, 'user')
        dst = y.buf(phyrmem.MiB, 'odp')
        y.pd.advise_mr(PREFETCH_WRITE, FLUSH,
                       [SGE(dst.addr, 16384, dst.mr.lkey)])
        f0 = self.faults('phyrdma1')
        data = pattern(16384, 9)
        src.write(data, 0)
        x.post(WR.IBV_WR_RDMA_WRITE, [src.sge(0, 16384)], rkey=dst.mr.rkey,
               raddr=dst.addr)
        self.assert_wc(x.poll()[0])
        self.assertEqual(self.faults('phyrdma1'), f0, 'prefetched pages faulted')
        self.assertEqual(dst.read(16384), data)

    def test_prefetch_errors(self):
        x, _ = self.pair()
        odp = x.buf(phyrmem.MiB, 'odp', access=RR)
        pinned = x.buf(64 * 1024, 'user')
        adv = PREFETCH
        with self.assertRaises(PyverbsRDMAError) as cm:
            x.pd.advise_mr(adv, FLUSH, [SGE(pinned.addr, 4096, pinned.mr.lkey)])
        self.assertEqual(cm.exception.error_code, errno.EINVAL, 'not an ODP MR')
        with self.assertRaises(PyverbsRDMAError) as cm:
            x.pd.advise_mr(adv, FLUSH, [SGE(odp.addr + phyrmem.MiB - 8, 4096,
                                            odp.mr.lkey)])
        self.assertEqual(cm.exception.error_code, errno.EINVAL, 'beyond the MR')
        with self.assertRaises(PyverbsRDMAError) as cm:
            x.pd.advise_mr(PREFETCH_WRITE, FLUSH,
                           [SGE(odp.addr, 4096, odp.mr.lkey)])
        self.assertEqual(cm.exception.error_code, errno.EPERM, 'read-only MR')
        # without FLUSH, advice is best effort and reports nothing
        x.pd.advise_mr(adv, 0, [SGE(pinned.addr, 4096, pinned.mr.lkey)])

    def test_implicit_and_dmabuf_odp_refused(self):
        x, _ = self.pair()
        with self.assertRaises(PyverbsRDMAError) as cm:
            MR(x.pd, 0, LW | ODP, implicit=True)
        self.assertEqual(cm.exception.error_code, errno.EOPNOTSUPP)
        fd = phyrmem.ram_create(phyrmem.MiB)
        try:
            with self.assertRaises(PyverbsRDMAError) as cm:
                DmaBufMR(x.pd, phyrmem.MiB, LW | ODP, dmabuf=fd)
            self.assertIn(cm.exception.error_code, (errno.EOPNOTSUPP, errno.EINVAL))
        finally:
            os.close(fd)

    def test_dereg_after_traffic_leaves_nothing(self):
        """Counters (checked in tearDown) return to zero with pages present."""
        x, y = self.pair()
        src = x.buf(phyrmem.MiB, 'odp')
        dst = y.buf(phyrmem.MiB, 'odp')
        src.write(pattern(phyrmem.MiB, 10), 0)
        x.post(WR.IBV_WR_RDMA_WRITE, [src.sge(0, phyrmem.MiB)], rkey=dst.mr.rkey,
               raddr=dst.addr)
        self.assert_wc(x.poll()[0])
        self.assertEqual(dst.read(phyrmem.MiB), src.read(phyrmem.MiB))


if __name__ == '__main__':
    unittest.main()
