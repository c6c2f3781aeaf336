# SPDX-License-Identifier: GPL-2.0
# phyrdma: top-level entry points.  Everything runs as root on a Debian
# host; the first run builds the cached guest environment (see
# docs/platform.md), later runs reuse it.

VM := tools/vm

.PHONY: all setup build demo check check-debug shell clean

all: build

setup:
	$(VM) setup

build:
	$(VM) build

# The main job: set up, build, boot the guest and show the devices.
demo: build
	$(VM) run -- tools/demo

# The whole test suite, with the IOMMU on and off.
check: build
	tools/check

# The guest suite on the debug build of the same kernel (lockdep, KASAN,
# DMA-API debugging, kmemleak): builds that kernel first if the cache has none.
check-debug:
	$(VM) build --kernel=debug
	tools/check --kernel=debug

shell: build
	$(VM) shell

clean:
	rm -rf build
	$(VM) chroot make -s -C /phyrdma/kernel-provider \
		KDIR=/usr/src/linux-headers-$$(cat $${PHYRDMA_CACHE:-/var/cache/phyrdma}/kernel-version) clean
