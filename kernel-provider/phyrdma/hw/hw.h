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

#include <rdma/phyrdma-abi.h>

struct device;

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

struct phyrdma_hw_caps {
	u32 vendor_id;
	u32 part_id;
	u32 hw_rev;		/* the raw identification register */
	u64 fw_ver;		/* major << 32 | minor << 16 */
	u64 page_size_cap;
	u32 max_pd;
	u32 max_msg_sz;
};

/**
 * struct phyrdma_hw - one emulated device
 * @dma_dev: the device DMA is done for (the PCI function)
 * @regs: BAR 0
 * @caps: what the device reports, filled at init
 * @iommu_mode: what a DMA address means to this device, probed at init
 * @pd_ida: protection-domain numbers in use; the IDA has its own lock
 */
struct phyrdma_hw {
	struct device *dma_dev;
	void __iomem *regs;
	struct phyrdma_hw_caps caps;
	enum phyrdma_iommu_mode iommu_mode;
	struct ida pd_ida;
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

#endif /* PHYRDMA_HW_H */
