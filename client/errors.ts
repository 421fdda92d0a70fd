// Typed client errors: every failed call rejects with a QstepError carrying the gRPC status code.

import { status as Status } from '@grpc/grpc-js';

export { Status };

export class QstepError extends Error {
  /** The gRPC status code (grpc.status). */
  readonly code: Status;
  /** Its name, e.g. 'INVALID_ARGUMENT'. */
  readonly codeName: string;
  readonly details: string;

  constructor(code: Status, details: string) {
    super(`${Status[code] ?? code}: ${details}`);
    this.name = 'QstepError';
    this.code = code;
    this.codeName = Status[code] ?? String(code);
    this.details = details;
  }

  /** Converts whatever grpc-js (or the library) threw. */
  static from(err: unknown): QstepError {
    if (err instanceof QstepError) return err;
    const e = err as { code?: unknown; details?: unknown; message?: unknown };
    if (e && typeof e.code === 'number' && Status[e.code] !== undefined) {
      return new QstepError(e.code, typeof e.details === 'string' ? e.details : String(e.message ?? ''));
    }
    return new QstepError(Status.UNKNOWN, err instanceof Error ? err.message : String(err));
  }
}
