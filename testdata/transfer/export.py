"""Train a small CNN and MLP in PyTorch, export each to ONNX (torch.onnx.export) and to
safetensors (written here by hand: an 8-byte little-endian header length, a JSON header,
then raw little-endian float32 data), and save inputs and PyTorch's softmax outputs as
JSON, for models/pretrained_test.go to check that biopipe's imports predict the same.

    python3 export.py OUTDIR

Architectures (biopipe params in brackets):
  cnn  input [N, 2, 8, 8]: conv 2->4 3x3 pad 1, relu, maxpool 2; conv 4->8 3x3 pad 1, relu,
       maxpool 2; mean over H, W; linear 8->16, relu; linear 16->3
       [cnn: channels [4, 8], kernel_size 3, pool max, global_pool avg, hidden [16]]
  mlp  input [N, 10]: linear 10->16, relu; linear 16->8, relu; linear 8->3
       [mlp: hidden [16, 8]]
  cnnflat  the cnn's blocks, then flatten (C, H, W order) and linear 32->3
       [cnn: channels [4, 8], kernel_size 3, pool max, global_pool flatten, hidden []]
"""
import json
import struct
import sys

import torch
from torch import nn


def cnn():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(start_dim=2), Mean(),
        nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


class Mean(nn.Module):
    def forward(self, x):
        return x.mean(dim=2)


def cnnflat():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32, 3))


def mlp():
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def train(net, x, y):
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    net.eval()


def write_safetensors(path, state):
    header, blobs, off = {}, [], 0
    for name, t in state.items():
        b = t.detach().contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main(out):
    torch.manual_seed(14)
    result = {}
    for name, make, shape in (("cnn", cnn, (2, 8, 8)), ("mlp", mlp, (10,)), ("cnnflat", cnnflat, (2, 8, 8))):
        net = make()
        x = torch.randn(64, *shape)
        y = (x.reshape(64, -1).sum(dim=1) > 0).long() + (x.reshape(64, -1)[:, 0] > 1).long()
        train(net, x, y)
        test = torch.randn(16, *shape)
        with torch.no_grad():
            probs = torch.softmax(net(test), dim=1)
        write_safetensors(f"{out}/{name}.safetensors", net.state_dict())
        torch.onnx.export(net, test[:1], f"{out}/{name}.onnx", input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
        # biopipe's tensors are channels-last: [N, H, W, C].
        xb = test.permute(0, 2, 3, 1) if test.dim() == 4 else test
        result[name] = {"input_shape": list(xb.shape[1:]), "x": xb.reshape(-1).tolist(),
                        "probs": probs.reshape(-1).tolist(), "classes": 3,
                        "tensors": {k: list(v.shape) for k, v in net.state_dict().items()}}
    with open(f"{out}/expected.json", "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
