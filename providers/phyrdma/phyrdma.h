/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * libphyrdma: the rdma-core provider for phyrdma devices.
 */
#ifndef PHYRDMA_PROVIDER_H
#define PHYRDMA_PROVIDER_H

#include <pthread.h>
#include <stdbool.h>
#include <infiniband/driver.h>

#include "phyrdma-abi.h"

struct phyrdma_device {
	struct verbs_device vdev;
};

struct phyrdma_context {
	struct verbs_context ibvctx;
	enum phyrdma_iommu_mode iommu_mode;
	uint64_t page_size_cap;
};

/* A ring the kernel mapped for us; @index is our producer or consumer. */
struct phyrdma_ring {
	void *va;
	size_t length;
	struct phyrdma_ring_hdr *hdr;
	uint32_t entries;
	uint32_t log_stride;
	uint32_t index;
};

struct phyrdma_cq {
	struct verbs_cq vcq;
	pthread_spinlock_t lock;
	struct phyrdma_ring ring;
	uint32_t cqn;
	/* the extended poll API: the CQE being looked at */
	struct phyrdma_cqe *cur;
};

struct phyrdma_qp {
	struct verbs_qp vqp;
	pthread_spinlock_t sq_lock;
	pthread_spinlock_t rq_lock;
	struct phyrdma_ring sq;
	struct phyrdma_ring rq;
	enum ibv_qp_type type;
	enum ibv_qp_state state;
	uint32_t max_send_sge;
	uint32_t max_recv_sge;
	uint32_t max_inline;
	/* the extended post API: the WQE being built, and the first error */
	struct phyrdma_send_wqe *cur;
	uint32_t wr_start;
	int wr_err;
};

struct phyrdma_srq {
	struct verbs_srq vsrq;
	pthread_spinlock_t lock;
	struct phyrdma_ring ring;
	uint32_t max_sge;
};

static inline struct phyrdma_srq *to_psrq(struct ibv_srq *ibsrq)
{
	return container_of(ibsrq, struct phyrdma_srq, vsrq.srq);
}

struct phyrdma_ah {
	struct ibv_ah ibah;
	struct phyrdma_av av;
};

static inline struct phyrdma_cq *to_pcq(struct ibv_cq *ibcq)
{
	return container_of(ibcq, struct phyrdma_cq, vcq.cq);
}

static inline struct phyrdma_qp *to_pqp(struct ibv_qp *ibqp)
{
	return container_of(ibqp, struct phyrdma_qp, vqp.qp);
}

static inline struct phyrdma_ah *to_pah(struct ibv_ah *ibah)
{
	return container_of(ibah, struct phyrdma_ah, ibah);
}

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
int phyrdma_rereg_mr(struct verbs_mr *vmr, int flags, struct ibv_pd *pd,
		     void *addr, size_t length, int access);

struct ibv_cq *phyrdma_create_cq(struct ibv_context *context, int cqe,
				 struct ibv_comp_channel *channel,
				 int comp_vector);
int phyrdma_destroy_cq(struct ibv_cq *ibcq);
int phyrdma_poll_cq(struct ibv_cq *ibcq, int num_entries, struct ibv_wc *wc);
int phyrdma_req_notify_cq(struct ibv_cq *ibcq, int solicited_only);
int phyrdma_resize_cq(struct ibv_cq *ibcq, int cqe);
struct ibv_qp *phyrdma_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
int phyrdma_destroy_qp(struct ibv_qp *ibqp);
int phyrdma_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		      int attr_mask);
int phyrdma_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		     int attr_mask, struct ibv_qp_init_attr *init_attr);
int phyrdma_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		      struct ibv_send_wr **bad_wr);
int phyrdma_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr);
struct ibv_ah *phyrdma_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr);
int phyrdma_destroy_ah(struct ibv_ah *ibah);
int phyrdma_sq_publish(struct phyrdma_qp *qp);
struct ibv_srq *phyrdma_create_srq(struct ibv_pd *pd,
				   struct ibv_srq_init_attr *attr);
int phyrdma_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr,
		       int mask);
int phyrdma_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr);
int phyrdma_destroy_srq(struct ibv_srq *ibsrq);
int phyrdma_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
			  struct ibv_recv_wr **bad_wr);
struct ibv_qp *phyrdma_create_qp_ex(struct ibv_context *context,
				    struct ibv_qp_init_attr_ex *attr);
struct ibv_cq_ex *phyrdma_create_cq_ex(struct ibv_context *context,
				       struct ibv_cq_init_attr_ex *attr);
bool phyrdma_send_ops_supported(uint64_t flags);
void phyrdma_fill_bind(struct phyrdma_send_wqe *wqe, uint32_t mw_key,
		       uint32_t new_rkey, const struct ibv_mw_bind_info *info);
struct ibv_mw *phyrdma_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type);
int phyrdma_dealloc_mw(struct ibv_mw *mw);
int phyrdma_bind_mw(struct ibv_qp *ibqp, struct ibv_mw *mw,
		    struct ibv_mw_bind *bind);
void phyrdma_qp_set_ex(struct phyrdma_qp *qp, struct ibv_qp_init_attr_ex *attr);
struct phyrdma_send_wqe *phyrdma_sq_next(struct phyrdma_qp *qp);
bool phyrdma_qp_can_send(struct phyrdma_qp *qp);

bool phyrdma_is_dev(struct ibv_device *device);

struct phyrdv_reg_mr_attr;
/* phyrdv.c: phyrdv_reg_mr(), with the fork protection optional */
struct ibv_mr *phyrdma_reg_mr_hinted(struct ibv_pd *pd, void *addr,
				     size_t length, uint64_t iova, int access,
				     struct phyrdv_reg_mr_attr *attr,
				     uint32_t inlen, bool dontfork);

#ifdef PHYRDMA_GENERIC_VERBS
/* generic.c: the verbs extension as libibverbs verbs (libibverbs/patches) */
int phyrdma_query_dma_attr(struct ibv_context *context,
			   struct ibv_dma_attr *attr, size_t attr_size,
			   struct ibv_iova_range *ranges, uint32_t max_ranges);
int phyrdma_query_dmabuf_layout(struct ibv_context *context, int fd,
				uint64_t offset, size_t length,
				struct ibv_dmabuf_layout *layout,
				size_t layout_size);
int phyrdma_query_mr_layout(struct ibv_mr *mr, struct ibv_mr_layout *layout,
			    size_t layout_size);
struct ibv_mr *phyrdma_reg_mr_ex(struct ibv_pd *pd,
				 struct ibv_mr_init_attr *in);
#endif

#endif /* PHYRDMA_PROVIDER_H */
