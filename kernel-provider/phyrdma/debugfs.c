// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma debugfs: /sys/kernel/debug/phyrdma/<pci address>/, the test
 * hooks, for root only.  What a user reads of the device (its counters,
 * each MR's layout) is in "rdma statistic" and "rdma res" (stats.c); what
 * is here is what tests hold those against:
 *
 *   iommu     what a DMA address means to the device: "translating",
 *             "identity" or "none"
 *   caps      the device capabilities as its registers declare them, one
 *             "name value" pair per line
 *   oracle    ioctls that show an MR as the device sees it and move bytes
 *             through it as the device engine does; see
 *             include/testing/phyrdma-oracle.h
 *
 * and, beside the devices, memcpy_floor: the CPU's copy rate, the
 * benchmark's floor.
 *
 * Directories are named after the PCI function, which is stable, rather
 * than the ib_device, which userspace may rename.
 */
#include <linux/debugfs.h>
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/ktime.h>
#include <linux/netdevice.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <testing/phyrdma-oracle.h>

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
	seq_printf(s, "max_mr %u\n", caps->max_mr);
	seq_printf(s, "max_mr_size 0x%llx\n", caps->max_mr_size);
	seq_printf(s, "max_qp %u\n", caps->max_qp);
	seq_printf(s, "max_cq %u\n", caps->max_cq);
	seq_printf(s, "max_mcg %u\n", caps->max_mcg);
	seq_printf(s, "mcg_qps %u\n", caps->mcg_qps);
	seq_printf(s, "netdev %s\n", netdev_name(dev->netdev));
	seq_printf(s, "node_guid 0x%016llx\n", be64_to_cpu(dev->ibdev.node_guid));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(caps);

static long oracle_query(struct phyrdma_dev *dev, void __user *uarg)
{
	struct phyrdma_oracle_query q;
	struct phyrdma_hw_mr_entry e;
	struct phyrdma_mr_report r;
	int ret;

	if (copy_from_user(&q, uarg, sizeof(q)))
		return -EFAULT;
	ret = phyrdma_hw_mr_query(&dev->hw, q.key, &e, phyrdma_mr_fill_report,
				  &r);
	if (ret)
		return ret;
	memset(&q, 0, sizeof(q));
	q.key = e.key;
	q.pdn = e.params.pdn;
	q.access = e.params.access;
	q.page_shift = e.params.page_shift;
	q.levels = e.levels;
	q.path = r.path;
	q.source = r.source;
	q.iova = e.params.iova;
	q.length = e.params.length;
	q.root = e.root;
	q.mtt_entries = r.mtt_entries;
	q.mtt_pages = r.mtt_pages;
	q.iova_bytes = r.iova_bytes;
	q.iova_waste = r.iova_waste;
	q.scratch_bytes = r.scratch_bytes;
	q.runs = r.runs;
	q.syncs = r.syncs;
	q.dma_first = r.dma_first;
	q.map_ns = r.map_ns;
	q.emit_ns = r.emit_ns;
	return copy_to_user(uarg, &q, sizeof(q)) ? -EFAULT : 0;
}

#define ORACLE_BOUNCE	SZ_64K

static long oracle_copy(struct phyrdma_dev *dev, void __user *uarg)
{
	struct phyrdma_oracle_copy c;
	enum phyrdma_hw_xfer dir;
	u8 __user *ubuf;
	u64 done, chunk;
	void *bounce;
	long ret = 0;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (c.dir > PHYRDMA_ORACLE_TO_MR)
		return -EINVAL;
	dir = c.dir == PHYRDMA_ORACLE_TO_MR ? PHYRDMA_HW_XFER_TO_MR :
					      PHYRDMA_HW_XFER_FROM_MR;
	/* the whole range is refused before any of it moves, as the device does */
	ret = phyrdma_hw_mr_check_range(&dev->hw, c.key, c.va, c.len, dir);
	if (ret)
		return ret;
	bounce = kvmalloc(ORACLE_BOUNCE, GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	ubuf = u64_to_user_ptr(c.uaddr);
	for (done = 0; done < c.len; done += chunk) {
		chunk = min_t(u64, c.len - done, ORACLE_BOUNCE);
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (dir == PHYRDMA_HW_XFER_TO_MR &&
		    copy_from_user(bounce, ubuf + done, chunk)) {
			ret = -EFAULT;
			break;
		}
		ret = phyrdma_hw_mr_xfer(&dev->hw, c.key, c.va + done, bounce,
					 chunk, dir);
		if (ret)
			break;
		if (dir == PHYRDMA_HW_XFER_FROM_MR &&
		    copy_to_user(ubuf + done, bounce, chunk)) {
			ret = -EFAULT;
			break;
		}
		cond_resched();
	}
	kvfree(bounce);
	return ret;
}

static long oracle_translate(struct phyrdma_dev *dev, void __user *uarg)
{
	struct phyrdma_oracle_translate t;
	phys_addr_t phys;
	dma_addr_t dma;
	int ret;

	if (copy_from_user(&t, uarg, sizeof(t)))
		return -EFAULT;
	if (t.reserved)
		return -EINVAL;
	ret = phyrdma_hw_mr_translate(&dev->hw, t.key, t.va, &dma, &phys);
	if (ret)
		return ret;
	t.dma = dma;
	t.phys = phys;
	return copy_to_user(uarg, &t, sizeof(t)) ? -EFAULT : 0;
}

/*
 * The floor holds the reservation lock from getting the phyr to giving it
 * back, so a revoke waits for it: nothing to invalidate in the callback.
 */
static void oracle_invalidate(struct dma_buf_attachment *attach)
{
}

static const struct dma_buf_attach_ops oracle_attach_ops = {
	.allow_peer2peer = true,
	.invalidate_mappings = oracle_invalidate,
};

/* The mapper's map phase alone, timed: no device page, nothing emitted. */
static int oracle_link_runs(struct device *ddev, const struct phyr_slice *slice,
			    struct phyrdma_oracle_link_floor *f)
{
	struct phyr_iter it;
	struct phyr_dma_hint hint = { .pgsz = PHYR_IOVA_GRANULE, .one_range = true };
	struct phyr_dma_map map;
	u64 t0;
	int ret;

	/* RAM, or P2P MMIO through the host bridge (the IOMMU maps both) */
	ret = phyr_dma_p2p_type(ddev, slice);
	if (ret < 0)
		return ret;
	if (ret == PHYR_P2P_BUS_ADDR)
		return -EOPNOTSUPP;
	phyr_iter_start(&it, slice);
	hint.iova = it.paddr;
	ret = phyr_dma_map(&map, ddev, slice, &hint, DMA_BIDIRECTIONAL, 0,
			   NULL, NULL);
	/* no IOVA path (or none to be had): there is no floor to measure */
	if (ret == -ENOSPC)
		return -EOPNOTSUPP;
	if (ret)
		return ret;
	f->runs = map.stats.runs_linked;
	f->iova_bytes = map.stats.iova_reserved;
	f->link_ns = map.stats.map_ns;
	t0 = ktime_get_ns();
	phyr_dma_unmap(&map);
	f->destroy_ns = ktime_get_ns() - t0;
	return 0;
}

static long oracle_link_floor(struct phyrdma_dev *dev, void __user *uarg)
{
	struct phyrdma_oracle_link_floor f;
	struct dma_buf_attachment *attach;
	const struct phyr *phyr = NULL;
	struct phyr_slice slice;
	struct dma_buf *dmabuf;
	long ret;

	if (copy_from_user(&f, uarg, sizeof(f)))
		return -EFAULT;
	if (f.reserved)
		return -EINVAL;
	dmabuf = dma_buf_get(f.fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	if (!phyr_dmabuf_supported(dmabuf)) {
		dma_buf_put(dmabuf);
		return -EOPNOTSUPP;
	}
	attach = dma_buf_dynamic_attach(dmabuf, dev->hw.dma_dev,
					&oracle_attach_ops, NULL);
	if (IS_ERR(attach)) {
		dma_buf_put(dmabuf);
		return PTR_ERR(attach);
	}
	dma_resv_lock(dmabuf->resv, NULL);
	ret = dma_buf_pin(attach);
	if (!ret) {
		phyr = phyr_dmabuf_map(attach);
		if (IS_ERR(phyr)) {
			ret = PTR_ERR(phyr);
			dma_buf_unpin(attach);
		}
	}
	if (ret) {
		dma_resv_unlock(dmabuf->resv);
		goto out_detach;
	}

	f.runs = 0;
	ret = phyr_slice_init(&slice, phyr, f.offset, f.len);
	if (!ret)
		ret = oracle_link_runs(dev->hw.dma_dev, &slice, &f);

	phyr_dmabuf_unmap(attach, phyr);
	dma_buf_unpin(attach);
	dma_resv_unlock(dmabuf->resv);
	if (!ret && copy_to_user(uarg, &f, sizeof(f)))
		ret = -EFAULT;
out_detach:
	dma_buf_detach(dmabuf, attach);
	dma_buf_put(dmabuf);
	return ret;
}

static long oracle_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct phyrdma_dev *dev = file->private_data;
	void __user *uarg = (void __user *)arg;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	switch (cmd) {
	case PHYRDMA_ORACLE_QUERY:
		return oracle_query(dev, uarg);
	case PHYRDMA_ORACLE_COPY:
		return oracle_copy(dev, uarg);
	case PHYRDMA_ORACLE_TRANSLATE:
		return oracle_translate(dev, uarg);
	case PHYRDMA_ORACLE_LINK_FLOOR:
		return oracle_link_floor(dev, uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations oracle_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.unlocked_ioctl = oracle_ioctl,
};

void phyrdma_debugfs_add_dev(struct phyrdma_dev *dev)
{
	dev->debugfs = debugfs_create_dir(pci_name(dev->pdev),
					  phyrdma_debugfs_root);
	debugfs_create_file("iommu", 0400, dev->debugfs, dev, &iommu_fops);
	debugfs_create_file("caps", 0400, dev->debugfs, dev, &caps_fops);
	debugfs_create_file("oracle", 0600, dev->debugfs, dev, &oracle_fops);
}

void phyrdma_debugfs_remove_dev(struct phyrdma_dev *dev)
{
	debugfs_remove_recursive(dev->debugfs);
}

/*
 * The floor of the data path: the kernel's own memcpy() between two
 * buffers of one message's size, as the engine copies.  Write "SIZE ITERS"
 * (SIZE <= 4 MiB, ITERS <= 100000), read "size iters ns".
 */
static DEFINE_MUTEX(phyrdma_floor_lock);
static u64 phyrdma_floor_result[3];

static ssize_t memcpy_floor_write(struct file *file, const char __user *ubuf,
				  size_t len, loff_t *ppos)
{
	u64 size, iters, i, t0, t1;
	char buf[64];
	void *a, *b;
	int ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	if (sscanf(buf, "%llu %llu", &size, &iters) != 2 || !size ||
	    size > SZ_4M || !iters || iters > 100000)
		return -EINVAL;
	a = kvmalloc(size, GFP_KERNEL_ACCOUNT);
	b = kvmalloc(size, GFP_KERNEL_ACCOUNT);
	ret = -ENOMEM;
	if (a && b) {
		memset(a, 0x5a, size);
		memset(b, 0, size);
		t0 = ktime_get_ns();
		for (i = 0; i < iters; i++) {
			memcpy(b, a, size);
			cond_resched();
		}
		t1 = ktime_get_ns();
		mutex_lock(&phyrdma_floor_lock);
		phyrdma_floor_result[0] = size;
		phyrdma_floor_result[1] = iters;
		phyrdma_floor_result[2] = t1 - t0;
		mutex_unlock(&phyrdma_floor_lock);
		ret = len;
	}
	kvfree(a);
	kvfree(b);
	return ret;
}

static int memcpy_floor_show(struct seq_file *s, void *unused)
{
	mutex_lock(&phyrdma_floor_lock);
	seq_printf(s, "%llu %llu %llu\n", phyrdma_floor_result[0],
		   phyrdma_floor_result[1], phyrdma_floor_result[2]);
	mutex_unlock(&phyrdma_floor_lock);
	return 0;
}

static int memcpy_floor_open(struct inode *inode, struct file *file)
{
	return single_open(file, memcpy_floor_show, NULL);
}

static const struct file_operations memcpy_floor_fops = {
	.owner = THIS_MODULE,
	.open = memcpy_floor_open,
	.read = seq_read,
	.write = memcpy_floor_write,
	.llseek = seq_lseek,
	.release = single_release,
};

void phyrdma_debugfs_init(void)
{
	phyrdma_debugfs_root = debugfs_create_dir(PHYRDMA_DRV_NAME, NULL);
	debugfs_create_file("memcpy_floor", 0600, phyrdma_debugfs_root, NULL,
			    &memcpy_floor_fops);
}

void phyrdma_debugfs_cleanup(void)
{
	debugfs_remove_recursive(phyrdma_debugfs_root);
}
