// Bounded echo: a request quoting megabytes (a 1 MB model, parameter, worker or tensor name) gets a short error
// and makes the server write a few hundred bytes of log, never its input back (issue 10, "Input is echoed
// without bound"). The other model's fingerprint shows that nothing changed.

import { expect } from 'chai';
import pino from 'pino';
import { connect } from '../../client';
import type { QstepClient, QstepError } from '../../client';
import { startServer } from '../../server/main';
import type { RunningServer } from '../../server/main';
import { fingerprint, randomF32, rawStep } from './helpers';

describe('service: bounded echo', function () {
  this.timeout(120_000);
  let server: RunningServer;
  let client: QstepClient;
  let logBytes = 0;
  let longestLine = 0;

  before(async () => {
    const sink = {
      write(s: string) {
        logBytes += Buffer.byteLength(s);
        longestLine = Math.max(longestLine, Buffer.byteLength(s));
      },
    };
    server = await startServer(
      { host: '127.0.0.1', port: 0, metricsPort: -1, threads: 2 },
      pino({ level: 'info' }, sink),
    );
    client = connect(server.address);
    await client.createModel({
      name: 'keep',
      parameters: [{ name: 'w', shape: [1000], dtype: 'fp32' }],
      optimizer: { name: 'adam', lr: 0.01, weightDecay: 0.01 },
    });
    await client.uploadParameters('keep', { w: randomF32(1000) });
  });
  after(async () => {
    client.close();
    await server.shutdown(2000);
  });

  const huge = (c: string) => c.repeat(1_000_000);
  const caught = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a failure');
      },
      (e: QstepError) => e,
    );

  it('1 MB names in every RPC: a short error, a few hundred bytes of log each, nothing changed', async () => {
    const before = await fingerprint(client, 'keep');
    const name = huge('x');
    const cases: [string, () => Promise<{ codeName: string; details: string }>][] = [
      [
        'CreateModel name',
        () =>
          caught(
            client.createModel({
              name,
              parameters: [{ name: 'w', shape: [4], dtype: 'fp32' }],
              optimizer: { name: 'sgd', lr: 0.1 },
            }),
          ),
      ],
      [
        'CreateModel parameter name',
        () =>
          caught(
            client.createModel({
              name: 'n',
              parameters: [{ name: huge('\u0001'), shape: [4], dtype: 'fp32' }],
              optimizer: { name: 'sgd', lr: 0.1 },
            }),
          ),
      ],
      ['Describe', () => caught(client.describe(name))],
      ['DeleteModel', () => caught(client.deleteModel(name))],
      ['Snapshot', () => caught(client.snapshot(name))],
      ['Snapshot parameter', () => caught(client.snapshot('keep', { params: [name] }))],
      [
        'Step model',
        async () => {
          const r = await rawStep(client, [{ header: { model: name } }]);
          return { codeName: String(r.code), details: r.details };
        },
      ],
      [
        'Step parameter',
        async () => {
          const r = await rawStep(client, [{ header: { model: 'keep', gradients: [{ param: name }] } }]);
          return { codeName: String(r.code), details: r.details };
        },
      ],
      [
        'Step worker id',
        async () => {
          const r = await rawStep(client, [{ header: { model: 'keep', workerId: name, stepId: '1' } }]);
          return { codeName: String(r.code), details: r.details };
        },
      ],
    ];
    for (const [what, call] of cases) {
      const logBefore = logBytes;
      const err = await call();
      expect(err.details.length, what).to.be.below(1200);
      expect(err.details, what).to.not.contain('x'.repeat(1000));
      expect(logBytes - logBefore, `${what}: log bytes`).to.be.below(4096);
    }
    // 200 such requests: the log grows by well under a megabyte (it grew by 400 MB before).
    const logBefore = logBytes;
    await Promise.all(Array.from({ length: 200 }, () => caught(client.describe(name))));
    expect(logBytes - logBefore).to.be.below(200 * 2048);
    expect(longestLine).to.be.below(4096);
    expect(await fingerprint(client, 'keep')).to.equal(before);
  });
});
