"""PyTorch's CPU Adam on N fp32 parameters: prints the median step time in ms (the baseline of bench:kernels)."""
import sys
import time

import torch

n = int(sys.argv[1])
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads())
p = torch.nn.Parameter(torch.randn(n) * 0.1)
opt = torch.optim.Adam([p], lr=1e-3)
p.grad = torch.randn(n) * 0.01
opt.step()  # allocate state
times = []
for _ in range(steps):
    p.grad = torch.randn(n) * 0.01
    t0 = time.perf_counter()
    opt.step()
    times.append((time.perf_counter() - t0) * 1e3)
times.sort()
print(f"{times[len(times) // 2]:.3f}")
