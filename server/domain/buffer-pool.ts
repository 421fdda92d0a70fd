// Reuse of large per-step buffers: the GradientBuffers gradients are staged in and the Buffers weights are read
// into. A training loop moves the same sizes every step; allocating them afresh (tens of MiB per step) makes V8
// run a full collection for external memory pressure several times per step, on the critical path. Buffers come
// back once nothing reads them any more (the engine step finished; the weights were serialized); up to
// `maxIdleBytes` are kept per pool (least recently returned dropped first), keyed by kind and exact size.

import { GradientBuffer, type DType } from '../../native/lib';

class SizedPool<T extends { readonly byteLength: number }> {
  private readonly free = new Map<string, T[]>();
  private readonly order: { key: string; item: T }[] = [];
  private idle = 0;

  constructor(readonly maxIdleBytes: number) {}

  take(key: string): T | undefined {
    const item = this.free.get(key)?.pop();
    if (item === undefined) return undefined;
    this.idle -= item.byteLength;
    this.order.splice(
      this.order.findIndex((o) => o.item === item),
      1,
    );
    return item;
  }

  clear(): void {
    this.free.clear();
    this.order.length = 0;
    this.idle = 0;
  }

  /** Keeps `item` for reuse; false if it is too large to keep (the caller drops it). */
  give(key: string, item: T): boolean {
    if (item.byteLength === 0 || item.byteLength > this.maxIdleBytes) return false;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(item);
    this.order.push({ key, item });
    this.idle += item.byteLength;
    while (this.idle > this.maxIdleBytes) {
      const old = this.order.shift()!;
      const l = this.free.get(old.key)!;
      l.splice(l.indexOf(old.item), 1);
      this.idle -= old.item.byteLength;
    }
    return true;
  }
}

export class BufferPool {
  private readonly gradients: SizedPool<GradientBuffer>;
  private readonly bytes: SizedPool<Buffer>;

  private dropped = 0;

  /**
   * Keeps up to `maxIdleBytes` of gradient buffers and as much again of weight buffers. `collect` runs once the
   * buffers dropped since its last run pass max(maxIdleBytes, 64 MiB): a dropped Buffer's memory comes back only
   * when V8 collects it, and V8 counts external memory loosely, so a large model's gradient (GiBs, too large to
   * pool) would otherwise still be resident while its step reads the weights back into fresh buffers (issue 10:
   * peak RSS of a step at most tensors + one gradient staging + 15%).
   */
  constructor(
    readonly maxIdleBytes: number,
    private readonly collect?: () => void,
  ) {
    this.gradients = new SizedPool(maxIdleBytes);
    this.bytes = new SizedPool(maxIdleBytes);
  }

  private drop(bytes: number): void {
    this.dropped += bytes;
    if (this.collect && this.dropped >= Math.max(this.maxIdleBytes, 64 * 1024 * 1024)) {
      this.dropped = 0;
      this.collect();
    }
  }

  /** Drops every idle buffer (after a model's deletion: its sizes may never come back). */
  clear(): void {
    this.gradients.clear();
    this.bytes.clear();
  }

  /** A GradientBuffer of `numel` x `dtype`, ready to write (contents finite but otherwise undefined). */
  takeGradient(numel: number, dtype: DType): GradientBuffer {
    const buf = this.gradients.take(`${dtype}:${numel}`);
    if (!buf) return new GradientBuffer(numel, dtype);
    buf.reset();
    return buf;
  }

  /** Returns a GradientBuffer once no step reads it; the caller must not touch it afterwards. */
  giveGradient(buf: GradientBuffer): void {
    if (!this.gradients.give(`${buf.dtype}:${buf.numel}`, buf)) this.drop(buf.byteLength);
  }

  /** A Buffer of exactly `size` bytes, contents undefined; its own memory (never a slice of Node's shared pool). */
  takeBytes(size: number): Buffer {
    return this.bytes.take(String(size)) ?? Buffer.allocUnsafeSlow(size);
  }

  /** Returns a Buffer from takeBytes() once nothing reads it; the caller must not touch it afterwards. */
  giveBytes(buf: Buffer): void {
    if (!this.bytes.give(String(buf.length), buf)) this.drop(buf.length);
  }
}
