// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * phyrdma-fi-dmabuf: libfabric's own dma-buf registration between two
 * devices, as an application of libfabric makes it.
 *
 *   phyrdma-fi-dmabuf PROVIDER DOMAIN_A DOMAIN_B HEAP
 *
 * Opens an RDM endpoint on each domain (PROVIDER, e.g. "verbs;ofi_rxm"),
 * takes one buffer from HEAP (a device answering DMA_HEAP_IOCTL_ALLOC),
 * maps it, and registers it on both domains with fi_mr_regattr() and
 * FI_MR_DMABUF (struct fi_mr_dmabuf: the fd, an offset, the length and the
 * mapping's address as base).  Then fi_write() from A into B's
 * registration and fi_read() back, the bytes checked through the mapping.
 * Prints "ok STEP" or "FAIL STEP: why", then "fi-dmabuf: N passed, N
 * failed", and exits 0 when all passed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "verbs_util.h"

#define BUF_SIZE	(4UL << 20)
#define XFER		(512UL << 10)

struct side {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_cq *cq;
	struct fid_av *av;
	struct fid_ep *ep;
	struct fid_mr *mr;
	fi_addr_t peer;
	char name[64];
	size_t namelen;
};

#define CHECK(call) do {						\
	int _r = (call);						\
	if (_r) {							\
		fprintf(stderr, "%s: %s\n", #call, fi_strerror(-_r));	\
		exit(1);						\
	}								\
} while (0)

static void side_open(struct side *s, const char *prov, const char *dom)
{
	struct fi_info *hints = fi_allocinfo();
	struct fi_cq_attr cqa = { .format = FI_CQ_FORMAT_CONTEXT };
	struct fi_av_attr ava = { .type = FI_AV_TABLE };

	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_MSG | FI_RMA;
	hints->mode = FI_CONTEXT;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR |
				      FI_MR_ALLOCATED | FI_MR_PROV_KEY;
	hints->fabric_attr->prov_name = strdup(prov);
	hints->domain_attr->name = strdup(dom);
	CHECK(fi_getinfo(FI_VERSION(1, 20), NULL, NULL, 0, hints, &s->info));
	fi_freeinfo(hints);
	CHECK(fi_fabric(s->info->fabric_attr, &s->fabric, NULL));
	CHECK(fi_domain(s->fabric, s->info, &s->domain, NULL));
	CHECK(fi_cq_open(s->domain, &cqa, &s->cq, NULL));
	CHECK(fi_av_open(s->domain, &ava, &s->av, NULL));
	CHECK(fi_endpoint(s->domain, s->info, &s->ep, NULL));
	CHECK(fi_ep_bind(s->ep, &s->cq->fid, FI_TRANSMIT | FI_RECV));
	CHECK(fi_ep_bind(s->ep, &s->av->fid, 0));
	CHECK(fi_enable(s->ep));
	s->namelen = sizeof(s->name);
	CHECK(fi_getname(&s->ep->fid, s->name, &s->namelen));
}

/* Everything side_open() and reg_dmabuf() opened, in reverse. */
static void side_close(struct side *s)
{
	fi_close(&s->mr->fid);
	fi_close(&s->ep->fid);
	fi_close(&s->av->fid);
	fi_close(&s->cq->fid);
	fi_close(&s->domain->fid);
	fi_close(&s->fabric->fid);
	fi_freeinfo(s->info);
}

static int reg_dmabuf(struct side *s, int fd, void *base)
{
	struct fi_mr_dmabuf dmabuf = {
		.fd = fd, .offset = 0, .len = BUF_SIZE, .base_addr = base,
	};
	struct fi_mr_attr attr = {
		.dmabuf = &dmabuf, .iov_count = 1,
		.access = FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE,
		.iface = FI_HMEM_SYSTEM,
	};

	return fi_mr_regattr(s->domain, &attr, FI_MR_DMABUF, &s->mr);
}

/* Progress both endpoints until @s has one completion. */
static int wait_one(struct side *s, struct side *other)
{
	struct fi_cq_entry e;
	struct fi_cq_err_entry err = {};
	time_t end = time(NULL) + 60;
	ssize_t n;

	while (time(NULL) < end) {
		n = fi_cq_read(s->cq, &e, 1);
		if (n == 1)
			return 0;
		if (n == -FI_EAVAIL) {
			fi_cq_readerr(s->cq, &err, 0);
			fprintf(stderr, "completion error: %s\n",
				fi_strerror(err.err));
			return -err.err;
		}
		if (n != -FI_EAGAIN)
			return (int)n;
		fi_cq_read(other->cq, &e, 0);	/* progress */
	}
	return -FI_ETIMEDOUT;
}

static int xfer(struct side *a, struct side *b, int write, void *local,
		void *remote)
{
	void *desc = fi_mr_desc(a->mr);
	uint64_t key = fi_mr_key(b->mr);
	ssize_t r;

	do {
		r = write ? fi_write(a->ep, local, XFER, desc, a->peer,
				     (uintptr_t)remote, key, NULL) :
			    fi_read(a->ep, local, XFER, desc, a->peer,
				    (uintptr_t)remote, key, NULL);
		if (r == -FI_EAGAIN) {
			struct fi_cq_entry e;

			fi_cq_read(a->cq, &e, 0);
			fi_cq_read(b->cq, &e, 0);
		}
	} while (r == -FI_EAGAIN);
	return r ? (int)r : wait_one(a, b);
}

int main(int argc, char **argv)
{
	struct side a = {}, b = {};
	unsigned char *map;
	int fd, r;
	size_t i;

	if (argc != 5) {
		fprintf(stderr, "usage: %s PROVIDER DOMAIN_A DOMAIN_B HEAP\n",
			argv[0]);
		return 2;
	}
	side_open(&a, argv[1], argv[2]);
	side_open(&b, argv[1], argv[3]);
	if (fi_av_insert(a.av, b.name, 1, &a.peer, 0, NULL) != 1 ||
	    fi_av_insert(b.av, a.name, 1, &b.peer, 0, NULL) != 1) {
		fprintf(stderr, "fi_av_insert failed\n");
		return 1;
	}

	fd = pv_heap_alloc(argv[4], BUF_SIZE);
	if (fd < 0) {
		perror(argv[4]);
		return 1;
	}
	map = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	r = reg_dmabuf(&a, fd, map);
	if (!r)
		r = reg_dmabuf(&b, fd, map);
	pv_check(!r, "regattr", "fi_mr_regattr(FI_MR_DMABUF): %s", fi_strerror(-r));
	if (r)
		return 1;

	for (i = 0; i < XFER; i++) {
		map[i] = (unsigned char)(i * 13 + 5);
		map[XFER + i] = 0;
		map[2 * XFER + i] = 0;
	}
	r = xfer(&a, &b, 1, map, map + XFER);
	pv_check(!r && !memcmp(map, map + XFER, XFER), "fi_write", "%s",
		 r ? fi_strerror(-r) : "bytes differ");

	r = xfer(&a, &b, 0, map + 2 * XFER, map + XFER);
	pv_check(!r && !memcmp(map, map + 2 * XFER, XFER), "fi_read", "%s",
		 r ? fi_strerror(-r) : "bytes differ");

	side_close(&a);
	side_close(&b);
	munmap(map, BUF_SIZE);
	close(fd);
	return pv_summary("fi-dmabuf");
}
