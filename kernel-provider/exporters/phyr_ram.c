// SPDX-License-Identifier: GPL-2.0
/*
 * phyr_ram: a dma-buf exporter of CPU RAM that speaks phyr.
 *
 * Each buffer is built once, at creation, as a phyr over its folios (or
 * over one contiguous allocation) and never moves, so the exporter is a
 * static one: no pin/unpin, and the phyr it hands out is the buffer's own.
 * Legacy importers get an sg_table converted from the same phyr and mapped
 * for their device.  See include/uapi/phyr/phyr_ram.h for the interface.
 */
#include <linux/capability.h>
#include <linux/dma-buf.h>
#include <uapi/linux/dma-heap.h>
#include <linux/dma-mapping.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <phyr/phyr_dma.h>
#include <phyr/phyr_ram.h>

#define PHYR_RAM_MAX_ORDER	MAX_PAGE_ORDER

struct phyr_ram_buf {
	struct phyr phyr;
	u64 size;
	/* scattered: one folio pointer per folio; contiguous: first page */
	struct folio **folios;
	unsigned long nr_folios;
	struct page *contig;
};

static atomic64_t phyr_ram_live_bufs = ATOMIC64_INIT(0);

static void phyr_ram_buf_free(struct phyr_ram_buf *buf)
{
	unsigned long i;

	if (buf->contig)
		free_contig_range(page_to_pfn(buf->contig),
				  buf->size >> PAGE_SHIFT);
	for (i = 0; i < buf->nr_folios; i++)
		folio_put(buf->folios[i]);
	kvfree(buf->folios);
	phyr_free(&buf->phyr);
	kfree(buf);
}

static const struct phyr_meta phyr_ram_meta = { .kind = PHYR_MEM_RAM };

static const struct phyr_meta *phyr_ram_label(u64 offset, u64 size, u32 flags,
					      struct phyr_meta *labelled)
{
	if (offset < size / 2 ||
	    !(flags & (PHYR_RAM_LABEL_PRIVATE | PHYR_RAM_LABEL_CC_SPLIT)))
		return &phyr_ram_meta;
	*labelled = phyr_ram_meta;
	if (flags & PHYR_RAM_LABEL_PRIVATE)
		labelled->kind = PHYR_MEM_PRIVATE;
	if (flags & PHYR_RAM_LABEL_CC_SPLIT)
		labelled->cc = PHYR_CC_DECRYPTED;
	return labelled;
}

static int phyr_ram_alloc_contig(struct phyr_ram_buf *buf, u32 flags)
{
	unsigned long nr = buf->size >> PAGE_SHIFT, i;
	struct phyr_meta labelled;
	phys_addr_t pa;
	u64 half;
	int ret;

	buf->contig = alloc_contig_pages(nr, GFP_KERNEL | __GFP_NOWARN,
					 numa_node_id(), NULL);
	if (!buf->contig)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		clear_highpage(buf->contig + i);
		cond_resched();
	}
	pa = page_to_phys(buf->contig);
	if (!(flags & (PHYR_RAM_LABEL_PRIVATE | PHYR_RAM_LABEL_CC_SPLIT)))
		return phyr_append(&buf->phyr, pa, buf->size, &phyr_ram_meta,
				   GFP_KERNEL);
	/* a label splits the run in two segments at the page past the middle */
	half = round_up(buf->size / 2, PAGE_SIZE);
	if (half < buf->size) {
		ret = phyr_append(&buf->phyr, pa, half, &phyr_ram_meta,
				  GFP_KERNEL);
		if (ret)
			return ret;
	} else {
		half = 0;	/* one page: all of it is labelled */
	}
	return phyr_append(&buf->phyr, pa + half, buf->size - half,
			   phyr_ram_label(buf->size, buf->size, flags, &labelled),
			   GFP_KERNEL);
}

static int phyr_ram_alloc_folios(struct phyr_ram_buf *buf, u32 order,
				 u32 flags)
{
	unsigned long nr = buf->size >> (PAGE_SHIFT + order), i, j;
	u64 fsize = PAGE_SIZE << order;
	struct phyr_meta labelled;
	int ret;

	buf->folios = kvmalloc_array(nr, sizeof(*buf->folios), GFP_KERNEL);
	if (!buf->folios)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		buf->folios[i] = folio_alloc(GFP_HIGHUSER | __GFP_ACCOUNT |
					     __GFP_ZERO | __GFP_NOWARN |
					     __GFP_RETRY_MAYFAIL, order);
		if (!buf->folios[i])
			return -ENOMEM;
		buf->nr_folios++;
		cond_resched();
	}
	if (flags & PHYR_RAM_SHUFFLE) {
		for (i = nr - 1; i > 0; i--) {
			j = get_random_u32_below(i + 1);
			swap(buf->folios[i], buf->folios[j]);
		}
	}
	for (i = 0; i < nr; i++) {
		ret = phyr_append(&buf->phyr, folio_pfn(buf->folios[i]) << PAGE_SHIFT,
				  fsize, phyr_ram_label(i * fsize, buf->size,
							flags, &labelled),
				  GFP_KERNEL);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * A heap allocation: folios of the largest order up to @max_order that the
 * remaining size takes and the allocator gives, smaller ones where it does
 * not, as the system heap allocates (so a buffer of any page-multiple size
 * has large runs wherever memory allows).
 */
static int phyr_ram_alloc_mixed(struct phyr_ram_buf *buf, u32 max_order)
{
	u64 left = buf->size, fsize;
	u32 order = max_order;
	struct folio *folio;
	int ret;

	buf->folios = kvmalloc_array(buf->size >> PAGE_SHIFT,
				     sizeof(*buf->folios), GFP_KERNEL);
	if (!buf->folios)
		return -ENOMEM;
	while (left) {
		while (order && (PAGE_SIZE << order) > left)
			order--;
		folio = folio_alloc(GFP_HIGHUSER | __GFP_ACCOUNT | __GFP_ZERO |
				    __GFP_NOWARN |
				    (order ? __GFP_NORETRY : __GFP_RETRY_MAYFAIL),
				    order);
		if (!folio) {
			if (!order)
				return -ENOMEM;
			order--;
			continue;
		}
		buf->folios[buf->nr_folios++] = folio;
		fsize = PAGE_SIZE << order;
		ret = phyr_append(&buf->phyr, folio_pfn(folio) << PAGE_SHIFT,
				  fsize, &phyr_ram_meta, GFP_KERNEL);
		if (ret)
			return ret;
		left -= fsize;
		cond_resched();
	}
	return 0;
}

static struct sg_table *phyr_ram_map_dma_buf(struct dma_buf_attachment *attach,
					     enum dma_data_direction dir)
{
	struct phyr_ram_buf *buf = attach->dmabuf->priv;

	return phyr_dmabuf_map_sgt(attach, &buf->phyr, dir);
}

static void phyr_ram_unmap_dma_buf(struct dma_buf_attachment *attach,
				   struct sg_table *sgt,
				   enum dma_data_direction dir)
{
	struct phyr_ram_buf *buf = attach->dmabuf->priv;

	phyr_dmabuf_unmap_sgt(attach, &buf->phyr, sgt, dir);
}

static int phyr_ram_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	struct phyr_ram_buf *buf = dmabuf->priv;

	/* the memory is ours until release, which waits for every mapping */
	return phyr_dmabuf_mmap(&buf->phyr, vma);
}

static void phyr_ram_release(struct dma_buf *dmabuf)
{
	phyr_ram_buf_free(dmabuf->priv);
	atomic64_dec(&phyr_ram_live_bufs);
}

static const struct dma_buf_ops phyr_ram_dmabuf_ops = {
	.map_dma_buf = phyr_ram_map_dma_buf,
	.unmap_dma_buf = phyr_ram_unmap_dma_buf,
	.mmap = phyr_ram_mmap,
	.release = phyr_ram_release,
};

static const struct phyr *phyr_ram_map_phyr(struct dma_buf_attachment *attach)
{
	struct phyr_ram_buf *buf = attach->dmabuf->priv;

	return &buf->phyr;
}

static struct phyr_dmabuf_exporter phyr_ram_exporter = {
	.ops = &phyr_ram_dmabuf_ops,
	.map_phyr = phyr_ram_map_phyr,
};

/*
 * Export @buf as a dma-buf and hand the process a file descriptor for it,
 * written to @ufd.  The number first, then the copy-out, then the file: no
 * descriptor leaks.  @buf belongs to the dma-buf from here on, or is freed.
 */
static int phyr_ram_export(struct phyr_ram_buf *buf, u32 fd_flags,
			   u32 __user *ufd)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct dma_buf *dmabuf;
	int fd;

	info.ops = &phyr_ram_dmabuf_ops;
	info.size = buf->size;
	info.flags = fd_flags;
	info.priv = buf;
	dmabuf = dma_buf_export(&info);
	if (IS_ERR(dmabuf)) {
		phyr_ram_buf_free(buf);
		return PTR_ERR(dmabuf);
	}
	atomic64_inc(&phyr_ram_live_bufs);

	fd = get_unused_fd_flags(fd_flags);
	if (fd < 0) {
		dma_buf_put(dmabuf);	/* releases buf */
		return fd;
	}
	if (put_user(fd, ufd)) {
		put_unused_fd(fd);
		dma_buf_put(dmabuf);
		return -EFAULT;
	}
	fd_install(fd, dmabuf->file);
	return 0;
}

static struct phyr_ram_buf *phyr_ram_buf_new(u64 size)
{
	struct phyr_ram_buf *buf = kzalloc_obj(*buf);

	if (!buf)
		return NULL;
	phyr_init(&buf->phyr);
	buf->size = size;
	return buf;
}

static long phyr_ram_create(struct phyr_ram_create __user *uarg)
{
	struct phyr_ram_create req;
	struct phyr_ram_buf *buf;
	u32 known = PHYR_RAM_CONTIGUOUS | PHYR_RAM_SHUFFLE |
		    PHYR_RAM_LABEL_PRIVATE | PHYR_RAM_LABEL_CC_SPLIT;
	int ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	/* one contiguous allocation ignores @order, as the header says */
	if (req.flags & PHYR_RAM_CONTIGUOUS)
		req.order = 0;
	if (req.reserved || (req.flags & ~known) ||
	    req.order > PHYR_RAM_MAX_ORDER || !req.size ||
	    req.size > (u64)totalram_pages() << PAGE_SHIFT)
		return -EINVAL;
	if ((req.flags & PHYR_RAM_CONTIGUOUS) && (req.flags & PHYR_RAM_SHUFFLE))
		return -EINVAL;
	if (req.size & ((PAGE_SIZE << req.order) - 1))
		return -EINVAL;

	buf = phyr_ram_buf_new(req.size);
	if (!buf)
		return -ENOMEM;
	if (req.flags & PHYR_RAM_CONTIGUOUS)
		ret = phyr_ram_alloc_contig(buf, req.flags);
	else
		ret = phyr_ram_alloc_folios(buf, req.order, req.flags);
	if (ret) {
		phyr_ram_buf_free(buf);
		return ret;
	}
	return phyr_ram_export(buf, O_RDWR | O_CLOEXEC, (u32 __user *)&uarg->fd);
}

/*
 * DMA_HEAP_IOCTL_ALLOC, the dma-heap allocation uAPI: a client that takes
 * its buffers from a DMA heap (pyverbs, libfabric's tests, ours) takes them
 * from /dev/phyr_ram by opening it instead of /dev/dma_heap/<name>.  The
 * buffers are folios of up to heap_order, as large as memory gives.
 */
static unsigned int heap_order = PMD_ORDER;
module_param(heap_order, uint, 0644);
MODULE_PARM_DESC(heap_order,
		 "largest folio order of DMA_HEAP_IOCTL_ALLOC buffers (default: PMD)");

static long phyr_ram_heap_alloc(struct dma_heap_allocation_data __user *uarg)
{
	struct dma_heap_allocation_data req;
	struct phyr_ram_buf *buf;
	u32 order = min_t(u32, READ_ONCE(heap_order), PHYR_RAM_MAX_ORDER);
	int ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	/* the dma-heap core's rules: these descriptor flags, no heap flags */
	if (req.fd || (req.fd_flags & ~(O_ACCMODE | O_CLOEXEC)) ||
	    req.heap_flags)
		return -EINVAL;
	req.len = PAGE_ALIGN(req.len);
	if (!req.len || req.len > (u64)totalram_pages() << PAGE_SHIFT)
		return -EINVAL;

	buf = phyr_ram_buf_new(req.len);
	if (!buf)
		return -ENOMEM;
	ret = phyr_ram_alloc_mixed(buf, order);
	if (ret) {
		phyr_ram_buf_free(buf);
		return ret;
	}
	return phyr_ram_export(buf, req.fd_flags, &uarg->fd);
}

static long phyr_ram_layout(struct phyr_ram_layout __user *uarg)
{
	struct phyr_ram_run __user *uruns;
	struct phyr_ram_layout req;
	struct phyr_ram_buf *buf;
	struct phyr_ram_run run;
	struct dma_buf *dmabuf;
	struct phyr_slice slice;
	struct phyr_iter it;
	u32 n = 0;
	bool more;
	long ret = 0;

	/* physical addresses are for the administrator's eyes only */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	dmabuf = dma_buf_get(req.fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	if (dmabuf->ops != &phyr_ram_dmabuf_ops) {
		ret = -EINVAL;
		goto out;
	}
	buf = dmabuf->priv;
	uruns = u64_to_user_ptr(req.runs);
	phyr_slice_init(&slice, &buf->phyr, 0, buf->size);
	for (more = phyr_iter_start(&it, &slice); more;
	     more = phyr_iter_next(&it), n++) {
		if (n >= req.nr_runs)
			continue;
		run = (struct phyr_ram_run){ .paddr = it.paddr, .len = it.len,
					     .kind = it.meta->kind,
					     .cc = it.meta->cc };
		if (copy_to_user(&uruns[n], &run, sizeof(run))) {
			ret = -EFAULT;
			goto out;
		}
	}
	if (put_user(n, &uarg->nr_runs))
		ret = -EFAULT;
out:
	dma_buf_put(dmabuf);
	return ret;
}

static long phyr_ram_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	switch (cmd) {
	case PHYR_RAM_IOC_CREATE:
		return phyr_ram_create((void __user *)arg);
	case PHYR_RAM_IOC_LAYOUT:
		return phyr_ram_layout((void __user *)arg);
	case DMA_HEAP_IOCTL_ALLOC:
		return phyr_ram_heap_alloc((void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations phyr_ram_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = phyr_ram_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice phyr_ram_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "phyr_ram",
	.fops = &phyr_ram_fops,
	/* a test exporter: it hands out RAM, so only root may ask */
	.mode = 0600,
};

static int __init phyr_ram_init(void)
{
	int ret;

	phyr_dmabuf_register(&phyr_ram_exporter);
	ret = misc_register(&phyr_ram_misc);
	if (ret)
		phyr_dmabuf_unregister(&phyr_ram_exporter);
	return ret;
}

static void __exit phyr_ram_exit(void)
{
	misc_deregister(&phyr_ram_misc);
	phyr_dmabuf_unregister(&phyr_ram_exporter);
	/* every buffer holds the module, so none can be left */
	if (atomic64_read(&phyr_ram_live_bufs))
		pr_err("phyr_ram: leak: %lld buffers\n",
		       atomic64_read(&phyr_ram_live_bufs));
}

module_init(phyr_ram_init);
module_exit(phyr_ram_exit);
MODULE_DESCRIPTION("dma-buf exporter of CPU RAM that speaks phyr");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("DMA_BUF");
MODULE_IMPORT_NS("PHYR");
