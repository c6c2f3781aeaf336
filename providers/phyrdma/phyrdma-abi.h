/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The commands libphyrdma sends: the core command with the driver's
 * request and response of <rdma/phyrdma-abi.h> laid out behind it.
 */
#ifndef PHYRDMA_PROVIDER_ABI_H
#define PHYRDMA_PROVIDER_ABI_H

#include <infiniband/kern-abi.h>
#include <kernel-abi/phyrdma-abi.h>
#include <rdma/phyrdma-abi.h>

DECLARE_DRV_CMD(uphyrdma_get_context, IB_USER_VERBS_CMD_GET_CONTEXT,
		phyrdma_alloc_ucontext_req, phyrdma_alloc_ucontext_resp);
DECLARE_DRV_CMD(uphyrdma_alloc_pd, IB_USER_VERBS_CMD_ALLOC_PD,
		empty, phyrdma_alloc_pd_resp);
DECLARE_DRV_CMD(uphyrdma_create_cq, IB_USER_VERBS_CMD_CREATE_CQ,
		phyrdma_create_cq_req, phyrdma_create_cq_resp);
DECLARE_DRV_CMD(uphyrdma_create_cq_ex, IB_USER_VERBS_EX_CMD_CREATE_CQ,
		phyrdma_create_cq_req, phyrdma_create_cq_resp);
DECLARE_DRV_CMD(uphyrdma_resize_cq, IB_USER_VERBS_CMD_RESIZE_CQ,
		phyrdma_create_cq_req, phyrdma_create_cq_resp);
DECLARE_DRV_CMD(uphyrdma_create_qp, IB_USER_VERBS_CMD_CREATE_QP,
		phyrdma_create_qp_req, phyrdma_create_qp_resp);
DECLARE_DRV_CMD(uphyrdma_create_srq, IB_USER_VERBS_CMD_CREATE_SRQ,
		phyrdma_create_srq_req, phyrdma_create_srq_resp);

#endif /* PHYRDMA_PROVIDER_ABI_H */
