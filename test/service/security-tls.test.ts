// TLS, mutual TLS and certificate reload against a real server on 127.0.0.1:0, with certificates the test makes
// with openssl (certs.ts); and the CLI end to end: `qstep token create` writes a token file, the client commands
// connect with --tls-ca/--tls-cert/--tls-key and --token-file.

import { expect } from 'chai';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { connect, QstepError } from '../../client';
import type { ConnectOptions, QstepClient } from '../../client';
import type { UploadRequest, UploadResponse__Output } from '../../proto';
import { startServer } from '../../server/main';
import type { RunningServer } from '../../server/main';
import { makeTestPki } from './certs';
import type { TestPki } from './certs';
import { eventually, fingerprint, randomF32 } from './helpers';
import { runQstep as qstep } from '../helpers/serve-process';

describe('service: TLS, mutual TLS and certificate reload', function () {
  this.timeout(60_000);
  let pki: TestPki;
  const servers: RunningServer[] = [];
  const clients: QstepClient[] = [];

  // Each client its own subchannel, so that one client's connection never serves another's calls.
  const client = (address: string, o: ConnectOptions = {}): QstepClient => {
    const c = connect(address, {
      ...o,
      unaryDeadlineMs: 5000,
      channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
    });
    clients.push(c);
    return c;
  };
  const serve = async (config: Parameters<typeof startServer>[0]) => {
    const s = await startServer({
      host: '127.0.0.1',
      port: 0,
      metricsPort: -1,
      logLevel: 'silent',
      threads: 2,
      backend: 'cpu',
      ...config,
    });
    servers.push(s);
    return s;
  };
  const outcome = (c: QstepClient) =>
    c.serverInfo().then(
      () => 'OK',
      (e: QstepError) => e.codeName,
    );

  before(() => {
    pki = makeTestPki();
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.shutdown(1000);
    pki.remove();
  });

  it('TLS: a client trusting the CA connects; a plaintext client and a client trusting another CA do not', async () => {
    const s = await serve({ tlsCert: pki.serverA.cert, tlsKey: pki.serverA.key });
    expect(await outcome(client(s.address, { tls: { ca: pki.read(pki.caA.cert) } }))).to.equal('OK');
    expect(await outcome(client(s.address))).to.equal('UNAVAILABLE');
    expect(await outcome(client(s.address, { tls: { ca: pki.read(pki.caB.cert) } }))).to.equal('UNAVAILABLE');
    // The default roots (no CA given) do not include a test CA either.
    expect(await outcome(client(s.address, { tls: {} }))).to.equal('UNAVAILABLE');
  });

  it('mutual TLS: no client certificate, or one from another CA, fails; one from the client CA works', async () => {
    const s = await serve({ tlsCert: pki.serverA.cert, tlsKey: pki.serverA.key, tlsClientCa: pki.caA.cert });
    const ca = pki.read(pki.caA.cert);
    expect(await outcome(client(s.address, { tls: { ca } }))).to.equal('UNAVAILABLE');
    expect(
      await outcome(
        client(s.address, { tls: { ca, cert: pki.read(pki.clientB.cert), key: pki.read(pki.clientB.key) } }),
      ),
    ).to.equal('UNAVAILABLE');
    expect(
      await outcome(
        client(s.address, { tls: { ca, cert: pki.read(pki.clientA.cert), key: pki.read(pki.clientA.key) } }),
      ),
    ).to.equal('OK');
  });

  it('--health-port answers grpc.health.v1 in plaintext beside a mutual-TLS port, and nothing else', async () => {
    const s = await serve({
      tlsCert: pki.serverA.cert,
      tlsKey: pki.serverA.key,
      tlsClientCa: pki.caA.cert,
      healthPort: 0,
    });
    expect(s.healthPort).to.be.greaterThan(0);
    const probe = client(`127.0.0.1:${s.healthPort}`);
    expect(await probe.health()).to.equal('SERVING');
    expect(await outcome(probe)).to.equal('UNIMPLEMENTED'); // no qstep.v1 on the health port
    const stopping = s.shutdown(1000);
    servers.splice(servers.indexOf(s), 1);
    await stopping;
  });

  it('refuses to start on unreadable or mismatched certificate files, naming the flag and file', async () => {
    const bad = async (c: Parameters<typeof startServer>[0]) =>
      (
        await serve(c).then(
          () => null,
          (e: Error) => e,
        )
      )?.message ?? '';
    expect(await bad({ tlsCert: pki.serverA.cert, tlsKey: pki.serverB.key })).to.include(
      'does not belong to the certificate',
    );
    expect(await bad({ tlsCert: pki.serverA.key, tlsKey: pki.serverA.key })).to.include('tls-cert');
    expect(await bad({ tlsCert: join(pki.dir, 'none.pem'), tlsKey: pki.serverA.key })).to.include('ENOENT');
    expect(await bad({ tlsCert: pki.serverA.cert, tlsKey: '' })).to.include('go together');
    expect(await bad({ tlsClientCa: pki.caA.cert })).to.include('needs --tls-cert');
  });

  it('reload: new connections get the new certificate, a stream in flight completes, a bad pair keeps the old one', async () => {
    const cert = join(pki.dir, 'live.pem');
    const key = join(pki.dir, 'live.key');
    copyFileSync(pki.serverA.cert, cert);
    copyFileSync(pki.serverA.key, key);
    const s = await serve({ tlsCert: cert, tlsKey: key });
    const caA = pki.read(pki.caA.cert);
    const caB = pki.read(pki.caB.cert);
    const c = client(s.address, { tls: { ca: caA } });
    const n = 1 << 19; // two 1 MiB chunks of fp32
    const values = randomF32(n);
    await c.createModel({
      name: 'live',
      parameters: [{ name: 'w', shape: [n], dtype: 'fp32' }],
      optimizer: { name: 'adam' },
    });

    // An upload stream: header and the first half now, the second half after the reload, on the same connection.
    let done!: (r: { err: grpc.ServiceError | null; res?: UploadResponse__Output }) => void;
    const finished = new Promise<{ err: grpc.ServiceError | null; res?: UploadResponse__Output }>((r) => (done = r));
    const call: grpc.ClientWritableStream<UploadRequest> = c.grpc.UploadParameters((err, res) => done({ err, res }));
    const half = n / 2;
    const part = (i: number) => Buffer.from(values.buffer, i * half * 4, half * 4);
    call.write({ header: { model: 'live' } });
    call.write({ chunk: { param: 'w', offset: 0, dtype: 'DTYPE_FP32', data: part(0) } });
    await eventually(
      async () => Number((await c.describe('live')).models[0].params[0].uploadedElements) === half,
      10_000,
      'first half',
    );

    copyFileSync(pki.serverB.cert, cert);
    copyFileSync(pki.serverB.key, key);
    const r = await s.reloadSecurity();
    expect(r.errors).to.deep.equal([]);
    expect(r.tls).to.include('server-b');
    expect(await outcome(client(s.address, { tls: { ca: caB } }))).to.equal('OK');
    expect(await outcome(client(s.address, { tls: { ca: caA } }))).to.equal('UNAVAILABLE');

    call.write({ chunk: { param: 'w', offset: half, dtype: 'DTYPE_FP32', data: part(1) } });
    call.end();
    const up = await finished;
    expect(up.err).to.equal(null);
    expect(up.res?.ready).to.equal(true);
    const snap = await c.snapshot('live', { state: 'none' });
    expect(snap.tensors.get('w')?.data.equals(Buffer.from(values.buffer))).to.equal(true);

    // A key that does not match the new certificate: refused, the previous pair keeps serving.
    copyFileSync(pki.serverA.key, key);
    const bad = await s.reloadSecurity();
    expect(bad.errors.join(' ')).to.include('does not belong');
    expect(await outcome(client(s.address, { tls: { ca: caB } }))).to.equal('OK');
    expect(await fingerprint(c, 'live')).to.be.a('string'); // the first connection still works
  });

  it('reload on file change (--watch-ms) without a signal', async () => {
    const cert = join(pki.dir, 'watched.pem');
    const key = join(pki.dir, 'watched.key');
    copyFileSync(pki.serverA.cert, cert);
    copyFileSync(pki.serverA.key, key);
    const s = await serve({ tlsCert: cert, tlsKey: key, watchMs: 50 });
    expect(await outcome(client(s.address, { tls: { ca: pki.read(pki.caA.cert) } }))).to.equal('OK');
    // Key first, then certificate: in between the pair does not match and the old one stays.
    copyFileSync(pki.serverB.key, key);
    copyFileSync(pki.serverB.cert, cert);
    writeFileSync(cert, pki.read(pki.serverB.cert)); // a second write bumps the mtime even on coarse clocks
    await eventually(
      async () => (await outcome(client(s.address, { tls: { ca: pki.read(pki.caB.cert) } }))) === 'OK',
      10_000,
      'watched reload',
    );
  });

  it('CLI: qstep token create writes the file; client commands connect with --tls-* and --token-file', async () => {
    const tokens = join(pki.dir, 'cli-tokens.txt');
    const made = await qstep([
      'token',
      'create',
      '--name',
      'ops',
      '--role',
      'admin',
      '--namespace',
      '*',
      '--file',
      tokens,
    ]);
    expect(made.code, made.stderr).to.equal(0);
    const token = /^token (\S+)$/m.exec(made.stdout)?.[1] ?? '';
    expect(token).to.match(/^qst_/);
    const tokenFile = join(pki.dir, 'ops.token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const s = await serve({
      tlsCert: pki.serverA.cert,
      tlsKey: pki.serverA.key,
      tlsClientCa: pki.caA.cert,
      authTokens: tokens,
    });
    const base = [
      '--address',
      s.address,
      '--tls-ca',
      pki.caA.cert,
      '--tls-cert',
      pki.clientA.cert,
      '--tls-key',
      pki.clientA.key,
    ];
    const ok = await qstep([...base, '--token-file', tokenFile, 'info', '--json']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(JSON.parse(ok.stdout).version).to.be.a('string');
    const viaEnv = await qstep([...base, 'list'], { env: { QSTEP_TOKEN: token } });
    expect(viaEnv.code, viaEnv.stderr).to.equal(0);
    const noToken = await qstep([...base, 'list']);
    expect(noToken.code).to.equal(2);
    expect(noToken.stderr).to.include('UNAUTHENTICATED');
    expect(noToken.stderr + ok.stderr).to.not.include(token);
  });
});
