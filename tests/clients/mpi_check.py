# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Two ranks through mpi4py: ping-pong, allreduce and a one-sided window.

Run by tests/guest/clients_lane.py under Open MPI's mpirun (the MPI that
Debian's mpi4py is built with), one rank per phyrdma port; the window only
with the argument 'rma'.  Prints
'ok STEP rank N' per step; a wrong result raises, so the job fails.
"""
import sys
from array import array

from mpi4py import MPI

# 'rma' adds the one-sided window, which needs an RDMA-capable BTL
RMA = 'rma' in sys.argv[1:]

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
assert comm.Get_size() == 2, 'two ranks'
peer = 1 - rank
N = 1 << 14

# ping-pong: 64 KiB both ways, 20 times, the payload checked each time
for i in range(20):
    if rank == 0:
        comm.Send([array('i', range(i, N + i)), MPI.INT], dest=peer, tag=i)
        back = array('i', bytes(4 * N))
        comm.Recv([back, MPI.INT], source=peer, tag=i)
        assert back == array('i', range(i + 1, N + i + 1)), 'ping-pong'
    else:
        got = array('i', bytes(4 * N))
        comm.Recv([got, MPI.INT], source=peer, tag=i)
        comm.Send([array('i', (v + 1 for v in got)), MPI.INT], dest=peer, tag=i)
print(f'ok pingpong rank {rank}', flush=True)

x = array('d', [rank + 1.0]) * (8 * N)
y = array('d', bytes(8 * 8 * N))
comm.Allreduce([x, MPI.DOUBLE], [y, MPI.DOUBLE], op=MPI.SUM)
assert y == array('d', [3.0]) * (8 * N), 'allreduce'
print(f'ok allreduce rank {rank}', flush=True)

if not RMA:
    sys.exit(0)
mem = array('q', bytes(8 * 2 * N))
win = MPI.Win.Create(mem, disp_unit=8, comm=comm)
mine = array('q', (v * (rank + 2) for v in range(N)))
win.Fence()
win.Put([mine, MPI.INT64_T], peer, target=(rank * N, N, MPI.INT64_T))
win.Fence()
assert mem[peer * N:(peer + 1) * N] == array('q', (v * (peer + 2) for v in range(N))), 'put'
got = array('q', bytes(8 * N))
win.Fence()
win.Get([got, MPI.INT64_T], peer, target=(rank * N, N, MPI.INT64_T))
win.Fence()
assert got == mine, 'get'
win.Free()
print(f'ok rma rank {rank}', flush=True)
