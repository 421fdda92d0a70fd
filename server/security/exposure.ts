// The start-up rule that keeps a server from being opened to a network by accident: a gRPC port on a non-loopback
// interface needs both TLS and tokens (a bearer token sent in plaintext can be read on the wire), and /metrics on
// a non-loopback interface needs --metrics-token, unless --insecure says the operator means it (for example
// behind a service mesh that terminates mutual TLS). The error says what is missing and how to proceed.

import { isIP } from 'node:net';

/** 127.0.0.0/8, ::1, ::ffff:127.x and the name localhost. Everything else (0.0.0.0, ::, a hostname) is exposed. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

export interface Exposure {
  host: string;
  tls: boolean;
  auth: boolean;
  metricsHost: string;
  /** Whether /metrics is served at all. */
  metrics: boolean;
  metricsToken: boolean;
  insecure: boolean;
}

/** The reasons the configuration would expose the server; empty when it may start. */
export function exposureProblems(e: Exposure): string[] {
  const problems: string[] = [];
  if (!isLoopback(e.host)) {
    if (!e.auth)
      problems.push(
        `--host ${e.host} is reachable from other machines and no --auth-tokens file is given: anyone who can reach the port could read, overwrite or delete every model`,
      );
    if (!e.tls)
      problems.push(
        `--host ${e.host} is reachable from other machines without --tls-cert/--tls-key: tokens and tensors would cross the network in plaintext`,
      );
  }
  if (e.metrics && !isLoopback(e.metricsHost) && !e.metricsToken) {
    problems.push(`--metrics-host ${e.metricsHost} is reachable from other machines without --metrics-token`);
  }
  return problems;
}

/** Throws when the server would be exposed and --insecure was not given. Returns the problems --insecure accepted. */
export function checkExposure(e: Exposure): string[] {
  const problems = exposureProblems(e);
  if (problems.length > 0 && !e.insecure) {
    throw new Error(
      `refusing to start: ${problems.join('; ')}. Add the missing options (docs/service.md "Security"), ` +
        'bind to 127.0.0.1, or pass --insecure if the network is protected by other means',
    );
  }
  return problems;
}
