"""Snapshot files in the safetensors format, written and read without the safetensors package.

The layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a JSON header mapping
each tensor name to {dtype, shape, data_offsets} plus an optional "__metadata__" string map, then the raw
little-endian bytes. `safetensors.torch.load_file` opens these files.

The tensors and metadata are those of the TypeScript client's files (client/snapshot-file.ts): weights keyed by
parameter name, state tensors "__state__/<param>/<key>", and a __metadata__ map holding the snapshot header
(format, format_version, model, model_step, state_format, optimizer, params, tensors), so a file written by either
client restores through the other. A plain safetensors file without qstep metadata reads as weights keyed by name.
Files are written to <path>.partial, flushed to disk and renamed, so a crash never leaves a half file at `path`.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Dict, Iterator, List, Tuple

from google.protobuf import json_format

from ._proto import common_pb2, snapshot_pb2

FILE_FORMAT = "qstep.snapshot"
ELEMENT_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
                 "F64": 8, "I64": 8, "U64": 8}
# The reference implementation's bound on the JSON header.
MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsFormatError(ValueError):
    """A file that is not valid safetensors (or whose tensors do not add up)."""


@dataclass
class Entry:
    name: str
    dtype: str
    shape: List[int]
    begin: int  # offset inside the data section
    nbytes: int


@dataclass
class FileHeader:
    entries: List[Entry]
    metadata: Dict[str, str] = field(default_factory=dict)
    data_start: int = 0


def encode_header(entries: List[Tuple[str, str, List[int], int]], metadata: Dict[str, str]) -> bytes:
    """The length prefix and JSON header for tensors laid out in the given order; padded to 8 bytes with spaces."""
    obj: Dict[str, object] = {}
    if metadata:
        obj["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, nbytes in entries:
        width = ELEMENT_BYTES.get(dtype)
        if width is None:
            raise SafetensorsFormatError(f"unknown dtype {dtype} for {name}")
        numel = 1
        for d in shape:
            numel *= d
        if numel * width != nbytes:
            raise SafetensorsFormatError(f"{name}: {nbytes} bytes, but shape {shape} of {dtype} says {numel * width}")
        if name == "__metadata__" or name in obj:
            raise SafetensorsFormatError(f"duplicate or reserved tensor name {name!r}")
        obj[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text


def read_header(f: BinaryIO, file_size: int) -> FileHeader:
    """Parses and checks a header: offsets contiguous from 0, sizes matching dtype and shape, data inside the file."""
    prefix = f.read(8)
    if len(prefix) != 8:
        raise SafetensorsFormatError("shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", prefix)
    if n > MAX_HEADER_BYTES or 8 + n > file_size:
        raise SafetensorsFormatError(f"header length {n} does not fit the file ({file_size} bytes)")
    try:
        obj = json.loads(f.read(n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SafetensorsFormatError(f"header is not JSON: {err}") from None
    if not isinstance(obj, dict):
        raise SafetensorsFormatError("header is not a JSON object")
    metadata = obj.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsFormatError("__metadata__ must map strings to strings")
    entries = []
    for name, info in obj.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], [int(d) for d in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsFormatError(f"malformed entry for {name!r}") from None
        width = ELEMENT_BYTES.get(dtype)
        if width is None or any(d < 0 for d in shape) or not (0 <= begin <= end):
            raise SafetensorsFormatError(f"bad dtype, shape or offsets for {name!r}")
        numel = 1
        for d in shape:
            numel *= d
        if numel * width != end - begin:
            raise SafetensorsFormatError(f"{name!r}: {end - begin} bytes, but shape and dtype say {numel * width}")
        entries.append(Entry(name, dtype, shape, begin, end - begin))
    entries.sort(key=lambda e: e.begin)
    at = 0
    for e in entries:
        if e.begin != at:
            raise SafetensorsFormatError(f"{e.name!r} starts at {e.begin}, expected {at} (gaps or overlaps)")
        at += e.nbytes
    if 8 + n + at != file_size:
        raise SafetensorsFormatError(f"the tensors take {at} bytes, the file holds {file_size - 8 - n}")
    return FileHeader(entries, dict(metadata), 8 + n)


def _to_json(msg) -> object:
    # Field names as the TypeScript client writes them (lowerCamelCase), every field present, enums by name.
    return json_format.MessageToDict(msg, including_default_value_fields=True)


def snapshot_metadata(header: snapshot_pb2.SnapshotHeader) -> Dict[str, str]:
    roles = {
        t.name: {"param": t.param, "role": snapshot_pb2.TensorRole.Name(t.role)[len("TENSOR_ROLE_"):].lower(),
                 "state_key": t.state_key}
        for t in header.tensors
    }
    return {
        "format": FILE_FORMAT,
        "format_version": str(header.format_version),
        "model": header.model,
        "model_step": str(header.model_step),
        "state_format": snapshot_pb2.StateFormat.Name(header.state),
        "optimizer": json.dumps(_to_json(header.optimizer)),
        "params": json.dumps([_to_json(p) for p in header.params]),
        "tensors": json.dumps(roles),
    }


def snapshot_header_of(fh: FileHeader) -> snapshot_pb2.SnapshotHeader:
    """The snapshot header a file describes: its qstep metadata, or plain weights keyed by tensor name."""
    md = fh.metadata
    ours = md.get("format") == FILE_FORMAT
    roles = json.loads(md.get("tensors", "{}")) if ours else {}
    header = snapshot_pb2.SnapshotHeader(
        format_version=int(md.get("format_version", "1")) if ours else 1,
        model=md.get("model", ""),
        model_step=int(md.get("model_step", "0")) if ours else 0,
        state=snapshot_pb2.StateFormat.Value(md["state_format"]) if ours and md.get("state_format")
        else snapshot_pb2.STATE_FORMAT_NONE,
    )
    if ours and md.get("optimizer"):
        json_format.ParseDict(json.loads(md["optimizer"]), header.optimizer, ignore_unknown_fields=True)
    if ours:
        for p in json.loads(md.get("params", "[]")):
            json_format.ParseDict(p, header.params.add(), ignore_unknown_fields=True)
    for e in fh.entries:
        if e.dtype not in ("F32", "F16", "BF16", "U8"):
            raise SafetensorsFormatError(f"{e.name!r}: dtype {e.dtype} is not one qstep holds (F32, F16, BF16, U8)")
        r = roles.get(e.name, {})
        role = r.get("role", "weights")
        header.tensors.add(
            name=e.name, param=r.get("param", e.name),
            role=snapshot_pb2.TensorRole.Value("TENSOR_ROLE_" + role.upper()),
            state_key=r.get("state_key", ""), element_type=common_pb2.ElementType.Value("ELEMENT_TYPE_" + e.dtype),
            shape=e.shape, byte_length=e.nbytes)
    header.total_bytes = sum(e.nbytes for e in fh.entries)
    return header


class AtomicFile:
    """Writes <path>.partial; commit() flushes it to disk and renames it to path; abort() removes it."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self.partial = self.path + ".partial"
        self.f = open(self.partial, "wb")

    def commit(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.partial, self.path)
        dirfd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)

    def abort(self) -> None:
        self.f.close()
        try:
            os.remove(self.partial)
        except FileNotFoundError:
            pass


def element_name(element_type: int) -> str:
    return common_pb2.ElementType.Name(element_type)[len("ELEMENT_TYPE_"):]


def iter_file_data(f: BinaryIO, fh: FileHeader, chunk_bytes: int) -> Iterator[Tuple[int, int, bytes]]:
    """(tensor index, byte offset, bytes) pieces of every tensor, in order."""
    f.seek(fh.data_start)
    for i, e in enumerate(fh.entries):
        done = 0
        while done < e.nbytes:
            piece = f.read(min(chunk_bytes, e.nbytes - done))
            if not piece:
                raise SafetensorsFormatError(f"{e.name!r}: the file ends early")
            yield i, done, piece
            done += len(piece)
