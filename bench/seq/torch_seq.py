#!/usr/bin/python3
"""PyTorch CPU peer for bench/seq: the same networks, batch, optimizer and synthetic data.

Input [batch, 128, 4] (time, channels), 2 classes, Adam(lr=3e-3), cross-entropy.
  lstm      conv1d(4->16, k7, same)-groupnorm(1)-relu-maxpool4-conv1d(16->32, k7)-groupnorm(1)-
            relu-maxpool4 -> 8 steps -> bidirectional LSTM(32), final states -> linear(64->2)
  cnn1d     the same front end -> mean over time -> linear(32->2)
  lstm-raw  avgpool4 over time -> 32 steps -> LSTM(32), final state -> linear(32->2)
GroupNorm with one group is biopipe's "layer" normalization (per example over time and
channels, per-channel gain and offset). Prints one line in the format of the Go program.
Usage: torch_seq.py MODEL THREADS [BATCH] [STEPS] [WARMUP]
"""
import resource
import sys
import time

import torch
from torch import nn


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class FrontEnd(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(4, 16, 7, padding=3), nn.GroupNorm(1, 16), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(16, 32, 7, padding=3), nn.GroupNorm(1, 32), nn.ReLU(), nn.MaxPool1d(4),
        )

    def forward(self, x):  # x: [B, T, C] -> [B, C', T']
        return self.net(x.transpose(1, 2))


class LSTMNet(nn.Module):
    def __init__(self, front, bidirectional, features):
        super().__init__()
        self.front = front  # a FrontEnd, or None: average-pool the raw input by 4
        self.lstm = nn.LSTM(features, 32, batch_first=True, bidirectional=bidirectional)
        self.out = nn.Linear(32 * (2 if bidirectional else 1), 2)

    def forward(self, x):
        if self.front is not None:
            h = self.front(x).transpose(1, 2)  # [B, 8, 32]
        else:
            h = nn.functional.avg_pool1d(x.transpose(1, 2), 4).transpose(1, 2)  # [B, 32, 4]
        _, (hn, _) = self.lstm(h)
        return self.out(hn.transpose(0, 1).reshape(x.shape[0], -1))


class CNN1D(nn.Module):
    def __init__(self):
        super().__init__()
        self.front = FrontEnd()
        self.out = nn.Linear(32, 2)

    def forward(self, x):
        return self.out(self.front(x).mean(dim=2))


def build(name):
    if name == "cnn1d":
        return CNN1D()
    if name == "lstm":
        return LSTMNet(FrontEnd(), True, 32)
    if name == "lstm-raw":
        return LSTMNet(None, False, 4)
    raise SystemExit("torch_seq.py: model %r: want lstm, cnn1d or lstm-raw" % name)


def main():
    name = sys.argv[1]
    threads = int(sys.argv[2])
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    warmup = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = build(name)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(batch, 128, 4, generator=g) for _ in range(8)]
    ys = [torch.randint(0, 2, (batch,), generator=g) for _ in range(8)]

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
    print("pytorch-cpu model=%s impl=torch-%s threads=%d batch=%d steps=%d loss=%.4f step_ms=%.3f examples_per_s=%.1f examples_per_cpu_s=%.1f"
          % (name, torch.__version__, torch.get_num_threads(), batch, steps, last, el * 1000 / steps,
             steps * batch / el, steps * batch / cpu))


if __name__ == "__main__":
    main()
