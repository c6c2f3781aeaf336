# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Unloading phyrdma while userspace holds its objects.

ib_uverbs disassociates the contexts of a device that is unregistered:
phyrdma implements disassociate_ucontext, so rmmod must succeed, every
object must be released in the driver, and the process still holding the
context must see EIO instead of crashing the kernel.
"""
import errno
import os
import subprocess
import sys
import textwrap
import unittest

from phyrdma_base import counters, phyrdma_devices, reload_phyrdma, run

HOLDER = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[2])
    from phyrmem import ram_create, MiB
    from pyverbs.device import Context
    from pyverbs.mr import MR, DmaBufMR
    from pyverbs.pd import PD
    from pyverbs.pyverbs_error import PyverbsRDMAError
    ctx = Context(name=sys.argv[1])
    pds = [PD(ctx) for _ in range(10)]
    # an MR of each kind: user memory, and a dma-buf on each path
    mrs = [MR(pds[0], 4 * MiB, 1)]
    fd = ram_create(4 * MiB, 9)
    mrs.append(DmaBufMR(pds[1], 4 * MiB, 1, dmabuf=fd))
    open('/sys/module/phyrdma/parameters/legacy', 'w').write('1')
    mrs.append(DmaBufMR(pds[2], 2 * MiB, 1, dmabuf=fd,
                        offset=2 * MiB))
    open('/sys/module/phyrdma/parameters/legacy', 'w').write('0')
    # and an import kept after its last MR, which goes with the device
    open('/sys/module/phyrdma/parameters/import_keep_ms', 'w').write('60000')
    fd2 = ram_create(2 * MiB, 9)
    DmaBufMR(pds[3], MiB, 1, dmabuf=fd2).close()
    print('ready', flush=True)
    sys.stdin.readline()
    try:
        PD(ctx)
        print('alloc ok')
    except PyverbsRDMAError as ex:
        print('alloc errno', abs(ex.error_code))
    for obj in mrs + pds:
        try:
            obj.close()
        except PyverbsRDMAError:
            pass
    ctx.close()
    print('closed', flush=True)
''')


class UnloadTest(unittest.TestCase):
    def setUp(self):
        reload_phyrdma()

    def tearDown(self):
        reload_phyrdma()

    def test_unload_with_open_objects(self):
        here = os.path.dirname(os.path.abspath(__file__))
        holder = subprocess.Popen([sys.executable, '-c', HOLDER, 'phyrdma0',
                                   here],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(holder.stdout.readline().strip(), 'ready')
            r = run('rmmod', 'phyrdma', timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertFalse(os.path.isdir('/sys/module/phyrdma'))
            self.assertEqual(phyrdma_devices(), [])
            out, err = holder.communicate('go\n', timeout=60)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
        self.assertEqual(holder.returncode, 0, err)
        lines = out.split('\n')
        self.assertIn(f'alloc errno {errno.EIO}', lines)
        self.assertIn('closed', lines)

    def test_reload_gives_fresh_devices(self):
        self.assertEqual(run('rmmod', 'phyrdma').returncode, 0)
        reload_phyrdma()
        self.assertEqual(phyrdma_devices(), ['phyrdma0', 'phyrdma1'])
        for name in phyrdma_devices():
            c = counters(name)
            self.assertLessEqual({'ucontexts', 'pds', 'mrs', 'mtt_pages',
                                  'iova_bytes', 'pinned_pages', 'reg_phyr',
                                  'imports_made'}, set(c))
            # nothing but what ib_core itself holds on a RoCE port: the
            # MAD layer's PD, CQ and GSI QP (QP1) with their rings, and
            # the engine's work on the receives it posts
            kernel = {'pds': 1, 'cqs': 1, 'qps': 1}
            mad = {'wqes', 'bytes', 'cqes', 'doorbells'}
            for name_, v in c.items():
                if name_ == 'queue_bytes':
                    self.assertGreater(v, 0)
                elif name_ in mad:
                    self.assertGreaterEqual(v, 0, f'{name} {name_}')
                else:
                    self.assertEqual(v, kernel.get(name_, 0), f'{name} {name_}')
