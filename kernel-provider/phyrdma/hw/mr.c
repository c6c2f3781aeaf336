// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma device layer: the MTT, the MR table, and the engine's view of
 * memory through them.
 *
 * The engine is what the hardware would do: it finds an MR by key, checks
 * bounds and rights, walks the MTT by reading its entries through DMA,
 * translates the resulting DMA address through the device's IOMMU domain
 * (identity without one) and only then touches memory.  It never looks at
 * how the verbs layer built the MR, so a wrong entry moves wrong bytes.
 */
#include <linux/error-injection.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/highmem.h>
#include <linux/iommu.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/srcu.h>

#include "hw.h"
#include "engine.h"

/**
 * phyrdma_hw_mtt_alloc - allocate an MTT for @nr_entries blocks
 * @hw: the device
 * @nr_entries: leaf entries
 * @mtt: filled; the leaves are zero (invalid) and the upper levels point
 *	at the pages below
 *
 * Return: 0; -E2BIG for more entries than four levels hold; -ENOMEM.
 */
int phyrdma_hw_mtt_alloc(struct phyrdma_hw *hw, u64 nr_entries,
			 struct phyrdma_hw_mtt *mtt)
{
	struct phyrdma_mtt_layout *l = &mtt->layout;
	u64 i, page, child;
	u32 level;
	int ret;

	memset(mtt, 0, sizeof(*mtt));
	ret = phyrdma_mtt_layout(nr_entries, l);
	if (ret)
		return ret;
	mtt->nr_entries = nr_entries;
	/* on behalf of the caller: its memory cgroup pays */
	mtt->pages = kvcalloc(l->total_pages, sizeof(*mtt->pages),
			      GFP_KERNEL_ACCOUNT);
	if (!mtt->pages)
		return -ENOMEM;
	for (i = 0; i < l->total_pages; i++) {
		mtt->pages[i].va = dma_alloc_coherent(hw->dma_dev,
						      PHYRDMA_MTT_PAGE_SIZE,
						      &mtt->pages[i].dma,
						      GFP_KERNEL_ACCOUNT);
		if (!mtt->pages[i].va) {
			phyrdma_hw_mtt_free(hw, mtt);
			return -ENOMEM;
		}
		atomic64_inc(&hw->mtt_pages);
		cond_resched();
	}
	/* link every page above the leaves to its children */
	for (level = 1; level < l->levels; level++) {
		for (child = 0; child < l->pages[level - 1]; child++) {
			page = l->first[level] + (child >> PHYRDMA_MTT_PER_PAGE_SHIFT);
			mtt->pages[page].va[child & (PHYRDMA_MTT_PER_PAGE - 1)] =
				cpu_to_le64(mtt->pages[l->first[level - 1] + child].dma |
					    PHYRDMA_MTT_VALID);
		}
	}
	return 0;
}
ALLOW_ERROR_INJECTION(phyrdma_hw_mtt_alloc, ERRNO);

/**
 * phyrdma_hw_mtt_free - release an MTT no MR table entry refers to
 * @hw: the device
 * @mtt: from phyrdma_hw_mtt_alloc(), possibly partly allocated
 */
void phyrdma_hw_mtt_free(struct phyrdma_hw *hw, struct phyrdma_hw_mtt *mtt)
{
	u64 i;

	if (!mtt->pages)
		return;
	for (i = 0; i < mtt->layout.total_pages; i++) {
		if (!mtt->pages[i].va)
			continue;
		dma_free_coherent(hw->dma_dev, PHYRDMA_MTT_PAGE_SIZE,
				  mtt->pages[i].va, mtt->pages[i].dma);
		atomic64_dec(&hw->mtt_pages);
	}
	kvfree(mtt->pages);
	mtt->pages = NULL;
}

static dma_addr_t phyrdma_hw_mtt_root(const struct phyrdma_hw_mtt *mtt)
{
	return mtt->pages[mtt->layout.total_pages - 1].dma;
}

/*
 * Give @e a free index and a key (the index and the next variant) and make
 * it valid; on failure @e is freed.  Return: 0; -ENOSPC when the table is
 * full; -ENOMEM.
 */
static int phyrdma_hw_key_insert(struct phyrdma_hw *hw,
				 struct phyrdma_hw_mr_entry *e, u32 *key)
{
	u32 index;
	int ret;

	mutex_lock(&hw->mr_lock);
	ret = xa_alloc(&hw->mrs, &index, e, XA_LIMIT(1, PHYRDMA_HW_MAX_MR),
		       GFP_KERNEL);
	if (ret) {
		mutex_unlock(&hw->mr_lock);
		kfree(e);
		return ret == -EBUSY ? -ENOSPC : ret;
	}
	e->key = phyrdma_hw_key(index, hw->mr_variant++);
	e->valid = true;
	*key = e->key;
	mutex_unlock(&hw->mr_lock);
	return 0;
}

/**
 * phyrdma_hw_mr_enable - make an MR table entry valid
 * @hw: the device
 * @params: the MR
 * @mtt: its MTT, every leaf written; owned by the caller, which frees it
 *	only after phyrdma_hw_mr_disable()
 * @priv: the caller's object, handed back by phyrdma_hw_mr_query()
 * @key: output: the MR's lkey and rkey
 *
 * Return: 0; -ENOSPC when the MR table is full; -ENOMEM.
 */
int phyrdma_hw_mr_enable(struct phyrdma_hw *hw,
			 const struct phyrdma_hw_mr_params *params,
			 struct phyrdma_hw_mtt *mtt, void *priv, u32 *key)
{
	struct phyrdma_hw_mr_entry *e;

	e = kzalloc_obj(*e, GFP_KERNEL_ACCOUNT);
	if (!e)
		return -ENOMEM;
	e->params = *params;
	e->levels = mtt->layout.levels;
	e->root = phyrdma_hw_mtt_root(mtt);
	e->priv = priv;
	e->kind = PHYRDMA_HW_KEY_MR;
	e->odp_priv = params->on_demand ? priv : NULL;
	refcount_set(&e->users, 1);
	init_completion(&e->idle);

	return phyrdma_hw_key_insert(hw, e, key);
}

/**
 * phyrdma_hw_mr_get - look an MR up by key, for one engine access
 * @hw: the device
 * @key: lkey or rkey
 *
 * Return: the entry, held until phyrdma_hw_mr_put(); NULL if no valid MR
 * has @key.
 */
struct phyrdma_hw_mr_entry *phyrdma_hw_mr_get(struct phyrdma_hw *hw, u32 key)
{
	struct phyrdma_hw_mr_entry *e;

	xa_lock(&hw->mrs);
	e = xa_load(&hw->mrs, phyrdma_hw_key_index(key));
	if (e && (e->key != key || !e->valid || !refcount_inc_not_zero(&e->users)))
		e = NULL;
	xa_unlock(&hw->mrs);
	return e;
}

void phyrdma_hw_mr_put(struct phyrdma_hw_mr_entry *e)
{
	if (refcount_dec_and_test(&e->users))
		complete(&e->idle);
}

static void phyrdma_hw_mw_unbind_all(struct phyrdma_hw *hw, u32 key);

/**
 * phyrdma_hw_mr_disable - invalidate an MR table entry
 * @hw: the device
 * @key: a key from phyrdma_hw_mr_enable()
 *
 * When this returns the engine no longer uses the MR or its MTT: accesses
 * already under way are waited for.
 */
void phyrdma_hw_mr_disable(struct phyrdma_hw *hw, u32 key)
{
	struct phyrdma_hw_mr_entry *e;

	mutex_lock(&hw->mr_lock);
	e = xa_load(&hw->mrs, phyrdma_hw_key_index(key));
	/* windows bound into the MR lose it first: they reach its MTT */
	if (e && e->key == key && atomic_read(&e->bound_windows))
		phyrdma_hw_mw_unbind_all(hw, key);
	xa_lock(&hw->mrs);
	e = xa_load(&hw->mrs, phyrdma_hw_key_index(key));
	if (e && e->key == key) {
		e->valid = false;
		__xa_erase(&hw->mrs, phyrdma_hw_key_index(key));
	} else {
		e = NULL;
	}
	xa_unlock(&hw->mrs);
	mutex_unlock(&hw->mr_lock);
	if (!e)
		return;
	phyrdma_hw_mr_put(e);
	wait_for_completion(&e->idle);
	kfree(e);
}

DEFINE_STATIC_SRCU(phyrdma_hw_access_srcu);

/**
 * phyrdma_hw_mr_revoke - make an MR unusable now, keeping its key taken
 * @hw: the device
 * @key: a key from phyrdma_hw_mr_enable()
 *
 * The entry stays in the MR table, invalid, until phyrdma_hw_mr_disable():
 * a peer still holding the rkey can never reach a later MR through it.
 * Windows bound into the MR lose it.  When this returns no engine access
 * uses the MR's MTT or the addresses in it: accesses under way are waited
 * for (they never sleep), and a work request that still holds the entry
 * finds it invalid at its next access.  It does not wait for such work
 * requests to finish, which may wait on page faults of other MRs: a
 * revoke runs under an exporter's reservation lock.
 */
void phyrdma_hw_mr_revoke(struct phyrdma_hw *hw, u32 key)
{
	phyrdma_hw_mr_revoke_start(hw, key);
	phyrdma_hw_mr_revoke_wait();
}

/**
 * phyrdma_hw_mr_revoke_start - phyrdma_hw_mr_revoke() without the wait
 * @hw: the device
 * @key: a key from phyrdma_hw_mr_enable()
 *
 * For revoking many keys at once (every key over a shared import): start
 * each, then phyrdma_hw_mr_revoke_wait() once.
 */
void phyrdma_hw_mr_revoke_start(struct phyrdma_hw *hw, u32 key)
{
	struct phyrdma_hw_mr_entry *e;

	mutex_lock(&hw->mr_lock);
	e = xa_load(&hw->mrs, phyrdma_hw_key_index(key));
	if (e && e->key == key && atomic_read(&e->bound_windows))
		phyrdma_hw_mw_unbind_all(hw, key);
	xa_lock(&hw->mrs);
	e = xa_load(&hw->mrs, phyrdma_hw_key_index(key));
	if (e && e->key == key)
		WRITE_ONCE(e->valid, false);
	xa_unlock(&hw->mrs);
	mutex_unlock(&hw->mr_lock);
}

/* Wait for the engine accesses that may still use a key revoke_start()ed. */
void phyrdma_hw_mr_revoke_wait(void)
{
	synchronize_srcu_expedited(&phyrdma_hw_access_srcu);
}

/* A window leaves MR @key (mr_lock held). */
static void phyrdma_hw_mw_parent_put(struct phyrdma_hw *hw, u32 key)
{
	struct phyrdma_hw_mr_entry *mr;

	mr = xa_load(&hw->mrs, phyrdma_hw_key_index(key));

	if (mr && mr->key == key)
		atomic_dec(&mr->bound_windows);
}

static struct phyrdma_hw_mr_entry *
phyrdma_hw_mr_clone(const struct phyrdma_hw_mr_entry *from, u32 key)
{
	struct phyrdma_hw_mr_entry *e = kzalloc_obj(*e);

	if (!e)
		return NULL;
	e->key = key;
	e->params = from->params;
	e->levels = from->levels;
	e->root = from->root;
	e->priv = from->priv;
	e->kind = from->kind;
	e->parent = from->parent;
	e->mw_pdn = from->mw_pdn;
	e->odp_priv = from->odp_priv;
	atomic_set(&e->bound_windows, atomic_read(&from->bound_windows));
	e->valid = true;
	refcount_set(&e->users, 1);
	init_completion(&e->idle);
	return e;
}

/*
 * Put @e in @old's place under @old's index (mr_lock held), then wait for
 * @old's accesses and free it.  @e may be NULL: the slot is emptied.
 */
static void phyrdma_hw_key_replace(struct phyrdma_hw *hw,
				   struct phyrdma_hw_mr_entry *old,
				   struct phyrdma_hw_mr_entry *e)
{
	xa_lock(&hw->mrs);
	old->valid = false;
	if (e)
		__xa_store(&hw->mrs, phyrdma_hw_key_index(old->key), e, GFP_ATOMIC);
	else
		__xa_erase(&hw->mrs, phyrdma_hw_key_index(old->key));
	xa_unlock(&hw->mrs);
	phyrdma_hw_mr_put(old);
	wait_for_completion(&old->idle);
	kfree(old);
}

/* A window's entry with nothing bound: no access reaches any memory. */
static struct phyrdma_hw_mr_entry *phyrdma_hw_mw_unbound(u32 key, u8 kind, u32 pdn)
{
	struct phyrdma_hw_mr_entry *e = kzalloc_obj(*e);

	if (!e)
		return NULL;
	e->key = key;
	e->kind = kind;
	e->mw_pdn = pdn;
	e->params.pdn = pdn;
	e->valid = true;
	refcount_set(&e->users, 1);
	init_completion(&e->idle);
	return e;
}

/* Unbind every window bound into MR @key (it is going away), mr_lock held. */
static void phyrdma_hw_mw_unbind_all(struct phyrdma_hw *hw, u32 key)
{
	struct phyrdma_hw_mr_entry *w, *n;
	unsigned long index;

	xa_for_each(&hw->mrs, index, w) {
		if (w->kind == PHYRDMA_HW_KEY_MR || w->parent != key || !w->params.length)
			continue;
		n = phyrdma_hw_mw_unbound(w->key, w->kind, w->mw_pdn);
		if (!n)
			continue;	/* stays bound to the entry below, still valid */
		phyrdma_hw_key_replace(hw, w, n);
	}
}

/**
 * phyrdma_hw_mw_alloc - a memory window's key, bound to nothing
 * @hw: the device
 * @pdn: the window's PD
 * @kind: PHYRDMA_HW_KEY_MW1 or PHYRDMA_HW_KEY_MW2
 * @key: output
 *
 * Return: 0; -ENOMEM; -ENOSPC when the MR table is full.
 */
int phyrdma_hw_mw_alloc(struct phyrdma_hw *hw, u32 pdn, u8 kind, u32 *key)
{
	struct phyrdma_hw_mr_entry *e = phyrdma_hw_mw_unbound(0, kind, pdn);

	if (!e)
		return -ENOMEM;
	return phyrdma_hw_key_insert(hw, e, key);
}

void phyrdma_hw_mw_free(struct phyrdma_hw *hw, u32 key)
{
	struct phyrdma_hw_mr_entry *e;

	mutex_lock(&hw->mr_lock);
	e = xa_load(&hw->mrs, phyrdma_hw_key_index(key));
	if (e && e->kind != PHYRDMA_HW_KEY_MR) {
		if (e->params.length)
			phyrdma_hw_mw_parent_put(hw, e->parent);
		phyrdma_hw_key_replace(hw, e, NULL);
	}
	mutex_unlock(&hw->mr_lock);
}

/**
 * phyrdma_hw_mw_bind - the device executes a bind WQE
 * @hw: the device
 * @qp_pdn: the PD of the QP that posted it
 * @wqe: the WQE
 *
 * Return: 0 or a completion status (MW_BIND_ERR, LOC_PROT_ERR).
 */
int phyrdma_hw_mw_bind(struct phyrdma_hw *hw, u32 qp_pdn,
		       const struct phyrdma_send_wqe *wqe)
{
	u32 rights = PHYRDMA_HW_ACCESS_REMOTE_READ | PHYRDMA_HW_ACCESS_REMOTE_WRITE |
		     PHYRDMA_HW_ACCESS_REMOTE_ATOMIC;
	struct phyrdma_hw_mr_entry *w, *mr, *n;
	u32 access = 0;
	int st = PHYRDMA_WC_MW_BIND_ERR;

	if (wqe->bind.access & 2)	/* IBV_ACCESS_REMOTE_WRITE */
		access |= PHYRDMA_HW_ACCESS_REMOTE_WRITE;
	if (wqe->bind.access & 4)	/* IBV_ACCESS_REMOTE_READ */
		access |= PHYRDMA_HW_ACCESS_REMOTE_READ;
	if (wqe->bind.access & 8)	/* IBV_ACCESS_REMOTE_ATOMIC */
		access |= PHYRDMA_HW_ACCESS_REMOTE_ATOMIC;

	mutex_lock(&hw->mr_lock);
	w = xa_load(&hw->mrs, phyrdma_hw_key_index(wqe->bind.mw_key));
	if (!w || w->key != wqe->bind.mw_key || w->kind == PHYRDMA_HW_KEY_MR ||
	    w->mw_pdn != qp_pdn || phyrdma_hw_key_index(wqe->bind.new_rkey) !=
	    phyrdma_hw_key_index(w->key))
		goto out;
	/* a type 2 window is bound once; invalidate it first */
	if (w->kind == PHYRDMA_HW_KEY_MW2 && w->params.length)
		goto out;
	if (!wqe->bind.length) {
		if (w->kind != PHYRDMA_HW_KEY_MW1)
			goto out;
		n = phyrdma_hw_mw_unbound(wqe->bind.new_rkey, w->kind, w->mw_pdn);
		if (!n) {
			st = PHYRDMA_WC_GENERAL_ERR;
			goto out;
		}
		if (w->params.length)
			phyrdma_hw_mw_parent_put(hw, w->parent);
		phyrdma_hw_key_replace(hw, w, n);
		st = PHYRDMA_WC_SUCCESS;
		goto out;
	}
	mr = xa_load(&hw->mrs, phyrdma_hw_key_index(wqe->bind.mr_lkey));
	if (!mr || mr->key != wqe->bind.mr_lkey || mr->kind != PHYRDMA_HW_KEY_MR ||
	    !mr->valid || mr->params.pdn != qp_pdn ||
	    !(mr->params.access & PHYRDMA_HW_ACCESS_MW_BIND) ||
	    phyrdma_hw_mr_check(mr, wqe->bind.addr, wqe->bind.length, 0) ||
	    (access & ~rights) ||
	    /* remote write and atomics need the MR's local write */
	    ((access & (PHYRDMA_HW_ACCESS_REMOTE_WRITE | PHYRDMA_HW_ACCESS_REMOTE_ATOMIC)) &&
	     !(mr->params.access & PHYRDMA_HW_ACCESS_LOCAL_WRITE))) {
		st = PHYRDMA_WC_MW_BIND_ERR;
		goto out;
	}
	n = phyrdma_hw_mr_clone(mr, wqe->bind.new_rkey);
	if (!n) {
		st = PHYRDMA_WC_GENERAL_ERR;
		goto out;
	}
	n->kind = w->kind;
	n->mw_pdn = w->mw_pdn;
	n->parent = mr->key;
	n->priv = NULL;
	atomic_set(&n->bound_windows, 0);
	/* the window starts where its range is in the MR's table */
	n->params.mtt_offset = mr->params.mtt_offset +
			       (wqe->bind.addr - mr->params.iova);
	n->params.iova = wqe->bind.addr;
	n->params.length = wqe->bind.length;
	n->params.access = access | (mr->params.access & PHYRDMA_HW_ACCESS_LOCAL_WRITE);
	if (w->params.length)
		phyrdma_hw_mw_parent_put(hw, w->parent);
	atomic_inc(&mr->bound_windows);
	phyrdma_hw_key_replace(hw, w, n);
	st = PHYRDMA_WC_SUCCESS;
out:
	mutex_unlock(&hw->mr_lock);
	return st;
}

/**
 * phyrdma_hw_mw_invalidate - LOCAL_INV or SEND_WITH_INV of a type 2 window
 * @hw: the device the window is on
 * @pdn: the PD of the QP asking
 * @rkey: the window's rkey
 *
 * Return: 0, or -EINVAL if @rkey is not a bound type 2 window of @pdn.
 */
int phyrdma_hw_mw_invalidate(struct phyrdma_hw *hw, u32 pdn, u32 rkey)
{
	struct phyrdma_hw_mr_entry *w, *n;
	int ret = -EINVAL;

	mutex_lock(&hw->mr_lock);
	w = xa_load(&hw->mrs, phyrdma_hw_key_index(rkey));
	if (w && w->key == rkey && w->kind == PHYRDMA_HW_KEY_MW2 &&
	    w->mw_pdn == pdn && w->params.length) {
		n = phyrdma_hw_mw_unbound(w->key, w->kind, w->mw_pdn);
		if (n) {
			phyrdma_hw_mw_parent_put(hw, w->parent);
			phyrdma_hw_key_replace(hw, w, n);
			ret = 0;
		} else {
			ret = -ENOMEM;
		}
	}
	mutex_unlock(&hw->mr_lock);
	return ret;
}

/**
 * phyrdma_hw_mr_swap - exchange what two keys name
 * @hw: the device
 * @a: a valid key
 * @b: another valid key
 *
 * Afterwards @a names the MR that @b named and the other way round; an
 * access already under way finishes on what its key named when it began.
 * Re-registration uses this to keep an MR's keys.
 *
 * Return: 0; -ENOENT if a key is not valid; -ENOMEM.
 */
int phyrdma_hw_mr_swap(struct phyrdma_hw *hw, u32 a, u32 b)
{
	struct phyrdma_hw_mr_entry *ea, *eb, *na, *nb;
	int ret = 0;

	mutex_lock(&hw->mr_lock);
	xa_lock(&hw->mrs);
	ea = xa_load(&hw->mrs, phyrdma_hw_key_index(a));
	eb = xa_load(&hw->mrs, phyrdma_hw_key_index(b));
	xa_unlock(&hw->mrs);
	if (!ea || !eb || ea->key != a || eb->key != b || a == b) {
		mutex_unlock(&hw->mr_lock);
		return -ENOENT;
	}
	na = phyrdma_hw_mr_clone(eb, a);
	nb = phyrdma_hw_mr_clone(ea, b);
	if (!na || !nb) {
		ret = -ENOMEM;
		kfree(na);
		kfree(nb);
		mutex_unlock(&hw->mr_lock);
		return ret;
	}
	xa_lock(&hw->mrs);
	ea->valid = false;
	eb->valid = false;
	__xa_store(&hw->mrs, phyrdma_hw_key_index(a), na, GFP_ATOMIC);
	__xa_store(&hw->mrs, phyrdma_hw_key_index(b), nb, GFP_ATOMIC);
	xa_unlock(&hw->mrs);
	mutex_unlock(&hw->mr_lock);
	phyrdma_hw_mr_put(ea);
	phyrdma_hw_mr_put(eb);
	wait_for_completion(&ea->idle);
	wait_for_completion(&eb->idle);
	kfree(ea);
	kfree(eb);
	return 0;
}

/**
 * phyrdma_hw_mr_query - read an MR table entry
 * @hw: the device
 * @key: the key
 * @entry: output
 * @fill: if not NULL, called with the entry's private pointer and @arg
 *	while the MR cannot go away
 * @arg: for @fill
 *
 * Return: 0; -ENOENT if no valid MR has @key.
 */
int phyrdma_hw_mr_query(struct phyrdma_hw *hw, u32 key,
			struct phyrdma_hw_mr_entry *entry,
			void (*fill)(void *priv, void *arg), void *arg)
{
	struct phyrdma_hw_mr_entry *e = phyrdma_hw_mr_get(hw, key);

	if (!e)
		return -ENOENT;
	memcpy(entry, e, offsetof(struct phyrdma_hw_mr_entry, users));
	if (fill)
		fill(e->priv, arg);
	phyrdma_hw_mr_put(e);
	return 0;
}

/* The device's DMA view: where a DMA address lands in physical memory. */
phys_addr_t phyrdma_hw_dma_to_phys(struct phyrdma_hw *hw, dma_addr_t dma)
{
	if (hw->domain)
		return iommu_iova_to_phys(hw->domain, dma);
	return dma_to_phys(hw->dma_dev, dma);
}

/* Where table entry @slot is, as the device reaches it: by DMA. */
static int phyrdma_hw_entry_phys(struct phyrdma_hw *hw, dma_addr_t table,
				 u32 slot, phys_addr_t *phys)
{
	*phys = phyrdma_hw_dma_to_phys(hw, table +
				       (dma_addr_t)slot * PHYRDMA_MTT_ENTRY_SIZE);
	if ((!*phys && hw->domain) || !pfn_valid(PHYS_PFN(*phys)))
		return -EFAULT;
	return 0;
}

static u64 phyrdma_hw_read_entry(phys_addr_t phys)
{
	__le64 *p = kmap_local_pfn(PHYS_PFN(phys));
	u64 entry = le64_to_cpu(p[offset_in_page(phys) / sizeof(*p)]);

	kunmap_local(p);
	return entry;
}

/* An entry of the leaf level is absent: on an on-demand MR, a page fault. */
static int phyrdma_hw_mtt_absent(const struct phyrdma_hw_mr_entry *e,
				 u32 level)
{
	return level || !e->params.on_demand ? -EFAULT : -EAGAIN;
}

/*
 * Walk the MTT to the leaf entry of block @index, through @cache (may be
 * NULL): a hit reads the leaf entry and nothing else.
 */
static int phyrdma_hw_mtt_walk(struct phyrdma_hw *hw,
			       const struct phyrdma_hw_mr_entry *e, u64 index,
			       struct phyrdma_hw_mtt_cache *cache, u64 *leaf)
{
	u32 slot = index & (PHYRDMA_MTT_PER_PAGE - 1), level;
	u64 page = index >> PHYRDMA_MTT_PER_PAGE_SHIFT, entry = 0, at;
	dma_addr_t table = e->root;
	phys_addr_t phys = 0;
	int ret;

	if (cache && cache->mr == e && cache->page == page) {
		entry = phyrdma_hw_read_entry(cache->phys +
					      slot * PHYRDMA_MTT_ENTRY_SIZE);
		if (!(entry & PHYRDMA_MTT_VALID))
			return phyrdma_hw_mtt_absent(e, 0);
		*leaf = entry;
		return 0;
	}
	for (level = e->levels; level-- > 0; ) {
		slot = phyrdma_mtt_slot(index, level, &at);
		ret = phyrdma_hw_entry_phys(hw, table, slot, &phys);
		if (ret)
			return ret;
		entry = phyrdma_hw_read_entry(phys);
		if (!(entry & PHYRDMA_MTT_VALID))
			return phyrdma_hw_mtt_absent(e, level);
		table = entry & PHYRDMA_MTT_ADDR_MASK;
	}
	if (cache && e->levels) {
		/* table pages are whole pages: the rest of this one follows */
		cache->mr = e;
		cache->page = page;
		cache->phys = phys - slot * PHYRDMA_MTT_ENTRY_SIZE;
	}
	*leaf = entry;
	return 0;
}

/* Bounds and rights: the checks the device makes before any access. */
int phyrdma_hw_mr_check(const struct phyrdma_hw_mr_entry *e, u64 va, u64 len,
			u32 need)
{
	u64 end;

	if (check_add_overflow(va, len, &end) || va < e->params.iova ||
	    end > e->params.iova + e->params.length)
		return -ERANGE;
	if ((e->params.access & need) != need)
		return -EACCES;
	return 0;
}

/**
 * phyrdma_hw_route - where a DMA address of the device lands
 * @hw: the device
 * @dma: the address
 * @phys: output: the CPU physical address it reaches
 * @io: output: the engine's I/O mapping of that byte when it is a peer's
 *	BAR (never kmap() it), else NULL for RAM
 *
 * As the fabric routes it: a peer BAR below a common switch by its bus
 * address, before the IOMMU; everything else through the IOMMU (identity
 * without one), to RAM or to a peer BAR above the host bridge.
 *
 * Sleeps: a BAR's slot is mapped the first time something lands in it
 * (phyrdma_hw_window_io()).
 *
 * Return: 0; -EFAULT if nothing answers there (an IOMMU fault, or an
 * address that is neither RAM nor a reachable BAR); -ENOMEM if the BAR's
 * slot could not be mapped.
 */
int phyrdma_hw_route(struct phyrdma_hw *hw, dma_addr_t dma, phys_addr_t *phys,
		     void __iomem **io)
{
	struct phyrdma_hw_window *w;
	u32 i;

	*io = NULL;
	for (i = 0; i < hw->nr_windows; i++) {
		w = &hw->windows[i];
		if (w->by_bus && dma - w->bus < w->len) {
			*phys = w->phys + (dma - w->bus);
			*io = phyrdma_hw_window_io(w, dma - w->bus);
			return *io ? 0 : -ENOMEM;
		}
	}
	*phys = phyrdma_hw_dma_to_phys(hw, dma);
	if (!*phys && hw->domain)
		return -EFAULT;	/* an IOMMU fault: nothing is mapped there */
	for (i = 0; i < hw->nr_windows; i++) {
		w = &hw->windows[i];
		if (!w->by_bus && *phys - w->phys < w->len) {
			*io = phyrdma_hw_window_io(w, *phys - w->phys);
			return *io ? 0 : -ENOMEM;
		}
	}
	return pfn_valid(PHYS_PFN(*phys)) ? 0 : -EFAULT;
}

/**
 * phyrdma_hw_bus_routed - does a switch route @dma to a peer's BAR?
 * @hw: the device
 * @dma: a DMA address
 *
 * Return: true if @dma is a bus address the IOMMU never sees.
 */
bool phyrdma_hw_bus_routed(struct phyrdma_hw *hw, dma_addr_t dma)
{
	u32 i;

	for (i = 0; i < hw->nr_windows; i++)
		if (hw->windows[i].by_bus &&
		    dma - hw->windows[i].bus < hw->windows[i].len)
			return true;
	return false;
}

/*
 * Where byte @va of @e is, walking the MTT through @cache (may be NULL; the
 * caller holds @e for as long as it keeps the cache): its DMA address, and
 * where that lands (phyrdma_hw_route()).  Return: 0; -EKEYREVOKED if @e
 * was revoked after the caller looked its key up (what a later lookup of
 * the key would find: no key); -EFAULT if the MTT or the fabric has no
 * mapping; -EAGAIN if @e is on demand and the block is absent, or read-only
 * and @write: a page fault, for phyrdma_hw_mr_fault().
 */
int phyrdma_hw_mr_locate(struct phyrdma_hw *hw,
			 const struct phyrdma_hw_mr_entry *e, u64 va, bool write,
			 struct phyrdma_hw_mtt_cache *cache, dma_addr_t *dma,
			 phys_addr_t *phys, void __iomem **io)
{
	u32 shift = e->params.page_shift;
	/* bounds were checked: @va is inside the key's range */
	u64 at = va - e->params.iova + e->params.mtt_offset;
	u64 leaf;
	int ret;

	/* revoked since the work request looked the key up */
	if (!READ_ONCE(e->valid))
		return -EKEYREVOKED;
	ret = phyrdma_hw_mtt_walk(hw, e, at >> shift, cache, &leaf);
	if (ret)
		return ret;
	if (write && (leaf & PHYRDMA_MTT_READ_ONLY))
		return e->params.on_demand ? -EAGAIN : -EFAULT;
	*dma = (leaf & PHYRDMA_MTT_ADDR_MASK) + (at & ((1ULL << shift) - 1));
	return phyrdma_hw_route(hw, *dma, phys, io);
}

/**
 * phyrdma_hw_move - move bytes as the engine does, between RAM and MMIO
 * @dst: RAM destination, or NULL with @dio
 * @dio: MMIO destination, or NULL
 * @src: RAM source, or NULL with @sio
 * @sio: MMIO source, or NULL
 * @n: bytes
 */
void phyrdma_hw_move(void *dst, void __iomem *dio, const void *src,
		     const void __iomem *sio, u64 n)
{
	u8 bounce[64];
	u64 k;

	if (dio && sio) {
		/* peer to peer: the device buffers what it reads */
		for (; n; n -= k, dio += k, sio += k) {
			k = min_t(u64, n, sizeof(bounce));
			memcpy_fromio(bounce, sio, k);
			memcpy_toio(dio, bounce, k);
		}
	} else if (dio) {
		memcpy_toio(dio, src, n);
	} else if (sio) {
		memcpy_fromio(dst, sio, n);
	} else {
		memcpy(dst, src, n);
	}
}

/*
 * Every engine access that may reach an on-demand MR's pages runs between
 * phyrdma_hw_access_begin() and _end(), from reading the MTT to the last
 * byte moved, and never sleeps in between; phyrdma_hw_mtt_zap() waits for
 * the accesses under way.  One domain for every port: a copy may reach MRs
 * on two devices at once.
 */
int phyrdma_hw_access_begin(void)
{
	return srcu_read_lock(&phyrdma_hw_access_srcu);
}

void phyrdma_hw_access_end(int idx)
{
	srcu_read_unlock(&phyrdma_hw_access_srcu, idx);
}

/**
 * phyrdma_hw_mtt_zap - make leaf entries of an on-demand MR absent
 * @hw: the device
 * @mtt: the MR's MTT
 * @first: first leaf entry
 * @count: entries
 *
 * When this returns the engine no longer uses the addresses the entries
 * held: the driver may unmap them.  Sleeps.
 */
void phyrdma_hw_mtt_zap(struct phyrdma_hw *hw, struct phyrdma_hw_mtt *mtt,
			u64 first, u64 count)
{
	u64 i, end = min(first + count, mtt->nr_entries);

	for (i = first; i < end; i++)
		WRITE_ONCE(*phyrdma_hw_mtt_leaf(mtt, i), 0);
	atomic64_inc(&hw->stats.invalidations);
	synchronize_srcu_expedited(&phyrdma_hw_access_srcu);
}

/*
 * A page fault on an on-demand MR (or a window into one): the device asks
 * the driver to make the range present, then retries.  Sleeps; never called
 * inside an access.
 */
int phyrdma_hw_mr_fault(struct phyrdma_hw *hw,
			const struct phyrdma_hw_mr_entry *e, u64 va, u64 len,
			bool write)
{
	u64 end = e->params.iova + e->params.length;

	if (!e->odp_priv || !hw->page_fault)
		return -EFAULT;
	atomic64_inc(&hw->stats.page_faults);
	/* a window faults in its own range only, which lies in its MR's */
	return hw->page_fault(e->odp_priv, va, min(len, end - va), write);
}

/**
 * phyrdma_hw_mr_translate - where one byte of an MR is, as the device sees it
 * @hw: the device
 * @key: the MR
 * @va: the byte's address in the MR
 * @dma: output: the DMA address the MTT gives
 * @phys: output: where the IOMMU sends it
 *
 * Return: 0; -ENOENT for no such MR; -ERANGE outside it; -EFAULT if the
 * MTT or the IOMMU has no mapping.
 */
int phyrdma_hw_mr_translate(struct phyrdma_hw *hw, u32 key, u64 va,
			    dma_addr_t *dma, phys_addr_t *phys)
{
	struct phyrdma_hw_mr_entry *e = phyrdma_hw_mr_get(hw, key);
	void __iomem *io;
	int ret;

	if (!e)
		return -ENOENT;
	ret = phyrdma_hw_mr_check(e, va, 1, 0);
	if (!ret)
		ret = phyrdma_hw_mr_locate(hw, e, va, false, NULL, dma, phys,
					   &io);
	phyrdma_hw_mr_put(e);
	/* revoked since the lookup: no such MR, as for a later lookup */
	if (ret == -EKEYREVOKED)
		return -ENOENT;
	/* an absent on-demand page has no address until something faults it */
	return ret == -EAGAIN ? -EFAULT : ret;
}

/**
 * phyrdma_hw_mr_check_range - the checks a transfer makes, with no transfer
 * @hw: the device
 * @key: the MR
 * @va: first byte in the MR
 * @len: bytes (0 checks the key alone)
 * @dir: which way; writing the MR needs local write access
 *
 * For a caller that moves a long range in pieces and must refuse it whole
 * before moving any.
 *
 * Return: as phyrdma_hw_mr_xfer(), without -EFAULT.
 */
int phyrdma_hw_mr_check_range(struct phyrdma_hw *hw, u32 key, u64 va, u64 len,
			      enum phyrdma_hw_xfer dir)
{
	u32 need = dir == PHYRDMA_HW_XFER_TO_MR ?
		   PHYRDMA_HW_ACCESS_LOCAL_WRITE : 0;
	struct phyrdma_hw_mr_entry *e = phyrdma_hw_mr_get(hw, key);
	int ret;

	if (!e)
		return -ENOENT;
	ret = phyrdma_hw_mr_check(e, va, len, need);
	phyrdma_hw_mr_put(e);
	return ret;
}

/**
 * phyrdma_hw_mr_xfer - move bytes between a buffer and an MR, as the engine
 * @hw: the device
 * @key: the MR
 * @va: first byte in the MR
 * @buf: kernel buffer of @len bytes
 * @len: bytes
 * @dir: which way; writing the MR needs local write access
 *
 * Return: 0; -ENOENT for no such MR, or one revoked while the bytes moved
 * (a prefix may have moved); -ERANGE outside it; -EACCES without the right;
 * -EFAULT if the MTT or the IOMMU has no mapping.
 */
int phyrdma_hw_mr_xfer(struct phyrdma_hw *hw, u32 key, u64 va, void *buf,
		       u64 len, enum phyrdma_hw_xfer dir)
{
	u32 need = dir == PHYRDMA_HW_XFER_TO_MR ?
		   PHYRDMA_HW_ACCESS_LOCAL_WRITE : 0;
	struct phyrdma_hw_mtt_cache cache = {};
	struct phyrdma_hw_mr_entry *e;
	void __iomem *io;
	phys_addr_t phys;
	dma_addr_t dma;
	u64 chunk = 0;
	int ret, idx, faults = 0;
	void *p;

	e = phyrdma_hw_mr_get(hw, key);
	if (!e)
		return -ENOENT;
	ret = phyrdma_hw_mr_check(e, va, len, need);
	if (ret)
		goto out;
	while (len) {
		idx = phyrdma_hw_access_begin();
		ret = phyrdma_hw_mr_locate(hw, e, va, dir == PHYRDMA_HW_XFER_TO_MR,
					   &cache, &dma, &phys, &io);
		if (!ret) {
			/* stay within the block, the IOMMU page and the CPU page */
			chunk = min3(len, phyrdma_hw_mr_block_left(e, va),
				     (u64)(PAGE_SIZE - offset_in_page(dma)));
			chunk = min_t(u64, chunk, PAGE_SIZE - offset_in_page(phys));
			p = io ? NULL : kmap_local_pfn(PHYS_PFN(phys)) +
					offset_in_page(phys);
			if (dir == PHYRDMA_HW_XFER_TO_MR)
				phyrdma_hw_move(p, io, buf, NULL, chunk);
			else
				phyrdma_hw_move(buf, NULL, p, io, chunk);
			if (p)
				kunmap_local(p);
		}
		phyrdma_hw_access_end(idx);
		if (ret == -EAGAIN && ++faults <= PHYRDMA_HW_FAULT_RETRIES) {
			ret = phyrdma_hw_mr_fault(hw, e, va, len,
						  dir == PHYRDMA_HW_XFER_TO_MR);
			if (!ret)
				continue;
		}
		if (ret)
			goto out;
		faults = 0;
		buf += chunk;
		va += chunk;
		len -= chunk;
	}
out:
	/* revoked under the transfer: the key is gone, as for a later one */
	if (ret == -EKEYREVOKED)
		ret = -ENOENT;
	phyrdma_hw_mr_put(e);
	return ret;
}
