// Lanes: one step carried over several streams (docs/service.md, Transport). K = 1, 2, 4 leave bit-identical
// models; a lane that is cancelled, killed or malformed discards the whole step (fingerprints); a lane retried
// after its step was applied gets the recorded result and its share of the weights.

import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { connect } from '../../client';
import type { QstepClient } from '../../client';
import { planLanes } from '../../client/lanes';
import type { StepRequest } from '../../proto';
import { bytesOf, eventually, fingerprint, randomBf16, randomF32, rawStep, startHarness } from './helpers';
import type { Harness } from './helpers';

const SHAPES = { a: 70_001, b: 4096, c: 3 };

async function createModel(
  client: QstepClient,
  name: string,
  init: Map<string, Float32Array | Uint16Array>,
): Promise<void> {
  await client.createModel({
    name,
    parameters: [
      { name: 'a', shape: [SHAPES.a], dtype: 'fp32' },
      { name: 'b', shape: [SHAPES.b], dtype: 'bf16' },
      { name: 'c', shape: [SHAPES.c], dtype: 'fp32' },
    ],
    optimizer: { name: 'adam', lr: 1e-2, weightDecay: 0.01, optimBits: 8, min8bitSize: 4096 },
  });
  await client.uploadParameters(name, init);
}

function freshInit(): Map<string, Float32Array | Uint16Array> {
  return new Map<string, Float32Array | Uint16Array>([
    ['a', randomF32(SHAPES.a)],
    ['b', randomBf16(SHAPES.b)],
    ['c', randomF32(SHAPES.c)],
  ]);
}

/** Chunks of `data` (fp32) over elements [from, to) as gradient messages. */
function chunks(param: string, data: Float32Array, from: number, to: number, per = 16_384): StepRequest[] {
  const out: StepRequest[] = [];
  for (let at = from; at < to; at += per) {
    const end = Math.min(to, at + per);
    out.push({ gradient: { param, offset: at, dtype: 'DTYPE_FP32', data: bytesOf(data.subarray(at, end)) } });
  }
  return out;
}

describe('service: lanes', function () {
  this.timeout(120_000);
  let h: Harness;
  let child: ChildProcessWithoutNullStreams | null = null;

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await h.close();
  });

  it('planLanes cuts the gradients into contiguous shares that cover every element once', () => {
    for (let trial = 0; trial < 200; trial++) {
      const list = Array.from({ length: 1 + Math.floor(Math.random() * 6) }, (_, i) => {
        const width = Math.random() < 0.5 ? 2 : 4;
        const numel = 1 + Math.floor(Math.random() * 5000);
        return {
          name: `p${i}`,
          dtype: (width === 4 ? 'fp32' : 'bf16') as 'fp32' | 'bf16',
          width,
          bytes: Buffer.alloc(numel * width),
        };
      });
      const k = 1 + Math.floor(Math.random() * 8);
      const lanes = planLanes(list, k);
      expect(lanes.length).to.be.within(1, k);
      expect(lanes.map((l) => l.index)).to.deep.equal(lanes.map((_, i) => i));
      const total = list.reduce((n, t) => n + t.bytes.length, 0);
      for (const t of list) {
        // In lane order the slices of each tensor follow each other without gap or overlap.
        const s = lanes.flatMap((l) => l.slices.filter((x) => x.param === t.name));
        let at = 0;
        for (const x of s) {
          expect(x.offset).to.equal(at);
          at += x.count;
        }
        expect(at).to.equal(t.bytes.length / t.width);
      }
      for (const l of lanes) {
        const bytes = l.tensors.reduce((n, t) => n + t.bytes.length, 0);
        expect(bytes).to.be.at.most(Math.ceil(total / k) + 4); // one element over a share at most
        l.tensors.forEach((t, i) => expect(t.bytes.length / t.width).to.equal(l.slices[i].count));
      }
    }
  });

  it('K = 1, 2, 4 lanes leave models bit-identical to one stream', async () => {
    const init = freshInit();
    const ks = [1, 2, 4];
    const clients = ks.map((k) => connect(h.server.address, { lanes: k, laneMinBytes: 0 }));
    const single = connect(h.server.address, { lanes: 1 });
    // Count the Step calls the server starts for each step (either transport): K of them when lanes are in use.
    const stepsStarted = async () =>
      (await h.server.deps.metrics.started.get()).values
        .filter((v) => v.labels.grpc_method === 'Step')
        .reduce((n, v) => n + v.value, 0);
    try {
      await createModel(single, 'ref', init);
      for (const k of ks) await createModel(single, `k${k}`, init);
      for (let s = 1; s <= 3; s++) {
        const grads = new Map<string, Float32Array | Uint16Array>([
          ['a', randomF32(SHAPES.a, 0.1)],
          ['b', randomBf16(SHAPES.b, 0.1)],
          ['c', randomF32(SHAPES.c, 0.1)],
        ]);
        const o = { workerId: 'w', stepId: s, hyper: { lr: 1e-2 / s }, returnWeights: true };
        const ref = await single.step('ref', grads, o);
        for (const [i, k] of ks.entries()) {
          const before = await stepsStarted();
          const reply = await clients[i].step(`k${k}`, grads, o);
          expect((await stepsStarted()) - before, `Step calls for K = ${k}`).to.equal(k);
          expect(reply.modelStep).to.equal(s);
          expect(reply.replayed).to.equal(false);
          expect(reply.params).to.deep.equal(ref.params);
          for (const [name, t] of ref.weights) {
            expect(
              Buffer.compare(bytesOf(reply.weights.get(name)!.data as Buffer), bytesOf(t.data as Buffer)),
              `${name}, K = ${k}`,
            ).to.equal(0);
          }
        }
      }
      const want = await fingerprint(single, 'ref');
      for (const k of ks) expect(await fingerprint(single, `k${k}`), `K = ${k}`).to.equal(want);
    } finally {
      for (const c of [...clients, single]) c.close();
    }
  });

  it('a lane cancelled mid-step discards the whole step; the retry then applies once', async () => {
    await createModel(h.client, 'cancel', freshInit());
    const before = await fingerprint(h.client, 'cancel');
    const g = randomF32(SHAPES.a, 0.1);
    const half = 30_000;
    const header = (index: number, slices: { param: string; offset: number; count: number }[]): StepRequest => ({
      header: {
        model: 'cancel',
        workerId: 'w',
        stepId: '1',
        gradients: [{ param: 'a' }],
        lane: { index, count: 2, slices },
      },
    });
    // Lane 0 sends everything and commits, then waits for lane 1.
    const lane0 = rawStep(h.client, [
      header(0, [{ param: 'a', offset: 0, count: half }]),
      ...chunks('a', g, 0, half),
      { commit: {} },
    ]);
    // Lane 1 sends its header and part of its share, then is cancelled.
    const other = connect(h.server.address);
    const call = other.grpc.Step();
    call.on('error', () => undefined);
    call.on('data', () => undefined);
    call.write(header(1, [{ param: 'a', offset: half, count: SHAPES.a - half }]));
    for (const m of chunks('a', g, half, half + 20_000)) call.write(m);
    // Both lanes hold their staging (every gradient byte of the step) before lane 1 goes.
    await eventually(() => h.server.deps.budget.inUse >= 4 * SHAPES.a, 10_000, 'both lanes to stage');
    call.cancel();
    const r0 = await lane0;
    expect(r0.code).to.equal(grpc.status.ABORTED);
    expect(r0.details).to.match(/another lane/);
    await eventually(() => h.server.deps.budget.inUse === 0, 10_000, 'staging to be released');
    expect(await fingerprint(h.client, 'cancel')).to.equal(before);
    other.close();

    const lanes = connect(h.server.address, { lanes: 2, laneMinBytes: 0 });
    try {
      const retry = await lanes.step('cancel', { a: g }, { workerId: 'w', stepId: 1 });
      expect(retry.replayed).to.equal(false);
      expect(retry.modelStep).to.equal(1);
    } finally {
      lanes.close();
    }
  });

  it('a lane killed mid-step (its process gone) discards the whole step', async () => {
    await createModel(h.client, 'killed', freshInit());
    const before = await fingerprint(h.client, 'killed');
    const g = randomF32(SHAPES.a, 0.1);
    const half = 35_000;
    const lane0 = rawStep(h.client, [
      {
        header: {
          model: 'killed',
          workerId: 'lanes',
          stepId: '1',
          gradients: [{ param: 'a' }],
          lane: { index: 0, count: 2, slices: [{ param: 'a', offset: 0, count: half }] },
        },
      },
      ...chunks('a', g, 0, half),
      { commit: {} },
    ]);
    child = spawn(process.execPath, [
      '--import',
      'tsx',
      join(__dirname, 'child-lane.ts'),
      h.server.address,
      'killed',
      'a',
      String(half),
      String(SHAPES.a),
    ]);
    const c = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      c.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('HALF')) resolve();
      });
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      c.on('exit', () => reject(new Error(`child exited early: ${out}`)));
    });
    await eventually(() => h.server.deps.budget.inUse >= 4 * SHAPES.a, 10_000, 'both lanes to stage');
    c.removeAllListeners('exit');
    c.kill('SIGKILL');
    const r0 = await lane0;
    expect(r0.code).to.equal(grpc.status.ABORTED);
    await eventually(() => h.server.deps.budget.inUse === 0, 10_000, 'staging to be released');
    expect(await fingerprint(h.client, 'killed')).to.equal(before);
    expect((await h.client.describe('killed')).models[0].modelStep).to.equal(0);
  });

  it('a lane retried after the step was applied gets the recorded result and its share of the weights', async () => {
    await createModel(h.client, 'retry', freshInit());
    const lanes = connect(h.server.address, { lanes: 2, laneMinBytes: 0 });
    try {
      const grads = { a: randomF32(SHAPES.a, 0.1), b: randomBf16(SHAPES.b, 0.1), c: randomF32(SHAPES.c, 0.1) };
      const first = await lanes.step('retry', grads, { workerId: 'w', stepId: 9, returnWeights: true });
      expect(first.replayed).to.equal(false);
      const after = await fingerprint(h.client, 'retry');

      // Lane 1 alone, as a worker whose lane 1 lost its reply would retry it: answered at its header.
      const list = [
        { name: 'a', dtype: 'fp32' as const, width: 4, bytes: bytesOf(grads.a) },
        { name: 'b', dtype: 'bf16' as const, width: 2, bytes: bytesOf(grads.b) },
        { name: 'c', dtype: 'fp32' as const, width: 4, bytes: bytesOf(grads.c) },
      ];
      const plan = planLanes(list, 2);
      const r = await rawStep(h.client, [
        {
          header: {
            model: 'retry',
            workerId: 'w',
            stepId: '9',
            gradients: list.map((t) => ({ param: t.name })),
            returnWeights: true,
            lane: { index: 1, count: 2, slices: plan[1].slices },
          },
        },
      ]);
      expect(r.code).to.equal(grpc.status.OK);
      const result = r.responses[0].result!;
      expect(result.replayed).to.equal(true);
      expect(result.modelStep).to.equal(first.modelStep);
      const want = plan[1].slices.reduce((n, s) => n + s.count * (s.param === 'b' ? 2 : 4), 0);
      expect(result.weightBytes).to.equal(want);
      for (const m of r.responses.slice(1)) {
        const w = m.weights!;
        const width = w.param === 'b' ? 2 : 4;
        const whole = bytesOf(first.weights.get(w.param)!.data as Buffer);
        expect(
          plan[1].slices.some(
            (s) =>
              s.param === w.param && w.offset >= s.offset && w.offset + w.data.length / width <= s.offset + s.count,
          ),
        ).to.equal(true);
        expect(Buffer.compare(w.data, whole.subarray(w.offset * width, w.offset * width + w.data.length))).to.equal(0);
      }
      // The whole step retried over lanes: replayed, the same weights, nothing changed.
      const again = await lanes.step('retry', grads, { workerId: 'w', stepId: 9, returnWeights: true });
      expect(again.replayed).to.equal(true);
      for (const [name, t] of first.weights)
        expect(Buffer.compare(bytesOf(again.weights.get(name)!.data as Buffer), bytesOf(t.data as Buffer))).to.equal(0);
      expect(await fingerprint(h.client, 'retry')).to.equal(after);
    } finally {
      lanes.close();
    }
  });

  it('malformed lanes: INVALID_ARGUMENT, the whole step discarded, nothing changed', async () => {
    await createModel(h.client, 'bad', freshInit());
    const before = await fingerprint(h.client, 'bad');
    const g = randomF32(SHAPES.a, 0.1);
    const n = SHAPES.a;
    const head = (lane: object, extra: object = {}): StepRequest => ({
      header: { model: 'bad', workerId: 'w', stepId: '3', gradients: [{ param: 'a' }], lane, ...extra },
    });
    const alone: [string, StepRequest[], RegExp][] = [
      [
        'index >= count',
        [head({ index: 2, count: 2, slices: [{ param: 'a', offset: 0, count: n }] })],
        /not below lane.count/,
      ],
      [
        'count over 64',
        [head({ index: 0, count: 65, slices: [{ param: 'a', offset: 0, count: n }] })],
        /over the limit/,
      ],
      [
        'no step id',
        [head({ index: 0, count: 2, slices: [{ param: 'a', offset: 0, count: n }] }, { stepId: 0 })],
        /step_id > 0/,
      ],
      ['no slices', [head({ index: 0, count: 2, slices: [] })], /no slices/],
      ['slice outside', [head({ index: 0, count: 2, slices: [{ param: 'a', offset: n - 5, count: 10 }] })], /outside/],
      [
        'slice of another parameter',
        [head({ index: 0, count: 2, slices: [{ param: 'b', offset: 0, count: 10 }] })],
        /not a parameter of this step/,
      ],
      [
        'overlapping slices',
        [
          head({
            index: 0,
            count: 2,
            slices: [
              { param: 'a', offset: 0, count: 10 },
              { param: 'a', offset: 5, count: 10 },
            ],
          }),
        ],
        /overlaps/,
      ],
      [
        'chunk outside the lane',
        [head({ index: 0, count: 2, slices: [{ param: 'a', offset: 0, count: 100 }] }), ...chunks('a', g, 0, 200)],
        /outside this lane/,
      ],
    ];
    for (const [what, msgs, re] of alone) {
      const r = await rawStep(h.client, msgs);
      expect(r.code, what).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(r.details, what).to.match(re);
    }
    // Two lanes that do not fit together: the whole step is discarded.
    const pairs: [string, StepRequest[], StepRequest[], RegExp][] = [
      [
        'lanes overlap',
        [
          head({ index: 0, count: 2, slices: [{ param: 'a', offset: 0, count: 100 }] }),
          ...chunks('a', g, 0, 100),
          { commit: {} },
        ],
        [
          head({ index: 1, count: 2, slices: [{ param: 'a', offset: 50, count: n - 50 }] }),
          ...chunks('a', g, 50, n),
          { commit: {} },
        ],
        /overlaps/,
      ],
      [
        'lanes leave a gap',
        [
          head({ index: 0, count: 2, slices: [{ param: 'a', offset: 0, count: 100 }] }),
          ...chunks('a', g, 0, 100),
          { commit: {} },
        ],
        [
          head({ index: 1, count: 2, slices: [{ param: 'a', offset: 200, count: n - 200 }] }),
          ...chunks('a', g, 200, n),
          { commit: {} },
        ],
        /incomplete/,
      ],
      [
        'headers differ',
        [
          head({ index: 0, count: 2, slices: [{ param: 'a', offset: 0, count: 100 }] }),
          ...chunks('a', g, 0, 100),
          { commit: {} },
        ],
        [head({ index: 1, count: 2, slices: [{ param: 'a', offset: 100, count: n - 100 }] }, { hyper: { lr: 0.5 } })],
        /differs/,
      ],
      [
        'lane counts differ',
        [
          head({ index: 0, count: 2, slices: [{ param: 'a', offset: 0, count: 100 }] }),
          ...chunks('a', g, 0, 100),
          { commit: {} },
        ],
        [head({ index: 1, count: 3, slices: [{ param: 'a', offset: 100, count: n - 100 }] })],
        /lane.count/,
      ],
    ];
    for (const [what, first, second, re] of pairs) {
      const p0 = rawStep(h.client, first);
      await eventually(() => h.server.deps.budget.inUse > 0, 10_000, `${what}: lane 0 to stage`);
      const r1 = await rawStep(h.client, second);
      const r0 = await p0;
      // The lane that caused it fails INVALID_ARGUMENT; its sibling ABORTED, or with the same cause when the step
      // failed on its turn in the queue (a gap shows only once every lane has committed).
      const codes = [r0.code, r1.code];
      expect(codes, what).to.include(grpc.status.INVALID_ARGUMENT);
      for (const c of codes) expect([grpc.status.INVALID_ARGUMENT, grpc.status.ABORTED], what).to.include(c);
      expect([r0.details, r1.details].join(' | '), what).to.match(re);
      await eventually(() => h.server.deps.budget.inUse === 0, 10_000, `${what}: staging released`);
    }
    expect(await fingerprint(h.client, 'bad')).to.equal(before);
  });
});
