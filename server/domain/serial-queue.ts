// Runs a model's mutating and reading jobs (steps, snapshots, restores, uploads) one at a time, in the order
// they were queued. A failed job does not stop the jobs behind it. A job whose caller gives up (its signal
// aborts) before the job's turn is dropped: the caller is answered at once and the job never runs.

import { fail } from '../errors';

export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  /** Jobs waiting or running. */
  get depth(): number {
    return this.pending;
  }

  run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    this.pending++;
    let started = false;
    let dropped = false;
    const turn = this.tail.then(() => {
      if (dropped) throw fail.cancelled();
      started = true;
      return job();
    });
    const settled = turn.then(
      () => undefined,
      () => undefined,
    );
    this.tail = settled;
    void settled.then(() => {
      this.pending--;
    });
    if (!signal) return turn;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (started) return; // a running job finishes; its caller sees the outcome
        dropped = true;
        reject(fail.cancelled());
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      turn.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }
}
