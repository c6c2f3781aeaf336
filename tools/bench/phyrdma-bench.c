// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * phyrdma-bench: measure memory registration, phyr path against legacy path.
 *
 *   phyrdma-bench reg [-d DEVICE] [-s SIZE]... [-r REPS]
 *
 * For each size, layout (4 KiB pages scattered, 2 MiB folios scattered) and
 * user iova alignment (2 MiB, 4 KiB), registers the same phyr_ram dma-buf
 * through both paths and prints one line per case and path:
 *
 *   path=phyr|legacy size=… layout=… iova_align=… page_size=… mtt_entries=…
 *   scratch_bytes=… iova_bytes=… reg_us=… dereg_us=…
 *
 * then the bare dma_iova_link floor for the same ranges (path=floor, only
 * with a translating IOMMU).  Times are medians over REPS runs.  Sizes and
 * alignments are in bytes.  Needs root (debugfs, module parameters).
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
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <phyr/phyr_ram.h>
#include <rdma/phyrdma-oracle.h>

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

static int open_oracle(const char *ibdev, char *iommu, size_t iommu_len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/device", ibdev);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		die(path);
	link[n] = 0;
	snprintf(path, sizeof(path), "/sys/kernel/debug/phyrdma/%s/iommu",
		 basename(link));
	f = fopen(path, "r");
	if (!f || !fgets(iommu, iommu_len, f))
		die(path);
	fclose(f);
	iommu[strcspn(iommu, "\n")] = 0;
	snprintf(path, sizeof(path), "/sys/kernel/debug/phyrdma/%s/oracle",
		 basename(link));
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
		       uint64_t iova, uint64_t align, int legacy)
{
	uint64_t reg[MAX_REPS], dereg[MAX_REPS], t;
	struct phyrdma_oracle_query q;
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
		if (i == 0) {
			memset(&q, 0, sizeof(q));
			q.key = mr->lkey;
			if (ioctl(c->oracle, PHYRDMA_ORACLE_QUERY, &q))
				die("oracle query");
		}
		t = now_ns();
		if (ibv_dereg_mr(mr))
			die("ibv_dereg_mr");
		dereg[i] = now_ns() - t;
	}
	printf("path=%s size=%" PRIu64 " layout=%s iova_align=%" PRIu64
	       " page_size=%llu mtt_entries=%llu scratch_bytes=%llu"
	       " iova_bytes=%llu reg_us=%.1f dereg_us=%.1f\n",
	       legacy ? "legacy" : "phyr", size, layout, align,
	       1ULL << q.page_shift, (unsigned long long)q.mtt_entries,
	       (unsigned long long)q.scratch_bytes,
	       (unsigned long long)q.iova_bytes, median(reg, c->reps) / 1e3,
	       median(dereg, c->reps) / 1e3);
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
		unsigned int order;
	} layouts[] = { { "4k-scattered", 0 }, { "2m-folios", 9 } };
	static const uint64_t aligns[] = { 2 * MiB, 4096 };
	unsigned int l, a;
	int fd, legacy;

	for (l = 0; l < 2; l++) {
		fd = ram_create(size, layouts[l].order, PHYR_RAM_SHUFFLE);
		for (a = 0; a < 2; a++) {
			/* aligned to exactly this much, not more */
			uint64_t iova = 0x7f0000200000ULL +
					(aligns[a] == 4096 ? 4096 : 0);

			for (legacy = 0; legacy < 2; legacy++)
				bench_path(c, fd, size, layouts[l].name, iova,
					   aligns[a], legacy);
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

int main(int argc, char **argv)
{
	uint64_t sizes[16];
	int nsizes = 0, opt, n, i;
	const char *dev = "phyrdma0";
	struct ibv_device **list;
	struct ctx c = { .reps = 0 };
	char iommu[32];

	if (argc < 2 || strcmp(argv[1], "reg")) {
		fprintf(stderr, "usage: %s reg [-d DEVICE] [-s SIZE]... [-r REPS]\n",
			argv[0]);
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

	list = ibv_get_device_list(&n);
	if (!list)
		die("ibv_get_device_list");
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), dev))
			c.ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
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
