// HTTP/2 windows (docs/service.md, Transport): the server grants the configured receive window (the grpc-js patch
// in patches/), both ends refuse windows outside the supported range, and Step traffic that moves bulk data both
// ways on one connection at once completes with the default windows. That last test is the regression test for
// the hang seen with windows of 8 MiB and more: Node's HTTP/2 session stops reading its socket while one of its
// own socket writes is pending, so two peers that each have more in flight than the socket buffers hold wait for
// each other forever (with windows of 16 or 64 MiB this test hangs until its deadline).

import { expect } from 'chai';
import * as http2 from 'node:http2';
import { connect } from '../../client';
import { startServer } from '../../server/main';
import { DEFAULT_WINDOW_BYTES, MAX_WINDOW_BYTES } from '../../proto/transport';
import { bytesOf, randomF32, startHarness } from './helpers';
import type { Harness } from './helpers';

/** The SETTINGS and the connection-level window a server grants a fresh HTTP/2 connection. */
async function grantedWindows(address: string): Promise<{ initialWindowSize: number; connectionWindow: number }> {
  const session = http2.connect(`http://${address}`);
  try {
    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    // The connection window arrives as a WINDOW_UPDATE right after the server's SETTINGS: ping once so that it has.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    return {
      initialWindowSize: settings.initialWindowSize ?? -1,
      connectionWindow: session.state.remoteWindowSize ?? -1,
    };
  } finally {
    session.destroy();
  }
}

describe('service: HTTP/2 windows', function () {
  this.timeout(240_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it('the server grants its configured window to every connection and stream', async () => {
    expect(await grantedWindows(h.server.address)).to.deep.equal({
      initialWindowSize: DEFAULT_WINDOW_BYTES,
      connectionWindow: DEFAULT_WINDOW_BYTES,
    });
    const w = 1_500_000 + Math.floor(Math.random() * 1_000_000);
    const other = await startServer({
      host: '127.0.0.1',
      port: 0,
      metricsPort: -1,
      logLevel: 'silent',
      windowBytes: w,
    });
    try {
      expect(await grantedWindows(other.address)).to.deep.equal({ initialWindowSize: w, connectionWindow: w });
    } finally {
      await other.shutdown(1000);
    }
  });

  it('refuses windows outside [65535, MAX_WINDOW_BYTES] on both ends', async () => {
    for (const windowBytes of [1000, MAX_WINDOW_BYTES + 1, 1.5e6 + 0.5]) {
      let err: unknown = null;
      try {
        const s = await startServer({ host: '127.0.0.1', port: 0, metricsPort: -1, logLevel: 'silent', windowBytes });
        await s.shutdown(100);
      } catch (e) {
        err = e;
      }
      expect(String(err)).to.include(`windowBytes: expected an integer in [65535, ${MAX_WINDOW_BYTES}]`);
      expect(() => connect(h.server.address, { windowBytes })).to.throw(TypeError, /windowBytes must be an integer/);
    }
  });

  it('Step moving bulk data both ways on one connection completes with the largest windows allowed', async () => {
    const n = 4 * 1024 * 1024; // 16 MiB of fp32 each way: well past the socket buffers, as with real models
    const big = await startHarness({ windowBytes: MAX_WINDOW_BYTES });
    // One HTTP/2 connection for all below (Step over gRPC, not the direct transport).
    const client = connect(big.server.address, { lanes: 1, windowBytes: MAX_WINDOW_BYTES, direct: false });
    try {
      for (const name of ['up', 'down']) {
        await client.createModel({
          name,
          parameters: [{ name: 'w', shape: [n], dtype: 'fp32' }],
          optimizer: { name: 'adam' },
        });
        await client.uploadParameters(name, { w: randomF32(n) });
      }
      const g = randomF32(n, 0.1);
      const first = await client.step('down', { w: g }, { workerId: 'w', stepId: 1, returnWeights: true });
      const want = bytesOf(first.weights.get('w')!.data as Buffer);
      for (let round = 1; round <= 3; round++) {
        // At once on the one connection: a retry of an applied step (the server sends its 16 MiB of weights at the
        // header while the client is still sending 16 MiB of gradients), and a new step on another model (gradients
        // in while the replay's weights go out, then weights out while the replay may still be sending).
        const [replay, fresh] = await Promise.all([
          client.step('down', { w: g }, { workerId: 'w', stepId: 1, returnWeights: true, deadlineMs: 120_000 }),
          client.step(
            'up',
            { w: randomF32(n, 0.1) },
            { workerId: 'w', stepId: round, returnWeights: true, deadlineMs: 120_000 },
          ),
        ]);
        expect(replay.replayed).to.equal(true);
        expect(Buffer.compare(bytesOf(replay.weights.get('w')!.data as Buffer), want)).to.equal(0);
        expect(fresh.replayed).to.equal(false);
        expect(fresh.modelStep).to.equal(round);
      }
    } finally {
      client.close();
      await big.close();
    }
  });
});
