// The client's side of messages in parts (proto/header-parts.ts, docs/service.md "Many-parameter models"): requests
// whose lists would pass PART_BYTES are split into a head and continuations, and replies that arrive in parts are
// joined again before the caller sees them. A request that fits stays one message, as it always was.

import type {
  CreateModelRequest,
  RestoreRequest,
  SnapshotHeader,
  SnapshotHeader__Output,
  SnapshotHeaderMore__Output,
  StepRequest,
  StepResult__Output,
  StepResultMore__Output,
} from '../proto';
import { append, entriesOf, mapOf, splitLists } from '../proto/header-parts';
import { QstepError, Status } from './errors';

/** CreateModel's request as one message, or (more than one) the parts of a CreateModelStream. */
export function createModelParts(req: CreateModelRequest): CreateModelRequest[] {
  const [head, ...more] = splitLists({ parameters: req.parameters ?? [], overrides: entriesOf(req.overrides) });
  if (more.length === 0) return [req];
  return [
    { ...req, parameters: head.parameters, overrides: mapOf(head.overrides), parts: 1 + more.length },
    ...more.map((p) => ({ parameters: p.parameters, overrides: mapOf(p.overrides) })),
  ] as CreateModelRequest[];
}

/** A Step header as one message, or a head announcing its header_more continuations. */
export function stepHeaderParts(req: StepRequest): StepRequest[] {
  const h = req.header;
  if (!h) return [req];
  const [head, ...more] = splitLists({
    gradients: h.gradients ?? [],
    paramHyper: entriesOf(h.paramHyper),
    laneSlices: h.lane?.slices ?? [],
  });
  if (more.length === 0) return [req];
  return [
    {
      header: {
        ...h,
        gradients: head.gradients,
        paramHyper: mapOf(head.paramHyper),
        ...(h.lane ? { lane: { ...h.lane, slices: head.laneSlices } } : {}),
        headerParts: more.length,
      },
    },
    ...more.map((p) => ({ headerMore: { ...p, paramHyper: mapOf(p.paramHyper) } })),
  ] as StepRequest[];
}

/** A Restore header as one message, or a head announcing its header_more continuations. */
export function restoreHeaderParts(model: string, snapshot: SnapshotHeader): RestoreRequest[] {
  const [head, ...more] = splitLists({ params: snapshot.params ?? [], tensors: snapshot.tensors ?? [] });
  if (more.length === 0) return [{ header: { model, snapshot: { ...snapshot, headerParts: 0 } } }];
  return [
    { header: { model, snapshot: { ...snapshot, ...head, headerParts: more.length } } },
    ...more.map((p) => ({ headerMore: p })),
  ] as RestoreRequest[];
}

/**
 * Joins a reply's head with the continuations it announces (`parts`): `add` appends one; `complete` says whether
 * every announced part has come. Anything else in between is DATA_LOSS.
 */
class Joiner<H, M> {
  private left: number;

  constructor(
    readonly head: H,
    parts: number,
    private readonly what: string,
    private readonly merge: (head: H, more: M) => void,
  ) {
    this.left = parts;
  }

  get complete(): boolean {
    return this.left === 0;
  }

  add(more: M): void {
    if (this.left === 0) throw new QstepError(Status.DATA_LOSS, `more ${this.what} parts than announced`);
    this.merge(this.head, more);
    this.left--;
  }

  /** Throws unless every announced part came before `next` (a data message, the end of the stream). */
  expectComplete(next: string): void {
    if (this.left > 0) throw new QstepError(Status.DATA_LOSS, `${next} before ${this.left} ${this.what} parts`);
  }
}

export function stepResultJoiner(r: StepResult__Output): Joiner<StepResult__Output, StepResultMore__Output> {
  return new Joiner(r, r.resultParts ?? 0, 'step result', (head, more) => {
    append(head.nonFinite, more.nonFinite);
    append(head.params, more.params);
  });
}

export function snapshotHeaderJoiner(
  h: SnapshotHeader__Output,
): Joiner<SnapshotHeader__Output, SnapshotHeaderMore__Output> {
  return new Joiner(h, h.headerParts ?? 0, 'snapshot header', (head, more) => {
    append(head.params, more.params);
    append(head.tensors, more.tensors);
  });
}

export type { Joiner };
