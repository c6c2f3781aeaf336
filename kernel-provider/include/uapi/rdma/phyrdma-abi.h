/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB) */
/*
 * phyrdma: driver-private uverbs ABI between phyrdma.ko and libphyrdma.
 *
 * Every request starts with comp_mask; the kernel rejects bits it does not
 * know and non-zero reserved fields.  Responses also start with comp_mask,
 * telling which optional fields the kernel filled.  Both sides copy
 * min(their size, the other side's size), so either may be newer: the
 * kernel zero-pads a shorter request, and wants the bytes of a longer one
 * past its own struct to be zero.  No request has a field the kernel
 * cannot do without, so any request may be short, down to empty.  A short
 * response buffer gets the first bytes of the response.
 */
#ifndef PHYRDMA_ABI_USER_H
#define PHYRDMA_ABI_USER_H

#include <linux/types.h>
#include <rdma/ib_user_ioctl_cmds.h>

#define PHYRDMA_UVERBS_ABI_VERSION 1

/* The PCI function the driver binds and the provider matches. */
#define PHYRDMA_PCI_VENDOR_ID	0x1234
#define PHYRDMA_PCI_DEVICE_ID	0x11e8

/*
 * The firmware version in the query-device response's fw_ver: the major
 * number in bits 63:32, the minor in bits 31:16.
 */
#define PHYRDMA_FW_VER(major, minor) \
	(((__u64)(major) << 32) | ((__u64)(minor) << 16))
#define PHYRDMA_FW_VER_MAJOR(fw)	((__u32)((fw) >> 32))
#define PHYRDMA_FW_VER_MINOR(fw)	((__u32)((fw) >> 16) & 0xffff)

/* How the device reaches memory: what a DMA address means to it. */
enum phyrdma_iommu_mode {
	/* No IOMMU domain: DMA addresses are physical addresses. */
	PHYRDMA_IOMMU_NONE = 0,
	/* An identity (passthrough) domain: same as NONE for the device. */
	PHYRDMA_IOMMU_IDENTITY = 1,
	/* A translating DMA domain: DMA addresses are IOVAs. */
	PHYRDMA_IOMMU_TRANSLATING = 2,
};

struct phyrdma_alloc_ucontext_req {
	__u32 comp_mask;
	__u32 reserved;
};

struct phyrdma_alloc_ucontext_resp {
	__u32 comp_mask;
	/* enum phyrdma_iommu_mode */
	__u32 iommu_mode;
	/* Page sizes the device's page table can use, one bit per size. */
	__aligned_u64 page_size_cap;
};

struct phyrdma_alloc_pd_resp {
	__u32 comp_mask;
	__u32 pdn;
};

/* ---- queues ---------------------------------------------------------- */

/*
 * Every queue (CQ, SQ, RQ) is one ring the device reaches by DMA, mapped
 * into the process that owns it with mmap(cmd_fd, offset): a header page,
 * then 2^log_entries entries of 2^log_stride bytes.  Indices are free
 * running 32-bit counters; an entry's slot is index & (entries - 1).
 *
 * The producer of a ring writes entries, then (after a release barrier)
 * its producer index; the consumer reads the producer index, then (after
 * an acquire barrier) the entries, and writes its consumer index when it
 * is done with them.  The device never trusts an index written by
 * userspace: a producer index more than a ring ahead of the consumer is a
 * fatal error of the queue.
 */
#define PHYRDMA_RING_HDR_SIZE	4096

struct phyrdma_ring_hdr {
	__u32 producer;
	__u32 pad0[15];
	__u32 consumer;
	__u32 pad1[15];
	/*
	 * Send queues: PHYRDMA_SQ_ENGINE_IDLE set by the device when it
	 * stopped reading the ring.  A producer that finds it set after
	 * publishing its producer index (with a full barrier between the
	 * two) rings the doorbell; otherwise the device will see the new
	 * work itself.  A QP's receive queue: PHYRDMA_RQ_FLUSH set by the
	 * device when it starts flushing the queue of a QP in error, until
	 * the QP is reset; a producer that finds it set after publishing its
	 * producer index (a full barrier between) rings the QP's doorbell,
	 * and the device flushes the new WQEs too.  CQs: PHYRDMA_CQ_OVERRUN
	 * once the device found the CQ full (the CQ is then in error).
	 */
	__u32 flags;
	__u32 pad2[15];
};

#define PHYRDMA_SQ_ENGINE_IDLE	(1U << 0)
#define PHYRDMA_RQ_FLUSH	(1U << 0)
#define PHYRDMA_CQ_OVERRUN	(1U << 0)

/* Placement types of a FLUSH (IBV_FLUSH_GLOBAL, IBV_FLUSH_PERSISTENT). */
#define PHYRDMA_FLUSH_GLOBAL		(1U << 0)
#define PHYRDMA_FLUSH_PERSISTENT	(1U << 1)
#define PHYRDMA_FLUSH_LEVEL_MR		1

struct phyrdma_sge {
	__aligned_u64 addr;
	__u32 length;
	__u32 lkey;
};

/* Send work request opcodes, as the device executes them. */
enum phyrdma_wr_opcode {
	PHYRDMA_WR_SEND = 0,
	PHYRDMA_WR_SEND_WITH_IMM = 1,
	PHYRDMA_WR_SEND_WITH_INV = 2,
	PHYRDMA_WR_RDMA_WRITE = 3,
	PHYRDMA_WR_RDMA_WRITE_WITH_IMM = 4,
	PHYRDMA_WR_RDMA_READ = 5,
	PHYRDMA_WR_ATOMIC_CMP_AND_SWP = 6,
	PHYRDMA_WR_ATOMIC_FETCH_AND_ADD = 7,
	/* rdma.compare_add: the 8 bytes to store, atomically */
	PHYRDMA_WR_ATOMIC_WRITE = 8,
	/*
	 * rdma.compare_add: bytes; rdma.swap: PHYRDMA_FLUSH_* type bits
	 * << 8 | level (0: the range, 1: the whole MR)
	 */
	PHYRDMA_WR_FLUSH = 9,
	/* bind: a memory window to a range of an MR (the bind fields) */
	PHYRDMA_WR_BIND_MW = 10,
	/* imm_data: the rkey of a type 2 window to invalidate */
	PHYRDMA_WR_LOCAL_INV = 11,
	PHYRDMA_WR_MAX,
};

enum phyrdma_wqe_flags {
	PHYRDMA_WQE_SIGNALED = 1 << 0,
	PHYRDMA_WQE_SOLICITED = 1 << 1,
	PHYRDMA_WQE_INLINE = 1 << 2,
	PHYRDMA_WQE_FENCE = 1 << 3,
};

/* The address vector a UD work request carries (RoCE v2). */
struct phyrdma_av {
	__u8 dgid[16];
	__u32 flow_label;
	__u8 sgid_index;
	__u8 hop_limit;
	__u8 traffic_class;
	__u8 reserved;
};

/*
 * A send queue entry: 64 bytes of header, then num_sge phyrdma_sge or
 * inline_len bytes of inline data, within the queue's stride.
 */
struct phyrdma_send_wqe {
	__aligned_u64 wr_id;
	__u8 opcode;		/* enum phyrdma_wr_opcode */
	__u8 flags;		/* enum phyrdma_wqe_flags */
	__u8 num_sge;
	__u8 reserved0;
	__u32 imm_data;		/* network order; the rkey for SEND_WITH_INV */
	union {
		struct {
			__aligned_u64 remote_addr;
			__u32 rkey;
			__u32 reserved;
			__aligned_u64 compare_add;
			__aligned_u64 swap;
		} rdma;
		struct {
			__u32 remote_qpn;
			__u32 remote_qkey;
			struct phyrdma_av av;
		} ud;
		struct {
			__u32 mw_key;	/* the window's current rkey */
			__u32 new_rkey;	/* its rkey once bound */
			__u32 mr_lkey;	/* the MR it is bound to */
			__u32 access;	/* IBV_ACCESS_REMOTE_* of the window */
			__aligned_u64 addr;
			__aligned_u64 length;	/* 0 unbinds a type 1 window */
		} bind;
	};
	__u32 inline_len;
	__u32 reserved1[3];
};

#define PHYRDMA_SEND_WQE_HDR	64

/* A receive queue entry: 16 bytes of header, then num_sge phyrdma_sge. */
struct phyrdma_recv_wqe {
	__aligned_u64 wr_id;
	__u32 num_sge;
	__u32 reserved;
};

#define PHYRDMA_RECV_WQE_HDR	16

enum phyrdma_cqe_flags {
	PHYRDMA_CQE_IMM = 1 << 0,
	PHYRDMA_CQE_INV = 1 << 1,
	PHYRDMA_CQE_GRH = 1 << 2,
};

/* Network header of a received UD message, in the first 40 bytes. */
enum phyrdma_cqe_net {
	PHYRDMA_CQE_NET_IPV4 = 1,
	PHYRDMA_CQE_NET_IPV6 = 2,
};

/* Completion status: the numbering of ibv_wc_status and ib_wc_status. */
enum phyrdma_wc_status {
	PHYRDMA_WC_SUCCESS = 0,
	PHYRDMA_WC_LOC_LEN_ERR = 1,
	PHYRDMA_WC_LOC_QP_OP_ERR = 2,
	PHYRDMA_WC_LOC_PROT_ERR = 4,
	PHYRDMA_WC_WR_FLUSH_ERR = 5,
	PHYRDMA_WC_MW_BIND_ERR = 6,
	PHYRDMA_WC_LOC_ACCESS_ERR = 8,
	PHYRDMA_WC_REM_INV_REQ_ERR = 9,
	PHYRDMA_WC_REM_ACCESS_ERR = 10,
	PHYRDMA_WC_REM_OP_ERR = 11,
	PHYRDMA_WC_RETRY_EXC_ERR = 12,
	PHYRDMA_WC_RNR_RETRY_EXC_ERR = 13,
	PHYRDMA_WC_FATAL_ERR = 19,
	PHYRDMA_WC_GENERAL_ERR = 21,
};

/* Completion opcodes: the numbering of ibv_wc_opcode and ib_wc_opcode. */
enum phyrdma_wc_opcode {
	PHYRDMA_WC_SEND = 0,
	PHYRDMA_WC_RDMA_WRITE = 1,
	PHYRDMA_WC_RDMA_READ = 2,
	PHYRDMA_WC_COMP_SWAP = 3,
	PHYRDMA_WC_FETCH_ADD = 4,
	PHYRDMA_WC_BIND_MW = 5,
	PHYRDMA_WC_LOCAL_INV = 6,
	PHYRDMA_WC_FLUSH = 8,
	PHYRDMA_WC_ATOMIC_WRITE = 9,
	PHYRDMA_WC_RECV = 128,
	PHYRDMA_WC_RECV_RDMA_WITH_IMM = 129,
};

/*
 * A completion.  status and opcode use the numbering of ibv_wc_status and
 * ibv_wc_opcode, which is also the kernel's ib_wc_status/ib_wc_opcode.
 */
struct phyrdma_cqe {
	__aligned_u64 wr_id;
	__u8 status;
	__u8 opcode;
	__u8 flags;		/* enum phyrdma_cqe_flags */
	__u8 network_hdr;	/* enum phyrdma_cqe_net, with GRH */
	__u32 qp_num;
	__u32 byte_len;
	__u32 imm_data;		/* network order; the invalidated rkey for INV */
	__u32 src_qp;
	__u32 vendor_err;
	__u8 smac[6];
	__u16 pkey_index;
	__u32 reserved[7];
};

#define PHYRDMA_CQE_SIZE	64

/*
 * Limits of the emulated device: queue depths as RoCE NICs report them
 * (a CQ of 4M - 1 entries, 32K work requests per queue), which clients
 * size their queues by (libfabric's RxM: a CQ of 512 entries per peer).
 */
#define PHYRDMA_MAX_CQE		((1U << 22) - 1)
#define PHYRDMA_MAX_QP_WR	(1U << 15)
#define PHYRDMA_MAX_SGE		16
#define PHYRDMA_MAX_INLINE	448
/* header included; a ring is a page list, never physically contiguous */
#define PHYRDMA_MAX_RING_BYTES	((256U << 20) + PHYRDMA_RING_HDR_SIZE)

struct phyrdma_create_cq_req {
	__u32 comp_mask;
	__u32 reserved;
};

struct phyrdma_create_cq_resp {
	__u32 comp_mask;
	__u32 cqn;
	__aligned_u64 mmap_offset;
	__aligned_u64 mmap_length;
	__u32 log_entries;
	__u32 reserved;
};

struct phyrdma_create_qp_req {
	__u32 comp_mask;
	__u32 reserved;
};

struct phyrdma_create_qp_resp {
	__u32 comp_mask;
	__u32 qpn;
	__aligned_u64 sq_mmap_offset;
	__aligned_u64 sq_mmap_length;
	__aligned_u64 rq_mmap_offset;
	__aligned_u64 rq_mmap_length;
	__u32 sq_log_entries;
	__u32 sq_log_stride;
	__u32 rq_log_entries;
	__u32 rq_log_stride;
	__u32 max_inline;
	__u32 reserved;
};

struct phyrdma_create_srq_req {
	__u32 comp_mask;
	__u32 reserved;
};

struct phyrdma_create_srq_resp {
	__u32 comp_mask;
	__u32 srqn;
	__aligned_u64 mmap_offset;
	__aligned_u64 mmap_length;
	__u32 log_entries;
	__u32 log_stride;
};

/* Driver methods (ioctl) beyond the core verbs */
enum phyrdma_qp_methods {
	/* Ring the send queue's doorbell: the device reads the SQ again. */
	PHYRDMA_METHOD_QP_DOORBELL = (1U << UVERBS_ID_NS_SHIFT),
};

enum phyrdma_qp_doorbell_attrs {
	PHYRDMA_ATTR_QP_DOORBELL_HANDLE = (1U << UVERBS_ID_NS_SHIFT),
};

/* ---- the verbs extension: DMA layout, advice and hints ------------------ */

/*
 * Driver methods and attributes of the verbs extension (phyrdv.h in
 * userspace).  Every struct starts with comp_mask and follows the min(size)
 * rule above; a request's unknown flags or comp_mask bits are refused with
 * EOPNOTSUPP, its non-zero reserved fields with EINVAL.  Nothing here ever
 * carries a DMA or physical address.
 */

/* Kinds of memory, as a registration holds them (a bit mask). */
enum phyrdma_mem_kind {
	PHYRDMA_MEM_RAM = 1 << 0,	/* CPU memory */
	PHYRDMA_MEM_P2P_MMIO = 1 << 1,	/* a peer device's BAR */
	/* a confidential guest's private memory; never set in other guests */
	PHYRDMA_MEM_ENCRYPTED = 1 << 2,
	/* a confidential guest's memory shared with the host (decrypted) */
	PHYRDMA_MEM_DECRYPTED = 1 << 3,
};

/* How the device reaches P2P memory (the PCI P2PDMA map type). */
enum phyrdma_p2p_type {
	PHYRDMA_P2P_NONE = 0,		/* not P2P memory */
	PHYRDMA_P2P_NOT_SUPPORTED = 1,	/* the platform cannot route it */
	PHYRDMA_P2P_BUS_ADDR = 2,	/* below a common switch, by bus address */
	PHYRDMA_P2P_HOST_BRIDGE = 3,	/* through the host bridge (and IOMMU) */
};

/* Which path built an MR (the oracle's numbering). */
enum phyrdma_mr_path {
	PHYRDMA_PATH_PHYR = 1,		/* the exporter's phyr, streamed */
	PHYRDMA_PATH_LEGACY = 2,	/* ib_core's umem and its sg_table */
	PHYRDMA_PATH_ODP = 3,		/* on demand: faulted into the MTT */
};

enum phyrdma_device_methods {
	/* The device's DMA constraints. */
	PHYRDMA_METHOD_QUERY_DMA = (1U << UVERBS_ID_NS_SHIFT),
	/* Advice on registering a range of a dma-buf. */
	PHYRDMA_METHOD_DMABUF_ADVISE,
};

enum phyrdma_query_dma_attrs {
	/* out: struct phyrdma_dma_attr */
	PHYRDMA_ATTR_QUERY_DMA_RESP = (1U << UVERBS_ID_NS_SHIFT),
	/* out, optional: struct phyrdma_iova_range[], as many as fit */
	PHYRDMA_ATTR_QUERY_DMA_IOVA_RANGES,
};

enum phyrdma_dma_attr_flags {
	/* The device can register P2P MMIO (some peers may still be refused). */
	PHYRDMA_DMA_P2P = 1 << 0,
	/* The guest's memory is encrypted (a confidential guest). */
	PHYRDMA_DMA_CC_GUEST = 1 << 1,
};

struct phyrdma_dma_attr {
	__u32 comp_mask;
	__u32 iommu_mode;		/* enum phyrdma_iommu_mode */
	/* Page sizes of the device's page table, one bit per size. */
	__aligned_u64 page_size_cap;
	/* Page sizes of the IOMMU domain; 0 without a translating one. */
	__aligned_u64 iommu_page_sizes;
	/* The longest MR. */
	__aligned_u64 max_mr_size;
	/* System-wide default of the IOVA an MR may spend on alignment. */
	__aligned_u64 max_iova_waste;
	/*
	 * Changes whenever the device's IOMMU domain is replaced: the IOVA
	 * ranges and page sizes above are those of this generation.
	 */
	__u32 generation;
	/* Usable IOVA ranges of the domain (all of them, however many fit). */
	__u32 num_iova_ranges;
	__u32 flags;			/* enum phyrdma_dma_attr_flags */
	__u32 reserved;
};

/* An inclusive range of IOVA the domain can map. */
struct phyrdma_iova_range {
	__aligned_u64 start;
	__aligned_u64 last;
};

enum phyrdma_dmabuf_advise_attrs {
	/* in: the dma-buf's file descriptor (s32) */
	PHYRDMA_ATTR_DMABUF_ADVISE_FD = (1U << UVERBS_ID_NS_SHIFT),
	/* in: struct phyrdma_dmabuf_advise_req */
	PHYRDMA_ATTR_DMABUF_ADVISE_REQ,
	/* out: struct phyrdma_dmabuf_advice */
	PHYRDMA_ATTR_DMABUF_ADVISE_RESP,
};

struct phyrdma_dmabuf_advise_req {
	__u32 comp_mask;
	__u32 reserved;
	__aligned_u64 offset;
	__aligned_u64 length;
};

enum phyrdma_advice_flags {
	/* The exporter hands out phyrs: the phyr path can take the buffer. */
	PHYRDMA_ADVICE_PHYR = 1 << 0,
	/* The layout fields are filled (phyr exporters only). */
	PHYRDMA_ADVICE_LAYOUT = 1 << 1,
	/*
	 * A registration without layout hints becomes a key over the
	 * device's one import of the whole buffer: the layout fields are the
	 * import's, at any iova ≡ offset (mod page), so iova_align is the
	 * page size.
	 */
	PHYRDMA_ADVICE_SHARED = 1 << 2,
};

struct phyrdma_dmabuf_advice {
	__u32 comp_mask;
	__u32 flags;			/* enum phyrdma_advice_flags */
	__u32 mem_kinds;		/* enum phyrdma_mem_kind bits */
	__u32 p2p_type;			/* enum phyrdma_p2p_type */
	/*
	 * Register at an iova with (iova % iova_align) == iova_offset: the
	 * device gets its largest pages there without the IOMMU losing its
	 * own.  The fields below say what that registration gets.
	 */
	__aligned_u64 iova_align;
	__aligned_u64 iova_offset;
	__aligned_u64 page_size;	/* the device page size */
	__aligned_u64 mtt_entries;
	__aligned_u64 iova_bytes;	/* IOVA it reserves; 0 without */
	__aligned_u64 iommu_page_size;	/* largest IOMMU page; 0 without */
	__aligned_u64 runs;		/* physically contiguous runs */
};

/*
 * Hints on a registration: a driver attribute of the core REG_MR and
 * REG_DMABUF_MR methods.  A hint that cannot be met fails the
 * registration; nothing is silently downgraded.
 */
enum phyrdma_reg_mr_attrs {
	/* in: struct phyrdma_reg_mr_hints (after the methods' own UHW ids) */
	PHYRDMA_ATTR_REG_MR_HINTS = UVERBS_ID_DRIVER_NS_WITH_UHW,
	/* out: the iova the MR got (u64), with PHYRDMA_HINT_CHOOSE_IOVA */
	PHYRDMA_ATTR_REG_MR_RESP_IOVA,
};

enum phyrdma_reg_mr_hint_flags {
	/* Take the phyr path or fail (ENOPROTOOPT). */
	PHYRDMA_HINT_REQUIRE_PHYR = 1 << 0,
	/* Take the legacy path (for A/B measurement). */
	PHYRDMA_HINT_FORCE_LEGACY = 1 << 1,
	/* The driver chooses the iova (as advised) and returns it. */
	PHYRDMA_HINT_CHOOSE_IOVA = 1 << 2,
	/* max_iova_waste is set (else the system default applies). */
	PHYRDMA_HINT_MAX_IOVA_WASTE = 1 << 3,
	/* When device and IOMMU pages conflict, keep the IOMMU's. */
	PHYRDMA_HINT_PREFER_IOMMU = 1 << 4,
};

struct phyrdma_reg_mr_hints {
	__u32 comp_mask;
	__u32 flags;			/* enum phyrdma_reg_mr_hint_flags */
	/* Device page size bounds, log2; 0 for none. */
	__u8 min_page_shift;
	__u8 max_page_shift;
	__u8 reserved0[2];
	/* The memory may hold only these kinds (0: any) ... */
	__u32 mem_allowed;
	/* ... and must hold all of these (enum phyrdma_mem_kind). */
	__u32 mem_required;
	__u32 reserved1;
	/* Most IOVA bytes to spend on reaching a larger page. */
	__aligned_u64 max_iova_waste;
};

enum phyrdma_mr_methods {
	/* An MR's layout. */
	PHYRDMA_METHOD_MR_QUERY = (1U << UVERBS_ID_NS_SHIFT),
};

enum phyrdma_mr_query_attrs {
	PHYRDMA_ATTR_MR_QUERY_HANDLE = (1U << UVERBS_ID_NS_SHIFT),
	/* out: struct phyrdma_mr_layout */
	PHYRDMA_ATTR_MR_QUERY_RESP,
};

enum phyrdma_mr_layout_flags {
	/* The exporter may take the memory back (every dma-buf MR). */
	PHYRDMA_MR_REVOCABLE = 1 << 0,
	/* It did: the MR is dead until deregistered. */
	PHYRDMA_MR_REVOKED = 1 << 1,
	/* Pages come and go on demand (ODP). */
	PHYRDMA_MR_ON_DEMAND = 1 << 2,
	/* The memory is a dma-buf. */
	PHYRDMA_MR_DMABUF = 1 << 3,
	/*
	 * A key over its dma-buf's import, shared with every MR of the
	 * device over the same buffer: the layout (page size, MTT, IOVA) is
	 * the import's, of the whole buffer.
	 */
	PHYRDMA_MR_SHARED = 1 << 4,
};

struct phyrdma_mr_layout {
	__u32 comp_mask;
	__u32 path;			/* enum phyrdma_mr_path */
	__u32 flags;			/* enum phyrdma_mr_layout_flags */
	__u32 mem_kinds;		/* enum phyrdma_mem_kind bits */
	__u32 p2p_type;			/* enum phyrdma_p2p_type */
	__u32 mtt_levels;
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 page_size;	/* the device page size */
	__aligned_u64 mtt_entries;
	__aligned_u64 mtt_pages;	/* pages of the MTT, all levels */
	__aligned_u64 iova_bytes;	/* IOVA reserved for the MR */
	__aligned_u64 iova_waste;	/* of which unused */
	__aligned_u64 iommu_page_size;	/* largest IOMMU page possible; 0 without */
	__aligned_u64 runs;		/* DMA runs mapped */
	__aligned_u64 iotlb_syncs;
	__aligned_u64 scratch_bytes;	/* memory the path used for addresses */
	__aligned_u64 kernel_bytes;	/* memory charged to the owner */
};

#endif /* PHYRDMA_ABI_USER_H */
