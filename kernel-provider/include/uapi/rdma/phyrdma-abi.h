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
	 * work itself.  CQs: PHYRDMA_CQ_OVERRUN once the device found the
	 * CQ full (the CQ is then in error).
	 */
	__u32 flags;
	__u32 pad2[15];
};

#define PHYRDMA_SQ_ENGINE_IDLE	(1U << 0)
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

/* Limits of the emulated device */
#define PHYRDMA_MAX_CQE		((1U << 15) - 1)
#define PHYRDMA_MAX_QP_WR	(1U << 12)
#define PHYRDMA_MAX_SGE		16
#define PHYRDMA_MAX_INLINE	448
/* header included; a ring is physically contiguous */
#define PHYRDMA_MAX_RING_BYTES	(4U << 20)

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

#endif /* PHYRDMA_ABI_USER_H */
