"""The Step stream's hot messages, encoded and decoded by hand so tensor bytes are copied once.

Through the generated classes a gradient chunk's bytes would be copied into a `bytes` object, then again into the
serialized message; here the message is assembled in one join straight from a view of the caller's tensor. Replies
are parsed the same way: a weights chunk's data stays a view of the received message until it is copied into its
target. Everything else goes through the generated classes. The field numbers below are those of
proto/qstep/v1/step.proto and common.proto (StepRequest.gradient = 2, StepResponse.result = 1 / weights = 2 / result_more = 3,
UploadRequest.chunk = 2, TensorChunk param = 1, offset = 2, dtype = 3, data = 4); tests/test_wire.py checks them against the generated code.
"""

from __future__ import annotations

from typing import Tuple, Union

from ._proto import step_pb2

_LEN = 2  # wire type: length-delimited
_VARINT = 0


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


_CHUNK_TAG = _tag(2, _LEN)  # StepRequest.gradient and UploadRequest.chunk are both field 2
_PARAM_TAG = _tag(1, _LEN)
_OFFSET_TAG = _tag(2, _VARINT)
_DTYPE_TAG = _tag(3, _VARINT)
_DATA_TAG = _tag(4, _LEN)


def encode_chunk(param_utf8: bytes, offset: int, dtype: int, data: memoryview) -> bytes:
    """
    A serialized StepRequest{gradient: TensorChunk{param, offset, dtype, data}}, which is also the encoding of
    UploadRequest{chunk: ...}; `data` is copied once, into the message.
    """
    head = _PARAM_TAG + _varint(len(param_utf8)) + param_utf8
    if offset:
        head += _OFFSET_TAG + _varint(offset)
    if dtype:
        head += _DTYPE_TAG + _varint(dtype)
    if len(data):
        head += _DATA_TAG + _varint(len(data))
    return b"".join((_CHUNK_TAG, _varint(len(head) + len(data)), head, data))


class WeightsChunk:
    """A TensorChunk of returned weights whose `data` is a view of the received message."""

    __slots__ = ("param", "offset", "dtype", "data")

    def __init__(self, param: str, offset: int, dtype: int, data: memoryview):
        self.param = param
        self.offset = offset
        self.dtype = dtype
        self.data = data


def _read_varint(buf: memoryview, at: int) -> Tuple[int, int]:
    shift = 0
    value = 0
    while True:
        if at >= len(buf):
            raise ValueError("truncated varint")
        b = buf[at]
        at += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _skip(buf: memoryview, at: int, wire_type: int) -> int:
    if wire_type == 0:
        return _read_varint(buf, at)[1]
    if wire_type == 1:
        return at + 8
    if wire_type == 2:
        n, at = _read_varint(buf, at)
        return at + n
    if wire_type == 5:
        return at + 4
    raise ValueError(f"unsupported wire type {wire_type}")


def _parse_chunk(buf: memoryview) -> WeightsChunk:
    param, offset, dtype, data = "", 0, 0, buf[0:0]
    at = 0
    while at < len(buf):
        key, at = _read_varint(buf, at)
        field, wt = key >> 3, key & 7
        if field == 1 and wt == _LEN:
            n, at = _read_varint(buf, at)
            param = bytes(buf[at : at + n]).decode("utf-8")
            at += n
        elif field == 2 and wt == _VARINT:
            offset, at = _read_varint(buf, at)
        elif field == 3 and wt == _VARINT:
            dtype, at = _read_varint(buf, at)
        elif field == 4 and wt == _LEN:
            n, at = _read_varint(buf, at)
            data = buf[at : at + n]
            at += n
        else:
            at = _skip(buf, at, wt)
        if at > len(buf):
            raise ValueError("truncated TensorChunk")
    return WeightsChunk(param, offset, dtype, data)


def decode_step_response(raw: bytes) -> Union[step_pb2.StepResult, step_pb2.StepResultMore, WeightsChunk]:
    """A StepResponse: the StepResult message, a continuation of it (StepResultMore), or a WeightsChunk viewing
    `raw`."""
    buf = memoryview(raw)
    at = 0
    found: Union[step_pb2.StepResult, step_pb2.StepResultMore, WeightsChunk, None] = None
    while at < len(buf):
        key, at = _read_varint(buf, at)
        field, wt = key >> 3, key & 7
        if wt == _LEN and field == 3:  # StepResponse.result_more
            n, at = _read_varint(buf, at)
            if at + n > len(buf):
                raise ValueError("truncated StepResponse")
            found = step_pb2.StepResultMore.FromString(bytes(buf[at : at + n]))
            at += n
        elif wt == _LEN and field in (1, 2):
            n, at = _read_varint(buf, at)
            if at + n > len(buf):
                raise ValueError("truncated StepResponse")
            body = buf[at : at + n]
            at += n
            found = step_pb2.StepResult.FromString(bytes(body)) if field == 1 else _parse_chunk(body)
        else:
            at = _skip(buf, at, wt)
    if found is None:
        raise ValueError("a StepResponse with neither result nor weights")
    return found
