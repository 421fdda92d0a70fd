// UploadParameters: initial values streamed in chunks, in any order, written straight into the parameters
// through the model's queue. A model becomes ready once every element of every parameter was written.

import type { UploadRequest__Output, UploadResponse } from '../../proto';
import type { ServiceDeps } from '../config';
import { fail } from '../errors';
import { RangeSet } from '../domain/range-set';
import type { Model, ParamEntry } from '../domain/model';
import { checkChunk } from '../domain/tensor-chunks';
import type { ClientStreamImpl } from '../rpc';
import { MAX_LISTED_NAMES } from './header-parts';

export function uploadParametersHandler(deps: ServiceDeps): ClientStreamImpl<UploadRequest__Output, UploadResponse> {
  return async (input, ctx) => {
    const first = await input.next();
    if (!first) throw fail.invalid('empty upload: expected a header first');
    if (first.kind !== 'header' || !first.header) throw fail.invalid('the first upload message must be a header');
    const model: Model = deps.registry.get(first.header.model);
    ctx.set({ model: model.name });
    if (model.ready)
      throw fail.precondition(`model ${model.name} already has all its values; use Restore to replace them`);

    // Chunks of one call must not overlap; ranges written by an earlier (perhaps failed) call may be sent again.
    const seen = new Map<ParamEntry, RangeSet>();
    let chunks = 0;
    let bytes = 0;
    try {
      for (let msg = await input.next(); msg; msg = await input.next()) {
        if (msg.kind !== 'chunk') throw fail.invalid('expected value chunks after the header, got another header');
        const c = checkChunk(model, msg.chunk, deps.config.maxChunkBytes, () => undefined);
        let ranges = seen.get(c.entry);
        if (!ranges) seen.set(c.entry, (ranges = new RangeSet()));
        if (!ranges.insertDisjoint(c.offset, c.offset + c.count)) {
          throw fail.invalid(
            `chunk [${c.offset}, ${c.offset + c.count}) of ${c.entry.name} overlaps one sent earlier in this call`,
          );
        }
        await model.exclusive(async () => {
          model.assertAlive();
          if (model.ready)
            throw fail.precondition(`model ${model.name} already has all its values; use Restore to replace them`);
          await c.entry.param.write(c.offset, c.data, c.dtype);
          model.markUploaded(c.entry, c.offset, c.offset + c.count);
        }, ctx.signal);
        chunks++;
        bytes += c.data.length;
      }
    } finally {
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
