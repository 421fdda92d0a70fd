"""A model of 20,000 small parameters through the Python client (docs/service.md, "Many-parameter models"): the
create request, the Step header and result, and the snapshot header each pass 256 KiB and travel in parts; the
client splits and joins them. Weights are checked against a float64 SGD-with-momentum reference written here."""

from __future__ import annotations

import numpy as np

from helpers import fingerprint

N = 20_000
LR = 0.01
MOMENTUM = 0.9


def test_twenty_thousand_parameters_create_step_snapshot_restore(client, name, tmp_path):
    names = [f"layers.{i // 100}.experts.{i % 100}.weight" for i in range(N)]
    rng = np.random.default_rng()
    desc = client.create_model(name, [(n, [4], "fp32") for n in names], "sgd", lr=LR, betas=[MOMENTUM])
    assert desc.param_count == N and 0 < len(desc.params) < N
    init = {n: rng.standard_normal(4).astype(np.float32) for n in names}
    up = client.upload_parameters(name, init)
    assert up.ready
    p = {n: init[n].astype(np.float64) for n in names}
    buf = {}
    for step in (1, 2):
        grads = {n: rng.standard_normal(4).astype(np.float32) for n in names}
        for n in names:
            g = grads[n].astype(np.float64)
            buf[n] = g if step == 1 else buf[n] * MOMENTUM + g
            p[n] = p[n] - LR * buf[n]
        r = client.step(name, grads, return_weights=True)
        assert r.model_step == step and not r.replayed
        assert [x.name for x in r.params] == names
        assert all(x.step == step for x in r.params)
        assert len(r.weights) == N
        for n in names:
            np.testing.assert_allclose(np.asarray(r.weights[n], np.float64).reshape(-1), p[n], rtol=1e-5, atol=1e-6)
    # A repeat of the last step id replays the recorded result, in parts again.
    again = client.step(name, grads, step_id=r.step_id, worker_id=r.worker_id)
    assert again.replayed and len(again.params) == N

    before = fingerprint(client, name)
    snap = client.snapshot(name, state="raw")
    assert len(snap.header.params) == N and len(snap.header.tensors) == 2 * N
    path = tmp_path / "many.safetensors"
    client.snapshot(name, path, state="raw")
    client.step(name, {n: rng.standard_normal(4).astype(np.float32) for n in names})
    assert fingerprint(client, name) != before
    restored = client.restore(name, snap)
    assert restored.param_count == N and len(restored.params) == 1000
    assert fingerprint(client, name) == before
    client.step(name, {n: rng.standard_normal(4).astype(np.float32) for n in names})
    client.restore(name, path)
    assert fingerprint(client, name) == before
    client.delete_model(name)
