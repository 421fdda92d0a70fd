// Operations: ServerInfo, Describe (memory by kind, modes, steps), ListModels, DeleteModel, grpc.health.v1
// (answering during a long step, NOT_SERVING while draining), reflection, Prometheus metrics, graceful shutdown.

import { expect } from 'chai';
import { get } from 'node:http';
import { OPTIMIZERS } from '../../native/lib';
import { QstepError, connect } from '../../client';
import { HYPER_FIELDS, LAYOUT_FIELDS } from '../../proto/convert';
import { CONFIG_KEYS } from '../../native/lib/config';
import { randomF32, reflectionServices, sleep, startHarness } from './helpers';
import type { Harness } from './helpers';

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    found = true;
  }
  if (!found) throw new Error(`metric ${name} ${JSON.stringify(labels)} not found`);
  return sum;
}

describe('service: operations', function () {
  this.timeout(60_000);
  let h: Harness;

  before(async () => {
    h = await startHarness({ metricsPort: 0 });
    await h.client.createModel({
      name: 'ops',
      parameters: [
        { name: 'big', shape: [256, 256], dtype: 'fp32' },
        { name: 'half', shape: [8192], dtype: 'bf16' },
        { name: 'tiny', shape: [100], dtype: 'fp32' },
      ],
      optimizer: { name: 'adam', optimBits: 8 },
      overrides: { half: { optimBits: 32 } },
    });
  });
  after(async () => {
    await h.close();
  });

  it('the proto Hyperparameters and Layout fields are exactly the engine config keys', () => {
    expect([...HYPER_FIELDS, ...LAYOUT_FIELDS].sort()).to.deep.equal([...CONFIG_KEYS].sort());
  });

  it('ServerInfo reports version, backend, capabilities and limits', async () => {
    const info = await h.client.serverInfo();
    expect(info.version).to.match(/^\d+\.\d+\.\d+/);
    expect(info.backend).to.equal('cpu');
    expect(info.threads).to.equal(2);
    expect(info.devices).to.deep.equal([]);
    const caps = info.capabilities!;
    expect(caps.optimizers.map((o) => o.optimizer)).to.deep.equal(
      OPTIMIZERS.map((o) => `OPTIMIZER_${o.toUpperCase()}`),
    );
    for (const o of caps.optimizers) {
      expect(o.stateModes).to.deep.equal(['STATE_MODE_FP32', 'STATE_MODE_BLOCKWISE8', 'STATE_MODE_STATIC8']);
      expect(o.dtypes).to.deep.equal(['DTYPE_FP32', 'DTYPE_FP16', 'DTYPE_BF16']);
    }
    expect(caps.optimizers.find((o) => o.optimizer === 'OPTIMIZER_LION')!.defaults!.lr).to.equal(1e-4);
    expect(caps.blockSizes).to.include(256);
    expect(info.limits!.maxChunkBytes).to.equal(1024 * 1024);
    expect(info.limits!.maxMessageBytes).to.be.greaterThan(1024 * 1024);
    expect(info.limits!.maxModels).to.equal(64);
  });

  it('Describe shows modes, bytes by kind and steps; ListModels and DeleteModel agree', async () => {
    const d = await h.client.describe('ops');
    const m = d.models[0];
    expect(m.ready).to.equal(false);
    const by = Object.fromEntries(m.params.map((p) => [p.name, p]));
    expect(by.big.stateMode).to.equal('STATE_MODE_BLOCKWISE8');
    expect(by.big.blockSize).to.equal(256);
    expect(by.half.stateMode).to.equal('STATE_MODE_FP32'); // override by name
    expect(by.tiny.stateMode).to.equal('STATE_MODE_FP32'); // below min_8bit_size
    expect(by.big.memory!.parameters).to.equal(65536 * 4);
    expect(by.big.memory!.state).to.equal(2 * 65536);
    expect(by.big.memory!.scales).to.equal(2 * 4 * (65536 / 256));
    expect(by.big.memory!.fp32StateEquivalent).to.equal(2 * 4 * 65536);
    expect(by.half.memory!.parameters).to.equal(8192 * 2);
    expect(by.half.memory!.state).to.equal(2 * 4 * 8192);
    expect(by.big.hyper!.lr).to.equal(1e-3);
    expect(by.half.layout!.optimBits).to.equal(32);
    const sum = m.params.reduce((n, p) => n + p.memory!.total, 0);
    expect(m.memory!.total).to.equal(sum);
    expect(d.totals!.backend).to.equal('cpu');
    expect(d.totals!.memory!.total).to.be.at.least(sum);
    expect(d.totals!.memory!.staging).to.equal(0);

    await h.client.uploadParameters('ops', {
      big: randomF32(65536),
      half: { data: randomF32(8192), dtype: 'fp32' },
      tiny: randomF32(100),
    });
    await h.client.step('ops', { big: randomF32(65536, 0.1), tiny: randomF32(100, 0.1) });
    const after = (await h.client.describe('ops')).models[0];
    expect(after.ready).to.equal(true);
    expect(after.modelStep).to.equal(1);
    expect(after.params.map((p) => p.step)).to.deep.equal([1, 0, 1]);

    const list = await h.client.listModels();
    expect(list.map((x) => [x.name, x.optimizer, x.paramCount, x.numel, x.ready, x.modelStep])).to.deep.equal([
      ['ops', 'OPTIMIZER_ADAM', 3, 65536 + 8192 + 100, true, 1],
    ]);

    await h.client.createModel({
      name: 'gone',
      parameters: [{ name: 'p', shape: [50000], dtype: 'fp32' }],
      optimizer: { name: 'adam' },
    });
    const withGone = (await h.client.describe()).totals!.memory!.total;
    const del = await h.client.deleteModel('gone');
    expect(del.freedBytes).to.equal(50000 * 4 * 3);
    const withoutGone = (await h.client.describe()).totals!.memory!.total;
    expect(withGone - withoutGone).to.equal(50000 * 4 * 3);
    const e = await h.client.deleteModel('gone').catch((x: QstepError) => x);
    expect((e as QstepError).codeName).to.equal('NOT_FOUND');
  });

  it('reflection lists qstep.v1.Qstep and grpc.health.v1.Health', async () => {
    const names = await reflectionServices(h.server.address);
    expect(names).to.include('qstep.v1.Qstep');
    expect(names).to.include('grpc.health.v1.Health');
  });

  it('metrics expose grpc_server_* and the step counters', async () => {
    const { status, body } = await httpGet(`http://127.0.0.1:${h.server.metricsPort}/metrics`);
    expect(status).to.equal(200);
    expect(metricValue(body, 'grpc_server_handled_total', { grpc_method: 'Step', grpc_code: 'OK' })).to.be.at.least(1);
    expect(metricValue(body, 'grpc_server_started_total', { grpc_method: 'Describe' })).to.be.at.least(1);
    expect(metricValue(body, 'grpc_server_handling_seconds_count', { grpc_method: 'UploadParameters' })).to.be.at.least(
      1,
    );
    expect(metricValue(body, 'grpc_server_msg_received_total', { grpc_method: 'Step' })).to.be.at.least(3);
    expect(metricValue(body, 'qstep_steps_applied_total', { model: 'ops' })).to.equal(1);
    expect(metricValue(body, 'qstep_step_seconds_count', { model: 'ops' })).to.equal(1);
    expect(metricValue(body, 'qstep_state_bytes', { kind: 'state' })).to.equal(2 * 65536 + 2 * 4 * 8192 + 2 * 4 * 100);
    expect(metricValue(body, 'qstep_staging_bytes')).to.equal(0);
    expect((await httpGet(`http://127.0.0.1:${h.server.metricsPort}/other`)).status).to.equal(404);
  });

  it('health answers while a long step runs (kernel work never blocks the event loop)', async () => {
    await h.client.createModel({
      name: 'long',
      parameters: [{ name: 'w', shape: [4, 1 << 20], dtype: 'fp32' }],
      optimizer: { name: 'lamb', optimBits: 8, percentileClipping: 50 },
    });
    await h.client.uploadParameters('long', { w: randomF32(4 << 20) });
    const engine = h.server.deps.engine;
    const original = engine.step.bind(engine);
    const windows: [number, number][] = [];
    engine.step = async (items, policy) => {
      const t0 = performance.now();
      try {
        return await original(items, policy);
      } finally {
        windows.push([t0, performance.now()]);
      }
    };
    const answered: number[] = [];
    let running = true;
    const prober = (async () => {
      while (running) {
        expect(await h.client.health()).to.equal('SERVING');
        answered.push(performance.now());
        await sleep(1);
      }
    })();
    try {
      for (let i = 0; i < 3; i++) await h.client.step('long', { w: randomF32(4 << 20, 0.1) });
    } finally {
      running = false;
      engine.step = original;
      await prober;
    }
    const during = answered.filter((t) => windows.some(([a, b]) => t > a && t < b));
    expect(windows.length).to.equal(3);
    expect(
      during.length,
      `engine steps took ${windows.map(([a, b]) => (b - a).toFixed(1)).join(', ')} ms`,
    ).to.be.greaterThan(0);
    await h.client.deleteModel('long');
  });

  it('shutdown: NOT_SERVING while draining, in-flight calls finish, new calls are refused', async () => {
    const s = await startHarness({ shutdownGraceMs: 5000 });
    const watcher = connect(s.server.address);
    try {
      await s.client.createModel({
        name: 'd',
        parameters: [{ name: 'w', shape: [1 << 20], dtype: 'fp32' }],
        optimizer: { name: 'sgd', betas: [0.9] },
      });
      await s.client.uploadParameters('d', { w: randomF32(1 << 20) });
      const statuses: string[] = [];
      const setStatus = s.server.health.setStatus.bind(s.server.health);
      s.server.health.setStatus = (service, st) => {
        statuses.push(`${service || '(server)'}=${st}`);
        setStatus(service, st);
      };
      // Hold the step inside the engine until the drain has begun.
      const engine = s.server.deps.engine;
      const original = engine.step.bind(engine);
      let entered!: () => void;
      let release!: () => void;
      const inEngine = new Promise<void>((r) => (entered = r));
      const gate = new Promise<void>((r) => (release = r));
      engine.step = async (items, policy) => {
        entered();
        await gate;
        return original(items, policy);
      };
      const inflight = s.client.step('d', { w: randomF32(1 << 20, 0.1) }, { returnWeights: true });
      await inEngine;
      const stopping = s.server.shutdown(5000);
      expect(statuses).to.deep.equal(['(server)=NOT_SERVING', 'qstep.v1.Qstep=NOT_SERVING']);
      await sleep(50);
      release();
      const r = await inflight;
      expect(r.modelStep).to.equal(1);
      expect(r.weights.get('w')!.data.length).to.equal(4 << 20);
      await stopping;
      const late = await watcher.serverInfo({ deadlineMs: 2000 }).catch((e: QstepError) => e);
      expect(late).to.be.instanceOf(QstepError);
      expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).to.include((late as QstepError).codeName);
    } finally {
      watcher.close();
      await s.close();
    }
  });

  it('health answers SERVING for the server and for qstep.v1.Qstep, NOT_FOUND for an unknown service', async () => {
    expect(await h.client.health()).to.equal('SERVING');
    expect(await h.client.health('qstep.v1.Qstep')).to.equal('SERVING');
    const e = await h.client.health('no.such.Service').catch((x: QstepError) => x);
    expect((e as QstepError).codeName).to.equal('NOT_FOUND');
  });
});
