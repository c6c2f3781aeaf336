# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The few libibverbs calls the MR tests need with full control of the
arguments (pyverbs fixes the iova to the address or the dma-buf offset),
through ctypes against the installed libibverbs.
"""
import ctypes
import errno
import os

_lib = ctypes.CDLL('libibverbs.so.1', use_errno=True)


class _Mr(ctypes.Structure):
    _fields_ = [('context', ctypes.c_void_p), ('pd', ctypes.c_void_p),
                ('addr', ctypes.c_void_p), ('length', ctypes.c_size_t),
                ('handle', ctypes.c_uint32), ('lkey', ctypes.c_uint32),
                ('rkey', ctypes.c_uint32)]


class _Device(ctypes.Structure):
    # only the leading fields: ops (2 pointers), node/transport types,
    # then the name strings
    _fields_ = [('ops', ctypes.c_void_p * 2), ('node_type', ctypes.c_int),
                ('transport_type', ctypes.c_int),
                ('name', ctypes.c_char * 64)]


_lib.ibv_get_device_list.restype = ctypes.POINTER(ctypes.POINTER(_Device))
_lib.ibv_get_device_list.argtypes = [ctypes.POINTER(ctypes.c_int)]
_lib.ibv_free_device_list.argtypes = [ctypes.c_void_p]
_lib.ibv_open_device.restype = ctypes.c_void_p
_lib.ibv_open_device.argtypes = [ctypes.c_void_p]
_lib.ibv_close_device.argtypes = [ctypes.c_void_p]
_lib.ibv_alloc_pd.restype = ctypes.c_void_p
_lib.ibv_alloc_pd.argtypes = [ctypes.c_void_p]
_lib.ibv_dealloc_pd.argtypes = [ctypes.c_void_p]
_lib.ibv_reg_mr_iova2.restype = ctypes.POINTER(_Mr)
_lib.ibv_reg_mr_iova2.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                  ctypes.c_size_t, ctypes.c_uint64,
                                  ctypes.c_uint]
_lib.ibv_reg_dmabuf_mr.restype = ctypes.POINTER(_Mr)
_lib.ibv_reg_dmabuf_mr.argtypes = [ctypes.c_void_p, ctypes.c_uint64,
                                   ctypes.c_size_t, ctypes.c_uint64,
                                   ctypes.c_int, ctypes.c_int]
_lib.ibv_dereg_mr.argtypes = [ctypes.c_void_p]


def _check(ptr, what):
    if not ptr:
        err = ctypes.get_errno()
        raise OSError(err, f'{what}: {os.strerror(err)}')
    return ptr


class Mr:
    def __init__(self, ptr):
        self._ptr = ptr
        self.lkey = ptr.contents.lkey
        self.rkey = ptr.contents.rkey
        self.length = ptr.contents.length

    def close(self):
        if self._ptr:
            ret = _lib.ibv_dereg_mr(self._ptr)
            if ret:
                raise OSError(ret, f'ibv_dereg_mr: {os.strerror(ret)}')
            self._ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Pd:
    """A context and a PD on the named device, closed together."""

    def __init__(self, dev_name):
        n = ctypes.c_int()
        lst = _check(_lib.ibv_get_device_list(ctypes.byref(n)),
                     'ibv_get_device_list')
        try:
            dev = None
            for i in range(n.value):
                if lst[i].contents.name.decode() == dev_name:
                    dev = ctypes.cast(lst[i], ctypes.c_void_p)
            if dev is None:
                raise OSError(errno.ENODEV, f'no device {dev_name}')
            self.ctx = _check(_lib.ibv_open_device(dev), 'ibv_open_device')
        finally:
            _lib.ibv_free_device_list(lst)
        self.pd = _lib.ibv_alloc_pd(self.ctx)
        if not self.pd:
            err = ctypes.get_errno()
            _lib.ibv_close_device(self.ctx)
            raise OSError(err, 'ibv_alloc_pd')

    def reg_mr(self, addr, length, iova, access):
        return Mr(_check(_lib.ibv_reg_mr_iova2(self.pd, addr, length, iova,
                                               access), 'ibv_reg_mr_iova2'))

    def reg_dmabuf_mr(self, offset, length, iova, fd, access):
        return Mr(_check(_lib.ibv_reg_dmabuf_mr(self.pd, offset, length, iova,
                                                fd, access),
                         'ibv_reg_dmabuf_mr'))

    def close(self):
        if self.pd:
            _lib.ibv_dealloc_pd(self.pd)
            self.pd = None
        if self.ctx:
            _lib.ibv_close_device(self.ctx)
            self.ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
