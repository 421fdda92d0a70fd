"""The one exception type of the client: every failed call raises QstepError carrying a gRPC status code.

Failures on the server arrive as grpc.RpcError and are converted here; bad input caught on the client (a wrong
shape, an unknown dtype or setting) raises the same type with INVALID_ARGUMENT before anything is sent.
"""

from __future__ import annotations

import grpc

# Longest piece of caller input quoted in an error message (house rule: errors quote input only in bounded length).
_QUOTE_MAX = 80


def quote(value: object) -> str:
    """repr() of a value, cut to a bounded length."""
    text = repr(value)
    return text if len(text) <= _QUOTE_MAX else text[: _QUOTE_MAX - 3] + "..."


class QstepError(Exception):
    """A failed qstep call. `code` is a grpc.StatusCode; `details` the server's (or the client's) message."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details

    @property
    def code_name(self) -> str:
        return self.code.name

    @classmethod
    def from_rpc(cls, err: grpc.RpcError) -> "QstepError":
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
        details = err.details() if hasattr(err, "details") else str(err)
        return cls(code or grpc.StatusCode.UNKNOWN, details or "")


def invalid(message: str) -> QstepError:
    """Bad input caught before anything was sent."""
    return QstepError(grpc.StatusCode.INVALID_ARGUMENT, message)
