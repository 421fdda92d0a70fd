"""A snapshot held in memory: its header and each tensor's bytes, by tensor name (weights under the parameter's
name, state as "__state__/<param>/<key>")."""

from __future__ import annotations

from typing import Dict, Iterator, Optional, Tuple

import grpc
import numpy as np

from ._proto import snapshot_pb2
from .errors import QstepError, invalid, quote
from .safetensors import element_name

_NUMPY_OF_ELEMENT = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "U8": np.uint8}


class Snapshot:
    def __init__(self, header: snapshot_pb2.SnapshotHeader, data: Dict[str, np.ndarray]):
        self.header = header
        self.data = data  # name -> uint8 array

    @property
    def names(self):
        return [t.name for t in self.header.tensors]

    def _desc(self, name: str):
        for t in self.header.tensors:
            if t.name == name:
                return t
        raise invalid(f"snapshot: no tensor {quote(name)}")

    def array(self, name: str) -> np.ndarray:
        """A tensor as numpy, shaped: float32, float16, uint8, or uint16 bit patterns for BF16."""
        desc = self._desc(name)
        return self.data[name].view(_NUMPY_OF_ELEMENT[element_name(desc.element_type)]).reshape(tuple(desc.shape))

    def tensor(self, name: str):
        """A tensor as torch (bf16 as torch.bfloat16)."""
        import torch

        desc = self._desc(name)
        a = self.array(name)
        if element_name(desc.element_type) == "BF16":
            return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
        return torch.from_numpy(a.copy())

    def pieces(self, max_bytes: int) -> Iterator[Tuple[int, int, memoryview]]:
        """(tensor index, byte offset, bytes) pieces of every tensor in header order."""
        for i, desc in enumerate(self.header.tensors):
            if desc.name not in self.data:
                raise invalid(f"snapshot lacks the bytes of {quote(desc.name)}")
            mv = memoryview(self.data[desc.name]).cast("B")
            for at in range(0, len(mv), max_bytes):
                yield i, at, mv[at : at + max_bytes]


class SnapshotAssembler:
    """Checks a Snapshot stream (header first, each tensor's bytes in order) and, if asked, keeps the bytes."""

    def __init__(self) -> None:
        self._header: Optional[snapshot_pb2.SnapshotHeader] = None
        self._keep = False
        self._buffers: list = []
        self._filled: list = []

    def header(self, header: snapshot_pb2.SnapshotHeader, keep: bool) -> None:
        if self._header is not None:
            raise QstepError(grpc.StatusCode.DATA_LOSS, "the snapshot stream carried two headers")
        self._header = header
        self._keep = keep
        self._buffers = [np.empty(t.byte_length, np.uint8) if keep else None for t in header.tensors]
        self._filled = [0] * len(header.tensors)

    def data(self, index: int, offset: int, data: bytes) -> None:
        if self._header is None or index >= len(self._filled) or offset != self._filled[index] or (
                offset + len(data) > self._header.tensors[index].byte_length):
            raise QstepError(grpc.StatusCode.DATA_LOSS, f"snapshot data out of order for tensor {index}")
        if self._keep:
            self._buffers[index][offset : offset + len(data)] = np.frombuffer(data, np.uint8)
        self._filled[index] += len(data)

    def finish(self) -> Snapshot:
        if self._header is None:
            raise QstepError(grpc.StatusCode.DATA_LOSS, "the snapshot stream carried no header")
        for i, t in enumerate(self._header.tensors):
            if self._filled[i] != t.byte_length:
                raise QstepError(grpc.StatusCode.DATA_LOSS, f"snapshot tensor {t.name} incomplete")
        data = {t.name: b for t, b in zip(self._header.tensors, self._buffers)} if self._keep else {}
        return Snapshot(self._header, data)
