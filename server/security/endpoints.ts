// Access to what is not a qstep.v1 RPC. grpc.health.v1 stays open (orchestrators probe it without a token).
// Server reflection follows --reflection: `token` (the default with --auth-tokens: any valid token), `open` or
// `off`. /metrics follows --metrics-token: a bearer token of role admin or metrics (exposure.ts refuses a
// non-loopback /metrics without it).

import * as grpc from '@grpc/grpc-js';
import type { AccessControl } from './authorize';
import { METRICS_ROLES } from './authorize';

export type ReflectionMode = 'token' | 'open' | 'off';
export const REFLECTION_MODES: readonly ReflectionMode[] = ['token', 'open', 'off'];

const REFLECTION_PREFIX = '/grpc.reflection.';

/** A server interceptor that asks reflection calls for a valid token; every other call passes untouched. */
export function reflectionGate(access: AccessControl): grpc.ServerInterceptor {
  return (method, call) => {
    if (!method.path.startsWith(REFLECTION_PREFIX)) return new grpc.ServerInterceptingCall(call);
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (md, mdNext) => {
            const v = md.get('authorization');
            if (v.length === 1 && typeof v[0] === 'string' && access.identify(v[0])) mdNext(md);
            else
              call.sendStatus({
                code: grpc.status.UNAUTHENTICATED,
                details: "reflection needs 'authorization: Bearer <token>'",
              });
          },
        }),
    });
  };
}

/** For the /metrics HTTP endpoint: whether an Authorization header carries a token allowed to scrape. */
export function metricsAuthorizer(access: AccessControl): (authorization: string | undefined) => boolean {
  return (authorization) => {
    const p = access.identify(authorization);
    return p !== null && METRICS_ROLES.includes(p.role);
  };
}
