// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma device layer: the fabric, its addresses and multicast groups.
 *
 * The fabric joins every phyrdma port: a port is found by one of the
 * addresses (GIDs) the verbs layer programmed into its table, a QP on it
 * by number, the members of a multicast group by the group's GID.  There
 * are no packets: the engine (engine.c) moves a message by finding its
 * responder here.
 *
 * Locking: phyrdma_fabric_mutex orders joins and leaves; lookups walk the
 * list under RCU.  A port's GID table is under its gid_lock, its multicast
 * groups under its mcg_lock; a QP found is returned held.
 */
#include <linux/ipv6.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <net/ip.h>
#include <net/ipv6.h>

#include "hw.h"
#include "engine.h"

static LIST_HEAD(phyrdma_fabric);
static DEFINE_MUTEX(phyrdma_fabric_mutex);
static DEFINE_IDA(phyrdma_fabric_ida);

void phyrdma_hw_set_gid(struct phyrdma_hw *hw, u32 index, const u8 *gid)
{
	if (index >= PHYRDMA_HW_GID_TBL_LEN)
		return;
	spin_lock(&hw->gid_lock);
	memcpy(hw->gids[index].raw, gid, 16);
	hw->gids[index].valid = true;
	spin_unlock(&hw->gid_lock);
}

void phyrdma_hw_clear_gid(struct phyrdma_hw *hw, u32 index)
{
	if (index >= PHYRDMA_HW_GID_TBL_LEN)
		return;
	spin_lock(&hw->gid_lock);
	hw->gids[index].valid = false;
	spin_unlock(&hw->gid_lock);
}

bool phyrdma_hw_get_gid(struct phyrdma_hw *hw, u32 index, u8 *gid)
{
	bool valid = false;

	if (index >= PHYRDMA_HW_GID_TBL_LEN)
		return false;
	spin_lock(&hw->gid_lock);
	if (hw->gids[index].valid) {
		memcpy(gid, hw->gids[index].raw, 16);
		valid = true;
	}
	spin_unlock(&hw->gid_lock);
	return valid;
}

static bool phyrdma_hw_has_gid(struct phyrdma_hw *hw, const u8 *gid)
{
	bool found = false;
	int i;

	spin_lock(&hw->gid_lock);
	for (i = 0; i < PHYRDMA_HW_GID_TBL_LEN && !found; i++)
		found = hw->gids[i].valid && !memcmp(hw->gids[i].raw, gid, 16);
	spin_unlock(&hw->gid_lock);
	return found;
}

void phyrdma_hw_fabric_join(struct phyrdma_hw *hw)
{
	int id;

	mutex_lock(&phyrdma_fabric_mutex);
	id = ida_alloc(&phyrdma_fabric_ida, GFP_KERNEL);
	hw->fabric_id = id < 0 ? U32_MAX : id;
	list_add_tail_rcu(&hw->fabric_node, &phyrdma_fabric);
	mutex_unlock(&phyrdma_fabric_mutex);
}

/* When this returns no other port's engine reaches @hw. */
void phyrdma_hw_fabric_leave(struct phyrdma_hw *hw)
{
	mutex_lock(&phyrdma_fabric_mutex);
	list_del_rcu(&hw->fabric_node);
	if (hw->fabric_id != U32_MAX)
		ida_free(&phyrdma_fabric_ida, hw->fabric_id);
	mutex_unlock(&phyrdma_fabric_mutex);
	synchronize_rcu();
}

/* ---- multicast ---------------------------------------------------------- */

/*
 * Each port has a multicast group table, as a NIC does: a group is a
 * multicast GID and the QPs of the port attached to it.  A UD send to
 * %PHYRDMA_HW_MCAST_QPN at a multicast GID reaches every QP attached to
 * that group on every port of the fabric, the sender's own included (the
 * device has no multicast-loopback blocking).  Attaching is idempotent.
 */
static struct phyrdma_hw_mcg *phyrdma_hw_mcg_find(struct phyrdma_hw *hw,
						  const u8 *mgid)
{
	struct phyrdma_hw_mcg *g;

	lockdep_assert_held(&hw->mcg_lock);
	for (g = hw->mcgs; g < hw->mcgs + PHYRDMA_HW_MAX_MCG; g++)
		if (g->nr_qps && !memcmp(g->mgid, mgid, 16))
			return g;
	return NULL;
}

static int phyrdma_hw_mcg_index(const struct phyrdma_hw_mcg *g, u32 qpn)
{
	u32 i;

	for (i = 0; i < g->nr_qps; i++)
		if (g->qpn[i] == qpn)
			return i;
	return -1;
}

/**
 * phyrdma_hw_mcast_attach() - attach QP @qpn to the group of @mgid
 * @hw: the port
 * @mgid: a multicast GID, 16 bytes
 * @qpn: a UD QP of @hw
 *
 * Context: takes the group table's spinlock.
 * Return: 1 if attached now, 0 if it already was; -ENOMEM when the table
 * has no free group or the group has no free QP slot.
 */
int phyrdma_hw_mcast_attach(struct phyrdma_hw *hw, const u8 *mgid, u32 qpn)
{
	struct phyrdma_hw_mcg *g;
	int ret = 1;

	spin_lock(&hw->mcg_lock);
	g = phyrdma_hw_mcg_find(hw, mgid);
	if (!g) {
		for (g = hw->mcgs; g < hw->mcgs + PHYRDMA_HW_MAX_MCG; g++)
			if (!g->nr_qps)
				break;
		if (g == hw->mcgs + PHYRDMA_HW_MAX_MCG) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(g->mgid, mgid, 16);
	}
	if (phyrdma_hw_mcg_index(g, qpn) >= 0)
		ret = 0;
	else if (g->nr_qps == PHYRDMA_HW_MCG_QPS)
		ret = -ENOMEM;
	else
		g->qpn[g->nr_qps++] = qpn;
out:
	spin_unlock(&hw->mcg_lock);
	return ret;
}

static void phyrdma_hw_mcg_remove(struct phyrdma_hw_mcg *g, int i)
{
	g->qpn[i] = g->qpn[--g->nr_qps];
}

/**
 * phyrdma_hw_mcast_detach() - detach QP @qpn from the group of @mgid
 * @hw: the port
 * @mgid: a multicast GID, 16 bytes
 * @qpn: a QP of @hw
 *
 * Context: takes the group table's spinlock.
 * Return: 0, or -EINVAL if the QP is not attached to that group.
 */
int phyrdma_hw_mcast_detach(struct phyrdma_hw *hw, const u8 *mgid, u32 qpn)
{
	struct phyrdma_hw_mcg *g;
	int i = -1;

	spin_lock(&hw->mcg_lock);
	g = phyrdma_hw_mcg_find(hw, mgid);
	if (g) {
		i = phyrdma_hw_mcg_index(g, qpn);
		if (i >= 0)
			phyrdma_hw_mcg_remove(g, i);
	}
	spin_unlock(&hw->mcg_lock);
	return i >= 0 ? 0 : -EINVAL;
}

/**
 * phyrdma_hw_mcast_detach_all() - detach QP @qpn from every group
 * @hw: the port
 * @qpn: a QP of @hw, being destroyed
 *
 * Context: takes the group table's spinlock.
 * Return: how many attachments there were.
 */
u32 phyrdma_hw_mcast_detach_all(struct phyrdma_hw *hw, u32 qpn)
{
	struct phyrdma_hw_mcg *g;
	u32 n = 0;
	int i;

	spin_lock(&hw->mcg_lock);
	for (g = hw->mcgs; g < hw->mcgs + PHYRDMA_HW_MAX_MCG; g++) {
		i = phyrdma_hw_mcg_index(g, qpn);
		if (i >= 0) {
			phyrdma_hw_mcg_remove(g, i);
			n++;
		}
	}
	spin_unlock(&hw->mcg_lock);
	return n;
}

bool phyrdma_hw_gid_is_multicast(const u8 *gid)
{
	const struct in6_addr *a = (const struct in6_addr *)gid;

	if (ipv6_addr_v4mapped(a))
		return ipv4_is_multicast(a->s6_addr32[3]);
	return ipv6_addr_is_multicast(a);
}

/* The QP @qpn on the port that has address @dgid, held. */
struct phyrdma_hw_qp *phyrdma_fabric_find_qp(const u8 *dgid, u32 qpn)
{
	struct phyrdma_hw_qp *qp = NULL;
	struct phyrdma_hw *hw;

	rcu_read_lock();
	list_for_each_entry_rcu(hw, &phyrdma_fabric, fabric_node) {
		if (phyrdma_hw_has_gid(hw, dgid)) {
			qp = phyrdma_hw_qp_get(hw, qpn);
			break;
		}
	}
	rcu_read_unlock();
	return qp;
}

/*
 * The member of multicast group @mgid that comes next after *@pos in the
 * fabric's order (port number, then QP number), held; *@pos moves past it.
 * A walk from *@pos == 0 meets every member once, however the groups change
 * under it, and holds no lock between members: delivery may sleep.
 */
struct phyrdma_hw_qp *phyrdma_fabric_next_member(const u8 *mgid, u64 *pos)
{
	struct phyrdma_hw_qp *qp = NULL;
	struct phyrdma_hw_mcg *g;
	struct phyrdma_hw *hw;
	u64 key, best;
	u32 i;

	rcu_read_lock();
	for (;;) {
		best = U64_MAX;
		list_for_each_entry_rcu(hw, &phyrdma_fabric, fabric_node) {
			spin_lock(&hw->mcg_lock);
			g = phyrdma_hw_mcg_find(hw, mgid);
			for (i = 0; g && i < g->nr_qps; i++) {
				key = (u64)hw->fabric_id << 32 | g->qpn[i];
				if (key >= *pos && key < best)
					best = key;
			}
			spin_unlock(&hw->mcg_lock);
		}
		if (best == U64_MAX)
			break;
		*pos = best + 1;
		list_for_each_entry_rcu(hw, &phyrdma_fabric, fabric_node)
			if (hw->fabric_id == best >> 32)
				break;
		if (list_entry_is_head(hw, &phyrdma_fabric, fabric_node))
			continue;
		qp = phyrdma_hw_qp_get(hw, (u32)best);
		if (qp)
			break;
	}
	rcu_read_unlock();
	return qp;
}
