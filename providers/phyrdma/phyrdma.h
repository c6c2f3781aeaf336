/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * libphyrdma: the rdma-core provider for phyrdma devices.
 */
#ifndef PHYRDMA_PROVIDER_H
#define PHYRDMA_PROVIDER_H

#include <infiniband/driver.h>
#include <rdma/phyrdma-abi.h>

/*
 * The driver-private parts of each command ride behind the core command,
 * laid out as the kernel's udata expects them.
 */
struct phyrdma_get_context_cmd {
	struct ibv_get_context ibv_cmd;
	struct phyrdma_alloc_ucontext_req drv;
};

struct phyrdma_get_context_resp {
	struct ib_uverbs_get_context_resp ibv_resp;
	struct phyrdma_alloc_ucontext_resp drv;
};

struct phyrdma_alloc_pd_cmd_resp {
	struct ib_uverbs_alloc_pd_resp ibv_resp;
	struct phyrdma_alloc_pd_resp drv;
};

struct phyrdma_device {
	struct verbs_device vdev;
};

struct phyrdma_context {
	struct verbs_context ibvctx;
	enum phyrdma_iommu_mode iommu_mode;
	uint64_t page_size_cap;
};

static inline struct phyrdma_context *to_pctx(struct ibv_context *ibvctx)
{
	return container_of(ibvctx, struct phyrdma_context, ibvctx.context);
}

int phyrdma_query_device_ex(struct ibv_context *context,
			    const struct ibv_query_device_ex_input *input,
			    struct ibv_device_attr_ex *attr, size_t attr_size);
int phyrdma_query_port(struct ibv_context *context, uint8_t port,
		       struct ibv_port_attr *attr);
struct ibv_pd *phyrdma_alloc_pd(struct ibv_context *context);
int phyrdma_dealloc_pd(struct ibv_pd *pd);
struct ibv_mr *phyrdma_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			      uint64_t hca_va, int access);
struct ibv_mr *phyrdma_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset,
				     size_t length, uint64_t iova, int fd,
				     int access);
int phyrdma_dereg_mr(struct verbs_mr *vmr);

#endif /* PHYRDMA_PROVIDER_H */
