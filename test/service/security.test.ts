// Bearer tokens, roles, namespaces, quotas, audit lines and the start-up exposure rule, against a real server on
// 127.0.0.1:0 (plaintext here: tokens travel as metadata; security-tls.test.ts covers TLS). Every refused call
// that names a model is followed by a fingerprint of that model: a refusal changes nothing.

import { expect } from 'chai';
import { request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { connect, QstepError } from '../../client';
import type { QstepClient } from '../../client';
import type { ModelSpec } from '../../client/types';
import { startServer } from '../../server/main';
import type { RunningServer } from '../../server/main';
import { formatTokenLine, hashToken, newToken, parseTokenFile } from '../../server/security/tokens';
import { fingerprint, randomF32, reflectionServices } from './helpers';

/** The role table as the issue states it, written out here (not imported) so that a change to the code shows. */
const ALLOWED: Record<string, string[]> = {
  admin: [
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
  ],
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
const N = 1000;
const spec = (name: string, n = N): ModelSpec => ({
  name,
  parameters: [{ name: 'w', shape: [n], dtype: 'fp32' }],
  optimizer: { name: 'adam', lr: 1e-3 },
});

/** A specification too large for one message: the client creates it over CreateModelStream, in parts. */
const manySpec = (name: string): ModelSpec => ({
  name,
  parameters: Array.from({ length: 6000 }, (_, i) => ({
    name: `layers.${i}.experts.mlp.weight`,
    shape: [2],
    dtype: 'fp32' as const,
  })),
  optimizer: { name: 'adam', lr: 1e-3 },
});

interface Tok {
  name: string;
  role: string;
  namespace: string;
  token: string;
  quota?: string;
}

function tokenFile(dir: string, toks: Tok[]): string {
  const file = join(dir, `tokens-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(
    file,
    `# test tokens\n${toks
      .map(
        (t) =>
          `${formatTokenLine({
            name: t.name,
            role: t.role as 'admin',
            namespace: t.namespace === '*' ? '' : t.namespace,
            hash: hashToken(t.token),
            maxModels: Infinity,
            maxBytes: Infinity,
          })}${t.quota ? ` ${t.quota}` : ''}`,
      )
      .join('\n')}\n`,
    { mode: 0o600 },
  );
  return file;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    if (err instanceof QstepError) return err.codeName;
    throw err;
  }
}

async function refusal(p: Promise<unknown>): Promise<QstepError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof QstepError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('service: tokens, roles, namespaces, quotas', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer;
  let file: string;
  const logs: string[] = [];
  const toks: Record<string, Tok> = {};
  const clients: QstepClient[] = [];
  const as = (who: string | null, token?: string): QstepClient => {
    const c = connect(
      server.address,
      who === null ? (token === undefined ? {} : { metadata: { authorization: token } }) : { token: toks[who].token },
    );
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qstep-auth-'));
    const list: Tok[] = [
      { name: 'root', role: 'admin', namespace: '*', token: newToken() },
      { name: 'admin-a', role: 'admin', namespace: 'team-a:', token: newToken() },
      { name: 'trainer-a', role: 'trainer', namespace: 'team-a:', token: newToken() },
      { name: 'reader-a', role: 'reader', namespace: 'team-a:', token: newToken() },
      { name: 'metrics-a', role: 'metrics', namespace: 'team-a:', token: newToken() },
      { name: 'trainer-b', role: 'trainer', namespace: 'team-b:', token: newToken() },
      { name: 'scraper', role: 'metrics', namespace: '*', token: newToken() },
      { name: 'q-models', role: 'trainer', namespace: 'team-q:', token: newToken(), quota: 'max-models=1' },
      // Room for one model of N fp32 Adam elements (4 + 8 bytes each) plus a little, not for two.
      {
        name: 'q-bytes',
        role: 'trainer',
        namespace: 'team-r:',
        token: newToken(),
        quota: `max-bytes=${12 * N + 4000}`,
      },
    ];
    for (const t of list) toks[t.name] = t;
    file = tokenFile(dir, list);
    const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(s) });
    server = await startServer(
      {
        host: '127.0.0.1',
        port: 0,
        metricsPort: 0,
        threads: 2,
        backend: 'cpu',
        authTokens: file,
        metricsToken: true,
        stateDir: join(dir, 'state'),
      },
      logger,
    );
  });

  after(async () => {
    for (const c of clients) c.close();
    await server.shutdown(2000);
    rmSync(dir, { recursive: true, force: true });
  });

  /** A ready model (random values) made by the all-namespace admin. */
  async function readyModel(name: string): Promise<void> {
    const root = as('root');
    await root.createModel(spec(name));
    await root.uploadParameters(name, { w: randomF32(N) });
  }

  it('without a valid token every qstep call is UNAUTHENTICATED; health stays open; no token is echoed', async () => {
    await readyModel('team-a:anon');
    const before = await fingerprint(as('root'), 'team-a:anon');
    for (const c of [
      as(null),
      as(null, 'Bearer qst_not-a-token'),
      as(null, 'Basic dXNlcjpwdw=='),
      as(null, `bearer  ${toks.root.token}`),
    ]) {
      for (const p of [
        () => c.serverInfo(),
        () => c.listModels(),
        () => c.describe('team-a:anon'),
        () => c.snapshot('team-a:anon'),
        () => c.step('team-a:anon', { w: randomF32(N) }),
        () => c.deleteModel('team-a:anon'),
        () => c.createModel(spec('team-a:anon2')),
      ]) {
        const e = await refusal(p());
        expect(e.codeName).to.equal('UNAUTHENTICATED');
        expect(e.details).to.not.include('qst_');
        expect(e.details).to.not.include('dXNlcjpwdw');
      }
      expect(await c.health()).to.equal('SERVING');
    }
    expect(await fingerprint(as('root'), 'team-a:anon')).to.equal(before);
    expect((await as('root').listModels()).map((m) => m.name)).to.not.include('team-a:anon2');
  });

  it('each role may call exactly its RPCs; a refused call changes nothing', async () => {
    const root = as('root');
    for (const who of ['admin-a', 'trainer-a', 'reader-a', 'metrics-a']) {
      const role = toks[who].role;
      const c = as(who);
      const m = `team-a:${who}`;
      await readyModel(m);
      await root.createModel(spec(`${m}-up`));
      await root.createModel(spec(`${m}-del`));
      const snap = await root.snapshot(m, { state: 'raw' });
      const calls: Record<string, () => Promise<unknown>> = {
        ServerInfo: () => c.serverInfo(),
        CreateModel: () => c.createModel(spec(`${m}-new`)),
        CreateModelStream: () => c.createModel(manySpec(`${m}-many`)),
        UploadParameters: () => c.uploadParameters(`${m}-up`, { w: randomF32(N) }),
        Step: () => c.step(m, { w: randomF32(N, 0.01) }),
        Snapshot: () => c.snapshot(m),
        Restore: () => c.restore(m, snap),
        Describe: () => c.describe(m),
        ListModels: () => c.listModels(),
        Checkpoint: () => c.checkpoint(m),
        DeleteModel: () => c.deleteModel(`${m}-del`),
      };
      for (const [method, call] of Object.entries(calls)) {
        const fp = {
          m: await fingerprint(root, m),
          up: await fingerprint(root, `${m}-up`),
          del: await fingerprint(root, `${m}-del`),
        };
        const got = await code(call());
        const want = ALLOWED[role].includes(method) ? 'OK' : 'PERMISSION_DENIED';
        expect(got, `${role} ${method}`).to.equal(want);
        if (want !== 'OK') {
          expect(await fingerprint(root, m), `${role} ${method}`).to.equal(fp.m);
          expect(await fingerprint(root, `${m}-up`), `${role} ${method}`).to.equal(fp.up);
          expect(await fingerprint(root, `${m}-del`), `${role} ${method}`).to.equal(fp.del);
        }
      }
      const names = (await root.listModels()).map((x) => x.name);
      expect(names.includes(`${m}-new`), `${role} created`).to.equal(ALLOWED[role].includes('CreateModel'));
      expect(names.includes(`${m}-many`), `${role} created`).to.equal(ALLOWED[role].includes('CreateModelStream'));
      expect(names.includes(`${m}-del`), `${role} deleted`).to.equal(!ALLOWED[role].includes('DeleteModel'));
    }
  });

  it("tenant A can neither see, read, step, restore nor delete B's model, which stays bit-identical", async () => {
    const a = as('trainer-a');
    const adminA = as('admin-a');
    const b = as('trainer-b');
    const root = as('root');
    await b.createModel(spec('team-b:secret'));
    await b.uploadParameters('team-b:secret', { w: randomF32(N) });
    await b.step('team-b:secret', { w: randomF32(N, 0.01) });
    await a.createModel(spec('team-a:own'));
    await a.uploadParameters('team-a:own', { w: randomF32(N) });
    const fp = await fingerprint(root, 'team-b:secret');
    const ownSnap = await a.snapshot('team-a:own', { state: 'raw' });
    const missing = await refusal(a.describe('team-b:no-such-model'));
    expect(missing.codeName).to.equal('NOT_FOUND');

    for (const c of [a, adminA]) {
      expect((await c.listModels()).every((m) => m.name.startsWith('team-a:'))).to.equal(true);
      const d = await c.describe();
      expect(d.models.every((m) => m.name.startsWith('team-a:'))).to.equal(true);
      expect(d.totals?.models).to.equal(d.models.length);
      const attempts: [string, () => Promise<unknown>][] = [
        ['describe', () => c.describe('team-b:secret')],
        ['snapshot', () => c.snapshot('team-b:secret')],
        ['step', () => c.step('team-b:secret', { w: randomF32(N, 0.01) })],
        ['restore', () => c.restore('team-b:secret', ownSnap)],
        ['upload', () => c.uploadParameters('team-b:secret', { w: randomF32(N) })],
        ['delete', () => c.deleteModel('team-b:secret')],
      ];
      for (const [what, p] of attempts) {
        const e = await refusal(p());
        if (what === 'delete' && c === a) {
          expect(e.codeName, what).to.equal('PERMISSION_DENIED'); // trainers delete nothing
        } else {
          // Exactly what a model that does not exist gets: existence does not leak.
          expect(e.codeName, what).to.equal('NOT_FOUND');
          expect(e.details, what).to.equal(missing.details.replace('team-b:no-such-model', 'team-b:secret'));
        }
        expect(await fingerprint(root, 'team-b:secret'), what).to.equal(fp);
      }
      const create = await refusal(c.createModel(spec('team-b:intruder')));
      expect(create.codeName).to.equal('PERMISSION_DENIED');
      expect(create.details).to.include('team-a:');
      const inParts = await refusal(c.createModel(manySpec('team-b:intruder')));
      expect(inParts.codeName).to.equal('PERMISSION_DENIED');
      expect(inParts.details).to.equal(create.details);
    }
    expect((await root.listModels()).map((m) => m.name))
      .to.include('team-b:secret')
      .and.not.include('team-b:intruder');
    // B's totals do not count A's models and the other way round.
    const db = await b.describe();
    expect(db.models.map((m) => m.name)).to.deep.equal(['team-b:secret']);
    expect(db.totals?.models).to.equal(1);
    expect(Number(db.totals?.memory?.parameters)).to.equal(4 * N);
  });

  it('quotas: RESOURCE_EXHAUSTED naming the quota, and the refused model does not exist', async () => {
    const q = as('q-models');
    expect((await q.serverInfo()).limits?.maxModels).to.equal(1);
    await q.createModel(spec('team-q:one'));
    const e = await refusal(q.createModel(spec('team-q:two')));
    expect(e.codeName).to.equal('RESOURCE_EXHAUSTED');
    expect(e.details).to.include('max-models');
    const many = await refusal(q.createModel(manySpec('team-q:two')));
    expect(many.codeName).to.equal('RESOURCE_EXHAUSTED');
    expect(many.details).to.equal(e.details);
    expect((await q.listModels()).map((m) => m.name)).to.deep.equal(['team-q:one']);

    const r = as('q-bytes');
    const big = await refusal(r.createModel(spec('team-r:big', 2 * N)));
    expect(big.codeName).to.equal('RESOURCE_EXHAUSTED');
    expect(big.details).to.include('max-bytes');
    const manyBig = await refusal(r.createModel(manySpec('team-r:big'))); // 12,000 elements in parts
    expect(manyBig.codeName).to.equal('RESOURCE_EXHAUSTED');
    expect(manyBig.details).to.include('max-bytes');
    expect(await r.listModels()).to.have.length(0);
    await r.createModel(spec('team-r:first'));
    const second = await refusal(r.createModel(spec('team-r:second')));
    expect(second.codeName).to.equal('RESOURCE_EXHAUSTED');
    expect(second.details).to.include('max-bytes');
    expect((await as('root').listModels()).map((m) => m.name))
      .to.include('team-r:first')
      .and.not.include('team-r:second');
    // The name is free again: nothing of the refused model is left behind.
    await as('root').deleteModel('team-r:first');
    await r.createModel(spec('team-r:second'));
  });

  it('reflection needs a token; /metrics needs a token of role admin or metrics; neither shows a token', async () => {
    const e = await reflectionServices(server.address).then(
      () => null,
      (err: { code?: number }) => err,
    );
    expect(e?.code).to.equal(16); // UNAUTHENTICATED
    expect(await reflectionServices(server.address, { authorization: `Bearer ${toks['reader-a'].token}` })).to.include(
      'qstep.v1.Qstep',
    );
    const scrape = (auth?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: server.metricsPort,
            path: '/metrics',
            headers: auth ? { authorization: auth } : {},
          },
          (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    expect((await scrape()).status).to.equal(401);
    expect((await scrape(`Bearer ${toks['trainer-a'].token}`)).status).to.equal(401);
    expect((await scrape(`Bearer ${toks.scraper.token}`)).status).to.equal(200);
    const ok = await scrape(`Bearer ${toks.root.token}`);
    expect(ok.status).to.equal(200);
    expect(ok.body).to.include('grpc_server_handled_total');
    expect(ok.body).to.include('UNAUTHENTICATED');
    for (const t of Object.values(toks)) {
      expect(ok.body).to.not.include(t.token);
      expect(ok.body).to.not.include(hashToken(t.token).toString('hex'));
    }
  });

  it('audit lines for create, restore and delete name the token and the outcome; no log line holds a token', async () => {
    const a = as('trainer-a');
    await a.createModel(spec('team-a:audited'));
    await a.createModel(manySpec('team-a:audited-many'));
    await refusal(as('reader-a').createModel(spec('team-a:audited-2')));
    await refusal(a.deleteModel('team-a:audited'));
    await as('root').deleteModel('team-a:audited');
    await new Promise((r) => setTimeout(r, 50));
    const audit = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true);
    const find = (event: string, token: string, model: string) =>
      audit.filter((l) => l.event === event && l.token === token && l.model === model).map((l) => l.outcome);
    expect(find('CreateModel', 'trainer-a', 'team-a:audited')).to.deep.equal(['OK']);
    expect(find('CreateModelStream', 'trainer-a', 'team-a:audited-many')).to.deep.equal(['OK']);
    expect(find('CreateModel', 'reader-a', 'team-a:audited-2')).to.deep.equal(['PERMISSION_DENIED']);
    expect(find('DeleteModel', 'trainer-a', 'team-a:audited')).to.deep.equal(['PERMISSION_DENIED']);
    expect(find('DeleteModel', 'root', 'team-a:audited')).to.deep.equal(['OK']);
    expect(audit.some((l) => l.event === 'Restore' && l.outcome === 'OK')).to.equal(true);
    expect(audit.some((l) => l.event === 'Step')).to.equal(false);
    const all = logs.join('');
    for (const t of Object.values(toks)) {
      expect(all).to.not.include(t.token);
      expect(all).to.not.include(hashToken(t.token).toString('hex'));
    }
  });

  it('SIGHUP-style reload picks up added and removed tokens; a broken file keeps the old ones', async () => {
    const extra: Tok = { name: 'late', role: 'reader', namespace: 'team-a:', token: newToken() };
    const lateClient = as(null, `Bearer ${extra.token}`);
    expect(await code(lateClient.listModels())).to.equal('UNAUTHENTICATED');
    writeFileSync(file, readFileSync(tokenFile(dir, [...Object.values(toks), extra])));
    const r = await server.reloadSecurity();
    expect(r.errors).to.deep.equal([]);
    expect(r.tokens).to.equal(Object.keys(toks).length + 1);
    expect(await code(lateClient.listModels())).to.equal('OK');
    writeFileSync(file, 'name=broken role=admin\n');
    const bad = await server.reloadSecurity();
    expect(bad.errors.join(' ')).to.include(':1: field namespace missing');
    expect(await code(lateClient.listModels())).to.equal('OK');
    writeFileSync(file, readFileSync(tokenFile(dir, Object.values(toks))));
    await server.reloadSecurity();
    expect(await code(lateClient.listModels())).to.equal('UNAUTHENTICATED');
  });
});

describe('service: security start-up rules and token files', function () {
  this.timeout(30_000);

  it('refuses a non-loopback host without TLS and tokens unless --insecure, saying why', async () => {
    const err = await startServer({ host: '0.0.0.0', port: 0, metricsPort: -1, logLevel: 'silent' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).to.include('refusing to start');
    expect(err?.message).to.include('--auth-tokens');
    expect(err?.message).to.include('--tls-cert');
    const metricsErr = await startServer({ port: 0, metricsPort: 0, metricsHost: '0.0.0.0', logLevel: 'silent' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(metricsErr?.message).to.include('--metrics-token');
    const s = await startServer({
      host: '0.0.0.0',
      port: 0,
      metricsPort: -1,
      logLevel: 'silent',
      insecure: true,
      threads: 1,
    });
    await s.shutdown(100);
  });

  it('refuses bad token files with the line at fault, never quoting a hash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qstep-tokfile-'));
    try {
      const hex = hashToken('x').toString('hex');
      const cases: [string, string][] = [
        [
          `name=a role=admin namespace=* sha256=${hex}\nname=a role=reader namespace=* sha256=${hashToken('y').toString('hex')}`,
          ':2: token name a appears twice',
        ],
        [`name=a role=root namespace=* sha256=${hex}`, 'expected one of admin, trainer, reader, metrics for role'],
        [`name=a role=admin namespace=team sha256=${hex}`, 'ending in one of'],
        [`name=a role=admin namespace=* sha256=${hex.slice(2)}`, 'expected 64 hex digits'],
        [`name=a role=admin namespace=* sha256=${hex} colour=red`, 'unknown field "colour"'],
        [`name=a role=admin namespace=* sha256=${hex} max-models=-1`, 'for max-models'],
        ['# nothing here\n', 'holds no tokens'],
      ];
      for (const [text, want] of cases) {
        const f = join(dir, 't.txt');
        writeFileSync(f, text);
        const err = await startServer({ port: 0, metricsPort: -1, logLevel: 'silent', authTokens: f }).then(
          () => null,
          (e: Error) => e,
        );
        expect(err?.message, want).to.include(want);
        expect(err?.message).to.not.include(hex.slice(2, 20));
      }
      const missing = await startServer({
        port: 0,
        metricsPort: -1,
        logLevel: 'silent',
        authTokens: join(dir, 'nope'),
      }).then(
        () => null,
        (e: Error) => e,
      );
      expect(missing?.message).to.include('ENOENT');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--reflection off removes reflection, open serves it without a token; --watch-ms reloads the token file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qstep-refl-'));
    const servers: RunningServer[] = [];
    const clients: QstepClient[] = [];
    try {
      const t1 = newToken();
      const t2 = newToken();
      const line = (name: string, t: string) =>
        formatTokenLine({
          name,
          role: 'reader',
          namespace: '',
          hash: hashToken(t),
          maxModels: Infinity,
          maxBytes: Infinity,
        });
      const file = join(dir, 'tokens');
      writeFileSync(file, `${line('one', t1)}\n`);
      const base = { port: 0, metricsPort: -1, logLevel: 'silent', threads: 1, authTokens: file };
      const off = await startServer({ ...base, reflection: 'off' });
      servers.push(off);
      const offErr = await reflectionServices(off.address, { authorization: `Bearer ${t1}` }).then(
        () => null,
        (e: { code?: number }) => e,
      );
      expect(offErr?.code).to.equal(12); // UNIMPLEMENTED
      const open = await startServer({ ...base, reflection: 'open', watchMs: 50 });
      servers.push(open);
      expect(await reflectionServices(open.address)).to.include('qstep.v1.Qstep');
      const c2 = connect(open.address, { token: t2 });
      clients.push(c2);
      expect(await code(c2.listModels())).to.equal('UNAUTHENTICATED');
      writeFileSync(file, `${line('one', t1)}\n${line('two', t2)}\n`);
      const until = Date.now() + 10_000;
      while ((await code(c2.listModels())) !== 'OK') {
        if (Date.now() > until) throw new Error('the token file was not reloaded');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      for (const c of clients) c.close();
      for (const s of servers) await s.shutdown(100);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses quotas with units and keeps the namespace * as every model', () => {
    const [e] = parseTokenFile(
      `name=x role=trainer namespace=* sha256=${hashToken('t').toString('hex')} max-models=3 max-bytes=2GiB`,
    );
    expect(e.namespace).to.equal('');
    expect(e.maxModels).to.equal(3);
    expect(e.maxBytes).to.equal(2 * 2 ** 30);
  });
});
