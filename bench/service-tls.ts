// What TLS and tokens cost the service: the same Step (16M fp32 parameters in 8 tensors, Adam, weights returned)
// against two servers in one server process, one plaintext without tokens (the baseline) and one with TLS
// (optionally mutual) and bearer tokens, interleaved round by round so that load on the machine hits both alike.
// Certificates are made for the run with openssl (test/service/certs.ts).
//
//   npm run bench:service-tls [-- --steps 8 --params 16777216 --tensors 8 --chunk 1048576 --mtls]
//
// Prints a table and the ratio (TLS MiB/s / plaintext MiB/s); writes bench/results/service-tls.json.

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestPki } from '../test/service/certs';

const MIB = 1024 * 1024;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function strArg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : '';
}

/** Server role: a plaintext server and a TLS + token server in this process; prints both addresses. */
async function serve(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded in the role that needs it
  const { startServer } = require('../server/main') as typeof import('../server/main');
  const common = {
    host: '127.0.0.1',
    port: 0,
    metricsPort: -1,
    logLevel: process.env.QSTEP_BENCH_LOG ?? 'warn',
    stagingBudgetBytes: 4096 * MIB,
  };
  const plain = await startServer(common);
  const secure = await startServer({
    ...common,
    tlsCert: strArg('cert'),
    tlsKey: strArg('key'),
    tlsClientCa: strArg('client-ca'),
    authTokens: strArg('tokens'),
  });
  process.stdout.write(`${JSON.stringify({ plain: plain.address, tls: secure.address })}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

function randomTensor(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() - 0.5) * 0.01;
  return a;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const params = arg('params', 16 * MIB);
  const nTensors = arg('tensors', 8);
  const steps = arg('steps', 8);
  const warmup = arg('warmup', 2);
  const chunk = arg('chunk', MIB);
  const mtls = process.argv.includes('--mtls');
  const per = Math.floor(params / nTensors);

  const pki = makeTestPki();
  const { formatTokenLine, hashToken, newToken } =
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded in the role that needs it
    require('../server/security/tokens') as typeof import('../server/security/tokens');
  const token = newToken();
  const tokens = join(pki.dir, 'tokens.txt');
  writeFileSync(
    tokens,
    `${formatTokenLine({ name: 'bench', role: 'trainer', namespace: '', hash: hashToken(token), maxModels: Infinity, maxBytes: Infinity })}\n`,
  );

  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      __filename,
      '--role',
      'server',
      '--cert',
      pki.serverA.cert,
      '--key',
      pki.serverA.key,
      '--client-ca',
      mtls ? pki.caA.cert : '',
      '--tokens',
      tokens,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const addresses = await new Promise<{ plain: string; tls: string }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('{"plain"')) resolve(JSON.parse(line));
        else process.stderr.write(`${line}\n`);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });

  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded in the role that needs it
  const { connect } = require('../client') as typeof import('../client');
  const plain = connect(addresses.plain, { maxChunkBytes: chunk });
  const tls = connect(addresses.tls, {
    maxChunkBytes: chunk,
    token,
    tls: {
      ca: pki.read(pki.caA.cert),
      serverName: 'localhost',
      ...(mtls ? { cert: pki.read(pki.clientA.cert), key: pki.read(pki.clientA.key) } : {}),
    },
  });
  try {
    const names = Array.from({ length: nTensors }, (_, i) => `layers.${i}.weight`);
    const init = new Map(names.map((n) => [n, randomTensor(per)]));
    for (const c of [plain, tls]) {
      await c.createModel({
        name: 'bench',
        parameters: names.map((name) => ({ name, shape: [per], dtype: 'fp32' as const })),
        optimizer: { name: 'adam', lr: 1e-3 },
      });
      await c.uploadParameters('bench', init);
    }
    // Two sets of fresh random gradients, alternated (never zeros).
    const gradSets = [0, 1].map(() => names.map(() => randomTensor(per)));
    const times: Record<'plain' | 'tls', number[]> = { plain: [], tls: [] };
    let stepId = 0;
    const stepOnce = async (c: typeof plain, grads: Float32Array[]): Promise<number> => {
      let back = 0;
      const t0 = performance.now();
      await c.step('bench', new Map(names.map((n, k) => [n, grads[k]])), {
        returnWeights: true,
        stepId: ++stepId,
        workerId: 'bench',
        onWeights: (_p: string, _d: string, _o: number, data: Buffer) => {
          back += data.length;
        },
      });
      const ms = performance.now() - t0;
      if (back !== per * nTensors * 4) throw new Error(`short weights: ${back}`);
      return ms;
    };
    for (let i = 0; i < warmup + steps; i++) {
      const grads = gradSets[i % 2];
      // Alternate which goes first, so that neither always runs on a warmer cache.
      const order: ('plain' | 'tls')[] = i % 2 ? ['tls', 'plain'] : ['plain', 'tls'];
      for (const k of order) {
        const ms = await stepOnce(k === 'plain' ? plain : tls, grads);
        if (i >= warmup) times[k].push(ms);
      }
    }
    const bytes = per * nTensors * 4 * 2; // gradient bytes in + weight bytes out
    const mibs = (k: keyof typeof times) => bytes / MIB / (median(times[k]) / 1000);
    const ratio = mibs('tls') / mibs('plain');
    const label = mtls ? 'mutual TLS + token' : 'TLS + token';
    const rows = [
      ['path', 'median ms', 'min ms', 'MiB/s total', 'vs plaintext'],
      [
        'Step, plaintext, no token',
        median(times.plain).toFixed(1),
        Math.min(...times.plain).toFixed(1),
        mibs('plain').toFixed(1),
        '1.000',
      ],
      [
        `Step, ${label}`,
        median(times.tls).toFixed(1),
        Math.min(...times.tls).toFixed(1),
        mibs('tls').toFixed(1),
        ratio.toFixed(3),
      ],
    ];
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    process.stdout.write(
      `\n${per * nTensors} fp32 parameters in ${nTensors} tensors (Adam, fp32 state, weights returned), ` +
        `${chunk} B chunks, ${steps} timed rounds after ${warmup} warm-up\n\n`,
    );
    for (const r of rows)
      process.stdout.write(`${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}\n`);
    process.stdout.write(`\nratio (${label} MiB/s / plaintext MiB/s): ${ratio.toFixed(3)}\n`);
    const result = {
      params: per * nTensors,
      tensors: nTensors,
      chunk_bytes: chunk,
      rounds: steps,
      mutual: mtls,
      plain_mib_s: Number(mibs('plain').toFixed(2)),
      tls_mib_s: Number(mibs('tls').toFixed(2)),
      ratio: Number(ratio.toFixed(4)),
      ms: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map((t) => Number(t.toFixed(1)))])),
      node: process.version,
    };
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'service-tls.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`wrote ${join(dir, 'service-tls.json')}\n`);
  } finally {
    plain.close();
    tls.close();
    child.stdin.end();
    pki.remove();
  }
}

const role = process.argv.includes('--role') ? process.argv[process.argv.indexOf('--role') + 1] : 'client';
(role === 'server' ? serve() : main()).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
