// Measuring helpers shared by the service benchmarks: medians, and CPU time of this process and of a server child.

import { readFileSync } from 'node:fs';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * CPU milliseconds used so far by this process and by the server process (user + system): on a machine shared
 * with other work, wall time says how busy the machine was; CPU time per round says what a path costs.
 */
export function cpuNow(serverPid: number | undefined): { client: number; server: number } {
  const c = process.cpuUsage();
  let server = NaN;
  try {
    // /proc/PID/stat: fields 14 and 15 (utime, stime) in clock ticks (100 per second on Linux), after the ")".
    const f = readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(')')[1].trim().split(' ');
    server = (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    // not Linux: client CPU only
  }
  return { client: (c.user + c.system) / 1000, server };
}
