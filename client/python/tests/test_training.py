"""RemoteOptimizer in training loops: a small MLP trained to the accuracy torch.optim.AdamW reaches, lr schedulers
and param groups whose values travel with each step, save/load in the middle of a run, and resume."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from qstep.torch import RemoteOptimizer
from helpers import randn


def digits():
    """sklearn's digits (1797 8x8 images, 10 classes) split at random; Gaussian blobs if sklearn is missing."""
    try:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = x / 16.0
    except ImportError:
        rng = np.random.default_rng()
        centers = rng.normal(size=(10, 64))
        y = rng.integers(0, 10, 1800)
        x = centers[y] + rng.normal(scale=1.5, size=(1800, 64))
    order = np.random.permutation(len(y))
    x, y = torch.tensor(x[order], dtype=torch.float32), torch.tensor(y[order])
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def train(model, opt, data, epochs=25, batch=64):
    (x, y), (xt, yt) = data
    for epoch in range(epochs):
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(y), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    with torch.no_grad():
        return float((model(xt).argmax(1) == yt).float().mean())


@pytest.mark.parametrize("optimizer, grad_dtype, slack", [("AdamW", None, 0.02), ("AdamW8bit", "bf16", 0.03)])
def test_mlp_reaches_the_accuracy_of_torch_adamw(server, optimizer, grad_dtype, slack):
    data = digits()
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    twin = copy.deepcopy(model)
    opt = RemoteOptimizer(model.named_parameters(), server.address, optimizer, lr=3e-3, weight_decay=0.01,
                          grad_dtype=grad_dtype)
    try:
        if optimizer.endswith("8bit"):
            modes = {p.name: p.state_mode for p in opt.client.describe(opt.model_name).params}
            assert modes["0.weight"] == 2  # blockwise8: 4096 elements, not under min_8bit_size
        remote_acc = train(model, opt, data)
        torch_acc = train(twin, torch.optim.AdamW(twin.parameters(), lr=3e-3, weight_decay=0.01), data)
        assert torch_acc > 0.9, torch_acc
        print(f"{optimizer}: accuracy {remote_acc:.4f} (torch.optim.AdamW {torch_acc:.4f})")
        assert remote_acc >= torch_acc - slack, (remote_acc, torch_acc)
    finally:
        opt.delete_model()


def test_lr_scheduler_and_param_groups_travel_with_each_step(server):
    """SGD with momentum, two param groups with their own lr and weight decay, a LambdaLR: the remote parameters
    follow torch.optim.SGD under the same schedule (fp32 tolerances of spec 16.1) while lr changes every step."""
    w, b = randn([256, 64], "fp32", 0.1), randn([64], "fp32", 0.1)
    rw, rb = torch.nn.Parameter(w.clone()), torch.nn.Parameter(b.clone())
    tw, tb = torch.nn.Parameter(w.clone()), torch.nn.Parameter(b.clone())
    opt = RemoteOptimizer([{"params": [("w", rw)]}, {"params": [("b", rb)], "lr": 0.05, "weight_decay": 0}],
                          server.address, "sgd", lr=0.1, momentum=0.9, weight_decay=0.01)
    ref = torch.optim.SGD([{"params": [tw]}, {"params": [tb], "lr": 0.05, "weight_decay": 0}], lr=0.1, momentum=0.9,
                          weight_decay=0.01)
    schedule = lambda t: 1.0 / (1 + t)  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    ref_sched = torch.optim.lr_scheduler.LambdaLR(ref, schedule)
    try:
        for t in range(12):
            g, h = randn([256, 64], "fp32", 0.01), randn([64], "fp32", 0.01)
            rw.grad, tw.grad, rb.grad, tb.grad = g, g.clone(), h, h.clone()
            opt.step()
            ref.step()
            sched.step()
            ref_sched.step()
            for got, want in ((rw, tw), (rb, tb)):
                bad = ((got - want).abs() > 1e-6 + 1e-5 * want.abs()).sum()
                assert bad <= 15, f"step {t}: {int(bad)} elements outside fp32 tolerance"
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1 / 13) and opt.param_groups[1]["lr"] == pytest.approx(0.05 / 13)
        # A run that ignored the schedule would be far off: the last steps used lr / 12.
        assert (rw - tw).abs().max() < 1e-4
    finally:
        opt.delete_model()


def test_save_and_load_mid_run_continues_bit_exactly(server):
    """state_dict() after 5 steps (8-bit state), torch.save/torch.load, then a fresh model and optimizer continue
    the run: the next 5 steps give the same bits as the uninterrupted run."""
    model = torch.nn.Sequential(torch.nn.Linear(128, 64), torch.nn.Linear(64, 8))
    opt = RemoteOptimizer(model.named_parameters(), server.address, "Adam8bit", lr=1e-2, min_8bit_size=1024)
    sched = torch.optim.lr_scheduler.StepLR(opt, 3, 0.5)
    grads = [{n: randn(list(p.shape), "fp32", 0.01) for n, p in model.named_parameters()} for _ in range(10)]

    def run(m, o, s, gs):
        for g in gs:
            for n, p in m.named_parameters():
                p.grad = g[n].clone()
            o.step()
            s.step()

    resumed = None
    try:
        run(model, opt, sched, grads[:5])
        buf = io.BytesIO()
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
        run(model, opt, sched, grads[5:])
        buf.seek(0)
        ckpt = torch.load(buf)
        fresh = torch.nn.Sequential(torch.nn.Linear(128, 64), torch.nn.Linear(64, 8))
        fresh.load_state_dict(ckpt["model"])
        resumed = RemoteOptimizer(fresh.named_parameters(), server.address, "Adam8bit", lr=1e-2, min_8bit_size=1024)
        fresh_sched = torch.optim.lr_scheduler.StepLR(resumed, 3, 0.5)
        resumed.load_state_dict(ckpt["opt"])
        fresh_sched.load_state_dict(ckpt["sched"])
        assert resumed.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5)
        assert resumed.client.describe(resumed.model_name).model_step == 5
        run(fresh, resumed, fresh_sched, grads[5:])
        for (n, a), (_, b) in zip(model.named_parameters(), fresh.named_parameters()):
            assert torch.equal(a, b), n
    finally:
        opt.delete_model()
        if resumed is not None:
            resumed.delete_model()


def test_resume_attaches_and_takes_the_servers_weights(server, name):
    model = torch.nn.Linear(32, 16)
    opt = RemoteOptimizer(model.named_parameters(), server.address, "rmsprop", name=name, lr=0.01)
    try:
        for _ in range(3):
            for p in model.parameters():
                p.grad = torch.randn_like(p) * 0.01
            opt.step()
        other = torch.nn.Linear(32, 16)  # a restarted worker: fresh local values
        again = RemoteOptimizer(other.named_parameters(), server.address, "rmsprop", name=name, resume=True)
        for a, b in zip(model.parameters(), other.parameters()):
            assert torch.equal(a, b)
        for p in other.parameters():
            p.grad = torch.randn_like(p) * 0.01
        again.step()
        assert again.last_result.model_step == 4
    finally:
        opt.delete_model()


def test_a_non_finite_gradient_changes_nothing_and_a_closure_runs(server):
    model = torch.nn.Linear(16, 4)
    opt = RemoteOptimizer(model.named_parameters(), server.address, "adam", lr=1e-2)
    try:
        before = [p.detach().clone() for p in model.parameters()]
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        model.bias.grad[1] = float("inf")
        opt.step()
        assert opt.last_result.skipped and opt.last_result.non_finite == ["bias"]
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
        assert opt.client.describe(opt.model_name).model_step == 0
        x, y = torch.randn(8, 16), torch.randn(8, 4)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss

        loss = opt.step(closure)
        assert loss is not None and not opt.last_result.skipped and opt.last_result.model_step == 1
        assert not torch.equal(before[0], model.weight)
    finally:
        opt.delete_model()
        opt.close()
