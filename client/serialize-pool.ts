// Buffers for pre-encoded Step messages, reused from one step to the next. A training loop sends the same
// gradient sizes every step; allocating ~1 MiB per message afresh makes V8 collect for external memory pressure
// several times per step. A buffer is handed back only after its call has ended (grpc-js may keep a serialized
// message until then, e.g. for retries), and at most `maxIdleBytes` are kept.

const CLASS = 64 * 1024;

export class SerializePool {
  private readonly free = new Map<number, Buffer[]>();
  private idle = 0;

  constructor(readonly maxIdleBytes: number) {}

  /** A buffer of at least `size` bytes (rounded up to a 64 KiB class). */
  take(size: number): Buffer {
    const cls = Math.ceil(size / CLASS) * CLASS;
    const buf = this.free.get(cls)?.pop();
    if (buf) {
      this.idle -= cls;
      return buf;
    }
    return Buffer.allocUnsafeSlow(cls);
  }

  give(bufs: Buffer[]): void {
    for (const b of bufs) {
      if (this.idle + b.length > this.maxIdleBytes) return;
      let list = this.free.get(b.length);
      if (!list) this.free.set(b.length, (list = []));
      list.push(b);
      this.idle += b.length;
    }
  }
}
