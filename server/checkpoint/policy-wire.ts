// CheckpointPolicy between the wire (proto/qstep/v1/checkpoint.proto) and the domain: a field is set only when the
// sender set it, so an absent field falls back to the server's flag.

import type { CheckpointPolicy__Output } from '../../proto';
import { checkPolicy } from './checkpointer';
import type { CheckpointPolicy } from './write';

/** The policy a CreateModel asked for, checked (INVALID_ARGUMENT); null when it asked for none. */
export function checkpointPolicyFromWire(
  p: CheckpointPolicy__Output | null | undefined,
): Partial<CheckpointPolicy> | null {
  if (!p) return null;
  const out: Partial<CheckpointPolicy> = {};
  if (p.everySteps !== undefined && p.everySteps !== null) out.everySteps = Number(p.everySteps);
  if (p.everySeconds !== undefined && p.everySeconds !== null) out.everySeconds = Number(p.everySeconds);
  if (p.keep !== undefined && p.keep !== null) out.keep = Number(p.keep);
  checkPolicy(out, 'checkpoint');
  return out;
}
