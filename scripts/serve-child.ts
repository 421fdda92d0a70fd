// A `qstep serve` child process for scripts that watch the server from outside (its RSS in /proc, its log lines):
// started on an ephemeral port, its address read from its 'serving' log line.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface ServeChild {
  address: string;
  pid: number;
  /** The 'serving' log line (memory limit, staging budget). */
  serving: Record<string, unknown>;
  /** Every 'rpc' log line so far. */
  rpcLines: Record<string, unknown>[];
  /** Log lines at level error (50) or above other than rpc outcomes. */
  errorLines: Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startServeChild(flags: string[] = []): Promise<ServeChild> {
  const child: ChildProcess = spawn(
    process.execPath,
    [join(__dirname, '..', 'bin', 'qstep.js'), 'serve', '--port', '0', '--metrics-port', '-1', ...flags],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const rpcLines: Record<string, unknown>[] = [];
  const errorLines: Record<string, unknown>[] = [];
  const serving = await new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`qstep serve exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (j.msg === 'serving') resolve(j);
      else if (j.msg === 'rpc') rpcLines.push(j);
      else if (typeof j.level === 'number' && j.level >= 50) errorLines.push(j);
    });
  });
  return {
    address: serving.address as string,
    pid: child.pid as number,
    serving,
    rpcLines,
    errorLines,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Resident and peak resident bytes of a process (Linux /proc). */
export function procMemory(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number((new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(s) ?? [0, 0])[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}
