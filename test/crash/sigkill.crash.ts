// Crash test (`npm run test:crash`, its own time budget): a training client steps a model on `qstep serve
// --state-dir ... --checkpoint-every-steps N` while the server is killed with SIGKILL, at random moments during
// steps and, every other round, right as a checkpoint starts being written. After every restart:
//   - no partial file remains (no ".tmp", no data file without its manifest);
//   - the model equals its newest complete checkpoint bit for bit (every tensor of a weights + raw-state snapshot
//     against the file, read by the project's reader), and equals what the server held at that step before the
//     crash (the client recorded a digest of every step it saw);
//   - at most 2N steps were lost (the bound docs/service.md states: N since the newest complete checkpoint was
//     copied plus at most N applied while the next was being written);
//   - the client, still at its own step, is refused with the server's step (expectedModelStep), resyncs and trains
//     on. Gradients are a function of the step number, so the trajectory after a resync is the one before: a step
//     digest recorded twice must be equal.

import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QstepError, Status, connect, serverModelStep } from '../../client';
import type { QstepClient } from '../../client';
import { readSafetensorsData, readSafetensorsHeader } from '../../proto/safetensors';
import { spawnServe } from '../helpers/serve-process';
import type { ServeProcess } from '../helpers/serve-process';

const KILLS = Number(process.env.QSTEP_CRASH_KILLS ?? 20);
const EVERY = 4;
// Large enough that a checkpoint's write and fsync take a while (a file of about 12 MiB), so that a kill sent when
// the server logs the start of the write lands inside it even on a loaded machine.
const N_W = 1 << 21;
const N_V = 1000;

type Server = ServeProcess;

/** Set while a round wants its kill at the start of a checkpoint write; called from the log-line handler. */
let onCheckpointWrite: (() => void) | null = null;

function serve(dir: string): Promise<Server> {
  const flags = ['--port', '0', '--metrics-port', '-1', '--threads', '2', '--log-level', 'debug', '--state-dir', dir];
  return spawnServe(
    [...flags, '--checkpoint-every-steps', String(EVERY), '--checkpoint-every-seconds', '0', '--keep-checkpoints', '2'],
    {
      onLine: (rec) => {
        if (rec.msg === 'checkpoint copied; writing') onCheckpointWrite?.();
      },
    },
  );
}

/** Gradients as a function of the step number only (mulberry32 seeded by the step). */
function gradsFor(step: number): { w: Float32Array; v: Float32Array } {
  let a = (step * 2654435761) >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 0.2 - 0.1;
  };
  const w = new Float32Array(N_W);
  for (let i = 0; i < N_W; i++) w[i] = next();
  const v = new Float32Array(N_V);
  for (let i = 0; i < N_V; i++) v[i] = next();
  return { w, v };
}

async function digest(client: QstepClient): Promise<{ step: number; hash: string; tensors: Map<string, Buffer> }> {
  const snap = await client.snapshot('crash', { weights: true, state: 'raw' });
  const h = createHash('sha256');
  const tensors = new Map<string, Buffer>();
  h.update(JSON.stringify(snap.header.params.map((p) => [p.name, p.step])));
  for (const [name, t] of [...snap.tensors].sort(([a], [b]) => (a < b ? -1 : 1))) {
    h.update(name);
    h.update(t.data);
    tensors.set(name, t.data);
  }
  return { step: Number(snap.header.modelStep), hash: h.digest('hex'), tensors };
}

/** Newest complete checkpoint on disk (manifest in place), read independently of the server. */
async function newestOnDisk(dir: string): Promise<{ modelStep: number; tensors: Map<string, Buffer> } | null> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.manifest.json')).sort();
  if (names.length === 0) return null;
  const m = JSON.parse(await readFile(join(dir, names[names.length - 1]), 'utf8')) as {
    body: { file: string; modelStep: number };
  };
  const path = join(dir, m.body.file);
  const header = await readSafetensorsHeader(path);
  const tensors = new Map<string, Buffer[]>();
  for await (const d of readSafetensorsData(path, header, 1 << 20)) {
    const name = header.entries[d.tensor].name;
    tensors.set(name, [...(tensors.get(name) ?? []), Buffer.from(d.data)]);
  }
  return { modelStep: m.body.modelStep, tensors: new Map([...tensors].map(([k, v]) => [k, Buffer.concat(v)])) };
}

const PARTIAL = (names: string[]) =>
  names.filter(
    (n) =>
      n.endsWith('.tmp') ||
      (n.endsWith('.safetensors') && !names.includes(n.replace('.safetensors', '.manifest.json'))),
  );

describe('crash: SIGKILL at random moments, restart, resync, train on', function () {
  this.timeout(600_000);
  let dir: string;
  let server: Server | null = null;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qstep-crash-'));
  });
  after(async () => {
    if (server && server.proc.exitCode === null) server.proc.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it(`${KILLS} kills: each restart equals its newest complete checkpoint, nothing partial, at most 2N steps lost`, async () => {
    const modelDir = join(dir, 'crash');
    const seen = new Map<number, string>(); // model step -> digest the client saw
    let clientStep = 0; // the model step this client last saw applied
    let interrupted = 0; // kills that left an interrupted write behind
    let resyncs = 0;
    let maxLost = 0;
    let kills = 0;

    server = await serve(dir);
    let client = connect(server.address);
    await client.createModel({
      name: 'crash',
      parameters: [
        { name: 'w', shape: [N_W], dtype: 'fp32' },
        { name: 'v', shape: [N_V], dtype: 'fp32' },
      ],
      optimizer: { name: 'adamw', lr: 1e-3, optimBits: 8, min8bitSize: 4096, weightDecay: 0.01 },
      overrides: { v: { lr: 5e-3 } },
    });
    const init = gradsFor(0);
    await client.uploadParameters('crash', { w: init.w.map((x) => x * 10), v: init.v.map((x) => x * 10) });
    seen.set(0, (await digest(client)).hash);
    await client.checkpoint('crash'); // the model exists on disk from step 0 on

    // KILLS rounds; if none of the kills at a write's start left an interrupted write behind (the write won the
    // race every time), up to 10 more rounds until one does.
    for (let round = 0; round < KILLS || (interrupted === 0 && round < KILLS + 10); round++) {
      // Train until the server dies under us.
      let stop = false;
      let trained = false;
      const train = (async () => {
        while (!stop) {
          const s = clientStep + 1;
          try {
            const r = await client.step('crash', gradsFor(s), {
              workerId: 'w',
              stepId: s,
              expectedModelStep: clientStep,
            });
            clientStep = r.modelStep;
            const d = await digest(client);
            if (d.step === clientStep) {
              const prev = seen.get(d.step);
              if (prev !== undefined)
                expect(d.hash, `digest of step ${d.step} differs from the one seen before`).to.equal(prev);
              seen.set(d.step, d.hash);
            }
          } catch (err) {
            if (err instanceof QstepError && err.code === Status.FAILED_PRECONDITION) throw err;
            return; // the server is gone
          }
        }
      })().finally(() => {
        trained = true;
      });
      const srv = server;
      const atWrite = round % 2 === 1;
      if (atWrite) {
        // Kill the moment the server logs that a checkpoint's copy is taken and its write begins: from the log
        // line's handler, not a poll, so that a busy event loop here does not let the write finish first.
        await new Promise<void>((resolve) => {
          onCheckpointWrite = () => {
            srv.proc.kill('SIGKILL');
            resolve();
          };
          void train.then(() => resolve());
        });
        onCheckpointWrite = null;
      } else {
        // At a random moment once this round has trained past a checkpoint interval.
        const from = clientStep;
        while (clientStep - from <= EVERY && !trained) await new Promise((r) => setTimeout(r, 2));
        await new Promise((r) => setTimeout(r, Math.random() * 500));
      }
      srv.proc.kill('SIGKILL');
      kills++;
      await srv.exited;
      stop = true;
      await train;
      client.close();

      const before = (await readdir(modelDir)).sort();
      if (PARTIAL(before).length > 0) interrupted++;
      const disk = await newestOnDisk(modelDir);
      expect(disk, 'a checkpoint exists').to.not.equal(null);

      server = await serve(dir);
      client = connect(server.address);
      const after = (await readdir(modelDir)).sort();
      expect(PARTIAL(after), `round ${round}: partial files after the restart (${after.join(', ')})`).to.deep.equal([]);
      const now = await digest(client);
      expect(now.step, `round ${round}: model step after the restart`).to.equal(disk!.modelStep);
      expect([...now.tensors.keys()]).to.have.members([...disk!.tensors.keys()]);
      for (const [name, data] of now.tensors) {
        expect(data.equals(disk!.tensors.get(name)!), `round ${round}: ${name} differs from the checkpoint`).to.equal(
          true,
        );
      }
      const sawIt = seen.get(now.step);
      if (sawIt !== undefined)
        expect(now.hash, `round ${round}: state at step ${now.step} differs from before the crash`).to.equal(sawIt);
      // -1: the kill took the reply of a step whose checkpoint was already complete; the worker resyncs forward.
      const lost = clientStep - now.step;
      expect(lost, `round ${round}: lost ${lost} steps`)
        .to.be.at.most(2 * EVERY)
        .and.at.least(-1);
      maxLost = Math.max(maxLost, lost);

      // The worker is still at its own step: the server refuses it with its own, and the worker resyncs.
      if (clientStep !== now.step) {
        const err = await client
          .step('crash', gradsFor(clientStep + 1), {
            workerId: 'w',
            stepId: clientStep + 1,
            expectedModelStep: clientStep,
          })
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(serverModelStep(err), `round ${round}: the refusal names the server's step`).to.equal(now.step);
        const r = await client.resync('crash');
        expect(r.modelStep).to.equal(now.step);
        expect(r.weights.get('w')!.equals(now.tensors.get('w')!)).to.equal(true);
        clientStep = r.modelStep;
        resyncs++;
      }
    }
    // Training went on past the crashes and is still consistent.
    const r = await client.step('crash', gradsFor(clientStep + 1), {
      workerId: 'w',
      stepId: clientStep + 1,
      expectedModelStep: clientStep,
    });
    expect(r.modelStep).to.equal(clientStep + 1);
    client.close();
    server.proc.kill('SIGTERM');
    await server.exited;
    process.stdout.write(
      `      ${kills} kills, ${interrupted} during a checkpoint write, ${resyncs} resyncs, ` +
        `at most ${maxLost} steps lost (bound ${2 * EVERY}), final model step ${r.modelStep}\n`,
    );
    expect(interrupted, 'some kills landed during a checkpoint write').to.be.above(0);
  });
});
