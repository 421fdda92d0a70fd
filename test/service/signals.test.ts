// Stopping `qstep serve` as an operator or a container runtime does: SIGTERM saves every model and exits 0; a
// second SIGTERM while the models are being saved is logged and does not stop the save; `npx qstep serve` stopped
// with SIGTERM (npm forwards it to a shell that does not pass it on) still stops the server, which saves and exits
// instead of serving on as an orphan.

import { expect } from 'chai';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../client';
import { spawnServe } from '../helpers/serve-process';
import type { ServeProcess } from '../helpers/serve-process';
import { eventually, fingerprint, randomF32 } from './helpers';

const FLAGS = (dir: string) => [
  '--port',
  '0',
  '--metrics-port',
  '-1',
  '--threads',
  '2',
  '--log-level',
  'info',
  '--state-dir',
  dir,
  '--shutdown-grace-ms',
  '2000',
];

async function populate(address: string, name: string, n: number): Promise<string> {
  const c = connect(address);
  try {
    await c.createModel({
      name,
      parameters: [{ name: 'w', shape: [n], dtype: 'fp32' }],
      optimizer: { name: 'adamw', lr: 1e-3 },
    });
    await c.uploadParameters(name, { w: randomF32(n) });
    await c.step(name, { w: randomF32(n, 0.1) });
    return await fingerprint(c, name);
  } finally {
    c.close();
  }
}

async function fingerprintAfterRestart(dir: string, name: string): Promise<{ fp: string; step: number }> {
  const s = await spawnServe(FLAGS(dir));
  const c = connect(s.address);
  try {
    return { fp: await fingerprint(c, name), step: (await c.describe(name)).models[0].modelStep };
  } finally {
    c.close();
    s.proc.kill('SIGTERM');
    await s.closed;
  }
}

describe('service: signals', function () {
  this.timeout(120_000);
  let dir: string;
  const started: ServeProcess['proc'][] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qstep-sig-'));
  });
  afterEach(async () => {
    for (const p of started.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('a second SIGTERM during the save is logged, the save completes, the process exits 0', async () => {
    const s = await spawnServe(FLAGS(dir));
    started.push(s.proc);
    // 4M parameters with fp32 Adam state: 48 MiB to write and fsync, long enough for a second signal to land.
    const fp = await populate(s.address, 'big', 4 << 20);
    const exited = new Promise<number | null>((r) => s.proc.on('exit', (code) => r(code)));
    s.proc.kill('SIGTERM');
    await eventually(() => s.lines.some((l) => l.msg === 'draining'), 10_000, 'draining');
    s.proc.kill('SIGTERM');
    expect(await exited).to.equal(0);
    const msgs = s.lines.map((l) => String(l.msg));
    const second = msgs.indexOf('signal received while stopping: ignored, the models are being saved');
    const saved = msgs.indexOf('state-dir: models saved');
    expect(second, msgs.join(' | ')).to.be.above(-1);
    expect(saved).to.be.above(second);
    expect(s.lines[saved].saved).to.deep.equal(['big']);
    const written = s.lines.find((l) => l.msg === 'checkpoint written' && l.reason === 'shutdown');
    expect(written?.modelStep).to.equal(1);
    expect(msgs).to.include('stopped');
    expect(await fingerprintAfterRestart(dir, 'big')).to.deep.equal({ fp, step: 1 });
  });

  it('SIGTERM to `npx qstep serve` stops the server too: it saves and exits, no orphan', async () => {
    const s = await spawnServe(['--no-install', 'qstep', 'serve', ...FLAGS(dir)], { command: 'npx' });
    started.push(s.proc);
    const fp = await populate(s.address, 'm', 4096);
    s.proc.kill('SIGTERM'); // npm's process, not the server's
    await s.closed; // the server's output pipe closes only when the server process has exited
    const msgs = s.lines.map((l) => String(l.msg));
    expect(msgs, msgs.join(' | ')).to.include('state-dir: models saved');
    expect(msgs).to.include('stopped');
    expect(await readdir(join(dir, 'm'))).to.include('ckpt-00000001.manifest.json');
    expect(await fingerprintAfterRestart(dir, 'm')).to.deep.equal({ fp, step: 1 });
  });
});
