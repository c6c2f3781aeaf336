// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libphyrdma: device matching and context set-up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "phyrdma.h"

/*
 * phyrdma is out of tree, so its driver_id is RDMA_DRIVER_UNKNOWN and
 * cannot be matched on: match the PCI function, and the device name for
 * the case where the ib_device is not on PCI.
 */
static const struct verbs_match_ent phyrdma_match_table[] = {
	VERBS_PCI_MATCH(PHYRDMA_PCI_VENDOR_ID, PHYRDMA_PCI_DEVICE_ID, NULL),
	VERBS_NAME_MATCH("phyrdma", NULL),
	{}
};

static void phyrdma_free_context(struct ibv_context *ibvctx);

static const struct verbs_context_ops phyrdma_ctx_ops = {
	.advise_mr = ibv_cmd_advise_mr,
	.alloc_mw = phyrdma_alloc_mw,
	.alloc_pd = phyrdma_alloc_pd,
	.attach_mcast = ibv_cmd_attach_mcast,
	.bind_mw = phyrdma_bind_mw,
	.create_ah = phyrdma_create_ah,
	.create_cq = phyrdma_create_cq,
	.create_cq_ex = phyrdma_create_cq_ex,
	.create_qp = phyrdma_create_qp,
	.create_qp_ex = phyrdma_create_qp_ex,
	.create_srq = phyrdma_create_srq,
	.dealloc_mw = phyrdma_dealloc_mw,
	.dealloc_pd = phyrdma_dealloc_pd,
	.dereg_mr = phyrdma_dereg_mr,
	.destroy_ah = phyrdma_destroy_ah,
	.destroy_cq = phyrdma_destroy_cq,
	.destroy_qp = phyrdma_destroy_qp,
	.destroy_srq = phyrdma_destroy_srq,
	.detach_mcast = ibv_cmd_detach_mcast,
	.free_context = phyrdma_free_context,
	.modify_qp = phyrdma_modify_qp,
	.modify_srq = phyrdma_modify_srq,
	.poll_cq = phyrdma_poll_cq,
	.post_recv = phyrdma_post_recv,
	.post_send = phyrdma_post_send,
	.post_srq_recv = phyrdma_post_srq_recv,
	.query_device_ex = phyrdma_query_device_ex,
	.query_port = phyrdma_query_port,
	.query_qp = phyrdma_query_qp,
	.query_srq = phyrdma_query_srq,
	.reg_dmabuf_mr = phyrdma_reg_dmabuf_mr,
	.reg_mr = phyrdma_reg_mr,
#ifdef PHYRDMA_GENERIC_VERBS
	.query_dma_attr = phyrdma_query_dma_attr,
	.query_dmabuf_layout = phyrdma_query_dmabuf_layout,
	.query_mr_layout = phyrdma_query_mr_layout,
	.reg_mr_ex = phyrdma_reg_mr_ex,
#endif
	.rereg_mr = phyrdma_rereg_mr,
	.req_notify_cq = phyrdma_req_notify_cq,
	.resize_cq = phyrdma_resize_cq,
};

static struct verbs_context *phyrdma_alloc_context(struct ibv_device *ibdev,
						   int cmd_fd,
						   void *private_data)
{
	struct uphyrdma_get_context_resp resp = {};
	struct uphyrdma_get_context cmd = {};
	struct phyrdma_context *ctx;
	int ret;

	ctx = verbs_init_and_alloc_context(ibdev, cmd_fd, ctx, ibvctx,
					   RDMA_DRIVER_UNKNOWN);
	if (!ctx)
		return NULL;

	ret = ibv_cmd_get_context(&ctx->ibvctx, &cmd.ibv_cmd, sizeof(cmd), NULL,
				  &resp.ibv_resp, sizeof(resp));
	if (ret) {
		verbs_err(&ctx->ibvctx, "phyrdma: get_context failed: %d\n", ret);
		goto err_free_ctx;
	}
	ctx->iommu_mode = resp.iommu_mode;
	ctx->page_size_cap = resp.page_size_cap;
	verbs_debug(&ctx->ibvctx, "phyrdma: iommu mode %u, page sizes 0x%llx\n",
		    ctx->iommu_mode, (unsigned long long)ctx->page_size_cap);

	verbs_set_ops(&ctx->ibvctx, &phyrdma_ctx_ops);
	return &ctx->ibvctx;

err_free_ctx:
	verbs_uninit_context(&ctx->ibvctx);
	free(ctx);
	errno = ret;
	return NULL;
}

static void phyrdma_free_context(struct ibv_context *ibvctx)
{
	struct phyrdma_context *ctx = to_pctx(ibvctx);

	verbs_uninit_context(&ctx->ibvctx);
	free(ctx);
}

static struct verbs_device *phyrdma_device_alloc(struct verbs_sysfs_dev *sysfs_dev)
{
	struct phyrdma_device *dev;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	return &dev->vdev;
}

static void phyrdma_uninit_device(struct verbs_device *vdev)
{
	free(container_of(vdev, struct phyrdma_device, vdev));
}

static const struct verbs_device_ops phyrdma_dev_ops = {
	.name = "phyrdma",
	.match_min_abi_version = PHYRDMA_UVERBS_ABI_VERSION,
	.match_max_abi_version = PHYRDMA_UVERBS_ABI_VERSION,
	.match_table = phyrdma_match_table,
	.alloc_device = phyrdma_device_alloc,
	.uninit_device = phyrdma_uninit_device,
	.alloc_context = phyrdma_alloc_context,
};
PROVIDER_DRIVER(phyrdma, phyrdma_dev_ops);

bool phyrdma_is_dev(struct ibv_device *device)
{
	return device && verbs_get_device(device)->ops == &phyrdma_dev_ops;
}
