// SPDX-License-Identifier: GPL-2.0
/*
 * phyr_mmio: a dma-buf exporter of device memory behind a PCI BAR.
 *
 * It binds the guest's "GPUs" (ivshmem functions; BAR 2 is their memory)
 * and hands out buffers of BAR ranges.  A buffer's phyr is P2P MMIO with
 * the function's P2P provider in the segment metadata: there is no struct
 * page anywhere, and none is ever made (the provider comes from
 * pcim_p2pdma_provider(), not pci_p2pdma_add_resource()).  The phyr is
 * built once, at creation; importers that speak phyr get it, legacy
 * importers an sg_table of DMA addresses converted from it by the phyr
 * core (dma_buf_phys_vec_to_sgt() underneath), and a CPU mmap maps the
 * same runs write-combined.
 *
 * Revocation follows VFIO: only importers that can be revoked (they have
 * invalidate_mappings) and that handle peer-to-peer memory may attach; a
 * revoke marks the buffer, tells every importer under the reservation lock
 * (they unmap before the callback returns), zaps every CPU mapping, and
 * waits for fences.  A revoked buffer refuses new mappings until it is
 * restored.  Unbinding a GPU revokes all its buffers for good: the
 * provider lives only as long as the binding.
 */
#include <linux/bitmap.h>
#include <linux/capability.h>
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <phyr/phyr_dma.h>
#include <phyr/phyr_mmio.h>

#define PHYR_MMIO_BAR		2
#define PHYR_MMIO_PAGE		PAGE_SIZE

struct phyr_mmio_gpu {
	struct kref ref;
	struct pci_dev *pdev;
	struct p2pdma_provider *provider;	/* NULL once unbound */
	phys_addr_t base;
	u64 size;
	struct miscdevice misc;
	char name[32];
	int id;
	struct mutex lock;		/* the fields below */
	unsigned long *used;		/* one bit per page of the BAR */
	u64 free;
	struct list_head bufs;
	u64 nr_bufs;
	u64 revokes;
};

struct phyr_mmio_buf {
	struct phyr phyr;
	struct phyr_mmio_gpu *gpu;
	struct dma_buf *dmabuf;
	struct list_head node;		/* in gpu->bufs */
	u64 size;
	u64 chunk;
	u64 *offsets;			/* BAR offset of each chunk */
	u64 nr_chunks;
	bool revoked;			/* under the reservation lock */
	bool dead;			/* unbound: revoked for good */
};

static DEFINE_IDA(phyr_mmio_ida);
static atomic64_t phyr_mmio_live_bufs = ATOMIC64_INIT(0);

static void phyr_mmio_gpu_free(struct kref *ref)
{
	struct phyr_mmio_gpu *gpu = container_of(ref, struct phyr_mmio_gpu, ref);

	kvfree(gpu->used);
	ida_free(&phyr_mmio_ida, gpu->id);
	pci_dev_put(gpu->pdev);
	kfree(gpu);
}

/* Give a buffer's chunks back to the BAR allocator (gpu->lock held). */
static void phyr_mmio_put_chunks(struct phyr_mmio_buf *buf)
{
	struct phyr_mmio_gpu *gpu = buf->gpu;
	u64 i, pages = buf->chunk / PHYR_MMIO_PAGE;

	for (i = 0; i < buf->nr_chunks; i++)
		bitmap_clear(gpu->used, buf->offsets[i] / PHYR_MMIO_PAGE, pages);
	gpu->free += buf->nr_chunks * buf->chunk;
	buf->nr_chunks = 0;
}

static void phyr_mmio_buf_free(struct phyr_mmio_buf *buf)
{
	struct phyr_mmio_gpu *gpu = buf->gpu;

	mutex_lock(&gpu->lock);
	phyr_mmio_put_chunks(buf);
	if (!list_empty(&buf->node)) {
		list_del(&buf->node);
		gpu->nr_bufs--;
	}
	mutex_unlock(&gpu->lock);
	kvfree(buf->offsets);
	phyr_free(&buf->phyr);
	kfree(buf);
	kref_put(&gpu->ref, phyr_mmio_gpu_free);
}

/*
 * Take @nr chunks of @chunk bytes, first fit, each aligned to the largest
 * power of two it holds: a GPU allocator's large pages.
 */
static int phyr_mmio_get_chunks(struct phyr_mmio_buf *buf, u64 nr)
{
	struct phyr_mmio_gpu *gpu = buf->gpu;
	unsigned long pages = buf->chunk / PHYR_MMIO_PAGE, bits;
	unsigned long at = 0, align = rounddown_pow_of_two(pages) - 1;
	int ret = 0;

	bits = gpu->size / PHYR_MMIO_PAGE;
	mutex_lock(&gpu->lock);
	if (!gpu->provider) {
		ret = -ENODEV;
		goto out;
	}
	while (buf->nr_chunks < nr) {
		/* on from the last chunk: one pass over the BAR at most */
		at = bitmap_find_next_zero_area(gpu->used, bits, at, pages,
						align);
		if (at >= bits) {
			ret = -ENOSPC;
			break;
		}
		bitmap_set(gpu->used, at, pages);
		gpu->free -= buf->chunk;
		buf->offsets[buf->nr_chunks++] = (u64)at * PHYR_MMIO_PAGE;
	}
	if (ret)
		phyr_mmio_put_chunks(buf);
out:
	mutex_unlock(&gpu->lock);
	return ret;
}

/* ---- dma-buf ops --------------------------------------------------------- */

static int phyr_mmio_attach(struct dma_buf *dmabuf,
			    struct dma_buf_attachment *attach)
{
	struct phyr_mmio_buf *buf = dmabuf->priv;

	/* no struct page to hand out, and the memory may be taken back */
	if (!attach->peer2peer || !dma_buf_attach_revocable(attach))
		return -EOPNOTSUPP;
	return READ_ONCE(buf->dead) ? -ENODEV : 0;
}

static struct sg_table *phyr_mmio_map_dma_buf(struct dma_buf_attachment *attach,
					      enum dma_data_direction dir)
{
	struct phyr_mmio_buf *buf = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (buf->revoked)
		return ERR_PTR(-ENODEV);
	return phyr_dmabuf_map_sgt(attach, &buf->phyr, dir);
}

static void phyr_mmio_unmap_dma_buf(struct dma_buf_attachment *attach,
				    struct sg_table *sgt,
				    enum dma_data_direction dir)
{
	struct phyr_mmio_buf *buf = attach->dmabuf->priv;

	phyr_dmabuf_unmap_sgt(attach, &buf->phyr, sgt, dir);
}

static int phyr_mmio_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	struct phyr_mmio_buf *buf = dmabuf->priv;
	int ret;

	dma_resv_lock(dmabuf->resv, NULL);
	ret = buf->revoked ? -ENODEV : phyr_dmabuf_mmap(&buf->phyr, vma);
	dma_resv_unlock(dmabuf->resv);
	return ret;
}

static void phyr_mmio_release(struct dma_buf *dmabuf)
{
	phyr_mmio_buf_free(dmabuf->priv);
	atomic64_dec(&phyr_mmio_live_bufs);
}

static const struct dma_buf_ops phyr_mmio_dmabuf_ops = {
	.attach = phyr_mmio_attach,
	.map_dma_buf = phyr_mmio_map_dma_buf,
	.unmap_dma_buf = phyr_mmio_unmap_dma_buf,
	.mmap = phyr_mmio_mmap,
	.release = phyr_mmio_release,
};

static const struct phyr *phyr_mmio_map_phyr(struct dma_buf_attachment *attach)
{
	struct phyr_mmio_buf *buf = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	return buf->revoked ? ERR_PTR(-ENODEV) : &buf->phyr;
}

static struct phyr_dmabuf_exporter phyr_mmio_exporter = {
	.ops = &phyr_mmio_dmabuf_ops,
	.map_phyr = phyr_mmio_map_phyr,
};

/*
 * Revoke or restore a buffer.  Revoking tells every importer to stop (they
 * unmap before their callback returns), zaps the CPU mappings and waits
 * for fences; restoring lets mappings be made again.
 */
static void phyr_mmio_set_revoked(struct phyr_mmio_buf *buf, bool revoke)
{
	struct dma_buf *dmabuf = buf->dmabuf;

	dma_resv_lock(dmabuf->resv, NULL);
	if (buf->dead)
		revoke = true;
	if (revoke && !buf->revoked) {
		buf->revoked = true;
		dma_buf_invalidate_mappings(dmabuf);
		unmap_mapping_range(dmabuf->file->f_mapping, 0, 0, 1);
		dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP,
				      false, MAX_SCHEDULE_TIMEOUT);
		mutex_lock(&buf->gpu->lock);
		buf->gpu->revokes++;
		mutex_unlock(&buf->gpu->lock);
	} else if (!revoke) {
		buf->revoked = false;
	}
	dma_resv_unlock(dmabuf->resv);
}

/* ---- ioctls ------------------------------------------------------------- */

static long phyr_mmio_create(struct phyr_mmio_gpu *gpu,
			     struct phyr_mmio_create __user *uarg)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct phyr_meta meta = { .kind = PHYR_MEM_P2P_MMIO,
				  .cache = PHYR_CACHE_WC };
	struct phyr_mmio_create req;
	struct phyr_mmio_buf *buf;
	struct dma_buf *dmabuf;
	u64 i, j, nr;
	int ret, fd;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.reserved ||
	    (req.flags & ~(PHYR_MMIO_REVERSE | PHYR_MMIO_CC_SHARED)) ||
	    !req.size || req.size % PHYR_MMIO_PAGE || req.size > gpu->size)
		return -EINVAL;
	/* no chunk size: one range of @size */
	if (!req.chunk)
		req.chunk = req.size;
	else if (!is_power_of_2(req.chunk) || req.chunk < PHYR_MMIO_PAGE ||
		 req.size % req.chunk)
		return -EINVAL;
	if (req.flags & PHYR_MMIO_CC_SHARED)
		meta.cc = PHYR_CC_DECRYPTED;
	meta.provider = gpu->provider;

	buf = kzalloc_obj(*buf);
	if (!buf)
		return -ENOMEM;
	INIT_LIST_HEAD(&buf->node);
	phyr_init(&buf->phyr);
	kref_get(&gpu->ref);
	buf->gpu = gpu;
	buf->size = req.size;
	buf->chunk = req.chunk;
	nr = req.size / req.chunk;
	buf->offsets = kvmalloc_array(nr, sizeof(*buf->offsets), GFP_KERNEL);
	if (!buf->offsets) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = phyr_mmio_get_chunks(buf, nr);
	if (ret)
		goto err_free;
	for (i = 0; i < nr; i++) {
		j = req.flags & PHYR_MMIO_REVERSE ? nr - 1 - i : i;
		ret = phyr_append(&buf->phyr, gpu->base + buf->offsets[j],
				  req.chunk, &meta, GFP_KERNEL);
		if (ret)
			goto err_free;
	}

	info.ops = &phyr_mmio_dmabuf_ops;
	info.size = req.size;
	info.flags = O_RDWR | O_CLOEXEC;
	info.priv = buf;
	dmabuf = dma_buf_export(&info);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto err_free;
	}
	buf->dmabuf = dmabuf;
	atomic64_inc(&phyr_mmio_live_bufs);
	mutex_lock(&gpu->lock);
	list_add_tail(&buf->node, &gpu->bufs);
	gpu->nr_bufs++;
	/* unbound meanwhile: the buffer is born revoked */
	buf->dead = !gpu->provider;
	buf->revoked = buf->dead;
	mutex_unlock(&gpu->lock);

	/* the number first, then the copy-out, then the file: no fd leaks */
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		dma_buf_put(dmabuf);
		return fd;
	}
	if (put_user(fd, &uarg->fd)) {
		put_unused_fd(fd);
		dma_buf_put(dmabuf);
		return -EFAULT;
	}
	fd_install(fd, dmabuf->file);
	return 0;

err_free:
	phyr_mmio_buf_free(buf);
	return ret;
}

/* A dma-buf of this GPU, held; ERR_PTR(-EINVAL) for any other. */
static struct dma_buf *phyr_mmio_get_buf(struct phyr_mmio_gpu *gpu, int fd)
{
	struct dma_buf *dmabuf = dma_buf_get(fd);

	if (IS_ERR(dmabuf))
		return dmabuf;
	if (dmabuf->ops != &phyr_mmio_dmabuf_ops ||
	    ((struct phyr_mmio_buf *)dmabuf->priv)->gpu != gpu) {
		dma_buf_put(dmabuf);
		return ERR_PTR(-EINVAL);
	}
	return dmabuf;
}

static long phyr_mmio_revoke(struct phyr_mmio_gpu *gpu,
			     struct phyr_mmio_revoke __user *uarg)
{
	struct phyr_mmio_revoke req;
	struct dma_buf *dmabuf;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.revoke > 1)
		return -EINVAL;
	dmabuf = phyr_mmio_get_buf(gpu, req.fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	phyr_mmio_set_revoked(dmabuf->priv, req.revoke);
	dma_buf_put(dmabuf);
	return 0;
}

static long phyr_mmio_info(struct phyr_mmio_gpu *gpu,
			   struct phyr_mmio_info __user *uarg)
{
	struct phyr_mmio_info req;
	struct phyr_mmio_buf *buf;
	struct dma_buf *dmabuf;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.reserved)
		return -EINVAL;
	req.offset = ~0ULL;
	if (req.fd >= 0) {
		dmabuf = phyr_mmio_get_buf(gpu, req.fd);
		if (IS_ERR(dmabuf))
			return PTR_ERR(dmabuf);
		buf = dmabuf->priv;
		/* where the memory is, for the administrator only */
		if (capable(CAP_SYS_ADMIN))
			req.offset = buf->phyr.runs[0].paddr - gpu->base;
		dma_buf_put(dmabuf);
	}
	mutex_lock(&gpu->lock);
	req.bar_size = gpu->size;
	req.free = gpu->free;
	req.buffers = gpu->nr_bufs;
	req.revokes = gpu->revokes;
	mutex_unlock(&gpu->lock);
	return copy_to_user(uarg, &req, sizeof(req)) ? -EFAULT : 0;
}

static long phyr_mmio_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct phyr_mmio_gpu *gpu = container_of(file->private_data,
						 struct phyr_mmio_gpu, misc);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case PHYR_MMIO_IOC_CREATE:
		return phyr_mmio_create(gpu, uarg);
	case PHYR_MMIO_IOC_REVOKE:
		return phyr_mmio_revoke(gpu, uarg);
	case PHYR_MMIO_IOC_INFO:
		return phyr_mmio_info(gpu, uarg);
	default:
		return -ENOTTY;
	}
}

/* An open file keeps its GPU's state, though the GPU may be unbound. */
static int phyr_mmio_open(struct inode *inode, struct file *file)
{
	struct phyr_mmio_gpu *gpu = container_of(file->private_data,
						 struct phyr_mmio_gpu, misc);

	kref_get(&gpu->ref);
	return 0;
}

static int phyr_mmio_file_release(struct inode *inode, struct file *file)
{
	struct phyr_mmio_gpu *gpu = container_of(file->private_data,
						 struct phyr_mmio_gpu, misc);

	kref_put(&gpu->ref, phyr_mmio_gpu_free);
	return 0;
}

static const struct file_operations phyr_mmio_fops = {
	.owner = THIS_MODULE,
	.open = phyr_mmio_open,
	.release = phyr_mmio_file_release,
	.unlocked_ioctl = phyr_mmio_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

/* ---- the PCI driver ------------------------------------------------------ */

/*
 * ivshmem functions serve other purposes on other hosts (shared memory
 * between VMs): phyr_mmio takes only those it is told to take.
 */
static char *devices;
module_param(devices, charp, 0444);
MODULE_PARM_DESC(devices,
		 "PCI functions to take, comma-separated (0000:00:05.0,...); no other is bound");

static bool phyr_mmio_named(struct pci_dev *pdev)
{
	const char *name = pci_name(pdev), *p = devices;
	size_t n = strlen(name);

	while (p && *p) {
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

static int phyr_mmio_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct phyr_mmio_gpu *gpu;
	int ret;

	if (!phyr_mmio_named(pdev))
		return -ENODEV;

	if (!(pci_resource_flags(pdev, PHYR_MMIO_BAR) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, PHYR_MMIO_BAR) < PHYR_MMIO_PAGE)
		return -ENODEV;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = pcim_request_region(pdev, PHYR_MMIO_BAR, "phyr_mmio");
	if (ret)
		return ret;
	ret = pcim_p2pdma_init(pdev);
	if (ret)
		return ret;

	gpu = kzalloc_obj(*gpu);
	if (!gpu)
		return -ENOMEM;
	kref_init(&gpu->ref);
	mutex_init(&gpu->lock);
	INIT_LIST_HEAD(&gpu->bufs);
	gpu->pdev = pci_dev_get(pdev);
	gpu->base = pci_resource_start(pdev, PHYR_MMIO_BAR);
	gpu->size = rounddown_pow_of_two(pci_resource_len(pdev, PHYR_MMIO_BAR));
	gpu->free = gpu->size;
	gpu->id = ida_alloc(&phyr_mmio_ida, GFP_KERNEL);
	if (gpu->id < 0) {
		ret = gpu->id;
		pci_dev_put(gpu->pdev);
		kfree(gpu);
		return ret;
	}
	ret = -ENOMEM;
	/* 8 MiB for a 256 GiB BAR: more than kmalloc gives */
	gpu->used = kvcalloc(BITS_TO_LONGS(gpu->size / PHYR_MMIO_PAGE),
			     sizeof(unsigned long), GFP_KERNEL);
	if (!gpu->used)
		goto err;
	ret = -ENODEV;
	gpu->provider = pcim_p2pdma_provider(pdev, PHYR_MMIO_BAR);
	if (!gpu->provider)
		goto err;
	snprintf(gpu->name, sizeof(gpu->name), "phyr_mmio%d", gpu->id);
	gpu->misc.minor = MISC_DYNAMIC_MINOR;
	gpu->misc.name = gpu->name;
	gpu->misc.fops = &phyr_mmio_fops;
	/* a GPU driver's allocator: root only in this guest */
	gpu->misc.mode = 0600;
	gpu->misc.parent = &pdev->dev;
	ret = misc_register(&gpu->misc);
	if (ret)
		goto err;
	pci_set_drvdata(pdev, gpu);
	return 0;

err:
	gpu->provider = NULL;
	kref_put(&gpu->ref, phyr_mmio_gpu_free);
	return ret;
}

static void phyr_mmio_remove(struct pci_dev *pdev)
{
	struct phyr_mmio_gpu *gpu = pci_get_drvdata(pdev);
	struct phyr_mmio_buf *buf;
	struct dma_buf *dmabuf;

	misc_deregister(&gpu->misc);
	/*
	 * The provider dies with the binding: revoke every buffer for good.
	 * A buffer being released is skipped (its file is going away).
	 */
	for (;;) {
		dmabuf = NULL;
		mutex_lock(&gpu->lock);
		gpu->provider = NULL;
		list_for_each_entry(buf, &gpu->bufs, node) {
			if (!buf->dead && get_file_active(&buf->dmabuf->file)) {
				dmabuf = buf->dmabuf;
				buf->dead = true;
				break;
			}
		}
		mutex_unlock(&gpu->lock);
		if (!dmabuf)
			break;
		phyr_mmio_set_revoked(dmabuf->priv, true);
		dma_buf_put(dmabuf);
	}
	kref_put(&gpu->ref, phyr_mmio_gpu_free);
}

static const struct pci_device_id phyr_mmio_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT_QUMRANET, 0x1110) },	/* ivshmem */
	{ }
};
MODULE_DEVICE_TABLE(pci, phyr_mmio_ids);

static struct pci_driver phyr_mmio_driver = {
	.name = "phyr_mmio",
	.id_table = phyr_mmio_ids,
	.probe = phyr_mmio_probe,
	.remove = phyr_mmio_remove,
};

static int __init phyr_mmio_init(void)
{
	int ret;

	phyr_dmabuf_register(&phyr_mmio_exporter);
	ret = pci_register_driver(&phyr_mmio_driver);
	if (ret)
		phyr_dmabuf_unregister(&phyr_mmio_exporter);
	return ret;
}

static void __exit phyr_mmio_exit(void)
{
	pci_unregister_driver(&phyr_mmio_driver);
	phyr_dmabuf_unregister(&phyr_mmio_exporter);
	/* every buffer holds the module, so none can be left */
	if (atomic64_read(&phyr_mmio_live_bufs))
		pr_err("phyr_mmio: leak: %lld buffers\n",
		       atomic64_read(&phyr_mmio_live_bufs));
}

module_init(phyr_mmio_init);
module_exit(phyr_mmio_exit);
MODULE_DESCRIPTION("dma-buf exporter of PCI BAR memory that speaks phyr");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("DMA_BUF");
MODULE_IMPORT_NS("PHYR");
