"""RemoteOptimizer's step time (Python client: every .grad out, weights back into the parameters in place) for a
model of --params fp32 parameters in --tensors tensors, Adam with fp32 state, on the qstep server at --address.

Driven by bench/python-step.ts, which interleaves it with the TypeScript client step by step: for each line "step"
on stdin this process runs one RemoteOptimizer.step() with fp32 gradients, one with grad_dtype="bf16" (a second
model), and one local torch.optim.Adam step on the same tensors (what the step costs without a server), and prints
their times as one JSON line {"remote": ms, "remote_bf16": ms, "torch_local": ms}. It prints {"ready": true} once
the models are on the server, and deletes them at "quit" or end of input."""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client", "python"))

import torch  # noqa: E402

from qstep.torch import RemoteOptimizer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--params", type=int, default=16 * 1024 * 1024)
    ap.add_argument("--tensors", type=int, default=8)
    a = ap.parse_args()
    per = a.params // a.tensors
    named = [(f"layers.{i}.weight", torch.nn.Parameter(torch.randn(per) * 0.1)) for i in range(a.tensors)]
    # Two sets of fresh random gradients, alternated (never zeros; generating them per step would time randn).
    grad_sets = [[torch.randn(per) * 0.01 for _ in range(a.tensors)] for _ in range(2)]
    remote = RemoteOptimizer(named, a.address, "adam", lr=1e-3)
    remote_bf16 = RemoteOptimizer(named, a.address, "adam", lr=1e-3, grad_dtype="bf16")
    local = torch.optim.Adam([p for _, p in named], lr=1e-3)
    print(json.dumps({"ready": True}), flush=True)
    try:
        for i, line in enumerate(sys.stdin):
            if line.strip() != "step":
                break
            for (_, p), g in zip(named, grad_sets[i % 2]):
                p.grad = g
            out = {}
            for key, opt in (("remote", remote), ("remote_bf16", remote_bf16), ("torch_local", local)):
                t0 = time.perf_counter()
                opt.step()
                out[key] = (time.perf_counter() - t0) * 1000
            print(json.dumps(out), flush=True)
    finally:
        remote.delete_model()
        remote_bf16.delete_model()


if __name__ == "__main__":
    main()
