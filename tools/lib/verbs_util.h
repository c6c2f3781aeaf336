/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The few steps every phyrdma tool and C test repeats: open a device by
 * name, find a port's RoCE v2 GID of an IPv4 address, bring a QP to RTS,
 * take a dma-buf from a DMA heap, and read a counter as "rdma statistic"
 * does.  Each returns 0 (or an fd) or -1 with errno set, so that a
 * benchmark can die and a test can report, which the C tests do alike:
 * "ok NAME" or "FAIL NAME: why" per check, then one summary line.
 */
#ifndef PHYRDMA_VERBS_UTIL_H
#define PHYRDMA_VERBS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

/* The device named @name, opened; NULL with errno ENODEV if there is none. */
struct ibv_context *pv_open_device(const char *name);

/* Index and value of @port's RoCE v2 GID of an IPv4 address. */
int pv_find_ipv4_gid(struct ibv_context *ctx, uint8_t port, int *index,
		     union ibv_gid *gid);

/* What an RC QP needs to know of itself and its peer. */
struct pv_rc_conn {
	uint8_t port;
	int sgid_index;
	union ibv_gid dgid;
	uint32_t dest_qpn;
	unsigned int access;	/* IBV_ACCESS_REMOTE_* the QP allows */
	enum ibv_mtu mtu;
	uint8_t rd_atomic;	/* outstanding READs/atomics, both ways */
	uint8_t timeout;	/* ACK timeout, 4.096 us << timeout */
	uint8_t retry_cnt;
	uint8_t rnr_retry;	/* 7: for ever */
};

/* RESET -> INIT -> RTR -> RTS for an RC QP, PSNs 0. */
int pv_rc_connect(struct ibv_qp *qp, const struct pv_rc_conn *c);

/* RESET -> INIT -> RTR -> RTS for a UD QP with Q_Key @qkey. */
int pv_ud_ready(struct ibv_qp *qp, uint8_t port, uint32_t qkey);

/*
 * A dma-buf of @len bytes from @heap, a device answering
 * DMA_HEAP_IOCTL_ALLOC (/dev/dma_heap/system, /dev/phyr_ram): its fd,
 * O_RDWR | O_CLOEXEC, or -1 with errno set.
 */
int pv_heap_alloc(const char *heap, size_t len);

/*
 * The counter @name of @ibdev's @port, as "rdma statistic show link" reads
 * it (over RDMA netlink, fresh where sysfs may give a cached value).
 */
int pv_rdma_statistic(const char *ibdev, uint32_t port, const char *name,
		      long long *value);

/* Print "ok @name", or "FAIL @name: " and @fmt, and count which. */
void pv_check(int ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Print "@suite: N passed, N failed"; the exit status: 1 if any failed. */
int pv_summary(const char *suite);

#endif
