// Buffers for pre-encoded Step messages, reused from one step to the next. A training loop sends the same
// gradient sizes every step; allocating ~1 MiB per message afresh makes V8 collect for external memory pressure
// several times per step. A buffer is handed back only after its call has ended (grpc-js may keep a serialized
// message until then, e.g. for retries), and at most `maxIdleBytes` are kept.

const CLASS = 64 * 1024;
/**
 * Messages up to this size are cut from a shared 64 KiB slab instead of taking a class buffer each: a step of
 * 100,000 tiny tensors would otherwise allocate 6 GiB. Slab pieces are not pooled; a slab goes to the garbage
 * collector with its last message.
 */
const SMALL = 4 * 1024;

export class SerializePool {
  private readonly free = new Map<number, Buffer[]>();
  private idle = 0;
  private slab: Buffer | null = null;
  private slabUsed = 0;

  constructor(readonly maxIdleBytes: number) {}

  /** A buffer of at least `size` bytes (rounded up to a 64 KiB class), or a slab piece of exactly `size`. */
  take(size: number): Buffer {
    if (size <= SMALL) {
      if (!this.slab || this.slabUsed + size > this.slab.length) {
        this.slab = Buffer.allocUnsafeSlow(CLASS);
        this.slabUsed = 0;
      }
      // Views start at multiples of 8, so that the bytes of typed arrays stay aligned.
      const piece = this.slab.subarray(this.slabUsed, this.slabUsed + size);
      this.slabUsed += Math.ceil(size / 8) * 8;
      return piece;
    }
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
      if (b.length % CLASS !== 0) continue; // a slab piece
      if (this.idle + b.length > this.maxIdleBytes) return;
      let list = this.free.get(b.length);
      if (!list) this.free.set(b.length, (list = []));
      list.push(b);
      this.idle += b.length;
    }
  }
}
