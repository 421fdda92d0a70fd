// Giving memory back once a model is deleted (issue 10, "Delete returns memory: RSS comes back to within the
// configured pools of where it was"). Three things hold memory after the engine has unmapped a model's buffers:
//   - the staging pools (BufferPool) keep buffers of the sizes the model stepped with;
//   - JavaScript Buffers the model's calls left behind (restore's staged pieces and its copies of the old values,
//     weights read for replies) are freed only when V8 collects them, and an idle server does not collect;
//   - glibc keeps freed heap memory in its arenas.
// So after a delete (coalesced when several come at once): the pools are emptied, one full collection runs, and
// the heap is trimmed on a worker thread. The collection runs on the JS thread (a few ms for the server's small
// heap; the tensors are outside it); it is the one way to free Buffers nobody references any more.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Engine } from '../../native/lib';

export interface Drainable {
  /** Drops every idle buffer. */
  clear(): void;
}

let collector: (() => void) | null | undefined;

/** V8's gc(), made available at run time (Node starts without --expose-gc); null if that is refused. */
export function fullCollection(): (() => void) | null {
  if (collector === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collector = runInNewContext('gc') as () => void;
    } catch {
      collector = null;
    }
  }
  return collector;
}

/** How long after a delete the reclaim runs: deletes arriving together share one collection. */
const RECLAIM_DELAY_MS = 50;

export class MemoryReclaimer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly engine: Pick<Engine, 'trim'>,
    private readonly pools: Drainable[] = [],
  ) {}

  /** Reclaims soon (a timer that does not keep the process alive). */
  schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.running.then(() => this.reclaim());
    }, RECLAIM_DELAY_MS);
    this.timer.unref();
  }

  /** Resolves once a reclaim scheduled before now has run (tests). */
  async settled(): Promise<void> {
    while (this.timer) await new Promise((r) => setTimeout(r, RECLAIM_DELAY_MS));
    await this.running;
  }

  private async reclaim(): Promise<void> {
    for (const p of this.pools) p.clear();
    fullCollection()?.();
    // V8 may hand freed backing stores to a background thread; trimming a moment later returns them too.
    await new Promise((r) => setTimeout(r, RECLAIM_DELAY_MS).unref());
    await this.engine.trim().catch(() => undefined);
  }
}
