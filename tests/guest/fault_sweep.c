// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * phyrdma-fault-sweep: one operation with the Nth failure injected, for
 * N = 1, 2, ... until it succeeds without one (the kernel's fail-nth, as
 * iommufd's selftest uses it).
 *
 *   phyrdma-fault-sweep [-d DEVICE] [-m MAX] OP
 *
 * OP is one of: ctx pd reg_mr reg_odp dmabuf ram_create cq qp modify_qp
 * srq mw ah, and for P2P MMIO: dmabuf_p2p (register a GPU BAR buffer),
 * mmio_create (the exporter's create) and revoke (revoke a buffer under a
 * registered MR, and restore it).  Everything the operation needs is set up before N is armed
 * and torn down after, so only the operation itself meets the failure.
 * Prints one line per N:
 *
 *   n=N injected=0|1 result=ok|errno=E
 *
 * and last "points=P" (the N at which the operation no longer met a
 * failure, minus one).  Exit status 0; 1 if the operation never succeeded
 * within MAX tries or a set-up step failed.  Needs a kernel with
 * CONFIG_FAULT_INJECTION and failslab/fail_page_alloc set to reach
 * sleeping allocations (tests/guest/test_faults.py does that).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <phyr/phyr_mmio.h>
#include <phyr/phyr_ram.h>

#include "verbs_util.h"

static const char *devname = "phyrdma0";
static int fail_fd = -1;

static void die(const char *what)
{
	fprintf(stderr, "phyrdma-fault-sweep: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void arm(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	if (pwrite(fail_fd, buf, len, 0) != len)
		die("fail-nth");
}

/* Disarm; return whether the armed failure was injected. */
static int disarm(void)
{
	char buf[16] = "";
	int injected;

	if (pread(fail_fd, buf, sizeof(buf) - 1, 0) < 0)
		die("fail-nth");
	injected = atoi(buf) == 0;
	arm(0);
	return injected;
}

/* What one operation needs, made before it is armed. */
struct env {
	struct ibv_device *dev;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	void *buf;
	int dmabuf;
	int ram;
	int gpu;	/* /dev/phyr_mmio0 */
	int bar;	/* a dma-buf of its BAR */
	int gid_index;
	union ibv_gid gid;
};

#define BUF_SIZE (2u << 20)

static int ram_create(int ram, unsigned int order)
{
	struct phyr_ram_create req = { .size = BUF_SIZE, .order = order };

	if (ioctl(ram, PHYR_RAM_IOC_CREATE, &req))
		return -1;
	return req.fd;
}

static int mmio_create(int gpu)
{
	struct phyr_mmio_create req = { .size = BUF_SIZE };

	return ioctl(gpu, PHYR_MMIO_IOC_CREATE, &req) ? -1 : req.fd;
}

static int mmio_revoke(int gpu, int fd, int on)
{
	struct phyr_mmio_revoke req = { .fd = fd, .revoke = on };

	return ioctl(gpu, PHYR_MMIO_IOC_REVOKE, &req);
}

static struct ibv_qp *make_qp(struct env *e)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = e->cq, .recv_cq = e->cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};

	return ibv_create_qp(e->pd, &ia);
}

/* INIT, RTR and RTS, connected to itself; 0 or the errno */
static int connect_qp(struct env *e, struct ibv_qp *qp)
{
	struct pv_rc_conn c = {
		.port = 1, .sgid_index = e->gid_index, .dgid = e->gid,
		.dest_qpn = qp->qp_num, .access = IBV_ACCESS_REMOTE_WRITE,
		.mtu = IBV_MTU_1024, .rd_atomic = 1,
		.timeout = 14, .retry_cnt = 7, .rnr_retry = 7,
	};

	return pv_rc_connect(qp, &c) ? errno : 0;
}

/*
 * Run @op once: 0 on success with everything it made released again, or
 * the errno it failed with.
 */
static int run_op(const char *op, struct env *e, unsigned int n)
{
	int ret = 0, fd;

	if (!strcmp(op, "ctx")) {
		struct ibv_context *ctx;

		arm(n);
		ctx = pv_open_device(devname);
		ret = ctx ? 0 : errno ? errno : EIO;
		if (ctx)
			ibv_close_device(ctx);
		return ret;
	}
	if (!strcmp(op, "pd")) {
		struct ibv_pd *pd;

		arm(n);
		pd = ibv_alloc_pd(e->ctx);
		ret = pd ? 0 : errno;
		if (pd && ibv_dealloc_pd(pd))
			die("ibv_dealloc_pd");
		return ret;
	}
	if (!strcmp(op, "mmio_create")) {
		arm(n);
		fd = mmio_create(e->gpu);
		ret = fd >= 0 ? 0 : errno;
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (!strcmp(op, "revoke")) {
		struct ibv_mr *mr;

		mr = ibv_reg_dmabuf_mr(e->pd, 0, BUF_SIZE, 0, e->bar,
				       IBV_ACCESS_LOCAL_WRITE);
		if (!mr)
			die("ibv_reg_dmabuf_mr");
		arm(n);
		ret = mmio_revoke(e->gpu, e->bar, 1) ? errno : 0;
		if (ibv_dereg_mr(mr))
			die("ibv_dereg_mr");
		if (mmio_revoke(e->gpu, e->bar, 0))
			die("restore");
		return ret;
	}
	if (!strcmp(op, "reg_mr") || !strcmp(op, "reg_odp") || !strcmp(op, "dmabuf") ||
	    !strcmp(op, "dmabuf_p2p")) {
		int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
		struct ibv_mr *mr;

		if (!strcmp(op, "reg_odp"))
			access |= IBV_ACCESS_ON_DEMAND;
		arm(n);
		if (!strcmp(op, "dmabuf") || !strcmp(op, "dmabuf_p2p"))
			mr = ibv_reg_dmabuf_mr(e->pd, 0, BUF_SIZE, 0x10000000,
					       strcmp(op, "dmabuf") ? e->bar :
					       e->dmabuf, access);
		else
			mr = ibv_reg_mr(e->pd, e->buf, BUF_SIZE, access);
		ret = mr ? 0 : errno;
		if (mr && ibv_dereg_mr(mr))
			die("ibv_dereg_mr");
		return ret;
	}
	if (!strcmp(op, "ram_create")) {
		arm(n);
		fd = ram_create(e->ram, 0);
		ret = fd >= 0 ? 0 : errno;
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (!strcmp(op, "cq")) {
		struct ibv_cq *cq;

		arm(n);
		cq = ibv_create_cq(e->ctx, 64, NULL, NULL, 0);
		ret = cq ? 0 : errno;
		if (cq && ibv_destroy_cq(cq))
			die("ibv_destroy_cq");
		return ret;
	}
	if (!strcmp(op, "qp") || !strcmp(op, "modify_qp")) {
		struct ibv_qp *qp;

		if (!strcmp(op, "qp")) {
			arm(n);
			qp = make_qp(e);
			ret = qp ? 0 : errno;
		} else {
			qp = make_qp(e);
			if (!qp)
				die("ibv_create_qp");
			arm(n);
			ret = connect_qp(e, qp);
		}
		if (qp && ibv_destroy_qp(qp))
			die("ibv_destroy_qp");
		return ret;
	}
	if (!strcmp(op, "srq")) {
		struct ibv_srq_init_attr sa = { .attr = { .max_wr = 64, .max_sge = 1 } };
		struct ibv_srq *srq;

		arm(n);
		srq = ibv_create_srq(e->pd, &sa);
		ret = srq ? 0 : errno;
		if (srq && ibv_destroy_srq(srq))
			die("ibv_destroy_srq");
		return ret;
	}
	if (!strcmp(op, "mw")) {
		struct ibv_mw *mw;

		arm(n);
		mw = ibv_alloc_mw(e->pd, IBV_MW_TYPE_2);
		ret = mw ? 0 : errno;
		if (mw && ibv_dealloc_mw(mw))
			die("ibv_dealloc_mw");
		return ret;
	}
	if (!strcmp(op, "ah")) {
		struct ibv_ah_attr aa = {
			.is_global = 1, .port_num = 1,
			.grh = { .dgid = e->gid, .sgid_index = e->gid_index,
				 .hop_limit = 1 },
		};
		struct ibv_ah *ah;

		arm(n);
		ah = ibv_create_ah(e->pd, &aa);
		ret = ah ? 0 : errno;
		if (ah && ibv_destroy_ah(ah))
			die("ibv_destroy_ah");
		return ret;
	}
	fprintf(stderr, "phyrdma-fault-sweep: unknown operation %s\n", op);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned int n, max = 5000;
	struct env e = { .dmabuf = -1, .ram = -1, .gpu = -1, .bar = -1 };
	const char *op;
	int opt, ret, injected;

	while ((opt = getopt(argc, argv, "d:m:")) != -1) {
		switch (opt) {
		case 'd': devname = optarg; break;
		case 'm': max = strtoul(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: %s [-d DEVICE] [-m MAX] OP\n", argv[0]);
		return 2;
	}
	op = argv[optind];

	fail_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (fail_fd < 0)
		die("/proc/thread-self/fail-nth (no CONFIG_FAULT_INJECTION?)");
	e.ctx = pv_open_device(devname);
	if (!e.ctx)
		die(devname);
	e.pd = ibv_alloc_pd(e.ctx);
	e.cq = ibv_create_cq(e.ctx, 64, NULL, NULL, 0);
	if (!e.pd || !e.cq)
		die("set-up");
	if (pv_find_ipv4_gid(e.ctx, 1, &e.gid_index, &e.gid))
		die("no RoCE v2 IPv4 GID");
	e.buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (e.buf == MAP_FAILED)
		die("mmap");
	e.ram = open("/dev/phyr_ram", O_RDWR | O_CLOEXEC);
	if (e.ram < 0)
		die("/dev/phyr_ram");
	e.dmabuf = ram_create(e.ram, 0);
	if (e.dmabuf < 0)
		die("PHYR_RAM_IOC_CREATE");
	e.gpu = open("/dev/phyr_mmio0", O_RDWR | O_CLOEXEC);
	if (e.gpu < 0)
		die("/dev/phyr_mmio0");
	e.bar = mmio_create(e.gpu);
	if (e.bar < 0)
		die("PHYR_MMIO_IOC_CREATE");

	for (n = 1; n <= max; n++) {
		ret = run_op(op, &e, n);
		injected = disarm();
		printf("n=%u injected=%d result=", n, injected);
		if (ret)
			printf("errno=%d\n", ret);
		else
			printf("ok\n");
		fflush(stdout);
		if (!ret && !injected) {
			printf("points=%u\n", n - 1);
			return 0;
		}
	}
	fprintf(stderr, "phyrdma-fault-sweep: %s still meets failures after %u\n",
		op, max);
	return 1;
}
