// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * phyrdma-bench: measure memory registration, phyr path against legacy path.
 *
 *   phyrdma-bench reg [-d DEVICE] [-s SIZE]... [-r REPS]
 *
 * For each size, layout (4 KiB pages scattered, 2 MiB folios scattered, and
 * GPU BAR memory as phyr_mmio hands it out: P2P MMIO, no struct page) and
 * user iova alignment (2 MiB, 4 KiB), registers the same dma-buf through
 * both paths and prints one line per case and path:
 *
 *   path=phyr|legacy size=… layout=… iova_align=… page_size=… mtt_entries=…
 *   scratch_bytes=… iova_bytes=… reg_us=… dereg_us=…
 *
 * then the same on the phyr path at the iova phyrdv_advise_dmabuf(3)
 * advises (iova=advised; iommu_page is the largest IOMMU page the mapping
 * got, from phyrdv_query_mr(3)), then the bare dma_iova_link floor for the
 * same ranges (path=floor, only with a translating IOMMU).  map_us is the
 * phyr mapper's own reserve-link-sync time, measured in the kernel as the
 * floor's reg_us is (so map_us / floor is the mapper's overhead over the
 * bare API), emit_us its streaming into the MTT.  Times are
 * medians over REPS runs.  Sizes and alignments are in bytes.  With the
 * driver's share_imports on (the default) path=phyr is a key over the
 * buffer's import, kept between repetitions: its median is a key's cost.
 *
 *   phyrdma-bench bw [-d DEVICE] [-D DEVICE] [-s SIZE] [-n ITERS] [-t DEPTH]
 *                    [-c CYCLE]
 *
 * RDMA WRITE, RDMA READ and SEND of SIZE-byte messages from an RC QP on the
 * first device to one on the second, for each kind of memory on both
 * sides (plain pages with ibv_reg_mr, phyr_ram dma-bufs on the phyr path
 * in 4 KiB pages and in 2 MiB folios, and on the legacy path), one line
 * each, then the guest kernel's memcpy of the same size:
 *
 *   op=write|read|send mem=… size=… iters=… mib_s=… page_size=…
 *   op=floor size=… iters=… mib_s=…
 *
 *   phyrdma-bench slices [-d DEVICE] [-s SIZE] [-n MRS] [-l LEN] [-c CYCLES]
 *
 * What applications that register slices of one big buffer cost (the
 * users of ibv_reg_dmabuf_mr register often and do not cache).  On one
 * SIZE-byte buffer of 2 MiB folios (default 512 MiB), for each mode -
 * shared (keys over the buffer's import, kept after the last key), alone
 * (each MR maps its own slice: share_imports=0), legacy (ib_umem, which
 * maps the whole buffer for every MR) - registers LEN-byte MRs (default
 * 64 KiB) at random offsets and 4 KiB-aligned iovas and holds them, up to
 * MRS (default 4096) or the first failure, then registers and deregisters
 * one at a time CYCLES times (default 2000):
 *
 *   mode=… held=… fail_errno=… first64_us=… last64_us=… mtt_entries=…
 *   iova_bytes=… cycles_per_s=…
 *
 * mtt_entries and iova_bytes (the device's gauges) are with every MR held.
 *
 *   phyrdma-bench scale [-d DEVICE] [-g GPU] [-r REPS] [-m MAX]
 *
 * Registration cost against size: one buffer of GPU BAR memory (one
 * range) per power of two from 1 GiB to the BAR of the GPU with the
 * largest one (or GPU, a /dev/phyr_mmioN; at most MAX), registered whole
 * at an iova aligned to the size and at a 4 KiB-aligned one:
 *
 *   path=import|key|legacy size=… iova_align=… page_size=… mtt_entries=…
 *   mtt_bytes=… iommu_page=… iova_bytes=… reg_us=… dereg_us=… fail_errno=…
 *
 * import is the phyr path's first registration of a buffer (attach, pin,
 * map, the import's MTT: import_keep_ms=0, so every repetition makes one),
 * key a registration over an import another MR holds, legacy ib_umem's
 * sg_table.  mtt_bytes is the device table's memory (its pages).  REPS
 * defaults to 3; legacy at 4 KiB runs once from 16 GiB up (seconds each).
 *
 * All need root (debugfs, module parameters).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/phyrdv.h>
#include <infiniband/verbs.h>
#include <phyr/phyr_mmio.h>
#include <phyr/phyr_ram.h>
#include <testing/phyrdma-oracle.h>

#include "verbs_util.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define MAX_REPS 64

static const char *legacy_param = "/sys/module/phyrdma/parameters/legacy";

static void die(const char *what)
{
	fprintf(stderr, "phyrdma-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static void set_legacy(int on)
{
	FILE *f = fopen(legacy_param, "w");

	if (!f || fprintf(f, "%d\n", on) < 0 || fclose(f))
		die(legacy_param);
}

static void set_param(const char *name, const char *value)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/phyrdma/parameters/%s", name);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", value) < 0 || fclose(f))
		die(path);
}

/* A module parameter's value, newline stripped. */
static void get_param(const char *name, char *value, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/phyrdma/parameters/%s", name);
	f = fopen(path, "r");
	if (!f || !fgets(value, len, f))
		die(path);
	fclose(f);
	value[strcspn(value, "\n")] = 0;
}

static int ram_create(uint64_t size, unsigned int order, unsigned int flags)
{
	struct phyr_ram_create req = { .size = size, .order = order,
				       .flags = flags };
	int dev = open("/dev/phyr_ram", O_RDWR | O_CLOEXEC);

	if (dev < 0)
		die("/dev/phyr_ram");
	if (ioctl(dev, PHYR_RAM_IOC_CREATE, &req))
		die("PHYR_RAM_IOC_CREATE");
	close(dev);
	return req.fd;
}

/* A buffer of the first GPU's BAR memory, or -1 if there is no room. */
static int bar_create(uint64_t size)
{
	struct phyr_mmio_create req = { .size = size };
	int gpu, ret;

	gpu = open("/dev/phyr_mmio0", O_RDWR | O_CLOEXEC);
	if (gpu < 0)
		return -1;
	ret = ioctl(gpu, PHYR_MMIO_IOC_CREATE, &req);
	close(gpu);
	return ret ? -1 : req.fd;
}

/* The path of @file in @ibdev's debugfs directory. */
static void debugfs_path(const char *ibdev, const char *file, char *path,
			 size_t len)
{
	char link[PATH_MAX];
	ssize_t n;

	snprintf(path, len, "/sys/class/infiniband/%s/device", ibdev);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		die(path);
	link[n] = 0;
	snprintf(path, len, "/sys/kernel/debug/phyrdma/%s/%s", basename(link),
		 file);
}

static int open_oracle(const char *ibdev, char *iommu, size_t iommu_len)
{
	char path[PATH_MAX];
	FILE *f;
	int fd;

	debugfs_path(ibdev, "iommu", path, sizeof(path));
	f = fopen(path, "r");
	if (!f || !fgets(iommu, iommu_len, f))
		die(path);
	fclose(f);
	iommu[strcspn(iommu, "\n")] = 0;
	debugfs_path(ibdev, "oracle", path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(path);
	return fd;
}

struct ctx {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	int oracle;
	int reps;
	int translating;
};

static void bench_path(struct ctx *c, int fd, uint64_t size, const char *layout,
		       uint64_t iova, uint64_t align, int legacy,
		       const char *tag)
{
	uint64_t reg[MAX_REPS], dereg[MAX_REPS], map[MAX_REPS], emit[MAX_REPS], t;
	struct phyrdma_oracle_query q;
	struct phyrdv_mr_attr lay = {};
	struct ibv_mr *mr;
	int i;

	set_legacy(legacy);
	for (i = 0; i < c->reps; i++) {
		t = now_ns();
		mr = ibv_reg_dmabuf_mr(c->pd, 0, size, iova, fd,
				       IBV_ACCESS_LOCAL_WRITE);
		reg[i] = now_ns() - t;
		if (!mr)
			die("ibv_reg_dmabuf_mr");
		memset(&q, 0, sizeof(q));
		q.key = mr->lkey;
		if (ioctl(c->oracle, PHYRDMA_ORACLE_QUERY, &q))
			die("oracle query");
		map[i] = q.map_ns;
		emit[i] = q.emit_ns;
		if (i == 0) {
			errno = phyrdv_query_mr(mr, &lay, sizeof(lay));
			if (errno)
				die("phyrdv_query_mr");
		}
		t = now_ns();
		if (ibv_dereg_mr(mr))
			die("ibv_dereg_mr");
		dereg[i] = now_ns() - t;
	}
	printf("path=%s size=%" PRIu64 " layout=%s iova=%s iova_align=%" PRIu64
	       " page_size=%llu mtt_entries=%llu iommu_page=%llu"
	       " scratch_bytes=%llu iova_bytes=%llu reg_us=%.1f dereg_us=%.1f"
	       " map_us=%.1f emit_us=%.1f\n",
	       legacy ? "legacy" : "phyr", size, layout, tag, align,
	       1ULL << q.page_shift, (unsigned long long)q.mtt_entries,
	       (unsigned long long)lay.iommu_page_size,
	       (unsigned long long)q.scratch_bytes,
	       (unsigned long long)q.iova_bytes, median(reg, c->reps) / 1e3,
	       median(dereg, c->reps) / 1e3, median(map, c->reps) / 1e3,
	       median(emit, c->reps) / 1e3);
	fflush(stdout);
}

static void bench_floor(struct ctx *c, int fd, uint64_t size, const char *layout)
{
	uint64_t link[MAX_REPS], destroy[MAX_REPS];
	struct phyrdma_oracle_link_floor f;
	int i;

	for (i = 0; i < c->reps; i++) {
		memset(&f, 0, sizeof(f));
		f.fd = fd;
		f.len = size;
		if (ioctl(c->oracle, PHYRDMA_ORACLE_LINK_FLOOR, &f))
			die("oracle link floor");
		link[i] = f.link_ns;
		destroy[i] = f.destroy_ns;
	}
	printf("path=floor size=%" PRIu64 " layout=%s runs=%llu iova_bytes=%llu"
	       " reg_us=%.1f dereg_us=%.1f\n", size, layout,
	       (unsigned long long)f.runs, (unsigned long long)f.iova_bytes,
	       median(link, c->reps) / 1e3, median(destroy, c->reps) / 1e3);
	fflush(stdout);
}

static void bench_size(struct ctx *c, uint64_t size)
{
	static const struct {
		const char *name;
		int order;
	} layouts[] = { { "4k-scattered", 0 }, { "2m-folios", 9 }, { "bar", -1 } };
	static const uint64_t aligns[] = { 2 * MiB, 4096 };
	struct phyrdv_dmabuf_advice adv;
	unsigned int l, a;
	int fd, legacy;

	for (l = 0; l < 3; l++) {
		if (layouts[l].order < 0) {
			fd = bar_create(size);
			if (fd < 0) {
				printf("# layout=bar size=%" PRIu64 ": no GPU or no room\n",
				       size);
				continue;
			}
		} else {
			fd = ram_create(size, layouts[l].order, PHYR_RAM_SHUFFLE);
		}
		for (a = 0; a < 2; a++) {
			/* aligned to exactly this much, not more */
			uint64_t iova = 0x7f0000200000ULL +
					(aligns[a] == 4096 ? 4096 : 0);

			for (legacy = 0; legacy < 2; legacy++)
				bench_path(c, fd, size, layouts[l].name, iova,
					   aligns[a], legacy, "fixed");
		}
		/* where the verbs extension advises: both sides' large pages */
		errno = phyrdv_advise_dmabuf(c->ctx, fd, 0, size, &adv,
					     sizeof(adv));
		if (errno)
			die("phyrdv_advise_dmabuf");
		if (adv.flags & PHYRDV_ADVICE_LAYOUT) {
			uint64_t iova = (0x7f0000000000ULL / adv.iova_align + 1) *
					adv.iova_align + adv.iova_offset;

			bench_path(c, fd, size, layouts[l].name, iova,
				   adv.iova_align, 0, "advised");
		}
		if (c->translating)
			bench_floor(c, fd, size, layouts[l].name);
		close(fd);
	}
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'G': case 'g': return v * GiB;
	case 'M': case 'm': return v * MiB;
	case 'K': case 'k': return v * 1024;
	default: return v;
	}
}

/* ---- bw: the data path with each kind of memory -------------------------- */

enum mem_kind { MEM_PLAIN, MEM_PHYR, MEM_PHYR_2M, MEM_LEGACY, MEM_KINDS };

static const char *const mem_names[MEM_KINDS] = {
	[MEM_PLAIN] = "plain", [MEM_PHYR] = "phyr-4k",
	[MEM_PHYR_2M] = "phyr-2m", [MEM_LEGACY] = "legacy-4k",
};

struct bw_side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	int oracle;
	uint8_t port;
	int gid_index;
	union ibv_gid gid;
	/* the buffer of the current memory kind */
	struct ibv_mr *mr;
	void *plain;
	int fd;
	uint64_t base;		/* its first address in the MR */
	uint64_t recvs;		/* receives posted since the QP was created */
	uint64_t recvs_done;	/* and completed */
};

#define BW_IOVA 0x7f0000000000ULL

static void bw_open(struct bw_side *s, const char *name, int depth)
{
	char iommu[32];

	s->ctx = pv_open_device(name);
	if (!s->ctx)
		die(name);
	s->port = 1;
	s->pd = ibv_alloc_pd(s->ctx);
	if (!s->pd)
		die("ibv_alloc_pd");
	s->cq = ibv_create_cq(s->ctx, 2 * depth, NULL, NULL, 0);
	if (!s->cq)
		die("ibv_create_cq");
	if (pv_find_ipv4_gid(s->ctx, s->port, &s->gid_index, &s->gid))
		die("no RoCE v2 IPv4 GID");
	s->oracle = open_oracle(name, iommu, sizeof(iommu));
	s->fd = -1;
}

/* A fresh RC QP on @s: every run starts with empty queues. */
static void bw_qp(struct bw_side *s, int depth)
{
	struct ibv_qp_init_attr ia = { 0 };

	ia.send_cq = s->cq;
	ia.recv_cq = s->cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = depth;
	ia.cap.max_recv_wr = depth;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	s->qp = ibv_create_qp(s->pd, &ia);
	if (!s->qp)
		die("ibv_create_qp");
	s->recvs = s->recvs_done = 0;
}

static void bw_qp_destroy(struct bw_side *s)
{
	struct ibv_wc wc[16];

	if (ibv_destroy_qp(s->qp))
		die("ibv_destroy_qp");
	/* what the run left in the CQ (receives of the last messages) */
	while (ibv_poll_cq(s->cq, 16, wc) > 0)
		;
}

static void bw_connect(struct bw_side *s, const struct bw_side *peer)
{
	struct pv_rc_conn c = {
		.port = s->port, .sgid_index = s->gid_index, .dgid = peer->gid,
		.dest_qpn = peer->qp->qp_num,
		.access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
		.mtu = IBV_MTU_4096, .rd_atomic = 16,
		.timeout = 14, .retry_cnt = 7, .rnr_retry = 7,
	};

	if (pv_rc_connect(s->qp, &c))
		die("connect RC QP");
}

/* Give @s a buffer of @len bytes of kind @k; return its device page size. */
static uint64_t bw_mem(struct bw_side *s, enum mem_kind k, uint64_t len)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ;
	struct phyrdma_oracle_query q = { 0 };

	if (k == MEM_PLAIN) {
		/* what perftest's malloc gives: 4 KiB pages */
		s->plain = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s->plain == MAP_FAILED)
			die("mmap");
		madvise(s->plain, len, MADV_NOHUGEPAGE);
		memset(s->plain, 0, len);
		s->mr = ibv_reg_mr(s->pd, s->plain, len, access);
		s->base = (uintptr_t)s->plain;
	} else {
		s->fd = ram_create(len, k == MEM_PHYR_2M ? 9 : 0, PHYR_RAM_SHUFFLE);
		set_legacy(k == MEM_LEGACY);
		s->mr = ibv_reg_dmabuf_mr(s->pd, 0, len, BW_IOVA, s->fd, access);
		set_legacy(0);
		s->base = BW_IOVA;
	}
	if (!s->mr)
		die(mem_names[k]);
	q.key = s->mr->lkey;
	if (ioctl(s->oracle, PHYRDMA_ORACLE_QUERY, &q))
		die("oracle query");
	if (k != MEM_PLAIN && q.path != (k == MEM_LEGACY ? PHYRDMA_ORACLE_PATH_LEGACY :
					 PHYRDMA_ORACLE_PATH_PHYR)) {
		errno = EPROTO;
		die("registered on the other path");
	}
	return 1ULL << q.page_shift;
}

static void bw_mem_free(struct bw_side *s, uint64_t len)
{
	if (ibv_dereg_mr(s->mr))
		die("ibv_dereg_mr");
	if (s->plain)
		munmap(s->plain, len);
	if (s->fd >= 0)
		close(s->fd);
	s->plain = NULL;
	s->fd = -1;
}

static void bw_post_recv(struct bw_side *s, uint64_t addr, uint32_t len)
{
	struct ibv_sge sge = { .addr = addr, .length = len, .lkey = s->mr->lkey };
	struct ibv_recv_wr wr = { .sg_list = &sge, .num_sge = 1 }, *bad;

	errno = ibv_post_recv(s->qp, &wr, &bad);
	if (errno)
		die("ibv_post_recv");
	s->recvs++;
}

/*
 * Poll @cq: count receive completions in *@recvs; return the wr_id of the
 * last send completion (the number of send WRs done), or 0.
 */
static uint64_t bw_poll(struct ibv_cq *cq, int *recvs)
{
	struct ibv_wc wc[16];
	uint64_t done = 0;
	int n, i;

	n = ibv_poll_cq(cq, 16, wc);
	if (n < 0)
		die("ibv_poll_cq");
	for (i = 0; i < n; i++) {
		if (wc[i].status != IBV_WC_SUCCESS) {
			fprintf(stderr, "phyrdma-bench: completion: %s\n",
				ibv_wc_status_str(wc[i].status));
			exit(1);
		}
		if (wc[i].opcode & IBV_WC_RECV)
			(*recvs)++;
		else
			done = wc[i].wr_id;
	}
	return done;
}

#define BW_SIGNAL 16	/* every 16th send WR is signaled, and the last */

/* @iters messages of @size from @a to @b; return MiB/s. */
static double bw_run(struct bw_side *a, struct bw_side *b, enum ibv_wr_opcode op,
		     uint64_t size, uint64_t slots, uint64_t iters, int depth)
{
	struct ibv_sge sge = { .length = size, .lkey = a->mr->lkey };
	struct ibv_send_wr wr = { 0 }, *bad;
	uint64_t posted = 0, done = 0, n, t;
	int recvs = 0;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.wr.rdma.rkey = b->mr->rkey;
	/* the receive queue holds @depth: what a run before left, and more */
	while (op == IBV_WR_SEND && b->recvs < b->recvs_done + depth)
		bw_post_recv(b, b->base + (b->recvs % slots) * size, size);
	t = now_ns();
	while (done < iters) {
		while (posted < iters && posted - done < (uint64_t)depth) {
			sge.addr = a->base + (posted % slots) * size;
			wr.wr.rdma.remote_addr = b->base + (posted % slots) * size;
			posted++;
			wr.wr_id = posted;
			wr.send_flags = posted % BW_SIGNAL == 0 || posted == iters ?
					IBV_SEND_SIGNALED : 0;
			errno = ibv_post_send(a->qp, &wr, &bad);
			if (errno)
				die("ibv_post_send");
		}
		/* a completion stands for the unsignaled WRs before it too */
		n = bw_poll(a->cq, &recvs);
		if (n > done)
			done = n;
		if (op != IBV_WR_SEND)
			continue;
		/* keep the responder's receive queue full */
		do {
			recvs = 0;
			bw_poll(b->cq, &recvs);
			b->recvs_done += recvs;
			for (n = 0; n < (uint64_t)recvs; n++)
				bw_post_recv(b, b->base + (b->recvs % slots) * size,
					     size);
		} while (recvs);
	}
	t = now_ns() - t;
	return (double)size * iters / (t / 1e9) / (1 << 20);
}

static double bw_floor(uint64_t size, uint64_t iters)
{
	static const char *path = "/sys/kernel/debug/phyrdma/memcpy_floor";
	unsigned long long s, i, ns;
	FILE *f = fopen(path, "w");

	if (!f || fprintf(f, "%" PRIu64 " %" PRIu64 "\n", size,
			  iters > 100000 ? 100000 : iters) < 0 || fclose(f))
		die(path);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu %llu %llu", &s, &i, &ns) != 3)
		die(path);
	fclose(f);
	return (double)s * i / (ns / 1e9) / (1 << 20);
}

static int cmd_bw(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum ibv_wr_opcode op;
	} ops[] = { { "write", IBV_WR_RDMA_WRITE }, { "read", IBV_WR_RDMA_READ },
		    { "send", IBV_WR_SEND } };
	const char *dev_a = "phyrdma0", *dev_b = "phyrdma1";
	uint64_t size = 65536, iters = 2000, cycle = 2 * MiB, len, slots, pa, pb;
	struct bw_side a = { 0 }, b = { 0 };
	int depth = 128, opt, k;
	unsigned int o;

	optind = 2;
	while ((opt = getopt(argc, argv, "c:d:D:s:n:t:")) != -1) {
		switch (opt) {
		case 'd': dev_a = optarg; break;
		case 'D': dev_b = optarg; break;
		case 's': size = parse_size(optarg); break;
		case 'n': iters = strtoull(optarg, NULL, 0); break;
		case 't': depth = atoi(optarg); break;
		case 'c': cycle = parse_size(optarg); break;
		default: return 2;
		}
	}
	if (!size || size > 4 * MiB || !iters || depth < BW_SIGNAL || depth > 1024) {
		fprintf(stderr, "phyrdma-bench bw: size 1..4M, iters > 0, depth 16..1024\n");
		return 2;
	}
	/* cycle through CYCLE bytes of slots (at least one message) */
	if (cycle < size)
		cycle = size;
	if (cycle > 64 * MiB) {
		fprintf(stderr, "phyrdma-bench bw: cycle at most 64M\n");
		return 2;
	}
	len = (cycle + 2 * MiB - 1) & ~(2 * MiB - 1);
	slots = cycle / size;
	bw_open(&a, dev_a, depth);
	bw_open(&b, dev_b, depth);
	printf("# %s -> %s size=%" PRIu64 " iters=%" PRIu64 " depth=%d cycle=%" PRIu64 "\n",
	       dev_a, dev_b, size, iters, depth, slots * size);
	for (o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
		for (k = 0; k < MEM_KINDS; k++) {
			pa = bw_mem(&a, k, len);
			pb = bw_mem(&b, k, len);
			bw_qp(&a, depth);
			bw_qp(&b, depth);
			bw_connect(&a, &b);
			bw_connect(&b, &a);
			/* warm up: the first pass pays for what is cold */
			bw_run(&a, &b, ops[o].op, size, slots, slots, depth);
			printf("op=%s mem=%s size=%" PRIu64 " iters=%" PRIu64
			       " mib_s=%.1f page_size=%" PRIu64 "\n", ops[o].name,
			       mem_names[k], size, iters,
			       bw_run(&a, &b, ops[o].op, size, slots, iters, depth),
			       pa < pb ? pa : pb);
			fflush(stdout);
			bw_qp_destroy(&a);
			bw_qp_destroy(&b);
			bw_mem_free(&a, len);
			bw_mem_free(&b, len);
		}
	}
	printf("op=floor size=%" PRIu64 " iters=%" PRIu64 " mib_s=%.1f\n", size,
	       iters, bw_floor(size, iters));
	return 0;
}

/* ---- slices: many MRs over one buffer ----------------------------------- */

/* A gauge of the device's, as "rdma statistic" shows it. */
static long long counter(const char *ibdev, const char *name)
{
	long long v;

	if (pv_rdma_statistic(ibdev, 1, name, &v))
		die(name);
	return v;
}

static uint64_t rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

static void bench_slices(struct ibv_pd *pd, const char *dev, const char *mode,
			 uint64_t size, int nmrs, uint64_t len, int cycles)
{
	uint64_t *reg = calloc(nmrs, sizeof(*reg)), seed = 0x9e3779b97f4a7c15ULL;
	struct ibv_mr **mrs = calloc(nmrs, sizeof(*mrs));
	long long mtt = 0, iova = 0;
	int fd, held, err = 0, i, first;
	uint64_t t, off, slots = (size - len) / 4096 + 1;
	double rate;

	if (!reg || !mrs)
		die("calloc");
	set_legacy(!strcmp(mode, "legacy"));
	set_param("share_imports", strcmp(mode, "alone") ? "1" : "0");
	fd = ram_create(size, 9, PHYR_RAM_SHUFFLE);
	for (held = 0; held < nmrs; held++) {
		off = rnd(&seed) % slots * 4096;
		t = now_ns();
		mrs[held] = ibv_reg_dmabuf_mr(pd, off, len,
					      0x10000000000ULL + off, fd,
					      IBV_ACCESS_LOCAL_WRITE);
		reg[held] = now_ns() - t;
		if (!mrs[held]) {
			err = errno;
			break;
		}
	}
	if (held) {
		mtt = counter(dev, "mtt_entries");
		iova = counter(dev, "iova_bytes");
	}
	first = held < 64 ? held : 64;
	printf("mode=%s size=%" PRIu64 " len=%" PRIu64 " held=%d fail_errno=%d"
	       " first64_us=%.1f last64_us=%.1f mtt_entries=%lld iova_bytes=%lld",
	       mode, size, len, held, err,
	       first ? median(reg, first) / 1e3 : 0.0,
	       first ? median(reg + held - first, first) / 1e3 : 0.0,
	       mtt, iova);
	for (i = 0; i < held; i++)
		if (ibv_dereg_mr(mrs[i]))
			die("ibv_dereg_mr");
	t = now_ns();
	for (i = 0; i < cycles; i++) {
		struct ibv_mr *mr;

		off = rnd(&seed) % slots * 4096;
		mr = ibv_reg_dmabuf_mr(pd, off, len, 0x10000000000ULL + off, fd,
				       IBV_ACCESS_LOCAL_WRITE);
		if (!mr)
			die("ibv_reg_dmabuf_mr (cycles)");
		if (ibv_dereg_mr(mr))
			die("ibv_dereg_mr");
	}
	rate = cycles ? cycles / ((now_ns() - t) / 1e9) : 0;
	printf(" cycles_per_s=%.0f\n", rate);
	fflush(stdout);
	close(fd);
	free(reg);
	free(mrs);
}

static int cmd_slices(int argc, char **argv)
{
	static const char *const modes[] = { "shared", "alone", "legacy" };
	uint64_t size = 512 * MiB, len = 64 * 1024;
	const char *dev = "phyrdma0";
	int nmrs = 4096, cycles = 2000, opt;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	unsigned int m;

	optind = 2;
	while ((opt = getopt(argc, argv, "d:s:n:l:c:")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 's': size = parse_size(optarg); break;
		case 'n': nmrs = atoi(optarg); break;
		case 'l': len = parse_size(optarg); break;
		case 'c': cycles = atoi(optarg); break;
		default: return 2;
		}
	}
	if (nmrs <= 0 || !len || len > size || cycles < 0)
		return 2;
	ctx = pv_open_device(dev);
	if (!ctx)
		die(dev);
	pd = ibv_alloc_pd(ctx);
	if (!pd)
		die("ibv_alloc_pd");
	printf("# device=%s buffer=%" PRIu64 " of 2 MiB folios, MRs of %" PRIu64
	       " bytes\n", dev, size, len);
	for (m = 0; m < 3; m++)
		bench_slices(pd, dev, modes[m], size, nmrs, len, cycles);
	set_legacy(0);
	set_param("share_imports", "1");
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	return 0;
}

/* The GPU with the largest BAR, or @want; its BAR size in @bar. */
static int gpu_open(const char *want, uint64_t *bar)
{
	struct phyr_mmio_info info;
	int best = -1, fd, i;
	char path[32];

	*bar = 0;
	for (i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), "/dev/phyr_mmio%d", i);
		fd = open(want ? want : path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			if (want)
				die(want);
			continue;
		}
		memset(&info, 0, sizeof(info));
		info.fd = -1;
		if (ioctl(fd, PHYR_MMIO_IOC_INFO, &info))
			die("PHYR_MMIO_IOC_INFO");
		if (info.bar_size > *bar) {
			if (best >= 0)
				close(best);
			best = fd;
			*bar = info.bar_size;
		} else {
			close(fd);
		}
		if (want)
			break;
	}
	if (best < 0)
		die("no GPU (phyr_mmio)");
	return best;
}

static void scale_row(struct ctx *c, const char *dev, const char *path,
		      int fd, uint64_t size, uint64_t align, int reps)
{
	uint64_t reg[MAX_REPS], dereg[MAX_REPS], t;
	uint64_t iova = 0x100000000000ULL + (align == 4096 ? 4096 : 0);
	struct phyrdma_oracle_query q = {};
	struct phyrdv_mr_attr lay = {};
	long long mtt_pages = 0, base;
	struct ibv_mr *mr;
	int i, err = 0;

	base = counter(dev, "mtt_pages");
	for (i = 0; i < reps; i++) {
		t = now_ns();
		mr = ibv_reg_dmabuf_mr(c->pd, 0, size, iova, fd,
				       IBV_ACCESS_LOCAL_WRITE |
				       IBV_ACCESS_REMOTE_WRITE);
		reg[i] = now_ns() - t;
		if (!mr) {
			err = errno;
			break;
		}
		if (i == 0) {
			q.key = mr->lkey;
			if (ioctl(c->oracle, PHYRDMA_ORACLE_QUERY, &q))
				die("oracle query");
			errno = phyrdv_query_mr(mr, &lay, sizeof(lay));
			if (errno)
				die("phyrdv_query_mr");
			mtt_pages = counter(dev, "mtt_pages") - base;
		}
		t = now_ns();
		if (ibv_dereg_mr(mr))
			die("ibv_dereg_mr");
		dereg[i] = now_ns() - t;
	}
	if (err) {
		printf("path=%s size=%" PRIu64 " iova_align=%" PRIu64
		       " fail_errno=%d reg_us=%.1f\n", path, size, align, err,
		       reg[i] / 1e3);
		fflush(stdout);
		return;
	}
	printf("path=%s size=%" PRIu64 " iova_align=%" PRIu64
	       " page_size=%llu mtt_entries=%llu mtt_bytes=%lld iommu_page=%llu"
	       " iova_bytes=%llu reg_us=%.1f dereg_us=%.1f fail_errno=0\n",
	       path, size, align, 1ULL << q.page_shift,
	       (unsigned long long)q.mtt_entries, mtt_pages * 4096,
	       (unsigned long long)lay.iommu_page_size,
	       (unsigned long long)q.iova_bytes, median(reg, reps) / 1e3,
	       median(dereg, reps) / 1e3);
	fflush(stdout);
}

static int cmd_scale(int argc, char **argv)
{
	const char *dev = "phyrdma0", *want = NULL;
	uint64_t bar, size, max = ~0ULL;
	struct phyr_mmio_create req;
	struct ctx c = { .reps = 3 };
	struct ibv_mr *anchor;
	char iommu[32], keep[32];
	int gpu, fd, opt, a;

	optind = 2;
	while ((opt = getopt(argc, argv, "d:g:r:m:")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'g': want = optarg; break;
		case 'r': c.reps = atoi(optarg); break;
		case 'm': max = parse_size(optarg); break;
		default: return 2;
		}
	}
	if (c.reps <= 0 || c.reps > MAX_REPS)
		return 2;
	c.ctx = pv_open_device(dev);
	if (!c.ctx)
		die(dev);
	c.pd = ibv_alloc_pd(c.ctx);
	if (!c.pd)
		die("ibv_alloc_pd");
	c.oracle = open_oracle(dev, iommu, sizeof(iommu));
	gpu = gpu_open(want, &bar);
	printf("# device=%s iommu=%s gpu_bar=%" PRIu64 "\n", dev, iommu, bar);
	get_param("import_keep_ms", keep, sizeof(keep));
	set_param("share_imports", "1");
	for (size = GiB; size <= bar && size <= max; size *= 2) {
		memset(&req, 0, sizeof(req));
		req.size = size;
		if (ioctl(gpu, PHYR_MMIO_IOC_CREATE, &req))
			die("PHYR_MMIO_IOC_CREATE");
		fd = req.fd;
		for (a = 0; a < 2; a++) {
			uint64_t align = a ? 4096 : size;

			set_legacy(0);
			set_param("import_keep_ms", "0");
			scale_row(&c, dev, "import", fd, size, align, c.reps);
			/* an MR that holds the import: the next are keys */
			anchor = ibv_reg_dmabuf_mr(c.pd, 0, 4096, 0, fd,
						   IBV_ACCESS_LOCAL_WRITE);
			if (!anchor)
				die("ibv_reg_dmabuf_mr (anchor)");
			scale_row(&c, dev, "key", fd, size, align, c.reps);
			if (ibv_dereg_mr(anchor))
				die("ibv_dereg_mr");
			set_legacy(1);
			scale_row(&c, dev, "legacy", fd, size, align,
				  a && size >= 16 * GiB ? 1 : c.reps);
		}
		close(fd);
	}
	set_legacy(0);
	set_param("import_keep_ms", keep);
	close(gpu);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	close(c.oracle);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t sizes[16];
	int nsizes = 0, opt, i;
	const char *dev = "phyrdma0";
	struct ctx c = { .reps = 0 };
	char iommu[32];

	if (argc >= 2 && !strcmp(argv[1], "bw"))
		return cmd_bw(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "slices"))
		return cmd_slices(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "scale"))
		return cmd_scale(argc, argv);
	if (argc < 2 || strcmp(argv[1], "reg")) {
		fprintf(stderr, "usage: %s reg [-d DEVICE] [-s SIZE]... [-r REPS]\n"
			"       %s bw [-d DEVICE] [-D DEVICE] [-s SIZE] [-n ITERS] [-t DEPTH] [-c CYCLE]\n"
			"       %s slices [-d DEVICE] [-s SIZE] [-n MRS] [-l LEN] [-c CYCLES]\n"
			"       %s scale [-d DEVICE] [-g GPU] [-r REPS] [-m MAX]\n",
			argv[0], argv[0], argv[0], argv[0]);
		return 2;
	}
	optind = 2;
	while ((opt = getopt(argc, argv, "d:s:r:")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 's':
			if (nsizes < 16)
				sizes[nsizes++] = parse_size(optarg);
			break;
		case 'r': c.reps = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!nsizes) {
		sizes[nsizes++] = 4 * MiB;
		sizes[nsizes++] = 64 * MiB;
		sizes[nsizes++] = GiB;
	}
	if (c.reps < 0 || c.reps > MAX_REPS)
		c.reps = MAX_REPS;

	c.ctx = pv_open_device(dev);
	if (!c.ctx)
		die(dev);
	c.pd = ibv_alloc_pd(c.ctx);
	if (!c.pd)
		die("ibv_alloc_pd");
	c.oracle = open_oracle(dev, iommu, sizeof(iommu));
	c.translating = !strcmp(iommu, "translating");
	printf("# device=%s iommu=%s\n", dev, iommu);

	for (i = 0; i < nsizes; i++) {
		int reps = c.reps;

		if (!reps)
			c.reps = sizes[i] >= GiB ? 3 : sizes[i] >= 64 * MiB ? 5 : 11;
		bench_size(&c, sizes[i]);
		c.reps = reps;
	}
	set_legacy(0);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	close(c.oracle);
	return 0;
}
