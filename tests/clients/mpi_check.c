// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Two MPI ranks: ping-pong, allreduce and a one-sided window, results
 * checked.  Built by tests/guest/clients_lane.py with MPICH's mpicc (Open
 * MPI runs mpi_check.py, the same steps, through mpi4py).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define N (1 << 14)

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "FAIL %s\n", what);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
}

int main(int argc, char **argv)
{
	static int buf[N], back[N];
	static double x[N * 8], y[N * 8];
	static long mem[2 * N], mine[N], got[N];
	int rank, size, peer, i, j;
	MPI_Win win;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	check(size == 2, "two ranks");
	peer = 1 - rank;

	for (i = 0; i < 20; i++) {
		if (rank == 0) {
			for (j = 0; j < N; j++)
				buf[j] = j + i;
			MPI_Send(buf, N, MPI_INT, peer, i, MPI_COMM_WORLD);
			MPI_Recv(back, N, MPI_INT, peer, i, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			for (j = 0; j < N; j++)
				check(back[j] == j + i + 1, "ping-pong payload");
		} else {
			MPI_Recv(buf, N, MPI_INT, peer, i, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			for (j = 0; j < N; j++)
				buf[j]++;
			MPI_Send(buf, N, MPI_INT, peer, i, MPI_COMM_WORLD);
		}
	}
	printf("ok pingpong rank %d\n", rank);

	for (j = 0; j < N * 8; j++)
		x[j] = rank + 1.0;
	MPI_Allreduce(x, y, N * 8, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
	for (j = 0; j < N * 8; j++)
		check(y[j] == 3.0, "allreduce");
	printf("ok allreduce rank %d\n", rank);

	MPI_Win_create(mem, sizeof(mem), sizeof(long), MPI_INFO_NULL,
		       MPI_COMM_WORLD, &win);
	for (j = 0; j < N; j++)
		mine[j] = (long)j * (rank + 2);
	MPI_Win_fence(0, win);
	MPI_Put(mine, N, MPI_LONG, peer, rank * N, N, MPI_LONG, win);
	MPI_Win_fence(0, win);
	for (j = 0; j < N; j++)
		check(mem[peer * N + j] == (long)j * (peer + 2), "put");
	MPI_Win_fence(0, win);
	MPI_Get(got, N, MPI_LONG, peer, rank * N, N, MPI_LONG, win);
	MPI_Win_fence(0, win);
	for (j = 0; j < N; j++)
		check(got[j] == mine[j], "get");
	MPI_Win_free(&win);
	printf("ok rma rank %d\n", rank);
	MPI_Finalize();
	return 0;
}
