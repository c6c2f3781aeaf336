// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * phyrdma-mcast-check: UD multicast across the fabric, through
 * ibv_attach_mcast/ibv_detach_mcast (pyverbs 65 has no binding for them).
 *
 *   phyrdma-mcast-check DEV0 DEV1
 *   phyrdma-mcast-check --exit-attached DEV0
 *
 * The first form runs every check and prints "ok NAME" or "FAIL NAME: why"
 * for each, then "mcast: N passed, N failed"; exit status 1 if any failed.
 * A sender S and a member A are UD QPs on DEV0, a member B one on DEV1:
 *  - a send to the multicast QPN at a group's GID reaches every member,
 *    byte for byte, with a RoCE v2 network header naming the group;
 *  - a sender that is itself a member gets its own copy;
 *  - a detached QP gets nothing more;
 *  - bad attaches fail with the errno the ABI documents, destroying an
 *    attached QP is EBUSY, and the group and per-group limits the device
 *    reports are exactly where ENOMEM starts.
 * The second form attaches a QP and exits without cleaning up: the caller
 * checks that the kernel detached it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "verbs_util.h"

#define QKEY		0x11111111
#define MCAST_QPN	0xffffff
#define BUF_SIZE	8192
#define MSG_LEN		1000
#define GRH_LEN		40

struct node {
	const char *name;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *scq;	/* send completions */
	struct ibv_cq *cq;	/* receive completions */
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	unsigned char *buf;
	int gid_index;
	union ibv_gid gid;
};


static void die(const char *what)
{
	fprintf(stderr, "phyrdma-mcast-check: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* The group of IPv4 multicast address 239.7.7.@n, as RoCE v2 names it. */
static union ibv_gid group(unsigned int n)
{
	union ibv_gid g = { .raw = { [10] = 0xff, [11] = 0xff,
				     [12] = 239, [13] = 7, [14] = 7 } };

	g.raw[15] = n;
	return g;
}

static struct ibv_qp *ud_qp(struct node *n)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = n->scq, .recv_cq = n->cq, .qp_type = IBV_QPT_UD,
		.cap = { .max_send_wr = 8, .max_recv_wr = 8,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp *qp = ibv_create_qp(n->pd, &ia);

	if (!qp)
		die("ibv_create_qp");
	if (pv_ud_ready(qp, 1, QKEY))
		die("UD QP to RTS");
	return qp;
}

static void node_open(struct node *n, struct ibv_context *ctx, const char *name)
{
	n->name = name;
	n->ctx = ctx;
	n->pd = ibv_alloc_pd(ctx);
	n->scq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	n->cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	if (!n->pd || !n->scq || !n->cq)
		die("pd/cq");
	n->qp = ud_qp(n);
	n->buf = aligned_alloc(4096, BUF_SIZE);
	if (!n->buf)
		die("buffer");
	n->mr = ibv_reg_mr(n->pd, n->buf, BUF_SIZE, IBV_ACCESS_LOCAL_WRITE);
	if (!n->mr)
		die("ibv_reg_mr");
	if (pv_find_ipv4_gid(ctx, 1, &n->gid_index, &n->gid))
		die("GID");
}

static void node_close(struct node *n)
{
	if (ibv_destroy_qp(n->qp) || ibv_dereg_mr(n->mr) ||
	    ibv_destroy_cq(n->scq) || ibv_destroy_cq(n->cq) ||
	    ibv_dealloc_pd(n->pd))
		die("teardown");
	free(n->buf);
}

static void post_recv(struct node *n)
{
	struct ibv_sge sge = { .addr = (uintptr_t)n->buf, .length = BUF_SIZE,
			       .lkey = n->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = 7, .sg_list = &sge, .num_sge = 1 }, *bad;

	memset(n->buf, 0, BUF_SIZE);
	if (ibv_post_recv(n->qp, &wr, &bad))
		die("ibv_post_recv");
}

/* Up to @max completions of @cq within @ms milliseconds. */
static int poll_cq_for(struct ibv_cq *cq, struct ibv_wc *wc, int max, int ms)
{
	struct timespec t0, t;
	int got = 0, r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		r = ibv_poll_cq(cq, max - got, wc + got);
		if (r < 0)
			die("ibv_poll_cq");
		got += r;
		if (got == max)
			return got;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return got;
		usleep(1000);
	}
}

static int poll_for(struct node *n, struct ibv_wc *wc, int max, int ms)
{
	return poll_cq_for(n->cq, wc, max, ms);
}

/* @s sends MSG_LEN bytes of pattern @seed to the group's QPN at @g. */
static void send_to_group(struct node *s, union ibv_gid g, unsigned char seed)
{
	struct ibv_ah_attr aa = {
		.is_global = 1, .port_num = 1,
		.grh = { .dgid = g, .sgid_index = s->gid_index, .hop_limit = 64 },
	};
	struct ibv_sge sge = { .addr = (uintptr_t)s->buf + BUF_SIZE / 2,
			       .length = MSG_LEN, .lkey = s->mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = 1, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_SEND_WITH_IMM, .send_flags = IBV_SEND_SIGNALED,
		.imm_data = htonl(0x4d43),
	}, *bad;
	struct ibv_ah *ah = ibv_create_ah(s->pd, &aa);
	struct ibv_wc wc;
	int i;

	if (!ah)
		die("ibv_create_ah of a multicast GID");
	for (i = 0; i < MSG_LEN; i++)
		s->buf[BUF_SIZE / 2 + i] = (unsigned char)(i * 7 + seed);
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = MCAST_QPN;
	wr.wr.ud.remote_qkey = QKEY;
	if (ibv_post_send(s->qp, &wr, &bad))
		die("ibv_post_send");
	if (poll_cq_for(s->scq, &wc, 1, 5000) != 1 || wc.opcode != IBV_WC_SEND ||
	    wc.status != IBV_WC_SUCCESS)
		die("no successful send completion");
	if (ibv_destroy_ah(ah))
		die("ibv_destroy_ah");
}

/* @n got the message @s sent with pattern @seed to group @g. */
static int received(struct node *n, const struct node *s, union ibv_gid g,
		    unsigned char seed, char *why, size_t len)
{
	struct ibv_wc wc;
	int i;

	if (poll_for(n, &wc, 1, 5000) != 1)
		return snprintf(why, len, "%s: no receive completion", n->name), 0;
	if (wc.status != IBV_WC_SUCCESS || wc.opcode != IBV_WC_RECV ||
	    wc.byte_len != GRH_LEN + MSG_LEN || !(wc.wc_flags & IBV_WC_GRH) ||
	    !(wc.wc_flags & IBV_WC_WITH_IMM) || ntohl(wc.imm_data) != 0x4d43 ||
	    wc.src_qp != s->qp->qp_num)
		return snprintf(why, len, "%s: status %d opcode %d len %u flags %#x src_qp %u",
				n->name, wc.status, wc.opcode, wc.byte_len,
				wc.wc_flags, wc.src_qp), 0;
	/* the RoCE v2 IPv4 header in the GRH's last 20 bytes: to the group */
	if (n->buf[20] >> 4 != 4 || memcmp(n->buf + 36, g.raw + 12, 4) ||
	    memcmp(n->buf + 32, s->gid.raw + 12, 4))
		return snprintf(why, len, "%s: network header names %u.%u.%u.%u -> %u.%u.%u.%u",
				n->name, n->buf[32], n->buf[33], n->buf[34], n->buf[35],
				n->buf[36], n->buf[37], n->buf[38], n->buf[39]), 0;
	for (i = 0; i < MSG_LEN; i++)
		if (n->buf[GRH_LEN + i] != (unsigned char)(i * 7 + seed))
			return snprintf(why, len, "%s: byte %d is %#x", n->name, i,
					n->buf[GRH_LEN + i]), 0;
	return 1;
}

static int err_of(int ret)
{
	return ret ? (ret > 0 ? ret : errno) : 0;
}

static void check_delivery(struct node *s, struct node *a, struct node *b)
{
	union ibv_gid g = group(1);
	char why[160] = "";
	struct ibv_wc wc;
	int ok;

	pv_check(!ibv_attach_mcast(a->qp, &g, 0) && !ibv_attach_mcast(b->qp, &g, 0),
		 "attach", "%s", strerror(errno));
	/* attaching again is no error */
	pv_check(!ibv_attach_mcast(a->qp, &g, 0), "attach_again", "%s", strerror(errno));

	post_recv(a);
	post_recv(b);
	send_to_group(s, g, 1);
	ok = received(a, s, g, 1, why, sizeof(why)) &&
	     received(b, s, g, 1, why, sizeof(why));
	pv_check(ok, "both_members_within_and_across_devices", "%s", why);
	pv_check(poll_for(s, &wc, 1, 200) == 0, "non_member_sender_receives_nothing",
		 "a completion with opcode %d", wc.opcode);

	/* a member sender receives its own message */
	pv_check(!ibv_attach_mcast(s->qp, &g, 0), "attach_sender", "%s", strerror(errno));
	post_recv(a);
	post_recv(b);
	post_recv(s);
	send_to_group(s, g, 2);
	ok = received(s, s, g, 2, why, sizeof(why)) &&
	     received(a, s, g, 2, why, sizeof(why)) &&
	     received(b, s, g, 2, why, sizeof(why));
	pv_check(ok, "member_sender_gets_its_own_copy", "%s", why);
	pv_check(!ibv_detach_mcast(s->qp, &g, 0), "detach_sender", "%s", strerror(errno));

	/* B leaves: A alone gets the next message, B's receive stays posted */
	pv_check(!ibv_detach_mcast(b->qp, &g, 0), "detach", "%s", strerror(errno));
	post_recv(a);
	post_recv(b);
	send_to_group(s, g, 3);
	pv_check(received(a, s, g, 3, why, sizeof(why)), "remaining_member", "%s", why);
	pv_check(poll_for(b, &wc, 1, 200) == 0, "detached_member_gets_nothing",
		 "status %d", wc.status);

	/* another group's traffic does not reach A */
	send_to_group(s, group(2), 4);
	pv_check(poll_for(a, &wc, 1, 200) == 0, "other_group_not_delivered",
		 "status %d", wc.status);
	pv_check(!ibv_detach_mcast(a->qp, &g, 0), "detach_last", "%s", strerror(errno));
}

static void check_errors(struct node *s)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = s->cq, .recv_cq = s->cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 1, .max_recv_wr = 1,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	union ibv_gid g = group(3);
	struct ibv_qp *rc;
	int e;

	e = err_of(ibv_attach_mcast(s->qp, &s->gid, 0));
	pv_check(e == EINVAL, "unicast_gid_is_einval", "errno %d", e);
	rc = ibv_create_qp(s->pd, &ia);
	if (!rc)
		die("RC QP");
	e = err_of(ibv_attach_mcast(rc, &g, 0));
	pv_check(e == EINVAL, "rc_qp_is_einval", "errno %d", e);
	if (ibv_destroy_qp(rc))
		die("destroy RC QP");
	e = err_of(ibv_detach_mcast(s->qp, &g, 0));
	pv_check(e == EINVAL, "detach_unattached_is_einval", "errno %d", e);
}

/* Exactly max_mcast_qp_attach QPs fit in a group, max_mcast_grp groups in the table. */
static void check_limits(struct node *s)
{
	struct ibv_device_attr da;
	union ibv_gid g = group(4);
	struct ibv_qp **qps;
	int i, e = 0, n, attached;

	if (ibv_query_device(s->ctx, &da))
		die("ibv_query_device");
	pv_check(da.max_mcast_grp > 0 && da.max_mcast_qp_attach > 0 &&
		 da.max_total_mcast_qp_attach >= da.max_mcast_qp_attach,
		 "limits_reported", "grp %d qp_attach %d total %d", da.max_mcast_grp,
		 da.max_mcast_qp_attach, da.max_total_mcast_qp_attach);
	n = da.max_mcast_qp_attach + 1;
	qps = calloc(n, sizeof(*qps));
	if (!qps)
		die("calloc");
	for (attached = 0; attached < n; attached++) {
		qps[attached] = ud_qp(s);
		e = err_of(ibv_attach_mcast(qps[attached], &g, 0));
		if (e)
			break;
	}
	pv_check(attached == n - 1 && e == ENOMEM, "group_full_is_enomem",
		 "attach %d failed with errno %d (limit %d)", attached, e, n - 1);

	e = err_of(ibv_destroy_qp(qps[0]));
	pv_check(e == EBUSY, "destroy_attached_is_ebusy", "errno %d", e);
	for (i = 0; i < attached; i++)
		if (ibv_detach_mcast(qps[i], &g, 0))
			die("detach");
	for (i = 0; i < n && qps[i]; i++)
		if (ibv_destroy_qp(qps[i]))
			die("destroy");
	free(qps);

	for (i = 0; i <= da.max_mcast_grp; i++) {
		g = group(0);
		g.raw[13] = 8 + i / 256;
		g.raw[14] = i % 256;
		e = err_of(ibv_attach_mcast(s->qp, &g, 0));
		if (e)
			break;
	}
	pv_check(i == da.max_mcast_grp && e == ENOMEM, "table_full_is_enomem",
		 "group %d failed with errno %d (limit %d)", i, e, da.max_mcast_grp);
	while (i--) {
		g.raw[13] = 8 + i / 256;
		g.raw[14] = i % 256;
		if (ibv_detach_mcast(s->qp, &g, 0))
			die("detach");
	}
}

int main(int argc, char **argv)
{
	struct ibv_context *c0, *c1;
	struct node s = { 0 }, a = { 0 }, b = { 0 };
	union ibv_gid g = group(9);

	if (argc == 3 && !strcmp(argv[1], "--exit-attached")) {
		c0 = pv_open_device(argv[2]);
		if (!c0)
			die(argv[2]);
		node_open(&s, c0, argv[2]);
		if (ibv_attach_mcast(s.qp, &g, 0))
			die("ibv_attach_mcast");
		printf("attached\n");
		fflush(stdout);
		_exit(0);
	}
	if (argc != 3) {
		fprintf(stderr, "usage: phyrdma-mcast-check DEV0 DEV1\n"
			"       phyrdma-mcast-check --exit-attached DEV\n");
		return 2;
	}
	c0 = pv_open_device(argv[1]);
	c1 = pv_open_device(argv[2]);
	if (!c0 || !c1)
		die("open devices");
	node_open(&s, c0, "S");
	node_open(&a, c0, "A");
	node_open(&b, c1, "B");

	check_delivery(&s, &a, &b);
	check_errors(&s);
	check_limits(&s);

	node_close(&s);
	node_close(&a);
	node_close(&b);
	ibv_close_device(c0);
	ibv_close_device(c1);
	return pv_summary("mcast");
}
