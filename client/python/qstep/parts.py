"""Messages in parts (docs/service.md, "Many-parameter models"): a CreateModel request, Step header or Restore header
whose lists would pass PART_BYTES is sent as a head plus continuations, and a Step result or Snapshot header that
arrives in parts is joined again. A message that fits stays one message, as it always was."""

from typing import Callable, List, Sequence, Tuple

from ._proto import model_pb2, snapshot_pb2, step_pb2

PART_BYTES = 256 * 1024  # what one message's lists may take (the server splits its replies by the same bound)


def _groups(entries: Sequence[Tuple[str, object, int]], budget: int) -> List[List[Tuple[str, object]]]:
    """(field, entry, size) triples cut into groups of at most `budget` bytes, in order."""
    parts: List[List[Tuple[str, object]]] = [[]]
    used = 0
    for field, entry, size in entries:
        if used > 0 and used + size > budget:
            parts.append([])
            used = 0
        parts[-1].append((field, entry))
        used += size + 8
    return parts


def create_model_parts(request: model_pb2.CreateModelRequest, budget: int = PART_BYTES):
    """The request as one message (a list of one), or the parts of a CreateModelStream."""
    if request.ByteSize() <= budget:
        return [request]
    entries = [("p", p, p.ByteSize()) for p in request.parameters]
    entries += [("o", (k, v), len(k.encode()) + v.ByteSize()) for k, v in request.overrides.items()]
    groups = _groups(entries, budget)
    out = []
    for i, group in enumerate(groups):
        part = model_pb2.CreateModelRequest()
        if i == 0:
            part.CopyFrom(request)
            del part.parameters[:]
            part.overrides.clear()
            part.parts = len(groups)
        for field, e in group:
            if field == "p":
                part.parameters.add().CopyFrom(e)
            else:
                part.overrides[e[0]].CopyFrom(e[1])
        out.append(part)
    return out


def step_header_parts(header: step_pb2.StepHeader, budget: int = PART_BYTES) -> List[step_pb2.StepRequest]:
    """The Step header as one request, or a head announcing its header_more continuations."""
    if header.ByteSize() <= budget:
        return [step_pb2.StepRequest(header=header)]
    entries = [("g", g, g.ByteSize()) for g in header.gradients]
    entries += [("h", (k, v), len(k.encode()) + v.ByteSize()) for k, v in header.param_hyper.items()]
    entries += [("s", s, s.ByteSize()) for s in header.lane.slices]
    groups = _groups(entries, budget)
    head = step_pb2.StepHeader()
    head.CopyFrom(header)
    del head.gradients[:]
    head.param_hyper.clear()
    if header.HasField("lane"):
        del head.lane.slices[:]
    head.header_parts = len(groups) - 1
    out = []
    for i, group in enumerate(groups):
        more = step_pb2.StepHeaderMore()
        for field, e in group:
            if field == "g":
                (head.gradients if i == 0 else more.gradients).add().CopyFrom(e)
            elif field == "h":
                (head.param_hyper if i == 0 else more.param_hyper)[e[0]].CopyFrom(e[1])
            else:
                (head.lane.slices if i == 0 else more.lane_slices).add().CopyFrom(e)
        out.append(step_pb2.StepRequest(header=head) if i == 0 else step_pb2.StepRequest(header_more=more))
    return out


def restore_header_parts(model: str, header: snapshot_pb2.SnapshotHeader,
                         budget: int = PART_BYTES) -> List[snapshot_pb2.RestoreRequest]:
    """The Restore header as one request, or a head announcing its header_more continuations."""
    if header.ByteSize() <= budget:
        return [snapshot_pb2.RestoreRequest(header=snapshot_pb2.RestoreHeader(model=model, snapshot=header))]
    entries = [("p", p, p.ByteSize()) for p in header.params] + [("t", t, t.ByteSize()) for t in header.tensors]
    groups = _groups(entries, budget)
    head = snapshot_pb2.SnapshotHeader()
    head.CopyFrom(header)
    del head.params[:]
    del head.tensors[:]
    head.header_parts = len(groups) - 1
    out = []
    for i, group in enumerate(groups):
        target = head if i == 0 else snapshot_pb2.SnapshotHeaderMore()
        for field, e in group:
            (target.params if field == "p" else target.tensors).add().CopyFrom(e)
        out.append(snapshot_pb2.RestoreRequest(header=snapshot_pb2.RestoreHeader(model=model, snapshot=head))
                   if i == 0 else snapshot_pb2.RestoreRequest(header_more=target))
    return out


class Joiner:
    """Joins a head message with the `parts` continuations it announces, appending with `merge`."""

    def __init__(self, head, parts: int, what: str, merge: Callable[[object, object], None]):
        self.head = head
        self.left = parts
        self.what = what
        self.merge = merge

    @property
    def complete(self) -> bool:
        return self.left == 0

    def add(self, more) -> None:
        if self.left == 0:
            raise ValueError(f"more {self.what} parts than announced")
        self.merge(self.head, more)
        self.left -= 1


def step_result_joiner(result: step_pb2.StepResult) -> Joiner:
    def merge(head, more):
        head.non_finite.extend(more.non_finite)
        head.params.extend(more.params)
    return Joiner(result, result.result_parts, "step result", merge)


def snapshot_header_joiner(header: snapshot_pb2.SnapshotHeader) -> Joiner:
    def merge(head, more):
        head.params.extend(more.params)
        head.tensors.extend(more.tensors)
    return Joiner(header, header.header_parts, "snapshot header", merge)
