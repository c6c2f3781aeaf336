// SPDX-License-Identifier: GPL-2.0
/*
 * phyr: building, validating, slicing and walking physical range lists.
 *
 * Pure logic: no DMA, no locking, nothing that sleeps except the
 * allocations the caller permits with its gfp mask.  Also built in
 * userspace by the host unit tests.
 */
#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/export.h>
#include <linux/minmax.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#endif
#include <phyr/phyr.h>

/**
 * phyr_init - initialise an empty phyr
 * @phyr: the list
 */
void phyr_init(struct phyr *phyr)
{
	memset(phyr, 0, sizeof(*phyr));
}
EXPORT_SYMBOL_NS_GPL(phyr_init, "PHYR");

/**
 * phyr_free - release the arrays of a phyr and leave it empty
 * @phyr: the list
 */
void phyr_free(struct phyr *phyr)
{
	kvfree(phyr->runs);
	kvfree(phyr->segs);
	phyr_init(phyr);
}
EXPORT_SYMBOL_NS_GPL(phyr_free, "PHYR");

static bool phyr_meta_equal(const struct phyr_meta *a,
			    const struct phyr_meta *b)
{
	return a->kind == b->kind && a->cache == b->cache && a->cc == b->cc &&
	       a->provider == b->provider;
}

static bool phyr_meta_valid(const struct phyr_meta *meta)
{
	if (meta->kind > PHYR_MEM_PRIVATE || meta->cache > PHYR_CACHE_UC ||
	    meta->cc > PHYR_CC_DECRYPTED)
		return false;
	if (memchr_inv(meta->reserved, 0, sizeof(meta->reserved)))
		return false;
	/* only P2P memory has (and needs) a provider */
	return (meta->kind == PHYR_MEM_P2P_MMIO) == !!meta->provider;
}

/* Grow an array geometrically; capacities are u32 so indices stay u32. */
static int phyr_grow(void **array, u32 *max, size_t elem_size, gfp_t gfp)
{
	u32 new_max;
	void *p;

	if (*max == U32_MAX)
		return -EOVERFLOW;
	new_max = *max ? (*max > U32_MAX / 2 ? U32_MAX : *max * 2) : 8;
	p = kvrealloc(*array, array_size(new_max, elem_size), gfp);
	if (!p)
		return -ENOMEM;
	*array = p;
	*max = new_max;
	return 0;
}

/**
 * phyr_append - add a run at the end of a phyr
 * @phyr: the list
 * @paddr: physical address of the run's first byte
 * @len: length of the run in bytes; may exceed 4 GiB
 * @meta: metadata of the run; copied
 * @gfp: allocation flags for growing the arrays
 *
 * A run that continues the last run physically and has the same metadata
 * is merged into it.
 *
 * Context: may sleep if @gfp allows it.
 * Return: 0; -EINVAL for a zero length or invalid metadata; -EOVERFLOW if
 * the run wraps the physical address space or the total length overflows
 * 64 bits; -ENOMEM.  On error the phyr is unchanged.
 */
int phyr_append(struct phyr *phyr, phys_addr_t paddr, u64 len,
		const struct phyr_meta *meta, gfp_t gfp)
{
	struct phys_vec *last;
	u64 last_byte, total, last_end;
	bool new_seg;
	int ret;

	if (!len || !phyr_meta_valid(meta))
		return -EINVAL;
	if (check_add_overflow((u64)paddr, len - 1, &last_byte) ||
	    check_add_overflow(phyr->len, len, &total))
		return -EOVERFLOW;

	new_seg = !phyr->nr_segs ||
		  !phyr_meta_equal(&phyr->segs[phyr->nr_segs - 1].meta, meta);
	if (!new_seg) {
		last = &phyr->runs[phyr->nr_runs - 1];
		if (!check_add_overflow((u64)last->paddr, (u64)last->len,
					&last_end) &&
		    last_end == paddr) {
			last->len += len;
			phyr->len = total;
			return 0;
		}
	}

	if (new_seg && phyr->nr_segs == phyr->max_segs) {
		ret = phyr_grow((void **)&phyr->segs, &phyr->max_segs,
				sizeof(*phyr->segs), gfp);
		if (ret)
			return ret;
	}
	if (phyr->nr_runs == phyr->max_runs) {
		ret = phyr_grow((void **)&phyr->runs, &phyr->max_runs,
				sizeof(*phyr->runs), gfp);
		if (ret)
			return ret;
	}
	if (new_seg) {
		phyr->segs[phyr->nr_segs].meta = *meta;
		phyr->segs[phyr->nr_segs].first_run = phyr->nr_runs;
		phyr->nr_segs++;
	}
	phyr->runs[phyr->nr_runs].paddr = paddr;
	phyr->runs[phyr->nr_runs].len = len;
	phyr->nr_runs++;
	phyr->len = total;
	return 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_append, "PHYR");

static int phyr_cmp_paddr(const void *a, const void *b)
{
	const struct phys_vec *x = a, *y = b;

	if (x->paddr != y->paddr)
		return x->paddr < y->paddr ? -1 : 1;
	return 0;
}

/**
 * phyr_validate - check a phyr received from someone else
 * @phyr: the list
 *
 * Checks what phyr_append() guarantees for lists it built, for lists an
 * exporter filled in by other means: every run is non-empty and does not
 * wrap, no two runs overlap physically, the segments are well formed and
 * their metadata valid, and @phyr->len is the sum of the run lengths.
 *
 * Context: may sleep (allocates a sorted copy of the runs).
 * Return: 0; -EINVAL for an empty run, overlapping runs, malformed
 * segments or metadata, or a wrong total; -EOVERFLOW for a wrapping run or
 * total; -ENOMEM.
 */
int phyr_validate(const struct phyr *phyr)
{
	struct phys_vec *sorted;
	u64 total = 0, last_byte;
	u32 i;
	int ret = 0;

	if (!phyr->nr_runs)
		return phyr->nr_segs || phyr->len ? -EINVAL : 0;
	if (!phyr->nr_segs || phyr->segs[0].first_run != 0)
		return -EINVAL;
	for (i = 0; i < phyr->nr_segs; i++) {
		if (!phyr_meta_valid(&phyr->segs[i].meta))
			return -EINVAL;
		if (i && phyr->segs[i].first_run <= phyr->segs[i - 1].first_run)
			return -EINVAL;
		if (phyr->segs[i].first_run >= phyr->nr_runs)
			return -EINVAL;
	}
	for (i = 0; i < phyr->nr_runs; i++) {
		if (!phyr->runs[i].len)
			return -EINVAL;
		if (check_add_overflow((u64)phyr->runs[i].paddr,
				       (u64)phyr->runs[i].len - 1, &last_byte) ||
		    check_add_overflow(total, (u64)phyr->runs[i].len, &total))
			return -EOVERFLOW;
	}
	if (total != phyr->len)
		return -EINVAL;

	sorted = kvmalloc_array(phyr->nr_runs, sizeof(*sorted), GFP_KERNEL);
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, phyr->runs, array_size(phyr->nr_runs, sizeof(*sorted)));
	sort(sorted, phyr->nr_runs, sizeof(*sorted), phyr_cmp_paddr, NULL);
	for (i = 1; i < phyr->nr_runs; i++) {
		/* the previous run cannot wrap: checked above */
		if (sorted[i - 1].paddr + sorted[i - 1].len - 1 >= sorted[i].paddr) {
			ret = -EINVAL;
			break;
		}
	}
	kvfree(sorted);
	return ret;
}
EXPORT_SYMBOL_NS_GPL(phyr_validate, "PHYR");

/**
 * phyr_slice_init - name a byte range of a phyr
 * @slice: the slice to fill
 * @phyr: the list; must outlive the slice
 * @offset: first byte of the range
 * @len: length of the range
 *
 * Return: 0; -EINVAL for a zero length; -EOVERFLOW if @offset + @len wraps;
 * -ERANGE if the range ends beyond the phyr.
 */
int phyr_slice_init(struct phyr_slice *slice, const struct phyr *phyr,
		    u64 offset, u64 len)
{
	u64 end;

	if (!len)
		return -EINVAL;
	if (check_add_overflow(offset, len, &end))
		return -EOVERFLOW;
	if (end > phyr->len)
		return -ERANGE;
	slice->phyr = phyr;
	slice->offset = offset;
	slice->len = len;
	return 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_slice_init, "PHYR");

/**
 * phyr_slice_check_meta - may common code map this slice at all?
 * @slice: the slice
 *
 * Return: 0; -EOPNOTSUPP if any of it is behind a private interconnect;
 * -EINVAL if it mixes encrypted and decrypted memory, CPU RAM and P2P
 * MMIO, or the MMIO of two providers: no single mapping can serve those
 * (each needs its own DMA attributes or its own peer-to-peer route).
 */
int phyr_slice_check_meta(const struct phyr_slice *slice)
{
	const struct phyr_meta *first = NULL;
	struct phyr_iter it;
	bool more;

	for (more = phyr_iter_start(&it, slice); more;
	     more = phyr_iter_next(&it)) {
		if (it.meta->kind == PHYR_MEM_PRIVATE)
			return -EOPNOTSUPP;
		if (!first)
			first = it.meta;
		else if (it.meta->cc != first->cc ||
			 it.meta->kind != first->kind ||
			 it.meta->provider != first->provider)
			return -EINVAL;
	}
	return 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_slice_check_meta, "PHYR");

static void phyr_iter_load(struct phyr_iter *it, u64 skip)
{
	const struct phys_vec *run = &it->phyr->runs[it->run];

	it->paddr = run->paddr + skip;
	it->len = min_t(u64, run->len - skip, it->remaining);
	it->meta = &it->phyr->segs[it->seg].meta;
}

/**
 * phyr_iter_start - begin walking a slice run by run
 * @it: caller-owned iterator
 * @slice: a slice made by phyr_slice_init()
 *
 * Return: true with the first piece in @it's output fields.
 */
bool phyr_iter_start(struct phyr_iter *it, const struct phyr_slice *slice)
{
	const struct phyr *phyr = slice->phyr;
	u64 skip = slice->offset;
	u32 run = 0, seg = 0;

	if (!slice->len)
		return false;
	while (skip >= phyr->runs[run].len)
		skip -= phyr->runs[run++].len;
	while (seg + 1 < phyr->nr_segs && phyr->segs[seg + 1].first_run <= run)
		seg++;

	it->phyr = phyr;
	it->run = run;
	it->seg = seg;
	it->remaining = slice->len;
	it->offset = 0;
	phyr_iter_load(it, skip);
	return true;
}
EXPORT_SYMBOL_NS_GPL(phyr_iter_start, "PHYR");

/**
 * phyr_iter_next - step to the next piece of the slice
 * @it: an iterator started with phyr_iter_start()
 *
 * Return: true with the next piece in the output fields, false at the end.
 */
bool phyr_iter_next(struct phyr_iter *it)
{
	it->remaining -= it->len;
	it->offset += it->len;
	if (!it->remaining)
		return false;
	it->run++;
	if (it->seg + 1 < it->phyr->nr_segs &&
	    it->phyr->segs[it->seg + 1].first_run == it->run)
		it->seg++;
	phyr_iter_load(it, 0);
	return true;
}
EXPORT_SYMBOL_NS_GPL(phyr_iter_next, "PHYR");

/**
 * phyr_slice_nr_runs - how many pieces phyr_iter walks a slice in
 * @slice: the slice, from phyr_slice_init()
 *
 * Return: the number of runs the slice touches.
 */
u32 phyr_slice_nr_runs(const struct phyr_slice *slice)
{
	struct phyr_iter it;
	u32 n = 0;
	bool more;

	for (more = phyr_iter_start(&it, slice); more; more = phyr_iter_next(&it))
		n++;
	return n;
}
EXPORT_SYMBOL_NS_GPL(phyr_slice_nr_runs, "PHYR");

/* Fill the output for the block starting at it->pos, or flag the layout. */
static bool phyr_block_load(struct phyr_block_iter *it)
{
	u64 va = max(it->pos, it->run_va);
	u64 win_end;

	while (va >= it->run_va + it->run.len) {
		u64 next_va = it->run_va + it->run.len;

		if (!phyr_iter_next(&it->run))
			return false;
		it->run_va = next_va;
	}
	/*
	 * The block's address is where its window would start if the current
	 * piece extended back to it.  Device page tables hold aligned block
	 * addresses, and every byte of the window must continue the piece.
	 */
	it->addr = it->run.paddr + (va - it->run_va) - (va - it->pos);
	win_end = min(it->pos + it->pgsz, it->end);
	if ((it->addr & (it->pgsz - 1)) || win_end > it->run_va + it->run.len) {
		it->error = true;
		return false;
	}
	return true;
}

/**
 * phyr_block_iter_start - begin walking a slice in device blocks
 * @it: caller-owned iterator
 * @slice: a slice made by phyr_slice_init()
 * @pgsz: the block size, a power of two
 * @iova: the device virtual address of the slice's first byte; blocks are
 *	the @pgsz-aligned windows of [@iova, @iova + slice length), so the
 *	first block starts @iova % @pgsz bytes before the slice
 *
 * Walks physical addresses, so it serves the case where DMA addresses are
 * physical.  If a window is not physically contiguous and aligned, iteration
 * stops with @it->error set.  The caller guarantees that @iova plus the
 * slice length does not wrap.
 *
 * Return: true with the first block in @it's output fields.
 */
bool phyr_block_iter_start(struct phyr_block_iter *it,
			   const struct phyr_slice *slice, u64 pgsz, u64 iova)
{
	it->error = false;
	it->index = 0;
	it->pgsz = pgsz;
	if (!phyr_iter_start(&it->run, slice))
		return false;
	it->run_va = iova;
	it->end = iova + slice->len;
	it->pos = iova & ~(pgsz - 1);
	return phyr_block_load(it);
}
EXPORT_SYMBOL_NS_GPL(phyr_block_iter_start, "PHYR");

/**
 * phyr_block_iter_next - step to the next device block
 * @it: an iterator started with phyr_block_iter_start()
 *
 * Return: true with the next block in the output fields; false at the end
 * or, with @it->error set, at a window the layout cannot express.
 */
bool phyr_block_iter_next(struct phyr_block_iter *it)
{
	if (it->end - it->pos <= it->pgsz)
		return false;
	it->pos += it->pgsz;
	it->index++;
	return phyr_block_load(it);
}
EXPORT_SYMBOL_NS_GPL(phyr_block_iter_next, "PHYR");
