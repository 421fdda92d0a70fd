// Upload lanes: one UploadParameters carried over K calls, each on its own HTTP/2 connection (docs/service.md,
// Transport: Upload lanes). The server needs nothing new: UploadParameters accepts chunks in any order, concurrent
// calls on one model write through the model's queue one chunk at a time, and an upload is not atomic (what a call
// wrote stays when it fails). The client cuts the values with planLanes (client/lanes.ts) and merges the answers.

import type { UploadResponse__Output } from '../proto';
import { QstepError, Status } from './errors';
import type { LanePlan } from './lanes';

/** Upload lanes by default: one call, as before (docs/service.md, Transport: Figures, has the measurements). */
export const DEFAULT_UPLOAD_LANES = 1;

/**
 * Runs one upload over lanes. The first lane to fail cancels the others and its error is the upload's, with one
 * exception: FAILED_PRECONDITION, UploadParameters' answer once the model has all its values (model.proto). When
 * the model was not ready as the upload began (`readyBefore` false), that answer means the model became ready
 * during this upload, and such a lane counts as done. That happens when an upload is retried: a lane may still be
 * re-sending ranges an earlier, broken attempt had written when another lane (or this one) writes the model's last
 * missing element; the values it would have re-sent are the ones already there. The answer is then `ready`.
 */
export async function uploadOverLanes(
  model: string,
  plans: LanePlan[],
  signal: AbortSignal | undefined,
  readyBefore: boolean,
  run: (lane: LanePlan, signal: AbortSignal) => Promise<UploadResponse__Output>,
): Promise<UploadResponse__Output> {
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  if (signal?.aborted) abort.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const complete = (err: QstepError) => !readyBefore && err.code === Status.FAILED_PRECONDITION;
  let first: unknown = null;
  let last: UploadResponse__Output | null = null;
  try {
    const outcomes = await Promise.all(
      plans.map(async (lane) => {
        try {
          const res = await run(lane, abort.signal);
          last = res;
          return res;
        } catch (err) {
          const e = QstepError.from(err);
          if (!complete(e)) {
            first ??= e;
            abort.abort();
          }
          return e;
        }
      }),
    );
    if (first) throw first;
    const answers = outcomes.filter((o): o is UploadResponse__Output => !(o instanceof QstepError));
    const ready = answers.length < outcomes.length || answers.some((a) => a.ready);
    const base = last ?? answers[0];
    return {
      model,
      chunks: answers.reduce((n, a) => n + Number(a.chunks), 0),
      bytes: answers.reduce((n, a) => n + Number(a.bytes), 0),
      ready,
      pendingParams: ready || !base ? [] : base.pendingParams,
      pendingCount: ready || !base ? 0 : base.pendingCount,
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
