"""RemoteOptimizer: a torch.optim.Optimizer whose state and update live on a qstep server.

    opt = RemoteOptimizer(model.named_parameters(), "localhost:50051", "AdamW8bit", lr=1e-3)

step() sends every parameter's .grad (named as in the model), and the server's updated weights are copied into
the parameters in place. Settings take torch's and bitsandbytes' names (qstep/torch_names.py, README.md); the
values live in `param_groups` as torch keeps them, so an lr scheduler's changes travel with the next step.
state_dict() / load_state_dict() go through the server's Snapshot and Restore.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import grpc
import numpy as np
import torch

from . import config as cfg
from ._proto import snapshot_pb2
from .client import Client
from .errors import QstepError, invalid, quote
from .snapshots import Snapshot
from .tensors import ELEMENT_TYPE, dtype_name, tensor_bytes
from .torch_names import group_to_hyper, parse_optimizer, server_defaults, split_settings

class RemoteOptimizer(torch.optim.Optimizer):
    """
    params: `model.named_parameters()`, or param groups {"params": [(name, param), ...], **settings}.
    address: "host:port" of the server (or pass `client`, a qstep.Client). optimizer: a torch or bnb name.
    name: the model's name on the server (default: a new unique one); resume=True attaches to that model if it
    exists (its weights are copied into the parameters) and creates it otherwise. grad_dtype: "bf16" or "fp16"
    sends gradients narrowed (half the bytes of fp32); default each gradient's own dtype.
    overrides: {param name: settings} (qstep/bnb names, e.g. {"emb.weight": {"optim_bits": 32}}).
    Connection: token, tls, root_certificates, private_key, certificate_chain, server_name, timeout (forwarded to
    qstep.Client); step_timeout: the deadline of each step in seconds (default none).
    """

    def __init__(self, params: Iterable[Any], address: Optional[str] = None, optimizer: str = "adamw", *,
                 client: Optional[Client] = None, name: Optional[str] = None, resume: bool = False,
                 grad_dtype: Any = None, non_finite: Optional[str] = None,
                 overrides: Optional[Mapping[str, Mapping[str, Any]]] = None, token: Optional[str] = None,
                 tls: bool = False, root_certificates: Optional[bytes] = None, private_key: Optional[bytes] = None,
                 certificate_chain: Optional[bytes] = None, server_name: Optional[str] = None,
                 timeout: float = 30.0, step_timeout: Optional[float] = None, **settings: Any):
        self.optimizer_name, implied = parse_optimizer(optimizer)
        self._owns_client = client is None
        if client is None:
            if address is None:
                raise invalid("RemoteOptimizer: give the server's address or a qstep.Client")
            client = Client(address, token=token, tls=tls, root_certificates=root_certificates,
                            private_key=private_key, certificate_chain=certificate_chain, server_name=server_name,
                            timeout=timeout)
        self.client = client
        if resume and not name:
            raise invalid("RemoteOptimizer: resume=True needs the model's name")
        self.model_name = name or f"torch-{uuid.uuid4().hex[:16]}"
        self.grad_dtype = dtype_name(grad_dtype, "grad_dtype") if grad_dtype is not None else None
        self.non_finite = non_finite
        self.step_timeout = step_timeout
        self.last_result = None
        self._ready = False

        defaults, layout = split_settings(self.optimizer_name, settings, implied, "settings")
        groups = self._groups(params, defaults, layout)
        super().__init__(groups, defaults)
        self._ready = True
        self._check_overrides(overrides)
        self._create_or_attach(resume, overrides or {})

    # -- settings -------------------------------------------------------------------------------------------------

    def _groups(self, params: Iterable[Any], defaults: Dict[str, Any], layout: Dict[str, Any]) -> List[dict]:
        server = server_defaults(self.client.server_info(), self.optimizer_name)
        base = {**server, **defaults}
        items = list(params)
        if not items:
            raise invalid("RemoteOptimizer: no parameters given")
        raw_groups = items if isinstance(items[0], dict) else [{"params": items}]
        groups = []
        for i, g in enumerate(raw_groups):
            if not isinstance(g, dict) or "params" not in g:
                raise invalid(f"param group {i}: expected a dict with 'params'")
            pairs = list(g["params"])
            for p in pairs:
                if not (isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], torch.Tensor)):
                    raise invalid(f"param group {i}: parameters must be (name, tensor) pairs, as from "
                                  f"model.named_parameters(); got {quote(p)}")
            hyper, glayout = split_settings(self.optimizer_name, {k: v for k, v in g.items() if k != "params"}, layout,
                                            f"param group {i}")
            groups.append({"params": [p for _, p in pairs], "names": [n for n, _ in pairs], **base, **hyper,
                           "qstep_layout": glayout})
        self.defaults_layout = layout
        return groups

    def _check_overrides(self, overrides: Optional[Mapping[str, Any]]) -> None:
        names = set(self.param_names)
        for key in overrides or {}:
            if key not in names:
                raise invalid(f"overrides: {quote(key)} is not a parameter of this optimizer")

    def add_param_group(self, param_group: dict) -> None:
        if self._ready:
            raise QstepError(grpc.StatusCode.FAILED_PRECONDITION,
                             "RemoteOptimizer: the model on the server has a fixed set of parameters; "
                             "create a new optimizer to add parameters")
        super().add_param_group(param_group)

    @property
    def param_names(self) -> List[str]:
        return [n for g in self.param_groups for n in g["names"]]

    def named_params(self) -> List[Tuple[str, torch.Tensor]]:
        return [(n, p) for g in self.param_groups for n, p in zip(g["names"], g["params"])]

    # -- model on the server --------------------------------------------------------------------------------------

    def _config(self):
        """Model settings (group 0) and per-parameter overrides (other groups, then the caller's)."""
        first = self.param_groups[0]
        model = {**group_to_hyper(self.optimizer_name, first), **first["qstep_layout"]}
        over: Dict[str, Dict[str, Any]] = {}
        for g in self.param_groups[1:]:
            mine = {**group_to_hyper(self.optimizer_name, g), **g["qstep_layout"]}
            diff = {k: v for k, v in mine.items() if model.get(k) != v}
            for n in g["names"]:
                if diff:
                    over[n] = dict(diff)
        return model, over

    def _create_or_attach(self, resume: bool, user_overrides: Mapping[str, Mapping[str, Any]]) -> None:
        named = self.named_params()
        if resume:
            try:
                desc = self.client.describe(self.model_name)
            except QstepError as err:
                if err.code != grpc.StatusCode.NOT_FOUND:
                    raise
            else:
                self._attach(desc, named)
                return
        model, over = self._config()
        for n, o in user_overrides.items():
            over[n] = {**over.get(n, {}), **o}
        try:
            self.client.create_model(self.model_name, named, self.optimizer_name, overrides=over,
                                     non_finite=self.non_finite, **model)
        except QstepError as err:
            if err.code == grpc.StatusCode.ALREADY_EXISTS:
                raise QstepError(err.code, f"{err.details} (pass resume=True to attach to it)") from None
            raise
        try:
            self.client.upload_parameters(self.model_name, named)
        except BaseException:
            self.client.delete_model(self.model_name)
            raise

    def _attach(self, desc, named) -> None:
        remote = {p.name: p for p in desc.params}
        local = {n for n, _ in named}
        if set(remote) != local:
            missing, extra = sorted(local - set(remote))[:5], sorted(set(remote) - local)[:5]
            raise QstepError(grpc.StatusCode.FAILED_PRECONDITION,
                             f"model {self.model_name} has other parameters: missing on the server {missing}, "
                             f"not in this model {extra}")
        for n, p in named:
            r = remote[n]
            if tuple(r.shape) != tuple(p.shape) or r.dtype != cfg.common_pb2.DType.Value(
                    "DTYPE_" + dtype_name(p.dtype).upper()):
                raise QstepError(grpc.StatusCode.FAILED_PRECONDITION,
                                 f"parameter {n}: the server holds shape {list(r.shape)} dtype "
                                 f"{cfg.common_pb2.DType.Name(r.dtype)}, this model {list(p.shape)} {p.dtype}")
        if cfg.optimizer_name(desc.optimizer.optimizer) != self.optimizer_name:
            raise QstepError(grpc.StatusCode.FAILED_PRECONDITION,
                             f"model {self.model_name} runs {cfg.optimizer_name(desc.optimizer.optimizer)}, "
                             f"not {self.optimizer_name}")
        if not desc.ready:
            self.client.upload_parameters(self.model_name, [(n, p) for n, p in named if not remote[n].uploaded])
            return
        snap = self.client.snapshot(self.model_name, weights=True, state="none")
        with torch.no_grad():
            for n, p in named:
                p.copy_(snap.tensor(n).reshape(p.shape))

    # -- the step -------------------------------------------------------------------------------------------------

    def _step_hyper(self, stepped: List[str]):
        """This step's hyperparameters: one set when every group agrees, else one per parameter."""
        per_group = [group_to_hyper(self.optimizer_name, g) for g in self.param_groups]
        if all(h == per_group[0] for h in per_group):
            return per_group[0], None
        wanted = set(stepped)
        per_param = {n: h for g, h in zip(self.param_groups, per_group) for n in g["names"] if n in wanted}
        return None, per_param

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads: Dict[str, torch.Tensor] = {}
        into: Dict[str, torch.Tensor] = {}
        for n, p in self.named_params():
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise invalid(f"{n}: sparse gradients are not supported")
            grads[n] = p.grad
            into[n] = p
        if not grads:
            return loss
        hyper, param_hyper = self._step_hyper(list(grads))
        self.last_result = self.client.step(self.model_name, grads, grad_dtype=self.grad_dtype, weights_into=into,
                                            hyper=hyper, param_hyper=param_hyper, non_finite=self.non_finite,
                                            timeout=self.step_timeout)
        return loss

    # -- state ----------------------------------------------------------------------------------------------------

    def state_dict(self) -> Dict[str, Any]:
        """torch's layout (param_groups with indices and hyperparameters) plus the server's raw optimizer state."""
        snap = self.client.snapshot(self.model_name, weights=False, state="raw")
        groups, index = [], 0
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = list(range(index, index + len(g["params"])))
            index += len(g["params"])
            groups.append(packed)
        return {
            "state": {},
            "param_groups": groups,
            "qstep": {"model": self.model_name, "optimizer": self.optimizer_name,
                      "header": snap.header.SerializeToString(),
                      "tensors": {k: v.tobytes() for k, v in snap.data.items()}},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """
        Restores the optimizer state and the param groups' hyperparameters, and sends the parameters' current
        values as the model's weights (load the model's own state_dict first, as with any torch optimizer).
        """
        q = state_dict.get("qstep") if isinstance(state_dict, Mapping) else None
        if not isinstance(q, Mapping):
            raise invalid("load_state_dict: not a RemoteOptimizer state_dict (no 'qstep' entry)")
        if q.get("optimizer") != self.optimizer_name:
            raise invalid(f"load_state_dict: the state is of {quote(q.get('optimizer'))}, this optimizer runs "
                          f"{self.optimizer_name}")
        groups = state_dict.get("param_groups", [])
        if len(groups) != len(self.param_groups) or any(
                list(s.get("names", [])) != list(g["names"]) for s, g in zip(groups, self.param_groups)):
            raise invalid("load_state_dict: the saved param groups name other parameters than this optimizer's")
        saved = snapshot_pb2.SnapshotHeader.FromString(q["header"])
        header = snapshot_pb2.SnapshotHeader()
        header.CopyFrom(saved)
        del header.tensors[:]
        data: Dict[str, np.ndarray] = {}
        for n, p in self.named_params():
            t = tensor_bytes(n, p)
            header.tensors.add(name=n, param=n, role=snapshot_pb2.TENSOR_ROLE_WEIGHTS,
                               element_type=cfg.common_pb2.ElementType.Value("ELEMENT_TYPE_" + ELEMENT_TYPE[t.dtype]),
                               shape=list(p.shape), byte_length=t.nbytes)
            data[n] = t.data
        for t in saved.tensors:
            header.tensors.add().CopyFrom(t)
            data[t.name] = np.frombuffer(q["tensors"][t.name], np.uint8)
        header.total_bytes = sum(t.byte_length for t in header.tensors)
        self.client.restore(self.model_name, Snapshot(header, data))
        for s, g in zip(groups, self.param_groups):
            for k, v in s.items():
                if k not in ("params", "names", "qstep_layout"):
                    g[k] = v

    def sync_parameters(self) -> None:
        """Sends the parameters' current values to the server (after changing them outside step())."""
        header = snapshot_pb2.SnapshotHeader(format_version=1, model=self.model_name,
                                             state=snapshot_pb2.STATE_FORMAT_NONE)
        data: Dict[str, np.ndarray] = {}
        for n, p in self.named_params():
            t = tensor_bytes(n, p)
            header.tensors.add(name=n, param=n, role=snapshot_pb2.TENSOR_ROLE_WEIGHTS,
                               element_type=cfg.common_pb2.ElementType.Value("ELEMENT_TYPE_" + ELEMENT_TYPE[t.dtype]),
                               shape=list(p.shape), byte_length=t.nbytes)
            data[n] = t.data
        header.total_bytes = sum(t.byte_length for t in header.tensors)
        self.client.restore(self.model_name, Snapshot(header, data))

    def delete_model(self) -> None:
        """Frees the model on the server."""
        self.client.delete_model(self.model_name)

    def close(self) -> None:
        """Closes the connection (when this optimizer opened it); the model stays on the server."""
        if self._owns_client:
            self.client.close()
