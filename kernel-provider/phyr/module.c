// SPDX-License-Identifier: GPL-2.0
/*
 * phyr: physical range lists, as a library module for dma-buf exporters
 * and importers.  See include/phyr/phyr.h.
 */
#include <linux/module.h>

MODULE_DESCRIPTION("Physical range lists for dma-buf exporters and importers");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("DMA_BUF");
