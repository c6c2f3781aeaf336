// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma: PCI driver and module glue.
 *
 * One ib_device "phyrdma%d" per edu function.  Remove is probe in reverse;
 * ib_unregister_device() disassociates any userspace still holding the
 * device, so the module can be unloaded under open contexts.
 */
#include <linux/module.h>
#include <linux/random.h>
#include <linux/pci.h>

MODULE_IMPORT_NS("DMA_BUF");
MODULE_IMPORT_NS("PHYR");

#include "phyrdma.h"

/*
 * A locally administered EUI-64 built from the PCI address: stable across
 * reboots and distinct per function, which is all a loopback port needs.
 */
static __be64 phyrdma_node_guid(struct pci_dev *pdev)
{
	return cpu_to_be64(0x020000fffe000000ULL |
			   (u64)(pci_domain_nr(pdev->bus) & 0xffff) << 40 |
			   pci_dev_id(pdev));
}

static int phyrdma_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct phyrdma_dev *dev;
	void __iomem *regs;
	int ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	if (pci_resource_len(pdev, 0) < PHYRDMA_HW_BAR0_LEN)
		return -ENODEV;
	regs = pcim_iomap_region(pdev, 0, PHYRDMA_DRV_NAME);
	if (IS_ERR(regs))
		return PTR_ERR(regs);
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	/*
	 * Let whoever maps for us (exporters, ib_umem) merge as far as the
	 * IOMMU allows: 64 KiB segments would cap the device page size.
	 */
	dma_set_max_seg_size(&pdev->dev, UINT_MAX);
	pci_set_master(pdev);

	dev = ib_alloc_device(phyrdma_dev, ibdev);
	if (!dev)
		return -ENOMEM;
	dev->pdev = pdev;
	/*
	 * The IOMMU domain is the device's for as long as the driver is
	 * bound; a new one comes only with a new bring-up, which gets a new
	 * generation (random, so that a module reload does not repeat one).
	 */
	dev->dma_generation = get_random_u32();

	ret = phyrdma_hw_init(&dev->hw, &pdev->dev, regs);
	if (ret)
		goto err_dealloc_device;
	phyrdma_odp_init(dev);
	ret = phyrdma_importer_init(dev);
	if (ret)
		goto err_hw_only;

	dev->ibdev.node_type = RDMA_NODE_IB_CA;
	dev->ibdev.node_guid = phyrdma_node_guid(pdev);
	dev->ibdev.phys_port_cnt = 1;
	dev->ibdev.num_comp_vectors = 1;
	dev->ibdev.dev.parent = &pdev->dev;
	dev->ibdev.local_dma_lkey = PHYRDMA_HW_LOCAL_DMA_LKEY;
	dev->ibdev.driver_def = phyrdma_uapi_defs;
	/* completion events are armed through the kernel */
	dev->ibdev.uverbs_cmd_mask |= BIT_ULL(IB_USER_VERBS_CMD_REQ_NOTIFY_CQ);
	strscpy(dev->ibdev.node_desc, "phyrdma RoCE HCA",
		sizeof(dev->ibdev.node_desc));
	ib_set_device_ops(&dev->ibdev, &phyrdma_dev_ops);

	ret = phyrdma_netdev_init(dev);
	if (ret)
		goto err_hw_fini;
	ret = ib_device_set_netdev(&dev->ibdev, dev->netdev, PHYRDMA_PORT);
	if (ret)
		goto err_netdev;

	phyrdma_hw_fabric_join(&dev->hw);
	ret = ib_register_device(&dev->ibdev, "phyrdma%d", &pdev->dev);
	if (ret)
		goto err_fabric;
	phyrdma_netdev_attach(dev, true);

	pci_set_drvdata(pdev, dev);
	phyrdma_debugfs_add_dev(dev);
	dev_info(&pdev->dev, "%s: iommu %s\n", dev_name(&dev->ibdev.dev),
		 phyrdma_hw_iommu_mode_name(dev->hw.iommu_mode));
	return 0;

err_fabric:
	phyrdma_hw_fabric_leave(&dev->hw);
	ib_device_set_netdev(&dev->ibdev, NULL, PHYRDMA_PORT);
err_netdev:
	phyrdma_netdev_fini(dev);
err_hw_fini:
	phyr_importer_fini(&dev->importer);
err_hw_only:
	phyrdma_hw_fini(&dev->hw);
err_dealloc_device:
	ib_dealloc_device(&dev->ibdev);
	return ret;
}

static void phyrdma_remove(struct pci_dev *pdev)
{
	struct phyrdma_dev *dev = pci_get_drvdata(pdev);

	phyrdma_debugfs_remove_dev(dev);
	phyrdma_netdev_attach(dev, false);
	ib_unregister_device(&dev->ibdev);
	/* every QP is gone: no other port's engine can reach this one */
	phyrdma_hw_fabric_leave(&dev->hw);
	/* kept imports go with the device; anything else left is a leak */
	phyr_importer_fini(&dev->importer);
	phyrdma_check_leaks(dev);
	ib_device_set_netdev(&dev->ibdev, NULL, PHYRDMA_PORT);
	phyrdma_netdev_fini(dev);
	phyrdma_hw_fini(&dev->hw);
	ib_dealloc_device(&dev->ibdev);
}

static const struct pci_device_id phyrdma_pci_table[] = {
	{ PCI_DEVICE(PHYRDMA_PCI_VENDOR_ID, PHYRDMA_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, phyrdma_pci_table);

static struct pci_driver phyrdma_pci_driver = {
	.name = PHYRDMA_DRV_NAME,
	.id_table = phyrdma_pci_table,
	.probe = phyrdma_probe,
	.remove = phyrdma_remove,
};

static int __init phyrdma_init(void)
{
	int ret;

	phyrdma_debugfs_init();
	ret = pci_register_driver(&phyrdma_pci_driver);
	if (ret)
		phyrdma_debugfs_cleanup();
	return ret;
}

static void __exit phyrdma_exit(void)
{
	pci_unregister_driver(&phyrdma_pci_driver);
	phyrdma_debugfs_cleanup();
}

module_init(phyrdma_init);
module_exit(phyrdma_exit);

MODULE_DESCRIPTION("RDMA driver registering memory from physical range lists");
MODULE_LICENSE("GPL");
