"""Bad input gets a clear QstepError with the right status code, quotes input only in bounded length, and changes
nothing on the server (fingerprints before and after)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import torch

import qstep
from qstep.torch import RemoteOptimizer
from helpers import fingerprint, make_model, randn

INVALID = grpc.StatusCode.INVALID_ARGUMENT
SPECS = [("w", [64, 64], "fp32"), ("b", [64], "fp16")]


@pytest.fixture
def ready(client, name):
    make_model(client, name, SPECS, "adam", optim_bits=8, min_8bit_size=1024)
    client.step(name, {"w": randn([64, 64], "fp32", 0.01), "b": randn([64], "fp16", 0.01)})
    yield name
    client.delete_model(name)


def refused(code, fn, *args, **kwargs) -> qstep.QstepError:
    with pytest.raises(qstep.QstepError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, str(info.value)
    return info.value


@pytest.mark.parametrize("grads, code, says", [
    ({"w": np.zeros((64, 63), np.float32) + 0.01}, INVALID, "w"),  # wrong element count
    ({"w": np.full((64, 64), 0.01, np.float64)}, INVALID, "float64"),  # dtype qstep does not carry
    ({"w": torch.full((64, 64), 1, dtype=torch.int32)}, INVALID, "int32"),
    ({"nope": np.full((64, 64), 0.01, np.float32)}, grpc.StatusCode.NOT_FOUND, "nope"),  # unknown parameter
    ({"w": np.full(64 * 64, 0.01, np.uint16)}, INVALID, "uint16"),  # bits without saying fp16 or bf16
    ({"w": b"\x00\x01\x02"}, INVALID, "dtype"),  # raw bytes without a dtype
    ({}, INVALID, "no gradients"),
    ([("w", randn([64, 64])), ("w", randn([64, 64]))], INVALID, "twice"),
])
def test_bad_gradients_are_refused_and_change_nothing(client, ready, grads, code, says):
    before = fingerprint(client, ready)
    err = refused(code, client.step, ready, grads)
    assert says in err.details
    assert fingerprint(client, ready) == before


@pytest.mark.parametrize("kwargs, says", [
    (dict(hyper={"lr": -1.0}), "lr"),
    (dict(hyper={"learning_rate": 0.1}), "learning_rate"),
    (dict(grad_dtype="int8"), "int8"),
    (dict(weights_into={"w": torch.empty(10)}), "elements"),
    (dict(weights_into={"b": torch.empty(64)}), "no gradient"),
    (dict(non_finite="ignore"), "non_finite"),
    (dict(param_hyper={"b": {"lr": 0.1}}), "b"),  # b is not stepped here
    (dict(retries=-1), "retries"),
])
def test_bad_step_options_are_refused_and_change_nothing(client, ready, kwargs, says):
    before = fingerprint(client, ready)
    err = refused(INVALID, client.step, ready, {"w": randn([64, 64], "fp32", 0.01)}, **kwargs)
    assert says in err.details
    assert fingerprint(client, ready) == before


@pytest.mark.parametrize("step_id", [-1, 2**64, 1.5, True])
def test_bad_step_ids_are_refused(client, ready, step_id):
    before = fingerprint(client, ready)
    refused(INVALID, client.step, ready, {"w": randn([64, 64], "fp32", 0.01)}, step_id=step_id)
    assert fingerprint(client, ready) == before


def test_a_step_past_its_deadline_changes_nothing(client, ready):
    before = fingerprint(client, ready)
    refused(grpc.StatusCode.DEADLINE_EXCEEDED, client.step, ready, {"w": randn([64, 64], "fp32", 0.01)}, timeout=1e-6)
    assert fingerprint(client, ready) == before


def test_non_finite_gradients_skip_or_fail_and_change_nothing(client, ready):
    before = fingerprint(client, ready)
    g = randn([64, 64], "fp32", 0.01)
    g[3, 5] = float("nan")
    r = client.step(ready, {"w": g})
    assert r.skipped and r.non_finite == ["w"] and fingerprint(client, ready) == before
    refused(INVALID, client.step, ready, {"w": g}, non_finite="error")
    assert fingerprint(client, ready) == before


UNKNOWN_MODEL_CALLS = [
    lambda c, m: c.describe(m), lambda c, m: c.delete_model(m), lambda c, m: c.snapshot(m),
    lambda c, m: c.step(m, {"w": randn([64, 64])}), lambda c, m: c.upload_parameters(m, {"w": randn([64, 64])}),
]


def test_unknown_models_and_names(client, ready):
    for call in UNKNOWN_MODEL_CALLS:
        err = refused(grpc.StatusCode.NOT_FOUND, call, client, "no-such-model")
        assert "no-such-model" in err.details
    refused(grpc.StatusCode.NOT_FOUND, client.snapshot, ready, params=["nope"])


def test_a_long_unknown_name_is_quoted_in_bounded_length(client):
    long = "x" * 5000
    for call in UNKNOWN_MODEL_CALLS:
        err = refused(grpc.StatusCode.NOT_FOUND, call, client, long)
        assert long not in str(err)
        assert len(str(err)) < 2000


@pytest.mark.parametrize("args, kwargs, code", [
    (("ok", [("w", [4], "int8")]), {}, INVALID),
    (("ok", [("w", [4, -1], "fp32")]), {}, INVALID),
    (("ok", [("w", "4", "fp32")]), {}, INVALID),
    (("ok", [("w", [4], "fp32"), ("w", [4], "fp32")]), {}, INVALID),
    (("ok", []), {}, INVALID),
    (("ok", [("w", [4], "fp32")], "adamx"), {}, INVALID),
    (("ok", [("w", [4], "fp32")]), dict(learning_rate=1), INVALID),
    (("ok", [("w", [4], "fp32")]), dict(lr=float("nan")), INVALID),
    (("ok", [("w", [4], "fp32")]), dict(optim_bits=7), INVALID),
    (("ok", [("w", [4], "fp32")]), dict(betas=[0.9, 1.5]), INVALID),
    (("ok", [("w", [4], "fp32")]), dict(overrides={"v": {"lr": 1}}), INVALID),
    (("bad name!", [("w", [4], "fp32")]), {}, INVALID),
])
def test_bad_models_are_refused_and_create_nothing(client, args, kwargs, code):
    before = [m.name for m in client.list_models()]
    refused(code, client.create_model, *args, **kwargs)
    assert [m.name for m in client.list_models()] == before


def test_duplicate_model_and_bad_uploads(client, ready):
    refused(grpc.StatusCode.ALREADY_EXISTS, client.create_model, ready, SPECS)
    before = fingerprint(client, ready)
    refused(grpc.StatusCode.FAILED_PRECONDITION, client.upload_parameters, ready, {"w": randn([64, 64])})
    assert fingerprint(client, ready) == before
    refused(INVALID, client.upload_parameters, ready, {"w": "values"})


def test_bad_snapshot_and_restore_input(client, ready, tmp_path):
    refused(INVALID, client.snapshot, ready, state="bogus")
    before = fingerprint(client, ready)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    refused(INVALID, client.restore, ready, junk)
    # A snapshot of another layout: the state does not fit, nothing changes.
    other = ready + "-o"
    make_model(client, other, [("w", [32, 32], "fp32"), ("b", [64], "fp16")], "adam")
    path = tmp_path / "other.safetensors"
    client.snapshot(other, path)
    err = refused(grpc.StatusCode.FAILED_PRECONDITION, client.restore, ready, path)
    assert "w" in err.details
    assert fingerprint(client, ready) == before
    client.delete_model(other)


def test_bad_client_options():
    refused(INVALID, qstep.Client, "")
    refused(INVALID, qstep.Client, "127.0.0.1:1", token="two words")
    refused(INVALID, qstep.Client, "127.0.0.1:1", max_chunk_bytes=2)
    refused(INVALID, qstep.Client, "127.0.0.1:1", metadata={"Authorization": "x"})


def test_unreachable_server_is_unavailable():
    with qstep.Client("127.0.0.1:1", timeout=2) as c:
        refused(grpc.StatusCode.UNAVAILABLE, c.server_info)
        refused(grpc.StatusCode.UNAVAILABLE, c.wait_for_ready, 0.5)


@pytest.mark.parametrize("optimizer, kwargs, says", [
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True), "nesterov"),
    ("adam", dict(amsgrad=True), "amsgrad"),
    ("rmsprop", dict(centered=True), "centered"),
    ("rmsprop", dict(momentum=0.9), "momentum"),
    ("adagrad", dict(lr_decay=0.1), "lr_decay"),
    ("adam", dict(betas=(0.9,)), "betas"),
    ("adam", dict(betas="0.9"), "betas"),
    ("adam", dict(betas=0.9), "betas"),
    ("adam", dict(learning_rate=0.1), "learning_rate"),
    ("AdamX8bit", {}, "AdamX8bit"),
])
def test_remote_optimizer_refuses_what_it_cannot_do(server, client, optimizer, kwargs, says):
    before = [m.name for m in client.list_models()]
    p = torch.nn.Parameter(randn([16, 16]))
    err = refused(INVALID, RemoteOptimizer, [("w", p)], server.address, optimizer, **kwargs)
    assert says in err.details
    assert [m.name for m in client.list_models()] == before


def test_remote_optimizer_resume_checks_the_model(server, client, name):
    p = torch.nn.Parameter(randn([16, 16]))
    opt = RemoteOptimizer([("w", p)], server.address, "adam", name=name)
    refused(grpc.StatusCode.ALREADY_EXISTS, RemoteOptimizer, [("w", p)], server.address, "adam", name=name)
    q = torch.nn.Parameter(randn([16, 8]))
    err = refused(grpc.StatusCode.FAILED_PRECONDITION, RemoteOptimizer, [("w", q)], server.address, "adam",
                  name=name, resume=True)
    assert "[16, 8]" in err.details
    refused(grpc.StatusCode.FAILED_PRECONDITION, RemoteOptimizer, [("v", p)], server.address, "adam", name=name,
            resume=True)
    refused(grpc.StatusCode.FAILED_PRECONDITION, opt.add_param_group, {"params": [q]})
    opt.delete_model()
