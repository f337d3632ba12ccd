#!/usr/bin/python3
"""PyTorch CPU peer for bench/cnn: the same network, batch, optimizer and synthetic data.

conv3x3(16, same)-relu-maxpool2-conv3x3(32, same)-relu-maxpool2-dense(10) on 28x28x1,
Adam(lr=1e-3), cross-entropy. Prints one line in the format of the Go program.
Usage: torch_cnn.py THREADS [BATCH] [STEPS] [WARMUP]
"""
import resource
import sys
import time

import torch
from torch import nn


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    threads = int(sys.argv[1])
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    xs = [torch.rand(batch, 1, 28, 28, generator=g) for _ in range(8)]
    ys = [torch.randint(0, 10, (batch,), generator=g) for _ in range(8)]

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xs[i % 8]), ys[i % 8])
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(warmup):
        step(i)
    c0, t0 = cpu_seconds(), time.perf_counter()
    for i in range(steps):
        last = step(i)
    el, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    print("pytorch-cpu impl=torch-%s threads=%d batch=%d steps=%d loss=%.4f step_ms=%.3f images_per_s=%.1f images_per_cpu_s=%.1f"
          % (torch.__version__, torch.get_num_threads(), batch, steps, last, el * 1000 / steps,
             steps * batch / el, steps * batch / cpu))


if __name__ == "__main__":
    main()
