// Client-side TLS and tokens: the channel credentials for a TLS (or mutual TLS) connection, files read for the
// CLI, and the bearer token sent as 'authorization' metadata on every call (docs/service.md "Security").

import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { TlsOptions } from './types';

/** Channel credentials for `tls`: the server verified against `ca` (default: the system roots), `cert`/`key` for mutual TLS. */
export function channelCredentials(tls: TlsOptions): grpc.ChannelCredentials {
  if (Boolean(tls.cert) !== Boolean(tls.key))
    throw new TypeError('tls.cert and tls.key go together: give both or neither');
  return grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

/** Channel options for `tls` (the name to verify the server's certificate against, when not the address's host). */
export function tlsChannelOptions(tls: TlsOptions | undefined): grpc.ChannelOptions {
  return tls?.serverName
    ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName }
    : {};
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${what} ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      cause: err,
    });
  }
}

/** TLS options from PEM files (the CLI's --tls-ca, --tls-cert, --tls-key). */
export function tlsFromFiles(f: { ca?: string; cert?: string; key?: string; serverName?: string }): TlsOptions {
  return {
    ca: f.ca ? read(f.ca, '--tls-ca') : undefined,
    cert: f.cert ? read(f.cert, '--tls-cert') : undefined,
    key: f.key ? read(f.key, '--tls-key') : undefined,
    serverName: f.serverName,
  };
}

/** A token read from a file (first line, surrounding whitespace removed). */
export function tokenFromFile(path: string): string {
  const t = read(path, '--token-file').toString('utf8').split(/\r?\n/)[0].trim();
  if (!t) throw new Error(`--token-file ${path}: empty`);
  return t;
}

/** Tokens are printable ASCII without spaces; anything else could not travel as metadata. */
export function checkToken(token: string): void {
  if (!/^[\x21-\x7e]{1,512}$/.test(token))
    throw new TypeError('token: expected 1-512 printable ASCII characters without spaces');
}
