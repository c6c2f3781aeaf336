/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phyr - the streaming DMA mapper and the dma-buf glue (kernel only)
 *
 * phyr_dma_map() maps a phyr slice for one device with the two-step DMA API
 * and streams the DMA address of every device block to the importer's
 * callback: see phyr_dma.c.
 *
 * phyr_to_sgt() converts a slice of CPU RAM into an sg_table of pages for
 * exporters that must still serve legacy importers through map_dma_buf.
 *
 * A dma-buf exporter that can describe its buffers as phyrs registers a
 * struct phyr_dmabuf_exporter; an importer asks phyr_dmabuf_map() for the
 * phyr of an attachment and gets -EOPNOTSUPP from any other exporter, so it
 * can fall back to dma_buf_map_attachment().  (Upstream this would be an
 * op in struct dma_buf_ops; a registry keyed by the ops keeps the
 * exporter and the importer out-of-tree.)
 */
#ifndef _PHYR_PHYR_DMA_H
#define _PHYR_PHYR_DMA_H

#include <linux/dma-mapping.h>
#include <linux/list.h>
#include <phyr/phyr.h>

struct dma_buf;
struct dma_buf_attachment;
struct dma_buf_ops;
struct sg_table;
struct vm_area_struct;

/**
 * enum phyr_p2p_type - how a device reaches memory (the PCI P2PDMA map type)
 * @PHYR_P2P_NONE: CPU RAM, not a peer-to-peer transfer
 * @PHYR_P2P_NOT_SUPPORTED: the device cannot reach the peer's BAR
 * @PHYR_P2P_BUS_ADDR: through a common switch, by PCI bus address; the
 *	IOMMU is not involved
 * @PHYR_P2P_HOST_BRIDGE: through the host bridge, mapped like RAM (an
 *	IOVA under a translating IOMMU) with %DMA_ATTR_MMIO
 */
enum phyr_p2p_type {
	PHYR_P2P_NONE,
	PHYR_P2P_NOT_SUPPORTED,
	PHYR_P2P_BUS_ADDR,
	PHYR_P2P_HOST_BRIDGE,
};

/**
 * struct phyr_dma_hint - how the importer's device will address the slice
 * @pgsz: the device page size, a power of two
 * @iova: the device virtual address of the slice's first byte
 * @one_range: @pgsz was chosen for one contiguous IOVA range (the policy's
 *	translating case): if that range cannot be had, fail with -ENOSPC
 *	rather than map run by run, where the page size would not fit
 * @place_pgsz: 0, or a power of two no smaller than @pgsz: place the IOVA
 *	so that dma_addr ≡ @place_iova (mod @place_pgsz) instead, which
 *	lets the IOMMU keep its large pages where the device's page size
 *	alone would not (@place_iova ≡ @iova (mod @pgsz) keeps the device's)
 * @place_iova: see @place_pgsz
 */
struct phyr_dma_hint {
	u64 pgsz;
	u64 iova;
	bool one_range;
	u64 place_pgsz;
	u64 place_iova;
};

/**
 * struct phyr_dma_stats - the work a mapping cost, in machine-independent units
 * @iova_reserved: IOVA bytes reserved (0 without an IOVA path)
 * @iova_wasted: of those, bytes beyond the granules the slice touches
 * @iova_realigned: 1 if the allocator's alignment had to be compensated
 *	by a larger reservation
 * @runs_linked: dma_iova_link() or dma_map_phys() calls
 * @syncs: IOTLB syncs (map and unmap)
 * @blocks: device blocks emitted
 * @scratch_bytes: memory allocated to hold DMA addresses (direct mode)
 * @iova_phase: IOVA mode: the largest power of two (at most 2^62, and no
 *	larger than any run) modulo which every run's IOVA equals its
 *	physical address, which bounds the IOMMU pages the mapping can use
 * @map_ns: time spent reserving, linking and syncing (or mapping run by
 *	run), the work the bare two-step API floor measures
 * @emit_ns: time spent streaming the blocks to the importer
 */
struct phyr_dma_stats {
	u64 iova_reserved;
	u64 iova_wasted;
	u64 iova_realigned;
	u64 runs_linked;
	u64 syncs;
	u64 blocks;
	u64 scratch_bytes;
	u64 iova_phase;
	u64 map_ns;
	u64 emit_ns;
};

/**
 * struct phyr_dma_map - one mapping made by phyr_dma_map()
 * @use_iova: mapped through one IOVA range (a translating IOMMU)
 * @dma_first: DMA address of the slice's first byte
 * @len: the slice's length
 * @stats: what the mapping cost
 *
 * The remaining fields are private to the mapper.
 */
struct phyr_dma_map {
	bool use_iova;
	dma_addr_t dma_first;
	u64 len;
	struct phyr_dma_stats stats;

	/* private: */
	struct device *dev;
	enum dma_data_direction dir;
	unsigned long attrs;
	/* IOVA mode */
	struct dma_iova_state state;
	u64 iova_first;		/* where the first granule is linked */
	u64 linked;		/* bytes linked from iova_first */
	struct phys_vec one_run;
	/* direct mode */
	struct phys_vec *dma_runs;
	u32 nr_dma_runs;
	bool bus_addr;		/* dma_runs are bus addresses: nothing to unmap */
	bool cc_shared;		/* decrypted memory in a confidential guest */
};

typedef int (*phyr_dma_emit_fn)(void *ctx, u64 index, dma_addr_t addr);

int phyr_dma_map(struct phyr_dma_map *map, struct device *dev,
		 const struct phyr_slice *slice,
		 const struct phyr_dma_hint *hint, enum dma_data_direction dir,
		 unsigned long attrs, phyr_dma_emit_fn emit, void *ctx);
void phyr_dma_unmap(struct phyr_dma_map *map);
const struct phys_vec *phyr_dma_map_runs(const struct phyr_dma_map *map,
					 u32 *nr);
int phyr_dma_granule_run(const struct phyr_iter *it,
			 const struct phyr_slice *slice, phys_addr_t *phys,
			 u64 *len);

struct pci_dev;
enum phyr_p2p_type phyr_p2p_pci_map_type(struct pci_dev *owner,
					 struct device *dev);
enum phyr_p2p_type phyr_p2p_map_type(const struct p2pdma_provider *provider,
				     struct device *dev);
int phyr_dma_p2p_type(struct device *dev, const struct phyr_slice *slice);

struct sg_table *phyr_to_sgt(const struct phyr_slice *slice, gfp_t gfp);
void phyr_free_sgt(struct sg_table *sgt);
struct sg_table *phyr_dmabuf_map_sgt(struct dma_buf_attachment *attach,
				     const struct phyr *phyr,
				     enum dma_data_direction dir);
void phyr_dmabuf_unmap_sgt(struct dma_buf_attachment *attach,
			   const struct phyr *phyr, struct sg_table *sgt,
			   enum dma_data_direction dir);
int phyr_dmabuf_mmap(const struct phyr *phyr, struct vm_area_struct *vma);

/**
 * struct phyr_dmabuf_exporter - a dma-buf exporter that speaks phyr
 * @ops: the dma_buf_ops of the exporter's buffers; identifies them
 * @map_phyr: return the phyr of the attachment's buffer, valid until
 *	@unmap_phyr; called with the buffer's reservation lock held, on a
 *	pinned attachment
 * @unmap_phyr: release what @map_phyr returned
 * @node: private to the registry
 */
struct phyr_dmabuf_exporter {
	const struct dma_buf_ops *ops;
	const struct phyr *(*map_phyr)(struct dma_buf_attachment *attach);
	void (*unmap_phyr)(struct dma_buf_attachment *attach,
			   const struct phyr *phyr);
	struct list_head node;
};

void phyr_dmabuf_register(struct phyr_dmabuf_exporter *exp);
void phyr_dmabuf_unregister(struct phyr_dmabuf_exporter *exp);
bool phyr_dmabuf_supported(const struct dma_buf *dmabuf);
const struct phyr *phyr_dmabuf_map(struct dma_buf_attachment *attach);
void phyr_dmabuf_unmap(struct dma_buf_attachment *attach,
		       const struct phyr *phyr);

#endif /* _PHYR_PHYR_DMA_H */
