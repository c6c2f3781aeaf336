// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma verbs layer: the RoCE port's Ethernet function.
 *
 * A RoCE NIC's PCI function has a netdev: its IP addresses are the port's
 * GIDs (ib_core keeps the table, and programs the device's address table
 * through add_gid/del_gid), its carrier is the port state, and librdmacm
 * resolves addresses through it.  Ours carries no packets: RDMA traffic
 * goes over the device fabric.  The fabric is also the ports' Ethernet:
 * a frame sent on one port's netdev reaches the port its destination MAC
 * names (every other port, for broadcast and multicast), so ARP and IPv6
 * neighbour discovery between ports work as on a switch, and address
 * resolution bound to one port's netdev (what ib_core does for a RoCE
 * address handle) finds the other port's MAC.  Frames never leave the
 * driver; see docs/design.md.
 */
#include <linux/etherdevice.h>
#include <linux/netdevice.h>

#include "phyrdma.h"

struct phyrdma_netdev_priv {
	struct phyrdma_dev *dev;
	struct net_device *ndev;
	struct list_head node;
};

/* The ports' Ethernet segment. */
static LIST_HEAD(phyrdma_ethernet);
static DEFINE_SPINLOCK(phyrdma_ethernet_lock);

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
	const struct ethhdr *eth = eth_hdr(skb);
	struct phyrdma_netdev_priv *peer;
	bool flood, delivered = false;
	unsigned int len = skb->len;
	struct sk_buff *nskb;

	skb_reset_mac_header(skb);
	eth = eth_hdr(skb);
	flood = is_multicast_ether_addr(eth->h_dest);
	rcu_read_lock();
	list_for_each_entry_rcu(peer, &phyrdma_ethernet, node) {
		if (peer->ndev == ndev || !net_eq(dev_net(peer->ndev), dev_net(ndev)))
			continue;
		if (!flood && !ether_addr_equal(eth->h_dest, peer->ndev->dev_addr))
			continue;
		nskb = skb_copy(skb, GFP_ATOMIC);
		if (!nskb)
			break;
		/* dev_forward_skb() scrubs, classifies and receives it */
		if (dev_forward_skb(peer->ndev, nskb) == NET_RX_SUCCESS)
			dev_dstats_rx_add(peer->ndev, len);
		delivered = true;
		if (!flood)
			break;
	}
	rcu_read_unlock();
	if (delivered)
		dev_dstats_tx_add(ndev, len);
	else
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
	priv->ndev = ndev;
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
	spin_lock(&phyrdma_ethernet_lock);
	list_add_tail_rcu(&priv->node, &phyrdma_ethernet);
	spin_unlock(&phyrdma_ethernet_lock);
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
	struct phyrdma_netdev_priv *priv;

	if (!dev->netdev)
		return;
	priv = netdev_priv(dev->netdev);
	spin_lock(&phyrdma_ethernet_lock);
	list_del_rcu(&priv->node);
	spin_unlock(&phyrdma_ethernet_lock);
	synchronize_rcu();
	unregister_netdev(dev->netdev);
	free_netdev(dev->netdev);
	dev->netdev = NULL;
}
