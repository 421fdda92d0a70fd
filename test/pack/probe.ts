// Runs in an empty project that installed the packed tarball (scripts/pack-test.js): imports the client and the
// server the way a user does, by package name, type-checked against the shipped .d.ts. Starts a server on an
// ephemeral port, creates a model, uploads random weights, takes two Adam steps with random gradients and
// compares the returned weights with a float64 reference written here; a step on a model that does not exist must
// fail with NOT_FOUND and a QstepError from the package.
import { connect, QstepError, toFloat32 } from 'qstep/client';
import type { StepReply } from 'qstep/client';
import { startServer } from 'qstep/server';

const N = 4099;
const LR = 0.01;
const B1 = 0.9;
const B2 = 0.999;
const EPS = 1e-8;

function random(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() * 2 - 1) * scale;
  return a;
}

async function main(): Promise<void> {
  const server = await startServer({ port: 0, metricsPort: -1, logLevel: 'silent', backend: 'cpu', threads: 2 });
  const qs = connect(server.address);
  try {
    await qs.createModel({
      name: 'probe',
      parameters: [{ name: 'w', shape: [N], dtype: 'fp32' }],
      optimizer: { name: 'adam', lr: LR, betas: [B1, B2], eps: EPS, weightDecay: 0 },
    });
    const w0 = random(N, 1);
    await qs.uploadParameters('probe', { w: w0 });
    const p = Float64Array.from(w0);
    const m = new Float64Array(N);
    const v = new Float64Array(N);
    let reply: StepReply | undefined;
    for (let t = 1; t <= 2; t++) {
      const g = random(N, 0.1);
      reply = await qs.step('probe', { w: g }, { workerId: 'probe', stepId: t, returnWeights: true });
      for (let i = 0; i < N; i++) {
        m[i] = B1 * m[i] + (1 - B1) * g[i];
        v[i] = B2 * v[i] + (1 - B2) * g[i] * g[i];
        p[i] -= (LR * (m[i] / (1 - B1 ** t))) / (Math.sqrt(v[i] / (1 - B2 ** t)) + EPS);
      }
    }
    const got = toFloat32(reply!.weights.get('w')!);
    let worst = 0;
    for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(got[i] - p[i]));
    if (reply!.modelStep !== 2 || worst > 1e-5) {
      throw new Error(`probe.ts: modelStep ${reply!.modelStep}, largest difference from the reference ${worst}`);
    }
    let code = '';
    try {
      await qs.step('no-such-model', { w: random(N, 0.1) });
    } catch (e) {
      if (e instanceof QstepError) code = e.codeName;
    }
    if (code !== 'NOT_FOUND') throw new Error(`probe.ts: a step on a missing model gave ${code || 'no QstepError'}`);
    console.log(
      `probe.ts: two Adam steps over ${N} elements match the reference (max |diff| ${worst.toExponential(2)})`,
    );
  } finally {
    qs.close();
    await server.shutdown(0);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
