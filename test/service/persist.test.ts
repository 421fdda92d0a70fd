// --state-dir: models kept across a graceful restart. A server stopped with models in it checkpoints them; the
// next server loads them before serving (the checkpoints stay): the same weights, raw state, step counters and step
// ledger, so the next step equals the one a server that never restarted computes, and a retry of a step applied
// before the restart replays. Incomplete models are not kept; a checkpoint that does not verify stops the start.

import { expect } from 'chai';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSpec } from '../../client';
import { readSnapshotFileHeader } from '../../client';
import { startServer } from '../../server/main';
import { fingerprint, randomBf16, randomF32, startHarness } from './helpers';
import type { Harness } from './helpers';

const SPECS: ModelSpec[] = [
  {
    name: 'adam8',
    parameters: [
      { name: 'w', shape: [60, 100], dtype: 'fp32' },
      { name: 'b', shape: [3000], dtype: 'bf16' },
    ],
    optimizer: { name: 'adamw', lr: 5e-3, optimBits: 8, min8bitSize: 1024, weightDecay: 0.01, percentileClipping: 50 },
    overrides: { b: { lr: 1e-3, weightDecay: 0 } },
    nonFinite: 'error',
  },
  {
    name: 'sgd32',
    parameters: [{ name: 'x', shape: [2500], dtype: 'fp32' }],
    optimizer: { name: 'sgd', lr: 1e-2, betas: [0.9] },
  },
];

type Grads = Record<string, Float32Array | { data: Uint16Array; dtype: 'bf16' }>;

function gradsFor(spec: ModelSpec): Grads {
  const g: Grads = {};
  for (const p of spec.parameters) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    g[p.name] = p.dtype === 'fp32' ? randomF32(n, 0.1) : { data: randomBf16(n, 0.1), dtype: 'bf16' };
  }
  return g;
}

async function populate(h: Harness, spec: ModelSpec, init: Grads): Promise<void> {
  await h.client.createModel(spec);
  const up = await h.client.uploadParameters(spec.name, init);
  expect(up.ready).to.equal(true);
}

describe('service: models kept across a restart (--state-dir)', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qstep-state-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('restores weights, state, steps and the ledger: the next step equals a server that never restarted', async () => {
    const a = await startHarness({ stateDir: dir });
    const ref = await startHarness(); // the same history, never restarted
    let b: Harness | null = null;
    try {
      for (const spec of SPECS) {
        const init = gradsFor(spec); // random initial values
        await populate(a, spec, init);
        await populate(ref, spec, init);
      }
      await a.client.createModel({ ...SPECS[1], name: 'incomplete' }); // never uploaded: not kept
      for (let t = 1; t <= 3; t++) {
        for (const spec of SPECS) {
          const g = gradsFor(spec);
          const hyper = { lr: 1e-2 / t }; // a scheduler
          await a.client.step(spec.name, g, { workerId: 'w0', stepId: t, hyper });
          await ref.client.step(spec.name, g, { workerId: 'w0', stepId: t, hyper });
        }
      }
      const before = new Map<string, string>();
      for (const spec of SPECS) before.set(spec.name, await fingerprint(a.client, spec.name));
      await a.close();

      expect((await readdir(dir)).sort()).to.deep.equal(['adam8', 'sgd32']);
      const files = (await readdir(join(dir, 'adam8'))).sort();
      expect(files).to.deep.equal(['ckpt-00000001.manifest.json', 'ckpt-00000001.safetensors']);
      // The data files are ordinary snapshot files: `qstep restore` reads them too.
      const { header } = await readSnapshotFileHeader(join(dir, 'adam8', files[1]));
      expect(header.model).to.equal('adam8');
      expect(header.state).to.equal('STATE_FORMAT_RAW');

      b = await startHarness({ stateDir: dir });
      expect((await readdir(join(dir, 'adam8'))).sort(), 'loading deletes nothing').to.deep.equal(files);
      const listed = (await b.client.listModels()).map((m) => m.name).sort();
      expect(listed).to.deep.equal(['adam8', 'sgd32']);
      for (const spec of SPECS) {
        expect(await fingerprint(b.client, spec.name), `${spec.name} after the restart`).to.equal(
          before.get(spec.name),
        );
        const d = (await b.client.describe(spec.name)).models[0];
        expect(d.modelStep).to.equal(3);
        expect(d.ready).to.equal(true);
      }
      // Configuration came back too: per-parameter overrides, the non-finite policy.
      const bad = gradsFor(SPECS[0]);
      (bad.w as Float32Array)[7] = NaN;
      const err = await b.client.step('adam8', bad).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err, 'policy error kept across the restart').to.be.instanceOf(Error);
      // A retry of step 3 replays the recorded outcome instead of applying again.
      const retry = await b.client.step('sgd32', gradsFor(SPECS[1]), { workerId: 'w0', stepId: 3 });
      expect(retry.replayed).to.equal(true);
      expect(retry.modelStep).to.equal(3);
      expect(await fingerprint(b.client, 'sgd32')).to.equal(before.get('sgd32'));
      // The next step: byte for byte what the server that never restarted computes.
      for (const spec of SPECS) {
        const g = gradsFor(spec);
        const got = await b.client.step(spec.name, g, { workerId: 'w0', stepId: 4, returnWeights: true });
        const want = await ref.client.step(spec.name, g, { workerId: 'w0', stepId: 4, returnWeights: true });
        expect(got.modelStep).to.equal(4);
        expect(got.params).to.deep.equal(want.params);
        for (const p of spec.parameters) {
          expect(
            Buffer.compare(got.weights.get(p.name)!.data, want.weights.get(p.name)!.data),
            `${spec.name}/${p.name}`,
          ).to.equal(0);
        }
        expect(await fingerprint(b.client, spec.name)).to.equal(await fingerprint(ref.client, spec.name));
      }
    } finally {
      await b?.close();
      await ref.close();
      await a.close();
    }
  });

  it('a checkpoint that does not verify stops the start, naming it, and every file stays', async () => {
    const a = await startHarness({ stateDir: dir });
    await populate(a, SPECS[1], gradsFor(SPECS[1]));
    await a.close();
    const bad = join(dir, 'sgd32', 'ckpt-00000001.safetensors');
    await writeFile(bad, Buffer.from('not a safetensors file at all'));
    let err: Error | null = null;
    try {
      const s = await startServer({
        host: '127.0.0.1',
        port: 0,
        metricsPort: -1,
        logLevel: 'silent',
        threads: 2,
        stateDir: dir,
      });
      await s.shutdown(100);
    } catch (e) {
      err = e as Error;
    }
    expect(err, 'the start must fail').to.be.instanceOf(Error);
    expect(err!.message).to.contain(bad);
    expect((await readdir(join(dir, 'sgd32'))).sort()).to.deep.equal([
      'ckpt-00000001.manifest.json',
      'ckpt-00000001.safetensors',
    ]);
  });
});
