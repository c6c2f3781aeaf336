// SPDX-License-Identifier: GPL-2.0
/*
 * phyr: dma-buf glue.
 *
 * phyr_to_sgt() gives exporters an sg_table for legacy importers, built
 * from the same phyr they hand to phyr-aware ones.
 *
 * The registry lets an importer learn whether a buffer's exporter can give
 * it a phyr.  Exporters register at module init and unregister at exit; a
 * buffer holds its exporter's module, so the registration outlives every
 * buffer the importer can reach.
 */
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/export.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <phyr/phyr_dma.h>

/* Largest scatterlist entry: its length is an unsigned int. */
#define PHYR_SG_MAX	ALIGN_DOWN(UINT_MAX, PAGE_SIZE)

/**
 * phyr_to_sgt - describe a slice of CPU RAM as an sg_table of pages
 * @slice: the memory
 * @gfp: allocation flags
 *
 * The table is not DMA-mapped: exporters map it for the attachment with
 * dma_map_sgtable() and release it with phyr_free_sgt().
 *
 * Return: the table; ERR_PTR(-EOPNOTSUPP) if any of the slice is not CPU
 * RAM (it has no struct page), ERR_PTR(-ENOMEM).
 */
struct sg_table *phyr_to_sgt(const struct phyr_slice *slice, gfp_t gfp)
{
	struct scatterlist *sg;
	struct phyr_iter it;
	struct sg_table *sgt;
	unsigned int nents = 0;
	u64 off, chunk;
	unsigned int n;
	bool more;
	int ret;

	for (more = phyr_iter_start(&it, slice); more; more = phyr_iter_next(&it)) {
		if (it.meta->kind != PHYR_MEM_RAM)
			return ERR_PTR(-EOPNOTSUPP);
		n = DIV_ROUND_UP_ULL(it.len + offset_in_page(it.paddr),
				     PHYR_SG_MAX);
		if (check_add_overflow(nents, n, &nents))
			return ERR_PTR(-ENOMEM);
	}

	sgt = kzalloc_obj(*sgt, gfp);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table(sgt, nents, gfp);
	if (ret) {
		kfree(sgt);
		return ERR_PTR(ret);
	}

	sg = sgt->sgl;
	for (more = phyr_iter_start(&it, slice); more; more = phyr_iter_next(&it)) {
		for (off = 0; off < it.len; off += chunk) {
			phys_addr_t pa = it.paddr + off;

			chunk = min_t(u64, it.len - off,
				      PHYR_SG_MAX - offset_in_page(pa));
			sg_set_page(sg, pfn_to_page(PHYS_PFN(pa)), chunk,
				    offset_in_page(pa));
			sg = sg_next(sg);
		}
	}
	return sgt;
}
EXPORT_SYMBOL_NS_GPL(phyr_to_sgt, "PHYR");

/**
 * phyr_free_sgt - free a table from phyr_to_sgt()
 * @sgt: the table, no longer DMA-mapped
 */
void phyr_free_sgt(struct sg_table *sgt)
{
	sg_free_table(sgt);
	kfree(sgt);
}
EXPORT_SYMBOL_NS_GPL(phyr_free_sgt, "PHYR");

/*
 * The DMA-only table of a P2P MMIO phyr, from the mapper's DMA extents.
 * The dma-buf core's helper for this, dma_buf_phys_vec_to_sgt(), does not
 * serve here as of 7.2: it links every range at IOVA offset 0 (a buffer of
 * two runs or more through the host bridge fails with -EADDRINUSE), and
 * its dma_buf_free_sgt() frees no scatterlist (orig_nents is 0 when
 * sg_free_table() reads it).  phyr_dma_map() maps by the pair's P2P map
 * type; the mapping lives beside the table until the exporter's unmap.
 */
struct phyr_p2p_sgt {
	struct sg_table sgt;
	struct phyr_dma_map map;
	u32 nents;		/* entries allocated */
};

static void phyr_p2p_sgt_free(struct phyr_p2p_sgt *p)
{
	phyr_dma_unmap(&p->map);
	p->sgt.orig_nents = p->nents;
	sg_free_table(&p->sgt);
	kfree(p);
}

static struct sg_table *phyr_p2p_map_sgt(struct dma_buf_attachment *attach,
					 const struct phyr_slice *slice,
					 enum dma_data_direction dir)
{
	/* no device page size: the table's entries are the DMA extents */
	struct phyr_dma_hint hint = {
		.pgsz = PHYR_IOVA_GRANULE,
		.iova = slice->phyr->runs[0].paddr,
	};
	const struct phys_vec *runs;
	struct phyr_p2p_sgt *p;
	struct scatterlist *sg;
	u64 nents = 0, addr, left, n;
	u32 i, nr;
	int ret;

	if (!attach->peer2peer)
		return ERR_PTR(-EOPNOTSUPP);
	p = kzalloc_obj(*p);
	if (!p)
		return ERR_PTR(-ENOMEM);
	ret = phyr_dma_map(&p->map, attach->dev, slice, &hint, dir, 0, NULL,
			   NULL);
	if (ret) {
		kfree(p);
		return ERR_PTR(ret);
	}
	runs = phyr_dma_map_runs(&p->map, &nr);
	for (i = 0; i < nr; i++)
		nents += DIV_ROUND_UP_ULL(runs[i].len, PHYR_SG_MAX);
	ret = -ENOMEM;
	if (nents > UINT_MAX)
		goto err;
	ret = sg_alloc_table(&p->sgt, nents, GFP_KERNEL | __GFP_ZERO);
	if (ret)
		goto err;
	p->nents = nents;

	/* entries of at most PHYR_SG_MAX: the length is an unsigned int */
	sg = p->sgt.sgl;
	for (i = 0; i < nr; i++) {
		for (addr = runs[i].paddr, left = runs[i].len; left;
		     left -= n, addr += n) {
			n = min_t(u64, left, PHYR_SG_MAX);
			sg_dma_address(sg) = addr;
			sg_dma_len(sg) = n;
			sg = sg_next(sg);
		}
	}
	/* no CPU list: DMA addresses only, as for any P2P table */
	p->sgt.orig_nents = 0;
	return &p->sgt;

err:
	phyr_dma_unmap(&p->map);
	kfree(p);
	return ERR_PTR(ret);
}

/* The one kind and provider of a whole phyr that common code may map. */
static int phyr_whole_meta(const struct phyr *phyr, struct phyr_slice *slice,
			   const struct phyr_meta **meta)
{
	struct phyr_iter it;
	int ret;

	ret = phyr_slice_init(slice, phyr, 0, phyr->len);
	if (ret)
		return ret;
	ret = phyr_slice_check_meta(slice);
	if (ret)
		return ret;
	phyr_iter_start(&it, slice);
	*meta = it.meta;
	return 0;
}

/**
 * phyr_dmabuf_map_sgt - an exporter's map_dma_buf, from its phyr
 * @attach: the attachment
 * @phyr: the buffer's phyr
 * @dir: DMA direction
 *
 * CPU RAM becomes an sg_table of pages mapped for the attachment's device;
 * P2P MMIO a table of DMA addresses only (no pages) for the pair's P2P map
 * type, and only for importers that declared they handle peer-to-peer
 * memory.
 *
 * Context: the buffer's reservation lock held.
 * Return: the table; ERR_PTR(-EOPNOTSUPP) for memory the importer cannot
 * be told about (private, or P2P to an importer without peer2peer),
 * ERR_PTR(-EINVAL) for memory no single mapping serves,
 * ERR_PTR(-EREMOTEIO) for P2P MMIO the device cannot reach, or the
 * mapping's error.
 */
struct sg_table *phyr_dmabuf_map_sgt(struct dma_buf_attachment *attach,
				     const struct phyr *phyr,
				     enum dma_data_direction dir)
{
	const struct phyr_meta *meta;
	struct phyr_slice slice;
	struct sg_table *sgt;
	int ret;

	ret = phyr_whole_meta(phyr, &slice, &meta);
	if (ret)
		return ERR_PTR(ret);
	if (meta->kind == PHYR_MEM_P2P_MMIO)
		return phyr_p2p_map_sgt(attach, &slice, dir);
	sgt = phyr_to_sgt(&slice, GFP_KERNEL);
	if (IS_ERR(sgt))
		return sgt;
	/*
	 * The phyr exporters let userspace mmap their memory and offer no
	 * begin/end_cpu_access: they are coherent by design, so an
	 * attachment is mapped only where DMA is coherent, and every
	 * importer may map the same pages at once.
	 */
	ret = dma_map_sgtable(attach->dev, sgt, dir, DMA_ATTR_REQUIRE_COHERENT);
	if (ret) {
		phyr_free_sgt(sgt);
		return ERR_PTR(ret);
	}
	return sgt;
}
EXPORT_SYMBOL_NS_GPL(phyr_dmabuf_map_sgt, "PHYR");

/**
 * phyr_dmabuf_unmap_sgt - an exporter's unmap_dma_buf
 * @attach: the attachment
 * @phyr: the buffer's phyr, as given to phyr_dmabuf_map_sgt()
 * @sgt: the table it returned
 * @dir: DMA direction
 *
 * Context: the buffer's reservation lock held.
 */
void phyr_dmabuf_unmap_sgt(struct dma_buf_attachment *attach,
			   const struct phyr *phyr, struct sg_table *sgt,
			   enum dma_data_direction dir)
{
	struct phyr_p2p_sgt *p;

	if (phyr->nr_segs && phyr->segs[0].meta.kind == PHYR_MEM_P2P_MMIO) {
		p = container_of(sgt, struct phyr_p2p_sgt, sgt);
		phyr_p2p_sgt_free(p);
		return;
	}
	dma_unmap_sgtable(attach->dev, sgt, dir, DMA_ATTR_REQUIRE_COHERENT);
	phyr_free_sgt(sgt);
}
EXPORT_SYMBOL_NS_GPL(phyr_dmabuf_unmap_sgt, "PHYR");

static vm_fault_t phyr_dmabuf_fault(struct vm_fault *vmf)
{
	/* everything was mapped at mmap(): the mapping was revoked since */
	return VM_FAULT_SIGBUS;
}

static const struct vm_operations_struct phyr_dmabuf_vm_ops = {
	.fault = phyr_dmabuf_fault,
};

/**
 * phyr_dmabuf_mmap - an exporter's mmap, from its phyr
 * @phyr: the buffer's phyr
 * @vma: the mapping; vm_pgoff is the offset in the buffer, in pages
 *
 * Maps every page at once: RAM with the VMA's protection, P2P MMIO
 * write-combined (or uncached, as its segment says).  Shared mappings
 * only: a copy-on-write mapping of raw PFNs keeps the first PFN in
 * vm_pgoff, which /proc/PID/maps prints to any holder of the fd.  An
 * exporter that revokes its memory zaps the buffer's mappings
 * (unmap_mapping_range() on the dma-buf file); a later access gets SIGBUS.
 *
 * Return: 0; -EINVAL for a private mapping or a range beyond the buffer,
 * -EOPNOTSUPP for memory behind a private interconnect, or the page-table
 * error.
 */
int phyr_dmabuf_mmap(const struct phyr *phyr, struct vm_area_struct *vma)
{
	u64 start = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u64 len = vma->vm_end - vma->vm_start, done = 0;
	struct phyr_slice slice;
	struct phyr_iter it;
	pgprot_t prot;
	bool more;
	int ret;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (phyr_slice_init(&slice, phyr, start, len))
		return -EINVAL;
	vma->vm_ops = &phyr_dmabuf_vm_ops;
	for (more = phyr_iter_start(&it, &slice); more;
	     more = phyr_iter_next(&it)) {
		switch (it.meta->kind) {
		case PHYR_MEM_RAM:
			ret = remap_pfn_range(vma, vma->vm_start + done,
					      PHYS_PFN(it.paddr), it.len,
					      vma->vm_page_prot);
			break;
		case PHYR_MEM_P2P_MMIO:
			prot = it.meta->cache == PHYR_CACHE_UC ?
			       pgprot_noncached(vma->vm_page_prot) :
			       pgprot_writecombine(vma->vm_page_prot);
			ret = io_remap_pfn_range(vma, vma->vm_start + done,
						 PHYS_PFN(it.paddr), it.len,
						 prot);
			break;
		default:
			return -EOPNOTSUPP;
		}
		if (ret)
			return ret;
		done += it.len;
	}
	return 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_dmabuf_mmap, "PHYR");

static LIST_HEAD(phyr_exporters);
static DEFINE_MUTEX(phyr_exporters_lock);

/**
 * phyr_dmabuf_register - announce an exporter that speaks phyr
 * @exp: the exporter; must stay valid until phyr_dmabuf_unregister()
 */
void phyr_dmabuf_register(struct phyr_dmabuf_exporter *exp)
{
	mutex_lock(&phyr_exporters_lock);
	list_add_tail(&exp->node, &phyr_exporters);
	mutex_unlock(&phyr_exporters_lock);
}
EXPORT_SYMBOL_NS_GPL(phyr_dmabuf_register, "PHYR");

/**
 * phyr_dmabuf_unregister - withdraw an exporter
 * @exp: a registered exporter with no buffers left
 */
void phyr_dmabuf_unregister(struct phyr_dmabuf_exporter *exp)
{
	mutex_lock(&phyr_exporters_lock);
	list_del(&exp->node);
	mutex_unlock(&phyr_exporters_lock);
}
EXPORT_SYMBOL_NS_GPL(phyr_dmabuf_unregister, "PHYR");

static struct phyr_dmabuf_exporter *phyr_dmabuf_find(const struct dma_buf *dmabuf)
{
	struct phyr_dmabuf_exporter *exp, *found = NULL;

	mutex_lock(&phyr_exporters_lock);
	list_for_each_entry(exp, &phyr_exporters, node) {
		if (exp->ops == dmabuf->ops) {
			found = exp;
			break;
		}
	}
	mutex_unlock(&phyr_exporters_lock);
	return found;
}

/**
 * phyr_dmabuf_supported - can this buffer's exporter give a phyr?
 * @dmabuf: the buffer
 *
 * Return: true if the exporter implements the phyr operations.
 */
bool phyr_dmabuf_supported(const struct dma_buf *dmabuf)
{
	return phyr_dmabuf_find(dmabuf);
}
EXPORT_SYMBOL_NS_GPL(phyr_dmabuf_supported, "PHYR");

/**
 * phyr_dmabuf_map - get the phyr of an attachment's buffer
 * @attach: a pinned attachment
 *
 * The phyr describes the whole buffer; the importer slices it.
 *
 * Context: the buffer's reservation lock held.
 * Return: the phyr, valid until phyr_dmabuf_unmap();
 * ERR_PTR(-EOPNOTSUPP) if the exporter does not speak phyr, or the
 * exporter's error.
 */
const struct phyr *phyr_dmabuf_map(struct dma_buf_attachment *attach)
{
	struct phyr_dmabuf_exporter *exp = phyr_dmabuf_find(attach->dmabuf);

	dma_resv_assert_held(attach->dmabuf->resv);
	if (!exp)
		return ERR_PTR(-EOPNOTSUPP);
	return exp->map_phyr(attach);
}
EXPORT_SYMBOL_NS_GPL(phyr_dmabuf_map, "PHYR");

/**
 * phyr_dmabuf_unmap - release a phyr from phyr_dmabuf_map()
 * @attach: the attachment
 * @phyr: the phyr
 *
 * Context: the buffer's reservation lock held.
 */
void phyr_dmabuf_unmap(struct dma_buf_attachment *attach,
		       const struct phyr *phyr)
{
	struct phyr_dmabuf_exporter *exp = phyr_dmabuf_find(attach->dmabuf);

	dma_resv_assert_held(attach->dmabuf->resv);
	if (exp && exp->unmap_phyr)
		exp->unmap_phyr(attach, phyr);
}
EXPORT_SYMBOL_NS_GPL(phyr_dmabuf_unmap, "PHYR");
