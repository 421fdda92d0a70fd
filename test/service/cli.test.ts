// The CLI end to end: `qstep serve` in a child process, `qstep info`, `qstep stats --json`, `qstep snapshot` to a
// safetensors file that an independent reader parses (our reader, and Python's struct + json, plus
// safetensors.torch when the module is installed), `qstep restore`, `qstep health`, and SIGTERM with --state-dir.

import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../client';
import type { QstepClient } from '../../client';
import { readSafetensorsData, readSafetensorsHeader } from '../../proto/safetensors';
import { runQstep as qstep, spawnServe } from '../helpers/serve-process';
import type { ServeProcess } from '../helpers/serve-process';
import { fingerprint, randomBf16, randomF32, reflectionServices } from './helpers';
import { pythonReadSafetensors } from '../helpers/safetensors-py';

describe('service: CLI', function () {
  this.timeout(120_000);
  let server: ServeProcess['proc'];
  let address: string;
  let client: QstepClient;
  let dir: string;
  let current: ServeProcess;
  /** The `msg` of every log line of the server started last. */
  const logged = () => current.lines.map((l) => l.msg);

  /** `qstep serve` with models kept in <dir>/state; resolves with the process once it serves. */
  async function serve(): Promise<{ proc: ServeProcess['proc']; address: string }> {
    const flags = ['--port', '0', '--metrics-port', '-1', '--threads', '2', '--log-level', 'info'];
    current = await spawnServe([...flags, '--state-dir', join(dir, 'state')]);
    return { proc: current.proc, address: current.address };
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qstep-cli-'));
    ({ proc: server, address } = await serve());
    client = connect(address);
    await client.createModel({
      name: 'cli',
      parameters: [
        { name: 'encoder.weight', shape: [64, 128], dtype: 'fp32' },
        { name: 'encoder.bias', shape: [128], dtype: 'bf16' },
      ],
      optimizer: { name: 'adamw', optimBits: 8, min8bitSize: 1024 },
    });
    await client.uploadParameters('cli', {
      'encoder.weight': randomF32(8192),
      'encoder.bias': { data: randomBf16(128), dtype: 'bf16' },
    });
    for (let i = 0; i < 3; i++) {
      await client.step('cli', {
        'encoder.weight': randomF32(8192, 0.1),
        'encoder.bias': { data: randomBf16(128, 0.1), dtype: 'bf16' },
      });
    }
  });

  after(async () => {
    client?.close();
    if (server && server.exitCode === null) server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('qstep serve: reflection lists the qstep and health services', async () => {
    const names = await reflectionServices(address);
    expect(names).to.include.members(['qstep.v1.Qstep', 'grpc.health.v1.Health']);
  });

  it('qstep info --json and the human form', async () => {
    const r = await qstep(['info', '--json', '-a', address]);
    expect(r.code, r.stderr).to.equal(0);
    const info = JSON.parse(r.stdout) as { backend: string; limits: { maxChunkBytes: number } };
    expect(info.backend).to.equal('cpu');
    expect(info.limits.maxChunkBytes).to.equal(1024 * 1024);
    const human = await qstep(['info', '-a', address]);
    expect(human.stdout).to.match(/on cpu/);
  });

  it('qstep stats --json describes the model; the table names every parameter', async () => {
    const r = await qstep(['stats', 'cli', '--json', '-a', address]);
    expect(r.code, r.stderr).to.equal(0);
    const d = JSON.parse(r.stdout) as {
      models: { name: string; modelStep: number; params: { name: string; stateMode: string; step: number }[] }[];
    };
    expect(d.models[0].name).to.equal('cli');
    expect(d.models[0].modelStep).to.equal(3);
    expect(d.models[0].params.map((p) => [p.name, p.stateMode, p.step])).to.deep.equal([
      ['encoder.weight', 'STATE_MODE_BLOCKWISE8', 3],
      ['encoder.bias', 'STATE_MODE_FP32', 3],
    ]);
    const human = await qstep(['stats', 'cli', '-a', address]);
    expect(human.stdout).to.match(/encoder\.weight .*blockwise8\/256/);
    const missing = await qstep(['stats', 'nope', '-a', address]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.match(/NOT_FOUND/);
  });

  it('qstep snapshot writes a safetensors file that independent readers parse, and qstep restore loads it', async () => {
    const file = join(dir, 'cli.safetensors');
    const r = await qstep(['snapshot', 'cli', file, '-a', address]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/wrote .* tensors/);

    const snap = await client.snapshot('cli', { state: 'raw' });
    const header = await readSafetensorsHeader(file);
    expect(header.metadata.format).to.equal('qstep.snapshot');
    expect(header.metadata.model).to.equal('cli');
    expect(header.metadata.model_step).to.equal('3');
    expect(
      JSON.parse(header.metadata.params).map((p: { name: string; step: number }) => [p.name, p.step]),
    ).to.deep.equal([
      ['encoder.weight', 3],
      ['encoder.bias', 3],
    ]);
    const ours = new Map<string, Buffer[]>();
    for await (const d of readSafetensorsData(file, header, 4096)) {
      const name = header.entries[d.tensor].name;
      ours.set(name, [...(ours.get(name) ?? []), d.data]);
    }
    expect([...ours.keys()].sort()).to.deep.equal([...snap.tensors.keys()].sort());
    for (const [name, t] of snap.tensors) expect(Buffer.concat(ours.get(name)!).equals(t.data), name).to.equal(true);

    // Python is only a second opinion: without /usr/bin/python3 this part is skipped, not the test.
    const parsed = pythonReadSafetensors(file);
    if (parsed) {
      expect(parsed.metadata.format).to.equal('qstep.snapshot');
      expect(parsed.tensors['encoder.weight']).to.include({ dtype: 'F32' });
      expect(parsed.tensors['encoder.weight'].shape).to.deep.equal([64, 128]);
      expect(parsed.tensors['encoder.bias'].dtype).to.equal('BF16');
      expect(parsed.tensors['__state__/encoder.weight/state1'].dtype).to.equal('U8');
      const { createHash } = await import('node:crypto');
      for (const [name, t] of snap.tensors) {
        expect(parsed.tensors[name].sha256, name).to.equal(createHash('sha256').update(t.data).digest('hex'));
      }
      if (parsed.safetensors_module) expect(parsed.safetensors_module).to.deep.equal([...snap.tensors.keys()].sort());
    }

    // Restore into a fresh model of the same shape: everything identical, including the step counters.
    await client.createModel({
      name: 'cli2',
      parameters: [
        { name: 'encoder.weight', shape: [64, 128], dtype: 'fp32' },
        { name: 'encoder.bias', shape: [128], dtype: 'bf16' },
      ],
      optimizer: { name: 'adamw', optimBits: 8, min8bitSize: 1024 },
    });
    const rr = await qstep(['restore', 'cli2', file, '-a', address]);
    expect(rr.code, rr.stderr).to.equal(0);
    expect(rr.stdout).to.match(/restored 2 parameters/);
    expect(await fingerprint(client, 'cli2')).to.equal(await fingerprint(client, 'cli'));
  });

  it('qstep health, then SIGTERM drains, keeps the models in --state-dir and exits 0; the next serve has them', async () => {
    const r = await qstep(['health', '-a', address]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal('SERVING');
    const before = await fingerprint(client, 'cli');
    const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    expect(await exited).to.equal(0);
    await current.closed; // every line it wrote has been read
    expect(logged()).to.include.members(['draining', 'state-dir: models saved', 'stopped']);
    const down = await qstep(['health', '-a', address, '--deadline-ms', '1000']);
    expect(down.code).to.not.equal(0);
    expect(readdirSync(join(dir, 'state')).sort()).to.deep.equal(['cli', 'cli2']);
    expect(readdirSync(join(dir, 'state', 'cli')).sort()).to.deep.equal([
      'ckpt-00000001.manifest.json',
      'ckpt-00000001.safetensors',
    ]);

    client.close();
    ({ proc: server, address } = await serve());
    client = connect(address);
    expect(logged()).to.include('state-dir: models loaded');
    expect(await fingerprint(client, 'cli'), 'model cli after the restart').to.equal(before);
    const stats = await qstep(['stats', 'cli', '--json', '-a', address]);
    expect(stats.code, stats.stderr).to.equal(0);
    expect((JSON.parse(stats.stdout) as { models: { modelStep: number }[] }).models[0].modelStep).to.equal(3);
    const exitedAgain = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    expect(await exitedAgain).to.equal(0);
  });
});
