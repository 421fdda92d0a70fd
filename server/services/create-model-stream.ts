// CreateModelStream: CreateModel for a specification too large for one message. The parts are gathered (bounded
// by the parameter limit, checked as each part arrives) and, once the client half-closes, joined into one request
// that goes through CreateModel's own path: the same validation, quotas and reply. Nothing is created before the
// stream has ended cleanly, so a cancelled or failed stream leaves nothing behind.

import type { CreateModelRequest__Output, CreateModelResponse } from '../../proto';
import { append } from '../../proto/header-parts';
import type { ServiceDeps } from '../config';
import { fail } from '../errors';
import type { ClientStreamImpl } from '../rpc';
import { quote } from '../domain/bounded';
import { createModel } from './create-model';

export function createModelStreamHandler(
  deps: ServiceDeps,
): ClientStreamImpl<CreateModelRequest__Output, CreateModelResponse> {
  const max = deps.config.maxParamsPerModel;
  return async (input, ctx) => {
    const head = await input.next();
    if (!head) throw fail.invalid('empty CreateModelStream: expected a first part with the model name');
    ctx.set({ model: head.name });
    const joined: CreateModelRequest__Output = { ...head, parameters: [], overrides: { ...head.overrides } };
    const add = (part: CreateModelRequest__Output, index: number) => {
      if (joined.parameters.length + part.parameters.length > max) {
        throw fail.invalid(
          `expected at most ${max} parameters for parameters, got more than that by part ${index} of the stream`,
        );
      }
      append(joined.parameters, part.parameters);
    };
    add(head, 0);
    // The announced count makes a stream cut short detectable: grpc-js half-closes a client stream it cancels.
    const announced = head.parts;
    if (announced < 1 || announced > 2 * max + 1) {
      throw fail.invalid(`expected parts in [1, ${2 * max + 1}] in the first part of the stream, got ${announced}`);
    }
    let parts = 1;
    for (let part = await input.next(); part; part = await input.next()) {
      if (parts >= announced) throw fail.invalid(`the stream carries more than the ${announced} parts it announced`);
      if (part.name !== '' || part.optimizer || part.checkpoint || part.parts !== 0) {
        throw fail.invalid(
          `part ${parts} of the stream sets name, optimizer, checkpoint or parts; only the first part may (got ` +
            `name ${quote(part.name)})`,
        );
      }
      if (part.parameters.length === 0 && Object.keys(part.overrides).length === 0)
        throw fail.invalid(`part ${parts} of the stream is empty`);
      add(part, parts);
      for (const [key, o] of Object.entries(part.overrides)) {
        if (Object.hasOwn(joined.overrides, key)) throw fail.invalid(`override for ${quote(key)} is given twice`);
        joined.overrides[key] = o;
      }
      if (Object.keys(joined.overrides).length > max) {
        throw fail.invalid(`expected at most ${max} overrides (one per parameter), got more by part ${parts}`);
      }
      parts++;
    }
    if (parts !== announced) {
      throw fail.invalid(`the stream ended after ${parts} of the ${announced} parts it announced; nothing was created`);
    }
    ctx.set({ parts });
    return createModel(deps, { ...joined, parts: 0 }, ctx);
  };
}
