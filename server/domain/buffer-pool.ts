// Reuse of staging buffers. A training loop sends gradients of the same sizes every step; allocating them afresh
// (tens of MiB per step) makes V8 run a full collection for external memory pressure several times per step, on
// the critical path. The buffers are the engine's GradientBuffers, so that each arriving chunk is checked for
// NaN/Inf as it is copied in and the step needs no check pass of its own. They come back once the engine step that
// read them has finished; up to `maxIdleBytes` are kept (least recently returned dropped first), keyed by dtype and
// element count.

import { GradientBuffer, type DType } from '../../native/lib';

export class BufferPool {
  private readonly free = new Map<string, GradientBuffer[]>();
  private readonly order: GradientBuffer[] = [];
  private idle = 0;

  constructor(readonly maxIdleBytes: number) {}

  get idleBytes(): number {
    return this.idle;
  }

  /** A GradientBuffer of `numel` x `dtype`, ready to write (contents are finite but otherwise undefined). */
  take(numel: number, dtype: DType): GradientBuffer {
    const buf = this.free.get(key(numel, dtype))?.pop();
    if (buf) {
      this.idle -= buf.byteLength;
      this.order.splice(this.order.indexOf(buf), 1);
      buf.reset();
      return buf;
    }
    return new GradientBuffer(numel, dtype);
  }

  /** Returns a buffer obtained from take() once no step reads it; the caller must not touch it afterwards. */
  give(buf: GradientBuffer): void {
    if (buf.byteLength > this.maxIdleBytes) return;
    const k = key(buf.numel, buf.dtype);
    let list = this.free.get(k);
    if (!list) this.free.set(k, (list = []));
    list.push(buf);
    this.order.push(buf);
    this.idle += buf.byteLength;
    while (this.idle > this.maxIdleBytes) {
      const old = this.order.shift() as GradientBuffer;
      const l = this.free.get(key(old.numel, old.dtype)) as GradientBuffer[];
      l.splice(l.indexOf(old), 1);
      this.idle -= old.byteLength;
    }
  }
}

function key(numel: number, dtype: DType): string {
  return `${dtype}:${numel}`;
}
