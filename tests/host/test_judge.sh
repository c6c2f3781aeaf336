#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The runner's verdict on a guest run (tools/vm judge): which kernel logs
# fail a run, and with which exit status.  Runs on the host, no guest.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0

# case NAME WANT-STATUS DMESG-LINES...: a run whose command exited 0
case_() {
	local name=$1 want=$2 got
	shift 2
	rm -f "$dir"/*
	echo 0 >"$dir/status"
	echo ok >"$dir/unload"
	printf '%s\n' "[    0.000000] Linux version 7.2.13" "$@" >"$dir/dmesg"
	"$here/tools/vm" judge "$dir" >/dev/null 2>&1
	got=$?
	if [ "$got" = "$want" ]; then
		echo "ok $name"
	else
		echo "FAIL $name: status $got, expected $want"
		fails=$((fails + 1))
	fi
}

case_ clean 0 "[    1.0] phyrdma 0000:00:03.0: phyrdma0 registered"
case_ warn 200 "[    1.0] WARNING: CPU: 0 PID: 1 at drivers/x.c:1 f+0x1/0x2"
case_ refcount 200 "[    1.0] refcount_t: underflow; use-after-free."
case_ kasan 200 "[    1.0] BUG: KASAN: slab-use-after-free in f+0x1/0x2"
case_ debug-boot-banner 0 "[    0.1] DMA-API: preallocated 65536 debug entries"
case_ oom 200 "[    5.0] python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0" \
	"[    5.1] Out of memory: Killed process 99 (python3)"
case_ oom-expected 0 "[    4.0] phyrdma-test: oom expected" \
	"[    5.0] python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0" \
	"[    5.1] Memory cgroup out of memory: Killed process 99 (python3)" \
	"[    6.0] phyrdma-test: oom not expected"
case_ oom-after-window 200 "[    4.0] phyrdma-test: oom expected" \
	"[    6.0] phyrdma-test: oom not expected" \
	"[    7.0] Out of memory: Killed process 100 (sh)"
# a failed unload fails the run even with a clean log
rm -f "$dir"/*; echo 0 >"$dir/status"; echo "rmmod phyrdma: busy" >"$dir/unload"
echo "[    1.0] clean" >"$dir/dmesg"
"$here/tools/vm" judge "$dir" >/dev/null 2>&1
if [ $? = 201 ]; then echo "ok unload"; else echo "FAIL unload"; fails=$((fails + 1)); fi

# kmemleak: any unreferenced object fails the run; an empty report passes
leak() {
	printf '%s\n' "unreferenced object 0xffff888100000000 (size 32):" \
		"  backtrace (crc 1):" "    __kmalloc_noprof+0x5e7/0x930" "    $1" \
		"    ib_uverbs_ioctl+0x188/0x280 [ib_uverbs]"
}
kcase() {
	local name=$1 want=$2 got
	shift 2
	rm -f "$dir"/*; echo 0 >"$dir/status"; echo ok >"$dir/unload"
	echo "[    1.0] clean" >"$dir/dmesg"
	for f in "$@"; do leak "$f"; done >"$dir/kmemleak"
	"$here/tools/vm" judge "$dir" >/dev/null 2>&1
	got=$?
	if [ "$got" = "$want" ]; then echo "ok $name"; else
		echo "FAIL $name: status $got, expected $want"; fails=$((fails + 1)); fi
}
kcase kmemleak-ours 200 "phyrdma_mr_new+0x1/0x2 [phyrdma]"
# the debug kernel carries the fix of 7.2's dma_buf_free_sgt() leak: an
# object from dma_buf_phys_vec_to_sgt() is no longer forgiven
kcase kmemleak-upstream 200 "dma_buf_phys_vec_to_sgt+0x1af/0x7e0"
kcase kmemleak-none 0

[ "$fails" = 0 ]
