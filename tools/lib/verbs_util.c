// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-heap.h>
#include <linux/netlink.h>
#include <rdma/rdma_netlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "verbs_util.h"

struct ibv_context *pv_open_device(const char *name)
{
	struct ibv_context *ctx = NULL;
	struct ibv_device **list;
	int n, i, err = ENODEV;

	list = ibv_get_device_list(&n);
	if (!list)
		return NULL;
	for (i = 0; i < n; i++) {
		if (strcmp(ibv_get_device_name(list[i]), name))
			continue;
		ctx = ibv_open_device(list[i]);
		err = errno;
		break;
	}
	ibv_free_device_list(list);
	if (!ctx)
		errno = err;
	return ctx;
}

int pv_find_ipv4_gid(struct ibv_context *ctx, uint8_t port, int *index,
		     union ibv_gid *gid)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	struct ibv_port_attr pa;
	struct ibv_gid_entry e;
	int i;

	if (ibv_query_port(ctx, port, &pa))
		return -1;
	for (i = 0; i < pa.gid_tbl_len; i++) {
		if (ibv_query_gid_ex(ctx, port, i, &e, 0) ||
		    e.gid_type != IBV_GID_TYPE_ROCE_V2 ||
		    memcmp(e.gid.raw, v4mapped, sizeof(v4mapped)))
			continue;
		*index = i;
		*gid = e.gid;
		return 0;
	}
	errno = ENOENT;
	return -1;
}

static int pv_modify(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
	int ret = ibv_modify_qp(qp, a, mask);

	if (ret) {
		errno = ret;
		return -1;
	}
	return 0;
}

int pv_rc_connect(struct ibv_qp *qp, const struct pv_rc_conn *c)
{
	struct ibv_qp_attr a = { 0 };

	a.qp_state = IBV_QPS_INIT;
	a.port_num = c->port;
	a.qp_access_flags = c->access;
	if (pv_modify(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
		      IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = c->mtu;
	a.dest_qp_num = c->dest_qpn;
	a.max_dest_rd_atomic = c->rd_atomic;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = c->dgid;
	a.ah_attr.grh.sgid_index = c->sgid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = c->port;
	if (pv_modify(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
		      IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
		      IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = c->timeout;
	a.retry_cnt = c->retry_cnt;
	a.rnr_retry = c->rnr_retry;
	a.max_rd_atomic = c->rd_atomic;
	return pv_modify(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			 IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			 IBV_QP_MAX_QP_RD_ATOMIC);
}

int pv_ud_ready(struct ibv_qp *qp, uint8_t port, uint32_t qkey)
{
	struct ibv_qp_attr a = { 0 };

	a.qp_state = IBV_QPS_INIT;
	a.port_num = port;
	a.qkey = qkey;
	if (pv_modify(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
		      IBV_QP_QKEY))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	if (pv_modify(qp, &a, IBV_QP_STATE))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	return pv_modify(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN);
}

int pv_heap_alloc(const char *heap, size_t len)
{
	struct dma_heap_allocation_data d = {
		.len = len, .fd_flags = O_RDWR | O_CLOEXEC,
	};
	int hfd = open(heap, O_RDWR | O_CLOEXEC), ret, err;

	if (hfd < 0)
		return -1;
	ret = ioctl(hfd, DMA_HEAP_IOCTL_ALLOC, &d);
	err = errno;
	close(hfd);
	errno = err;
	return ret ? -1 : (int)d.fd;
}

/* ---- "rdma statistic", over RDMA netlink --------------------------------- */

struct pv_nl_want {
	const char *dev_name;	/* NLDEV_CMD_GET: the device to find */
	const char *stat_name;	/* NLDEV_CMD_STAT_GET: the counter to find */
	uint32_t index;		/* the device's, once found */
	uint32_t seen;		/* the index of the message being read */
	int match;		/* the entry being read is the counter */
	long long value;
	int found;
};

static void pv_nl_put_u32(struct nlmsghdr *h, uint16_t type, uint32_t v)
{
	struct nlattr *a = (void *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + sizeof(v);
	memcpy((char *)a + NLA_HDRLEN, &v, sizeof(v));
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Calls @fn on each attribute of @len bytes at @a. */
static void pv_nl_walk(const struct nlattr *a, int len,
		       void (*fn)(const struct nlattr *, struct pv_nl_want *),
		       struct pv_nl_want *w)
{
	while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	       a->nla_len <= len) {
		fn(a, w);
		len -= NLA_ALIGN(a->nla_len);
		a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
}

#define PV_NLA_DATA(a)	((const char *)(a) + NLA_HDRLEN)
#define PV_NLA_LEN(a)	((int)(a)->nla_len - NLA_HDRLEN)

static void pv_nl_dev(const struct nlattr *a, struct pv_nl_want *w)
{
	switch (a->nla_type & NLA_TYPE_MASK) {
	case RDMA_NLDEV_ATTR_DEV_INDEX:
		memcpy(&w->seen, PV_NLA_DATA(a), sizeof(w->seen));
		break;
	case RDMA_NLDEV_ATTR_DEV_NAME:
		/* the index comes first in every message of the dump */
		if (!strncmp(PV_NLA_DATA(a), w->dev_name, PV_NLA_LEN(a))) {
			w->index = w->seen;
			w->found = 1;
		}
		break;
	}
}

static void pv_nl_entry(const struct nlattr *a, struct pv_nl_want *w)
{
	switch (a->nla_type & NLA_TYPE_MASK) {
	case RDMA_NLDEV_ATTR_STAT_HWCOUNTER_ENTRY_NAME:
		w->match = !strncmp(PV_NLA_DATA(a), w->stat_name, PV_NLA_LEN(a));
		break;
	case RDMA_NLDEV_ATTR_STAT_HWCOUNTER_ENTRY_VALUE:
		if (w->match) {
			memcpy(&w->value, PV_NLA_DATA(a), sizeof(w->value));
			w->found = 1;
		}
		break;
	}
}

static void pv_nl_entries(const struct nlattr *a, struct pv_nl_want *w)
{
	if ((a->nla_type & NLA_TYPE_MASK) == RDMA_NLDEV_ATTR_STAT_HWCOUNTER_ENTRY)
		pv_nl_walk((const void *)PV_NLA_DATA(a), PV_NLA_LEN(a),
			   pv_nl_entry, w);
}

static void pv_nl_stat(const struct nlattr *a, struct pv_nl_want *w)
{
	if ((a->nla_type & NLA_TYPE_MASK) == RDMA_NLDEV_ATTR_STAT_HWCOUNTERS)
		pv_nl_walk((const void *)PV_NLA_DATA(a), PV_NLA_LEN(a),
			   pv_nl_entries, w);
}

/* Sends @req and hands each answer's attributes to @fn, up to the end. */
static int pv_nl_ask(struct nlmsghdr *req,
		     void (*fn)(const struct nlattr *, struct pv_nl_want *),
		     struct pv_nl_want *w)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_RDMA);
	char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	int done = 0, err = 0;
	struct nlmsghdr *h;
	ssize_t n;

	if (s < 0)
		return -1;
	if (sendto(s, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		goto fail;
	while (!done) {
		n = recv(s, buf, sizeof(buf), 0);
		if (n < 0)
			goto fail;
		for (h = (void *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
			} else if (h->nlmsg_type == NLMSG_ERROR) {
				err = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
				done = 1;
			} else {
				pv_nl_walk(NLMSG_DATA(h), NLMSG_PAYLOAD(h, 0),
					   fn, w);
				if (!(req->nlmsg_flags & NLM_F_DUMP))
					done = 1;
			}
		}
	}
	close(s);
	errno = err;
	return err ? -1 : 0;
fail:
	err = errno;
	close(s);
	errno = err;
	return -1;
}

int pv_rdma_statistic(const char *ibdev, uint32_t port, const char *name,
		      long long *value)
{
	union {
		struct nlmsghdr h;
		char buf[NLMSG_SPACE(64)];
	} req = {};
	struct pv_nl_want w = { .dev_name = ibdev, .stat_name = name };

	req.h.nlmsg_len = NLMSG_LENGTH(0);
	req.h.nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_GET);
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	if (pv_nl_ask(&req.h, pv_nl_dev, &w))
		return -1;
	if (!w.found) {
		errno = ENODEV;
		return -1;
	}
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(0);
	req.h.nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV,
					    RDMA_NLDEV_CMD_STAT_GET);
	req.h.nlmsg_flags = NLM_F_REQUEST;
	pv_nl_put_u32(&req.h, RDMA_NLDEV_ATTR_DEV_INDEX, w.index);
	pv_nl_put_u32(&req.h, RDMA_NLDEV_ATTR_PORT_INDEX, port);
	w.found = 0;
	if (pv_nl_ask(&req.h, pv_nl_stat, &w))
		return -1;
	if (!w.found) {
		errno = ENOENT;
		return -1;
	}
	*value = w.value;
	return 0;
}

static int pv_passed, pv_failed;

void pv_check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("ok %s\n", name);
		pv_passed++;
	} else {
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		pv_failed++;
	}
	fflush(stdout);
}

int pv_summary(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, pv_passed, pv_failed);
	return pv_failed ? 1 : 0;
}
