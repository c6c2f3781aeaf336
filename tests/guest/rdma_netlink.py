# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What the rdma tool reads, over RDMA netlink (<rdma/rdma_netlink.h>),
for tests that read counters where a user would.  No pyverbs here: the
libibverbs lane (generic_lane.py) uses it too.
"""
import errno
import os
import socket
import struct

NETLINK_RDMA = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLDEV_CMD_GET, NLDEV_CMD_STAT_GET = (5 << 10) + 1, (5 << 10) + 17
ATTR_DEV_INDEX, ATTR_DEV_NAME, ATTR_PORT_INDEX = 1, 2, 3
ATTR_HWCOUNTERS, ATTR_HWCOUNTER_ENTRY = 80, 81
ATTR_HWCOUNTER_NAME, ATTR_HWCOUNTER_VALUE = 82, 83


def _nla(kind, payload):
    n = 4 + len(payload)
    return struct.pack('HH', n, kind) + payload + bytes(-n % 4)


def _nla_parse(buf):
    out = []
    while len(buf) >= 4:
        n, kind = struct.unpack_from('HH', buf)
        if n < 4:
            break
        out.append((kind & 0x3fff, buf[4:n]))
        buf = buf[(n + 3) & ~3:]
    return out


def _nl_request(kind, flags, attrs=b''):
    """The messages of one RDMA netlink request, up to its end."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_RDMA) as s:
        s.sendto(struct.pack('IHHII', 16 + len(attrs), kind,
                             NLM_F_REQUEST | flags, 1, 0) + attrs, (0, 0))
        msgs = []
        while True:
            data = s.recv(65536)
            while len(data) >= 16:
                n, t, _, _, _ = struct.unpack_from('IHHII', data)
                body = data[16:n]
                data = data[(n + 3) & ~3:]
                if t == NLMSG_DONE:
                    return msgs
                if t == NLMSG_ERROR:
                    err = -struct.unpack_from('i', body)[0]
                    if err:
                        raise OSError(err, os.strerror(err))
                    return msgs
                msgs.append(dict(_nla_parse(body)))
                if not flags & NLM_F_DUMP:
                    return msgs


def _rdma_dev_index(ibdev):
    for m in _nl_request(NLDEV_CMD_GET, NLM_F_DUMP):
        if m.get(ATTR_DEV_NAME, b'').rstrip(b'\0').decode() == ibdev:
            return struct.unpack('I', m[ATTR_DEV_INDEX])[0]
    raise OSError(errno.ENODEV, f'no RDMA device {ibdev}')


def rdma_statistic(ibdev, port=1):
    """The port's counters, {name: value}, as "rdma statistic show link
    <ibdev>/<port>" reads them (values read fresh, as sysfs does not)."""
    attrs = (_nla(ATTR_DEV_INDEX, struct.pack('I', _rdma_dev_index(ibdev))) +
             _nla(ATTR_PORT_INDEX, struct.pack('I', port)))
    msg, = _nl_request(NLDEV_CMD_STAT_GET, 0, attrs)
    out = {}
    for kind, entry in _nla_parse(msg[ATTR_HWCOUNTERS]):
        if kind != ATTR_HWCOUNTER_ENTRY:
            continue
        e = dict(_nla_parse(entry))
        out[e[ATTR_HWCOUNTER_NAME].rstrip(b'\0').decode()] = \
            struct.unpack('q', e[ATTR_HWCOUNTER_VALUE])[0]
    return out
