// A 100,000-parameter model at the default flags, end to end (issue 10, "Many-tensor models"): create (the
// specification goes over CreateModelStream in parts), upload, steps with weights back (checked against a float64
// SGD-with-momentum reference written here, docs/math.md §6.3), a replay, a snapshot, a bit-exact round trip through
// a safetensors file (what `qstep snapshot` / `restore` run), `qstep stats`, describeAll, while another model's
// fingerprint stays unchanged. A step over two lanes (10,000 parameters, each lane's header in parts). Then the
// multi-part messages' bad inputs: each is INVALID_ARGUMENT (or CANCELLED) and changes nothing.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { connect, restoreSnapshotFile, writeSnapshotFile } from '../../client';
import type { QstepClient, Snapshot, StepReply } from '../../client';
import type { CreateModelRequest, CreateModelResponse__Output, StepResponse__Output } from '../../proto';
import { fingerprint, randomF32, rawStep, startHarness } from './helpers';

const ROOT = join(__dirname, '..', '..');
const N = 100_000;
const NUMEL = 4;
const LR = 0.01;
const MOMENTUM = 0.9;

function qstep(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'qstep.js'), ...args],
      { cwd: ROOT, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
    );
  });
}

const names = Array.from({ length: N }, (_, i) => `blocks.${Math.floor(i / 128)}.experts.${i % 128}.w`);

/** SGD with momentum in float64 (docs/math.md §6.3: the buffer is the gradient at t = 1). */
class SgdReference {
  readonly p: Float64Array[];
  readonly buf: Float64Array[];
  t = 0;

  constructor(init: Float32Array[]) {
    this.p = init.map((a) => Float64Array.from(a));
    this.buf = init.map((a) => new Float64Array(a.length));
  }

  step(grads: Float32Array[]): void {
    this.t++;
    for (let i = 0; i < grads.length; i++) {
      const p = this.p[i];
      const b = this.buf[i];
      const g = grads[i];
      for (let j = 0; j < g.length; j++) {
        b[j] = this.t === 1 ? g[j] : b[j] * MOMENTUM + g[j];
        p[j] -= LR * b[j];
      }
    }
  }
}

function expectClose(got: Buffer | undefined, want: Float64Array, what: string): void {
  expect(got, what).to.not.equal(undefined);
  const v = new Float32Array(got!.buffer, got!.byteOffset, got!.length / 4);
  expect(v.length, what).to.equal(want.length);
  for (let j = 0; j < v.length; j++) {
    if (Math.abs(v[j] - want[j]) > 1e-5 * (1 + Math.abs(want[j]))) {
      expect.fail(`${what}[${j}]: got ${v[j]}, want ${want[j]}`);
    }
  }
}

function tensors(list: Float32Array[]): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  list.forEach((a, i) => (out[names[i]] = a));
  return out;
}

const ms = (t0: number) => Math.round(performance.now() - t0);

/** What fingerprint() hashes, of a snapshot already taken (a snapshot of 100,000 parameters is not cheap). */
function digest(snap: Snapshot): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ step: snap.header.modelStep, params: snap.header.params.map((p) => [p.name, p.step]) }));
  for (const [name, t] of snap.tensors) {
    h.update(name);
    h.update(t.data);
  }
  return h.digest('hex');
}

describe('service: a 100,000-parameter model at the default flags', function () {
  this.timeout(1_200_000); // about 6 minutes on the 2-core build machine under a load average of 9

  it('creates, uploads, steps (weights checked), replays, snapshots, restores and describes', async () => {
    const h = await startHarness();
    const dir = mkdtempSync(join(tmpdir(), 'qstep-many-'));
    try {
      const c = h.client;
      const timings: Record<string, number> = {};
      await c.createModel({
        name: 'other',
        parameters: [{ name: 'w', shape: [256], dtype: 'fp32' }],
        optimizer: { name: 'adam', lr: 1e-3 },
      });
      await c.uploadParameters('other', { w: randomF32(256) });
      await c.step('other', { w: randomF32(256, 0.1) });
      const other = await fingerprint(c, 'other');

      let t0 = performance.now();
      const created = await c.createModel({
        name: 'moe',
        parameters: names.map((name) => ({ name, shape: [NUMEL], dtype: 'fp32' })),
        optimizer: { name: 'sgd', lr: LR, betas: [MOMENTUM] },
      });
      timings.createMs = ms(t0);
      expect(created.paramCount).to.equal(N);
      expect(created.params.length).to.be.greaterThan(0).and.below(N);
      expect(created.nextPageToken).to.not.equal('');

      const init = names.map(() => randomF32(NUMEL));
      t0 = performance.now();
      // In two calls: the first reply lists the first 1000 missing parameters and counts them all.
      const all0 = tensors(init);
      const half = (from: number, to: number) => Object.fromEntries(names.slice(from, to).map((n) => [n, all0[n]]));
      const first = await c.uploadParameters('moe', half(0, N / 2));
      expect(first.ready).to.equal(false);
      expect(first.pendingCount).to.equal(N / 2);
      expect(first.pendingParams).to.deep.equal(names.slice(N / 2, N / 2 + 1000));
      const up = await c.uploadParameters('moe', half(N / 2, N));
      timings.uploadMs = ms(t0);
      expect(up.ready).to.equal(true);
      expect(up.pendingCount).to.equal(0);
      expect(first.chunks + up.chunks).to.equal(N);
      const ref = new SgdReference(init);

      // Two steps with weights back; the header (100,000 gradient entries) and the result go in parts.
      let lastParams: StepReply['params'] = [];
      for (const stepId of [1, 2]) {
        const grads = names.map(() => randomF32(NUMEL, 0.5));
        ref.step(grads);
        t0 = performance.now();
        const r = await c.step('moe', tensors(grads), { workerId: 'w0', stepId, returnWeights: true });
        timings[`step${stepId}Ms`] = ms(t0);
        expect(r.modelStep).to.equal(stepId);
        expect(r.replayed).to.equal(false);
        expect(r.params.length).to.equal(N);
        expect(r.params[0].name).to.equal(names[0]);
        expect(r.params[N - 1].name).to.equal(names[N - 1]);
        expect(r.params.every((p, i) => p.name === names[i] && p.step === stepId)).to.equal(true);
        expect(r.weights.size).to.equal(N);
        for (let i = 0; i < N; i++) expectClose(r.weights.get(names[i])?.data, ref.p[i], names[i]);
        lastParams = r.params;
      }
      // A repeat of step 2 replays its recorded result, in parts again.
      const replay = await c.step('moe', tensors(names.map(() => randomF32(NUMEL))), { workerId: 'w0', stepId: 2 });
      expect(replay.replayed).to.equal(true);
      expect(replay.modelStep).to.equal(2);
      expect(replay.params.length).to.equal(N);
      expect(replay.params[N - 1]).to.deep.equal(lastParams[N - 1]);

      // Snapshot (a header of 200,000 tensors, in parts) into memory and into a safetensors file (what `qstep
      // snapshot` and `qstep restore` call); a step that changes 1,000 parameters; the file restores the model
      // bit-exactly.
      t0 = performance.now();
      const snap = await c.snapshot('moe', { state: 'raw' });
      timings.snapshotMs = ms(t0);
      expect(snap.header.params.length).to.equal(N);
      expect(snap.header.tensors.length).to.equal(2 * N);
      expect(snap.header.headerParts).to.equal(0);
      const before = digest(snap);
      const file = join(dir, 'moe.safetensors');
      t0 = performance.now();
      const saved = await writeSnapshotFile(c, 'moe', file, { state: 'raw' });
      timings.fileSnapshotMs = ms(t0);
      expect(saved.tensors).to.equal(2 * N);
      const some = names.slice(N - 1000);
      const r3 = await c.step('moe', Object.fromEntries(some.map((n) => [n, randomF32(NUMEL, 0.5)])), {
        returnWeights: true,
      });
      expect(r3.params.length).to.equal(1000);
      expect(r3.weights.get(some[0])?.data.equals(snap.tensors.get(some[0])!.data)).to.equal(false);
      t0 = performance.now();
      const loaded = await restoreSnapshotFile(c, 'moe', file);
      timings.fileRestoreMs = ms(t0);
      expect(loaded.paramCount).to.equal(N);
      expect(loaded.params).to.deep.equal(names.slice(0, 1000));
      expect(loaded.modelStep).to.equal(2);
      expect(digest(await c.snapshot('moe', { state: 'raw' }))).to.equal(before);
      const stats = await qstep(['stats', 'moe', '-a', h.server.address]);
      expect(stats.code, stats.stderr).to.equal(0);
      expect(stats.stdout).to.contain(`${N} parameters`);

      t0 = performance.now();
      const all = await c.describeAll('moe', { pageSize: 10_000 });
      timings.describeAllMs = ms(t0);
      const d = all.models[0];
      expect(d.params.map((p) => p.name)).to.deep.equal(names);
      expect(d.params.every((p) => p.step === 2 && p.uploaded)).to.equal(true);
      expect(d.modelStep).to.equal(2);
      expect(await fingerprint(c, 'other')).to.equal(other);
      console.log(`      100,000 parameters of [${NUMEL}] fp32, SGD: ${JSON.stringify(timings)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await h.close();
    }
  });
});

describe('service: a step of 10,000 parameters over two lanes', function () {
  this.timeout(600_000);

  it("splits each lane's header and result into parts; weights match the reference", async () => {
    const h = await startHarness();
    const lanes = connect(h.server.address, { lanes: 2, laneMinBytes: 0 });
    try {
      const n = 10_000;
      const list = names.slice(0, n);
      await h.client.createModel({
        name: 'moe',
        parameters: list.map((name) => ({ name, shape: [NUMEL], dtype: 'fp32' })),
        optimizer: { name: 'sgd', lr: LR, betas: [MOMENTUM] },
      });
      const init = list.map(() => randomF32(NUMEL));
      await h.client.uploadParameters('moe', tensors(init));
      const ref = new SgdReference(init);
      const grads = list.map(() => randomF32(NUMEL, 0.5));
      ref.step(grads);
      // Each lane's header names 5,000 gradients and slices (more than 256 KiB): it goes in parts.
      const r = await lanes.step('moe', tensors(grads), { workerId: 'w0', stepId: 1, returnWeights: true });
      expect(r.modelStep).to.equal(1);
      expect(r.params.map((p) => p.name)).to.deep.equal(list);
      for (let i = 0; i < n; i++) expectClose(r.weights.get(list[i])?.data, ref.p[i], `lanes ${list[i]}`);
      const again = await lanes.step('moe', tensors(grads), { workerId: 'w0', stepId: 1 });
      expect(again.replayed).to.equal(true);
      expect(again.params.length).to.equal(n);
    } finally {
      lanes.close();
      await h.close();
    }
  });
});

/**
 * Sends `parts` on a raw CreateModelStream (the first announcing their number unless it says otherwise); cancels
 * after them when asked; resolves with the status.
 */
function createInParts(
  c: QstepClient,
  parts: CreateModelRequest[],
  cancel = false,
): Promise<{ code: number; details: string; res?: CreateModelResponse__Output }> {
  return new Promise((resolve) => {
    const call = c.grpc.CreateModelStream((err: grpc.ServiceError | null, res?: CreateModelResponse__Output) =>
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', res }),
    );
    parts.forEach((p, i) => call.write(i === 0 && p.parts === undefined ? { ...p, parts: parts.length } : p));
    if (cancel) setTimeout(() => call.cancel(), 200);
    else call.end();
  });
}

const spec = (from: number, to: number, prefix = 'p') =>
  Array.from({ length: to - from }, (_, i) => ({
    name: `${prefix}${from + i}`,
    shape: [1],
    dtype: 'DTYPE_FP32' as const,
  }));

describe('service: messages in parts, bad input', function () {
  this.timeout(120_000);

  it('CreateModelStream: bad parts are INVALID_ARGUMENT, a cancelled stream creates nothing', async () => {
    const h = await startHarness();
    try {
      const c = h.client;
      await c.createModel({
        name: 'other',
        parameters: [{ name: 'w', shape: [64], dtype: 'fp32' }],
        optimizer: { name: 'adam', lr: 1e-3 },
      });
      await c.uploadParameters('other', { w: randomF32(64) });
      const other = await fingerprint(c, 'other');
      const held = (await c.serverInfo()).limits?.memoryHeldBytes;
      const totals = JSON.stringify((await c.describe()).totals?.memory);
      const optimizer = { optimizer: 'OPTIMIZER_ADAM' as const, hyper: { lr: 0.01 } };
      const max = (await c.serverInfo()).limits?.maxParamsPerModel ?? 0;
      expect(max).to.equal(131_072);
      const cases: [string, CreateModelRequest[], string][] = [
        ['no part', [], 'empty CreateModelStream'],
        [
          'fewer parts than announced',
          [{ name: 'bad', optimizer, parameters: spec(0, 10), parts: 3 }, { parameters: spec(10, 20) }],
          'ended after 2 of the 3 parts',
        ],
        [
          'more parts than announced',
          [{ name: 'bad', optimizer, parameters: spec(0, 10), parts: 1 }, { parameters: spec(10, 20) }],
          'more than the 1 parts',
        ],
        [
          'no count announced',
          [{ name: 'bad', optimizer, parameters: spec(0, 10), parts: 0 }, { parameters: spec(10, 20) }],
          'expected parts in',
        ],
        [
          'an empty later part',
          [{ name: 'bad', optimizer, parameters: spec(0, 10) }, {}, { parameters: spec(10, 20) }],
          'is empty',
        ],
        [
          'a name repeated across parts',
          [
            { name: 'bad', optimizer, parameters: spec(0, 1000) },
            { parameters: spec(1000, 2000) },
            { parameters: spec(1999, 2001) },
          ],
          'appears twice',
        ],
        [
          'a name in a later part',
          [
            { name: 'bad', optimizer, parameters: spec(0, 10) },
            { name: 'bad', parameters: spec(10, 20) },
          ],
          'only the first part may',
        ],
        [
          'an optimizer in a later part',
          [
            { name: 'bad', optimizer, parameters: spec(0, 10) },
            { optimizer, parameters: spec(10, 20) },
          ],
          'only the first part may',
        ],
        [
          'an override set twice',
          [
            { name: 'bad', optimizer, parameters: spec(0, 10), overrides: { p1: { hyper: { lr: 0.1 } } } },
            { parameters: spec(10, 20), overrides: { p1: { hyper: { lr: 0.2 } } } },
          ],
          'given twice',
        ],
        [
          'an override for no parameter',
          [{ name: 'bad', optimizer, parameters: spec(0, 10) }, { overrides: { nope: { hyper: { lr: 0.2 } } } }],
          'not a parameter of the model',
        ],
        [
          'more parameters than the limit',
          [
            { name: 'bad', optimizer, parameters: spec(0, 30_000) },
            ...[1, 2, 3, 4].map((k) => ({ parameters: spec(k * 30_000, (k + 1) * 30_000) })),
          ],
          `at most ${max} parameters`,
        ],
      ];
      for (const [what, parts, says] of cases) {
        const r = await createInParts(c, parts);
        expect(r.code, what).to.equal(3); // INVALID_ARGUMENT
        expect(r.details, what).to.contain(says);
        expect(r.details.length, what).to.be.below(1000);
      }
      // Cancelled after two of three parts: nothing is created (grpc-js half-closes the stream it cancels).
      const cancelled = await createInParts(
        c,
        [{ name: 'ghost', optimizer, parameters: spec(0, 5000), parts: 3 }, { parameters: spec(5000, 10_000) }],
        true,
      );
      expect(cancelled.code).to.equal(1); // CANCELLED
      // The same parts, ended cleanly, do create the model (so the cases above failed for their own reason).
      const ok = await createInParts(c, [
        { name: 'fine', optimizer, parameters: spec(0, 5000) },
        { parameters: spec(5000, 10_000), overrides: { p9999: { hyper: { lr: 0.5 } } } },
      ]);
      expect(ok.code, ok.details).to.equal(0);
      expect(ok.res?.summary?.paramCount).to.equal(10_000);
      expect((await c.describeAll('fine')).models[0].overrides.p9999?.hyper?.lr).to.equal(0.5);
      await c.deleteModel('fine');

      expect((await c.listModels()).map((m) => m.name)).to.deep.equal(['other']);
      expect((await c.serverInfo()).limits?.memoryHeldBytes).to.equal(held);
      expect(JSON.stringify((await c.describe()).totals?.memory)).to.equal(totals);
      expect(await fingerprint(c, 'other')).to.equal(other);
    } finally {
      await h.close();
    }
  });

  it('Step and Restore headers in parts: missing, empty or surplus parts are INVALID_ARGUMENT', async () => {
    const h = await startHarness();
    try {
      const c = h.client;
      const params = ['a', 'b', 'c'];
      await c.createModel({
        name: 'm',
        parameters: params.map((name) => ({ name, shape: [8], dtype: 'fp32' })),
        optimizer: { name: 'sgd', lr: 0.1, betas: [0.9] },
      });
      await c.uploadParameters('m', Object.fromEntries(params.map((p) => [p, randomF32(8)])));
      const before = await fingerprint(c, 'm');
      const grad = (param: string) => ({ gradient: { param, offset: 0, data: Buffer.from(randomF32(8).buffer) } });
      const header = (parts: number) => ({
        header: { model: 'm', gradients: [{ param: 'a' }], headerParts: parts },
      });
      const cases: [string, object[], string][] = [
        ['a gradient before the announced part', [header(1), grad('a'), { commit: {} }], 'part 1 is missing'],
        ['an empty part', [header(1), { headerMore: {} }, grad('a'), { commit: {} }], 'is empty'],
        [
          'a part more than announced',
          [header(1), { headerMore: { gradients: [{ param: 'b' }] } }, { headerMore: { gradients: [{ param: 'c' }] } }],
          'got another header',
        ],
        [
          'more gradients than the model has parameters',
          [
            header(2),
            { headerMore: { gradients: [{ param: 'b' }, { param: 'c' }] } },
            { headerMore: { gradients: [{ param: 'a' }] } },
          ],
          'more than 3 gradients',
        ],
        [
          'a parameter twice across parts',
          [header(1), { headerMore: { gradients: [{ param: 'a' }] } }, grad('a'), { commit: {} }],
          'twice',
        ],
        [
          'lane slices without a lane',
          [header(1), { headerMore: { laneSlices: [{ param: 'a', offset: 0, count: 8 }] } }],
          'without a lane',
        ],
      ];
      for (const [what, msgs, says] of cases) {
        const r = await rawStep(c, msgs as never);
        expect(r.code, what).to.equal(3);
        expect(r.details, what).to.contain(says);
        expect(await fingerprint(c, 'm'), what).to.equal(before);
      }
      // The same header in parts, complete, steps: a, then b and c from the continuation.
      const good = await rawStep(c, [
        header(1),
        { headerMore: { gradients: [{ param: 'b' }, { param: 'c' }] } },
        ...params.map(grad),
        { commit: { chunkCount: 3 } },
      ] as never);
      expect(good.code, good.details).to.equal(0);
      const result = good.responses.find((m: StepResponse__Output) => m.result)?.result;
      expect(result?.params.map((p) => p.name)).to.deep.equal(params);

      // Restore: a header announcing a part that never comes.
      const snap = await c.snapshot('m', { state: 'raw' });
      const fp = await fingerprint(c, 'm');
      const restore = (msgs: object[]) =>
        new Promise<{ code: number; details: string }>((resolve) => {
          const call = c.grpc.Restore((err: grpc.ServiceError | null) =>
            resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' }),
          );
          for (const m of msgs) call.write(m);
          call.end();
        });
      const head = { header: { model: 'm', snapshot: { ...snap.header, headerParts: 1 } } };
      const data = { data: { tensor: 0, byteOffset: 0, data: snap.tensors.get('a')!.data } };
      for (const [what, msgs, says] of [
        ['data before the announced part', [head, data], 'part 1 is missing'],
        ['an empty part', [head, { headerMore: {} }, data], 'is empty'],
        ['a surplus part', [{ header: { model: 'm', snapshot: snap.header } }, { headerMore: {} }], 'another header'],
      ] as [string, object[], string][]) {
        const r = await restore(msgs);
        expect(r.code, what).to.equal(3);
        expect(r.details, what).to.contain(says);
        expect(await fingerprint(c, 'm'), what).to.equal(fp);
      }
    } finally {
      await h.close();
    }
  });
});
