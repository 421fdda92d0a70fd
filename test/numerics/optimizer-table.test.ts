// One betas count and one list of applicable fields per optimizer, everywhere: the proto comment of
// Hyperparameters.betas, ServerInfo's capabilities, and validation (through a real server) must all say what the
// optimizer table says. The .proto file is parsed here, so that a comment edited out of step fails this test.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { QstepError } from '../../client';
import { OPTIMIZER_TABLE } from '../../native/lib/optimizers';
import { CONFIG_KEYS } from '../../native/lib/vocab';
import { protoFieldName } from '../../proto/convert';
import { startHarness, type Harness } from '../service/helpers';

/** The betas count per optimizer, as the comment above `repeated double betas` in common.proto states it. */
function protoBetaCounts(): Map<string, number> {
  const text = readFileSync(join(__dirname, '../../proto/qstep/v1/common.proto'), 'utf8');
  const msg = /message Hyperparameters \{([\s\S]*?)\n\}/.exec(text);
  if (!msg) throw new Error('common.proto: no Hyperparameters message');
  const lines = msg[1].split('\n');
  const at = lines.findIndex((l) => /repeated double betas = /.test(l));
  const out = new Map<string, number>();
  for (let i = at - 1; i >= 0 && /^\s*\/\//.test(lines[i]); --i) {
    const m = /^\s*\/\/\s+([a-z, ]+): (\d+) \(/.exec(lines[i]);
    if (m) for (const name of m[1].split(',')) out.set(name.trim(), Number(m[2]));
  }
  return out;
}

describe('optimizer table: proto comments, ServerInfo and validation agree', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it("the proto comment states every optimizer's betas count as the table does", () => {
    const counts = protoBetaCounts();
    expect([...counts.keys()].sort()).to.deep.equal(OPTIMIZER_TABLE.map((r) => r.name).sort());
    for (const row of OPTIMIZER_TABLE) expect(counts.get(row.name), row.name).to.equal(row.betas.length);
  });

  it("ServerInfo lists the table's betas, applicable fields and defaults; validation refuses the rest", async () => {
    const info = await h.client.serverInfo();
    const caps = info.capabilities!.optimizers;
    const counts = protoBetaCounts();
    expect(caps.map((c) => c.optimizer)).to.have.length(OPTIMIZER_TABLE.length);
    for (const row of OPTIMIZER_TABLE) {
      const cap = caps.find((c) => c.optimizer === `OPTIMIZER_${row.name.toUpperCase()}`)!;
      expect(cap, row.name).to.exist;
      expect(cap.betas, `${row.name} betas`).to.deep.equal([...row.betas]);
      expect(cap.betas.length, `${row.name}: ServerInfo vs proto comment`).to.equal(counts.get(row.name));
      expect(cap.defaults!.betas, `${row.name} default betas`).to.have.length(row.betas.length);
      const refused = Object.keys(row.refuses).map(protoFieldName);
      expect(cap.fields.sort()).to.deep.equal(
        CONFIG_KEYS.map(protoFieldName)
          .filter((f) => !refused.includes(f))
          .sort(),
      );
      for (const f of refused) {
        const d = cap.defaults as unknown as Record<string, unknown>;
        expect(
          d[f] === null || d[f] === undefined || (Array.isArray(d[f]) && d[f].length === 0),
          `${row.name}: ServerInfo shows a default for ${f}, which it refuses`,
        ).to.equal(true);
      }
      // Validation through the wire: the listed count is accepted, one more is refused naming betas.
      const betas = [0.5, 0.9, 0.99].slice(0, row.betas.length);
      const name = `t-${row.name}`;
      await h.client.createModel({
        name,
        parameters: [{ name: 'w', shape: [16], dtype: 'fp32' }],
        optimizer: { name: row.name, betas },
      });
      await h.client.deleteModel(name);
      const bad = await h.client
        .createModel({
          name,
          parameters: [{ name: 'w', shape: [16], dtype: 'fp32' }],
          optimizer: { name: row.name, betas: [...betas, 0.5] },
        })
        .catch((e: QstepError) => e);
      expect((bad as QstepError).codeName, row.name).to.equal('INVALID_ARGUMENT');
      expect((bad as QstepError).details).to.contain('betas');
      for (const [key, instead] of Object.entries(row.refuses)) {
        if (key === 'betas') continue;
        const e = await h.client
          .createModel({
            name,
            parameters: [{ name: 'w', shape: [16], dtype: 'fp32' }],
            optimizer: { name: row.name, [key]: key === 'zeroVGuard' ? true : 0.5 },
          })
          .catch((x: QstepError) => x);
        expect((e as QstepError).codeName, `${row.name}.${key}`).to.equal('INVALID_ARGUMENT');
        expect((e as QstepError).details)
          .to.contain(`${key} does not apply to ${row.name}`)
          .and.to.contain(instead);
      }
      expect((await h.client.listModels()).map((m) => m.name)).to.not.include(name);
    }
  });
});
