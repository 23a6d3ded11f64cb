"""torch's pre-zip checkpoint formats, byte by byte (torch/serialization.py ``_legacy_save``).

* magic-number format (torch 0.4-1.5, or ``_use_new_zipfile_serialization=False``): pickles of
  MAGIC_NUMBER, PROTOCOL_VERSION, sys_info, the object (persistent ids
  ``('storage', StorageType, key, location, numel, view_metadata)``), the sorted storage keys,
  then per storage an int64 element count and the raw bytes;
* tar format (torch <= 0.1.x): members ``sys_info``, ``pickle``, ``tensors``, ``storages``.
"""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path

from mlsleuth.fixturehost.formats.pickles import (
    TORCH_STORAGE_TYPES,
    Global,
    PersId,
    Reduce,
    Shared,
    TensorSpec,
    dumps,
    ordered_dict,
)

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
SYS_INFO = {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}


def legacy_state_dict(tensors: dict[str, TensorSpec], protocol: int = 2) -> tuple[bytes, dict[str, bytes]]:
    """Main pickle + storages for the magic-number format (6-element persistent ids)."""
    storage, cpu = Shared("storage"), Shared("cpu")
    items = []
    storages: dict[str, bytes] = {}
    for i, (name, spec) in enumerate(tensors.items()):
        key = str(i)
        cls, size = TORCH_STORAGE_TYPES[spec.dtype]
        storages[key] = bytes((j * 7 + i) & 0xFF for j in range(spec.numel * size))
        pid = PersId((storage, Global("torch", cls), key, cpu, spec.numel, None))
        args = (pid, 0, tuple(spec.shape), spec.contiguous_stride, False, ordered_dict([]))
        items.append((name, Reduce(Global("torch._utils", "_rebuild_tensor_v2"), args)))
    obj = ordered_dict(items, state={"_metadata": ordered_dict([("", {"version": 1})])})
    return dumps(obj, protocol=protocol), storages


def legacy_magic_bytes(main_pickle: bytes, storages: dict[str, bytes], elsize: int = 4,
                       protocol: int = 2) -> bytes:
    out = dumps(MAGIC_NUMBER, protocol) + dumps(PROTOCOL_VERSION, protocol) + dumps(SYS_INFO, protocol)
    out += main_pickle + dumps(sorted(storages), protocol)
    for key in sorted(storages):
        data = storages[key]
        out += struct.pack("<q", len(data) // elsize) + data
    return out


def legacy_tar_bytes(main_pickle: bytes, storages: dict[str, tuple[str, bytes]], protocol: int = 2) -> bytes:
    """``storages``: key -> (storage class name, raw bytes). Returns the tar file's bytes."""
    st = dumps(len(storages), protocol)
    for key, (cls, data) in storages.items():
        elsize = next(s for c, s in TORCH_STORAGE_TYPES.values() if c == cls)
        st += dumps((key, "cpu", Global("torch", cls)), protocol)
        st += struct.pack("<q", len(data) // elsize) + data
    st += dumps([], protocol)  # storage views
    members = {"sys_info": dumps(SYS_INFO, protocol), "pickle": main_pickle,
               "tensors": dumps(0, protocol), "storages": st}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write(path: Path | str, data: bytes) -> Path:
    Path(path).write_bytes(data)
    return Path(path)
