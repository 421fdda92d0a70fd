// The server's bound on memory held by streams in flight: staged gradients, weights waiting to be sent, snapshot
// copies and restore staging. A stream reserves everything it will need at once (no deadlock between half-served
// streams), waits in FIFO order while others hold the memory, and gives up with RESOURCE_EXHAUSTED after
// `waitMs` (or at once when the request can never fit). Streams reserve only once their first data arrives
// (a header alone holds nothing), and one client connection (`owner`, its peer address) may hold at most
// `perOwner` bytes, so a few cheap connections cannot take the whole budget.

import { fail } from '../errors';

export interface Lease {
  readonly bytes: number;
  /** Returns `bytes` of the lease early (e.g. gradients once the step ran). */
  shrink(bytes: number): void;
  /** Returns the rest. Idempotent. */
  release(): void;
}

interface Waiter {
  bytes: number;
  grant: () => void;
}

export class StagingBudget {
  private used = 0;
  private readonly waiters: Waiter[] = [];

  private readonly owners = new Map<string, number>();
  private ownerWaiters: (() => void)[] = [];

  /** Bytes that may be in use now: the budget, or less when the models leave less memory (MemoryAdmission). */
  private room: () => number = () => Infinity;

  constructor(
    readonly total: number,
    readonly waitMs: number,
    /** Bytes one owner (client connection) may hold at once; default: all of it. */
    readonly perOwner = total,
  ) {}

  /** Caps what may be in use by `room()` as well as by the budget (memory the models leave). */
  capBy(room: () => number): void {
    this.room = room;
  }

  private get limit(): number {
    return Math.min(this.total, this.room());
  }

  get inUse(): number {
    return this.used;
  }

  /**
   * Reserves `bytes`; `onChange` sees every change of the lease's size (for per-model accounting). Rejects with
   * RESOURCE_EXHAUSTED when it cannot fit within waitMs, CANCELLED when `signal` aborts first.
   */
  async acquire(
    bytes: number,
    signal: AbortSignal,
    onChange?: (delta: number) => void,
    owner?: string,
  ): Promise<Lease> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw fail.invalid(`staging size ${bytes} is not a byte count`);
    if (bytes > this.total) {
      throw fail.exhausted(
        `the call needs ${bytes} bytes of staging memory; the server's budget is ${this.total} ` +
          '(--staging-budget-mib)',
      );
    }
    const ownerChange = (d: number) => {
      if (owner === undefined) return;
      const v = (this.owners.get(owner) ?? 0) + d;
      if (v <= 0) this.owners.delete(owner);
      else this.owners.set(owner, v);
      if (d < 0) for (const wake of this.ownerWaiters.splice(0)) wake();
    };
    if (owner !== undefined) await this.waitForOwner(owner, bytes, signal);
    ownerChange(bytes); // counted while waiting too: a connection cannot queue more than its share
    try {
      if (signal.aborted) throw fail.cancelled();
      if (this.waiters.length > 0 || this.used + bytes > this.limit) await this.wait(bytes, signal);
      else this.used += bytes;
    } catch (err) {
      ownerChange(-bytes);
      throw err;
    }
    onChange?.(bytes);
    let held = bytes;
    const give = (n: number) => {
      const k = Math.min(n, held);
      if (k <= 0) return;
      held -= k;
      this.used -= k;
      ownerChange(-k);
      onChange?.(-k);
      this.pump();
    };
    return {
      bytes,
      shrink: (n: number) => give(n),
      release: () => give(held),
    };
  }

  /**
   * A connection's first stream may take anything the budget holds; further concurrent streams of the same
   * connection wait (up to waitMs) while they would bring it past perOwner.
   */
  private async waitForOwner(owner: string, bytes: number, signal: AbortSignal): Promise<void> {
    const until = Date.now() + this.waitMs;
    for (;;) {
      const held = this.owners.get(owner) ?? 0;
      if (held === 0 || held + bytes <= this.perOwner) return;
      const left = until - Date.now();
      if (left <= 0) {
        throw fail.exhausted(
          `the call needs ${bytes} bytes of staging memory; its connection already holds ${held} ` +
            `of the ${this.perOwner} one connection may hold (--staging-per-connection-mib)`,
        );
      }
      if (signal.aborted) throw fail.cancelled();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done);
        this.ownerWaiters.push(done);
      });
    }
  }

  private wait(bytes: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        grant: () => {
          cleanup();
          resolve();
        },
      };
      const remove = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        this.pump(); // a large waiter leaving may unblock smaller ones behind it
      };
      const timer = setTimeout(() => {
        cleanup();
        remove();
        reject(
          fail.exhausted(
            `staging memory: ${bytes} bytes not available within ${this.waitMs} ms ` +
              `(${this.used} of ${this.limit} bytes in use; --staging-budget-mib, --memory-limit, --staging-wait-ms)`,
          ),
        );
      }, this.waitMs);
      const onAbort = () => {
        cleanup();
        remove();
        reject(fail.cancelled());
      };
      const cleanup = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      signal.addEventListener('abort', onAbort);
      this.waiters.push(waiter);
    });
  }

  /** Grants waiters in arrival order while the head fits (FIFO: a large request is not starved by small ones). */
  private pump(): void {
    while (this.waiters.length > 0 && this.used + this.waiters[0].bytes <= this.limit) {
      const w = this.waiters.shift() as Waiter;
      this.used += w.bytes;
      w.grant();
    }
  }
}
