/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phyrdma device layer: the emulated RDMA hardware.
 *
 * The verbs layer talks to the device only through the functions and the
 * plain parameter/result structures declared here; nothing in hw/ knows an
 * ib_* type.  The device is a QEMU "edu" PCI function: its BAR 0 gives us an
 * identification register and a liveness register to prove the function is
 * there and answering; everything else the "hardware" does is emulated by
 * this layer against the function's real DMA view (its IOMMU domain).
 */
#ifndef PHYRDMA_HW_H
#define PHYRDMA_HW_H

#include <linux/types.h>
#include <linux/idr.h>
#include <linux/sizes.h>
#include <linux/bits.h>
#include <linux/mutex.h>
#include <linux/xarray.h>
#include <linux/spinlock.h>
#include <linux/refcount.h>
#include <linux/completion.h>
#include <linux/workqueue.h>
#include <linux/list.h>
#include <linux/scatterlist.h>

#include <rdma/phyrdma-abi.h>

struct device;
struct iommu_domain;

#include "mtt_layout.h"

/* edu BAR 0 registers */
#define PHYRDMA_HW_REG_ID		0x00
#define PHYRDMA_HW_REG_LIVENESS		0x04
#define PHYRDMA_HW_BAR0_LEN		0x100

/* The identification register reads 0xMMmm00ed for version MM.mm. */
#define PHYRDMA_HW_ID_MAGIC_MASK	GENMASK(15, 0)
#define PHYRDMA_HW_ID_MAGIC		0x00ed
#define PHYRDMA_HW_ID_MAJOR		GENMASK(31, 24)
#define PHYRDMA_HW_ID_MINOR		GENMASK(23, 16)

/*
 * The engine reaches a peer's BAR through I/O mappings of this size, each
 * made when something first lands in it: a BAR of hundreds of GiB mapped
 * whole would take that much vmalloc space and, with KASAN, an eighth of it
 * in shadow memory.  An access never crosses a page, so never a slot.
 */
#define PHYRDMA_HW_WINDOW_SLOT		SZ_64M

/* Limits of the emulated device. */
#define PHYRDMA_HW_MAX_PD		BIT(16)
/*
 * Page sizes the page-table format can express: 4 KiB ... 512 GiB, so that
 * a GPU BAR of hundreds of GiB is one or two entries (the policy never
 * takes a size larger than the smallest one that covers the MR).
 */
#define PHYRDMA_HW_PAGE_SIZE_CAP	GENMASK_ULL(39, 12)
#define PHYRDMA_HW_MAX_MSG_SZ		SZ_1G
/*
 * MR table: a key's upper 24 bits are its entry's index, the low 8 a
 * variant that changes each time an index is handed out again (and that a
 * memory window's rebind may change), as an mkey's "key" byte does.
 */
#define PHYRDMA_HW_MR_INDEX_BITS	24
#define PHYRDMA_HW_MR_VARIANT_BITS	8
#define PHYRDMA_HW_MAX_MR		(BIT(PHYRDMA_HW_MR_INDEX_BITS) - 1)
#define phyrdma_hw_key_index(key)	((u32)(key) >> PHYRDMA_HW_MR_VARIANT_BITS)
#define phyrdma_hw_key(index, variant)	\
	((u32)(index) << PHYRDMA_HW_MR_VARIANT_BITS | (u8)(variant))
#define PHYRDMA_HW_MAX_MR_SIZE		BIT_ULL(40)
#define PHYRDMA_HW_MAX_QP		4096
#define PHYRDMA_HW_MAX_CQ		8192
#define PHYRDMA_HW_GID_TBL_LEN		16
/* the largest UD message: the port's MTU */
#define PHYRDMA_HW_UD_MTU		4096
/* The multicast group table: groups per port, QPs attached to one group. */
#define PHYRDMA_HW_MAX_MCG		256
/* peer BARs the fabric routes the device's DMA to */
#define PHYRDMA_HW_MAX_WINDOWS		16
#define PHYRDMA_HW_MCG_QPS		16
/* A UD send to this destination QP number goes to a multicast group. */
#define PHYRDMA_HW_MCAST_QPN		0xffffff
#define PHYRDMA_HW_MAX_RD_ATOMIC	16
/* the key of the kernel's local DMA lkey: SGE addresses are DMA addresses */
#define PHYRDMA_HW_LOCAL_DMA_LKEY	0

/* MR access rights the device checks */
#define PHYRDMA_HW_ACCESS_LOCAL_WRITE	BIT(0)
#define PHYRDMA_HW_ACCESS_REMOTE_READ	BIT(1)
#define PHYRDMA_HW_ACCESS_REMOTE_WRITE	BIT(2)
#define PHYRDMA_HW_ACCESS_REMOTE_ATOMIC	BIT(3)
#define PHYRDMA_HW_ACCESS_FLUSH_GLOBAL	BIT(4)
#define PHYRDMA_HW_ACCESS_FLUSH_PERSISTENT BIT(5)
#define PHYRDMA_HW_ACCESS_MW_BIND	BIT(6)

/* What an MR table entry is. */
enum phyrdma_hw_key_kind {
	PHYRDMA_HW_KEY_MR,
	PHYRDMA_HW_KEY_MW1,	/* memory window type 1: bound with ibv_bind_mw */
	PHYRDMA_HW_KEY_MW2,	/* type 2: bound and invalidated by WRs */
};

struct phyrdma_hw_caps {
	u32 vendor_id;
	u32 part_id;
	u32 hw_rev;		/* the raw identification register */
	u64 fw_ver;		/* PHYRDMA_FW_VER(major, minor) */
	u64 page_size_cap;
	u32 max_pd;
	u32 max_msg_sz;
	u32 max_mr;
	u64 max_mr_size;
	u32 max_qp;
	u32 max_cq;
	u32 max_mcg;		/* multicast groups */
	u32 mcg_qps;		/* QPs attached to one group */
};

/**
 * struct phyrdma_hw_mtt - one MTT, in memory the device reads by DMA
 * @layout: its shape
 * @nr_entries: leaf entries in use
 * @pages: every table page, leaves first (see struct phyrdma_mtt_layout)
 */
struct phyrdma_hw_mtt {
	struct phyrdma_mtt_layout layout;
	u64 nr_entries;
	struct phyrdma_hw_mtt_page {
		__le64 *va;
		dma_addr_t dma;
	} *pages;
};

/**
 * struct phyrdma_hw_mr_params - an MR as the MR table records it
 * @pdn: protection domain
 * @iova: device virtual address of the first byte
 * @length: bytes
 * @access: PHYRDMA_HW_ACCESS_*
 * @page_shift: log2 of the MTT's block size
 * @mtt_offset: where @iova is in the MTT: block k of the table covers table
 *	addresses [k << @page_shift, (k + 1) << @page_shift), and byte @iova + x
 *	of the MR is at table address @mtt_offset + x.  A table of its own
 *	starts the MR in its first block (@iova's offset in a block); a key
 *	over a shared table starts wherever its slice is, so that its page
 *	size does not depend on @iova (the page offset of a NIC's memory key)
 * @on_demand: leaf entries may be absent or read-only; an access that meets
 *	one raises a page fault (&phyrdma_hw.page_fault) instead of an error
 */
struct phyrdma_hw_mr_params {
	u32 pdn;
	u64 iova;
	u64 length;
	u32 access;
	u32 page_shift;
	u64 mtt_offset;
	bool on_demand;
};

/**
 * struct phyrdma_hw_mr_entry - what the device reads from the MR table
 * @key: lkey and rkey
 * @params: as registered
 * @levels: MTT levels
 * @root: DMA address of the MTT's root page
 * @valid: usable
 * @priv: the verbs layer's object, for its own queries
 * @kind: enum phyrdma_hw_key_kind
 * @parent: for a bound window, the key of its MR
 * @mw_pdn: for a window, its own PD (@params.pdn is the bound range's)
 * @odp_priv: for an on-demand MR and the windows bound into it, what the
 *	page-fault handler is given (the MR's @priv)
 * @bound_windows: for an MR, how many windows are bound into it
 * @users: the table's reference and one per engine access in flight
 * @idle: completed when the last engine access ends after disable
 */
struct phyrdma_hw_mr_entry {
	u32 key;
	struct phyrdma_hw_mr_params params;
	u32 levels;
	dma_addr_t root;
	bool valid;
	void *priv;
	u8 kind;
	u32 parent;
	u32 mw_pdn;
	void *odp_priv;
	atomic_t bound_windows;
	refcount_t users;
	struct completion idle;
};

/**
 * struct phyrdma_hw - one emulated device
 * @dma_dev: the device DMA is done for (the PCI function)
 * @regs: BAR 0
 * @caps: what the device reports, filled at init
 * @iommu_mode: what a DMA address means to this device, probed at init
 * @pd_ida: protection-domain numbers in use; the IDA has its own lock
 * @domain: the IOMMU domain DMA goes through, for the engine's translation
 * @mr_lock: serialises MR table updates against the engine
 * @mrs: the MR table, index -> struct phyrdma_hw_mr_entry
 * @mr_variant: low byte of the next key
 * @mtt_pages: table pages allocated, for the leak check
 * @qps: QP number -> struct phyrdma_hw_qp; lookups under its lock
 * @cq_ida: CQ numbers in use
 * @srq_ida: SRQ numbers in use
 * @wq: the engine's workers
 * @gid_lock: protects @gids
 * @gids: the port's address table, programmed by the verbs layer
 * @mac: the port's MAC address
 * @mcg_lock: protects @mcgs
 * @mcgs: the multicast group table, %PHYRDMA_HW_MAX_MCG entries: a group
 *	with no QP attached is free
 * @fabric_node: on the fabric's list of ports
 * @fabric_id: this port's number on the fabric
 * @stats: what the engine did, since init
 * @queue_bytes: bytes of the rings allocated and not yet freed, for the
 *	leak check
 * @windows: the peer BARs DMA can reach (the fabric's routes), found at
 *	init: CPU and bus address, length, whether a common switch routes
 *	them by bus address (before the IOMMU), and the engine's I/O mapping
 * @nr_windows: entries in @windows
 * @page_fault: the driver's handler for the device's page faults on
 *	on-demand MRs: make [@va, @va + @len) of the MR behind @odp_priv
 *	present (writable if @write) in its MTT, or return an errno
 */
struct phyrdma_hw {
	struct device *dma_dev;
	void __iomem *regs;
	struct phyrdma_hw_caps caps;
	enum phyrdma_iommu_mode iommu_mode;
	struct ida pd_ida;
	struct iommu_domain *domain;
	struct mutex mr_lock;	/* MR table vs. the engine */
	struct xarray mrs;
	u8 mr_variant;
	atomic64_t mtt_pages;
	struct xarray qps;
	struct ida cq_ida;
	struct ida srq_ida;
	struct workqueue_struct *wq;
	spinlock_t gid_lock;	/* the address table */
	struct phyrdma_hw_gid {
		u8 raw[16];
		bool valid;
	} gids[PHYRDMA_HW_GID_TBL_LEN];
	u8 mac[6];
	spinlock_t mcg_lock;	/* the multicast group table */
	struct phyrdma_hw_mcg {
		u8 mgid[16];
		u32 nr_qps;
		u32 qpn[PHYRDMA_HW_MCG_QPS];
	} *mcgs;
	struct list_head fabric_node;
	u32 fabric_id;
	struct phyrdma_hw_stats {
		atomic64_t wqes;
		atomic64_t bytes;
		atomic64_t cqes;
		atomic64_t doorbells;
		atomic64_t rnr_retries;
		atomic64_t timeouts;
		atomic64_t ud_dropped;
		atomic64_t page_faults;
		atomic64_t invalidations;
	} stats;
	atomic64_t queue_bytes;
	int (*page_fault)(void *odp_priv, u64 va, u64 len, bool write);
	struct phyrdma_hw_window {
		phys_addr_t phys;
		dma_addr_t bus;
		u64 len;
		bool by_bus;
		/* I/O mappings of PHYRDMA_HW_WINDOW_SLOT bytes, on first use */
		void __iomem **slots;
		struct mutex lock;	/* making a slot's mapping */
	} windows[PHYRDMA_HW_MAX_WINDOWS];
	u32 nr_windows;
};

int phyrdma_hw_init(struct phyrdma_hw *hw, struct device *dma_dev,
		    void __iomem *regs);
void phyrdma_hw_fini(struct phyrdma_hw *hw);
bool phyrdma_hw_bus_routed(struct phyrdma_hw *hw, dma_addr_t dma);
const char *phyrdma_hw_iommu_mode_name(enum phyrdma_iommu_mode mode);

struct phyrdma_hw_alloc_pd_result {
	u32 pdn;
};

int phyrdma_hw_alloc_pd(struct phyrdma_hw *hw,
			struct phyrdma_hw_alloc_pd_result *result);
void phyrdma_hw_dealloc_pd(struct phyrdma_hw *hw, u32 pdn);

int phyrdma_hw_mtt_alloc(struct phyrdma_hw *hw, u64 nr_entries,
			 struct phyrdma_hw_mtt *mtt);
void phyrdma_hw_mtt_free(struct phyrdma_hw *hw, struct phyrdma_hw_mtt *mtt);

/* Leaf entry @index, in the CPU's view of the table. */
static inline __le64 *phyrdma_hw_mtt_leaf(struct phyrdma_hw_mtt *mtt, u64 index)
{
	return &mtt->pages[index >> PHYRDMA_MTT_PER_PAGE_SHIFT]
		.va[index & (PHYRDMA_MTT_PER_PAGE - 1)];
}

/* Write leaf entry @index: the block at DMA address @addr. */
static inline void phyrdma_hw_mtt_set(struct phyrdma_hw_mtt *mtt, u64 index,
				      dma_addr_t addr)
{
	*phyrdma_hw_mtt_leaf(mtt, index) = cpu_to_le64((u64)addr | PHYRDMA_MTT_VALID);
}

/*
 * On-demand MRs: the driver writes leaf entries as pages become present and
 * zaps them when they go.  phyrdma_hw_mtt_zap() returns only once no engine
 * access can still be using an address it removed, as a device's
 * invalidation command completes only after its in-flight DMA.
 */
static inline void phyrdma_hw_mtt_set_odp(struct phyrdma_hw_mtt *mtt, u64 index,
					  dma_addr_t addr, bool writable)
{
	WRITE_ONCE(*phyrdma_hw_mtt_leaf(mtt, index),
		   cpu_to_le64((u64)addr | PHYRDMA_MTT_VALID |
			       (writable ? 0 : PHYRDMA_MTT_READ_ONLY)));
}

void phyrdma_hw_mtt_zap(struct phyrdma_hw *hw, struct phyrdma_hw_mtt *mtt,
			u64 first, u64 count);

int phyrdma_hw_mr_enable(struct phyrdma_hw *hw,
			 const struct phyrdma_hw_mr_params *params,
			 struct phyrdma_hw_mtt *mtt, void *priv, u32 *key);
void phyrdma_hw_mr_disable(struct phyrdma_hw *hw, u32 key);
void phyrdma_hw_mr_revoke(struct phyrdma_hw *hw, u32 key);
void phyrdma_hw_mr_revoke_start(struct phyrdma_hw *hw, u32 key);
void phyrdma_hw_mr_revoke_wait(void);
int phyrdma_hw_mr_swap(struct phyrdma_hw *hw, u32 a, u32 b);
int phyrdma_hw_mw_alloc(struct phyrdma_hw *hw, u32 pdn, u8 kind, u32 *key);
void phyrdma_hw_mw_free(struct phyrdma_hw *hw, u32 key);
int phyrdma_hw_mr_query(struct phyrdma_hw *hw, u32 key,
			struct phyrdma_hw_mr_entry *entry,
			void (*fill)(void *priv, void *arg), void *arg);

/* What the engine does to memory through an MR. */
enum phyrdma_hw_xfer {
	PHYRDMA_HW_XFER_FROM_MR,	/* the device reads the MR */
	PHYRDMA_HW_XFER_TO_MR,		/* the device writes the MR */
};

int phyrdma_hw_mr_check_range(struct phyrdma_hw *hw, u32 key, u64 va, u64 len,
			      enum phyrdma_hw_xfer dir);
int phyrdma_hw_mr_xfer(struct phyrdma_hw *hw, u32 key, u64 va, void *buf,
		       u64 len, enum phyrdma_hw_xfer dir);
int phyrdma_hw_mr_translate(struct phyrdma_hw *hw, u32 key, u64 va,
			    dma_addr_t *dma, phys_addr_t *phys);

/* ---- queues and the engine -------------------------------------------- */

/**
 * struct phyrdma_hw_ring - a queue in memory the device reaches by DMA
 * @va: the CPU's view (the header first), virtually contiguous
 * @pages: the ring's pages, each order 0, in ring order
 * @page_dma: the device's view: one DMA address per page (its page list,
 *	as a NIC's queue buffer is described to it), so that a deep queue
 *	needs no physically contiguous memory
 * @sgt: the pages as mapped for the device, for the unmap
 * @size: bytes, header included, a multiple of PAGE_SIZE
 * @log_entries: log2 of the entries
 * @log_stride: log2 of an entry's bytes
 * @external: owned by a user mapping, which frees it (not the queue)
 */
struct phyrdma_hw_ring {
	void *va;
	struct page **pages;
	dma_addr_t *page_dma;
	struct sg_table sgt;
	size_t size;
	u32 log_entries;
	u32 log_stride;
	bool external;
};

int phyrdma_hw_ring_alloc(struct phyrdma_hw *hw, u32 entries, u32 stride,
			  struct phyrdma_hw_ring *ring);
void phyrdma_hw_ring_free(struct phyrdma_hw *hw, struct phyrdma_hw_ring *ring);

static inline void *phyrdma_hw_ring_entry(const struct phyrdma_hw_ring *ring,
					  u32 index)
{
	return ring->va + PHYRDMA_RING_HDR_SIZE +
	       ((size_t)(index & ((1U << ring->log_entries) - 1)) << ring->log_stride);
}

static inline struct phyrdma_ring_hdr *
phyrdma_hw_ring_hdr(const struct phyrdma_hw_ring *ring)
{
	return ring->va;
}

enum phyrdma_hw_cq_event {
	PHYRDMA_HW_CQ_EV_OVERRUN = 1,
};

/**
 * struct phyrdma_hw_cq - a completion queue
 * @hw: its device
 * @cqn: its number
 * @ring: the CQE ring; the device produces, the owner consumes
 * @lock: serialises producers
 * @armed: 0, or the IB_CQ_* request of the last arm (NEXT_COMP/SOLICITED)
 * @producer: the device's producer index, under @lock; the ring header
 *	gets a copy, never read back
 * @error: overrun: the CQ takes no more completions
 * @comp: called (bottom halves off) when an armed CQ gets a completion
 * @event: called on an asynchronous error of the CQ
 * @priv: for the callbacks
 */
struct phyrdma_hw_cq {
	struct phyrdma_hw *hw;
	u32 cqn;
	struct phyrdma_hw_ring ring;
	spinlock_t lock;	/* producers */
	u32 producer;
	u8 armed;
	bool error;
	void (*comp)(struct phyrdma_hw_cq *cq);
	void (*event)(struct phyrdma_hw_cq *cq, enum phyrdma_hw_cq_event ev);
	void *priv;
};

#define PHYRDMA_HW_ARM_NEXT		1
#define PHYRDMA_HW_ARM_SOLICITED	2

int phyrdma_hw_cq_create(struct phyrdma_hw *hw, u32 entries,
			 struct phyrdma_hw_cq *cq);
void phyrdma_hw_cq_destroy(struct phyrdma_hw_cq *cq);
/* Return: 1 if completions are waiting (for IB_CQ_REPORT_MISSED_EVENTS). */
int phyrdma_hw_cq_arm(struct phyrdma_hw_cq *cq, u8 how);
int phyrdma_hw_cq_resize(struct phyrdma_hw_cq *cq, struct phyrdma_hw_ring *ring);
int phyrdma_hw_cq_push(struct phyrdma_hw_cq *cq, const struct phyrdma_cqe *cqe,
		       bool solicited);

/**
 * struct phyrdma_hw_rq - a receive queue: a QP's own, or a shared one
 * @ring: receive WQEs, produced by the owner
 * @mutex: serialises the device's consumers (any sender on the fabric)
 * @cons: the device's consumer index, under @mutex
 * @max_sge: SGEs a WQE may carry
 * @buf: a copy of the WQE being consumed, under @mutex
 * @pdn: the PD every receive lkey must belong to
 * @kernel: a kernel consumer's (may use the local DMA lkey)
 * @srq: the shared receive queue this is, or NULL
 */
struct phyrdma_hw_rq {
	struct phyrdma_hw_ring ring;
	struct mutex mutex;	/* consumers */
	u32 cons;
	u32 max_sge;
	void *buf;
	u32 pdn;
	bool kernel;
	struct phyrdma_hw_srq *srq;
};

enum phyrdma_hw_srq_event {
	PHYRDMA_HW_SRQ_EV_LIMIT = 1,
};

/**
 * struct phyrdma_hw_srq - a shared receive queue
 * @hw: its device
 * @srqn: its number
 * @rq: the queue
 * @limit: armed limit: an event when fewer WQEs remain (0: disarmed)
 * @event: asynchronous event callback
 * @priv: for @event (the verbs layer's SRQ)
 */
struct phyrdma_hw_srq {
	struct phyrdma_hw *hw;
	u32 srqn;
	struct phyrdma_hw_rq rq;
	u32 limit;
	void (*event)(struct phyrdma_hw_srq *srq, enum phyrdma_hw_srq_event ev);
	void *priv;
};

int phyrdma_hw_srq_create(struct phyrdma_hw *hw, struct phyrdma_hw_srq *srq,
			  u32 entries);
void phyrdma_hw_srq_destroy(struct phyrdma_hw_srq *srq);
void phyrdma_hw_srq_arm(struct phyrdma_hw_srq *srq, u32 limit);
u32 phyrdma_hw_srq_outstanding(struct phyrdma_hw_srq *srq);

enum phyrdma_hw_qp_type {
	PHYRDMA_HW_QPT_RC,
	PHYRDMA_HW_QPT_UC,
	PHYRDMA_HW_QPT_UD,
	PHYRDMA_HW_QPT_GSI,
};

/* Same numbering as enum ib_qp_state. */
enum phyrdma_hw_qp_state {
	PHYRDMA_HW_QPS_RESET,
	PHYRDMA_HW_QPS_INIT,
	PHYRDMA_HW_QPS_RTR,
	PHYRDMA_HW_QPS_RTS,
	PHYRDMA_HW_QPS_SQD,
	PHYRDMA_HW_QPS_SQE,
	PHYRDMA_HW_QPS_ERR,
};

enum phyrdma_hw_qp_event {
	PHYRDMA_HW_QP_EV_FATAL = 1,	/* a queue broke: QP in error */
	PHYRDMA_HW_QP_EV_REQ_ERR,	/* invalid request: QP in error */
	PHYRDMA_HW_QP_EV_ACCESS_ERR,	/* access violation: QP in error */
	PHYRDMA_HW_QP_EV_LAST_WQE,	/* SRQ: none */
};

/**
 * struct phyrdma_hw_qp_attr - what modify_qp programs into a QP context
 * @dest_qpn: RC/UC: the connected peer's QP number
 * @qkey: datagram QPs: the Q_Key a received message must carry, and the
 *	one sent when a WQE's Q_Key has its top bit set
 * @av: RC/UC: the connected peer's address; @av.dgid finds its port
 * @access: PHYRDMA_HW_ACCESS_* the QP grants remote requesters
 * @timeout: RC: ACK timeout, 4.096 us * 2^@timeout without a response
 *	before a retry (0: infinite); any wait is capped at 1 s
 * @retry_cnt: RC: retries after a timeout before the WQE fails
 * @rnr_retry: RC: retries after receiver-not-ready before the WQE fails;
 *	7 retries for ever
 * @min_rnr_timer: RC: IBTA RNR timer code (0-31) this QP, as responder
 *	without a receive WQE, tells the requester to wait before retrying
 * @path_mtu: bytes; recorded only
 * @sq_psn: first PSN of the send queue; recorded only
 * @rq_psn: first PSN expected by the receive queue; recorded only
 * @max_rd_atomic: RDMA reads and atomics outstanding as requester;
 *	recorded only
 * @max_dest_rd_atomic: RDMA reads and atomics outstanding as responder;
 *	recorded only
 * @pkey_index: P_Key table index; always 0, the table's only entry (the
 *	verbs layer refuses any other and leaves it unset)
 *
 * There are no packets: the engine moves each message whole, so the
 * fields marked "recorded only" are kept but do not change what it does.
 */
struct phyrdma_hw_qp_attr {
	u32 dest_qpn;
	u32 qkey;
	struct phyrdma_av av;
	u32 access;		/* PHYRDMA_HW_ACCESS_REMOTE_* the QP allows */
	u8 timeout;
	u8 retry_cnt;
	u8 rnr_retry;
	u8 min_rnr_timer;
	u32 path_mtu;		/* bytes */
	u32 sq_psn;
	u32 rq_psn;
	u8 max_rd_atomic;
	u8 max_dest_rd_atomic;
	u16 pkey_index;
};

/**
 * struct phyrdma_hw_qp - a queue pair as the device holds it
 * @hw: its device
 * @qpn: its number
 * @pdn: the protection domain every local key must belong to
 * @type: enum phyrdma_hw_qp_type
 * @kernel: owned by a kernel consumer (may use the local DMA lkey)
 * @sq: send ring
 * @rq: its own receive queue
 * @recv: where it receives (@rq, or a shared receive queue's)
 * @max_send_sge: SGEs a send WQE may carry
 * @max_inline: inline data bytes a send WQE may carry
 * @sig_all: every send WQE completes with a CQE, not only signaled ones
 * @wqe_buf: the executor's copy of the WQE at the head of @sq, under @exec
 * @scq: completion queue of the sends
 * @rcq: completion queue of the receives
 * @attr: the context modify_qp programmed
 * @state_lock: protects @state and @attr
 * @state: enum phyrdma_hw_qp_state, changed under @state_lock
 * @sq_cons: the device's consumer index of @sq (the worker's alone)
 * @retries: attempts made for the WQE at the head of @sq
 * @ref: held by the owner and by each engine user; @freed completes at 0
 * @freed: completed when @ref drops to 0; destroy waits for it
 * @exec: one executor of @sq at a time: the worker or a doorbell
 * @work: the send queue's worker
 * @event: asynchronous error callback
 * @priv: for @event (the verbs layer's QP)
 */
struct phyrdma_hw_qp {
	struct phyrdma_hw *hw;
	u32 qpn;
	u32 pdn;
	u8 type;
	bool kernel;
	struct phyrdma_hw_ring sq;
	struct phyrdma_hw_rq rq;
	struct phyrdma_hw_rq *recv;
	u32 max_send_sge;
	u32 max_inline;
	bool sig_all;
	void *wqe_buf;		/* the worker's copy of the head WQE */
	struct phyrdma_hw_cq *scq;
	struct phyrdma_hw_cq *rcq;
	struct phyrdma_hw_qp_attr attr;
	spinlock_t state_lock;	/* @state and @attr */
	int state;
	u32 sq_cons;
	u32 retries;
	refcount_t ref;
	struct completion freed;
	struct mutex exec;	/* one executor of the send queue at a time */
	struct delayed_work work;
	void (*event)(struct phyrdma_hw_qp *qp, enum phyrdma_hw_qp_event ev);
	void *priv;
};

int phyrdma_hw_qp_create(struct phyrdma_hw *hw, struct phyrdma_hw_qp *qp,
			 u32 sq_entries, u32 rq_entries);
void phyrdma_hw_qp_destroy(struct phyrdma_hw_qp *qp);
int phyrdma_hw_qp_modify(struct phyrdma_hw_qp *qp, int new_state,
			 const struct phyrdma_hw_qp_attr *attr);
void phyrdma_hw_qp_doorbell(struct phyrdma_hw_qp *qp);
void phyrdma_hw_qp_doorbell_sync(struct phyrdma_hw_qp *qp);
u32 phyrdma_hw_send_stride(u32 max_sge, u32 max_inline);
u32 phyrdma_hw_recv_stride(u32 max_sge);

void phyrdma_hw_set_gid(struct phyrdma_hw *hw, u32 index, const u8 *gid);
void phyrdma_hw_clear_gid(struct phyrdma_hw *hw, u32 index);
void phyrdma_hw_fabric_join(struct phyrdma_hw *hw);
int phyrdma_hw_mcast_attach(struct phyrdma_hw *hw, const u8 *mgid, u32 qpn);
int phyrdma_hw_mcast_detach(struct phyrdma_hw *hw, const u8 *mgid, u32 qpn);
u32 phyrdma_hw_mcast_detach_all(struct phyrdma_hw *hw, u32 qpn);
void phyrdma_hw_fabric_leave(struct phyrdma_hw *hw);
int phyrdma_hw_engine_init(struct phyrdma_hw *hw);
void phyrdma_hw_engine_fini(struct phyrdma_hw *hw);

#endif /* PHYRDMA_HW_H */
