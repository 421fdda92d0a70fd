// The audit trail: one structured log line for each call that creates, replaces or removes a model (CreateModel,
// Restore, DeleteModel), refused or not, with the token's name (never the token), the model and the outcome.
// Lines carry `audit: true` so that a log pipeline can route them apart from the per-RPC lines.

import type { Logger } from 'pino';
import type { Principal } from './authorize';

export const AUDITED_METHODS: ReadonlySet<string> = new Set([
  'CreateModel',
  'CreateModelStream',
  'Restore',
  'DeleteModel',
]);

export interface AuditEvent {
  method: string;
  /** null when the server runs without --auth-tokens, or the call was refused before a token was known. */
  principal: Principal | null;
  model: unknown;
  /** The status code's name ('OK', 'PERMISSION_DENIED', ...). */
  outcome: string;
  details?: string;
  peer: string;
}

export function audit(log: Logger, e: AuditEvent): void {
  if (!AUDITED_METHODS.has(e.method)) return;
  log.info(
    {
      audit: true,
      event: e.method,
      token: e.principal?.name ?? null,
      role: e.principal?.role ?? null,
      model: typeof e.model === 'string' ? e.model.slice(0, 128) : null,
      outcome: e.outcome,
      ...(e.outcome === 'OK' || e.details === undefined ? {} : { details: e.details.slice(0, 200) }),
      peer: e.peer,
    },
    'audit',
  );
}
