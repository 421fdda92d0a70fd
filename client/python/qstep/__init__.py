"""qstep: a client for the qstep optimizer-step service (gRPC qstep.v1), and, in qstep.torch, a PyTorch optimizer
whose state and update run on a qstep server."""

from .client import Client
from .errors import QstepError
from .snapshots import Snapshot
from .steps import StepResult

__all__ = ["Client", "QstepError", "Snapshot", "StepResult"]
__version__ = "0.1.0"
