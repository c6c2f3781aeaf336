/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phyrdma: an RDMA driver that registers memory from physical range lists.
 *
 * The verbs layer (this header, main.c, verbs.c, debugfs.c) implements
 * struct ib_device_ops and translates to the device layer in hw/.
 */
#ifndef PHYRDMA_H
#define PHYRDMA_H

#include <linux/atomic.h>
#include <linux/pci.h>
#include <rdma/ib_verbs.h>

#include "hw/hw.h"

#define PHYRDMA_DRV_NAME	"phyrdma"
#define PHYRDMA_PORT		1

/*
 * Objects the driver holds for userspace.  Each must be back to zero when a
 * device is removed; anything else is a leak and is reported as one.
 */
enum phyrdma_counter {
	PHYRDMA_CNT_UCONTEXTS,
	PHYRDMA_CNT_PDS,
	PHYRDMA_CNT_MAX,
};

extern const char *const phyrdma_counter_names[PHYRDMA_CNT_MAX];

struct phyrdma_dev {
	struct ib_device ibdev;
	struct pci_dev *pdev;
	struct phyrdma_hw hw;
	/* loopback port: its LID is derived from the PCI address */
	u32 lid;
	atomic64_t counters[PHYRDMA_CNT_MAX];
	struct dentry *debugfs;
};

struct phyrdma_ucontext {
	struct ib_ucontext ibucontext;
};

struct phyrdma_pd {
	struct ib_pd ibpd;
	u32 pdn;
};

static inline struct phyrdma_dev *to_pdev(struct ib_device *ibdev)
{
	return container_of(ibdev, struct phyrdma_dev, ibdev);
}

static inline struct phyrdma_pd *to_ppd(struct ib_pd *ibpd)
{
	return container_of(ibpd, struct phyrdma_pd, ibpd);
}

static inline void phyrdma_count(struct phyrdma_dev *dev,
				 enum phyrdma_counter c, long delta)
{
	atomic64_add(delta, &dev->counters[c]);
}

extern const struct ib_device_ops phyrdma_dev_ops;

void phyrdma_debugfs_init(void);
void phyrdma_debugfs_cleanup(void);
void phyrdma_debugfs_add_dev(struct phyrdma_dev *dev);
void phyrdma_debugfs_remove_dev(struct phyrdma_dev *dev);

#endif /* PHYRDMA_H */
