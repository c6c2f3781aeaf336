# SPDX-License-Identifier: GPL-2.0
# phyrdma: top-level entry points.  Everything runs as root on a Debian
# host; the first run builds the cached guest environment (see
# docs/platform.md), later runs reuse it.

VM := tools/vm

.PHONY: all setup build demo check check-debug deb fuzz stress shell clean

all: build

setup:
	$(VM) setup

build:
	$(VM) build

# The main job: set up, build, boot the guest and show the devices.
demo: build
	$(VM) run -- tools/demo

# The whole test suite, with the IOMMU on and off, on the modules as the
# phyrdma-dkms package installs them, then the debug subset on the debug
# kernel (built into the cache on first use).
check:
	$(VM) build --kernel=debug --packaged
	tools/check --debug-subset

# The guest suite on the debug build of the same kernel (lockdep, KASAN,
# DMA-API debugging, kmemleak): builds that kernel first if the cache has none.
check-debug:
	$(VM) build --kernel=debug --packaged
	tools/check --kernel=debug

# The Debian packages, in build/deb/ (phyrdma-dkms: the kernel modules
# through DKMS), built in the cached sid environment and checked by lintian.
deb:
	tools/deb

# The structured fuzzer for longer than make check runs it: N iterations
# per target from SEED (default: the time), on KERNEL (stock or debug).
fuzz: build
	$(VM) run --kernel=$${KERNEL:-stock} --timeout=$${TIMEOUT:-7200} -- \
		phyrdma-fuzz -s $${SEED:-$$(date +%s)} -n $${N:-20000}

# A stress run (30 minutes unless MINUTES says otherwise): parallel
# registration and traffic on both devices and all kinds of memory, under
# memory pressure, phyrdma unloaded at the end.
stress: build
	$(VM) run --kernel=$${KERNEL:-stock} --timeout=$$(( $${MINUTES:-30} * 60 + 900 )) -- \
		tools/guest/stress --minutes $${MINUTES:-30}

shell: build
	$(VM) shell

clean:
	rm -rf build
	$(VM) chroot make -s -C /phyrdma/kernel-provider \
		KDIR=/usr/src/linux-headers-$$(cat $${PHYRDMA_CACHE:-/var/cache/phyrdma}/kernel-version) clean
