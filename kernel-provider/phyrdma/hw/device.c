// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma device layer: bring-up, capabilities and protection domains of the
 * emulated device.
 */
#include <linux/bitfield.h>
#include <linux/device.h>
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/pci.h>
#include <phyr/phyr_dma.h>

#include "engine.h"

/*
 * The PCIe fabric's routes to peer memory: every prefetchable memory BAR
 * of another function that the device can reach peer-to-peer.  Below a
 * common switch the switch forwards the BAR's bus addresses to it before
 * the IOMMU sees them; above the host bridge the IOMMU translates to the
 * BAR's CPU address.  The engine reaches the BAR through an I/O mapping,
 * as the peer's memory is not RAM.  The table is what the device found at
 * bring-up, as a device model of the fabric: functions hot-added later are
 * not reachable, and a BAR moved by a rescan is not followed (the guest
 * does neither).  A driver for real hardware has no such table: the
 * fabric routes the device's DMA.
 */
static void phyrdma_hw_find_windows(struct phyrdma_hw *hw)
{
	struct pci_dev *pdev = NULL;
	struct phyrdma_hw_window *w;
	enum phyr_p2p_type type;
	unsigned long flags;
	int bar;

	if (!dev_is_pci(hw->dma_dev))
		return;
	for_each_pci_dev(pdev) {
		if (&pdev->dev == hw->dma_dev)
			continue;
		type = phyr_p2p_pci_map_type(pdev, hw->dma_dev);
		if (type == PHYR_P2P_NOT_SUPPORTED)
			continue;
		for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
			flags = pci_resource_flags(pdev, bar);
			if (!(flags & IORESOURCE_MEM) ||
			    !(flags & IORESOURCE_PREFETCH) ||
			    (flags & (IORESOURCE_UNSET | IORESOURCE_DISABLED)) ||
			    !pdev->resource[bar].parent ||
			    pci_resource_len(pdev, bar) < PAGE_SIZE)
				continue;
			if (hw->nr_windows == PHYRDMA_HW_MAX_WINDOWS) {
				pci_dev_put(pdev);
				return;
			}
			w = &hw->windows[hw->nr_windows];
			w->phys = pci_resource_start(pdev, bar);
			w->bus = pci_bus_address(pdev, bar);
			w->len = pci_resource_len(pdev, bar);
			w->by_bus = type == PHYR_P2P_BUS_ADDR;
			w->slots = kvcalloc(DIV_ROUND_UP(w->len,
							 PHYRDMA_HW_WINDOW_SLOT),
					    sizeof(*w->slots), GFP_KERNEL);
			if (!w->slots)
				continue;
			mutex_init(&w->lock);
			hw->nr_windows++;
		}
	}
}

static void phyrdma_hw_drop_windows(struct phyrdma_hw *hw)
{
	struct phyrdma_hw_window *w;
	u64 i;

	while (hw->nr_windows) {
		w = &hw->windows[--hw->nr_windows];
		for (i = 0; i < DIV_ROUND_UP(w->len, PHYRDMA_HW_WINDOW_SLOT); i++)
			if (w->slots[i])
				iounmap(w->slots[i]);
		kvfree(w->slots);
		mutex_destroy(&w->lock);
	}
}

/**
 * phyrdma_hw_window_io - the CPU's way to byte @off of a peer's BAR
 * @w: the window
 * @off: offset into it
 *
 * Maps the slot that holds @off on first use; it stays mapped until the
 * device goes.  Uncached, the kernel's default for I/O memory: a WC mapping
 * would change the memory type its owner's own mappings get (PAT), and
 * needs fences.  Sleeps the first time.
 *
 * Return: the address, valid up to the end of @off's page; NULL if the
 * mapping could not be made.
 */
void __iomem *phyrdma_hw_window_io(struct phyrdma_hw_window *w, u64 off)
{
	u64 i = off / PHYRDMA_HW_WINDOW_SLOT, at = i * PHYRDMA_HW_WINDOW_SLOT;
	/* pairs with the release below: a slot seen is a mapping made */
	void __iomem *va = smp_load_acquire(&w->slots[i]);

	if (!va) {
		mutex_lock(&w->lock);
		va = w->slots[i];
		if (!va) {
			va = ioremap(w->phys + at,
				     min_t(u64, PHYRDMA_HW_WINDOW_SLOT,
					   w->len - at));
			if (va)
				/* published whole, to the lockless readers */
				smp_store_release(&w->slots[i], va);
		}
		mutex_unlock(&w->lock);
		if (!va)
			return NULL;
	}
	return va + (off - at);
}

/*
 * The liveness register returns the bitwise inverse of what was last
 * written to it: a pattern that a dead or absent function (reads of all
 * ones) cannot fake.
 */
static int phyrdma_hw_check_alive(struct phyrdma_hw *hw)
{
	static const u32 patterns[] = { 0x0, 0x5a5aa5a5, 0xffffffff };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(patterns); i++) {
		writel(patterns[i], hw->regs + PHYRDMA_HW_REG_LIVENESS);
		if (readl(hw->regs + PHYRDMA_HW_REG_LIVENESS) != ~patterns[i])
			return -EIO;
	}
	return 0;
}

/*
 * What does a DMA address mean to the device?  Later layers choose IOVA
 * alignment and page sizes from this, so it must reflect the domain the
 * function is really attached to, not the kernel command line.
 */
static enum phyrdma_iommu_mode phyrdma_hw_probe_iommu(struct device *dev)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(dev);

	if (!domain)
		return PHYRDMA_IOMMU_NONE;
	if (domain->type == IOMMU_DOMAIN_IDENTITY)
		return PHYRDMA_IOMMU_IDENTITY;
	if (domain->type & __IOMMU_DOMAIN_PAGING)
		return PHYRDMA_IOMMU_TRANSLATING;
	/* blocked, SVA or nested: nothing this device can DMA through */
	return PHYRDMA_IOMMU_NONE;
}

const char *phyrdma_hw_iommu_mode_name(enum phyrdma_iommu_mode mode)
{
	switch (mode) {
	case PHYRDMA_IOMMU_IDENTITY:
		return "identity";
	case PHYRDMA_IOMMU_TRANSLATING:
		return "translating";
	case PHYRDMA_IOMMU_NONE:
		break;
	}
	return "none";
}

/**
 * phyrdma_hw_init - bring up one emulated device
 * @hw: the device state to fill
 * @dma_dev: the PCI function the device does DMA as
 * @regs: its mapped BAR 0, at least %PHYRDMA_HW_BAR0_LEN bytes
 *
 * Return: 0, -ENODEV if BAR 0 does not identify an edu function, or -EIO if
 * the function does not answer.
 */
int phyrdma_hw_init(struct phyrdma_hw *hw, struct device *dma_dev,
		    void __iomem *regs)
{
	struct phyrdma_hw_caps *caps = &hw->caps;
	u32 id;
	int ret;

	hw->dma_dev = dma_dev;
	hw->regs = regs;

	id = readl(regs + PHYRDMA_HW_REG_ID);
	if (FIELD_GET(PHYRDMA_HW_ID_MAGIC_MASK, id) != PHYRDMA_HW_ID_MAGIC) {
		dev_err(dma_dev, "unexpected identification 0x%08x\n", id);
		return -ENODEV;
	}
	ret = phyrdma_hw_check_alive(hw);
	if (ret) {
		dev_err(dma_dev, "device fails its liveness check\n");
		return ret;
	}

	caps->vendor_id = PHYRDMA_PCI_VENDOR_ID;
	caps->part_id = PHYRDMA_PCI_DEVICE_ID;
	caps->hw_rev = id;
	caps->fw_ver = PHYRDMA_FW_VER(FIELD_GET(PHYRDMA_HW_ID_MAJOR, id),
				      FIELD_GET(PHYRDMA_HW_ID_MINOR, id));
	caps->page_size_cap = PHYRDMA_HW_PAGE_SIZE_CAP;
	caps->max_pd = PHYRDMA_HW_MAX_PD;
	caps->max_msg_sz = PHYRDMA_HW_MAX_MSG_SZ;
	caps->max_mr = PHYRDMA_HW_MAX_MR;
	caps->max_mr_size = PHYRDMA_HW_MAX_MR_SIZE;
	caps->max_qp = PHYRDMA_HW_MAX_QP;
	caps->max_cq = PHYRDMA_HW_MAX_CQ;
	caps->max_mcg = PHYRDMA_HW_MAX_MCG;
	caps->mcg_qps = PHYRDMA_HW_MCG_QPS;

	hw->iommu_mode = phyrdma_hw_probe_iommu(dma_dev);
	/* the engine translates DMA addresses as the IOMMU will */
	if (hw->iommu_mode == PHYRDMA_IOMMU_TRANSLATING)
		hw->domain = iommu_get_domain_for_dev(dma_dev);
	ida_init(&hw->pd_ida);
	mutex_init(&hw->mr_lock);
	xa_init_flags(&hw->mrs, XA_FLAGS_ALLOC1);
	atomic64_set(&hw->mtt_pages, 0);
	atomic64_set(&hw->queue_bytes, 0);
	phyrdma_hw_find_windows(hw);
	ret = phyrdma_hw_engine_init(hw);
	if (ret) {
		phyrdma_hw_drop_windows(hw);
		ida_destroy(&hw->pd_ida);
		mutex_destroy(&hw->mr_lock);
		return ret;
	}
	return 0;
}

/**
 * phyrdma_hw_fini - tear down what phyrdma_hw_init() set up
 * @hw: the device
 *
 * Every PD and MR must have been released: one still allocated here is a
 * leak in the verbs layer, reported (and PDs reclaimed).
 */
void phyrdma_hw_fini(struct phyrdma_hw *hw)
{
	phyrdma_hw_engine_fini(hw);
	if (!ida_is_empty(&hw->pd_ida))
		dev_err(hw->dma_dev, "phyrdma leak: protection domains still allocated\n");
	ida_destroy(&hw->pd_ida);
	if (!xa_empty(&hw->mrs))
		dev_err(hw->dma_dev, "phyrdma leak: MR table entries still valid\n");
	xa_destroy(&hw->mrs);
	if (atomic64_read(&hw->mtt_pages))
		dev_err(hw->dma_dev, "phyrdma leak: %lld MTT pages\n",
			atomic64_read(&hw->mtt_pages));
	mutex_destroy(&hw->mr_lock);
	phyrdma_hw_drop_windows(hw);
}

int phyrdma_hw_alloc_pd(struct phyrdma_hw *hw,
			struct phyrdma_hw_alloc_pd_result *result)
{
	int pdn;

	pdn = ida_alloc_max(&hw->pd_ida, hw->caps.max_pd - 1, GFP_KERNEL);
	if (pdn < 0)
		return pdn;
	result->pdn = pdn;
	return 0;
}

void phyrdma_hw_dealloc_pd(struct phyrdma_hw *hw, u32 pdn)
{
	ida_free(&hw->pd_ida, pdn);
}
