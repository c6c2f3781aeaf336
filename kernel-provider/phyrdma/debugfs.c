// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma debugfs: /sys/kernel/debug/phyrdma/<pci address>/
 *
 *   iommu     what a DMA address means to the device: "translating",
 *             "identity" or "none"
 *   caps      the device capabilities, one "name value" pair per line
 *   counters  objects held for userspace, one "name value" pair per line
 *
 * Directories are named after the PCI function, which is stable, rather
 * than the ib_device, which userspace may rename.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "phyrdma.h"

static struct dentry *phyrdma_debugfs_root;

static int iommu_show(struct seq_file *s, void *unused)
{
	struct phyrdma_dev *dev = s->private;

	seq_printf(s, "%s\n", phyrdma_hw_iommu_mode_name(dev->hw.iommu_mode));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(iommu);

static int caps_show(struct seq_file *s, void *unused)
{
	struct phyrdma_dev *dev = s->private;
	const struct phyrdma_hw_caps *caps = &dev->hw.caps;

	seq_printf(s, "vendor_id 0x%x\n", caps->vendor_id);
	seq_printf(s, "vendor_part_id 0x%x\n", caps->part_id);
	seq_printf(s, "hw_ver 0x%x\n", caps->hw_rev);
	seq_printf(s, "fw_ver 0x%llx\n", caps->fw_ver);
	seq_printf(s, "page_size_cap 0x%llx\n", caps->page_size_cap);
	seq_printf(s, "max_pd %u\n", caps->max_pd);
	seq_printf(s, "max_msg_sz %u\n", caps->max_msg_sz);
	seq_printf(s, "lid %u\n", dev->lid);
	seq_printf(s, "node_guid 0x%016llx\n", be64_to_cpu(dev->ibdev.node_guid));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(caps);

static int counters_show(struct seq_file *s, void *unused)
{
	struct phyrdma_dev *dev = s->private;
	int i;

	for (i = 0; i < PHYRDMA_CNT_MAX; i++)
		seq_printf(s, "%s %lld\n", phyrdma_counter_names[i],
			   atomic64_read(&dev->counters[i]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(counters);

void phyrdma_debugfs_add_dev(struct phyrdma_dev *dev)
{
	dev->debugfs = debugfs_create_dir(pci_name(dev->pdev),
					  phyrdma_debugfs_root);
	debugfs_create_file("iommu", 0400, dev->debugfs, dev, &iommu_fops);
	debugfs_create_file("caps", 0400, dev->debugfs, dev, &caps_fops);
	debugfs_create_file("counters", 0400, dev->debugfs, dev,
			    &counters_fops);
}

void phyrdma_debugfs_remove_dev(struct phyrdma_dev *dev)
{
	debugfs_remove_recursive(dev->debugfs);
}

void phyrdma_debugfs_init(void)
{
	phyrdma_debugfs_root = debugfs_create_dir(PHYRDMA_DRV_NAME, NULL);
}

void phyrdma_debugfs_cleanup(void)
{
	debugfs_remove_recursive(phyrdma_debugfs_root);
}
