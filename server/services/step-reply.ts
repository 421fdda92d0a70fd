// The Step reply stream: the result first (in parts when it lists many parameters), then the weights of the stream's parts (every stepped parameter, or a
// lane's slices of them) in chunks of at most maxChunkBytes, written in order and with back-pressure by one chain
// of writes.

import type { DType } from '../../native/lib';
import type { StepResponse, StepResult } from '../../proto';
import { splitLists } from '../../proto/header-parts';
import { DTYPE_WIDTH, dtypes } from '../../proto/convert';
import type { BufferPool } from '../domain/buffer-pool';
import type { LanePart } from '../domain/lane-join';
import { pieceSizes, readValues, sliceCount, slices } from '../domain/tensor-chunks';
import type { MessageWriter } from '../rpc';

/** undefined: no weights back; 'own': each parameter's own dtype; else that dtype. */
export type WeightsDtype = DType | 'own' | undefined;

export function weightDtype(w: WeightsDtype, own: DType): DType {
  return w === 'own' || w === undefined ? own : w;
}

/** Bytes of weights a stream with these parts sends back. */
export function weightsBytes(w: WeightsDtype, parts: LanePart[]): number {
  if (w === undefined) return 0;
  return parts.reduce((n, p) => n + p.count * DTYPE_WIDTH[weightDtype(w, p.entry.dtype)], 0);
}

/**
 * Weights are handed over as soon as they are read, so reading the next parameter (inside the model's queue)
 * overlaps with sending the previous one.
 */
export class ReplySender {
  private chain: Promise<void> = Promise.resolve();
  bytes = 0;

  constructor(
    private readonly out: MessageWriter<StepResponse>,
    private readonly parts: LanePart[],
    private readonly weights: WeightsDtype,
    private readonly maxChunkBytes: number,
    private readonly pool: BufferPool,
  ) {}

  private then(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn);
    this.chain.catch(() => undefined); // observed by done()
  }

  /** Queues the result, announcing how many weight chunks and bytes follow. */
  result(r: StepResult): void {
    let chunks = 0;
    let bytes = 0;
    if (this.weights !== undefined) {
      for (const p of this.parts) {
        const width = DTYPE_WIDTH[weightDtype(this.weights, p.entry.dtype)];
        chunks += sliceCount(pieceSizes(p.count, width), this.maxChunkBytes, width);
        bytes += p.count * width;
      }
    }
    // Per-parameter results that would pass PART_BYTES continue in result_more messages (proto/header-parts.ts).
    const [head, ...more] = splitLists({ nonFinite: r.nonFinite ?? [], params: r.params ?? [] });
    const msg: StepResponse = {
      result: { ...r, ...head, resultParts: more.length, weightChunks: chunks, weightBytes: bytes },
    };
    this.then(async () => {
      await this.out.write(msg);
      for (const part of more) await this.out.write({ resultMore: part });
    });
  }

  /** Reads the planned weights (call inside the model's queue) and queues them for sending as each arrives. */
  async readAndQueueWeights(): Promise<void> {
    if (this.weights === undefined) return;
    for (const p of this.parts) {
      const dtype = weightDtype(this.weights, p.entry.dtype);
      const pieces = await readValues(p.entry, dtype, this.pool, p);
      const wire = dtypes.encode(dtype);
      const width = DTYPE_WIDTH[dtype];
      // The pieces go back to the pool once the stream has processed the last of their messages (messages are
      // processed in order, and each is serialized into its own frame then). If sending stops early, some may
      // still sit in the stream's buffer: those pieces are left to the garbage collector.
      const release = () => {
        for (const piece of pieces) this.pool.giveBytes(piece);
      };
      this.then(async () => {
        const all = [...slices(pieces, this.maxChunkBytes, width)];
        for (let i = 0; i < all.length; i++) {
          const s = all[i];
          await this.out.write(
            { weights: { param: p.entry.name, offset: p.offset + s.offset / width, dtype: wire, data: s.data } },
            i === all.length - 1 ? release : undefined,
          );
          this.bytes += s.data.length;
        }
      });
    }
  }

  /** Resolves when everything queued was written (rejects with the first write failure). */
  done(): Promise<void> {
    return this.chain;
  }
}
