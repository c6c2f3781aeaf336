// SPDX-License-Identifier: GPL-2.0
/*
 * phyrdma verbs layer: struct ib_device_ops for the device, the port and
 * the user objects, translated to the device layer in hw/.
 *
 * Every op taking a udata validates its input (unknown comp_mask bits,
 * non-zero reserved fields, trailing garbage) and answers through
 * ib_respond_udata(), so an older or newer provider is either served
 * correctly or refused with a clear errno.
 */
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_mad.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>

#include "phyrdma.h"

/* room for one CQ of max_cqe entries (256 MiB) and the queues beside it */
static unsigned long max_ctx_queue_bytes = SZ_512M;
module_param(max_ctx_queue_bytes, ulong, 0644);
MODULE_PARM_DESC(max_ctx_queue_bytes,
		 "queue memory one user context may hold (default 512 MiB)");

static int phyrdma_query_device(struct ib_device *ibdev,
				struct ib_device_attr *attr,
				struct ib_udata *udata)
{
	struct phyrdma_dev *dev = to_pdev(ibdev);
	const struct phyrdma_hw_caps *caps = &dev->hw.caps;
	int ret;

	ret = ib_no_udata_io(udata);
	if (ret)
		return ret;

	memset(attr, 0, sizeof(*attr));
	attr->fw_ver = caps->fw_ver;
	attr->sys_image_guid = ibdev->node_guid;
	attr->vendor_id = caps->vendor_id;
	attr->vendor_part_id = caps->part_id;
	attr->hw_ver = caps->hw_rev;
	attr->page_size_cap = caps->page_size_cap;
	attr->max_pd = caps->max_pd;
	attr->max_pkeys = 1;
	attr->max_mr = caps->max_mr;
	attr->max_mr_size = caps->max_mr_size;
	attr->max_qp = caps->max_qp;
	attr->max_qp_wr = PHYRDMA_MAX_QP_WR;
	attr->max_send_sge = PHYRDMA_MAX_SGE;
	attr->max_recv_sge = PHYRDMA_MAX_SGE;
	attr->max_sge_rd = PHYRDMA_MAX_SGE;
	attr->max_cq = caps->max_cq;
	attr->max_cqe = PHYRDMA_MAX_CQE;
	attr->max_qp_rd_atom = PHYRDMA_HW_MAX_RD_ATOMIC;
	attr->max_qp_init_rd_atom = PHYRDMA_HW_MAX_RD_ATOMIC;
	attr->max_res_rd_atom = PHYRDMA_HW_MAX_RD_ATOMIC * caps->max_qp;
	attr->atomic_cap = IB_ATOMIC_HCA;
	attr->max_ah = caps->max_qp * 4;
	attr->max_srq = caps->max_qp;
	attr->max_mw = caps->max_mr;
	attr->max_srq_wr = PHYRDMA_MAX_QP_WR;
	attr->max_srq_sge = PHYRDMA_MAX_SGE;
	attr->max_mcast_grp = caps->max_mcg;
	attr->max_mcast_qp_attach = caps->mcg_qps;
	attr->max_total_mcast_qp_attach = caps->max_mcg * caps->mcg_qps;
	attr->local_ca_ack_delay = 15;
	attr->device_cap_flags = IB_DEVICE_RC_RNR_NAK_GEN |
				 IB_DEVICE_SYS_IMAGE_GUID |
				 IB_DEVICE_FLUSH_GLOBAL |
				 IB_DEVICE_FLUSH_PERSISTENT |
				 IB_DEVICE_ATOMIC_WRITE |
				 IB_DEVICE_MEM_WINDOW |
				 IB_DEVICE_MEM_WINDOW_TYPE_2B;
	attr->kernel_cap_flags = IBK_LOCAL_DMA_LKEY;
	phyrdma_odp_caps(attr);
	return 0;
}

static void phyrdma_get_dev_fw_str(struct ib_device *ibdev, char *str)
{
	u64 fw = to_pdev(ibdev)->hw.caps.fw_ver;

	snprintf(str, IB_FW_VERSION_NAME_MAX, "%u.%u", PHYRDMA_FW_VER_MAJOR(fw),
		 PHYRDMA_FW_VER_MINOR(fw));
}

static int phyrdma_query_port(struct ib_device *ibdev, u32 port,
			      struct ib_port_attr *attr)
{
	struct phyrdma_dev *dev = to_pdev(ibdev);
	struct net_device *ndev = dev->netdev;

	/* ib_core zeroed *attr; a RoCE v2 port on the device's netdev */
	attr->state = ib_get_curr_port_state(ndev);
	if (attr->state == IB_PORT_ACTIVE)
		attr->phys_state = IB_PORT_PHYS_STATE_LINK_UP;
	else if (READ_ONCE(ndev->flags) & IFF_UP)
		attr->phys_state = IB_PORT_PHYS_STATE_POLLING;
	else
		attr->phys_state = IB_PORT_PHYS_STATE_DISABLED;
	attr->max_mtu = IB_MTU_4096;
	attr->active_mtu = ib_mtu_int_to_enum(READ_ONCE(ndev->mtu));
	if (attr->active_mtu > IB_MTU_4096)
		attr->active_mtu = IB_MTU_4096;
	attr->gid_tbl_len = PHYRDMA_HW_GID_TBL_LEN;
	attr->pkey_tbl_len = 1;
	attr->max_msg_sz = dev->hw.caps.max_msg_sz;
	attr->port_cap_flags = IB_PORT_CM_SUP;
	attr->max_vl_num = 1;
	attr->active_width = IB_WIDTH_4X;
	attr->active_speed = IB_SPEED_EDR;
	return 0;
}

static enum rdma_link_layer phyrdma_get_link_layer(struct ib_device *ibdev,
						   u32 port)
{
	return IB_LINK_LAYER_ETHERNET;
}

static int phyrdma_get_port_immutable(struct ib_device *ibdev, u32 port,
				      struct ib_port_immutable *immutable)
{
	/* RoCE v2 only: GIDs are the netdev's IP addresses (docs/design.md) */
	immutable->core_cap_flags = RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
	immutable->pkey_tbl_len = 1;
	immutable->gid_tbl_len = PHYRDMA_HW_GID_TBL_LEN;
	immutable->max_mad_size = IB_MGMT_MAD_SIZE;
	return 0;
}

/* ib_core's RoCE GID table programs the device's address table. */
static int phyrdma_add_gid(const struct ib_gid_attr *attr, void **context)
{
	struct phyrdma_dev *dev = to_pdev(attr->device);

	if (attr->gid_type != IB_GID_TYPE_ROCE_UDP_ENCAP)
		return -EINVAL;
	phyrdma_hw_set_gid(&dev->hw, attr->index, attr->gid.raw);
	return 0;
}

static int phyrdma_del_gid(const struct ib_gid_attr *attr, void **context)
{
	phyrdma_hw_clear_gid(&to_pdev(attr->device)->hw, attr->index);
	return 0;
}

static int phyrdma_query_pkey(struct ib_device *ibdev, u32 port, u16 index,
			      u16 *pkey)
{
	if (index != 0)
		return -EINVAL;
	*pkey = IB_DEFAULT_PKEY_FULL;
	return 0;
}

int phyrdma_charge(struct phyrdma_ucontext *uctx, size_t bytes)
{
	if (!uctx)
		return 0;
	if (atomic64_add_return(bytes, &uctx->queue_bytes) >
	    READ_ONCE(max_ctx_queue_bytes)) {
		atomic64_sub(bytes, &uctx->queue_bytes);
		return -ENOMEM;
	}
	return 0;
}

void phyrdma_uncharge(struct phyrdma_ucontext *uctx, size_t bytes)
{
	if (uctx)
		atomic64_sub(bytes, &uctx->queue_bytes);
}

/**
 * phyrdma_memlock_charge - count what an object makes the kernel hold
 * @uctx: the context the object belongs to (NULL: a kernel consumer's)
 * @bytes: kernel memory the object holds for its owner: an MR's MTT pages
 *	and state, a window's entry
 * @charged: output: what to hand phyrdma_memlock_uncharge() when it goes
 *
 * /dev/infiniband/uverbs* is open to every user, and an MR of a dma-buf
 * pins nothing of the caller's, yet every MR and window holds kernel memory
 * that no reclaim can free.  That memory counts against the caller's
 * RLIMIT_MEMLOCK, in the owner's user->locked_vm as io_uring's rings and
 * iommufd's pages do, so one user cannot make the kernel hold more for him
 * than he could lock himself, however many processes and contexts he
 * opens.  A context rounds the sum of its objects up to pages, not each
 * object.  CAP_IPC_LOCK exempts, as it does for pinning.
 *
 * Return: 0; -ENOMEM past the limit.
 */
int phyrdma_memlock_charge(struct phyrdma_ucontext *uctx, u64 bytes,
			   u64 *charged)
{
	unsigned long limit, want, more, cur;
	int ret = 0;

	*charged = 0;
	if (!uctx || !bytes || capable(CAP_IPC_LOCK))
		return 0;
	limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	spin_lock(&uctx->lock_lock);
	want = DIV_ROUND_UP_ULL(uctx->locked_bytes + bytes, PAGE_SIZE);
	more = want - uctx->locked_pages;
	if (more) {
		cur = atomic_long_read(&uctx->user->locked_vm);
		do {
			if (more > limit || cur > limit - more) {
				ret = -ENOMEM;
				goto out;
			}
		} while (!atomic_long_try_cmpxchg(&uctx->user->locked_vm,
						  &cur, cur + more));
	}
	uctx->locked_pages = want;
	uctx->locked_bytes += bytes;
	*charged = bytes;
out:
	spin_unlock(&uctx->lock_lock);
	return ret;
}

void phyrdma_memlock_uncharge(struct phyrdma_ucontext *uctx, u64 charged)
{
	unsigned long want;

	if (!charged)
		return;
	spin_lock(&uctx->lock_lock);
	uctx->locked_bytes -= charged;
	want = DIV_ROUND_UP_ULL(uctx->locked_bytes, PAGE_SIZE);
	atomic_long_sub(uctx->locked_pages - want, &uctx->user->locked_vm);
	uctx->locked_pages = want;
	spin_unlock(&uctx->lock_lock);
}

/**
 * phyrdma_ring_expose - let the process of @uctx map @ring
 * @dev: the device
 * @uctx: the owner
 * @ring: a ring of a queue being created; it then belongs to the mapping,
 *	which frees it (and uncharges it) once removed and unused
 * @out: the mapping, for phyrdma_ring_unexpose() at destroy
 * @offset: the mmap offset to hand to the process
 *
 * Return: 0; -ENOMEM; an error of rdma_user_mmap_entry_insert().
 */
int phyrdma_ring_expose(struct phyrdma_dev *dev, struct phyrdma_ucontext *uctx,
			struct phyrdma_hw_ring *ring,
			struct rdma_user_mmap_entry **out, u64 *offset)
{
	struct phyrdma_mmap_entry *e;
	int ret;

	e = kzalloc_obj(*e, GFP_KERNEL_ACCOUNT);
	if (!e)
		return -ENOMEM;
	e->dev = dev;
	e->uctx = uctx;
	e->ring = *ring;
	ret = rdma_user_mmap_entry_insert(&uctx->ibucontext, &e->rdma_entry,
					  ring->size);
	if (ret) {
		kfree(e);
		return ret;
	}
	ring->external = true;
	*out = &e->rdma_entry;
	*offset = rdma_user_mmap_get_offset(&e->rdma_entry);
	phyrdma_count(dev, PHYRDMA_CNT_MMAPS, 1);
	return 0;
}

/**
 * phyrdma_ring_unexpose - undo phyrdma_ring_expose(), if it was done
 * @mmap: the entry phyrdma_ring_expose() gave, or NULL if it was not called
 *	or failed
 * @size: the ring's size, as charged
 *
 * A ring handed to a mapping is freed and uncharged when the last of the
 * mapping goes (phyrdma_mmap_free()), which may be after the queue is
 * destroyed; a ring never handed over is its owner's to free and uncharge.
 *
 * Return: the bytes the mapping took over from the caller's charge: @size
 * if there was a mapping, 0 if not.
 */
size_t phyrdma_ring_unexpose(struct rdma_user_mmap_entry *mmap, size_t size)
{
	if (!mmap)
		return 0;
	rdma_user_mmap_entry_remove(mmap);
	return size;
}

void phyrdma_mmap_free(struct rdma_user_mmap_entry *rdma_entry)
{
	struct phyrdma_mmap_entry *e =
		container_of(rdma_entry, struct phyrdma_mmap_entry, rdma_entry);

	phyrdma_hw_ring_free(&e->dev->hw, &e->ring);
	phyrdma_uncharge(e->uctx, e->ring.size);
	phyrdma_count(e->dev, PHYRDMA_CNT_MMAPS, -1);
	kfree(e);
}

/*
 * A ring is mapped page by page, each page held by the mapping, so that
 * unmapping late (after the queue is destroyed, or the device gone) never
 * reaches freed memory.  Shared, non-executable mappings only.
 */
int phyrdma_mmap(struct ib_ucontext *ibuctx, struct vm_area_struct *vma)
{
	struct rdma_user_mmap_entry *rdma_entry;
	struct phyrdma_mmap_entry *e;
	unsigned long i, npages;
	int ret = 0;

	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	rdma_entry = rdma_user_mmap_entry_get(ibuctx, vma);
	if (!rdma_entry)
		return -EINVAL;
	e = container_of(rdma_entry, struct phyrdma_mmap_entry, rdma_entry);
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	vm_flags_clear(vma, VM_MAYEXEC);
	npages = e->ring.size >> PAGE_SHIFT;
	for (i = 0; i < npages && !ret; i++)
		ret = vm_insert_page(vma, vma->vm_start + (i << PAGE_SHIFT),
				     e->ring.pages[i]);
	rdma_user_mmap_entry_put(rdma_entry);
	return ret;
}

static int phyrdma_alloc_ucontext(struct ib_ucontext *ibuctx,
				  struct ib_udata *udata)
{
	struct phyrdma_dev *dev = to_pdev(ibuctx->device);
	struct phyrdma_alloc_ucontext_resp resp = {};
	struct phyrdma_alloc_ucontext_req req = {};
	int ret;

	ret = phyrdma_udata_in(udata, req);
	if (ret)
		return ret;

	atomic64_set(&to_puctx(ibuctx)->queue_bytes, 0);
	atomic_set(&to_puctx(ibuctx)->qps, 0);
	atomic_set(&to_puctx(ibuctx)->cqs, 0);
	spin_lock_init(&to_puctx(ibuctx)->lock_lock);
	resp.iommu_mode = dev->hw.iommu_mode;
	resp.page_size_cap = dev->hw.caps.page_size_cap;
	ret = ib_respond_udata(udata, resp);
	if (ret)
		return ret;

	to_puctx(ibuctx)->user = get_current_user();
	phyrdma_count(dev, PHYRDMA_CNT_UCONTEXTS, 1);
	return 0;
}

static void phyrdma_dealloc_ucontext(struct ib_ucontext *ibuctx)
{
	/* every MR and window went first, and took its charge with it */
	free_uid(to_puctx(ibuctx)->user);
	phyrdma_count(to_pdev(ibuctx->device), PHYRDMA_CNT_UCONTEXTS, -1);
}

/*
 * The rings a process maps are pages it holds itself (see phyrdma_mmap()),
 * so nothing needs zapping: the device simply stops using them when ib_core
 * destroys the objects.  Implementing the op still matters: it tells
 * ib_uverbs that the device can be unregistered while userspace holds it,
 * instead of pinning the module.
 */
static void phyrdma_disassociate_ucontext(struct ib_ucontext *ibuctx)
{
}

static int phyrdma_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	struct phyrdma_dev *dev = to_pdev(ibpd->device);
	struct phyrdma_pd *pd = to_ppd(ibpd);
	struct phyrdma_hw_alloc_pd_result result;
	struct phyrdma_alloc_pd_resp resp = {};
	int ret;

	ret = ib_is_udata_in_empty(udata);
	if (ret)
		return ret;

	ret = phyrdma_hw_alloc_pd(&dev->hw, &result);
	if (ret)
		return ret;
	pd->pdn = result.pdn;

	if (udata) {
		resp.pdn = pd->pdn;
		ret = ib_respond_udata(udata, resp);
		if (ret)
			goto err_dealloc_pd;
	}
	phyrdma_count(dev, PHYRDMA_CNT_PDS, 1);
	return 0;

err_dealloc_pd:
	phyrdma_hw_dealloc_pd(&dev->hw, pd->pdn);
	return ret;
}

static int phyrdma_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	struct phyrdma_dev *dev = to_pdev(ibpd->device);
	int ret;

	ret = ib_no_udata_io(udata);
	if (ret)
		return ret;

	phyrdma_hw_dealloc_pd(&dev->hw, to_ppd(ibpd)->pdn);
	phyrdma_count(dev, PHYRDMA_CNT_PDS, -1);
	return 0;
}

const struct ib_device_ops phyrdma_dev_ops = {
	.owner = THIS_MODULE,
	.driver_id = RDMA_DRIVER_UNKNOWN,
	.uverbs_abi_ver = PHYRDMA_UVERBS_ABI_VERSION,
	.uverbs_robust_udata = 1,

	.add_gid = phyrdma_add_gid,
	.advise_mr = phyrdma_advise_mr,
	.alloc_mw = phyrdma_alloc_mw,
	.alloc_pd = phyrdma_alloc_pd,
	.alloc_ucontext = phyrdma_alloc_ucontext,
	.attach_mcast = phyrdma_attach_mcast,
	.create_ah = phyrdma_create_ah,
	.create_cq = phyrdma_create_cq,
	.create_qp = phyrdma_create_qp,
	.create_srq = phyrdma_create_srq,
	.create_user_ah = phyrdma_create_ah,
	.dealloc_mw = phyrdma_dealloc_mw,
	.dealloc_pd = phyrdma_dealloc_pd,
	.dealloc_ucontext = phyrdma_dealloc_ucontext,
	.del_gid = phyrdma_del_gid,
	.dereg_mr = phyrdma_dereg_mr,
	.fill_res_mr_entry = phyrdma_fill_res_mr_entry,
	.alloc_hw_device_stats = phyrdma_alloc_hw_device_stats,
	.alloc_hw_port_stats = phyrdma_alloc_hw_port_stats,
	.get_hw_stats = phyrdma_get_hw_stats,
	.destroy_ah = phyrdma_destroy_ah,
	.destroy_cq = phyrdma_destroy_cq,
	.destroy_qp = phyrdma_destroy_qp,
	.destroy_srq = phyrdma_destroy_srq,
	.detach_mcast = phyrdma_detach_mcast,
	.disassociate_ucontext = phyrdma_disassociate_ucontext,
	.get_dev_fw_str = phyrdma_get_dev_fw_str,
	.get_dma_mr = phyrdma_get_dma_mr,
	.get_link_layer = phyrdma_get_link_layer,
	.get_port_immutable = phyrdma_get_port_immutable,
	.mmap = phyrdma_mmap,
	.mmap_free = phyrdma_mmap_free,
	.modify_qp = phyrdma_modify_qp,
	.modify_srq = phyrdma_modify_srq,
	.poll_cq = phyrdma_poll_cq,
	.post_recv = phyrdma_post_recv,
	.post_send = phyrdma_post_send,
	.post_srq_recv = phyrdma_post_srq_recv,
	.query_ah = phyrdma_query_ah,
	.query_device = phyrdma_query_device,
	.query_pkey = phyrdma_query_pkey,
	.query_port = phyrdma_query_port,
	.query_qp = phyrdma_query_qp,
	.query_srq = phyrdma_query_srq,
	.reg_user_mr = phyrdma_reg_user_mr,
	.rereg_user_mr = phyrdma_rereg_user_mr,
	.reg_user_mr_dmabuf = phyrdma_reg_user_mr_dmabuf,
	.req_notify_cq = phyrdma_req_notify_cq,
	.resize_user_cq = phyrdma_resize_user_cq,

	INIT_RDMA_OBJ_SIZE(ib_ah, phyrdma_ah, ibah),
	INIT_RDMA_OBJ_SIZE(ib_cq, phyrdma_cq, ibcq),
	INIT_RDMA_OBJ_SIZE(ib_mw, phyrdma_mw, ibmw),
	INIT_RDMA_OBJ_SIZE(ib_pd, phyrdma_pd, ibpd),
	INIT_RDMA_OBJ_SIZE(ib_qp, phyrdma_qp, ibqp),
	INIT_RDMA_OBJ_SIZE(ib_srq, phyrdma_srq, ibsrq),
	INIT_RDMA_OBJ_SIZE(ib_ucontext, phyrdma_ucontext, ibucontext),
};
