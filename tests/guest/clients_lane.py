# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The clients lane: the programs that register dma-bufs, unmodified.

Run by tools/clients (tests/run-guest clients_lane), not by the main guest
suite: rdma-core's own dma-buf tests through pyverbs with the patches of
libibverbs/patches, libfabric (fi_pingpong MSG and RDM over RxM, and
FI_MR_DMABUF), UCX's verbs transports, Open MPI (over libfabric and over UCX) and
MPICH, NCCL's and UCX's dma-buf call pattern, and perftest over rdma_cm.  docs/clients.md
lists what each needs and what it showed.
"""
import json
import os
import re
import subprocess
import tempfile
import time
import unittest

from phyrdma_base import counters

LANE = '/phyrdma/build/libibverbs-lane/src/build'
UCX = '/opt/ucx-verbs/usr'
HEAPS = {'legacy': '/dev/dma_heap/system', 'phyr': '/dev/phyr_ram'}
RXM = 'verbs;ofi_rxm'
IOMMU_ON = os.path.exists('/sys/class/iommu') and bool(os.listdir('/sys/class/iommu'))


def stats(dev):
    return counters(dev)


def rxe_up():
    if not os.path.exists('/sys/class/infiniband/rxe0'):
        subprocess.run(['tools/guest/rxe-up'], check=True, timeout=60)


def pair(server, client, timeout=180, env=None, delay=2.0, server_env=None,
         client_env=None):
    """Start @server, then run @client, with @env for both and
    @server_env/@client_env for one.  Returns both exit codes and outputs."""
    e = dict(os.environ, **(env or {}))
    s = subprocess.Popen(server, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=dict(e, **(server_env or {})))
    time.sleep(delay)
    try:
        c = subprocess.run(client, capture_output=True, text=True, timeout=timeout,
                           env=dict(e, **(client_env or {})))
        out, _ = s.communicate(timeout=timeout)
    finally:
        if s.poll() is None:
            s.kill()
            s.wait()
    return s.returncode, out, c.returncode, c.stdout + c.stderr


class RdmaCoreDmabufTest(unittest.TestCase):
    """rdma-core 65's dma-buf tests, allocating from a DMA heap (patch 0002)."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(f'{LANE}/bin/run_tests.py'):
            raise unittest.SkipTest('no patched rdma-core build (tools/libibverbs-lane build)')

    def suite(self, dev, heap):
        env = dict(os.environ, LD_LIBRARY_PATH=f'{LANE}/lib', PYVERBS_DMA_HEAP=heap)
        r = subprocess.run([f'{LANE}/bin/run_tests.py', '--dev', dev, '--port', '1',
                            '-v', '-k', 'DmaBufMRTest', '-k', 'DmaBufRC',
                            '-k', 'test_dmabuf'],
                           capture_output=True, text=True, timeout=600, env=env)
        out = r.stdout + r.stderr
        print(out[-3000:])
        ran = int(re.search(r'^Ran (\d+) tests?', out, re.M).group(1))
        skipped = len(re.findall(r' \.\.\. skipped', out))
        bad = re.findall(r'^(.*) \.\.\. (FAIL|ERROR)$', out, re.M)
        return r.returncode, ran, skipped, bad, out

    def run_on(self, path):
        before = stats('phyrdma0')
        rc, ran, skipped, bad, out = self.suite('phyrdma0', HEAPS[path])
        after = stats('phyrdma0')
        self.assertEqual(bad, [], out[-3000:])
        self.assertEqual(rc, 0)
        self.assertGreaterEqual(ran, 10)
        self.assertEqual(skipped, 0, 'a dma-buf test skipped on phyrdma0')
        regs = after[f'reg_{path}'] - before[f'reg_{path}']
        self.assertGreaterEqual(regs, ran, f'reg_{path} grew by {regs}')
        if path == 'phyr':
            self.assertEqual(after['reg_legacy'], before['reg_legacy'])
        print(f'rdma-core dma-buf [phyrdma0, {path} path]: {ran} ran, '
              f'{ran - skipped} passed, {regs} registrations', flush=True)

    def test_legacy_path_system_heap(self):
        self.run_on('legacy')

    def test_phyr_path_phyr_ram(self):
        self.run_on('phyr')

    def test_rxe_peer(self):
        """rxe0 beside it: the same tests, its result printed as the peer's."""
        rxe_up()
        rc, ran, skipped, bad, _ = self.suite('rxe0', HEAPS['legacy'])
        self.assertEqual(bad, [])
        print(f'rdma-core dma-buf [rxe0]: {ran} ran, {ran - skipped} passed, '
              f'{skipped} skipped', flush=True)


class LibfabricTest(unittest.TestCase):
    """libfabric 2.1's verbs provider, MSG and RDM (RxM), and FI_MR_DMABUF."""

    def pingpong(self, prov, ep):
        args = ['fi_pingpong', '-p', prov, '-e', ep, '-I', '50', '-S', 'all']
        src, dst = '10.77.0.1', '10.77.0.2'
        srv_rc, srv, cli_rc, cli = pair(args + ['-s', src], args + ['-s', dst, src])
        self.assertEqual(cli_rc, 0, cli[-2000:])
        self.assertEqual(srv_rc, 0, srv[-2000:])
        rows = re.findall(r'^(\S+)\s+50\s+=50\s+\S+\s+\S+\s+([\d.]+)', cli, re.M)
        self.assertIn('1m', [r[0] for r in rows], cli[-2000:])
        mbs = dict(rows)
        print(f'fi_pingpong {prov} {ep} (IOMMU {"on" if IOMMU_ON else "off"}): '
              f'{mbs.get("4k")} MB/s at 4 KiB, {mbs.get("1m")} MB/s at 1 MiB',
              flush=True)

    def test_pingpong_msg(self):
        self.pingpong('verbs', 'msg')

    def test_pingpong_rdm_rxm(self):
        """RxM's MSG CQ: (128 + 128) x FI_UNIVERSE_SIZE (1024) entries."""
        self.pingpong(RXM, 'rdm')

    def fi_dmabuf(self, path):
        before = {d: stats(d) for d in ('phyrdma0', 'phyrdma1')}
        r = subprocess.run(['phyrdma-fi-dmabuf', RXM, 'phyrdma0', 'phyrdma1',
                            HEAPS[path]], capture_output=True, text=True, timeout=180)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for step in ('regattr', 'fi_write', 'fi_read'):
            self.assertIn(f'ok {step}\n', r.stdout)
        for d in ('phyrdma0', 'phyrdma1'):
            after = stats(d)
            legacy = after['reg_legacy'] - before[d]['reg_legacy']
            # the dma-buf's registration on each device took @path
            self.assertEqual(legacy, 1 if path == 'legacy' else 0, d)
            self.assertGreaterEqual(after['reg_phyr'] - before[d]['reg_phyr'],
                                    1 if path == 'phyr' else 0, d)

    def test_fi_mr_dmabuf_legacy_path(self):
        self.fi_dmabuf('legacy')

    def test_fi_mr_dmabuf_phyr_path(self):
        self.fi_dmabuf('phyr')


class PatternTest(unittest.TestCase):
    """NCCL's and UCX's dma-buf calls (probe errnos, page-rounded range at
    iova = VA with relaxed ordering), then RDMA WRITE and READ, both paths."""

    def pattern(self, path):
        before = stats('phyrdma0')
        r = subprocess.run(['phyrdma-dmabuf-pattern', 'phyrdma0', 'phyrdma1',
                            HEAPS[path]], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for step in ('probe-ucx', 'probe-nccl', 'reg', 'write', 'read'):
            self.assertIn(f'ok {step}\n', r.stdout)
        after = stats('phyrdma0')
        self.assertEqual(after[f'reg_{path}'] - before[f'reg_{path}'], 1)

    def test_legacy_path(self):
        self.pattern('legacy')

    def test_phyr_path(self):
        self.pattern('phyr')


@unittest.skipUnless(os.path.exists(f'{UCX}/bin/ucx_perftest'), 'no UCX with verbs')
class UcxTest(unittest.TestCase):
    """UCX's verbs transports (Debian's UCX 1.18 built with verbs)."""

    env = {'LD_LIBRARY_PATH': f'{UCX}/lib/x86_64-linux-gnu',
           # UCX's ud_verbs takes the RoCE packet type from wc.sl, which
           # only mlx5 fills (docs/clients.md); rxe0 needs the same
           'UCX_UD_VERBS_ETH_DGID_CHECK': 'n'}

    def test_info_lists_verbs_and_dmabuf(self):
        r = subprocess.run([f'{UCX}/bin/ucx_info', '-d'], capture_output=True,
                           text=True, timeout=120, env=dict(os.environ, **self.env))
        out = r.stdout
        for dev in ('phyrdma0', 'phyrdma1'):
            md = out.split(f'# Memory domain: {dev}\n', 1)
            self.assertEqual(len(md), 2, f'no memory domain {dev}')
            section = md[1].split('# Memory domain:', 1)[0]
            self.assertRegex(section, r'register: .*\bdmabuf\b')
            self.assertIn(f'Transport: rc_verbs\n#         Device: {dev}:1', section)
            self.assertIn(f'Transport: ud_verbs\n#         Device: {dev}:1', section)

    def perftest(self, label, server_args, client_args, server_env=None,
                 client_env=None):
        """ucx_perftest between the ports (its own sockets, -P 0); the
        client's 'Final:' line must come."""
        base = [f'{UCX}/bin/ucx_perftest', '-P', '0', '-p', '13337']
        srv_rc, srv, cli_rc, cli = pair(
            base + server_args, base + ['10.77.0.1'] + client_args, env=self.env,
            timeout=240, server_env=server_env, client_env=client_env)
        self.assertEqual(cli_rc, 0, cli[-2000:])
        self.assertEqual(srv_rc, 0, srv[-2000:])
        m = re.search(r'^Final:\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)',
                      cli, re.M)
        self.assertIsNotNone(m, cli[-2000:])
        print(f'ucx_perftest {label}: {m.group(3)} us avg, {m.group(5)} MB/s',
              flush=True)

    def test_uct_rc_verbs(self):
        """UCT over rc_verbs; the server keeps its own device."""
        for test, extra in (('put_bw', ['-s', '65536', '-n', '2000', '-D', 'zcopy']),
                            ('put_lat', ['-s', '8', '-n', '2000']),
                            ('get_bw', ['-s', '65536', '-n', '2000', '-D', 'zcopy'])):
            with self.subTest(test=test):
                self.perftest(f'{test} {" ".join(extra)} (UCT, rc_verbs)',
                              ['-x', 'rc_verbs', '-d', 'phyrdma0:1'],
                              ['-x', 'rc_verbs', '-d', 'phyrdma1:1', '-t', test] + extra)

    def test_ucp_tag(self):
        """UCP over rc_verbs: each process names its port in the environment,
        which UCP reads locally."""
        for test, extra in (('tag_bw', ['-s', '1048576', '-n', '300']),
                            ('tag_lat', ['-s', '8', '-n', '2000'])):
            with self.subTest(test=test):
                self.perftest(f'{test} (UCP, rc_verbs)', [], ['-t', test] + extra,
                              server_env={'UCX_TLS': 'rc_v',
                                          'UCX_NET_DEVICES': 'phyrdma0:1'},
                              client_env={'UCX_TLS': 'rc_v',
                                          'UCX_NET_DEVICES': 'phyrdma1:1'})


class MpiTest(unittest.TestCase):
    """Two ranks, one per port: ping-pong, allreduce and a one-sided window
    (Put and Get under fences), results checked, traffic seen on both
    devices.  Open MPI 6 through mpi4py over libfabric and over UCX; MPICH 5
    (built ch4:ucx) with tests/clients/mpi_check.c."""

    OMPI_ENV = {'OMPI_ALLOW_RUN_AS_ROOT': '1', 'OMPI_ALLOW_RUN_AS_ROOT_CONFIRM': '1'}
    UCX_ENV = {'LD_LIBRARY_PATH': f'{UCX}/lib/x86_64-linux-gnu', 'UCX_TLS': 'rc_v',
               'UCX_UD_VERBS_ETH_DGID_CHECK': 'n'}
    PY = ['python3', 'tests/clients/mpi_check.py', 'rma']

    def job(self, cmd):
        before = {d: stats(d)['wqes'] for d in ('phyrdma0', 'phyrdma1')}
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, **self.OMPI_ENV))
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out[-3000:])
        for step in ('pingpong', 'allreduce', 'rma'):
            for rank in (0, 1):
                self.assertIn(f'ok {step} rank {rank}', out)
        for d in ('phyrdma0', 'phyrdma1'):
            self.assertGreater(stats(d)['wqes'], before[d], f'no traffic on {d}')

    def ompi(self, mca, per_rank, prog):
        cmd = ['mpirun.openmpi', '--allow-run-as-root'] + mca
        for i, extra in enumerate(per_rank):
            cmd += ([':'] if i else []) + ['-np', '1'] + extra + prog
        return cmd

    def test_openmpi_ofi(self):
        """The ofi MTL over verbs;ofi_rxm; the window through osc rdma on
        the ofi BTL, which refuses ofi_rxm by name and so takes
        verbs;ofi_rxd (UD)."""
        self.job(self.ompi(
            ['--mca', 'pml', 'cm', '--mca', 'mtl', 'ofi',
             '--mca', 'mtl_ofi_provider_include', f'{RXM},verbs;ofi_rxd',
             '--mca', 'btl', 'self,ofi', '--mca', 'btl_ofi_mode', '0',
             '--mca', 'osc', 'rdma'],
            [['-x', f'FI_VERBS_DEVICE_NAME={d}'] for d in ('phyrdma0', 'phyrdma1')],
            self.PY))

    @unittest.skipUnless(os.path.exists(f'{UCX}/bin/ucx_perftest'), 'no UCX with verbs')
    def test_openmpi_ucx(self):
        """The UCX PML and OSC over rc_verbs (UCX 1.18 under a build for
        1.23: UCX warns that the API is older; see docs/clients.md)."""
        env = [x for k, v in self.UCX_ENV.items() for x in ('-x', f'{k}={v}')]
        self.job(self.ompi(
            ['--mca', 'pml', 'ucx', '--mca', 'osc', 'ucx'] + env,
            [['-x', f'UCX_NET_DEVICES={d}:1'] for d in ('phyrdma0', 'phyrdma1')],
            self.PY))

    @unittest.skipUnless(os.path.exists(f'{UCX}/bin/ucx_perftest'), 'no UCX with verbs')
    def test_mpich_ucx(self):
        """MPICH 5 as Debian builds it (ch4:ucx), over rc_verbs."""
        with tempfile.TemporaryDirectory() as d:
            exe = f'{d}/mpi_check'
            subprocess.run(['mpicc.mpich', '-O2', '-o', exe,
                            'tests/clients/mpi_check.c'], check=True, timeout=120)
            cmd = ['mpiexec.mpich']
            for i, dev in enumerate(('phyrdma0', 'phyrdma1')):
                cmd += ([':'] if i else []) + ['-n', '1']
                for k, v in dict(self.UCX_ENV, UCX_NET_DEVICES=f'{dev}:1').items():
                    cmd += ['-env', k, v]
                cmd.append(exe)
            self.job(cmd)


class PerftestTest(unittest.TestCase):
    """perftest over rdma_cm (-R) with its JSON report, rxe0 beside it."""

    def write_bw(self, dev, server_ip, tag):
        with tempfile.TemporaryDirectory() as d:
            sj, cj = f'{d}/server.json', f'{d}/client.json'
            base = ['ib_write_bw', '-R', '-s', '65536', '-n', '2000',
                    '-F', '--report_gbits']
            srv_rc, srv, cli_rc, cli = pair(
                base + ['-d', dev[0], '--out_json', '--out_json_file', sj],
                base + ['-d', dev[1], '--out_json', '--out_json_file', cj,
                        server_ip])
            self.assertEqual(cli_rc, 0, cli[-2000:])
            self.assertEqual(srv_rc, 0, srv[-2000:])
            with open(cj) as f:
                report = json.load(f)
            os.makedirs('/phyrdma/build', exist_ok=True)
            with open(f'/phyrdma/build/perftest-{tag}.json', 'w') as f:
                json.dump(report, f, indent=1)
            return report

    @staticmethod
    def bw(report):
        """The average bandwidth of a perftest JSON report, Gb/s."""
        text = json.dumps(report)
        m = re.search(r'"BW_average"\s*:\s*"?([\d.]+)', text)
        return float(m.group(1)) if m else None

    def test_ib_write_bw_rdma_cm(self):
        ours = self.write_bw(('phyrdma0', 'phyrdma1'), '10.77.0.1', 'phyrdma')
        b = self.bw(ours)
        self.assertIsNotNone(b, json.dumps(ours)[:2000])
        self.assertGreater(b, 0)
        rxe_up()
        peer = self.bw(self.write_bw(('rxe0', 'rxe0'), '10.0.2.15', 'rxe0'))
        print(f'ib_write_bw -R 64 KiB: phyrdma {b} Gb/s, rxe0 {peer} Gb/s'
              + (f' ({b / peer:.1f}x)' if peer else ''), flush=True)
