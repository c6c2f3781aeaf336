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
EXPORT_SYMBOL_GPL(phyr_to_sgt);

/**
 * phyr_free_sgt - free a table from phyr_to_sgt()
 * @sgt: the table, no longer DMA-mapped
 */
void phyr_free_sgt(struct sg_table *sgt)
{
	sg_free_table(sgt);
	kfree(sgt);
}
EXPORT_SYMBOL_GPL(phyr_free_sgt);

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
EXPORT_SYMBOL_GPL(phyr_dmabuf_register);

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
EXPORT_SYMBOL_GPL(phyr_dmabuf_unregister);

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
 */
bool phyr_dmabuf_supported(const struct dma_buf *dmabuf)
{
	return phyr_dmabuf_find(dmabuf);
}
EXPORT_SYMBOL_GPL(phyr_dmabuf_supported);

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
EXPORT_SYMBOL_GPL(phyr_dmabuf_map);

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
EXPORT_SYMBOL_GPL(phyr_dmabuf_unmap);
