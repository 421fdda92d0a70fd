"""qstep.Client against a real server: every method, chunking, dtypes, idempotent steps, snapshots and restores."""

from __future__ import annotations

import json
import os
import struct
import subprocess

import grpc
import numpy as np
import pytest
import torch

import qstep
from qstep.tensors import bf16_from_f32, f32_from_bf16
from conftest import ROOT
from helpers import fingerprint, make_model, randn

SPECS = [("enc.weight", [64, 130], "fp32"), ("enc.bias", [130], "bf16"), ("head.weight", [10, 130], "fp16")]


def test_server_info_reports_limits_and_capabilities(client):
    client.wait_for_ready(10)
    info = client.server_info()
    assert info.version and info.backend in ("cpu", "cuda")
    assert info.limits.max_chunk_bytes > 0 and info.limits.idempotency_window > 0
    names = {qstep.config.optimizer_name(o.optimizer) for o in info.capabilities.optimizers}
    assert {"adam", "adamw", "sgd", "rmsprop", "adagrad"} <= names
    assert client.chunk_bytes() == info.limits.max_chunk_bytes


def test_model_lifecycle_create_upload_describe_list_delete(client, name):
    desc = client.create_model(name, SPECS, "adamw", lr=1e-3, optim_bits=8, min_8bit_size=1024,
                               overrides={"head.weight": {"optim_bits": 32}})
    assert [p.name for p in desc.params] == [n for n, _, _ in SPECS] and not desc.ready
    up = client.upload_parameters(name, {n: randn(s, d) for n, s, d in SPECS})
    assert up.ready and up.bytes == 64 * 130 * 4 + 130 * 2 + 10 * 130 * 2
    d = client.describe(name)
    modes = {p.name: p.state_mode for p in d.params}
    assert d.ready and modes == {"enc.weight": 2, "enc.bias": 1, "head.weight": 1}  # blockwise8, fp32, fp32
    assert name in {m.name for m in client.list_models()}
    assert any(m.name == name for m in client.describe().models)
    assert client.delete_model(name).freed_bytes > 0
    assert name not in {m.name for m in client.list_models()}


def test_create_from_named_parameters_and_upload_them(client, name):
    model = torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.Linear(30, 5)).to(torch.bfloat16)
    client.create_model(name, model.named_parameters(), "sgd", lr=0.1, betas=[0.9])
    client.upload_parameters(name, model.named_parameters())
    snap = client.snapshot(name, state="none")
    for n, p in model.named_parameters():
        assert torch.equal(snap.tensor(n), p.detach()), n
    client.delete_model(name)


@pytest.mark.parametrize("chunk", [4096, None])
def test_step_chunks_and_returns_weights_into_tensors_and_arrays(server, name, chunk):
    with qstep.Client(server.address, max_chunk_bytes=chunk) as client:
        make_model(client, name, SPECS, "adam", lr=1e-2)
        if chunk:
            assert client.chunk_bytes() == chunk
        grads = {n: randn(s, d, 0.01) for n, s, d in SPECS}
        into = {"enc.weight": torch.empty(64, 130), "enc.bias": np.empty(130, np.uint16),
                "head.weight": torch.empty(10, 130, dtype=torch.float16)}
        r = client.step(name, grads, weights_into=into)
        assert r.model_step == 1 and not r.replayed and [p.step for p in r.params] == [1, 1, 1]
        assert r.weights["enc.weight"] is into["enc.weight"]
        snap = client.snapshot(name, state="none")
        assert torch.equal(into["enc.weight"], snap.tensor("enc.weight"))
        assert np.array_equal(into["enc.bias"], snap.array("enc.bias"))
        assert torch.equal(into["head.weight"], snap.tensor("head.weight"))
        # Returned without targets: numpy arrays of the parameters' shapes.
        r2 = client.step(name, grads, return_weights=True)
        snap2 = client.snapshot(name, state="none")
        assert r2.model_step == 2 and r2.weights["enc.weight"].shape == (64, 130)
        assert np.array_equal(r2.weights["enc.bias"], snap2.array("enc.bias"))
        client.delete_model(name)


def test_weights_into_other_dtype_or_layout_is_converted(client, name):
    make_model(client, name, [("w", [32, 48], "bf16")], "adam")
    target = torch.empty(48, 32).t()  # fp32, not contiguous: staged, then copied over
    client.step(name, {"w": randn([32, 48], "bf16", 0.01)}, weights_into={"w": target})
    assert torch.equal(target, client.snapshot(name, state="none").tensor("w").float())
    client.delete_model(name)


def test_numpy_and_bf16_gradients(client, name):
    """A bf16 gradient sent for an fp32 parameter steps exactly as its fp32 value does (the server widens it)."""
    other = name + "-b"
    p0 = randn([4096], "fp32", 0.1)
    for n in (name, other):
        client.create_model(n, [("w", [4096], "fp32")], "adamw")
        client.upload_parameters(n, {"w": p0.numpy()})
    g = randn([4096], "fp32", 0.01).numpy()
    bits = bf16_from_f32(g)
    client.step(name, {"w": g}, grad_dtype="bf16")
    client.step(other, {"w": f32_from_bf16(bits)})
    assert fingerprint(client, name) == fingerprint(client, other)
    client.step(name, {"w": bits}, grad_dtype="bf16")  # bit patterns in a uint16 array
    client.step(other, {"w": torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16)})
    assert fingerprint(client, name) == fingerprint(client, other)
    client.delete_model(name)
    client.delete_model(other)


def test_step_ids_increase_and_a_repeat_is_replayed_not_applied(client, name):
    make_model(client, name, [("w", [1000], "fp32")])
    g = {"w": randn([1000], "fp32", 0.01)}
    r1 = client.step(name, g)
    r2 = client.step(name, g)
    assert r2.step_id > r1.step_id and r2.worker_id == client.worker_id == r1.worker_id
    before = fingerprint(client, name)
    again = client.step(name, g, step_id=r2.step_id, return_weights=True)
    assert again.replayed and again.model_step == 2 and fingerprint(client, name) == before
    assert np.array_equal(again.weights["w"], client.snapshot(name, state="none").array("w"))
    client.delete_model(name)


def test_a_step_whose_transport_failed_is_retried_with_its_ids(client, name, monkeypatch):
    make_model(client, name, [("w", [1000], "fp32")])
    real = client._step_once
    seen = []

    def flaky(head, header, *rest):
        seen.append((header.worker_id, header.step_id))
        result = real(head, header, *rest)
        if len(seen) == 1:  # applied, but the reply "was lost"
            raise qstep.QstepError(grpc.StatusCode.UNAVAILABLE, "connection reset")
        return result

    monkeypatch.setattr(client, "_step_once", flaky)
    client.retry_backoff = 0.01
    r = client.step(name, {"w": randn([1000], "fp32", 0.01)})
    assert len(seen) == 2 and seen[0] == seen[1] and r.replayed and r.model_step == 1
    assert client.describe(name).model_step == 1
    client.delete_model(name)


def read_safetensors(path):
    """An independent minimal reader: header length, JSON, then each tensor's bytes by data_offsets."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    kinds = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "U8": torch.uint8}
    out = {}
    for k, v in header.items():
        b, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(raw[8 + n + b : 8 + n + e]), dtype=kinds[v["dtype"]]).reshape(v["shape"])
    return out, meta


def test_snapshot_file_restores_bit_exactly_and_reads_as_safetensors(client, name, tmp_path):
    make_model(client, name, SPECS, "adamw", optim_bits=8, min_8bit_size=1024)
    for _ in range(3):
        client.step(name, {n: randn(s, d, 0.01) for n, s, d in SPECS})
    path = tmp_path / "snap.safetensors"
    header = client.snapshot(name, path)
    assert not os.path.exists(str(path) + ".partial")
    tensors, meta = read_safetensors(path)
    assert meta["format"] == "qstep.snapshot" and meta["model_step"] == "3" and meta["state_format"] == "STATE_FORMAT_RAW"
    assert set(tensors) == {t.name for t in header.tensors}
    mem = client.snapshot(name)
    for n in mem.names:
        assert torch.equal(tensors[n], mem.tensor(n)), n
    try:
        from safetensors.torch import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        for k, v in load_file(str(path)).items():
            assert torch.equal(v, tensors[k])
    want = fingerprint(client, name)
    client.step(name, {n: randn(s, d, 0.01) for n, s, d in SPECS})
    assert fingerprint(client, name) != want
    r = client.restore(name, path)
    assert r.model_step == 3 and fingerprint(client, name) == want
    # The same file into a fresh model of the same layout, and an in-memory snapshot too.
    other = name + "-copy"
    client.create_model(other, SPECS, "adamw", optim_bits=8, min_8bit_size=1024)
    client.restore(other, mem)
    assert client.describe(other).ready and client.snapshot(other).data.keys() == mem.data.keys()
    for n in mem.names:
        assert np.array_equal(client.snapshot(other).data[n], mem.data[n]), n
    client.delete_model(name)
    client.delete_model(other)


def test_files_of_the_typescript_cli_restore_through_python_and_back(server, client, name, tmp_path):
    make_model(client, name, SPECS, "adam")
    client.step(name, {n: randn(s, d, 0.01) for n, s, d in SPECS})
    want = fingerprint(client, name)
    ts_file, py_file = tmp_path / "ts.safetensors", tmp_path / "py.safetensors"
    cli = ["node", str(ROOT / "bin" / "qstep.js"), "--address", server.address]
    subprocess.run(cli + ["snapshot", name, str(ts_file)], check=True, cwd=ROOT, capture_output=True, timeout=120)
    client.step(name, {n: randn(s, d, 0.01) for n, s, d in SPECS})
    client.restore(name, ts_file)
    assert fingerprint(client, name) == want
    client.snapshot(name, py_file)
    client.step(name, {n: randn(s, d, 0.01) for n, s, d in SPECS})
    subprocess.run(cli + ["restore", name, str(py_file)], check=True, cwd=ROOT, capture_output=True, timeout=120)
    assert fingerprint(client, name) == want
    client.delete_model(name)
