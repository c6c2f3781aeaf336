/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phyrdma: an RDMA driver that registers memory from physical range lists.
 *
 * The verbs layer (this header, main.c, verbs.c, stats.c, debugfs.c) implements
 * struct ib_device_ops and translates to the device layer in hw/.
 */
#ifndef PHYRDMA_H
#define PHYRDMA_H

#include <linux/atomic.h>
#include <linux/pci.h>
#include <rdma/ib_verbs.h>
#include <phyr/phyr_dma.h>
#include <phyr/phyr_import.h>
#include <phyr/phyr_user.h>
#include <rdma/uverbs_ioctl.h>

#include "hw/hw.h"

#define PHYRDMA_DRV_NAME	"phyrdma"
#define PHYRDMA_PORT		1

/*
 * Objects the driver holds for userspace.  Each must be back to zero when a
 * device is removed; anything else is a leak and is reported as one.  These,
 * the stats below and the layers' own counts are named once, in stats.c,
 * where "rdma statistic" shows them all.
 */
enum phyrdma_counter {
	PHYRDMA_CNT_UCONTEXTS,
	PHYRDMA_CNT_PDS,
	PHYRDMA_CNT_MRS,
	PHYRDMA_CNT_ATTACHMENTS,
	PHYRDMA_CNT_PINNED_PAGES,
	PHYRDMA_CNT_MTT_ENTRIES,
	PHYRDMA_CNT_IOVA_BYTES,
	PHYRDMA_CNT_CQS,
	PHYRDMA_CNT_QPS,
	PHYRDMA_CNT_AHS,
	PHYRDMA_CNT_MMAPS,
	PHYRDMA_CNT_SRQS,
	PHYRDMA_CNT_MWS,
	PHYRDMA_CNT_MCAST,
	PHYRDMA_CNT_IMPORTS,
	PHYRDMA_CNT_MAX,
};

/* Work done since load: statistics, never expected to return to zero. */
enum phyrdma_stat {
	PHYRDMA_STAT_REG_PHYR,
	PHYRDMA_STAT_REG_LEGACY,
	PHYRDMA_STAT_REG_ODP,
	PHYRDMA_STAT_RUNS_LINKED,
	PHYRDMA_STAT_SYNCS,
	PHYRDMA_STAT_BLOCKS,
	PHYRDMA_STAT_IOVA_REALIGNED,
	PHYRDMA_STAT_REG_P2P,
	PHYRDMA_STAT_REVOKES,
	PHYRDMA_STAT_REG_SHARED,
	PHYRDMA_STAT_IMPORT_FALLBACKS,
	PHYRDMA_STAT_MAX,
};

struct phyrdma_dev {
	struct ib_device ibdev;
	struct pci_dev *pdev;
	struct phyrdma_hw hw;
	/* dma-bufs imported once, shared by every MR over them (mr.c) */
	struct phyr_importer importer;
	/* the RoCE port's Ethernet function */
	struct net_device *netdev;
	atomic64_t counters[PHYRDMA_CNT_MAX];
	atomic64_t stats[PHYRDMA_STAT_MAX];
	struct dentry *debugfs;
	/* changes with every bring-up (and so with every IOMMU domain) */
	u32 dma_generation;
};

/*
 * Everything a context creates on the device is charged to the process
 * (accounted allocations) and bounded here, so that a process gets ENOMEM
 * long before the machine runs short.
 */
/**
 * struct phyrdma_ucontext - one process's open device
 * @ibucontext: the core's part; first, as INIT_RDMA_OBJ_SIZE() requires
 * @queue_bytes: ring bytes its queues hold, bounded by max_ctx_queue_bytes
 * @qps: its QPs, bounded by max_qp
 * @cqs: its CQs
 * @lock_lock: protects @locked_bytes and @locked_pages
 * @locked_bytes: kernel memory its MRs and windows hold (phyrdma_memlock_charge())
 * @locked_pages: of the owner's user->locked_vm, what @locked_bytes was
 *	charged as: @locked_bytes rounded up to pages
 * @user: the owner, whose locked_vm is charged
 */
struct phyrdma_ucontext {
	struct ib_ucontext ibucontext;
	atomic64_t queue_bytes;
	atomic_t qps;
	atomic_t cqs;
	spinlock_t lock_lock;		/* guards locked_bytes and locked_pages */
	u64 locked_bytes;
	unsigned long locked_pages;
	struct user_struct *user;
};

/* A ring a process maps: freed when the last reference to it goes. */
struct phyrdma_mmap_entry {
	struct rdma_user_mmap_entry rdma_entry;
	struct phyrdma_dev *dev;
	struct phyrdma_ucontext *uctx;
	struct phyrdma_hw_ring ring;
};

struct phyrdma_cq {
	struct ib_cq ibcq;
	struct phyrdma_hw_cq hw;
	struct phyrdma_ucontext *uctx;
	struct rdma_user_mmap_entry *mmap;
	spinlock_t poll_lock;	/* kernel consumers */
};

struct phyrdma_qp {
	struct ib_qp ibqp;
	struct phyrdma_hw_qp hw;
	struct phyrdma_ucontext *uctx;
	struct mutex mutex;	/* modify/query */
	struct ib_qp_attr attr;	/* as last modified, for query */
	struct ib_qp_cap cap;
	int sq_sig_type;
	/* kernel consumers' producer indices */
	spinlock_t sq_lock;		/* guards sq_prod: posters of sends */
	u32 sq_prod;
	spinlock_t rq_lock;		/* guards rq_prod: posters of receives */
	u32 rq_prod;
	struct rdma_user_mmap_entry *sq_mmap;
	struct rdma_user_mmap_entry *rq_mmap;
};

struct phyrdma_srq {
	struct ib_srq ibsrq;
	struct phyrdma_hw_srq hw;
	struct phyrdma_ucontext *uctx;
	struct rdma_user_mmap_entry *mmap;
	spinlock_t lock;	/* kernel consumers' producer */
	u32 prod;
	u32 max_wr;
};

struct phyrdma_ah {
	struct ib_ah ibah;
	struct phyrdma_av av;
};

struct phyrdma_pd {
	struct ib_pd ibpd;
	u32 pdn;
};

enum phyrdma_mr_source {
	PHYRDMA_MR_SRC_USER = 1,
	PHYRDMA_MR_SRC_DMABUF = 2,
	PHYRDMA_MR_SRC_DMA = 3,
};

/**
 * struct phyrdma_mr_report - how an MR was laid out, for the oracle
 * @path: enum phyrdma_mr_path
 * @source: enum phyrdma_mr_source
 * @page_size: the MTT's block size
 * @mtt_entries: leaf entries
 * @mtt_pages: table pages, all levels
 * @mtt_levels: levels
 * @iova_bytes: IOVA the MR's mapping holds (0 without a translating IOMMU)
 * @iova_waste: of those, bytes beyond the pages the MR touches
 * @scratch_bytes: memory allocated to carry addresses to the MTT
 * @runs: DMA-mapped pieces (linked runs, or sg entries)
 * @syncs: IOTLB syncs made when mapping
 * @dma_first: DMA address of the MR's first byte
 * @mem_kinds: enum phyrdma_mem_kind bits of the memory
 * @p2p_type: enum phyrdma_p2p_type
 * @iommu_page_size: largest IOMMU page the mapping can use (0 without one)
 * @map_ns: phyr path: the mapper's reserve, link and sync, timed
 * @emit_ns: phyr path: streaming the blocks into the MTT, timed
 */
struct phyrdma_mr_report {
	u32 path;
	u32 source;
	u64 page_size;
	u64 mtt_entries;
	u64 mtt_pages;
	u64 mtt_levels;
	u64 iova_bytes;
	u64 iova_waste;
	u64 scratch_bytes;
	u64 runs;
	u64 syncs;
	u64 dma_first;
	u32 mem_kinds;
	u32 p2p_type;
	u64 iommu_page_size;
	u64 map_ns;
	u64 emit_ns;
};

/*
 * An MR's state is two facts with two writers, which is why it is not one
 * enum (docs/design.md, "An MR's state"):
 *
 * @revoked: the key is invalid for good, the exporter having taken the
 *	memory back or dereg having revoked the MR itself.  Only dma-buf MRs
 *	set it, always under the buffer's reservation lock (the exporter's
 *	revoke runs under it, and dereg takes it for its own); query_mr
 *	reads it with READ_ONCE().
 * @dying: the owner is done with it: dereg has begun, or registration
 *	failed.  Set once, by the owner, before dereg takes the reservation
 *	lock; an exporter's revoke reads it (READ_ONCE()) only to know that
 *	it is not counted as the exporter's.
 *
 * What the MR holds is one flag per resource, each set by registration
 * and cleared by whoever releases the resource: @live (@key taken in the
 * device's MR table), @iova_counted, @mapped, @pinned and @keyed.  A
 * dma-buf MR's mapping, pin and key on its import are released under the
 * buffer's reservation lock, which registration holds from mapping to
 * enabling the key; every other change happens in registration or dereg,
 * which ib_uverbs serialises for one MR.
 */
struct phyrdma_mr {
	struct ib_mr ibmr;
	struct phyrdma_dev *dev;
	int source;
	/* as registered, for rereg */
	u64 user_start;
	u64 user_length;
	u64 user_iova;
	int access;
	int path;
	bool hinted;		/* registered with the extension's hints */
	bool writable;
	/* its state */
	bool revoked;
	bool dying;
	/* what it holds */
	u32 key;
	bool live;		/* @key is taken in the device's MR table */
	bool iova_counted;	/* report.iova_bytes is in the IOVA counter */
	u32 page_shift;
	struct phyrdma_hw_mtt mtt;
	struct phyrdma_mr_report report;
	/* phyr path */
	bool mapped;
	struct phyr_dma_map map;
	/* dma-buf through the phyr path */
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	const struct phyr *dphyr;
	bool pinned;
	/* user memory through the phyr path */
	struct phyr_user user;
	/* a key over its dma-buf's shared import, at @mtt_offset in its table */
	struct phyr_import *import;
	struct phyr_import_key import_key;
	bool keyed;		/* @import_key is on the import's list */
	u64 mtt_offset;
	/* legacy path */
	struct ib_umem *umem;
	/* on demand: nothing pinned, leaves written as pages fault in */
	struct ib_umem_odp *odp;
	/* what it holds in the kernel, charged to its context's owner */
	struct phyrdma_ucontext *uctx;
	u64 locked_bytes;
};

/*
 * Read a driver request, { comp_mask, reserved } so far, under the ABI's
 * min(size) rule (phyrdma-abi.h): a shorter one, down to none, is
 * zero-padded; bytes past ours must be zero; no comp_mask bit is known
 * yet (EOPNOTSUPP), and reserved must be zero (EINVAL).
 */
#define phyrdma_udata_in(udata, req)					\
	({								\
		struct ib_udata *__udata = (udata);			\
		typeof(req) *__req = &(req);				\
		int __ret = _ib_copy_validate_udata_in(__udata, __req,	\
						      sizeof(*__req), 0); \
		if (!__ret && __req->comp_mask)				\
			__ret = _ib_copy_validate_udata_cm_fail(__udata, \
						__req->comp_mask, 0);	\
		if (!__ret && __req->reserved)				\
			__ret = -EINVAL;				\
		__ret;							\
	})

static inline struct phyrdma_mr *to_pmr(struct ib_mr *ibmr)
{
	return container_of(ibmr, struct phyrdma_mr, ibmr);
}

static inline struct phyrdma_dev *to_pdev(struct ib_device *ibdev)
{
	return container_of(ibdev, struct phyrdma_dev, ibdev);
}

static inline struct phyrdma_pd *to_ppd(struct ib_pd *ibpd)
{
	return container_of(ibpd, struct phyrdma_pd, ibpd);
}

static inline struct phyrdma_cq *to_pcq(struct ib_cq *ibcq)
{
	return container_of(ibcq, struct phyrdma_cq, ibcq);
}

static inline struct phyrdma_qp *to_pqp(struct ib_qp *ibqp)
{
	return container_of(ibqp, struct phyrdma_qp, ibqp);
}

static inline struct phyrdma_srq *to_psrq(struct ib_srq *ibsrq)
{
	return container_of(ibsrq, struct phyrdma_srq, ibsrq);
}

static inline struct phyrdma_ah *to_pah(struct ib_ah *ibah)
{
	return container_of(ibah, struct phyrdma_ah, ibah);
}

static inline struct phyrdma_ucontext *to_puctx(struct ib_ucontext *ibuctx)
{
	return ibuctx ? container_of(ibuctx, struct phyrdma_ucontext, ibucontext) : NULL;
}

static inline void phyrdma_count(struct phyrdma_dev *dev,
				 enum phyrdma_counter c, long delta)
{
	atomic64_add(delta, &dev->counters[c]);
}

static inline void phyrdma_stat(struct phyrdma_dev *dev, enum phyrdma_stat s,
				u64 delta)
{
	atomic64_add(delta, &dev->stats[s]);
}

extern const struct ib_device_ops phyrdma_dev_ops;

struct ib_mr *phyrdma_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
				  u64 iova, int access, struct ib_dmah *dmah,
				  struct ib_udata *udata);
struct ib_mr *phyrdma_reg_user_mr_dmabuf(struct ib_pd *ibpd, u64 offset,
					 u64 length, u64 iova, int fd,
					 int access, struct ib_dmah *dmah,
					 struct uverbs_attr_bundle *attrs);
int phyrdma_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata);

void phyrdma_odp_caps(struct ib_device_attr *attr);
void phyrdma_odp_init(struct phyrdma_dev *dev);
int phyrdma_odp_reg(struct phyrdma_mr *mr);
void phyrdma_odp_release(struct phyrdma_mr *mr);
int phyrdma_advise_mr(struct ib_pd *ibpd, enum ib_uverbs_advise_mr_advice advice,
		      u32 flags, struct ib_sge *sg_list, u32 num_sge,
		      struct uverbs_attr_bundle *attrs);
struct ib_mr *phyrdma_get_dma_mr(struct ib_pd *ibpd, int access);
int phyrdma_alloc_mw(struct ib_mw *ibmw, struct ib_udata *udata);
int phyrdma_dealloc_mw(struct ib_mw *ibmw);

struct phyrdma_mw {
	struct ib_mw ibmw;
	struct phyrdma_ucontext *uctx;
	u64 locked_bytes;
};

struct ib_mr *phyrdma_rereg_user_mr(struct ib_mr *ibmr, int flags, u64 start,
				    u64 length, u64 iova, int access,
				    struct ib_pd *pd, struct ib_udata *udata);
void phyrdma_mr_fill_report(void *priv, void *arg);

/* queues */
int phyrdma_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		      struct uverbs_attr_bundle *attrs);
int phyrdma_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata);
int phyrdma_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc);
void phyrdma_cq_clean(struct phyrdma_cq *cq, u32 qpn);
int phyrdma_resize_user_cq(struct ib_cq *ibcq, unsigned int cqe,
			   struct ib_udata *udata);
int phyrdma_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags);
int phyrdma_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		      struct ib_udata *udata);
int phyrdma_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		      struct ib_udata *udata);
int phyrdma_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		     struct ib_qp_init_attr *init);
int phyrdma_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata);
int phyrdma_attach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid);
int phyrdma_detach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid);
int phyrdma_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		      const struct ib_send_wr **bad_wr);
int phyrdma_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		      const struct ib_recv_wr **bad_wr);
int phyrdma_ring_post_recv(struct phyrdma_hw_ring *ring, u32 *prod, u32 max_sge,
			   const struct ib_recv_wr *wr,
			   const struct ib_recv_wr **bad_wr);
int phyrdma_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		       struct ib_udata *udata);
int phyrdma_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		       enum ib_srq_attr_mask mask, struct ib_udata *udata);
int phyrdma_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr);
int phyrdma_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata);
int phyrdma_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
			  const struct ib_recv_wr **bad_wr);
int phyrdma_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
		      struct ib_udata *udata);
int phyrdma_query_ah(struct ib_ah *ibah, struct rdma_ah_attr *attr);
int phyrdma_destroy_ah(struct ib_ah *ibah, u32 flags);
int phyrdma_mmap(struct ib_ucontext *ibuctx, struct vm_area_struct *vma);
void phyrdma_mmap_free(struct rdma_user_mmap_entry *rdma_entry);
size_t phyrdma_ring_unexpose(struct rdma_user_mmap_entry *mmap, size_t size);
int phyrdma_ring_expose(struct phyrdma_dev *dev, struct phyrdma_ucontext *uctx,
			struct phyrdma_hw_ring *ring,
			struct rdma_user_mmap_entry **out, u64 *offset);
int phyrdma_charge(struct phyrdma_ucontext *uctx, size_t bytes);
int phyrdma_memlock_charge(struct phyrdma_ucontext *uctx, u64 bytes,
			   u64 *charged);
void phyrdma_memlock_uncharge(struct phyrdma_ucontext *uctx, u64 charged);
void phyrdma_uncharge(struct phyrdma_ucontext *uctx, size_t bytes);
extern const struct uapi_definition phyrdma_uapi_defs[];
extern const struct uapi_definition phyrdma_ext_uapi_defs[];

/* ---- the verbs extension (ext.c, and its registration side in mr.c) ---- */

u64 phyrdma_mr_default_iova_waste(void);
u32 phyrdma_slice_kinds(const struct phyr_slice *slice);
int phyrdma_mr_advise(struct phyrdma_dev *dev, const struct phyr_slice *slice,
		      u64 first, bool bus_addr, u64 bitmap, u64 waste_cap,
		      struct phyr_advice *adv);
int phyrdma_importer_init(struct phyrdma_dev *dev);
int phyrdma_mr_advise_dmabuf(struct phyrdma_dev *dev, int fd, u64 offset,
			     u64 length, struct phyrdma_dmabuf_advice *out);
void phyrdma_mr_layout(struct ib_mr *ibmr, struct phyrdma_mr_layout *out);
int phyrdma_hints_get(struct uverbs_attr_bundle *attrs,
		      struct phyrdma_reg_mr_hints *h);
int phyrdma_hints_put_iova(struct uverbs_attr_bundle *attrs,
			   const struct phyrdma_reg_mr_hints *h, u64 iova);

/* the RoCE port */
int phyrdma_netdev_init(struct phyrdma_dev *dev);
void phyrdma_netdev_fini(struct phyrdma_dev *dev);
void phyrdma_netdev_attach(struct phyrdma_dev *dev, bool attach);

/* what the rdma tool shows (stats.c) */
int phyrdma_fill_res_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr);
struct rdma_hw_stats *phyrdma_alloc_hw_device_stats(struct ib_device *ibdev);
struct rdma_hw_stats *phyrdma_alloc_hw_port_stats(struct ib_device *ibdev,
						  u32 port_num);
int phyrdma_get_hw_stats(struct ib_device *ibdev, struct rdma_hw_stats *stats,
			 u32 port, int index);
void phyrdma_check_leaks(struct phyrdma_dev *dev);

void phyrdma_debugfs_init(void);
void phyrdma_debugfs_cleanup(void);
void phyrdma_debugfs_add_dev(struct phyrdma_dev *dev);
void phyrdma_debugfs_remove_dev(struct phyrdma_dev *dev);

#endif /* PHYRDMA_H */
