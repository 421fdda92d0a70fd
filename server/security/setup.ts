// Assembles the server's security from its configuration: the start-up exposure rule, TLS credentials (reloadable),
// the token set and its access control, the reflection gate and the /metrics check. server/main.ts calls
// `setupSecurity` once and `reload` on SIGHUP.

import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ServerConfig } from '../config';
import { AccessControl } from './authorize';
import { REFLECTION_MODES, metricsAuthorizer, reflectionGate } from './endpoints';
import { checkExposure } from './exposure';
import { pollFiles } from './file-watch';
import { CertificateFiles } from './tls';
import { TokenSet } from './tokens';

export interface Security {
  credentials: grpc.ServerCredentials;
  /** The certificate files when TLS is on (the direct transport serves with the same, and follows reloads). */
  certificates: CertificateFiles | null;
  interceptors: grpc.ServerInterceptor[];
  access: AccessControl | undefined;
  /** Whether server reflection is offered at all. */
  reflection: boolean;
  /** For /metrics; undefined = open. */
  metricsAuth: ((authorization: string | undefined) => boolean) | undefined;
  /** Re-reads the certificates and the token file; each keeps its previous contents if its new files are bad. */
  reload(): Promise<{ tls?: string; tokens?: number; errors: string[] }>;
  close(): void;
}

export function setupSecurity(config: ServerConfig, log: Logger): Security {
  if (!REFLECTION_MODES.includes(config.reflection)) {
    throw new Error(
      `reflection: expected one of ${REFLECTION_MODES.join(', ')}, got ${String(config.reflection).slice(0, 20)}`,
    );
  }
  if (Boolean(config.tlsCert) !== Boolean(config.tlsKey))
    throw new Error('--tls-cert and --tls-key go together: give both or neither');
  if (config.tlsClientCa && !config.tlsCert)
    throw new Error('--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key');
  if (config.metricsToken && !config.authTokens)
    throw new Error('--metrics-token needs --auth-tokens (the tokens it accepts)');
  if (!Number.isSafeInteger(config.watchMs) || config.watchMs < 0) {
    throw new Error(`watchMs: expected an integer >= 0, got ${config.watchMs}`);
  }
  const accepted = checkExposure({
    host: config.host,
    tls: Boolean(config.tlsCert),
    auth: Boolean(config.authTokens),
    metricsHost: config.metricsHost,
    metrics: config.metricsPort >= 0,
    metricsToken: config.metricsToken,
    insecure: config.insecure,
  });
  for (const problem of accepted) log.warn({ problem }, 'insecure: starting anyway (--insecure)');

  const certs = config.tlsCert
    ? new CertificateFiles({ cert: config.tlsCert, key: config.tlsKey, clientCa: config.tlsClientCa || undefined })
    : null;
  const tokens = config.authTokens ? TokenSet.loadSync(config.authTokens) : null;
  const access = tokens ? new AccessControl(tokens) : undefined;
  if (certs) {
    log.info({ subject: certs.subject, validTo: certs.validTo, mutual: Boolean(config.tlsClientCa) }, 'tls');
  }
  if (tokens) log.info({ tokens: tokens.size, file: config.authTokens }, 'auth: tokens loaded');

  const security: Security = {
    credentials: certs ? certs.credentials() : grpc.ServerCredentials.createInsecure(),
    certificates: certs,
    interceptors: access && config.reflection === 'token' ? [reflectionGate(access)] : [],
    access,
    reflection: config.reflection !== 'off',
    metricsAuth: access && config.metricsToken ? metricsAuthorizer(access) : undefined,
    async reload() {
      const out: { tls?: string; tokens?: number; errors: string[] } = { errors: [] };
      if (certs) {
        try {
          out.tls = (await certs.reload()).subject;
        } catch (err) {
          out.errors.push(`tls: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      if (tokens) {
        try {
          out.tokens = await tokens.reload();
        } catch (err) {
          out.errors.push(`tokens: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      return out;
    },
    close() {
      stopWatching();
    },
  };
  const watched = [config.tlsCert, config.tlsKey, config.tlsClientCa, config.authTokens].filter(Boolean);
  const stopWatching =
    config.watchMs > 0 && watched.length > 0
      ? pollFiles(watched, config.watchMs, async () => {
          const r = await security.reload();
          for (const e of r.errors) log.error({ error: e }, 'reload failed; the previous files stay in use');
          log.info({ tls: r.tls, tokens: r.tokens }, 'security reloaded (a file changed)');
        })
      : () => undefined;
  return security;
}
