# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Protection domains: allocation, release, accounting."""
import json
import os
import subprocess
import sys
import textwrap

from pyverbs.device import Context
from pyverbs.pd import PD

from phyrdma_base import PhyrdmaTestCase, counters


class PDTest(PhyrdmaTestCase):
    def test_alloc_dealloc(self):
        self.assert_counters(ucontexts=1, pds=0)
        pd = PD(self.ctx)
        self.assert_counters(pds=1)
        pd.close()
        self.assert_counters(pds=0)

    def test_many_at_once(self):
        n = 2000
        pds = [PD(self.ctx) for _ in range(n)]
        self.assert_counters(pds=n)
        for pd in pds[::2]:
            pd.close()
        self.assert_counters(pds=n // 2)
        for pd in pds[1::2]:
            pd.close()
        self.assert_counters(pds=0)

    def test_context_close_releases_pds(self):
        ctx = Context(name=self.dev_name)
        pds = [PD(ctx) for _ in range(100)]
        self.assert_counters(ucontexts=2, pds=len(pds))
        ctx.close()
        self.assert_counters(ucontexts=1, pds=0)

    def test_process_exit_releases_everything(self):
        # The process dies without releasing anything: ib_uverbs must
        # destroy every object when the file is released, and the driver
        # must see each of them go.
        child = subprocess.run([sys.executable, '-c', textwrap.dedent(f'''
            import json, os, sys
            sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
            from phyrmem import ram_create
            from pyverbs.device import Context
            from pyverbs.mr import MR, DmaBufMR
            from pyverbs.pd import PD
            ctxs = [Context(name='{self.dev_name}') for _ in range(3)]
            pds = [PD(c) for c in ctxs for _ in range(50)]
            mrs = [MR(pds[0], 1 << 20, 1),
                   DmaBufMR(pds[1], 1 << 20, 1, dmabuf=ram_create(1 << 20))]
            from rdma_netlink import rdma_statistic
            print(json.dumps(rdma_statistic('{self.dev_name}')), flush=True)
            os._exit(0)
            ''')], capture_output=True, text=True, timeout=60)
        self.assertEqual(child.returncode, 0, child.stderr)
        got = json.loads(child.stdout)
        base = self.baseline[self.dev_name]
        self.assertEqual((got['ucontexts'] - base['ucontexts'],
                          got['pds'] - base['pds'], got['mrs'] - base['mrs'],
                          got['dmabuf_attachments'], got['pinned_pages']),
                         (4, 150, 2, 1, 256))
        self.assert_counters(ucontexts=1, pds=0, mrs=0, dmabuf_attachments=0,
                             pinned_pages=0, mtt_pages=0, iova_bytes=0)

    def test_many_contexts(self):
        ctxs = [Context(name=self.dev_name) for _ in range(16)]
        pds = [PD(c) for c in ctxs for _ in range(8)]
        self.assert_counters(ucontexts=17, pds=128)
        for pd in pds:
            pd.close()
        for c in ctxs:
            c.close()
        self.assert_counters(ucontexts=1, pds=0)

    def test_devices_are_independent(self):
        other = 'phyrdma1' if self.dev_name == 'phyrdma0' else 'phyrdma0'
        before = counters(other)
        pd = PD(self.ctx)
        self.assertEqual(counters(other), before)
        self.assert_counters(pds=1)
        pd.close()

    def test_pd_after_reopen(self):
        self.ctx.close()
        self.ctx = Context(name=self.dev_name)
        pd = PD(self.ctx)
        self.assert_counters(ucontexts=1, pds=1)
        pd.close()
