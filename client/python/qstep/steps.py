"""A step's result and the memory its returned weights go into.

Returned weights are copied from the received messages straight into the caller's tensors when those are
contiguous CPU tensors (or numpy arrays) of the returned dtype; otherwise (a GPU tensor, another dtype) they are
gathered in a staging buffer and copied over with one `copy_` once the step has finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import grpc
import numpy as np

from .errors import QstepError, invalid, quote
from .tensors import WIDTH, _torch_bytes, dtype_name, f32_from_bf16, is_torch_tensor, named_items

_NUMPY_OF = {"fp32": np.float32, "fp16": np.float16, "bf16": np.uint16}


@dataclass
class StepResult:
    model: str
    model_step: int
    skipped: bool  # non-finite gradients under policy "skip": nothing changed
    replayed: bool  # a repeat of a recorded (worker_id, step_id): nothing applied now
    non_finite: List[str]
    params: list  # ParamResult per stepped parameter (step counter, gnorm_scale, update_scale)
    weights: Dict[str, Any] = field(default_factory=dict)  # name -> the target, or a numpy array (bf16: uint16 bits)
    worker_id: str = ""
    step_id: int = 0


class _Target:
    """Where one parameter's returned weights go."""

    def __init__(self, name: str, value: Any, numel: int, shape=None):
        self.name = name
        self.shape = shape
        self.value = value
        self.numel = numel
        self.direct: Optional[np.ndarray] = None  # uint8 view of the target's own memory
        self.own_dtype: Optional[str] = None
        if value is None:
            pass  # no target: the weights are returned in a new array
        elif is_torch_tensor(value):
            self.own_dtype = dtype_name(value.dtype, f"weights_into[{name!r}]")
            if value.device.type == "cpu" and value.is_contiguous():
                self.direct = _torch_bytes(value)
        elif isinstance(value, np.ndarray):
            if value.dtype == np.uint16:
                self.own_dtype = None  # fp16 or bf16 bits: whichever arrives
            else:
                self.own_dtype = dtype_name(value.dtype, f"weights_into[{name!r}]")
            if not (value.flags.c_contiguous and value.flags.writeable):
                raise invalid(f"weights_into[{name!r}]: a numpy target must be contiguous and writable")
            self.direct = value.reshape(-1).view(np.uint8)
        else:
            raise invalid(f"weights_into[{name!r}]: expected a torch tensor or numpy array, got {type(value).__name__}")
        self.reset()

    def reset(self) -> None:
        self.dtype: Optional[str] = None
        self.buffer: Optional[np.ndarray] = None
        self.filled = 0

    def receive(self, dtype: str, byte_offset: int, data: memoryview) -> None:
        if self.buffer is None:
            self.dtype = dtype
            fits = self.direct is not None and (self.own_dtype in (None, dtype)) and (
                self.direct.nbytes == self.numel * WIDTH[dtype])
            self.buffer = self.direct if fits else np.empty(self.numel * WIDTH[dtype], np.uint8)
        elif dtype != self.dtype:
            raise QstepError(grpc.StatusCode.DATA_LOSS, f"weights of {self.name} changed dtype mid-stream")
        end = byte_offset + len(data)
        if end > self.buffer.nbytes:
            raise QstepError(grpc.StatusCode.DATA_LOSS, f"weights of {self.name} out of range ({end} bytes)")
        self.buffer[byte_offset:end] = np.frombuffer(data, np.uint8)
        self.filled += len(data)

    def finish(self) -> Any:
        if self.buffer is None or self.filled != self.buffer.nbytes:
            raise QstepError(grpc.StatusCode.DATA_LOSS, f"weights of {self.name} incomplete")
        if self.buffer is self.direct:
            return self.value
        staged = self.buffer.view(_NUMPY_OF[self.dtype])
        if self.value is None:
            return staged.reshape(self.shape) if self.shape is not None else staged
        staged = self.buffer.view(_NUMPY_OF[self.dtype])
        if is_torch_tensor(self.value):
            import torch

            if self.dtype == "bf16":
                src = torch.from_numpy(staged.view(np.int16)).view(torch.bfloat16)
            else:
                src = torch.from_numpy(staged)
            with torch.no_grad():
                self.value.copy_(src.reshape(self.value.shape))
        else:
            values = f32_from_bf16(staged) if self.dtype == "bf16" else staged
            self.value[...] = values.reshape(self.value.shape).astype(self.value.dtype)
        return self.value


class WeightTargets:
    """The step's weights_into targets, plus buffers for weights returned without a target."""

    def __init__(self, targets: Dict[str, _Target], numel: Dict[str, int], shapes: Dict[str, tuple]):
        self.targets = targets
        self.numel = numel
        self.shapes = shapes
        self.free: Dict[str, _Target] = {}

    @classmethod
    def build(cls, weights_into: Any, numel: Dict[str, int], shapes: Dict[str, tuple]) -> "WeightTargets":
        targets: Dict[str, _Target] = {}
        for name, value in named_items(weights_into or {}, "weights_into"):
            if name not in numel:
                raise invalid(f"weights_into: {quote(name)} has no gradient in this step")
            size = value.numel() if is_torch_tensor(value) else getattr(value, "size", None)
            if size != numel[name]:
                raise invalid(f"weights_into[{name!r}]: {size} elements, but its gradient has {numel[name]}")
            targets[name] = _Target(name, value, numel[name])
        return cls(targets, numel, shapes)

    def reset(self) -> None:
        for t in self.targets.values():
            t.reset()
        self.free = {}

    def receive(self, param: str, dtype: Optional[str], offset: int, data: memoryview) -> None:
        if dtype is None:
            raise QstepError(grpc.StatusCode.DATA_LOSS, f"weights of {param} without a dtype")
        target = self.targets.get(param) or self.free.get(param)
        if target is None:
            if param not in self.numel:
                raise QstepError(grpc.StatusCode.DATA_LOSS, f"weights of {param}, which was not stepped")
            target = self.free[param] = _Target(param, None, self.numel[param], self.shapes.get(param))
        target.receive(dtype, offset * WIDTH[dtype], data)

    def finish(self, weight_bytes: int) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        total = 0
        for name, t in list(self.targets.items()) + list(self.free.items()):
            if t.buffer is None:
                continue
            total += t.filled
            out[name] = t.finish()
        if total != weight_bytes:
            raise QstepError(grpc.StatusCode.DATA_LOSS, f"expected {weight_bytes} weight bytes, got {total}")
        return out
