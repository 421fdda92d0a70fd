// Reuse of large staging buffers. A training loop sends gradients of the same sizes every step; allocating them
// afresh (tens of MiB per step) makes V8 run a full collection for external memory pressure several times per
// step, on the critical path. Buffers come back once the engine step that read them has finished; up to
// `maxIdleBytes` are kept (least recently returned dropped first), keyed by exact size.

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private readonly order: Buffer[] = [];
  private idle = 0;

  constructor(readonly maxIdleBytes: number) {}

  get idleBytes(): number {
    return this.idle;
  }

  /** A buffer of exactly `size` bytes, contents undefined. */
  take(size: number): Buffer {
    const list = this.free.get(size);
    const buf = list?.pop();
    if (buf) {
      this.idle -= size;
      this.order.splice(this.order.indexOf(buf), 1);
      return buf;
    }
    // Own ArrayBuffer (never a slice of Node's shared pool), so giving it back cannot alias other data.
    return Buffer.allocUnsafeSlow(size);
  }

  /** Returns a buffer obtained from take(); the caller must not touch it afterwards. */
  give(buf: Buffer): void {
    if (buf.length === 0 || buf.length > this.maxIdleBytes) return;
    let list = this.free.get(buf.length);
    if (!list) this.free.set(buf.length, (list = []));
    list.push(buf);
    this.order.push(buf);
    this.idle += buf.length;
    while (this.idle > this.maxIdleBytes) {
      const old = this.order.shift() as Buffer;
      const l = this.free.get(old.length) as Buffer[];
      l.splice(l.indexOf(old), 1);
      this.idle -= old.length;
    }
  }
}
