#!/usr/bin/python3
"""PyTorch peer of bench/train: the same networks as bench/internal/workloads builds through
biopipe's model families, the same batch, Adam, loss and synthetic data, timed the same way.

  mlp               Linear(30,64)-ReLU-Linear(64,32)-ReLU-Linear(32,2)             (quickstart)
  cnn               Conv2d(1,16,3,same)-ReLU-MaxPool2-Conv2d(16,32,3,same)-ReLU-MaxPool2-Linear(1568,10)
  lstm              front end -> bidirectional LSTM(32), final states -> Linear(64,2)  (eeg-lstm)
  cnn1d             front end -> mean over time -> Linear(32,2)
  transformer       front end (GELU) -> Linear(32,32) patch embedding + learned positions ->
                    1 pre-norm encoder block (4-head attention, FF 64, GELU) -> LayerNorm -> mean -> Linear(32,2)
  conv_autoencoder  [Conv2d-ReLU-AvgPool2] x (16, 32) -> Linear(2048,16) -> Linear(16,2048)-ReLU ->
                    [Upsample2-Conv2d-ReLU] x (32, 16) -> Conv2d(16,1), MSE           (dicom-anomaly)
The front end (lstm, cnn1d, transformer): Conv1d(4,16,7,same)-GroupNorm(1)-act-MaxPool4-
Conv1d(16,32,7,same)-GroupNorm(1)-act-MaxPool4 (GroupNorm with one group is biopipe's "layer"
normalization of the sequence families: per example over time and channels, per-channel gain).

Training: 3 epochs of ceil(steps/2) shuffled batches of a synthetic set; epochs 2-3 are timed.
Predict (--mode predict): eval() + no_grad() forward in chunks of 256 rows (softmax for the
classifiers), as biopipe's Trained.Predict runs; the weights are the state dict a train run saved.
Prints one line of key=value figures in the format of bench/train.

Usage: torch_train.py --model NAME [--mode train|predict] [--threads N] [--steps S] [--batch B]
                      [--device cpu|cuda] [--state FILE] [--rows R] [--reps K]
"""
import argparse
import resource
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F

# name: (input shape [batch excluded], classes (0 = reconstruction), batch, learning rate,
#        uniform inputs, default steps, default predict rows); must match bench/internal/workloads.
WORKLOADS = {
    "mlp": ((30,), 2, 64, 1e-3, False, 400, 65536),
    "cnn": ((28, 28, 1), 10, 64, 1e-3, True, 40, 2048),
    "lstm": ((128, 4), 2, 32, 3e-3, False, 60, 2048),
    "cnn1d": ((128, 4), 2, 32, 3e-3, False, 80, 4096),
    "transformer": ((128, 4), 2, 32, 3e-3, False, 60, 0),
    "conv_autoencoder": ((32, 32, 1), 0, 16, 3e-3, True, 20, 0),
}


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def front_end(act):
    return nn.Sequential(
        nn.Conv1d(4, 16, 7, padding=3), nn.GroupNorm(1, 16), act(), nn.MaxPool1d(4),
        nn.Conv1d(16, 32, 7, padding=3), nn.GroupNorm(1, 32), act(), nn.MaxPool1d(4),
    )


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(30, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
        )

    def forward(self, x):  # x: [B, H, W, C] as biopipe stores images
        return self.net(x.permute(0, 3, 1, 2))


class LSTMNet(nn.Module):
    # torch's LSTM keeps two bias vectors per direction (b_ih and b_hh, which only ever appear
    # summed); biopipe's cell has one: 4*units more parameters per direction here.
    EXTRA_PARAMS = 2 * 4 * 32

    def __init__(self):
        super().__init__()
        self.front = front_end(nn.ReLU)
        self.lstm = nn.LSTM(32, 32, batch_first=True, bidirectional=True)
        self.out = nn.Linear(64, 2)

    def forward(self, x):  # x: [B, T, C]
        h = self.front(x.transpose(1, 2)).transpose(1, 2)  # [B, 8, 32]
        _, (hn, _) = self.lstm(h)
        return self.out(hn.transpose(0, 1).reshape(x.shape[0], -1))


class CNN1D(nn.Module):
    def __init__(self):
        super().__init__()
        self.front = front_end(nn.ReLU)
        self.out = nn.Linear(32, 2)

    def forward(self, x):
        return self.out(self.front(x.transpose(1, 2)).mean(dim=2))


class Transformer(nn.Module):
    def __init__(self, units=32, heads=4, tokens=8):
        super().__init__()
        self.front = front_end(nn.GELU)
        self.embed = nn.Linear(32, units)
        self.position = nn.Parameter(torch.randn(tokens, units) * 0.02)
        self.norm_attention = nn.LayerNorm(units)
        self.attention = nn.MultiheadAttention(units, heads, batch_first=True)  # query/key/value + output
        self.norm_ff = nn.LayerNorm(units)
        self.ff = nn.Sequential(nn.Linear(units, 2 * units), nn.GELU(), nn.Linear(2 * units, units))
        self.norm_final = nn.LayerNorm(units)
        self.out = nn.Linear(units, 2)

    def forward(self, x):
        h = self.front(x.transpose(1, 2)).transpose(1, 2)  # [B, 8, 32]: patch_size 1
        h = self.embed(h) + self.position
        a = self.norm_attention(h)
        h = h + self.attention(a, a, a, need_weights=False)[0]
        h = h + self.ff(self.norm_ff(h))
        return self.out(self.norm_final(h).mean(dim=1))


class ConvAutoencoder(nn.Module):
    def __init__(self, latent=16):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(32 * 8 * 8, latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, 32 * 8 * 8), nn.ReLU(), nn.Unflatten(1, (32, 8, 8)),
            nn.Upsample(scale_factor=2), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 1, 3, padding=1),
        )

    def forward(self, x):  # x: [B, H, W, C]
        return self.decoder(self.encoder(x.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)


NETWORKS = {"mlp": MLP, "cnn": CNN, "lstm": LSTMNet, "cnn1d": CNN1D, "transformer": Transformer,
            "conv_autoencoder": ConvAutoencoder}


def synthetic(shape, classes, uniform, n, seed, device):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g) if uniform else torch.randn(n, *shape, generator=g)
    y = torch.randint(0, max(classes, 1), (n,), generator=g)
    return x.to(device), y.to(device)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, choices=sorted(WORKLOADS))
    ap.add_argument("--mode", default="train", choices=["train", "predict"])
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--rows", type=int, default=0)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--state", default="", help="train: save the state dict here; predict: load it")
    a = ap.parse_args()
    shape, classes, batch, lr, uniform, steps, rows = WORKLOADS[a.model]
    batch, steps, rows = a.batch or batch, a.steps or steps, a.rows or rows or 1024
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dev = torch.device(a.device)
    net = NETWORKS[a.model]().to(dev)
    params = sum(p.numel() for p in net.parameters())
    extra = getattr(net, "EXTRA_PARAMS", 0)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    common = "pytorch model=%s mode=%s device=%s threads=%d torch=%s params=%d params_extra=%d" % (
        a.model, a.mode, dev.type, torch.get_num_threads(), torch.__version__, params, extra)
    if dev.type == "cuda":
        common += " gpu=%s" % torch.cuda.get_device_name(dev).replace(" ", "_")

    if a.mode == "predict":
        if a.state:
            net.load_state_dict(torch.load(a.state, map_location=dev))
        net.eval()
        x, _ = synthetic(shape, classes, uniform, rows, 3, dev)
        chunk = 256

        def run():
            with torch.no_grad():
                for lo in range(0, rows, chunk):
                    out = net(x[lo:lo + chunk])
                    if classes:
                        out = torch.softmax(out, dim=-1)
                    out.cpu()  # the values leave the device, as biopipe's Predict returns them

        run()  # warm-up
        best, best_cpu = 1e30, 0.0
        for _ in range(max(a.reps, 1)):
            c0, t0 = cpu_seconds(), time.perf_counter()
            run()
            sync()
            el = time.perf_counter() - t0
            if el < best:
                best, best_cpu = el, cpu_seconds() - c0
        print("%s batch=%d rows=%d seconds=%.3f cpu_seconds=%.3f per_s=%.1f per_cpu_s=%.1f peak_rss_mib=%.1f"
              % (common, chunk, rows, best, best_cpu, rows / best, rows / max(best_cpu, 1e-9), peak_rss_mib()))
        return

    per_epoch = (steps + 1) // 2
    n = per_epoch * batch
    x, y = synthetic(shape, classes, uniform, n, 1, dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(2)
    last = 0.0
    t0 = c0 = 0.0
    for epoch in range(1, 4):
        if epoch == 2:
            sync()
            c0, t0 = cpu_seconds(), time.perf_counter()
        order = torch.randperm(n, generator=g).to(dev)
        total = 0.0
        for lo in range(0, n, batch):
            idx = order[lo:lo + batch]
            xb = x[idx]
            opt.zero_grad(set_to_none=True)
            out = net(xb)
            loss = F.cross_entropy(out, y[idx]) if classes else F.mse_loss(out, xb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        last = total / n
    sync()
    el, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    if a.state:
        torch.save(net.state_dict(), a.state)
    timed = 2 * n
    print("%s batch=%d steps=%d loss=%.4f seconds=%.3f cpu_seconds=%.3f per_s=%.1f per_cpu_s=%.1f peak_rss_mib=%.1f"
          % (common, batch, 2 * per_epoch, last, el, cpu, timed / el, timed / max(cpu, 1e-9), peak_rss_mib()))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
