// TLS and mutual TLS for the gRPC port, with certificates that can be replaced while the server runs.
//
// grpc-js (1.14) builds a server's TLS settings from a CertificateProvider (its experimental
// createCertificateProviderServerCredentials): each update the provider pushes becomes the secure context of NEW
// connections (http2 setSecureContext); connections already open, and the streams on them, keep theirs. So a
// reload never drops a call in flight. `reload()` re-reads the files (on SIGHUP, or when a polled file changes:
// file-watch.ts),
// checks them (PEM parses, the key matches the certificate) and pushes them only if they are good: a half-written
// or mismatched pair leaves the previous one serving.

import * as grpc from '@grpc/grpc-js';
import type { experimental } from '@grpc/grpc-js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TlsOptions } from 'node:tls';
import { readFile } from 'node:fs/promises';

type CaCertificateUpdateListener = experimental.CaCertificateUpdateListener;
type IdentityCertificateUpdateListener = experimental.IdentityCertificateUpdateListener;

export interface TlsFiles {
  cert: string;
  key: string;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  clientCa?: string;
}

interface Loaded {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | null;
  /** Subject and expiry of the serving certificate, for the log. */
  subject: string;
  validTo: string;
}

function check(files: TlsFiles, cert: Buffer, key: Buffer, ca: Buffer | null): Loaded {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new Error(`tls-cert ${files.cert}: not a PEM certificate (${(e as Error).message})`, { cause: e });
  }
  let pk;
  try {
    pk = createPrivateKey(key);
  } catch (e) {
    throw new Error(`tls-key ${files.key}: not a PEM private key (${(e as Error).message})`, { cause: e });
  }
  if (!x509.checkPrivateKey(pk))
    throw new Error(`tls-key ${files.key} does not belong to the certificate in ${files.cert}`);
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch (e) {
      throw new Error(`tls-client-ca ${files.clientCa}: not a PEM certificate (${(e as Error).message})`, { cause: e });
    }
  }
  return { cert, key, ca, subject: x509.subject.replace(/\n/g, ', '), validTo: x509.validTo };
}

function readSync(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`${flag} ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
  }
}

/** The server's certificate, key and (for mutual TLS) client CA, read from files and re-read on demand. */
export class CertificateFiles implements experimental.CertificateProvider {
  private current: Loaded;
  private readonly caListeners = new Set<CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<IdentityCertificateUpdateListener>();

  /** Reads and checks the files now; throws a message naming the flag and the file on any problem. */
  constructor(readonly files: TlsFiles) {
    const ca = files.clientCa ? readSync(files.clientCa, 'tls-client-ca') : null;
    this.current = check(files, readSync(files.cert, 'tls-cert'), readSync(files.key, 'tls-key'), ca);
  }

  get subject(): string {
    return this.current.subject;
  }

  get validTo(): string {
    return this.current.validTo;
  }

  /** grpc-js server credentials that follow this provider; client certificates required when a CA is set. */
  credentials(): grpc.ServerCredentials {
    const mutual = this.files.clientCa !== undefined && this.files.clientCa !== '';
    // The same object serves both roles, so the order of grpc-js's two provider arguments does not matter.
    return grpc.experimental.createCertificateProviderServerCredentials(this, mutual ? this : null, mutual);
  }

  /** The same credentials for a Node TLS server (the direct transport, server/direct.ts). */
  tlsOptions(): TlsOptions {
    const mutual = this.current.ca !== null;
    return {
      cert: this.current.cert,
      key: this.current.key,
      ...(mutual ? { ca: this.current.ca as Buffer } : {}),
      requestCert: mutual,
      rejectUnauthorized: mutual,
      minVersion: 'TLSv1.2',
    };
  }

  /** Re-reads and checks the files; pushes them to new connections if good. Throws (keeping the old) if not. */
  async reload(): Promise<{ subject: string; validTo: string }> {
    const f = this.files;
    const [cert, key, ca] = await Promise.all([
      readFile(f.cert),
      readFile(f.key),
      f.clientCa ? readFile(f.clientCa) : null,
    ]);
    this.current = check(f, cert, key, ca);
    this.push();
    return { subject: this.current.subject, validTo: this.current.validTo };
  }

  private push(): void {
    for (const l of this.caListeners) l(this.current.ca ? { caCertificate: this.current.ca } : null);
    for (const l of this.identityListeners) l({ certificate: this.current.cert, privateKey: this.current.key });
  }

  addCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    // Later, not now: grpc-js registers its watcher only after adding the listeners, and would miss an update
    // delivered during the call (then it never accepts a connection).
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener(this.current.ca ? { caCertificate: this.current.ca } : null);
    });
  }

  removeCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener))
        listener({ certificate: this.current.cert, privateKey: this.current.key });
    });
  }

  removeIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }
}
