"""PyTorch's CPU Adam on N fp32 parameters, the baseline of bench:kernels.

  torch_cpu_adam.py N STEPS [THREADS]   prints the median step time in ms.
  torch_cpu_adam.py N serve [THREADS]   prints "ready", then times one step per "step" line read from stdin and
                                        prints its ms, so that bench:kernels can interleave these steps with its
                                        own and both see the same machine load.
Each step gets a fresh random gradient, drawn outside the timed region.
"""
import sys
import time

import torch

n = int(sys.argv[1])
mode = sys.argv[2] if len(sys.argv) > 2 else '10'
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads())
p = torch.nn.Parameter(torch.randn(n) * 0.1)
opt = torch.optim.Adam([p], lr=1e-3)
p.grad = torch.randn(n) * 0.01
opt.step()  # allocate state


def timed_step():
    p.grad = torch.randn(n) * 0.01
    t0 = time.perf_counter()
    opt.step()
    return (time.perf_counter() - t0) * 1e3


if mode == 'serve':
    print('ready', flush=True)
    for line in sys.stdin:
        if line.strip() != 'step':
            break
        print(f'{timed_step():.3f}', flush=True)
else:
    times = sorted(timed_step() for _ in range(int(mode)))
    print(f"{times[len(times) // 2]:.3f}")
