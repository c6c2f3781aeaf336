/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The little of the kernel API that phyr's pure logic uses, for building it
 * in userspace (forced in with -include by the host unit tests).
 *
 * Allocation failures can be injected: the allocation after
 * compat_fail_alloc_after successful ones fails (-1 disables).
 */
#ifndef PHYR_HOST_COMPAT_H
#define PHYR_HOST_COMPAT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t u8;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;
typedef u64 phys_addr_t;
typedef unsigned int gfp_t;

struct phys_vec {
	phys_addr_t paddr;
	size_t len;
};

#define GFP_KERNEL 0u
#define U32_MAX UINT32_MAX
#define EXPORT_SYMBOL_GPL(sym)
#define EXPORT_SYMBOL_NS_GPL(sym, ns)

#define check_add_overflow(a, b, d) __builtin_add_overflow(a, b, d)
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define min_t(t, a, b) min((t)(a), (t)(b))
#define BIT(n) (1UL << (n))
#define GENMASK_ULL(h, l) ((~0ULL << (l)) & (~0ULL >> (63 - (h))))

static inline unsigned int fls64(u64 x)
{
	return x ? 64 - __builtin_clzll(x) : 0;
}

static inline unsigned int __ffs64(u64 x)
{
	return __builtin_ctzll(x);
}

static inline size_t array_size(size_t a, size_t b)
{
	size_t r;

	return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

extern long compat_fail_alloc_after;
extern long compat_live_allocs;

static inline bool compat_alloc_fails(void)
{
	if (compat_fail_alloc_after < 0)
		return false;
	return compat_fail_alloc_after-- == 0;
}

static inline void *kvrealloc(const void *p, size_t size, gfp_t gfp)
{
	void *q;

	if (compat_alloc_fails())
		return NULL;
	q = realloc((void *)p, size);
	if (q && !p)
		compat_live_allocs++;
	return q;
}

static inline void *kvmalloc_array(size_t n, size_t size, gfp_t gfp)
{
	return kvrealloc(NULL, array_size(n, size), gfp);
}

static inline void kvfree(const void *p)
{
	if (p)
		compat_live_allocs--;
	free((void *)p);
}

static inline void *memchr_inv(const void *s, int c, size_t n)
{
	const unsigned char *p = s;

	for (; n; n--, p++)
		if (*p != (unsigned char)c)
			return (void *)p;
	return NULL;
}

typedef int (*cmp_func_t)(const void *, const void *);
static inline void sort(void *base, size_t num, size_t size, cmp_func_t cmp,
			void *swap)
{
	qsort(base, num, size, cmp);
}

#endif /* PHYR_HOST_COMPAT_H */
