// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of phyr's pure logic: encoding and merging, validation,
 * slicing, run and block iteration, and the page-size policy, including
 * the proof on tables of layouts that without an IOMMU the policy picks
 * what mainline's umem rule picks.
 *
 * Prints one line per failed check and ends with 'host: N passed, N failed'.
 */
#include <inttypes.h>
#include <stdio.h>

#include <phyr/phyr.h>
#include "../../kernel-provider/phyrdma/hw/mtt_layout.h"

long compat_fail_alloc_after = -1;
long compat_live_allocs;

/* checks failed in the test now running */
static unsigned int check_failures;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			check_failures++;                                    \
			printf("FAIL %s:%d: %s: ", __func__, __LINE__, #cond); \
			printf(__VA_ARGS__);                                 \
			printf("\n");                                        \
		}                                                            \
	} while (0)

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define DEV_PGSZ_BITMAP GENMASK_ULL(30, 12)	/* 4 KiB ... 1 GiB */

static const struct phyr_meta ram = { .kind = PHYR_MEM_RAM };

struct run_spec {
	u64 paddr;
	u64 len;
};

#define MAX_RUNS 16

/* Build a phyr from a table; returns the first append error. */
static int build(struct phyr *p, const struct run_spec *runs, int n,
		 const struct phyr_meta *meta)
{
	int i, ret;

	phyr_init(p);
	for (i = 0; i < n; i++) {
		ret = phyr_append(p, runs[i].paddr, runs[i].len, meta, GFP_KERNEL);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------ builder */

static void test_append_table(void)
{
	static const struct {
		const char *name;
		struct run_spec runs[MAX_RUNS];
		int n;
		int err;		/* of the last append */
		u32 nr_runs;
		u64 len;
	} cases[] = {
		{ "one page", { { 0x1000, 4 * KiB } }, 1, 0, 1, 4 * KiB },
		{ "contiguous pages merge",
		  { { 0x1000, 4 * KiB }, { 0x2000, 4 * KiB }, { 0x3000, 8 * KiB } },
		  3, 0, 1, 16 * KiB },
		{ "gap keeps runs apart",
		  { { 0x1000, 4 * KiB }, { 0x3000, 4 * KiB } }, 2, 0, 2, 8 * KiB },
		{ "backwards does not merge",
		  { { 0x2000, 4 * KiB }, { 0x1000, 4 * KiB } }, 2, 0, 2, 8 * KiB },
		{ "run over 4 GiB", { { 1ULL << 40, 5 * GiB } }, 1, 0, 1, 5 * GiB },
		{ "merge past 4 GiB",
		  { { 1ULL << 40, 3 * GiB }, { (1ULL << 40) + 3 * GiB, 3 * GiB } },
		  2, 0, 1, 6 * GiB },
		{ "unaligned head and tail",
		  { { 0x1234, 0xdcc }, { 0x2000, 0x10 } }, 2, 0, 1, 0xddc },
		{ "zero length", { { 0x1000, 0 } }, 1, -EINVAL, 0, 0 },
		{ "wraps the address space", { { ~0ULL - 0xfff, 0x2000 } }, 1,
		  -EOVERFLOW, 0, 0 },
		{ "ends exactly at the top", { { ~0ULL - 0xfff, 0x1000 } }, 1, 0,
		  1, 0x1000 },
		{ "no merge across the top",
		  { { ~0ULL - 0xfff, 0x1000 }, { 0, 0x1000 } }, 2, 0, 2, 0x2000 },
		{ "total length overflows",
		  { { 0, 1ULL << 63 }, { 1ULL << 63, (1ULL << 63) - 1 },
		    { 0x1000, 0x1000 } }, 3, -EOVERFLOW, 1, ~0ULL },
	};
	unsigned int c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct phyr p;
		int i, ret = 0;

		phyr_init(&p);
		for (i = 0; i < cases[c].n; i++)
			ret = phyr_append(&p, cases[c].runs[i].paddr,
					  cases[c].runs[i].len, &ram, GFP_KERNEL);
		CHECK(ret == cases[c].err, "%s: err %d", cases[c].name, ret);
		CHECK(p.nr_runs == cases[c].nr_runs, "%s: runs %u", cases[c].name,
		      p.nr_runs);
		CHECK(p.len == cases[c].len, "%s: len %" PRIu64, cases[c].name, p.len);
		CHECK(p.nr_segs == (p.nr_runs ? 1u : 0u), "%s: segs %u",
		      cases[c].name, p.nr_segs);
		CHECK(phyr_validate(&p) == 0, "%s: validate", cases[c].name);
		phyr_free(&p);
	}
}

static void test_metadata_segments(void)
{
	struct phyr_meta wc = { .kind = PHYR_MEM_RAM, .cache = PHYR_CACHE_WC };
	struct phyr_meta dec = { .kind = PHYR_MEM_RAM, .cc = PHYR_CC_DECRYPTED };
	struct phyr_meta bad;
	struct phyr p;

	phyr_init(&p);
	CHECK(!phyr_append(&p, 0x1000, 0x1000, &ram, GFP_KERNEL), "append");
	/* physically contiguous, but other metadata: a new run and segment */
	CHECK(!phyr_append(&p, 0x2000, 0x1000, &wc, GFP_KERNEL), "append wc");
	CHECK(!phyr_append(&p, 0x3000, 0x1000, &wc, GFP_KERNEL), "append wc");
	CHECK(!phyr_append(&p, 0x8000, 0x1000, &wc, GFP_KERNEL), "append wc");
	CHECK(!phyr_append(&p, 0x9000, 0x1000, &dec, GFP_KERNEL), "append dec");
	CHECK(p.nr_runs == 4 && p.nr_segs == 3, "runs %u segs %u", p.nr_runs,
	      p.nr_segs);
	CHECK(p.segs[1].first_run == 1 && p.segs[2].first_run == 3,
	      "first runs %u %u", p.segs[1].first_run, p.segs[2].first_run);
	CHECK(phyr_validate(&p) == 0, "validate");

	bad = ram;
	bad.kind = 3;
	CHECK(phyr_append(&p, 0x20000, 0x1000, &bad, GFP_KERNEL) == -EINVAL, "kind");
	bad = ram;
	bad.reserved[2] = 1;
	CHECK(phyr_append(&p, 0x20000, 0x1000, &bad, GFP_KERNEL) == -EINVAL, "reserved");
	bad = ram;
	bad.kind = PHYR_MEM_P2P_MMIO;
	CHECK(phyr_append(&p, 0x20000, 0x1000, &bad, GFP_KERNEL) == -EINVAL,
	      "p2p without provider");
	CHECK(p.nr_runs == 4 && p.len == 0x5000, "unchanged by failures");
	phyr_free(&p);
}

static void test_append_enomem(void)
{
	struct phyr p;
	long n;
	int ret;

	/* fail every allocation in turn: the list must stay consistent */
	for (n = 0; n < 5; n++) {
		u64 i, len_before;
		u32 runs_before;

		phyr_init(&p);
		compat_fail_alloc_after = n;
		ret = 0;
		for (i = 0; i < 40 && !ret; i++) {
			runs_before = p.nr_runs;
			len_before = p.len;
			ret = phyr_append(&p, i * 0x2000, 0x1000, &ram, GFP_KERNEL);
		}
		compat_fail_alloc_after = -1;
		CHECK(ret == -ENOMEM, "n=%ld: ret %d", n, ret);
		CHECK(p.nr_runs == runs_before && p.len == len_before,
		      "n=%ld: changed by a failed append", n);
		CHECK(phyr_validate(&p) == 0, "n=%ld: validate", n);
		phyr_free(&p);
	}
	CHECK(compat_live_allocs == 0, "leaked %ld allocations", compat_live_allocs);
}

static void test_validate(void)
{
	struct phys_vec runs[3];
	struct phyr_seg segs[2] = { { .meta = ram, .first_run = 0 } };
	struct phyr p = { .runs = runs, .segs = segs, .nr_runs = 3, .nr_segs = 1 };

	runs[0] = (struct phys_vec){ 0x1000, 0x1000 };
	runs[1] = (struct phys_vec){ 0x5000, 0x2000 };
	runs[2] = (struct phys_vec){ 0x3000, 0x1000 };
	p.len = 0x4000;
	CHECK(phyr_validate(&p) == 0, "good");

	runs[2].len = 0x2001;
	p.len = 0x5001;
	CHECK(phyr_validate(&p) == -EINVAL, "overlap");
	runs[2].len = 0x1000;
	p.len = 0x4000;

	p.len = 0x4001;
	CHECK(phyr_validate(&p) == -EINVAL, "wrong total");
	p.len = 0x4000;

	runs[1].len = 0;
	p.len = 0x2000;
	CHECK(phyr_validate(&p) == -EINVAL, "empty run");
	runs[1].len = 0x2000;
	p.len = 0x4000;

	runs[0].paddr = ~0ULL - 0x800;
	CHECK(phyr_validate(&p) == -EOVERFLOW, "wrapping run");
	runs[0].paddr = 0x1000;

	segs[1] = (struct phyr_seg){ .meta = ram, .first_run = 0 };
	p.nr_segs = 2;
	CHECK(phyr_validate(&p) == -EINVAL, "segments not increasing");
	segs[1].first_run = 3;
	CHECK(phyr_validate(&p) == -EINVAL, "segment past the runs");
	segs[1].first_run = 2;
	CHECK(phyr_validate(&p) == 0, "two segments");
	segs[0].first_run = 1;
	CHECK(phyr_validate(&p) == -EINVAL, "first segment not at run 0");
}

/* ------------------------------------------------------------ slices */

/* the physical address of byte @off of the list, by brute force */
static u64 model_paddr(const struct phyr *p, u64 off)
{
	u32 i;

	for (i = 0; i < p->nr_runs; i++) {
		if (off < p->runs[i].len)
			return p->runs[i].paddr + off;
		off -= p->runs[i].len;
	}
	return ~0ULL;
}

static void test_slice_init(void)
{
	static const struct run_spec runs[] = {
		{ 0x10000, 0x3000 }, { 0x40000, 0x1000 }, { 0x90000, 0x2000 },
	};
	struct phyr_slice s;
	struct phyr p;

	build(&p, runs, 3, &ram);
	CHECK(phyr_slice_init(&s, &p, 0, 0x6000) == 0, "whole");
	CHECK(phyr_slice_init(&s, &p, 0x5fff, 1) == 0, "last byte");
	CHECK(phyr_slice_init(&s, &p, 0, 0) == -EINVAL, "empty");
	CHECK(phyr_slice_init(&s, &p, 0x5fff, 2) == -ERANGE, "beyond");
	CHECK(phyr_slice_init(&s, &p, 0x6000, 1) == -ERANGE, "past the end");
	CHECK(phyr_slice_init(&s, &p, ~0ULL, 2) == -EOVERFLOW, "wrap");
	CHECK(phyr_slice_init(&s, &p, 2, ~0ULL - 1) == -EOVERFLOW, "wrap 2");
	phyr_free(&p);
}

static void check_run_walk(const struct phyr *p, u64 off, u64 len)
{
	struct phyr_slice s;
	struct phyr_iter it;
	u64 covered = 0;
	bool more;

	CHECK(phyr_slice_init(&s, p, off, len) == 0, "slice %#" PRIx64 "+%#" PRIx64,
	      off, len);
	for (more = phyr_iter_start(&it, &s); more; more = phyr_iter_next(&it)) {
		CHECK(it.offset == covered, "offset %#" PRIx64, it.offset);
		CHECK(it.len > 0, "empty piece");
		CHECK(it.paddr == model_paddr(p, off + covered), "paddr at %#" PRIx64,
		      covered);
		/* a piece is contiguous: its last byte is where the model says */
		CHECK(it.paddr + it.len - 1 == model_paddr(p, off + covered + it.len - 1),
		      "piece not contiguous at %#" PRIx64, covered);
		covered += it.len;
	}
	CHECK(covered == len, "covered %#" PRIx64 " of %#" PRIx64, covered, len);
}

static void test_run_iterator(void)
{
	static const struct run_spec runs[] = {
		{ 0x10000, 0x3000 }, { 0x40000, 0x1000 }, { 0x90000, 0x2000 },
		{ 1ULL << 40, 5 * GiB }, { 0x200000, 0x800 },
	};
	static const u64 offs[] = { 0, 1, 0xfff, 0x1000, 0x2fff, 0x3000, 0x3800,
				    0x6000, 0x6001, 0x6000 + 4 * GiB };
	struct phyr p;
	unsigned int i;

	build(&p, runs, 5, &ram);
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		check_run_walk(&p, offs[i], 1);
		check_run_walk(&p, offs[i], p.len - offs[i]);
		if (p.len - offs[i] > 0x2345)
			check_run_walk(&p, offs[i], 0x2345);
	}
	phyr_free(&p);
}

static void test_meta_checks(void)
{
	static struct p2pdma_provider *const pa = (void *)0x1000, *const pb = (void *)0x2000;
	struct phyr_meta bar_a = { .kind = PHYR_MEM_P2P_MMIO, .cache = PHYR_CACHE_WC,
				   .provider = pa };
	struct phyr_meta bar_b = { .kind = PHYR_MEM_P2P_MMIO, .cache = PHYR_CACHE_WC,
				   .provider = pb };
	struct phyr_meta priv = { .kind = PHYR_MEM_PRIVATE };
	struct phyr_meta dec = { .kind = PHYR_MEM_RAM, .cc = PHYR_CC_DECRYPTED };
	struct phyr_slice s;
	struct phyr p;

	phyr_init(&p);
	phyr_append(&p, 0x1000, 0x1000, &ram, GFP_KERNEL);
	phyr_append(&p, 0x8000, 0x1000, &dec, GFP_KERNEL);
	phyr_append(&p, 0x20000, 0x1000, &priv, GFP_KERNEL);
	phyr_slice_init(&s, &p, 0, 0x1000);
	CHECK(phyr_slice_check_meta(&s) == 0, "plain ram");
	phyr_slice_init(&s, &p, 0x800, 0x1000);
	CHECK(phyr_slice_check_meta(&s) == -EINVAL, "mixed cc");
	phyr_slice_init(&s, &p, 0x1800, 0x1000);
	CHECK(phyr_slice_check_meta(&s) == -EOPNOTSUPP, "private interconnect");
	phyr_free(&p);

	/* P2P MMIO of one provider maps alone; with RAM or another, no */
	phyr_init(&p);
	phyr_append(&p, 0x1000, 0x1000, &ram, GFP_KERNEL);
	phyr_append(&p, 0x80000000, 0x2000, &bar_a, GFP_KERNEL);
	phyr_append(&p, 0x90000000, 0x1000, &bar_b, GFP_KERNEL);
	CHECK(p.nr_segs == 3, "one segment per provider");
	phyr_slice_init(&s, &p, 0x1000, 0x2000);
	CHECK(phyr_slice_check_meta(&s) == 0, "mmio of one provider");
	phyr_slice_init(&s, &p, 0x800, 0x1000);
	CHECK(phyr_slice_check_meta(&s) == -EINVAL, "ram and mmio");
	phyr_slice_init(&s, &p, 0x2800, 0x1000);
	CHECK(phyr_slice_check_meta(&s) == -EINVAL, "mmio of two providers");
	phyr_free(&p);
}

/* ------------------------------------------------------------ page sizes */

/* Mainline's rule, stated directly: P works if every piece has
 * paddr ≡ va (mod P) and every inner boundary is P-aligned in va; take the
 * largest that works, but none larger than the smallest supported size
 * whose one aligned window holds the whole range. */
static u64 ref_direct_pgsz(const struct phyr_slice *s, u64 iova, u64 bitmap)
{
	u64 last = iova + s->len - 1, cap = 0, pgsz;
	int shift;

	for (shift = 0; shift < 64; shift++) {
		pgsz = 1ULL << shift;
		if ((bitmap & pgsz) && (iova & ~(pgsz - 1)) == (last & ~(pgsz - 1))) {
			cap = pgsz;
			break;
		}
	}
	for (shift = 63; shift >= 0; shift--) {
		struct phyr_iter it;
		u64 va = iova;
		bool more, ok = true;

		pgsz = 1ULL << shift;
		if (!(bitmap & pgsz) || (cap && pgsz > cap))
			continue;
		for (more = phyr_iter_start(&it, s); more && ok;) {
			if ((it.paddr - va) % pgsz)
				ok = false;
			va += it.len;
			more = phyr_iter_next(&it);
			if (more && va % pgsz)
				ok = false;
		}
		if (ok)
			return pgsz;
	}
	return 0;
}

/* blocks at pgsz must match the brute-force model of the layout */
static void check_blocks(const struct phyr_slice *s, u64 iova, u64 pgsz,
			 u64 expect_blocks)
{
	struct phyr_block_iter it;
	u64 n = 0;
	bool more;

	for (more = phyr_block_iter_start(&it, s, pgsz, iova); more;
	     more = phyr_block_iter_next(&it)) {
		u64 win = (iova & ~(pgsz - 1)) + it.index * pgsz;
		u64 first = win < iova ? iova : win;
		u64 expect = model_paddr(s->phyr, s->offset + (first - iova)) -
			     (first - win);

		CHECK(it.index == n, "index");
		CHECK(it.addr == expect, "block %" PRIu64 " at %#" PRIx64
		      " expected %#" PRIx64, n, it.addr, expect);
		CHECK(!(it.addr & (pgsz - 1)), "unaligned block");
		n++;
	}
	CHECK(!it.error, "layout error at pgsz %#" PRIx64, pgsz);
	CHECK(n == expect_blocks, "%" PRIu64 " blocks, expected %" PRIu64, n,
	      expect_blocks);
}

static void test_direct_table(void)
{
	static const struct {
		const char *name;
		struct run_spec runs[MAX_RUNS];
		int n;
		u64 iova;
		u64 pgsz;	/* worked by hand; see docs/design.md */
		u64 blocks;
	} cases[] = {
		{ "4 KiB pages, scattered", { { 0x10000, 0x1000 }, { 0x30000, 0x1000 },
		  { 0x7000, 0x1000 } }, 3, 0x7f0000000000, 4 * KiB, 3 },
		{ "2 MiB folio, va aligned", { { 0x40000000, 2 * MiB } }, 1,
		  0x7f0000200000, 2 * MiB, 1 },
		{ "2 MiB folio, va 4 KiB off", { { 0x40000000, 2 * MiB } }, 1,
		  0x7f0000201000, 4 * KiB, 512 },
		{ "two 2 MiB folios", { { 0x40000000, 2 * MiB }, { 0x80000000, 2 * MiB } },
		  2, 0x7f0000200000, 2 * MiB, 2 },
		{ "64 KiB folios, aligned", { { 0x100000, 64 * KiB }, { 0x300000, 64 * KiB } },
		  2, 0x7f0000010000, 64 * KiB, 2 },
		{ "contiguous 1 GiB", { { 0x40000000, GiB } }, 1, 0x7f0040000000,
		  GiB, 1 },
		{ "contiguous 1 GiB, va 2 MiB off", { { 0x40000000, GiB } }, 1,
		  0x7f0040200000, 2 * MiB, 512 },
		{ "small buffer inside a big page", { { 0x40003000, 0x2000 } }, 1,
		  0x7f0000003000, 32 * KiB, 1 },
		{ "unaligned start", { { 0x40000800, 0x1800 }, { 0x50000000, 0x1000 } },
		  2, 0x7f0000000800, 8 * KiB, 2 },
	};
	unsigned int c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct phyr_pgsz_req req = { .pgsz_bitmap = DEV_PGSZ_BITMAP,
					     .iova = cases[c].iova };
		struct phyr_pgsz out;
		struct phyr_slice s;
		struct phyr p;

		build(&p, cases[c].runs, cases[c].n, &ram);
		phyr_slice_init(&s, &p, 0, p.len);
		CHECK(phyr_best_pgsz(&s, &req, &out) == 0, "%s", cases[c].name);
		CHECK(out.pgsz == cases[c].pgsz, "%s: pgsz %#" PRIx64, cases[c].name,
		      out.pgsz);
		CHECK(out.pgsz == ref_direct_pgsz(&s, req.iova, req.pgsz_bitmap),
		      "%s: differs from the mainline rule", cases[c].name);
		CHECK(out.nr_blocks == cases[c].blocks, "%s: blocks %" PRIu64,
		      cases[c].name, out.nr_blocks);
		check_blocks(&s, req.iova, out.pgsz, out.nr_blocks);
		phyr_free(&p);
	}
}

static u64 rng_state = 0x9e3779b97f4a7c15ULL;

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* random layouts of folios of mixed orders, sliced at random page offsets */
static void test_direct_random(void)
{
	static const unsigned int orders[] = { 0, 0, 1, 4, 9, 9, 10 };
	unsigned int iter, mismatches = 0, errors = 0;

	for (iter = 0; iter < 20000; iter++) {
		struct phyr_pgsz_req req = { .pgsz_bitmap = DEV_PGSZ_BITMAP };
		unsigned int nfolios = 1 + rnd() % 8, i, order;
		u64 cursor = (rnd() % 64) << 30, off, len, align;
		struct phyr_pgsz out;
		struct phyr_slice s;
		struct phyr p;

		phyr_init(&p);
		for (i = 0; i < nfolios; i++) {
			order = orders[rnd() % 7];
			/* folios are naturally aligned; sometimes adjacent */
			if (rnd() % 3)
				cursor += (rnd() % 4 + 1) << (12 + order);
			cursor = (cursor + (4096ULL << order) - 1) & ~((4096ULL << order) - 1);
			phyr_append(&p, cursor, 4096ULL << order, &ram, GFP_KERNEL);
			cursor += 4096ULL << order;
		}
		off = (rnd() % (p.len / 4096)) * 4096 + (rnd() % 2 ? rnd() % 4096 : 0);
		if (off >= p.len)
			off = 0;
		len = 1 + rnd() % (p.len - off);
		if (rnd() % 2)
			len = p.len - off;
		phyr_slice_init(&s, &p, off, len);
		/* user va with the same page offset as the data, various alignments */
		align = 1ULL << (12 + rnd() % 19);
		req.iova = ((rnd() % (1ULL << 34)) * align & ~4095ULL) +
			   (model_paddr(&p, off) & 4095);
		if (rnd() % 2)	/* va congruent to pa: large pages possible */
			req.iova = (0x7f0000000000ULL & ~(GiB - 1)) +
				   (model_paddr(&p, off) & (GiB - 1));

		if (phyr_best_pgsz(&s, &req, &out)) {
			errors++;
		} else {
			if (out.pgsz != ref_direct_pgsz(&s, req.iova, req.pgsz_bitmap))
				mismatches++;
			else
				check_blocks(&s, req.iova, out.pgsz, out.nr_blocks);
		}
		phyr_free(&p);
	}
	CHECK(errors == 0, "%u layouts without a page size", errors);
	CHECK(mismatches == 0, "%u of 20000 layouts differ from the mainline rule",
	      mismatches);
}

static void test_translated(void)
{
	static const struct {
		const char *name;
		u64 len;
		u64 iova;
		u64 max_waste;
		u64 pgsz;
		u64 blocks;
	} cases[] = {
		{ "1 GiB, va 2 MiB aligned, no waste", GiB, 0x7f0000200000, 0, 2 * MiB,
		  512 },
		/* a 2 MiB lead buys 1 GiB pages */
		{ "1 GiB, va 2 MiB aligned, 2 MiB waste", GiB, 0x7f0000200000, 2 * MiB,
		  GiB, 2 },
		{ "1 GiB, va 4 KiB aligned", GiB, 0x7f0000201000, 2 * MiB, 2 * MiB, 513 },
		{ "1 GiB, va 1 GiB aligned, waste allowed", GiB, 0x7f0040000000, GiB,
		  GiB, 1 },
		{ "1 GiB, va 4 KiB aligned, waste allowed", GiB, 0x7f0000201000, GiB,
		  GiB, 2 },
		/* 2 MiB pages need no padding at a 2 MiB-aligned iova; 4 MiB would */
		{ "4 MiB at 2 MiB, no waste allowed", 4 * MiB, 0x7f0000200000, 0,
		  2 * MiB, 2 },
		{ "4 MiB at 4 KiB, no waste allowed", 4 * MiB, 0x7f0000201000, 0,
		  4 * KiB, 1024 },
		{ "4 MiB, 4 MiB waste", 4 * MiB, 0x7f0000400000, 4 * MiB, 4 * MiB, 1 },
		{ "tie keeps the smaller page", 64 * KiB, 0x7f0000001000, GiB,
		  128 * KiB, 1 },
	};
	struct run_spec scattered[MAX_RUNS];
	unsigned int c, i;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct phyr_pgsz_req req = {
			.pgsz_bitmap = DEV_PGSZ_BITMAP, .iova = cases[c].iova,
			.translating = true, .max_iova_waste = cases[c].max_waste,
		};
		struct phyr_pgsz out;
		struct phyr_slice s;
		struct phyr p;

		/* scattered 4 KiB pages: physical layout must not matter */
		for (i = 0; i < MAX_RUNS; i++)
			scattered[i] = (struct run_spec){ (u64)(i * 7 + 1) << 20,
							  cases[c].len / MAX_RUNS };
		build(&p, scattered, MAX_RUNS, &ram);
		phyr_slice_init(&s, &p, 0, p.len);
		CHECK(phyr_best_pgsz(&s, &req, &out) == 0, "%s", cases[c].name);
		CHECK(out.pgsz == cases[c].pgsz, "%s: pgsz %#" PRIx64, cases[c].name,
		      out.pgsz);
		CHECK(out.nr_blocks == cases[c].blocks, "%s: blocks %" PRIu64,
		      cases[c].name, out.nr_blocks);
		CHECK(out.iova_waste <= cases[c].max_waste, "%s: waste", cases[c].name);
		phyr_free(&p);
	}
}

/* An independent statement of what a placement must satisfy. */
static void test_iova_place(void)
{
	static const u64 g = PHYR_IOVA_GRANULE;
	struct phyr_iova_place pl;
	unsigned int i, bad = 0;

	CHECK(phyr_iova_place(0x7f0000201000, 0, GiB, 2 * MiB, &pl) == 0 &&
	      pl.lead == 0x1000 && pl.reserve == GiB + 0x1000 && pl.waste == 0x1000,
	      "1 GiB at 4 KiB past 2 MiB: %#" PRIx64 " %#" PRIx64, pl.lead,
	      pl.reserve);
	CHECK(phyr_iova_place(0x7f0000001800, 0x800, 0x1000, 2 * MiB, &pl) == 0 &&
	      pl.lead == 0x1000 && pl.reserve == 2 * MiB &&
	      pl.waste == 2 * MiB - 0x2000, "small MR pads to one page");
	CHECK(phyr_iova_place(0x7f0000001800, 0x0, 0x1000, 2 * MiB, &pl) == -EINVAL,
	      "iova and paddr disagree in the granule");
	CHECK(phyr_iova_place(0, 0, 1, 2048, &pl) == -EINVAL, "below granule");
	CHECK(phyr_iova_place(0, 0, ~0ULL, 4096, &pl) == -EOVERFLOW, "overflow");

	for (i = 0; i < 100000; i++) {
		u64 pgsz = 1ULL << (12 + rnd() % 19);
		u64 pgoff = rnd() % g;
		u64 iova = (rnd() & ~(g - 1) & ((1ULL << 47) - 1)) | pgoff;
		u64 len = 1 + rnd() % (4 * GiB);
		u64 span = (pgoff + len + g - 1) & ~(g - 1);

		if (phyr_iova_place(iova, pgoff, len, pgsz, &pl)) {
			bad++;
			continue;
		}
		/* a pgsz-aligned reservation, the slice's first byte ≡ iova */
		if ((pl.lead + pgoff) % pgsz != iova % pgsz || pl.lead % g ||
		    pl.lead + span > pl.reserve || pl.reserve < pgsz ||
		    pl.waste != pl.reserve - span || pl.waste > pgsz - g)
			bad++;
	}
	CHECK(bad == 0, "%u of 100000 placements break the contract", bad);
}

/* The translated policy's layout rules: granule-aligned inner boundaries. */
static void test_translated_layout(void)
{
	static const struct run_spec inner_unaligned[] = {
		{ 0x100000, 0x1800 }, { 0x300000, 0x1000 } };
	static const struct run_spec head_tail[] = {
		{ 0x100800, 0x800 }, { 0x300000, 0x1000 }, { 0x500000, 0x10 } };
	struct phyr_pgsz_req req = {
		.pgsz_bitmap = DEV_PGSZ_BITMAP, .translating = true,
		.max_iova_waste = 2 * MiB,
	};
	struct phyr_pgsz out;
	struct phyr_slice s;
	struct phyr p;

	build(&p, inner_unaligned, 2, &ram);
	phyr_slice_init(&s, &p, 0, p.len);
	req.iova = 0x7f0000000000;
	CHECK(phyr_best_pgsz(&s, &req, &out) == -EINVAL, "inner boundary mid-granule");
	phyr_free(&p);

	build(&p, head_tail, 3, &ram);
	phyr_slice_init(&s, &p, 0, p.len);
	req.iova = 0x7f0000000800;
	CHECK(phyr_best_pgsz(&s, &req, &out) == 0 && out.nr_blocks == 1,
	      "unaligned head and tail: %" PRIu64 " blocks of %#" PRIx64,
	      out.nr_blocks, out.pgsz);
	req.iova = 0x7f0000000000;
	CHECK(phyr_best_pgsz(&s, &req, &out) == -EINVAL, "iova disagrees in granule");
	phyr_free(&p);
}

static void test_policy_errors(void)
{
	struct phyr_pgsz_req req = { .pgsz_bitmap = DEV_PGSZ_BITMAP };
	static const struct run_spec runs[] = { { 0x1000, 0x2000 } };
	struct phyr_pgsz out;
	struct phyr_slice s;
	struct phyr p;

	build(&p, runs, 1, &ram);
	phyr_slice_init(&s, &p, 0, p.len);
	req.iova = ~0ULL - 0x1000;
	CHECK(phyr_best_pgsz(&s, &req, &out) == -EOVERFLOW, "iova wraps");
	req.iova = 0x5000;
	req.pgsz_bitmap = 0;
	CHECK(phyr_best_pgsz(&s, &req, &out) == -EINVAL, "empty bitmap");
	/* 64 KiB pages only, but the data is not 64 KiB congruent */
	req.pgsz_bitmap = 64 * KiB;
	CHECK(phyr_best_pgsz(&s, &req, &out) == -EINVAL, "no usable size");
	phyr_free(&p);
}

static void test_nr_blocks(void)
{
	CHECK(phyr_nr_blocks(0, 1, 4096) == 1, "one byte");
	CHECK(phyr_nr_blocks(4095, 2, 4096) == 2, "straddle");
	CHECK(phyr_nr_blocks(0x1000, GiB, 2 * MiB) == 513, "1 GiB at 4 KiB");
	CHECK(phyr_nr_blocks(0, ~0ULL, 1ULL << 62) == 4, "near 2^64");
	CHECK(phyr_nr_blocks(1ULL << 62, (1ULL << 62) + 1, 1ULL << 62) == 2,
	      "large head");
}

/* The MTT's shape: one test of the layout arithmetic the driver uses. */
static void test_mtt_layout(void)
{
	static const struct {
		u64 entries;
		u32 levels;
		u64 pages[4];
		u64 total;
	} cases[] = {
		{ 1, 1, { 1 }, 1 },
		{ 512, 1, { 1 }, 1 },
		{ 513, 2, { 2, 1 }, 3 },
		{ 262144, 2, { 512, 1 }, 513 },		/* 1 GiB of 4 KiB */
		{ 262145, 3, { 513, 2, 1 }, 516 },
		{ 4194304, 3, { 8192, 16, 1 }, 8209 },	/* 16 GiB of 4 KiB */
		{ 1ULL << 36, 4, { 1ULL << 27, 1ULL << 18, 512, 1 },
		  (1ULL << 27) + (1ULL << 18) + 513 },
	};
	struct phyrdma_mtt_layout l;
	unsigned int c, k, bad = 0;
	u64 page;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		CHECK(phyrdma_mtt_layout(cases[c].entries, &l) == 0 &&
		      l.levels == cases[c].levels && l.total_pages == cases[c].total,
		      "%" PRIu64 " entries: %u levels, %" PRIu64 " pages",
		      cases[c].entries, l.levels, l.total_pages);
		for (k = 0; k < l.levels; k++)
			CHECK(l.pages[k] == cases[c].pages[k] &&
			      l.first[k] == (k ? l.first[k - 1] + l.pages[k - 1] : 0),
			      "%" PRIu64 " entries, level %u", cases[c].entries, k);
	}
	CHECK(phyrdma_mtt_layout(0, &l) == -EINVAL, "no entries");
	CHECK(phyrdma_mtt_layout((1ULL << 36) + 1, &l) == -E2BIG, "five levels");

	/* the slots of a walk spell the index in base 512, root first */
	phyrdma_mtt_layout(4194304, &l);
	for (c = 0; c < 100000; c++) {
		u64 index = rnd() % 4194304, rebuilt = 0;

		for (k = l.levels; k-- > 0; )
			rebuilt = rebuilt * 512 + phyrdma_mtt_slot(index, k, &page);
		if (rebuilt != index || page != index / 512)
			bad++;
	}
	CHECK(bad == 0, "%u walks do not reach their entry", bad);
	CHECK(phyrdma_mtt_slot(262145, 0, &page) == 1 && page == 512, "leaf slot");
	CHECK(phyrdma_mtt_slot(262145, 2, &page) == 1 && page == 0, "root slot");
}

static void test_no_leaks(void)
{
	CHECK(compat_live_allocs == 0, "leaked %ld allocations", compat_live_allocs);
}

/* phyr_slice_phase(): the alignment the physical layout follows */
static void test_slice_phase(void)
{
	struct phyr p = {};
	struct phyr_slice s;

	/* two 2 MiB folios, out of order, each at a 2 MiB boundary */
	CHECK(!phyr_append(&p, 0x40600000, 0x200000, &ram, GFP_KERNEL), "a");
	CHECK(!phyr_append(&p, 0x40200000, 0x200000, &ram, GFP_KERNEL), "b");
	CHECK(!phyr_slice_init(&s, &p, 0, 0x400000), "slice");
	CHECK(phyr_slice_phase(&s, 0) == 0x200000, "%#llx",
	      (unsigned long long)phyr_slice_phase(&s, 0));
	/* the buffer's offsets, or any address congruent to them */
	CHECK(phyr_slice_phase(&s, 0x7f0000000000ULL) == 0x200000, "va");
	CHECK(phyr_slice_phase(&s, 0x1000) == 0x1000, "out of phase");
	/* a slice 4 KiB into the buffer follows it at its own offset */
	CHECK(!phyr_slice_init(&s, &p, 0x1000, 0x2000), "inner");
	CHECK(phyr_slice_phase(&s, 0x1000) == 0x200000, "inner phase");
	phyr_free(&p);

	/* one run: as aligned as its address, up to its own length */
	CHECK(!phyr_append(&p, 0x40000000, 0x40000000, &ram, GFP_KERNEL), "1G");
	CHECK(!phyr_slice_init(&s, &p, 0, 0x40000000), "slice");
	CHECK(phyr_slice_phase(&s, 0) == 0x40000000, "1 GiB");
	phyr_free(&p);
	CHECK(!phyr_append(&p, 0, 0x1000, &ram, GFP_KERNEL), "zero");
	CHECK(!phyr_slice_init(&s, &p, 0, 0x1000), "slice");
	/* a 4 KiB page at address 0 says nothing of the bits above it */
	CHECK(phyr_slice_phase(&s, 0) == 0x1000, "no larger than the run");
	phyr_free(&p);
}

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
#define T(fn) { #fn, fn }
	T(test_append_table), T(test_metadata_segments), T(test_append_enomem),
	T(test_slice_phase),
	T(test_validate), T(test_slice_init), T(test_run_iterator),
	T(test_meta_checks), T(test_direct_table), T(test_direct_random),
	T(test_translated), T(test_iova_place), T(test_translated_layout),
	T(test_policy_errors), T(test_nr_blocks), T(test_mtt_layout),
	T(test_no_leaks),
#undef T
};

int main(void)
{
	unsigned int i, passed = 0, failed = 0;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		check_failures = 0;
		tests[i].fn();
		printf("%s %s\n", check_failures ? "FAILED" : "ok", tests[i].name);
		if (check_failures)
			failed++;
		else
			passed++;
	}
	printf("host: %u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
