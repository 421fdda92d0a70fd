// The same as probe.ts in plain JavaScript (CommonJS, `require('qstep')`), plus the installed `qstep` command:
// `qstep info --json` against the server must name this package's version.
'use strict';
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');
const path = require('node:path');
const { connect, QstepError, toFloat32 } = require('qstep');
const { startServer } = require('qstep/server');
const { version } = require('qstep/package.json');

const N = 1025;
const LR = 0.05;

async function main() {
  const server = await startServer({ port: 0, metricsPort: -1, logLevel: 'silent', backend: 'cpu', threads: 2 });
  const qs = connect(server.address);
  try {
    // SGD with momentum (PyTorch's rule: the buffer starts as the first gradient, then b = beta b + g).
    await qs.createModel({
      name: 'probe-js',
      parameters: [{ name: 'w', shape: [N], dtype: 'fp32' }],
      optimizer: { name: 'sgd', lr: LR, betas: [0.9], weightDecay: 0 },
    });
    const w0 = Float32Array.from({ length: N }, () => Math.random() * 2 - 1);
    await qs.uploadParameters('probe-js', { w: w0 });
    const p = Float64Array.from(w0);
    const buf = new Float64Array(N);
    let reply;
    for (let t = 1; t <= 3; t++) {
      const g = Float32Array.from({ length: N }, () => (Math.random() * 2 - 1) * 0.1);
      reply = await qs.step('probe-js', { w: g }, { workerId: 'probe', stepId: t, returnWeights: true });
      for (let i = 0; i < N; i++) {
        buf[i] = t === 1 ? g[i] : 0.9 * buf[i] + g[i];
        p[i] -= LR * buf[i];
      }
    }
    const got = toFloat32(reply.weights.get('w'));
    let worst = 0;
    for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(got[i] - p[i]));
    if (reply.modelStep !== 3 || worst > 1e-5) {
      throw new Error(`probe.cjs: modelStep ${reply.modelStep}, largest difference from the reference ${worst}`);
    }
    const err = await qs.deleteModel('no-such-model').catch((e) => e);
    if (!(err instanceof QstepError) || err.codeName !== 'NOT_FOUND') {
      throw new Error(`probe.cjs: deleting a missing model gave ${err}`);
    }
    const bin = path.join(process.cwd(), 'node_modules', '.bin', 'qstep');
    // Asynchronously: the server runs in this process and must keep answering.
    const { stdout } = await promisify(execFile)(bin, ['--address', server.address, 'info', '--json']);
    const info = JSON.parse(stdout);
    if (JSON.stringify(info).indexOf(version) < 0) throw new Error(`probe.cjs: qstep info does not name ${version}`);
    console.log(`probe.cjs: three SGD steps over ${N} elements match the reference; the qstep command answers`);
  } finally {
    qs.close();
    await server.shutdown(0);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
