// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * phyrdma-fuzz: a structured, seeded fuzzer of everything a process can
 * hand the phyrdma driver and the phyr_ram and phyr_mmio exporters.
 *
 *   phyrdma-fuzz [-s SEED] [-n ITERATIONS] [TARGET...]
 *
 * TARGET is any of (default: all of them, ITERATIONS each):
 *   wqe    send WQEs written straight into the mapped send ring, as a
 *          hostile provider could: any opcode, flags, SGE count, key,
 *          address, length, remote address, UD address vector, and now and
 *          then a producer index that jumps past the ring; receive WQEs
 *          with hostile SGEs on the responder
 *   udata  raw uverbs write() commands (CREATE_CQ, CREATE_QP, CREATE_SRQ,
 *          ALLOC_PD) with driver data and responses of any size and content
 *   mmap   mmap of the uverbs file at real and made-up offsets and lengths
 *   ram    phyr_ram ioctls with any field, mmap of the dma-bufs, and
 *          ibv_reg_dmabuf_mr of them at any offset, length, iova, access
 *   mmio   phyr_mmio (GPU BAR) creates with any size, chunk and flags,
 *          revokes and restores, mmap and registration on both sides of a
 *          revoke (a revoked buffer must neither map nor register)
 *
 * The same seed gives the same sequence of inputs.  Besides the kernel
 * staying whole (the runner's splat check, the driver's counters after the
 * run), the fuzzer checks what it can see itself and counts each breach as
 * a violation: guard bytes around every MR must never change, and an input
 * the ABI refuses (non-zero reserved fields, unknown comp_mask bits, a
 * range outside the buffer) must never succeed.  Prints a line per target
 * with the answers it got, then "fuzz: N iterations, N violations, seed S";
 * exit status 1 on any violation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/rdma_user_ioctl.h>
#include <phyr/phyr_mmio.h>
#include <phyr/phyr_ram.h>

#include "phyrdma.h"
#include "verbs_util.h"

#define QKEY		0x11111111
#define MR_LEN		(256u << 10)
#define GUARD_LEN	(64u << 10)
#define GUARD_BYTE	0xa5
#define RAM_LEN		(512u << 10)	/* the dma-buf; the MR is its middle half */
#define RECV_DEPTH	8

static uint64_t rng;
static unsigned long violations;

static uint64_t rnd(void)
{
	/* xorshift64*: small, fast and the same everywhere */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int chance(unsigned int pct)
{
	return below(100) < pct;
}

static void die(const char *what)
{
	fprintf(stderr, "phyrdma-fuzz: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	va_list ap;

	printf("VIOLATION: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	violations++;
}

/* Answers by errno (0: success), for the summary line of a target. */
struct tally {
	unsigned long n[135];
};

static void tally(struct tally *t, int err)
{
	t->n[err >= 0 && err < 134 ? err : 134]++;
}

static void tally_print(const char *target, const struct tally *t)
{
	int i;

	printf("%s:", target);
	for (i = 0; i < 135; i++)
		if (t->n[i])
			printf(" %s=%lu", i == 0 ? "ok" : i == 134 ? "other" :
			       strerrorname_np(i), t->n[i]);
	printf("\n");
}

static const uint64_t edge64[] = {
	0, 1, 7, 8, 4095, 4096, 4097, 0x7fffffff, 0x80000000, 0xffffffff,
	0x100000000ULL, 1ULL << 40, 1ULL << 63, ~0ULL, ~0ULL - 7, ~0ULL - 4095,
};

static uint64_t pick_edge(void)
{
	return edge64[below(sizeof(edge64) / sizeof(edge64[0]))];
}

/* An address around [base, base + len): inside, at its edges, or anywhere. */
static uint64_t pick_addr(uint64_t base, uint64_t len)
{
	switch (below(6)) {
	case 0: case 1:
		return base + below(len);
	case 2:
		return base - below(16);
	case 3:
		return base + len - 16 + below(32);
	case 4:
		return pick_edge();
	default:
		return rnd();
	}
}

static uint32_t pick_len(uint32_t len)
{
	switch (below(6)) {
	case 0: case 1:
		return below(4096);
	case 2:
		return below(len + 1);
	case 3:
		return len + below(4);
	case 4:
		return (uint32_t)pick_edge();
	default:
		return (uint32_t)rnd();
	}
}

/* ---- the world: two devices, memory with guards, QPs --------------------- */

struct side {
	struct ibv_context *ctx;
	struct ibv_pd *pd, *pd2;
	struct ibv_cq *cq;
	struct ibv_qp *rc, *ud;
	int gid_index;
	union ibv_gid gid;
	unsigned char *map;		/* guard | MR | guard */
	struct ibv_mr *mr, *mr2;	/* mr2: the same memory, the other PD */
	int ram_fd;			/* a phyr_ram dma-buf, or -1 */
	unsigned char *ram_map;
	struct ibv_mr *ram_mr;
};

static struct side sides[2];
static int phyr_ram = -1;

static uint64_t mr_base(const struct side *s)
{
	return (uintptr_t)s->map + GUARD_LEN;
}

static void guards_fill(struct side *s)
{
	memset(s->map, GUARD_BYTE, GUARD_LEN);
	memset(s->map + GUARD_LEN + MR_LEN, GUARD_BYTE, GUARD_LEN);
	if (s->ram_map) {
		memset(s->ram_map, GUARD_BYTE, RAM_LEN / 4);
		memset(s->ram_map + RAM_LEN / 4 * 3, GUARD_BYTE, RAM_LEN / 4);
	}
}

static int guard_intact(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != GUARD_BYTE)
			return 0;
	return 1;
}

static void guards_check(int side, unsigned long iter)
{
	struct side *s = &sides[side];

	if (!guard_intact(s->map, GUARD_LEN) ||
	    !guard_intact(s->map + GUARD_LEN + MR_LEN, GUARD_LEN))
		violation("iteration %lu: the guard of side %d's user MR changed", iter, side);
	if (s->ram_map && (!guard_intact(s->ram_map, RAM_LEN / 4) ||
			   !guard_intact(s->ram_map + RAM_LEN / 4 * 3, RAM_LEN / 4)))
		violation("iteration %lu: the guard of side %d's dma-buf MR changed", iter, side);
}

static const int all_access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			      IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

static struct ibv_qp *make_qp(struct side *s, enum ibv_qp_type type)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = s->cq, .recv_cq = s->cq, .qp_type = type,
		.cap = { .max_send_wr = 16, .max_recv_wr = RECV_DEPTH * 2,
			 .max_send_sge = 4, .max_recv_sge = 4,
			 .max_inline_data = 64 },
	};
	struct ibv_qp *qp = ibv_create_qp(s->pd, &ia);

	if (!qp)
		die("ibv_create_qp");
	return qp;
}

static void side_open(int i, const char *name)
{
	struct side *s = &sides[i];
	struct phyr_ram_create rc = { .size = RAM_LEN };

	s->ctx = pv_open_device(name);
	if (!s->ctx)
		die(name);
	s->pd = ibv_alloc_pd(s->ctx);
	s->pd2 = ibv_alloc_pd(s->ctx);
	s->cq = ibv_create_cq(s->ctx, 256, NULL, NULL, 0);
	if (!s->pd || !s->pd2 || !s->cq)
		die("pd/cq");
	if (pv_find_ipv4_gid(s->ctx, 1, &s->gid_index, &s->gid))
		die("GID");
	s->map = mmap(NULL, MR_LEN + 2 * GUARD_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (s->map == MAP_FAILED)
		die("mmap");
	s->mr = ibv_reg_mr(s->pd, s->map + GUARD_LEN, MR_LEN, all_access);
	s->mr2 = ibv_reg_mr(s->pd2, s->map + GUARD_LEN, MR_LEN, all_access);
	if (!s->mr || !s->mr2)
		die("ibv_reg_mr");
	s->ram_fd = -1;
	if (phyr_ram >= 0 && !ioctl(phyr_ram, PHYR_RAM_IOC_CREATE, &rc)) {
		s->ram_fd = rc.fd;
		s->ram_map = mmap(NULL, RAM_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
				  s->ram_fd, 0);
		if (s->ram_map == MAP_FAILED)
			die("mmap dma-buf");
		s->ram_mr = ibv_reg_dmabuf_mr(s->pd, RAM_LEN / 4, RAM_LEN / 2,
					      RAM_LEN / 4, s->ram_fd, all_access);
		if (!s->ram_mr)
			die("ibv_reg_dmabuf_mr");
	}
	guards_fill(s);
	s->rc = make_qp(s, IBV_QPT_RC);
	s->ud = make_qp(s, IBV_QPT_UD);
}

static void side_close(struct side *s)
{
	if (ibv_destroy_qp(s->rc) || ibv_destroy_qp(s->ud) ||
	    ibv_dereg_mr(s->mr) || ibv_dereg_mr(s->mr2) ||
	    (s->ram_mr && ibv_dereg_mr(s->ram_mr)) ||
	    ibv_destroy_cq(s->cq) || ibv_dealloc_pd(s->pd) ||
	    ibv_dealloc_pd(s->pd2))
		die("teardown");
	if (s->ram_map)
		munmap(s->ram_map, RAM_LEN);
	if (s->ram_fd >= 0)
		close(s->ram_fd);
	munmap(s->map, MR_LEN + 2 * GUARD_LEN);
	ibv_close_device(s->ctx);
}

static void qp_reset(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
		die("modify_qp RESET");
}

/* Both RC QPs and both UD QPs, from RESET to RTS, receives posted. */
static void post_recvs(struct side *s, struct ibv_qp *qp, int hostile);

static void connect_all(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct side *s = &sides[i], *p = &sides[!i];
		struct pv_rc_conn c = {
			.port = 1, .sgid_index = s->gid_index, .dgid = p->gid,
			.dest_qpn = p->rc->qp_num, .access = all_access,
			.mtu = IBV_MTU_4096, .rd_atomic = 4,
			/* no waiting: a missing receive or peer fails at once */
			.timeout = 1, .retry_cnt = 0, .rnr_retry = 0,
		};

		qp_reset(s->rc);
		qp_reset(s->ud);
		if (pv_rc_connect(s->rc, &c) || pv_ud_ready(s->ud, 1, QKEY))
			die("connect");
	}
	for (i = 0; i < 2; i++) {
		post_recvs(&sides[i], sides[i].rc, 0);
		post_recvs(&sides[i], sides[i].ud, 0);
	}
}

static void pick_sge(struct side *s, struct ibv_sge *sge)
{
	uint32_t keys[] = { s->mr->lkey, s->mr2->lkey,
			    s->ram_mr ? s->ram_mr->lkey : s->mr->lkey,
			    s->mr->lkey ^ 1, s->mr->lkey + 0x100, 0, (uint32_t)rnd() };
	int k = chance(70) ? 0 : below(sizeof(keys) / sizeof(keys[0]));

	if (k == 2 && s->ram_mr) {
		sge->addr = pick_addr(RAM_LEN / 4, RAM_LEN / 2);
		sge->length = pick_len(RAM_LEN / 2);
	} else {
		sge->addr = pick_addr(mr_base(s), MR_LEN);
		sge->length = pick_len(MR_LEN);
	}
	sge->lkey = keys[k];
}

static void post_recvs(struct side *s, struct ibv_qp *qp, int hostile)
{
	struct ibv_sge sge[4];
	struct ibv_recv_wr wr = { .sg_list = sge }, *bad;
	int i, j;

	for (i = 0; i < RECV_DEPTH; i++) {
		wr.num_sge = hostile ? below(5) : 1;
		for (j = 0; j < wr.num_sge; j++) {
			if (hostile) {
				pick_sge(s, &sge[j]);
			} else {
				sge[j].addr = mr_base(s) + below(MR_LEN / 2);
				sge[j].length = MR_LEN / 2;
				sge[j].lkey = s->mr->lkey;
			}
		}
		if (ibv_post_recv(qp, &wr, &bad))
			return;	/* full, or the QP is in error */
	}
}

/* Write @w into the next slot of @ibqp's send ring, as a provider would. */
static int raw_post(struct ibv_qp *ibqp, const struct phyrdma_send_wqe *w,
		    const struct phyrdma_sge *sge, unsigned int nsge, int wild)
{
	struct phyrdma_qp *qp = to_pqp(ibqp);
	struct phyrdma_ring *r = &qp->sq;
	size_t stride = 1ul << r->log_stride, n;
	unsigned char *slot;
	int ret = 0;

	pthread_spin_lock(&qp->sq_lock);
	if (r->index - __atomic_load_n(&r->hdr->consumer, __ATOMIC_ACQUIRE) >=
	    r->entries) {
		ret = ENOMEM;
		goto out;
	}
	slot = (unsigned char *)r->va + PHYRDMA_RING_HDR_SIZE +
	       ((size_t)(r->index & (r->entries - 1)) << r->log_stride);
	memcpy(slot, w, sizeof(*w));
	n = nsge * sizeof(*sge);
	if (sizeof(*w) + n > stride)
		n = stride - sizeof(*w);
	memcpy(slot + sizeof(*w), sge, n);
	r->index++;
	/* a producer index that jumps past the ring: the device must refuse it */
	__atomic_store_n(&r->hdr->producer, wild ? r->index + r->entries + below(1000) :
			 r->index, __ATOMIC_RELEASE);
out:
	pthread_spin_unlock(&qp->sq_lock);
	return ret;
}

/* The doorbell method, as the provider rings it: 0 or the errno. */
static int doorbell(struct ibv_qp *qp)
{
	struct {
		struct ib_uverbs_ioctl_hdr hdr;
		struct ib_uverbs_attr attr;
	} cmd = {
		.hdr = { .length = sizeof(cmd), .object_id = UVERBS_OBJECT_QP,
			 .method_id = PHYRDMA_METHOD_QP_DOORBELL, .num_attrs = 1 },
		.attr = { .attr_id = PHYRDMA_ATTR_QP_DOORBELL_HANDLE,
			  .data = qp->handle },
	};

	return ioctl(qp->context->cmd_fd, RDMA_VERBS_IOCTL, &cmd) ? errno : 0;
}

static int qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &ia))
		die("ibv_query_qp");
	return a.qp_state;
}

/* Completions of both sides until @qp's send queue has drained, or 2 s. */
static void drain(struct ibv_qp *qp, struct tally *t)
{
	struct phyrdma_ring *r = &to_pqp(qp)->sq;
	struct timespec t0, now;
	struct ibv_wc wc[16];
	int i, j, n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		for (i = 0; i < 2; i++) {
			n = ibv_poll_cq(sides[i].cq, 16, wc);
			for (j = 0; j < n; j++) {
				if (wc[j].status > IBV_WC_TM_RNDV_INCOMPLETE)
					violation("completion status %d", wc[j].status);
				/* completions by status, apart from the posting answers */
				t->n[wc[j].status]++;
			}
		}
		if (__atomic_load_n(&r->hdr->consumer, __ATOMIC_ACQUIRE) == r->index)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= 2)
			break;
		usleep(100);
	}
}

static void random_wqe(struct side *s, struct side *p, int ud,
		       struct phyrdma_send_wqe *w, struct phyrdma_sge *sge,
		       unsigned int *nsge)
{
	uint32_t rkeys[] = { p->mr->rkey, p->ram_mr ? p->ram_mr->rkey : p->mr->rkey,
			     p->mr2->rkey, p->mr->rkey ^ 1, 0, (uint32_t)rnd() };
	struct ibv_sge isge;
	unsigned int i;

	memset(w, 0, sizeof(*w));
	w->wr_id = rnd();
	w->opcode = chance(85) ? below(PHYRDMA_WR_LOCAL_INV + 2) : (uint8_t)rnd();
	w->flags = chance(80) ? PHYRDMA_WQE_SIGNALED : (uint8_t)rnd();
	*nsge = chance(90) ? below(5) : (uint8_t)rnd();
	w->num_sge = *nsge;
	if (chance(10))
		w->reserved0 = rnd();
	w->imm_data = rnd();
	for (i = 0; i < 4; i++) {
		pick_sge(s, &isge);
		sge[i].addr = isge.addr;
		sge[i].length = isge.length;
		sge[i].lkey = isge.lkey;
	}
	if (ud) {
		w->ud.remote_qpn = chance(70) ? p->ud->qp_num :
				   chance(50) ? 0xffffff : (uint32_t)rnd();
		w->ud.remote_qkey = chance(80) ? QKEY : (uint32_t)rnd();
		memcpy(w->ud.av.dgid, chance(80) ? p->gid.raw : s->gid.raw, 16);
		if (chance(10))
			w->ud.av.dgid[below(16)] = rnd();
		w->ud.av.sgid_index = chance(80) ? s->gid_index : (uint8_t)rnd();
		w->ud.av.hop_limit = rnd();
		return;
	}
	i = below(sizeof(rkeys) / sizeof(rkeys[0]));
	w->rdma.rkey = chance(70) ? rkeys[0] : rkeys[i];
	w->rdma.remote_addr = i == 1 && p->ram_mr ? pick_addr(RAM_LEN / 4, RAM_LEN / 2) :
			      pick_addr(mr_base(p), MR_LEN);
	if (chance(50))
		w->rdma.remote_addr &= ~7ULL;	/* atomics need alignment */
	w->rdma.compare_add = rnd();
	w->rdma.swap = rnd();
	if (chance(10))
		w->rdma.reserved = rnd();
}

static void fuzz_wqe(unsigned long iters)
{
	struct phyrdma_send_wqe w;
	struct phyrdma_sge sge[4];
	struct tally t = { 0 }, wc = { 0 };
	unsigned long it;
	unsigned int nsge;

	connect_all();
	for (it = 0; it < iters; it++) {
		int from = below(2), ud = chance(25), wild = chance(2);
		struct side *s = &sides[from], *p = &sides[!from];
		struct ibv_qp *qp = ud ? s->ud : s->rc;

		random_wqe(s, p, ud, &w, sge, &nsge);
		if (chance(20))
			post_recvs(p, ud ? p->ud : p->rc, 1);
		tally(&t, raw_post(qp, &w, sge, nsge < 4 ? nsge : 4, wild));
		tally(&t, doorbell(qp));
		if (wild)
			usleep(10000);	/* the device refuses it: QP fatal */
		else
			drain(qp, &wc);
		guards_check(0, it);
		guards_check(1, it);
		if (qp_state(s->rc) != IBV_QPS_RTS || qp_state(p->rc) != IBV_QPS_RTS ||
		    qp_state(s->ud) != IBV_QPS_RTS || qp_state(p->ud) != IBV_QPS_RTS ||
		    chance(5)) {
			connect_all();
			/* what the reset left behind */
			drain(qp, &wc);
		}
	}
	tally_print("wqe", &t);
	printf("wqe-completions:");
	for (unsigned int i = 0; i < 134; i++)
		if (wc.n[i])
			printf(" %s=%lu", ibv_wc_status_str(i), wc.n[i]);
	printf("\n");
}

/* ---- raw uverbs commands ------------------------------------------------- */

/*
 * One write() command: @cmd (core part first, @cmd_len bytes, then @drv_len
 * bytes of driver data) and a response of @resp_len bytes.
 */
static int uverbs_write(int fd, uint32_t command, void *cmd, size_t cmd_len,
			size_t drv_len, void *resp, size_t resp_len, int *dirty)
{
	unsigned char buf[512];
	struct ib_uverbs_cmd_hdr *h = (void *)buf;
	size_t in = sizeof(*h) + cmd_len + drv_len;

	h->command = command;
	h->in_words = in / 4;
	h->out_words = resp_len / 4;
	memcpy(buf + sizeof(*h), cmd, cmd_len);
	if (dirty)
		*dirty = 0;
	for (size_t i = 0; i < drv_len; i++) {
		buf[sizeof(*h) + cmd_len + i] = chance(60) ? 0 : (unsigned char)rnd();
		if (dirty && buf[sizeof(*h) + cmd_len + i])
			*dirty = 1;
	}
	/* a command with a response has its pointer first */
	if (resp)
		*(uint64_t *)(buf + sizeof(*h)) = (uintptr_t)resp;
	if (write(fd, buf, in) == (ssize_t)in)
		return 0;
	return errno;
}

/*
 * CREATE_@what with @drv bytes of random driver data and a @rlen-byte
 * response, then DESTROY_@what of what it made (CQ, QP and SRQ destroy
 * commands and create responses share their layout: the handle first).
 */
static void create_destroy(int fd, struct tally *t, const char *what,
			   uint32_t create, void *cmd, size_t cmd_len,
			   size_t drv, size_t rlen, uint32_t destroy)
{
	struct {
		__aligned_u64 response;
		__u32 handle;
		__u32 reserved;
	} d = { 0 };
	unsigned char resp[256] = { 0 };
	__u32 dresp[2];
	int err, dirty;

	err = uverbs_write(fd, create, cmd, cmd_len, drv, resp, rlen, &dirty);
	tally(t, err);
	if (err)
		return;
	if (dirty)
		violation("CREATE_%s with non-zero driver data succeeded", what);
	memcpy(&d.handle, resp, sizeof(d.handle));
	if (uverbs_write(fd, destroy, &d, sizeof(d), 0, dresp, sizeof(dresp), NULL))
		violation("DESTROY_%s of a created %s failed", what, what);
}

static void fuzz_udata(unsigned long iters)
{
	struct side *s = &sides[0];
	int fd = s->ctx->cmd_fd;
	struct tally t = { 0 };
	unsigned char resp[256];
	unsigned long it;

	for (it = 0; it < iters; it++) {
		size_t drv = below(5) == 0 ? below(64) : below(3) * 4;
		size_t rlen = (below(2) ? 16 + below(64) : below(160)) & ~3ul;
		int op = below(4), err;

		memset(resp, 0, sizeof(resp));
		if (op == 0) {
			struct ib_uverbs_create_cq c = { 0 };

			c.cqe = chance(80) ? 1 + below(512) : (uint32_t)pick_edge();
			c.comp_channel = -1;
			c.comp_vector = chance(90) ? 0 : rnd();
			create_destroy(fd, &t, "CQ", IB_USER_VERBS_CMD_CREATE_CQ, &c,
				       sizeof(c), drv, rlen, IB_USER_VERBS_CMD_DESTROY_CQ);
		} else if (op == 1) {
			struct ib_uverbs_create_qp c = { 0 };

			c.pd_handle = chance(90) ? s->pd->handle : rnd();
			c.send_cq_handle = s->cq->handle;
			c.recv_cq_handle = s->cq->handle;
			c.max_send_wr = chance(80) ? below(64) : (uint32_t)pick_edge();
			c.max_recv_wr = chance(80) ? below(64) : (uint32_t)pick_edge();
			c.max_send_sge = below(40);
			c.max_recv_sge = below(40);
			c.max_inline_data = chance(80) ? below(512) : (uint32_t)pick_edge();
			c.qp_type = chance(80) ? (below(2) ? IBV_QPT_RC : IBV_QPT_UD) : below(16);
			create_destroy(fd, &t, "QP", IB_USER_VERBS_CMD_CREATE_QP, &c,
				       sizeof(c), drv, rlen, IB_USER_VERBS_CMD_DESTROY_QP);
		} else if (op == 2) {
			struct ib_uverbs_create_srq c = { 0 };

			c.pd_handle = s->pd->handle;
			c.max_wr = chance(80) ? 1 + below(64) : (uint32_t)pick_edge();
			c.max_sge = below(40);
			c.srq_limit = chance(80) ? 0 : rnd();
			create_destroy(fd, &t, "SRQ", IB_USER_VERBS_CMD_CREATE_SRQ, &c,
				       sizeof(c), drv, rlen, IB_USER_VERBS_CMD_DESTROY_SRQ);
		} else {
			struct ib_uverbs_alloc_pd c = { 0 };

			drv = below(3) * 4;
			err = uverbs_write(fd, IB_USER_VERBS_CMD_ALLOC_PD, &c, sizeof(c),
					   drv, resp, rlen, NULL);
			tally(&t, err);
			if (!err) {
				struct ib_uverbs_alloc_pd_resp *r = (void *)resp;
				struct ib_uverbs_dealloc_pd d = { .pd_handle = r->pd_handle };

				if (uverbs_write(fd, IB_USER_VERBS_CMD_DEALLOC_PD, &d,
						 sizeof(d), 0, NULL, 0, NULL))
					violation("DEALLOC_PD of a created PD failed");
			}
		}
	}
	tally_print("udata", &t);
}

/* ---- mmap of the uverbs file --------------------------------------------- */

/* A CQ made by a raw command, with the driver's whole response. */
static int raw_cq(int fd, uint32_t *handle, struct phyrdma_create_cq_resp *drv)
{
	struct {
		struct ib_uverbs_create_cq_resp core;
		struct phyrdma_create_cq_resp drv;
	} r = { 0 };
	struct ib_uverbs_create_cq c = { .cqe = 1 + below(256), .comp_channel = -1 };
	struct phyrdma_create_cq_req req = { 0 };
	unsigned char buf[sizeof(struct ib_uverbs_cmd_hdr) + sizeof(c) + sizeof(req)];
	struct ib_uverbs_cmd_hdr *h = (void *)buf;

	c.response = (uintptr_t)&r;
	h->command = IB_USER_VERBS_CMD_CREATE_CQ;
	h->in_words = sizeof(buf) / 4;
	h->out_words = sizeof(r) / 4;
	memcpy(buf + sizeof(*h), &c, sizeof(c));
	memcpy(buf + sizeof(*h) + sizeof(c), &req, sizeof(req));
	if (write(fd, buf, sizeof(buf)) != sizeof(buf))
		return errno;
	*handle = r.core.cq_handle;
	*drv = r.drv;
	return 0;
}

static int raw_destroy_cq(int fd, uint32_t handle)
{
	struct ib_uverbs_destroy_cq_resp dr;
	struct ib_uverbs_destroy_cq d = { .cq_handle = handle };

	return uverbs_write(fd, IB_USER_VERBS_CMD_DESTROY_CQ, &d, sizeof(d), 0,
			    &dr, sizeof(dr), NULL);
}

static void fuzz_mmap(unsigned long iters)
{
	struct side *s = &sides[0];
	int fd = s->ctx->cmd_fd;
	struct tally t = { 0 };
	unsigned long it;
	long pg = sysconf(_SC_PAGESIZE);

	for (it = 0; it < iters; it++) {
		struct phyrdma_create_cq_resp drv;
		uint64_t off;
		size_t len, right;
		int prot = chance(80) ? PROT_READ | PROT_WRITE : PROT_READ | PROT_EXEC;
		int flags = chance(90) ? MAP_SHARED : MAP_PRIVATE;
		uint32_t handle;
		void *va;
		int gone = chance(20);

		/* a real queue's offset and length, moved a little or a lot */
		if (raw_cq(fd, &handle, &drv))
			die("raw CREATE_CQ");
		right = drv.mmap_length;
		off = drv.mmap_offset;
		len = right;
		switch (below(5)) {
		case 0:
			break;
		case 1:
			off += (below(3) - 1) * pg;
			break;
		case 2:
			len = right + (below(3) - 1) * pg;
			break;
		case 3:
			len = chance(50) ? pick_edge() : (1 + below(64)) * pg;
			break;
		default:
			off = chance(50) ? below(1 << 12) * pg : rnd() & ~(pg - 1);
			break;
		}
		/* after its CQ is gone, a queue's offset maps nothing */
		if (gone && raw_destroy_cq(fd, handle))
			violation("DESTROY_CQ of a created CQ failed");
		va = mmap(NULL, len, prot, flags, fd, off);
		if (va == MAP_FAILED) {
			tally(&t, errno);
		} else {
			tally(&t, 0);
			if (gone && off == drv.mmap_offset)
				violation("the ring of a destroyed CQ could be mapped");
			if (len > right && off == drv.mmap_offset)
				violation("a %zu-byte ring mapped over %zu bytes", right, len);
			(void)*(volatile unsigned char *)va;
			(void)*((volatile unsigned char *)va + len - 1);
			munmap(va, len);
		}
		if (!gone && raw_destroy_cq(fd, handle))
			violation("DESTROY_CQ of a created CQ failed");
	}
	tally_print("mmap", &t);
}

/* ---- the exporter ---------------------------------------------------------- */

static void fuzz_ram(unsigned long iters)
{
	struct tally t = { 0 }, reg = { 0 };
	struct side *s = &sides[0];
	unsigned long it;

	if (phyr_ram < 0) {
		printf("ram: skipped (no /dev/phyr_ram: not root, or not loaded)\n");
		return;
	}
	for (it = 0; it < iters; it++) {
		struct phyr_ram_create c = { 0 };
		struct ibv_mr *mr;
		uint64_t off, len;
		int err, created;
		void *va;

		c.size = chance(70) ? (1 + below(64)) << 12 << below(3) : pick_edge();
		c.order = chance(80) ? below(10) : (uint32_t)rnd();
		c.flags = chance(70) ? below(4) : (uint32_t)rnd();
		c.reserved = chance(90) ? 0 : rnd();
		c.fd = rnd();
		created = 0;
		if (chance(3)) {
			/* commands the exporter does not have */
			err = ioctl(phyr_ram, _IOWR('p', 2 + below(8), struct phyr_ram_create), &c) ?
			      errno : 0;
			if (!err)
				violation("an unknown phyr_ram ioctl succeeded");
		} else if (chance(5)) {
			struct phyr_ram_layout l = { .fd = chance(50) ? s->ram_fd : (int)rnd(),
						     .nr_runs = below(3),
						     .runs = chance(50) ? 0 : rnd() };

			err = ioctl(phyr_ram, PHYR_RAM_IOC_LAYOUT, &l) ? errno : 0;
		} else {
			err = ioctl(phyr_ram, PHYR_RAM_IOC_CREATE, &c) ? errno : 0;
			if (!err && c.reserved)
				violation("CREATE with reserved %#x succeeded", c.reserved);
			created = !err;
		}
		tally(&t, err);
		if (!created)
			continue;

		off = chance(70) ? below(c.size / 4096) * 4096 : pick_edge();
		len = chance(70) ? c.size - (off < c.size ? off : 0) : pick_edge();
		va = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  chance(90) ? MAP_SHARED : MAP_PRIVATE, c.fd, off);
		if (va != MAP_FAILED) {
			if (off + len > c.size || off + len < off)
				violation("mmap of %#" PRIx64 "+%#" PRIx64 " beyond a %#llx dma-buf",
					  off, len, (unsigned long long)c.size);
			memset(va, 0x5a, len < 8192 ? len : 8192);
			munmap(va, len);
		}
		off = chance(60) ? below(c.size) & ~4095ULL : pick_edge();
		len = chance(60) ? c.size - (off < c.size ? off : 0) : pick_edge();
		mr = ibv_reg_dmabuf_mr(chance(90) ? s->pd : s->pd2, off, len,
				       chance(70) ? off : pick_addr(off, len), c.fd,
				       chance(80) ? all_access : (int)rnd());
		tally(&reg, mr ? 0 : errno);
		if (mr) {
			if (off + len > c.size || off + len < off || !len)
				violation("reg_dmabuf_mr of %#" PRIx64 "+%#" PRIx64
					  " in a %#llx dma-buf succeeded", off, len,
					  (unsigned long long)c.size);
			if (ibv_dereg_mr(mr))
				violation("dereg of a registered MR failed");
		}
		close(c.fd);
	}
	tally_print("ram", &t);
	tally_print("ram-reg", &reg);
}

/*
 * The GPU exporter: creates of any size, chunk and flags, revokes and
 * restores at random, mmaps and registrations on both sides of a revoke.
 * Invariants: a refused request never succeeds, a revoked buffer neither
 * maps nor registers, and an MR made before a revoke is dead after it.
 */
static void fuzz_mmio(unsigned long iters)
{
	struct tally t = { 0 }, reg = { 0 };
	struct side *s = &sides[0];
	unsigned long it;
	int gpu;

	gpu = open("/dev/phyr_mmio0", O_RDWR | O_CLOEXEC);
	if (gpu < 0) {
		printf("mmio: skipped (no /dev/phyr_mmio0: not root, or no GPU)\n");
		return;
	}
	for (it = 0; it < iters; it++) {
		struct phyr_mmio_create c = { 0 };
		struct phyr_mmio_revoke r;
		struct ibv_mr *mr, *before = NULL;
		int err, revoked = 0;
		uint64_t off, len;
		void *va;

		c.size = chance(70) ? (1 + below(64)) << 12 << below(4) : pick_edge();
		c.chunk = chance(50) ? 0 : chance(80) ? 4096ULL << below(10) : pick_edge();
		c.flags = chance(80) ? below(4) : (uint32_t)rnd();
		c.reserved = chance(90) ? 0 : rnd();
		c.fd = rnd();
		if (chance(3)) {
			err = ioctl(gpu, _IOWR('q', 3 + below(8), struct phyr_mmio_create), &c) ?
			      errno : 0;
			if (!err)
				violation("an unknown phyr_mmio ioctl succeeded");
			tally(&t, err);
			continue;
		}
		err = ioctl(gpu, PHYR_MMIO_IOC_CREATE, &c) ? errno : 0;
		if (!err && (c.reserved || (c.flags & ~3u)))
			violation("CREATE with reserved %#llx flags %#x succeeded",
				  (unsigned long long)c.reserved, c.flags);
		tally(&t, err);
		if (err)
			continue;

		off = chance(70) ? below(c.size / 4096) * 4096 : pick_edge();
		len = chance(70) ? c.size - (off < c.size ? off : 0) : pick_edge();
		if (chance(50))
			before = ibv_reg_dmabuf_mr(s->pd, off, len, off, c.fd, all_access);
		r.fd = chance(95) ? c.fd : (int)rnd();
		r.revoke = chance(90) ? below(2) : (uint32_t)rnd();
		err = ioctl(gpu, PHYR_MMIO_IOC_REVOKE, &r) ? errno : 0;
		if (!err && r.revoke > 1)
			violation("REVOKE %u succeeded", r.revoke);
		revoked = !err && r.fd == c.fd && r.revoke == 1;
		tally(&t, err);

		va = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  chance(90) ? MAP_SHARED : MAP_PRIVATE, c.fd, off);
		if (va != MAP_FAILED) {
			if (revoked)
				violation("mmap of a revoked buffer succeeded");
			if (off + len > c.size || off + len < off)
				violation("mmap of %#" PRIx64 "+%#" PRIx64 " beyond a %#llx dma-buf",
					  off, len, (unsigned long long)c.size);
			memset(va, 0x5a, len < 8192 ? len : 8192);
			munmap(va, len);
		}
		mr = ibv_reg_dmabuf_mr(chance(90) ? s->pd : s->pd2, off, len,
				       chance(70) ? off : pick_addr(off, len), c.fd,
				       chance(80) ? all_access : (int)rnd());
		tally(&reg, mr ? 0 : errno);
		if (mr && revoked)
			violation("reg_dmabuf_mr of a revoked buffer succeeded");
		if (mr && (off + len > c.size || off + len < off || !len))
			violation("reg_dmabuf_mr of %#" PRIx64 "+%#" PRIx64
				  " in a %#llx dma-buf succeeded", off, len,
				  (unsigned long long)c.size);
		if (mr && ibv_dereg_mr(mr))
			violation("dereg of a registered MR failed");
		if (before && ibv_dereg_mr(before))
			violation("dereg of an MR made before a revoke failed");
		close(c.fd);
	}
	close(gpu);
	tally_print("mmio", &t);
	tally_print("mmio-reg", &reg);
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "wqe", "udata", "mmap", "ram", "mmio" };
	void (*const fns[])(unsigned long) = { fuzz_wqe, fuzz_udata, fuzz_mmap, fuzz_ram,
					       fuzz_mmio };
	unsigned long iters = 1000, done = 0;
	uint64_t seed = 1;
	int opt, i, j, all;

	while ((opt = getopt(argc, argv, "s:n:")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			iters = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: phyrdma-fuzz [-s SEED] [-n N] [wqe|udata|mmap|ram|mmio...]\n");
			return 2;
		}
	}
	for (i = optind; i < argc; i++) {
		for (j = 0; j < 5 && strcmp(argv[i], names[j]); j++)
			;
		if (j == 5) {
			fprintf(stderr, "phyrdma-fuzz: no target %s\n", argv[i]);
			return 2;
		}
	}
	rng = seed ? seed : 1;
	phyr_ram = open("/dev/phyr_ram", O_RDWR | O_CLOEXEC);
	side_open(0, "phyrdma0");
	side_open(1, "phyrdma1");
	all = optind == argc;
	for (j = 0; j < 5; j++) {
		for (i = optind; i < argc && strcmp(argv[i], names[j]); i++)
			;
		if (all || i < argc) {
			fns[j](iters);
			done += iters;
		}
	}
	side_close(&sides[0]);
	side_close(&sides[1]);
	if (phyr_ram >= 0)
		close(phyr_ram);
	printf("fuzz: %lu iterations, %lu violations, seed %" PRIu64 "\n",
	       done, violations, seed);
	return violations ? 1 : 0;
}
