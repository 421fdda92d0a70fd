#!/usr/bin/env python3
"""PyTorch's Adam on the same GPU as qstep's CUDA backend (issue 4): the speed anchor of scripts/gpu-check.sh.

torch.optim.AdamW(fused=True) and torch.optim.Adam (its default multi-tensor implementation) at 16M and 256M
parameters, fp32 and bf16 parameters (torch keeps the state in the parameter dtype), gradients on the device.
Each time sits beside a device-to-device copy of the bytes the step moves, measured in the same run (house
style 21): Adam reads p, g, m, v and writes p, m, v. Fresh random inputs each run.

usage: gpu_torch.py OUT.json [--quick]
"""
import json
import sys

try:
    import torch
except ImportError as e:  # the GPU machine has PyTorch; a build machine's python3 may not
    print(f'torch: not importable ({e})')
    sys.exit(3)


def timed(fn, reps):
    fn()
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / reps


def copy_ms(nbytes, reps):
    half = max(16, int(nbytes // 2) // 16 * 16)
    src = torch.empty(half, dtype=torch.uint8, device='cuda').fill_(1)
    dst = torch.empty_like(src)
    ms = timed(lambda: dst.copy_(src), reps)
    del src, dst
    return ms


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else 'bench-torch.json'
    quick = '--quick' in sys.argv
    if not torch.cuda.is_available():
        print('torch: no CUDA device')
        with open(out_path, 'w') as f:
            json.dump({'device': None, 'results': []}, f)
        return 77
    sizes = [16 << 20] if quick else [16 << 20, 256 << 20]
    results = []
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    print(f"{'torch (grad on device)':34} {'step ms':>10} {'copy ms':>10} {'copy%':>8}")
    for n in sizes:
        for dtype, dname in ((torch.float32, 'fp32'), (torch.bfloat16, 'bf16')):
            for name, make in (('adamw-fused', lambda p: torch.optim.AdamW([p], lr=1e-3, weight_decay=0.01, fused=True)),
                               ('adam', lambda p: torch.optim.Adam([p], lr=1e-3))):
                p = (torch.randn(n, device='cuda') * 0.5).to(dtype)
                p.grad = torch.randn(n, device='cuda').to(dtype)
                opt = make(p)
                reps = 20 if n > (64 << 20) else 50
                ms = timed(opt.step, reps)
                elem = p.element_size()
                nbytes = 7 * n * elem
                cms = copy_ms(nbytes, reps)
                label = f"{name} {dname} {n >> 20}M"
                print(f"{label:34} {ms:10.3f} {cms:10.3f} {100 * cms / ms:7.0f}%")
                results.append({'bench': f'torch-{name}', 'dtype': dname, 'n': n, 'step_ms': ms, 'copy_ms': cms,
                                'bytes': nbytes})
                del opt, p
                torch.cuda.empty_cache()
    with open(out_path, 'w') as f:
        json.dump({'device': torch.cuda.get_device_name(0), 'torch': torch.__version__, 'results': results}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
