# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The structured fuzzer, short: a few fixed seeds of phyrdma-fuzz.

phyrdma-fuzz writes hostile send WQEs straight into the mapped rings,
sends raw uverbs commands with driver data and responses of any size, maps
the uverbs file at real and made-up offsets, and drives phyr_ram's ioctls,
mmap and dma-buf registration with any field.  Each run must end with no
violation of what it can check itself (guard bytes around every MR, no
refused input accepted); the runner fails on any kernel splat, and every
counter is back where it was once the process is gone.  `make fuzz` runs
the same program for longer (docs/man/phyrdma-fuzz.1.md).
"""
import re
import subprocess

from phyrdma_base import (PhyrdmaTestCase, counters, drop_kept_imports,
                          phyrdma_devices)

# fixed seeds: a failure here is reproducible with `phyrdma-fuzz -s SEED`
SEEDS = (1, 2, 0x5eed)
ITERATIONS = 150
COUNTERS = ('ucontexts', 'pds', 'mrs', 'cqs', 'qps', 'srqs', 'ahs', 'mws',
            'dmabuf_attachments', 'pinned_pages', 'mtt_entries', 'iova_bytes',
            'queue_mappings', 'mcast_attachments', 'mtt_pages', 'queue_bytes')


class FuzzTest(PhyrdmaTestCase):
    def setUp(self):
        super().setUp()
        self.record_baseline()

    def run_seed(self, seed):
        r = subprocess.run(['phyrdma-fuzz', '-s', str(seed), '-n', str(ITERATIONS)],
                           capture_output=True, text=True, timeout=900)
        print(r.stdout, r.stderr, end='')
        self.assertEqual(r.returncode, 0, f'seed {seed}: {r.stdout[-2000:]}{r.stderr}')
        m = re.search(r'^fuzz: (\d+) iterations, (\d+) violations, seed (\d+)$',
                      r.stdout, re.M)
        self.assertIsNotNone(m, r.stdout)
        self.assertEqual(int(m.group(1)), 5 * ITERATIONS)
        self.assertEqual(int(m.group(2)), 0)
        # every target ran and got answers, good and bad
        for target in ('udata', 'mmap', 'ram', 'wqe'):
            self.assertRegex(r.stdout, rf'(?m)^{target}: ok=\d+', target)
        self.assertRegex(r.stdout, r'(?m)^wqe-completions: success=\d+.* error=\d+')
        drop_kept_imports()
        for dev in phyrdma_devices():
            got = counters(dev)
            for name in COUNTERS:
                self.assertEqual(got[name], self.baseline[dev][name],
                                 f'{dev} {name} after seed {seed}')

    def test_seed_1(self):
        self.run_seed(SEEDS[0])

    def test_seed_2(self):
        self.run_seed(SEEDS[1])

    def test_seed_5eed(self):
        self.run_seed(SEEDS[2])
