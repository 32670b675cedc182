#!/usr/bin/env python3
"""Writes the PyTorch checkpoint fixtures of tests/pytorch_checkpoints.rs, by hand (never by CI),
after `pip install torch safetensors numpy`:

    python3 tools/make_pth_fixtures.py

A checkpoint as the authors' trainer saves it (`{'step', 'optim_state_dict', 'net_state_dict'}`
of their `convnet`, SGD with momentum and weight decay under a LambdaLR schedule), after three
training steps on random data so that weights, running statistics, momentum and rate have all
moved from their initial values, in both of torch.save's formats:

- tests/fixtures/pth/legacy.pth: the legacy format (PyTorch < 1.6, as the authors' PyTorch 0.4
  wrote), made 0.4-like: optimizer state keyed by `id(param)`-style integers, and no
  `num_batches_tracked` (which PyTorch 0.4.1 added);
- tests/fixtures/pth/zip.pth: the zip format of PyTorch >= 1.6, as it comes.

tests/fixtures/pth/expected.safetensors holds what PyTorch computes from that checkpoint: 16
uint8 test images (NHWC) and labels, the network's evaluation-mode logits on them, and the
momentum buffers of conv1 (OIHW) and fc.
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lntl_networks import ConvNet, normalize  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "pth")

torch.manual_seed(0)
net = ConvNet()
optim = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
scheduler = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda=lambda step: 0.1 ** (step // 2))
net.train()
for step in range(3):
    images = torch.randint(0, 256, (32, 28, 28, 3), dtype=torch.uint8)
    labels = torch.randint(0, 10, (32,))
    optim.zero_grad()
    _, logits = net(normalize(images))
    torch.nn.functional.cross_entropy(logits, labels).backward()
    optim.step()
    scheduler.step()

checkpoint = {
    "step": step,
    "optim_state_dict": optim.state_dict(),
    "net_state_dict": net.state_dict(),
}
os.makedirs(OUT, exist_ok=True)
torch.save(checkpoint, os.path.join(OUT, "zip.pth"))

# PyTorch 0.4's optimizer state names each parameter by id(param).
ids = {i: 140_000_000_000 + 8 * i for i in range(len(list(net.parameters())))}
optim_04 = {
    "state": {ids[i]: s for i, s in checkpoint["optim_state_dict"]["state"].items()},
    "param_groups": [
        dict(g, params=[ids[i] for i in g["params"]])
        for g in checkpoint["optim_state_dict"]["param_groups"]
    ],
}
net_04 = {k: v for k, v in checkpoint["net_state_dict"].items() if "num_batches_tracked" not in k}
torch.save(
    {"step": step, "optim_state_dict": optim_04, "net_state_dict": net_04},
    os.path.join(OUT, "legacy.pth"),
    _use_new_zipfile_serialization=False,
)

net.eval()
images = torch.randint(0, 256, (16, 28, 28, 3), dtype=torch.uint8)
labels = torch.randint(0, 10, (16,))
with torch.no_grad():
    _, logits = net(normalize(images))
state = optim.state_dict()["state"]
save_file(
    {
        "images": images.contiguous(),
        "labels": labels,
        "logits": logits.contiguous(),
        "conv1_momentum": state[2]["momentum_buffer"].contiguous(),
        "fc_momentum": state[10]["momentum_buffer"].contiguous(),
        "lr": torch.tensor([optim.param_groups[0]["lr"]], dtype=torch.float64),
    },
    os.path.join(OUT, "expected.safetensors"),
)
for name in ("legacy.pth", "zip.pth", "expected.safetensors"):
    print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")
print("torch", torch.__version__, "lr", optim.param_groups[0]["lr"])
