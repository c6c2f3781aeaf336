// SPDX-License-Identifier: GPL-2.0
/*
 * phyr: user memory pinned into a phyr.  See include/phyr/phyr_user.h.
 */
#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <phyr/phyr_user.h>

/**
 * phyr_user_unpin - give back what phyr_user_pin() took
 * @pu: a range phyr_user_pin() pinned (or failed to: it unpins itself)
 */
void phyr_user_unpin(struct phyr_user *pu)
{
	unsigned long pfn, end, n;
	struct phyr_slice all;
	struct phyr_iter it;
	bool more;

	if (!pu->mm)
		return;
	if (pu->phyr.len) {
		phyr_slice_init(&all, &pu->phyr, 0, pu->phyr.len);
		for (more = phyr_iter_start(&it, &all); more;
		     more = phyr_iter_next(&it)) {
			pfn = PHYS_PFN(it.paddr);
			end = pfn + (it.len >> PAGE_SHIFT);
			/*
			 * A merged run may cross memory sections; the memmap
			 * is contiguous within a MAX_PAGE_ORDER block.
			 */
			for (; pfn < end; pfn += n) {
				n = min(end, ALIGN(pfn + 1, MAX_ORDER_NR_PAGES)) - pfn;
				unpin_user_page_range_dirty_lock(pfn_to_page(pfn),
								 n, pu->writable);
			}
		}
	}
	phyr_free(&pu->phyr);
	atomic64_sub(pu->npages, &pu->mm->pinned_vm);
	mmdrop(pu->mm);
	pu->mm = NULL;
	pu->npages = 0;
}
EXPORT_SYMBOL_NS_GPL(phyr_user_unpin, "PHYR");

/**
 * phyr_user_pin - pin a user range of the current process into a phyr
 * @pu: output
 * @start: the range's first byte
 * @length: its length, not 0
 * @writable: the device may write it
 *
 * The phyr starts at the range's first page: the range is at offset
 * offset_in_page(@start) of it.  CAP_IPC_LOCK exempts from RLIMIT_MEMLOCK,
 * as it does for ib_umem.
 *
 * Return: 0; -ENOMEM beyond RLIMIT_MEMLOCK or without memory; -EFAULT
 * for a range with nothing mapped; -EINTR on a fatal signal; what
 * pin_user_pages_fast() returns.  On error nothing stays pinned.
 */
int phyr_user_pin(struct phyr_user *pu, u64 start, u64 length, bool writable)
{
	static const struct phyr_meta ram = { .kind = PHYR_MEM_RAM };
	unsigned int gup = FOLL_LONGTERM | (writable ? FOLL_WRITE : 0);
	u64 first = start & PAGE_MASK, addr, left, npages;
	unsigned long lock_limit;
	struct page **pages;
	long n, i;
	int ret = 0;

	npages = (PAGE_ALIGN(start + length) - first) >> PAGE_SHIFT;
	lock_limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	phyr_init(&pu->phyr);
	pu->writable = writable;
	pu->mm = current->mm;
	mmgrab(pu->mm);
	pu->npages = npages;
	if (atomic64_add_return(npages, &pu->mm->pinned_vm) > lock_limit &&
	    !capable(CAP_IPC_LOCK)) {
		ret = -ENOMEM;
		goto err;
	}

	pages = (struct page **)__get_free_page(GFP_KERNEL);
	if (!pages) {
		ret = -ENOMEM;
		goto err;
	}
	pu->scratch_bytes = PAGE_SIZE;
	for (addr = first, left = npages; left; left -= n) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		n = min_t(u64, left, PAGE_SIZE / sizeof(*pages));
		n = pin_user_pages_fast(addr, n, gup, pages);
		if (n <= 0) {
			ret = n ? n : -EFAULT;
			break;
		}
		for (i = 0; i < n; i++) {
			ret = phyr_append(&pu->phyr, page_to_phys(pages[i]),
					  PAGE_SIZE, &ram, GFP_KERNEL_ACCOUNT);
			if (ret) {
				unpin_user_pages(pages + i, n - i);
				break;
			}
		}
		if (ret)
			break;
		addr += n << PAGE_SHIFT;
	}
	free_page((unsigned long)pages);
	pu->scratch_bytes += (u64)pu->phyr.max_runs * sizeof(struct phys_vec) +
			     (u64)pu->phyr.max_segs * sizeof(struct phyr_seg);
	if (ret)
		goto err;
	return 0;

err:
	phyr_user_unpin(pu);
	return ret;
}
EXPORT_SYMBOL_NS_GPL(phyr_user_pin, "PHYR");
