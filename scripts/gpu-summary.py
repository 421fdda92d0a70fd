#!/usr/bin/env python3
"""The short table scripts/gpu-check.sh prints last, from the JSON files of its stages in OUT:

  check.json        qstep-cuda-check: CUDA vs CPU per case (agreement, step time vs device copy)
  bench-qstep.json  qstep-cuda-check --bench: AdamW, gradient on the device
  bench-torch.json  bench/gpu_torch.py: torch.optim AdamW(fused=True) and Adam on the same GPU
  bench-node.json   bench/gpu.ts: the engine from Node, gradient from host memory

and the targets of issue 4: fp32-state Adam at >= 85% of the device-copy bandwidth at 256M parameters;
blockwise8 Adam >= 1.5x faster than torch AdamW(fused=True) on fp32 parameters; CUDA and CPU agree on every case.
Writes OUT/summary.json. usage: gpu-summary.py OUT [stage=status ...]
"""
import json
import os
import sys


def load(out, name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    out = sys.argv[1]
    stages = dict(a.split('=', 1) for a in sys.argv[2:] if '=' in a)
    check = load(out, 'check.json') or []
    qb = load(out, 'bench-qstep.json') or []
    tb = (load(out, 'bench-torch.json') or {}).get('results', [])
    nb = (load(out, 'bench-node.json') or {}).get('results', [])
    summary = {'stages': stages, 'targets': {}}

    if check:
        bad = [c['case'] for c in check if not c.get('ok')]
        flips = sum(c.get('codes_changed', 0) for c in check)
        summary['check'] = {'cases': len(check), 'mismatches': bad, 'codes_one_apart': flips}
        print(f"CUDA vs CPU: {len(check)} cases, {len(bad)} mismatches"
              + (f" ({', '.join(bad[:6])}{' ...' if len(bad) > 6 else ''})" if bad else '')
              + f"; 8-bit codes one index apart: {flips}")
        summary['targets']['agree'] = not bad
    else:
        print('CUDA vs CPU: no results')

    def find(rows, **kw):
        for r in rows:
            if all(r.get(k) == v for k, v in kw.items()):
                return r
        return None

    sizes = sorted({r['n'] for r in qb} | {r['n'] for r in tb})
    cols = [(n, d) for n in sizes for d in ('fp32', 'bf16')]
    if cols:
        head = ''.join(f"{f'{n >> 20}M {d}':>12}" for n, d in cols)
        print(f"\n{'ms per step (grad on device)':34}{head}")
        rows = [('torch AdamW fused', tb, {'bench': 'torch-adamw-fused'}),
                ('torch Adam (foreach)', tb, {'bench': 'torch-adam'}),
                ('qstep AdamW fp32 state', qb, {'bench': 'qstep-adamw', 'mode': 'fp32'}),
                ('qstep AdamW blockwise8', qb, {'bench': 'qstep-adamw', 'mode': 'blockwise8'})]
        for label, src, key in rows:
            cells = ''
            for n, d in cols:
                r = find(src, n=n, dtype=d, **key)
                cells += f"{r['step_ms']:12.3f}" if r else f"{'-':>12}"
            print(f"{label:34}{cells}")
        cells = ''
        for n, d in cols:
            r = find(qb, n=n, dtype=d, bench='qstep-adamw', mode='fp32')
            cells += f"{100 * r['copy_ms'] / r['step_ms']:11.0f}%" if r else f"{'-':>12}"
        print(f"{'qstep fp32 state: % of copy b/w':34}{cells}")
        cells = ''
        for n, d in cols:
            r, t = find(qb, n=n, dtype=d, bench='qstep-adamw', mode='blockwise8'), find(tb, n=n, dtype=d, bench='torch-adamw-fused')
            cells += f"{t['step_ms'] / r['step_ms']:11.2f}x" if r and t else f"{'-':>12}"
        print(f"{'blockwise8 speed-up vs fused':34}{cells}")

        big = max(sizes) if sizes else None
        r = find(qb, n=big, dtype='fp32', bench='qstep-adamw', mode='fp32')
        if r and big == 256 << 20:
            frac = r['copy_ms'] / r['step_ms']
            summary['targets']['fp32_adam_copy_fraction_256M'] = frac
            summary['targets']['fp32_adam_ge_85pct'] = frac >= 0.85
        r, t = find(qb, n=big, dtype='fp32', bench='qstep-adamw', mode='blockwise8'), find(tb, n=big, dtype='fp32', bench='torch-adamw-fused')
        if r and t:
            summary['targets']['blockwise8_speedup_vs_fused_fp32'] = t['step_ms'] / r['step_ms']
            summary['targets']['blockwise8_ge_1_5x'] = t['step_ms'] / r['step_ms'] >= 1.5
    if nb:
        print(f"\n{'engine from Node (grad from host)':34}{'step ms':>12}{'h2d ms':>12}")
        for r in nb:
            print(f"{r['mode'] + ' ' + r['dtype'] + ' ' + str(r['n'] >> 20) + 'M':34}{r['step_ms']:12.3f}{r['h2d_ms']:12.3f}")
    if stages:
        print('\nstages: ' + ', '.join(f'{k} {v}' for k, v in stages.items()))
    t = summary['targets']
    if t:
        print('targets: ' + ', '.join(f'{k}={v:.3f}' if isinstance(v, float) else f'{k}={v}' for k, v in t.items()))
    summary['qstep_bench'], summary['torch_bench'], summary['node_bench'] = qb, tb, nb
    with open(os.path.join(out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
