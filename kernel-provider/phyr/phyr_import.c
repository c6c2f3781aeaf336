// SPDX-License-Identifier: GPL-2.0
/*
 * phyr: the dma-buf importer for RDMA drivers.  See include/phyr/phyr_import.h.
 *
 * Locking.  The importer's mutex guards its table of imports, the kept
 * list and every import's reference count; nothing is allocated under it,
 * and no other lock is taken under it, so the exporter may reach it from
 * anywhere, reclaim included.  An import's state (its mapping, the keys
 * over it, revoked) is guarded by the buffer's reservation lock, as the
 * exporter's invalidate callback runs under it; that callback takes no
 * lock of ours.  The first registration builds the import with no lock of
 * ours held; later ones wait for it to be built (its completion, killably)
 * before they take the reservation lock, and find it whole.  The
 * importer's mutex comes after the reservation lock, never before.
 * Imports are released (which takes their reservation lock) with no lock
 * held, by the last put, or by the reaper, a delayed work that also does
 * the shrinker's releases.
 */
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/error-injection.h>
#include <linux/log2.h>
#include <linux/file.h>
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <phyr/phyr_import.h>

/**
 * phyr_pgsz_at_most - the largest size of @bitmap that is at most @limit
 * @bitmap: page sizes
 * @limit: a bound
 *
 * Return: the size, 0 if none.
 */
u64 phyr_pgsz_at_most(u64 bitmap, u64 limit)
{
	bitmap &= limit >= (1ULL << 63) ? ~0ULL : GENMASK_ULL(ilog2(limit | 1), 0);
	return bitmap ? 1ULL << (fls64(bitmap) - 1) : 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_pgsz_at_most, "PHYR");

/**
 * phyr_advise - where to place a slice, and what that gets
 * @slice: the memory
 * @first: the address of its first byte in the caller's space (the
 *	dma-buf offset, or the virtual address)
 * @iommu_pgsizes: the translating IOMMU's page sizes, 0 if the device
 *	reaches the memory by physical or bus address
 * @pgsz_bitmap: the device page sizes allowed
 * @waste_cap: the IOVA the mapping may spend on alignment
 * @adv: output
 *
 * The address is advised congruent to @first modulo the slice's phase
 * (the alignment its physical layout follows, phyr_slice_phase()) capped
 * by the largest page that helps, so that DMA addresses can agree with
 * the physical ones for the IOMMU's large pages and with the device's
 * addresses for its own.  Under a translating IOMMU the mapper places the
 * IOVA, so the bits above the phase are free: they are advised zero up to
 * the largest device page the length can use, for the fewest entries.  The
 * outcome is what phyr_best_pgsz() chooses at iova_align + iova_offset.
 *
 * Return: 0; -ERANGE for no page size; what phyr_best_pgsz() returns.
 */
int phyr_advise(const struct phyr_slice *slice, u64 first, u64 iommu_pgsizes,
		u64 pgsz_bitmap, u64 waste_cap, struct phyr_advice *adv)
{
	u64 cover = roundup_pow_of_two(offset_in_page(first) + slice->len);
	u64 phase = phyr_slice_phase(slice, first);
	u64 span = PAGE_ALIGN(offset_in_page(first) + slice->len);
	struct phyr_pgsz_req req = {
		.pgsz_bitmap = pgsz_bitmap,
		.translating = iommu_pgsizes != 0,
		.max_iova_waste = min(waste_cap, span),
	};
	struct phyr_iova_place place;
	struct phyr_pgsz pgsz;
	u64 p, g;
	int ret;

	if (!pgsz_bitmap)
		return -ERANGE;
	p = min(phase, cover);
	if (iommu_pgsizes) {
		p = max_t(u64, phyr_pgsz_at_most(iommu_pgsizes, p), PAGE_SIZE);
		g = max_t(u64, phyr_pgsz_at_most(pgsz_bitmap, cover), PAGE_SIZE);
		adv->iova_align = max(p, g);
	} else {
		p = max_t(u64, phyr_pgsz_at_most(pgsz_bitmap, p), PAGE_SIZE);
		adv->iova_align = p;
	}
	adv->iova_offset = first & (p - 1);
	req.iova = adv->iova_align + adv->iova_offset;
	ret = phyr_best_pgsz(slice, &req, &pgsz);
	if (ret)
		return ret;
	adv->page_size = pgsz.pgsz;
	adv->blocks = pgsz.nr_blocks;
	adv->iova_bytes = 0;
	adv->iommu_page_size = 0;
	if (iommu_pgsizes) {
		if (!phyr_iova_place(req.iova, offset_in_page(first), slice->len,
				     max_t(u64, pgsz.pgsz, PAGE_SIZE), &place))
			adv->iova_bytes = place.reserve;
		/*
		 * DMA follows the address modulo the device page, and the
		 * reservation's alignment above it
		 */
		g = adv->iova_offset >> ilog2(pgsz.pgsz) ? pgsz.pgsz : p;
		adv->iommu_page_size = phyr_pgsz_at_most(iommu_pgsizes, min(p, g));
	}
	return 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_advise, "PHYR");

/* The device's import of @dmabuf, if listed (the importer's lock held). */
static struct phyr_import *phyr_import_find(struct phyr_importer *imr,
					    const struct dma_buf *dmabuf)
{
	struct phyr_import *imp;

	lockdep_assert_held(&imr->lock);
	hash_for_each_possible(imr->imports, imp, node, (unsigned long)dmabuf)
		if (imp->dmabuf == dmabuf)
			return imp;
	return NULL;
}

/* Later registrations make an import of their own (the lock held). */
static void phyr_import_unlist(struct phyr_import *imp)
{
	lockdep_assert_held(&imp->importer->lock);
	if (imp->listed)
		hash_del(&imp->node);
	imp->listed = false;
}

/* Give back the mapping, the phyr and the pin (reservation lock held). */
static void phyr_import_unmap_locked(struct phyr_import *imp)
{
	dma_resv_assert_held(imp->dmabuf->resv);
	if (imp->mapped)
		phyr_dma_unmap(&imp->map);
	imp->mapped = false;
	if (imp->phyr)
		phyr_dmabuf_unmap(imp->attach, imp->phyr);
	imp->phyr = NULL;
	if (imp->pinned)
		dma_buf_unpin(imp->attach);
	imp->pinned = false;
}

/*
 * The exporter takes the memory back (or moves it: the import is pinned,
 * so only a revoke comes here once it is built).  Every key over the
 * import dies first, then the mapping goes.  The import stays until its
 * last key is deregistered; a later registration makes a new one.
 */
static void phyr_import_invalidate(struct dma_buf_attachment *attach)
{
	struct phyr_import *imp = attach->importer_priv;
	struct phyr_importer *imr = imp->importer;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (!imp->revoked) {
		/* the next lookup replaces it (phyr_import_get_locked()) */
		WRITE_ONCE(imp->revoked, true);
		atomic64_inc(&imr->stats.revokes);
		atomic64_add(imp->nr_keys, &imr->stats.keys_revoked);
		if (imp->nr_keys)
			imr->ops->revoke(imp);
		/* a kept one goes now: nothing is left to keep */
		mod_delayed_work(system_dfl_wq, &imr->reaper, 0);
	}
	phyr_import_unmap_locked(imp);
}

static const struct dma_buf_attach_ops phyr_import_attach_ops = {
	.allow_peer2peer = true,
	.invalidate_mappings = phyr_import_invalidate,
};

/**
 * phyr_import_layout - the layout an import of a whole buffer gets
 * @imr: the importer
 * @whole: the buffer's phyr, all of it
 * @p2p_type: how the device reaches it (phyr_dma_p2p_type())
 * @adv: output: the buffer's first byte goes at table address
 *	@adv->iova_align + @adv->iova_offset, in blocks of @adv->page_size
 *
 * Return: 0; -EOPNOTSUPP or -EINVAL for memory the device cannot map as
 * one (phyr_slice_check_meta()); what phyr_advise() returns.
 */
int phyr_import_layout(const struct phyr_importer *imr,
		       const struct phyr_slice *whole, int p2p_type,
		       struct phyr_advice *adv)
{
	u64 iommu = p2p_type == PHYR_P2P_BUS_ADDR ? 0 : imr->iommu_pgsizes;
	int ret;

	ret = phyr_slice_check_meta(whole);
	if (ret)
		return ret;
	/* the buffer's first byte where its memory's phase wants it */
	return phyr_advise(whole, 0, iommu, imr->pgsz_bitmap,
			   READ_ONCE(imr->max_iova_waste), adv);
}
EXPORT_SYMBOL_NS_GPL(phyr_import_layout, "PHYR");

/* Pin, take the phyr, place and map the whole buffer (reservation lock held). */
static int phyr_import_map_locked(struct phyr_import *imp)
{
	struct phyr_importer *imr = imp->importer;
	struct dma_buf *dmabuf = imp->dmabuf;
	struct phyr_dma_hint hint = {};
	struct phyr_advice adv;
	struct phyr_slice slice;
	const struct phyr *phyr;
	long lret;
	int ret;

	/* revoked between the attach and the lock */
	if (imp->revoked)
		return -ENODEV;
	ret = dma_buf_pin(imp->attach);
	if (ret)
		return ret;
	imp->pinned = true;
	phyr = phyr_dmabuf_map(imp->attach);
	if (IS_ERR(phyr))
		return PTR_ERR(phyr);
	imp->phyr = phyr;
	/* a dynamic importer waits for moves the pin may have started */
	lret = dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_KERNEL, true,
				     MAX_SCHEDULE_TIMEOUT);
	if (lret <= 0)
		return lret ? lret : -ETIMEDOUT;
	ret = phyr_slice_init(&slice, phyr, 0, phyr->len);
	if (ret)
		return ret;
	/* peers below a common switch are reached by bus address, not IOVA */
	ret = phyr_dma_p2p_type(imr->dma_dev, &slice);
	if (ret < 0)
		return ret;
	imp->p2p_type = ret;
	ret = phyr_import_layout(imr, &slice, imp->p2p_type, &adv);
	if (ret)
		return ret;
	imp->pgsz = adv.page_size;
	imp->nr_blocks = adv.blocks;
	hint.pgsz = adv.page_size;
	hint.iova = adv.iova_align + adv.iova_offset;
	/* the page size was chosen for one contiguous IOVA range */
	hint.one_range = imp->p2p_type != PHYR_P2P_BUS_ADDR &&
			 imr->iommu_pgsizes;
	imp->table_offset = hint.iova & (adv.page_size - 1);
	ret = imr->ops->table_alloc(imp);
	if (ret)
		return ret;
	ret = phyr_dma_map(&imp->map, imr->dma_dev, &slice, &hint,
			   DMA_BIDIRECTIONAL, imr->dma_attrs,
			   imr->ops->table_set, imp);
	if (ret)
		return ret;
	imp->mapped = true;
	if (imp->map.stats.blocks != imp->nr_blocks)
		return -EINVAL;
	return 0;
}

static void phyr_import_free(struct phyr_import *imp)
{
	struct phyr_importer *imr = imp->importer;
	struct dma_buf *dmabuf = imp->dmabuf;

	if (imp->attach) {
		dma_resv_lock(dmabuf->resv, NULL);
		phyr_import_unmap_locked(imp);
		dma_resv_unlock(dmabuf->resv);
		dma_buf_detach(dmabuf, imp->attach);
	}
	/* the device no longer reaches the table: no key is left */
	if (imp->priv)
		imr->ops->table_free(imp);
	dma_buf_put(dmabuf);
	atomic_dec(&imr->live);
	kfree(imp);
}

/*
 * Take @imp off the kept list and out of the table, for freeing once the
 * importer's lock is dropped (the lock held).
 */
static void phyr_import_unkeep(struct phyr_import *imp, struct list_head *out)
{
	struct phyr_importer *imr = imp->importer;

	lockdep_assert_held(&imr->lock);
	list_move_tail(&imp->lru, out);
	imp->kept = false;
	imr->nr_kept--;
	phyr_import_unlist(imp);
	atomic64_inc(&imr->stats.released);
}

static void phyr_import_free_list(struct list_head *list)
{
	struct phyr_import *imp, *n;

	list_for_each_entry_safe(imp, n, list, lru)
		phyr_import_free(imp);
}

/*
 * Why building an import may fail for as long as the buffer lives, or at
 * least long enough that trying again at every registration would only
 * map, and unmap, the whole buffer again: the memory's kinds, the page
 * sizes, the table, the IOVA space, the platform's routing.
 */
static bool phyr_import_err_lasts(int err)
{
	return err == -EOPNOTSUPP || err == -EINVAL || err == -E2BIG ||
	       err == -ERANGE || err == -ENOSPC || err == -EREMOTEIO;
}

/*
 * May an import without keys be kept?  Only while someone other than the
 * import holds its buffer, so that a kept import never keeps a buffer
 * alive that its owners let go of (the import's own reference is one of
 * the file's; another device's import is another), and only a whole one,
 * or one whose failure lasts: the next registration then learns it at
 * once, holding nothing (no attachment, no pin, no mapping).
 */
static bool phyr_import_keepable(const struct phyr_import *imp)
{
	if (!READ_ONCE(*imp->importer->keep_ms) ||
	    file_count(imp->dmabuf->file) <= 1)
		return false;
	return imp->init_err ? phyr_import_err_lasts(imp->init_err) :
	       !READ_ONCE(imp->revoked);
}

static bool phyr_import_expired(const struct phyr_import *imp, unsigned long now)
{
	unsigned long keep = msecs_to_jiffies(READ_ONCE(*imp->importer->keep_ms));

	return !phyr_import_keepable(imp) ||
	       time_after_eq(now, imp->kept_since + keep);
}

/* Release kept imports (the lock held), oldest first, up to @nr. */
static unsigned long phyr_importer_drop_kept(struct phyr_importer *imr,
					     unsigned long nr,
					     struct list_head *dead)
{
	unsigned long done = 0;

	lockdep_assert_held(&imr->lock);
	while (done < nr && !list_empty(&imr->kept)) {
		phyr_import_unkeep(list_first_entry(&imr->kept,
						    struct phyr_import, lru),
				   dead);
		done++;
	}
	return done;
}

/* How often kept imports are looked at: their buffers' holders may go. */
#define PHYR_IMPORT_REAP_MS 100

static void phyr_importer_reap(struct work_struct *work)
{
	struct phyr_importer *imr = container_of(to_delayed_work(work),
						 struct phyr_importer, reaper);
	unsigned long now = jiffies;
	struct phyr_import *imp, *n;
	LIST_HEAD(dead);

	mutex_lock(&imr->lock);
	/* the shrinker's share first, oldest first */
	phyr_importer_drop_kept(imr, imr->to_shrink, &dead);
	imr->to_shrink = 0;
	list_for_each_entry_safe(imp, n, &imr->kept, lru)
		if (phyr_import_expired(imp, now))
			phyr_import_unkeep(imp, &dead);
	if (imr->nr_kept)
		queue_delayed_work(system_dfl_wq, &imr->reaper,
				   msecs_to_jiffies(PHYR_IMPORT_REAP_MS));
	mutex_unlock(&imr->lock);
	phyr_import_free_list(&dead);
}

/**
 * phyr_import_put - drop a reference phyr_import_get_locked() gave
 * @imp: the import
 *
 * With its last key gone the import is kept, mapped, for the next
 * registration of the same buffer, while the buffer has other holders and
 * for at most the importer's keep_ms; otherwise, and when the kept list is
 * full (its oldest goes), under memory pressure, on a revoke or at
 * phyr_importer_flush(), it is released: unmapped, unpinned, detached, its
 * table freed.  Never call with the buffer's reservation lock held.
 */
void phyr_import_put(struct phyr_import *imp)
{
	struct phyr_importer *imr = imp->importer;
	LIST_HEAD(dead);

	mutex_lock(&imr->lock);
	if (--imp->ref) {
		mutex_unlock(&imr->lock);
		return;
	}
	if (phyr_import_keepable(imp) && READ_ONCE(*imr->max_kept)) {
		/* the list's reference */
		imp->ref = 1;
		imp->kept = true;
		imp->kept_since = jiffies;
		list_add_tail(&imp->lru, &imr->kept);
		if (++imr->nr_kept > READ_ONCE(*imr->max_kept))
			phyr_import_unkeep(list_first_entry(&imr->kept,
							    struct phyr_import,
							    lru), &dead);
		/* never pushed back: a busy buffer must not starve the rest */
		if (imr->nr_kept)
			queue_delayed_work(system_dfl_wq, &imr->reaper,
					   msecs_to_jiffies(PHYR_IMPORT_REAP_MS));
	} else {
		phyr_import_unlist(imp);
		list_add(&imp->lru, &dead);
	}
	mutex_unlock(&imr->lock);
	phyr_import_free_list(&dead);
}
EXPORT_SYMBOL_NS_GPL(phyr_import_put, "PHYR");

/**
 * phyr_importer_flush - release every kept import now
 * @imr: the importer
 */
void phyr_importer_flush(struct phyr_importer *imr)
{
	LIST_HEAD(dead);

	mutex_lock(&imr->lock);
	phyr_importer_drop_kept(imr, ULONG_MAX, &dead);
	mutex_unlock(&imr->lock);
	phyr_import_free_list(&dead);
}
EXPORT_SYMBOL_NS_GPL(phyr_importer_flush, "PHYR");

static unsigned long phyr_importer_count(struct shrinker *sh,
					 struct shrink_control *sc)
{
	struct phyr_importer *imr = sh->private_data;

	return READ_ONCE(imr->nr_kept) ?: SHRINK_EMPTY;
}

/*
 * Memory is short: kept imports hold pinned buffers and tables; let go.
 * Releasing one takes its buffer's reservation lock, which reclaim may
 * not (allocations are made under such locks): the reaper does it, now.
 */
static unsigned long phyr_importer_scan(struct shrinker *sh,
					struct shrink_control *sc)
{
	struct phyr_importer *imr = sh->private_data;
	unsigned long nr;

	if (!mutex_trylock(&imr->lock))
		return SHRINK_STOP;
	nr = min_t(unsigned long, sc->nr_to_scan, imr->nr_kept);
	imr->to_shrink += nr;
	mutex_unlock(&imr->lock);
	mod_delayed_work(system_dfl_wq, &imr->reaper, 0);
	return nr;
}

/**
 * phyr_importer_init - ready an importer the driver has filled in
 * @imr: the importer
 * @name: its name, for the shrinker (the device's)
 *
 * Return: 0 or -ENOMEM.
 */
int phyr_importer_init(struct phyr_importer *imr, const char *name)
{
	mutex_init(&imr->lock);
	hash_init(imr->imports);
	INIT_LIST_HEAD(&imr->kept);
	INIT_DELAYED_WORK(&imr->reaper, phyr_importer_reap);
	atomic_set(&imr->live, 0);
	imr->nr_kept = 0;
	imr->to_shrink = 0;
	imr->shrinker = shrinker_alloc(0, "phyr-import-%s", name);
	if (!imr->shrinker) {
		mutex_destroy(&imr->lock);
		return -ENOMEM;
	}
	imr->shrinker->count_objects = phyr_importer_count;
	imr->shrinker->scan_objects = phyr_importer_scan;
	imr->shrinker->private_data = imr;
	shrinker_register(imr->shrinker);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_importer_init, "PHYR");

/**
 * phyr_importer_fini - tear an importer down
 * @imr: the importer, with no key left (kept imports are released here)
 */
void phyr_importer_fini(struct phyr_importer *imr)
{
	shrinker_free(imr->shrinker);
	/* a revoke from now on must not queue it again */
	disable_delayed_work_sync(&imr->reaper);
	phyr_importer_flush(imr);
	if (atomic_read(&imr->live))
		pr_err("phyr: %d imports left at teardown\n",
		       atomic_read(&imr->live));
	mutex_destroy(&imr->lock);
}
EXPORT_SYMBOL_NS_GPL(phyr_importer_fini, "PHYR");

/* Build a new import of @dmabuf (no lock held; waiters wait for @built). */
static int phyr_import_build(struct phyr_import *imp)
{
	struct phyr_importer *imr = imp->importer;
	struct dma_buf_attachment *attach;
	int ret;

	/* the exporter may invalidate as soon as the attachment is listed */
	attach = dma_buf_dynamic_attach(imp->dmabuf, imr->dma_dev,
					&phyr_import_attach_ops, imp);
	if (IS_ERR(attach))
		return PTR_ERR(attach);
	imp->attach = attach;
	dma_resv_lock(imp->dmabuf->resv, NULL);
	ret = phyr_import_map_locked(imp);
	if (ret) {
		/* nothing stays mapped or attached for a revoke to find */
		phyr_import_unmap_locked(imp);
		dma_resv_unlock(imp->dmabuf->resv);
		dma_buf_detach(imp->dmabuf, attach);
		imp->attach = NULL;
		return ret;
	}
	atomic64_inc(&imr->stats.imports);
	return 0;
}

/**
 * phyr_import_get_locked - the import of a dma-buf for a registration
 * @imr: the importer
 * @dmabuf: the buffer; the caller keeps its own reference
 *
 * Finds the device's import of @dmabuf, or makes it: attach (dynamic,
 * revocable), pin, take the phyr, place and map the whole buffer into a
 * table the driver allocates and is streamed into.  A revoked import is
 * never returned: after a revoke the next registration makes a new one
 * (which the exporter may refuse).
 *
 * Return: the import, referenced and with the buffer's reservation lock
 * held, for the caller to enable its key and phyr_import_add_key() under
 * it, then phyr_import_unlock(); or an ERR_PTR(): -ENODEV if the exporter
 * revoked the buffer, -EOPNOTSUPP if it does not speak phyr, what
 * attaching, pinning or mapping returned.
 */
struct phyr_import *phyr_import_get_locked(struct phyr_importer *imr,
					   struct dma_buf *dmabuf)
{
	struct phyr_import *imp, *new;
	int ret;

	if (!phyr_dmabuf_supported(dmabuf))
		return ERR_PTR(-EOPNOTSUPP);
	/* nothing is allocated under the importer's lock */
	new = kzalloc_obj(*new, GFP_KERNEL_ACCOUNT);
	if (!new)
		return ERR_PTR(-ENOMEM);
	new->importer = imr;
	new->dmabuf = dmabuf;
	new->ref = 1;
	INIT_LIST_HEAD(&new->keys);
	INIT_LIST_HEAD(&new->lru);
	/* a registration that finds it waits until it is built */
	init_completion(&new->built);
again:
	mutex_lock(&imr->lock);
	imp = phyr_import_find(imr, dmabuf);
	if (imp && READ_ONCE(imp->revoked) && !imp->init_err) {
		/* taken back by the exporter: a new import replaces it */
		phyr_import_unlist(imp);
		imp = NULL;
	}
	if (imp) {
		if (imp->kept) {
			/* the kept list's reference becomes ours */
			list_del_init(&imp->lru);
			imp->kept = false;
			imr->nr_kept--;
			atomic64_inc(&imr->stats.kept);
		} else {
			imp->ref++;
		}
		mutex_unlock(&imr->lock);
		/* wait for the first registration to have built it */
		if (wait_for_completion_killable(&imp->built)) {
			phyr_import_put(imp);
			ret = -EINTR;
			goto err_new;
		}
		ret = imp->init_err;
		if (ret) {
			phyr_import_put(imp);
			goto err_new;
		}
		dma_resv_lock(dmabuf->resv, NULL);
		if (imp->revoked) {
			/* revoked since: the next lookup replaces it */
			dma_resv_unlock(dmabuf->resv);
			phyr_import_put(imp);
			goto again;
		}
		atomic64_inc(&imr->stats.shared);
		kfree(new);
		return imp;
	}
	imp = new;
	hash_add(imr->imports, &imp->node, (unsigned long)dmabuf);
	imp->listed = true;
	get_dma_buf(dmabuf);
	atomic_inc(&imr->live);
	mutex_unlock(&imr->lock);

	ret = phyr_import_build(imp);
	imp->init_err = ret;
	/* a failure that may not last is no one's: the next tries anew */
	if (ret && !phyr_import_err_lasts(ret)) {
		mutex_lock(&imr->lock);
		phyr_import_unlist(imp);
		mutex_unlock(&imr->lock);
	}
	complete_all(&imp->built);
	if (ret) {
		phyr_import_put(imp);
		return ERR_PTR(ret);
	}
	return imp;

err_new:
	kfree(new);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_NS_GPL(phyr_import_get_locked, "PHYR");
/* for the tests: an import the exporter or the IOMMU refuses */
ALLOW_ERROR_INJECTION(phyr_import_get_locked, ERRNO);

/**
 * phyr_import_slice - a range of an import's buffer
 * @imp: the import, reservation lock held, not revoked
 * @offset: the range's first byte in the buffer
 * @length: its length
 * @slice: output
 *
 * Return: 0; -EINVAL for a range beyond the buffer.
 */
int phyr_import_slice(const struct phyr_import *imp, u64 offset, u64 length,
		      struct phyr_slice *slice)
{
	dma_resv_assert_held(imp->dmabuf->resv);
	if (imp->revoked || !imp->phyr)
		return -ENODEV;
	return phyr_slice_init(slice, imp->phyr, offset, length);
}
EXPORT_SYMBOL_NS_GPL(phyr_import_slice, "PHYR");

/**
 * phyr_import_add_key - a key over the import is enabled
 * @imp: the import, reservation lock held, not revoked
 * @key: the driver's key; a revoke of the import will reach it
 */
void phyr_import_add_key(struct phyr_import *imp, struct phyr_import_key *key)
{
	dma_resv_assert_held(imp->dmabuf->resv);
	list_add_tail(&key->node, &imp->keys);
	imp->nr_keys++;
}
EXPORT_SYMBOL_NS_GPL(phyr_import_add_key, "PHYR");

/**
 * phyr_import_del_key - a key leaves the import
 * @imp: the import, reservation lock held
 * @key: a key phyr_import_add_key() added, which the device no longer uses
 */
void phyr_import_del_key(struct phyr_import *imp, struct phyr_import_key *key)
{
	dma_resv_assert_held(imp->dmabuf->resv);
	list_del_init(&key->node);
	imp->nr_keys--;
}
EXPORT_SYMBOL_NS_GPL(phyr_import_del_key, "PHYR");

/**
 * phyr_import_unlock - release the reservation lock phyr_import_get_locked()
 *	returned with
 * @imp: the import
 */
void phyr_import_unlock(struct phyr_import *imp)
{
	dma_resv_unlock(imp->dmabuf->resv);
}
EXPORT_SYMBOL_NS_GPL(phyr_import_unlock, "PHYR");
