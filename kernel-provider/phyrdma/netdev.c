// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma verbs layer: the RoCE port's Ethernet function.
 *
 * A RoCE NIC's PCI function has a netdev: its IP addresses are the port's
 * GIDs (ib_core keeps the table, and programs the device's address table
 * through add_gid/del_gid), its carrier is the port state, and librdmacm
 * resolves addresses through it.  Ours carries no packets: RDMA traffic
 * goes over the device fabric, so anything the stack transmits here is
 * dropped and counted.  Two phyrdma ports in one host, with addresses of
 * their own, reach each other as local addresses; see docs/design.md.
 */
#include <linux/etherdevice.h>
#include <linux/netdevice.h>

#include "phyrdma.h"

struct phyrdma_netdev_priv {
	struct phyrdma_dev *dev;
};

static void phyrdma_port_event(struct phyrdma_dev *dev, enum ib_event_type type)
{
	struct ib_event ev = {
		.device = &dev->ibdev,
		.element.port_num = PHYRDMA_PORT,
		.event = type,
	};

	ib_dispatch_event(&ev);
}

static int phyrdma_ndo_open(struct net_device *ndev)
{
	struct phyrdma_netdev_priv *priv = netdev_priv(ndev);

	netif_carrier_on(ndev);
	netif_start_queue(ndev);
	if (priv->dev)
		phyrdma_port_event(priv->dev, IB_EVENT_PORT_ACTIVE);
	return 0;
}

static int phyrdma_ndo_stop(struct net_device *ndev)
{
	struct phyrdma_netdev_priv *priv = netdev_priv(ndev);

	netif_stop_queue(ndev);
	netif_carrier_off(ndev);
	if (priv->dev)
		phyrdma_port_event(priv->dev, IB_EVENT_PORT_ERR);
	return 0;
}

static netdev_tx_t phyrdma_ndo_start_xmit(struct sk_buff *skb,
					  struct net_device *ndev)
{
	dev_dstats_tx_dropped(ndev);
	dev_kfree_skb_any(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops phyrdma_netdev_ops = {
	.ndo_open = phyrdma_ndo_open,
	.ndo_stop = phyrdma_ndo_stop,
	.ndo_start_xmit = phyrdma_ndo_start_xmit,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

/* A locally administered unicast MAC derived from the node GUID. */
static void phyrdma_netdev_mac(struct phyrdma_dev *dev, u8 *mac)
{
	u64 guid = be64_to_cpu(dev->ibdev.node_guid);

	mac[0] = 0x02;
	mac[1] = 0x50;
	mac[2] = (guid >> 24) & 0xff;
	mac[3] = (guid >> 16) & 0xff;
	mac[4] = (guid >> 8) & 0xff;
	mac[5] = guid & 0xff;
}

int phyrdma_netdev_init(struct phyrdma_dev *dev)
{
	struct phyrdma_netdev_priv *priv;
	struct net_device *ndev;
	u8 mac[ETH_ALEN];
	int ret;

	ndev = alloc_netdev(sizeof(*priv), "prdma%d", NET_NAME_ENUM, ether_setup);
	if (!ndev)
		return -ENOMEM;
	priv = netdev_priv(ndev);
	priv->dev = NULL;
	ndev->netdev_ops = &phyrdma_netdev_ops;
	ndev->pcpu_stat_type = NETDEV_PCPU_STAT_DSTATS;
	ndev->min_mtu = ETH_MIN_MTU;
	ndev->max_mtu = 9000;
	/* room for a 4096-byte RoCE MTU behind the IP, UDP and BTH headers */
	ndev->mtu = 4500;
	phyrdma_netdev_mac(dev, mac);
	eth_hw_addr_set(ndev, mac);
	memcpy(dev->hw.mac, mac, ETH_ALEN);
	SET_NETDEV_DEV(ndev, &dev->pdev->dev);
	netif_carrier_off(ndev);
	ret = register_netdev(ndev);
	if (ret) {
		free_netdev(ndev);
		return ret;
	}
	dev->netdev = ndev;
	return 0;
}

/*
 * Port events go to the ib_device between these two; open and stop run
 * under the RTNL, and so do these.
 */
void phyrdma_netdev_attach(struct phyrdma_dev *dev, bool attach)
{
	struct phyrdma_netdev_priv *priv = netdev_priv(dev->netdev);

	rtnl_lock();
	priv->dev = attach ? dev : NULL;
	rtnl_unlock();
}

void phyrdma_netdev_fini(struct phyrdma_dev *dev)
{
	if (!dev->netdev)
		return;
	unregister_netdev(dev->netdev);
	free_netdev(dev->netdev);
	dev->netdev = NULL;
}
