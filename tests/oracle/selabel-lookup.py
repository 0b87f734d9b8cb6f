#!/usr/bin/python3
"""libselinux's own answer for file labels: selabel_open(SELABEL_CTX_FILE, SELABEL_OPT_PATH=FC)
and selabel_lookup_raw for every record on stdin, called through ctypes on the system's
libselinux.so.1 (no realpath of host paths, unlike matchpathcon(3)).

usage: selabel-lookup.py FILE_CONTEXTS < records
records: "MODE\\0PATH\\0" (MODE a decimal st_mode, 0 for no type); output: one line per
record, the raw context or "<<none>>" (libselinux's ENOENT: <<none>> or no match).
"""
import ctypes
import errno
import sys

SELABEL_CTX_FILE = 0
SELABEL_OPT_PATH = 3


class Opt(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("value", ctypes.c_char_p)]


def main():
    lib = ctypes.CDLL("libselinux.so.1", use_errno=True)
    lib.selabel_open.restype = ctypes.c_void_p
    lib.selabel_open.argtypes = [ctypes.c_uint, ctypes.POINTER(Opt), ctypes.c_uint]
    lib.selabel_lookup_raw.restype = ctypes.c_int
    lib.selabel_lookup_raw.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    opts = (Opt * 1)(Opt(SELABEL_OPT_PATH, sys.argv[1].encode()))
    handle = lib.selabel_open(SELABEL_CTX_FILE, opts, 1)
    if not handle:
        sys.exit("selabel_open failed for %s" % sys.argv[1])
    lib.freecon.argtypes = [ctypes.c_char_p]
    data = sys.stdin.buffer.read().split(b"\0")
    out = []
    for i in range(0, len(data) - 1, 2):
        mode, path = int(data[i]), data[i + 1]
        con = ctypes.c_char_p()
        ctypes.set_errno(0)
        rc = lib.selabel_lookup_raw(handle, ctypes.byref(con), path, mode)
        if rc < 0:
            if ctypes.get_errno() != errno.ENOENT:
                sys.exit("selabel_lookup_raw(%r) failed: errno %d" % (path, ctypes.get_errno()))
            out.append(b"<<none>>")
        else:
            out.append(con.value)
            lib.freecon(con)
    sys.stdout.buffer.write(b"\n".join(out) + b"\n")


main()
