"""The qstep client: a thin typed layer over the generated gRPC stubs.

It chunks tensors at the server's own limit (read once from ServerInfo), views tensor memory instead of copying it,
gives every step an idempotency key (worker id, increasing step id) and retries a step whose transport failed with
the same key, copies returned weights straight into the caller's tensors, and turns every failure into QstepError.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Union

import grpc
import numpy as np

from . import config as cfg
from ._proto import info_pb2, model_pb2, service_pb2_grpc, snapshot_pb2, step_pb2
from .errors import QstepError, invalid, quote
from .safetensors import (AtomicFile, FileHeader, encode_header, iter_file_data, read_header, snapshot_header_of,
                          snapshot_metadata, element_name)
from .snapshots import Snapshot, SnapshotAssembler
from .steps import StepResult, WeightTargets
from .tensors import (DTYPE_OF_WIRE, WIRE_DTYPE, chunk_views, dtype_name, is_torch_tensor, named_items,
                      tensor_bytes)
from .parts import (create_model_parts, restore_header_parts, snapshot_header_joiner, step_header_parts,
                    step_result_joiner)
from .wire import decode_step_response, encode_chunk

# Transport failures after which a step is sent again with the same (worker id, step id): the server either never
# saw it or recorded its outcome, and answers a repeat with that outcome instead of applying it twice.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})
DEFAULT_CHUNK_BYTES = 1024 * 1024
STATE_FORMATS = {"none": snapshot_pb2.STATE_FORMAT_NONE, "raw": snapshot_pb2.STATE_FORMAT_RAW,
                 "dequantized": snapshot_pb2.STATE_FORMAT_DEQUANTIZED}

def _identity(b: bytes) -> bytes:
    return b


class Client:
    """
    A connection to a qstep server at `address` ("host:port").

    TLS: pass `tls=True` (system roots), or `root_certificates` (PEM bytes of the CA) and, for mutual TLS,
    `private_key` and `certificate_chain`; `server_name` overrides the name checked in the server's certificate.
    `credentials` takes ready grpc.ChannelCredentials instead. `token` is sent with every call as
    "authorization: Bearer <token>" metadata (also over plaintext, for servers behind a TLS-terminating proxy and
    for tests). `timeout` is the default deadline in seconds of unary calls; streams (upload, step, snapshot,
    restore) have none unless a call passes one. `worker_id` names this worker's steps for idempotency (default:
    unique per Client); `step_retries` is how often a step whose transport failed is sent again.
    """

    def __init__(self, address: str, *, tls: bool = False, root_certificates: Optional[bytes] = None,
                 private_key: Optional[bytes] = None, certificate_chain: Optional[bytes] = None,
                 server_name: Optional[str] = None, credentials: Optional[grpc.ChannelCredentials] = None,
                 token: Optional[str] = None, metadata: Optional[Mapping[str, str]] = None, timeout: float = 30.0,
                 worker_id: Optional[str] = None, max_chunk_bytes: Optional[int] = None, step_retries: int = 3,
                 retry_backoff: float = 0.2, channel_options: Optional[Sequence[tuple]] = None):
        if not isinstance(address, str) or not address:
            raise invalid(f"address: expected 'host:port', got {quote(address)}")
        if max_chunk_bytes is not None and (not isinstance(max_chunk_bytes, int) or max_chunk_bytes < 4):
            raise invalid(f"max_chunk_bytes: expected an integer >= 4, got {quote(max_chunk_bytes)}")
        if not isinstance(step_retries, int) or step_retries < 0:
            raise invalid(f"step_retries: expected an integer >= 0, got {quote(step_retries)}")
        self.address = address
        self.timeout = timeout
        self.worker_id = worker_id if worker_id is not None else f"py-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.step_retries = step_retries
        self.retry_backoff = retry_backoff
        self._chunk_limit = max_chunk_bytes
        self._chunk_bytes: Optional[int] = None
        self._metadata = self._build_metadata(token, metadata)
        # Step ids increase per worker and must keep increasing across restarts of a worker that reuses its id:
        # start from the clock (microseconds), then count.
        self._step_lock = threading.Lock()
        self._last_step_id = time.time_ns() // 1000

        options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        options.extend(channel_options or ())
        if credentials is None and (tls or root_certificates or private_key or certificate_chain):
            credentials = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
        self.secure = credentials is not None
        self._channel = (grpc.secure_channel(address, credentials, options) if credentials is not None
                         else grpc.insecure_channel(address, options))
        self.stub = service_pb2_grpc.QstepStub(self._channel)
        # The tensor streams pass bytes encoded by qstep.wire (one copy of the data) through unchanged.
        self._step = self._channel.stream_stream("/qstep.v1.Qstep/Step", request_serializer=_identity,
                                                 response_deserializer=decode_step_response)
        self._upload = self._channel.stream_unary("/qstep.v1.Qstep/UploadParameters", request_serializer=_identity,
                                                  response_deserializer=model_pb2.UploadResponse.FromString)

    @staticmethod
    def _build_metadata(token: Optional[str], metadata: Optional[Mapping[str, str]]):
        md = []
        for k, v in (metadata or {}).items():
            if not isinstance(k, str) or not isinstance(v, str) or k != k.lower() or not k:
                raise invalid(f"metadata: expected lower-case string keys and string values, got {quote(k)}")
            md.append((k, v))
        if token is not None:
            if not isinstance(token, str) or not token or any(c.isspace() or not c.isprintable() for c in token):
                raise invalid("token: expected a non-empty string of printable characters without spaces")
            md.append(("authorization", f"Bearer {token}"))
        return tuple(md)

    # -- plumbing -----------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_for_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the channel is connected; QstepError UNAVAILABLE after `timeout` seconds."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise QstepError(grpc.StatusCode.UNAVAILABLE, f"no connection to {self.address} within {timeout} s") from None

    def _unary(self, method, request, timeout: Optional[float]):
        try:
            return method(request, timeout=self.timeout if timeout is None else timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise QstepError.from_rpc(err) from None

    def chunk_bytes(self) -> int:
        """Tensor bytes per message: the server's Limits.max_chunk_bytes (or less, if the Client was given less)."""
        if self._chunk_bytes is None:
            server = self.server_info().limits.max_chunk_bytes or DEFAULT_CHUNK_BYTES
            self._chunk_bytes = min(server, self._chunk_limit) if self._chunk_limit else server
        return self._chunk_bytes

    # -- unary calls ----------------------------------------------------------------------------------------------

    def server_info(self, timeout: Optional[float] = None) -> info_pb2.ServerInfoResponse:
        """Version, backend, devices, capabilities (optimizers and their defaults) and limits."""
        return self._unary(self.stub.ServerInfo, info_pb2.ServerInfoRequest(), timeout)

    def create_model(self, name: str, parameters: Iterable[Any], optimizer: str = "adam", *,
                     overrides: Optional[Mapping[str, Mapping[str, Any]]] = None, non_finite: Optional[str] = None,
                     timeout: Optional[float] = None, **settings: Any) -> model_pb2.ModelDescription:
        """
        Allocates a model. `parameters` holds (name, shape, dtype) triples, or (name, tensor) pairs such as
        `model.named_parameters()`. `settings` are the optimizer's (lr, betas, eps, weight_decay, alpha, optim_bits,
        block_wise, block_size, min_8bit_size, percentile_clipping, max_unorm, paged, skip_zeros, t_alpha,
        t_beta3); `overrides` maps a parameter name to its own settings.
        """
        specs = [self._param_spec(p) for p in parameters]
        if not specs:
            raise invalid("parameters: a model needs at least one parameter")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise invalid(f"parameters: {quote(dup)} given twice")
        request = model_pb2.CreateModelRequest(name=name, parameters=specs,
                                               optimizer=cfg.optimizer_config(optimizer, settings, non_finite))
        for pname, o in (overrides or {}).items():
            if pname not in names:
                raise invalid(f"overrides: {quote(pname)} is not a parameter of this model")
            request.overrides[pname].CopyFrom(cfg.override_message(o, f"overrides[{pname!r}]"))
        parts = create_model_parts(request)
        if len(parts) == 1:
            return self._unary(self.stub.CreateModel, request, timeout).model
        # Too large for one message: CreateModelStream, in parts; the server creates the model once all arrived.
        try:
            return self.stub.CreateModelStream(iter(parts), timeout=timeout, metadata=self._metadata).model
        except grpc.RpcError as err:
            raise QstepError.from_rpc(err) from None

    @staticmethod
    def _param_spec(p: Any):
        from ._proto import common_pb2

        if isinstance(p, (tuple, list)) and len(p) == 2 and isinstance(p[0], str):
            name, t = p
            if not (is_torch_tensor(t) or isinstance(t, np.ndarray)):
                raise invalid(f"parameters: {quote(name)} must be a tensor or array, got {type(t).__name__}")
            dtype = dtype_name(t.dtype, f"dtype of {name}")
            shape = tuple(int(d) for d in t.shape)
        elif isinstance(p, (tuple, list)) and len(p) == 3 and isinstance(p[0], str):
            name, shape, dtype = p[0], p[1], dtype_name(p[2], f"dtype of {p[0]}")
            if not isinstance(shape, (tuple, list)) or not all(isinstance(d, int) and not isinstance(d, bool)
                                                                 and d >= 0 for d in shape):
                raise invalid(f"parameters: shape of {quote(name)} must be a list of non-negative integers, "
                              f"got {quote(shape)}")
        else:
            raise invalid(f"parameters: expected (name, shape, dtype) or (name, tensor), got {quote(p)}")
        return common_pb2.ParameterSpec(name=name, shape=list(shape), dtype=WIRE_DTYPE[dtype])

    def describe(self, model: str = "", timeout: Optional[float] = None):
        """A model's ModelDescription (memory, modes, step counters per parameter); with no model, the
        DescribeResponse of every model and the backend totals."""
        res = self._unary(self.stub.Describe, model_pb2.DescribeRequest(model=model), timeout)
        return res.models[0] if model else res

    def list_models(self, timeout: Optional[float] = None) -> List[model_pb2.ModelSummary]:
        return list(self._unary(self.stub.ListModels, model_pb2.ListModelsRequest(), timeout).models)

    def delete_model(self, name: str, timeout: Optional[float] = None) -> model_pb2.DeleteModelResponse:
        return self._unary(self.stub.DeleteModel, model_pb2.DeleteModelRequest(name=name), timeout)

    # -- tensor streams -------------------------------------------------------------------------------------------

    def upload_parameters(self, model: str, tensors: Any, *, dtype: Any = None,
                          timeout: Optional[float] = None) -> model_pb2.UploadResponse:
        """Initial values: a dict name -> tensor/array, or (name, tensor) pairs such as model.named_parameters().
        Each travels in its own dtype (or `dtype`); the server converts to the parameter's dtype."""
        items = [tensor_bytes(n, v, dtype) for n, v in named_items(tensors, "upload_parameters")]
        limit = self.chunk_bytes()
        header = model_pb2.UploadRequest(header=model_pb2.UploadHeader(model=model)).SerializeToString()

        def requests():
            yield header
            for t in items:
                name = t.name.encode("utf-8")
                width = t.nbytes // max(t.numel, 1)
                for at, view in chunk_views(t.data, limit):
                    yield encode_chunk(name, at // width, WIRE_DTYPE[t.dtype], view)

        try:
            return self._upload(requests(), timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise QstepError.from_rpc(err) from None

    def next_step_id(self) -> int:
        with self._step_lock:
            self._last_step_id += 1
            return self._last_step_id

    def step(self, model: str, grads: Any, *, step_id: Optional[int] = None, worker_id: Optional[str] = None,
             hyper: Optional[Mapping[str, Any]] = None, param_hyper: Optional[Mapping[str, Mapping[str, Any]]] = None,
             grad_dtype: Any = None, return_weights: bool = False, weights_dtype: Any = None,
             weights_into: Optional[Any] = None, non_finite: Optional[str] = None, timeout: Optional[float] = None,
             retries: Optional[int] = None) -> StepResult:
        """
        One optimizer step on the parameters named in `grads` (a dict name -> tensor/array, or (name, tensor)
        pairs); the others keep their values and state. `hyper` changes hyperparameters for this step (a scheduler's
        lr), `param_hyper` per parameter. Gradients travel as `grad_dtype` (default: each tensor's own dtype).
        `weights_into` (name -> tensor or array) receives the updated weights in place (implies return_weights);
        otherwise `return_weights=True` returns them as numpy arrays in StepResult.weights.

        The step carries (worker_id, step_id); step_id defaults to the next of this Client's increasing ids and 0
        turns idempotency off. A step whose transport fails (UNAVAILABLE) is sent again with the same ids, up to
        `retries` times (each attempt with the full `timeout`): the server applies it at most once. Weights flow only after the server applied the step:
        if the call fails while they arrive (and the retries are spent), the targets may hold part of the new
        weights; a repeat with the same step_id returns them whole.
        """
        if step_id is not None and (not isinstance(step_id, int) or isinstance(step_id, bool) or not 0 <= step_id < 2**64):
            raise invalid(f"step_id: expected an integer in [0, 2^64), got {quote(step_id)}")
        if retries is not None and (not isinstance(retries, int) or retries < 0):
            raise invalid(f"retries: expected an integer >= 0, got {quote(retries)}")
        items = [tensor_bytes(n, v, grad_dtype) for n, v in named_items(grads, "step gradients")]
        if not items:
            raise invalid("step: no gradients given (the server would step every parameter of the model)")
        wd = dtype_name(weights_dtype, "weights_dtype") if weights_dtype is not None else None
        targets = WeightTargets.build(weights_into, {t.name: t.numel for t in items}, {t.name: t.shape for t in items})
        header = step_pb2.StepHeader(
            model=model, worker_id=self.worker_id if worker_id is None else worker_id,
            step_id=self.next_step_id() if step_id is None else step_id,
            gradients=[step_pb2.GradientSpec(param=t.name, dtype=WIRE_DTYPE[t.dtype]) for t in items],
            hyper=cfg.hyper_message(hyper, "hyper"),
            return_weights=bool(return_weights or targets.targets), weights_dtype=WIRE_DTYPE.get(wd, 0))
        for pname, h in (param_hyper or {}).items():
            header.param_hyper[pname].CopyFrom(cfg.hyper_message(h, f"param_hyper[{pname!r}]"))
        if non_finite is not None:
            header.non_finite = cfg.policy_enum(non_finite)
        head = [m.SerializeToString() for m in step_header_parts(header)]  # in parts when it names many
        limit = self.chunk_bytes()
        attempts = 1 + (self.step_retries if retries is None else retries) if header.step_id else 1
        for attempt in range(attempts):
            try:
                return self._step_once(head, header, items, targets, limit, timeout)
            except QstepError as err:
                if err.code not in RETRYABLE or attempt + 1 == attempts:
                    raise
                time.sleep(self.retry_backoff * (2 ** attempt))
        raise AssertionError("unreachable")

    def _step_once(self, head: List[bytes], header, items, targets: "WeightTargets", limit: int,
                   timeout: Optional[float]) -> StepResult:
        answered = threading.Event()
        chunk_count = 0

        def requests():
            nonlocal chunk_count
            yield from head
            for t in items:
                name = t.name.encode("utf-8")
                width = t.nbytes // max(t.numel, 1)
                for at, view in chunk_views(t.data, limit):
                    if answered.is_set():
                        return  # the server answered early (a replayed step): the rest is not needed
                    chunk_count += 1
                    yield encode_chunk(name, at // width, WIRE_DTYPE[t.dtype], view)
            yield step_pb2.StepRequest(commit=step_pb2.StepCommit(chunk_count=chunk_count)).SerializeToString()

        targets.reset()
        result = None
        joiner = None
        call = self._step(requests(), timeout=timeout, metadata=self._metadata)
        try:
            for msg in call:
                if isinstance(msg, step_pb2.StepResult):
                    result = msg
                    joiner = step_result_joiner(msg)  # continued by result_more parts when it lists many
                    answered.set()
                elif isinstance(msg, step_pb2.StepResultMore):
                    if joiner is None:
                        raise QstepError(grpc.StatusCode.DATA_LOSS, "a step result part before the result")
                    joiner.add(msg)
                else:
                    if joiner is not None and not joiner.complete:
                        raise QstepError(grpc.StatusCode.DATA_LOSS, "weights before the whole step result")
                    targets.receive(msg.param, DTYPE_OF_WIRE.get(msg.dtype), msg.offset, msg.data)
        except grpc.RpcError as err:
            raise QstepError.from_rpc(err) from None
        except ValueError as err:
            raise QstepError(grpc.StatusCode.DATA_LOSS, str(err)) from None
        if result is None:
            raise QstepError(grpc.StatusCode.INTERNAL, "the step stream ended without a result")
        if not joiner.complete:
            raise QstepError(grpc.StatusCode.DATA_LOSS, "the step stream ended before the whole result")
        weights = targets.finish(result.weight_bytes)
        return StepResult(model=result.model, model_step=result.model_step, skipped=result.skipped,
                          replayed=result.replayed, non_finite=list(result.non_finite), params=list(result.params),
                          weights=weights, worker_id=header.worker_id, step_id=header.step_id)

    def _snapshot_call(self, model: str, params, weights: bool, state: str, weights_dtype, timeout):
        if state not in STATE_FORMATS:
            raise invalid(f"state: expected one of {', '.join(STATE_FORMATS)}, got {quote(state)}")
        request = snapshot_pb2.SnapshotRequest(
            model=model, params=list(params or []), weights=weights, state=STATE_FORMATS[state],
            weights_dtype=WIRE_DTYPE[dtype_name(weights_dtype, "weights_dtype")] if weights_dtype is not None else 0)
        return self.stub.Snapshot(request, timeout=timeout, metadata=self._metadata)

    def snapshot(self, model: str, path: Optional[Union[str, os.PathLike]] = None, *,
                 params: Optional[Sequence[str]] = None, weights: bool = True, state: str = "raw",
                 weights_dtype: Any = None, timeout: Optional[float] = None):
        """
        Weights and optimizer state ("raw": restorable bit-exactly; "dequantized": fp32 values, for inspection;
        "none") of `params` (default: all), taken between two steps. With `path`, streams them into a safetensors
        file (written atomically; `safetensors.torch.load_file` reads it) and returns the SnapshotHeader; without,
        returns a Snapshot held in memory.
        """
        assembler = SnapshotAssembler()
        out = AtomicFile(path) if path is not None else None
        try:
            joiner = None
            for msg in self._snapshot_call(model, params, weights, state, weights_dtype, timeout):
                kind = msg.WhichOneof("kind")
                if kind == "header":
                    if joiner is not None:
                        raise QstepError(grpc.StatusCode.DATA_LOSS, "the snapshot stream carried two headers")
                    joiner = snapshot_header_joiner(msg.header)
                elif kind == "header_more":
                    if joiner is None:
                        raise QstepError(grpc.StatusCode.DATA_LOSS, "a snapshot header part before the header")
                    try:
                        joiner.add(msg.header_more)
                    except ValueError as err:
                        raise QstepError(grpc.StatusCode.DATA_LOSS, str(err)) from None
                if kind in ("header", "header_more") and joiner.complete:
                    # The header is whole (joined from its parts when it came in several).
                    header = joiner.head
                    header.header_parts = 0
                    assembler.header(header, keep=out is None)
                    if out is not None:
                        entries = [(t.name, element_name(t.element_type), list(t.shape), t.byte_length)
                                   for t in header.tensors]
                        out.f.write(encode_header(entries, snapshot_metadata(header)))
                elif kind == "data":
                    if joiner is not None and not joiner.complete:
                        raise QstepError(grpc.StatusCode.DATA_LOSS, "snapshot data before the whole header")
                    assembler.data(msg.data.tensor, msg.data.byte_offset, msg.data.data)
                    if out is not None:
                        out.f.write(msg.data.data)
            snap = assembler.finish()
            if out is not None:
                out.commit()
                out = None
                return snap.header
            return snap
        except grpc.RpcError as err:
            raise QstepError.from_rpc(err) from None
        finally:
            if out is not None:
                out.abort()

    def restore(self, model: str, source: Union[str, os.PathLike, Snapshot], *,
                timeout: Optional[float] = None) -> model_pb2.RestoreResponse:
        """Loads a snapshot (a safetensors file path or a Snapshot) into `model`, all or nothing."""
        limit = self.chunk_bytes()
        if isinstance(source, Snapshot):
            return self._restore(model, source.header, source.pieces(limit), timeout)
        if not isinstance(source, (str, os.PathLike)):
            raise invalid(f"restore: expected a file path or a Snapshot, got {type(source).__name__}")
        with open(source, "rb") as f:
            try:
                fh: FileHeader = read_header(f, os.fstat(f.fileno()).st_size)
                header = snapshot_header_of(fh)
            except ValueError as err:
                raise invalid(f"restore: {os.fspath(source)[-200:]} is not a qstep snapshot file: {err}") from None
            return self._restore(model, header, iter_file_data(f, fh, limit), timeout)

    def _restore(self, model: str, header, pieces, timeout) -> model_pb2.RestoreResponse:
        def requests():
            yield from restore_header_parts(model, header)  # in parts when it lists many tensors
            for index, offset, data in pieces:
                yield snapshot_pb2.RestoreRequest(
                    data=snapshot_pb2.TensorData(tensor=index, byte_offset=offset, data=bytes(data)))

        try:
            return self.stub.Restore(requests(), timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise QstepError.from_rpc(err) from None
