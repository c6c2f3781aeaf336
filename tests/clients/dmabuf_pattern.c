// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * phyrdma-dmabuf-pattern: the dma-buf calls of NCCL's IB transport and of
 * UCX's IB memory domain, made exactly as they make them, then data moved
 * through the registrations.
 *
 *   phyrdma-dmabuf-pattern DEV PEER HEAP
 *
 * HEAP is a device that answers DMA_HEAP_IOCTL_ALLOC (/dev/dma_heap/system,
 * /dev/phyr_ram).  Steps, each printed as "ok NAME" or "FAIL NAME: why":
 *
 *  probe-ucx   ibv_reg_dmabuf_mr(fd -1, one page, UCX's access) fails with
 *              EBADF, which UCX requires to report "dmabuf" capability
 *  probe-nccl  ibv_reg_dmabuf_mr(fd -1, length 0, access 0) fails, and not
 *              with EOPNOTSUPP or EPROTONOSUPPORT (NCCL's test)
 *  reg         a buffer of the heap, mmap()ed; on DEV and PEER a
 *              page-rounded range inside it registered at iova = the
 *              range's virtual address, with IBV_ACCESS_RELAXED_ORDERING
 *              and NCCL's access flags
 *  write/read  an RC QP pair DEV -> PEER: RDMA WRITE of one part of the
 *              range into the peer's, RDMA READ of it back into a third,
 *              the bytes checked through the mapping
 *
 * Then "pattern: N passed, N failed"; exits 0 when every step passed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "verbs_util.h"

#define BUF_SIZE	(4UL << 20)
#define XFER		(256UL << 10)

/* NCCL's registration access: all of it, relaxed ordering where offered */
#define NCCL_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC | \
		     IBV_ACCESS_RELAXED_ORDERING)
/* UCX's probe access (UCT_IB_MEM_ACCESS_FLAGS) */
#define UCX_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

struct side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	int gid_index;
	union ibv_gid gid;
};

static int side_open(struct side *s, const char *name)
{
	struct ibv_qp_init_attr qa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};

	s->ctx = pv_open_device(name);
	if (!s->ctx)
		return -1;
	s->pd = ibv_alloc_pd(s->ctx);
	s->cq = s->pd ? ibv_create_cq(s->ctx, 8, NULL, NULL, 0) : NULL;
	if (!s->cq)
		return -1;
	qa.send_cq = qa.recv_cq = s->cq;
	s->qp = ibv_create_qp(s->pd, &qa);
	if (!s->qp)
		return -1;
	return pv_find_ipv4_gid(s->ctx, 1, &s->gid_index, &s->gid);
}

static int connect_to(struct side *s, const struct side *peer)
{
	struct pv_rc_conn c = {
		.port = 1, .sgid_index = s->gid_index, .dgid = peer->gid,
		.dest_qpn = peer->qp->qp_num,
		.access = IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE,
		.mtu = IBV_MTU_1024, .rd_atomic = 1, .timeout = 14,
		.retry_cnt = 7, .rnr_retry = 7,
	};

	return pv_rc_connect(s->qp, &c);
}

static int rdma(struct side *s, enum ibv_wr_opcode op, void *laddr,
		uint32_t lkey, uint64_t raddr, uint32_t rkey, size_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)laddr, .length = len,
			       .lkey = lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	}, *bad;
	struct ibv_wc wc;
	int n, spins = 0;

	if (ibv_post_send(s->qp, &wr, &bad))
		return -1;
	while ((n = ibv_poll_cq(s->cq, 1, &wc)) == 0) {
		if (++spins > 20000000)
			return errno = ETIMEDOUT, -1;
	}
	if (n < 0)
		return -1;
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "completion: %s\n", ibv_wc_status_str(wc.status));
		return errno = EIO, -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct side a = {}, b = {};
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *map, *start;
	struct ibv_mr *mr;
	uint64_t offset, len;
	int fd, e;
	size_t i;

	if (argc != 4) {
		fprintf(stderr, "usage: %s DEV PEER HEAP\n", argv[0]);
		return 2;
	}
	if (side_open(&a, argv[1]) || side_open(&b, argv[2])) {
		perror("device set-up");
		return 1;
	}

	/* UCX: uct_ib_md_check_dmabuf() */
	errno = 0;
	mr = ibv_reg_dmabuf_mr(a.pd, 0, page, 0, -1, UCX_ACCESS);
	e = errno;
	pv_check(!mr && e == EBADF, "probe-ucx", "errno %d (%s), UCX wants EBADF",
		 e, strerror(e));
	if (mr)
		ibv_dereg_mr(mr);

	/* NCCL: ncclIbDmaBufSupport() */
	errno = 0;
	mr = ibv_reg_dmabuf_mr(a.pd, 0ULL, 0ULL, 0ULL, -1, 0);
	e = errno;
	pv_check(!mr && e != EOPNOTSUPP && e != EPROTONOSUPPORT, "probe-nccl",
		 "errno %d (%s)", e, strerror(e));
	if (mr)
		ibv_dereg_mr(mr);

	fd = pv_heap_alloc(argv[3], BUF_SIZE);
	if (fd < 0) {
		perror(argv[3]);
		return 1;
	}
	map = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/*
	 * NCCL registers the pages around a buffer that sits anywhere in the
	 * dma-buf: [addr & ~(page - 1), round_up(addr + size, page)), at
	 * offset = that start - the dma-buf's base and iova = that start.
	 */
	start = (unsigned char *)(((uintptr_t)map + 3 * page + 100) & ~(page - 1));
	offset = start - map;
	len = ((uintptr_t)start + 3 * XFER + 100 + page - 1) / page * page -
	      (uintptr_t)start;
	a.mr = ibv_reg_dmabuf_mr(a.pd, offset, len, (uintptr_t)start, fd,
				 NCCL_ACCESS);
	b.mr = ibv_reg_dmabuf_mr(b.pd, offset, len, (uintptr_t)start, fd,
				 NCCL_ACCESS);
	pv_check(a.mr && b.mr, "reg", "%s", strerror(errno));
	if (!a.mr || !b.mr)
		return 1;
	if (connect_to(&a, &b) || connect_to(&b, &a)) {
		perror("connect");
		return 1;
	}

	/* write part 0 of A's range into part 1 of B's (the same memory) */
	for (i = 0; i < XFER; i++) {
		start[i] = (unsigned char)(i * 7 + 3);
		start[XFER + i] = 0;
		start[2 * XFER + i] = 0;
	}
	e = rdma(&a, IBV_WR_RDMA_WRITE, start, a.mr->lkey,
		 (uintptr_t)start + XFER, b.mr->rkey, XFER);
	pv_check(!e && !memcmp(start, start + XFER, XFER), "write", "%s",
		 e ? strerror(errno) : "bytes differ");

	/* read it back into part 2 */
	e = rdma(&a, IBV_WR_RDMA_READ, start + 2 * XFER, a.mr->lkey,
		 (uintptr_t)start + XFER, b.mr->rkey, XFER);
	pv_check(!e && !memcmp(start, start + 2 * XFER, XFER), "read", "%s",
		 e ? strerror(errno) : "bytes differ");

	ibv_destroy_qp(a.qp);
	ibv_destroy_qp(b.qp);
	ibv_dereg_mr(a.mr);
	ibv_dereg_mr(b.mr);
	munmap(map, BUF_SIZE);
	close(fd);
	return pv_summary("pattern");
}
