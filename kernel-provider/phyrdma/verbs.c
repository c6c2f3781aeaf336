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
#include <rdma/ib_mad.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>

#include "phyrdma.h"

/* The only GID: the link-local prefix and the node GUID. */
static void phyrdma_gid(struct phyrdma_dev *dev, union ib_gid *gid)
{
	gid->global.subnet_prefix = cpu_to_be64(0xfe80000000000000ULL);
	gid->global.interface_id = dev->ibdev.node_guid;
}

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
	/*
	 * CQs and QPs are not implemented yet: the device says so rather
	 * than promising objects it cannot create.
	 */
	return 0;
}

static void phyrdma_get_dev_fw_str(struct ib_device *ibdev, char *str)
{
	u64 fw = to_pdev(ibdev)->hw.caps.fw_ver;

	snprintf(str, IB_FW_VERSION_NAME_MAX, "%u.%u", (u32)(fw >> 32),
		 (u32)(fw >> 16) & 0xffff);
}

static int phyrdma_query_port(struct ib_device *ibdev, u32 port,
			      struct ib_port_attr *attr)
{
	struct phyrdma_dev *dev = to_pdev(ibdev);

	/* ib_core zeroed *attr; only what a loopback IB port has is set. */
	attr->state = IB_PORT_ACTIVE;
	attr->phys_state = IB_PORT_PHYS_STATE_LINK_UP;
	attr->max_mtu = IB_MTU_4096;
	attr->active_mtu = IB_MTU_4096;
	attr->gid_tbl_len = 1;
	attr->pkey_tbl_len = 1;
	attr->max_msg_sz = dev->hw.caps.max_msg_sz;
	attr->lid = dev->lid;
	attr->sm_lid = dev->lid;
	attr->max_vl_num = 1;
	attr->active_width = IB_WIDTH_4X;
	attr->active_speed = IB_SPEED_EDR;
	return 0;
}

static int phyrdma_get_port_immutable(struct ib_device *ibdev, u32 port,
				      struct ib_port_immutable *immutable)
{
	/*
	 * InfiniBand transport on a loopback port with no subnet manager:
	 * no MAD, SMI, CM or SA capability, so ib_core opens no QP0/QP1 on it.
	 */
	immutable->core_cap_flags = RDMA_CORE_CAP_PROT_IB;
	immutable->pkey_tbl_len = 1;
	immutable->gid_tbl_len = 1;
	immutable->max_mad_size = 0;
	return 0;
}

static int phyrdma_query_gid(struct ib_device *ibdev, u32 port, int index,
			     union ib_gid *gid)
{
	if (index != 0)
		return -EINVAL;
	phyrdma_gid(to_pdev(ibdev), gid);
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

static int phyrdma_alloc_ucontext(struct ib_ucontext *ibuctx,
				  struct ib_udata *udata)
{
	struct phyrdma_dev *dev = to_pdev(ibuctx->device);
	struct phyrdma_alloc_ucontext_resp resp = {};
	struct phyrdma_alloc_ucontext_req req = {};
	int ret;

	ret = ib_copy_validate_udata_in_cm(udata, req, reserved, 0);
	if (ret)
		return ret;
	if (req.reserved)
		return -EINVAL;

	resp.iommu_mode = dev->hw.iommu_mode;
	resp.page_size_cap = dev->hw.caps.page_size_cap;
	ret = ib_respond_udata(udata, resp);
	if (ret)
		return ret;

	phyrdma_count(dev, PHYRDMA_CNT_UCONTEXTS, 1);
	return 0;
}

static void phyrdma_dealloc_ucontext(struct ib_ucontext *ibuctx)
{
	phyrdma_count(to_pdev(ibuctx->device), PHYRDMA_CNT_UCONTEXTS, -1);
}

/*
 * The device has no user mappings yet, and ib_core zaps the ones made
 * through rdma_user_mmap_io() by itself.  Implementing the op still
 * matters: it tells ib_uverbs that the device can be unregistered while
 * userspace holds it, instead of pinning the module.
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

	.alloc_pd = phyrdma_alloc_pd,
	.alloc_ucontext = phyrdma_alloc_ucontext,
	.dereg_mr = phyrdma_dereg_mr,
	.dealloc_pd = phyrdma_dealloc_pd,
	.dealloc_ucontext = phyrdma_dealloc_ucontext,
	.disassociate_ucontext = phyrdma_disassociate_ucontext,
	.get_dev_fw_str = phyrdma_get_dev_fw_str,
	.get_port_immutable = phyrdma_get_port_immutable,
	.query_device = phyrdma_query_device,
	.query_gid = phyrdma_query_gid,
	.query_pkey = phyrdma_query_pkey,
	.query_port = phyrdma_query_port,
	.reg_user_mr = phyrdma_reg_user_mr,
	.reg_user_mr_dmabuf = phyrdma_reg_user_mr_dmabuf,

	INIT_RDMA_OBJ_SIZE(ib_pd, phyrdma_pd, ibpd),
	INIT_RDMA_OBJ_SIZE(ib_ucontext, phyrdma_ucontext, ibucontext),
};
