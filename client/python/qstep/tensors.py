"""Tensors as the client takes and returns them: torch tensors, numpy arrays or raw bytes, seen as flat little-endian
bytes without copying where the memory allows it (a contiguous CPU tensor or array is viewed, not copied).

dtype names are the wire's: "fp32", "fp16", "bf16" (torch.float32/float16/bfloat16 and numpy float32/float16 are
accepted wherever a dtype is). numpy has no bfloat16: bf16 data held in numpy is a uint16 array of bit patterns.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Tuple

import numpy as np

from .errors import invalid, quote
from ._proto import common_pb2

WIDTH = {"fp32": 4, "fp16": 2, "bf16": 2}
WIRE_DTYPE = {"fp32": common_pb2.DTYPE_FP32, "fp16": common_pb2.DTYPE_FP16, "bf16": common_pb2.DTYPE_BF16}
DTYPE_OF_WIRE = {v: k for k, v in WIRE_DTYPE.items()}
ELEMENT_TYPE = {"fp32": "F32", "fp16": "F16", "bf16": "BF16"}

_ALIASES = {
    "fp32": "fp32", "float32": "fp32", "f32": "fp32", "float": "fp32",
    "fp16": "fp16", "float16": "fp16", "f16": "fp16", "half": "fp16",
    "bf16": "bf16", "bfloat16": "bf16",
}

if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
    raise ImportError("qstep: tensors travel as little-endian bytes; this platform is big-endian")


def _torch():
    """The torch module if the caller already uses it (the client itself never needs torch)."""
    return sys.modules.get("torch")


def is_torch_tensor(value: Any) -> bool:
    t = _torch()
    return t is not None and isinstance(value, t.Tensor)


def dtype_name(value: Any, what: str = "dtype") -> str:
    """'fp32', 'fp16' or 'bf16' for a name, a torch dtype or a numpy dtype; QstepError otherwise."""
    t = _torch()
    if t is not None and isinstance(value, t.dtype):
        name = {t.float32: "fp32", t.float16: "fp16", t.bfloat16: "bf16"}.get(value)
        if name is None:
            raise invalid(f"{what}: expected float32, float16 or bfloat16, got {value}")
        return name
    if isinstance(value, str):
        name = _ALIASES.get(value.lower())
        if name is None:
            raise invalid(f"{what}: expected one of fp32, fp16, bf16, got {quote(value)}")
        return name
    try:
        np_dtype = np.dtype(value)
    except TypeError:
        raise invalid(f"{what}: expected one of fp32, fp16, bf16, got {quote(value)}") from None
    if np_dtype == np.float32:
        return "fp32"
    if np_dtype == np.float16:
        return "fp16"
    raise invalid(f"{what}: expected float32 or float16 (or 'bf16' with uint16 bit patterns), got {np_dtype}")


def torch_dtype(name: str):
    t = _torch()
    return {"fp32": t.float32, "fp16": t.float16, "bf16": t.bfloat16}[name]


_INT_VIEW = {"fp32": "int32", "fp16": "int16", "bf16": "int16"}


def _torch_bytes(tensor) -> np.ndarray:
    """A uint8 numpy view of a contiguous CPU float tensor's memory (no copy)."""
    t = _torch()
    name = dtype_name(tensor.dtype)
    flat = tensor.detach().reshape(-1).view(getattr(t, _INT_VIEW[name]))
    return flat.numpy().view(np.uint8)


def bf16_from_f32(values: np.ndarray) -> np.ndarray:
    """bf16 bit patterns of fp32 values, rounded to nearest even (NaN stays NaN)."""
    u = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = ((u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) >> 16).astype(np.uint16)
    return np.where(np.isnan(values), np.uint16(0x7FC0), rounded)


def f32_from_bf16(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


@dataclass
class TensorBytes:
    """One tensor as flat bytes: `data` is a uint8 view (or copy, when a conversion or gather was needed)."""

    name: str
    dtype: str
    numel: int
    shape: Tuple[int, ...]
    data: np.ndarray  # uint8, contiguous

    @property
    def nbytes(self) -> int:
        return self.data.nbytes


def tensor_bytes(name: str, value: Any, dtype: Optional[str] = None) -> TensorBytes:
    """
    A tensor's bytes as `dtype` (default: its own). Views a contiguous CPU tensor or array without copying; converts
    (one copy) when the dtype differs, and gathers a non-contiguous or device tensor to the CPU.
    """
    want = dtype_name(dtype, f"dtype of {name}") if dtype is not None else None
    if is_torch_tensor(value):
        own = dtype_name(value.dtype, f"dtype of {name}")
        target = want or own
        t = value.detach()
        if target != own:
            t = t.to(torch_dtype(target))
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        return TensorBytes(name, target, t.numel(), tuple(t.shape), _torch_bytes(t))
    if isinstance(value, np.ndarray):
        arr = value
        if arr.dtype == np.uint16:
            if want not in ("fp16", "bf16"):
                raise invalid(f"{name}: a uint16 array holds fp16 or bf16 bit patterns; say which with dtype=")
            target = want
        else:
            own = dtype_name(arr.dtype, f"dtype of {name}")
            target = want or own
            if target == "bf16":
                arr = bf16_from_f32(arr.astype(np.float32, copy=False))
            elif target != own:
                arr = arr.astype(np.float32 if target == "fp32" else np.float16)
        arr = np.ascontiguousarray(arr)
        return TensorBytes(name, target, arr.size, tuple(arr.shape), arr.reshape(-1).view(np.uint8))
    if isinstance(value, (bytes, bytearray, memoryview)):
        if want is None:
            raise invalid(f"{name}: raw bytes need a dtype (fp32, fp16 or bf16)")
        raw = np.frombuffer(value, dtype=np.uint8)
        if raw.size % WIDTH[want]:
            raise invalid(f"{name}: {raw.size} bytes is not a whole number of {WIDTH[want]}-byte {want} elements")
        numel = raw.size // WIDTH[want]
        return TensorBytes(name, want, numel, (numel,), raw)
    raise invalid(f"{name}: expected a torch tensor, a numpy array or bytes, got {type(value).__name__}")


def chunk_views(data: np.ndarray, max_bytes: int) -> Iterator[Tuple[int, memoryview]]:
    """(byte offset, view) pieces of at most max_bytes, cut at 4-byte boundaries (whole elements of every dtype)."""
    step = max_bytes - max_bytes % 4
    mv = memoryview(data).cast("B")
    for at in range(0, len(mv), step):
        yield at, mv[at : at + step]


def named_items(tensors: Any, what: str):
    """(name, value) pairs from a dict or an iterable of pairs (e.g. model.named_parameters()); names unique."""
    items = list(tensors.items()) if isinstance(tensors, dict) else list(tensors)
    seen = set()
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise invalid(f"{what}: expected (name, tensor) pairs or a dict keyed by name, got {quote(item)}")
        if item[0] in seen:
            raise invalid(f"{what}: parameter {quote(item[0])} given twice")
        seen.add(item[0])
    return items
