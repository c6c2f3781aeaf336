// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * phyrdma-phyrdv-abi: the size rules of the verbs extension's structs
 * (phyrdv(7), VERSIONING), which only a caller passing raw sizes reaches:
 * an attribute struct shorter than the library's is EINVAL; a longer
 * output struct gets the library's fields and zeroes past them; a longer
 * input struct must be zero past the library's (EOPNOTSUPP otherwise);
 * unknown flags, memory kinds and comp_mask bits are EOPNOTSUPP and
 * non-zero reserved bytes EINVAL.
 *
 *   phyrdma-phyrdv-abi DEVICE [RAM]
 *
 * DEVICE is a phyrdma device (phyrdma0); the dma-bufs come from the
 * phyr_ram exporter RAM (default /dev/phyr_ram), 2 MiB of 4 KiB folios as
 * the Python tests make them.  Prints "ok NAME" or "FAIL NAME: why" for
 * each case, then "phyrdv-abi: N passed, N failed"; exit status 1 if any
 * failed, 2 if the set-up failed (tests/guest/test_ext.py runs it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <infiniband/phyrdv.h>
#include <infiniband/verbs.h>
#include <phyr/phyr_ram.h>

#include "verbs_util.h"

#define BUF_SIZE	(2u << 20)
#define PAGE		4096u
/* bytes a newer caller's structs have past the library's */
#define DMA_TAIL	64
#define REG_TAIL	16
#define MR_TAIL		32

static void die(const char *what)
{
	fprintf(stderr, "phyrdma-phyrdv-abi: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* A dma-buf of BUF_SIZE bytes from the phyr_ram device @ram, or -1. */
static int ram_create(const char *ram)
{
	struct phyr_ram_create req = { .size = BUF_SIZE, .order = 0 };
	int dev, ret, err;

	dev = open(ram, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -1;
	ret = ioctl(dev, PHYR_RAM_IOC_CREATE, &req);
	err = errno;
	close(dev);
	errno = err;
	return ret ? -1 : req.fd;
}

static bool all_zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* A call expected to fail with @want: say what it did instead. */
static void expect_errno(const char *name, int got, int want)
{
	pv_check(got == want, name, "errno %d (%s), want %d (%s)", got,
		 strerror(got), want, strerror(want));
}

/*
 * A newer caller's longer output struct, filled by @ret = the call: the
 * library's fields as a call with its own size fills them (@full), and
 * zeroes past them.
 */
static void expect_long_out(const char *name, int ret, const void *longer,
			    int ret_full, const void *full, size_t size,
			    size_t tail)
{
	if (ret || ret_full)
		pv_check(0, name, "returned %d with %zu bytes, %d with %zu",
			 ret, size + tail, ret_full, size);
	else if (memcmp(longer, full, size))
		pv_check(0, name, "fields differ from the library's own size's");
	else
		pv_check(all_zero((const unsigned char *)longer + size, tail),
			 name, "bytes past the library's struct not zeroed");
}

/* phyrdv_query_dma(): short EINVAL, long zero-padded */
static void check_query_dma(struct ibv_context *ctx)
{
	union {
		struct phyrdv_dma_attr a;
		unsigned char b[sizeof(struct phyrdv_dma_attr) + DMA_TAIL];
	} u;
	struct phyrdv_dma_attr full;
	int ret, ret_full;

	memset(&u, 0, sizeof(u));
	ret = phyrdv_query_dma(ctx, &u.a, sizeof(u.a) - 4);
	expect_errno("query_dma_short", ret, EINVAL);

	memset(&u, 0xa5, sizeof(u));
	ret = phyrdv_query_dma(ctx, &u.a, sizeof(u));
	ret_full = phyrdv_query_dma(ctx, &full, sizeof(full));
	expect_long_out("query_dma_long", ret, &u, ret_full, &full,
			sizeof(full), DMA_TAIL);
}

/* phyrdv_advise_dmabuf(): 8 bytes of the struct are EINVAL */
static void check_advise(struct ibv_context *ctx, int fd)
{
	struct phyrdv_dmabuf_advice adv = {};
	int ret;

	ret = phyrdv_advise_dmabuf(ctx, fd, 0, PAGE, &adv, 8);
	expect_errno("advise_dmabuf_short", ret, EINVAL);
}

/*
 * Register the whole dma-buf with @inlen bytes of @attr: 0 (the MR
 * deregistered again) or the errno.
 */
static int reg(struct ibv_pd *pd, int fd, struct phyrdv_reg_mr_attr *attr,
	       uint32_t inlen)
{
	struct ibv_mr *mr;
	int ret;

	errno = 0;
	mr = phyrdv_reg_dmabuf_mr(pd, 0, BUF_SIZE, 0, fd,
				  IBV_ACCESS_LOCAL_WRITE, attr, inlen);
	if (!mr)
		return errno ? errno : -1;
	ret = ibv_dereg_mr(mr);
	if (ret)
		die("ibv_dereg_mr");
	return 0;
}

/* phyrdv_reg_dmabuf_mr(): what the library and the kernel refuse */
static void check_reg_attr(struct ibv_pd *pd, int fd)
{
	union {
		struct phyrdv_reg_mr_attr a;
		unsigned char b[sizeof(struct phyrdv_reg_mr_attr) + REG_TAIL];
	} u;
	const uint32_t full = sizeof(u.a);
	struct ibv_mr *mr;

	memset(&u, 0, sizeof(u));
	u.a.flags = 1u << 20;
	expect_errno("reg_unknown_flag", reg(pd, fd, &u.a, full), EOPNOTSUPP);

	memset(&u, 0, sizeof(u));
	u.a.comp_mask = 1;
	expect_errno("reg_comp_mask", reg(pd, fd, &u.a, full), EOPNOTSUPP);

	memset(&u, 0, sizeof(u));
	u.a.mem_allowed = 1u << 9;
	expect_errno("reg_unknown_mem_kind", reg(pd, fd, &u.a, full),
		     EOPNOTSUPP);

	memset(&u, 0, sizeof(u));
	expect_errno("reg_short", reg(pd, fd, &u.a, full - 8), EINVAL);

	memset(&u, 0, sizeof(u));
	u.a.reserved[0] = 1;
	expect_errno("reg_reserved", reg(pd, fd, &u.a, full), EINVAL);

	/* a longer struct from a newer caller: zeroes past ours are fine ... */
	memset(&u, 0, sizeof(u));
	errno = 0;
	mr = phyrdv_reg_dmabuf_mr(pd, 0, BUF_SIZE, 0, fd,
				  IBV_ACCESS_LOCAL_WRITE, &u.a, sizeof(u));
	pv_check(!!mr, "reg_long_zero_tail", "errno %d (%s)", errno,
		 strerror(errno));
	if (mr && ibv_dereg_mr(mr))
		die("ibv_dereg_mr");

	/* ... anything else is a request this library cannot honour */
	memset(&u, 0, sizeof(u));
	u.b[full + 3] = 1;
	expect_errno("reg_long_nonzero_tail", reg(pd, fd, &u.a, sizeof(u)),
		     EOPNOTSUPP);
}

/* phyrdv_query_mr(): short EINVAL, long zero-padded */
static void check_query_mr(struct ibv_pd *pd, int fd)
{
	union {
		struct phyrdv_mr_attr a;
		unsigned char b[sizeof(struct phyrdv_mr_attr) + MR_TAIL];
	} u;
	struct phyrdv_mr_attr full;
	struct ibv_mr *mr;
	int ret, ret_full;

	/* without hints (NULL, 0), as ibv_reg_dmabuf_mr() */
	mr = phyrdv_reg_dmabuf_mr(pd, 0, BUF_SIZE, 0, fd,
				  IBV_ACCESS_LOCAL_WRITE, NULL, 0);
	if (!mr) {
		pv_check(0, "query_mr_short", "no MR: %s", strerror(errno));
		pv_check(0, "query_mr_long", "no MR: %s", strerror(errno));
		return;
	}

	memset(&u, 0, sizeof(u));
	ret = phyrdv_query_mr(mr, &u.a, sizeof(u.a) - 8);
	expect_errno("query_mr_short", ret, EINVAL);

	memset(&u, 0xa5, sizeof(u));
	ret = phyrdv_query_mr(mr, &u.a, sizeof(u));
	ret_full = phyrdv_query_mr(mr, &full, sizeof(full));
	expect_long_out("query_mr_long", ret, &u, ret_full, &full,
			sizeof(full), MR_TAIL);

	if (ibv_dereg_mr(mr))
		die("ibv_dereg_mr");
}

int main(int argc, char **argv)
{
	const char *ram = "/dev/phyr_ram";
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	int fd;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: phyrdma-phyrdv-abi DEVICE [RAM]\n");
		return 2;
	}
	if (argc == 3)
		ram = argv[2];
	ctx = pv_open_device(argv[1]);
	if (!ctx)
		die(argv[1]);
	if (!phyrdv_is_supported(ctx->device)) {
		fprintf(stderr, "phyrdma-phyrdv-abi: %s is not a phyrdma device\n",
			argv[1]);
		return 2;
	}
	pd = ibv_alloc_pd(ctx);
	if (!pd)
		die("ibv_alloc_pd");
	fd = ram_create(ram);
	if (fd < 0)
		die(ram);

	check_query_dma(ctx);
	check_advise(ctx, fd);
	check_reg_attr(pd, fd);
	check_query_mr(pd, fd);

	close(fd);
	if (ibv_dealloc_pd(pd))
		die("ibv_dealloc_pd");
	ibv_close_device(ctx);
	return pv_summary("phyrdv-abi");
}
