// scripts/bnb-to-qstep.py: a bitsandbytes optimizer state_dict (docs/math.md §15) in, a qstep snapshot file out, restored
// bit for bit. No bitsandbytes is installed here, so the checkpoints are built with torch in bnb's layout (15.1)
// from the state of real qstep models: tensors under bnb's names and shapes (state1 in the parameter's shape,
// (2, *shape) for AdEMAMix; unorm_vec, gnorm_vec; new_max1 for the static mode), the flat layout for some
// parameters and the 0.49.2+ nested "__bnb_optimizer_quant_state__" one for others, `step` as an int or a tensor,
// two param groups. After conversion and restore, each model's weights, raw state and step counters equal the
// original's byte for byte, and the next step gives the same weights.

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSpec } from '../../client';
import { restoreSnapshotFile, writeSnapshotFile } from '../../client';
import { fingerprint, randomF32, startHarness } from '../service/helpers';
import type { Harness } from '../service/helpers';
import { PYTHON } from './torch-process';

const ROOT = join(__dirname, '..', '..');

/** Builds a bnb-layout optimizer state_dict .pt from a qstep snapshot file (state tensors only). */
const MAKE_BNB = `
import json, struct, sys, torch
src, dst, optimizer = sys.argv[1], sys.argv[2], sys.argv[3]
with open(src, 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]
    header = json.loads(f.read(n))
    base = 8 + n
    raw = f.read()
md = header.pop('__metadata__')
params = json.loads(md['params'])
roles = json.loads(md['tensors'])
types = {'F32': torch.float32, 'U8': torch.uint8}
bnb_name = {'unorm': 'unorm_vec', 'gnorm_hist': 'gnorm_vec'}
rows = 2 if optimizer == 'ademamix' else 1
state = {}
for i, p in enumerate(params):
    entry = {}
    for name, e in header.items():
        r = roles[name]
        if r['param'] != p['name'] or r['role'] != 'state':
            continue
        a, b = e['data_offsets']
        t = torch.frombuffer(bytearray(raw[a:b]), dtype=types[e['dtype']]).clone()
        key = r['state_key']
        if key == 'state1':
            t = t.reshape([2] + p['shape'] if rows == 2 else p['shape'])
        elif key == 'state2':
            t = t.reshape(p['shape'])
        elif key.startswith('absmax'):
            t = t.reshape(e['shape'])
        entry[bnb_name.get(key, key)] = t
        if key == 'max1':
            entry['new_max1'] = t.clone() * 2  # recomputed every step by bnb; the converter drops it
    quant = {k: entry.pop(k) for k in list(entry)} if i % 2 == 0 else None
    step = p['step'] if i % 2 == 0 else torch.tensor(float(p['step']))
    state[i] = {'step': step, '__bnb_optimizer_quant_state__': quant} if quant is not None else {'step': step, **entry}
groups = [{'lr': 1e-3, 'params': [0]}]
if len(params) > 1:
    groups.append({'lr': 1e-3, 'params': list(range(1, len(params)))})
torch.save({'optimizer': {'state': state, 'param_groups': groups}, 'epoch': 3}, dst)
`;

const CASES: { spec: ModelSpec; mode: string[] }[] = [
  {
    spec: {
      name: 'adamw8',
      optimizer: {
        name: 'adamw',
        lr: 1e-2,
        optimBits: 8,
        min8bitSize: 1024,
        percentileClipping: 50,
        weightDecay: 0.01,
      },
      parameters: [
        { name: 'w', shape: [60, 100], dtype: 'fp32' },
        { name: 'b', shape: [300], dtype: 'fp32' },
      ],
    },
    mode: ['STATE_MODE_BLOCKWISE8', 'STATE_MODE_FP32'],
  },
  {
    spec: {
      name: 'lamb32',
      optimizer: { name: 'lamb', lr: 1e-2, maxUnorm: 1 },
      parameters: [{ name: 'x', shape: [40, 50], dtype: 'fp32' }],
    },
    mode: ['STATE_MODE_FP32'],
  },
  {
    spec: {
      name: 'mix8',
      optimizer: { name: 'ademamix', lr: 1e-2, optimBits: 8, min8bitSize: 1024 },
      parameters: [
        { name: 'y', shape: [3000], dtype: 'fp32' },
        { name: 'y2', shape: [50, 41], dtype: 'fp32' },
      ],
    },
    mode: ['STATE_MODE_BLOCKWISE8', 'STATE_MODE_BLOCKWISE8'],
  },
  {
    spec: {
      name: 'old2048',
      optimizer: { name: 'adam', lr: 1e-2, optimBits: 8, blockSize: 2048, min8bitSize: 1024 },
      parameters: [{ name: 'z', shape: [5000], dtype: 'fp32' }],
    },
    mode: ['STATE_MODE_BLOCKWISE8'],
  },
  {
    spec: {
      name: 'lion-static',
      optimizer: { name: 'lion', lr: 1e-3, optimBits: 8, blockWise: false, min8bitSize: 1024 },
      parameters: [{ name: 'u', shape: [4096], dtype: 'fp32' }],
    },
    mode: ['STATE_MODE_STATIC8'],
  },
];

function grads(spec: ModelSpec): Record<string, Float32Array> {
  return Object.fromEntries(
    spec.parameters.map((p) => [
      p.name,
      randomF32(
        p.shape.reduce((a, b) => a * b, 1),
        0.1,
      ),
    ]),
  );
}

describe('bitsandbytes state_dict import (scripts/bnb-to-qstep.py, docs/math.md §15)', function () {
  this.timeout(120_000);
  let h: Harness;
  let dir: string;

  before(async () => {
    h = await startHarness();
    dir = mkdtempSync(join(tmpdir(), 'qstep-bnb-'));
  });
  after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const { spec, mode } of CASES) {
    it(`${spec.optimizer.name} ${mode.join('+')}: converted, restored bit for bit, the next step identical`, async () => {
      await h.client.createModel(spec);
      await h.client.uploadParameters(spec.name, grads(spec));
      for (let t = 0; t < 3; t++) await h.client.step(spec.name, grads(spec));
      const desc = (await h.client.describe(spec.name)).models[0];
      expect(desc.params.map((p) => p.stateMode)).to.deep.equal(mode);
      const want = await fingerprint(h.client, spec.name);

      const snapFile = join(dir, `${spec.name}.safetensors`);
      await writeSnapshotFile(h.client, spec.name, snapFile, { state: 'raw' });
      const pt = join(dir, `${spec.name}.pt`);
      const made = spawnSync(PYTHON, ['-c', MAKE_BNB, snapFile, pt, spec.optimizer.name], { encoding: 'utf8' });
      expect(made.status, made.stderr).to.equal(0);
      const out = join(dir, `${spec.name}.qstep.safetensors`);
      const conv = spawnSync(
        PYTHON,
        [
          join(ROOT, 'scripts', 'bnb-to-qstep.py'),
          pt,
          out,
          '--key',
          'optimizer',
          '--model',
          `${spec.name}-copy`,
          '--optimizer',
          spec.optimizer.name,
          '--names',
          spec.parameters.map((p) => p.name).join(','),
        ],
        { encoding: 'utf8' },
      );
      expect(conv.status, conv.stderr).to.equal(0);

      // A fresh model with the same weights (a bnb optimizer checkpoint holds none), then the converted state.
      const copy = `${spec.name}-copy`;
      await h.client.createModel({ ...spec, name: copy });
      await h.client.restore(copy, await h.client.snapshot(spec.name, { weights: true, state: 'none' }));
      const restored = await restoreSnapshotFile(h.client, copy, out);
      expect(restored.params.sort()).to.deep.equal(spec.parameters.map((p) => p.name).sort());
      expect(await fingerprint(h.client, copy), 'weights, raw state and steps after the import').to.equal(want);

      const g = grads(spec);
      const a = await h.client.step(spec.name, g, { returnWeights: true });
      const b = await h.client.step(copy, g, { returnWeights: true });
      expect(b.params).to.deep.equal(a.params);
      for (const p of spec.parameters) {
        expect(Buffer.compare(b.weights.get(p.name)!.data, a.weights.get(p.name)!.data), p.name).to.equal(0);
      }
    });
  }

  it('refuses a state_dict whose parameter count does not match --names, and unknown state keys', () => {
    const pt = join(dir, 'bad.pt');
    const make = spawnSync(
      PYTHON,
      [
        '-c',
        `
import torch
torch.save({'state': {0: {'step': 1, 'state1': torch.zeros(8), 'weird': torch.zeros(1)}}, 'param_groups': [{'params': [0]}]}, '${pt}')
`,
      ],
      { encoding: 'utf8' },
    );
    expect(make.status, make.stderr).to.equal(0);
    const run = (names: string) =>
      spawnSync(
        PYTHON,
        [
          join(ROOT, 'scripts', 'bnb-to-qstep.py'),
          pt,
          join(dir, 'x.safetensors'),
          '--model',
          'm',
          '--optimizer',
          'adam',
          '--names',
          names,
        ],
        { encoding: 'utf8' },
      );
    const count = run('a,b');
    expect(count.status).to.equal(2);
    expect(count.stderr).to.match(/--names lists 2 parameters; param_groups hold 1/);
    const keys = run('a');
    expect(keys.status).to.equal(2);
    expect(keys.stderr).to.match(/keys qstep does not know: weird/);
  });
});
