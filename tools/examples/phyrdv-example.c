// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * phyrdv-example: an application of the verbs extension (phyrdv.h).
 *
 *   phyrdv-example [-d DEVICE] [-s SIZE_MIB]
 *
 * Learns the device's DMA constraints, asks where to register a dma-buf
 * of scattered 2 MiB folios (from phyr_ram), registers it at the iova a
 * 4 KiB-aligned application would pick and at the advised one, prints
 * what each got, and shows the MRs as "rdma res show mr -dd" does while
 * they are registered.  Creating the buffer needs /dev/phyr_ram (root);
 * everything else works for any user.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <phyr/phyr_ram.h>

#include <infiniband/phyrdv.h>

#define MiB (1ULL << 20)

static void die(const char *what, int err)
{
	fprintf(stderr, "phyrdv-example: %s: %s\n", what, strerror(err));
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static const char *path_name(uint32_t path)
{
	return path == PHYRDV_MR_PATH_PHYR ? "phyr" :
	       path == PHYRDV_MR_PATH_LEGACY ? "legacy" : "odp";
}

static struct ibv_mr *reg(struct ibv_pd *pd, int fd, uint64_t size,
			  uint64_t iova, const char *what)
{
	struct phyrdv_reg_mr_attr attr = {};
	struct phyrdv_mr_attr lay;
	struct ibv_mr *mr;
	double t;
	int err;

	t = now_us();
	mr = phyrdv_reg_dmabuf_mr(pd, 0, size, iova, fd,
				  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
				  &attr, sizeof(attr));
	t = now_us() - t;
	if (!mr)
		die("phyrdv_reg_dmabuf_mr", errno);
	err = phyrdv_query_mr(mr, &lay, sizeof(lay));
	if (err)
		die("phyrdv_query_mr", err);
	printf("  %-9s iova %#-16" PRIx64 " path %s, device pages %" PRIu64
	       " KiB x %" PRIu64 ", IOMMU pages up to %" PRIu64
	       " KiB, IOVA %" PRIu64 " MiB, %.0f us\n", what, lay.iova,
	       path_name(lay.path), lay.page_size >> 10, lay.mtt_entries,
	       lay.iommu_page_size >> 10, lay.iova_bytes >> 20, t);
	return mr;
}

int main(int argc, char **argv)
{
	struct phyr_ram_create req = { .order = 9, .flags = PHYR_RAM_SHUFFLE };
	struct phyrdv_iova_range ranges[8];
	struct phyrdv_dmabuf_advice adv;
	const char *name = "phyrdma0", *mode;
	struct ibv_device **list, *dev = NULL;
	struct ibv_mr *fixed, *advised;
	struct phyrdv_dma_attr da;
	uint64_t size = 256 * MiB;
	struct ibv_context *ctx;
	uint32_t n, gen, i;
	struct ibv_pd *pd;
	char cmd[128];
	int opt, err, ram;

	while ((opt = getopt(argc, argv, "d:s:")) != -1) {
		if (opt == 'd')
			name = optarg;
		else if (opt == 's')
			size = strtoull(optarg, NULL, 0) * MiB;
		else
			return 2;
	}
	list = ibv_get_device_list(NULL);
	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			dev = list[i];
	if (!dev || !phyrdv_is_supported(dev))
		die(name, ENODEV);
	ctx = ibv_open_device(dev);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	if (!pd)
		die("ibv_open_device/ibv_alloc_pd", errno);

	/* 1. what constrains the device's DMA */
	err = phyrdv_query_dma(ctx, &da, sizeof(da));
	if (err)
		die("phyrdv_query_dma", err);
	err = phyrdv_query_iova_ranges(ctx, ranges, 8, &n, &gen);
	if (err)
		die("phyrdv_query_iova_ranges", err);
	mode = da.iommu_mode == PHYRDV_IOMMU_TRANSLATING ? "translating" :
	       da.iommu_mode == PHYRDV_IOMMU_IDENTITY ? "identity" : "none";
	printf("%s: IOMMU %s (page sizes %#" PRIx64 "), device page sizes %#"
	       PRIx64 ", max MR %" PRIu64 " GiB, generation %#x\n", name, mode,
	       da.iommu_page_sizes, da.page_size_cap, da.max_mr_size >> 30, gen);
	for (i = 0; i < n && i < 8; i++)
		printf("  usable IOVA %#" PRIx64 "-%#" PRIx64 "\n",
		       ranges[i].start, ranges[i].last);

	/* 2. a buffer of scattered 2 MiB folios, and advice on it */
	ram = open("/dev/phyr_ram", O_RDWR | O_CLOEXEC);
	req.size = size;
	if (ram < 0 || ioctl(ram, PHYR_RAM_IOC_CREATE, &req))
		die("/dev/phyr_ram", errno);
	close(ram);
	err = phyrdv_advise_dmabuf(ctx, req.fd, 0, size, &adv, sizeof(adv));
	if (err)
		die("phyrdv_advise_dmabuf", err);
	printf("advice for %" PRIu64 " MiB of 2 MiB folios: %s exporter, "
	       "register at iova %% %#" PRIx64 " == %#" PRIx64 ": device pages %"
	       PRIu64 " KiB x %" PRIu64 ", IOMMU pages up to %" PRIu64 " KiB\n",
	       size >> 20, adv.flags & PHYRDV_ADVICE_PHYR ? "phyr" : "foreign",
	       adv.iova_align, adv.iova_offset, adv.page_size >> 10,
	       adv.mtt_entries, adv.iommu_page_size >> 10);

	/* 3. where a 4 KiB-aligned application would register, and advised */
	fixed = reg(pd, req.fd, size, 0x7f0000001000ULL, "4K-aligned");
	advised = reg(pd, req.fd, size,
		      (0x7f0000000000ULL / adv.iova_align + 1) * adv.iova_align +
		      adv.iova_offset, "advised");

	/* 4. the same MRs as the rdma tool shows them */
	printf("rdma res show mr dev %s -dd:\n", name);
	fflush(stdout);
	snprintf(cmd, sizeof(cmd), "rdma res show mr dev %s -dd", name);
	if (system(cmd))
		fprintf(stderr, "phyrdv-example: rdma failed\n");

	ibv_dereg_mr(advised);
	ibv_dereg_mr(fixed);
	close(req.fd);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	return 0;
}
