// Faults outside the server: a client process killed in the middle of a Step stream leaves the model
// byte-identical and its staging memory released; the model keeps working afterwards.

import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { eventually, fingerprint, randomF32, startHarness } from './helpers';
import type { Harness } from './helpers';

/** Starts test/service/child-step.ts and resolves once it has sent half of its gradient. */
function startChild(address: string, model: string, param: string, n: number): Promise<ChildProcessWithoutNullStreams> {
  const child = spawn(process.execPath, [
    '--import',
    'tsx',
    join(__dirname, 'child-step.ts'),
    address,
    model,
    param,
    String(n),
  ]);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('HALF')) resolve(child);
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', () => reject(new Error(`child exited early: ${out}`)));
  });
}

describe('service: faults', function () {
  this.timeout(60_000);
  let h: Harness;
  let child: ChildProcessWithoutNullStreams | null = null;

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await h.close();
  });

  it('a client process killed mid-stream changes nothing', async () => {
    const n = 1 << 20;
    await h.client.createModel({
      name: 'k',
      parameters: [{ name: 'w', shape: [n], dtype: 'fp32' }],
      optimizer: { name: 'adam', optimBits: 8 },
    });
    await h.client.uploadParameters('k', { w: randomF32(n) });
    await h.client.step('k', { w: randomF32(n, 0.1) });
    const before = await fingerprint(h.client, 'k');

    child = await startChild(h.server.address, 'k', 'w', n);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child?.on('exit', (_code, sig) => resolve(sig)));
    // The server holds the child's staging until it notices the connection is gone.
    await eventually(() => h.server.deps.budget.inUse > 0, 10_000, 'the child step to reserve staging');
    child.kill('SIGKILL');
    expect(await exited).to.equal('SIGKILL');
    await eventually(() => h.server.deps.budget.inUse === 0, 10_000, 'staging to be released');
    expect(await fingerprint(h.client, 'k')).to.equal(before);
    expect((await h.client.describe('k')).models[0].modelStep).to.equal(1);

    // The killed worker's step id was never applied: its retry applies now.
    const retry = await h.client.step('k', { w: randomF32(n, 0.1) }, { workerId: 'doomed', stepId: 1 });
    expect(retry.replayed).to.equal(false);
    expect(retry.modelStep).to.equal(2);
  });
});
