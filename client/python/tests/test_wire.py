"""The hand-written codec of qstep.wire against the generated classes: what it encodes parses to the same message,
and what the generated code serializes it decodes to the same fields (with the data left a view)."""

from __future__ import annotations

import numpy as np
import pytest

from qstep._proto import common_pb2, model_pb2, step_pb2
from qstep.wire import WeightsChunk, decode_step_response, encode_chunk


@pytest.mark.parametrize("offset, dtype, size", [(0, 0, 0), (0, 1, 8), (300, 3, 1000), (2**40 + 7, 2, 70000)])
def test_encoded_chunks_parse_as_step_and_upload_requests(offset, dtype, size):
    data = np.random.bytes(size)
    raw = encode_chunk("layer.0/wéight".encode(), offset, dtype, memoryview(data))
    msg = step_pb2.StepRequest.FromString(raw)
    assert msg.WhichOneof("kind") == "gradient"
    want = common_pb2.TensorChunk(param="layer.0/wéight", offset=offset, dtype=dtype, data=data)
    assert msg.gradient == want
    assert model_pb2.UploadRequest.FromString(raw).chunk == want
    assert raw == step_pb2.StepRequest(gradient=want).SerializeToString()


def test_responses_decode_to_the_generated_fields():
    result = step_pb2.StepResult(model="m", model_step=2**33, replayed=True, non_finite=["a"], weight_chunks=3,
                                 params=[step_pb2.ParamResult(name="a", step=5, gnorm_scale=0.5)])
    got = decode_step_response(step_pb2.StepResponse(result=result).SerializeToString())
    assert isinstance(got, step_pb2.StepResult) and got == result
    data = np.random.bytes(4096)
    raw = step_pb2.StepResponse(weights=common_pb2.TensorChunk(param="w", offset=1024, dtype=3, data=data))
    chunk = decode_step_response(raw.SerializeToString())
    assert isinstance(chunk, WeightsChunk) and isinstance(chunk.data, memoryview)
    assert (chunk.param, chunk.offset, chunk.dtype, bytes(chunk.data)) == ("w", 1024, 3, data)


def test_malformed_responses_raise():
    for raw in (b"", b"\x12\x05\x0a\x03ab", b"\x12\xff"):
        with pytest.raises(ValueError):
            decode_step_response(raw)


def test_contiguous_tensors_and_arrays_are_viewed_not_copied():
    import torch

    from qstep.tensors import tensor_bytes

    for t in (torch.randn(300, 7), torch.randn(64).to(torch.bfloat16), torch.randn(9).half()):
        tb = tensor_bytes("t", t)
        assert tb.data.ctypes.data == t.data_ptr() and tb.nbytes == t.numel() * t.element_size()
    a = np.random.rand(40, 5).astype(np.float32)
    assert np.shares_memory(tensor_bytes("a", a).data, a)
    # A conversion or a gather has to copy, once.
    t = torch.randn(20, 30)
    assert tensor_bytes("t", t, "bf16").data.ctypes.data != t.data_ptr()
    assert tensor_bytes("t", t.t()).data.ctypes.data != t.data_ptr()
