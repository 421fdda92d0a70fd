// `qstep serve` in a child process, for the tests and benchmarks that need a real process (signals, SIGKILL, the
// CLI, restart timing): spawns it on loopback, collects its JSON log lines and resolves once it logs "serving".

import { execFile, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'qstep.js');

export interface ServeProcess {
  proc: ChildProcessWithoutNullStreams;
  /** host:port from the "serving" line. */
  address: string;
  /** Every JSON log line so far (the array keeps growing while the process runs). */
  lines: Record<string, unknown>[];
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** Resolves when its stdout closes: the server itself is gone even when `proc` was a launcher (npx). */
  closed: Promise<void>;
  /** performance.now() at spawn and at the "serving" line. */
  spawnedAt: number;
  servingAt: number;
}

export interface ServeOptions {
  /** The program to run; default Node with bin/qstep.js ahead of `args`. */
  command?: string;
  /** Called with each JSON log line as it arrives. */
  onLine?: (rec: Record<string, unknown>) => void;
  /** Pass the server's stderr through to ours (benchmarks); else it is kept for the error message. */
  inheritStderr?: boolean;
}

/** Starts `qstep serve ...args` (args begin after `serve`); rejects with its stderr if it exits before serving. */
export function spawnServe(args: string[], o: ServeOptions = {}): Promise<ServeProcess> {
  const spawnedAt = performance.now();
  const [cmd, argv] = o.command ? [o.command, args] : [process.execPath, [BIN, 'serve', ...args]];
  const proc = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, QSTEP_HOST: '127.0.0.1' } });
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const closed = new Promise<void>((r) => proc.stdout.on('close', () => r()));
  let text = '';
  let err = '';
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      let nl: number;
      while ((nl = text.indexOf('\n')) >= 0) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        const rec = JSON.parse(line) as Record<string, unknown>;
        lines.push(rec);
        o.onLine?.(rec);
        if (rec.msg === 'serving') {
          resolve({
            proc,
            address: String(rec.address),
            lines,
            exited,
            closed,
            spawnedAt,
            servingAt: performance.now(),
          });
        }
      }
    });
    proc.stderr.on('data', (d: Buffer) => (o.inheritStderr ? process.stderr.write(d) : (err += d.toString())));
    proc.on('error', reject);
    void closed.then(() => reject(new Error(`qstep serve ended before serving: ${(err || text).slice(-2000)}`)));
  });
}

export interface CliRun {
  /** The exit status; 1 where the process was killed (timeout) or could not start. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `qstep ARGS` to its end (a client command, not `serve`): exit status and everything it printed. */
export function runQstep(
  args: string[],
  o: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, timeout: o.timeoutMs ?? 60_000, maxBuffer: 256 * 1024 * 1024, env: { ...process.env, ...o.env } },
      (err, stdout, stderr) => {
        const status = (err as { code?: unknown } | null)?.code;
        resolve({ code: err ? (typeof status === 'number' ? status : 1) : 0, stdout, stderr });
      },
    );
  });
}
