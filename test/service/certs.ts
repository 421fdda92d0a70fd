// Test certificates made with the `openssl` command into a temporary directory: two independent CAs, server
// certificates for 127.0.0.1/localhost signed by each, and client certificates for mutual TLS. EC P-256 keys, so
// making them takes milliseconds. Nothing here is reused between runs.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** File paths. */
  caA: Pem;
  caB: Pem;
  serverA: Pem;
  serverB: Pem;
  clientA: Pem;
  clientB: Pem;
  read(path: string): Buffer;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): Pem {
  const p = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    p.key,
    '-out',
    p.cert,
    '-days',
    '2',
    '-subj',
    `/CN=qstep test ${name}`,
  ]);
  return p;
}

function makeLeaf(dir: string, name: string, ca: Pem, ext: string): Pem {
  const p = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(dir, [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    p.key,
    '-out',
    csr,
    '-subj',
    `/CN=${name}`,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    p.cert,
    '-days',
    '2',
    '-extfile',
    extFile,
  ]);
  return p;
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'qstep-pki-'));
  const serverExt = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n';
  const clientExt = 'extendedKeyUsage=clientAuth\n';
  const caA = makeCa(dir, 'ca-a');
  const caB = makeCa(dir, 'ca-b');
  return {
    dir,
    caA,
    caB,
    serverA: makeLeaf(dir, 'server-a', caA, serverExt),
    serverB: makeLeaf(dir, 'server-b', caB, serverExt),
    clientA: makeLeaf(dir, 'client-a', caA, clientExt),
    clientB: makeLeaf(dir, 'client-b', caB, clientExt),
    read: (path) => readFileSync(path),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
