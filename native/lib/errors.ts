// Engine errors cross the Node-API boundary as `{ code, message }` and are converted here, in one place
// (house style 12). The service maps `code` to a gRPC status through its one table.

export type EngineErrorCode =
  | 'INVALID_ARGUMENT' // a caller's value is out of range or malformed
  | 'STATE_MISMATCH' // imported state does not fit the parameter (size, block size, mode, optimizer)
  | 'NON_FINITE' // a gradient holds NaN/Inf under policy 'error'
  | 'OUT_OF_MEMORY' // host or device allocation failed
  | 'NO_DEVICE' // CUDA requested but no device answers (or the addon was built without CUDA)
  | 'FREED' // the parameter was freed (e.g. its model was deleted) while the call was queued or running
  | 'INTERNAL'; // a broken invariant or a device fault

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
}

const KNOWN = new Set<string>([
  'INVALID_ARGUMENT',
  'STATE_MISMATCH',
  'NON_FINITE',
  'OUT_OF_MEMORY',
  'NO_DEVICE',
  'FREED',
  'INTERNAL',
]);

/** Converts whatever the addon threw (an Error whose message is "CODE: text") into an EngineError. */
export function fromNative(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(message);
  if (m && KNOWN.has(m[1])) return new EngineError(m[1] as EngineErrorCode, m[2]);
  return new EngineError('INTERNAL', message);
}

/** Runs a native call (sync or async) and converts its failures. */
export async function wrapAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fromNative(e);
  }
}

export function wrapSync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

/** The one message shape for bad arguments (house style 11). */
export function invalid(name: string, expected: string, got: unknown): EngineError {
  let shown: string;
  try {
    shown = typeof got === 'string' ? JSON.stringify(got) : String(got);
  } catch {
    shown = typeof got;
  }
  if (shown.length > 80) shown = shown.slice(0, 77) + '...';
  return new EngineError('INVALID_ARGUMENT', `expected ${expected} for ${name}, got ${shown}`);
}
