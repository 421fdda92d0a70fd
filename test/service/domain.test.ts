// Unit tests of the service's domain pieces: range tracking, the staging budget, the step ledger, the serial
// queue, and the safetensors writer/reader.

import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Status } from '@grpc/grpc-js';
import { RangeSet } from '../../server/domain/range-set';
import { SerialQueue } from '../../server/domain/serial-queue';
import { StagingBudget } from '../../server/domain/staging-budget';
import { StepLedger } from '../../server/domain/step-ledger';
import { ServiceError } from '../../server/errors';
import { SafetensorsWriter, encodeHeader, readSafetensorsData, readSafetensorsHeader } from '../../proto/safetensors';
import type { StepResult } from '../../proto';
import { sleep } from './helpers';

describe('service domain: RangeSet', () => {
  it('tracks disjoint ranges in any order and refuses overlaps', () => {
    const r = new RangeSet();
    const n = 1000;
    const cuts = Array.from({ length: 50 }, (_, i) => i * 20).sort(() => Math.random() - 0.5);
    for (const c of cuts) expect(r.insertDisjoint(c, c + 20)).to.equal(true);
    expect(r.isComplete(n)).to.equal(true);
    expect(r.insertDisjoint(999, 1000)).to.equal(false);
    const s = new RangeSet();
    s.insertDisjoint(10, 20);
    expect(s.insertDisjoint(19, 25)).to.equal(false);
    expect(s.insertDisjoint(5, 11)).to.equal(false);
    expect(s.insertDisjoint(0, 10)).to.equal(true);
    expect(s.insertDisjoint(20, 30)).to.equal(true);
    expect(s.covered).to.equal(30);
    expect(s.firstGap(40)).to.equal(30);
    expect(s.isComplete(30)).to.equal(true);
  });

  it('unions overlapping ranges', () => {
    const r = new RangeSet();
    r.union(50, 60);
    r.union(0, 10);
    r.union(5, 55);
    expect(r.covered).to.equal(60);
    expect(r.isComplete(60)).to.equal(true);
    r.union(70, 80);
    expect(r.firstGap(100)).to.equal(60);
  });

  it('agrees with a bitmap on random inserts', () => {
    for (let trial = 0; trial < 20; trial++) {
      const n = 300;
      const bits = new Uint8Array(n);
      const r = new RangeSet();
      for (let k = 0; k < 60; k++) {
        const a = Math.floor(Math.random() * n);
        const b = Math.min(n, a + 1 + Math.floor(Math.random() * 20));
        const overlap = bits.subarray(a, b).some((x) => x === 1);
        expect(r.insertDisjoint(a, b)).to.equal(!overlap);
        if (!overlap) bits.fill(1, a, b);
      }
      expect(r.covered).to.equal(bits.reduce((s, x) => s + x, 0));
    }
  });
});

describe('service domain: StagingBudget', () => {
  const never = new AbortController().signal;

  it('grants in FIFO order and refuses what can never fit', async () => {
    const b = new StagingBudget(100, 1000);
    const a = await b.acquire(60, never);
    const order: string[] = [];
    const big = b.acquire(70, never).then((l) => (order.push('big'), l));
    const small = b.acquire(10, never).then((l) => (order.push('small'), l));
    await sleep(10);
    expect(order).to.deep.equal([]); // small waits behind big even though it would fit
    a.release();
    const [lb, ls] = await Promise.all([big, small]);
    expect(order).to.deep.equal(['big', 'small']);
    expect(b.inUse).to.equal(80);
    lb.shrink(30);
    expect(b.inUse).to.equal(50);
    lb.release();
    lb.release();
    ls.release();
    expect(b.inUse).to.equal(0);
    const err = await b.acquire(101, never).catch((e: ServiceError) => e);
    expect((err as ServiceError).code).to.equal(Status.RESOURCE_EXHAUSTED);
  });

  it('gives up after waitMs and on abort, leaving nothing held', async () => {
    const b = new StagingBudget(100, 50);
    const held = await b.acquire(90, never);
    const t = await b.acquire(20, never).catch((e: ServiceError) => e);
    expect((t as ServiceError).code).to.equal(Status.RESOURCE_EXHAUSTED);
    const ac = new AbortController();
    const p = b.acquire(20, ac.signal).catch((e: ServiceError) => e);
    ac.abort();
    expect(((await p) as ServiceError).code).to.equal(Status.CANCELLED);
    held.release();
    expect(b.inUse).to.equal(0);
    const ok = await b.acquire(100, never);
    ok.release();
  });
});

describe('service domain: StepLedger', () => {
  const result = (s: number): StepResult => ({ model: 'm', modelStep: s });

  it('replays recorded ids, calls evicted ones stale, ignores step id 0', () => {
    const l = new StepLedger(3);
    for (let i = 1n; i <= 5n; i++) l.record('a', i, result(Number(i)));
    l.record('b', 1n, result(6));
    expect(l.lookup('a', 5n)).to.deep.equal({ kind: 'recorded', result: result(5) });
    expect(l.lookup('a', 2n)).to.deep.equal({ kind: 'stale', watermark: 3n });
    expect(l.lookup('a', 6n).kind).to.equal('new');
    expect(l.lookup('b', 1n).kind).to.equal('recorded');
    expect(l.lookup('c', 1n).kind).to.equal('new');
    l.record('a', 0n, result(7));
    expect(l.lookup('a', 0n).kind).to.equal('new');
    l.clear();
    expect(l.lookup('a', 5n).kind).to.equal('new');
    expect(l.lookup('a', 2n).kind).to.equal('new');
  });

  it('keeps full uint64 ids apart and round-trips them through plain data', () => {
    const max = 2n ** 64n - 1n;
    const l = new StepLedger(2);
    l.record('w', max - 1n, result(1));
    l.record('w', max, result(2));
    expect(l.lookup('w', max)).to.deep.equal({ kind: 'recorded', result: result(2) });
    expect(l.lookup('w', max - 1n)).to.deep.equal({ kind: 'recorded', result: result(1) });
    // 2^64-1 and 2^64-2 round to the same double: a number-keyed ledger would confuse them.
    expect(Number(max)).to.equal(Number(max - 1n));
    const copy = new StepLedger(2);
    copy.load(JSON.parse(JSON.stringify(l.toData())));
    expect(copy.lookup('w', max)).to.deep.equal({ kind: 'recorded', result: result(2) });
    expect(copy.lookup('w', max - 2n).kind).to.equal('new');
  });
});

describe('service domain: SerialQueue', () => {
  it('runs jobs one at a time in order; a failure does not stop the next', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    let running = 0;
    const job = (name: string, fail = false) =>
      q.run(async () => {
        running++;
        expect(running).to.equal(1);
        log.push(`start ${name}`);
        await sleep(Math.random() * 5);
        log.push(`end ${name}`);
        running--;
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([job('a'), job('b', true), job('c')]);
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect(log).to.deep.equal(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    await sleep(1);
    expect(q.depth).to.equal(0);
  });
});

describe('client: safetensors', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'qstep-st-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes in chunks and reads back the same bytes, header and metadata', async () => {
    const a = Buffer.from(new Float32Array(Array.from({ length: 1000 }, () => Math.random())).buffer);
    const b = Buffer.from(Uint8Array.from({ length: 333 }, () => Math.floor(Math.random() * 256)));
    const entries = [
      { name: 'layer.weight', dtype: 'F32', shape: [10, 100], byteLength: a.length },
      { name: 'empty', dtype: 'BF16', shape: [0], byteLength: 0 },
      { name: '__state__/layer.weight/state1', dtype: 'U8', shape: [333], byteLength: b.length },
    ];
    const path = join(dir, 'x.safetensors');
    const w = await SafetensorsWriter.create(path, entries, { format: 'test', n: '1' });
    for (let at = 0; at < a.length; at += 1000) await w.write(0, at, a.subarray(at, at + 1000));
    await w.write(2, 0, b.subarray(0, 100));
    await w.write(2, 100, b.subarray(100));
    await w.close();
    const raw = readFileSync(path);
    const len = Number(raw.readBigUInt64LE(0));
    expect(len % 8).to.equal(0);
    const h = await readSafetensorsHeader(path);
    expect(h.metadata).to.deep.equal({ format: 'test', n: '1' });
    expect(h.entries.map((e) => [e.name, e.dtype, e.shape, e.byteLength])).to.deep.equal(
      entries.map((e) => [e.name, e.dtype, e.shape, e.byteLength]),
    );
    const got = new Map<number, Buffer[]>();
    for await (const d of readSafetensorsData(path, h, 777)) {
      const list = got.get(d.tensor) ?? [];
      list.push(d.data);
      got.set(d.tensor, list);
    }
    expect(Buffer.concat(got.get(0)!).equals(a)).to.equal(true);
    expect(got.has(1)).to.equal(false);
    expect(Buffer.concat(got.get(2)!).equals(b)).to.equal(true);
  });

  it('refuses out-of-order writes, incomplete files and corrupt headers', async () => {
    const path = join(dir, 'y.safetensors');
    const w = await SafetensorsWriter.create(path, [{ name: 't', dtype: 'F32', shape: [4], byteLength: 16 }], {});
    const e1 = await w.write(0, 4, Buffer.alloc(4)).catch((e: Error) => e);
    expect(e1).to.be.instanceOf(Error);
    await w.write(0, 0, Buffer.alloc(8));
    const e2 = await w.close().catch((e: Error) => e);
    expect(e2).to.be.instanceOf(Error);
    expect(() => encodeHeader([{ name: 't', dtype: 'F32', shape: [3], byteLength: 16 }], {})).to.throw(/shape/);
    writeFileSync(
      path,
      Buffer.concat([encodeHeader([{ name: 't', dtype: 'F32', shape: [4], byteLength: 16 }], {}), Buffer.alloc(8)]),
    );
    const e3 = await readSafetensorsHeader(path).catch((e: Error) => e);
    expect(String(e3)).to.match(/data section/);
  });
});
