"""Shared test helpers: fresh random tensors and a fingerprint of everything a model holds."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def randn(shape, dtype="fp32", scale=1.0) -> torch.Tensor:
    """Fresh random values every run (never zeros), rounded to `dtype`."""
    g = torch.Generator().manual_seed(int.from_bytes(np.random.bytes(4), "little"))
    return (torch.randn(shape, generator=g) * scale).to(DTYPES[dtype])


def fingerprint(client, model: str) -> str:
    """A digest of weights, raw optimizer state, step counters and model step: equal before and after a failed
    call proves that the call changed nothing."""
    snap = client.snapshot(model, weights=True, state="raw")
    h = hashlib.sha256()
    h.update(repr((snap.header.model_step, [(p.name, p.step) for p in snap.header.params])).encode())
    for name in snap.names:
        h.update(name.encode())
        h.update(snap.data[name].tobytes())
    return h.hexdigest()


def make_model(client, name, specs, optimizer="adamw", **settings):
    """A ready model: (name, shape, dtype) specs, random values uploaded; returns {param: tensor}."""
    client.create_model(name, specs, optimizer, **settings)
    values = {n: randn(shape, dtype, 0.1) for n, shape, dtype in specs}
    client.upload_parameters(name, values)
    return values
