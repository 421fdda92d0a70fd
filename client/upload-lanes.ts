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
 * exception: a lane refused FAILED_PRECONDITION because the model already has all its values counts as done when
 * another lane of this upload reports the model ready. That happens when an upload is retried: a lane whose
 * ranges an earlier, broken attempt had written may still be re-sending them when another lane writes the model's
 * last missing element, and the values it would have re-sent are the ones already there.
 */
export async function uploadOverLanes(
  plans: LanePlan[],
  signal: AbortSignal | undefined,
  run: (lane: LanePlan, signal: AbortSignal) => Promise<UploadResponse__Output>,
): Promise<UploadResponse__Output> {
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  if (signal?.aborted) abort.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  // FAILED_PRECONDITION is UploadParameters' answer to a model that has all its values (model.proto); whether this
  // upload completed it is known only once every lane has answered, so such a lane does not cancel the others.
  const complete = (err: QstepError) => err.code === Status.FAILED_PRECONDITION;
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
    const ready = answers.some((a) => a.ready);
    if (!ready && answers.length < outcomes.length) throw outcomes.find((o) => o instanceof QstepError);
    const base = last ?? answers[0];
    return {
      model: base.model,
      chunks: answers.reduce((n, a) => n + Number(a.chunks), 0),
      bytes: answers.reduce((n, a) => n + Number(a.bytes), 0),
      ready,
      pendingParams: ready ? [] : base.pendingParams,
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
