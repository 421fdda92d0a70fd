"""RemoteOptimizer against live torch.optim on the same fresh random inputs, judged as the optimizer spec's section 16
(docs/engine.md) judges the engine, and as test/torch/torch-optim.test.ts applies it:

* 32-bit state (16.1), 20 steps: every state tensor within the dtype's (atol, rtol) with no error budget, the
  parameters with at most 15 errors. fp32 parameters run free; for fp16/bf16 parameters torch's fp32 copy is reset
  to the remote (rounded) values before each step.
* 8-bit blockwise state (16.2), 50 steps: torch is re-synchronized before every step to the remote parameters and
  to the server's dequantized state (Snapshot with state="dequantized"), so each comparison measures one step:
  fewer than 20 state elements outside (3e-3, 1e-3) per state, parameter mean errors under the 16.2 limits.

Weight decay is > 0 everywhere but Adam; torch's AdamW decays before the Adam update and bnb/qstep after it (spec
T1): a difference of lr^2*wd*|u| <= 1e-8 per step at these settings, inside every tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qstep.torch import RemoteOptimizer

CASES = {
    "adam": (torch.optim.Adam, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0), ["exp_avg", "exp_avg_sq"]),
    "adamw": (torch.optim.AdamW, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
              ["exp_avg", "exp_avg_sq"]),
    "sgd": (torch.optim.SGD, dict(lr=0.01, momentum=0.9, weight_decay=0.01), ["momentum_buffer"]),
    "rmsprop": (torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.01), ["square_avg"]),
    "adagrad": (torch.optim.Adagrad, dict(lr=0.01, eps=1e-10, weight_decay=0.01), ["sum"]),
}
TOL_32 = {"fp32": (1e-6, 1e-5), "fp16": (1e-4, 1e-3), "bf16": (1e-3, 1e-2)}
MEAN_8 = {"fp32": (6e-5, 6e-4), "fp16": (6e-5, 6e-4), "bf16": (1.7e-4, 1.6e-3)}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
SHAPE = (1024, 32)


def violations(got: torch.Tensor, want: torch.Tensor, atol: float, rtol: float) -> int:
    return int(((got.double() - want.double()).abs() > atol + rtol * want.double().abs()).sum())


def remote_state(opt: RemoteOptimizer, count: int):
    snap = opt.client.snapshot(opt.model_name, weights=False, state="dequantized")
    return [torch.from_numpy(snap.array(f"__state__/w/state{k + 1}").copy()).reshape(SHAPE) for k in range(count)]


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("bits", [32, 8])
@pytest.mark.parametrize("opt_name", list(CASES))
def test_remote_optimizer_matches_torch(server, opt_name, bits, dtype):
    torch_cls, hyper, state_names = CASES[opt_name]
    gen = torch.Generator().manual_seed(int.from_bytes(np.random.bytes(4), "little"))
    p0 = (torch.randn(SHAPE, generator=gen) * 0.1).to(DTYPES[dtype])
    remote = torch.nn.Parameter(p0.clone())
    ref = torch.nn.Parameter(p0.float())
    opt = RemoteOptimizer([("w", remote)], server.address, opt_name, optim_bits=bits, **hyper)
    torch_opt = torch_cls([ref], **hyper)
    atol, rtol = TOL_32[dtype]
    steps = 20 if bits == 32 else 50
    try:
        desc = opt.client.describe(opt.model_name)
        assert desc.params[0].state_mode == (1 if bits == 32 else 2)  # STATE_MODE_FP32 / STATE_MODE_BLOCKWISE8
        for t in range(1, steps + 1):
            g = (torch.randn(SHAPE, generator=gen) * 0.01).to(DTYPES[dtype])
            if bits == 8 or dtype != "fp32":
                with torch.no_grad():
                    ref.copy_(remote.float())
            if bits == 8 and t > 1:
                for name, s in zip(state_names, remote_state(opt, len(state_names))):
                    torch_opt.state[ref][name].copy_(s)
            remote.grad = g
            ref.grad = g.float()
            opt.step()
            torch_opt.step()
            at = f"{opt_name} {bits}-bit {dtype} step {t}"
            states = remote_state(opt, len(state_names))
            for name, s in zip(state_names, states):
                want = torch_opt.state[ref][name]
                if bits == 32:
                    assert violations(s, want, atol, rtol) == 0, f"{at}: {name}"
                else:
                    assert violations(s, want, 3e-3, 1e-3) < 20, f"{at}: {name}"
            got = remote.detach().float()
            assert violations(got, ref.detach(), atol, rtol) <= 15, f"{at}: parameters"
            if bits == 8:
                diff = (got.double() - ref.detach().double()).abs()
                mean_abs = float(diff.mean())
                mean_rel = float((diff / (ref.detach().double().abs() + 1e-9)).mean())
                lim_abs, lim_rel = MEAN_8[dtype]
                assert mean_abs < lim_abs and mean_rel < lim_rel, f"{at}: mean errors {mean_abs} {mean_rel}"
            assert opt.last_result.model_step == t and not opt.last_result.skipped
    finally:
        opt.delete_model()
