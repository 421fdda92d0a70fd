// Memory admission (issue 10, "Memory is promised, not checked"): the server knows how much memory it may use
// (--memory-limit: bytes, a size with a unit, or a percentage; by default a share of host RAM, or of the
// cgroup's limit when lower, on the CPU backend, and of device memory on CUDA). Models are charged what the engine
// reports for them (values, state, scales, maps, history) when they are created; one that does not fit is freed
// at once and refused RESOURCE_EXHAUSTED naming the numbers and the flag. On the CPU backend staging lives in the
// same memory, so the staging budget can only hand out what the models leave (StagingBudget's cap).

import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { fail } from '../errors';

/** Default share of host memory on the CPU backend: the rest is for the OS, Node's heap and other processes. */
export const DEFAULT_HOST_SHARE = 0.75;
/** Default share of device memory on CUDA: the CUDA context and the allocator's slack need the rest. */
export const DEFAULT_DEVICE_SHARE = 0.9;

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** Host memory this process may use: physical RAM, or the cgroup (v2 or v1) limit when lower. */
export function hostMemoryBytes(): number {
  let bytes = totalmem();
  for (const f of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const v = Number(readFileSync(f, 'utf8').trim());
      if (Number.isSafeInteger(v) && v > 0 && v < bytes) bytes = v;
    } catch {
      // no such cgroup file: not limited there
    }
  }
  return bytes;
}

/**
 * `spec` as bytes: '' = the default share of `poolBytes`; 'N%' = that share; otherwise bytes with an optional
 * unit (KiB, MiB, GiB, TiB, or the decimal KB, MB, GB, TB). Throws a message naming the flag for anything else.
 */
export function parseMemoryLimit(spec: string, poolBytes: number, defaultShare: number): number {
  const s = spec.trim();
  if (s === '') return Math.floor(poolBytes * defaultShare);
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(s);
  if (pct) {
    const p = Number(pct[1]);
    if (!(p > 0 && p <= 100))
      throw new Error(`--memory-limit: expected a percentage in (0, 100], got ${JSON.stringify(s.slice(0, 40))}`);
    return Math.floor((poolBytes * p) / 100);
  }
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(s);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new Error(
      `--memory-limit: expected bytes, a size such as 16GiB, or a percentage such as 80%, got ${JSON.stringify(s.slice(0, 40))}`,
    );
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw new Error(`--memory-limit: ${JSON.stringify(s.slice(0, 40))} is not a usable size`);
  return bytes;
}

export class MemoryAdmission {
  constructor(
    /** Bytes the server may hold. */
    readonly limit: number,
    /** Bytes the models hold now. */
    private readonly modelBytes: () => number,
    /** Bytes staging holds now. */
    private readonly stagingBytes: () => number,
    /** Staging shares the limit with the models (CPU backend). */
    readonly sharesStaging: boolean,
  ) {}

  get held(): number {
    return this.modelBytes() + (this.sharesStaging ? this.stagingBytes() : 0);
  }

  /** Refuses a new model of `bytes` (already counted in modelBytes() when `counted`) that passes the limit. */
  admitModel(name: string, bytes: number, counted: boolean): void {
    const others = this.held - (counted ? bytes : 0);
    if (others + bytes > this.limit) {
      throw fail.exhausted(
        `model ${name} needs ${bytes} bytes; the server holds ${others} of its ${this.limit}-byte ` +
          `memory limit (--memory-limit), so ${Math.max(0, this.limit - others)} are free`,
      );
    }
  }

  /** Staging the models leave room for (the StagingBudget's cap). */
  stagingRoom(): number {
    return this.sharesStaging ? Math.max(0, this.limit - this.modelBytes()) : Infinity;
  }
}
