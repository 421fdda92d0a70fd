// One Step call on the client side: writes header, gradient chunks and commit with back-pressure, stops when the
// server answers early, and gathers the result and the returned weights (into a map, into caller memory, or
// handed to onWeights as they arrive).

import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { DType } from '../native/lib/types';
import type { StepRequest, StepResponse__Output } from '../proto';
import { dtypes } from '../proto/convert';
import { QstepError, Status } from './errors';
import { stepResultJoiner } from './message-parts';
import { WIDTH, chunksOf } from './tensors';
import type { NormalizedTensor, Tensor } from './tensors';
import type { StepOptions, StepReply } from './types';

interface WeightParts {
  dtype: DType;
  /** Where the chunks are copied: the caller's weightsInto memory, or a buffer of the tensor's size. */
  target: Buffer;
  bytes: number;
}

/** Resolves on 'drain', or when the call is over (so a writer never waits forever). */
export function waitWritable(stream: NodeJS.EventEmitter, finished: Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      resolve();
    };
    stream.on('drain', done);
    finished.then(done, done);
  });
}

/** A gradient message as the call's transport writes it: encoded, or as pieces (client/direct.ts). */
export type GradientMessage = Buffer | Buffer[];

export interface StepCallOptions {
  maxChunkBytes: number;
  /** Encodes one gradient chunk (StepRequest.gradient) for the call's transport. */
  encodeGradient: (param: string, offset: number, dtype: string, data: Buffer) => GradientMessage;
  signal?: AbortSignal;
  /** Caller memory for returned weights, by parameter name (checked by the caller). */
  into: Map<string, Buffer>;
  onWeights?: StepOptions['onWeights'];
}

/**
 * Drives one Step stream: header, gradient chunks (each encoded by opts.encodeGradient), commit; collects the result
 * and the weights. Stops sending as soon as the server has answered (a replayed step is answered at the header).
 */
export function runStep(
  call: ClientDuplexStream<StepRequest | GradientMessage, StepResponse__Output>,
  header: StepRequest[],
  grads: NormalizedTensor[],
  opts: StepCallOptions,
): Promise<StepReply> {
  const { into, onWeights, encodeGradient } = opts;
  let result: StepResponse__Output['result'];
  let joiner: ReturnType<typeof stepResultJoiner> | null = null;
  const parts = new Map<string, WeightParts>();
  /** Elements per stepped parameter (the whole tensor: a lane's share goes to onWeights). */
  const numel = new Map(grads.map((g) => [g.name, (g.elementOffset ?? 0) + g.bytes.length / g.width]));
  let bytesStreamed = 0;
  let failure: QstepError | null = null;
  let over = false;
  const finished = new Promise<void>((resolve, reject) => {
    call.on('data', (msg: StepResponse__Output) => {
      if (msg.result) {
        result = msg.result;
        joiner = stepResultJoiner(msg.result); // continued by result_more parts when it lists many parameters
        over = true; // the server answered: whatever is still unsent is not needed
      } else if (msg.resultMore) {
        if (!joiner) failure ??= new QstepError(Status.DATA_LOSS, 'a step result part before the result');
        else {
          try {
            joiner.add(msg.resultMore);
          } catch (err) {
            failure ??= QstepError.from(err);
          }
        }
      } else if (msg.weights) {
        if (joiner && !joiner.complete) failure ??= new QstepError(Status.DATA_LOSS, 'weights before the whole result');
        const w = msg.weights;
        const dtype = dtypes.require(w.dtype, 'weights.dtype');
        const offset = w.offset * WIDTH[dtype];
        if (onWeights) {
          try {
            onWeights(w.param, dtype, offset, w.data);
          } catch (err) {
            failure ??= QstepError.from(err);
          }
          bytesStreamed += w.data.length;
          return;
        }
        // Each chunk is copied where it belongs as it arrives, so that no received message is kept (the direct
        // transport reuses the memory of a received message for the next, client/direct.ts).
        let p = parts.get(w.param);
        if (!p) {
          const n = numel.get(w.param);
          if (n === undefined) {
            failure ??= new QstepError(
              Status.DATA_LOSS,
              `weights for ${w.param.slice(0, 200)}, which the step did not update`,
            );
            return;
          }
          const bytes = n * WIDTH[dtype];
          // weightsInto memory of another size (the parameter's own dtype was not the one guessed): a buffer of ours.
          const given = into.get(w.param);
          p = { dtype, target: given && given.length === bytes ? given : Buffer.allocUnsafeSlow(bytes), bytes: 0 };
          parts.set(w.param, p);
        }
        if (p.dtype !== dtype || offset + w.data.length > p.target.length) {
          failure ??= new QstepError(Status.DATA_LOSS, `weights of ${w.param.slice(0, 200)} out of range`);
          return;
        }
        w.data.copy(p.target, offset);
        p.bytes += w.data.length;
      }
    });
    call.on('error', (err) => reject(QstepError.from(err)));
    call.on('end', () => resolve());
  });
  finished.then(
    () => (over = true),
    () => (over = true),
  );
  opts.signal?.addEventListener('abort', () => call.cancel(), { once: true });

  const send = async () => {
    const write = async (msg: StepRequest | GradientMessage) => {
      if (over) return;
      if (!call.write(msg)) await waitWritable(call, finished);
    };
    for (const m of header) await write(m);
    let chunks = 0;
    for (const g of grads) {
      const dtype = g.dtype === undefined ? 'DTYPE_UNSPECIFIED' : dtypes.encode(g.dtype);
      for (const c of chunksOf(g.bytes, opts.maxChunkBytes)) {
        if (over) return;
        await write(encodeGradient(g.name, (g.elementOffset ?? 0) + c.byteOffset / g.width, dtype, c.data));
        chunks++;
      }
    }
    await write({ commit: { chunkCount: chunks } });
    if (!over) call.end();
  };
  return send().then(
    async () => {
      await finished;
      if (failure) throw failure;
      joiner?.expectComplete('the end of the step stream');
      return assembleReply(result, parts, bytesStreamed);
    },
    async (err: unknown) => {
      call.cancel();
      await finished.catch(() => undefined);
      throw QstepError.from(err);
    },
  );
}

function assembleReply(
  result: StepResponse__Output['result'],
  parts: Map<string, WeightParts>,
  streamed: number,
): StepReply {
  if (!result) throw new QstepError(Status.INTERNAL, 'the step stream ended without a result');
  const weights = new Map<string, Tensor>();
  let total = streamed;
  for (const [name, p] of parts) {
    if (p.bytes !== p.target.length) throw new QstepError(Status.DATA_LOSS, `weights of ${name} incomplete`);
    weights.set(name, { dtype: p.dtype, data: p.target });
    total += p.bytes;
  }
  if (total !== result.weightBytes) {
    throw new QstepError(Status.DATA_LOSS, `expected ${result.weightBytes} weight bytes, got ${total}`);
  }
  return {
    model: result.model,
    modelStep: result.modelStep,
    skipped: result.skipped,
    replayed: result.replayed,
    nonFinite: result.nonFinite,
    params: result.params,
    weights,
  };
}
