// SPDX-License-Identifier: GPL-2.0
/*
 * phyr: how a device reaches a peer's BAR.
 *
 * A P2P MMIO segment names its P2P provider (a BAR of a PCI function).
 * Whether the importer's device can reach it, and with which addresses,
 * is the PCI P2PDMA map type of the pair.  In-tree code asks
 * pci_p2pdma_map_type(); 7.2 does not export it, so this module derives
 * the same answer from exported pieces:
 *
 *  - pci_p2pdma_distance_many() says whether the pair can do P2P at all
 *    (it applies the host-bridge allowlist and the CPU rule); a negative
 *    distance is NOT_SUPPORTED;
 *  - a pair below one common upstream bridge, with no ACS redirection on
 *    either function or either path to it, talks by bus address through
 *    that bridge (BUS_ADDR), as does a function reaching its own BAR;
 *    everything else goes up through the host bridge (THRU_HOST_BRIDGE)
 *    and is mapped like RAM, through the IOMMU.
 *
 * The answer is computed per call, from the topology and the ACS control
 * registers as they are now; it is cheap next to a registration.
 */
#include <linux/export.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <phyr/phyr.h>
#include <phyr/phyr_dma.h>

static bool phyr_p2p_acs_redirects(struct pci_dev *bridge)
{
	int pos = bridge->acs_cap;
	u16 ctrl;

	if (!pos)
		return false;
	pci_read_config_word(bridge, pos + PCI_ACS_CTRL, &ctrl);
	return ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC);
}

/* Is @dev at or below @bridge? */
static bool phyr_p2p_below(struct pci_dev *dev, struct pci_dev *bridge)
{
	for (; dev; dev = pci_upstream_bridge(dev))
		if (dev == bridge)
			return true;
	return false;
}

/* Does @dev itself, or any bridge from it up to @top, redirect? */
static bool phyr_p2p_path_redirects(struct pci_dev *dev, struct pci_dev *top)
{
	struct pci_dev *b;

	for (b = dev; b && b != top; b = pci_upstream_bridge(b))
		if (phyr_p2p_acs_redirects(b))
			return true;
	return top && phyr_p2p_acs_redirects(top);
}

/**
 * phyr_p2p_pci_map_type - how @dev reaches the BARs of @owner
 * @owner: the PCI function whose memory is reached
 * @dev: the device that will do the DMA; must be a PCI function
 *
 * Return: %PHYR_P2P_BUS_ADDR, %PHYR_P2P_HOST_BRIDGE or
 * %PHYR_P2P_NOT_SUPPORTED.
 */
enum phyr_p2p_type phyr_p2p_pci_map_type(struct pci_dev *owner,
					 struct device *dev)
{
	struct pci_dev *client, *up;

	if (!dev_is_pci(dev))
		return PHYR_P2P_NOT_SUPPORTED;
	client = to_pci_dev(dev);
	if (pci_p2pdma_distance_many(owner, &dev, 1, false) < 0)
		return PHYR_P2P_NOT_SUPPORTED;

	/* a function reaching its own BAR never leaves the device */
	if (owner == client)
		return PHYR_P2P_BUS_ADDR;
	/* the nearest bridge above the provider that the client is below */
	for (up = pci_upstream_bridge(owner); up; up = pci_upstream_bridge(up))
		if (phyr_p2p_below(client, up))
			break;
	if (!up || phyr_p2p_path_redirects(owner, up) ||
	    phyr_p2p_path_redirects(client, up))
		return PHYR_P2P_HOST_BRIDGE;
	return PHYR_P2P_BUS_ADDR;
}
EXPORT_SYMBOL_NS_GPL(phyr_p2p_pci_map_type, "PHYR");

/**
 * phyr_p2p_map_type - how @dev reaches the memory of @provider
 * @provider: a P2P provider, from a %PHYR_MEM_P2P_MMIO segment
 * @dev: the device that will do the DMA; must be a PCI function
 *
 * Return: as phyr_p2p_pci_map_type() for the provider's function.
 */
enum phyr_p2p_type phyr_p2p_map_type(const struct p2pdma_provider *provider,
				     struct device *dev)
{
	if (!provider || !provider->owner || !dev_is_pci(provider->owner))
		return PHYR_P2P_NOT_SUPPORTED;
	return phyr_p2p_pci_map_type(to_pci_dev(provider->owner), dev);
}
EXPORT_SYMBOL_NS_GPL(phyr_p2p_map_type, "PHYR");

/**
 * phyr_dma_p2p_type - how @dev reaches a slice
 * @dev: the device that will do the DMA
 * @slice: the memory
 *
 * Return: %PHYR_P2P_NONE for CPU RAM, the map type for P2P MMIO (see
 * phyr_p2p_map_type()), or what phyr_slice_check_meta() refuses the slice
 * with; -EREMOTEIO if @dev cannot reach the MMIO.
 */
int phyr_dma_p2p_type(struct device *dev, const struct phyr_slice *slice)
{
	struct phyr_iter it;
	int ret;

	ret = phyr_slice_check_meta(slice);
	if (ret)
		return ret;
	/* one kind and one provider: the first piece speaks for all */
	phyr_iter_start(&it, slice);
	if (it.meta->kind == PHYR_MEM_RAM)
		return PHYR_P2P_NONE;
	if (it.meta->kind != PHYR_MEM_P2P_MMIO)
		return -EOPNOTSUPP;
	ret = phyr_p2p_map_type(it.meta->provider, dev);
	return ret == PHYR_P2P_NOT_SUPPORTED ? -EREMOTEIO : ret;
}
EXPORT_SYMBOL_NS_GPL(phyr_dma_p2p_type, "PHYR");
