// Polls files' modification times and sizes and calls back when any changed: for mounts such as Kubernetes
// Secrets and compose secrets, which replace files without sending a signal. Polling (not fs.watch) because a
// Secret update swaps a symlink, which inotify on the file itself does not see; stat() follows the link.

import { stat } from 'node:fs/promises';

/** Starts polling `paths` every `ms` (> 0); `onChange` runs at most once at a time. Returns a stop function. */
export function pollFiles(paths: string[], ms: number, onChange: () => Promise<void>): () => void {
  const stamp = async () =>
    (
      await Promise.all(
        paths.map((p) =>
          stat(p).then(
            (s) => `${s.mtimeMs}:${s.size}:${s.ino}`,
            () => 'missing',
          ),
        ),
      )
    ).join(',');
  let last: string | null = null;
  let busy = false;
  stamp().then(
    (s) => (last ??= s),
    () => undefined,
  );
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    stamp()
      .then(async (s) => {
        if (last === null || s === last) {
          last ??= s;
          return;
        }
        last = s;
        await onChange();
      })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, ms);
  timer.unref();
  return () => clearInterval(timer);
}
