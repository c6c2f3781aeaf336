// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma verbs layer: what the device shows of itself, in one place.
 *
 * - "rdma statistic" (and the hw_counters directories in sysfs): every
 *   counter the driver keeps, the gauges of what it holds for userspace
 *   (back to zero when nothing is registered, checked at removal) and the
 *   work done since load: registrations by path, the mapper's runs and
 *   IOTLB syncs, the importer's imports, the engine's WQEs and faults;
 * - "rdma res show mr -dd": each MR's layout, never an address.
 *
 * debugfs (debugfs.c) keeps only what tests hold these against: the
 * oracle, and what the device's registers declare.
 */
#include <rdma/ib_verbs.h>
#include <rdma/rdma_netlink.h>

#include "phyrdma.h"

/* ---- "rdma statistic" --------------------------------------------------- */

/* The counts the layers keep of their own work: the device's, the importer's. */
enum phyrdma_layer_stat {
	PHYRDMA_LAYER_MTT_PAGES,
	PHYRDMA_LAYER_QUEUE_BYTES,
	PHYRDMA_LAYER_IMPORTS_KEPT,
	PHYRDMA_LAYER_IMPORTS_MADE,
	PHYRDMA_LAYER_IMPORTS_REUSED,
	PHYRDMA_LAYER_IMPORTS_RELEASED,
	PHYRDMA_LAYER_IMPORT_REVOKES,
	PHYRDMA_LAYER_IMPORT_KEYS_REVOKED,
	PHYRDMA_LAYER_WQES,
	PHYRDMA_LAYER_BYTES,
	PHYRDMA_LAYER_CQES,
	PHYRDMA_LAYER_DOORBELLS,
	PHYRDMA_LAYER_RNR_RETRIES,
	PHYRDMA_LAYER_TIMEOUTS,
	PHYRDMA_LAYER_UD_DROPPED,
	PHYRDMA_LAYER_PAGE_FAULTS,
	PHYRDMA_LAYER_INVALIDATIONS,
	PHYRDMA_LAYER_MAX,
};

/* where each group starts among the statistics */
#define STAT(i)		(PHYRDMA_CNT_MAX + (i))
#define LAYER(i)	(STAT(PHYRDMA_STAT_MAX) + (i))

/* Every statistic, each named once: the gauges, the stats, the layers'. */
static const struct rdma_stat_desc phyrdma_stat_descs[] = {
	[PHYRDMA_CNT_UCONTEXTS] = { .name = "ucontexts" },
	[PHYRDMA_CNT_PDS] = { .name = "pds" },
	[PHYRDMA_CNT_MRS] = { .name = "mrs" },
	[PHYRDMA_CNT_ATTACHMENTS] = { .name = "dmabuf_attachments" },
	[PHYRDMA_CNT_PINNED_PAGES] = { .name = "pinned_pages" },
	[PHYRDMA_CNT_MTT_ENTRIES] = { .name = "mtt_entries" },
	[PHYRDMA_CNT_IOVA_BYTES] = { .name = "iova_bytes" },
	[PHYRDMA_CNT_CQS] = { .name = "cqs" },
	[PHYRDMA_CNT_QPS] = { .name = "qps" },
	[PHYRDMA_CNT_AHS] = { .name = "ahs" },
	[PHYRDMA_CNT_MMAPS] = { .name = "queue_mappings" },
	[PHYRDMA_CNT_SRQS] = { .name = "srqs" },
	[PHYRDMA_CNT_MWS] = { .name = "mws" },
	[PHYRDMA_CNT_MCAST] = { .name = "mcast_attachments" },
	[PHYRDMA_CNT_IMPORTS] = { .name = "dmabuf_imports" },

	[STAT(PHYRDMA_STAT_REG_PHYR)] = { .name = "reg_phyr" },
	[STAT(PHYRDMA_STAT_REG_LEGACY)] = { .name = "reg_legacy" },
	[STAT(PHYRDMA_STAT_REG_ODP)] = { .name = "reg_odp" },
	[STAT(PHYRDMA_STAT_RUNS_LINKED)] = { .name = "runs_linked" },
	[STAT(PHYRDMA_STAT_SYNCS)] = { .name = "iotlb_syncs" },
	[STAT(PHYRDMA_STAT_BLOCKS)] = { .name = "blocks_emitted" },
	[STAT(PHYRDMA_STAT_IOVA_REALIGNED)] = { .name = "iova_realigned" },
	[STAT(PHYRDMA_STAT_REG_P2P)] = { .name = "reg_p2p" },
	[STAT(PHYRDMA_STAT_REVOKES)] = { .name = "revokes" },
	[STAT(PHYRDMA_STAT_REG_SHARED)] = { .name = "reg_shared" },
	[STAT(PHYRDMA_STAT_IMPORT_FALLBACKS)] = { .name = "import_fallbacks" },

	[LAYER(PHYRDMA_LAYER_MTT_PAGES)] = { .name = "mtt_pages" },
	[LAYER(PHYRDMA_LAYER_QUEUE_BYTES)] = { .name = "queue_bytes" },
	[LAYER(PHYRDMA_LAYER_IMPORTS_KEPT)] = { .name = "imports_kept" },
	[LAYER(PHYRDMA_LAYER_IMPORTS_MADE)] = { .name = "imports_made" },
	[LAYER(PHYRDMA_LAYER_IMPORTS_REUSED)] = { .name = "imports_reused" },
	[LAYER(PHYRDMA_LAYER_IMPORTS_RELEASED)] = { .name = "imports_released" },
	[LAYER(PHYRDMA_LAYER_IMPORT_REVOKES)] = { .name = "import_revokes" },
	[LAYER(PHYRDMA_LAYER_IMPORT_KEYS_REVOKED)] = {
		.name = "import_keys_revoked" },
	[LAYER(PHYRDMA_LAYER_WQES)] = { .name = "wqes" },
	[LAYER(PHYRDMA_LAYER_BYTES)] = { .name = "bytes" },
	[LAYER(PHYRDMA_LAYER_CQES)] = { .name = "cqes" },
	[LAYER(PHYRDMA_LAYER_DOORBELLS)] = { .name = "doorbells" },
	[LAYER(PHYRDMA_LAYER_RNR_RETRIES)] = { .name = "rnr_retries" },
	[LAYER(PHYRDMA_LAYER_TIMEOUTS)] = { .name = "timeouts" },
	[LAYER(PHYRDMA_LAYER_UD_DROPPED)] = { .name = "ud_dropped" },
	[LAYER(PHYRDMA_LAYER_PAGE_FAULTS)] = { .name = "page_faults" },
	[LAYER(PHYRDMA_LAYER_INVALIDATIONS)] = { .name = "invalidations" },
};

static_assert(ARRAY_SIZE(phyrdma_stat_descs) == LAYER(PHYRDMA_LAYER_MAX));

static u64 phyrdma_layer_stat(struct phyrdma_dev *dev,
			      enum phyrdma_layer_stat i)
{
	const struct phyr_importer_stats *imp = &dev->importer.stats;
	const struct phyrdma_hw *hw = &dev->hw;

	switch (i) {
	case PHYRDMA_LAYER_MTT_PAGES:
		return atomic64_read(&hw->mtt_pages);
	case PHYRDMA_LAYER_QUEUE_BYTES:
		return atomic64_read(&hw->queue_bytes);
	case PHYRDMA_LAYER_IMPORTS_KEPT:
		return READ_ONCE(dev->importer.nr_kept);
	case PHYRDMA_LAYER_IMPORTS_MADE:
		return atomic64_read(&imp->imports);
	case PHYRDMA_LAYER_IMPORTS_REUSED:
		return atomic64_read(&imp->kept);
	case PHYRDMA_LAYER_IMPORTS_RELEASED:
		return atomic64_read(&imp->released);
	case PHYRDMA_LAYER_IMPORT_REVOKES:
		return atomic64_read(&imp->revokes);
	case PHYRDMA_LAYER_IMPORT_KEYS_REVOKED:
		return atomic64_read(&imp->keys_revoked);
	case PHYRDMA_LAYER_WQES:
		return atomic64_read(&hw->stats.wqes);
	case PHYRDMA_LAYER_BYTES:
		return atomic64_read(&hw->stats.bytes);
	case PHYRDMA_LAYER_CQES:
		return atomic64_read(&hw->stats.cqes);
	case PHYRDMA_LAYER_DOORBELLS:
		return atomic64_read(&hw->stats.doorbells);
	case PHYRDMA_LAYER_RNR_RETRIES:
		return atomic64_read(&hw->stats.rnr_retries);
	case PHYRDMA_LAYER_TIMEOUTS:
		return atomic64_read(&hw->stats.timeouts);
	case PHYRDMA_LAYER_UD_DROPPED:
		return atomic64_read(&hw->stats.ud_dropped);
	case PHYRDMA_LAYER_PAGE_FAULTS:
		return atomic64_read(&hw->stats.page_faults);
	case PHYRDMA_LAYER_INVALIDATIONS:
		return atomic64_read(&hw->stats.invalidations);
	default:
		return 0;
	}
}

struct rdma_hw_stats *phyrdma_alloc_hw_device_stats(struct ib_device *ibdev)
{
	return rdma_alloc_hw_stats_struct(phyrdma_stat_descs,
					  ARRAY_SIZE(phyrdma_stat_descs),
					  RDMA_HW_STATS_DEFAULT_LIFESPAN);
}

/* the one port shows the device's, where "rdma statistic show" looks */
struct rdma_hw_stats *phyrdma_alloc_hw_port_stats(struct ib_device *ibdev,
						  u32 port_num)
{
	return phyrdma_alloc_hw_device_stats(ibdev);
}

int phyrdma_get_hw_stats(struct ib_device *ibdev, struct rdma_hw_stats *stats,
			 u32 port, int index)
{
	struct phyrdma_dev *dev = to_pdev(ibdev);
	int i;

	for (i = 0; i < PHYRDMA_CNT_MAX; i++)
		stats->value[i] = atomic64_read(&dev->counters[i]);
	for (i = 0; i < PHYRDMA_STAT_MAX; i++)
		stats->value[STAT(i)] = atomic64_read(&dev->stats[i]);
	for (i = 0; i < PHYRDMA_LAYER_MAX; i++)
		stats->value[LAYER(i)] = phyrdma_layer_stat(dev, i);
	return ARRAY_SIZE(phyrdma_stat_descs);
}

/* A counter not back to zero when the device goes is a leak: say which. */
void phyrdma_check_leaks(struct phyrdma_dev *dev)
{
	s64 v;
	int i;

	for (i = 0; i < PHYRDMA_CNT_MAX; i++) {
		v = atomic64_read(&dev->counters[i]);
		if (v)
			dev_err(&dev->pdev->dev, "phyrdma leak: %lld %s\n",
				v, phyrdma_stat_descs[i].name);
	}
}

/* ---- "rdma res show mr -dd" --------------------------------------------- */

static const char *const phyrdma_path_names[] = {
	[PHYRDMA_PATH_PHYR] = "phyr",
	[PHYRDMA_PATH_LEGACY] = "legacy",
	[PHYRDMA_PATH_ODP] = "odp",
};

/* "rdma res show mr -dd": each MR's layout, never an address. */
int phyrdma_fill_res_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct phyrdma_mr_layout l = {};
	struct nlattr *table;

	if (!ibmr->uobject)
		return 0;	/* the kernel's own DMA MR has no layout */
	phyrdma_mr_layout(ibmr, &l);
	table = nla_nest_start_noflag(msg, RDMA_NLDEV_ATTR_DRIVER);
	if (!table)
		return -EMSGSIZE;
	if (rdma_nl_put_driver_string(msg, "path",
				      l.path < ARRAY_SIZE(phyrdma_path_names) &&
				      phyrdma_path_names[l.path] ?
				      phyrdma_path_names[l.path] : "none") ||
	    rdma_nl_put_driver_string(msg, "memory",
				      l.mem_kinds & PHYRDMA_MEM_P2P_MMIO ?
				      "p2p_mmio" : "ram") ||
	    rdma_nl_put_driver_u64(msg, "page_size", l.page_size) ||
	    rdma_nl_put_driver_u64(msg, "mtt_entries", l.mtt_entries) ||
	    rdma_nl_put_driver_u32(msg, "mtt_levels", l.mtt_levels) ||
	    rdma_nl_put_driver_u64(msg, "iova_bytes", l.iova_bytes) ||
	    rdma_nl_put_driver_u64(msg, "iommu_page_size", l.iommu_page_size) ||
	    rdma_nl_put_driver_u32(msg, "revoked",
				   !!(l.flags & PHYRDMA_MR_REVOKED)) ||
	    rdma_nl_put_driver_u32(msg, "shared",
				   !!(l.flags & PHYRDMA_MR_SHARED)))
		goto err;
	nla_nest_end(msg, table);
	return 0;

err:
	nla_nest_cancel(msg, table);
	return -EMSGSIZE;
}
