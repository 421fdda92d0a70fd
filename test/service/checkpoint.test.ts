// Checkpoints (--state-dir): taken on a schedule (steps, time; per-model overrides kept across restarts), on
// request (Checkpoint RPC) and on shutdown; verified on load. A damaged newest checkpoint (truncated, a flipped
// byte in a tensor or in the header, an empty file, a missing manifest) is skipped with a warning naming it and
// the one before is loaded; when none verifies the start fails naming them. The files are safetensors with a
// CRC-32 per tensor that Python's zlib confirms independently. A worker that runs ahead of a server that went back
// is refused with the server's model step, resyncs and goes on.

import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { QstepError, Status, connect, serverModelStep } from '../../client';
import type { ModelSpec, QstepClient } from '../../client';
import { readSafetensorsHeader } from '../../proto/safetensors';
import { startServer } from '../../server/main';
import type { RunningServer } from '../../server/main';
import type { ServerConfig } from '../../server/config';
import { eventually, fingerprint, randomBf16, randomF32, startHarness } from './helpers';
import { pythonReadSafetensors } from '../helpers/safetensors-py';

const SPEC: ModelSpec = {
  name: 'm',
  parameters: [
    { name: 'w', shape: [60, 100], dtype: 'fp32' },
    { name: 'b', shape: [3000], dtype: 'bf16' },
  ],
  optimizer: { name: 'adamw', lr: 5e-3, optimBits: 8, min8bitSize: 1024, weightDecay: 0.01 },
};

function grads(scale = 0.1) {
  return { w: randomF32(6000, scale), b: { data: randomBf16(3000, scale), dtype: 'bf16' as const } };
}

interface Srv {
  server: RunningServer;
  client: QstepClient;
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

function captureLogger(logs: Record<string, unknown>[]) {
  return pino(
    { level: 'info', base: null },
    {
      write: (s: string) => {
        logs.push(JSON.parse(s) as Record<string, unknown>);
      },
    },
  );
}

async function start(
  dir: string,
  extra: Partial<ServerConfig> = {},
  logs: Record<string, unknown>[] = [],
): Promise<Srv> {
  const server = await startServer(
    {
      host: '127.0.0.1',
      port: 0,
      metricsPort: -1,
      threads: 2,
      stateDir: dir,
      checkpointEverySeconds: 0,
      ...extra,
    },
    captureLogger(logs),
  );
  const client = connect(server.address);
  return {
    server,
    client,
    logs,
    async close() {
      client.close();
      await server.shutdown(2000);
    },
  };
}

async function populated(dir: string, extra: Partial<ServerConfig> = {}, spec: ModelSpec = SPEC): Promise<Srv> {
  const s = await start(dir, extra);
  await s.client.createModel(spec);
  await s.client.uploadParameters(spec.name, { w: randomF32(6000), b: { data: randomBf16(3000), dtype: 'bf16' } });
  return s;
}

async function manifests(dir: string): Promise<{ id: number; modelStep: number }[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.manifest.json')).sort();
  const out: { id: number; modelStep: number }[] = [];
  for (const n of names) {
    const m = JSON.parse(await readFile(join(dir, n), 'utf8')) as { body: { id: number; modelStep: number } };
    out.push({ id: m.body.id, modelStep: m.body.modelStep });
  }
  return out;
}

const ckpt = (dir: string, id: number, kind: 'safetensors' | 'manifest.json') =>
  join(dir, 'm', `ckpt-${String(id).padStart(8, '0')}.${kind}`);

describe('service: checkpoints (--state-dir)', function () {
  this.timeout(120_000);
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qstep-ckpt-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('Checkpoint RPC: a complete, verified file; the model is unchanged; Python confirms layout and CRCs', async function () {
    const s = await populated(dir);
    try {
      for (let i = 0; i < 2; i++) await s.client.step('m', grads());
      const before = await fingerprint(s.client, 'm');
      const r = await s.client.checkpoint('m');
      expect(await fingerprint(s.client, 'm'), 'a checkpoint changes nothing').to.equal(before);
      expect(r).to.include({ model: 'm', id: 1, modelStep: 2 });
      expect(r.file).to.equal(ckpt(dir, 1, 'safetensors'));
      expect((await stat(r.file)).size).to.equal(r.bytes);
      expect(r.stallMs).to.be.a('number');
      expect((await readdir(join(dir, 'm'))).sort()).to.deep.equal([
        'ckpt-00000001.manifest.json',
        'ckpt-00000001.safetensors',
      ]);

      const manifest = JSON.parse(await readFile(ckpt(dir, 1, 'manifest.json'), 'utf8')) as {
        body: { headerCrc32: string; fileBytes: number };
      };
      const snap = await s.client.snapshot('m', { weights: true, state: 'raw' });
      const parsed = pythonReadSafetensors(r.file);
      if (!parsed) this.skip(); // Python is the independent opinion here; without it there is nothing to compare
      expect(parsed.headerCrc32).to.equal(manifest.body.headerCrc32);
      expect(parsed.size).to.equal(manifest.body.fileBytes);
      const { createHash } = await import('node:crypto');
      expect(Object.keys(parsed.tensors).sort()).to.deep.equal([...snap.tensors.keys()].sort());
      for (const [name, t] of snap.tensors) {
        expect(parsed.tensors[name].sha256, name).to.equal(createHash('sha256').update(t.data).digest('hex'));
      }
      expect(parsed.tensors.b.dtype).to.equal('BF16');
    } finally {
      await s.close();
    }
  });

  it('bad Checkpoint and CreateModel requests get clear errors and change nothing', async () => {
    const s = await populated(dir);
    const plain = await startHarness(); // no --state-dir
    try {
      const before = await fingerprint(s.client, 'm');
      const code = (p: Promise<unknown>) =>
        p.then(
          () => null,
          (e: unknown) => e as QstepError,
        );
      expect((await code(s.client.checkpoint('nope')))?.code).to.equal(Status.NOT_FOUND);
      expect((await code(s.client.checkpoint('')))?.code).to.equal(Status.NOT_FOUND);
      await s.client.createModel({ ...SPEC, name: 'empty' });
      const notReady = await code(s.client.checkpoint('empty'));
      expect(notReady?.code).to.equal(Status.FAILED_PRECONDITION);
      expect(notReady?.details).to.match(/not ready/);
      const badKeep = await code(s.client.createModel({ ...SPEC, name: 'k0', checkpoint: { keep: 0 } }));
      expect(badKeep?.code).to.equal(Status.INVALID_ARGUMENT);
      expect(badKeep?.details).to.match(/checkpoint\.keep/);
      expect((await s.client.listModels()).map((m) => m.name).sort()).to.deep.equal(['empty', 'm']);

      await plain.client.createModel({ ...SPEC, name: 'p' });
      const noDir = await code(plain.client.checkpoint('p'));
      expect(noDir?.code).to.equal(Status.FAILED_PRECONDITION);
      expect(noDir?.details).to.match(/--state-dir/);
      const noDirPolicy = await code(plain.client.createModel({ ...SPEC, name: 'q', checkpoint: { everySteps: 5 } }));
      expect(noDirPolicy?.code).to.equal(Status.FAILED_PRECONDITION);
      expect((await plain.client.listModels()).map((m) => m.name)).to.deep.equal(['p']);
      expect(await fingerprint(s.client, 'm')).to.equal(before);
      expect(await readdir(dir), 'no checkpoint was written').to.deep.equal([]);
    } finally {
      await plain.close();
      await s.close();
    }
  });

  it('scheduled by steps (server flag and per-model override, kept across a restart), pruned to --keep-checkpoints', async () => {
    const s = await populated(dir, { checkpointEverySteps: 3, keepCheckpoints: 2 });
    await s.client.createModel({ ...SPEC, name: 'own', checkpoint: { everySteps: 2, keep: 1 } });
    await s.client.uploadParameters('own', { w: randomF32(6000), b: { data: randomBf16(3000), dtype: 'bf16' } });
    try {
      // One model after the other: writes take turns across models, and a model waiting for its turn keeps
      // stepping, so interleaved steps would move the steps the checkpoints land on.
      for (let i = 0; i < 7; i++) await s.client.step('m', grads());
      await eventually(
        async () => JSON.stringify((await manifests(join(dir, 'm'))).map((m) => m.modelStep)) === '[3,6]',
        10_000,
        'checkpoints of m at steps 3 and 6',
      );
      for (let i = 0; i < 7; i++) await s.client.step('own', grads());
      await eventually(
        async () => JSON.stringify((await manifests(join(dir, 'own'))).map((m) => m.modelStep)) === '[6]',
        10_000,
        'one checkpoint of own at step 6',
      );
      expect((await readdir(join(dir, 'own'))).length, 'pruned files are gone').to.equal(2);
    } finally {
      await s.close(); // the shutdown checkpoint: step 7 for both
    }
    expect((await manifests(join(dir, 'own'))).map((m) => m.modelStep)).to.deep.equal([7]);
    const t = await start(dir, { checkpointEverySteps: 3, keepCheckpoints: 2 });
    try {
      // own keeps its policy (every 2 steps, keep 1): two steps make a checkpoint at 9 that replaces the one at 7.
      await t.client.step('own', grads());
      await t.client.step('own', grads());
      await eventually(
        async () => JSON.stringify((await manifests(join(dir, 'own'))).map((m) => m.modelStep)) === '[9]',
        10_000,
        'own checkpointed at 9 after the restart',
      );
    } finally {
      await t.close();
    }
  });

  it('checkpoints of two models asked for all at once, beside steps, all complete (writes take turns)', async () => {
    const s = await populated(dir, { checkpointEverySteps: 1, keepCheckpoints: 50 });
    await s.client.createModel({ ...SPEC, name: 'n' });
    await s.client.uploadParameters('n', { w: randomF32(6000), b: { data: randomBf16(3000), dtype: 'bf16' } });
    try {
      const work: Promise<unknown>[] = [];
      for (const name of ['m', 'n']) {
        work.push(
          (async () => {
            for (let i = 0; i < 5; i++) await s.client.step(name, grads());
          })(),
        );
        for (let i = 0; i < 3; i++) work.push(s.client.checkpoint(name));
      }
      await Promise.all(work);
      for (const name of ['m', 'n']) {
        const last = await s.client.checkpoint(name);
        expect(last.modelStep).to.equal(5);
        const steps = (await manifests(join(dir, name))).map((x) => x.modelStep);
        expect(steps[steps.length - 1]).to.equal(5);
        expect(steps, 'ids increase with the steps they hold').to.deep.equal([...steps].sort((a, b) => a - b));
        expect(steps.length).to.be.at.least(4); // the three asked for and the final one, at least
      }
    } finally {
      await s.close();
    }
  });

  it('scheduled by time: a changed model is checkpointed, an unchanged one is not', async () => {
    const s = await populated(dir, { checkpointEverySeconds: 1 });
    try {
      await s.client.step('m', grads());
      await eventually(async () => (await manifests(join(dir, 'm'))).length === 1, 5000, 'a timed checkpoint');
      expect((await manifests(join(dir, 'm')))[0].modelStep).to.equal(1);
      await new Promise((r) => setTimeout(r, 1600));
      expect((await manifests(join(dir, 'm'))).length, 'nothing new to keep').to.equal(1);
    } finally {
      await s.close();
    }
  });

  it("DeleteModel removes the model's checkpoints: it does not come back", async () => {
    const s = await populated(dir);
    try {
      await s.client.checkpoint('m');
      await s.client.deleteModel('m');
      expect(await readdir(dir)).to.deep.equal([]);
    } finally {
      await s.close();
    }
    const t = await start(dir);
    try {
      expect(await t.client.listModels()).to.deep.equal([]);
    } finally {
      await t.close();
    }
  });

  /** Checkpoint 1 at step 2 (returns its fingerprint), checkpoint 2 at step 4 written by the shutdown. */
  async function twoCheckpoints(): Promise<{ f1: string; f2: string }> {
    const s = await populated(dir);
    try {
      for (let i = 0; i < 2; i++) await s.client.step('m', grads());
      await s.client.checkpoint('m');
      const f1 = await fingerprint(s.client, 'm');
      for (let i = 0; i < 2; i++) await s.client.step('m', grads());
      const f2 = await fingerprint(s.client, 'm');
      return { f1, f2 };
    } finally {
      await s.close();
    }
  }

  async function flipByte(path: string, at: number): Promise<void> {
    const b = await readFile(path);
    b[at] ^= 0x10;
    await writeFile(path, b);
  }

  const DAMAGE: { what: string; damage: (data: string, manifest: string) => Promise<void>; warning: RegExp }[] = [
    { what: 'truncated', damage: async (d) => truncate(d, (await stat(d)).size >> 1), warning: /damaged/ },
    {
      what: 'a flipped byte in a tensor',
      damage: async (d) => {
        const h = await readSafetensorsHeader(d);
        const w = h.entries.find((e) => e.name === 'w')!;
        await flipByte(d, h.dataStart + w.begin + 1234);
      },
      warning: /damaged/,
    },
    { what: 'a flipped byte in the header', damage: (d) => flipByte(d, 40), warning: /damaged/ },
    { what: 'an empty file', damage: (d) => truncate(d, 0), warning: /damaged/ },
    { what: 'a missing manifest', damage: (_d, m) => rm(m), warning: /leftover/ },
  ];

  for (const c of DAMAGE) {
    it(`newest checkpoint damaged (${c.what}): a warning names it and the one before is loaded`, async () => {
      const { f1, f2 } = await twoCheckpoints();
      expect(f1).to.not.equal(f2);
      const data2 = ckpt(dir, 2, 'safetensors');
      await c.damage(data2, ckpt(dir, 2, 'manifest.json'));
      const logs: Record<string, unknown>[] = [];
      const s = await start(dir, {}, logs);
      try {
        expect(await fingerprint(s.client, 'm')).to.equal(f1);
        expect((await s.client.describe('m')).models[0].modelStep).to.equal(2);
        const warned = logs.filter((l) => l.level === 40 && l.file === data2 && c.warning.test(String(l.msg)));
        expect(warned, JSON.stringify(logs.filter((l) => l.level === 40))).to.have.length(1);
        if (c.what !== 'a missing manifest') {
          expect(String(warned[0].reason)).to.have.length.above(5);
          expect(await readdir(join(dir, 'm')), 'a damaged checkpoint is kept for inspection').to.include(
            'ckpt-00000002.safetensors',
          );
        } else {
          expect(await readdir(join(dir, 'm')), 'the leftover is removed').to.not.include('ckpt-00000002.safetensors');
        }
        // Training goes on; the next checkpoint takes a new id.
        await s.client.step('m', grads());
        expect((await s.client.checkpoint('m')).id).to.equal(c.what === 'a missing manifest' ? 2 : 3);
      } finally {
        await s.close();
      }
    });
  }

  it('when no checkpoint verifies the start fails naming every file tried, and deletes nothing', async () => {
    await twoCheckpoints();
    await flipByte(ckpt(dir, 2, 'safetensors'), 40);
    await truncate(ckpt(dir, 1, 'safetensors'), 100);
    const files = (await readdir(join(dir, 'm'))).sort();
    let err: Error | null = null;
    try {
      const s = await start(dir);
      await s.close();
    } catch (e) {
      err = e as Error;
    }
    expect(err, 'the start must fail').to.be.instanceOf(Error);
    expect(err!.message)
      .to.contain(ckpt(dir, 2, 'safetensors'))
      .and.to.contain(ckpt(dir, 1, 'safetensors'));
    expect(err!.message).to.match(/checksum/);
    expect((await readdir(join(dir, 'm'))).sort()).to.deep.equal(files);
  });

  it('leftovers of interrupted writes are removed on start', async () => {
    await twoCheckpoints();
    const tmp = join(dir, 'm', 'ckpt-00000003.safetensors.tmp');
    await writeFile(tmp, randomF32(100));
    await writeFile(join(dir, 'm', 'ckpt-00000004.manifest.json.tmp'), 'partial');
    await writeFile(join(dir, 'm', 'notes.txt'), 'not ours');
    const s = await start(dir);
    try {
      expect((await readdir(join(dir, 'm'))).sort()).to.deep.equal([
        'ckpt-00000001.manifest.json',
        'ckpt-00000001.safetensors',
        'ckpt-00000002.manifest.json',
        'ckpt-00000002.safetensors',
        'notes.txt',
      ]);
      expect((await s.client.describe('m')).models[0].modelStep).to.equal(4);
    } finally {
      await s.close();
    }
  });

  it('health says NOT_SERVING and model RPCs answer UNAVAILABLE until the checkpoints are loaded', async () => {
    const big = { ...SPEC, name: 'm', parameters: [{ name: 'w', shape: [4 << 20], dtype: 'fp32' as const }] };
    const a = await start(dir);
    await a.client.createModel(big);
    await a.client.uploadParameters('m', { w: randomF32(4 << 20) });
    const fp = await fingerprint(a.client, 'm');
    await a.close(); // 4M parameters, 8-bit state: a 24 MiB checkpoint to verify and load
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const c = connect(`127.0.0.1:${port}`);
    const seen: string[] = [];
    let listed: QstepError | null = null;
    let up = false;
    const starting = startServer({
      host: '127.0.0.1',
      port,
      metricsPort: -1,
      threads: 2,
      stateDir: dir,
      logLevel: 'silent',
    }).finally(() => {
      up = true;
    });
    while (!up) {
      const h = await c.health('', { deadlineMs: 200 }).catch(() => null);
      if (h !== null && !up) {
        seen.push(h);
        if (h === 'NOT_SERVING' && !listed)
          listed = await c.listModels().then(
            () => null,
            (e: unknown) => e as QstepError,
          );
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const server = await starting;
    try {
      expect(seen, 'health answered while loading').to.include('NOT_SERVING');
      expect(seen.filter((x) => x !== 'NOT_SERVING')).to.deep.equal([]);
      expect(listed?.code).to.equal(Status.UNAVAILABLE);
      expect(listed?.details).to.match(/loading/);
      expect(await c.health()).to.equal('SERVING');
      expect(await fingerprint(c, 'm')).to.equal(fp);
    } finally {
      c.close();
      await server.shutdown(2000);
    }
  });

  it('resync: a worker ahead of a server that went back is refused with its step, pulls the weights, goes on', async () => {
    await twoCheckpoints();
    // The server "went back": its newest checkpoint is gone (as if it crashed before writing it).
    await rm(ckpt(dir, 2, 'manifest.json'));
    const s = await start(dir);
    try {
      const g = grads();
      const before = await fingerprint(s.client, 'm');
      const err = await s.client.step('m', g, { expectedModelStep: 4 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(QstepError);
      expect((err as QstepError).code).to.equal(Status.FAILED_PRECONDITION);
      expect(serverModelStep(err)).to.equal(2);
      expect(await fingerprint(s.client, 'm'), 'nothing applied').to.equal(before);
      const r = await s.client.resync('m');
      expect(r.modelStep).to.equal(2);
      const snap = await s.client.snapshot('m', { weights: true, state: 'none' });
      expect([...r.weights.keys()].sort()).to.deep.equal(['b', 'w']);
      for (const [name, t] of snap.tensors) expect(r.weights.get(name)?.equals(t.data), name).to.equal(true);
      const next = await s.client.step('m', g, { expectedModelStep: r.modelStep });
      expect(next.modelStep).to.equal(3);
    } finally {
      await s.close();
    }
  });
});
