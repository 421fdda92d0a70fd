// Human-readable output for the CLI: byte sizes and aligned tables.

import type { DescribeResponse__Output, ModelDescription__Output, ServerInfoResponse__Output } from '../proto';
import { dtypes, optimizers, stateModes } from '../proto/convert';

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function table(head: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (rightAlign[i] ? (c ?? '').padStart(widths[i]) : (c ?? '').padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatStats(model: ModelDescription__Output, totals: DescribeResponse__Output['totals']): string {
  const opt = optimizers.decode(model.optimizer?.optimizer) ?? '?';
  const out: string[] = [];
  out.push(
    `model ${model.name}: ${opt}, ${model.paramCount || model.params.length} parameters, ` +
      `${model.ready ? 'ready' : 'NOT READY (values missing)'}, model step ${model.modelStep}, ` +
      `${model.queuedOperations} queued operations`,
  );
  const right = [false, false, false, false, true, true, true, true, true, true];
  const rows = model.params.map((p) => [
    p.name,
    JSON.stringify(p.shape),
    dtypes.decode(p.dtype) ?? '?',
    (stateModes.decode(p.stateMode) ?? '?') + (p.blockSize ? `/${p.blockSize}` : ''),
    String(p.step),
    bytes(p.memory?.parameters ?? 0),
    bytes(p.memory?.state ?? 0),
    bytes((p.memory?.scales ?? 0) + (p.memory?.maps ?? 0)),
    bytes(p.memory?.fp32StateEquivalent ?? 0),
    p.uploaded ? 'yes' : `${p.uploadedElements}/${p.numel}`,
  ]);
  const m = model.memory;
  rows.push([
    'total',
    '',
    '',
    '',
    '',
    bytes(m?.parameters ?? 0),
    bytes(m?.state ?? 0),
    bytes((m?.scales ?? 0) + (m?.maps ?? 0)),
    bytes(m?.fp32StateEquivalent ?? 0),
    '',
  ]);
  out.push(
    table(
      ['param', 'shape', 'dtype', 'state mode', 'step', 'values', 'state', 'scales+maps', 'fp32 state', 'uploaded'],
      rows,
      right,
    ),
  );
  if (model.nextPageToken) {
    out.push(
      `(parameters ${model.paramsOffset + 1}-${model.paramsOffset + model.params.length} of ${model.paramCount} shown; ` +
        '--all lists every one; the total row covers all)',
    );
  }
  if (m && m.fp32StateEquivalent > 0) {
    out.push(
      `state is ${((100 * m.state) / m.fp32StateEquivalent).toFixed(1)}% of its fp32 size; ` +
        `staging ${bytes(m.staging)}, paged ${bytes(m.paged)}`,
    );
  }
  if (totals) {
    const t = totals.memory;
    out.push(
      `server (${totals.backend}): ${totals.models} models, ${bytes(t?.total ?? 0)} held, staging ` +
        `${bytes(t?.staging ?? 0)} of ${bytes(totals.stagingBudgetBytes)}` +
        (totals.device
          ? `, device ${totals.device.name}: ${bytes(totals.device.freeBytes)} free of ${bytes(totals.device.totalBytes)}`
          : ''),
    );
  }
  return out.join('\n');
}

export function formatInfo(info: ServerInfoResponse__Output): string {
  const l = info.limits;
  const lines = [
    `qstep ${info.version} on ${info.backend} (${info.threads} threads)`,
    ...info.devices.map((d) => `device ${d.name}: ${bytes(d.freeBytes)} free of ${bytes(d.totalBytes)}`),
    `optimizers: ${(info.capabilities?.optimizers ?? []).map((o) => optimizers.decode(o.optimizer)).join(', ')}`,
    `state modes: ${(info.capabilities?.optimizers[0]?.stateModes ?? []).map((m) => stateModes.decode(m)).join(', ')}`,
    `dtypes: ${(info.capabilities?.gradDtypes ?? []).map((d) => dtypes.decode(d)).join(', ')}`,
    `block sizes: ${(info.capabilities?.blockSizes ?? []).join(', ')}`,
  ];
  if (l) {
    lines.push(
      `limits: message ${bytes(l.maxMessageBytes)}, chunk ${bytes(l.maxChunkBytes)}, ${l.maxModels} models, ` +
        `${l.maxParamsPerModel} params/model, staging ${bytes(l.stagingBudgetBytes)}, idempotency window ${l.idempotencyWindow}`,
    );
    lines.push(`memory: ${bytes(l.memoryLimitBytes)} limit (--memory-limit), ${bytes(l.memoryHeldBytes)} held`);
  }
  return lines.join('\n');
}
