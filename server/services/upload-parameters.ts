// UploadParameters: initial values streamed in chunks, in any order, written straight into the parameters
// through the model's queue. A model becomes ready once every element of every parameter was written.

import type { UploadRequest__Output, UploadResponse } from '../../proto';
import type { ServiceDeps } from '../config';
import { fail } from '../errors';
import { RangeSet } from '../domain/range-set';
import type { Model, ParamEntry } from '../domain/model';
import { checkChunk } from '../domain/tensor-chunks';
import type { ClientStreamImpl } from '../rpc';
import { oneofCase } from '../../proto/oneof';
import { MAX_LISTED_NAMES } from './header-parts';

const UPLOAD_KINDS = ['header', 'chunk'] as const;

export function uploadParametersHandler(deps: ServiceDeps): ClientStreamImpl<UploadRequest__Output, UploadResponse> {
  return async (input, ctx) => {
    const first = await input.next();
    if (!first) throw fail.invalid('empty upload: expected a header first');
    if (oneofCase(first, UPLOAD_KINDS) !== 'header' || !first.header)
      throw fail.invalid('the first upload message must be a header');
    const model: Model = deps.registry.get(first.header.model);
    ctx.set({ model: model.name });
    if (model.ready)
      throw fail.precondition(`model ${model.name} already has all its values; use Restore to replace them`);

    // Chunks of one call must not overlap; ranges written by an earlier (perhaps failed) call may be sent again.
    const seen = new Map<ParamEntry, RangeSet>();
    let chunks = 0;
    let bytes = 0;
    let inflight: Promise<void> | null = null;
    try {
      for (let msg = await input.next(); msg; msg = await input.next()) {
        if (oneofCase(msg, UPLOAD_KINDS) !== 'chunk')
          throw fail.invalid('expected value chunks after the header, got another header');
        const c = checkChunk(model, msg.chunk, deps.config.maxChunkBytes, () => undefined);
        let ranges = seen.get(c.entry);
        if (!ranges) seen.set(c.entry, (ranges = new RangeSet()));
        if (!ranges.insertDisjoint(c.offset, c.offset + c.count)) {
          throw fail.invalid(
            `chunk [${c.offset}, ${c.offset + c.count}) of ${c.entry.name} overlaps one sent earlier in this call`,
          );
        }
        // The previous chunk's write ran while this message was received and decoded: waiting for each write
        // before reading on left both ends idle half the time (a stop-and-wait pipeline). It must have succeeded
        // before this chunk is queued, so a failed call writes nothing after its failure.
        if (inflight) await inflight;
        inflight = model.exclusive(async () => {
          model.assertAlive();
          if (model.ready)
            throw fail.precondition(`model ${model.name} already has all its values; use Restore to replace them`);
          await c.entry.param.write(c.offset, c.data, c.dtype);
          model.markUploaded(c.entry, c.offset, c.offset + c.count);
        }, ctx.signal);
        inflight.catch(() => undefined); // awaited after the next message (or at the end); never left unobserved
        chunks++;
        bytes += c.data.length;
      }
      if (inflight) await inflight;
    } finally {
      // A failed call still waits for its last write, so that its reply follows every change it made.
      if (inflight) await (inflight as Promise<void>).catch(() => undefined);
      ctx.set({ chunks, bytesIn: bytes });
    }
    const pending = model.pendingParams();
    return {
      model: model.name,
      chunks,
      bytes,
      ready: model.ready,
      pendingParams: pending.slice(0, MAX_LISTED_NAMES), // the reply must not grow with the parameter count
      pendingCount: pending.length,
    };
  };
}
