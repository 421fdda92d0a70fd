// Runs a model's mutating and reading jobs (steps, snapshots, restores, uploads) one at a time, in the order
// they were queued. A failed job does not stop the jobs behind it.

export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  /** Jobs waiting or running. */
  get depth(): number {
    return this.pending;
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(job);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.tail = settled;
    void settled.then(() => {
      this.pending--;
    });
    return result;
  }
}
