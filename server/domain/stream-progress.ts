// The progress rule for streams that hold (or are about to take) staging memory: a cheap stream must not keep
// memory, or a server stream slot, from everyone else (issue 10, "Sixteen silent streams block everyone"). A Step
// or Restore stream must send its first data within `graceMs` of its header (until then it holds no staging),
// and once it holds staging for B bytes in T tensors it must have delivered them within graceMs +
// B / minBytesPerSecond + T x MESSAGE_ALLOWANCE_MS (each tensor is at least one message, and a model of many tiny
// tensors is bound by the cost of a message rather than by its bytes: docs/service.md, "Many-parameter models").
// A stream that breaks the rule fails DEADLINE_EXCEEDED and returns everything it held.

import { fail } from '../errors';

/** Time allowed per tensor a stream carries, on top of the byte rate: a stream must carry 500 messages per second. */
export const MESSAGE_ALLOWANCE_MS = 2;

export interface ProgressLimits {
  /** Time a stream gets for its first data message, and slack on top of the rate rule (ms). */
  graceMs: number;
  /** Slowest accepted delivery once staging is held (bytes per second); 0 = no rate rule. */
  minBytesPerSecond: number;
}

/** A deadline racing the reads of one stream. */
export class ProgressDeadline {
  private at = Infinity;
  private why = '';

  constructor(private readonly limits: ProgressLimits) {}

  /** Phase one: the first data message must come within graceMs. */
  awaitFirstData(): void {
    if (this.limits.graceMs <= 0) return;
    this.at = Date.now() + this.limits.graceMs;
    this.why = `no data arrived within ${this.limits.graceMs} ms of the header (--stream-grace-ms)`;
  }

  /** Phase two: `bytes` of staging in `tensors` tensors are held from now; they must be delivered in time. */
  holding(bytes: number, tensors = 0): void {
    if (this.limits.graceMs <= 0 && this.limits.minBytesPerSecond <= 0) {
      this.at = Infinity;
      return;
    }
    const rateMs = this.limits.minBytesPerSecond > 0 ? (1000 * bytes) / this.limits.minBytesPerSecond : Infinity;
    const ms = Math.ceil(Math.max(0, this.limits.graceMs) + rateMs + tensors * MESSAGE_ALLOWANCE_MS);
    this.at = Date.now() + ms;
    this.why =
      `${bytes} bytes were not delivered within ${ms} ms (below the minimum rate of ` +
      `${this.limits.minBytesPerSecond} bytes/s, --stream-min-bytes-per-s, after --stream-grace-ms ` +
      `${this.limits.graceMs}${tensors > 0 ? `, and ${MESSAGE_ALLOWANCE_MS} ms for each of ${tensors} tensors` : ''})`;
  }

  /** No deadline any more (everything arrived). */
  clear(): void {
    this.at = Infinity;
  }

  /** `p`, or DEADLINE_EXCEEDED when the deadline passes first. */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.at === Infinity) return p;
    // A read left behind once the deadline has won is still running: when the server then ends the call, it fails
    // with the call's own status, and nobody awaits it any more. Mark it handled before either way out, including
    // the one that fails at once (a message that arrived just after the deadline, before its timer ran).
    p.catch(() => undefined);
    const left = this.at - Date.now();
    if (left <= 0) return Promise.reject(fail.deadline(`stream too slow: ${this.why}`));
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(fail.deadline(`stream too slow: ${this.why}`)), left);
    });
    return Promise.race([p, expiry]).finally(() => clearTimeout(timer));
  }
}
