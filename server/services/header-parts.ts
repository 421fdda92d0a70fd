// Continuations of a header sent in parts (proto/header-parts.ts): a Step header's StepHeaderMore messages and a
// Restore header's SnapshotHeaderMore messages, read right after the header and appended to it before the header
// is checked. Each continuation must add something and every list stays within what the model could need, so a
// client cannot make the server gather more than one model's worth of header.

import type {
  RestoreRequest__Output,
  SnapshotHeader__Output,
  StepHeaderMore__Output,
  StepRequest__Output,
} from '../../proto';
import type { StepHeaderExact } from '../../proto/step-id';
import { append } from '../../proto/header-parts';
import { fail } from '../errors';
import { quote } from '../domain/bounded';
import { oneofCase } from '../../proto/oneof';
import type { MessageReader } from '../rpc';

/** Names listed in a unary reply (RestoreResponse.params, UploadResponse.pending_params); the count says the rest. */
export const MAX_LISTED_NAMES = 1000;

/** The members of StepRequest's and RestoreRequest's `kind` oneofs (step.proto, snapshot.proto). */
export const STEP_KINDS = ['header', 'headerMore', 'gradient', 'commit'] as const;
export const RESTORE_KINDS = ['header', 'headerMore', 'data'] as const;

/** At most this many snapshot tensors per parameter (weights and state tensors; an 8-bit Adam has 7). */
export const MAX_TENSORS_PER_PARAM = 16;

function bound(what: string, n: number, max: number): void {
  if (n > max) throw fail.invalid(`the header in parts lists more than ${max} ${what}`);
}

/** Reads `h.header_parts` StepHeaderMore messages and appends them to `h` (whose model has `paramCount`). */
export async function joinStepHeader(
  h: StepHeaderExact,
  input: MessageReader<StepRequest__Output>,
  paramCount: number,
  next: (p: Promise<StepRequest__Output | null>) => Promise<StepRequest__Output | null> = (p) => p,
): Promise<void> {
  const lane = h.lane;
  for (let i = 0; i < h.headerParts; i++) {
    const msg = await next(input.next());
    if (!msg || oneofCase(msg, STEP_KINDS) !== 'headerMore' || !msg.headerMore) {
      throw fail.invalid(`the header announced ${h.headerParts} header_more parts; part ${i + 1} is missing`);
    }
    const more: StepHeaderMore__Output = msg.headerMore;
    const keys = Object.keys(more.paramHyper);
    if (more.gradients.length + keys.length + more.laneSlices.length === 0)
      throw fail.invalid(`header_more part ${i + 1} is empty`);
    append(h.gradients, more.gradients);
    bound('gradients', h.gradients.length, paramCount);
    for (const k of keys) {
      if (Object.hasOwn(h.paramHyper, k)) throw fail.invalid(`param_hyper for ${quote(k)} is given twice`);
      h.paramHyper[k] = more.paramHyper[k];
    }
    bound('param_hyper entries', Object.keys(h.paramHyper).length, paramCount);
    if (more.laneSlices.length > 0) {
      if (!lane) throw fail.invalid('header_more carries lane_slices for a header without a lane');
      append(lane.slices, more.laneSlices);
      bound('lane slices', lane.slices.length, paramCount);
    }
  }
  h.headerParts = 0;
}

/** Reads `snap.header_parts` SnapshotHeaderMore messages of a Restore stream and appends them to `snap`. */
export async function joinRestoreHeader(
  snap: SnapshotHeader__Output,
  input: MessageReader<RestoreRequest__Output>,
  paramCount: number,
  next: (p: Promise<RestoreRequest__Output | null>) => Promise<RestoreRequest__Output | null> = (p) => p,
): Promise<void> {
  for (let i = 0; i < snap.headerParts; i++) {
    const msg = await next(input.next());
    if (!msg || oneofCase(msg, RESTORE_KINDS) !== 'headerMore' || !msg.headerMore) {
      throw fail.invalid(
        `the snapshot header announced ${snap.headerParts} header_more parts; part ${i + 1} is missing`,
      );
    }
    const more = msg.headerMore;
    if (more.params.length + more.tensors.length === 0) throw fail.invalid(`header_more part ${i + 1} is empty`);
    append(snap.params, more.params);
    bound('params', snap.params.length, paramCount);
    append(snap.tensors, more.tensors);
    bound('tensors', snap.tensors.length, paramCount * MAX_TENSORS_PER_PARAM);
  }
  snap.headerParts = 0;
}
