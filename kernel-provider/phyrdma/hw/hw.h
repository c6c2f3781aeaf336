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

#include <rdma/phyrdma-abi.h>

struct device;
struct iommu_domain;

#include "mtt_layout.h"

#define PHYRDMA_HW_VENDOR_ID		0x1234
#define PHYRDMA_HW_PART_ID		0x11e8

/* edu BAR 0 registers */
#define PHYRDMA_HW_REG_ID		0x00
#define PHYRDMA_HW_REG_LIVENESS		0x04
#define PHYRDMA_HW_BAR0_LEN		0x100

/* The identification register reads 0xMMmm00ed for version MM.mm. */
#define PHYRDMA_HW_ID_MAGIC_MASK	GENMASK(15, 0)
#define PHYRDMA_HW_ID_MAGIC		0x00ed
#define PHYRDMA_HW_ID_MAJOR		GENMASK(31, 24)
#define PHYRDMA_HW_ID_MINOR		GENMASK(23, 16)

/* Limits of the emulated device. */
#define PHYRDMA_HW_MAX_PD		BIT(16)
/* Page sizes the page-table format can express: 4 KiB ... 1 GiB. */
#define PHYRDMA_HW_PAGE_SIZE_CAP	GENMASK_ULL(30, 12)
#define PHYRDMA_HW_MAX_MSG_SZ		SZ_1G
/* MR table: the index is the key's upper 24 bits, the low 8 a variant */
#define PHYRDMA_HW_MR_INDEX_BITS	24
#define PHYRDMA_HW_MAX_MR		(BIT(PHYRDMA_HW_MR_INDEX_BITS) - 1)
#define PHYRDMA_HW_MAX_MR_SIZE		BIT_ULL(40)

/* MR access rights the device checks */
#define PHYRDMA_HW_ACCESS_LOCAL_WRITE	BIT(0)
#define PHYRDMA_HW_ACCESS_REMOTE_READ	BIT(1)
#define PHYRDMA_HW_ACCESS_REMOTE_WRITE	BIT(2)
#define PHYRDMA_HW_ACCESS_REMOTE_ATOMIC	BIT(3)

struct phyrdma_hw_caps {
	u32 vendor_id;
	u32 part_id;
	u32 hw_rev;		/* the raw identification register */
	u64 fw_ver;		/* major << 32 | minor << 16 */
	u64 page_size_cap;
	u32 max_pd;
	u32 max_msg_sz;
	u32 max_mr;
	u64 max_mr_size;
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
 */
struct phyrdma_hw_mr_params {
	u32 pdn;
	u64 iova;
	u64 length;
	u32 access;
	u32 page_shift;
};

/**
 * struct phyrdma_hw_mr_entry - what the device reads from the MR table
 * @key: lkey and rkey
 * @params: as registered
 * @levels: MTT levels
 * @root: DMA address of the MTT's root page
 * @valid: usable
 * @priv: the verbs layer's object, for its own queries
 */
struct phyrdma_hw_mr_entry {
	u32 key;
	struct phyrdma_hw_mr_params params;
	u32 levels;
	dma_addr_t root;
	bool valid;
	void *priv;
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
};

int phyrdma_hw_init(struct phyrdma_hw *hw, struct device *dma_dev,
		    void __iomem *regs);
void phyrdma_hw_fini(struct phyrdma_hw *hw);
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

/* Write leaf entry @index: the block at DMA address @addr. */
static inline void phyrdma_hw_mtt_set(struct phyrdma_hw_mtt *mtt, u64 index,
				      dma_addr_t addr)
{
	mtt->pages[index >> PHYRDMA_MTT_PER_PAGE_SHIFT]
		.va[index & (PHYRDMA_MTT_PER_PAGE - 1)] =
		cpu_to_le64((u64)addr | PHYRDMA_MTT_VALID);
}

int phyrdma_hw_mr_enable(struct phyrdma_hw *hw,
			 const struct phyrdma_hw_mr_params *params,
			 struct phyrdma_hw_mtt *mtt, void *priv, u32 *key);
void phyrdma_hw_mr_disable(struct phyrdma_hw *hw, u32 key);
int phyrdma_hw_mr_query(struct phyrdma_hw *hw, u32 key,
			struct phyrdma_hw_mr_entry *entry,
			void (*fill)(void *priv, void *arg), void *arg);

/* What the engine does to memory through an MR. */
enum phyrdma_hw_xfer {
	PHYRDMA_HW_XFER_FROM_MR,	/* the device reads the MR */
	PHYRDMA_HW_XFER_TO_MR,		/* the device writes the MR */
};

int phyrdma_hw_mr_xfer(struct phyrdma_hw *hw, u32 key, u64 va, void *buf,
		       u64 len, enum phyrdma_hw_xfer dir);
int phyrdma_hw_mr_translate(struct phyrdma_hw *hw, u32 key, u64 va,
			    dma_addr_t *dma, phys_addr_t *phys);

#endif /* PHYRDMA_HW_H */
