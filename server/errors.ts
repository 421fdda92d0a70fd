// The one table from failures to gRPC status (house style 15; service-notes "one status-code table").
// Domain code throws ServiceError with the code the table gives for the situation; engine errors map by their
// code; contract violations found while decoding are INVALID_ARGUMENT; anything else is INTERNAL with a generic
// message, logged with its cause under an id the client can quote.

import { randomUUID } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import type { StatusObject } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { EngineError } from '../native/lib';
import type { EngineErrorCode } from '../native/lib';
import { ContractError } from '../proto/convert';
import { DETAILS_MAX_CHARS, bounded } from './domain/bounded';

export { Status };

export class ServiceError extends Error {
  readonly code: Status;
  constructor(code: Status, message: string) {
    super(message);
    this.name = 'ServiceError';
    this.code = code;
  }
}

/** Constructors named by situation, so call sites read like the table. */
export const fail = {
  /** Bad dtype, shape, byte length, range, option or message order. */
  invalid: (msg: string) => new ServiceError(Status.INVALID_ARGUMENT, msg),
  /** Unknown model or parameter. */
  notFound: (msg: string) => new ServiceError(Status.NOT_FOUND, msg),
  /** Model name taken. */
  exists: (msg: string) => new ServiceError(Status.ALREADY_EXISTS, msg),
  /** Model not ready, stale step id, state that does not fit. */
  precondition: (msg: string) => new ServiceError(Status.FAILED_PRECONDITION, msg),
  /** A concurrent conflicting change. */
  aborted: (msg: string) => new ServiceError(Status.ABORTED, msg),
  /** Over a limit: message size, staging budget, model count, memory. */
  exhausted: (msg: string) => new ServiceError(Status.RESOURCE_EXHAUSTED, msg),
  /** The client went away or its deadline passed. */
  cancelled: (msg = 'cancelled by the client') => new ServiceError(Status.CANCELLED, msg),
  deadline: (msg: string) => new ServiceError(Status.DEADLINE_EXCEEDED, msg),
  /** What arrived differs from what the client said it sent. */
  dataLoss: (msg: string) => new ServiceError(Status.DATA_LOSS, msg),
  unavailable: (msg: string) => new ServiceError(Status.UNAVAILABLE, msg),
};

const ENGINE_TABLE: Record<EngineErrorCode, Status> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  // Imported state that does not fit the parameter: valid on its own, wrong for this model's configuration.
  STATE_MISMATCH: Status.FAILED_PRECONDITION,
  // Non-finite gradients under policy 'error': the request's data is bad.
  NON_FINITE: Status.INVALID_ARGUMENT,
  OUT_OF_MEMORY: Status.RESOURCE_EXHAUSTED,
  NO_DEVICE: Status.UNAVAILABLE,
  // A parameter freed under a running call: its model was deleted.
  FREED: Status.NOT_FOUND,
  INTERNAL: Status.INTERNAL,
};

export function codeName(code: Status): string {
  return Status[code] ?? String(code);
}

/** Maps any thrown value to the status sent to the client. INTERNAL causes are logged here, never sent. */
export function toStatus(err: unknown, log: Logger): Pick<StatusObject, 'code' | 'details'> {
  // Messages quote input through quote() (server/domain/bounded.ts); the cut here is the backstop for any that
  // does not, so no request can make its reply or its log line large.
  const cut = (details: string) => bounded(details, DETAILS_MAX_CHARS);
  if (err instanceof ServiceError) return { code: err.code, details: cut(err.message) };
  if (err instanceof ContractError) return { code: Status.INVALID_ARGUMENT, details: cut(err.message) };
  if (err instanceof EngineError) {
    const code = ENGINE_TABLE[err.code] ?? Status.INTERNAL;
    if (code !== Status.INTERNAL) {
      const details = err.code === 'FREED' ? `${err.message} (its model was deleted)` : err.message;
      return { code, details: cut(details) };
    }
  }
  const id = randomUUID();
  const cause =
    err instanceof Error
      ? {
          type: err.name,
          message: bounded(err.message, DETAILS_MAX_CHARS),
          stack: bounded(err.stack ?? '', 4 * DETAILS_MAX_CHARS),
        }
      : bounded(String(err), DETAILS_MAX_CHARS);
  log.error({ errorId: id, err: cause }, 'internal error');
  return { code: Status.INTERNAL, details: `internal error ${id}` };
}
