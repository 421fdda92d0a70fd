// Who may call what: the bearer token of a call (authorization metadata) resolved to a principal, each role's
// RPCs, each token's model namespace and quotas. server/rpc.ts calls `authenticate` and `checkMessage` before a
// handler sees a request; handlers that list or count models filter through `visibleModels`.
//
// Refusals (docs/service.md "Security"):
//   no token, a malformed header or an unknown token              UNAUTHENTICATED
//   an RPC the token's role does not allow                        PERMISSION_DENIED (says nothing about models)
//   CreateModel(Stream) of a name outside the token's namespace   PERMISSION_DENIED (names the namespace)
//   any other RPC on a model outside the namespace                NOT_FOUND, worded exactly as for a model that
//                                                                 does not exist, so that existence does not leak
//   a create that would put the namespace over a quota            RESOURCE_EXHAUSTED naming the quota

import type { Metadata } from '@grpc/grpc-js';
import { fail, ServiceError, Status } from '../errors';
import type { Model } from '../domain/model';
import type { ModelRegistry } from '../domain/registry';
import { modelBytes } from '../views';
import type { Role, TokenEntry, TokenSet } from './tokens';

export type Principal = Readonly<Omit<TokenEntry, 'hash'>>;

export const QSTEP_METHODS = [
  'ServerInfo',
  'CreateModel',
  'CreateModelStream',
  'UploadParameters',
  'Step',
  'Snapshot',
  'Restore',
  'Describe',
  'ListModels',
  'DeleteModel',
  'Checkpoint',
] as const;
export type QstepMethod = (typeof QSTEP_METHODS)[number];

/** The RPCs each role may call (within its namespace). The docs' role table is written from this. */
export const ROLE_METHODS: Record<Role, readonly QstepMethod[]> = {
  admin: QSTEP_METHODS,
  trainer: [
    'ServerInfo',
    'CreateModel',
    'CreateModelStream',
    'UploadParameters',
    'Step',
    'Snapshot',
    'Restore',
    'Describe',
    'ListModels',
    'Checkpoint',
  ],
  reader: ['ServerInfo', 'Snapshot', 'Describe', 'ListModels'],
  metrics: ['ServerInfo'],
};

/** Roles that may read /metrics when --metrics-token is set. */
export const METRICS_ROLES: readonly Role[] = ['admin', 'metrics'];

type Msg = Record<string, unknown> | null | undefined;
const headerModel = (m: Msg): string | undefined => {
  const h = m?.header as { model?: unknown } | null | undefined;
  return typeof h?.model === 'string' ? h.model : undefined;
};
const field =
  (key: string) =>
  (m: Msg): string | undefined =>
    typeof m?.[key] === 'string' ? (m[key] as string) : undefined;

/**
 * Where each RPC names its model: in the request (unary, server-streaming) or in the first message (client
 * streams and Step). Describe with an empty name and the listing RPCs name none; they are filtered instead.
 */
const MODEL_OF: Partial<Record<QstepMethod, (m: Msg) => string | undefined>> = {
  CreateModel: field('name'),
  CreateModelStream: field('name'), // the first part
  DeleteModel: field('name'),
  Snapshot: field('model'),
  Checkpoint: field('model'),
  Describe: field('model'),
  UploadParameters: headerModel,
  Step: headerModel,
  Restore: headerModel,
};

export function inNamespace(p: Principal | null, model: string): boolean {
  return p === null || model.startsWith(p.namespace);
}

/** The models a caller may see (all of them when authentication is off). */
export function visibleModels(p: Principal | null, models: Model[]): Model[] {
  return p === null || p.namespace === '' ? models : models.filter((m) => m.name.startsWith(p.namespace));
}

/** Whether every model is visible to the caller (no namespace, or authentication off). */
export function seesEverything(p: Principal | null): boolean {
  return p === null || p.namespace === '';
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/i;

export class AccessControl {
  constructor(readonly tokens: TokenSet) {}

  /**
   * The principal behind a call's metadata. Throws UNAUTHENTICATED; the messages never quote what the client sent.
   */
  authenticate(md: Metadata): Principal {
    const values = md.get('authorization');
    if (values.length === 0) {
      throw new ServiceError(Status.UNAUTHENTICATED, "no token: send the metadata 'authorization: Bearer <token>'");
    }
    const m = values.length === 1 && typeof values[0] === 'string' ? BEARER.exec(values[0]) : null;
    if (!m)
      throw new ServiceError(Status.UNAUTHENTICATED, "malformed authorization metadata: expected one 'Bearer <token>'");
    const entry = this.tokens.find(m[1]);
    if (!entry) throw new ServiceError(Status.UNAUTHENTICATED, 'unknown token');
    const { hash: _hash, ...principal } = entry;
    return principal;
  }

  /** The token for a non-RPC endpoint (reflection, /metrics): the principal, or null when absent or unknown. */
  identify(authorization: string | undefined): Principal | null {
    const m = authorization === undefined ? null : BEARER.exec(authorization);
    const entry = m ? this.tokens.find(m[1]) : null;
    if (!entry) return null;
    const { hash: _hash, ...principal } = entry;
    return principal;
  }
}

/** Refuses an RPC the principal's role does not allow (PERMISSION_DENIED, saying nothing about models). */
export function checkRole(p: Principal, method: string): void {
  if (!(ROLE_METHODS[p.role] as readonly string[]).includes(method)) {
    throw new ServiceError(Status.PERMISSION_DENIED, `token ${p.name} (role ${p.role}) may not call ${method}`);
  }
}

/** The model a request or first stream message names, if the RPC names one. */
export function modelOf(method: string, msg: unknown): string | undefined {
  return MODEL_OF[method as QstepMethod]?.(msg as Msg);
}

/**
 * Refuses a message that names a model outside the caller's namespace (see the table at the top). A no-op when
 * authentication is off.
 */
export function checkNamespace(p: Principal | null, method: string, model: string | undefined): void {
  if (p === null || model === undefined || model === '' || inNamespace(p, model)) return;
  if (method === 'CreateModel' || method === 'CreateModelStream') {
    throw new ServiceError(
      Status.PERMISSION_DENIED,
      `token ${p.name} may only create models whose name starts with ${JSON.stringify(p.namespace)}`,
    );
  }
  // Same words as ModelRegistry.get for a name that is not there.
  throw fail.notFound(`no model named ${JSON.stringify(model)}`);
}

/** Parameters and optimizer state; not the staging memory of streams in flight, which comes and goes. */
function heldBytes(m: Model): number {
  const b = modelBytes(m);
  return b.total - b.staging;
}

function heldBy(p: Principal, registry: ModelRegistry): { models: number; bytes: number } {
  let models = 0;
  let bytes = 0;
  for (const m of visibleModels(p, registry.list())) {
    models++;
    bytes += heldBytes(m);
  }
  return { models, bytes };
}

/**
 * Runs `create` (which allocates and registers a model) within the caller's quotas: the model count is checked
 * before anything is allocated; the bytes once the model exists (its size is known only then), and a model that
 * puts the namespace over the quota is deleted again before anyone else can see it (create and this check run in
 * one synchronous stretch). Quotas count what the token's namespace holds, whoever created it.
 */
export function withinQuota(p: Principal | null, registry: ModelRegistry, create: () => Model): Model {
  if (p === null || (p.maxModels === Infinity && p.maxBytes === Infinity)) return create();
  const before = heldBy(p, registry);
  const scope = p.namespace === '' ? 'the server' : `namespace ${p.namespace}`;
  if (before.models >= p.maxModels) {
    throw fail.exhausted(
      `quota max-models of token ${p.name}: ${scope} holds ${before.models} of ${p.maxModels} models`,
    );
  }
  if (before.bytes >= p.maxBytes) {
    throw fail.exhausted(`quota max-bytes of token ${p.name}: ${scope} holds ${before.bytes} of ${p.maxBytes} bytes`);
  }
  const model = create();
  const bytes = heldBytes(model);
  if (before.bytes + bytes > p.maxBytes) {
    registry.delete(model.name);
    throw fail.exhausted(
      `quota max-bytes of token ${p.name}: the model needs ${bytes} bytes; ${scope} holds ` +
        `${before.bytes} of ${p.maxBytes}`,
    );
  }
  return model;
}
