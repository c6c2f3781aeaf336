/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phyr - the dma-buf importer for RDMA drivers (kernel only)
 *
 * An RDMA driver registers dma-buf memory regions by asking for the
 * buffer's import: one per (device, dma-buf), made by the first
 * registration and shared by every later one over any slice of the same
 * buffer.  An import is the buffer attached (dynamic, revocable), pinned,
 * its phyr in hand, mapped whole with the two-step DMA API at an IOVA
 * placed by the memory's physical phase, and streamed into one device page
 * table that the driver owns.  A registration then costs the driver a key:
 * an MR table entry that points into the shared table at the slice's
 * place (the page offset a NIC's memory key carries), so every key gets
 * the page size the memory allows at any iova, and the IOMMU keeps its
 * large pages.
 *
 * The driver supplies its page sizes and a table it writes from the
 * streamed DMA addresses (struct phyr_importer_ops), and makes its keys
 * unusable when the exporter takes the memory back.  See docs/design.md,
 * "The importer".  Exported in the "PHYR" symbol namespace.
 */
#ifndef _PHYR_PHYR_IMPORT_H
#define _PHYR_PHYR_IMPORT_H

#include <linux/completion.h>
#include <linux/hashtable.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <phyr/phyr_dma.h>

struct dma_buf;
struct phyr_import;
struct phyr_importer;

/**
 * struct phyr_advice - where to place a slice, and what that gets
 * @iova_align: place it at an address with addr % @iova_align == @iova_offset
 * @iova_offset: see @iova_align
 * @page_size: the device page size there
 * @blocks: device blocks (page table entries) there
 * @iova_bytes: IOVA reserved there (0 without a translating IOMMU)
 * @iommu_page_size: the largest IOMMU page there (0 without one)
 */
struct phyr_advice {
	u64 iova_align;
	u64 iova_offset;
	u64 page_size;
	u64 blocks;
	u64 iova_bytes;
	u64 iommu_page_size;
};

int phyr_advise(const struct phyr_slice *slice, u64 first, u64 iommu_pgsizes,
		u64 pgsz_bitmap, u64 waste_cap, struct phyr_advice *adv);
u64 phyr_pgsz_at_most(u64 bitmap, u64 limit);

/**
 * struct phyr_importer_ops - what the driver does for its imports
 * @table_alloc: allocate the device page table of @imp for
 *	@imp->nr_blocks blocks of @imp->pgsz, every entry invalid; the
 *	driver keeps it in @imp->priv
 * @table_set: write the DMA address of block @index into the table of
 *	@imp (the ctx of phyr_dma_map()'s emit callback is @imp)
 * @table_free: free the table; no key uses it any longer
 * @revoke: the exporter takes the memory back: make every key over @imp
 *	(phyr_import_for_each_key()) unusable, and return only once the
 *	device no longer reaches the table or the addresses in it.  Called
 *	with the buffer's reservation lock held; must not sleep on it.
 */
struct phyr_importer_ops {
	int (*table_alloc)(struct phyr_import *imp);
	int (*table_set)(void *imp, u64 index, dma_addr_t addr);
	void (*table_free)(struct phyr_import *imp);
	void (*revoke)(struct phyr_import *imp);
};

/**
 * struct phyr_importer_stats - what an importer did, since init
 * @imports: imports made (attach, pin, map)
 * @shared: registrations that found their buffer's import made
 * @kept: of those, imports found kept after their last key
 * @revokes: imports the exporter took back
 * @keys_revoked: keys those revokes killed
 * @released: kept imports released (time, the buffer's last other holder
 *	gone, the cache full, memory pressure, revoke)
 */
struct phyr_importer_stats {
	atomic64_t imports;
	atomic64_t shared;
	atomic64_t kept;
	atomic64_t revokes;
	atomic64_t keys_revoked;
	atomic64_t released;
};

/**
 * struct phyr_importer - one device that imports dma-bufs
 * @dma_dev: the device DMA is done for
 * @pgsz_bitmap: the device page sizes its tables can use
 * @iommu_pgsizes: the page sizes of the translating IOMMU in front of
 *	@dma_dev, 0 if DMA addresses are physical ones
 * @max_iova_waste: IOVA an import may reserve beyond its pages to reach a
 *	larger device page (never more than its pages span)
 * @dma_attrs: attributes for phyr_dma_map() (e.g. %DMA_ATTR_REQUIRE_COHERENT)
 * @keep_ms: where the driver keeps how long an import is kept after its
 *	last key, for the next registration of the same buffer (0: released
 *	at once); read at every look, so a module parameter may be it
 * @max_kept: where the driver keeps how many imports may be kept at once
 * @ops: the driver's callbacks
 * @stats: counters, read by the driver for its statistics
 * @live: imports in existence, kept ones included
 * @nr_kept: imports kept now
 *
 * The driver fills the fields above @stats and calls phyr_importer_init();
 * @max_iova_waste it may change at any time (WRITE_ONCE()).
 */
struct phyr_importer {
	struct device *dma_dev;
	u64 pgsz_bitmap;
	u64 iommu_pgsizes;
	u64 max_iova_waste;
	unsigned long dma_attrs;
	const unsigned int *keep_ms;
	const unsigned int *max_kept;
	const struct phyr_importer_ops *ops;
	struct phyr_importer_stats stats;
	atomic_t live;
	unsigned int nr_kept;

	/* private: */
	struct mutex lock;	/* @imports, @kept, @nr_kept, every import's @ref */
	DECLARE_HASHTABLE(imports, 8);	/* the imports a lookup finds, by buffer */
	struct list_head kept;	/* imports without a key, oldest first */
	struct delayed_work reaper;
	unsigned long to_shrink;	/* kept imports the shrinker asked for */
	struct shrinker *shrinker;
};

/**
 * struct phyr_import - one dma-buf imported by one device
 * @importer: the device's importer
 * @dmabuf: the buffer (a reference is held)
 * @pgsz: the device page size of the table
 * @nr_blocks: entries of the table
 * @table_offset: the table address of the buffer's first byte: block k of
 *	the table covers table addresses [k * @pgsz, (k + 1) * @pgsz)
 * @p2p_type: how the device reaches the memory (enum phyr_p2p_type)
 * @phyr: the exporter's range list; valid under the reservation lock
 *	while the import is not revoked
 * @map: the DMA mapping of the whole buffer (its stats say what it cost)
 * @revoked: the exporter took the memory back; no key may be added
 * @nr_keys: keys over the import; under the reservation lock
 * @priv: the driver's table
 *
 * The fields are read-only for the driver once phyr_import_get_locked()
 * returned it, except @priv.
 */
struct phyr_import {
	struct phyr_importer *importer;
	struct dma_buf *dmabuf;
	u64 pgsz;
	u64 nr_blocks;
	u64 table_offset;
	int p2p_type;
	const struct phyr *phyr;
	struct phyr_dma_map map;
	bool revoked;
	unsigned int nr_keys;
	void *priv;

	/* private: */
	struct hlist_node node;	/* in the importer's table, if @listed */
	bool listed;
	unsigned int ref;	/* under the importer's lock */
	bool kept;		/* on the importer's kept list, @ref its */
	unsigned long kept_since;
	struct list_head lru;
	struct completion built; /* the first registration built it */
	int init_err;		/* what building it returned */
	bool mapped;
	bool pinned;
	struct dma_buf_attachment *attach;
	struct list_head keys;
};

/**
 * struct phyr_import_key - one key over an import, embedded in the
 * driver's MR
 * @node: on the import's list; private
 */
struct phyr_import_key {
	struct list_head node;
};

#define phyr_import_for_each_key(imp, key) \
	list_for_each_entry(key, &(imp)->keys, node)

int phyr_importer_init(struct phyr_importer *imr, const char *name);
void phyr_importer_flush(struct phyr_importer *imr);
void phyr_importer_fini(struct phyr_importer *imr);
struct phyr_import *phyr_import_get_locked(struct phyr_importer *imr,
					   struct dma_buf *dmabuf);
int phyr_import_slice(const struct phyr_import *imp, u64 offset, u64 length,
		      struct phyr_slice *slice);
void phyr_import_add_key(struct phyr_import *imp, struct phyr_import_key *key);
void phyr_import_del_key(struct phyr_import *imp, struct phyr_import_key *key);
void phyr_import_unlock(struct phyr_import *imp);
void phyr_import_put(struct phyr_import *imp);
int phyr_import_layout(const struct phyr_importer *imr,
		       const struct phyr_slice *whole, int p2p_type,
		       struct phyr_advice *adv);

#endif /* _PHYR_PHYR_IMPORT_H */
