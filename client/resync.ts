// Resynchronising a training worker with a server that went back (a restart from its newest checkpoint, a Restore
// by another worker): the protocol of docs/service.md (Operations, "Resync").
//
// A worker sends each step with expectedModelStep = the model step it last saw. A server whose model is at another
// step applies nothing and fails FAILED_PRECONDITION with "model_step=N" in the details; the worker then calls
// resync(), which pulls the weights together with the model step they belong to (one consistent snapshot), and
// goes on from there. Its step ids must still increase (the ledger came back with the checkpoint).

import type { QstepClient } from './client';
import { QstepError, Status } from './errors';
import type { Snapshot } from './types';

export interface Resynced {
  /** The model step the weights belong to: send it as expectedModelStep with the next step. */
  modelStep: number;
  /** Weights by parameter name, in each parameter's own dtype (little-endian bytes). */
  weights: Map<string, Buffer>;
  snapshot: Snapshot;
}

/** The server's current model step named by a FAILED_PRECONDITION of an expected-model-step mismatch, if any. */
export function serverModelStep(err: unknown): number | undefined {
  if (!(err instanceof QstepError) || err.code !== Status.FAILED_PRECONDITION) return undefined;
  const m = /model_step=(\d+)/.exec(err.details);
  return m ? Number(m[1]) : undefined;
}

/** Pulls the model's weights and the model step they belong to, in one consistent snapshot. */
export async function resync(client: QstepClient, model: string): Promise<Resynced> {
  const snapshot = await client.snapshot(model, { weights: true, state: 'none' });
  const weights = new Map<string, Buffer>();
  for (const [name, t] of snapshot.tensors) weights.set(name, t.data);
  return { modelStep: Number(snapshot.header.modelStep), weights, snapshot };
}
